/* Nested (L2) attribution: L2 vCPUs by vmcs12/vmcb12, L2 VMs by nested page-table root. */
#include <stdlib.h>
#include <string.h>

#include "analyzer.h"
#include "util.h"

/* The L2 vCPU @vmcs of the VM (tgid, -1 for unknown) of @t. */
static struct l2vcpu *l2_get(struct analyzer *a, struct thread *t, uint64_t vmcs)
{
	struct l2vcpu *x;

	for (x = a->l2s; x; x = x->next)
		if (x->vmcs == vmcs && x->tgid == t->tgid)
			return x;
	x = xcalloc(1, sizeof(*x));
	x->vmcs = vmcs;
	x->tgid = t->tgid;
	x->l1 = t;
	x->state = VS_UNKNOWN;
	x->next = a->l2s;
	a->l2s = x;
	return x;
}

/* The state of L2 vCPU @x, derived from the L1 vCPU thread @t it is current on. */
static enum vw_state l2_state(const struct thread *t, const struct l2vcpu *x)
{
	if (x->halted)
		return VS_IDLE;
	if (!t->in_l2 && t->state == VS_GUEST)
		return VS_GUEST;	/* L1 handles the reflected exit */
	return t->state;
}

static void l2_commit(struct analyzer *a, struct l2vcpu *x, enum vw_state s, uint64_t ts)
{
	if (x->res) {
		if (s == VS_PREEMPTED)
			credits_commit(a, x->res, &x->credits, &x->pcred, ts);
		period_add(a, x->res, s, x->since, ts);
	}
	if (s == VS_PREEMPTED)
		x->pcred.n = 0;
	x->since = ts;
}

/* The L2 vCPU following @t: what was counted as @from is @to (no period ends). */
void l2_relabel(struct thread *t, enum vw_state from, enum vw_state to)
{
	struct l2vcpu *x = t->cur_l2;

	if (x && x->active && !x->halted && x->state == from)
		x->state = to;
}

/* Credit of @t's preemption, also the current L2 vCPU's when it follows @t. */
void l2_credit(struct thread *t, int who, uint64_t ns)
{
	struct l2vcpu *x = t->cur_l2;

	if (x && x->active && x->state == VS_PREEMPTED && ns)
		credit_add(&x->pcred, who, ns);
}

/* @t's open period is held by a tentative halt: hold the L2 vCPU's too. */
void l2_hold(struct thread *t, uint64_t ts)
{
	struct l2vcpu *x = t->cur_l2;

	if (!x || !x->active || x->halted)
		return;
	x->held = true;
	x->hold_since = x->since;
	x->hold_state = x->state;
	x->since = ts;
	x->state = l2_state(t, x);
}

/* The tentative halt of @t was one: the held L2 time splits like @t's. */
struct l2vcpu *l2_hold_confirm(struct analyzer *a, struct thread *t)
{
	struct l2vcpu *x = t->cur_l2;
	uint64_t since;

	if (!x || !x->held)
		return NULL;
	x->held = false;
	since = x->since;
	x->since = x->hold_since;
	l2_commit(a, x, x->hold_state, t->tent_start);
	l2_commit(a, x, VS_IDLE, t->tent_wake);
	x->since = since;
	return x;
}

void l2_hold_refute(struct analyzer *a, struct thread *t)
{
	struct l2vcpu *x = t->cur_l2;
	uint64_t since;

	if (!x || !x->held)
		return;
	x->held = false;
	if (x->state == x->hold_state && x->since == t->tent_wake) {
		x->since = x->hold_since;
		return;
	}
	since = x->since;
	x->since = x->hold_since;
	l2_commit(a, x, x->hold_state, t->tent_wake);
	x->since = since;
}

void l2_follow_slow(struct analyzer *a, struct thread *t, uint64_t ts)
{
	struct l2vcpu *x = t->cur_l2;
	enum vw_state s;

	if (!x || !x->active)
		return;
	s = l2_state(t, x);
	if (s == x->state)
		return;
	l2_commit(a, x, x->state, ts);
	x->state = s;
}

/* The L2 idle of @x ends at its next VM-enter; event_inj tells why. */
static void l2_wake(struct analyzer *a, struct l2vcpu *x, int vec, uint64_t ts)
{
	enum vw_reason r = classify_vector(a, vec);

	l2_commit(a, x, VS_IDLE, ts);
	x->halted = false;
	/* a timer known by its vector only: source "vector" */
	wait_add(a, x->res, r, ts - x->halt_start, ts, -1, -1, -1, vec, NULL);
}

