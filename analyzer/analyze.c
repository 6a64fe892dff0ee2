/* vmwait analyze: options, opening the trace, the single pass, the output. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <trace-cmd.h>

#include "analyzer.h"
#include "cli.h"
#include "cmds.h"
#include "tdat.h"
#include "util.h"

static int check_input_as(const char *path, const char *name);

static int check_input(const char *path)
{
	return check_input_as(path, path);
}

/* A clear one-line reason why @path (@name to the user) is not a trace.dat we can read. */
static int check_input_as(const char *path, const char *name)
{
	static const char magic[] = { 0x17, 0x08, 0x44, 't', 'r', 'a', 'c', 'i', 'n', 'g' };
	char buf[sizeof(magic)];
	struct stat st;
	ssize_t n;
	int fd;

	/* stat first: opening a FIFO would wait for a writer */
	if (stat(path, &st)) {
		vw_err("cannot open %s: %s", name, strerror(errno));
		return -1;
	}
	if (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)) {
		vw_err("cannot seek a %s: %s must be a regular trace.dat file (save it to a file "
		       "first)", S_ISFIFO(st.st_mode) ? "pipe" : "socket", name);
		return -1;
	}
	if (S_ISDIR(st.st_mode) || S_ISCHR(st.st_mode)) {
		vw_err("%s is a %s, not a trace.dat file", name,
		       S_ISDIR(st.st_mode) ? "directory" : "character device");
		return -1;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		vw_err("cannot open %s: %s", name, strerror(errno));
		return -1;
	}
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n == 0) {
		vw_err("%s is empty", name);
		return -1;
	}
	if (n != (ssize_t)sizeof(buf) || memcmp(buf, magic, sizeof(magic))) {
		vw_err("%s is not a trace.dat file (bad magic)", name);
		return -1;
	}
	return 0;
}

static int on_record(struct tracecmd_input *h, struct tep_record *r, int cpu, void *data)
{
	struct analyzer *a = data;
	uint64_t ts = r->ts;

	(void)h;
	if (cpu < 0 || cpu >= a->ncpus)
		return 0;
	if (!a->events)
		a->first_ts = ts;
	if (ts < a->last_ts) {
		if (!a->warned_backwards)
			vw_warn("timestamps go backwards on CPU %d at %llu; treated as %llu",
				cpu, (unsigned long long)ts, (unsigned long long)a->last_ts);
		a->warned_backwards = true;
		ts = a->last_ts;
	}
	a->last_ts = ts;
	a->events++;
	if (r->missed_events) {
		if (r->missed_events > 0)
			a->lost_events += (uint64_t)r->missed_events;
		on_loss(a, cpu, ts);
	}
	dispatch(a, r, cpu, ts);
	return 0;
}

/*
 * How much of what vmwait follows a buffer holds: kvm events among its first
 * records (scaled), plus one if it holds any record. Uses a scratch handle,
 * since reading moves the handle's position.
 */
static long buffer_score(struct tracecmd_input *b)
{
	struct tep_handle *tep = tracecmd_get_tep(b);
	int ncpus = tep ? tep_get_cpus(tep) : 0;
	long kvm = 0, total = 0;
	bool more = true;

	while (more && total < 200000) {
		more = false;
		for (int cpu = 0; cpu < ncpus; cpu++) {
			struct tep_record *r = tracecmd_read_data(b, cpu);
			struct tep_event *ev;

			if (!r)
				continue;
			more = true;
			total++;
			ev = tep_find_event(tep, tep_data_type(tep, r));
			if (ev && ev->system && !strcmp(ev->system, "kvm"))
				kvm++;
			tracecmd_free_record(r);
		}
	}
	return kvm * 2 + (total > 0);
}

