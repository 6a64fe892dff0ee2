/*
 * The trace.dat reader's live side (vmwait top): pages pushed per CPU as the
 * kernel hands them out, merged up to a time the caller knows complete, and
 * the replay of a file's pages in the order a live reader would get them.
 */
#include <endian.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kbuffer.h>

#include "tin_int.h"
#include "util.h"

/* Live: advance the stream returned last; a stream that runs dry waits for pages. */
static int live_advance(struct tin *t)
{
	struct tin_stream *s;
	int idx;

	if (!t->returned || !t->nheap)
		return 0;
	t->returned = false;
	idx = (int)t->heap[0].idx;
	s = &t->st[idx];
	switch (tin_stream_next(t, s)) {
	case 1:
		t->heap[0].ts = s->ts;
		break;
	case 0:
		t->heap[0] = t->heap[--t->nheap];
		if (!s->done)
			t->starved[t->nstarved++] = idx;
		break;
	default:
		return -1;
	}
	if (t->nheap > 1)
		tin_sift_down(t, 0);
	return 0;
}

int tin_next_until(struct tin *t, struct tin_rec *r, uint64_t limit)
{
	if (live_advance(t))
		return -1;
	for (int i = 0; i < t->nstarved; i++) {
		int idx = t->starved[i], got = tin_stream_next(t, &t->st[idx]);

		if (got < 0)
			return -1;
		if (!got && !t->st[idx].done)
			continue;
		t->starved[i--] = t->starved[--t->nstarved];
		if (got)
			tin_heap_add(t, idx);
	}
	if (!t->nheap || t->heap[0].ts > limit)
		return 0;
	tin_rec_of(&t->st[t->heap[0].idx], r);
	t->returned = true;
	return 1;
}

/*
 * Replay (vmwait top --replay): the raw pages of the selected buffer in the
 * order of their first timestamp. Once a page starting at T is handed out,
 * every event before T is in pages handed out before: *@limit = T - 1 (in
 * the file's time) is what a live reader would know at that moment.
 */
int tin_replay_page(struct tin *t, int *cpu, const void **page, uint64_t *limit)
{
	int best = -1;
	uint64_t best_ts = 0;

	for (int i = 0; i < t->nst; i++) {
		struct tin_stream *s = &t->st[i];
		const uint8_t *p;
		uint64_t ts;

		if (!s->rp_page) {
			int r = tin_stream_raw_page(t, s, &p);

			if (r < 0)
				return -1;
			if (!r)
				continue;
			s->rp_page = p;
		}
		ts = tin_u64(t, s->rp_page);
		if (best < 0 || ts < best_ts) {
			best = i;
			best_ts = ts;
		}
	}
	if (best < 0)
		return 0;
	*cpu = t->st[best].cpu;
	*page = t->st[best].rp_page;
	t->st[best].rp_page = NULL;
	best_ts = tin_ts_calc(t, best_ts, t->st[best].cpu);
	*limit = best_ts ? best_ts - 1 : 0;
	return 1;
}

/* A live reader's metadata equal to the file's (for a replay). */
void tin_live_meta_of(const struct tin *t, struct tin_live_meta *lm)
{
	memset(lm, 0, sizeof(*lm));
	lm->header_page = (const char *)t->header_page.buf;
	lm->header_page_len = t->header_page.len;
	lm->formats = xcalloc(t->nfmts ? t->nfmts : 1, sizeof(*lm->formats));
	for (int i = 0; i < t->nfmts; i++) {
		lm->formats[i].system = t->fmts[i].system;
		lm->formats[i].text = (const char *)t->fmts[i].b.buf;
		lm->formats[i].len = t->fmts[i].b.len;
	}
	lm->nformats = t->nfmts;
	lm->kallsyms = (const char *)t->kallsyms.buf;
	lm->cmdlines = (const char *)t->cmdlines.buf;
	lm->ncpus = t->m.cpus;
	for (int i = 0; i < t->nst; i++)
		lm->ncpus = MAX(lm->ncpus, t->st[i].cpu + 1);
	lm->page_size = t->m.buffers[t->m.selected].page_size;
	lm->long_size = t->kb_lsize == KBUFFER_LSIZE_8 ? 8 : 4;
}

