/*
 * vmwait top: the analyzer of `analyze`, fed live from the ring buffers (or
 * from a file's pages through the same live path), one line per interval.
 *
 * The feed: records come out of the reader's merge in time order, only up to
 * the time by which every CPU's buffer was read. The line of the interval
 * ending at E is taken once no record up to E can come any more: a record
 * after E came, or the reader knows everything up to E (README "Live:
 * vmwait top").
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmds.h"
#include "top.h"
#include "util.h"

/* How often the buffers are read between interval ends. */
#define DRAIN_MS	250
/* A replay puts a stretch of more intervals than this without a record in one line. */
#define MAX_EMPTY	100000

struct top {
	struct top_opts o;
	struct top_filter filter;
	struct tin *src;		/* --replay: the file */
	struct tin *t;			/* the live reader */
	struct top_live *lv;
	struct analyzer *a;
	struct top_lanes *lanes;
	struct top_screen *scr;
	char tier[16];
	uint64_t origin;		/* the intervals' start */
	bool origin_set;
	size_t k;			/* the interval the next line ends */
	size_t nlines;			/* lines so far */
	uint64_t line_start;		/* where the next line starts */
	uint64_t stop_at;		/* lines end before this */
	uint64_t events, lost, losses;	/* at the last line */
	uint64_t losses_now;
	uint64_t cpu_last;
	uint64_t pace_ts, pace_wall;	/* --speed: trace time at wall time */
	int sfd;
	const char *stop;		/* why it stops, or NULL */
	bool said_none;
	bool seen_vcpu;
	bool failed;
};

static uint64_t cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * NSEC_PER_SEC +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * NSEC_PER_USEC;
}

/* Where the interval of the next line ends (saturated: a corrupt trace's times). */
static uint64_t boundary(const struct top *tp)
{
	uint64_t len = tp->o.interval_ns;

	if (tp->k + 1 > (UINT64_MAX - tp->origin) / len)
		return UINT64_MAX;
	return tp->origin + (tp->k + 1) * len;
}

static void check_input(struct top *tp);
static void pace(struct top *tp, uint64_t ts);

/* Print (or show) @l and free it; a closed output stops top. */
static void put_line(struct top *tp, struct top_line *l)
{
	uint64_t now = cpu_ns();

	l->index = tp->nlines++;
	l->start_ns = tp->line_start;
	tp->line_start = l->end_ns;
	l->events = tp->a->events - tp->events;
	l->lost_events = tp->a->lost_events - tp->lost;
	l->losses = tp->losses_now - tp->losses;
	l->cpu_ns = now - tp->cpu_last;
	l->cpus = tp->a->ncpus;
	l->tier = tp->tier;
	l->exits_recorded = tp->a->rec.entry_exit;
	tp->events = tp->a->events;
	tp->lost = tp->a->lost_events;
	tp->losses = tp->losses_now;
	tp->cpu_last = now;
	for (int i = 0; tp->lv && i < l->nvms; i++)
		live_describe(tp->lv, l->vms[i].pid);
	tp->seen_vcpu |= l->nvcpus > 0;
	/* (a replay's selection that matches nothing is an error at the end) */
	if (!l->nvcpus && !tp->said_none && (!l->final || !tp->seen_vcpu) &&
	    !(tp->o.replay && (tp->o.pids.n || tp->o.vm))) {
		vw_info("no vCPU in interval %zu: %s", l->index,
			tp->o.pids.n || tp->o.vm ? "the VM selected ran no vCPU thread" :
			tp->o.replay ? "no vCPU thread ran then in this trace" :
			"no VM is running on this host (or none of its vCPUs ran)");
		tp->said_none = true;
	}
	if (tp->scr) {
		screen_show(tp->scr, l);	/* the screen keeps it */
		return;
	}
	top_json_line(l, stdout);
	line_free(l);
	if (fflush(stdout) == EOF || ferror(stdout))
		tp->stop = tp->stop ? tp->stop : "output closed";
}

/* The line of the interval ending now (at boundary()). */
static void emit(struct top *tp)
{
	struct top_line l;
	uint64_t end = boundary(tp);

	if (!tp->nlines)
		tp->line_start = tp->origin;
	lanes_line(tp->lanes, tp->a, end, &tp->filter, &l);
	l.end_ns = end;
	tp->k++;
	put_line(tp, &l);
	if (!(tp->nlines % 256))
		check_input(tp);	/* a replay makes lines fast */
}

/*
 * The lines of the intervals ending before @ts (@incl: or at it). In a
 * replay, more than MAX_EMPTY of them (a long pause, a corrupt timestamp)
 * make one line.
 */
