/* Writer of trace-cmd trace.dat files (v6, and v7 with zstd/zlib/no compression). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "tdat.h"

#ifndef VMWAIT_VERSION
#define VMWAIT_VERSION "unknown"
#endif

/*
 * File layout. Everything but the trace data is built in memory ("the
 * prefix") and written first; the per-CPU data follows at the end of the
 * file, so a copy cut short by a full disk can be turned into a valid,
 * shorter trace by truncating the file and patching a few fixed-size
 * fields (see tdat_close()).
 *
 * v6: header, header_page/header_event, ftrace and event formats, kallsyms,
 *     printk formats, cmdlines, CPU count, options, "flyrecord", per-CPU
 *     (offset, size) table, trace clock, page-aligned CPU data.
 * v7: header, strings section, one section each for the headers, ftrace
 *     formats, event formats, kallsyms, printk formats and cmdlines, one
 *     options section (which also holds the BUFFER option describing the
 *     flyrecord data), then the flyrecord section. Sections are contiguous:
 *     libtracecmd finds the strings by walking every section header from the
 *     start of the file to its end. The strings section comes first here
 *     (trace-cmd writes it last); readers locate sections by offset, so the
 *     order is free.
 *
 * A full disk: the metadata's space is preallocated in the output as the
 * setters are called (reserve_meta()); pages go to per-CPU temporary files
 * next to the output, and a page that does not fit is dropped whole
 * (tdat_write_page() fails with ENOSPC). tdat_close() frees each block of a
 * temporary file before writing it to the output, so on a shared file
 * system the assembly needs no more room than the pages already take. If
 * the disk still fills up while the data is copied, the file is cut after
 * the last whole page (or 10-page chunk) and its CPU table patched in place:
 * a valid, shorter trace, and ENOSPC. This holds for every version and
 * compression, since the data is always at the end of the file.
 */

#define TDAT_MAGIC		"\027\010\104tracing"
#define TDAT_MAGIC_LEN		10

/* Option and section ids (trace-cmd's TRACECMD_OPTION_*). */
enum {
	OPT_DONE		= 0,
	OPT_CPUSTAT		= 2,
	OPT_BUFFER		= 3,
	OPT_TRACECLOCK		= 4,
	OPT_UNAME		= 5,
	OPT_CPUCOUNT		= 8,
	OPT_VERSION		= 9,
	OPT_GUEST		= 13,
	OPT_STRINGS		= 15,
	OPT_HEADER_INFO		= 16,
	OPT_FTRACE_EVENTS	= 17,
	OPT_EVENT_FORMATS	= 18,
	OPT_KALLSYMS		= 19,
	OPT_PRINTK		= 20,
	OPT_CMDLINES		= 21,
};

#define SEC_FL_COMPRESS		1

/* trace-cmd compresses the flyrecord data in chunks of 10 pages. */
#define PAGES_PER_CHUNK		10
/* Bytes moved per read from a CPU's temporary file. */
#define COPY_BLOCK		(1u << 20)
#define MAX_CPUS		65536u
#define MIN_PAGE_SIZE		256u
#define MAX_PAGE_SIZE		(8u << 20)	/* the kernel's largest: 128 pages of 64 KiB */

/* Section descriptions, stored once in the strings section. */
enum { DS_STRINGS, DS_HEADERS, DS_FTRACE, DS_EVENTS, DS_KALLSYMS, DS_PRINTK,
       DS_CMDLINES, DS_OPTIONS, DS_FLYRECORD, DS_NR };
static const char *const desc_names[DS_NR] = {
	"strings", "headers", "ftrace events", "events format", "kallsyms",
	"printk", "command lines", "options", "buffer flyrecord ",
};

/* A growable byte buffer whose allocation failure is sticky. */
struct tbuf {
	char *p;
	size_t len;
	size_t cap;
	bool nomem;
};

struct blob {
	char *p;
	size_t len;
};

struct event_fmt {
	char *system;
	struct blob fmt;
};

struct tdat_cpu {
	int fd;			/* temporary file with the pages, or -1 */
	uint64_t bytes;		/* whole pages written to it */
	char *stats;		/* CPUSTAT text, or NULL */
	uint64_t out_off;	/* where its data starts in the output */
	uint64_t out_size;	/* bytes of it in the output */
};

struct tdat_writer {
	struct tdat_opts opts;
	char *path;
	int fd;
	char *tmpdir;		/* where the per-CPU files go */
	bool tmpdir_set;	/* tdat_set_tmpdir() was called */
	uint64_t reserved;	/* bytes preallocated in the output */
	struct tdat_cpu *cpu;
	struct blob header_page, header_event;
	struct blob kallsyms, printk, cmdlines;
	struct blob *ftrace;
	unsigned int nr_ftrace;
	struct event_fmt *events;
	unsigned int nr_events;
	char *uname;
	char *clock_text;	/* TRACECLOCK option text */
	char *clock;		/* the selected clock's name */
	struct blob *guests;	/* encoded GUEST options */
	unsigned int nr_guests;
	struct raw_opt { uint16_t id; struct blob b; } *raw;	/* tdat_add_option() */
	unsigned int nr_raw;
};

