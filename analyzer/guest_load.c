/*
 * A guest trace's scheduler events, read once into compact per-CPU arrays:
 * switches to the idle task (a task blocked), switches to a task, wakeups,
 * and losses. Timestamps are the file's (its TIME_SHIFT applied by the
 * reader) until gtrace_shift() maps them to host time.
 */
#include <stdlib.h>
#include <string.h>

#include <event-parse.h>

#include "guest.h"
#include "tin.h"
#include "util.h"

#define MAX_GUEST_CPUS	4096

enum { GK_NONE, GK_SWITCH, GK_WAKE };

/* Where the fields a kind needs lie in one event format. */
struct gfmt {
	uint8_t kind;
	struct tep_format_field *pid, *comm;		/* wake */
	struct tep_format_field *prev_pid, *prev_comm, *prev_state, *next_pid, *next_comm;
};

static bool sched_wanted(const char *system, const char *name)
{
	return !strcmp(system, "sched") &&
	       (!strcmp(name, "sched_switch") || !strcmp(name, "sched_waking") ||
		!strcmp(name, "sched_wakeup") || !strcmp(name, "sched_wakeup_new"));
}

static bool has_format(const struct tin_meta *m, const char *name)
{
	for (int i = 0; i < m->nformats; i++)
		if (!strcmp(m->formats[i].system, "sched") && !strcmp(m->formats[i].name, name))
			return true;
	return false;
}

/* Field @name of @ev if it lies within @min bytes of payload checks later. */
static struct tep_format_field *field(struct tep_event *ev, const char *name)
{
	struct tep_format_field *f = tep_find_field(ev, name);

	return f && !(f->flags & TEP_FIELD_IS_DYNAMIC) && f->size > 0 ? f : NULL;
}

static void fmt_init(struct tep_handle *tep, const struct tin_meta *m, struct gfmt **fmts,
		     int *nfmts)
{
	int max = 0;

	for (int i = 0; i < m->nformats; i++)
		max = MAX(max, m->formats[i].id + 1);
	*fmts = xcalloc(max ? max : 1, sizeof(**fmts));
	*nfmts = max;
	for (int i = 0; i < m->nformats; i++) {
		struct gfmt *gf = &(*fmts)[m->formats[i].id];
		struct tep_event *ev;

		if (!sched_wanted(m->formats[i].system, m->formats[i].name) ||
		    m->formats[i].id < 0 || !(ev = tep_find_event(tep, m->formats[i].id)))
			continue;
		if (!strcmp(m->formats[i].name, "sched_switch")) {
			gf->prev_pid = field(ev, "prev_pid");
			gf->prev_comm = field(ev, "prev_comm");
			gf->prev_state = field(ev, "prev_state");
			gf->next_pid = field(ev, "next_pid");
			gf->next_comm = field(ev, "next_comm");
			if (gf->prev_pid && gf->prev_comm && gf->prev_state && gf->next_pid &&
			    gf->next_comm)
				gf->kind = GK_SWITCH;
		} else {
			gf->pid = field(ev, "pid");
			gf->comm = field(ev, "comm");
			if (gf->pid && gf->comm)
				gf->kind = GK_WAKE;
		}
	}
}

static uint32_t task_hash(int pid, const char *comm)
{
	uint32_t h = (uint32_t)pid * 2654435761u;

	for (; *comm; comm++)
		h = (h ^ (uint8_t)*comm) * 16777619u;
	return h;
}

static void task_rehash(struct gtrace *g)
{
	free(g->hash);
	g->hsize = g->hsize ? g->hsize * 2 : 256;
	g->hash = xcalloc(g->hsize, sizeof(*g->hash));
	for (uint32_t i = 0; i < g->ntasks; i++) {
		uint32_t h = task_hash(g->tasks[i].pid, g->tasks[i].comm) & (g->hsize - 1);

		while (g->hash[h])
			h = (h + 1) & (g->hsize - 1);
		g->hash[h] = i + 1;
	}
}

