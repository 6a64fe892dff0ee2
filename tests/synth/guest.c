/*
 * tests/synth: the guests' scheduler timelines (guest.h). The simulator
 * hands over every host record; the vCPU threads' kvm_entry/kvm_exit (and
 * nested entries) give, per vCPU, the intervals where its L1 guest runs.
 * The truth hands over its waits. At the end each guest CPU gets events
 * only inside those intervals: the task the next wait is for blocks just
 * before a HLT exit (or the CPU stays idle: the halt continues an idle
 * period), the task a wait's wake made runnable is woken and switched in
 * right after the next entry, and long intervals switch between tasks.
 */
#include <stdlib.h>
#include <string.h>

#include "guest.h"
#include "tdat.h"
#include "util.h"

enum { MK_ENTRY_L1, MK_ENTRY_L2, MK_EXIT, MK_EXIT_HLT };

struct smark {
	uint64_t ts;
	uint8_t kind;
};

/* A vCPU thread's kvm_entry/kvm_exit as simulated. */
struct sgthr {
	int tid, vm, id;
	struct smark *m;
	size_t n, cap;
	bool in_l2;
};

/* The truth's waits of one vCPU. */
struct sglane {
	const struct vw_vcpu *lane;
	struct swt *w;
	size_t n, cap;
};

struct sguest {
	const struct scn *s;
	const struct sfmt *f;
	struct sguest_opts o;
	struct sgthr *thr;
	int nthr;
	struct sglane *lanes;
	size_t nlanes, cap_lanes;
	struct sgvm *vms;
	int nvms;
	uint64_t rng;
	uint64_t last;		/* the last host record */
};

/* Guest tasks: the reason each usually waits for, and the state it blocks in. */
const struct sgtask sg_pool[] = {
	{ 812, "postgres", 2, WR_DISK }, { 813, "postgres", 2, WR_DISK },
	{ 901, "fio", 2, WR_DISK }, { 230, "jbd2/vda1-8", 2, WR_DISK },
	{ 1040, "nginx", 1, WR_NET }, { 1041, "sshd", 1, WR_NET },
	{ 655, "cron", 1, WR_TIMER }, { 1200, "sleep", 1, WR_TIMER },
	{ 1500, "java", 1, WR_IPI }, { 1501, "make worker", 1, WR_IPI },
	{ 77, "kworker/u8:2", 0x80, WR_DEVICE },
};
const int sg_npool = (int)ARRAY_SIZE(sg_pool);

struct sguest *sguest_new(const struct scn *s, const struct sfmt *f,
			  const struct sguest_opts *o)
{
	struct sguest *g = xcalloc(1, sizeof(*g));

	g->s = s;
	g->f = f;
	g->o = *o;
	g->rng = 0x6a09e667f3bcc908ULL ^ s->seed;
	g->thr = xcalloc(s->nr_vcpus ? s->nr_vcpus : 1, sizeof(*g->thr));
	for (int i = 0; i < s->nr_vcpus; i++) {
		for (int j = 0; j < i; j++)
			if (s->vcpus[j].tid == s->vcpus[i].tid) {
				vw_err("synth: --guest: vCPU thread %d is declared twice (a reused tid)",
				       s->vcpus[i].tid);
				sguest_free(g);
				return NULL;
			}
		g->thr[g->nthr++] = (struct sgthr){ .tid = s->vcpus[i].tid, .vm = s->vcpus[i].vm,
						    .id = s->vcpus[i].id };
	}
	g->nvms = s->nr_vms;
	g->vms = xcalloc(s->nr_vms ? s->nr_vms : 1, sizeof(*g->vms));
	for (int i = 0; i < s->nr_vms; i++) {
		struct sgvm *v = &g->vms[i];

		v->vm = &s->vms[i];
		v->idx = i;
		for (int k = 0; k < s->nr_vcpus; k++)
			if (s->vcpus[k].vm == i)
				v->ncpus = MAX(v->ncpus, s->vcpus[k].id + 1);
		v->ncpus = MAX(v->ncpus, 1);
		v->cpu = xcalloc(v->ncpus, sizeof(*v->cpu));
		v->vcpu_tid = xcalloc(v->ncpus, sizeof(*v->vcpu_tid));
		for (int k = 0; k < s->nr_vcpus; k++)
			if (s->vcpus[k].vm == i)
				v->vcpu_tid[s->vcpus[k].id] = s->vcpus[k].tid;
	}
	return g;
}

void sguest_free(struct sguest *g)
{
	if (!g)
		return;
	for (int i = 0; i < g->nthr; i++)
		free(g->thr[i].m);
	for (size_t i = 0; i < g->nlanes; i++)
		free(g->lanes[i].w);
	for (int i = 0; i < g->nvms; i++) {
		for (int c = 0; c < g->vms[i].ncpus; c++)
			free(g->vms[i].cpu[c].ev);
		free(g->vms[i].cpu);
		free(g->vms[i].vcpu_tid);
	}
	free(g->vms);
	free(g->lanes);
	free(g->thr);
	free(g);
}

