/* Options of `vmwait top`: usage and parsing. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "top.h"
#include "util.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vmwait top [-p PID|--vm NAME] [-i SECONDS] [-d DURATION] [--light|--full]\n"
		"                  [--json-lines] [-o FILE]\n"
		"       vmwait top --replay FILE [--speed X] [-p PID|--vm NAME] [-i SECONDS]\n"
		"                  [--json-lines]\n\n"
		"Live wait analysis of every VM on this host: every interval, per VM and vCPU,\n"
		"where the time went (state shares), the waits per second by wake reason and\n"
		"their mean, exits per second, and who preempted. The same analysis as\n"
		"'vmwait analyze', fed from the ring buffers of an own tracefs instance (root).\n"
		"On a terminal: a screen (keys below); otherwise, or with --json-lines, one JSON\n"
		"object per interval (schema vmwait-top/1). Stops at q, Ctrl-C, SIGTERM, SIGHUP\n"
		"or after DURATION; prints its own CPU time at exit.\n\n"
		"  -p, --pid PID            only this VM (VMM pid; repeatable): traced with a pid\n"
		"                           filter, as 'vmwait record -p'\n"
		"      --vm NAME            only show the VM of this name (or pid)\n"
		"  -i, --interval SECONDS   the interval (default 1; 500ms, 2s, ...)\n"
		"  -d, --duration DURATION  stop after DURATION (10s, 500ms, 2m; bare number: s)\n"
		"  -l, --light              without the high-rate events (default), as record --light\n"
		"  -f, --full               every event record traces (kvm_entry, kvm_exit: exits)\n"
		"  -j, --json-lines         JSON lines even on a terminal\n"
		"  -o, --output FILE        also keep the raw pages: the trace.dat 'vmwait record'\n"
		"                           writes, for 'vmwait analyze' of what was watched\n"
		"      --replay FILE        feed a recorded trace.dat through the live path instead\n"
		"      --speed X            replay at X times the recorded speed (default: at once)\n"
		"  -h, --help               this help\n\n"
		"Screen keys: i idle, p preempted, e exits, w waits, r a wake reason (again: the\n"
		"next one), n name: sort by that; q quit.\n");
}

static int bad_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "vmwait: top: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	return EXIT_USAGE;
}

static int parse_speed(struct top_opts *o, const char *arg)
{
	char *end;

	o->speed = strtod(arg, &end);
	if (end == arg || *end || !(o->speed > 0) || o->speed > 1e6)
		return bad_usage("bad speed '%s' (a factor above 0, e.g. 1 or 0.5)", arg);
	return 0;
}

/* Parse one option @c with argument @arg; returns 0 or an exit code. */
static int parse_opt(struct top_opts *o, int c, const char *arg, int *modes)
{
	uint64_t v;

	switch (c) {
	case 'p':
		if (parse_u64(arg, &v) || v == 0 || v > INT_MAX)
			return bad_usage("bad pid '%s'", arg);
		pidset_add(&o->pids, (int)v);
		return 0;
	case 'm':
		if (!*arg)
			return bad_usage("%s", "empty VM name after --vm");
		o->vm = arg;
		return 0;
	case 'i':
		if (parse_duration_ns(arg, &o->interval_ns) || !o->interval_ns)
			return bad_usage("bad interval '%s' (seconds, or 500ms, 2s, ...)", arg);
		return 0;
	case 'd':
		if (parse_duration_ns(arg, &o->duration_ns) || !o->duration_ns)
			return bad_usage("bad duration '%s'", arg);
		return 0;
	case 'l':
	case 'f':
		o->light = c == 'l';
		*modes |= c == 'l' ? 1 : 2;
		return 0;
	case 'j':
		o->json = true;
		return 0;
	case 'o':
		if (!*arg)
			return bad_usage("%s", "empty output file name");
		o->output = arg;
		return 0;
	case 'R':
		if (!*arg)
			return bad_usage("%s", "empty file name after --replay");
		o->replay = arg;
		return 0;
	case 'S':
		return parse_speed(o, arg);
	case 'h':
		usage(stdout);
		return -1;
	default:
		return EXIT_USAGE;
	}
}

/* Options that make no sense together. */
static int check_conflicts(const struct top_opts *o, int modes)
{
	if (modes == 3)
		return bad_usage("%s", "--light and --full exclude each other");
	if (o->pids.n && o->vm)
		return bad_usage("%s", "-p and --vm exclude each other (pick the VM one way)");
	if (o->speed && !o->replay)
		return bad_usage("%s", "--speed needs --replay");
	if (o->replay && modes)
		return bad_usage("%s", "--light and --full choose what is traced: not with --replay");
	if (o->replay && o->output)
		return bad_usage("%s", "-o keeps what is traced: not with --replay (the file is one)");
	if (o->replay && o->duration_ns)
		return bad_usage("%s", "-d is for live tracing: a replay ends with its file");
	return 0;
}

int top_parse_args(struct top_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "vm", required_argument, NULL, 'm' },
		{ "interval", required_argument, NULL, 'i' },
		{ "duration", required_argument, NULL, 'd' },
		{ "light", no_argument, NULL, 'l' },
		{ "full", no_argument, NULL, 'f' },
		{ "json-lines", no_argument, NULL, 'j' },
		{ "output", required_argument, NULL, 'o' },
		{ "replay", required_argument, NULL, 'R' },
		{ "speed", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, ret, modes = 0;

	memset(o, 0, sizeof(*o));
	o->interval_ns = NSEC_PER_SEC;
	o->light = true;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":p:i:d:lfjo:h", longopts, NULL)) != -1) {
		if (c == '?' || c == ':')
			return vw_opt_error("top", c, argv, longopts);
		ret = parse_opt(o, c, optarg, &modes);
		if (ret)
			return ret;
	}
	if (optind < argc)
		return bad_usage("unexpected argument '%s'", argv[optind]);
	return check_conflicts(o, modes);
}
