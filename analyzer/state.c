/*
 * The per-thread state machine (README "States"): the scheduler component,
 * state derivation and periods, preemption credit, sched events, losses and
 * the end of a thread. Halts, kvm events and gaps: halt.c.
 */
#include <stdlib.h>
#include <string.h>

#include "analyzer.h"
#include "state_int.h"
#include "util.h"

/* ---- preemption credit ---- */

static void credit_span(struct analyzer *a, struct thread *t, uint64_t ts)
{
	int who = t->wait_cpu >= 0 ? a->cpus[t->wait_cpu].curr : -1;
	uint64_t ns = clip(a, t->credit_since, ts);

	credit_add(&t->pcred, who, ns);
	l2_credit(t, who, ns);
	t->credit_since = ts;
}

static void preempt_unlink(struct analyzer *a, struct thread *t);

static void preempt_start(struct analyzer *a, struct thread *t, uint64_t ts)
{
	struct cpu_state *c;

	if (!t->vcpu)
		return;
	/* never in a list twice: a cycle would make cpu_switch_slow() loop forever */
	preempt_unlink(a, t);
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

void preempt_stop(struct analyzer *a, struct thread *t, uint64_t ts)
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
void state_enter(struct analyzer *a, struct thread *t, enum vw_state s, uint64_t ts)
{
	/* a preemption left without state_update() (a light-mode wake) ends here */
	if (s != VS_PREEMPTED && t->wait_cpu >= 0)
		preempt_stop(a, t, ts);
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

/* The state @t would be in now (for a tentative halt's held period). */
enum vw_state state_now(const struct thread *t)
{
	return state_eval(t);
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
	credit_add(&t->credits, -1, pre_preempt);
	if (a->nsinks) {
		sink_pre_periods(a, t);
		for (int i = 0; i < a->nsinks; i++)
			if (a->sinks[i]->credit && pre_preempt)
				a->sinks[i]->credit(a->sinks[i]->ctx, t->res, -1, pre_preempt, ts);
	}
}

/* ---- the scheduler component ---- */

void set_sched(struct analyzer *a, struct thread *t, enum sched_st s, uint64_t ts)
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
	t->last_ns = ts;
	if (t->ctx == CTX_GUEST || t->ctx == CTX_GUEST_L2)
		gap(a, t, ts);		/* switched out in the guest: kvm_exit is missing */
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
	if (t->exiting && !runnable)
		thread_end(a, t, ts);	/* its last switch-out: the thread is gone */
}

void sched_switch_in(struct analyzer *a, struct thread *t, int cpu, uint64_t ts)
{
	t->cpu = cpu;
	t->last_ns = ts;
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
	t->last_ns = ts;
	if (target_cpu >= 0 && target_cpu < a->ncpus)
		t->cpu = target_cpu;	/* its last known CPU, even if nothing changes */
	if (t->sched == SCH_ON || t->sched == SCH_RUNNABLE)
		return;
	if (t->ctx == CTX_HALTED) {
		capture_waker(a, t, waker, cpu);
		t->halt_confirmed = true;
		t->woken = true;
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

/*
 * sched_process_exit: the thread ends at its first switch-out that is not
 * a preemption (its last, in state Z or X), or here when the trace records
 * no sched_switch.
 */
void sched_exit(struct analyzer *a, struct thread *t, uint64_t ts)
{
	if (a->rec.sched_switch)
		t->exiting = true;
	else
		thread_end(a, t, ts);
}

/* ---- losses and the end ---- */

/* The open period of @t becomes unknown (a loss or a gap), and what it held is dropped. */
void relabel_unknown(struct analyzer *a, struct thread *t, uint64_t ts)
{
	if (t->state == VS_PREEMPTED)
		preempt_stop(a, t, ts);
	t->pcred.n = 0;		/* that time becomes unknown */
	halted_del(a, t);
	t->ctx = CTX_UNKNOWN;
	/* the open period, relabelled, goes on as the unknown period that follows */
	if (a->ex && t->state != VS_UNKNOWN)
		explain_state(a, t, t->state, VS_UNKNOWN);
	t->state = VS_UNKNOWN;
}

static void thread_lose(struct analyzer *a, struct thread *t, uint64_t ts)
{
	sink_mark(a, t->res, MARK_LOSS, ts);
	if (t->pw.active)
		wait_finalize(a, t);
	tent_refute(a, t);
	exit_abandon(a, t->res, &t->exit, ts);
	l2_drop(a, t, ts, false);
	relabel_unknown(a, t, ts);
	t->in_l2 = false;
	t->sched = SCH_UNKNOWN;
}

/*
 * Events of @cpu were lost before @ts. A loss at the CPU's first record
 * means its data starts late: any thread off a CPU may have run there.
 */
void on_loss(struct analyzer *a, int cpu, uint64_t ts)
{
	bool first = !a->cpus[cpu].started;

	for (unsigned int i = 0; i < a->hsize; i++)
		for (struct thread *t = a->htab[i]; t; t = t->hnext)
			if (t->seen && (t->cpu == cpu || (first && t->sched != SCH_ON)))
				thread_lose(a, t, ts);
	a->cpus[cpu].curr = -1;
	a->cpus[cpu].nent = 0;
	a->cpus[cpu].hrtimer_kind = 0;
	a->cpus[cpu].hrtimer_pid = -1;
}

/* @t's span ends at @ts: the end of the trace, or its exit (then it is retired). */
void thread_end(struct analyzer *a, struct thread *t, uint64_t ts)
{
	tent_refute(a, t);
	if (t->ctx == CTX_HALTED) {
		if (t->sched == SCH_ON)
			polled_add(a, t, ts);
		if (t->res)
			t->res->polled_ns += t->polled;
		halted_del(a, t);
	}
	if (t->state == VS_PREEMPTED)
		preempt_stop(a, t, ts);
	commit(a, t, t->state, t->since, ts);
	t->since = ts;
	if (t->pw.active)
		wait_finalize(a, t);
	exit_abandon(a, t->res, &t->exit, ts);
	t->end_ns = ts;
	if (t->exiting)
		thread_retire(a, t);
}
