/* vmwait analyze: parsing its options and rejecting the ones that conflict. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analyzer.h"
#include "cli.h"
#include "guest.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vmwait analyze [options] [trace.dat]\n\n"
		"Explain, for every VM and vCPU in a host trace, where the time went and why\n"
		"each vCPU waited. Reads ./trace.dat when no file is given; '-' is standard\n"
		"input, which must be a regular file (vmwait analyze - < trace.dat).\n\n"
		"      --json          JSON output (schema vmwait-analysis/2, see README)\n"
		"      --csv           CSV output, one row per vCPU\n"
		"  -o, --output FILE   write the report to FILE ('-': standard output); never\n"
		"                      the input trace, never over an existing trace.dat\n"
		"      --vm PID|NAME   only this VM\n"
		"      --vcpu N[,N...] only these vCPUs (repeatable)\n"
		"      --from T        start of the window; T is trace time in seconds (as\n"
		"                      trace-cmd report prints it), +T from the trace's first\n"
		"                      event, -T before its last; units ns, us, ms, s, m, h\n"
		"      --to T          end of the window, as --from\n"
		"      --vector VEC=REASON\n"
		"                      treat guest vector VEC (e.g. 0x23) as REASON:\n"
		"                      timer, ipi, disk, net, device or unknown (repeatable)\n"
		"      --buffer NAME   analyze this buffer (trace-cmd -B instance)\n"
		"      --explain       print the events of the chosen vCPUs as trace-cmd report\n"
		"                      does, each followed by what the analysis decided\n"
		"      --interval D    also the tables per time slice of D (e.g. 1s, 100ms)\n"
		"      --top N         preemptors shown in the text report (default 5)\n"
		"      --top-exits N   exit reasons shown in the text report (default 10)\n"
		"      --sort KEY      order of the exits table: count, time, mean, p99, max,\n"
		"                      name (default count)\n"
		"      --color WHEN    auto (a terminal without NO_COLOR), always or never\n"
		"      --svg FILE      also write a timeline picture of the vCPUs (SVG)\n"
		"      --perfetto FILE also write the periods as Chrome trace-event JSON\n"
		"                      (ui.perfetto.dev, chrome://tracing)\n"
		"  -j, --threads N     auto (default: 2 when this process may run on two\n"
		"                      CPUs or more), 1, or 2: read and decode the trace\n"
		"                      in a second thread, ahead of the analysis\n"
		"  -q, --quiet         no progress line on a terminal\n"
		"      --guest-kallsyms FILE\n"
		"                      the guest's /proc/kallsyms: names the guest addresses\n"
		"                      where vCPUs exit most\n"
		"      --guest FILE[=VM]\n"
		"                      a trace recorded inside VM (pid or name; trace-cmd -A\n"
		"                      files name it themselves): which guest task each wait\n"
		"                      followed and woke (repeatable)\n"
		"      --guest-offset NS|auto\n"
		"                      add NS (a unit may follow: 3ms) to the guest trace's\n"
		"                      times to get host time, or estimate it; once for all\n"
		"                      --guest, or once per --guest in the same order\n"
		"  -h, --help          this help\n\n"
		"A selection (--vm, --vcpu, the window) that matches nothing is an error.\n");
}

/* --vector VEC=REASON; the same vector twice must name the same reason. */
static int parse_vector(struct analyze_opts *o, const char *arg)
{
	const char *eq = strchr(arg, '=');
	char num[32];
	uint64_t vec;
	int reason;

	if (!eq || (size_t)(eq - arg) >= sizeof(num))
		return -1;
	snprintf(num, sizeof(num), "%.*s", (int)(eq - arg), arg);
	reason = vw_reason_parse(eq + 1);
	if (parse_u64(num, &vec) || vec > 255 || reason < 0)
		return -1;
	for (int i = 0; i < o->novr; i++) {
		if (o->ovr[i].vec != (int)vec)
			continue;
		if (o->ovr[i].reason == reason)
			return 0;
		vw_err("--vector %s given twice, as %s and as %s", num,
		       vw_reason_names[o->ovr[i].reason], vw_reason_names[reason]);
		return -2;
	}
	o->ovr = xrealloc(o->ovr, (o->novr + 1) * sizeof(*o->ovr));
	o->ovr[o->novr].vec = (int)vec;
	o->ovr[o->novr].reason = reason;
	o->novr++;
	return 0;
}

