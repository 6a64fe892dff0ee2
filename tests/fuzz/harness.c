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
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cmds.h"

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
#else
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *argv[] = { "analyze", "-j", "1", "--json", "-o", "/dev/null", path, NULL };

	load_input(data, size);
	cmd_analyze(7, argv);
	return 0;
}
#endif
