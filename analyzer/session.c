/*
 * One analysis: the analyzer set up for a trace's metadata, fed records in
 * time order (from a file, or from live ring buffers), and finished into a
 * result. analyze, top and the guest join share it.
 */
#include <stdlib.h>
#include <string.h>

#include "analyzer.h"
#include "decode.h"
#include "pictures.h"
#include "util.h"

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

/* One decoded record (its CPU checked), in time order; @e's ts may be clamped. */
static inline void feed_ev(struct analyzer *a, struct vw_ev *e)
{
	if (!a->events)
		a->first_ts = e->ts;
	if (e->ts < a->last_ts) {
		if (!a->warned_backwards)
			vw_warn("timestamps go backwards on CPU %d at %llu; treated as %llu",
				e->cpu, (unsigned long long)e->ts, (unsigned long long)a->last_ts);
		a->warned_backwards = true;
		e->ts = a->last_ts;
	}
	a->last_ts = e->ts;
	a->events++;
	if (e->missed) {
		if (e->missed > 0)	/* saturating: a corrupt count must not wrap */
			a->lost_events = (uint64_t)e->missed > UINT64_MAX - a->lost_events ?
					 UINT64_MAX : a->lost_events + (uint64_t)e->missed;
		else
			a->lost_unknown++;
		on_loss(a, e->cpu, e->ts);
	}
	a->cpus[e->cpu].started = true;
	if (a->ex)
		explain_step(a, e);
	else
		handle(a, e);
}

void session_feed_ev(struct analyzer *a, struct vw_ev *e)
{
	feed_ev(a, e);
}

/* One record of the trace, in time order. */
void session_feed(struct analyzer *a, const struct tin_rec *rec)
{
	struct vw_ev e;

	if (rec->cpu < 0 || rec->cpu >= a->ncpus)
		return;
	decode(a, rec, &e);
	feed_ev(a, &e);
}

/*
 * Every record of @t in time order, on this thread: the loop of
 * session_feed() with it inline (a call less per record), each record read
 * in place into the decoded one. 0 at the end, -1 on a read error.
 */
int session_pass(struct analyzer *a, struct tin *t, struct progress *pg)
{
	struct vw_ev e;
	int ret;

	while ((ret = tin_next(t, &e.rec)) > 0) {
		if (e.cpu >= 0 && e.cpu < a->ncpus) {
			decode_ev(a, &e);
			feed_ev(a, &e);
		}
		progress_tick(pg, t, a->events);
	}
	return ret;
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

void session_free(struct analyzer *a)
{
	if (!a)
		return;
	explain_free(a->ex);
	threads_free(a);
	free(a->cpus);
	free(a->types);
	free(a->halted);
	free(a->links);
	free(a);
}

/* An analyzer for the trace @t (its formats, CPUs, GUEST options, kallsyms). */
struct analyzer *session_new(struct tin *t, const struct session_opts *o)
{
	struct analyzer *a = xcalloc(1, sizeof(*a));
	const struct tin_meta *m = tin_meta(t);

	a->info = m;
	a->tep = tin_tep(t);
	if (m->rejected)
		vw_warn("corrupt event formats, their events are ignored: %s", m->rejected);
	a->ncpus = m->cpus;
	for (int i = 0; i < m->buffers[m->selected].ncpus; i++)
		a->ncpus = MAX(a->ncpus, (int)m->buffers[m->selected].secs[i].cpu + 1);
	a->cpus = xcalloc(a->ncpus, sizeof(*a->cpus));
	for (int i = 0; i < a->ncpus; i++) {
		a->cpus[i].curr = -1;
		a->cpus[i].hrtimer_pid = -1;
	}
	a->from = o->from;
	a->to = o->to;
	guests_apply(a);
	if (o->ex_out)
		a->ex = explain_new(o->ex_out, a->tep, m->in_usecs,
				    m->selected ? m->buffers[m->selected].name : NULL,
				    o->ex_tids, o->ex_ntids, o->from, o->to);
	a->ovr = o->ovr;
	a->novr = o->novr;
	dispatch_init(a);
	hrtimer_init(a, t);
	return a;
}

/* The end of the records: close everything and fill @res (the caller sorts it). */
void session_end(struct analyzer *a, struct vw_result *res)
{
	const struct tin_meta *m = a->info;

	analyzer_finish(a, res);
	res->buffer = xstrdup(m->buffers[m->selected].name);
	res->start_ns = a->first_ts;
	res->end_ns = a->last_ts;
	res->has_window = a->from || a->to != UINT64_MAX;
	res->window_from = a->from;
	res->window_to = a->to == UINT64_MAX ? a->last_ts : a->to;
	res->events = a->events;
	res->lost_events = a->lost_events;
	res->lost_unknown = a->lost_unknown;
	res->cpus = a->ncpus;
	evidence_of(a, m, &res->evidence);
}

