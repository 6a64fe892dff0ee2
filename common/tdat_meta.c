/*
 * Metadata setters of the trace.dat writer: the head's (kept in memory until
 * tdat_begin() writes them) and the tail's (logged in the work directory
 * for recovery, with their room reserved in the output).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tdat_priv.h"

/* ---- helpers ---- */

int blob_set(struct blob *b, const void *data, size_t len)
{
	char *p = malloc(len ? len : 1);

	if (!p) {
		errno = ENOMEM;
		return -1;
	}
	if (len)
		memcpy(p, data, len);
	free(b->p);
	b->p = p;
	b->len = len;
	return 0;
}

int str_set(char **dst, const char *s)
{
	char *p = strdup(s);

	if (!p) {
		errno = ENOMEM;
		return -1;
	}
	free(*dst);
	*dst = p;
	return 0;
}

/*
 * @clock is a clock's name ("local"), or the text of tracefs' trace_clock
 * file, where the selected clock is the one in brackets.
 */
int apply_clock(struct tdat_writer *w, const char *clock)
{
	const char *lb, *rb;
	char name[64], text[80];

	lb = strchr(clock, '[');
	if (lb) {
		rb = strchr(lb, ']');
		if (!rb || rb == lb + 1 || (size_t)(rb - lb) > sizeof(name)) {
			errno = EINVAL;
			return -1;
		}
		snprintf(name, sizeof(name), "%.*s", (int)(rb - lb - 1), lb + 1);
	} else {
		if (!*clock || strlen(clock) >= sizeof(name) || strpbrk(clock, " \t\n]")) {
			errno = EINVAL;
			return -1;
		}
		snprintf(name, sizeof(name), "%s", clock);
		snprintf(text, sizeof(text), "[%s]", clock);
	}
	if (str_set(&w->clock, name))
		return -1;
	return str_set(&w->clock_text, lb ? clock : text);
}

/* ---- metadata of the head ---- */

/* The head's metadata can be set until the head is written. */
static int head_settable(struct tdat_writer *w)
{
	if (w->head_written) {
		errno = EBUSY;
		return -1;
	}
	return 0;
}

int tdat_set_headers(struct tdat_writer *w,
		     const char *header_page, size_t page_len,
		     const char *header_event, size_t event_len)
{
	if (!w || !header_page || !page_len || !header_event || !event_len) {
		errno = EINVAL;
		return -1;
	}
	if (head_settable(w) || blob_set(&w->header_page, header_page, page_len) ||
	    blob_set(&w->header_event, header_event, event_len))
		return -1;
	return 0;
}

int tdat_add_ftrace_format(struct tdat_writer *w, const char *fmt, size_t len)
{
	struct blob *f;

	if (!w || !fmt || !len) {
		errno = EINVAL;
		return -1;
	}
	if (head_settable(w))
		return -1;
	f = realloc(w->ftrace, (w->nr_ftrace + 1) * sizeof(*f));
	if (!f) {
		errno = ENOMEM;
		return -1;
	}
	w->ftrace = f;
	memset(&f[w->nr_ftrace], 0, sizeof(*f));
	if (blob_set(&f[w->nr_ftrace], fmt, len))
		return -1;
	w->nr_ftrace++;
	return 0;
}

int tdat_add_event_format(struct tdat_writer *w, const char *system,
			  const char *fmt, size_t len)
{
	struct event_fmt *e;

	if (!w || !system || !*system || strchr(system, '/') || !fmt || !len) {
		errno = EINVAL;
		return -1;
	}
	if (head_settable(w))
		return -1;
	e = realloc(w->events, (w->nr_events + 1) * sizeof(*e));
	if (!e) {
		errno = ENOMEM;
		return -1;
	}
	w->events = e;
	e += w->nr_events;
	memset(e, 0, sizeof(*e));
	e->system = strdup(system);
	if (!e->system) {
		errno = ENOMEM;
		return -1;
	}
	if (blob_set(&e->fmt, fmt, len)) {
		free(e->system);
		return -1;
	}
	w->nr_events++;
	return 0;
}

/* Set one of the head's texts; the format stores their sizes in 32 bits. */
static int set_head_text(struct tdat_writer *w, struct blob *b, const char *buf, size_t len)
{
	if (!w || (!buf && len) || len > UINT32_MAX) {
		errno = EINVAL;
		return -1;
	}
	if (head_settable(w))
		return -1;
	return blob_set(b, buf, len);
}

