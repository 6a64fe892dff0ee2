/* Per-thread state machine: sched and KVM components, periods, halts, preemption. */
#include <stdlib.h>
#include <string.h>

#include "analyzer.h"
#include "util.h"

#define HASH_MIN 1024

static unsigned int thash(int tid, unsigned int size)
{
	return ((unsigned int)tid * 2654435761u) & (size - 1);
}

struct thread *thread_find(struct analyzer *a, int tid)
{
	struct thread *t;

	if (!a->htab)
		return NULL;
	for (t = a->htab[thash(tid, a->hsize)]; t; t = t->hnext)
		if (t->tid == tid)
			return t;
	return NULL;
}

static void htab_grow(struct analyzer *a)
{
	unsigned int nsize = a->hsize ? a->hsize * 2 : HASH_MIN;
	struct thread **n = xcalloc(nsize, sizeof(*n));

	for (unsigned int i = 0; i < a->hsize; i++) {
		struct thread *t = a->htab[i], *next;

		for (; t; t = next) {
			unsigned int h = thash(t->tid, nsize);

			next = t->hnext;
			t->hnext = n[h];
			n[h] = t;
		}
	}
	free(a->htab);
	a->htab = n;
	a->hsize = nsize;
}

struct vm_info *vm_get(struct analyzer *a, int tgid)
{
	struct vm_info *vm;

	for (vm = a->vms; vm; vm = vm->next)
		if (vm->tgid == tgid)
			return vm;
	vm = xcalloc(1, sizeof(*vm));
	vm->tgid = tgid;
	vm->next = a->vms;
	a->vms = vm;
	return vm;
}

/* "CPU <n>/KVM" (QEMU's vCPU thread names) -> n, or -1. */
static int vcpu_id_from_name(const char *comm)
{
	char *end;
	long n;

	if (strncmp(comm, "CPU ", 4))
		return -1;
	n = strtol(comm + 4, &end, 10);
	if (end == comm + 4 || strcmp(end, "/KVM") || n < 0)
		return -1;
	return (int)n;
}

void thread_set_comm(struct analyzer *a, struct thread *t, const char *comm, uint64_t ts)
{
	int id;
	int pid;

	if (!comm || !*comm || comm[0] == '<' || !strncmp(t->comm, comm, sizeof(t->comm)))
		return;	/* nothing new: the common case, once per sched event */
	/* zero-padded, so that a record's comm[16] compares with one memcmp */
	memset(t->comm, 0, sizeof(t->comm));
	snprintf(t->comm, sizeof(t->comm), "%s", comm);
	id = vcpu_id_from_name(t->comm);
	if (id >= 0) {
		if (t->vcpu_id < 0)
			t->vcpu_id = id;
		vcpu_promote(a, t, ts);
	}
	if (t->tgid < 0 && (thread_is_vm_worker(t, "vhost-", &pid) ||
			    thread_is_vm_worker(t, "kvm-pit/", &pid)))
		t->tgid = pid;
}

/* A thread known by name or tgid only (markers, task_newtask): not yet seen. */
struct thread *thread_hint(struct analyzer *a, int tid)
{
	struct thread *t = thread_find(a, tid);
	unsigned int h;

	if (t)
		return t;
	if (a->nthreads >= a->hsize)
		htab_grow(a);
	t = xcalloc(1, sizeof(*t));
	t->tid = tid;
	t->tgid = -1;
	t->cpu = -1;
	t->vcpu_id = -1;
	t->wait_cpu = -1;
	t->halt_idx = -1;
	t->state = VS_UNKNOWN;
	t->sched = SCH_UNKNOWN;
	t->ctx = CTX_UNKNOWN;
	evidence_reset(&t->ev);
	h = thash(tid, a->hsize);
	t->hnext = a->htab[h];
	a->htab[h] = t;
	a->nthreads++;
	return t;
}

struct thread *thread_get(struct analyzer *a, int tid, uint64_t ts)
{
	struct thread *t = thread_hint(a, tid);

