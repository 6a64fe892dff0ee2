/*
 * Test tool: rewrite one buffer of an uncompressed v7 trace.dat (as
 * "trace-cmd convert --compression none" makes) through vmwait's writer, with
 * another compression (zlib, which Debian's trace-cmd cannot write) and
 * optionally trace-cmd GUEST options: the same events, another container.
 *
 * usage: tdat-rewrite [-V 6|7] [-z none|zstd|zlib] [-b BUFFER] [-g NAME:PID,PID..]... IN OUT
 */
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tdat.h"
#include "util.h"

#define MAX_CPUS 1024

struct in {
	int fd;
	char *sec[22];			/* content of sections by option id */
	uint64_t sec_len[22];
	char uname[256], clock[64];
	unsigned int page;
	struct {
		uint64_t off, size;
	} cpu[MAX_CPUS];
	int ncpus;
};

static void die(const char *msg)
{
	fprintf(stderr, "tdat-rewrite: %s\n", msg);
	exit(1);
}

static void rd(struct in *in, void *buf, size_t len, uint64_t off)
{
	if (pread(in->fd, buf, len, (off_t)off) != (ssize_t)len)
		die("short read (truncated input?)");
}

static uint64_t rd_n(struct in *in, int size, uint64_t off)
{
	uint64_t v = 0;

	rd(in, &v, size, off);
	return v;
}

/* The content of the section at @off (after its 16-byte header). */
static void load_section(struct in *in, int id, uint64_t off)
{
	uint16_t flags = (uint16_t)rd_n(in, 2, off + 2);
	uint64_t size = rd_n(in, 8, off + 8);

	if (flags & 1)
		die("compressed section: convert the input with --compression none first");
	in->sec[id] = xmalloc(size + 1);
	rd(in, in->sec[id], size, off + 16);
	in->sec[id][size] = '\0';
	in->sec_len[id] = size;
}

/* BUFFER option: offset, name, clock, page size, cpus, (id, offset, size)... */
static void load_buffer(struct in *in, const char *d, uint32_t size, const char *want)
{
	const char *p = d + 8, *name = p, *end = d + size;
	uint32_t n;

	p += strlen(p) + 1;
	p += strlen(p) + 1;
	if (p + 8 > end)
		die("bad BUFFER option");
	if (want ? strcmp(name, want) : in->ncpus > 0)
		return;
	memcpy(&in->page, p, 4);
	memcpy(&n, p + 4, 4);
	p += 8;
	for (uint32_t i = 0; i < n && p + 20 <= end; i++, p += 20) {
		uint32_t id;

		memcpy(&id, p, 4);
		if (id >= MAX_CPUS)
			die("cpu id too large");
		memcpy(&in->cpu[id].off, p + 4, 8);
		memcpy(&in->cpu[id].size, p + 12, 8);
		if ((int)id + 1 > in->ncpus && in->cpu[id].size)
			in->ncpus = id + 1;
	}
	if (!in->ncpus)
		in->ncpus = 1;	/* a named buffer without data: keep it, empty */
}

static void load(struct in *in, const char *path, const char *buffer)
{
	char hdr[10], str[64];
	uint64_t opt, pos;
	size_t n;

	in->fd = open(path, O_RDONLY);
	if (in->fd < 0)
		die("cannot open input");
	rd(in, hdr, 10, 0);
	rd(in, str, sizeof(str), 10);
	if (strcmp(str, "7"))
		die("input is not a v7 file");
	pos = 10 + 2 + 2;
	in->page = (uint32_t)rd_n(in, 4, pos);
	pos += 4;
	rd(in, str, sizeof(str), pos);
	if (strcmp(str, "none"))
		die("input is compressed: convert it with --compression none first");
	pos += strlen(str) + 1;
	rd(in, str, sizeof(str), pos);
	pos += strlen(str) + 1;
	opt = rd_n(in, 8, pos);
	while (opt) {
		pos = opt + 16;
		opt = 0;
		for (;;) {
			uint16_t id = (uint16_t)rd_n(in, 2, pos);
			uint32_t size = (uint32_t)rd_n(in, 4, pos + 2);
			char *d = xmalloc(size + 1);

			rd(in, d, size, pos + 6);
			d[size] = '\0';
			pos += 6 + size;
			if (id == 0) {
				memcpy(&opt, d, 8);
				free(d);
				break;
			}
			if (id >= 16 && id <= 21)
				load_section(in, id, *(uint64_t *)d);
			else if (id == 3)
				load_buffer(in, d, size, buffer);
			else if (id == 5)
				snprintf(in->uname, sizeof(in->uname), "%s", d);
			else if (id == 4)
				snprintf(in->clock, sizeof(in->clock), "%s", d);
			free(d);
		}
	}
	n = strnlen(in->clock, sizeof(in->clock));
	if (!n)
		snprintf(in->clock, sizeof(in->clock), "local");
	if (!in->ncpus)
		die(buffer ? "no such buffer" : "no buffer with data");
	for (int i = 16; i <= 21; i++)
		if (i != 20 && !in->sec[i])
			die("a metadata section is missing");
}

