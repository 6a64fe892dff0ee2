/* Reads a trace.dat's version, compression and GUEST options (v6 and v7). */
#include <endian.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tdat_read.h"
#include "util.h"

#define OPT_DONE	0
#define OPT_BUFFER	3
#define OPT_GUEST	13
#define MAX_OPTION	(16u << 20)	/* sanity bound on one option's size */

struct rd {
	int fd;
	bool swap;
	off_t pos;
};

static int rd_bytes(struct rd *r, void *buf, size_t len)
{
	ssize_t n = pread(r->fd, buf, len, r->pos);

	if (n != (ssize_t)len)
		return -1;
	r->pos += len;
	return 0;
}

static int rd_u16(struct rd *r, uint16_t *v)
{
	if (rd_bytes(r, v, 2))
		return -1;
	if (r->swap)
		*v = __builtin_bswap16(*v);
	return 0;
}

static int rd_u32(struct rd *r, uint32_t *v)
{
	if (rd_bytes(r, v, 4))
		return -1;
	if (r->swap)
		*v = __builtin_bswap32(*v);
	return 0;
}

static int rd_u64(struct rd *r, uint64_t *v)
{
	if (rd_bytes(r, v, 8))
		return -1;
	if (r->swap)
		*v = __builtin_bswap64(*v);
	return 0;
}

/* A NUL-terminated string of at most @len - 1 bytes. */
static int rd_str(struct rd *r, char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (rd_bytes(r, &buf[i], 1))
			return -1;
		if (!buf[i])
			return 0;
	}
	return -1;
}

static uint32_t get32(const struct rd *r, const char *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return r->swap ? __builtin_bswap32(v) : v;
}

/* BUFFER option: section offset, name, clock, page size, then per CPU (id, offset, size). */
static void add_buffer(struct tdat_info *info, const struct rd *r, const char *buf, uint32_t size)
{
	const char *p = buf + 8, *end = buf + size;
	uint32_t ncpu;

	for (int i = 0; i < 2; i++) {
		size_t n = strnlen(p, end - p);

		if (p + n >= end)
			return;
		p += n + 1;
	}
	if (end - p < 8)
		return;
	ncpu = get32(r, p + 4);
	p += 8;
	for (uint32_t c = 0; c < ncpu && end - p >= 20; c++, p += 20) {
		uint64_t off, len;

		memcpy(&off, p + 4, 8);
		memcpy(&len, p + 12, 8);
		if (r->swap) {
			off = __builtin_bswap64(off);
			len = __builtin_bswap64(len);
		}
		if (len && off + len > info->data_end)
			info->data_end = off + len;
	}
}

static void add_guest(struct tdat_info *info, const struct rd *r, const char *buf, uint32_t size)
{
	struct tdat_guest g = { 0 };
	size_t nlen = strnlen(buf, size);
	const char *p = buf + nlen + 1;
	const char *end = buf + size;

	if (nlen == size || end - p < 12)
		return;
	memcpy(&g.trace_id, p, 8);
	if (r->swap)
		g.trace_id = __builtin_bswap64(g.trace_id);
	g.nvcpus = (int)get32(r, p + 8);
	p += 12;
	if (g.nvcpus <= 0 || g.nvcpus > 4096 || (end - p) / 8 < g.nvcpus)
		return;
	g.name = xstrdup(buf);
	g.vcpu_pid = xcalloc(g.nvcpus, sizeof(int));
	for (int i = 0; i < g.nvcpus; i++, p += 8) {
		uint32_t cpu = get32(r, p);

		if (cpu < (uint32_t)g.nvcpus)
			g.vcpu_pid[cpu] = (int)get32(r, p + 4);
	}
	info->guests = xrealloc(info->guests, (info->nguests + 1) * sizeof(*info->guests));
	info->guests[info->nguests++] = g;
}

/* Walk options (id, size, data) until DONE; return DONE's payload if @v7. */
static int read_options(struct rd *r, struct tdat_info *info, bool v7, uint64_t *next)
{
	uint16_t id;
	uint32_t size;

	*next = 0;
	for (;;) {
		if (rd_u16(r, &id))
			return -1;
		if (!v7 && id == OPT_DONE)
			return 0;
		if (rd_u32(r, &size) || size > MAX_OPTION)
			return -1;
		if (id == OPT_DONE) {
			if (size != 8)
				return -1;
			return rd_u64(r, next);
		}
		if (id == OPT_GUEST || id == OPT_BUFFER) {
			char *buf = xmalloc(size + 1);

			if (rd_bytes(r, buf, size)) {
				free(buf);
				return -1;
			}
			buf[size] = '\0';
			if (id == OPT_GUEST)
				add_guest(info, r, buf, size);
			else
				add_buffer(info, r, buf, size);
			free(buf);
		} else {
			r->pos += size;
		}
	}
}