	if (t->seen)
		return t;
	t->seen = true;
	t->first_ns = ts;
	t->since = ts;
	if (!t->comm[0])
		thread_set_comm(a, t, tep_data_comm_from_pid(a->tep, tid), ts);
	else if (t->vcpu && t->res)
		t->res->first_ns = ts;
	return t;
}

/* Clip [start, end) to the analysis window. */
static uint64_t clip(struct analyzer *a, uint64_t start, uint64_t end)
{
	if (start < a->from)
		start = a->from;
	if (end > a->to)
		end = a->to;
	return end > start ? end - start : 0;
}

void period_add(struct analyzer *a, struct vw_vcpu *v, enum vw_state s,
		uint64_t start, uint64_t end)
{
	uint64_t d = clip(a, start, end);

	if (d)
		res_add_state(v, s, d);
}

static void credits_flush(struct thread *t);

static void commit(struct analyzer *a, struct thread *t, enum vw_state s,
		   uint64_t start, uint64_t end)
{
	if (s == VS_PREEMPTED)
		credits_flush(t);
	if (t->res)
		period_add(a, t->res, s, start, end);
	else
		t->pre_ns[s] += clip(a, start, end);
}

/* ---- preemption credit ---- */

/*
 * Credits of the open preempted period stay pending until the period is
 * committed, so that a loss turning it into "unknown" can drop them and the
 * credits of a vCPU always sum to its preempted time.
 */
void credit_to(struct credit **arr, int *nr, int tid, uint64_t ns)
{
	if (!ns)
		return;
	for (int i = 0; i < *nr; i++) {
		if ((*arr)[i].tid == tid) {
			(*arr)[i].ns += ns;
			return;
		}
	}
	*arr = xrealloc(*arr, (*nr + 1) * sizeof(**arr));
	(*arr)[*nr].tid = tid;
	(*arr)[*nr].ns = ns;
	(*nr)++;
}

static void credit(struct thread *t, int tid, uint64_t ns)
{
	credit_to(&t->pcred, &t->nr_pcred, tid, ns);
}

static void credits_flush(struct thread *t)
{
	for (int i = 0; i < t->nr_pcred; i++)
		credit_to(&t->credits, &t->nr_credits, t->pcred[i].tid, t->pcred[i].ns);
	t->nr_pcred = 0;
}

static void credit_span(struct analyzer *a, struct thread *t, uint64_t ts)
{
	int who = t->wait_cpu >= 0 ? a->cpus[t->wait_cpu].curr : -1;
	uint64_t ns = clip(a, t->credit_since, ts);

	credit(t, who, ns);
	l2_credit(t, who, ns);
	t->credit_since = ts;
}

static void preempt_start(struct analyzer *a, struct thread *t, uint64_t ts)
{
	struct cpu_state *c;

	if (!t->vcpu)
		return;
	t->wait_cpu = (t->cpu >= 0 && t->cpu < a->ncpus) ? t->cpu : -1;
	t->credit_since = ts;
	t->wprev = NULL;
	t->wnext = NULL;
	if (t->wait_cpu < 0)
		return;
	c = &a->cpus[t->wait_cpu];
	t->wnext = c->waiters;
	if (c->waiters)
		c->waiters->wprev = t;
	c->waiters = t;
}

static void preempt_unlink(struct analyzer *a, struct thread *t)
{
	if (t->wait_cpu >= 0) {
		struct cpu_state *c = &a->cpus[t->wait_cpu];

		if (t->wprev)
			t->wprev->wnext = t->wnext;
		else if (c->waiters == t)
			c->waiters = t->wnext;
		if (t->wnext)
			t->wnext->wprev = t->wprev;
	}
	t->wnext = t->wprev = NULL;
	t->wait_cpu = -1;
}

static void preempt_stop(struct analyzer *a, struct thread *t, uint64_t ts)
{
	if (!t->vcpu)
		return;
	credit_span(a, t, ts);
	preempt_unlink(a, t);
}

/* The task on @cpu changes to @next: settle the credit of its waiters. */
void cpu_switch_slow(struct analyzer *a, int cpu, int next, uint64_t ts)
{
	struct cpu_state *c = &a->cpus[cpu];

	for (struct thread *w = c->waiters; w; w = w->wnext)
		credit_span(a, w, ts);
	c->curr = next;
}

