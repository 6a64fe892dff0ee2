/*
 * The trace.dat layout (v6 and v7), read and validated: every offset, size,
 * count and string is checked against the file before it is used, and no
 * allocation exceeds what the file can hold.
 */
#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>
#include <zstd.h>

#include "tin_int.h"
#include "util.h"

#define SEC_OPTIONS	0
#define SEC_BUFFER	3
#define SEC_HEADER_INFO	16
#define SEC_FTRACE	17
#define SEC_EVENTS	18
#define SEC_KALLSYMS	19
#define SEC_PRINTK	20
#define SEC_CMDLINES	21
#define MAX_SECTIONS	4096
#define MAX_UNCOMPRESSED (1ULL << 30)	/* one decompressed metadata section */
#define MAX_RATIO	4096		/* decompressed / compressed bytes */
#define MAX_FORMATS	100000
#define MAX_SYSTEMS	10000

int tin_fail(struct tin *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(t->err, sizeof(t->err), "%s: ", t->path);
	va_start(ap, fmt);
	vsnprintf(t->err + n, sizeof(t->err) - n, fmt, ap);
	va_end(ap);
	return -1;
}

uint16_t tin_u16(const struct tin *t, const void *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return t->m.big_endian ? be16toh(v) : le16toh(v);
}

uint32_t tin_u32(const struct tin *t, const void *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return t->m.big_endian ? be32toh(v) : le32toh(v);
}

uint64_t tin_u64(const struct tin *t, const void *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return t->m.big_endian ? be64toh(v) : le64toh(v);
}

