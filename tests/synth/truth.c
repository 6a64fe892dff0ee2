/*
 * Ground truth: follows the README's model ("The model") over the events the
 * simulator writes, with the wake reasons taken from the simulator (what
 * really woke the vCPU), and fills a struct vw_result.
 */
#include <stdlib.h>
#include <string.h>

#include "synth.h"
#include "util.h"

enum { S_UNKNOWN, S_RUNNABLE, S_SLEEPING, S_ONCPU };
enum { C_UNKNOWN, C_GUEST, C_GUEST_L2, C_HYP, C_VMM, C_HALTED, C_RUN };
enum { L2_IN, L2_L1, L2_IDLE };

#define MAX_PENDING	256
#define MAX_CREDITS	16

struct credit { int tid; char comm[32]; int kind; uint64_t ns; };

/* One vw_vcpu's open period and what must be committed with it. */
struct acc {
	struct vw_vcpu *res;
	int state;		/* -1: none yet */
	uint64_t start, end;
	uint64_t polled;
	struct credit cr[MAX_CREDITS];
	int nr_cr;
};

struct tl2 {
	struct acc acc;
	int mode;
	uint64_t idle_start;
	bool idle_open;
};

struct pseg { uint64_t from, to; int sched; int ctx; int l2mode; };

struct tthread {
	int tid, tgid, vcpu;
	char comm[32];
	bool seen;
	uint64_t first, at;
	int sched, ctx;
	bool had_ee;
	int last_cpu, wait_cpu;
	/* halt */
	bool halt_open, confirmed, blocked;
	uint64_t halt_start;
	struct tl2 *halt_l2;	/* L0 halted T in this L2 vCPU */
	/* tentative halt: switched out sleeping, never had kvm_entry/kvm_exit */
	bool tent, tent_woken;
	uint64_t tent_start, tent_wake;
	struct swake tent_why;
	struct tl2 *tent_l2;
	/* time whose state awaits a halt's confirmation (or its refutation) */
	struct pseg pend[MAX_PENDING];
	int nr_pend;
	/*
	 * The last wait, held from its wake to the end of its "after the wake"
	 * window (entry, exit, switch-out, userspace exit), when the analyzer
	 * classifies it: its reason may need the vector seen in the window,
	 * and rule 6 learns vectors in that order.
	 */
	bool post_open;
	struct swake pw;
	struct tl2 *pw_l2;
	uint64_t pw_ns;
	int pw_accept, pw_inj;	/* first accept for itself, first kvm_inj_virq: vector */
	/* exit */
	bool exit_open;
	uint32_t isa, code;
	uint64_t exit_ts;
	struct tl2 *exit_l2;
	/* nested */
	bool in_l2;
	struct tl2 *l2;
	/* preemption credit */
	bool crediting;
	uint64_t credit_from;
	struct acc acc;
};

struct tcpu {
	int curr;		/* -1 unknown */
	char comm[32];
};

/* Vectors a VM's waits classified by rules 2-5 (README, rule 6). */
struct tlearn {
	int tgid;
	int8_t reason[256];	/* reason + 1, 0 unknown */
};

struct struth {
	struct vw_result *res;
	const struct sfmt *fmt;
	struct tthread **thr;	/* indexed by tid */
	int nr_thr;
	struct tthread **list;	/* the same, in creation order */
	int nr_list;
	struct tcpu *cpus;
	int nr_cpus;
	struct tl2 **l2s;
	int nr_l2s;
	struct tlearn *learn;
	int nr_learn;
	bool debug;		/* VMWAIT_SYNTH_DEBUG: print each wait on stderr */
};

/* ---- periods ---- */

static void acc_commit(struct acc *a)
{
	if (a->state < 0 || !a->res)
		return;
	res_add_state(a->res, a->state, a->end - a->start);
	a->res->polled_ns += a->polled;
	for (int i = 0; i < a->nr_cr; i++)
		res_add_preempt(a->res, a->cr[i].tid, a->cr[i].comm, a->cr[i].kind, a->cr[i].ns);
	a->nr_cr = 0;
	a->polled = 0;
}