int tin_push(struct tin *t, int cpu, const void *page)
{
	for (int i = 0; i < t->nst; i++)
		if (t->st[i].cpu == cpu)
			return tin_stream_push(t, &t->st[i], page, t->m.buffers[0].page_size);
	return tin_fail(t, "no CPU %d in this trace", cpu);
}

void tin_live_end(struct tin *t)
{
	for (int i = 0; i < t->nst; i++)
		t->st[i].done = true;
}

/* @len bytes (NULs too: a replayed file's text may hold some) and a NUL after. */
static uint8_t *bytes_dup(const char *p, size_t len)
{
	uint8_t *b = xmalloc(len + 1);

	memcpy(b, p, len);
	b[len] = '\0';
	return b;
}

/* The metadata of a live trace, as if read from a file. */
static void live_meta(struct tin *t, const struct tin_live_meta *lm)
{
	struct tin_buffer *b;

	t->m.version = 7;
	snprintf(t->m.compression, sizeof(t->m.compression), "none");
	t->m.big_endian = __BYTE_ORDER == __BIG_ENDIAN;
	t->m.long_size = lm->long_size;
	t->m.page_size = lm->page_size;
	t->m.cpus = lm->ncpus;
	t->m.buffers = xcalloc(1, sizeof(*t->m.buffers));
	t->m.nbuffers = 1;
	b = &t->m.buffers[0];
	b->name = xstrdup("");
	b->page_size = lm->page_size;
	b->ncpus = lm->ncpus;
	b->secs = xcalloc(lm->ncpus ? lm->ncpus : 1, sizeof(*b->secs));
	for (int i = 0; i < lm->ncpus; i++)
		b->secs[i].cpu = (uint32_t)i;
	t->header_page.buf = bytes_dup(lm->header_page, lm->header_page_len);
	t->header_page.len = lm->header_page_len;
	t->fmts = xcalloc(lm->nformats ? lm->nformats : 1, sizeof(*t->fmts));
	for (int i = 0; i < lm->nformats; i++) {
		t->fmts[i].system = xstrdup(lm->formats[i].system);
		t->fmts[i].b.buf = bytes_dup(lm->formats[i].text, lm->formats[i].len);
		t->fmts[i].b.len = lm->formats[i].len;
	}
	t->nfmts = lm->nformats;
	if (lm->kallsyms) {
		t->kallsyms.buf = (uint8_t *)xstrdup(lm->kallsyms);
		t->kallsyms.len = strlen(lm->kallsyms);
	}
	if (lm->cmdlines) {
		t->cmdlines.buf = (uint8_t *)xstrdup(lm->cmdlines);
		t->cmdlines.len = strlen(lm->cmdlines);
	}
}

struct tin *tin_new_live(const struct tin_live_meta *lm, const struct tin_opts *opts,
			 char *err, size_t errlen)
{
	struct tin *t = xcalloc(1, sizeof(*t));

	t->path = xstrdup("live");
	t->fd = -1;
	t->live = true;
	if (opts)
		t->opts = *opts;
	t->opts.buffer = NULL;
	live_meta(t, lm);
	if (tin_build_tep(t) || tin_streams_init(t, 0))
		goto fail;
	t->starved = xcalloc(t->nst ? t->nst : 1, sizeof(int));
	for (int i = 0; i < t->nst; i++) {
		t->st[i].live = true;
		t->st[i].done = false;
		t->starved[t->nstarved++] = i;
	}
	t->m.in_usecs = true;
	return t;
fail:
	snprintf(err, errlen, "%s", t->err[0] ? t->err : "cannot set up the live reader");
	tin_close(t);
	return NULL;
}
