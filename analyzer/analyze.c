/* vmwait analyze: options, opening the trace, the single pass, the output. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analyzer.h"
#include "cli.h"
#include "guest.h"
#include "interval.h"
#include "pictures.h"
#include "pipe.h"
#include "report.h"
#include "cmds.h"
#include "util.h"

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

/* Keep what --vm / --vcpu select (a selection that matches nothing: see result_check). */
static void apply_filters(struct vw_result *r, const struct analyze_opts *o)
{
	sel_filter(r, o);
}

/* --interval: every slice, as a result shaped like @res, into @res. */
static void intervals_into(struct interval *iv, struct vw_result *res, uint64_t len)
{
	size_t n = interval_count(iv);

	res->interval_ns = len;
	res->intervals = xcalloc(n ? n : 1, sizeof(*res->intervals));
	for (size_t k = 0; k < n; k++)
		interval_result(iv, k, res, &res->intervals[res->nr_intervals++]);
}

static int window_check(struct analyze_opts *o, uint64_t start, uint64_t end);

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

/*
 * One pass over the trace into @res: 0 or the exit status. With @ex_tids, the pass also prints the
 * events of those threads, annotated (--explain), to @ex_out.
 */
static int run(const struct analyze_opts *o, struct vw_result *res,
	       const int *ex_tids, int ex_ntids, FILE *ex_out, struct guests *gs)
{
	/* --explain renders lines as trace-cmd report does: with its plugins */
	struct tin_opts to = { .buffer = o->buffer, .plugins = ex_out != NULL,
			       .all_formats = ex_out != NULL, .want_format = dispatch_wants };
	struct session_opts so = { .from = o->from, .to = o->to, .ovr = o->ovr, .novr = o->novr,
				   .ex_out = ex_out, .ex_tids = ex_tids, .ex_ntids = ex_ntids };
	struct pictures pic = { 0 };
	struct interval *iv = NULL;
	struct analyzer *a;
	const char *first;
	struct tin_rec rec;
	char err[512];
	struct tin *t;
	int ret;

	t = tin_open(o->file, &to, err, sizeof(err));
	if (!t) {
		vw_err("%s", err);
		return EXIT_RUNTIME;
	}
	a = session_new(t, &so);
	/* the pictures: sinks fed during the pass, drawn after the filters */
	if (!ex_out && pictures_open(&pic, o->svg, o->perfetto, !o->quiet, a->sinks, &a->nsinks,
				     (int)ARRAY_SIZE(a->sinks))) {
		session_free(a);
		tin_close(t);
		return EXIT_RUNTIME;
	}
	if (o->interval) {
		iv = interval_new(a, o->interval);
		a->sinks[a->nsinks++] = interval_sink(iv);
	}
	/* the guest join: waits collected in the pass; --explain: guest lines among ours */
	if (gs && !ex_out)
		a->sinks[a->nsinks++] = &gs->sink;
	if (gs && ex_out && guests_explain_begin(gs, a)) {
		ret = EXIT_RUNTIME;
		goto out;
	}
	ret = pipe_threads(o->threads) > 1 && !ex_out ? pipe_run(t, a, &pic.progress) : -2;
	if (ret == -2 && !(gs && ex_out))
		ret = session_pass(a, t, &pic.progress);
	else if (ret == -2)
		while ((ret = tin_next(t, &rec)) > 0) {
			if (gs && ex_out)
				guests_explain_until(gs, rec.ts);
			session_feed(a, &rec);
			progress_tick(&pic.progress, t, a->events);
		}
	if (gs && ex_out)
		guests_explain_end(gs, a->last_ts);
	progress_done(&pic.progress);
	if (ret < 0)
		vw_warn("%s; reading stopped there, the result is partial", tin_error(t));
	if (tin_corrupt(t, &first))
		vw_warn("%s: %llu corrupt pages or chunks skipped, counted as lost events "
			"(first: %s)", o->name, (unsigned long long)tin_corrupt(t, NULL), first);
	session_end(a, res);
	res->file = xstrdup(o->name);
	res->corrupt = tin_corrupt(t, NULL);
	res_finish(res);
	if (iv)
		intervals_into(iv, res, o->interval);
	if (gs && !ex_out && guests_join(gs, res, tin_meta(t), o)) {
		pictures_close(&pic, NULL);	/* no picture of a refused analysis */
		ret = EXIT_RUNTIME;
		goto out;
	}
	apply_filters(res, o);
	/* a window or selection that holds nothing leaves no picture behind */
	ret = ex_out ? 0 : result_check(res, o);
	if (pictures_close(&pic, ret ? NULL : res) && !ret)
		ret = EXIT_RUNTIME;
out:
	interval_free(iv);
	session_free(a);
	tin_close(t);
	return ret;
}