/* Account [from, to) in @state; a period closes when the state changes. */
static void acc_add(struct acc *a, int state, uint64_t from, uint64_t to, bool polled)
{
	if (to <= from)
		return;
	if (a->state != state || a->end != from) {
		acc_commit(a);
		a->state = state;
		a->start = from;
	}
	a->end = to;
	if (polled)
		a->polled += to - from;
}

/* A loss: the open period (since the last state change) becomes unknown. */
static void acc_lose(struct acc *a)
{
	if (a->state >= 0 && a->state != VS_UNKNOWN) {
		a->state = VS_UNKNOWN;
		a->polled = 0;
		a->nr_cr = 0;
	}
}

static void acc_credit(struct acc *a, int tid, const char *comm, int kind, uint64_t ns)
{
	if (!ns || !a->res)
		return;
	for (int i = 0; i < a->nr_cr; i++) {
		if (a->cr[i].tid == tid) {
			a->cr[i].ns += ns;
			return;
		}
	}
	if (a->nr_cr == MAX_CREDITS) {
		vw_err("synth: too many preemptors in one period");
		abort();
	}
	a->cr[a->nr_cr].tid = tid;
	snprintf(a->cr[a->nr_cr].comm, sizeof(a->cr[0].comm), "%s", comm);
	a->cr[a->nr_cr].kind = kind;
	a->cr[a->nr_cr].ns = ns;
	a->nr_cr++;
}

/* ---- threads ---- */

static struct tthread *thr_get(struct struth *t, int tid)
{
	if (tid <= 0)
		return NULL;
	if (tid >= t->nr_thr) {
		int n = MAX(tid + 1, t->nr_thr * 2);

		t->thr = xrealloc(t->thr, n * sizeof(*t->thr));
		memset(t->thr + t->nr_thr, 0, (n - t->nr_thr) * sizeof(*t->thr));
		t->nr_thr = n;
	}
	if (!t->thr[tid]) {
		struct tthread *th = xcalloc(1, sizeof(*th));

		th->tid = tid;
		th->tgid = -1;
		th->vcpu = -1;
		th->acc.state = -1;
		th->last_cpu = th->wait_cpu = -1;
		t->thr[tid] = th;
		t->list = xrealloc(t->list, (t->nr_list + 1) * sizeof(*t->list));
		t->list[t->nr_list++] = th;
	}
	return t->thr[tid];
}

struct struth *truth_new(struct vw_result *res, const struct sfmt *f)
{
	struct struth *t = xcalloc(1, sizeof(*t));

	t->res = res;
	t->fmt = f;
	t->debug = getenv("VMWAIT_SYNTH_DEBUG") != NULL;
	return t;
}

void truth_thread(struct struth *t, int tid, int tgid, int vcpu, const char *comm)
{
	struct tthread *th = thr_get(t, tid);

	th->tgid = tgid;
	th->vcpu = vcpu;
	snprintf(th->comm, sizeof(th->comm), "%s", comm);
}

static struct tcpu *cpu_get(struct struth *t, int cpu)
{
	if (cpu >= t->nr_cpus) {
		t->cpus = xrealloc(t->cpus, (cpu + 1) * sizeof(*t->cpus));
		for (int i = t->nr_cpus; i <= cpu; i++) {
			t->cpus[i].curr = -1;
			t->cpus[i].comm[0] = 0;
		}
		t->nr_cpus = cpu + 1;
	}
	return &t->cpus[cpu];
}

static bool is_vm_pid(struct struth *t, int pid)
{
	for (int i = 0; i < t->res->nr_vms; i++)
		if (t->res->vms[i]->pid == pid)
			return true;
	return false;
}

static int preempt_kind(struct struth *t, struct tthread *th, int tid)
{
	struct tthread *o = tid > 0 && tid < t->nr_thr ? t->thr[tid] : NULL;

	if (!o || o->tgid < 0)
		return PK_HOST;
	if (o->tgid == th->tgid)
		return PK_SAME_VM;
	return is_vm_pid(t, o->tgid) ? PK_OTHER_VM : PK_HOST;
}

/* ---- state ---- */

