/* KVM processes, their threads and helper kthreads from /proc; metadata markers; stop signals. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <tracefs.h>

#include "recorder.h"
#include "util.h"

/* Longest command line put in a marker, so that the line stays < 1 KB. */
#define CMDLINE_MAX	960

bool pidset_add(struct pidset *s, int pid)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (s->v[mid] == pid)
			return false;
		if (s->v[mid] < pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	s->v = xrealloc(s->v, (s->n + 1) * sizeof(*s->v));
	memmove(s->v + lo + 1, s->v + lo, (s->n - lo) * sizeof(*s->v));
	s->v[lo] = pid;
	s->n++;
	return true;
}

bool pidset_has(const struct pidset *s, int pid)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (s->v[mid] == pid)
			return true;
		if (s->v[mid] < pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

void pidset_free(struct pidset *s)
{
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

/* The pid of a /proc entry name, or -1 if it is not a number. */
static int dirent_pid(const char *name)
{
	uint64_t v;

	if (!isdigit((unsigned char)name[0]) || parse_u64(name, &v) || v > 0x7fffffff)
		return -1;
	return (int)v;
}

bool proc_exists(int pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	return access(path, F_OK) == 0;
}

/* Does process @pid hold a KVM VM file descriptor? */
bool proc_has_kvm_vm(int pid)
{
	char path[64], link[64];
	struct dirent *de;
	bool found = false;
	DIR *d;
	int dfd;

	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	d = opendir(path);
	if (!d)
		return false;
	dfd = dirfd(d);
	while (!found && (de = readdir(d))) {
		ssize_t n;

		if (de->d_name[0] == '.')
			continue;
		n = readlinkat(dfd, de->d_name, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		found = !strcmp(link, "anon_inode:kvm-vm");
	}
	closedir(d);
	return found;
}

void proc_find_kvm(struct pidset *out)
{
	struct dirent *de;
	DIR *d = opendir("/proc");

	if (!d)
		return;
	while ((de = readdir(d))) {
		int pid = dirent_pid(de->d_name);

		if (pid > 0 && pid != getpid() && proc_has_kvm_vm(pid))
			pidset_add(out, pid);
	}
	closedir(d);
}

void proc_threads(int pid, struct pidset *out)
{
	char path[64];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d)
		return;
	while ((de = readdir(d))) {
		int tid = dirent_pid(de->d_name);

		if (tid > 0)
			pidset_add(out, tid);
	}
	closedir(d);
}

/* Read a one-line /proc file into @buf without its newline; "" on failure. */
static void read_line(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	buf[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
}

/*
 * Kernel threads that work for the VMs of @vms: vhost workers (kthreads
 * named vhost-<pid> before Linux 6.4, threads of the VMM since) and the
 * in-kernel PIT (kvm-pit/<pid>).
 */
void proc_find_helpers(const struct pidset *vms, struct pidset *out)
{
	char path[64], comm[32];
	struct dirent *de;
	DIR *d = opendir("/proc");

	if (!d)
		return;
	while ((de = readdir(d))) {
		int pid = dirent_pid(de->d_name), vm;
		char c;

		if (pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/comm", pid);
		read_line(path, comm, sizeof(comm));
		if ((sscanf(comm, "vhost-%d%c", &vm, &c) == 1 ||
		     sscanf(comm, "kvm-pit/%d%c", &vm, &c) == 1) &&
		    pidset_has(vms, vm))
			pidset_add(out, pid);
	}
	closedir(d);
}

/* Replace what would break a one-line marker (NULs, control characters). */
static void sanitize(char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			s[i] = ' ';
}

/* The command line of @pid, arguments separated by spaces, truncated. */
static void proc_cmdline(int pid, struct sbuf *out)
{
	char path[64];
	size_t len;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	if (read_file(path, out) || !out->len) {
		out->len = 0;
		return;
	}
	len = out->len;
	while (len && out->buf[len - 1] == '\0')
		len--;
	if (len > CMDLINE_MAX)
		len = CMDLINE_MAX;
	sanitize(out->buf, len);
	out->buf[len] = '\0';
	out->len = len;
}

void markers_init(struct rec_markers *m, struct tracefs_instance *inst)
{
	memset(m, 0, sizeof(*m));
	m->inst = inst;
	if (tracefs_print_init(inst) < 0) {
		vw_warn("cannot open the instance's trace_marker: %s; no metadata markers",
			strerror(errno));
		m->failed = true;
	}
}

/* Write one marker line; a failure is reported once. */
static void marker_write(struct rec_markers *m, const char *line)
{
	if (m->failed)
		return;
	if (tracefs_printf(m->inst, "%s\n", line) < 0) {
		vw_warn("cannot write to trace_marker: %s; metadata markers are incomplete",
			strerror(errno));
		m->failed = true;
		return;
	}
	m->written++;
}

/* The "task" marker of thread @tid of @pid, if not written yet. */
static void describe_task(struct rec_markers *m, int pid, int tid)
{
	char path[64], comm[64];
	struct sbuf line = { 0 };

	if (pidset_has(&m->tids, tid))
		return;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", pid, tid);
	read_line(path, comm, sizeof(comm));
	if (!comm[0])
		return;		/* gone already */
	sanitize(comm, strlen(comm));
	pidset_add(&m->tids, tid);
	sbuf_addf(&line, "vmwait: task tid=%d tgid=%d comm=%s", tid, pid, comm);
	marker_write(m, line.buf);
	sbuf_free(&line);
}

/*
 * Describe VMM @pid: its "vm" marker (once) and a "task" marker for every
 * thread not described yet.
 */
void markers_describe_vm(struct rec_markers *m, int pid)
{
	struct pidset tids = { 0 };

	if (!pidset_has(&m->vms, pid)) {
		struct sbuf cmd = { 0 }, line = { 0 };

		proc_cmdline(pid, &cmd);
		if (cmd.len) {
			pidset_add(&m->vms, pid);
			sbuf_addf(&line, "vmwait: vm pid=%d cmdline=%s", pid, cmd.buf);
			marker_write(m, line.buf);
		}
		sbuf_free(&cmd);
		sbuf_free(&line);
	}
	proc_threads(pid, &tids);
	for (size_t i = 0; i < tids.n; i++)
		describe_task(m, pid, tids.v[i]);
	pidset_free(&tids);
}

/*
 * Describe the COMMAND @pid that has just exec'd @argv. /proc lags behind
 * exec (comm and cmdline are set late in it), so the markers come from
 * @argv: comm is the basename of argv[0], as exec sets it.
 */
void markers_describe_cmd(struct rec_markers *m, int pid, char **argv)
{
	struct sbuf cmd = { 0 }, line = { 0 };
	const char *base = strrchr(argv[0], '/');
	char comm[16];

	for (size_t i = 0; argv[i] && cmd.len < CMDLINE_MAX; i++)
		sbuf_addf(&cmd, "%s%s", i ? " " : "", argv[i]);
	if (cmd.len > CMDLINE_MAX)
		cmd.buf[cmd.len = CMDLINE_MAX] = '\0';
	sanitize(cmd.buf, cmd.len);
	snprintf(comm, sizeof(comm), "%s", base ? base + 1 : argv[0]);
	sanitize(comm, strlen(comm));
	pidset_add(&m->vms, pid);
	pidset_add(&m->tids, pid);
	sbuf_addf(&line, "vmwait: vm pid=%d cmdline=%s", pid, cmd.buf);
	marker_write(m, line.buf);
	line.len = 0;
	sbuf_addf(&line, "vmwait: task tid=%d tgid=%d comm=%s", pid, pid, comm);
	marker_write(m, line.buf);
	sbuf_free(&cmd);
	sbuf_free(&line);
}

void markers_fini(struct rec_markers *m)
{
	if (m->inst)
		tracefs_print_close(m->inst);
	pidset_free(&m->vms);
	pidset_free(&m->tids);
}

int stop_signals_fd(bool chld, sigset_t *oldmask)
{
	sigset_t set;
	int fd;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	if (chld)
		sigaddset(&set, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &set, oldmask) < 0)
		return -1;
	fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0) {
		vw_err("signalfd: %s", strerror(errno));
		return -1;
	}
	signal(SIGPIPE, SIG_IGN);
	return fd;
}

const char *stop_signal_name(unsigned int signo)
{
	return signo == SIGINT ? "SIGINT" : signo == SIGTERM ? "SIGTERM" : "SIGHUP";
}