/* ---- state derivation ---- */

static enum vw_state state_eval(const struct thread *t)
{
	if (t->ctx == CTX_HALTED)
		return VS_IDLE;
	if (t->sched == SCH_RUNNABLE)
		return VS_PREEMPTED;
	switch (t->ctx) {
	case CTX_GUEST:		return VS_GUEST;
	case CTX_GUEST_L2:	return VS_GUEST_L2;
	case CTX_HYP:		return VS_HYPERVISOR;
	case CTX_VMM:		return VS_VMM;
	case CTX_RUN:		return VS_RUNNING;
	default:		return VS_UNKNOWN;
	}
}

/* Enter state @s at @ts without committing the open period (caller did). */
static void state_enter(struct analyzer *a, struct thread *t, enum vw_state s, uint64_t ts)
{
	if (s == VS_PREEMPTED && t->state != VS_PREEMPTED)
		preempt_start(a, t, ts);
	t->state = s;
	t->since = ts;
}

void state_update(struct analyzer *a, struct thread *t, uint64_t ts)
{
	enum vw_state s = state_eval(t);

	if (s == t->state) {
		l2_follow(a, t, ts);
		return;
	}
	if (t->state == VS_PREEMPTED)
		preempt_stop(a, t, ts);
	if (a->ex)
		explain_state(a, t, t->state, s);
	commit(a, t, t->state, t->since, ts);
	state_enter(a, t, s, ts);
	l2_follow(a, t, ts);
}

/* Known as a vCPU from now on: move what was counted before into its result. */
void vcpu_promote(struct analyzer *a, struct thread *t, uint64_t ts)
{
	uint64_t pre_preempt;

	if (t->vcpu)
		return;
	t->vcpu = true;
	t->res = xcalloc(1, sizeof(*t->res));
	t->res->vcpu = t->vcpu_id;
	t->res->tid = t->tid;
	t->res->first_ns = t->first_ns;
	for (int s = 0; s < VS_NR; s++)
		t->res->states_ns[s] += t->pre_ns[s];
	/* Preemption before we knew: credited to "unknown" so credits still sum up. */
	pre_preempt = t->pre_ns[VS_PREEMPTED];
	if (t->state == VS_PREEMPTED) {
		pre_preempt += clip(a, t->since, ts);
		preempt_start(a, t, ts);
	}
	credit_to(&t->credits, &t->nr_credits, -1, pre_preempt);
}

/* ---- halts ---- */

static void polled_add(struct analyzer *a, struct thread *t, uint64_t ts)
{
	t->polled += clip(a, t->on_since, ts);
	t->on_since = ts;
}

static void set_sched(struct analyzer *a, struct thread *t, enum sched_st s, uint64_t ts)
{
	if (t->sched == s)
		return;
	if (t->ctx == CTX_HALTED) {
		if (t->sched == SCH_ON)
			polled_add(a, t, ts);
		else if (s == SCH_ON)
			t->on_since = ts;
	}
	t->sched = s;
	state_update(a, t, ts);
}

static void halted_add(struct analyzer *a, struct thread *t)
{
	if (t->halt_idx >= 0)
		return;
	if (a->nhalted == a->halted_cap) {
		a->halted_cap = a->halted_cap ? a->halted_cap * 2 : 16;
		a->halted = xrealloc(a->halted, a->halted_cap * sizeof(*a->halted));
	}
	t->halt_idx = a->nhalted;
	a->halted[a->nhalted++] = t;
}

static void halted_del(struct analyzer *a, struct thread *t)
{
	int i = t->halt_idx;

	if (i < 0)
		return;
	a->halted[i] = a->halted[--a->nhalted];
	a->halted[i]->halt_idx = i;
	t->halt_idx = -1;
}

static void halt_begin(struct analyzer *a, struct thread *t, uint64_t ts)
{
	halted_add(a, t);
	t->ctx = CTX_HALTED;
	t->halt_start = ts;
	t->halt_confirmed = false;
	t->polled = 0;
	t->on_since = ts;
	evidence_reset(&t->ev);
}