/* --vcpu 0,2: appended to the list (a repeated --vcpu adds to it). */
static int parse_vcpus(struct analyze_opts *o, const char *arg)
{
	char num[24];
	uint64_t v;

	for (const char *p = arg;; p++) {
		size_t len = strcspn(p, ",");

		if (!len || len >= sizeof(num))
			return -1;
		snprintf(num, sizeof(num), "%.*s", (int)len, p);
		if (parse_u64(num, &v) || v > INT32_MAX)
			return -1;
		o->vcpus = xrealloc(o->vcpus, (o->nvcpus + 1) * sizeof(*o->vcpus));
		o->vcpus[o->nvcpus++] = (int)v;
		p += len;
		if (!*p)
			return 0;
	}
}

/* A single-valued option given twice must be given the same value. */
static int set_once(const char **slot, const char *val, const char *name)
{
	if (*slot && strcmp(*slot, val)) {
		vw_err("--%s given twice ('%s', then '%s'); give it once", name, *slot, val);
		return -1;
	}
	*slot = val;
	return 0;
}

static int set_format(struct analyze_opts *o, int format)
{
	static const char *const names[] = { "text", "--json", "--csv" };

	if (o->format_set && o->format != format) {
		vw_err("%s and %s cannot be combined: choose one output format",
		       names[o->format], names[format]);
		return -1;
	}
	o->format = format;
	o->format_set = true;
	return 0;
}

/* --from/--to: a window_arg, and a check that needs no trace. */
static int parse_window(struct window_arg *w, const char **str, const char *arg,
			const char *name)
{
	struct window_arg nw;

	if (window_parse(arg, &nw))
		return -1;
	if (*str && (nw.anchor != w->anchor || nw.ns != w->ns)) {
		vw_err("--%s given twice ('%s', then '%s'); give it once", name, *str, arg);
		return -2;
	}
	*w = nw;
	*str = arg;
	return 0;
}

/* Conflicts between options, known before the trace is read. */
static int check_conflicts(struct analyze_opts *o)
{
	if (o->explain && o->format != OUT_TEXT) {
		vw_err("--explain prints events as text: it cannot be combined with %s",
		       o->format == OUT_JSON ? "--json" : "--csv");
		return -1;
	}
	/* both bounds on the same anchor: their order is known now */
	if (o->from_arg.anchor != WIN_UNSET && o->from_arg.anchor == o->to_arg.anchor &&
	    (o->from_arg.anchor == WIN_END ? o->from_arg.ns <= o->to_arg.ns
					    : o->from_arg.ns >= o->to_arg.ns)) {
		vw_err("--from must be before --to (--from %s, --to %s)", o->from_str, o->to_str);
		return -1;
	}
	return 0;
}

enum { O_JSON = 256, O_CSV, O_VM, O_VCPU, O_FROM, O_TO, O_VECTOR, O_BUFFER, O_EXPLAIN,
       O_INTERVAL, O_TOP, O_TOP_EXITS, O_SORT, O_COLOR, O_GUEST_KALLSYMS, O_SVG, O_PERFETTO,
       O_GUEST, O_GUEST_OFFSET };

/* --guest FILE[=VM]: a FILE that exists as given keeps any '=' it holds. */
static int parse_guest(struct analyze_opts *o, const char *arg)
{
	const char *eq = strrchr(arg, '=');
	struct guest_spec *g;
	struct stat st;

	if (!*arg || (eq && (eq == arg || !eq[1]) && stat(arg, &st)))
		return -1;
	o->guests = xrealloc(o->guests, (o->nguests + 1) * sizeof(*o->guests));
	g = &o->guests[o->nguests++];
	memset(g, 0, sizeof(*g));
	if (!eq || !stat(arg, &st)) {
		g->path = xstrdup(arg);
		return 0;
	}
	g->path = xstrdup(arg);
	((char *)g->path)[eq - arg] = '\0';
	g->vm = xstrdup(eq + 1);
	return 0;
}

