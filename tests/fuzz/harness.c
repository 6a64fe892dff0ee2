/*
 * libFuzzer harnesses over `vmwait analyze`: open -> read -> analyze -> report.
 *
 * fuzz-analyze: the input is a trace.dat, run as `analyze -j 1 --json -o /dev/null`.
 * fuzz-options (built with -DFUZZ_OPTIONS): the first byte picks the output
 * and selection options (--csv, text, --explain, --vcpu, --from/--to,
 * --vector, --vm, --buffer) and -j 1 or -j 2; the rest is the trace.dat.
 *
 * The input goes to a memfd that the analyzer opens as /proc/self/fd/N, as
 * often as it likes (it opens the file several times).
 */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cmds.h"

#define MIN(a, b) ((a) < (b) ? (a) : (b))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int memfd = -1;
static char path[64];

/* Write @data to the memfd, replacing what the previous input left there. */
static int load_input(const uint8_t *data, size_t size)
{
	size_t done = 0;

	if (memfd < 0) {
		memfd = memfd_create("vmwait-fuzz", 0);
		if (memfd < 0) {
			perror("memfd_create");
			abort();
		}
		snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
	}
	if (ftruncate(memfd, 0))
		abort();
	while (done < size) {
		ssize_t n = pwrite(memfd, data + done, size - done, (off_t)done);

		if (n <= 0)
			abort();
		done += (size_t)n;
	}
	return 0;
}

#ifdef FUZZ_OPTIONS
/* The options byte: bits 0-1 the output, one bit per selection option, bit 7 -j 2. */
static int build_argv(uint8_t opt, char **argv)
{
	static const char *const outputs[] = { "--json", "--csv", NULL, "--explain" };
	int argc = 0;

	argv[argc++] = "analyze";
	argv[argc++] = "-j";
	argv[argc++] = opt & 128 ? "2" : "1";
	if (outputs[opt & 3])
		argv[argc++] = (char *)outputs[opt & 3];
	if (opt & 4) {
		argv[argc++] = "--vcpu";
		argv[argc++] = "0";
	}
	if (opt & 8) {
		/* the generator's traces start at 4242.123456789 s */
		argv[argc++] = "--from";
		argv[argc++] = "4242.1236";
		argv[argc++] = "--to";
		argv[argc++] = "4242.1250";
	}
	if (opt & 16) {
		argv[argc++] = "--vector";
		argv[argc++] = "0xec=ipi";
	}
	if (opt & 32) {
		argv[argc++] = "--vm";
		argv[argc++] = "4000";
	}
	if (opt & 64) {
		argv[argc++] = "--buffer";
		argv[argc++] = "";
	}
	argv[argc++] = "-o";
	argv[argc++] = "/dev/null";
	argv[argc++] = path;
	argv[argc] = NULL;
	return argc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *argv[24];
	int argc;

	if (size < 1)
		return 0;
	load_input(data + 1, size - 1);
	argc = build_argv(data[0], argv);
	cmd_analyze(argc, argv);
	return 0;
}
#elif defined(FUZZ_PAGES)
/*
 * fuzz-pages: only the ring-buffer pages vary. The metadata (header, formats,
 * options, up to the "flyrecord" CPU table) is a fixed template from the
 * generator (tests/fuzz/pages.py), so libtraceevent parses it once and every
 * execution goes to the reader's page checks, kbuffer and the analysis.
 * Input: an options byte (bit 0: -j 2, bit 1: --csv, bits 2-5: CPUs - 1),
 * (CPUs - 1) little-endian u16 lengths in 64-byte units, then each CPU's
 * data (the last CPU takes the rest).
 */
static uint8_t *tmpl;
static size_t tmpl_len, tmpl_cpus_at;

int LLVMFuzzerInitialize(int *argc, char ***argv);
static void warm_up(void);