void nested_enter(struct analyzer *a, struct thread *t, uint64_t vmcs, uint64_t pgd,
		     bool has_pgd, int inj_vec, uint64_t ts)
{
	struct l2vcpu *x = l2_get(a, t, vmcs);
	struct l2vcpu *prev = t->cur_l2;

	vcpu_promote(a, t, ts);
	if (prev && prev != x && prev->active) {
		if (!prev->halted)
			l2_commit(a, prev, prev->state, ts);
		prev->active = prev->halted;	/* a halted L2 vCPU stays idle */
	}
	if (x->halted)
		l2_wake(a, x, inj_vec, ts);
	if (!x->res) {
		x->res = xcalloc(1, sizeof(*x->res));
		x->res->vcpu = t->vcpu_id;
		x->res->tid = t->tid;
		x->res->first_ns = ts;
		snprintf(x->res->comm, sizeof(x->res->comm), "%s", t->comm);
		x->pgd = pgd;
		x->has_pgd = has_pgd;
	}
	t->in_l2 = true;
	t->cur_l2 = x;
	if (!x->active) {
		x->active = true;
		x->since = ts;
		x->state = l2_state(t, x);
	} else {
		l2_follow(a, t, ts);
	}
}

static bool is_hlt(uint32_t isa, uint32_t code)
{
	return isa == 1 ? (code & 0xffff) == 12 : code == 0x78;
}

void nested_inject(struct analyzer *a, struct thread *t, uint32_t isa, uint32_t code,
		      uint64_t ts)
{
	struct l2vcpu *x = t->cur_l2;

	t->in_l2 = false;
	if (t->ctx == CTX_HALTED && !t->halt_confirmed)
		halt_cancel(a, t);	/* L2's HLT, reflected to L1: no halt of T */
	if (!x || !x->active)
		return;
	if (is_hlt(isa, code)) {
		l2_commit(a, x, x->state, ts);
		x->halted = true;
		x->halt_start = ts;
		x->state = VS_IDLE;
	}
	l2_follow(a, t, ts);
}

void l2_exit_open(struct thread *t, uint32_t isa, uint32_t code, uint64_t ts)
{
	if (t->cur_l2)
		exit_begin(&t->cur_l2->exit, isa, code, ts);
}

void l2_exit_close(struct analyzer *a, struct thread *t, uint64_t ts)
{
	if (t->cur_l2)
		exit_close(a, t->cur_l2->res, &t->cur_l2->exit, ts);
}

/*
 * A loss on @t's CPU, or a gap of @t: @t's L2 attribution becomes unknown
 * and stops; its open exit is counted as open (loss) or unpaired (gap).
 */
void l2_drop(struct analyzer *a, struct thread *t, uint64_t ts, bool gap)
{
	struct l2vcpu *x = t->cur_l2;

	if (!x)
		return;
	x->pcred.n = 0;
	x->held = false;
	if (x->active)
		l2_commit(a, x, VS_UNKNOWN, ts);
	x->active = false;
	x->halted = false;
	if (gap)
		exit_unpaired(a, x->res, &x->exit, ts);
	else
		exit_abandon(a, x->res, &x->exit, ts);
	t->cur_l2 = NULL;
}

/* After the VMs are built: every L2 vCPU into the VM of the L1 thread it first ran on. */
void l2_finish(struct analyzer *a, uint64_t ts)
{
	struct l2vcpu *x, *next;

	for (x = a->l2s; x; x = next) {
		char id[32], key[32];
		struct vw_nested *n;
		struct vw_vcpu *v;

		next = x->next;
		if (x->active)
			l2_commit(a, x, x->state, ts);
		exit_abandon(a, x->res, &x->exit, ts);
		if (x->res) {
			if (x->has_pgd)
				snprintf(id, sizeof(id), "0x%llx", (unsigned long long)x->pgd);
			else
				snprintf(id, sizeof(id), "unknown");
			snprintf(key, sizeof(key), "0x%llx", (unsigned long long)x->vmcs);
			n = res_nested(x->l1->vm, id);
			n->vcpus = xrealloc(n->vcpus, (n->nr_vcpus + 1) * sizeof(*n->vcpus));
			v = x->res;
			v->key = xstrdup(key);
			credits_to_result(a, v, &x->credits, x->l1->vm);
			v->end_ns = ts;
			n->vcpus[n->nr_vcpus++] = v;
		}
		credits_free(&x->credits);
		credits_free(&x->pcred);
		free(x);
	}
	a->l2s = NULL;
}