/* State of tdat_close() while it writes the file. */
struct assembly {
	struct tdat_writer *w;
	struct tbuf pre;		/* everything before the trace data */
	uint32_t desc[DS_NR];		/* string ids of the descriptions */
	size_t cpu_table;		/* v6 table / v7 BUFFER option CPU list */
	size_t flyrec_size;		/* v7: size field of the flyrecord section */
	uint64_t data_start;		/* first byte after the prefix */
	uint64_t end;			/* end of the valid output */
	bool full;			/* the disk filled: keep what fits */
	char *rbuf;
	char *zbuf;
	size_t zcap;
	ZSTD_CCtx *zctx;
};

/* ---- small helpers ---- */

static void tb_add(struct tbuf *tb, const void *data, size_t len)
{
	size_t cap;
	char *p;

	if (tb->nomem || !len)
		return;
	if (tb->len + len > tb->cap) {
		cap = tb->cap ? tb->cap : 4096;
		while (cap < tb->len + len)
			cap *= 2;
		p = realloc(tb->p, cap);
		if (!p) {
			tb->nomem = true;
			return;
		}
		tb->p = p;
		tb->cap = cap;
	}
	memcpy(tb->p + tb->len, data, len);
	tb->len += len;
}

/* Numbers are stored in the host's byte order, which the header declares. */
static void tb_u16(struct tbuf *tb, uint16_t v) { tb_add(tb, &v, 2); }
static void tb_u32(struct tbuf *tb, uint32_t v) { tb_add(tb, &v, 4); }
static void tb_u64(struct tbuf *tb, uint64_t v) { tb_add(tb, &v, 8); }
static void tb_str(struct tbuf *tb, const char *s) { tb_add(tb, s, strlen(s) + 1); }

static void tb_put_u64(struct tbuf *tb, size_t off, uint64_t v)
{
	if (!tb->nomem)
		memcpy(tb->p + off, &v, 8);
}

static void tb_free(struct tbuf *tb)
{
	free(tb->p);
	memset(tb, 0, sizeof(*tb));
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static int blob_set(struct blob *b, const void *data, size_t len)
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

static int str_set(char **dst, const char *s)
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

/* Write all of @len bytes at @off; returns the bytes written (errno set if short). */
static size_t pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	size_t done = 0;
	ssize_t r;

	while (done < len) {
		r = pwrite(fd, (const char *)buf + done, len - done, (off_t)(off + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = ENOSPC;
			break;
		}
		done += (size_t)r;
	}
	return done;
}

static int pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;
	ssize_t r;

	while (done < len) {
		r = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = EIO;	/* the temporary file shrank */
			return -1;
		}
		done += (size_t)r;
	}
	return 0;
}

/* Give a temporary file's blocks back once they are copied (best effort). */
static void release_blocks(int fd, uint64_t off, uint64_t len)
{
	int saved = errno;

	fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len);
	errno = saved;
}

/* ---- creation and metadata ---- */

static bool opts_valid(const struct tdat_opts *o)
{
	if (o->version != 6 && o->version != 7)
		return false;
	if (o->compress != TDAT_COMP_NONE && o->compress != TDAT_COMP_ZSTD &&
	    o->compress != TDAT_COMP_ZLIB)
		return false;
	if (o->version == 6 && o->compress != TDAT_COMP_NONE)
		return false;
	if (o->page_size < MIN_PAGE_SIZE || o->page_size > MAX_PAGE_SIZE ||
	    (o->page_size & (o->page_size - 1)))
		return false;
	return o->ncpus > 0 && o->ncpus <= MAX_CPUS;
}

static char *dir_of(const char *path)
{
	char *copy = strdup(path);
	char *dir;

	if (!copy)
		return NULL;
	dir = strdup(dirname(copy));
	free(copy);
	return dir;
}

