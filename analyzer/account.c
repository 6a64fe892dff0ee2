/*
 * Accounting: what the state machine decided, counted into the result —
 * periods (clipped to the window), preemption credits, exits (closed, open,
 * unpaired) and waits.
 */
#include <stdlib.h>
#include <string.h>

#include "analyzer.h"
#include "util.h"

/* The part of [start, end) inside the analysis window. */
uint64_t clip(const struct analyzer *a, uint64_t start, uint64_t end)
{
	if (start < a->from)
		start = a->from;
	if (end > a->to)
		end = a->to;
	return end > start ? end - start : 0;
}

static bool in_window(const struct analyzer *a, uint64_t ts)
{
	return ts >= a->from && ts <= a->to;
}

void period_add(struct analyzer *a, struct vw_vcpu *v, enum vw_state s,
		uint64_t start, uint64_t end)
{
	uint64_t d = clip(a, start, end);

	if (!d)
		return;
	res_add_state(v, s, d);
	for (int i = 0; i < a->nsinks; i++)
		if (a->sinks[i]->period)
			a->sinks[i]->period(a->sinks[i]->ctx, v, s, MAX(start, a->from),
					    MAX(start, a->from) + d);
}

/* A period of a thread not yet known as a vCPU, kept for the sinks (a few at most). */
static void pre_period(struct analyzer *a, struct thread *t, enum vw_state s,
		       uint64_t start, uint64_t end)
{
	uint64_t d = clip(a, start, end);

	if (!d || !a->nsinks || t->npre >= 16)
		return;
	if (!t->pre)
		t->pre = xcalloc(16, sizeof(*t->pre));
	t->pre[t->npre].start = MAX(start, a->from);
	t->pre[t->npre].end = t->pre[t->npre].start + d;
	t->pre[t->npre].state = (uint8_t)s;
	t->npre++;
}

/* @t became a vCPU: the sinks get the periods it had before. */
void sink_pre_periods(struct analyzer *a, struct thread *t)
{
	for (int p = 0; p < t->npre; p++)
		for (int i = 0; i < a->nsinks; i++)
			if (a->sinks[i]->period)
				a->sinks[i]->period(a->sinks[i]->ctx, t->res, t->pre[p].state,
						    t->pre[p].start, t->pre[p].end);
	free(t->pre);
	t->pre = NULL;
	t->npre = 0;
}

void sink_mark(struct analyzer *a, const struct vw_vcpu *v, enum vw_mark m, uint64_t ts)
{
	if (!v)
		return;
	for (int i = 0; i < a->nsinks; i++)
		if (a->sinks[i]->mark)
			a->sinks[i]->mark(a->sinks[i]->ctx, v, m, ts);
}

/* The earliest time a period may still be committed at (held by a tentative halt). */
uint64_t analyzer_watermark(const struct analyzer *a)
{
	uint64_t w = a->last_ts;

	for (struct thread *t = a->all; t; t = t->all_next)
		if (t->tent && t->tent_woken && t->tent_since < w)
			w = t->tent_since;
	return w;
}

/* One maximal period of @t: into its result, or kept until it is a vCPU. */
void commit(struct analyzer *a, struct thread *t, enum vw_state s, uint64_t start, uint64_t end)
{
	if (s == VS_PREEMPTED)
		credits_commit(a, t->res, &t->credits, &t->pcred, end);
	if (t->res) {
		period_add(a, t->res, s, start, end);
	} else {
		t->pre_ns[s] += clip(a, start, end);
		pre_period(a, t, s, start, end);
	}
}

void credit_add(struct credits *c, int tid, uint64_t ns)
{
	if (!ns)
		return;
	for (int i = 0; i < c->n; i++) {
		if (c->v[i].tid == tid) {
			c->v[i].ns += ns;
			return;
		}
	}
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 4;
		c->v = xrealloc(c->v, c->cap * sizeof(*c->v));
	}
	c->v[c->n].tid = tid;
	c->v[c->n].ns = ns;
	c->n++;
}

/*
 * Credits of an open preempted period stay pending until the period is
 * committed, so that a loss turning it into "unknown" can drop them and the
 * credits of a vCPU always sum to its preempted time.
 */
