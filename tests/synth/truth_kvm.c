/*
 * Ground truth, the KVM component (README "States", "Gaps", "Halts and
 * wakes", "Exits", "Nested guests"): kvm events of a thread, halts and
 * their ends, tentative halts of light recordings, exits, L2 vCPUs.
 */
#include <stdlib.h>
#include <string.h>

#include "truth_int.h"
#include "util.h"

bool is_hlt(uint32_t isa, uint32_t code)
{
	return isa == 1 ? (code & 0xffff) == 12 : code == 0x78;
}

static void exit_into(struct struth *t, struct vw_vcpu *v, struct tthread *th, uint64_t ts,
		      int how)
{
	const char *name = sfmt_exit_name(t->fmt, th->isa, th->code);
	uint32_t isa = th->isa == 1 ? 1 : 2;

	if (!v)
		return;
	if (how == EXIT_CLOSED)
		hist_add(&res_exit(v, isa, th->code, name)->hist, ts - th->exit_ts);
	else if (how == EXIT_OPEN)
		res_exit_open(v, isa, th->code, name, ts - th->exit_ts);
	else
		res_exit_unpaired(v, isa, th->code, name);
}

/* The open exit of @th ends at @ts: closed (kvm_entry), open (end, loss) or unpaired (gap). */
void exit_count(struct struth *t, struct tthread *th, uint64_t ts, int how)
{
	if (!th->exit_open)
		return;
	exit_into(t, th->acc.res, th, ts, how);
	if (th->exit_l2)
		exit_into(t, th->exit_l2->acc.res, th, ts, how);
	th->exit_open = false;
	th->exit_l2 = NULL;
}

/*
 * The nested attribution of @th is dropped (a loss or a gap): the L2 vCPU,
 * whose states followed T's, has that time unknown too (an L2 idle after a
 * reflected HLT included) and is not followed until its next
 * kvm_nested_vmenter.
 */
void l2_drop(struct struth *t, struct tthread *th, uint64_t ts, int how)
{
	struct tl2 *l2 = th->l2;

	(void)ts;
	(void)how;
	if (!l2)
		return;
	if (t->debug)
		fprintf(stderr, "synth: tid=%d drops its L2 vCPU\n", th->tid);
	if (l2->mode == L2_IDLE && l2->acc.state == VS_IDLE)
		l2->acc.state = VS_UNKNOWN;
	acc_lose(&l2->acc);
	acc_commit(&l2->acc);
	l2->acc.state = -1;
	l2->idle_open = false;
	th->l2 = NULL;
}

/* ---- tentative halts (threads that never had kvm_entry/kvm_exit) ---- */

/*
 * A vCPU thread that never had kvm_entry/kvm_exit sleeps: a tentative halt
 * starts. An earlier one still waiting for its next kvm:* event ends
 * unconfirmed (how tests/synth/README.md reads "from each switch-out").
 */
void tent_start(struct tthread *th, uint64_t ts)
{
	if (th->tent)
		resolve(th, false);
	if (!th->is_vcpu || th->had_ee || th->ctx == C_HALTED)
		return;
	th->tent = true;
	th->tent_woken = false;
	th->tent_start = ts;
	th->tent_l2 = th->in_l2 ? th->l2 : NULL;
}

void tent_refute(struct tthread *th)
{
	if (th->tent)
		resolve(th, false);
}

/* kvm_vcpu_wakeup came next after the wake: the tentative halt was one. */
static void tent_confirm(struct struth *t, struct tthread *th)
{
	uint64_t start = th->tent_start, end = th->tent_wake;
	struct swake phys = th->tent_phys;
	struct wev ev = th->tev;
	struct tl2 *l2 = th->tent_l2;

	resolve(th, true);
	halt_waited(t, th, &ev, &phys, l2, start, end);
}

/* ---- kvm events ---- */

static bool in_guest(const struct tthread *th)
{
	return th->ctx == C_GUEST || th->ctx == C_GUEST_L2;
}

