/*
 * Ground truth, wake reasons (README "Wake reasons"): the waker context of a
 * waking, halt-poll evidence, the vector after the wake, rules 2-9, rule 6's
 * learnt vectors, L2 waits from event_inj. In full traces with nothing
 * dropped, every reason is checked against the simulator's physical wake.
 */
#include <stdlib.h>
#include <string.h>

#include "truth_int.h"
#include "util.h"

void wev_reset(struct wev *w)
{
	memset(w, 0, sizeof(*w));
	w->timer_src = -1;
	w->vec = w->routed_vec = w->gsi = -1;
	w->post_accept = w->post_inj = -1;
}

int timer_src_of(struct struth *t, uint64_t addr)
{
	for (int i = 0; i < t->nr_timers; i++)
		if (t->timers[i].addr == addr)
			return t->timers[i].src;
	return -1;
}

/* ---- the waker context: a CPU's routing events since its last switch ---- */

void ctx_clear(struct tcpu *c)
{
	c->nent = 0;
}

void bracket_close(struct tcpu *c)
{
	if (c->hrt_open)
		c->seg++;
	c->hrt_open = false;
	c->hrt_pid = -1;
	c->hrt_src = -1;
}

void ctx_push(struct struth *t, const struct sinfo *e, uint64_t ts)
{
	struct tcpu *c;
	struct centry *x;

	if (e->kind != SK_ACCEPT && e->kind != SK_APIC_IPI && e->kind != SK_MSI &&
	    e->kind != SK_SET_IRQ && e->kind != SK_IOAPIC && e->kind != SK_PIC)
		return;
	c = cpu_get(t, e->cpu);
	if (c->nent == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->ent = xrealloc(c->ent, c->cap * sizeof(*c->ent));
	}
	x = &c->ent[c->nent++];
	x->kind = e->kind;
	x->pid = e->pid;
	x->seg = c->seg;
	x->a = e->kind == SK_ACCEPT ? e->apicid : e->gsi;
	x->vec = e->vec;
	x->ts = ts;
}

/*
 * Merge the entries by @pid in @cpu's context (its current bracket, from
 * @since on) into @w for @th.
 */
static void scan_context(struct struth *t, struct tthread *th, struct wev *w, int pid, int cpu,
			 uint64_t since)
{
	struct tcpu *c = cpu_get(t, cpu);

	for (int i = 0; i < c->nent; i++) {
		struct centry *x = &c->ent[i];

		if (x->pid != pid || x->seg != c->seg || x->ts < since)
			continue;
		switch (x->kind) {
		case SK_ACCEPT:
			if (th->vcpu >= 0 && x->a == th->vcpu)
				w->vec = x->vec;
			break;
		case SK_APIC_IPI:
			w->ipi = true;
			break;
		case SK_MSI:
			w->routed = true;
			w->routed_vec = x->vec;
			break;
		case SK_IOAPIC:
			w->routed = true;
			w->routed_vec = x->vec;
			w->gsi = x->a;
			break;
		case SK_SET_IRQ:
			w->routed = true;
			w->gsi = x->a;
			break;
		case SK_PIC:
			w->routed = true;
			if (w->gsi < 0)
				w->gsi = x->a;
			break;
		default:
			break;
		}
	}
}

/* The sched_waking (or sched_wakeup) @e of @th: its waker context into @w. */
void capture_waker(struct struth *t, struct tthread *th, struct wev *w, const struct sinfo *e)
{
	struct tcpu *c = cpu_get(t, e->cpu);
	bool in_hrt = c->hrt_open && c->hrt_pid == e->pid;

	/* the accept right before the waking, in its context, names an unknown vcpu id */
	if (c->prev_kind == SK_ACCEPT && c->prev_pid == e->pid)
		set_vcpu_id(th, c->prev_apicid, 3);
	if (in_hrt && c->hrt_src >= 0) {
		w->timer_fn = true;
		w->timer_src = c->hrt_src;
	}
	scan_context(t, th, w, e->pid, e->cpu, 0);
	/* in interrupt context the task on the CPU is not the waker */
	if (!(e->flags & (TF_HARDIRQ | TF_SOFTIRQ)) && !in_hrt && e->pid > 0)
		w->waker = thr_find(t, e->pid);
}

static bool same_vm(const struct tthread *a, const struct tthread *b)
{
	return a->tgid < 0 || b->tgid < 0 || a->tgid == b->tgid;
}

