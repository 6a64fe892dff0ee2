/*
 * The KVM component of the state machine (README "States", "Halts and
 * wakes", "Gaps"): kvm events of a vCPU thread, halts and their wakes,
 * tentative halts of light recordings, and gaps where an event is missing.
 */
#include <stdlib.h>
#include <string.h>

#include "analyzer.h"
#include "state_int.h"
#include "util.h"

void polled_add(struct analyzer *a, struct thread *t, uint64_t ts)
{
	t->polled += clip(a, t->on_since, ts);
	t->on_since = ts;
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

void halted_del(struct analyzer *a, struct thread *t)
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
	t->halt_cpu = t->cpu;
	t->polled = 0;
	t->on_since = ts;
	t->woken = false;
	evidence_reset(&t->ev);
	evidence_reset(&t->ev_poll);
}

/* The wake ends a halt at @ts: idle period, pending wait, ctx leaves halted. */
void halt_wake(struct analyzer *a, struct thread *t, uint64_t ts)
{
	if (t->sched == SCH_ON)
		polled_add(a, t, ts);
	if (t->res)
		t->res->polled_ns += t->polled;
	t->pw.active = true;
	t->pw.ns = ts - t->halt_start;
	t->pw.end = ts;
	/* a sched_waking's context, or for any other wake the halt-poll evidence */
	t->pw.ev = t->woken ? t->ev : t->ev_poll;
	t->pw.l2 = t->in_l2 ? t->cur_l2 : NULL;
	t->ctx = t->seen_entry ? CTX_HYP : CTX_RUN;
	halted_del(a, t);
}

/* An unconfirmed halt that was no halt: its time so far is hypervisor time. */
void halt_cancel(struct analyzer *a, struct thread *t)
{
	t->state = VS_HYPERVISOR;
	t->ctx = CTX_HYP;
	halted_del(a, t);
	l2_relabel(t, VS_IDLE, VS_HYPERVISOR);
}

/*
 * A halt still open when T enters the guest (or leaves for userspace): a
 * blocked halt whose waking was not recorded ends there; one that never
 * blocked is the HLT fast path when kvm_vcpu_wakeup is recorded (no halt),
 * and an indistinguishable poll or fast path otherwise (a halt to here).
 * A fast path never leaves its CPU: where kvm_vcpu_wakeup is recorded but
 * no sched event, a halt that ends on another CPU lost its kvm_vcpu_wakeup
 * (a blocked halt) or was preempted: a gap, its time unknown.
 */
static void halt_leave(struct analyzer *a, struct thread *t, uint64_t ts)
{
	if (t->ctx != CTX_HALTED)
		return;
	if (!t->halt_confirmed && a->rec.vcpu_wakeup && !a->rec.sched_switch &&
	    t->cpu != t->halt_cpu) {
		gap(a, t, ts);
		return;
	}
	if (t->halt_confirmed || !a->rec.vcpu_wakeup) {
		halt_wake(a, t, ts);
		wait_finalize(a, t);
	} else {
		halt_cancel(a, t);
	}
}

/*
 * A tentative (light-mode) halt turned out not to be one: the held period is
 * committed in its own state, or, if the thread is still in that state with
 * no change since the wake, it simply goes on (one maximal period).
 */
void tent_refute(struct analyzer *a, struct thread *t)
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
void tent_hold(struct analyzer *a, struct thread *t, uint64_t ts, enum sched_st s)
{
	if (a->ex)
		explain_note(a, t, "woken; a halt if kvm_vcpu_wakeup comes next");
	t->tent_woken = true;
	t->tent_wake = ts;
	t->tent_since = t->since;
	t->tent_state = t->state;
	t->sched = s;
	state_enter(a, t, state_now(t), ts);
	l2_hold(t, ts);
	/* state_enter leaves since = ts: the held period is committed later. */
}

/* An event of @t is missing (README, Gaps): what was open becomes unknown. */
void gap(struct analyzer *a, struct thread *t, uint64_t ts)
{
	if (a->ex)
		explain_note(a, t, "gap: an event of this thread is missing; the time since "
			     "its last state change is unknown");
	if (t->pw.active)
		wait_finalize(a, t);
	tent_refute(a, t);
	exit_unpaired(a, t->res, &t->exit, ts);
	l2_drop(a, t, ts, true);
	relabel_unknown(a, t, ts);
	t->in_l2 = false;
	if (t->res)
		t->res->gaps++;
	sink_mark(a, t->res, MARK_GAP, ts);
}