static int l1_state(int sched, int ctx)
{
	if (sched == S_RUNNABLE)
		return VS_PREEMPTED;
	switch (ctx) {
	case C_GUEST: return VS_GUEST;
	case C_GUEST_L2: return VS_GUEST_L2;
	case C_HYP: return VS_HYPERVISOR;
	case C_VMM: return VS_VMM;
	case C_RUN: return VS_RUNNING;
	case C_HALTED: return VS_IDLE;
	default: return VS_UNKNOWN;
	}
}

static int l2_state(int mode, int st)
{
	if (mode == L2_IDLE)
		return VS_IDLE;
	if (mode == L2_L1 && st == VS_GUEST)
		return VS_GUEST;
	return st;
}

/* Time of @th is held back: an unconfirmed HLT exit, or a tentative halt. */
static bool pending(const struct tthread *th)
{
	return (th->ctx == C_HALTED && !th->confirmed) || th->tent;
}

/* Account the time of @th up to @to in its current state. */
static void advance(struct tthread *th, uint64_t to)
{
	int st;

	if (!th->seen || to <= th->at)
		return;
	if (pending(th)) {
		struct pseg seg = { th->at, to, th->sched, th->ctx, th->l2 ? th->l2->mode : 0 };
		struct pseg *last = th->nr_pend ? &th->pend[th->nr_pend - 1] : NULL;

		if (last && last->to == seg.from && last->sched == seg.sched &&
		    last->ctx == seg.ctx && last->l2mode == seg.l2mode) {
			last->to = to;
		} else if (th->nr_pend == MAX_PENDING) {
			vw_err("synth: too many events in an unconfirmed halt");
			abort();
		} else {
			th->pend[th->nr_pend++] = seg;
		}
		th->at = to;
		return;
	}
	st = th->ctx == C_HALTED ? VS_IDLE : l1_state(th->sched, th->ctx);
	acc_add(&th->acc, st, th->at, to, st == VS_IDLE && th->sched == S_ONCPU);
	if (th->l2)
		acc_add(&th->l2->acc, l2_state(th->l2->mode, st), th->at, to, false);
	th->at = to;
}

/*
 * An unconfirmed halt turned out to be a halt, or the HLT fast path; or a
 * tentative halt was confirmed (kvm_vcpu_wakeup) or not: its time up to the
 * wake is idle, or stays in the state rule 3 gives.
 */
static void resolve(struct tthread *th, bool halt)
{
	for (int i = 0; i < th->nr_pend; i++) {
		struct pseg *s = &th->pend[i];
		int st;

		if (th->tent) {
			st = halt && s->to <= th->tent_wake ? VS_IDLE : l1_state(s->sched, s->ctx);
		} else {
			st = halt ? VS_IDLE : l1_state(s->sched, C_HYP);
			if (!halt && s->sched == S_RUNNABLE) {
				vw_err("synth: preemption inside an unconfirmed halt");
				abort();
			}
		}
		acc_add(&th->acc, st, s->from, s->to, !th->tent && halt && s->sched == S_ONCPU);
		if (th->l2)
			acc_add(&th->l2->acc, l2_state(s->l2mode, st), s->from, s->to, false);
	}
	th->nr_pend = 0;
	if (th->tent) {
		th->tent = th->tent_woken = false;
		return;
	}
	if (halt)
		th->confirmed = true;
	else
		th->halt_open = false;
}

static bool preempted_now(const struct tthread *th)
{
	return th->seen && th->ctx != C_HALTED && th->sched == S_RUNNABLE;
}

/* Credit [credit_from, ts) to the task on the CPU @th waits on. */
static void credit_flush(struct struth *t, struct tthread *th, uint64_t ts)
{
	const char *comm;
	struct tcpu *c;
	int kind;

	if (!th->crediting || ts <= th->credit_from)
		return;
	c = cpu_get(t, th->wait_cpu < 0 ? 0 : th->wait_cpu);
	kind = preempt_kind(t, th, c->curr);
	comm = c->curr < 0 ? "<unknown>" : c->comm;
	acc_credit(&th->acc, c->curr, comm, kind, ts - th->credit_from);
	if (th->l2 && th->l2->mode != L2_IDLE)
		acc_credit(&th->l2->acc, c->curr, comm, kind, ts - th->credit_from);
	th->credit_from = ts;
}