/* The open halt ends at @ts with a wait (its evidence: the halt-poll kind). */
static void halt_end(struct struth *t, struct tthread *th, const struct swake *phys, uint64_t ts)
{
	struct wev ev = th->hev;

	if (!th->confirmed)
		resolve(th, true);
	halt_waited(t, th, &ev, phys, th->halt_l2, th->halt_start, ts);
	th->halt_open = false;
}

static const struct swake no_phys = { -1, -1, -1, -1 };

static void on_entry(struct struth *t, struct tthread *th, uint64_t ts)
{
	if (in_guest(th))
		lose_thread(t, th, ts, true);	/* entry after entry: kvm_exit missing */
	post_close(t, th);
	if (th->halt_open) {
		if (!th->confirmed && t->rec_vcpu_wakeup) {
			resolve(th, false);	/* the HLT fast path: no halt */
		} else {
			/* a blocked halt whose wake is missing, or an unconfirmed one */
			halt_end(t, th, &no_phys, ts);
			post_close(t, th);
		}
	}
	th->halt_open = false;
	exit_count(t, th, ts, EXIT_CLOSED);
	th->had_ee = true;
	th->ctx = th->in_l2 ? C_GUEST_L2 : C_GUEST;
}

/*
 * README "Host-only hints": the L1 guest period this exit ends, by its rip
 * (upper half: guest kernel; lower half: user); every exit's rip counted.
 */
static void guest_rip(struct tthread *th, const struct sinfo *e, uint64_t ts)
{
	struct vw_vcpu *v = th->acc.res;

	if (!v || !e->rip)
		return;
	if (th->acc.state == VS_GUEST && th->acc.end == ts) {
		if (e->rip >= 0xffff800000000000ULL)
			v->guest_kernel_ns += ts - th->acc.start;
		else if (e->rip < 0x0000800000000000ULL)
			v->guest_user_ns += ts - th->acc.start;
	}
	res_add_rip(v, e->rip);
}

static void on_kvm_exit(struct struth *t, struct tthread *th, const struct sinfo *e, uint64_t ts)
{
	if (th->exit_open)
		lose_thread(t, th, ts, true);	/* exit after exit: kvm_entry missing */
	guest_rip(th, e, ts);
	post_close(t, th);
	th->had_ee = true;
	th->exit_open = true;
	th->isa = e->isa;
	th->code = e->code;
	th->exit_ts = ts;
	th->exit_l2 = th->in_l2 ? th->l2 : NULL;
	if (!is_hlt(e->isa, e->code)) {
		th->ctx = C_HYP;
		return;
	}
	if (!th->hlt_seen) {
		th->hlt_seen = true;
		th->hlt_rip = e->rip;
	}
	th->ctx = C_HALTED;
	th->halt_open = true;
	th->confirmed = false;
	th->blocked = false;
	th->halt_start = ts;
	th->halt_l2 = th->exit_l2;
	wev_reset(&th->hev);
}

static void on_userexit(struct struth *t, struct tthread *th, uint64_t ts)
{
	if (in_guest(th))
		lose_thread(t, th, ts, true);
	post_close(t, th);
	if (th->halt_open && !th->confirmed && t->rec_vcpu_wakeup) {
		/*
		 * Neither blocked nor woken by kvm_vcpu_wakeup, which KVM traces
		 * at the end of every halt: no halt, as with kvm_entry (README,
		 * "Halts and wakes": the fast path; see tests/synth/README.md).
		 */
		resolve(th, false);
	} else if (th->halt_open) {	/* a halt left for userspace ends there */
		halt_end(t, th, &no_phys, ts);
		post_close(t, th);
	}
	th->halt_open = false;
	th->ctx = C_VMM;
}

static void on_vcpu_wakeup(struct struth *t, struct tthread *th, const struct sinfo *e,
			   uint64_t ts)
{
	if (in_guest(th))
		lose_thread(t, th, ts, true);
	if (th->halt_open)
		halt_end(t, th, &e->wake, ts);	/* a halt-poll wake */
	th->ctx = th->had_ee ? C_HYP : C_RUN;
}

static char *hex(uint64_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "0x%llx", (unsigned long long)v);
	return xstrdup(buf);
}

