/*
 * Ground truth: the README's model ("The model") applied by the generator to
 * the records it writes, independently of the analyzer. This file: periods,
 * the scheduler component, preemption credit, losses, thread ends and the
 * event loop. Threads and setup: truth_thr.c; KVM component and halts:
 * truth_kvm.c; wake reasons: truth_wake.c; VMs and the result: truth_end.c.
 */
#include <stdlib.h>
#include <string.h>

#include "truth_int.h"
#include "util.h"

/* ---- periods ---- */

void credits_add(struct credits *c, int key, uint64_t ns)
{
	if (!ns)
		return;
	for (int i = 0; i < c->n; i++) {
		if (c->v[i].key == key) {
			c->v[i].ns += ns;
			return;
		}
	}
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 4;
		c->v = xrealloc(c->v, c->cap * sizeof(*c->v));
	}
	c->v[c->n].key = key;
	c->v[c->n++].ns = ns;
}

void acc_commit(struct acc *a)
{
	if (a->state < 0)
		return;
	if (a->res) {
		res_add_state(a->res, a->state, a->end - a->start);
		a->res->polled_ns += a->polled;
		for (int i = 0; i < a->open.n; i++)
			credits_add(&a->done, a->open.v[i].key, a->open.v[i].ns);
	} else {
		a->pre[a->state] += a->end - a->start;
	}
	a->open.n = 0;
	a->polled = 0;
}

/* Account [from, to) in @state; a period closes when the state changes. */
void acc_add(struct acc *a, int state, uint64_t from, uint64_t to, bool polled)
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

/* A loss or a gap: the open period (since the last state change) becomes unknown. */
void acc_lose(struct acc *a)
{
	if (a->state >= 0 && a->state != VS_UNKNOWN) {
		a->state = VS_UNKNOWN;
		a->polled = 0;
		a->open.n = 0;
	}
}

/* ---- state ---- */

int l1_state(int sched, int ctx)
{
	if (ctx == C_HALTED)
		return VS_IDLE;
	if (sched == S_RUNNABLE)
		return VS_PREEMPTED;
	switch (ctx) {
	case C_GUEST: return VS_GUEST;
	case C_GUEST_L2: return VS_GUEST_L2;
	case C_HYP: return VS_HYPERVISOR;
	case C_VMM: return VS_VMM;
	case C_RUN: return VS_RUNNING;
	default: return VS_UNKNOWN;
	}
}

