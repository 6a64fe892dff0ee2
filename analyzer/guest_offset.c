/*
 * --guest-offset auto: the offset that maps guest time to host time, from
 * the traces themselves. A halt of vCPU n lies inside an idle period of
 * guest CPU n (from its switch to the idle task to its next event): the
 * guest goes idle just before the HLT exit and wakes a task just after the
 * entry that follows the wake.
 *
 * 1. Candidates: the longest waits paired with the guest idle periods long
 *    enough to hold them, each pair aligning the switch to idle with the
 *    HLT exit or the next guest event with the entry.
 * 2. Each candidate is scored by the waits it puts inside an idle period
 *    (within TOL); the best must hold nearly all, and no other far from it
 *    nearly as many.
 * 3. Under the best, every idle period bounds the offset: its first halt
 *    must start after the switch to idle, its last entry come before the
 *    next guest event. The offsets left form the window; the estimate is
 *    its middle, and an empty window refuses.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "guest.h"
#include "util.h"

#define TOL		100000		/* ns: the pairing tolerance of steps 1-2 */
#define TOP_WAITS	4
#define PER_WAIT	32

/* An idle period of a guest CPU: from its switch to idle to its next event. */
struct gidle {
	int64_t b, w;
};

struct lane_ev {
	const struct hlane *hl;
	int cpu;
	struct gidle *idle;
	size_t nidle;
};

struct est {
	struct lane_ev *l;
	int nl;
	const struct gtrace *g;
};

static void idle_periods(const struct gtrace *g, int cpu, struct lane_ev *le)
{
	const struct gev *ev = g->ev[cpu];
	size_t n = g->nev[cpu];

	le->idle = xcalloc(n ? n : 1, sizeof(*le->idle));
	for (size_t i = 0; i + 1 < n; i++)
		if (ev[i].kind == GE_BLOCK && ev[i + 1].kind != GE_LOSS)
			le->idle[le->nidle++] = (struct gidle){ (int64_t)ev[i].ts,
								(int64_t)ev[i + 1].ts };
}

static int64_t wait_entry(const struct hwait *w)
{
	return (int64_t)(w->entry ? w->entry : w->end);
}

/* Is wait @w inside the guest trace's span under offset @d? */
static bool in_span(const struct gtrace *g, const struct hwait *w, int64_t d)
{
	return (int64_t)w->start >= (int64_t)g->first + d &&
	       (int64_t)w->end <= (int64_t)g->last + d;
}

/* Waits held by an idle period under offset @d (within TOL), and waits in the span. */
static void score(const struct est *e, int64_t d, uint64_t *held, uint64_t *all)
{
	*held = *all = 0;
	for (int i = 0; i < e->nl; i++) {
		const struct lane_ev *le = &e->l[i];
		size_t j = 0;

		for (size_t k = 0; k < le->hl->n; k++) {
			const struct hwait *w = &le->hl->w[k];

			if (!in_span(e->g, w, d))
				continue;
			(*all)++;
			while (j + 1 < le->nidle && le->idle[j + 1].b + d < (int64_t)w->start + TOL)
				j++;
			if (le->nidle && le->idle[j].b + d < (int64_t)w->start + TOL &&
			    (int64_t)w->end <= le->idle[j].w + d + TOL)
				(*held)++;
		}
	}
}

static int cmp_i64(const void *x, const void *y)
{
	int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;

	return a < b ? -1 : a > b;
}

struct pick { const struct hwait *w; int lane; };

static int cmp_len(const void *x, const void *y)
{
	const struct pick *a = x, *b = y;
	uint64_t la = a->w->end - a->w->start, lb = b->w->end - b->w->start;

	return la > lb ? -1 : la < lb;
}