/*
 * kvm_apic_accept_irq @e: halt-poll evidence for every halted vCPU of the
 * sender's VM with that vcpu id (of unknown VM only while the vCPU's VM is
 * unknown too), the first of its halt; with the sender's routing events
 * while it is halted (README: "the same events ... while it is halted").
 */
void poll_accept(struct struth *t, const struct sinfo *e, uint64_t ts)
{
	struct tthread *s = thr_find(t, e->pid);
	int tgid = s ? s->tgid : -1;

	for (int i = 0; i < t->nr_list; i++) {
		struct tthread *th = t->list[i];

		if (!th->live || !th->halt_open || th->ctx != C_HALTED || th->hev.set ||
		    th->vcpu < 0 || th->vcpu != e->apicid || e->pid <= 0)
			continue;
		/* a sender of unknown VM only for a vCPU of unknown VM */
		if (th->tgid >= 0 && tgid != th->tgid)
			continue;
		th->hev.set = true;
		scan_context(t, th, &th->hev, e->pid, e->cpu, th->halt_start);
		(void)ts;
		th->hev.vec = e->vec;
		if (!(e->flags & (TF_HARDIRQ | TF_SOFTIRQ)) &&
		    !(cpu_get(t, e->cpu)->hrt_open && cpu_get(t, e->cpu)->hrt_pid == e->pid))
			th->hev.waker = s;
	}
}

/* hrtimer_expire_entry of a KVM guest timer on @th's own thread while it is halted. */
void poll_hrtimer(struct struth *t, struct tthread *th, int src)
{
	(void)t;
	if (!th->halt_open || th->ctx != C_HALTED || th->hev.set)
		return;
	th->hev.set = true;
	th->hev.timer_fn = true;
	th->hev.timer_src = src;
}

/* ---- classification ---- */

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

struct verdict { int reason, src, gsi, vec, tsrc; };

/* Rules 2-5: the reason the waker context gives, or -1. */
static int by_context(struct tthread *th, const struct wev *w, struct verdict *v)
{
	struct tthread *k = w->waker;

	if (w->timer_fn) {
		v->tsrc = w->timer_src;
		return WR_TIMER;
	}
	if (k && !strncmp(k->comm, "kvm-pit/", 8)) {
		v->tsrc = TS_PIT;
		return WR_TIMER;
	}
	if (k && k != th && k->is_vcpu && same_vm(k, th) && (!w->routed || w->ipi)) {
		v->src = k->vcpu;
		return WR_IPI;
	}
	if (w->ipi)
		return WR_IPI;
	if (k && !strncmp(k->comm, "vhost-", 6))
		return WR_NET;
	if (k && k != th && !k->is_vcpu && same_vm(k, th) &&
	    (k->did_io || !strncmp(k->comm, "IO ", 3)))
		return WR_DISK;
	return -1;
}

static struct verdict classify(struct struth *t, struct tthread *th, const struct wev *w)
{
	struct verdict v = { -1, -1, w->gsi, -1, -1 };
	int8_t *learn = learned(t, th->tgid);
	struct tthread *k = w->waker;

	v.vec = w->vec >= 0 ? w->vec : w->routed_vec >= 0 ? w->routed_vec :
		w->post_accept >= 0 ? w->post_accept : w->post_inj;
	v.reason = by_context(th, w, &v);
	if (k && k != th) {
		k->did_io = false;	/* it injected: its I/O is accounted */
		/* README: a vCPU of unknown VM joins the VM of a non-vCPU injector */
		if (!k->is_vcpu && k->tgid >= 0 && th->anchor < 0 && (w->routed || w->vec >= 0))
			th->anchor = k->tgid;
	}
	if (v.reason >= 0) {
		if (v.vec >= 0 && v.vec < 256)
			learn[v.vec] = (int8_t)(v.reason + 1);
		return v;
	}
	if (v.vec >= 0 && learn[v.vec])
		v.reason = learn[v.vec] - 1;
	else if (v.vec == 0xec || v.vec == 0xef)
		v.reason = WR_TIMER;
	else if (v.vec >= 0xfb && v.vec <= 0xfd)
		v.reason = WR_IPI;
	else if (v.vec >= 0)
		v.reason = WR_DEVICE;
	else
		v.reason = WR_UNKNOWN;
	return v;
}

