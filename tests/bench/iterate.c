/*
 * Benchmark baseline: the least a one-pass analysis of a trace.dat can do
 * with libtracecmd — iterate every record in time order and read its type
 * and pid.
 */
#include <stdio.h>

#include <trace-cmd.h>

#include "tdat.h"

static int count(struct tracecmd_input *h, struct tep_record *r, int cpu, void *data)
{
	unsigned long long *n = data;

	(void)cpu;
	n[0]++;
	n[1] += (unsigned int)tep_data_type(tracecmd_get_tep(h), r);
	n[1] += (unsigned int)tep_data_pid(tracecmd_get_tep(h), r);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long long n[2] = { 0, 0 };
	struct tracecmd_input *h;

	if (argc != 2) {
		fprintf(stderr, "usage: bench-iterate trace.dat\n");
		return 2;
	}
	tdat_register_zlib();
	h = tracecmd_open(argv[1], TRACECMD_FL_LOAD_NO_PLUGINS);
	if (!h) {
		fprintf(stderr, "bench-iterate: cannot open %s\n", argv[1]);
		return 1;
	}
	tracecmd_iterate_events(h, NULL, 0, count, n);
	printf("%llu events\n", n[0]);
	tracecmd_close(h);
	return 0;
}