/* Step 1: offsets aligning the longest waits with idle periods that can hold them. */
static int64_t *candidates(const struct est *e, size_t *nc)
{
	struct pick top[TOP_WAITS];
	int64_t *c;
	int nt = 0;

	for (int i = 0; i < e->nl; i++)
		for (size_t k = 0; k < e->l[i].hl->n; k++) {
			struct pick p = { &e->l[i].hl->w[k], i };

			if (nt < TOP_WAITS) {
				top[nt++] = p;
			} else if (cmp_len(&p, &top[nt - 1]) < 0) {
				top[nt - 1] = p;
			} else {
				continue;
			}
			qsort(top, nt, sizeof(*top), cmp_len);
		}
	c = xcalloc(2 * TOP_WAITS * PER_WAIT + 1, sizeof(*c));
	*nc = 0;
	for (int t = 0; t < nt; t++) {
		const struct lane_ev *le = &e->l[top[t].lane];
		int64_t len = (int64_t)(top[t].w->end - top[t].w->start);
		int64_t best[PER_WAIT];
		size_t idx[PER_WAIT];
		int nb = 0;

		/* the PER_WAIT idle periods that hold it with the least to spare */
		for (size_t j = 0; j < le->nidle; j++) {
			int64_t spare = le->idle[j].w - le->idle[j].b - len;
			int at;

			if (spare < 0 || (nb == PER_WAIT && spare >= best[nb - 1]))
				continue;
			at = nb < PER_WAIT ? nb++ : nb - 1;
			for (; at > 0 && best[at - 1] > spare; at--) {
				best[at] = best[at - 1];
				idx[at] = idx[at - 1];
			}
			best[at] = spare;
			idx[at] = j;
		}
		for (int k = 0; k < nb; k++) {
			c[(*nc)++] = (int64_t)top[t].w->start - le->idle[idx[k]].b;
			c[(*nc)++] = wait_entry(top[t].w) - le->idle[idx[k]].w;
		}
	}
	qsort(c, *nc, sizeof(*c), cmp_i64);
	return c;
}

/* A bound on the offset: at least (LO) or at most (HI) @v, from vCPU @vcpu at host @at. */
struct bound {
	int64_t v;
	bool hi;
	int vcpu;
	uint64_t at;
};

struct bounds {
	struct bound *b;
	size_t n, cap, nhi;
};

static void add_bound(struct bounds *bs, int64_t v, bool hi, int vcpu, uint64_t at)
{
	if (bs->n == bs->cap) {
		bs->cap = bs->cap ? 2 * bs->cap : 256;
		bs->b = xrealloc(bs->b, bs->cap * sizeof(*bs->b));
	}
	bs->b[bs->n++] = (struct bound){ v, hi, vcpu, at };
	bs->nhi += hi;
}

/*
 * Step 3: under @d, each idle period bounds the offset: its switch to idle
 * came before its first halt (from above), its next event after the entry
 * that followed its last wait (from below).
 */
static void collect(const struct est *e, int64_t d, struct bounds *bs)
{
	for (int i = 0; i < e->nl; i++) {
		const struct lane_ev *le = &e->l[i];
		const struct hwait *prev = NULL;
		size_t j = 0, last = 0;

		for (size_t k = 0; k < le->hl->n; k++) {
			const struct hwait *w = &le->hl->w[k];

			if (!in_span(e->g, w, d))
				continue;
			while (j + 1 < le->nidle && le->idle[j + 1].b + d < (int64_t)w->start + TOL)
				j++;
			if (!le->nidle || le->idle[j].b + d >= (int64_t)w->start + TOL ||
			    (int64_t)w->end > le->idle[j].w + d + TOL)
				continue;
			if (!prev || j != last) {
				if (prev)
					add_bound(bs, wait_entry(prev) - le->idle[last].w, false,
						  le->hl->vcpu, (uint64_t)wait_entry(prev));
				add_bound(bs, (int64_t)w->start - le->idle[j].b - 1, true,
					  le->hl->vcpu, w->start);
				last = j;
			}
			prev = w;
		}
		if (prev)
			add_bound(bs, wait_entry(prev) - le->idle[last].w, false, le->hl->vcpu,
				  (uint64_t)wait_entry(prev));
	}
}

struct step {
	int64_t pos;
	int delta;
};

static int cmp_step(const void *x, const void *y)
{
	const struct step *a = x, *b = y;

	return a->pos < b->pos ? -1 : a->pos > b->pos;
}

/*
 * Step 4: the offsets that satisfy the most bounds, the range of them
 * nearest @d, into [*lo, *hi]; returns how many bounds they satisfy.
 */
static size_t stab(const struct bounds *bs, int64_t d, int64_t *lo, int64_t *hi)
{
	struct step *st = xcalloc(bs->n ? bs->n : 1, sizeof(*st));
	size_t best = 0, count = bs->nhi;
	int64_t dist = INT64_MAX;

	for (size_t i = 0; i < bs->n; i++)
		st[i] = bs->b[i].hi ? (struct step){ bs->b[i].v + 1, -1 } :
				      (struct step){ bs->b[i].v, +1 };
	qsort(st, bs->n, sizeof(*st), cmp_step);
	for (size_t i = 0; i < bs->n;) {
		int64_t pos = st[i].pos, to, dd;

		for (; i < bs->n && st[i].pos == pos; i++)
			count += st[i].delta;
		if (i == bs->n)
			break;		/* beyond every bound: unbounded above */
		to = st[i].pos - 1;
		dd = d < pos ? pos - d : d > to ? d - to : 0;
		if (count > best || (count == best && dd < dist)) {
			best = count;
			dist = dd;
			*lo = pos;
			*hi = to;
		}
	}
	free(st);
	return best;
}

