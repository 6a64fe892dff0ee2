/* Wake evidence (waker context, poll wakes, after-wake vectors) and wake reasons. */
#include <stdlib.h>
#include <string.h>

#include "analyzer.h"
#include "util.h"
#include "vectors.h"

void evidence_reset(struct evidence *ev)
{
	ev->flags = 0;
	ev->timer_src = -1;
	ev->vector = -1;
	ev->routed_vector = -1;
	ev->post_vector = -1;
	ev->post_inj = -1;
	ev->gsi = -1;
	ev->waker = -1;
}

/* "vhost-<pid>", "kvm-pit/<pid>": a kernel worker serving VM <pid>. */
bool thread_is_vm_worker(const struct thread *t, const char *prefix, int *pid)
{
	size_t n = strlen(prefix);
	char *end;
	long v;

	if (strncmp(t->comm, prefix, n))
		return false;
	v = strtol(t->comm + n, &end, 10);
	if (end == t->comm + n || v <= 0)
		return false;
	if (pid)
		*pid = (int)v;
	return true;
}

/* Remember a routing/acceptance event in @cpu's current context. */
void ctx_push(struct analyzer *a, int cpu, enum ctx_type type, int pid, int x, int vec,
	      uint64_t ts)
{
	struct cpu_state *c = &a->cpus[cpu];
	struct ctx_entry *e;

	if (c->nent == CTX_ENTRIES) {
		memmove(c->ent, c->ent + 1, (CTX_ENTRIES - 1) * sizeof(*c->ent));
		c->nent--;
	}
	e = &c->ent[c->nent++];
	e->type = type;
	e->pid = pid;
	e->seg = c->seg;
	e->a = x;
	e->vec = vec;
	e->ts = ts;
}

/*
 * Merge the entries of @cpu's context made by @pid since @since into @ev,
 * for vCPU @vcpu_id.
 */
static void scan_context(struct analyzer *a, struct thread *t, struct evidence *ev,
			 int pid, int cpu, uint64_t since)
{
	struct cpu_state *c = &a->cpus[cpu];
	int last_accept = -1;

	for (int i = 0; i < c->nent; i++) {
		struct ctx_entry *e = &c->ent[i];

		if (e->pid != pid || e->seg != c->seg || e->ts < since)
			continue;
		switch (e->type) {
		case CE_ACCEPT:
			last_accept = i;
			if (t->vcpu_id >= 0 && e->a == t->vcpu_id)
				ev->vector = e->vec;
			break;
		case CE_IPI:
			ev->flags |= EV_IPI;
			break;
		case CE_MSI:
		case CE_IOAPIC:
			ev->flags |= EV_ROUTED;
			ev->routed_vector = e->vec;
			if (e->type == CE_IOAPIC)
				ev->gsi = e->a;
			break;
		case CE_SET_IRQ:
			ev->flags |= EV_ROUTED;
			ev->gsi = e->a;
			break;
		case CE_PIC:
			ev->flags |= EV_ROUTED;
			if (ev->gsi < 0)
				ev->gsi = e->a;
			break;
		}
	}
	/* An unknown vcpu id is learnt from the accept right before its waking. */
	if (t->vcpu_id < 0 && last_accept >= 0) {
		t->vcpu_id = c->ent[last_accept].a;
		ev->vector = c->ent[last_accept].vec;
	}
}

/* The sched_waking of halted @t by @waker on @cpu: record its context. */
void capture_waker(struct analyzer *a, struct thread *t, int waker, int cpu)
{
	struct evidence *ev = t->tent ? &t->tent_ev : &t->ev;
	struct cpu_state *c;

	if (cpu < 0 || cpu >= a->ncpus)
		return;
	c = &a->cpus[cpu];
	ev->waker = waker;
	if (c->hrtimer_pid == waker && c->hrtimer_kind > 0) {
		ev->flags |= EV_TIMER_FN;
		ev->timer_src = c->hrtimer_kind - 1;
	}
	if (c->irqctx || c->hrtimer_pid == waker)
		ev->flags |= EV_IRQCTX;
	scan_context(a, t, ev, waker, cpu, 0);
	if (t->vcpu_id >= 0 && ev->vector < 0) {
		/* the accept may precede the hrtimer bracket on the same thread */
		for (int i = 0; i < c->nent; i++)
			if (c->ent[i].pid == waker && c->ent[i].type == CE_ACCEPT &&
			    c->ent[i].a == t->vcpu_id)
				ev->vector = c->ent[i].vec;
	}
}

