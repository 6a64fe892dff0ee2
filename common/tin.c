/* The trace.dat reader's entry points: open, buffer choice, the merge across CPUs. */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event-parse.h>
#include <kbuffer.h>

#include "tin_int.h"
#include "util.h"

#define SCORE_EVENTS	200000	/* events sampled per buffer to choose one */

const struct tin_meta *tin_meta(const struct tin *t)
{
	return &t->m;
}

struct tep_handle *tin_tep(struct tin *t)
{
	return t->tep;
}

const char *tin_error(const struct tin *t)
{
	return t->err;
}

uint64_t tin_corrupt(const struct tin *t, const char **first)
{
	if (first)
		*first = t->corrupt_first;
	return t->corrupt;
}

void tin_progress(const struct tin *t, uint64_t *done, uint64_t *total)
{
	*done = t->done_bytes;
	*total = t->total_bytes;
}

/* A character of a kallsyms address ("ffffffff81000000", "0x...")? */
static bool addr_char(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
	       c == 'x' || c == 'X';
}

/*
 * The name of kallsyms line @p, "<hex address> <type> <name>[\t[module]]",
 * and its length; NULL if the line has nothing after its address.
 */
static const char *ksym_name(const char *p, size_t *len)
{
	const char *end = p, *name;

	while (*end == ' ')
		end++;
	while (addr_char(*end))
		end++;
	name = end;
	while (*name == ' ')
		name++;
	if (*name && *name != '\n')
		name++;			/* the symbol type */
	while (*name == ' ')
		name++;
	*len = strcspn(name, " \t\n");
	return name > end ? name : NULL;
}

/*
 * Each name is searched for in the whole text (kallsyms has ~100k lines, the
 * names are rare): its addresses in the order of @names, then of the lines.
 */
int tin_symbols(const struct tin *t, const char *const *names, uint64_t *addrs, int max)
{
	const char *buf = (const char *)t->kallsyms.buf;
	int n = 0;

	for (int i = 0; buf && names[i] && n < max; i++) {
		size_t want = strlen(names[i]), len;

		for (const char *q = want ? strstr(buf, names[i]) : NULL; q && n < max;
		     q = strstr(q + 1, names[i])) {
			const char *line = q;

			while (line > buf && line[-1] != '\n')
				line--;
			if (ksym_name(line, &len) == q && len == want)
				addrs[n++] = strtoull(line, NULL, 16);
		}
	}
	return n;
}

static inline bool before(const struct tin_hent *a, const struct tin_hent *b)
{
	return a->ts < b->ts || (a->ts == b->ts && a->cpu < b->cpu);
}

/* Restore the heap below @i after its key grew (or was replaced). */
void tin_sift_down(struct tin *t, int i)
{
	struct tin_hent *h = t->heap, x = h[i];
	int n = t->nheap;

	for (;;) {
		int l = 2 * i + 1;

		if (l >= n)
			break;
		if (l + 1 < n && before(&h[l + 1], &h[l]))
			l++;
		if (!before(&h[l], &x))
			break;
		h[i] = h[l];
		i = l;
	}
	h[i] = x;
}

static void streams_free(struct tin *t)
{
	for (int i = 0; i < t->nst; i++)
		tin_stream_free(&t->st[i]);
	free(t->st);
	free(t->heap);
	t->st = NULL;
	t->heap = NULL;
	t->nst = t->nheap = 0;
	t->started = false;
}

static int cmp_sec(const void *a, const void *b)
{
	const struct tin_cpu_sec *x = a, *y = b;

	return x->cpu < y->cpu ? -1 : x->cpu > y->cpu;
}

/* Streams over the CPUs of buffer @bi, not started. */
int tin_streams_init(struct tin *t, int bi)
{
	struct tin_buffer *b = &t->m.buffers[bi];

	streams_free(t);
	t->m.selected = bi;
	if (b->ncpus)
		qsort(b->secs, b->ncpus, sizeof(*b->secs), cmp_sec);
	t->st = xcalloc(b->ncpus ? b->ncpus : 1, sizeof(*t->st));
	t->heap = xcalloc(b->ncpus ? b->ncpus : 1, sizeof(*t->heap));
	t->total_bytes = t->done_bytes = 0;
	for (int i = 0; i < b->ncpus; i++) {
		if (tin_stream_init(t, &t->st[t->nst], &b->secs[i], b->compressed))
			return -1;
		t->nst++;
		t->total_bytes += b->secs[i].size;
	}
	return 0;
}

/* Prime every stream with its first event and build the heap. */
static int start(struct tin *t)
{
	t->started = true;
	t->nheap = 0;
	for (int i = 0; i < t->nst; i++) {
		int r = tin_stream_next(t, &t->st[i]);

		if (r < 0)
			return -1;
		if (r)
			t->heap[t->nheap++] = (struct tin_hent){ .ts = t->st[i].ts,
								 .cpu = (uint32_t)t->st[i].cpu,
								 .idx = (uint32_t)i };
	}
	for (int i = t->nheap / 2 - 1; i >= 0; i--)
		tin_sift_down(t, i);
	return 0;
}

