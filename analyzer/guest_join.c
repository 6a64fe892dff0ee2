/*
 * The join: the host pass hands every wait of every vCPU to a sink (kept
 * per vCPU); after the pass each wait meets the scheduler events of its
 * guest CPU (README "Which guest program waited?", the rules):
 *
 *   ran last  the task of the last sched_switch on that CPU before the halt:
 *             its prev task and state when it switched to the idle task,
 *             else its next task, still running (R);
 *   woken     the first wakeup or switch to a task on that CPU from the wait's
 *             end to the start of the vCPU's next wait.
 *
 * A guest event inside the halt contradicts the host (the guest cannot run
 * while its vCPU is halted): that wait gets no guest task.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "guest.h"
#include "util.h"

static size_t ptr_hash(const void *p, size_t size)
{
	return (size_t)(((uintptr_t)p >> 4) * 0x9e3779b97f4a7c15ULL) & (size - 1);
}

static void lanes_rehash(struct guests *gs)
{
	free(gs->lhash);
	gs->lhsize = gs->lhsize ? 2 * gs->lhsize : 64;
	gs->lhash = xcalloc(gs->lhsize, sizeof(*gs->lhash));
	for (size_t i = 0; i < gs->nlanes; i++) {
		size_t h = ptr_hash(gs->lanes[i].lane, gs->lhsize);

		while (gs->lhash[h])
			h = (h + 1) & (gs->lhsize - 1);
		gs->lhash[h] = (int)i + 1;
	}
}

/* The waits of vCPU @lane (NULL if none and !@add). */
struct hlane *guests_lane(struct guests *gs, const struct vw_vcpu *lane, bool add)
{
	size_t h;

	if (!gs->lhsize)
		lanes_rehash(gs);
	for (h = ptr_hash(lane, gs->lhsize); gs->lhash[h]; h = (h + 1) & (gs->lhsize - 1))
		if (gs->lanes[gs->lhash[h] - 1].lane == lane)
			return &gs->lanes[gs->lhash[h] - 1];
	if (!add)
		return NULL;
	if (gs->nlanes == gs->cap_lanes) {
		gs->cap_lanes = gs->cap_lanes ? 2 * gs->cap_lanes : 16;
		gs->lanes = xrealloc(gs->lanes, gs->cap_lanes * sizeof(*gs->lanes));
	}
	memset(&gs->lanes[gs->nlanes], 0, sizeof(*gs->lanes));
	gs->lanes[gs->nlanes].lane = lane;
	gs->lanes[gs->nlanes].tid = lane->tid;
	gs->nlanes++;
	if (2 * gs->nlanes > gs->lhsize)
		lanes_rehash(gs);
	else
		gs->lhash[h] = (int)gs->nlanes;
	return &gs->lanes[gs->nlanes - 1];
}

static void on_wait(void *ctx, const struct vw_vcpu *lane, enum vw_reason r, uint64_t start,
		    uint64_t end, bool counted)
{
	struct guests *gs = ctx;
	struct hlane *hl;

	if (lane->key)
		return;		/* an L2 vCPU: the guest traces are L1's */
	hl = guests_lane(gs, lane, true);
	if (hl->n == hl->cap) {
		hl->cap = hl->cap ? 2 * hl->cap : 64;
		hl->w = xrealloc(hl->w, hl->cap * sizeof(*hl->w));
	}
	hl->w[hl->n++] = (struct hwait){ .start = start, .end = end, .reason = (uint8_t)r,
					 .counted = counted };
}

/* A guest period starts at the vCPU's entry: the entry after its last wait (auto). */
static void on_period(void *ctx, const struct vw_vcpu *lane, enum vw_state s, uint64_t start,
		      uint64_t end)
{
	struct hlane *hl;

	(void)end;
	if (s != VS_GUEST || lane->key)
		return;
	hl = guests_lane(ctx, lane, false);
	if (hl && hl->n && !hl->w[hl->n - 1].entry && start >= hl->w[hl->n - 1].end)
		hl->w[hl->n - 1].entry = start;
}

void guests_sink_init(struct guests *gs)
{
	gs->sink = (struct vw_sink){ .ctx = gs, .wait_whole = on_wait, .period = on_period };
}

/* The first event at or after @ts. */
size_t gev_lower(const struct gev *ev, size_t n, uint64_t ts)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ev[mid].ts < ts)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Does the guest trace cover [s, e) (its records span it)? */
bool gtrace_covers(const struct gtrace *g, uint64_t s, uint64_t e)
{
	return s >= g->first && e <= g->last;
}

