/*
 * The SVG timeline's sink: periods, waits and marks of each lane kept at
 * pixel width (svg_int.h says how), in constant time per callback.
 */
#include <stdlib.h>
#include <string.h>

#include "svg_int.h"
#include "util.h"

static struct svg_lane *lane_of(struct svg *s, const struct vw_vcpu *v)
{
	unsigned int h = (unsigned int)((uintptr_t)v >> 6) & (SVG_CACHE - 1);
	int i;
	struct svg_lane *l;

	if (s->cache[h] && s->lanes[s->cache_lane[h]].key == v)
		return &s->lanes[s->cache_lane[h]];
	i = lane_map_get(&s->map, v);
	if (i < 0) {
		if (s->nlanes == s->cap) {
			s->cap = s->cap ? 2 * s->cap : 16;
			s->lanes = xrealloc(s->lanes, s->cap * sizeof(*s->lanes));
		}
		l = &s->lanes[s->nlanes];
		memset(l, 0, sizeof(*l));
		l->key = v;
		l->shift = 10;
		i = s->nlanes++;
		lane_map_put(&s->map, v, i);
	}
	s->cache[h] = v;
	s->cache_lane[h] = i;
	return &s->lanes[i];
}

static void bucket_merge(struct svg_bucket *d, const struct svg_bucket *b)
{
	for (int c = 0; c < SC_NR; c++)
		d->ns[c] += b->ns[c];
	if (b->nipi && (!d->nipi || b->ipi_ts < d->ipi_ts)) {
		d->ipi_ts = b->ipi_ts;
		d->ipi_from = b->ipi_from;
	}
	d->nipi += b->nipi;
}

/* Add [start, end) of class @c to the buckets it overlaps (the lane covers it). */
static void buckets_add(struct svg_lane *l, int c, uint64_t start, uint64_t end)
{
	int64_t k = (int64_t)(start >> l->shift);

	while (start < end) {
		uint64_t edge = (uint64_t)(k + 1) << l->shift;
		uint64_t e = MIN(end, edge);

		l->b[k - l->base].ns[c] += e - start;
		start = e;
		k++;
	}
}

static void seg_demote(struct svg_lane *l)
{
	int n = 0;

	for (int i = 0; i < l->nseg; i++) {
		struct svg_seg *g = &l->seg[i];

		if (g->end - g->start < (1ULL << l->shift))
			buckets_add(l, g->cls, g->start, g->end);
		else
			l->seg[n++] = *g;
	}
	l->nseg = n;
}

/* Merge the buckets in pairs: twice as wide; segments now narrower go into them. */
void svg_lane_coarsen(struct svg_lane *l)
{
	int64_t nbase = l->base >> 1;

	for (int i = 0; i < l->n; i++) {
		int64_t d = ((l->base + i) >> 1) - nbase;
		struct svg_bucket tmp = l->b[i];

		if (d == i)
			continue;
		memset(&l->b[i], 0, sizeof(l->b[i]));
		bucket_merge(&l->b[d], &tmp);
	}
	if (l->n)
		l->n = (int)(((l->base + l->n - 1) >> 1) - nbase + 1);
	l->base = nbase;
	l->shift++;
	seg_demote(l);
}

/* Make the buckets cover [start, end), coarsening while more than SVG_MAXB are needed. */
static void cover(struct svg_lane *l, uint64_t start, uint64_t end)
{
	int64_t lo, hi, nlo, nhi, need, shift;

	lo = (int64_t)(start >> l->shift);
	hi = (int64_t)((end - 1) >> l->shift);
	if (lo >= l->base && hi < l->base + l->n)
		return;
	for (;;) {
		nlo = l->n ? MIN(lo, l->base) : lo;
		nhi = l->n ? MAX(hi, l->base + l->n - 1) : hi;
		need = nhi - nlo + 1;
		if (need <= SVG_MAXB)
			break;
		svg_lane_coarsen(l);
		lo = (int64_t)(start >> l->shift);
		hi = (int64_t)((end - 1) >> l->shift);
	}
	/* time goes forward: room for the next periods, while it costs no coarsening */
	if (nhi == hi)
		need = MIN(need + 64, SVG_MAXB);
	if (need > l->cap) {
		int cap = l->cap ? l->cap : 64;

		while (cap < need)
			cap *= 2;
		cap = MIN(cap, SVG_MAXB);
		l->b = xrealloc(l->b, cap * sizeof(*l->b));
		l->cap = cap;
	}
	shift = l->n ? l->base - nlo : 0;
	if (shift)
		memmove(l->b + shift, l->b, l->n * sizeof(*l->b));
	memset(l->b, 0, shift * sizeof(*l->b));
	memset(l->b + shift + l->n, 0, (need - shift - l->n) * sizeof(*l->b));
	l->base = nlo;
	l->n = (int)need;
}

static void seg_add(struct svg_lane *l, int c, uint64_t start, uint64_t end)
{
	struct svg_seg *g;

	if (l->nseg == l->segcap) {
		l->segcap = l->segcap ? 2 * l->segcap : 32;
		l->seg = xrealloc(l->seg, l->segcap * sizeof(*l->seg));
	}
	g = &l->seg[l->nseg++];
	g->start = start;
	g->end = end;
	g->cls = (uint8_t)c;
	g->from = NULL;
	g->vector = -1;
}