static void add_wait(struct vw_vcpu *r, const struct verdict *v, uint64_t ns)
{
	if (!r)
		return;
	res_add_wait(r, v->reason, ns, v->reason == WR_DEVICE ? v->vec : v->src, v->gsi);
	if (v->reason == WR_TIMER)
		res_add_timer_source(r, v->tsrc >= 0 ? v->tsrc : TS_VECTOR, v->vec, ns);
}

/* The README's reason and the physical one must agree (full traces, nothing dropped). */
static void check_phys(struct struth *t, struct tthread *th, const struct verdict *v,
		       const struct swake *p)
{
	if (!t->check || p->reason < 0 || th->tgid < 0)
		return;
	if (p->reason != v->reason || (v->reason == WR_IPI && p->src != v->src) ||
	    (v->reason == WR_DEVICE && p->src != v->vec)) {
		vw_err("synth: tid %d: the README's wake reason %s (src %d, vector %d) is not "
		       "the physical one, %s (src %d)", th->tid, vw_reason_names[v->reason],
		       v->src, v->vec, vw_reason_names[p->reason], p->src);
		abort();
	}
}

/*
 * The "after the wake" window of @th's last wait closes: the wait is
 * classified and counted (for T and the L2 vCPU it halted in); a reason
 * from rules 2-5 teaches the VM its vector.
 */
void post_close(struct struth *t, struct tthread *th)
{
	struct verdict v;

	if (!th->post_open)
		return;
	th->post_open = false;
	v = classify(t, th, &th->pw);
	if (th->pw_phys.reason != SW_DERIVE)
		check_phys(t, th, &v, &th->pw_phys);
	if (t->debug)
		fprintf(stderr, "synth: wait tid=%d ns=%llu %s vec %d (fn %d ipi %d routed %d "
			"ctx vec %d routed %d post %d/%d waker %d)%s\n", th->tid,
			(unsigned long long)th->pw_ns, vw_reason_names[v.reason], v.vec,
			th->pw.timer_fn, th->pw.ipi, th->pw.routed, th->pw.vec, th->pw.routed_vec,
			th->pw.post_accept, th->pw.post_inj, th->pw.waker ? th->pw.waker->tid : -1,
			th->pw_phys.reason == SW_DERIVE ? " (from the vector after the wake)" : "");
	add_wait(th->acc.res, &v, th->pw_ns);
	if (t->on_wait && th->acc.res)
		t->on_wait(t->on_wait_ctx, th->acc.res, th->pw_start, th->pw_end, v.reason);
	if (th->pw_l2)
		add_wait(th->pw_l2->acc.res, &v, th->pw_ns);
	/* README: one woke the other with an ipi wait (a link for the guessed VMs) */
	if (v.reason == WR_IPI && th->pw.waker && th->pw.waker->is_vcpu && th->pw.waker != th)
		truth_link(t, th->pw.waker, th);
}

/* A halt of @th ended at its wake: one wait, for T and the L2 vCPU it halted in. */
void halt_waited(struct struth *t, struct tthread *th, const struct wev *w,
		 const struct swake *phys, struct tl2 *l2, uint64_t start, uint64_t end)
{
	post_close(t, th);
	th->post_open = true;
	th->pw = *w;
	th->pw.post_accept = th->pw.post_inj = -1;
	th->pw_phys = *phys;
	th->pw_l2 = l2;
	th->pw_ns = end - start;
	th->pw_start = start;
	th->pw_end = end;
}

/* An L2 wait ends at kvm_nested_vmenter: its reason from event_inj (README, Nested). */
void l2_wait(struct struth *t, struct tl2 *l2, uint32_t inj, const struct swake *phys,
	     uint64_t ns)
{
	int vec = (inj & 0x80000000u) && !(inj & 0x700) ? (int)(inj & 0xff) : -1;
	struct verdict v = { WR_UNKNOWN, -1, -1, vec, -1 };

	if (vec == 0xec || vec == 0xef)
		v.reason = WR_TIMER;
	else if (vec >= 0xfb && vec <= 0xfd)
		v.reason = WR_IPI;
	else if (vec >= 0)
		v.reason = WR_DEVICE;
	if (t->check && phys->reason >= 0 && phys->reason != v.reason) {
		vw_err("synth: an L2 wait's reason %s is not the generator's %s",
		       vw_reason_names[v.reason], vw_reason_names[phys->reason]);
		abort();
	}
	add_wait(l2->acc.res, &v, ns);
}