int tdat_set_kallsyms(struct tdat_writer *w, const char *buf, size_t len)
{
	return set_head_text(w, w ? &w->kallsyms : NULL, buf, len);
}

int tdat_set_printk(struct tdat_writer *w, const char *buf, size_t len)
{
	return set_head_text(w, w ? &w->printk : NULL, buf, len);
}

/* ---- metadata of the tail: logged, so that recovery has it ---- */

/* Preallocate @fd's first @need bytes unless *@have covers them. */
static int reserve(int fd, uint64_t need, uint64_t *have)
{
	need = align_up(need, FS_BLOCK);
	if (need <= *have)
		return 0;
	if (fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)need) < 0) {
		if (is_enospc(errno) || errno == EIO)
			return -1;
		/* not supported here: nothing to reserve with */
	}
	*have = need;
	return 0;
}

/*
 * Preallocate the tail's space after the head, while the disk still has
 * room: a disk that fills up during the recording must not leave the trace
 * without space for its end. The blocks stay beyond the end of the file
 * until tdat_close() writes there; what is not used is released then. The
 * log gets room for the tail's records and those of the final copy.
 */
int reserve_tail(struct tdat_writer *w, uint64_t extra)
{
	uint64_t tail = tail_estimate(w) + extra;

	if (!w->head_written || w->fd < 0)
		return 0;
	if (reserve(w->fd, w->head.len + tail, &w->reserved) < 0)
		return -1;
	if (w->mfd >= 0 && reserve(w->mfd, w->log_end + tail + 16 * 1024, &w->log_reserved) < 0)
		return -1;
	return 0;
}

/* One tdat_add_option() option, kept for the tail. */
static int raw_add(struct tdat_writer *w, uint16_t id, const void *data, size_t len)
{
	struct blob *b = realloc(w->raw, (w->nr_raw + 1) * sizeof(*b));
	uint16_t *ids;

	if (b)
		w->raw = b;
	ids = b ? realloc(w->raw_id, (w->nr_raw + 1) * sizeof(*ids)) : NULL;
	if (!ids) {
		errno = ENOMEM;
		return -1;
	}
	w->raw_id = ids;
	memset(&b[w->nr_raw], 0, sizeof(*b));
	if (blob_set(&b[w->nr_raw], data, len))
		return -1;
	ids[w->nr_raw++] = id;
	return 0;
}

/*
 * Apply one record of the log to @w (a setter, or recovery replaying the
 * log). EPROTO if it makes no sense.
 */
int apply_record(struct tdat_writer *w, uint32_t type, uint32_t arg, const char *data,
		 size_t len)
{
	char *s = NULL;
	struct blob *g;
	int ret;

	switch (type) {
	case LOG_UNAME:
	case LOG_CLOCK:
	case LOG_CPUSTAT:
		if (type == LOG_CPUSTAT && arg >= w->opts.ncpus)
			goto bad;
		s = strndup(data, len);
		if (!s) {
			errno = ENOMEM;
			return -1;
		}
		if (type == LOG_CLOCK) {
			ret = apply_clock(w, s);
			free(s);
			return ret;
		}
		if (type == LOG_UNAME) {
			free(w->uname);
			w->uname = s;
		} else {
			free(w->cpu[arg].stats);
			w->cpu[arg].stats = s;
		}
		return 0;
	case LOG_CMDLINES:
		return blob_set(&w->cmdlines, data, len);
	case LOG_GUEST:
		g = realloc(w->guests, (w->nr_guests + 1) * sizeof(*g));
		if (!g) {
			errno = ENOMEM;
			return -1;
		}
		w->guests = g;
		memset(&g[w->nr_guests], 0, sizeof(*g));
		if (blob_set(&g[w->nr_guests], data, len))
			return -1;
		w->nr_guests++;
		return 0;
	case LOG_RAWOPT:
		return raw_add(w, (uint16_t)arg, data, len);
	default:
		return apply_progress(w, type, arg, data, len);
	}
bad:
	errno = EPROTO;
	return -1;
}