static bool same_vm(const struct thread *x, int tgid)
{
	return x->tgid < 0 || tgid < 0 || x->tgid == tgid;
}

/*
 * kvm_apic_accept_irq by @sender for @apicid: evidence for a halted vCPU that
 * polls (its wake will be kvm_vcpu_wakeup, not a sched_waking).
 */
void evidence_accept(struct analyzer *a, int sender, int cpu, int apicid, int vec, bool irqctx)
{
	struct thread *s = thread_find(a, sender);
	struct thread *hit = NULL;
	int tgid = s ? s->tgid : -1;
	int n = 0;

	for (int i = 0; i < a->nhalted; i++) {
		struct thread *t = a->halted[i];

		/* its own thread is one of its VM's (an accept before the entry) */
		if (t->vcpu_id != apicid)
			continue;
		/* "by a thread of its VM": unknown only matches while its VM is unknown */
		if (t->tgid >= 0 && tgid != t->tgid)
			continue;
		hit = t;
		n++;
	}
	/* the first evidence wins: an accept, or the hrtimer on its own thread */
	if (n != 1 || hit->ev_poll.vector >= 0 || hit->ev_poll.waker >= 0)
		return;
	hit->ev_poll.vector = vec;
	hit->ev_poll.waker = sender;
	if (irqctx)
		hit->ev_poll.flags |= EV_IRQCTX;
	/* "the same events targeting this vCPU while it is halted" */
	scan_context(a, hit, &hit->ev_poll, sender, cpu, hit->halt_start);
	hit->ev_poll.vector = vec;
}

/*
 * A vector seen on @t itself after its wake: the first accept for itself
 * counts before any kvm_inj_virq, whatever their order.
 */
void evidence_post(struct thread *t, int vec, bool accept)
{
	if (!t->pw.active)
		return;
	if (accept && t->pw.ev.post_vector < 0)
		t->pw.ev.post_vector = vec;
	else if (!accept && t->pw.ev.post_inj < 0)
		t->pw.ev.post_inj = vec;
}

/* An hrtimer runs on @t's own CPU while it halt-polls. */
void evidence_timer_on_self(struct thread *t, int kind)
{
	if (t->ctx == CTX_HALTED && kind > 0 && t->ev_poll.waker < 0) {
		t->ev_poll.flags |= EV_TIMER_FN;
		t->ev_poll.timer_src = kind - 1;
		t->ev_poll.waker = t->tid;
	}
}

/* hrtimer callback address -> 1 + TS_* for a KVM guest timer, -1 for anything else. */
int hrtimer_kind(struct analyzer *a, unsigned long long addr)
{
	for (int i = 0; i < a->ntimer_fns; i++)
		if (a->timer_fns[i].addr == addr)
			return 1 + a->timer_fns[i].src;
	return -1;
}

/* The addresses of KVM's guest-timer callbacks, from the trace's kallsyms. */
void hrtimer_init(struct analyzer *a, const struct tin *t)
{
	static const struct { const char *name; int src; } kvm_timers[] = {
		{ "apic_timer_fn", TS_LAPIC }, { "pit_timer_fn", TS_PIT },
		{ "kvm_pit_timer_fn", TS_PIT }, { "stimer_timer_callback", TS_HYPERV },
		{ "hpet_timer_fn", TS_HPET }, { "xen_timer_callback", TS_XEN },
	};

	for (size_t i = 0; i < ARRAY_SIZE(kvm_timers); i++) {
		const char *names[] = { kvm_timers[i].name, NULL };
		uint64_t addrs[8];
		int n = tin_symbols(t, names, addrs, ARRAY_SIZE(addrs));

		for (int j = 0; j < n && a->ntimer_fns < (int)ARRAY_SIZE(a->timer_fns); j++) {
			a->timer_fns[a->ntimer_fns].addr = addrs[j];
			a->timer_fns[a->ntimer_fns].src = kvm_timers[i].src;
			a->ntimer_fns++;
		}
	}
}

static int override_of(struct analyzer *a, int vec)
{
	for (int i = 0; i < a->novr; i++)
		if (a->ovr[i].vec == vec)
			return a->ovr[i].reason;
	return -1;
}