int l2_state(int mode, int st)
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
void advance(struct tthread *th, uint64_t to)
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
	st = l1_state(th->sched, th->ctx);
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
void resolve(struct tthread *th, bool halt)
{
	for (int i = 0; i < th->nr_pend; i++) {
		struct pseg *s = &th->pend[i];
		int st;

		if (th->tent) {
			st = halt && s->to <= th->tent_wake ? VS_IDLE : l1_state(s->sched, s->ctx);
		} else {
			/* README: the HLT fast path was no halt, "its time is hypervisor" */
			st = halt ? VS_IDLE : VS_HYPERVISOR;
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

/* ---- preemption credit ---- */

static bool preempted_now(const struct tthread *th)
{
	return th->is_vcpu && th->seen && th->ctx != C_HALTED && th->sched == S_RUNNABLE;
}

static int credit_key(struct struth *t, int cpu)
{
	struct tcpu *c = cpu < 0 ? NULL : cpu_get(t, cpu);
	struct tthread *p;

	if (!c || c->curr < 0)
		return CK_UNKNOWN;
	if (c->curr == 0)
		return CK_IDLE;
	p = thr_find(t, c->curr);
	return p ? p->idx + 1 : CK_UNKNOWN;
}

/* Credit [credit_from, ts) to the task on the CPU @th waits on. */
void credit_flush(struct struth *t, struct tthread *th, uint64_t ts)
{
	int key;

	if (!th->crediting || ts <= th->credit_from)
		return;
	key = credit_key(t, th->wait_cpu);
	if (th->acc.res)
		credits_add(&th->acc.open, key, ts - th->credit_from);
	if (th->l2 && th->l2->mode != L2_IDLE && th->l2->acc.state >= 0)
		credits_add(&th->l2->acc.open, key, ts - th->credit_from);
	th->credit_from = ts;
}

/* Call after a change of @th's components at @ts. */
void credit_update(struct struth *t, struct tthread *th, uint64_t ts)
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

/* Every thread waiting on @cpu changes creditor at @ts. */
static void cpu_waiters_flush(struct struth *t, int cpu, uint64_t ts,
			      const struct tthread *a, const struct tthread *b)
{
	for (int i = 0; i < t->nr_list; i++) {
		struct tthread *w = t->list[i];

		if (w->crediting && w->wait_cpu == cpu && w != a && w != b)
			credit_flush(t, w, ts);
	}
}

/* ---- losses, gaps, ends ---- */

/*
 * A loss on @th's CPU (or a gap of @th): the open period becomes unknown
 * with both components; the open halt (polled time, credit) and the nested
 * attribution are dropped; the open exit counts as open (gap: unpaired).
 */
void lose_thread(struct struth *t, struct tthread *th, uint64_t ts, bool gap)
{
	advance(th, ts);
	if (th->tent && !th->tent_woken)
		tent_refute(th);	/* asleep: the time since the last change */
	if (th->tent) {
		vw_err("synth: a loss while a tentative halt is being decided (tid %d)", th->tid);
		abort();
	}
	if (th->nr_pend)
		resolve(th, true);	/* the idle since the HLT exit becomes unknown */
	post_close(t, th);
	credit_flush(t, th, ts);
	th->crediting = false;
	acc_lose(&th->acc);
	exit_count(t, th, ts, gap ? EXIT_UNPAIRED : EXIT_OPEN);
	l2_drop(t, th, ts, gap ? EXIT_UNPAIRED : EXIT_OPEN);
	th->sched = S_UNKNOWN;
	th->ctx = C_UNKNOWN;
	th->halt_open = false;
	th->halt_l2 = NULL;
	th->in_l2 = false;
	if (gap && th->acc.res)
		th->acc.res->gaps++;
}

/* @th's span ends at @ts (its exit, or the trace's end): close what is open. */
void end_thread(struct struth *t, struct tthread *th, uint64_t ts, bool exited)
{
	if (!th->seen || !th->live || th->ended)
		return;
	advance(th, ts);
	post_close(t, th);
	if (th->tent)
		tent_refute(th);	/* no kvm_vcpu_wakeup came: no halt */
	else if (th->nr_pend)
		resolve(th, true);	/* an open halt counts as idle */
	credit_flush(t, th, ts);
	th->crediting = false;
	exit_count(t, th, ts, EXIT_OPEN);
	acc_commit(&th->acc);
	th->acc.state = -1;
	th->end = ts;
	th->ended = true;
	if (!exited)
		return;
	th->live = false;	/* its tid names a new thread from now on */
	if (t->live[th->tid] == th)
		t->live[th->tid] = NULL;
}

bool truth_loss_ok(struct struth *t, int cpu)
{
	for (int i = 0; i < t->nr_list; i++) {
		struct tthread *th = t->list[i];

		if (!th->seen || !th->live || th->last_cpu != cpu)
			continue;
		if ((th->l2 && th->l2->mode == L2_IDLE) || (th->tent && th->tent_woken) ||
		    th->post_open || (th->ctx == C_HALTED && !th->confirmed))
			return false;
	}
	return true;
}

void truth_lost(struct struth *t, uint64_t ts, int cpu, int64_t count)
{
	struct tcpu *c = cpu_get(t, cpu);
	bool first = !c->started;

	if (count > 0)
		t->res->lost_events += count;
	else
		t->res->lost_unknown++;
	for (int i = 0; i < t->nr_list; i++) {
		struct tthread *th = t->list[i];

		if (!th->seen || !th->live)
			continue;
		/* a CPU whose data starts late: any thread off a CPU may have run there */
		if (th->last_cpu == cpu || (first && th->sched != S_ONCPU))
			lose_thread(t, th, ts, false);
	}
	ctx_clear(c);
	bracket_close(c);
	c->curr = -1;
	c->prev_kind = SK_OTHER;
}

/* ---- events ---- */

static void see(struct struth *t, struct tthread *th, uint64_t ts)
{
	th->last = ts;
	if (th->seen)
		return;
	th->seen = true;
	th->first = ts;
	th->at = ts;
	/* no record named it yet: the saved_cmdlines name */
	if (!th->has_comm && th->tid < t->nr_cmdline && t->cmdline[th->tid])
		set_comm(t, th, t->cmdline[th->tid], ts);
}

static void on_switch(struct struth *t, const struct sinfo *e, uint64_t ts,
		      struct tthread *prev, struct tthread *next)
{
	bool runnable = !(e->prev_state & 0xff);

	if (prev) {
		set_comm(t, prev, e->prev_comm, ts);
		if (prev->ctx == C_GUEST || prev->ctx == C_GUEST_L2)
			lose_thread(t, prev, ts, true);	/* switched out in the guest: a gap */
		post_close(t, prev);
		if (!runnable && prev->ctx == C_HALTED && prev->halt_open) {
			if (!prev->confirmed)
				resolve(prev, true);
			prev->blocked = true;
		}
		if (!runnable)
			tent_start(prev, ts);
		credit_flush(t, prev, ts);	/* to the task of the CPU it waited on */
		prev->sched = runnable ? S_RUNNABLE : S_SLEEPING;
		prev->wait_cpu = prev->last_cpu = e->cpu;
		credit_update(t, prev, ts);
		if (prev->exiting && !runnable)
			end_thread(t, prev, ts, true);	/* its last switch-out */
	}
	ctx_clear(cpu_get(t, e->cpu));
	bracket_close(cpu_get(t, e->cpu));
	if (next) {
		set_comm(t, next, e->next_comm, ts);
		if (next->tent && !next->tent_woken) {
			/* no waking recorded since it slept: the switch-in is its wake */
			next->tent_woken = true;
			next->tent_wake = ts;
			wev_reset(&next->tev);
			next->tent_phys = (struct swake){ -1, -1, -1, -1 };
		}
		next->sched = S_ONCPU;
		next->last_cpu = e->cpu;
		credit_update(t, next, ts);
	}
	cpu_waiters_flush(t, e->cpu, ts, prev, next);
	cpu_get(t, e->cpu)->curr = e->next_pid;
}

/* sched_waking/sched_wakeup(_new) of @w: the scheduler component, a blocked halt's end. */
static void on_woken(struct struth *t, struct tthread *w, const struct sinfo *e, uint64_t ts)
{
	set_comm(t, w, e->comm, ts);
	if (w->sched == S_SLEEPING || w->sched == S_UNKNOWN) {
		w->sched = S_RUNNABLE;
		w->wait_cpu = e->target_cpu;
		if (e->kind != SK_WAKEUP_NEW && w->tent && !w->tent_woken) {
			w->tent_woken = true;
			w->tent_wake = ts;
			wev_reset(&w->tev);
			capture_waker(t, w, &w->tev, e);
			w->tent_phys = e->wake;
		}
		if (e->kind != SK_WAKEUP_NEW && w->halt_open && w->blocked) {
			struct wev ev;

			wev_reset(&ev);
			capture_waker(t, w, &ev, e);
			halt_waited(t, w, &ev, &e->wake, w->halt_l2, w->halt_start, ts);
			w->halt_open = false;
			w->ctx = C_HYP;
		}
	}
	w->last_cpu = e->target_cpu;
	credit_update(t, w, ts);
}

/* The markers of vmwait record (README, Metadata markers). */
static void on_marker(struct struth *t, const char *text, uint64_t ts)
{
	int tid, tgid, pid;
	const char *p;

	if (sscanf(text, "vmwait: task tid=%d tgid=%d", &tid, &tgid) == 2 && tid > 0) {
		struct tthread *th = thr_live(t, tid);
		char comm[32];

		th->tgid = tgid;
		p = strstr(text, " comm=");
		if (p) {
			snprintf(comm, sizeof(comm), "%.*s", (int)strcspn(p + 6, "\n"), p + 6);
			set_comm(t, th, comm, th->seen ? ts : 0);
		}
	} else if (sscanf(text, "vmwait: vm pid=%d", &pid) == 1 && pid > 0 &&
		   (p = strstr(text, " cmdline="))) {
		t->vmcmd = xrealloc(t->vmcmd, (t->nr_vmcmd + 1) * sizeof(*t->vmcmd));
		t->vmcmd[t->nr_vmcmd].pid = pid;
		t->vmcmd[t->nr_vmcmd].cmdline = xstrdup(p + 9);
		t->vmcmd[t->nr_vmcmd].cmdline[strcspn(p + 9, "\n")] = 0;
		t->nr_vmcmd++;
	}
}

static bool is_kvm(enum sev_kind k)
{
	return k == SK_KVM_OTHER || (k >= SK_ENTRY && k <= SK_NESTED_OTHER);
}

/* An event whose common_pid is @th. */
static void on_self(struct struth *t, struct tthread *th, const struct sinfo *e, uint64_t ts)
{
	th->sched = S_ONCPU;
	th->last_cpu = e->cpu;
	if (th->tent && !th->tent_woken) {
		/* it runs with no waking recorded since it slept: woken here */
		th->tent_woken = true;
		th->tent_wake = ts;
		wev_reset(&th->tev);
		th->tent_phys = (struct swake){ -1, -1, -1, -1 };
	}
	if (is_kvm(e->kind))
		kvm_effect(t, th, e, ts);
	th->sched = S_ONCPU;	/* after a gap too: the event is applied after it */
	credit_update(t, th, ts);
}

/* Events that only name other threads or feed the wake evidence. */
static void on_other(struct struth *t, struct tthread *self, const struct sinfo *e, uint64_t ts)
{
	struct tcpu *c = cpu_get(t, e->cpu);
	struct tthread *x;

	switch (e->kind) {
	case SK_HRT_ENTRY:
		c->seg++;
		c->hrt_open = true;
		c->hrt_flagged = e->flags & TF_HARDIRQ;
		c->hrt_pid = e->pid;
		c->hrt_src = timer_src_of(t, e->function);
		if (self && c->hrt_src >= 0)
			poll_hrtimer(t, self, c->hrt_src);
		break;
	case SK_HRT_EXIT:
		bracket_close(c);
		break;
	case SK_BLOCK_ISSUE:
		if (self)
			self->did_io = true;
		break;
	case SK_PRINT:
		on_marker(t, e->text, ts);
		break;
	case SK_NEWTASK:
		x = thr_live(t, e->wpid);
		if (x) {
			set_comm(t, x, e->comm, x->seen ? ts : 0);
			if ((e->clone_flags & 0x10000) && x->tgid < 0 && self)
				x->tgid = self->tgid;
		}
		break;
	case SK_PEXIT:
		x = thr_find(t, e->wpid);
		if (x) {
			set_comm(t, x, e->comm, ts);
			if (t->rec_switch)
				x->exiting = true;
			else
				end_thread(t, x, ts, true);
		}
		break;
	default:
		break;
	}
}

void truth_event(struct struth *t, uint64_t ts, const struct sinfo *e)
{
	struct tcpu *c = cpu_get(t, e->cpu);
	struct tthread *self, *w = NULL, *prev = NULL, *next = NULL;

	/* an hrtimer bracket without its exit ends at the first record not in hardirq */
	if (c->hrt_open && c->hrt_flagged && !(e->flags & TF_HARDIRQ))
		bracket_close(c);
	self = e->kind == SK_SWITCH ? NULL : thr_live(t, e->pid);
	if (e->kind == SK_SWITCH) {
		prev = thr_live(t, e->prev_pid);
		next = thr_live(t, e->next_pid);
	} else if (e->kind == SK_WAKING || e->kind == SK_WAKEUP || e->kind == SK_WAKEUP_NEW) {
		w = thr_live(t, e->wpid);
	}
	if (self)
		see(t, self, ts), advance(self, ts);
	if (prev)
		see(t, prev, ts), advance(prev, ts);
	if (next)
		see(t, next, ts), advance(next, ts);
	if (w)
		see(t, w, ts), advance(w, ts);
	/* any record tells the task on its CPU (README, Preemption) */
	if (e->pid >= 0 && c->curr != e->pid) {
		cpu_waiters_flush(t, e->cpu, ts, NULL, NULL);
		c->curr = e->pid;
	}
	if (e->kind == SK_SWITCH) {
		on_switch(t, e, ts, prev, next);
	} else {
		ctx_push(t, e, ts);
		if (self)
			on_self(t, self, e, ts);
		if (e->kind == SK_ACCEPT)
			poll_accept(t, e, ts);
		if (w)
			on_woken(t, w, e, ts);
		on_other(t, self, e, ts);
	}
	c = cpu_get(t, e->cpu);
	c->started = true;
	c->prev_kind = e->kind;
	c->prev_pid = e->pid;
	c->prev_apicid = e->apicid;
}