int sguest_host_options(struct sguest *g, struct tdat_writer *w)
{
	uint64_t id = SG_HOST_ID(g->s->seed);
	int ret;

	if (!g->o.tracecmd)
		return 0;
	ret = tdat_add_option(w, 11, &id, 8);	/* TRACEID */
	for (int i = 0; i < g->nvms; i++)
		ret |= tdat_add_guest(w, g->vms[i].vm->name, SG_GUEST_ID(i),
				      (unsigned int)g->vms[i].ncpus, g->vms[i].vcpu_tid);
	return ret;
}

static struct sgthr *thr_of(struct sguest *g, int tid)
{
	for (int i = 0; i < g->nthr; i++)
		if (g->thr[i].tid == tid)
			return &g->thr[i];
	return NULL;
}

void sguest_record(struct sguest *g, uint64_t ts, const struct srec *r)
{
	struct sinfo si;
	struct sgthr *t;
	int kind;

	g->last = ts;
	sinfo_decode(r, &si);
	if (si.kind != SK_ENTRY && si.kind != SK_EXIT && si.kind != SK_NESTED_ENTER &&
	    si.kind != SK_NESTED_INJECT)
		return;
	t = thr_of(g, si.pid);
	if (!t)
		return;
	if (si.kind == SK_NESTED_ENTER || si.kind == SK_NESTED_INJECT) {
		t->in_l2 = si.kind == SK_NESTED_ENTER;
		return;
	}
	if (si.kind == SK_ENTRY)
		kind = t->in_l2 ? MK_ENTRY_L2 : MK_ENTRY_L1;
	else
		kind = (si.isa == 2 ? si.code == 0x78 : si.code == 12) ? MK_EXIT_HLT : MK_EXIT;
	if (t->n == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 256;
		t->m = xrealloc(t->m, t->cap * sizeof(*t->m));
	}
	t->m[t->n++] = (struct smark){ ts, (uint8_t)kind };
}

void sguest_wait(void *ctx, const struct vw_vcpu *lane, uint64_t start, uint64_t end,
		 int reason)
{
	struct sguest *g = ctx;
	struct sglane *l = NULL;

	for (size_t i = 0; i < g->nlanes && !l; i++)
		if (g->lanes[i].lane == lane)
			l = &g->lanes[i];
	if (!l) {
		if (g->nlanes == g->cap_lanes) {
			g->cap_lanes = g->cap_lanes ? 2 * g->cap_lanes : 16;
			g->lanes = xrealloc(g->lanes, g->cap_lanes * sizeof(*g->lanes));
		}
		l = &g->lanes[g->nlanes++];
		memset(l, 0, sizeof(*l));
		l->lane = lane;
	}
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->w = xrealloc(l->w, l->cap * sizeof(*l->w));
	}
	l->w[l->n++] = (struct swt){ start, end, reason };
}

/* ---- one guest CPU's timeline ---- */

struct gen {
	struct sguest *g;
	struct sgcpu *c;
	const struct swt *w;	/* the waits of its vCPU */
	size_t nw;
	int cur;		/* the task on the CPU, -1 idle */
	int pending;		/* a task the last wait's wake makes runnable, -1 */
};

static int rnd(struct sguest *g, int n)
{
	return (int)(srand64(&g->rng) % (uint64_t)n);
}

/* A task that waits for @reason (any task for -1), now and then another. */
static int pick(struct sguest *g, int reason)
{
	int cand[16], n = 0;

	for (int i = 0; i < sg_npool; i++)
		if (sg_pool[i].reason == reason)
			cand[n++] = i;
	if (!n || rnd(g, 100) < 15)
		return rnd(g, sg_npool);
	return cand[rnd(g, n)];
}

/* The wait that starts at @ts (a HLT exit), or NULL. */
static const struct swt *wait_at(const struct gen *x, uint64_t ts)
{
	size_t lo = 0, hi = x->nw;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (x->w[mid].start < ts)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < x->nw && x->w[lo].start == ts ? &x->w[lo] : NULL;
}

static void push(struct sgcpu *c, const struct sgev *e)
{
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 256;
		c->ev = xrealloc(c->ev, c->cap * sizeof(*c->ev));
	}
	c->ev[c->n++] = *e;
}

/* Times for @k planned events inside (a, b), the last right before b if @hlt. */
static bool place(struct sguest *g, struct sgev *plan, int k, uint64_t a, uint64_t b, bool hlt)
{
	uint64_t len = b - a, dw = 200 + (uint64_t)rnd(g, 1300), db = 200 + (uint64_t)rnd(g, 1800);

	if (!k)
		return true;
	if (len > dw + db + 300 * (uint64_t)k) {
		for (int i = 0; i < k; i++)
			plan[i].ts = a + dw + 300 * (uint64_t)i;
		if (hlt)
			plan[k - 1].ts = b - db;
		return true;
	}
	if (len < (uint64_t)k + 1)
		return false;
	for (int i = 0; i < k; i++)
		plan[i].ts = a + len * (uint64_t)(i + 1) / (uint64_t)(k + 1);
	return true;
}