/* Evidence for VM grouping (README, Threads, vCPUs and VMs): who injected into @t. */
static void note_injector(struct analyzer *a, struct thread *t, struct thread *w,
			  const struct evidence *ev, enum vw_reason r)
{
	if (!w || w == t)
		return;
	if (r == WR_IPI && w->vcpu) {
		if (a->nlinks == a->links_cap) {
			a->links_cap = a->links_cap ? a->links_cap * 2 : 16;
			a->links = xrealloc(a->links, a->links_cap * sizeof(*a->links));
		}
		a->links[a->nlinks].a = w;
		a->links[a->nlinks].b = t;
		a->nlinks++;
	} else if (!w->vcpu && w->tgid >= 0 && t->anchor < 0 &&
		   ((ev->flags & EV_ROUTED) || ev->vector >= 0)) {
		t->anchor = w->tgid;
	}
}

/* Apply the README's wake-reason rules, in order. */
static enum vw_reason classify(struct analyzer *a, struct thread *t, const struct evidence *ev,
			       int *src, int *vec_out, int *timer_src, const struct vw_vcpu **from)
{
	/* in interrupt context the task on the CPU is not the waker */
	struct thread *w = ev->waker >= 0 && !(ev->flags & EV_IRQCTX) ?
			   thread_find(a, ev->waker) : NULL;
	int vec = ev->vector >= 0 ? ev->vector :
		  ev->routed_vector >= 0 ? ev->routed_vector :
		  ev->post_vector >= 0 ? ev->post_vector : ev->post_inj;
	struct vm_info *vm = vm_get(a, t->tgid);
	enum vw_reason r = WR_NR;
	int o;

	*src = -1;
	*vec_out = vec;
	*timer_src = -1;
	*from = NULL;
	if (vec >= 0 && (o = override_of(a, vec)) >= 0)
		return o;
	if (ev->flags & EV_TIMER_FN) {
		r = WR_TIMER;
		*timer_src = ev->timer_src;
	} else if (w && thread_is_vm_worker(w, "kvm-pit/", NULL)) {
		r = WR_TIMER;
		*timer_src = TS_PIT;
	} else if (w && w != t && w->vcpu && same_vm(w, t->tgid) &&
		   (!(ev->flags & EV_ROUTED) || (ev->flags & EV_IPI))) {
		*src = w->vcpu_id;
		*from = w->res;
		r = WR_IPI;
	} else if (ev->flags & EV_IPI) {
		r = WR_IPI;
	} else if (w && !strncmp(w->comm, "vhost-", 6)) {
		r = WR_NET;
	} else if (w && !w->vcpu && w != t && same_vm(w, t->tgid) &&
		   (w->did_io || !strncmp(w->comm, "IO ", 3))) {
		r = WR_DISK;
	}
	if (w && r != WR_NR && r != WR_IPI)
		w->did_io = false;
	note_injector(a, t, w, ev, r);
	if (r != WR_NR) {
		if (vec >= 0 && vec < 256)
			vm->learned[vec] = (int8_t)(r + 1);
		return r;
	}
	if (vec >= 0 && vec < 256 && vm->learned[vec])
		return vm->learned[vec] - 1;
	if (vec == VEC_LOCAL_TIMER || vec == VEC_LOCAL_TIMER_OLD)
		return WR_TIMER;
	if (vec >= VEC_CALL_FUNCTION_SINGLE && vec <= VEC_RESCHEDULE)
		return WR_IPI;
	if (vec >= 0)
		return WR_DEVICE;
	return WR_UNKNOWN;
}

/* The wait of @t has all its evidence: classify it and count it. */
void wait_finalize(struct analyzer *a, struct thread *t)
{
	struct pending_wait *pw = &t->pw;
	const struct vw_vcpu *from;
	enum vw_reason r;
	int src, vec, tsrc;

	if (!pw->active)
		return;
	pw->active = false;
	r = classify(a, t, &pw->ev, &src, &vec, &tsrc, &from);
	if (a->ex)
		explain_wait(a, t, pw, r, src, vec);
	wait_add(a, t->res, r, pw->ns, pw->end, src, pw->ev.gsi, tsrc, vec, from);
	if (pw->l2)
		wait_add(a, pw->l2->res, r, pw->ns, pw->end, src, pw->ev.gsi, tsrc, vec, from);
}

/* Reason of a wait known only by its vector (an L2 wake, from event_inj). */
enum vw_reason classify_vector(struct analyzer *a, int vec)
{
	int o;

	if (vec < 0)
		return WR_UNKNOWN;
	if ((o = override_of(a, vec)) >= 0)
		return o;
	if (vec == VEC_LOCAL_TIMER || vec == VEC_LOCAL_TIMER_OLD)
		return WR_TIMER;
	if (vec >= VEC_CALL_FUNCTION_SINGLE && vec <= VEC_RESCHEDULE)
		return WR_IPI;
	return WR_DEVICE;
}