static void emit_upto(struct top *tp, uint64_t ts, bool incl)
{
	uint64_t n;

	if (!tp->origin_set || ts <= tp->origin)
		return;
	/* the intervals j < n end before (at) @ts */
	n = (ts - tp->origin - (incl ? 0 : 1)) / tp->o.interval_ns;
	if (tp->o.replay && n > tp->k + MAX_EMPTY) {
		tp->k = n - 1;
		emit(tp);
		return;
	}
	while (tp->k < n && boundary(tp) < tp->stop_at && !(tp->stop && tp->o.replay))
		emit(tp);
}

/*
 * Feed the records up to @limit. A line is taken when a record past its end
 * comes, or (@known: every record up to @limit is in) when @limit passed it.
 */
static int feed(struct top *tp, uint64_t limit, bool known)
{
	struct tin_rec rec;
	int r;

	while ((r = tin_next_until(tp->t, &rec, limit)) > 0) {
		if (tp->o.speed)
			pace(tp, rec.ts);
		if (tp->stop && tp->o.speed)
			return 0;	/* quit while it waited */
		if (!tp->origin_set) {
			tp->origin = rec.ts;
			tp->origin_set = true;
		}
		emit_upto(tp, rec.ts, false);
		if (tp->stop && tp->o.replay)
			return 0;	/* quit: a replay does not finish */
		if (rec.missed)
			tp->losses_now++;
		session_feed(tp->a, &rec);
	}
	if (r < 0) {
		vw_err("%s", tin_error(tp->t));
		return -1;
	}
	if (known)
		emit_upto(tp, limit, true);
	return 0;
}

/* A replay's -p or --vm matched no VM of the trace: say which there are. */
static void selection_error(struct top *tp, const struct vw_result *res)
{
	struct sbuf sb = { 0 }, sel = { 0 };

	for (int i = 0; i < res->nr_vms; i++)
		sbuf_addf(&sb, "%s%s (%d)", i ? ", " : "", res->vms[i]->name ? res->vms[i]->name : "?",
			  res->vms[i]->pid);
	if (tp->o.vm)
		sbuf_addf(&sel, "--vm %s", tp->o.vm);
	for (size_t i = 0; i < tp->o.pids.n; i++)
		sbuf_addf(&sel, "%s-p %d", i ? " " : "", tp->o.pids.v[i]);
	vw_err("%s: no such VM in %s (%s%s)", sel.buf, tp->o.replay,
	       res->nr_vms ? "its VMs: " : "it has no VM", sb.buf ? sb.buf : "");
	sbuf_free(&sb);
	sbuf_free(&sel);
	tp->failed = true;
}

/* The last line: the analysis finished, as analyze finishes it. */
static void finish(struct top *tp)
{
	struct vw_result res = { 0 };
	struct top_line l;

	session_end(tp->a, &res);
	res_finish(&res);
	lanes_final(tp->lanes, tp->a, &res, &tp->filter, &l);
	if (!tp->nlines)
		tp->line_start = tp->origin;
	l.end_ns = MAX(res.end_ns, tp->line_start);
	if (!tp->origin_set)
		l.end_ns = 0;
	put_line(tp, &l);
	if (tp->o.replay && (tp->o.pids.n || tp->o.vm) && !tp->seen_vcpu)
		selection_error(tp, &res);
	res_free(&res);
}

/* Signals through a signalfd polled by the loops. */
static int signals_setup(struct top *tp)
{
	tp->sfd = stop_signals_fd(false, NULL);
	return tp->sfd < 0 ? -1 : 0;
}

/* Signals and keys since the last look: sets tp->stop. */
static void check_input(struct top *tp)
{
	struct signalfd_siginfo si;

	while (read(tp->sfd, &si, sizeof(si)) == sizeof(si))
		tp->stop = stop_signal_name(si.ssi_signo);
	if (tp->scr && screen_keys(tp->scr) && !tp->stop)
		tp->stop = "q";
}

/* Milliseconds until the buffers should be read again. */
static int live_timeout(const struct top *tp)
{
	uint64_t now = mono_ns(), due = boundary(tp) + TOP_REORDER_NS + NSEC_PER_MSEC;
	uint64_t ms = DRAIN_MS;

	if (due > now)
		ms = MIN(ms, (due - now + NSEC_PER_MSEC - 1) / NSEC_PER_MSEC);
	else
		ms = 0;
	if (tp->o.duration_ns)
		ms = MIN(ms, tp->stop_at > now ? (tp->stop_at - now + NSEC_PER_MSEC - 1) /
			 NSEC_PER_MSEC : 0);
	return (int)ms;
}

