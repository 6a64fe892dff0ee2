/* vmwait analyze: options, opening the trace, the single pass, the output. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analyzer.h"
#include "pictures.h"
#include "report.h"
#include "cmds.h"
#include "util.h"

enum { OUT_TEXT, OUT_JSON, OUT_CSV };

struct analyze_opts {
	const char *file;
	const char *out;
	const char *vm;
	const char *buffer;
	int vcpu;
	int format;
	bool explain;
	uint64_t from, to;
	struct vector_override *ovr;
	int novr;
	struct report_opts report;
	const char *svg, *perfetto;	/* pictures (pictures.h) */
	bool quiet;			/* no progress line */
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vmwait analyze [options] trace.dat\n\n"
		"Explain, for every VM and vCPU in a host trace, where the time went and why\n"
		"each vCPU waited.\n\n"
		"  --json              JSON output (schema vmwait-analysis/1, see README)\n"
		"  --csv               CSV output, one row per vCPU\n"
		"  -o, --output FILE   write the report to FILE\n"
		"      --vm PID|NAME   only this VM\n"
		"      --vcpu N        only vCPU N\n"
		"      --from T        start of the window, in trace seconds\n"
		"      --to T          end of the window, in trace seconds\n"
		"      --vector VEC=REASON\n"
		"                      treat guest vector VEC (e.g. 0x23) as REASON:\n"
		"                      timer, ipi, disk, net, device or unknown (repeatable)\n"
		"      --buffer NAME   analyze this buffer (trace-cmd -B instance)\n"
		"      --explain       print the events of the chosen vCPUs as trace-cmd report\n"
		"                      does, each followed by what the analysis decided\n"
		"      --svg FILE      also draw the timeline and idle histograms as an SVG\n"
		"      --perfetto FILE also write the periods as trace-event JSON (ui.perfetto.dev)\n"
		"  -q, --quiet         no progress line on a terminal\n"
		"  -h, --help          this help\n");
}

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
	o->ovr = xrealloc(o->ovr, (o->novr + 1) * sizeof(*o->ovr));
	o->ovr[o->novr].vec = (int)vec;
	o->ovr[o->novr].reason = reason;
	o->novr++;
	return 0;
}

