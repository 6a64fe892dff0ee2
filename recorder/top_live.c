/*
 * The live source of vmwait top: an own tracefs instance with record's
 * event set on the "mono" trace clock, the metadata the reader needs from
 * the running kernel, every CPU's ring buffer read page by page (partial
 * pages too, so that a quiet CPU does not hold the others back), and with
 * -o the same trace.dat record writes, from the same pages.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <tracefs.h>

#include "top.h"
#include "util.h"

struct top_live {
	const struct top_opts *o;
	struct rec_events evs;
	struct tracefs_instance *inst;
	struct rec_markers mk;
	bool markers_open;
	struct pidset tried;		/* VMs live_describe() looked at */
	struct tdat_writer *w;
	unsigned int ncpus, page_size;
	int *fd;			/* per CPU trace_pipe_raw, -1 if none */
	char *page;
	/* the metadata of the live reader, and the texts it points to */
	struct tin_live_meta meta;
	struct sbuf header_page, kallsyms, cmdlines;
	struct sbuf *fmt_text;
	int nfmt;
	bool stopped;
};

uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* Read @file of the instance into @sb; one line on failure. */
static int read_inst(struct top_live *lv, const char *file, struct sbuf *sb)
{
	char *path = tracefs_instance_get_file(lv->inst, file);
	int ret = path ? read_file(path, sb) : -1;

	if (ret < 0)
		vw_err("cannot read %s: %s", path ? path : file, strerror(errno));
	tracefs_put_tracing_file(path);
	return ret;
}

static int add_format(struct top_live *lv, const char *sys, const char *name)
{
	struct sbuf path = { 0 };
	int ret;

	lv->fmt_text = xrealloc(lv->fmt_text, (lv->nfmt + 1) * sizeof(*lv->fmt_text));
	memset(&lv->fmt_text[lv->nfmt], 0, sizeof(*lv->fmt_text));
	sbuf_addf(&path, "events/%s/%s/format", sys, name);
	ret = read_inst(lv, path.buf, &lv->fmt_text[lv->nfmt]);
	sbuf_free(&path);
	if (ret < 0)
		return -1;
	lv->meta.formats = xrealloc(lv->meta.formats, (lv->nfmt + 1) * sizeof(*lv->meta.formats));
	lv->meta.formats[lv->nfmt] = (struct tin_live_format){ sys, lv->fmt_text[lv->nfmt].buf,
							       lv->fmt_text[lv->nfmt].len };
	lv->nfmt++;
	return 0;
}

/* Headers, every ftrace format and the enabled events' (as record writes them). */
static int gather_meta(struct top_live *lv)
{
	char **names = tracefs_system_events(tracefs_instance_get_trace_dir(lv->inst), "ftrace");
	struct sbuf path = { 0 };
	int ret = read_inst(lv, "events/header_page", &lv->header_page);

	for (int i = 0; !ret && names && names[i]; i++)
		ret = add_format(lv, "ftrace", names[i]);
	tracefs_list_free(names);
	for (size_t i = 0; !ret && i < lv->evs.n; i++)
		if (strcmp(lv->evs.ev[i].system, "ftrace"))
			ret = add_format(lv, lv->evs.ev[i].system, lv->evs.ev[i].name);
	if (ret < 0)
		return -1;
	/* like record: without kallsyms, timer callbacks are not named */
	if (read_file("/proc/kallsyms", &lv->kallsyms) < 0)
		vw_warn("cannot read /proc/kallsyms: %s; kernel functions will not be resolved",
			strerror(errno));
	sbuf_addf(&path, "%s/saved_cmdlines", tracefs_tracing_dir());
	read_file(path.buf, &lv->cmdlines);
	sbuf_free(&path);
	lv->meta.header_page = lv->header_page.buf;
	lv->meta.header_page_len = lv->header_page.len;
	lv->meta.nformats = lv->nfmt;
	lv->meta.kallsyms = lv->kallsyms.len ? lv->kallsyms.buf : NULL;
	lv->meta.cmdlines = lv->cmdlines.len ? lv->cmdlines.buf : NULL;
	lv->meta.ncpus = (int)lv->ncpus;
	lv->meta.page_size = lv->page_size;
	lv->meta.long_size = (int)sizeof(long);
	return 0;
}

/* -p: every thread of the VMs, their vhost and PIT workers, and the idle task. */
static int build_filter(const struct top_opts *o, struct pidset *filter)
{
	for (size_t i = 0; i < o->pids.n; i++) {
		int pid = o->pids.v[i];

		if (!proc_exists(pid)) {
			vw_err("no such process: %d", pid);
			return -1;
		}
		if (!proc_has_kvm_vm(pid))
			vw_warn("process %d has no KVM VM open", pid);
		proc_threads(pid, filter);
	}
	proc_find_helpers(&o->pids, filter);
	pidset_add(filter, 0);
	return 0;
}