/* --explain: a first pass finds the chosen vCPUs, a second prints their events. */
static int explain_run(const struct analyze_opts *o, struct vw_result *res, FILE *out,
		       struct guests *gs)
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
	ret = run(o, &again, tids, n, out, gs) ? EXIT_RUNTIME : 0;
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

/*
 * For a relative --from/--to: the first and last timestamps of the buffer
 * run() analyzes, from each CPU's first and last pages, without a pass.
 * 0, or -1 with the reader's message.
 */
static int trace_bounds(const struct analyze_opts *o, uint64_t *start, uint64_t *end)
{
	struct tin_opts to = { .buffer = o->buffer, .want_format = dispatch_wants };
	char err[512];
	struct tin *t = tin_open(o->file, &to, err, sizeof(err));
	int ret;

	if (!t) {
		vw_err("%s", err);
		return -1;
	}
	ret = tin_bounds(t, start, end);
	if (ret)
		vw_err("%s", tin_error(t));
	tin_close(t);
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

	(void)whole;
	(void)r;
	if (o->from_arg.anchor <= WIN_ABS && o->to_arg.anchor <= WIN_ABS)
		return window_check(o, 0, UINT64_MAX);
	if (trace_bounds(o, &start, &end))
		return EXIT_RUNTIME;
	return window_check(o, start, end);
}

/* --guest: each file checked as the host's is, and read (before the host pass). */
static int guests_prepare(const struct analyze_opts *o, struct guests **gs)
{
	for (int i = 0; i < o->nguests; i++) {
		if (!strcmp(o->guests[i].path, "-")) {
			vw_err("--guest -: a guest trace must be a file");
			return -1;
		}
		if (check_input_as(o->guests[i].path, o->guests[i].path))
			return -1;
	}
	*gs = o->nguests ? guests_open(o->guests, o->nguests) : NULL;
	return o->nguests && !*gs ? -1 : 0;
}

int cmd_analyze(int argc, char **argv)
{
	struct analyze_opts o = { 0 };
	struct guests *gs = NULL;
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
	if (guests_prepare(&o, &gs))
		goto out_opts;
	ret = out_prepare(&o, &of);
	if (ret)
		goto out;
	ret = EXIT_RUNTIME;
	if (o.guest_kallsyms && guest_kallsyms_load(o.guest_kallsyms))
		goto out;
	ret = window_setup(&o);
	if (ret)
		goto out;
	ret = run(&o, &res, NULL, 0, NULL, gs);
	if (ret)
		goto out;
	ret = EXIT_RUNTIME;
	out = out_begin(&of);
	if (!out)
		goto out;
	if (o.explain) {
		ret = explain_run(&o, &res, out, gs);
	} else {
		if (o.format == OUT_JSON)
			res_write_json(&res, out);
		else if (o.format == OUT_CSV)
			report_csv(&res, out);
		else
			report_text(&res, &o.report, out);
		ret = 0;
	}
out:
	guest_kallsyms_free();
	wret = out_end(&of, ret == 0);
	ret = ret ? ret : wret;
	res_free(&res);
out_opts:
	guests_free(gs);
	analyze_opts_free(&o);
	return ret < 0 ? 0 : ret;
}