static int open_output(struct tdat_writer *w)
{
	struct stat st;

	w->fd = open(w->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (w->fd < 0)
		return -1;
	if (fstat(w->fd, &st) < 0)
		return -1;
	if (!S_ISREG(st.st_mode)) {
		/* pages are patched in place: only a regular file will do */
		close(w->fd);
		w->fd = -1;
		errno = EINVAL;
		return -1;
	}
	return 0;
}

struct tdat_writer *tdat_create(const char *path, const struct tdat_opts *opts)
{
	struct tdat_writer *w;

	if (!path || !*path || !opts || !opts_valid(opts)) {
		errno = EINVAL;
		return NULL;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		goto nomem;
	w->fd = -1;
	w->opts = *opts;
	w->path = strdup(path);
	w->tmpdir = dir_of(path);
	w->clock = strdup("local");
	w->clock_text = strdup("[local]");
	w->cpu = calloc(opts->ncpus, sizeof(*w->cpu));
	if (!w->path || !w->tmpdir || !w->clock || !w->clock_text || !w->cpu)
		goto nomem;
	for (unsigned int i = 0; i < opts->ncpus; i++)
		w->cpu[i].fd = -1;
	if (open_output(w) < 0)
		goto fail;
	return w;
nomem:
	errno = ENOMEM;
fail:
	if (w) {
		int saved = errno;

		tdat_abort(w);	/* removes the output if it was created */
		errno = saved;
	}
	return NULL;
}

/* Upper bound of the metadata's size in the file. */
static uint64_t meta_estimate(const struct tdat_writer *w)
{
	uint64_t n = 64 * 1024 + w->opts.page_size;

	n += w->header_page.len + w->header_event.len;
	n += w->kallsyms.len + w->printk.len + w->cmdlines.len;
	for (unsigned int i = 0; i < w->nr_ftrace; i++)
		n += w->ftrace[i].len + 16;
	for (unsigned int i = 0; i < w->nr_events; i++)
		n += w->events[i].fmt.len + strlen(w->events[i].system) + 16;
	for (unsigned int i = 0; i < w->nr_guests; i++)
		n += w->guests[i].len + 8;
	for (unsigned int i = 0; i < w->nr_raw; i++)
		n += w->raw[i].b.len + 8;
	for (unsigned int i = 0; i < w->opts.ncpus; i++)
		n += 32 + (w->cpu[i].stats ? strlen(w->cpu[i].stats) + 16 : 0);
	return n;
}

/*
 * Preallocate the output's metadata now, while the disk still has room: a
 * disk that fills up during the recording must not leave the trace without
 * space for its headers. The blocks stay beyond the end of the file until
 * tdat_close() writes there; what is not used is released then. A setter
 * whose reservation fails (ENOSPC) has still stored its value.
 */
static int reserve_meta(struct tdat_writer *w)
{
	uint64_t need = align_up(meta_estimate(w), 64 * 1024);

	if (need <= w->reserved)
		return 0;
	if (fallocate(w->fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)need) < 0) {
		if (errno == ENOSPC || errno == EDQUOT || errno == EFBIG || errno == EIO)
			return -1;
		/* not supported here: nothing to reserve with */
	}
	w->reserved = need;
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
	if (blob_set(&w->header_page, header_page, page_len) ||
	    blob_set(&w->header_event, header_event, event_len))
		return -1;
	return reserve_meta(w);
}

int tdat_add_ftrace_format(struct tdat_writer *w, const char *fmt, size_t len)
{
	struct blob *f;

	if (!w || !fmt || !len) {
		errno = EINVAL;
		return -1;
	}
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
	return reserve_meta(w);
}

int tdat_add_event_format(struct tdat_writer *w, const char *system,
			  const char *fmt, size_t len)
{
	struct event_fmt *e;

	if (!w || !system || !*system || strchr(system, '/') || !fmt || !len) {
		errno = EINVAL;
		return -1;
	}
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
	return reserve_meta(w);
}

/* Set one of the text sections; the format stores kallsyms and printk sizes in 32 bits. */
static int set_text(struct tdat_writer *w, struct blob *b, const char *buf,
		    size_t len, bool small)
{
	if (!w || (!buf && len) || (small && len > UINT32_MAX)) {
		errno = EINVAL;
		return -1;
	}
	if (blob_set(b, buf, len))
		return -1;
	return reserve_meta(w);
}

int tdat_set_kallsyms(struct tdat_writer *w, const char *buf, size_t len)
{
	return set_text(w, w ? &w->kallsyms : NULL, buf, len, true);
}

int tdat_set_printk(struct tdat_writer *w, const char *buf, size_t len)
{
	return set_text(w, w ? &w->printk : NULL, buf, len, true);
}

int tdat_set_cmdlines(struct tdat_writer *w, const char *buf, size_t len)
{
	return set_text(w, w ? &w->cmdlines : NULL, buf, len, false);
}

int tdat_set_uname(struct tdat_writer *w, const char *uname)
{
	if (!w || !uname) {
		errno = EINVAL;
		return -1;
	}
	return str_set(&w->uname, uname);
}

/*
 * @clock is a clock's name ("local"), or the text of tracefs' trace_clock
 * file, where the selected clock is the one in brackets.
 */
int tdat_set_clock(struct tdat_writer *w, const char *clock)
{
	const char *lb, *rb;
	char name[64], text[80];

	if (!w || !clock || !*clock) {
		errno = EINVAL;
		return -1;
	}
	lb = strchr(clock, '[');
	if (lb) {
		rb = strchr(lb, ']');
		if (!rb || rb == lb + 1 || (size_t)(rb - lb) > sizeof(name)) {
			errno = EINVAL;
			return -1;
		}
		snprintf(name, sizeof(name), "%.*s", (int)(rb - lb - 1), lb + 1);
	} else {
		if (strlen(clock) >= sizeof(name) || strpbrk(clock, " \t\n]")) {
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

int tdat_add_cpustat(struct tdat_writer *w, unsigned int cpu, const char *stats)
{
	char *s;

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
	free(w->cpu[cpu].stats);
	w->cpu[cpu].stats = s;
	return reserve_meta(w);
}

int tdat_add_guest(struct tdat_writer *w, const char *name, uint64_t trace_id,
		   unsigned int nvcpus, const int *vcpu_pids)
{
	struct tbuf tb = { 0 };
	struct blob *g;

	if (!w || !name || (nvcpus && !vcpu_pids) || nvcpus > MAX_CPUS) {
		errno = EINVAL;
		return -1;
	}
	tb_str(&tb, name);
	tb_u64(&tb, trace_id);
	tb_u32(&tb, nvcpus);
	for (unsigned int i = 0; i < nvcpus; i++) {
		tb_u32(&tb, i);
		tb_u32(&tb, (uint32_t)vcpu_pids[i]);
	}
	g = tb.nomem ? NULL : realloc(w->guests, (w->nr_guests + 1) * sizeof(*g));
	if (!g) {
		tb_free(&tb);
		errno = ENOMEM;
		return -1;
	}
	w->guests = g;
	g[w->nr_guests].p = tb.p;
	g[w->nr_guests].len = tb.len;
	w->nr_guests++;
	return reserve_meta(w);
}

int tdat_add_option(struct tdat_writer *w, uint16_t id, const void *data, size_t len)
{
	struct raw_opt *r;
	char *p;

	if (!w || !id || id == OPT_BUFFER || id == OPT_CPUCOUNT || id >= OPT_STRINGS ||
	    len > UINT32_MAX / 2 || (len && !data)) {
		errno = EINVAL;
		return -1;
	}
	p = malloc(len ? len : 1);
	r = p ? realloc(w->raw, (w->nr_raw + 1) * sizeof(*r)) : NULL;
	if (!r) {
		free(p);
		errno = ENOMEM;
		return -1;
	}
	memcpy(p, data, len);
	w->raw = r;
	r[w->nr_raw].id = id;
	r[w->nr_raw].b.p = p;
	r[w->nr_raw].b.len = len;
	w->nr_raw++;
	return reserve_meta(w);
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
	if (str_set(&w->tmpdir, dir))
		return -1;
	w->tmpdir_set = true;
	return 0;
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

/* ---- pages ---- */

/* An anonymous file in @dir: O_TMPFILE, else a name unlinked at once. */
static int tmpfile_in(const char *dir)
{
	char *name;
	int fd;

	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
		return fd;
	if (asprintf(&name, "%s/.vmwait-cpu.XXXXXX", dir) < 0) {
		errno = ENOMEM;
		return -1;
	}
	fd = mkostemp(name, O_CLOEXEC);
	if (fd >= 0)
		unlink(name);
	free(name);
	return fd;
}

/* Next to the output (same file system: blocks move, not double), else $TMPDIR. */
static int open_cpu_file(struct tdat_writer *w)
{
	const char *tmp = getenv("TMPDIR");
	int fd;

	fd = tmpfile_in(w->tmpdir);
	if (fd >= 0 || w->tmpdir_set)
		return fd;
	if (errno == ENOSPC || errno == EDQUOT)
		return -1;
	return tmpfile_in(tmp && *tmp ? tmp : "/tmp");
}

int tdat_write_page(struct tdat_writer *w, unsigned int cpu, const void *page)
{
	struct tdat_cpu *c;
	size_t n;

	if (!w || !page || cpu >= w->opts.ncpus) {
		errno = EINVAL;
		return -1;
	}
	c = &w->cpu[cpu];
	if (c->fd < 0) {
		c->fd = open_cpu_file(w);
		if (c->fd < 0)
			return -1;
	}
	n = pwrite_all(c->fd, page, w->opts.page_size, c->bytes);
	if (n != w->opts.page_size) {
		int saved = errno;

		/* keep whole pages only */
		if (n && ftruncate(c->fd, (off_t)c->bytes) < 0)
			saved = errno;
		errno = saved;
		return -1;
	}
	c->bytes += n;
	return 0;
}

uint64_t tdat_cpu_bytes(struct tdat_writer *w, unsigned int cpu)
{
	if (!w || cpu >= w->opts.ncpus) {
		errno = EINVAL;
		return 0;
	}
	return w->cpu[cpu].bytes;
}

/* ---- freeing ---- */

static void writer_free(struct tdat_writer *w)
{
	for (unsigned int i = 0; w->cpu && i < w->opts.ncpus; i++) {
		if (w->cpu[i].fd >= 0)
			close(w->cpu[i].fd);
		free(w->cpu[i].stats);
	}
	for (unsigned int i = 0; i < w->nr_ftrace; i++)
		free(w->ftrace[i].p);
	for (unsigned int i = 0; i < w->nr_events; i++) {
		free(w->events[i].system);
		free(w->events[i].fmt.p);
	}
	for (unsigned int i = 0; i < w->nr_guests; i++)
		free(w->guests[i].p);
	for (unsigned int i = 0; i < w->nr_raw; i++)
		free(w->raw[i].b.p);
	free(w->raw);
	if (w->fd >= 0)
		close(w->fd);
	free(w->ftrace);
	free(w->events);
	free(w->guests);
	free(w->cpu);
	free(w->header_page.p);
	free(w->header_event.p);
	free(w->kallsyms.p);
	free(w->printk.p);
	free(w->cmdlines.p);
	free(w->uname);
	free(w->clock);
	free(w->clock_text);
	free(w->tmpdir);
	free(w->path);
	free(w);
}

void tdat_abort(struct tdat_writer *w)
{
	if (!w)
		return;
	if (w->fd >= 0 && w->path)
		unlink(w->path);
	writer_free(w);
}

/* ---- metadata contents shared by v6 and v7 ---- */

static void put_headers(struct tbuf *tb, const struct tdat_writer *w)
{
	tb_str(tb, "header_page");
	tb_u64(tb, w->header_page.len);
	tb_add(tb, w->header_page.p, w->header_page.len);
	tb_str(tb, "header_event");
	tb_u64(tb, w->header_event.len);
	tb_add(tb, w->header_event.p, w->header_event.len);
}

static void put_ftrace(struct tbuf *tb, const struct tdat_writer *w)
{
	tb_u32(tb, w->nr_ftrace);
	for (unsigned int i = 0; i < w->nr_ftrace; i++) {
		tb_u64(tb, w->ftrace[i].len);
		tb_add(tb, w->ftrace[i].p, w->ftrace[i].len);
	}
}

/* Is events[i] the first format of its system? */
static bool first_of_system(const struct tdat_writer *w, unsigned int i)
{
	for (unsigned int j = 0; j < i; j++)
		if (!strcmp(w->events[j].system, w->events[i].system))
			return false;
	return true;
}

/* Systems in the order first seen, each with its formats in the order given. */
static void put_events(struct tbuf *tb, const struct tdat_writer *w)
{
	unsigned int nsys = 0, count;

	for (unsigned int i = 0; i < w->nr_events; i++)
		nsys += first_of_system(w, i);
	tb_u32(tb, nsys);
	for (unsigned int i = 0; i < w->nr_events; i++) {
		if (!first_of_system(w, i))
			continue;
		count = 0;
		for (unsigned int j = i; j < w->nr_events; j++)
			count += !strcmp(w->events[j].system, w->events[i].system);
		tb_str(tb, w->events[i].system);
		tb_u32(tb, count);
		for (unsigned int j = i; j < w->nr_events; j++) {
			if (strcmp(w->events[j].system, w->events[i].system))
				continue;
			tb_u64(tb, w->events[j].fmt.len);
			tb_add(tb, w->events[j].fmt.p, w->events[j].fmt.len);
		}
	}
}

static void put_blob32(struct tbuf *tb, const struct blob *b)
{
	tb_u32(tb, (uint32_t)b->len);
	tb_add(tb, b->p, b->len);
}

static void put_blob64(struct tbuf *tb, const struct blob *b)
{
	tb_u64(tb, b->len);
	tb_add(tb, b->p, b->len);
}

static void put_option(struct tbuf *tb, uint16_t id, const void *data, uint32_t len)
{
	tb_u16(tb, id);
	tb_u32(tb, len);
	tb_add(tb, data, len);
}

static void put_option_str(struct tbuf *tb, uint16_t id, const char *s)
{
	put_option(tb, id, s, (uint32_t)strlen(s) + 1);
}

/* The options that both versions carry. */
static void put_common_options(struct tbuf *tb, const struct tdat_writer *w,
			       const char *uname)
{
	const char *version = "vmwait " VMWAIT_VERSION;

	put_option_str(tb, OPT_TRACECLOCK, w->clock_text);
	put_option_str(tb, OPT_UNAME, uname);
	put_option_str(tb, OPT_VERSION, version);
	for (unsigned int i = 0; i < w->opts.ncpus; i++)
		if (w->cpu[i].stats)
			put_option_str(tb, OPT_CPUSTAT, w->cpu[i].stats);
	for (unsigned int i = 0; i < w->nr_guests; i++)
		put_option(tb, OPT_GUEST, w->guests[i].p, (uint32_t)w->guests[i].len);
	for (unsigned int i = 0; i < w->nr_raw; i++)
		put_option(tb, w->raw[i].id, w->raw[i].b.p, (uint32_t)w->raw[i].b.len);
}

/* The uname option: as set, else this machine's, as trace-cmd words it. */
static char *uname_text(const struct tdat_writer *w)
{
	struct utsname u;
	char *s;

	if (w->uname)
		return strdup(w->uname);
	if (uname(&u) < 0)
		return strdup("");
	if (asprintf(&s, "%s %s %s %s", u.sysname, u.nodename, u.release, u.machine) < 0)
		return NULL;
	return s;
}

static void put_file_header(struct tbuf *tb, const struct tdat_writer *w)
{
	const char *ver = w->opts.version == 6 ? "6" : "7";
	uint8_t endian = __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__;
	uint8_t long_size = 8;

	tb_add(tb, TDAT_MAGIC, TDAT_MAGIC_LEN);
	tb_str(tb, ver);
	tb_add(tb, &endian, 1);
	tb_add(tb, &long_size, 1);
	tb_u32(tb, w->opts.page_size);
}

/* ---- v6 ---- */

static int build_v6(struct assembly *a, const char *uname)
{
	struct tdat_writer *w = a->w;
	struct tbuf *tb = &a->pre;
	char *clock;

	put_file_header(tb, w);
	put_headers(tb, w);
	put_ftrace(tb, w);
	put_events(tb, w);
	put_blob32(tb, &w->kallsyms);
	put_blob32(tb, &w->printk);
	put_blob64(tb, &w->cmdlines);
	tb_u32(tb, w->opts.ncpus);
	tb_add(tb, "options  ", 10);
	put_common_options(tb, w, uname);
	tb_u16(tb, OPT_DONE);
	tb_add(tb, "flyrecord", 10);
	a->cpu_table = tb->len;
	for (unsigned int i = 0; i < w->opts.ncpus; i++) {
		tb_u64(tb, 0);
		tb_u64(tb, 0);
	}
	/* the reader expects the clock here since the options have TRACECLOCK */
	if (asprintf(&clock, "[%s]", w->clock) < 0) {
		errno = ENOMEM;
		return -1;
	}
	tb_u64(tb, strlen(clock));
	tb_add(tb, clock, strlen(clock));
	free(clock);
	return 0;
}

/* ---- v7 ---- */

static const char *comp_name(enum tdat_compress c)
{
	return c == TDAT_COMP_ZSTD ? "zstd" : c == TDAT_COMP_ZLIB ? "zlib" : "none";
}

static const char *comp_version(enum tdat_compress c)
{
	return c == TDAT_COMP_ZSTD ? ZSTD_versionString() :
	       c == TDAT_COMP_ZLIB ? zlibVersion() : "";
}

static size_t comp_bound(const struct assembly *a, size_t len)
{
	if (a->w->opts.compress == TDAT_COMP_ZSTD)
		return ZSTD_compressBound(len);
	return compressBound(len);
}

/* Compress @len bytes into @out (@cap bytes); returns the size or -1. */
static long compress_block(struct assembly *a, const void *in, size_t len,
			   void *out, size_t cap)
{
	uLongf zlen = cap;
	size_t r;

	if (a->w->opts.compress == TDAT_COMP_ZSTD) {
		r = ZSTD_compress2(a->zctx, out, cap, in, len);
		if (ZSTD_isError(r)) {
			errno = EIO;
			return -1;
		}
		return (long)r;
	}
	if (compress2(out, &zlen, in, len, Z_DEFAULT_COMPRESSION) != Z_OK) {
		errno = ENOMEM;
		return -1;
	}
	return (long)zlen;
}

/*
 * Append a section: the 16-byte header, then the content, which a
 * compressed file stores as one block: compressed size, raw size, data.
 */
static int put_section(struct assembly *a, uint16_t id, int desc, struct tbuf *content)
{
	struct tbuf *tb = &a->pre;
	bool comp = a->w->opts.compress != TDAT_COMP_NONE;
	size_t cap;
	char *z;
	long zlen;

	if (content->nomem || content->len > UINT32_MAX) {
		errno = content->nomem ? ENOMEM : EFBIG;
		return -1;
	}
	tb_u16(tb, id);
	tb_u16(tb, comp ? SEC_FL_COMPRESS : 0);
	tb_u32(tb, a->desc[desc]);
	if (!comp) {
		tb_u64(tb, content->len);
		tb_add(tb, content->p, content->len);
		return 0;
	}
	cap = comp_bound(a, content->len);
	z = malloc(cap);
	if (!z) {
		errno = ENOMEM;
		return -1;
	}
	zlen = compress_block(a, content->p, content->len, z, cap);
	if (zlen >= 0) {
		tb_u64(tb, 8 + (uint64_t)zlen);
		tb_u32(tb, (uint32_t)zlen);
		tb_u32(tb, (uint32_t)content->len);
		tb_add(tb, z, (size_t)zlen);
	}
	free(z);
	return zlen < 0 ? -1 : 0;
}

static int put_strings(struct assembly *a)
{
	struct tbuf s = { 0 };
	int ret;

	for (int i = 0; i < DS_NR; i++) {
		a->desc[i] = (uint32_t)s.len;
		tb_str(&s, desc_names[i]);
	}
	ret = put_section(a, OPT_STRINGS, DS_STRINGS, &s);
	tb_free(&s);
	return ret;
}

/* The metadata sections; @offs receives where each starts, for the options. */
static int put_meta_sections(struct assembly *a, uint64_t offs[6])
{
	static const struct { uint16_t id; int desc; } secs[6] = {
		{ OPT_HEADER_INFO, DS_HEADERS }, { OPT_FTRACE_EVENTS, DS_FTRACE },
		{ OPT_EVENT_FORMATS, DS_EVENTS }, { OPT_KALLSYMS, DS_KALLSYMS },
		{ OPT_PRINTK, DS_PRINTK }, { OPT_CMDLINES, DS_CMDLINES },
	};
	const struct tdat_writer *w = a->w;
	struct tbuf c = { 0 };
	int ret = 0;

	for (int i = 0; i < 6 && !ret; i++) {
		c.len = 0;
		switch (secs[i].id) {
		case OPT_HEADER_INFO:	put_headers(&c, w); break;
		case OPT_FTRACE_EVENTS:	put_ftrace(&c, w); break;
		case OPT_EVENT_FORMATS:	put_events(&c, w); break;
		case OPT_KALLSYMS:	put_blob32(&c, &w->kallsyms); break;
		case OPT_PRINTK:	put_blob32(&c, &w->printk); break;
		default:		put_blob64(&c, &w->cmdlines); break;
		}
		offs[i] = a->pre.len;
		ret = put_section(a, secs[i].id, secs[i].desc, &c);
	}
	tb_free(&c);
	return ret;
}

/*
 * The BUFFER option: flyrecord section offset, instance name ("" for the
 * top buffer), clock, page size, then (cpu, offset, size) for every CPU,
 * filled in once the data is written. Empty CPUs are listed with size 0.
 */
static size_t put_buffer_option(struct assembly *a)
{
	const struct tdat_writer *w = a->w;
	struct tbuf *tb = &a->pre;
	uint32_t len = 8 + 1 + (uint32_t)strlen(w->clock) + 1 + 4 + 4 + 20 * w->opts.ncpus;
	size_t at;

	tb_u16(tb, OPT_BUFFER);
	tb_u32(tb, len);
	at = tb->len;
	tb_u64(tb, 0);
	tb_str(tb, "");
	tb_str(tb, w->clock);
	tb_u32(tb, w->opts.page_size);
	tb_u32(tb, w->opts.ncpus);
	a->cpu_table = tb->len;
	for (unsigned int i = 0; i < w->opts.ncpus; i++) {
		tb_u32(tb, i);
		tb_u64(tb, 0);
		tb_u64(tb, 0);
	}
	return at;
}

static void put_options_v7(struct assembly *a, const char *uname, const uint64_t offs[6])
{
	static const uint16_t ids[6] = {
		OPT_HEADER_INFO, OPT_FTRACE_EVENTS, OPT_EVENT_FORMATS,
		OPT_KALLSYMS, OPT_PRINTK, OPT_CMDLINES,
	};
	struct tbuf *tb = &a->pre;
	uint32_t ncpus = a->w->opts.ncpus;
	size_t size_at, buf_at;

	tb_u16(tb, OPT_DONE);		/* section id of options */
	tb_u16(tb, 0);			/* trace-cmd never compresses them */
	tb_u32(tb, a->desc[DS_OPTIONS]);
	size_at = tb->len;
	tb_u64(tb, 0);
	put_common_options(tb, a->w, uname);
	for (int i = 0; i < 6; i++)
		put_option(tb, ids[i], &offs[i], 8);
	put_option(tb, OPT_CPUCOUNT, &ncpus, 4);
	buf_at = put_buffer_option(a);
	tb_u16(tb, OPT_DONE);
	tb_u32(tb, 8);
	tb_u64(tb, 0);			/* no further options section */
	tb_put_u64(tb, size_at, tb->len - size_at - 8);
	/* the flyrecord section follows right away */
	tb_put_u64(tb, buf_at, tb->len);
}

static int build_v7(struct assembly *a, const char *uname)
{
	struct tbuf *tb = &a->pre;
	enum tdat_compress c = a->w->opts.compress;
	uint64_t offs[6];
	size_t opt_ptr;

	put_file_header(tb, a->w);
	tb_str(tb, comp_name(c));
	tb_str(tb, comp_version(c));
	opt_ptr = tb->len;
	tb_u64(tb, 0);
	if (put_strings(a) || put_meta_sections(a, offs))
		return -1;
	tb_put_u64(tb, opt_ptr, tb->len);
	put_options_v7(a, uname, offs);
	tb_u16(tb, OPT_BUFFER);
	tb_u16(tb, c != TDAT_COMP_NONE ? SEC_FL_COMPRESS : 0);
	tb_u32(tb, a->desc[DS_FLYRECORD]);
	a->flyrec_size = tb->len;
	tb_u64(tb, 0);
	return 0;
}

/* ---- trace data ---- */

/*
 * A write that failed for lack of space ends the copy but not the file:
 * what was written in whole pages (or chunks) is kept.
 */
static bool out_of_space(struct assembly *a)
{
	if (errno != ENOSPC && errno != EDQUOT && errno != EFBIG)
		return false;
	a->full = true;
	return true;
}

/*
 * Copy one CPU's pages as they are. Each block is freed in the temporary
 * file before it is written out, so when both files share a full disk the
 * copy still has room.
 */
static int copy_raw(struct assembly *a, struct tdat_cpu *c)
{
	uint64_t page = a->w->opts.page_size;
	uint64_t off = 0, n;
	size_t done;

	while (off < c->bytes) {
		n = min_u64(c->bytes - off, COPY_BLOCK);
		if (pread_all(c->fd, a->rbuf, n, off) < 0)
			return -1;
		release_blocks(c->fd, off, n);
		done = pwrite_all(a->w->fd, a->rbuf, n, c->out_off + off);
		if (done != n) {
			c->out_size = off + done / page * page;
			return out_of_space(a) ? 0 : -1;
		}
		off += n;
	}
	c->out_size = c->bytes;
	return 0;
}

/* Compress and append one chunk at *pos; 1 if the disk is full. */
static int put_chunk(struct assembly *a, const char *in, size_t len, uint64_t *pos)
{
	uint32_t hdr[2];
	struct iovec iov[2];
	long zlen;
	ssize_t r;

	zlen = compress_block(a, in, len, a->zbuf, a->zcap);
	if (zlen < 0)
		return -1;
	hdr[0] = (uint32_t)zlen;
	hdr[1] = (uint32_t)len;
	iov[0] = (struct iovec){ hdr, 8 };
	iov[1] = (struct iovec){ a->zbuf, (size_t)zlen };
	do {
		r = pwritev(a->w->fd, iov, 2, (off_t)*pos);
	} while (r < 0 && errno == EINTR);
	if (r == 8 + zlen) {
		*pos += (uint64_t)r;
		return 0;
	}
	if (r >= 0)
		errno = ENOSPC;	/* a short write: the rest would fail with ENOSPC */
	return out_of_space(a) ? 1 : -1;
}

/* Compress one block of pages read from the temporary file into chunks. */
static int put_chunks(struct assembly *a, size_t n, uint64_t *pos, uint32_t *chunks)
{
	size_t chunk = (size_t)a->w->opts.page_size * PAGES_PER_CHUNK;
	size_t off, len;
	int ret;

	for (off = 0; off < n; off += len) {
		len = n - off < chunk ? n - off : chunk;
		ret = put_chunk(a, a->rbuf + off, len, pos);
		if (ret)
			return ret;
		(*chunks)++;
	}
	return 0;
}

/*
 * Compressed flyrecord data of one CPU: the chunk count, then each chunk of
 * up to 10 pages as compressed size, raw size, compressed bytes.
 */
static int copy_compressed(struct assembly *a, struct tdat_cpu *c)
{
	uint64_t chunk = (uint64_t)a->w->opts.page_size * PAGES_PER_CHUNK;
	uint64_t pos = c->out_off + 4, off, n, block;
	uint32_t chunks = 0;
	int ret = 0;

	/* whole chunks per read, so that only the CPU's last chunk is short */
	block = COPY_BLOCK / chunk ? COPY_BLOCK / chunk * chunk : chunk;
	for (off = 0; off < c->bytes && !ret; off += n) {
		n = min_u64(c->bytes - off, block);
		if (pread_all(c->fd, a->rbuf, n, off) < 0)
			return -1;
		release_blocks(c->fd, off, n);
		ret = put_chunks(a, n, &pos, &chunks);
	}
	if (ret < 0)
		return -1;
	if (!chunks)
		return 0;	/* nothing fitted: the CPU stays empty */
	if (pwrite_all(a->w->fd, &chunks, 4, c->out_off) != 4)
		return out_of_space(a) ? 0 : -1;
	c->out_size = pos - c->out_off;
	return 0;
}

static int copy_cpus(struct assembly *a)
{
	struct tdat_writer *w = a->w;
	struct tdat_cpu *c;
	int ret;

	a->end = a->data_start;
	for (unsigned int i = 0; i < w->opts.ncpus; i++) {
		c = &w->cpu[i];
		c->out_off = align_up(a->end, w->opts.page_size);
		c->out_size = 0;
		if (a->full || !c->bytes)
			continue;
		if (w->opts.compress == TDAT_COMP_NONE)
			ret = copy_raw(a, c);
		else
			ret = copy_compressed(a, c);
		if (ret)
			return -1;
		if (c->out_size)
			a->end = c->out_off + c->out_size;
	}
	return 0;
}

/* ---- patching and assembly ---- */

static int patch(struct assembly *a, uint64_t off, const void *v, size_t len)
{
	if (pwrite_all(a->w->fd, v, len, off) != len)
		return -1;
	return 0;
}

/* Fill in the per-CPU offsets and sizes, and v7's flyrecord section size. */
static int patch_tables(struct assembly *a)
{
	struct tdat_writer *w = a->w;
	size_t entry = w->opts.version == 6 ? 16 : 20;
	size_t skip = w->opts.version == 6 ? 0 : 4;
	uint64_t at, v[2], size;

	for (unsigned int i = 0; i < w->opts.ncpus; i++) {
		at = a->cpu_table + i * entry + skip;
		v[0] = w->cpu[i].out_off;
		v[1] = w->cpu[i].out_size;
		if (patch(a, at, v, 16))
			return -1;
	}
	if (w->opts.version == 6)
		return 0;
	size = a->end - (a->flyrec_size + 8);
	return patch(a, a->flyrec_size, &size, 8);
}

static int assembly_init(struct assembly *a, struct tdat_writer *w)
{
	size_t chunk = (size_t)w->opts.page_size * PAGES_PER_CHUNK;

	memset(a, 0, sizeof(*a));
	a->w = w;
	a->rbuf = malloc(chunk > COPY_BLOCK ? chunk : COPY_BLOCK);
	if (!a->rbuf)
		goto nomem;
	if (w->opts.compress == TDAT_COMP_NONE)
		return 0;
	a->zcap = comp_bound(a, chunk);
	a->zbuf = malloc(a->zcap);
	if (!a->zbuf)
		goto nomem;
	if (w->opts.compress != TDAT_COMP_ZSTD)
		return 0;
	/* as trace-cmd: default level, no content size in the frames */
	a->zctx = ZSTD_createCCtx();
	if (!a->zctx ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(a->zctx, ZSTD_c_contentSizeFlag, 0)))
		goto nomem;
	return 0;
nomem:
	errno = ENOMEM;
	return -1;
}

static void assembly_free(struct assembly *a)
{
	tb_free(&a->pre);
	free(a->rbuf);
	free(a->zbuf);
	ZSTD_freeCCtx(a->zctx);
}

static int build_prefix(struct assembly *a)
{
	char *uname = uname_text(a->w);
	int ret;

	if (!uname) {
		errno = ENOMEM;
		return -1;
	}
	if (a->w->opts.version == 6)
		ret = build_v6(a, uname);
	else
		ret = build_v7(a, uname);
	free(uname);
	if (!ret && a->pre.nomem) {
		errno = ENOMEM;
		ret = -1;
	}
	a->data_start = a->pre.len;
	return ret;
}

/* Cut the file to its valid end and give back unused preallocated blocks. */
static int trim(struct assembly *a)
{
	struct tdat_writer *w = a->w;

	if (ftruncate(w->fd, (off_t)a->end) < 0)
		return -1;
	if (w->reserved > a->end)
		release_blocks(w->fd, a->end, w->reserved - a->end);
	return 0;
}

static int assemble(struct assembly *a)
{
	struct tdat_writer *w = a->w;

	if (!w->header_page.len || !w->header_event.len) {
		errno = EINVAL;	/* tdat_set_headers() is required */
		return -1;
	}
	if (assembly_init(a, w) || build_prefix(a))
		return -1;
	if (pwrite_all(w->fd, a->pre.p, a->pre.len, 0) != a->pre.len)
		return -1;
	if (copy_cpus(a) || trim(a) || patch_tables(a))
		return -1;
	if (a->full) {
		errno = ENOSPC;
		return -1;
	}
	return 0;
}

/*
 * Write the file and free @w. On failure the output is removed, except
 * when the disk filled up while the trace data was copied: the file is then
 * kept as a valid trace holding every CPU's data up to the last whole page
 * (v7 compressed: the last whole chunk of 10 pages) that fitted, the CPUs
 * after it empty, and -1 is returned with errno ENOSPC.
 */
int tdat_close(struct tdat_writer *w)
{
	struct assembly a;
	int ret, saved;

	if (!w) {
		errno = EINVAL;
		return -1;
	}
	memset(&a, 0, sizeof(a));
	a.w = w;
	ret = assemble(&a);
	saved = errno;
	if (close(w->fd) < 0 && !ret) {
		ret = -1;
		saved = errno;
	}
	w->fd = -1;
	if (ret && !(a.full && saved == ENOSPC))
		unlink(w->path);
	assembly_free(&a);
	writer_free(w);
	errno = saved;
	return ret;
}