static int skip_sized(struct rd *r, int width)
{
	uint64_t n = 0;
	uint32_t n32;

	if (width == 4) {
		if (rd_u32(r, &n32))
			return -1;
		n = n32;
	} else if (rd_u64(r, &n)) {
		return -1;
	}
	r->pos += (off_t)n;
	return 0;
}

/* v6: skip the fixed sequence of metadata blocks up to the options. */
static int v6_options(struct rd *r, struct tdat_info *info)
{
	char name[64];
	uint32_t count, nsys;
	uint64_t next;

	if (rd_str(r, name, sizeof(name)) || strcmp(name, "header_page") || skip_sized(r, 8) ||
	    rd_str(r, name, sizeof(name)) || strcmp(name, "header_event") || skip_sized(r, 8))
		return -1;
	if (rd_u32(r, &count))
		return -1;
	while (count--)
		if (skip_sized(r, 8))
			return -1;
	if (rd_u32(r, &nsys))
		return -1;
	while (nsys--) {
		if (rd_str(r, name, sizeof(name)) || rd_u32(r, &count))
			return -1;
		while (count--)
			if (skip_sized(r, 8))
				return -1;
	}
	if (skip_sized(r, 4) || skip_sized(r, 4) || skip_sized(r, 8) || rd_u32(r, &count))
		return -1;
	if (rd_bytes(r, name, 10))
		return -1;
	if (!memcmp(name, "options  ", 10)) {
		if (read_options(r, info, false, &next) || rd_bytes(r, name, 10))
			return -1;
	}
	if (memcmp(name, "flyrecord", 10))
		return 0;
	/* per CPU: offset and size of its data */
	for (uint32_t c = 0; c < count; c++) {
		uint64_t off, len;

		if (rd_u64(r, &off) || rd_u64(r, &len))
			return -1;
		if (len && off + len > info->data_end)
			info->data_end = off + len;
	}
	return 0;
}

static int v7_options(struct rd *r, struct tdat_info *info)
{
	uint64_t off, size;
	uint32_t strid;
	uint16_t id, flags;
	int guard = 0;

	if (rd_str(r, info->compression, sizeof(info->compression))) {
		snprintf(info->compression, sizeof(info->compression), "?");
		return -1;
	}
	{
		char ver[64];

		if (rd_str(r, ver, sizeof(ver)))
			return -1;
	}
	if (rd_u64(r, &off))
		return -1;
	while (off && guard++ < 1024) {
		r->pos = (off_t)off;
		if (rd_u16(r, &id) || rd_u16(r, &flags) || rd_u32(r, &strid) || rd_u64(r, &size))
			return -1;
		if (id != OPT_DONE || (flags & 1))
			return 0;	/* not an options section, or compressed: stop here */
		if (read_options(r, info, true, &off))
			return -1;
	}
	return 0;
}

int tdat_read_info(const char *path, struct tdat_info *info)
{
	static const char magic[] = { 0x17, 0x08, 0x44, 't', 'r', 'a', 'c', 'i', 'n', 'g' };
	struct rd r = { .fd = -1 };
	char buf[16];
	uint8_t endian_long[2];
	uint32_t page;
	int ret = -1;

	memset(info, 0, sizeof(*info));
	snprintf(info->compression, sizeof(info->compression), "none");
	r.fd = open(path, O_RDONLY | O_CLOEXEC);
	if (r.fd < 0)
		return -1;
	info->file_size = (uint64_t)lseek(r.fd, 0, SEEK_END);
	if (rd_bytes(&r, buf, sizeof(magic)) || memcmp(buf, magic, sizeof(magic)))
		goto out;
	if (rd_str(&r, buf, sizeof(buf)))
		goto out;
	info->version = atoi(buf);
	if (rd_bytes(&r, endian_long, 2))
		goto out;
	r.swap = (endian_long[0] != 0) != (__BYTE_ORDER == __BIG_ENDIAN);
	if (rd_u32(&r, &page))
		goto out;
	if (info->version >= 7)
		ret = v7_options(&r, info);
	else
		ret = v6_options(&r, info);
out:
	close(r.fd);
	return ret;
}

void tdat_info_free(struct tdat_info *info)
{
	for (int i = 0; i < info->nguests; i++) {
		free(info->guests[i].name);
		free(info->guests[i].vcpu_pid);
	}
	free(info->guests);
	memset(info, 0, sizeof(*info));
}