/* Unknown because of a loss or a gap: the unknown period holding one of the lane's marks. */
static bool lost(struct svg_lane *l, uint64_t start, uint64_t end)
{
	for (int i = 0; i < l->nmarks; i++) {
		if (l->marks[i] >= start && l->marks[i] <= end) {
			l->marks[i] = l->marks[--l->nmarks];
			return true;
		}
	}
	return false;
}

static void early_apply(struct svg_lane *l, uint64_t start, uint64_t end);

static void on_period(void *ctx, const struct vw_vcpu *v, enum vw_state st,
		      uint64_t start, uint64_t end)
{
	static const uint8_t cls[VS_NR] = {
		[VS_GUEST] = SC_GUEST, [VS_GUEST_L2] = SC_L2, [VS_HYPERVISOR] = SC_HYP,
		[VS_VMM] = SC_VMM, [VS_PREEMPTED] = SC_PREEMPTED, [VS_IDLE] = SC_IDLE,
		[VS_UNKNOWN] = SC_UNKNOWN, [VS_RUNNING] = SC_RUNNING,
	};
	struct svg_lane *l;
	int c;

	if (end <= start || (unsigned int)st >= VS_NR)
		return;
	l = lane_of(ctx, v);
	c = cls[st];
	if (c == SC_UNKNOWN && l->nmarks && lost(l, start, end))
		c = SC_LOST;
	cover(l, start, end);
	if (end - start >= (1ULL << l->shift))
		seg_add(l, c, start, end);
	else
		buckets_add(l, c, start, end);
	if (st == VS_IDLE) {
		l->idle_end = MAX(l->idle_end, end);
		if (l->nearly)
			early_apply(l, start, end);
	}
}

/* Move the idle time of [start, end) in the buckets to the wait's class. */
static void buckets_reason(struct svg_lane *l, int c, uint64_t start, uint64_t end)
{
	int64_t k = (int64_t)(start >> l->shift);

	while (start < end) {
		uint64_t edge = (uint64_t)(k + 1) << l->shift;
		uint64_t e = MIN(end, edge);
		struct svg_bucket *b = &l->b[k - l->base];
		uint64_t mv = MIN(e - start, b->ns[SC_IDLE]);

		b->ns[SC_IDLE] -= mv;
		b->ns[c] += mv;
		start = e;
		k++;
	}
}

/* Colour the idle time of [start, end) by the wait's class @c; note an IPI. */
static void wait_apply(struct svg_lane *l, int c, uint64_t start, uint64_t end,
		       const struct vw_vcpu *from, int vector)
{
	struct svg_bucket *b;

	for (int i = l->nseg - 1; i >= 0 && i >= l->nseg - 8; i--) {
		struct svg_seg *g = &l->seg[i];

		if (g->cls == SC_IDLE && g->start < end && start < g->end) {
			g->cls = (uint8_t)c;
			g->from = from;
			g->vector = (int16_t)vector;
			goto ipi;
		}
	}
	buckets_reason(l, c, start, end);
ipi:
	if (!from)
		return;
	b = &l->b[(int64_t)((end - 1) >> l->shift) - l->base];
	if (!b->nipi || end < b->ipi_ts) {
		b->ipi_ts = end;
		b->ipi_from = from;
	}
	b->nipi++;
}

/* The idle period [start, end) arrived: the waits that came before it. */
static void early_apply(struct svg_lane *l, uint64_t start, uint64_t end)
{
	for (int i = 0; i < l->nearly; i++) {
		struct svg_early *e = &l->early[i];

		if (e->start < end && start < e->end) {
			wait_apply(l, e->cls, e->start, e->end, e->from, e->vector);
			*e = l->early[--l->nearly];
			return;
		}
	}
}

/*
 * A wait ends the idle period it overlaps. The analyzer may count a wait
 * before it commits that period (a halt that ends at the next entry): such a
 * wait is held until the period comes.
 */
static void on_wait(void *ctx, const struct vw_vcpu *v, enum vw_reason r, uint64_t start,
		    uint64_t end, const struct vw_vcpu *from, int vector)
{
	struct svg_lane *l;
	int c = SC_WAIT + ((unsigned int)r < WR_NR ? (int)r : WR_UNKNOWN);

	if (end <= start)
		return;
	l = lane_of(ctx, v);
	cover(l, start, end);
	if (end > l->idle_end) {
		if (l->nearly == SVG_EARLY)
			memmove(l->early, l->early + 1, --l->nearly * sizeof(l->early[0]));
		l->early[l->nearly++] = (struct svg_early){ .start = start, .end = end,
			.from = from, .vector = (int16_t)vector, .cls = (uint8_t)c };
		return;
	}
	wait_apply(l, c, start, end, from, vector);
}

static void on_mark(void *ctx, const struct vw_vcpu *v, enum vw_mark m, uint64_t ts)
{
	struct svg_lane *l = lane_of(ctx, v);

	(void)m;
	if (l->nmarks == SVG_MARKS) {
		memmove(l->marks, l->marks + 1, (SVG_MARKS - 1) * sizeof(l->marks[0]));
		l->nmarks--;
	}
	l->marks[l->nmarks++] = ts;
}

void svg_sink_init(struct svg *s)
{
	s->sink.ctx = s;
	s->sink.period = on_period;
	s->sink.wait = on_wait;
	s->sink.mark = on_mark;
}

void svg_lane_free(struct svg_lane *l)
{
	free(l->b);
	free(l->seg);
}