/* Fill @pfd: the signalfd, the terminal (screen), every CPU (@cpus). */
static int poll_set(struct top *tp, struct pollfd *pfd, int max, bool cpus)
{
	int n = 0, fds[1024];

	pfd[n++] = (struct pollfd){ .fd = tp->sfd, .events = POLLIN };
	if (tp->scr)
		pfd[n++] = (struct pollfd){ .fd = STDIN_FILENO, .events = POLLIN };
	if (!cpus)
		return n;
	for (int i = 0, m = live_fds(tp->lv, fds, (int)ARRAY_SIZE(fds)); i < m && n < max; i++)
		pfd[n++] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
	return n;
}

/* Live: read, feed and show until q, a signal or -d. */
static int live_loop(struct top *tp)
{
	struct pollfd pfd[1026];
	bool poll_cpus = true;
	uint64_t limit;

	while (!tp->stop) {
		int n = poll_set(tp, pfd, (int)ARRAY_SIZE(pfd), poll_cpus), fixed = tp->scr ? 2 : 1;
		int pages;
		bool cpu_ready = false;

		if (poll(pfd, n, live_timeout(tp)) < 0 && errno != EINTR) {
			vw_err("poll: %s", strerror(errno));
			return -1;
		}
		check_input(tp);
		if (tp->o.duration_ns && mono_ns() >= tp->stop_at && !tp->stop)
			tp->stop = "duration";
		pages = live_drain(tp->lv, tp->t, &limit);
		if (pages < 0 || feed(tp, limit, true) < 0)
			return -1;
		for (int i = fixed; i < n; i++)
			cpu_ready |= pfd[i].revents != 0;
		/* a buffer polling readable with nothing to read: the timer only */
		if (cpu_ready && !pages)
			poll_cpus = false;
	}
	return 0;
}

/* --speed: the wall time at which trace time @ts is due. */
static uint64_t due_at(const struct top *tp, uint64_t ts)
{
	return tp->pace_wall + (uint64_t)((double)(ts - tp->pace_ts) / tp->o.speed);
}

/*
 * --speed: wait until the record at trace time @ts is due (keys and signals
 * meanwhile); the lines of the intervals ending before it come when due.
 */
static void pace(struct top *tp, uint64_t ts)
{
	struct pollfd pfd[2];
	uint64_t now;

	if (!tp->pace_wall) {
		tp->pace_ts = ts;
		tp->pace_wall = mono_ns();
	}
	while (!tp->stop && (now = mono_ns()) < due_at(tp, ts)) {
		uint64_t wake = due_at(tp, ts);
		int n;

		if (tp->origin_set && boundary(tp) < ts) {
			if (due_at(tp, boundary(tp)) <= now) {
				emit(tp);	/* every record up to it was fed */
				continue;
			}
			wake = due_at(tp, boundary(tp));
		}
		n = poll_set(tp, pfd, 2, false);
		poll(pfd, n, (int)MIN((wake - now) / NSEC_PER_MSEC + 1, 1000));
		check_input(tp);
	}
}

/* The screen stays until q (or a signal), saying @why. */
static void wait_quit(struct top *tp, const char *why)
{
	struct pollfd pfd[2];

	screen_status(tp->scr, why);
	while (!tp->stop) {
		int n = poll_set(tp, pfd, 2, false);

		poll(pfd, n, -1);
		check_input(tp);
	}
}

/* Replay: the file's pages, in the order and with the limits a live reader has. */
static int replay_loop(struct top *tp)
{
	const void *page;
	uint64_t limit;
	int cpu, r = 0;

	while (!tp->stop && (r = tin_replay_page(tp->src, &cpu, &page, &limit)) > 0) {
		if (tin_push(tp->t, cpu, page) < 0) {
			vw_err("%s: %s", tp->o.replay, tin_error(tp->t));
			return -1;
		}
		if (feed(tp, limit, true) < 0)
			return -1;
		check_input(tp);
	}
	if (!tp->stop && r < 0) {
		vw_err("%s: %s", tp->o.replay, tin_error(tp->src));
		return -1;
	}
	return 0;
}

/* The reader and the analyzer, for @lm. */
static int analysis_open(struct top *tp, const struct tin_live_meta *lm)
{
	struct tin_opts to = { .want_format = dispatch_wants };
	struct session_opts so = { .to = UINT64_MAX };
	struct vw_result ev = { 0 };
	char err[512];

	tp->t = tin_new_live(lm, &to, err, sizeof(err));
	if (!tp->t) {
		vw_err("%s", err);
		return -1;
	}
	tp->a = session_new(tp->t, &so);
	tp->lanes = lanes_new();
	evidence_of(tp->a, tin_meta(tp->t), &ev.evidence);
	snprintf(tp->tier, sizeof(tp->tier), "%s", ev.evidence.tier);
	res_free(&ev);
	return 0;
}