static void plan_switch(struct sgev *plan, int *k, int prev, int next, int state)
{
	plan[(*k)++] = (struct sgev){ .kind = SG_SWITCH, .prev = prev, .next = next,
				      .state = prev < 0 ? 0 : state };
}

static void plan_wake(struct sgev *plan, int *k, int task)
{
	plan[(*k)++] = (struct sgev){ .kind = SG_WAKE, .prev = -1, .next = task };
}

/* The guest runs on its CPU during (a, b); @hlt: the interval ends with a HLT exit. */
static void interval(struct gen *x, uint64_t a, uint64_t b, bool hlt)
{
	const struct swt *w = hlt ? wait_at(x, b) : NULL;
	struct sgev plan[8];
	int k = 0, cur = x->cur, t, z;

	if (x->pending >= 0) {
		plan_wake(plan, &k, x->pending);
		if (cur != x->pending)
			plan_switch(plan, &k, cur, x->pending, 1);
		cur = x->pending;
	}
	if (b - a >= 20000 && rnd(x->g, 100) < 30 && (z = rnd(x->g, sg_npool)) != cur) {
		plan_wake(plan, &k, z);
		plan_switch(plan, &k, cur, z, rnd(x->g, 4) ? 1 : 0);
		cur = z;
	}
	if (hlt) {
		t = pick(x->g, w ? w->reason : -1);
		if (cur >= 0 || rnd(x->g, 100) < 50) {
			if (cur != t) {
				plan_wake(plan, &k, t);
				plan_switch(plan, &k, cur, t, 1);
			}
			plan_switch(plan, &k, t, -1, sg_pool[MAX(t, 0)].state);
			cur = -1;
		}
	}
	if (!place(x->g, plan, k, a, b, hlt && k && plan[k - 1].next < 0))
		return;		/* no room: the guest did nothing visible there */
	for (int i = 0; i < k; i++)
		push(x->c, &plan[i]);
	x->cur = cur;
	x->pending = -1;
	if (w && rnd(x->g, 100) < 80)
		x->pending = rnd(x->g, 100) < 60 && k ? plan[k - 1].prev : rnd(x->g, sg_npool);
}

/* Guest CPU @c of VM @v: its vCPU thread's L1 intervals, in order. */
static void generate(struct sguest *g, struct sgcpu *c, const struct sgthr *t,
		     const struct sglane *l)
{
	struct gen x = { .g = g, .c = c, .w = l ? l->w : NULL, .nw = l ? l->n : 0, .cur = -1,
			 .pending = -1 };
	uint64_t a = 0;
	bool open = false;

	for (size_t i = 0; i < t->n; i++) {
		const struct smark *m = &t->m[i];

		if (m->kind == MK_ENTRY_L1) {
			a = m->ts;
			open = true;
		} else if (m->kind == MK_ENTRY_L2) {
			open = false;
		} else if (open) {
			interval(&x, a, m->ts, m->kind == MK_EXIT_HLT);
			open = false;
		}
	}
	if (open && g->last > a)
		interval(&x, a, g->last, false);
}

static const struct swt *lane_waits(const void *ctx, const struct vw_vcpu *lane, size_t *n)
{
	const struct sguest *g = ctx;

	for (size_t i = 0; i < g->nlanes; i++)
		if (g->lanes[i].lane == lane) {
			*n = g->lanes[i].n;
			return g->lanes[i].w;
		}
	*n = 0;
	return NULL;
}

static const struct sglane *lane_of_tid(const struct sguest *g, int tid)
{
	for (size_t i = 0; i < g->nlanes; i++)
		if (g->lanes[i].lane->tid == tid && !g->lanes[i].lane->key)
			return &g->lanes[i];
	return NULL;
}

/* The result's VM of scenario VM @v (by name: the GUEST option's, or -name guest=). */
static struct vw_vm *res_vm_of(struct vw_result *res, const struct svm *v)
{
	for (int i = 0; i < res->nr_vms; i++)
		if (res->vms[i]->name && !strcmp(res->vms[i]->name, v->name))
			return res->vms[i];
	return NULL;
}

int sguest_finish(struct sguest *g, struct vw_result *res)
{
	for (int i = 0; i < g->nvms; i++) {
		struct sgvm *v = &g->vms[i];
		struct vw_vm *vm = res_vm_of(res, v->vm);

		for (int c = 0; c < v->ncpus; c++) {
			const struct sgthr *t = v->vcpu_tid[c] ? thr_of(g, v->vcpu_tid[c]) : NULL;

			if (t)
				generate(g, &v->cpu[c], t, lane_of_tid(g, t->tid));
		}
		if (sgout_write(v, g->f, &g->o, SG_HOST_ID(g->s->seed)))
			return -1;
		if (!vm) {
			vw_err("synth: --guest: VM %s is not in the truth by that name", v->vm->name);
			return -1;
		}
		sgout_truth(v, &g->o, vm, g, lane_waits);
	}
	return 0;
}