static uint64_t get8(const char **p)
{
	uint64_t v;

	memcpy(&v, *p, 8);
	*p += 8;
	return v;
}

static uint32_t get4(const char **p)
{
	uint32_t v;

	memcpy(&v, *p, 4);
	*p += 4;
	return v;
}

int main(int argc, char **argv)
{
	struct tdat_opts o = { .version = 7, .compress = TDAT_COMP_ZLIB };
	struct in in = { 0 };
	const char *buffer = NULL;
	char *guests[16];
	int nguests = 0, c;
	struct tdat_writer *w;
	char *page;

	while ((c = getopt(argc, argv, "V:z:b:g:")) != -1) {
		switch (c) {
		case 'V': o.version = atoi(optarg); break;
		case 'z':
			if (tdat_parse_compress(optarg, &o.compress))
				die("bad compression");
			break;
		case 'b': buffer = optarg; break;
		case 'g':
			if (nguests < 16)
				guests[nguests++] = optarg;
			break;
		default: die("usage: tdat-rewrite [-V 6|7] [-z ALG] [-b BUF] [-g NAME:PID,..] IN OUT");
		}
	}
	if (optind != argc - 2)
		die("usage: tdat-rewrite [-V 6|7] [-z ALG] [-b BUF] [-g NAME:PID,..] IN OUT");
	load(&in, argv[optind], buffer);
	o.page_size = in.page;
	o.ncpus = in.ncpus;
	w = tdat_create(argv[optind + 1], &o);
	if (!w)
		die("cannot create output");
	{
		const char *p = in.sec[16] + strlen("header_page") + 1, *hp, *he;
		uint64_t hpl, hel;
		uint32_t n, nsys;

		hpl = get8(&p);
		hp = p;
		p += hpl + strlen("header_event") + 1;
		hel = get8(&p);
		he = p;
		if (tdat_set_headers(w, hp, hpl, he, hel))
			die("headers");
		p = in.sec[17];
		for (n = get4(&p); n; n--) {
			uint64_t len = get8(&p);

			if (tdat_add_ftrace_format(w, p, len))
				die("ftrace format");
			p += len;
		}
		p = in.sec[18];
		for (nsys = get4(&p); nsys; nsys--) {
			const char *sys = p;

			p += strlen(p) + 1;
			for (n = get4(&p); n; n--) {
				uint64_t len = get8(&p);

				if (tdat_add_event_format(w, sys, p, len))
					die("event format");
				p += len;
			}
		}
		p = in.sec[19];
		n = get4(&p);
		tdat_set_kallsyms(w, p, n);
		if (in.sec[20]) {
			p = in.sec[20];
			n = get4(&p);
			tdat_set_printk(w, p, n);
		}
		p = in.sec[21];
		hpl = get8(&p);
		tdat_set_cmdlines(w, p, hpl);
	}
	if (in.uname[0])
		tdat_set_uname(w, in.uname);
	tdat_set_clock(w, in.clock);
	for (int g = 0; g < nguests; g++) {
		char *name = guests[g], *list = strchr(name, ':'), *tok, *save;
		int pids[64], np = 0;

		if (!list)
			die("bad -g");
		*list++ = '\0';
		for (tok = strtok_r(list, ",", &save); tok && np < 64; tok = strtok_r(NULL, ",", &save))
			pids[np++] = atoi(tok);
		if (tdat_add_guest(w, name, 0x1000 + g, np, pids))
			die("guest option");
	}
	page = xmalloc(in.page);
	for (int cpu = 0; cpu < in.ncpus; cpu++) {
		for (uint64_t off = 0; off + in.page <= in.cpu[cpu].size; off += in.page) {
			rd(&in, page, in.page, in.cpu[cpu].off + off);
			if (tdat_write_page(w, cpu, page))
				die("write page");
		}
	}
	free(page);
	if (tdat_close(w))
		die("close");
	return 0;
}