/* The bound that the window [lo, hi] breaks, for the message. */
static const struct bound *broken(const struct bounds *bs, int64_t lo, int64_t hi)
{
	for (size_t i = 0; i < bs->n; i++)
		if (bs->b[i].hi ? bs->b[i].v < hi : bs->b[i].v > lo)
			return &bs->b[i];
	return NULL;
}

/* Steps 1 and 2: the best offset, refusing when none or two fit. */
static int best_offset(const struct est *e, int64_t *d)
{
	const char *path = e->g->spec->path, *vm = e->g->vm->name;
	uint64_t held, all, bh = 0, ba = 0, rh = 0, ra = 0;
	int64_t bd = 0, rd = 0;
	size_t nc;
	int64_t *c = candidates(e, &nc);

	for (size_t i = 0; i < nc; i++) {
		if (i && c[i] - c[i - 1] < TOL / 10)
			continue;
		score(e, c[i], &held, &all);
		if (held > bh || (held == bh && all < ba)) {
			if (bh && llabs(c[i] - bd) > 2 * TOL) {
				rh = bh, ra = ba, rd = bd;
			}
			bh = held, ba = all, bd = c[i];
		} else if (llabs(c[i] - bd) > 2 * TOL && held > rh) {
			rh = held, ra = all, rd = c[i];
		}
	}
	free(c);
	if (ba < 3) {
		vw_err("--guest-offset auto: too little evidence: VM %s has %llu waits inside guest "
		       "trace %s at best, 3 are needed; give --guest-offset NS", vm,
		       (unsigned long long)ba, path);
		return -1;
	}
	if (bh < 3 || bh * 3 < ba * 2) {
		vw_err("--guest-offset auto: no clock offset puts VM %s's halts inside the idle "
		       "periods of guest trace %s (at best %llu of %llu waits)", vm, path,
		       (unsigned long long)bh, (unsigned long long)ba);
		return -1;
	}
	if (rh * 10 >= bh * 9 && rh >= 3) {
		vw_err("--guest-offset auto: the evidence does not agree: offsets %lld ns (%llu of "
		       "%llu waits) and %lld ns (%llu of %llu) both fit guest trace %s; give "
		       "--guest-offset NS", (long long)bd, (unsigned long long)bh,
		       (unsigned long long)ba, (long long)rd, (unsigned long long)rh,
		       (unsigned long long)ra, path);
		return -1;
	}
	*d = bd;
	return 0;
}

int gtrace_auto_offset(struct guests *gs, struct gtrace *g)
{
	struct est e = { .g = g };
	struct bounds bs = { 0 };
	const struct bound *x;
	int64_t d, lo = 0, hi = 0;
	size_t held = 0;
	int ret = -1;

	e.l = xcalloc(g->vm->nr_vcpus ? g->vm->nr_vcpus : 1, sizeof(*e.l));
	for (int i = 0; i < g->vm->nr_vcpus; i++) {
		struct hlane *hl = guests_lane(gs, g->vm->vcpus[i], false);
		int cpu = g->vm->vcpus[i]->vcpu;

		if (!hl || cpu < 0 || cpu >= g->ncpus)
			continue;
		hl->vcpu = cpu;
		e.l[e.nl].hl = hl;
		e.l[e.nl].cpu = cpu;
		idle_periods(g, cpu, &e.l[e.nl++]);
	}
	if (best_offset(&e, &d))
		goto out;
	collect(&e, d, &bs);
	if (bs.nhi && bs.nhi < bs.n)
		held = stab(&bs, d, &lo, &hi);
	if (!held || held * 20 < bs.n * 19) {
		x = held ? broken(&bs, lo, hi) : NULL;
		vw_err("--guest-offset auto: the evidence does not agree: guest trace %s: the offsets "
		       "%lld to %lld ns fit %zu of %zu bounds from VM %s's halts and entries%s",
		       g->spec->path, (long long)lo, (long long)hi, held, bs.n, g->vm->name,
		       !x ? "" : x->hi ? " (one breaks it: a halt)" : " (one breaks it: an entry)");
		goto out;
	}
	g->lo = lo;
	g->hi = hi;
	g->offset = lo + (hi - lo) / 2;
	ret = 0;
out:
	for (int i = 0; i < e.nl; i++)
		free(e.l[i].idle);
	free(e.l);
	free(bs.b);
	return ret;
}