/* The wake ends a confirmed halt at @ts: idle period, pending wait, ctx leaves halted. */
static void halt_wake(struct analyzer *a, struct thread *t, uint64_t ts)
{
	if (t->sched == SCH_ON)
		polled_add(a, t, ts);
	if (t->res)
		t->res->polled_ns += t->polled;
	t->pw.active = true;
	t->pw.ns = ts - t->halt_start;
	t->pw.end = ts;
	t->pw.ev = t->ev;
	t->pw.l2 = t->in_l2 ? t->cur_l2 : NULL;
	t->ctx = t->seen_entry ? CTX_HYP : CTX_RUN;
	halted_del(a, t);
}

/*
 * A tentative (light-mode) halt turned out not to be one: the held period is
 * committed in its own state, or, if the thread is still in that state with
 * no change since the wake, it simply goes on (one maximal period).
 */
static void tent_refute(struct analyzer *a, struct thread *t)
{
	if (t->tent && t->tent_woken) {
		if (t->state == t->tent_state && t->since == t->tent_wake)
			t->since = t->tent_since;
		else
			commit(a, t, t->tent_state, t->tent_since, t->tent_wake);
		l2_hold_refute(a, t);
	}
	t->tent = false;
	t->tent_woken = false;
}

static void tent_confirm(struct analyzer *a, struct thread *t)
{
	if (a->ex)
		explain_note(a, t, "kvm_vcpu_wakeup: the sleep since %llu.%06llu was a halt",
			     (unsigned long long)(t->tent_start / 1000000000ULL),
			     (unsigned long long)(t->tent_start % 1000000000ULL / 1000));
	commit(a, t, t->tent_state, t->tent_since, t->tent_start);
	commit(a, t, VS_IDLE, t->tent_start, t->tent_wake);
	t->pw.active = true;
	t->pw.ns = t->tent_wake - t->tent_start;
	t->pw.end = t->tent_wake;
	t->pw.ev = t->tent_ev;
	/* the L2 vCPU's held time splits too; the wait is its own only in L2 */
	t->pw.l2 = l2_hold_confirm(a, t);
	if (!t->in_l2)
		t->pw.l2 = NULL;
	t->tent = false;
	t->tent_woken = false;
}

/* Hold the open period of a tentatively halted thread at its wake. */
static void tent_hold(struct analyzer *a, struct thread *t, uint64_t ts, enum sched_st s)
{
	if (a->ex)
		explain_note(a, t, "woken; a halt if kvm_vcpu_wakeup comes next");
	t->tent_woken = true;
	t->tent_wake = ts;
	t->tent_since = t->since;
	t->tent_state = t->state;
	t->sched = s;
	state_enter(a, t, state_eval(t), ts);
	l2_hold(t, ts);
	/* state_enter leaves since = ts: the held period is committed later. */
}

/* ---- sched events ---- */

void seen_on_cpu_slow(struct analyzer *a, struct thread *t, int cpu, uint64_t ts)
{
	t->cpu = cpu;
	if (t->sched != SCH_ON) {
		if (t->tent && !t->tent_woken) {
			tent_hold(a, t, ts, SCH_ON);
			return;
		}
		set_sched(a, t, SCH_ON, ts);
	}
}

void sched_switch_out(struct analyzer *a, struct thread *t, int cpu, bool runnable, uint64_t ts)
{
	t->cpu = cpu;
	if (t->pw.active)
		wait_finalize(a, t);
	if (t->tent && !runnable)
		tent_refute(a, t);	/* a new sleep: the earlier one was no halt */
	if (t->ctx == CTX_HALTED && !runnable)
		t->halt_confirmed = true;
	if (!runnable && t->vcpu && !t->seen_entry && t->ctx != CTX_HALTED) {
		t->tent = true;
		t->tent_woken = false;
		t->tent_start = ts;
		evidence_reset(&t->tent_ev);
	}
	set_sched(a, t, runnable ? SCH_RUNNABLE : SCH_SLEEPING, ts);
}