/* The index of task (@pid, @comm), added on first sight. */
static uint32_t task_of(struct gtrace *g, int pid, const char *comm)
{
	uint32_t h;

	if (2 * (g->ntasks + 1) > g->hsize)
		task_rehash(g);
	h = task_hash(pid, comm) & (g->hsize - 1);
	for (; g->hash[h]; h = (h + 1) & (g->hsize - 1)) {
		struct gtask *t = &g->tasks[g->hash[h] - 1];

		if (t->pid == pid && !strcmp(t->comm, comm))
			return g->hash[h] - 1;
	}
	if (g->ntasks == g->cap_tasks) {
		g->cap_tasks = g->cap_tasks ? 2 * g->cap_tasks : 64;
		g->tasks = xrealloc(g->tasks, g->cap_tasks * sizeof(*g->tasks));
	}
	g->tasks[g->ntasks].pid = pid;
	snprintf(g->tasks[g->ntasks].comm, sizeof(g->tasks[0].comm), "%s", comm);
	g->hash[h] = g->ntasks + 1;
	return g->ntasks++;
}

static void push(struct gtrace *g, int cpu, uint64_t ts, uint32_t task, int kind, int state)
{
	if (g->nev[cpu] == g->cap[cpu]) {
		g->cap[cpu] = g->cap[cpu] ? 2 * g->cap[cpu] : 256;
		g->ev[cpu] = xrealloc(g->ev[cpu], g->cap[cpu] * sizeof(**g->ev));
	}
	/* time order per CPU, even in a corrupt file (as the host pass treats it) */
	if (g->nev[cpu] && ts < g->ev[cpu][g->nev[cpu] - 1].ts)
		ts = g->ev[cpu][g->nev[cpu] - 1].ts;
	g->ev[cpu][g->nev[cpu]++] = (struct gev){ .ts = ts, .task = task, .kind = (uint8_t)kind,
						  .state = (uint8_t)state };
}

static bool fits(const struct tep_format_field *f, uint32_t size)
{
	return f->offset >= 0 && (uint32_t)f->offset + (uint32_t)f->size <= size;
}

static void get_comm(const struct tep_format_field *f, const void *data, char *buf)
{
	size_t n = MIN((size_t)f->size, 16);

	memcpy(buf, (const char *)data + f->offset, n);
	buf[n] = '\0';
}

static uint64_t num(struct tep_handle *tep, const struct tep_format_field *f, const void *data)
{
	return tep_read_number(tep, (const char *)data + f->offset, f->size);
}

/* One record: the events it means on its CPU; false if it is too short. */
static bool record(struct gtrace *g, struct tep_handle *tep, const struct gfmt *gf,
		   const struct tin_rec *r)
{
	char comm[17];
	int pid;

	if (gf->kind == GK_WAKE) {
		if (!fits(gf->pid, r->size) || !fits(gf->comm, r->size))
			return false;
		pid = (int)num(tep, gf->pid, r->data);
		get_comm(gf->comm, r->data, comm);
		if (pid > 0)
			push(g, r->cpu, r->ts, task_of(g, pid, comm), GE_WAKE, 0);
		return true;
	}
	if (!fits(gf->prev_pid, r->size) || !fits(gf->prev_comm, r->size) ||
	    !fits(gf->prev_state, r->size) || !fits(gf->next_pid, r->size) ||
	    !fits(gf->next_comm, r->size))
		return false;
	g->nswitch++;
	pid = (int)num(tep, gf->next_pid, r->data);
	if (pid > 0) {
		get_comm(gf->next_comm, r->data, comm);
		push(g, r->cpu, r->ts, task_of(g, pid, comm), GE_SWITCH, 0);
		return true;
	}
	pid = (int)num(tep, gf->prev_pid, r->data);
	if (pid > 0) {
		get_comm(gf->prev_comm, r->data, comm);
		push(g, r->cpu, r->ts, task_of(g, pid, comm), GE_BLOCK,
		     vw_gstate_of(num(tep, gf->prev_state, r->data)));
	}
	return true;
}

static int cpus_of(const struct tin_meta *m)
{
	int n = m->cpus;

	for (int i = 0; i < m->buffers[m->selected].ncpus; i++)
		n = MAX(n, (int)m->buffers[m->selected].secs[i].cpu + 1);
	return n;
}

