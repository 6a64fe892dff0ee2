/* vmwait record: trace KVM, sched and irq events in an own instance into a trace.dat. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <tracefs.h>

#include "cmds.h"
#include "recorder.h"
#include "util.h"

/* How often the buffers are emptied when they do not fill up first. */
#define DRAIN_MS	100
/* How often what was written is made durable (against power losses). */
#define SYNC_NS		(5 * NSEC_PER_SEC)

struct rec {
	struct rec_opts o;
	struct rec_events evs;
	struct tracefs_instance *inst;
	struct tdat_writer *w;
	struct rec_reader rd;
	struct rec_markers mk;
	bool reader_open;
	bool markers_open;
	unsigned long kb;
	int sfd;			/* signalfd of INT, TERM, HUP, CHLD */
	sigset_t oldmask;
	pid_t child;			/* the COMMAND, or 0 */
	int go_fd;			/* write a byte to let the child exec */
	int err_fd;			/* the child's exec errno, EOF on success */
	bool child_exited;
	int child_status;
	uint64_t start_ns;
	uint64_t end_ns;
	uint64_t synced_ns;		/* last tdat_sync() */
	const char *stop_reason;
	bool failed;			/* a read error (reported) */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

/*
 * Receive SIGINT, SIGTERM, SIGHUP and SIGCHLD through a signalfd polled by
 * the main loop: no handler, no global state. The old mask is restored in
 * the COMMAND's process.
 */
static int signals_setup(struct rec *r)
{
	r->sfd = stop_signals_fd(true, &r->oldmask);
	return r->sfd < 0 ? -1 : 0;
}

/* The COMMAND's process: wait for the go byte, then exec (or report errno). */
static void __attribute__((noreturn)) child_run(struct rec *r, int go, int err)
{
	char c;
	int e;

	sigprocmask(SIG_SETMASK, &r->oldmask, NULL);
	signal(SIGPIPE, SIG_DFL);
	if (read(go, &c, 1) != 1)
		_exit(126);	/* the recorder gave up */
	close(go);
	execvp(r->o.cmd[0], r->o.cmd);
	e = errno;
	if (write(err, &e, sizeof(e)) < 0)
		_exit(127);
	_exit(127);
}

/*
 * Fork the COMMAND before any tracefs file is open (so that it holds none
 * and cannot keep our instance busy); it waits until tracing is on.
 */
static int child_fork(struct rec *r)
{
	int go[2], err[2];

	if (pipe2(go, O_CLOEXEC) < 0)
		goto fail;
	if (pipe2(err, O_CLOEXEC) < 0) {
		close(go[0]);
		close(go[1]);
		goto fail;
	}
	r->child = fork();
	if (r->child < 0) {
		close(go[0]);
		close(go[1]);
		close(err[0]);
		close(err[1]);
		r->child = 0;
		goto fail;
	}
	if (r->child == 0) {
		close(go[1]);
		close(err[0]);
		child_run(r, go[0], err[1]);
	}
	close(go[0]);
	close(err[1]);
	r->go_fd = go[1];
	r->err_fd = err[0];
	return 0;
fail:
	vw_err("cannot start '%s': %s", r->o.cmd[0], strerror(errno));
	return -1;
}

/* Reap the COMMAND if it has exited; true if it has. */
static bool child_reap(struct rec *r, bool block)
{
	int st;

	if (!r->child || r->child_exited)
		return r->child_exited;
	if (waitpid(r->child, &st, block ? 0 : WNOHANG) == r->child) {
		r->child_exited = true;
		r->child_status = st;
	}
	return r->child_exited;
}

/* Let the COMMAND exec, wait until it has, and describe it in markers. */
static int child_start(struct rec *r)
{
	ssize_t n;
	int e;

	if (write(r->go_fd, "g", 1) != 1) {
		vw_err("cannot start '%s': %s", r->o.cmd[0], strerror(errno));
		return -1;
	}
	close(r->go_fd);
	r->go_fd = -1;
	n = read(r->err_fd, &e, sizeof(e));
	close(r->err_fd);
	r->err_fd = -1;
	if (n == sizeof(e)) {
		vw_err("cannot run '%s': %s", r->o.cmd[0], strerror(e));
		child_reap(r, true);
		return -1;
	}
	markers_describe_cmd(&r->mk, r->child, r->o.cmd);
	return 0;
}

/*
 * Close our ends of the COMMAND's pipes. If it was never let go (setup
 * failed), it exits on EOF and is reaped; a running COMMAND is left alone.
 */
static void child_abandon(struct rec *r)
{
	bool released = r->go_fd < 0;

	if (r->go_fd >= 0)
		close(r->go_fd);
	if (r->err_fd >= 0)
		close(r->err_fd);
	r->go_fd = r->err_fd = -1;
	if (!released)
		child_reap(r, true);
}

/*
 * The tasks of the -p filter: every thread of each VM (and the COMMAND),
 * their vhost and kvm-pit kthreads, and the idle task (pid 0), so that
 * timer and device interrupts that wake a vCPU on an idle CPU keep their
 * context. Forks are followed by the kernel (event-fork).
 */
static int build_filter(struct rec *r, struct pidset *filter)
{
	struct pidset vms = { 0 };

	for (size_t i = 0; i < r->o.pids.n; i++) {
		int pid = r->o.pids.v[i];

		if (!proc_exists(pid)) {
			vw_err("no such process: %d", pid);
			pidset_free(&vms);
			return -1;
		}
		if (!proc_has_kvm_vm(pid))
			vw_warn("process %d has no KVM VM open", pid);
		pidset_add(&vms, pid);
		proc_threads(pid, filter);
	}
	if (r->child) {
		pidset_add(&vms, r->child);
		pidset_add(filter, r->child);
	}
	proc_find_helpers(&vms, filter);
	pidset_add(filter, 0);
	pidset_free(&vms);
	return 0;
}

/* Write the markers of every VM not described yet (and their new threads). */
static void describe_vms(struct rec *r)
{
	struct pidset vms = { 0 };

	if (r->o.pids.n) {
		for (size_t i = 0; i < r->o.pids.n; i++)
			pidset_add(&vms, r->o.pids.v[i]);
	} else {
		proc_find_kvm(&vms);
	}
	if (r->child && r->go_fd < 0 && !child_reap(r, false))
		pidset_add(&vms, r->child);	/* started: new threads only */
	for (size_t i = 0; i < vms.n; i++)
		markers_describe_vm(&r->mk, vms.v[i]);
	pidset_free(&vms);
}

/* Set up the instance and the output; everything up to tracing on. */
static int setup(struct rec *r)
{
	struct pidset filter = { 0 };
	unsigned int ncpus, page_size;
	struct stat st;
	int ret = -1;

	if (r->o.pids.n && build_filter(r, &filter) < 0)
		return -1;
	r->inst = rec_instance_create();
	if (!r->inst)
		goto out;
	ncpus = rec_instance_ncpus(r->inst);
	page_size = rec_instance_page_size(r->inst);
	if (!ncpus) {
		vw_err("no per-CPU buffers in tracefs instance %s", tracefs_instance_get_name(r->inst));
		goto out;
	}
	r->kb = r->o.buffer_kb ? r->o.buffer_kb : rec_default_buffer_kb(ncpus);
	if (rec_instance_setup(r->inst, r->kb, r->o.pids.n ? &filter : NULL, &r->evs) < 0)
		goto out;
	r->o.topts.ncpus = ncpus;
	r->o.topts.page_size = page_size;
	if (stat(r->o.output, &st) == 0 && !S_ISREG(st.st_mode)) {
		vw_err("cannot write %s: not a regular file", r->o.output);
		goto out;
	}
	r->w = tdat_create(r->o.output, &r->o.topts);
	if (!r->w) {
		vw_err("cannot create %s: %s", r->o.output, strerror(errno));
		goto out;
	}
	if (r->evs.nmissing)
		vw_warn("this kernel lacks %zu event%s, skipped:%s", r->evs.nmissing,
			r->evs.nmissing == 1 ? "" : "s", r->evs.missing);
	if (rec_write_meta(r->w, r->inst, &r->evs) < 0)
		goto out;
	/* the head goes to the output now: from here on a kill is recoverable */
	tdat_set_durable(r->w, true);
	if (rec_write_cmdlines(r->w) < 0 || tdat_begin(r->w) < 0) {
		vw_err("cannot write %s: %s", r->o.output, strerror(errno));
		goto out;
	}
	r->reader_open = true;
	ret = reader_open(&r->rd, r->inst, ncpus, page_size, r->w);
out:
	pidset_free(&filter);
	return ret;
}

/* Turn tracing on, write the markers, start the COMMAND. */
static int start(struct rec *r)
{
	markers_init(&r->mk, r->inst);
	r->markers_open = true;
	if (tracefs_trace_on(r->inst) < 0) {
		vw_err("cannot start tracing: %s", strerror(errno));
		return -1;
	}
	r->start_ns = r->synced_ns = now_ns();
	describe_vms(r);
	if (r->child && child_start(r) < 0)
		return -1;
	vw_info("recording to %s (%u CPUs, %lu KB per CPU, %zu events%s%s); Ctrl-C to stop",
		r->o.output, r->rd.ncpus, r->kb, r->evs.n, r->o.light ? ", light" : "",
		r->o.pids.n ? ", pid filter" : "");
	return 0;
}

/* Read the pending signals; returns the reason to stop, or NULL. */
static const char *handle_signals(struct rec *r)
{
	struct signalfd_siginfo si;
	const char *stop = NULL;

	while (read(r->sfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGCHLD) {
			if (r->child && child_reap(r, false))
				stop = "command exited";
			continue;
		}
		stop = stop_signal_name(si.ssi_signo);
	}
	return stop;
}

/* Milliseconds to wait in poll(): the drain period, or less before -d ends. */
static int poll_timeout(struct rec *r, bool *expired)
{
	uint64_t now, end;

	*expired = false;
	if (!r->o.duration_ns)
		return DRAIN_MS;
	now = now_ns();
	end = r->start_ns + r->o.duration_ns;
	if (now >= end) {
		*expired = true;
		return 0;
	}
	return (int)MIN((uint64_t)DRAIN_MS, (end - now + NSEC_PER_MSEC - 1) / NSEC_PER_MSEC);
}

static uint64_t pages_total(const struct rec_reader *rd)
{
	uint64_t n = 0;

	for (unsigned int i = 0; i < rd->ncpus; i++)
		n += rd->cpu[i].pages;
	return n;
}

/* Fill @pfd: the signalfd, then (if @cpus) every CPU's buffer. Returns the count. */
static unsigned int poll_set(struct rec *r, struct pollfd *pfd, bool cpus)
{
	unsigned int n = 0;

	pfd[n].fd = r->sfd;
	pfd[n++].events = POLLIN;
	for (unsigned int i = 0; cpus && i < r->rd.ncpus; i++) {
		if (r->rd.cpu[i].fd < 0)
			continue;
		pfd[n].fd = r->rd.cpu[i].fd;
		pfd[n++].events = POLLIN;
	}
	return n;
}

/*
 * Empty the buffers until a signal, -d or the COMMAND's exit; poll() also
 * wakes up when a buffer is half full (the instance's buffer_percent).
 * Returns 0, or -1 on an error (reported, or a write error in r->rd.werr).
 */
static int loop(struct rec *r)
{
	struct pollfd *pfd = xcalloc(r->rd.ncpus + 1, sizeof(*pfd));
	bool poll_cpus = true;
	int ret = 0;

	while (!r->stop_reason) {
		uint64_t before = pages_total(&r->rd);
		unsigned int n = poll_set(r, pfd, poll_cpus);
		bool expired, cpu_ready = false;
		int timeout = poll_timeout(r, &expired);

		if (!expired && poll(pfd, n, timeout) < 0 && errno != EINTR) {
			vw_err("poll: %s", strerror(errno));
			ret = -1;
			break;
		}
		r->stop_reason = handle_signals(r);
		if (!r->stop_reason && poll_timeout(r, &expired) >= 0 && expired)
			r->stop_reason = "duration";
		if (reader_drain(&r->rd, false) < 0) {
			ret = -1;
			break;
		}
		if (now_ns() - r->synced_ns >= SYNC_NS) {
			tdat_sync(r->w);	/* an error here shows at the next write */
			r->synced_ns = now_ns();
		}
		for (unsigned int i = 1; i < n; i++)
			cpu_ready |= pfd[i].revents != 0;
		/* A buffer polling readable without whole pages: use the timer only. */
		if (cpu_ready && pages_total(&r->rd) == before)
			poll_cpus = false;
	}
	free(pfd);
	return ret;
}

/*
 * Stop tracing and move everything left to the output (unless writing
 * failed already), with the loss counters and saved_cmdlines.
 */
static void finish(struct rec *r)
{
	describe_vms(r);
	tracefs_trace_off(r->inst);
	r->end_ns = now_ns();
	if (!r->rd.werr && reader_drain(&r->rd, true) < 0 && !r->rd.werr)
		r->failed = true;
	if (reader_stats(&r->rd, r->inst) < 0 || rec_write_cmdlines(r->w) < 0)
		if (!r->rd.werr)
			r->rd.werr = errno;
}

/* The one line about a failed write; says whether a readable trace was kept. */
static void report_write_error(struct rec *r, int err)
{
	bool kept = (err == ENOSPC || err == EDQUOT || err == EFBIG) &&
		    access(r->o.output, F_OK) == 0;

	vw_err("cannot write %s: %s%s", r->o.output, strerror(err),
	       kept ? " (kept the trace up to the last page that fitted)" : "");
}

/* "12.3 MB" / "45.6 KB" */
static char *fmt_size(char *buf, size_t len, uint64_t bytes)
{
	if (bytes >= 1000000)
		snprintf(buf, len, "%.1f MB", bytes / 1e6);
	else
		snprintf(buf, len, "%.1f KB", bytes / 1e3);
	return buf;
}

static void report_cpus(struct rec *r)
{
	for (unsigned int i = 0; i < r->rd.ncpus; i++) {
		struct rec_cpu *c = &r->rd.cpu[i];
		char sz[32];

		if (!c->present)
			continue;
		vw_info("  CPU %u: %" PRIu64 " events, %s, %" PRIu64 " lost", i, c->events,
			fmt_size(sz, sizeof(sz), c->pages * r->rd.page_size), reader_cpu_lost(c));
	}
}

/* Warn (even with -q) about lost events, per CPU. */
static void report_losses(struct rec *r)
{
	struct sbuf sb = { 0 };
	uint64_t lost = 0;

	for (unsigned int i = 0; i < r->rd.ncpus; i++) {
		uint64_t l = reader_cpu_lost(&r->rd.cpu[i]);

		if (l)
			sbuf_addf(&sb, "%sCPU %u: %" PRIu64, lost ? ", " : "", i, l);
		lost += l;
	}
	if (lost)
		vw_warn("%" PRIu64 " events were LOST (%s): the buffers overflowed before they "
			"could be read; record again with a larger -b (now %lu KB per CPU) or --light",
			lost, sb.buf, r->kb);
	sbuf_free(&sb);
}

static void report_command(struct rec *r)
{
	int st = r->child_status;

	if (!r->child)
		return;
	if (!child_reap(r, false))
		vw_info("command '%s' (pid %d) is still running", r->o.cmd[0], (int)r->child);
	else if (WIFEXITED(st))
		vw_info("command '%s' exited with status %d", r->o.cmd[0], WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		vw_info("command '%s' was killed by signal %d (%s)", r->o.cmd[0],
			WTERMSIG(st), strsignal(WTERMSIG(st)));
}

static void report(struct rec *r)
{
	uint64_t events = 0, pages = 0;
	char dur[32], sz[32];

	for (unsigned int i = 0; i < r->rd.ncpus; i++) {
		events += r->rd.cpu[i].events;
		pages += r->rd.cpu[i].pages;
	}
	vw_info("stopped (%s) after %s", r->stop_reason ? r->stop_reason : "error",
		fmt_duration(dur, sizeof(dur), r->end_ns - r->start_ns));
	report_cpus(r);
	vw_info("wrote %s: %" PRIu64 " events, %s of ring-buffer pages, %lu metadata markers",
		r->o.output, events, fmt_size(sz, sizeof(sz), pages * r->rd.page_size),
		r->mk.written);
	report_command(r);
	report_losses(r);
}

/* Undo whatever setup() and start() did; the instance is always removed. */
static void teardown(struct rec *r)
{
	if (r->inst)
		tracefs_trace_off(r->inst);
	if (r->reader_open)
		reader_close(&r->rd);
	if (r->markers_open)
		markers_fini(&r->mk);
	r->markers_open = false;
	if (r->inst)
		rec_instance_remove(r->inst);
	r->inst = NULL;
	if (r->child)
		child_abandon(r);
}

static int record(struct rec *r)
{
	const char *tdir;
	struct tdat_writer *w;
	int werr;

	if (signals_setup(r) < 0)
		return EXIT_RUNTIME;
	if (r->o.cmd && child_fork(r) < 0)
		return EXIT_RUNTIME;
	tdir = rec_tracing_dir();
	if (!tdir) {
		vw_err("tracefs is not mounted and cannot be mounted on /sys/kernel/tracing");
		goto fail;
	}
	rec_cleanup_stale();
	if (rec_events_build(tdir, r->o.light, r->o.extra, r->o.nextra, &r->evs) < 0)
		goto fail;
	if (setup(r) < 0 || start(r) < 0)
		goto fail;
	if (loop(r) < 0 && !r->rd.werr)
		r->failed = true;
	finish(r);
	teardown(r);
	w = r->w;
	r->w = NULL;
	werr = r->rd.werr;
	if (tdat_close(w) < 0 && !werr)
		werr = errno;
	if (werr) {
		report_write_error(r, werr);
		return EXIT_RUNTIME;
	}
	report(r);
	return r->failed ? EXIT_RUNTIME : 0;
fail:
	teardown(r);
	if (r->w)
		tdat_abort(r->w);
	r->w = NULL;
	return EXIT_RUNTIME;
}

int cmd_record(int argc, char **argv)
{
	struct rec r;
	int ret;

	memset(&r, 0, sizeof(r));
	r.sfd = r.go_fd = r.err_fd = -1;
	ret = rec_parse_args(&r.o, argc, argv);
	if (ret) {
		ret = ret < 0 ? 0 : ret;
		goto out;
	}
	vw_set_quiet(r.o.quiet);
	if (r.o.recover) {
		ret = rec_recover(r.o.recover);
		goto out;
	}
	if (rec_check_leftover(r.o.output) < 0) {
		ret = EXIT_RUNTIME;
		goto out;
	}
	if (geteuid() != 0) {
		vw_err("record needs root (it creates a tracefs instance)");
		ret = EXIT_RUNTIME;
		goto out;
	}
	ret = record(&r);
	reader_free(&r.rd);
	rec_events_free(&r.evs);
	if (r.sfd >= 0)
		close(r.sfd);
out:
	pidset_free(&r.o.pids);
	free(r.o.extra);
	return ret;
}