/* NS, -NS, +NS, or with a unit (3ms); "auto". */
static int parse_offset(const char *arg, struct guest_spec *g)
{
	const char *p = arg + (*arg == '-' || *arg == '+');
	uint64_t v;

	if (!strcmp(arg, "auto")) {
		g->offset_mode = GO_AUTO;
		return 0;
	}
	if (!*p || (p[strspn(p, "0123456789")] ? parse_duration_ns(p, &v) : parse_u64(p, &v)) ||
	    v > INT64_MAX)
		return -1;
	g->offset_mode = GO_VALUE;
	g->offset = *arg == '-' ? -(int64_t)v : (int64_t)v;
	return 0;
}

/* Each --guest gets its --guest-offset: one for all, or one each in order. */
static int guest_offsets(struct analyze_opts *o)
{
	if (!o->ngoffsets)
		return 0;
	if (!o->nguests) {
		vw_err("--guest-offset without --guest: it applies to guest traces");
		return -1;
	}
	if (o->ngoffsets != 1 && o->ngoffsets != o->nguests) {
		vw_err("%d --guest-offset for %d --guest: give one for all, or one per --guest",
		       o->ngoffsets, o->nguests);
		return -1;
	}
	for (int i = 0; i < o->nguests; i++) {
		const char *arg = o->goffsets[o->ngoffsets == 1 ? 0 : i];

		if (parse_offset(arg, &o->guests[i])) {
			vw_err("invalid value '%s' for --guest-offset (nanoseconds, with an optional "
			       "sign and unit, or auto)", arg);
			return -1;
		}
	}
	return 0;
}

static int parse_count(const char *arg, int *n)
{
	uint64_t v;

	if (parse_u64(arg, &v) || v > 100000)
		return -1;
	*n = (int)v;
	return 0;
}

static int parse_sort(struct analyze_opts *o, const char *arg)
{
	static const char *const keys[] = { "count", "time", "mean", "p99", "max", "name" };

	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (!strcmp(arg, keys[i])) {
			o->report.sort = (int)i;
			return 0;
		}
	return -1;
}

static int parse_color(struct analyze_opts *o, const char *arg)
{
	if (!strcmp(arg, "always"))
		o->report.color = true;
	else if (!strcmp(arg, "never"))
		o->report.color = false;
	else if (strcmp(arg, "auto"))
		return -1;
	o->color_set = true;
	return 0;
}

/* One option; 0, -1 for a bad value (named by the caller), -2 when said. */
static int parse_one(struct analyze_opts *o, int c, const char *arg)
{
	switch (c) {
	case O_JSON:
		return set_format(o, OUT_JSON) ? -2 : 0;
	case O_CSV:
		return set_format(o, OUT_CSV) ? -2 : 0;
	case 'o':
		return set_once(&o->out, arg, "output") ? -2 : 0;
	case O_VM:
		return set_once(&o->vm, arg, "vm") ? -2 : 0;
	case O_VCPU:
		return parse_vcpus(o, arg);
	case O_FROM:
		return parse_window(&o->from_arg, &o->from_str, arg, "from");
	case O_TO:
		return parse_window(&o->to_arg, &o->to_str, arg, "to");
	case O_VECTOR:
		return parse_vector(o, arg);
	case O_BUFFER:
		return set_once(&o->buffer, arg, "buffer") ? -2 : 0;
	case O_EXPLAIN:
		o->explain = true;
		return 0;
	case O_INTERVAL:
		return parse_duration_ns(arg, &o->interval) || !o->interval ? -1 : 0;
	case O_TOP:
		return parse_count(arg, &o->report.top);
	case O_TOP_EXITS:
		return parse_count(arg, &o->report.top_exits);
	case O_SORT:
		return parse_sort(o, arg);
	case O_COLOR:
		return parse_color(o, arg);
	case O_SVG:
		return set_once(&o->svg, arg, "svg") ? -2 : 0;
	case O_PERFETTO:
		return set_once(&o->perfetto, arg, "perfetto") ? -2 : 0;
	case 'q':
		o->quiet = true;
		return 0;
	case 'j':
		if (!strcmp(arg, "auto")) {
			o->threads = 0;
			return 0;
		}
		return parse_count(arg, &o->threads) || o->threads < 1 || o->threads > 2 ? -1 : 0;
	case O_GUEST_KALLSYMS:
		return set_once(&o->guest_kallsyms, arg, "guest-kallsyms") ? -2 : 0;
	case O_GUEST:
		return parse_guest(o, arg);
	case O_GUEST_OFFSET:
		o->goffsets = xrealloc(o->goffsets, (o->ngoffsets + 1) * sizeof(*o->goffsets));
		o->goffsets[o->ngoffsets++] = arg;
		return 0;
	}
	return -2;
}