/* Reserve the room, log, then apply: the log always has what is applied. */
static int tail_set(struct tdat_writer *w, uint32_t type, uint32_t arg, const void *data,
		    size_t len)
{
	if (reserve_tail(w, len) < 0 || log_put(w, type, arg, data, len) < 0)
		return -1;
	return apply_record(w, type, arg, data, len);
}

int tdat_set_cmdlines(struct tdat_writer *w, const char *buf, size_t len)
{
	if (!w || (!buf && len) || len > UINT32_MAX) {
		errno = EINVAL;
		return -1;
	}
	return tail_set(w, LOG_CMDLINES, 0, buf ? buf : "", len);
}

int tdat_set_uname(struct tdat_writer *w, const char *uname)
{
	if (!w || !uname) {
		errno = EINVAL;
		return -1;
	}
	return tail_set(w, LOG_UNAME, 0, uname, strlen(uname));
}

int tdat_set_clock(struct tdat_writer *w, const char *clock)
{
	struct tdat_writer check = { 0 };
	int ret;

	if (!w || !clock || !*clock) {
		errno = EINVAL;
		return -1;
	}
	ret = apply_clock(&check, clock);	/* valid? */
	free(check.clock);
	free(check.clock_text);
	if (ret)
		return -1;
	return tail_set(w, LOG_CLOCK, 0, clock, strlen(clock));
}

int tdat_add_cpustat(struct tdat_writer *w, unsigned int cpu, const char *stats)
{
	char *s;
	int ret;

	if (!w || !stats || cpu >= w->opts.ncpus) {
		errno = EINVAL;
		return -1;
	}
	/* trace-cmd prefixes each CPU's stats file with its number */
	if (!strncmp(stats, "CPU:", 4))
		s = strdup(stats);
	else if (asprintf(&s, "CPU: %u\n%s", cpu, stats) < 0)
		s = NULL;
	if (!s) {
		errno = ENOMEM;
		return -1;
	}
	ret = tail_set(w, LOG_CPUSTAT, cpu, s, strlen(s));
	free(s);
	return ret;
}

int tdat_add_guest(struct tdat_writer *w, const char *name, uint64_t trace_id,
		   unsigned int nvcpus, const int *vcpu_pids)
{
	struct tbuf tb = { 0 };
	uint32_t v;
	int ret;

	if (!w || !name || (nvcpus && !vcpu_pids) || nvcpus > MAX_CPUS) {
		errno = EINVAL;
		return -1;
	}
	tb_add(&tb, name, strlen(name) + 1);
	tb_add(&tb, &trace_id, 8);
	tb_add(&tb, &nvcpus, 4);
	for (unsigned int i = 0; i < nvcpus; i++) {
		tb_add(&tb, &i, 4);
		v = (uint32_t)vcpu_pids[i];
		tb_add(&tb, &v, 4);
	}
	if (tb.nomem) {
		tb_free(&tb);
		errno = ENOMEM;
		return -1;
	}
	ret = tail_set(w, LOG_GUEST, 0, tb.p, tb.len);
	tb_free(&tb);
	return ret;
}

int tdat_add_option(struct tdat_writer *w, uint16_t id, const void *data, size_t len)
{
	/* not the options the writer makes itself: BUFFER, CPUCOUNT, sections */
	if (!w || !id || id == 3 || id == 8 || id >= 15 || len > UINT32_MAX / 2 ||
	    (len && !data)) {
		errno = EINVAL;
		return -1;
	}
	return tail_set(w, LOG_RAWOPT, id, len ? data : "", len);
}

int tdat_set_tmpdir(struct tdat_writer *w, const char *dir)
{
	struct stat st;

	if (!w || !dir || !*dir) {
		errno = EINVAL;
		return -1;
	}
	for (unsigned int i = 0; i < w->opts.ncpus; i++) {
		if (w->cpu[i].fd >= 0) {
			errno = EBUSY;
			return -1;
		}
	}
	if (stat(dir, &st) < 0)
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	return str_set(&w->tmpdir, dir);
}

int tdat_parse_compress(const char *s, enum tdat_compress *c)
{
	static const char *const names[] = { "none", "zstd", "zlib" };

	if (!s || !c) {
		errno = EINVAL;
		return -1;
	}
	for (int i = 0; i < 3; i++) {
		if (!strcmp(s, names[i])) {
			*c = (enum tdat_compress)i;
			return 0;
		}
	}
	errno = EINVAL;
	return -1;
}