static struct tl2 *l2_get(struct struth *t, struct tthread *th, uint64_t vmcs, uint64_t pgd,
			  uint64_t ts)
{
	struct tl2 *l2;

	for (int i = 0; i < t->nr_l2s; i++)
		if (t->l2s[i]->vmcs == vmcs && t->l2s[i]->l1->tgid == th->tgid)
			return t->l2s[i];
	l2 = xcalloc(1, sizeof(*l2));
	l2->vmcs = vmcs;
	l2->id = pgd != UINT64_MAX ? hex(pgd) : xstrdup("unknown");
	l2->l1 = th;
	l2->acc.state = -1;
	l2->acc.res = xcalloc(1, sizeof(*l2->acc.res));
	l2->acc.res->vcpu = th->vcpu;
	l2->acc.res->tid = th->tid;
	l2->acc.res->key = hex(vmcs);
	l2->acc.res->first_ns = ts;
	snprintf(l2->acc.res->comm, sizeof(l2->acc.res->comm), "%s", th->comm);
	t->l2s = xrealloc(t->l2s, (t->nr_l2s + 1) * sizeof(*t->l2s));
	t->l2s[t->nr_l2s++] = l2;
	return l2;
}

static void on_nested_enter(struct struth *t, struct tthread *th, const struct sinfo *e,
			    uint64_t ts)
{
	struct tl2 *l2 = l2_get(t, th, e->vmcs, e->pgd, ts);

	if (th->l2 && th->l2 != l2) {
		vw_err("synth: one L1 vCPU thread runs one L2 vCPU");
		abort();
	}
	if (l2->idle_open) {
		l2_wait(t, l2, e->event_inj, &e->wake, ts - l2->idle_start);
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
		/* its wait starts here (a reflected HLT again: from the last one) */
		th->l2->mode = L2_IDLE;
		th->l2->idle_start = ts;
		th->l2->idle_open = true;
	} else if (th->l2->mode != L2_IDLE) {
		th->l2->mode = L2_L1;	/* a halted L2 vCPU stays idle to its vmenter */
	}
}

/* The KVM component of the README, for an event whose common_pid is @th. */
void kvm_effect(struct struth *t, struct tthread *th, const struct sinfo *e, uint64_t ts)
{
	/* the next kvm:* event after the wake decides a tentative halt */
	if (th->tent && e->kind != SK_HALT_POLL) {
		if (e->kind == SK_VCPU_WAKEUP)
			tent_confirm(t, th);
		else
			tent_refute(th);
	}
	/* "after the wake": the first accept for itself, else the first injection */
	if (th->post_open && e->kind == SK_ACCEPT && e->apicid == th->vcpu && th->vcpu >= 0 &&
	    th->pw.post_accept < 0)
		th->pw.post_accept = e->vec;
	switch (e->kind) {
	case SK_ENTRY:
		set_vcpu_id(th, e->vcpu_id, 0);
		promote(t, th, ts);
		on_entry(t, th, ts);
		return;
	case SK_EXIT:
		set_vcpu_id(th, e->vcpu_id, 0);
		promote(t, th, ts);
		on_kvm_exit(t, th, e, ts);
		return;
	case SK_USEREXIT:
		promote(t, th, ts);
		on_userexit(t, th, ts);
		return;
	case SK_VCPU_WAKEUP:
		promote(t, th, ts);
		on_vcpu_wakeup(t, th, e, ts);
		return;
	case SK_HALT_POLL:
		set_vcpu_id(th, e->vcpu_id, 1);
		promote(t, th, ts);
		break;
	case SK_INJ_VIRQ:
		promote(t, th, ts);
		if (in_guest(th))
			lose_thread(t, th, ts, true);
		if (th->post_open && th->pw.post_inj < 0)
			th->pw.post_inj = e->vec;
		break;
	case SK_NESTED_ENTER:
	case SK_NESTED_EXIT:
	case SK_NESTED_INJECT:
	case SK_NESTED_OTHER:
		promote(t, th, ts);
		break;
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