int analyze_parse_args(int argc, char **argv, struct analyze_opts *o)
{
	static const struct option lopts[] = {
		{ "json", no_argument, NULL, O_JSON },
		{ "csv", no_argument, NULL, O_CSV },
		{ "output", required_argument, NULL, 'o' },
		{ "vm", required_argument, NULL, O_VM },
		{ "vcpu", required_argument, NULL, O_VCPU },
		{ "from", required_argument, NULL, O_FROM },
		{ "to", required_argument, NULL, O_TO },
		{ "vector", required_argument, NULL, O_VECTOR },
		{ "buffer", required_argument, NULL, O_BUFFER },
		{ "explain", no_argument, NULL, O_EXPLAIN },
		{ "interval", required_argument, NULL, O_INTERVAL },
		{ "top", required_argument, NULL, O_TOP },
		{ "top-exits", required_argument, NULL, O_TOP_EXITS },
		{ "sort", required_argument, NULL, O_SORT },
		{ "color", required_argument, NULL, O_COLOR },
		{ "guest-kallsyms", required_argument, NULL, O_GUEST_KALLSYMS },
		{ "guest", required_argument, NULL, O_GUEST },
		{ "guest-offset", required_argument, NULL, O_GUEST_OFFSET },
		{ "svg", required_argument, NULL, O_SVG },
		{ "perfetto", required_argument, NULL, O_PERFETTO },
		{ "quiet", no_argument, NULL, 'q' },
		{ "threads", required_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, ret;

	o->to = UINT64_MAX;
	o->report.top = 5;
	o->threads = 0;
	o->report.top_exits = 10;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":hqo:j:", lopts, NULL)) != -1) {
		if (c == '?' || c == ':')
			return vw_opt_error("analyze", c, argv, lopts);
		if (c == 'h') {
			usage(stdout);
			return -1;
		}
		ret = parse_one(o, c, optarg);
		if (ret == -1) {
			for (const struct option *l = lopts; l->name; l++)
				if (l->val == c)
					vw_err("invalid value '%s' for --%s (see 'vmwait analyze --help')",
					       optarg, l->name);
		}
		if (ret)
			return EXIT_USAGE;
	}
	if (argc - optind > 1) {
		vw_err("expected one trace file, got %d ('%s', '%s'%s)", argc - optind,
		       argv[optind], argv[optind + 1], argc - optind > 2 ? ", ..." : "");
		return EXIT_USAGE;
	}
	if (check_conflicts(o) || guest_offsets(o))
		return EXIT_USAGE;
	if (!o->color_set)
		o->report.color = !o->out && isatty(STDOUT_FILENO) && !getenv("NO_COLOR");
	o->file_given = optind < argc;
	o->name = o->file_given ? argv[optind] : "trace.dat";
	o->file = strcmp(o->name, "-") ? o->name : "/dev/stdin";
	return 0;
}

void analyze_opts_free(struct analyze_opts *o)
{
	for (int i = 0; i < o->nguests; i++) {
		free((char *)o->guests[i].path);
		free((char *)o->guests[i].vm);
	}
	free(o->guests);
	free(o->goffsets);
	o->guests = NULL;
	o->goffsets = NULL;
	o->nguests = o->ngoffsets = 0;
	free(o->ovr);
	free(o->vcpus);
	o->ovr = NULL;
	o->vcpus = NULL;
}
