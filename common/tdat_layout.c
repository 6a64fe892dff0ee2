/*
 * The bytes of a trace.dat around the trace data: the head (written when the
 * recording starts) and the tail (written at the end), v6 and v7.
 *
 * v6: head = header, header_page/header_event, ftrace and event formats,
 *     kallsyms, printk formats; tail = cmdlines, CPU count, options,
 *     "flyrecord", per-CPU (offset, size) table, trace clock.
 * v7: head = header, strings section, one section each for the headers,
 *     ftrace formats, event formats, kallsyms and printk formats; tail = the
 *     cmdlines section, one options section (which also holds the BUFFER
 *     option describing the flyrecord data), then the flyrecord section.
 *     Sections are contiguous: libtracecmd finds the strings by walking every
 *     section header from the start of the file to its end. The strings
 *     section comes first here (trace-cmd writes it last); readers locate
 *     sections by offset, so the order is free.
 * The page-aligned per-CPU data follows the tail, at the end of the file.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <zlib.h>
#include <zstd.h>

#include "tdat_priv.h"

#ifndef VMWAIT_VERSION
#define VMWAIT_VERSION "unknown"
#endif

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

static const char *const desc_names[DS_NR] = {
	"strings", "headers", "ftrace events", "events format", "kallsyms",
	"printk", "command lines", "options", "buffer flyrecord ",
};

/* ---- small helpers ---- */

void tb_add(struct tbuf *tb, const void *data, size_t len)
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

void tb_free(struct tbuf *tb)
{
	free(tb->p);
	memset(tb, 0, sizeof(*tb));
}

uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/* ---- compression ---- */

size_t comp_bound(const struct tdat_writer *w, size_t len)
{
	if (w->opts.compress == TDAT_COMP_ZSTD)
		return ZSTD_compressBound(len);
	return compressBound(len);
}