/* Every record of the open trace @t into @g. */
static int load_records(struct gtrace *g, struct tin *t, const struct gfmt *fmts, int nfmts)
{
	struct tep_handle *tep = tin_tep(t);
	const char *path = g->spec->path;
	struct tin_rec r;
	bool any = false;
	int ret;

	while ((ret = tin_next(t, &r)) > 0) {
		uint16_t id;

		if (r.cpu < 0 || r.cpu >= g->ncpus)
			continue;
		if (!any)
			g->first = r.ts;
		any = true;
		g->last = r.ts;
		if (r.missed)
			push(g, r.cpu, r.ts, 0, GE_LOSS, 0);
		if (r.size < 2)
			continue;
		id = (uint16_t)tep_read_number(tep, r.data, 2);
		if (id < nfmts && fmts[id].kind && !record(g, tep, &fmts[id], &r))
			push(g, r.cpu, r.ts, 0, GE_LOSS, 0);
	}
	if (ret < 0) {
		vw_err("%s", tin_error(t));
		return -1;
	}
	if (!g->nswitch) {
		vw_err("guest trace %s has no sched_switch events: nothing tells which guest task "
		       "ran", path);
		return -1;
	}
	return 0;
}

int gtrace_load(struct gtrace *g)
{
	struct tin_opts to = { .buffer = "", .want_format = sched_wanted };
	const struct tin_meta *m;
	struct gfmt *fmts = NULL;
	char err[512];
	struct tin *t;
	int nfmts, ret = -1;

	t = tin_open(g->spec->path, &to, err, sizeof(err));
	if (!t) {
		vw_err("guest trace: %s", err);
		return -1;
	}
	m = tin_meta(t);
	if (!has_format(m, "sched_switch")) {
		vw_err("guest trace %s does not record sched_switch: nothing tells which guest "
		       "task ran (record the guest with -e sched)", g->spec->path);
		goto out;
	}
	g->ncpus = cpus_of(m);
	if (g->ncpus <= 0 || g->ncpus > MAX_GUEST_CPUS) {
		vw_err("guest trace %s claims %d CPUs", g->spec->path, g->ncpus);
		goto out;
	}
	g->time_shift = m->time_shift;
	g->has_trace_id = m->has_trace_id;
	g->trace_id = m->trace_id;
	g->peer_trace_id = m->peer_trace_id;
	g->ev = xcalloc(g->ncpus, sizeof(*g->ev));
	g->nev = xcalloc(g->ncpus, sizeof(*g->nev));
	g->cap = xcalloc(g->ncpus, sizeof(*g->cap));
	fmt_init(tin_tep(t), m, &fmts, &nfmts);
	ret = load_records(g, t, fmts, nfmts);
	if (!ret && tin_corrupt(t, NULL))
		vw_warn("guest trace %s: %llu corrupt pages or chunks skipped, counted as lost "
			"events", g->spec->path, (unsigned long long)tin_corrupt(t, NULL));
out:
	free(fmts);
	tin_close(t);
	return ret;
}

/* Map @g's times to host time: + @off (clamped at 0). */
void gtrace_shift(struct gtrace *g, int64_t off)
{
	for (int c = 0; c < g->ncpus; c++)
		for (size_t i = 0; i < g->nev[c]; i++) {
			int64_t v = (int64_t)g->ev[c][i].ts + off;

			g->ev[c][i].ts = v < 0 ? 0 : (uint64_t)v;
		}
	g->first = (int64_t)g->first + off < 0 ? 0 : (uint64_t)((int64_t)g->first + off);
	g->last = (int64_t)g->last + off < 0 ? 0 : (uint64_t)((int64_t)g->last + off);
}

void gtrace_free(struct gtrace *g)
{
	for (int c = 0; c < g->ncpus && g->ev; c++)
		free(g->ev[c]);
	free(g->ev);
	free(g->nev);
	free(g->cap);
	free(g->tasks);
	free(g->hash);
	free(g->show);
}