/* Call after a change of @th's components at @ts. */
static void credit_update(struct struth *t, struct tthread *th, uint64_t ts)
{
	bool now = preempted_now(th);

	if (th->crediting && !now) {
		credit_flush(t, th, ts);
		th->crediting = false;
	} else if (!th->crediting && now) {
		th->crediting = true;
		th->credit_from = ts;
	}
}

static struct vw_vcpu *vcpu_res(struct struth *t, struct tthread *th);

static void see(struct struth *t, struct tthread *th, uint64_t ts)
{
	if (th->seen)
		return;
	th->seen = true;
	th->first = ts;
	th->at = ts;
	vcpu_res(t, th);
}

/* ---- results ---- */

static struct vw_vm *vm_of(struct struth *t, const struct tthread *th)
{
	return res_vm(t->res, th->tgid);
}

static struct vw_vcpu *vcpu_res(struct struth *t, struct tthread *th)
{
	struct vw_vcpu *v;

	if (th->acc.res || th->vcpu < 0)
		return th->acc.res;
	v = res_vcpu_new(vm_of(t, th), th->vcpu, th->tid);
	snprintf(v->comm, sizeof(v->comm), "%s", th->comm);
	v->first_ns = th->first;
	th->acc.res = v;
	return v;
}

static void add_exit(struct struth *t, struct vw_vcpu *v, struct tthread *th, uint64_t ns)
{
	const char *name = sfmt_exit_name(t->fmt, th->isa, th->code);

	hist_add(&res_exit(v, th->isa == 1 ? 1 : 2, th->code, name)->hist, ns);
}

static void add_wait(struct vw_vcpu *v, const struct swake *w, uint64_t ns)
{
	if (!v || w->reason < 0)
		return;
	res_add_wait(v, w->reason, ns, w->src, w->gsi);
}

static int8_t *learned(struct struth *t, int tgid)
{
	for (int i = 0; i < t->nr_learn; i++)
		if (t->learn[i].tgid == tgid)
			return t->learn[i].reason;
	t->learn = xrealloc(t->learn, (t->nr_learn + 1) * sizeof(*t->learn));
	memset(&t->learn[t->nr_learn], 0, sizeof(*t->learn));
	t->learn[t->nr_learn].tgid = tgid;
	return t->learn[t->nr_learn++].reason;
}

/*
 * The README's rules 6-9 for a wake whose only evidence is @vec, the vector
 * seen after it (or -1): a vector classified earlier in the VM by rules
 * 2-5, the standard Linux vectors, a device, unknown.
 */
static struct swake derive(const int8_t *learn, int vec)
{
	if (vec < 0)
		return (struct swake){ WR_UNKNOWN, -1, -1, -1 };
	if (vec < 256 && learn[vec])
		return (struct swake){ learn[vec] - 1, -1, -1, vec };
	if (vec == 0xec || vec == 0xef)
		return (struct swake){ WR_TIMER, -1, -1, vec };
	if (vec >= 0xfb && vec <= 0xfd)
		return (struct swake){ WR_IPI, -1, -1, vec };
	return (struct swake){ WR_DEVICE, vec, -1, vec };
}

/*
 * The "after the wake" window of @th's last wait closes: the wait is
 * classified and counted (for T and the L2 vCPU it halted in); a reason
 * from rules 2-5 teaches the VM its vector.
 */
static void post_close(struct struth *t, struct tthread *th)
{
	struct swake w = th->pw;
	bool derived = w.reason == SW_DERIVE;
	int8_t *learn;

	if (!th->post_open)
		return;
	th->post_open = false;
	learn = learned(t, th->tgid);
	if (derived)
		w = derive(learn, th->pw_accept >= 0 ? th->pw_accept : th->pw_inj);
	else if (w.reason <= WR_NET && w.vec >= 0 && w.vec < 256)
		learn[w.vec] = (int8_t)(w.reason + 1);
	if (t->debug)
		fprintf(stderr, "synth: wait tid=%d ns=%llu %s%s\n", th->tid,
			(unsigned long long)th->pw_ns, vw_reason_names[w.reason],
			derived ? " (from the vector after the wake)" : "");
	add_wait(vcpu_res(t, th), &w, th->pw_ns);
	if (th->pw_l2)
		add_wait(th->pw_l2->acc.res, &w, th->pw_ns);
}

