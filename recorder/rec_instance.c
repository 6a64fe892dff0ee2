/* The recorder's own tracefs instance: naming, stale cleanup, setup, removal. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tracefs.h>

#include "recorder.h"
#include "util.h"


/* Default and bounds of the per-CPU buffer size, in KB. */
#define BUF_KB_DEFAULT	4096UL
#define BUF_KB_MIN	256UL

/*
 * The tracefs directory, mounted on /sys/kernel/tracing if it is not yet.
 * NULL if there is none: libtracefs trusts /proc/mounts, which still lists
 * a tracefs mount that something else was mounted over, so check it.
 */
const char *rec_tracing_dir(void)
{
	const char *dir = tracefs_tracing_dir();
	struct sbuf path = { 0 };
	struct stat st;
	bool ok;

	if (!dir)
		return NULL;
	sbuf_addf(&path, "%s/instances", dir);
	ok = stat(path.buf, &st) == 0 && S_ISDIR(st.st_mode);
	sbuf_free(&path);
	return ok ? dir : NULL;
}

/* The pid in an instance name "vmwait-<pid>-<n>", or -1 if not of that form. */
static int instance_pid(const char *name)
{
	unsigned int pid, n;
	int len = 0;

	if (sscanf(name, "vmwait-%u-%u%n", &pid, &n, &len) != 2 || name[len] ||
	    !isdigit((unsigned char)name[7]) || pid == 0 || pid > INT_MAX)
		return -1;
	return (int)pid;
}

/*
 * Is the recorder that created instance @name gone? Its pid no longer
 * exists, or is now a process that is not vmwait (its pid was reused), or
 * is us (we have not created any instance yet).
 */
static bool instance_is_stale(const char *name)
{
	char path[64], comm[32] = "";
	int pid = instance_pid(name), fd;
	ssize_t n;

	if (pid < 0)
		return false;
	if (pid == getpid())
		return true;
	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ESRCH;
	n = read(fd, comm, sizeof(comm) - 1);
	close(fd);
	if (n < 0)
		return false;
	comm[n] = '\0';
	return strncmp(comm, "vmwait", 6) != 0;
}

/* Stop, empty and remove instance @inst; frees it. Returns 0 or -1 (errno). */
static int instance_teardown(struct tracefs_instance *inst)
{
	int ret, err;

	tracefs_trace_off(inst);
	tracefs_instance_file_write(inst, "events/enable", "0");
	tracefs_instance_file_clear(inst, "set_event_pid");
	ret = tracefs_instance_destroy(inst);
	err = errno;
	tracefs_instance_free(inst);
	errno = err;
	return ret;
}

/* tracefs_instances_walk() callback: collect the stale vmwait instances. */
static int collect_stale(const char *name, void *data)
{
	char ***names = data;

	if (instance_is_stale(name))
		*names = tracefs_list_add(*names, name);
	return 0;
}

/*
 * Remove the instances left by recorders that were killed (SIGKILL) before
 * they could remove their own. Returns how many were removed.
 */
int rec_cleanup_stale(void)
{
	char **names = NULL;
	int removed = 0;

	tracefs_instances_walk(collect_stale, &names);
	for (int i = 0; names && names[i]; i++) {
		struct tracefs_instance *inst = tracefs_instance_alloc(NULL, names[i]);
		int ret;

		if (!inst)
			continue;
		/*
		 * rmdir only: the kernel refuses it (EBUSY) while a recorder
		 * has the instance's files open, so a live one is never harmed.
		 */
		ret = tracefs_instance_destroy(inst);
		tracefs_instance_free(inst);
		if (ret < 0) {
			vw_warn("cannot remove stale tracefs instance %s: %s",
				names[i], strerror(errno));
			continue;
		}
		vw_info("removed stale tracefs instance %s", names[i]);
		removed++;
	}
	tracefs_list_free(names);
	return removed;
}

struct tracefs_instance *rec_instance_create(void)
{
	char name[64];

	for (int n = 0; n < 1000; n++) {
		struct tracefs_instance *inst;

		snprintf(name, sizeof(name), "vmwait-%d-%d", (int)getpid(), n);
		inst = tracefs_instance_create(name);
		if (!inst) {
			vw_err("cannot create tracefs instance %s: %s", name, strerror(errno));
			return NULL;
		}
		if (tracefs_instance_is_new(inst))
			return inst;
		tracefs_instance_free(inst);	/* not ours: try the next name */
	}
	vw_err("cannot find a free tracefs instance name");
	return NULL;
}

