/*
 * Test helper: the trace.dat writer with known pages, for exact checks of
 * recovery and of the disk space a recording needs. Every CPU gets PAGES
 * pages of 100 "tick" events (seq 0, 1, ... per CPU, "cpu=C"); the payload
 * compresses about as well as real trace data.
 *
 *   rec-wtest write OUT MODE NCPUS PAGES   write and close; prints "raw BYTES"
 *   rec-wtest kill OUT MODE NCPUS PAGES    write, then die by SIGKILL
 *   rec-wtest dup OUT MODE NCPUS PAGES     as kill, but CPU 0's last page
 *                                          (PAGES a multiple of 10) completes
 *                                          a chunk and cpu0.pend is put back
 *                                          as it was before: the state of a
 *                                          kill between the two writes
 * MODE: v6, v7-none, v7-zstd, v7-zlib. Exit 1 with a message on failure.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tdat.h"
#include "util.h"
#include "../unit/ftrace_text.h"

#define PAGE		4096u
#define PAGE_HDR	16u
#define EV_SIZE		32u
#define EV_PER_PAGE	100u
#define EV_ID		900

static const char header_page[] = FT_HEADER_PAGE;
static const char header_event[] = FT_HEADER_EVENT;
static const char tick_format[] = FT_TICK_FORMAT;

/* Page @n of @cpu: events with consecutive seq, 1 us apart, CPUs interleaved. */
static void make_page(unsigned char *page, unsigned int cpu, uint64_t n)
{
	uint64_t seq = n * EV_PER_PAGE, ts = 1000000000ULL + seq * 1000 + cpu;
	uint64_t commit = EV_PER_PAGE * EV_SIZE;
	unsigned char *p = page + PAGE_HDR;

	memset(page, 0, PAGE);
	memcpy(page, &ts, 8);
	memcpy(page + 8, &commit, 8);
	for (unsigned int i = 0; i < EV_PER_PAGE; i++, seq++, p += EV_SIZE) {
		uint32_t hdr = 7 | (uint32_t)((i ? 1000 : 0) << 5);
		uint64_t nz = (seq * 2654435761u) >> 20 & 0xfff;	/* a little entropy */
		uint16_t type = EV_ID;
		int32_t pid = 1000 + (int32_t)cpu;

		memcpy(p, &hdr, 4);
		memcpy(p + 4, &type, 2);
		memcpy(p + 8, &pid, 4);
		memcpy(p + 12, &seq, 8);
		memcpy(p + 20, &cpu, 4);
		memcpy(p + 24, &nz, 8);
	}
}

static int parse_mode(const char *s, struct tdat_opts *o)
{
	o->version = 7;
	if (!strcmp(s, "v6")) {
		o->version = 6;
		o->compress = TDAT_COMP_NONE;
		return 0;
	}
	return strncmp(s, "v7-", 3) ? -1 : tdat_parse_compress(s + 3, &o->compress);
}

static int die(const char *what)
{
	fprintf(stderr, "rec-wtest: %s: %s\n", what, strerror(errno));
	return 1;
}

/* Copy file @from to @to (small files). */
static int copy_file(const char *from, const char *to)
{
	struct sbuf sb = { 0 };
	FILE *f;
	int ret = -1;

	if (read_file(from, &sb) < 0)
		return -1;
	f = fopen(to, "w");
	if (f && fwrite(sb.buf, 1, sb.len, f) == sb.len)
		ret = 0;
	if (f && fclose(f))
		ret = -1;
	sbuf_free(&sb);
	return ret;
}

/* CPU 0's last page; with @dup, cpu0.pend is saved before and put back after. */
static int last_page(struct tdat_writer *w, const char *out, uint64_t n, bool dup)
{
	static unsigned char page[PAGE];
	char pend[4096], saved[4200];

	snprintf(pend, sizeof(pend), "%s%s/cpu0.pend", out, TDAT_WORKDIR_SUFFIX);
	snprintf(saved, sizeof(saved), "%s.saved", pend);
	if (dup && copy_file(pend, saved) < 0)
		return die("save cpu0.pend");
	make_page(page, 0, n);
	if (tdat_write_page(w, 0, page))
		return die("tdat_write_page");
	if (dup && rename(saved, pend) < 0)
		return die("restore cpu0.pend");
	return 0;
}

int main(int argc, char **argv)
{
	static unsigned char page[PAGE];
	struct tdat_opts o = { 7, TDAT_COMP_ZSTD, PAGE, 1 };
	struct tdat_writer *w;
	const char *cmd, *out;
	unsigned long pages;
	bool dup;

	if (argc != 6 || parse_mode(argv[3], &o) < 0) {
		fprintf(stderr, "usage: rec-wtest write|kill|dup OUT v6|v7-none|v7-zstd|v7-zlib NCPUS PAGES\n");
		return 2;
	}
	cmd = argv[1];
	out = argv[2];
	o.ncpus = (unsigned int)strtoul(argv[4], NULL, 10);
	pages = strtoul(argv[5], NULL, 10);
	dup = !strcmp(cmd, "dup");
	w = tdat_create(out, &o);
	if (!w)
		return die("tdat_create");
	if (tdat_set_headers(w, header_page, strlen(header_page), header_event,
			     strlen(header_event)) ||
	    tdat_add_event_format(w, "vmwait_test", tick_format, strlen(tick_format)) ||
	    tdat_set_cmdlines(w, "1000 tick-0\n1001 tick-1\n", 24) ||
	    tdat_set_clock(w, "[local] global"))
		return die("metadata");
	for (uint64_t n = 0; n < pages; n++) {
		for (unsigned int c = 0; c < o.ncpus; c++) {
			if (c == 0 && n + 1 == pages && pages)
				continue;	/* CPU 0's last page comes last */
			make_page(page, c, n);
			if (tdat_write_page(w, c, page))
				return die("tdat_write_page");
		}
	}
	if (pages && last_page(w, out, pages - 1, dup))
		return 1;
	if (strcmp(cmd, "write")) {
		fflush(stdout);
		raise(SIGKILL);
	}
	if (tdat_close(w))
		return die("tdat_close");
	printf("raw %llu\n", (unsigned long long)pages * o.ncpus * PAGE);
	return 0;
}