static void sift_up(struct tin *t, int i)
{
	struct tin_hent *h = t->heap, x = h[i];

	while (i > 0 && before(&x, &h[(i - 1) / 2])) {
		h[i] = h[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h[i] = x;
}

void tin_heap_add(struct tin *t, int idx)
{
	t->heap[t->nheap] = (struct tin_hent){ .ts = t->st[idx].ts,
					       .cpu = (uint32_t)t->st[idx].cpu,
					       .idx = (uint32_t)idx };
	sift_up(t, t->nheap++);
}

/* The top still comes first after its update (no sift: the common case). */
static inline bool top_stays(const struct tin *t)
{
	const struct tin_hent *h = t->heap;

	return t->nheap < 2 || (!before(&h[1], &h[0]) && (t->nheap < 3 || !before(&h[2], &h[0])));
}

/*
 * tin_next() when the top stream's page has no more events: its next page's
 * first event (the top's new key), or the stream's end (its entry dropped).
 */
static int __attribute__((noinline)) next_page(struct tin *t, struct tin_rec *r)
{
	struct tin_hent *top = &t->heap[0];

	switch (tin_stream_next_page(t, &t->st[top->idx])) {
	case 1:
		top->ts = t->st[top->idx].ts;
		break;
	case 0:
		*top = t->heap[--t->nheap];
		break;
	default:
		return -1;
	}
	if (!t->nheap)
		return 0;
	if (!top_stays(t))
		tin_sift_down(t, 0);
	tin_rec_of(&t->st[t->heap[0].idx], r);
	return 1;
}

/* tin_next() on a reader not started: every stream's first event, the heap. */
static int __attribute__((noinline)) first(struct tin *t, struct tin_rec *r)
{
	if (start(t))
		return -1;
	if (!t->nheap)
		return 0;
	tin_rec_of(&t->st[t->heap[0].idx], r);
	return 1;
}

/*
 * The heap's top was returned last: advance its stream. The common case, the
 * next event on the same page of a stream that stays first, goes from
 * kbuffer to @r without passing through the stream (see struct tin_stream);
 * @r is filled as soon as each part is known, so that only @t, @r and the
 * stream live across the calls (fewer registers saved per record).
 */
int tin_next(struct tin *t, struct tin_rec *r)
{
	struct tin_stream *s;
	unsigned long long ts;
	void *d;

	if (__builtin_expect(!t->nheap, 0))
		return t->started ? 0 : first(t, r);	/* no heap before the start */
	s = &t->st[t->heap[0].idx];
	d = s->loaded ? kbuffer_next_event(s->kb, &ts) : NULL;
	if (__builtin_expect(d == NULL, 0))
		return next_page(t, r);
	r->data = d;
	r->size = tin_ev_size(t, s, d);
	r->cpu = s->cpu;
	r->missed = 0;
	if (!t->ts_plain)
		ts = tin_ts_calc(t, ts, s->cpu);
	r->ts = ts;
	t->heap[0].ts = ts;
	if (__builtin_expect(top_stays(t), 1))
		return 1;
	s->ts = ts;
	s->data = r->data;
	s->dsize = r->size;
	s->missed = 0;
	tin_sift_down(t, 0);
	tin_rec_of(&t->st[t->heap[0].idx], r);
	return 1;
}

int tin_bounds(struct tin *t, uint64_t *start, uint64_t *end)
{
	int sel = t->m.selected;

	*start = UINT64_MAX;
	*end = 0;
	if (tin_streams_init(t, sel))
		return -1;
	for (int i = 0; i < t->nst; i++) {
		struct tin_stream *s = &t->st[i];

		if (tin_stream_next(t, s) > 0) {
			*start = MIN(*start, s->ts);
			*end = MAX(*end, s->ts);
		}
	}
	if (tin_streams_init(t, sel))
		return -1;
	for (int i = 0; i < t->nst; i++) {
		uint64_t last = tin_stream_last_ts(t, &t->st[i]);

		*end = MAX(*end, last);
	}
	t->err[0] = '\0';
	t->corrupt = 0;
	t->corrupt_first[0] = '\0';
	return tin_streams_init(t, sel);
}

int tin_rewind(struct tin *t)
{
	t->corrupt = 0;
	t->corrupt_first[0] = '\0';
	return tin_streams_init(t, t->m.selected);
}

/* How much of what vmwait follows buffer @bi holds: kvm events among its first ones. */
static long buffer_score(struct tin *t, int bi)
{
	uint8_t kvm_id[65536 / 8] = { 0 };
	struct tin_rec r;
	long kvm = 0, n = 0;

	for (int i = 0; i < t->m.nformats; i++)
		if (!strcmp(t->m.formats[i].system, "kvm"))
			kvm_id[t->m.formats[i].id / 8] |= 1 << (t->m.formats[i].id % 8);
	if (tin_streams_init(t, bi))
		return -1;
	while (n < SCORE_EVENTS && tin_next(t, &r) > 0) {
		const uint8_t *d = r.data;
		unsigned int id;

		n++;
		if (r.size < 2)
			continue;
		id = t->m.big_endian ? (d[0] << 8) | d[1] : d[0] | (d[1] << 8);
		if (kvm_id[id / 8] & (1 << (id % 8)))
			kvm++;
	}
	t->err[0] = '\0';
	return kvm * 2 + (n > 0);
}

static int buffer_names(const struct tin *t, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (int i = 0; i < t->m.nbuffers && n < len; i++)
		n += snprintf(buf + n, len - n, "%s%s", i ? ", " : "",
			      t->m.buffers[i].name[0] ? t->m.buffers[i].name : "(top)");
	return 0;
}

static int select_buffer(struct tin *t)
{
	const char *want = t->opts.buffer;
	long score, best_score = -1;
	int best = 0;
	char names[256];

	if (want) {
		for (int i = 0; i < t->m.nbuffers; i++)
			if (!strcmp(t->m.buffers[i].name, want))
				return tin_streams_init(t, i);
		buffer_names(t, names, sizeof(names));
		return tin_fail(t, "no buffer named '%s' in this trace (buffers: %s)", want, names);
	}
	if (t->m.nbuffers > 1) {
		for (int i = 0; i < t->m.nbuffers; i++) {
			score = buffer_score(t, i);
			if (score > best_score) {
				best_score = score;
				best = i;
			}
		}
	}
	return tin_streams_init(t, best);
}

static bool clock_in_ns(const char *clock)
{
	static const char *const ns[] = { "local", "global", "uptime", "perf", "tai",
					  "x86-tsc-nsec" };

	if (!clock || !strncmp(clock, "mono", 4))
		return true;
	for (size_t i = 0; i < ARRAY_SIZE(ns); i++)
		if (!strcmp(clock, ns[i]))
			return true;
	return false;
}

static int open_fd(struct tin *t)
{
	struct stat st;

	t->fd = open(t->path, O_RDONLY | O_CLOEXEC);
	if (t->fd < 0)
		return tin_fail(t, "cannot open: %s", strerror(errno));
	if (fstat(t->fd, &st))
		return tin_fail(t, "cannot stat: %s", strerror(errno));
	if (S_ISDIR(st.st_mode))
		return tin_fail(t, "is a directory, not a trace.dat file");
	if (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) || S_ISCHR(st.st_mode))
		return tin_fail(t, "cannot seek a pipe or device: a trace.dat must be a regular "
				"file (save it first)");
	t->m.file_size = (uint64_t)st.st_size;
	return 0;
}

struct tin *tin_open(const char *path, const struct tin_opts *opts, char *err, size_t errlen)
{
	struct tin *t = xcalloc(1, sizeof(*t));

	t->path = xstrdup(path);
	t->fd = -1;
	if (opts)
		t->opts = *opts;
	if (open_fd(t) || tin_read_layout(t) || tin_build_tep(t) || select_buffer(t))
		goto fail;
	t->m.in_usecs = t->m.tsc_mult || clock_in_ns(t->m.clock);
	t->ts_plain = !t->tshift && !t->m.tsc_mult && !t->m.ts_offset;
	return t;
fail:
	snprintf(err, errlen, "%s", t->err[0] ? t->err : "cannot read the trace");
	tin_close(t);
	return NULL;
}

static void blob_free(struct blob *b)
{
	free(b->buf);
	b->buf = NULL;
}

static void meta_free(struct tin_meta *m)
{
	for (int i = 0; i < m->nbuffers; i++) {
		free(m->buffers[i].name);
		free(m->buffers[i].clock);
		free(m->buffers[i].secs);
	}
	free(m->buffers);
	for (int i = 0; i < m->nguests; i++) {
		free(m->guests[i].name);
		free(m->guests[i].vcpu_pid);
	}
	free(m->guests);
	for (int i = 0; i < m->nformats; i++) {
		free(m->formats[i].system);
		free(m->formats[i].name);
	}
	free(m->formats);
	free(m->uname);
	free(m->tracecmd_version);
	free(m->clock);
	free(m->cpustats);
	free(m->rejected);
}

void tin_close(struct tin *t)
{
	if (!t)
		return;
	streams_free(t);
	free(t->starved);
	free(t->ra);
	tin_put_tep(t);
	for (int i = 0; i < t->nfmts; i++) {
		free(t->fmts[i].system);
		blob_free(&t->fmts[i].b);
	}
	free(t->fmts);
	blob_free(&t->header_page);
	blob_free(&t->header_event);
	blob_free(&t->kallsyms);
	blob_free(&t->printk);
	blob_free(&t->cmdlines);
	for (int i = 0; i < t->tshift_ncpus; i++)
		free(t->tshift[i].s);
	free(t->tshift);
	meta_free(&t->m);
	if (t->fd >= 0)
		close(t->fd);
	free(t->path);
	free(t);
}