/* A halt of @th ended at its wake: one wait, for T and the L2 vCPU it halted in. */
static void halt_waited(struct struth *t, struct tthread *th, const struct swake *w,
			struct tl2 *l2, uint64_t ns)
{
	if (w->reason < 0 && w->reason != SW_DERIVE) {
		vw_err("synth: thread %d: a wait without a wake reason", th->tid);
		abort();
	}
	post_close(t, th);
	th->post_open = true;
	th->pw = *w;
	th->pw_l2 = l2;
	th->pw_ns = ns;
	th->pw_accept = th->pw_inj = -1;
}

/* kvm_vcpu_wakeup came next after the wake: the tentative halt was one. */
static void tent_confirm(struct struth *t, struct tthread *th)
{
	uint64_t ns = th->tent_wake - th->tent_start;
	struct swake why = th->tent_why;
	struct tl2 *l2 = th->tent_l2;

	resolve(th, true);
	halt_waited(t, th, &why, l2, ns);
}

static bool is_hlt(uint32_t isa, uint32_t code)
{
	return isa == 1 ? (code & 0xffff) == 12 : code == 0x78;
}

static char *hex(uint64_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "0x%llx", (unsigned long long)v);
	return xstrdup(buf);
}

static struct tl2 *l2_get(struct struth *t, struct tthread *th, uint64_t vmcs, uint64_t pgd,
			  bool has_pgd, uint64_t ts)
{
	char *key = hex(vmcs), *id = has_pgd ? hex(pgd) : xstrdup("unknown");
	struct vw_nested *n = res_nested(vm_of(t, th), id);
	struct vw_vcpu *v = res_nested_vcpu(n, key, th->vcpu, th->tid);
	struct tl2 *l2 = NULL;

	for (int i = 0; i < t->nr_l2s; i++)
		if (t->l2s[i]->acc.res == v)
			l2 = t->l2s[i];
	if (!l2) {
		l2 = xcalloc(1, sizeof(*l2));
		l2->acc.res = v;
		l2->acc.state = -1;
		snprintf(v->comm, sizeof(v->comm), "%s", th->comm);
		v->first_ns = ts;
		t->l2s = xrealloc(t->l2s, (t->nr_l2s + 1) * sizeof(*t->l2s));
		t->l2s[t->nr_l2s++] = l2;
	}
	free(key);
	free(id);
	return l2;
}

/* ---- events ---- */

static void on_kvm_exit(struct struth *t, struct tthread *th, const struct sinfo *e, uint64_t ts)
{
	post_close(t, th);
	th->had_ee = true;
	th->exit_open = true;
	th->isa = e->isa;
	th->code = e->code;
	th->exit_ts = ts;
	th->exit_l2 = th->in_l2 ? th->l2 : NULL;
	if (is_hlt(e->isa, e->code)) {
		th->ctx = C_HALTED;
		th->halt_open = true;
		th->confirmed = false;
		th->blocked = false;
		th->halt_start = ts;
		th->halt_l2 = th->exit_l2;
	} else {
		th->ctx = C_HYP;
	}
}

static void on_entry(struct struth *t, struct tthread *th, uint64_t ts)
{
	struct vw_vcpu *v = vcpu_res(t, th);

	if (th->halt_open && !th->confirmed)
		resolve(th, false);
	th->halt_open = false;
	post_close(t, th);
	if (th->exit_open) {
		if (v)
			add_exit(t, v, th, ts - th->exit_ts);
		if (th->exit_l2)
			add_exit(t, th->exit_l2->acc.res, th, ts - th->exit_ts);
		th->exit_open = false;
	}
	th->had_ee = true;
	th->ctx = th->in_l2 ? C_GUEST_L2 : C_GUEST;
}

