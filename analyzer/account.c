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

	if (d)
		res_add_state(v, s, d);
}

/* One maximal period of @t: into its result, or kept until it is a vCPU. */
void commit(struct analyzer *a, struct thread *t, enum vw_state s, uint64_t start, uint64_t end)
{
	if (s == VS_PREEMPTED)
		credits_move(&t->credits, &t->pcred);
	if (t->res)
		period_add(a, t->res, s, start, end);
	else
		t->pre_ns[s] += clip(a, start, end);
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
}

/* The trace ends, or loses events, while @x is open: counted as open. */
void exit_abandon(struct analyzer *a, struct vw_vcpu *v, struct open_exit *x, uint64_t ts)
{
	if (!x->open)
		return;
	x->open = false;
	if (v && in_window(a, ts))
		res_exit_open(v, x->isa, x->code, name_of(a, x), ts - x->start);
}

/* A gap: the kvm_entry closing @x is missing. Counted, with no time. */
void exit_unpaired(struct analyzer *a, struct vw_vcpu *v, struct open_exit *x, uint64_t ts)
{
	if (!x->open)
		return;
	x->open = false;
	if (v && in_window(a, ts))
		res_exit_unpaired(v, x->isa, x->code, name_of(a, x));
}

/* A wait of @v ending at @end, of reason @r; its source per the reason. */
void wait_add(struct analyzer *a, struct vw_vcpu *v, enum vw_reason r, uint64_t ns,
	      uint64_t end, int src, int gsi, int timer_src, int vec)
{
	if (!v || !in_window(a, end))
		return;
	res_add_wait(v, r, ns, r == WR_DEVICE ? vec : src, gsi);
	if (r == WR_TIMER)
		res_add_timer_source(v, timer_src >= 0 ? timer_src : TS_VECTOR, vec, ns);
}