void sched_switch_in(struct analyzer *a, struct thread *t, int cpu, uint64_t ts)
{
	t->cpu = cpu;
	if (t->tent && !t->tent_woken) {
		/* no waking was recorded: the switch-in is the earliest wake we know */
		tent_hold(a, t, ts, SCH_ON);
		return;
	}
	set_sched(a, t, SCH_ON, ts);
}

void sched_wake(struct analyzer *a, struct thread *t, int waker, int cpu, int target_cpu,
		uint64_t ts)
{
	if (target_cpu >= 0 && target_cpu < a->ncpus)
		t->cpu = target_cpu;	/* its last known CPU, even if nothing changes */
	if (t->sched == SCH_ON || t->sched == SCH_RUNNABLE)
		return;
	if (t->ctx == CTX_HALTED) {
		capture_waker(a, t, waker, cpu);
		t->halt_confirmed = true;
		halt_wake(a, t, ts);
		t->sched = SCH_RUNNABLE;
		state_update(a, t, ts);
		return;
	}
	if (t->tent && !t->tent_woken) {
		capture_waker(a, t, waker, cpu);
		tent_hold(a, t, ts, SCH_RUNNABLE);
		return;
	}
	set_sched(a, t, SCH_RUNNABLE, ts);
}

/* ---- kvm events on the vCPU thread ---- */

/* Common to every kvm:* event of @t: light-mode run context, tentative halts. */
void kvm_event(struct analyzer *a, struct thread *t, enum ev_kind k, uint64_t ts)
{
	if (t->tent && t->tent_woken && k != K_VCPU_WAKEUP && k != K_HALT_POLL)
		tent_refute(a, t);
	if (!t->vcpu || t->seen_entry)
		return;
	if (k == K_KVM_ENTRY || k == K_KVM_EXIT || k == K_USER_EXIT || k == K_VCPU_WAKEUP)
		return;
	if (t->ctx == CTX_UNKNOWN || t->ctx == CTX_VMM) {
		t->ctx = CTX_RUN;
		state_update(a, t, ts);
	}
}

static void exit_close(struct analyzer *a, struct thread *t, uint64_t ts)
{
	struct vw_exit *e;

	if (!t->exit_open)
		return;
	t->exit_open = false;
	if (!t->res || ts < a->from || ts > a->to)
		return;
	e = res_exit_find(t->res, t->exit_isa, t->exit_code);
	if (!e)
		e = res_exit(t->res, t->exit_isa, t->exit_code,
			     exit_name(a, t->exit_isa, t->exit_code));
	hist_add(&e->hist, ts - t->exit_start);
}

/* An unconfirmed halt that was no halt: its time so far is hypervisor time. */
void halt_cancel(struct analyzer *a, struct thread *t)
{
	t->state = VS_HYPERVISOR;
	t->ctx = CTX_HYP;
	halted_del(a, t);
	l2_relabel(t, VS_IDLE, VS_HYPERVISOR);
}

void on_kvm_entry(struct analyzer *a, struct thread *t, uint64_t ts)
{
	t->seen_entry = true;
	vcpu_promote(a, t, ts);
	if (t->pw.active)
		wait_finalize(a, t);
	if (t->ctx == CTX_HALTED) {
		if (t->halt_confirmed) {
			halt_wake(a, t, ts);	/* blocked, but its wake was not recorded */
			wait_finalize(a, t);
		} else {
			halt_cancel(a, t);	/* HLT fast path: no halt */
		}
	}
	exit_close(a, t, ts);
	l2_exit_close(a, t, ts);
	t->ctx = t->in_l2 ? CTX_GUEST_L2 : CTX_GUEST;
	state_update(a, t, ts);
}

static bool is_hlt(uint32_t isa, uint32_t code)
{
	return isa == 1 ? (code & 0xffff) == 12 : code == 0x78;
}