/* The buffer to analyze: --buffer NAME, else the one holding the most kvm events. */
static struct tracecmd_input *pick_buffer(const char *file, struct tracecmd_input *h,
					  const char *name, struct tracecmd_input **owned,
					  const char **bufname)
{
	int n = tracecmd_buffer_instances(h);
	struct tracecmd_input *s;
	long score, best_score = -1;
	int best = -1;

	*owned = NULL;
	*bufname = NULL;
	if (!n || (name && !*name))
		return h;
	if (!name) {
		s = tracecmd_open(file, TRACECMD_FL_LOAD_NO_PLUGINS);
		best_score = s ? buffer_score(s) : -1;
		if (s)
			tracecmd_close(s);
	}
	for (int i = 0; i < n; i++) {
		const char *bn = tracecmd_buffer_instance_name(h, i);

		if (name) {
			if (bn && !strcmp(bn, name))
				best = i;
			continue;
		}
		s = tracecmd_buffer_instance_handle(h, i);
		if (!s)
			continue;
		score = buffer_score(s);
		tracecmd_close(s);
		if (score > best_score) {
			best_score = score;
			best = i;
		}
	}
	if (name && best < 0) {
		vw_err("no buffer named '%s' in this trace", name);
		return NULL;
	}
	if (best < 0)
		return h;
	*owned = tracecmd_buffer_instance_handle(h, best);
	*bufname = tracecmd_buffer_instance_name(h, best);
	if (!*owned)
		vw_err("cannot read buffer '%s'", tracecmd_buffer_instance_name(h, best));
	return *owned;
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
	for (unsigned int i = 0; i < a->hsize; i++) {
		struct thread *t = a->htab[i], *next;

		for (; t; t = next) {
			next = t->hnext;
			res_vcpu_free(t->res);
			free(t->credits);
			free(t->pcred);
			free(t);
		}
	}
	while (a->vms) {
		struct vm_info *n = a->vms->next;

		free(a->vms->cmdline);
		free(a->vms);
		a->vms = n;
	}
	free(a->htab);
	free(a->cpus);
	free(a->desc);
	free(a->halted);
}

/* Drop what --vm / --vcpu leave out (nothing when they select nothing: see sel_explain). */
static void apply_filters(struct vw_result *r, const struct analyze_opts *o)
{
	sel_filter(r, o);
}

/*
 * One pass over the trace into @res. With @ex_tids, the pass also prints the
 * events of those threads, annotated (--explain), to @ex_out.
 */
static int run(const struct analyze_opts *o, struct vw_result *res,
	       const int *ex_tids, int ex_ntids, FILE *ex_out)
{
	struct tracecmd_input *h, *b, *owned;
	struct analyzer a = { 0 };
	struct tdat_info info;
	const char *bufname;
	int ret = -1;

	if (check_input(o->file))
		return -1;
	/*
	 * Check what libtracecmd 3.1.6 does not survive: it crashes on some
	 * truncated files instead of failing.
	 */
	if (tdat_read_info(o->file, &info)) {
		vw_err("%s: truncated or corrupt trace.dat header (version %d)", o->file,
		       info.version);
		goto out_info;
	}
	if (info.data_end > info.file_size) {
		vw_err("%s: truncated: its trace data should end at byte %llu, the file has %llu",
		       o->file, (unsigned long long)info.data_end,
		       (unsigned long long)info.file_size);
		goto out_info;
	}
	a.info = &info;
	if (!strcmp(info.compression, "zlib") && tdat_register_zlib()) {
		vw_err("%s: zlib-compressed, and zlib could not be registered with libtracecmd",
		       o->file);
		goto out_info;
	}
	tracecmd_set_loglevel(TEP_LOG_CRITICAL);
	/* --explain renders lines as trace-cmd report does: with its plugins */
	h = tracecmd_open(o->file, ex_out ? 0 : TRACECMD_FL_LOAD_NO_PLUGINS);
	if (!h) {
		vw_err("%s: cannot read this trace.dat (version %d, %s compression): corrupt, "
		       "truncated, or not supported", o->file, info.version, info.compression);
		goto out_info;
	}
	b = pick_buffer(o->file, h, o->buffer, &owned, &bufname);
	if (!b)
		goto out;
	a.tep = tracecmd_get_tep(b);
	a.ncpus = tep_get_cpus(a.tep);
	if (a.ncpus <= 0) {
		vw_err("%s: the trace has no CPU data", o->file);
		goto out;
	}
	a.cpus = xcalloc(a.ncpus, sizeof(*a.cpus));
	for (int i = 0; i < a.ncpus; i++) {
		a.cpus[i].curr = -1;
		a.cpus[i].hrtimer_pid = -1;
	}
	a.from = o->from;
	a.to = o->to;
	guests_apply(&a);
	if (ex_out)
		a.ex = explain_new(ex_out, b, bufname, ex_tids, ex_ntids, o->from, o->to);
	a.ovr = o->ovr;
	a.novr = o->novr;
	dispatch_init(&a);
	if (tracecmd_iterate_events(b, NULL, 0, on_record, &a) < 0)
		vw_warn("%s: reading stopped early (truncated or corrupt data); the result is partial",
			o->file);
	analyzer_finish(&a, res);
	res->file = xstrdup(o->file);
	res->start_ns = a.first_ts;
	res->end_ns = a.last_ts;
	res->events = a.events;
	res->lost_events = a.lost_events;
	res->cpus = a.ncpus;
	res_finish(res);
	apply_filters(res, o);
	ret = 0;
out:
	explain_free(a.ex);
	analyzer_free(&a);
	if (owned)
		tracecmd_close(owned);
	tracecmd_close(h);
out_info:
	tdat_info_free(&info);
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
		vw_err("--explain: no vCPU in this trace (no kvm events?)");
		free(tids);
		return EXIT_RUNTIME;
	}
	ret = run(o, &again, tids, n, out) ? EXIT_RUNTIME : 0;
	res_free(&again);
	free(tids);
	return ret;
}