/* Exactly @len bytes at @off, or an error naming @what. */
int tin_pread(struct tin *t, void *buf, size_t len, uint64_t off, const char *what)
{
	size_t got = 0;

	if (off > t->m.file_size || len > t->m.file_size - off)
		return tin_fail(t, "truncated or corrupt: %s (%zu bytes at offset %llu) lies "
				"beyond the end of the file (%llu bytes)", what, len,
				(unsigned long long)off, (unsigned long long)t->m.file_size);
	while (got < len) {
		ssize_t n = pread(t->fd, (uint8_t *)buf + got, len - got, (off_t)(off + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return tin_fail(t, "cannot read %s at offset %llu: %s", what,
					(unsigned long long)(off + got),
					n < 0 ? strerror(errno) : "unexpected end of file");
		got += (size_t)n;
	}
	return 0;
}

int tin_uncompress(struct tin *t, uint8_t *dst, size_t dlen, const uint8_t *src, size_t slen)
{
	if (!strcmp(t->m.compression, "zstd")) {
		size_t n = ZSTD_decompress(dst, dlen, src, slen);

		return !ZSTD_isError(n) && n == dlen ? 0 : -1;
	}
	if (!strcmp(t->m.compression, "zlib")) {
		uLongf n = dlen;

		return uncompress(dst, &n, src, slen) == Z_OK && n == dlen ? 0 : -1;
	}
	return -1;
}

#define RA_SIZE	65536

/*
 * A metadata read through a read-ahead window: format texts, strings and
 * option fields are hundreds of small reads (strings byte by byte).
 */
static int ra_read(struct tin *t, void *buf, size_t n, uint64_t off, const char *what)
{
	if (n > RA_SIZE / 2 || off > t->m.file_size || n > t->m.file_size - off)
		return tin_pread(t, buf, n, off, what);
	if (off < t->ra_off || off + n > t->ra_off + t->ra_len) {
		size_t len = MIN((uint64_t)RA_SIZE, t->m.file_size - off);

		if (!t->ra)
			t->ra = xmalloc(RA_SIZE);
		t->ra_len = 0;
		if (tin_pread(t, t->ra, len, off, what))
			return -1;
		t->ra_off = off;
		t->ra_len = len;
	}
	memcpy(buf, t->ra + (off - t->ra_off), n);
	return 0;
}

/*
 * A cursor over metadata: the file itself (v6, uncompressed v7 sections) or
 * a decompressed section in memory. Every read is bounds-checked.
 */
struct cur {
	struct tin *t;
	const uint8_t *mem;	/* NULL: read the file */
	uint64_t pos, end;	/* file offsets, or indexes into mem */
	uint64_t base;		/* file offset of the section (memory mode) */
};

static uint64_t cur_where(const struct cur *c)
{
	return c->mem ? c->base : c->pos;
}

static int cur_bytes(struct cur *c, void *buf, size_t n, const char *what)
{
	if (n > c->end - c->pos)
		return tin_fail(c->t, "truncated or corrupt: %s at offset %llu runs past the end "
				"of its %s", what, (unsigned long long)cur_where(c),
				c->mem ? "section" : "file");
	if (c->mem)
		memcpy(buf, c->mem + c->pos, n);
	else if (ra_read(c->t, buf, n, c->pos, what))
		return -1;
	c->pos += n;
	return 0;
}

static int cur_u32(struct cur *c, uint32_t *v, const char *what)
{
	uint8_t b[4];

	if (cur_bytes(c, b, 4, what))
		return -1;
	*v = tin_u32(c->t, b);
	return 0;
}

static int cur_u64(struct cur *c, uint64_t *v, const char *what)
{
	uint8_t b[8];

	if (cur_bytes(c, b, 8, what))
		return -1;
	*v = tin_u64(c->t, b);
	return 0;
}

/* A NUL-terminated string of at most @max bytes. */
static int cur_str(struct cur *c, char **out, size_t max, const char *what)
{
	char buf[4096];
	size_t n = 0;

	max = MIN(max, sizeof(buf) - 1);
	for (;;) {
		if (n > max)
			return tin_fail(c->t, "corrupt: %s at offset %llu is not a terminated string "
					"of at most %zu bytes", what,
					(unsigned long long)cur_where(c), max);
		if (cur_bytes(c, &buf[n], 1, what))
			return -1;
		if (!buf[n])
			break;
		n++;
	}
	*out = xstrdup(buf);
	return 0;
}

/* @len bytes of metadata into @b (NUL-terminated copy). */
static int cur_blob(struct cur *c, uint64_t len, struct blob *b, const char *what)
{
	if (len > c->end - c->pos)
		return tin_fail(c->t, "truncated or corrupt: %s of %llu bytes at offset %llu "
				"runs past the end of its %s", what, (unsigned long long)len,
				(unsigned long long)cur_where(c), c->mem ? "section" : "file");
	b->off = cur_where(c);
	b->len = len;
	b->buf = xmalloc(len + 1);
	if (cur_bytes(c, b->buf, len, what)) {
		free(b->buf);
		b->buf = NULL;
		return -1;
	}
	b->buf[len] = '\0';
	return 0;
}

static int cur_sized_blob(struct cur *c, int width, struct blob *b, const char *what)
{
	uint64_t len;
	uint32_t l32;

	if (width == 4) {
		if (cur_u32(c, &l32, what))
			return -1;
		len = l32;
	} else if (cur_u64(c, &len, what)) {
		return -1;
	}
	return cur_blob(c, len, b, what);
}

static int expect_tag(struct cur *c, const char *tag, size_t len)
{
	char buf[16];

	if (cur_bytes(c, buf, len, tag))
		return -1;
	if (memcmp(buf, tag, len))
		return tin_fail(c->t, "corrupt header: expected \"%s\" at offset %llu",
				tag, (unsigned long long)(c->pos - len));
	return 0;
}

static int read_headers(struct cur *c)
{
	if (expect_tag(c, "header_page", 12) ||
	    cur_sized_blob(c, 8, &c->t->header_page, "header_page") ||
	    expect_tag(c, "header_event", 13) ||
	    cur_sized_blob(c, 8, &c->t->header_event, "header_event"))
		return -1;
	return 0;
}

static int add_formats(struct cur *c, const char *system, uint32_t count)
{
	struct tin *t = c->t;

	if (count > MAX_FORMATS || (uint64_t)t->nfmts + count > MAX_FORMATS)
		return tin_fail(t, "corrupt: %u event formats of system %s (offset %llu)",
				count, system, (unsigned long long)cur_where(c));
	t->fmts = xrealloc(t->fmts, (t->nfmts + count) * sizeof(*t->fmts));
	memset(t->fmts + t->nfmts, 0, count * sizeof(*t->fmts));
	for (uint32_t i = 0; i < count; i++) {
		struct fmt_blob *f = &t->fmts[t->nfmts];

		if (cur_sized_blob(c, 8, &f->b, "event format"))
			return -1;
		f->system = xstrdup(system);
		t->nfmts++;
	}
	return 0;
}

static int read_ftrace_formats(struct cur *c)
{
	uint32_t n;

	if (cur_u32(c, &n, "ftrace format count"))
		return -1;
	return add_formats(c, "ftrace", n);
}

static int read_event_formats(struct cur *c)
{
	uint32_t nsys, n;

	if (cur_u32(c, &nsys, "event system count"))
		return -1;
	if (nsys > MAX_SYSTEMS)
		return tin_fail(c->t, "corrupt: %u event systems (offset %llu)", nsys,
				(unsigned long long)cur_where(c));
	for (uint32_t i = 0; i < nsys; i++) {
		char *sys;
		int ret;

		if (cur_str(c, &sys, 256, "event system name"))
			return -1;
		ret = cur_u32(c, &n, "event format count") || add_formats(c, sys, n);
		free(sys);
		if (ret)
			return -1;
	}
	return 0;
}

/* Options of v6 (ended by id 0) or of a v7 options section (ended by DONE). */
static int read_options(struct cur *c, bool v7, uint64_t *next)
{
	uint8_t hdr[6];

	*next = 0;
	for (;;) {
		uint64_t at = cur_where(c);
		struct blob b;
		uint16_t id;
		uint32_t size;
		int ret;

		if (cur_bytes(c, hdr, 2, "option id"))
			return -1;
		id = tin_u16(c->t, hdr);
		if (!v7 && id == 0)
			return 0;
		if (cur_bytes(c, hdr + 2, 4, "option size"))
			return -1;
		size = tin_u32(c->t, hdr + 2);
		if (cur_blob(c, size, &b, "option"))
			return -1;
		if (v7 && id == 0) {
			ret = size == 8 ? 0 : tin_fail(c->t, "corrupt: options end (DONE) of size %u "
						       "at offset %llu", size,
						       (unsigned long long)at);
			if (!ret)
				*next = tin_u64(c->t, b.buf);
			free(b.buf);
			return ret;
		}
		ret = tin_parse_option(c->t, id, b.buf, size, at);
		free(b.buf);
		if (ret)
			return -1;
	}
}

/* v6 flyrecord: per CPU (offset, size) after the "flyrecord" tag. */
static int read_cpu_table(struct cur *c, struct tin_buffer *b, int cpus)
{
	b->secs = xcalloc(cpus ? cpus : 1, sizeof(*b->secs));
	b->ncpus = cpus;
	for (int i = 0; i < cpus; i++) {
		b->secs[i].cpu = i;
		if (cur_u64(c, &b->secs[i].off, "CPU data offset") ||
		    cur_u64(c, &b->secs[i].size, "CPU data size"))
			return -1;
	}
	return 0;
}

/* "options  " (then options) or "flyrecord"/"latency  " at @c. */
static int read_data_kind(struct cur *c, bool allow_options, char kind[10])
{
	uint64_t next;

	if (cur_bytes(c, kind, 10, "data kind"))
		return -1;
	if (allow_options && !memcmp(kind, "options  ", 10)) {
		if (read_options(c, false, &next) || cur_bytes(c, kind, 10, "data kind"))
			return -1;
	}
	if (!memcmp(kind, "flyrecord", 10))
		return 0;
	if (!memcmp(kind, "latency  ", 10))
		return tin_fail(c->t, "a latency trace (text, no events): vmwait needs a "
				"flyrecord trace (trace-cmd record)");
	return tin_fail(c->t, "corrupt header: unknown data kind at offset %llu",
			(unsigned long long)(c->pos - 10));
}

/* v6 instance buffers: at their offset, the same kind tag and CPU table. */
static int read_v6_instances(struct tin *t)
{
	for (int i = 1; i < t->m.nbuffers; i++) {
		struct tin_buffer *b = &t->m.buffers[i];
		struct cur c = { .t = t, .pos = b->section, .end = t->m.file_size };
		char kind[10];

		if (read_data_kind(&c, true, kind) || read_cpu_table(&c, b, t->m.cpus))
			return -1;
		b->page_size = t->m.page_size;
	}
	return 0;
}

static int read_v6(struct tin *t, struct cur *c)
{
	uint32_t cpus;
	char kind[10];
	struct blob clk = { 0 };

	if (read_headers(c) || read_ftrace_formats(c) || read_event_formats(c) ||
	    cur_sized_blob(c, 4, &t->kallsyms, "kallsyms") ||
	    cur_sized_blob(c, 4, &t->printk, "printk formats") ||
	    cur_sized_blob(c, 8, &t->cmdlines, "saved cmdlines") ||
	    cur_u32(c, &cpus, "CPU count"))
		return -1;
	if (cpus == 0 || cpus > 65536)
		return tin_fail(t, "corrupt header: %u CPUs (offset %llu)", cpus,
				(unsigned long long)(c->pos - 4));
	if (!t->m.cpus)
		t->m.cpus = (int)cpus;
	if (read_data_kind(c, true, kind) || read_cpu_table(c, &t->m.buffers[0], (int)cpus))
		return -1;
	t->m.buffers[0].page_size = t->m.page_size;
	if (t->v6_clock) {
		/* TRACECLOCK option: the trace_clock file follows the CPU table */
		if (!cur_sized_blob(c, 8, &clk, "trace_clock"))
			t->m.clock = (char *)clk.buf;
		t->err[0] = '\0';	/* a broken trace_clock is not fatal */
	}
	return read_v6_instances(t);
}

/* A v7 section header at @off, of id @id; its body becomes the cursor @c. */
static int open_section(struct tin *t, uint64_t off, uint16_t id, struct cur *c, uint8_t **mem)
{
	uint8_t h[16], ch[8];
	uint64_t size;
	uint32_t csize, usize;
	uint8_t *src;

	*mem = NULL;
	if (tin_pread(t, h, sizeof(h), off, "section header"))
		return -1;
	if (tin_u16(t, h) != id)
		return tin_fail(t, "corrupt: expected section %u at offset %llu, found %u", id,
				(unsigned long long)off, tin_u16(t, h));
	size = tin_u64(t, h + 8);
	off += sizeof(h);
	if (size > t->m.file_size - off)
		return tin_fail(t, "truncated or corrupt: section %u at offset %llu claims %llu "
				"bytes, the file has %llu after it", id,
				(unsigned long long)(off - sizeof(h)), (unsigned long long)size,
				(unsigned long long)(t->m.file_size - off));
	*c = (struct cur){ .t = t, .pos = off, .end = off + size };
	if (!(tin_u16(t, h + 2) & 1) || id == SEC_BUFFER)
		return 0;
	if (size < 8 || tin_pread(t, ch, 8, off, "compressed section header"))
		return tin_fail(t, "corrupt: compressed section %u at offset %llu is too short",
				id, (unsigned long long)off);
	csize = tin_u32(t, ch);
	usize = tin_u32(t, ch + 4);
	if (csize > size - 8 || usize > MAX_UNCOMPRESSED ||
	    (uint64_t)usize > (uint64_t)csize * MAX_RATIO + 4096)
		return tin_fail(t, "corrupt: compressed section %u at offset %llu claims %u bytes "
				"from %u", id, (unsigned long long)off, usize, csize);
	src = xmalloc(csize ? csize : 1);
	*mem = xmalloc(usize ? usize : 1);
	if (tin_pread(t, src, csize, off + 8, "compressed section") ||
	    tin_uncompress(t, *mem, usize, src, csize)) {
		free(src);
		free(*mem);
		*mem = NULL;
		if (!t->err[0])
			tin_fail(t, "corrupt: section %u at offset %llu does not decompress (%s)",
				 id, (unsigned long long)off, t->m.compression);
		return -1;
	}
	free(src);
	*c = (struct cur){ .t = t, .mem = *mem, .pos = 0, .end = usize, .base = off };
	return 0;
}

static int read_section(struct tin *t, uint16_t id, int (*body)(struct cur *))
{
	struct cur c;
	uint8_t *mem;
	int ret;

	if (!t->sec_off[id])
		return 0;
	if (open_section(t, t->sec_off[id], id, &c, &mem))
		return -1;
	ret = body(&c);
	free(mem);
	return ret;
}

static int body_kallsyms(struct cur *c)
{
	return cur_sized_blob(c, 4, &c->t->kallsyms, "kallsyms");
}

static int body_printk(struct cur *c)
{
	return cur_sized_blob(c, 4, &c->t->printk, "printk formats");
}

static int body_cmdlines(struct cur *c)
{
	return cur_sized_blob(c, 8, &c->t->cmdlines, "saved cmdlines");
}

/* Follow the chain of v7 options sections from @off. */
static int read_v7_options(struct tin *t, uint64_t off)
{
	uint64_t seen[64];
	int nseen = 0;

	for (int n = 0; off; n++) {
		struct cur c;
		uint8_t *mem;
		int ret;

		if (n >= MAX_SECTIONS)
			return tin_fail(t, "corrupt: more than %d options sections", MAX_SECTIONS);
		for (int i = 0; i < nseen; i++)
			if (seen[i] == off)
				return tin_fail(t, "corrupt: options sections loop at offset %llu",
						(unsigned long long)off);
		if (nseen < (int)ARRAY_SIZE(seen))
			seen[nseen++] = off;
		if (open_section(t, off, SEC_OPTIONS, &c, &mem))
			return -1;
		ret = read_options(&c, true, &off);
		free(mem);
		if (ret)
			return -1;
	}
	return 0;
}

/* Each buffer's flyrecord section header says whether its CPU data is compressed. */
static int check_v7_buffers(struct tin *t)
{
	for (int i = 0; i < t->m.nbuffers; i++) {
		struct tin_buffer *b = &t->m.buffers[i];
		uint8_t h[16];

		if (!b->ncpus)
			continue;
		if (tin_pread(t, h, sizeof(h), b->section, "buffer section header"))
			return -1;
		if (tin_u16(t, h) != SEC_BUFFER)
			return tin_fail(t, "corrupt: buffer '%s' points to offset %llu, which holds "
					"no buffer section", b->name,
					(unsigned long long)b->section);
		b->compressed = tin_u16(t, h + 2) & 1;
		if (b->compressed && !strcmp(t->m.compression, "none"))
			return tin_fail(t, "corrupt: buffer '%s' is compressed but the file "
					"names no compression", b->name);
	}
	return 0;
}

static int read_v7(struct tin *t, struct cur *c)
{
	char *name, *ver;
	uint64_t off;
	struct cur hc;
	uint8_t *mem;
	int ret;

	if (cur_str(c, &name, 31, "compression name"))
		return -1;
	snprintf(t->m.compression, sizeof(t->m.compression), "%s", name);
	free(name);
	if (cur_str(c, &ver, 64, "compression version"))
		return -1;
	free(ver);
	if (strcmp(t->m.compression, "none") && strcmp(t->m.compression, "zstd") &&
	    strcmp(t->m.compression, "zlib"))
		return tin_fail(t, "compressed with '%s': vmwait reads none, zstd and zlib",
				t->m.compression);
	if (cur_u64(c, &off, "first options offset") || read_v7_options(t, off))
		return -1;
	if (!t->sec_off[SEC_HEADER_INFO])
		return tin_fail(t, "corrupt: no header info section (event header formats)");
	if (open_section(t, t->sec_off[SEC_HEADER_INFO], SEC_HEADER_INFO, &hc, &mem))
		return -1;
	ret = read_headers(&hc);
	free(mem);
	if (ret || read_section(t, SEC_FTRACE, read_ftrace_formats) ||
	    read_section(t, SEC_EVENTS, read_event_formats) ||
	    read_section(t, SEC_KALLSYMS, body_kallsyms) ||
	    read_section(t, SEC_PRINTK, body_printk) ||
	    read_section(t, SEC_CMDLINES, body_cmdlines))
		return -1;
	return check_v7_buffers(t);
}

/* Every CPU section of every buffer lies inside the file, once per CPU. */
static int check_cpu_sections(struct tin *t)
{
	for (int i = 0; i < t->m.nbuffers; i++) {
		struct tin_buffer *b = &t->m.buffers[i];

		if (!b->page_size)
			b->page_size = t->m.page_size;	/* trace-cmd convert writes 0 */
		if (b->page_size < 64 || b->page_size > (1u << 27) ||
		    (b->page_size & (b->page_size - 1)))
			return tin_fail(t, "corrupt: buffer '%s' has a page size of %u bytes",
					b->name, b->page_size);
		for (int j = 0; j < b->ncpus; j++) {
			const struct tin_cpu_sec *s = &b->secs[j];

			/* an empty CPU's offset may point past the end (trace-cmd) */
			if (s->size && (s->off > t->m.file_size ||
					s->size > t->m.file_size - s->off))
				return tin_fail(t, "truncated: CPU %u data of buffer '%s' should "
						"end at byte %llu, the file has %llu", s->cpu,
						b->name, (unsigned long long)(s->off + s->size),
						(unsigned long long)t->m.file_size);
			for (int k = 0; k < j; k++)
				if (b->secs[k].cpu == s->cpu)
					return tin_fail(t, "corrupt: buffer '%s' lists CPU %u twice",
							b->name, s->cpu);
		}
	}
	return 0;
}

int tin_read_layout(struct tin *t)
{
	static const char magic[10] = { 0x17, 0x08, 0x44, 't', 'r', 'a', 'c', 'i', 'n', 'g' };
	struct cur c = { .t = t, .pos = 0, .end = t->m.file_size };
	uint8_t b[16];
	char *ver, vbuf[16];
	char *end;
	long v;

	if (t->m.file_size == 0)
		return tin_fail(t, "the file is empty");
	if (t->m.file_size < 10 || tin_pread(t, b, 10, 0, "magic") || memcmp(b, magic, 10))
		return tin_fail(t, "not a trace.dat file (bad magic)");
	c.pos = 10;
	if (cur_str(&c, &ver, 8, "version"))
		return -1;
	snprintf(vbuf, sizeof(vbuf), "%s", ver);
	free(ver);
	v = strtol(vbuf, &end, 10);
	if (*end || v < 6 || v > 7)
		return tin_fail(t, "trace.dat version '%s' is not supported (6 and 7 are)", vbuf);
	t->m.version = (int)v;
	if (cur_bytes(&c, b, 6, "endianness, long size and page size"))
		return -1;
	t->m.big_endian = b[0] != 0;
	t->m.long_size = b[1];
	t->m.page_size = tin_u32(t, b + 2);
	if (t->m.long_size != 4 && t->m.long_size != 8)
		return tin_fail(t, "corrupt header: long size %d", t->m.long_size);
	snprintf(t->m.compression, sizeof(t->m.compression), "none");
	t->m.buffers = xcalloc(1, sizeof(*t->m.buffers));
	t->m.buffers[0].name = xstrdup("");
	t->m.nbuffers = 1;
	if ((t->m.version == 6 ? read_v6(t, &c) : read_v7(t, &c)) ||
	    check_cpu_sections(t))
		return -1;
	return 0;
}