/* Write the pid filter: only events of @filter's tasks, following forks. */
static int set_pid_filter(struct tracefs_instance *inst, const struct pidset *filter)
{
	struct sbuf sb = { 0 };
	int ret;

	if (tracefs_option_enable(inst, TRACEFS_OPTION_EVENT_FORK) < 0) {
		vw_err("cannot enable the event-fork option: %s", strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < filter->n; i++)
		sbuf_addf(&sb, "%s%d", i ? " " : "", filter->v[i]);
	ret = tracefs_instance_file_write(inst, "set_event_pid", sb.buf);
	if (ret < 0)
		vw_err("cannot write set_event_pid: %s", strerror(errno));
	sbuf_free(&sb);
	return ret < 0 ? -1 : 0;
}

/*
 * Prepare @inst with tracing off: buffer size, pid filter (if @filter),
 * events. The caller turns tracing on.
 */
int rec_instance_setup(struct tracefs_instance *inst, unsigned long kb,
		       const struct pidset *filter, const struct rec_events *evs)
{
	if (tracefs_trace_off(inst) < 0) {
		vw_err("cannot stop tracing in instance %s: %s",
		       tracefs_instance_get_name(inst), strerror(errno));
		return -1;
	}
	if (tracefs_instance_set_buffer_size(inst, kb, -1) < 0) {
		vw_err("cannot set the buffer size to %lu KB per CPU: %s", kb, strerror(errno));
		return -1;
	}
	if (filter && set_pid_filter(inst, filter) < 0)
		return -1;
	for (size_t i = 0; i < evs->n; i++) {
		const struct rec_event *ev = &evs->ev[i];

		if (ev->implicit)
			continue;
		/* not tracefs_event_enable(): it matches regexes over every system */
		if (tracefs_event_file_write(inst, ev->system, ev->name, "enable", "1") < 0) {
			vw_err("cannot enable %s:%s: %s", ev->system, ev->name, strerror(errno));
			return -1;
		}
	}
	return 0;
}

int rec_instance_remove(struct tracefs_instance *inst)
{
	char *name = xstrdup(tracefs_instance_get_name(inst));
	int ret = instance_teardown(inst);

	if (ret < 0)
		vw_warn("cannot remove tracefs instance %s: %s", name, strerror(errno));
	free(name);
	return ret;
}

/* Number of per-CPU buffers of @inst (highest per_cpu/cpuN + 1). */
unsigned int rec_instance_ncpus(struct tracefs_instance *inst)
{
	char *path = tracefs_instance_get_file(inst, "per_cpu");
	unsigned int ncpus = 0;
	struct dirent *de;
	DIR *d;

	d = path ? opendir(path) : NULL;
	tracefs_put_tracing_file(path);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		unsigned int cpu;
		char c;

		if (sscanf(de->d_name, "cpu%u%c", &cpu, &c) == 1 && cpu + 1 > ncpus)
			ncpus = cpu + 1;
	}
	closedir(d);
	return ncpus;
}

/*
 * The ring-buffer sub-buffer size of @inst: offset + size of the "data"
 * field of its events/header_page, as libtracefs computes it.
 */
unsigned int rec_instance_page_size(struct tracefs_instance *inst)
{
	int len;
	char *buf = tracefs_instance_file_read(inst, "events/header_page", &len);
	unsigned int off, size, ps = (unsigned int)getpagesize();
	char *p;

	if (buf && (p = strstr(buf, "char data;")) &&
	    sscanf(p, "char data; offset:%u; size:%u;", &off, &size) == 2)
		ps = off + size;
	free(buf);
	return ps;
}

/*
 * The default buffer size per CPU: 4 MB, or less so that all the CPUs'
 * buffers take at most 1/32 of the RAM (but no less than 256 KB).
 */
unsigned long rec_default_buffer_kb(unsigned int ncpus)
{
	long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
	unsigned long kb = BUF_KB_DEFAULT, cap;

	if (pages <= 0 || psize <= 0 || !ncpus)
		return kb;
	cap = (unsigned long)pages / 1024 * (unsigned long)psize / 32 / ncpus;
	return MAX(MIN(kb, cap), BUF_KB_MIN);
}