static int replay_open(struct top *tp)
{
	struct tin_opts to = { .want_format = dispatch_wants };
	struct tin_live_meta lm;
	struct stat st;
	char err[512];
	int ret;

	if (stat(tp->o.replay, &st) == 0 && !S_ISREG(st.st_mode)) {
		vw_err("%s is not a regular file (a trace.dat is read by seeking)", tp->o.replay);
		return -1;
	}
	tp->src = tin_open(tp->o.replay, &to, err, sizeof(err));
	if (!tp->src) {
		vw_err("%s", err);
		return -1;
	}
	tin_live_meta_of(tp->src, &lm);
	ret = analysis_open(tp, &lm);
	free(lm.formats);
	return ret;
}

static int live_begin(struct top *tp)
{
	struct pidset vms = { 0 };

	if (geteuid() != 0) {
		vw_err("top needs root (it creates a tracefs instance); --replay FILE does not");
		return -1;
	}
	tp->lv = live_open(&tp->o);
	if (!tp->lv || analysis_open(tp, live_meta(tp->lv)) < 0)
		return -1;
	live_meta_release(tp->lv);
	if (!tp->o.pids.n) {
		proc_find_kvm(&vms);
		if (!vms.n)
			vw_info("no VM is running: no process holds a KVM VM (vCPUs show once one runs)");
		pidset_free(&vms);
	}
	if (live_start(tp->lv, &tp->origin) < 0)
		return -1;
	tp->origin_set = true;
	if (tp->o.duration_ns)
		tp->stop_at = tp->origin + tp->o.duration_ns;
	return 0;
}

/* Stop: the rest of the data, the lines up to the stop, the last line. */
static int live_end(struct top *tp)
{
	if (!tp->o.duration_ns || mono_ns() < tp->stop_at)
		tp->stop_at = mono_ns();
	if (live_stop(tp->lv, tp->t) < 0)
		return -1;
	return feed(tp, UINT64_MAX, false);
}

static int run(struct top *tp)
{
	int ret = 0;

	tp->stop_at = UINT64_MAX;
	if (signals_setup(tp) < 0)
		return -1;
	if (tp->o.replay ? replay_open(tp) : live_begin(tp))
		return -1;
	tp->filter = (struct top_filter){ &tp->o.pids, tp->o.vm };
	if (!tp->o.json && isatty(STDOUT_FILENO))
		tp->scr = screen_open(tp->o.interval_ns, tp->o.replay != NULL);
	tp->cpu_last = cpu_ns();
	if (tp->o.replay) {
		ret = replay_loop(tp);
		tin_live_end(tp->t);
	} else {
		ret = live_loop(tp);
		if (live_end(tp) < 0)
			ret = -1;
	}
	if (!ret && !tp->stop && tp->o.replay)
		ret = feed(tp, UINT64_MAX, false);
	if (!ret && (!tp->stop || !tp->o.replay))
		finish(tp);
	if (tp->scr && tp->o.replay && !tp->stop)
		wait_quit(tp, ret ? "the replay failed (see the message after q)" :
			  "end of the replay: q quits");
	return ret;
}

static void report_cpu(uint64_t wall_ns)
{
	char c[32], w[32];
	uint64_t used = cpu_ns();

	vw_info("CPU time of top: %s in %s (%.2f%% of one CPU)",
		fmt_duration(c, sizeof(c), used), fmt_duration(w, sizeof(w), wall_ns),
		wall_ns ? 100.0 * (double)used / (double)wall_ns : 0.0);
}

int cmd_top(int argc, char **argv)
{
	struct top tp = { .sfd = -1 };
	uint64_t wall0 = mono_ns();
	int ret;

	vw_set_cmd("top");
	ret = top_parse_args(&tp.o, argc, argv);
	if (ret) {
		pidset_free(&tp.o.pids);
		return ret < 0 ? 0 : ret;
	}
	ret = run(&tp) || tp.failed ? EXIT_RUNTIME : 0;
	screen_close(tp.scr);
	if (live_close(tp.lv) < 0)
		ret = EXIT_RUNTIME;
	lanes_free(tp.lanes);
	session_free(tp.a);
	tin_close(tp.t);
	tin_close(tp.src);
	if (tp.sfd >= 0)
		close(tp.sfd);
	pidset_free(&tp.o.pids);
	if (!ret)
		report_cpu(mono_ns() - wall0);	/* an error is one line */
	return ret;
}