void credits_move(struct credits *dst, struct credits *src)
{
	for (int i = 0; i < src->n; i++)
		credit_add(dst, src->v[i].tid, src->v[i].ns);
	src->n = 0;
}

/* The open preempted period of @v was committed at @ts: its credits settle. */
void credits_commit(struct analyzer *a, const struct vw_vcpu *v, struct credits *dst,
		    struct credits *src, uint64_t ts)
{
	for (int i = 0; i < a->nsinks && v; i++)
		if (a->sinks[i]->credit)
			for (int j = 0; j < src->n; j++)
				a->sinks[i]->credit(a->sinks[i]->ctx, v, src->v[j].tid,
						    src->v[j].ns, ts);
	credits_move(dst, src);
}

void credits_free(struct credits *c)
{
	free(c->v);
	memset(c, 0, sizeof(*c));
}

void exit_begin(struct open_exit *x, uint32_t isa, uint32_t code, uint64_t ts)
{
	x->open = true;
	x->isa = isa;
	x->code = code;
	x->start = ts;
}

static const char *name_of(struct analyzer *a, const struct open_exit *x)
{
	return exit_name(a, x->isa, x->code);
}

static void sink_exit(struct analyzer *a, const struct vw_vcpu *v, const struct open_exit *x,
		      const char *name, uint64_t ts, uint64_t ns, bool open)
{
	for (int i = 0; i < a->nsinks; i++)
		if (a->sinks[i]->exit)
			a->sinks[i]->exit(a->sinks[i]->ctx, v, x->isa, x->code, name, ts, ns, open);
}

/* The exit @x of @v closes at @ts (kvm_entry): one duration for its reason. */
void exit_close(struct analyzer *a, struct vw_vcpu *v, struct open_exit *x, uint64_t ts)
{
	struct vw_exit *e;

	if (!x->open)
		return;
	x->open = false;
	if (!v || !in_window(a, ts))
		return;
	e = res_exit_find(v, x->isa, x->code);
	if (!e)
		e = res_exit(v, x->isa, x->code, name_of(a, x));
	hist_add(&e->hist, ts - x->start);
	if (a->nsinks)
		sink_exit(a, v, x, e->name, ts, ts - x->start, false);
}

/* The trace ends, or loses events, while @x is open: counted as open. */
void exit_abandon(struct analyzer *a, struct vw_vcpu *v, struct open_exit *x, uint64_t ts)
{
	if (!x->open)
		return;
	x->open = false;
	if (!v || !in_window(a, ts))
		return;
	res_exit_open(v, x->isa, x->code, name_of(a, x), ts - x->start);
	if (a->nsinks)
		sink_exit(a, v, x, res_exit_find(v, x->isa, x->code)->name, ts, ts - x->start,
			  true);
}

/* A gap: the kvm_entry closing @x is missing. Counted, with no time. */
void exit_unpaired(struct analyzer *a, struct vw_vcpu *v, struct open_exit *x, uint64_t ts)
{
	if (!x->open)
		return;
	x->open = false;
	if (!v || !in_window(a, ts))
		return;
	res_exit_unpaired(v, x->isa, x->code, name_of(a, x));
	if (a->nsinks)
		sink_exit(a, v, x, res_exit_find(v, x->isa, x->code)->name, ts, 0, true);
}

/* A wait of @v ending at @end, of reason @r; its source per the reason. */
void wait_add(struct analyzer *a, struct vw_vcpu *v, enum vw_reason r, uint64_t ns,
	      uint64_t end, int src, int gsi, int timer_src, int vec, const struct vw_vcpu *from)
{
	if (!v)
		return;
	for (int i = 0; i < a->nsinks; i++)
		if (a->sinks[i]->wait_whole)
			a->sinks[i]->wait_whole(a->sinks[i]->ctx, v, r, end - ns, end,
						in_window(a, end));
	if (!in_window(a, end))
		return;
	res_add_wait(v, r, ns, r == WR_DEVICE ? vec : src, gsi);
	if (r == WR_TIMER)
		res_add_timer_source(v, timer_src >= 0 ? timer_src : TS_VECTOR, vec, ns);
	for (int i = 0; i < a->nsinks; i++)
		if (a->sinks[i]->wait)
			a->sinks[i]->wait(a->sinks[i]->ctx, v, r, MAX(end - ns, a->from), end,
					  from, vec);
}