/* -o FILE: record's trace.dat, its head written now. */
static int output_open(struct top_live *lv)
{
	struct tdat_opts to = { .version = 7, .compress = TDAT_COMP_ZSTD,
				.page_size = lv->page_size, .ncpus = lv->ncpus };
	const char *out = lv->o->output;
	struct stat st;

	if (stat(out, &st) == 0 && !S_ISREG(st.st_mode)) {
		vw_err("cannot write %s: not a regular file", out);
		return -1;
	}
	if (rec_check_leftover(out) < 0)
		return -1;
	lv->w = tdat_create(out, &to);
	if (!lv->w) {
		vw_err("cannot create %s: %s", out, strerror(errno));
		return -1;
	}
	if (rec_write_meta(lv->w, lv->inst, &lv->evs) < 0)
		return -1;
	tdat_set_durable(lv->w, true);
	if (rec_write_cmdlines(lv->w) < 0 || tdat_begin(lv->w) < 0) {
		vw_err("cannot write %s: %s", out, strerror(errno));
		return -1;
	}
	return 0;
}

static int open_cpus(struct top_live *lv)
{
	lv->fd = xcalloc(lv->ncpus, sizeof(*lv->fd));
	lv->page = xmalloc(lv->page_size);
	for (unsigned int i = 0; i < lv->ncpus; i++)
		lv->fd[i] = -1;
	for (unsigned int i = 0; i < lv->ncpus; i++) {
		char file[64];

		snprintf(file, sizeof(file), "per_cpu/cpu%u/trace_pipe_raw", i);
		lv->fd[i] = tracefs_instance_file_open(lv->inst, file,
						       O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		if (lv->fd[i] < 0 && errno != ENOENT && errno != ENODEV) {
			vw_err("cannot open %s: %s", file, strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* The instance, set up with tracing off. */
static int instance_open(struct top_live *lv)
{
	struct pidset filter = { 0 };
	int ret = -1;

	if (lv->o->pids.n && build_filter(lv->o, &filter) < 0)
		goto out;
	lv->inst = rec_instance_create();
	if (!lv->inst)
		goto out;
	lv->ncpus = rec_instance_ncpus(lv->inst);
	lv->page_size = rec_instance_page_size(lv->inst);
	if (!lv->ncpus) {
		vw_err("no per-CPU buffers in tracefs instance %s",
		       tracefs_instance_get_name(lv->inst));
		goto out;
	}
	if (rec_instance_setup(lv->inst, rec_default_buffer_kb(lv->ncpus),
			       lv->o->pids.n ? &filter : NULL, &lv->evs) < 0)
		goto out;
	/* CLOCK_MONOTONIC: what is read is known up to a clock_gettime() */
	if (tracefs_instance_file_write(lv->inst, "trace_clock", "mono") < 0) {
		vw_err("cannot set the trace clock to mono: %s", strerror(errno));
		goto out;
	}
	ret = 0;
out:
	pidset_free(&filter);
	return ret;
}

struct top_live *live_open(const struct top_opts *o)
{
	struct top_live *lv = xcalloc(1, sizeof(*lv));
	const char *tdir = rec_tracing_dir();

	lv->o = o;
	if (!tdir) {
		vw_err("tracefs is not mounted and cannot be mounted on /sys/kernel/tracing");
		goto fail;
	}
	rec_cleanup_stale();
	if (rec_events_build(tdir, o->light, NULL, 0, &lv->evs) < 0)
		goto fail;
	if (instance_open(lv) < 0 || gather_meta(lv) < 0)
		goto fail;
	if (lv->evs.nmissing)
		vw_warn("this kernel lacks %zu event%s, skipped:%s", lv->evs.nmissing,
			lv->evs.nmissing == 1 ? "" : "s", lv->evs.missing);
	if ((o->output && output_open(lv) < 0) || open_cpus(lv) < 0)
		goto fail;
	return lv;
fail:
	live_close(lv);
	return NULL;
}

const struct tin_live_meta *live_meta(const struct top_live *lv)
{
	return &lv->meta;
}

/* The reader has its copy: the texts (kallsyms is megabytes) can go. */
void live_meta_release(struct top_live *lv)
{
	for (int i = 0; i < lv->nfmt; i++)
		sbuf_free(&lv->fmt_text[i]);
	free(lv->fmt_text);
	free(lv->meta.formats);
	lv->fmt_text = NULL;
	lv->meta.formats = NULL;
	lv->nfmt = 0;
	sbuf_free(&lv->header_page);
	sbuf_free(&lv->kallsyms);
	sbuf_free(&lv->cmdlines);
	memset(&lv->meta, 0, sizeof(lv->meta));
}

/* Markers naming each VM's threads and command line (-p: those VMs). */
static void describe_vms(struct top_live *lv)
{
	struct pidset vms = { 0 };

	if (lv->o->pids.n) {
		for (size_t i = 0; i < lv->o->pids.n; i++)
			pidset_add(&vms, lv->o->pids.v[i]);
	} else {
		proc_find_kvm(&vms);
	}
	for (size_t i = 0; i < vms.n; i++)
		markers_describe_vm(&lv->mk, vms.v[i]);
	pidset_free(&vms);
}

void live_describe(struct top_live *lv, int pid)
{
	if (pid <= 0 || !lv->markers_open || lv->stopped || !pidset_add(&lv->tried, pid) ||
	    pidset_has(&lv->mk.vms, pid))
		return;
	markers_describe_vm(&lv->mk, pid);
}

int live_start(struct top_live *lv, uint64_t *start_ns)
{
	markers_init(&lv->mk, lv->inst);
	lv->markers_open = true;
	*start_ns = mono_ns();
	if (tracefs_trace_on(lv->inst) < 0) {
		vw_err("cannot start tracing: %s", strerror(errno));
		return -1;
	}
	describe_vms(lv);
	return 0;
}

/* Every page @cpu has, partial ones too, into @t and the output: how many, or -1. */
static int drain_cpu(struct top_live *lv, struct tin *t, unsigned int cpu)
{
	int pages = 0;

	for (;;) {
		ssize_t n = read(lv->fd[cpu], lv->page, lv->page_size);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return pages;
		if (n < 0) {
			vw_err("cannot read the ring buffer of CPU %u: %s", cpu, strerror(errno));
			return -1;
		}
		if (n == 0)
			return pages;
		if ((size_t)n < lv->page_size)
			memset(lv->page + n, 0, lv->page_size - (size_t)n);
		if (tin_push(t, (int)cpu, lv->page) < 0) {
			vw_err("CPU %u: %s", cpu, tin_error(t));
			return -1;
		}
		if (lv->w && tdat_write_page(lv->w, cpu, lv->page) < 0) {
			vw_err("cannot write %s: %s", lv->o->output, strerror(errno));
			return -1;
		}
		pages++;
	}
}

int live_drain(struct top_live *lv, struct tin *t, uint64_t *limit)
{
	uint64_t t0 = mono_ns();
	int pages = 0;

	for (unsigned int i = 0; i < lv->ncpus; i++) {
		int n = lv->fd[i] >= 0 ? drain_cpu(lv, t, i) : 0;

		if (n < 0)
			return -1;
		pages += n;
	}
	*limit = t0 > TOP_REORDER_NS ? t0 - TOP_REORDER_NS : 0;
	return pages;
}

int live_stop(struct top_live *lv, struct tin *t)
{
	int ret = 0;

	if (lv->stopped)
		return 0;
	lv->stopped = true;
	/* an event at the stop: the analysis then lasts at least until here */
	if (!lv->mk.failed)
		tracefs_printf(lv->inst, "vmwait: top stop\n");
	describe_vms(lv);
	tracefs_trace_off(lv->inst);
	for (unsigned int i = 0; i < lv->ncpus && !ret; i++)
		if (lv->fd[i] >= 0 && drain_cpu(lv, t, i) < 0)
			ret = -1;
	tin_live_end(t);
	return ret;
}

int live_fds(const struct top_live *lv, int *fds, int max)
{
	int n = 0;

	for (unsigned int i = 0; i < lv->ncpus && n < max; i++)
		if (lv->fd[i] >= 0)
			fds[n++] = lv->fd[i];
	return n;
}

/* Record's end of the output: per-CPU stats (losses) and saved_cmdlines; then close. */
static int output_close(struct top_live *lv)
{
	int ret = 0, err = 0;

	for (unsigned int i = 0; i < lv->ncpus && !err; i++) {
		char file[64], *text;
		int len;

		snprintf(file, sizeof(file), "per_cpu/cpu%u/stats", i);
		text = tracefs_instance_file_read(lv->inst, file, &len);
		if (text && tdat_add_cpustat(lv->w, i, text) < 0)
			err = errno;
		free(text);
	}
	if (!err && rec_write_cmdlines(lv->w) < 0)
		err = errno;
	if (tdat_close(lv->w) < 0 && !err)
		err = errno;
	lv->w = NULL;
	if (err) {
		vw_err("cannot write %s: %s", lv->o->output, strerror(err));
		ret = -1;
	}
	return ret;
}

int live_close(struct top_live *lv)
{
	int ret = 0;

	if (!lv)
		return 0;
	if (lv->inst)
		tracefs_trace_off(lv->inst);
	for (unsigned int i = 0; lv->fd && i < lv->ncpus; i++)
		if (lv->fd[i] >= 0)
			close(lv->fd[i]);
	if (lv->w && (lv->stopped ? output_close(lv) : (tdat_abort(lv->w), 0)) < 0)
		ret = -1;
	if (lv->markers_open)
		markers_fini(&lv->mk);
	pidset_free(&lv->tried);
	if (lv->inst)
		rec_instance_remove(lv->inst);
	rec_events_free(&lv->evs);
	live_meta_release(lv);
	free(lv->fd);
	free(lv->page);
	free(lv);
	return ret;
}
