/* Options of `vmwait record`: usage and parsing. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "recorder.h"
#include "util.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vmwait record [-o FILE] [-d DURATION] [-b KB] [-p PID]... [--light]\n"
		"                     [-e SYSTEM:EVENT]... [--file-version 6|7]\n"
		"                     [--compression none|zstd|zlib] [-q] [-- COMMAND ARGS...]\n"
		"       vmwait record --recover FILE [-q]\n\n"
		"Record the kvm, sched and irq events that 'vmwait analyze' needs, in an own\n"
		"tracefs instance (the top-level buffer is not touched), into a trace.dat.\n"
		"Stops at Ctrl-C, SIGTERM, SIGHUP, after DURATION, or when COMMAND exits.\n\n"
		"  -o, --output FILE        output file (default: trace.dat)\n"
		"  -d, --duration DURATION  stop after DURATION (10s, 500ms, 2m; bare number: s)\n"
		"  -b, --buffer-size KB     ring buffer per CPU in KB (default: 4096, less\n"
		"                           on small machines)\n"
		"  -p, --pid PID            only these VMs (VMM pids; repeatable): their threads,\n"
		"                           children, vhost workers, and interrupts on idle CPUs\n"
		"  -l, --light              without the high-rate events (kvm_entry, kvm_exit,\n"
		"                           kvm_nested_vmexit, kvm_pio, kvm_mmio, kvm_fast_mmio,\n"
		"                           hrtimer_expire_exit, netif_receive_skb, net_dev_xmit)\n"
		"  -e, --event SYS:EVENT    record this event too (SYS alone: the whole system)\n"
		"      --file-version 6|7   trace.dat version (default: 7)\n"
		"      --compression ALG    none, zstd (default for version 7) or zlib; Debian\n"
		"                           12's trace-cmd 3.1.6 cannot read zlib files\n"
		"  -q, --quiet              no progress or summary (warnings still shown)\n"
		"      --recover FILE       finish the FILE of a recorder that was killed\n"
		"                           (SIGKILL, power loss) from FILE.vmwait-tmp/\n"
		"  -h, --help               this help\n\n"
		"A COMMAND is started once tracing is on and traced until it exits; it is\n"
		"left running if the recording stops first. See 'vmwait events' for the\n"
		"event set.\n\n"
		"Disk space: while it runs, the recording keeps its data in FILE.vmwait-tmp/\n"
		"beside FILE, already compressed, and needs no more free space there than the\n"
		"final size of FILE plus 9 ring-buffer pages (36 KB) per CPU plus 64 KB.\n"
		"After a kill (SIGKILL, power loss) 'vmwait record --recover FILE' makes a\n"
		"trace of what was read until then; a new recording to FILE is refused while\n"
		"FILE.vmwait-tmp/ exists.\n");
}

static int bad_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "vmwait: record: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	usage(stderr);
	return EXIT_USAGE;
}

/* Parse one -p argument into o->pids. */
static int add_pid_opt(struct rec_opts *o, const char *arg)
{
	uint64_t v;

	if (parse_u64(arg, &v) || v == 0 || v > INT_MAX)
		return bad_usage("bad pid '%s'", arg);
	pidset_add(&o->pids, (int)v);
	return 0;
}

/* Parse one option @c with argument @arg; returns 0 or an exit code. */
static int parse_opt(struct rec_opts *o, int c, const char *arg, bool *comp_set)
{
	uint64_t v;

	switch (c) {
	case 'o':
		o->output = arg;
		return 0;
	case 'd':
		if (parse_duration_ns(arg, &o->duration_ns) || !o->duration_ns)
			return bad_usage("bad duration '%s'", arg);
		return 0;
	case 'b':
		if (parse_u64(arg, &v) || !v || v > (1UL << 30))
			return bad_usage("bad buffer size '%s' (KB per CPU)", arg);
		o->buffer_kb = (unsigned long)v;
		return 0;
	case 'p':
		return add_pid_opt(o, arg);
	case 'l':
		o->light = true;
		return 0;
	case 'e':
		o->extra = xrealloc(o->extra, (o->nextra + 1) * sizeof(*o->extra));
		o->extra[o->nextra++] = (char *)arg;
		return 0;
	case 'V':
		if (strcmp(arg, "6") && strcmp(arg, "7"))
			return bad_usage("bad file version '%s' (6 or 7)", arg);
		o->topts.version = atoi(arg);
		return 0;
	case 'C':
		if (tdat_parse_compress(arg, &o->topts.compress) < 0)
			return bad_usage("bad compression '%s' (none, zstd or zlib)", arg);
		if (o->topts.compress == TDAT_COMP_ZLIB)
			vw_warn("--compression zlib: Debian 12's trace-cmd 3.1.6 cannot read the file "
				"(vmwait analyze can); use zstd for trace-cmd");
		*comp_set = true;
		return 0;
	case 'q':
		o->quiet = true;
		return 0;
	case 'R':
		if (!*arg)
			return bad_usage("%s", "empty file name after --recover");
		o->recover = arg;
		return 0;
	case 'h':
		usage(stdout);
		return -1;
	default:
		usage(stderr);
		return EXIT_USAGE;
	}
}

/* Returns 0 to go on, -1 after --help (exit 0), or EXIT_USAGE. */
int rec_parse_args(struct rec_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "duration", required_argument, NULL, 'd' },
		{ "buffer-size", required_argument, NULL, 'b' },
		{ "pid", required_argument, NULL, 'p' },
		{ "light", no_argument, NULL, 'l' },
		{ "event", required_argument, NULL, 'e' },
		{ "file-version", required_argument, NULL, 'V' },
		{ "compression", required_argument, NULL, 'C' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "recover", required_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool comp_set = false;
	int c, ret;

	o->output = "trace.dat";
	o->topts.version = 7;
	o->topts.compress = TDAT_COMP_ZSTD;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:o:d:b:p:le:qh", longopts, NULL)) != -1) {
		if (c == '?' || c == ':')
			return vw_opt_error("record", c, argv, longopts);
		ret = parse_opt(o, c, optarg, &comp_set);
		if (ret)
			return ret;
		o->recording_opts |= c != 'q' && c != 'R';
	}
	if (o->recover && (o->recording_opts || optind < argc))
		return bad_usage("%s", "--recover takes no other option than -q");
	if (o->topts.version == 6 && !comp_set)
		o->topts.compress = TDAT_COMP_NONE;
	if (o->topts.version == 6 && o->topts.compress != TDAT_COMP_NONE)
		return bad_usage("%s", "file version 6 cannot be compressed");
	if (!*o->output)
		return bad_usage("%s", "empty output file name");
	if (optind < argc)
		o->cmd = argv + optind;
	return 0;
}