/* Compress @len bytes into @out (@cap bytes); returns the size or -1. */
long compress_block(struct tdat_writer *w, const void *in, size_t len, void *out, size_t cap)
{
	uLongf zlen = cap;
	size_t r;

	if (w->opts.compress == TDAT_COMP_ZSTD) {
		r = ZSTD_compress2(w->zctx, out, cap, in, len);
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

/* Decompress a block that must give exactly @raw bytes; 0 or -1. */
int decompress_block(enum tdat_compress c, const void *in, size_t len, void *out, size_t raw)
{
	uLongf zlen = raw;
	size_t r;

	if (c == TDAT_COMP_ZSTD) {
		r = ZSTD_decompress(out, raw, in, len);
		return ZSTD_isError(r) || r != raw ? -1 : 0;
	}
	if (uncompress(out, &zlen, in, len) != Z_OK || zlen != raw)
		return -1;
	return 0;
}

static const char *comp_name(enum tdat_compress c)
{
	return c == TDAT_COMP_ZSTD ? "zstd" : c == TDAT_COMP_ZLIB ? "zlib" : "none";
}

static const char *comp_version(enum tdat_compress c)
{
	return c == TDAT_COMP_ZSTD ? ZSTD_versionString() :
	       c == TDAT_COMP_ZLIB ? zlibVersion() : "";
}

/* ---- contents shared by v6 and v7 ---- */

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

/* The options that both versions carry. */
static int put_common_options(struct tbuf *tb, const struct tdat_writer *w)
{
	const char *version = "vmwait " VMWAIT_VERSION;
	char *uname = uname_text(w);

	if (!uname) {
		errno = ENOMEM;
		return -1;
	}
	put_option_str(tb, OPT_TRACECLOCK, w->clock_text);
	put_option_str(tb, OPT_UNAME, uname);
	put_option_str(tb, OPT_VERSION, version);
	for (unsigned int i = 0; i < w->opts.ncpus; i++)
		if (w->cpu[i].stats)
			put_option_str(tb, OPT_CPUSTAT, w->cpu[i].stats);
	for (unsigned int i = 0; i < w->nr_guests; i++)
		put_option(tb, OPT_GUEST, w->guests[i].p, (uint32_t)w->guests[i].len);
	for (unsigned int i = 0; i < w->nr_raw; i++)
		put_option(tb, w->raw_id[i], w->raw[i].p, (uint32_t)w->raw[i].len);
	free(uname);
	return 0;
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

/* Does @p (@len bytes) start like a trace.dat of @w's version? */
bool tdat_head_valid(const struct tdat_writer *w, const char *p, size_t len)
{
	struct tbuf tb = { 0 };
	bool ok;

	put_file_header(&tb, w);
	ok = !tb.nomem && len >= tb.len && !memcmp(p, tb.p, tb.len);
	tb_free(&tb);
	return ok;
}

/* ---- v6 ---- */

static int head_v6(struct tdat_writer *w, struct tbuf *tb)
{
	put_file_header(tb, w);
	put_headers(tb, w);
	put_ftrace(tb, w);
	put_events(tb, w);
	put_blob32(tb, &w->kallsyms);
	put_blob32(tb, &w->printk);
	return 0;
}

static int tail_v6(struct tdat_writer *w, struct tbuf *tb, struct tdat_asm *as)
{
	uint64_t base = w->head.len;
	char *clock;

	put_blob64(tb, &w->cmdlines);
	tb_u32(tb, w->opts.ncpus);
	tb_add(tb, "options  ", 10);
	if (put_common_options(tb, w))
		return -1;
	tb_u16(tb, OPT_DONE);
	tb_add(tb, "flyrecord", 10);
	as->cpu_table = base + tb->len;
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

/*
 * Append a section: the 16-byte header, then the content, which a
 * compressed file stores as one block: compressed size, raw size, data.
 */
static int put_section(struct tdat_writer *w, struct tbuf *tb, uint16_t id, int desc,
		       struct tbuf *content)
{
	bool comp = w->opts.compress != TDAT_COMP_NONE;
	size_t cap;
	char *z;
	long zlen;

	if (content->nomem || content->len > UINT32_MAX) {
		errno = content->nomem ? ENOMEM : EFBIG;
		return -1;
	}
	tb_u16(tb, id);
	tb_u16(tb, comp ? SEC_FL_COMPRESS : 0);
	tb_u32(tb, w->head.desc[desc]);
	if (!comp) {
		tb_u64(tb, content->len);
		tb_add(tb, content->p, content->len);
		return 0;
	}
	cap = comp_bound(w, content->len);
	z = malloc(cap);
	if (!z) {
		errno = ENOMEM;
		return -1;
	}
	zlen = compress_block(w, content->p, content->len, z, cap);
	if (zlen >= 0) {
		tb_u64(tb, 8 + (uint64_t)zlen);
		tb_u32(tb, (uint32_t)zlen);
		tb_u32(tb, (uint32_t)content->len);
		tb_add(tb, z, (size_t)zlen);
	}
	free(z);
	return zlen < 0 ? -1 : 0;
}

static int put_strings(struct tdat_writer *w, struct tbuf *tb)
{
	struct tbuf s = { 0 };
	int ret;

	for (int i = 0; i < DS_NR; i++) {
		w->head.desc[i] = (uint32_t)s.len;
		tb_str(&s, desc_names[i]);
	}
	ret = put_section(w, tb, OPT_STRINGS, DS_STRINGS, &s);
	tb_free(&s);
	return ret;
}

/* The head's metadata sections, each one's offset kept in w->head.offs. */
static int put_head_sections(struct tdat_writer *w, struct tbuf *tb)
{
	static const struct { uint16_t id; int desc; } secs[5] = {
		{ OPT_HEADER_INFO, DS_HEADERS }, { OPT_FTRACE_EVENTS, DS_FTRACE },
		{ OPT_EVENT_FORMATS, DS_EVENTS }, { OPT_KALLSYMS, DS_KALLSYMS },
		{ OPT_PRINTK, DS_PRINTK },
	};
	struct tbuf c = { 0 };
	int ret = 0;

	for (int i = 0; i < 5 && !ret; i++) {
		c.len = 0;
		switch (secs[i].id) {
		case OPT_HEADER_INFO:	put_headers(&c, w); break;
		case OPT_FTRACE_EVENTS:	put_ftrace(&c, w); break;
		case OPT_EVENT_FORMATS:	put_events(&c, w); break;
		case OPT_KALLSYMS:	put_blob32(&c, &w->kallsyms); break;
		default:		put_blob32(&c, &w->printk); break;
		}
		w->head.offs[i] = tb->len;
		ret = put_section(w, tb, secs[i].id, secs[i].desc, &c);
	}
	tb_free(&c);
	return ret;
}

static int head_v7(struct tdat_writer *w, struct tbuf *tb)
{
	enum tdat_compress c = w->opts.compress;

	put_file_header(tb, w);
	tb_str(tb, comp_name(c));
	tb_str(tb, comp_version(c));
	w->head.opt_ptr = tb->len;
	tb_u64(tb, 0);		/* the options' offset, known at the end */
	if (put_strings(w, tb) || put_head_sections(w, tb))
		return -1;
	return 0;
}

/*
 * The BUFFER option: flyrecord section offset, instance name ("" for the
 * top buffer), clock, page size, then (cpu, offset, size) for every CPU,
 * filled in once the data is written. Empty CPUs are listed with size 0.
 */
static size_t put_buffer_option(struct tdat_writer *w, struct tbuf *tb, struct tdat_asm *as)
{
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
	as->cpu_table = w->head.len + tb->len;
	for (unsigned int i = 0; i < w->opts.ncpus; i++) {
		tb_u32(tb, i);
		tb_u64(tb, 0);
		tb_u64(tb, 0);
	}
	return at;
}

static int put_options_v7(struct tdat_writer *w, struct tbuf *tb, struct tdat_asm *as,
			  uint64_t cmdlines_off)
{
	static const uint16_t ids[6] = {
		OPT_HEADER_INFO, OPT_FTRACE_EVENTS, OPT_EVENT_FORMATS,
		OPT_KALLSYMS, OPT_PRINTK, OPT_CMDLINES,
	};
	uint32_t ncpus = w->opts.ncpus;
	uint64_t off;
	size_t size_at, buf_at;

	as->opt_val = w->head.len + tb->len;
	tb_u16(tb, OPT_DONE);		/* section id of options */
	tb_u16(tb, 0);			/* trace-cmd never compresses them */
	tb_u32(tb, w->head.desc[DS_OPTIONS]);
	size_at = tb->len;
	tb_u64(tb, 0);
	if (put_common_options(tb, w))
		return -1;
	for (int i = 0; i < 6; i++) {
		off = i < 5 ? w->head.offs[i] : cmdlines_off;
		put_option(tb, ids[i], &off, 8);
	}
	put_option(tb, OPT_CPUCOUNT, &ncpus, 4);
	buf_at = put_buffer_option(w, tb, as);
	tb_u16(tb, OPT_DONE);
	tb_u32(tb, 8);
	tb_u64(tb, 0);			/* no further options section */
	tb_put_u64(tb, size_at, tb->len - size_at - 8);
	/* the flyrecord section follows right away */
	tb_put_u64(tb, buf_at, w->head.len + tb->len);
	return 0;
}

static int tail_v7(struct tdat_writer *w, struct tbuf *tb, struct tdat_asm *as)
{
	struct tbuf c = { 0 };
	uint64_t cmdlines_off = w->head.len;
	int ret;

	put_blob64(&c, &w->cmdlines);
	ret = put_section(w, tb, OPT_CMDLINES, DS_CMDLINES, &c);
	tb_free(&c);
	if (ret || put_options_v7(w, tb, as, cmdlines_off))
		return -1;
	tb_u16(tb, OPT_BUFFER);
	tb_u16(tb, w->opts.compress != TDAT_COMP_NONE ? SEC_FL_COMPRESS : 0);
	tb_u32(tb, w->head.desc[DS_FLYRECORD]);
	as->flyrec_size = w->head.len + tb->len;
	tb_u64(tb, 0);
	return 0;
}

/* ---- entry points ---- */

/* The head's bytes into @tb, and what the tail needs of them into w->head. */
int build_head(struct tdat_writer *w, struct tbuf *tb)
{
	int ret;

	memset(&w->head, 0, sizeof(w->head));
	ret = w->opts.version == 6 ? head_v6(w, tb) : head_v7(w, tb);
	if (!ret && tb->nomem) {
		errno = ENOMEM;
		ret = -1;
	}
	w->head.len = tb->len;
	return ret;
}

/* The tail's bytes into @tb, for a head of w->head.len bytes. */
int build_tail(struct tdat_writer *w, struct tbuf *tb, struct tdat_asm *as)
{
	int ret;

	memset(as, 0, sizeof(*as));
	ret = w->opts.version == 6 ? tail_v6(w, tb, as) : tail_v7(w, tb, as);
	if (!ret && tb->nomem) {
		errno = ENOMEM;
		ret = -1;
	}
	as->tail_len = tb->len;
	return ret;
}

/* An upper bound of the tail's size, for the space reserved after the head. */
uint64_t tail_estimate(const struct tdat_writer *w)
{
	uint64_t n = 16 * 1024;

	n += w->cmdlines.len + (w->uname ? strlen(w->uname) : 0);
	for (unsigned int i = 0; i < w->nr_guests; i++)
		n += w->guests[i].len + 8;
	for (unsigned int i = 0; i < w->nr_raw; i++)
		n += w->raw[i].len + 8;
	for (unsigned int i = 0; i < w->opts.ncpus; i++)
		n += 32 + (w->cpu[i].stats ? strlen(w->cpu[i].stats) + 16 : 0);
	return n;
}