void on_kvm_exit(struct analyzer *a, struct thread *t, uint32_t isa, uint32_t code, uint64_t ts)
{
	t->seen_entry = true;
	vcpu_promote(a, t, ts);
	if (t->pw.active)
		wait_finalize(a, t);
	t->exit_open = true;
	t->exit_isa = isa;
	t->exit_code = code;
	t->exit_start = ts;
	if (t->in_l2)
		l2_exit_open(t, isa, code, ts);
	if (is_hlt(isa, code) && t->ctx != CTX_HALTED)
		halt_begin(a, t, ts);
	else if (t->ctx != CTX_HALTED)
		t->ctx = CTX_HYP;
	state_update(a, t, ts);
}

void on_user_exit(struct analyzer *a, struct thread *t, uint64_t ts)
{
	vcpu_promote(a, t, ts);
	if (t->pw.active)
		wait_finalize(a, t);
	if (t->ctx == CTX_HALTED) {
		/* a halt left for userspace with no wake recorded (a signal) */
		if (t->halt_confirmed) {
			halt_wake(a, t, ts);
			wait_finalize(a, t);
		} else {
			halt_cancel(a, t);
		}
	}
	t->ctx = CTX_VMM;
	state_update(a, t, ts);
}

void on_vcpu_wakeup(struct analyzer *a, struct thread *t, uint64_t ts)
{
	vcpu_promote(a, t, ts);
	if (t->tent && t->tent_woken) {
		tent_confirm(a, t);
	} else if (t->ctx == CTX_HALTED) {
		t->halt_confirmed = true;
		halt_wake(a, t, ts);
		state_update(a, t, ts);
		return;
	}
	t->ctx = t->seen_entry ? CTX_HYP : CTX_RUN;
	state_update(a, t, ts);
}

/* ---- losses and the end ---- */

static void thread_lose(struct analyzer *a, struct thread *t, uint64_t ts)
{
	if (t->pw.active)
		wait_finalize(a, t);
	tent_refute(a, t);
	if (t->state == VS_PREEMPTED)
		preempt_stop(a, t, ts);
	t->nr_pcred = 0;	/* that time becomes unknown */
	l2_drop(a, t, ts);
	halted_del(a, t);
	t->exit_open = false;
	t->in_l2 = false;
	t->sched = SCH_UNKNOWN;
	t->ctx = CTX_UNKNOWN;
	/* the open period, relabelled, goes on as the unknown period that follows */
	t->state = VS_UNKNOWN;
}

void on_loss(struct analyzer *a, int cpu, uint64_t ts)
{
	for (unsigned int i = 0; i < a->hsize; i++)
		for (struct thread *t = a->htab[i]; t; t = t->hnext)
			if (t->seen && t->cpu == cpu)
				thread_lose(a, t, ts);
	a->cpus[cpu].curr = -1;
	a->cpus[cpu].nent = 0;
	a->cpus[cpu].hrtimer_kind = 0;
	a->cpus[cpu].hrtimer_pid = -1;
}

static void thread_end(struct analyzer *a, struct thread *t, uint64_t ts)
{
	tent_refute(a, t);
	if (t->ctx == CTX_HALTED) {
		if (t->sched == SCH_ON)
			polled_add(a, t, ts);
		if (t->res)
			t->res->polled_ns += t->polled;
	}
	if (t->state == VS_PREEMPTED)
		preempt_stop(a, t, ts);
	commit(a, t, t->state, t->since, ts);
	t->since = ts;
	if (t->pw.active)
		wait_finalize(a, t);
}

enum vw_preempt_kind preempt_kind(struct analyzer *a, int tgid, int tid)
{
	struct thread *p = tid > 0 ? thread_find(a, tid) : NULL;

	if (!p || p->tgid < 0)
		return PK_HOST;
	if (p->tgid == tgid)
		return PK_SAME_VM;
	for (unsigned int i = 0; i < a->hsize; i++)
		for (struct thread *t = a->htab[i]; t; t = t->hnext)
			if (t->vcpu && t->tgid == p->tgid)
				return PK_OTHER_VM;
	return PK_HOST;
}