static void on_vcpu_wakeup(struct struth *t, struct tthread *th, const struct sinfo *e,
			   uint64_t ts)
{
	if (th->halt_open) {
		if (!th->confirmed)
			resolve(th, true);
		if (!th->blocked)
			halt_waited(t, th, &e->wake, th->halt_l2, ts - th->halt_start);
		th->halt_open = false;
	}
	th->ctx = th->had_ee ? C_HYP : C_RUN;
}

static void on_nested_enter(struct struth *t, struct tthread *th, const struct sinfo *e,
			    uint64_t ts)
{
	bool has_pgd = e->pgd != UINT64_MAX;
	struct tl2 *l2 = l2_get(t, th, e->vmcs, e->pgd, has_pgd, ts);

	if (th->l2 && th->l2 != l2) {
		vw_err("synth: one L1 vCPU thread runs one L2 vCPU");
		abort();
	}
	if (l2->idle_open) {
		add_wait(l2->acc.res, &e->wake, ts - l2->idle_start);
		l2->idle_open = false;
	}
	th->l2 = l2;
	l2->mode = L2_IN;
	th->in_l2 = true;
}

static void on_nested_inject(struct tthread *th, const struct sinfo *e, uint64_t ts)
{
	/* the HLT was L2's, reflected to L1: no halt of T (README, Nested guests) */
	if (th->ctx == C_HALTED && !th->confirmed) {
		resolve(th, false);
		th->ctx = C_HYP;
	}
	th->in_l2 = false;
	if (!th->l2)
		return;
	if (is_hlt(e->isa, e->code)) {
		th->l2->mode = L2_IDLE;
		th->l2->idle_start = ts;
		th->l2->idle_open = true;
	} else {
		th->l2->mode = L2_L1;
	}
}

/* The KVM component of the README, for an event whose common_pid is @th. */
static void kvm_effect(struct struth *t, struct tthread *th, const struct sinfo *e, uint64_t ts)
{
	switch (e->kind) {
	case SK_ENTRY:
		on_entry(t, th, ts);
		return;
	case SK_EXIT:
		on_kvm_exit(t, th, e, ts);
		return;
	case SK_USEREXIT:
		th->ctx = C_VMM;
		post_close(t, th);
		return;
	case SK_VCPU_WAKEUP:
		on_vcpu_wakeup(t, th, e, ts);
		return;
	default:
		break;
	}
	if ((th->ctx == C_UNKNOWN || th->ctx == C_VMM) && !th->had_ee)
		th->ctx = C_RUN;
	if (e->kind == SK_NESTED_ENTER)
		on_nested_enter(t, th, e, ts);
	else if (e->kind == SK_NESTED_INJECT)
		on_nested_inject(th, e, ts);
}

static bool is_kvm(enum sev_kind k)
{
	return k != SK_OTHER && k != SK_SWITCH && k != SK_WAKING && k != SK_WAKEUP;
}

/* Ends a blocked halt at the first wake; the thread is then in the kernel. */
static void on_woken(struct struth *t, struct tthread *th, const struct sinfo *e, uint64_t ts)
{
	if (th->sched == S_SLEEPING || th->sched == S_UNKNOWN) {
		th->sched = S_RUNNABLE;
		th->wait_cpu = e->target_cpu;
		if (th->tent && !th->tent_woken) {
			th->tent_woken = true;
			th->tent_wake = ts;
			th->tent_why = e->wake;
		}
	}
	if (th->halt_open && th->confirmed && th->blocked) {
		halt_waited(t, th, &e->wake, th->halt_l2, ts - th->halt_start);
		th->halt_open = false;
		th->ctx = C_HYP;
	}
	th->last_cpu = e->target_cpu;
}

/*
 * A vCPU thread that never had kvm_entry/kvm_exit sleeps: a tentative halt
 * starts. An earlier one still waiting for its next kvm:* event ends
 * unconfirmed (how tests/synth/README.md reads "from each switch-out").
 */