/* The input as named: "-" (standard input), the ./trace.dat default, a file. */
static int input_check(const struct analyze_opts *o)
{
	struct stat st;

	if (strcmp(o->name, "-")) {
		if (!o->file_given && stat(o->file, &st) && errno == ENOENT) {
			vw_err("cannot open trace.dat: %s (no file given: ./trace.dat is the default)",
			       strerror(ENOENT));
			return -1;
		}
		return check_input_as(o->file, o->name);
	}
	if (fstat(STDIN_FILENO, &st)) {
		vw_err("standard input is closed: give a trace.dat file");
		return -1;
	}
	if (isatty(STDIN_FILENO)) {
		vw_err("standard input is a terminal: redirect a trace.dat file to it "
		       "(vmwait analyze - < trace.dat)");
		return -1;
	}
	return check_input_as(o->file, "standard input");
}

/* Declared in trace-cmd's private header only; exported by libtracecmd 3.x. */
struct tep_record *tracecmd_read_cpu_last(struct tracecmd_input *handle, int cpu);

/* Is there a buffer named @name (when the file has several)? */
static bool has_buffer(struct tracecmd_input *h, const char *name)
{
	int n = tracecmd_buffer_instances(h);

	for (int i = 0; i < n; i++) {
		const char *bn = tracecmd_buffer_instance_name(h, i);

		if (bn && !strcmp(bn, name))
			return true;
	}
	return !n || !*name;
}

/*
 * For a relative --from/--to: the first and last timestamps of the buffer
 * run() analyzes, from each CPU's first and last page, without a pass.
 * Interim, until the reader resolves the window itself. 0, or -1 without a
 * message (then a pass finds them, or says what is wrong with the file).
 */
static int trace_bounds(const struct analyze_opts *o, uint64_t *start, uint64_t *end)
{
	struct tracecmd_input *h, *b, *owned = NULL;
	struct tdat_info info;
	const char *bufname;
	int ncpus, ret = -1;

	*start = UINT64_MAX;
	*end = 0;
	if (tdat_read_info(o->file, &info) || info.data_end > info.file_size ||
	    (!strcmp(info.compression, "zlib") && tdat_register_zlib()))
		goto out_info;
	tracecmd_set_loglevel(TEP_LOG_CRITICAL);
	h = tracecmd_open(o->file, TRACECMD_FL_LOAD_NO_PLUGINS);
	if (!h)
		goto out_info;
	if (o->buffer && !has_buffer(h, o->buffer))
		goto out;
	b = pick_buffer(o->file, h, o->buffer, &owned, &bufname);
	ncpus = b ? tep_get_cpus(tracecmd_get_tep(b)) : 0;
	for (int cpu = 0; cpu < ncpus; cpu++) {
		struct tep_record *r = tracecmd_read_cpu_first(b, cpu);

		if (r)
			*start = MIN(*start, (uint64_t)r->ts);
		tracecmd_free_record(r);
		r = tracecmd_read_cpu_last(b, cpu);
		if (r)
			*end = MAX(*end, (uint64_t)r->ts);
		tracecmd_free_record(r);
	}
	ret = *start <= *end ? 0 : -1;
out:
	if (owned)
		tracecmd_close(owned);
	tracecmd_close(h);
out_info:
	tdat_info_free(&info);
	return ret;
}

/* "--from +1s --to -1s": the window as given, for messages. */
static const char *window_desc(const struct analyze_opts *o, struct sbuf *sb)
{
	if (o->from_str)
		sbuf_addf(sb, "--from %s", o->from_str);
	if (o->to_str)
		sbuf_addf(sb, "%s--to %s", o->from_str ? " " : "", o->to_str);
	return sb->buf;
}