static bool in_guest(const struct thread *t)
{
	return t->ctx == CTX_GUEST || t->ctx == CTX_GUEST_L2;
}

/*
 * Does record @e of @t's own show an event of @t missing (README, Gaps)? Found
 * before the record's other effects, so the open period is the one cut short.
 */
bool gap_due(const struct thread *t, const struct vw_ev *e)
{
	switch (e->kind) {
	case K_KVM_EXIT:
		return t->exit.open;
	case K_KVM_ENTRY:
	case K_USER_EXIT:
	case K_VCPU_WAKEUP:
	case K_INJ_VIRQ:
		return in_guest(t);
	case K_SWITCH:
		return (int)e->v[1] == t->tid && in_guest(t);
	default:
		return false;
	}
}

void gap_check(struct analyzer *a, struct thread *t, const struct vw_ev *e)
{
	if (gap_due(t, e))
		gap(a, t, e->ts);
}

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

void on_kvm_entry(struct analyzer *a, struct thread *t, uint64_t ts)
{
	t->seen_entry = true;
	vcpu_promote(a, t, ts);
	if (in_guest(t))
		gap(a, t, ts);		/* entry after entry: its kvm_exit is missing */
	if (t->pw.active)
		wait_finalize(a, t);
	halt_leave(a, t, ts);
	exit_close(a, t->res, &t->exit, ts);
	l2_exit_close(a, t, ts);
	t->ctx = t->in_l2 ? CTX_GUEST_L2 : CTX_GUEST;
	state_update(a, t, ts);
}

/*
 * A heuristic (README): the L1 guest period ending at this exit was guest
 * kernel time if the exit's rip is a kernel address of a 64-bit Linux guest
 * (upper half), user time if it is a lower-half one; else neither.
 */
static void guest_split(struct analyzer *a, struct thread *t, uint64_t rip, uint64_t ts)
{
	uint64_t d = clip(a, t->since, ts);

	if (!rip)
		return;
	if (rip >= 0xffff800000000000ULL)
		t->res->guest_kernel_ns += d;
	else if (rip < 0x0000800000000000ULL)
		t->res->guest_user_ns += d;
}

static bool is_hlt(uint32_t isa, uint32_t code)
{
	return isa == 1 ? (code & 0xffff) == 12 : code == 0x78;
}

void on_kvm_exit(struct analyzer *a, struct thread *t, uint32_t isa, uint32_t code, uint64_t rip,
		 uint64_t ts)
{
	t->seen_entry = true;
	vcpu_promote(a, t, ts);
	if (t->exit.open)
		gap(a, t, ts);		/* exit after exit: the kvm_entry is missing */
	if (t->pw.active)
		wait_finalize(a, t);
	if (t->state == VS_GUEST)
		guest_split(a, t, rip, ts);
	if (rip && ts >= a->from && ts <= a->to)
		res_add_rip(t->res, rip);
	exit_begin(&t->exit, isa, code, ts);
	if (t->in_l2)
		l2_exit_open(t, isa, code, ts);
	if (is_hlt(isa, code) && !t->hlt_rip)
		t->hlt_rip = rip;
	if (is_hlt(isa, code) && t->ctx != CTX_HALTED)
		halt_begin(a, t, ts);
	else if (t->ctx != CTX_HALTED)
		t->ctx = CTX_HYP;
	state_update(a, t, ts);
}

void on_user_exit(struct analyzer *a, struct thread *t, uint64_t ts)
{
	vcpu_promote(a, t, ts);
	if (in_guest(t))
		gap(a, t, ts);
	if (t->pw.active)
		wait_finalize(a, t);
	/* a halt left for userspace with no wake recorded (a signal) */
	halt_leave(a, t, ts);
	t->ctx = CTX_VMM;
	state_update(a, t, ts);
}

void on_vcpu_wakeup(struct analyzer *a, struct thread *t, uint64_t ts)
{
	vcpu_promote(a, t, ts);
	if (in_guest(t))
		gap(a, t, ts);
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

/* kvm_inj_virq: injected just before an entry, never while in the guest. */
void on_inj_virq(struct analyzer *a, struct thread *t, int vec, uint64_t ts)
{
	vcpu_promote(a, t, ts);
	if (in_guest(t))
		gap(a, t, ts);
	kvm_event(a, t, K_INJ_VIRQ, ts);
	evidence_post(t, vec, false);
}