/* The template: u32 offset of its CPU count, then the file up to its CPU table. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *p = getenv("VMWAIT_FUZZ_TEMPLATE");
	char def[4096];
	uint32_t at;
	FILE *f;
	long n;

	if (!p) {
		const char *slash = strrchr((*argv)[0], '/');

		/* beside the binary */
		snprintf(def, sizeof(def), "%.*spages-template.dat",
			 slash ? (int)(slash - (*argv)[0] + 1) : 0, (*argv)[0]);
		p = def;
	}
	(void)argc;
	f = fopen(p, "rb");
	if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < 8 || fseek(f, 0, SEEK_SET)) {
		fprintf(stderr, "fuzz-pages: cannot read the template %s\n", p);
		abort();
	}
	tmpl = malloc((size_t)n);
	if (!tmpl || fread(tmpl, 1, (size_t)n, f) != (size_t)n)
		abort();
	fclose(f);
	memcpy(&at, tmpl, 4);
	tmpl_len = (size_t)n - 4;
	memmove(tmpl, tmpl + 4, tmpl_len);
	if (at + 4 > tmpl_len)
		abort();
	tmpl_cpus_at = at;
	warm_up();
	return 0;
}

/* Lay out template, CPU table and each CPU's data, page-aligned, in @buf. */
static size_t build_file(const uint8_t *data, size_t size, unsigned int cpus, uint8_t *buf,
			 size_t cap)
{
	size_t hdr = 2 * (cpus - 1), off;
	const uint8_t *d = data + hdr;
	size_t left = size - hdr;
	uint32_t n = cpus;

	memcpy(buf, tmpl, tmpl_len);
	memcpy(buf + tmpl_cpus_at, &n, 4);
	off = (tmpl_len + 16 * (size_t)cpus + 4095) & ~(size_t)4095;
	memset(buf + tmpl_len, 0, off - tmpl_len);
	for (unsigned int c = 0; c < cpus; c++) {
		size_t len = c + 1 < cpus ? 64 * (size_t)(data[2 * c] | data[2 * c + 1] << 8) : left;
		uint64_t o = off, l;

		len = MIN(MIN(len, left), cap - off);
		l = len;
		memcpy(buf + tmpl_len + 16 * c, &o, 8);
		memcpy(buf + tmpl_len + 16 * c + 8, &l, 8);
		memcpy(buf + off, d, len);
		d += len;
		left -= len;
		off = MIN((off + len + 4095) & ~(size_t)4095, cap);
		memset(buf + o + len, 0, off - o - len);
	}
	return off;
}

/*
 * Analyze the template once (no CPU data) before libFuzzer starts its RSS
 * thread, so that the formats are parsed, proven safe and kept now. vmwait
 * parses new formats in a forked child (common/guard.c); a fork while the
 * RSS thread starts can copy clang 14 ASan's allocator lock held, and the
 * child then hangs in malloc (seen with gdb: ~2% of process starts, as
 * libFuzzer timeouts that never reproduce alone). vmwait is single-threaded
 * when it forks; the harness process is not.
 */
static void warm_up(void)
{
	int err = dup(STDERR_FILENO), null = open("/dev/null", O_WRONLY);
	uint8_t zero = 0;

	/* its "no events" line is not news */
	if (err >= 0 && null >= 0)
		dup2(null, STDERR_FILENO);
	LLVMFuzzerTestOneInput(&zero, 1);
	if (err >= 0 && null >= 0)
		dup2(err, STDERR_FILENO);
	if (err >= 0)
		close(err);
	if (null >= 0)
		close(null);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t *buf;
	static size_t cap;
	char *argv[] = { "analyze", "-j", "1", "--json", "-o", "/dev/null", path, NULL };
	unsigned int cpus;
	size_t need;

	if (size < 1)
		return 0;
	cpus = 1 + (data[0] >> 2 & 15);
	if (size < 1 + 2 * (cpus - 1))
		return 0;
	need = tmpl_len + 16 * cpus + size + 4096 * (cpus + 1);
	if (need > cap) {
		free(buf);
		cap = need;
		buf = malloc(cap);
		if (!buf)
			abort();
	}
	argv[2] = data[0] & 1 ? "2" : "1";
	argv[3] = data[0] & 2 ? "--csv" : "--json";
	load_input(buf, build_file(data + 1, size - 1, cpus, buf, cap));
	cmd_analyze(7, argv);
	return 0;
}
#else
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *argv[] = { "analyze", "-j", "1", "--json", "-o", "/dev/null", path, NULL };

	load_input(data, size);
	cmd_analyze(7, argv);
	return 0;
}
#endif