/* The join of wait @w of guest CPU @cpu, the next wait starting at @bound. */
static struct gjoin join_one(const struct gtrace *g, int cpu, const struct hwait *w,
			     uint64_t bound)
{
	struct gjoin j = { .blocked = -1, .woken = -1, .state = GS_NR, .status = GJ_UNKNOWN };
	const struct gev *ev = g->ev[cpu];
	size_t n = g->nev[cpu], i = gev_lower(ev, n, w->start);

	if (!gtrace_covers(g, w->start, w->end)) {
		j.status = GJ_OUTSIDE;
		return j;
	}
	if (i < n && ev[i].ts < w->end) {
		if (ev[i].kind != GE_LOSS)
			j.status = GJ_INCONSISTENT;
		return j;
	}
	for (size_t k = i; k-- > 0 && j.blocked < 0;) {
		if (ev[k].kind == GE_LOSS)
			break;
		if (ev[k].kind == GE_WAKE)
			continue;
		j.blocked = (int)ev[k].task;
		j.state = ev[k].kind == GE_BLOCK ? ev[k].state : GS_R;
		j.status = GJ_OK;
	}
	for (size_t k = i; k < n && ev[k].ts < bound && ev[k].kind != GE_LOSS; k++)
		if (ev[k].kind == GE_WAKE || ev[k].kind == GE_SWITCH) {
			j.woken = (int)ev[k].task;
			break;
		}
	return j;
}

/* Task @ti of @g in @vg, added on first use (cached in @map, 1 + index). */
static int res_task(struct vw_guest *vg, const struct gtrace *g, int *map, int ti)
{
	if (ti < 0)
		return res_guest_task(vg, -1, "<unknown>");
	if (!map[ti])
		map[ti] = 1 + res_guest_task(vg, g->tasks[ti].pid, g->tasks[ti].comm);
	return map[ti] - 1;
}

static int cmp_wait(const void *x, const void *y)
{
	const struct hwait *a = x, *b = y;

	return a->start < b->start ? -1 : a->start > b->start;
}

/* Every vCPU's waits in time order (they arrive nearly so). */
void guests_sort(struct guests *gs)
{
	for (size_t i = 0; i < gs->nlanes; i++)
		qsort(gs->lanes[i].w, gs->lanes[i].n, sizeof(*gs->lanes[i].w), cmp_wait);
}

/* Every wait of @hl (guest CPU @cpu) joined, into @vg. */
static void join_lane(struct vw_guest *vg, const struct gtrace *g, struct hlane *hl, int cpu,
		      int *map)
{
	free(hl->j);
	hl->j = xcalloc(hl->n ? hl->n : 1, sizeof(*hl->j));
	for (size_t k = 0; k < hl->n; k++) {
		const struct hwait *w = &hl->w[k];
		uint64_t bound = k + 1 < hl->n ? hl->w[k + 1].start : UINT64_MAX;
		struct gjoin j = { .blocked = -1, .woken = -1, .state = GS_NR };

		if (cpu >= 0 && cpu < g->ncpus)
			j = join_one(g, cpu, w, bound);
		hl->j[k] = j;
		if (!w->counted)
			continue;
		if (j.status == GJ_INCONSISTENT)
			vg->inconsistent++;
		res_guest_wait(vg, res_task(vg, g, map, j.blocked), j.state, w->reason,
			       w->end - w->start);
		if (j.woken >= 0)
			vg->tasks[res_task(vg, g, map, j.woken)].woken++;
	}
}

/* The waits of @g's VM (the vCPUs selected) joined into vm->guest. */
void gtrace_join(struct guests *gs, struct gtrace *g, const struct analyze_opts *o)
{
	struct vw_vm *vm = g->vm;
	struct vw_guest *vg = xcalloc(1, sizeof(*vg));
	int *map = xcalloc(g->ntasks ? g->ntasks : 1, sizeof(*map));

	vg->file = xstrdup(g->spec->path);
	vg->time_shift = g->time_shift;
	vg->offset_ns = g->offset;
	vg->offset_from = g->offset_from;
	vg->window_lo = g->lo;
	vg->window_hi = g->hi;
	g->show = xcalloc(g->ncpus, sizeof(*g->show));
	for (int i = 0; i < vm->nr_vcpus; i++) {
		struct hlane *hl = guests_lane(gs, vm->vcpus[i], false);
		int cpu = vm->vcpus[i]->vcpu;

		if (o && !sel_vcpu_matches(o, cpu))
			continue;
		if (cpu >= 0 && cpu < g->ncpus)
			g->show[cpu] = !o || sel_vm_matches(vm, o->vm);
		if (!hl)
			continue;
		hl->vcpu = cpu;
		hl->g = g;
		join_lane(vg, g, hl, cpu, map);
	}
	res_guest_finish(vg);
	vm->guest = vg;
	free(map);
}