const char *preemptor_comm(struct analyzer *a, int tid)
{
	struct thread *p;

	if (tid == 0)
		return "<idle>";
	if (tid < 0)
		return "<unknown>";
	p = thread_find(a, tid);
	return p && p->comm[0] ? p->comm : tep_data_comm_from_pid(a->tep, tid);
}

static void vm_name(struct vw_vm *vm, struct analyzer *a)
{
	struct vm_info *vi = NULL;
	struct thread *t;
	const char *p;

	/* trace-cmd's GUEST option names the guest whose vCPUs it maps */
	for (unsigned int i = 0; i < a->hsize; i++)
		for (t = a->htab[i]; t; t = t->hnext)
			if (t->guest && t->tgid == vm->pid && t->tgid >= 0) {
				vm->name = xstrdup(a->info->guests[t->guest - 1].name);
				return;
			}

	for (struct vm_info *i = a->vms; i; i = i->next)
		if (i->tgid == vm->pid)
			vi = i;
	if (vi && vi->cmdline && (p = strstr(vi->cmdline, "-name "))) {
		char name[128];
		const char *g;
		size_t n;

		p += 6;
		g = strstr(p, "guest=");
		if (g && (size_t)(g - p) < strcspn(p, " "))
			p = g + 6;
		n = strcspn(p, " ,");
		snprintf(name, sizeof(name), "%.*s", (int)MIN(n, sizeof(name) - 1), p);
		vm->name = xstrdup(name);
		return;
	}
	t = vm->pid > 0 ? thread_find(a, vm->pid) : NULL;
	if (t && t->comm[0])
		vm->name = xstrdup(t->comm);
	else if (vm->pid > 0)
		vm->name = xstrdup(tep_data_comm_from_pid(a->tep, vm->pid));
	else
		vm->name = xstrdup("?");
}

/* The VM of a guest named by trace-cmd's GUEST option, whose VMM pid is unknown. */
static struct vw_vm *guest_vm(struct analyzer *a, struct vw_result *r, int g)
{
	const char *name = a->info->guests[g].name;
	struct vw_vm *vm;

	for (int i = 0; i < r->nr_vms; i++)
		if (r->vms[i]->pid == -1 && r->vms[i]->name && !strcmp(r->vms[i]->name, name))
			return r->vms[i];
	vm = xcalloc(1, sizeof(*vm));
	vm->pid = -1;
	vm->name = xstrdup(name);
	r->vms = xrealloc(r->vms, (r->nr_vms + 1) * sizeof(*r->vms));
	r->vms[r->nr_vms++] = vm;
	return vm;
}

/* Close every open period at the end and move the vCPUs into @r. */
void analyzer_finish(struct analyzer *a, struct vw_result *r)
{
	uint64_t end = a->last_ts;

	for (unsigned int i = 0; i < a->hsize; i++)
		for (struct thread *t = a->htab[i]; t; t = t->hnext)
			if (t->seen)
				thread_end(a, t, end);
	l2_finish(a, r, end);
	for (unsigned int i = 0; i < a->hsize; i++) {
		for (struct thread *t = a->htab[i]; t; t = t->hnext) {
			struct vw_vm *vm;
			struct vw_vcpu *v = t->res;

			if (!v || !t->seen) {
				res_vcpu_free(v);
				t->res = NULL;
				continue;
			}
			vm = t->tgid < 0 && t->guest ? guest_vm(a, r, t->guest - 1) : res_vm(r, t->tgid);
			vm->vcpus = xrealloc(vm->vcpus, (vm->nr_vcpus + 1) * sizeof(*vm->vcpus));
			vm->vcpus[vm->nr_vcpus++] = v;
			v->vcpu = t->vcpu_id;
			snprintf(v->comm, sizeof(v->comm), "%s", t->comm);
			for (int c = 0; c < t->nr_credits; c++)
				res_add_preempt(v, t->credits[c].tid,
						preemptor_comm(a, t->credits[c].tid),
						preempt_kind(a, t->tgid, t->credits[c].tid),
						t->credits[c].ns);
			t->res = NULL;
		}
	}
	for (int i = 0; i < r->nr_vms; i++)
		if (!r->vms[i]->name)
			vm_name(r->vms[i], a);
}