static void tent_start(struct tthread *th, uint64_t ts)
{
	if (th->tent)
		resolve(th, false);
	if (th->vcpu < 0 || th->had_ee || th->ctx == C_HALTED)
		return;
	th->tent = true;
	th->tent_woken = false;
	th->tent_start = ts;
	th->tent_l2 = th->in_l2 ? th->l2 : NULL;
}

static void on_switch(struct struth *t, const struct sinfo *e, uint64_t ts)
{
	struct tthread *prev = thr_get(t, e->prev_pid), *next = thr_get(t, e->next_pid);
	struct tcpu *c = cpu_get(t, e->cpu);

	if (prev) {
		prev->sched = e->prev_runnable ? S_RUNNABLE : S_SLEEPING;
		prev->wait_cpu = e->cpu;
		prev->last_cpu = e->cpu;
		post_close(t, prev);
		if (!e->prev_runnable && prev->ctx == C_HALTED && prev->halt_open) {
			if (!prev->confirmed)
				resolve(prev, true);
			prev->blocked = true;
		}
		if (!e->prev_runnable)
			tent_start(prev, ts);
		credit_update(t, prev, ts);
	}
	if (next && next->tent && !next->tent_woken) {
		vw_err("synth: thread %d switched in with no waking since it slept", next->tid);
		abort();
	}
	if (next) {
		next->sched = S_ONCPU;
		next->last_cpu = e->cpu;
		credit_update(t, next, ts);
	}
	/* every other thread waiting on this CPU changes creditor here */
	for (int i = 0; i < t->nr_list; i++) {
		struct tthread *w = t->list[i];

		if (w->crediting && w->wait_cpu == e->cpu && w != prev && w != next)
			credit_flush(t, w, ts);
	}
	c->curr = e->next_pid;
	/* the idle task is one preemptor, "<idle>", whatever its CPU */
	snprintf(c->comm, sizeof(c->comm), "%s",
		 !e->next_pid ? "<idle>" : e->next_comm ? e->next_comm : "");
}

/*
 * Any record tells which task runs on its CPU: its common_pid (README,
 * Preemption). Settle the credit of the CPU's waiters when that changes.
 */
static void cpu_task_seen(struct struth *t, const struct sinfo *e, uint64_t ts)
{
	struct tcpu *c = cpu_get(t, e->cpu);
	struct tthread *th;

	if (e->pid < 0 || c->curr == e->pid)
		return;
	for (int i = 0; i < t->nr_list; i++) {
		struct tthread *w = t->list[i];

		if (w->crediting && w->wait_cpu == e->cpu)
			credit_flush(t, w, ts);
	}
	c->curr = e->pid;
	th = e->pid > 0 ? thr_get(t, e->pid) : NULL;
	snprintf(c->comm, sizeof(c->comm), "%s", !e->pid ? "<idle>" : th ? th->comm : "");
}

void truth_vm(struct struth *t, int pid, const char *name)
{
	struct vw_vm *vm = res_vm(t->res, pid);

	free(vm->name);
	vm->name = xstrdup(name);
}

void truth_event(struct struth *t, uint64_t ts, const struct sinfo *e)
{
	struct tthread *self = thr_get(t, e->pid), *w = NULL, *prev = NULL, *next = NULL;

	if (e->kind == SK_SWITCH) {
		prev = thr_get(t, e->prev_pid);
		next = thr_get(t, e->next_pid);
	} else if (e->kind == SK_WAKING || e->kind == SK_WAKEUP) {
		w = thr_get(t, e->wpid);
	}
	if (self)
		see(t, self, ts), advance(self, ts);
	if (prev)
		see(t, prev, ts), advance(prev, ts);
	if (next)
		see(t, next, ts), advance(next, ts);
	if (w)
		see(t, w, ts), advance(w, ts);

	cpu_task_seen(t, e, ts);
	if (e->kind == SK_SWITCH) {
		on_switch(t, e, ts);
		return;
	}
	if (self) {
		self->sched = S_ONCPU;
		self->last_cpu = e->cpu;
		if (self->tent && !self->tent_woken) {
			vw_err("synth: thread %d runs with no waking since it slept", self->tid);
			abort();
		}
		/* the next kvm:* event after the wake decides a tentative halt */
		if (self->tent && is_kvm(e->kind) && e->kind != SK_HALT_POLL) {
			if (e->kind == SK_VCPU_WAKEUP)
				tent_confirm(t, self);
			else
				resolve(self, false);
		}
		/* "after the wake": the first accept for itself, else the first injection */
		if (self->post_open && e->kind == SK_ACCEPT && e->apicid == self->vcpu &&
		    self->pw_accept < 0)
			self->pw_accept = e->vec;
		if (self->post_open && e->kind == SK_INJ_VIRQ && self->pw_inj < 0)
			self->pw_inj = e->vec;
		if (is_kvm(e->kind))
			kvm_effect(t, self, e, ts);
		credit_update(t, self, ts);
	}
	if (w) {
		on_woken(t, w, e, ts);
		credit_update(t, w, ts);
	}
}