#define SECS(ns)	(unsigned long long)((ns) / NSEC_PER_SEC), \
			(unsigned long long)((ns) % NSEC_PER_SEC)

/*
 * Resolve the window against a trace running from @start to @end (start >
 * end: no events) into o->from, o->to: 0 or an exit code.
 */
static int window_check(struct analyze_opts *o, uint64_t start, uint64_t end)
{
	struct sbuf sb = { 0 };
	char dur[32];
	int rc;

	if (start > end) {
		vw_err("the window (%s) holds nothing: the trace has no events",
		       window_desc(o, &sb));
		sbuf_free(&sb);
		return EXIT_RUNTIME;
	}
	rc = window_resolve(&o->from_arg, &o->to_arg, start, end, &o->from, &o->to);
	if (rc == WIN_EMPTY)
		vw_err("the window is empty: --from %s (%llu.%09llu) is not before --to %s "
		       "(%llu.%09llu)", o->from_str, SECS(o->from), o->to_str, SECS(o->to));
	else if (rc == WIN_OUTSIDE)
		vw_err("the window (%s) holds nothing of the trace, which runs from "
		       "%llu.%09llu to %llu.%09llu (%s)", window_desc(o, &sb), SECS(start),
		       SECS(end), fmt_duration(dur, sizeof(dur), end - start));
	sbuf_free(&sb);
	return rc == WIN_EMPTY ? EXIT_USAGE : rc ? EXIT_RUNTIME : 0;
}

/*
 * Before the pass: a relative --from/--to is resolved against the trace's
 * first and last events (a whole pass finds them when trace_bounds cannot).
 */
static int window_setup(struct analyze_opts *o)
{
	struct analyze_opts whole = *o;
	struct vw_result r = { 0 };
	uint64_t start, end;

	if (o->from_arg.anchor <= WIN_ABS && o->to_arg.anchor <= WIN_ABS)
		return window_check(o, 0, UINT64_MAX);
	if (trace_bounds(o, &start, &end)) {
		whole.vm = NULL;
		whole.nvcpus = 0;
		whole.from = 0;
		whole.to = UINT64_MAX;
		if (run(&whole, &r, NULL, 0, NULL))
			return EXIT_RUNTIME;
		start = r.events ? r.start_ns : 1;
		end = r.events ? r.end_ns : 0;
		res_free(&r);
	}
	return window_check(o, start, end);
}

/* After the pass: the window and the selection must hold something. */
static int result_check(struct vw_result *res, const struct analyze_opts *o)
{
	struct analyze_opts w = *o;
	int ret;

	if (o->from_str || o->to_str) {
		ret = window_check(&w, res->events ? res->start_ns : 1, res->events ? res->end_ns : 0);
		if (ret)
			return ret;
	}
	if (sel_filter(res, o)) {
		sel_explain(res, o);
		return EXIT_RUNTIME;
	}
	return 0;
}

int cmd_analyze(int argc, char **argv)
{
	struct analyze_opts o = { 0 };
	struct vw_result res = { 0 };
	struct out_file of = { .fd = -1 };
	FILE *out;
	int ret, wret;

	vw_set_cmd("analyze");
	ret = analyze_parse_args(argc, argv, &o);
	if (ret)
		goto out_opts;
	ret = EXIT_RUNTIME;
	if (input_check(&o))
		goto out_opts;
	ret = out_prepare(&o, &of);
	if (ret)
		goto out;
	ret = window_setup(&o);
	if (ret)
		goto out;
	ret = EXIT_RUNTIME;
	if (run(&o, &res, NULL, 0, NULL))
		goto out;
	ret = result_check(&res, &o);
	if (ret)
		goto out;
	ret = EXIT_RUNTIME;
	out = out_begin(&of);
	if (!out)
		goto out;
	if (o.explain) {
		ret = explain_run(&o, &res, out);
	} else {
		if (o.format == OUT_JSON)
			res_write_json(&res, out);
		else if (o.format == OUT_CSV)
			report_csv(&res, out);
		else
			report_text(&res, out);
		ret = 0;
	}
out:
	wret = out_end(&of, ret == 0);
	ret = ret ? ret : wret;
	res_free(&res);
out_opts:
	analyze_opts_free(&o);
	return ret < 0 ? 0 : ret;
}