static int parse_args(int argc, char **argv, struct analyze_opts *o)
{
	enum { O_JSON = 256, O_CSV, O_VM, O_VCPU, O_FROM, O_TO, O_VECTOR, O_BUFFER, O_EXPLAIN };
	enum { O_SVG = 512, O_PERFETTO };
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
		{ "help", no_argument, NULL, 'h' },
		{ "svg", required_argument, NULL, O_SVG },
		{ "perfetto", required_argument, NULL, O_PERFETTO },
		{ "quiet", no_argument, NULL, 'q' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	int c;

	o->vcpu = -1;
	o->to = UINT64_MAX;
	o->report.top = 5;
	o->report.top_exits = 10;
	o->report.color = isatty(STDOUT_FILENO) && !getenv("NO_COLOR");
	optind = 1;
	while ((c = getopt_long(argc, argv, "hqo:", lopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			exit(0);
		case O_JSON:
			o->format = OUT_JSON;
			break;
		case O_CSV:
			o->format = OUT_CSV;
			break;
		case 'o':
			o->out = optarg;
			break;
		case O_VM:
			o->vm = optarg;
			break;
		case O_VCPU:
			if (parse_u64(optarg, &v) || v > INT32_MAX)
				goto bad;
			o->vcpu = (int)v;
			break;
		case O_FROM:
			if (parse_seconds_ns(optarg, &o->from))
				goto bad;
			break;
		case O_TO:
			if (parse_seconds_ns(optarg, &o->to))
				goto bad;
			break;
		case O_VECTOR:
			if (parse_vector(o, optarg))
				goto bad;
			break;
		case O_BUFFER:
			o->buffer = optarg;
			break;
		case O_EXPLAIN:
			o->explain = true;
			break;
		case O_SVG:
			o->svg = optarg;
			break;
		case O_PERFETTO:
			o->perfetto = optarg;
			break;
		case 'q':
			o->quiet = true;
			break;
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind != argc - 1) {
		vw_err("analyze: expected one trace file");
		usage(stderr);
		return -1;
	}
	if (o->from >= o->to) {
		vw_err("analyze: --from must be before --to");
		return -1;
	}
	o->file = argv[optind];
	return 0;
bad:
	for (const struct option *l = lopts; l->name; l++)
		if (l->val == c)
			vw_err("analyze: invalid value '%s' for --%s (see 'vmwait analyze --help')",
			       optarg, l->name);
	return -1;
}

/* A clear one-line reason why @path is not something we can read. */
static int check_input(const char *path)
{
	static const char magic[] = { 0x17, 0x08, 0x44, 't', 'r', 'a', 'c', 'i', 'n', 'g' };
	char buf[sizeof(magic)];
	struct stat st;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		vw_err("cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		vw_err("%s is a directory, not a trace.dat file", path);
		close(fd);
		return -1;
	}
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n == 0) {
		vw_err("%s is empty", path);
		return -1;
	}
	if (n != (ssize_t)sizeof(buf) || memcmp(buf, magic, sizeof(magic))) {
		vw_err("%s is not a trace.dat file (bad magic)", path);
		return -1;
	}
	return 0;
}

/* --explain: the record printed as trace-cmd report does, with the notes it caused. */
static void explain_step(struct analyzer *a, const struct vw_ev *e)
{
	struct tep_record r = { .ts = e->ts, .cpu = e->cpu, .size = (int)e->size,
				.data = (void *)e->data, .missed_events = e->missed };
	int pids[2], n = e->ty ? ev_named_pids(e, pids) : 0;
	bool involved = explain_involves(a, e->pid, pids, n);

	handle(a, e);
	explain_emit(a, &r, involved);
}

/* One record of the trace, in time order. */
static void on_record(struct analyzer *a, const struct tin_rec *rec)
{
	struct vw_ev e;

	if (rec->cpu < 0 || rec->cpu >= a->ncpus)
		return;
	decode(a, rec, &e);
	if (!a->events)
		a->first_ts = e.ts;
	if (e.ts < a->last_ts) {
		if (!a->warned_backwards)
			vw_warn("timestamps go backwards on CPU %d at %llu; treated as %llu",
				e.cpu, (unsigned long long)e.ts, (unsigned long long)a->last_ts);
		a->warned_backwards = true;
		e.ts = a->last_ts;
	}
	a->last_ts = e.ts;
	a->events++;
	if (e.missed) {
		if (e.missed > 0)
			a->lost_events += (uint64_t)e.missed;
		on_loss(a, e.cpu, e.ts);
	}
	a->cpus[e.cpu].started = true;
	if (a->ex)
		explain_step(a, &e);
	else
		handle(a, &e);
}

/* trace-cmd's GUEST options name vCPU threads (host pid per vcpu id) and VMs. */
static void guests_apply(struct analyzer *a)
{
	for (int g = 0; g < a->info->nguests; g++) {
		const struct tdat_guest *gu = &a->info->guests[g];

		for (int v = 0; v < gu->nvcpus; v++) {
			struct thread *t;

			if (gu->vcpu_pid[v] <= 0)
				continue;
			t = thread_hint(a, gu->vcpu_pid[v]);
			t->vcpu_id = v;
			t->guest = g + 1;
			vcpu_promote(a, t, 0);
		}
	}
}

static void analyzer_free(struct analyzer *a)
{
	threads_free(a);
	free(a->cpus);
	free(a->types);
	free(a->halted);
	free(a->links);
}

static bool vm_matches(const struct vw_vm *vm, const char *sel)
{
	uint64_t pid;

	if (!sel)
		return true;
	if (!parse_u64(sel, &pid))
		return vm->pid == (int)pid;
	return vm->name && !strcmp(vm->name, sel);
}

/* Drop what --vm / --vcpu leave out. */
static void apply_filters(struct vw_result *r, const struct analyze_opts *o)
{
	int nv = 0;

	for (int i = 0; i < r->nr_vms; i++) {
		struct vw_vm *vm = r->vms[i];
		int nc = 0;

		if (!vm_matches(vm, o->vm)) {
			res_vm_free(vm);
			continue;
		}
		for (int j = 0; j < vm->nr_vcpus; j++) {
			if (o->vcpu >= 0 && vm->vcpus[j]->vcpu != o->vcpu)
				res_vcpu_free(vm->vcpus[j]);
			else
				vm->vcpus[nc++] = vm->vcpus[j];
		}
		vm->nr_vcpus = nc;
		r->vms[nv++] = vm;
	}
	r->nr_vms = nv;
}

/*
 * One pass over the trace into @res. With @ex_tids, the pass also prints the
 * events of those threads, annotated (--explain), to @ex_out.
 */
static int run(const struct analyze_opts *o, struct vw_result *res,
	       const int *ex_tids, int ex_ntids, FILE *ex_out)
{
	/* --explain renders lines as trace-cmd report does: with its plugins */
	struct tin_opts to = { .buffer = o->buffer, .plugins = ex_out != NULL,
			       .all_formats = ex_out != NULL, .want_format = dispatch_wants };
	struct analyzer a = { 0 };
	struct pictures pic = { 0 };
	const struct tin_meta *m;
	const char *first;
	struct tin_rec rec;
	char err[512];
	struct tin *t;
	int ret;

	if (check_input(o->file))
		return -1;
	t = tin_open(o->file, &to, err, sizeof(err));
	if (!t) {
		vw_err("%s", err);
		return -1;
	}
	/* the pictures: sinks fed during the pass, drawn after the filters */
	if (!ex_out && pictures_open(&pic, o->svg, o->perfetto, !o->quiet, a.sinks, &a.nsinks,
				     (int)ARRAY_SIZE(a.sinks))) {
		tin_close(t);
		return -1;
	}
	m = tin_meta(t);
	a.info = m;
	a.tep = tin_tep(t);
	a.ncpus = m->cpus;
	for (int i = 0; i < m->buffers[m->selected].ncpus; i++)
		a.ncpus = MAX(a.ncpus, (int)m->buffers[m->selected].secs[i].cpu + 1);
	a.cpus = xcalloc(a.ncpus, sizeof(*a.cpus));
	for (int i = 0; i < a.ncpus; i++) {
		a.cpus[i].curr = -1;
		a.cpus[i].hrtimer_pid = -1;
	}
	a.from = o->from;
	a.to = o->to;
	guests_apply(&a);
	if (ex_out)
		a.ex = explain_new(ex_out, a.tep, m->in_usecs,
				   m->selected ? m->buffers[m->selected].name : NULL,
				   ex_tids, ex_ntids, o->from, o->to);
	a.ovr = o->ovr;
	a.novr = o->novr;
	dispatch_init(&a);
	hrtimer_init(&a, t);
	while ((ret = tin_next(t, &rec)) > 0) {
		on_record(&a, &rec);
		progress_tick(&pic.progress, t, a.events);
	}
	progress_done(&pic.progress);
	if (ret < 0)
		vw_warn("%s; reading stopped there, the result is partial", tin_error(t));
	if (tin_corrupt(t, &first))
		vw_warn("%s: %llu corrupt pages or chunks skipped, counted as lost events "
			"(first: %s)", o->file, (unsigned long long)tin_corrupt(t, NULL), first);
	analyzer_finish(&a, res);
	res->file = xstrdup(o->file);
	res->buffer = xstrdup(m->buffers[m->selected].name);
	res->start_ns = a.first_ts;
	res->end_ns = a.last_ts;
	res->has_window = o->from || o->to != UINT64_MAX;
	res->window_from = o->from;
	res->window_to = o->to == UINT64_MAX ? a.last_ts : o->to;
	res->events = a.events;
	res->lost_events = a.lost_events;
	res->corrupt = tin_corrupt(t, NULL);
	res->cpus = a.ncpus;
	evidence_of(&a, m, &res->evidence);
	res_finish(res);
	apply_filters(res, o);
	ret = pictures_close(&pic, res);
	explain_free(a.ex);
	analyzer_free(&a);
	tin_close(t);
	return ret;
}

/* --explain: a first pass finds the chosen vCPUs, a second prints their events. */
static int explain_run(const struct analyze_opts *o, struct vw_result *res, FILE *out)
{
	struct vw_result again = { 0 };
	int *tids = NULL, n = 0, ret;

	for (int i = 0; i < res->nr_vms; i++) {
		for (int j = 0; j < res->vms[i]->nr_vcpus; j++) {
			tids = xrealloc(tids, (n + 1) * sizeof(*tids));
			tids[n++] = res->vms[i]->vcpus[j]->tid;
		}
	}
	if (!n) {
		vw_err("--explain: no vCPU matches the selection");
		free(tids);
		return EXIT_RUNTIME;
	}
	ret = run(o, &again, tids, n, out) ? EXIT_RUNTIME : 0;
	res_free(&again);
	free(tids);
	return ret;
}

int cmd_analyze(int argc, char **argv)
{
	struct analyze_opts o = { 0 };
	struct vw_result res = { 0 };
	FILE *out = stdout;
	int ret = EXIT_RUNTIME;

	if (parse_args(argc, argv, &o)) {
		free(o.ovr);
		return EXIT_USAGE;
	}
	if (run(&o, &res, NULL, 0, NULL))
		goto out;
	if (o.out && !(out = fopen(o.out, "w"))) {
		vw_err("cannot write %s: %s", o.out, strerror(errno));
		out = stdout;
		goto out;
	}
	if (o.explain) {
		ret = explain_run(&o, &res, out);
		goto out;
	}
	if (o.format == OUT_JSON)
		res_write_json(&res, out);
	else if (o.format == OUT_CSV)
		report_csv(&res, out);
	else
		report_text(&res, &o.report, out);
	if (fflush(out) || ferror(out)) {
		vw_err("writing the report failed: %s", strerror(errno));
		goto out;
	}
	ret = 0;
out:
	if (out != stdout)
		fclose(out);
	res_free(&res);
	free(o.ovr);
	return ret;
}