bool truth_loss_ok(struct struth *t, int cpu)
{
	for (int i = 0; i < t->nr_list; i++) {
		struct tthread *th = t->list[i];

		if (!th->seen || th->last_cpu != cpu)
			continue;
		if ((th->l2 && th->l2->mode == L2_IDLE) || (th->tent && th->tent_woken) ||
		    th->post_open || (th->ctx == C_HALTED && !th->confirmed))
			return false;
	}
	return true;
}

void truth_lost(struct struth *t, uint64_t ts, int cpu, int64_t count)
{
	if (count > 0)
		t->res->lost_events += count;
	for (int i = 0; i < t->nr_list; i++) {
		struct tthread *th = t->list[i];

		if (!th->seen || th->last_cpu != cpu)
			continue;
		advance(th, ts);
		if (th->tent && !th->tent_woken)
			resolve(th, false);	/* asleep: the time since the last change */
		if (th->nr_pend || (th->l2 && th->l2->mode == L2_IDLE) || th->tent) {
			vw_err("synth: a loss inside an unconfirmed halt, a tentative halt "
			       "being decided or a halted L2 vCPU");
			abort();
		}
		post_close(t, th);
		credit_flush(t, th, ts);
		th->crediting = false;
		/* the open period since the last state change becomes unknown */
		acc_lose(&th->acc);
		if (th->l2) {
			/*
			 * The nested attribution is dropped: the L2 vCPU, whose
			 * states followed T's, has that time unknown too, and is
			 * not followed until its next kvm_nested_vmenter.
			 */
			if (t->debug)
				fprintf(stderr, "synth: loss drops the L2 vCPU of tid=%d\n",
					th->tid);
			acc_lose(&th->l2->acc);
			acc_commit(&th->l2->acc);
			th->l2->acc.state = -1;
			th->l2 = NULL;
		}
		th->sched = S_UNKNOWN;
		th->ctx = C_UNKNOWN;
		th->halt_open = false;
		th->exit_open = false;
		th->exit_l2 = th->halt_l2 = NULL;
		th->in_l2 = false;
	}
}

/* Per-thread end of trace: open halts count as idle, open exits are dropped. */
static void finish_thread(struct struth *t, struct tthread *th, uint64_t end)
{
	if (!th->seen)
		return;
	advance(th, end);
	post_close(t, th);
	if (th->tent)
		resolve(th, false);	/* no kvm_vcpu_wakeup came: no halt */
	else if (th->nr_pend)
		resolve(th, true);	/* an open halt counts as idle */
	credit_flush(t, th, end);
	if (th->vcpu >= 0 && vcpu_res(t, th))
		acc_commit(&th->acc);
}

void truth_finish(struct struth *t, uint64_t end)
{
	for (int i = 0; i < t->nr_list; i++)
		finish_thread(t, t->list[i], end);
	for (int i = 0; i < t->nr_l2s; i++)
		acc_commit(&t->l2s[i]->acc);
}

void truth_free(struct struth *t)
{
	for (int i = 0; i < t->nr_list; i++)
		free(t->list[i]);
	free(t->list);
	for (int i = 0; i < t->nr_l2s; i++)
		free(t->l2s[i]);
	free(t->learn);
	free(t->l2s);
	free(t->thr);
	free(t->cpus);
	free(t);
}
