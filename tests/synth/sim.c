/*
 * The simulator: runs the scenario's episodes on a small model of a KVM host
 * (CPUs, threads, vCPUs) in time order, writes the events a real x86 host
 * emits for them (see tests/synth/README.md) and feeds the ground truth.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"
#include "tdat.h"
#include "util.h"

#define GAP		300	/* ns between events of one burst */
#define SWITCH_LAT	3000	/* waking -> switch-in on an idle CPU */
#define REC_PID		999
#define ADDR_APIC_TIMER_FN	0xffffffffc0a1f2e0ULL
#define ADDR_MARK_WRITE		0xffffffff812a4c10ULL
#define ADDR_TICK_SCHED		0xffffffff8119a3d0ULL
#define HRTIMER_BASE		0xffff888103c40000ULL

enum phase {
	PH_START, PH_GUEST_END, PH_NEXT, PH_BLOCK, PH_WAKE, PH_SWITCHIN, PH_RESUME,
	PH_UNPREEMPT, PH_SPAWN, PH_DONE,
};

struct vstate {
	struct svcpu *v;
	struct sthr *th;
	struct svm *vm;
	int idx;
	int cpu;
	int ep;			/* index of the current episode */
	struct sep cur;		/* the current episode */
	int left;		/* repetitions left */
	enum phase ph;
	uint64_t next;
	int heap;		/* position in the heap, -1 if not queued */
	uint64_t seq;
	bool in_guest, in_l2, blocked, done;
	uint64_t exit_ts, block_ts;
	int inj_vec;		/* kvm_inj_virq before the next entry, -1 none */
	bool pio_in;		/* kvm_pio read before the next entry */
	int wake_cpu;
	struct swake wake;	/* the current halt's reason */
	uint32_t halt_poll;	/* current halt_poll_ns */
	uint64_t rng;
	uint64_t launched;	/* vmcs that had VMLAUNCH */
	bool rnd_l2;		/* random: inside an L2 sequence */
};

struct cpu {
	int curr;		/* tid, 0 idle */
	struct spenc enc;
	int lost_i;		/* active loss window index, -1 */
	uint64_t dropped;
};

struct sim {
	struct scn *s;
	const struct sim_opts *o;
	struct sfmt fmt;
	struct vw_result res;
	struct struth *truth;
	struct tdat_writer *w;
	struct cpu *cpus;
	struct vstate *vs;
	int nr_vs;
	struct vstate **heap;
	int nr_heap;
	uint64_t seq;
	uint64_t gclk;		/* last timestamp given */
	uint64_t first_ts, last_ts;
	uint64_t events;
	bool any;
	int err;
	uint64_t rng;
	/* noise actors ride in the heap as pseudo-vCPUs */
	const struct sevent *e_entry, *e_exit, *e_uexit, *e_pio, *e_mmio, *e_wakeup,
		*e_hpoll, *e_setirq, *e_msi, *e_ioapic, *e_pic, *e_accept, *e_apicv, *e_ipi,
		*e_inj, *e_nenter, *e_nexit, *e_ninject, *e_nintr, *e_msr, *e_switch,
		*e_waking, *e_wakeup2, *e_hrt_in, *e_hrt_out, *e_rq_issue, *e_rq_done,
		*e_print, *e_irq_in, *e_irq_out, *e_newtask, *e_wakenew;
};

/* ---- heap of actors by time ---- */

static bool before(const struct vstate *a, const struct vstate *b)
{
	return a->next != b->next ? a->next < b->next : a->seq < b->seq;
}

static void heap_swap(struct sim *m, int i, int j)
{
	struct vstate *t = m->heap[i];

	m->heap[i] = m->heap[j];
	m->heap[j] = t;
	m->heap[i]->heap = i;
	m->heap[j]->heap = j;
}

static void heap_fix(struct sim *m, int i)
{
	while (i > 0 && before(m->heap[i], m->heap[(i - 1) / 2])) {
		heap_swap(m, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
	for (;;) {
		int l = 2 * i + 1, r = l + 1, b = i;

		if (l < m->nr_heap && before(m->heap[l], m->heap[b]))
			b = l;
		if (r < m->nr_heap && before(m->heap[r], m->heap[b]))
			b = r;
		if (b == i)
			break;
		heap_swap(m, i, b);
		i = b;
	}
}

static void schedule(struct sim *m, struct vstate *v, uint64_t t, enum phase ph)
{
	v->next = t;
	v->ph = ph;
	v->seq = ++m->seq;
	if (v->heap < 0) {
		v->heap = m->nr_heap;
		m->heap[m->nr_heap++] = v;
	}
	heap_fix(m, v->heap);
}

static struct vstate *heap_pop(struct sim *m)
{
	struct vstate *v = m->heap[0];

	heap_swap(m, 0, --m->nr_heap);
	v->heap = -1;
	if (m->nr_heap)
		heap_fix(m, 0);
	return v;
}

/* ---- writing ---- */

static int page_sink(void *ctx, unsigned int cpu, const void *page)
{
	return tdat_write_page(ctx, cpu, page);
}

static bool in_loss(struct sim *m, int cpu, uint64_t ts)
{
	struct cpu *c = &m->cpus[cpu];

	for (int i = 0; i < m->s->nr_lost; i++) {
		struct slost *lo = &m->s->lost[i];

		if (lo->cpu == cpu && ts >= lo->from && ts < lo->to) {
			c->lost_i = i;
			return true;
		}
	}
	return false;
}

/* Write one record at (at least) @ts; returns the time given to it. */
static uint64_t emit(struct sim *m, int cpu, uint64_t ts, struct srec *r, struct sinfo *si)
{
	struct cpu *c = &m->cpus[cpu];

	ts = MAX(ts, m->gclk + 1);
	m->gclk = ts;
	if (ts < m->s->start || (m->s->end && ts > m->s->end) || m->err ||
	    (m->s->max_events && m->events >= m->s->max_events))
		return ts;
	if (in_loss(m, cpu, ts)) {
		c->dropped++;
		return ts;
	}
	if (c->lost_i >= 0 && c->dropped) {
		bool stored = m->s->lost[c->lost_i].stored;

		if (spenc_lost(&c->enc, c->dropped, stored))
			m->err = -1;
		truth_lost(m->truth, ts + m->s->base, cpu, stored ? (int64_t)c->dropped : -1);
		c->dropped = 0;
		c->lost_i = -1;
	}
	if (spenc_add(&c->enc, ts + m->s->base, r->buf, r->len))
		m->err = -1;
	si->cpu = cpu;
	truth_event(m->truth, ts + m->s->base, si);
	if (!m->any)
		m->first_ts = ts + m->s->base;
	m->any = true;
	m->last_ts = ts + m->s->base;
	m->events++;
	return ts;
}

static struct sthr *thr(struct sim *m, int tid)
{
	return scn_thread(m->s, tid);
}

static const char *comm_of(struct sim *m, int tid, int cpu, char *buf)
{
	struct sthr *t;

	if (!tid) {
		snprintf(buf, 16, "swapper/%d", cpu);
		return buf;
	}
	if (tid == REC_PID)
		return "vmwait";
	t = thr(m, tid);
	return t ? t->comm : "?";
}

/* A plain record of @ev on @cpu by @pid; the simulator fills the rest. */
#define REC(ev_, pid_) struct srec r; struct sinfo si = { .pid = (pid_) }; srec_init(&r, (ev_), (pid_))

static uint64_t ev_switch(struct sim *m, int cpu, uint64_t ts, int next, long prev_state)
{
	const struct sevent *ev = m->e_switch;
	int prev = m->cpus[cpu].curr;
	char b1[16], b2[16];
	REC(ev, prev);

	srec_str(&r, "prev_comm", comm_of(m, prev, cpu, b1));
	srec_set(&r, "prev_pid", prev);
	srec_set(&r, "prev_prio", 120);
	srec_set(&r, "prev_state", (uint64_t)prev_state);
	srec_str(&r, "next_comm", comm_of(m, next, cpu, b2));
	srec_set(&r, "next_pid", next);
	srec_set(&r, "next_prio", 120);
	si.kind = SK_SWITCH;
	si.prev_pid = prev;
	si.next_pid = next;
	si.prev_runnable = !(prev_state & 0xff);
	si.next_comm = comm_of(m, next, cpu, b2);
	m->cpus[cpu].curr = next;
	return emit(m, cpu, ts, &r, &si);
}

static uint64_t ev_wake(struct sim *m, int cpu, uint64_t ts, int pid, int tid, int target,
			const struct swake *w)
{
	uint64_t t;

	for (int i = 0; i < 2; i++) {
		REC(i ? m->e_wakeup2 : m->e_waking, pid);
		char b[16];

		srec_str(&r, "comm", comm_of(m, tid, target, b));
		srec_set(&r, "pid", tid);
		srec_set(&r, "prio", 120);
		srec_set(&r, "success", 1);
		srec_set(&r, "target_cpu", target);
		si.kind = i ? SK_WAKEUP : SK_WAKING;
		si.wpid = tid;
		si.target_cpu = target;
		si.wake = w ? *w : (struct swake){ -1, -1, -1 };
		t = emit(m, cpu, i ? t + GAP : ts, &r, &si);
	}
	return t;
}

static uint64_t guest_rip(struct vstate *v)
{
	return 0xffffffff81000000ULL + (srand64(&v->rng) & 0xfffff0);
}

static uint64_t ev_entry(struct sim *m, struct vstate *v, uint64_t ts, uint32_t intr)
{
	REC(m->e_entry, v->th->tid);

	srec_set(&r, "vcpu_id", v->v->id);
	srec_set(&r, "rip", guest_rip(v));
	srec_set(&r, "intr_info", intr);
	si.kind = SK_ENTRY;
	return emit(m, v->cpu, ts, &r, &si);
}

static void fill_exit(struct srec *r, struct vstate *v, uint32_t code, uint64_t info1,
		      uint32_t intr)
{
	srec_set(r, "exit_reason", code);
	srec_set(r, "exit_code", code);
	srec_set(r, "guest_rip", guest_rip(v));
	srec_set(r, "rip", guest_rip(v));
	srec_set(r, "isa", (uint64_t)v->vm->isa);
	srec_set(r, "info1", info1);
	srec_set(r, "exit_info1", info1);
	srec_set(r, "intr_info", intr);
	srec_set(r, "exit_int_info", intr);
	srec_set(r, "vcpu_id", v->v->id);
}

static uint64_t ev_exit(struct sim *m, struct vstate *v, uint64_t ts, uint32_t code,
			uint64_t info1, uint32_t intr)
{
	REC(m->e_exit, v->th->tid);

	fill_exit(&r, v, code, info1, intr);
	si.kind = SK_EXIT;
	si.isa = (uint32_t)v->vm->isa;
	si.code = code;
	v->in_guest = false;
	v->exit_ts = emit(m, v->cpu, ts, &r, &si);
	return v->exit_ts;
}

/* A kvm:* event of the vCPU thread with a few fields. */
static uint64_t ev_kvm(struct sim *m, struct vstate *v, int cpu, int pid, uint64_t ts,
		       const struct sevent *ev, enum sev_kind kind,
		       const char *const *names, const uint64_t *vals, int n)
{
	REC(ev, pid);

	for (int i = 0; i < n; i++)
		srec_set(&r, names[i], vals[i]);
	si.kind = kind;
	(void)v;
	return emit(m, cpu, ts, &r, &si);
}

#define KVM(m, v, cpu, pid, ts, ev, kind, ...) ({					\
	static const char *const n_[] = { __VA_ARGS__ };				\
	ev_kvm(m, v, cpu, pid, ts, ev, kind, n_, vals_, ARRAY_SIZE(n_)); })

static uint64_t ev_accept(struct sim *m, struct vstate *tgt, int cpu, int pid, uint64_t ts,
			  int vec, bool apicv)
{
	uint64_t vals_[] = { (uint64_t)tgt->v->id, 0, 0, (uint64_t)vec };

	if (apicv && !m->e_apicv)
		return ts;
	return KVM(m, tgt, cpu, pid, ts, apicv ? m->e_apicv : m->e_accept, SK_KVM_OTHER,
		   "apicid", "dm", "tm", "vec");
}

static uint64_t ev_msi(struct sim *m, struct vstate *tgt, int cpu, int pid, uint64_t ts, int vec)
{
	uint64_t vals_[] = { 0xfee00000ULL | (uint64_t)tgt->v->id << 12, (uint64_t)vec };

	return KVM(m, tgt, cpu, pid, ts, m->e_msi, SK_KVM_OTHER, "address", "data");
}

static uint64_t ev_setirq(struct sim *m, int cpu, int pid, uint64_t ts, int gsi, int level)
{
	uint64_t vals_[] = { (uint64_t)gsi, (uint64_t)level, 0 };

	return KVM(m, NULL, cpu, pid, ts, m->e_setirq, SK_KVM_OTHER, "gsi", "level",
		   "irq_source_id");
}

static uint64_t ev_hrtimer(struct sim *m, int cpu, int pid, uint64_t ts, bool entry,
			   uint64_t fn, int vcpu)
{
	REC(entry ? m->e_hrt_in : m->e_hrt_out, pid);

	srec_set(&r, "hrtimer", HRTIMER_BASE + 0x240 * (uint64_t)vcpu);
	srec_set(&r, "now", ts + m->s->base);
	srec_set(&r, "function", fn);
	si.kind = SK_OTHER;
	return emit(m, cpu, ts, &r, &si);
}

static uint64_t ev_block(struct sim *m, int cpu, int pid, uint64_t ts, bool issue, uint64_t sector)
{
	REC(issue ? m->e_rq_issue : m->e_rq_done, pid);
	char b[16];

	srec_set(&r, "dev", (8u << 20) | 16);
	srec_set(&r, "sector", sector);
	srec_set(&r, "nr_sector", 8);
	srec_set(&r, "bytes", 4096);
	srec_str(&r, "rwbs", "R");
	if (issue)
		srec_str(&r, "comm", comm_of(m, pid, cpu, b));
	srec_str(&r, "cmd", "");
	si.kind = SK_OTHER;
	return emit(m, cpu, ts, &r, &si);
}

/* ---- helper threads: short bursts on their own CPU ---- */

static int helper_cpu(struct sim *m, int tid)
{
	struct sthr *t = thr(m, tid);

	return t && t->cpu >= 0 ? t->cpu : m->s->rec_cpu;
}

static void busy_cpu(struct sim *m, int cpu, const char *who)
{
	if (m->cpus[cpu].curr && !m->err) {
		vw_err("synth: %s needs CPU %d, which runs %d", who, cpu, m->cpus[cpu].curr);
		m->err = -1;
	}
}

/* Wake @tid from an interrupt on its idle CPU and switch to it. */
static uint64_t helper_in(struct sim *m, int tid, uint64_t ts)
{
	int cpu = helper_cpu(m, tid);

	busy_cpu(m, cpu, "a helper thread");
	ts = ev_wake(m, cpu, ts, 0, tid, cpu, NULL);
	return ev_switch(m, cpu, ts + GAP, tid, 0);
}

static uint64_t helper_out(struct sim *m, int tid, uint64_t ts)
{
	return ev_switch(m, helper_cpu(m, tid), ts, 0, 1);
}

/* ---- vCPU episodes ---- */

static void rnd_episode(struct sim *m, struct vstate *v, struct sep *e);

/* Load the next episode; false when the vCPU has none left. */
static bool next_episode(struct sim *m, struct vstate *v)
{
	if (v->left > 1) {
		v->left--;
		return true;
	}
	if (m->s->random) {
		rnd_episode(m, v, &v->cur);
		v->left = v->cur.count;
		return true;
	}
	if (v->ep >= v->v->nr_eps)
		return false;
	v->cur = v->v->eps[v->ep++];
	v->left = v->cur.count;
	return true;
}

static uint32_t code_of(struct vstate *v, uint32_t vmx, uint32_t svm)
{
	return v->vm->isa == 1 ? vmx : svm;
}

/* Pre-entry work of the next KVM_RUN, then kvm_entry. */
static uint64_t do_entry(struct sim *m, struct vstate *v, uint64_t t)
{
	uint32_t intr = 0;

	if (v->pio_in) {
		uint64_t vals_[] = { 0, v->cur.port, 1, 1, 0x41 };

		t = KVM(m, v, v->cpu, v->th->tid, t, m->e_pio, SK_KVM_OTHER,
			"rw", "port", "size", "count", "val") + GAP;
		v->pio_in = false;
	}
	if (v->inj_vec >= 0) {
		uint64_t vals_[] = { (uint64_t)v->inj_vec, (uint64_t)v->inj_vec, 0, 0 };

		t = KVM(m, v, v->cpu, v->th->tid, t, m->e_inj, SK_INJ_VIRQ,
			"vector", "irq", "soft", "reinjected") + GAP;
		intr = 0x80000000u | (uint32_t)v->inj_vec;
		v->inj_vec = -1;
	}
	t = ev_entry(m, v, t, intr);
	v->in_guest = true;
	return t;
}

static void start_episode(struct sim *m, struct vstate *v, uint64_t t)
{
	if (!next_episode(m, v)) {
		v->done = true;
		return;
	}
	t = do_entry(m, v, t);
	if (v->cur.kind == EP_GUEST) {
		v->done = true;	/* stays in the guest to the end */
		return;
	}
	schedule(m, v, t + v->cur.guest, PH_GUEST_END);
}

static struct swake wake_of(struct vstate *v, int reason, int src, int gsi)
{
	(void)v;
	return (struct swake){ reason, src, gsi };
}

/* The vector a halt's wake delivers. */
static int wake_vec(struct vstate *v)
{
	const struct sep *e = &v->cur;

	if (e->vec >= 0)
		return e->vec;
	switch (e->wake) {
	case WK_TIMER: return v->vm->timer_vec;
	case WK_IPI: return 0xfb;
	case WK_NET: return v->vm->net_vec;
	case WK_DISK: return v->vm->disk_vec;
	case WK_PIC: return 0x30 + MAX(e->gsi, 0);
	default: return 0x41;
	}
}

static void after_hlt_exit(struct sim *m, struct vstate *v, uint64_t t)
{
	const struct sep *e = &v->cur;

	if (e->fast) {
		schedule(m, v, t + GAP, PH_NEXT);
		return;
	}
	v->blocked = false;
	v->wake_cpu = e->cpu >= 0 ? e->cpu : v->cpu;
	if (e->wake == WK_DISK && v->vm->io) {
		uint64_t u = helper_in(m, v->vm->io, t + 2000);

		u = ev_block(m, helper_cpu(m, v->vm->io), v->vm->io, u + GAP, true,
			     0x1000 + (srand64(&v->rng) & 0xffff) * 8);
		helper_out(m, v->vm->io, u + GAP);
	}
	if (e->wake == WK_NONE && e->poll != PL_SUCCESS) {
		schedule(m, v, t + (e->poll == PL_BLOCK ? e->pollns : 1500), PH_BLOCK);
		return;
	}
	if (e->poll == PL_SUCCESS || (e->poll == PL_BLOCK && e->pollns >= e->idle)) {
		v->cur.poll = PL_SUCCESS;
		if (e->wake != WK_NONE)
			schedule(m, v, t + e->idle, PH_WAKE);
		else
			v->done = true;
		return;
	}
	schedule(m, v, t + (e->poll == PL_BLOCK ? e->pollns : 1500), PH_BLOCK);
}

static void do_block(struct sim *m, struct vstate *v, uint64_t t)
{
	const struct sep *e = &v->cur;

	t = ev_switch(m, v->cpu, t, 0, 1);
	v->blocked = true;
	v->block_ts = t;
	if (e->wake == WK_NONE) {
		v->done = true;
		return;
	}
	schedule(m, v, MAX(v->exit_ts + e->idle, t + 1000), PH_WAKE);
}

/* The sending vCPU of an IPI: the given one, or any vCPU of the VM in the guest. */
static struct vstate *ipi_sender(struct sim *m, struct vstate *v, uint64_t t)
{
	for (int i = 0; i < m->nr_vs; i++) {
		struct vstate *s = &m->vs[i];

		if (s == v || s->vm != v->vm || !s->in_guest || s->ph != PH_GUEST_END ||
		    s->next <= t + 4 * GAP + 2000)
			continue;
		if (v->cur.from < 0 || v->cur.from == s->v->id)
			return s;
	}
	return NULL;
}

/* x2APIC ICR write on the sender: exit, ipi, accept, wake, [apicv], msr, entry. */
static uint64_t wake_ipi(struct sim *m, struct vstate *v, struct vstate *s, uint64_t t,
			 int vec)
{
	uint64_t t0 = t, icr = (uint64_t)v->v->id << 32 | (uint32_t)vec;

	t = ev_exit(m, s, t, code_of(s, 32, 0x7c), 0, 0) + GAP;
	{
		uint64_t vals_[] = { (uint32_t)vec, (uint64_t)v->v->id };

		t = KVM(m, s, s->cpu, s->th->tid, t, m->e_ipi, SK_KVM_OTHER, "icr_low",
			"dest_id") + GAP;
	}
	t = ev_accept(m, v, s->cpu, s->th->tid, t, vec, false) + GAP;
	if (v->blocked)
		t = ev_wake(m, s->cpu, t, s->th->tid, v->th->tid, v->wake_cpu, &v->wake) + GAP;
	if (s->vm->apicv)
		t = ev_accept(m, v, s->cpu, s->th->tid, t, vec, true) + GAP;
	{
		uint64_t vals_[] = { 1, 0x830, icr, 0 };

		t = KVM(m, s, s->cpu, s->th->tid, t, m->e_msr, SK_KVM_OTHER, "write", "ecx",
			"data", "exception") + GAP;
	}
	t = ev_entry(m, s, t, 0);
	s->in_guest = true;
	/* the sender's guest run is as long as planned, after the interruption */
	schedule(m, s, s->next + (t - t0), PH_GUEST_END);
	return t;
}

/* A device interrupt raised by a helper thread of the VM. */
static uint64_t wake_device(struct sim *m, struct vstate *v, uint64_t t, int helper, int vec)
{
	const struct sep *e = &v->cur;
	int cpu = helper_cpu(m, helper);

	t = helper_in(m, helper, t) + GAP;
	if (e->wake == WK_IOAPIC || e->wake == WK_PIC)
		t = ev_setirq(m, cpu, helper, t, e->gsi, 1) + GAP;
	if (e->wake == WK_PIC) {
		uint64_t vals_[] = { (uint64_t)(e->gsi >= 8), (uint64_t)(e->gsi & 7), 0, 0, 0 };

		t = KVM(m, v, cpu, helper, t, m->e_pic, SK_KVM_OTHER, "chip", "pin", "elcr",
			"imr", "coalesced") + GAP;
	} else {
		if (e->wake != WK_IOAPIC)
			t = ev_msi(m, v, cpu, helper, t, vec) + GAP;
		t = ev_accept(m, v, cpu, helper, t, vec, false) + GAP;
	}
	if (v->blocked)
		t = ev_wake(m, cpu, t, helper, v->th->tid, v->wake_cpu, &v->wake) + GAP;
	if (v->vm->apicv && e->wake != WK_PIC)
		t = ev_accept(m, v, cpu, helper, t, vec, true) + GAP;
	if (e->wake == WK_IOAPIC) {
		for (int level = 1; level >= 0; level--) {
			uint64_t vals_[] = { (uint64_t)vec | (uint64_t)v->v->id << 56,
					     (uint64_t)e->gsi, 0 };

			if (!level)
				t = ev_setirq(m, cpu, helper, t, e->gsi, 0) + GAP;
			t = KVM(m, v, cpu, helper, t, m->e_ioapic, SK_KVM_OTHER, "e", "pin",
				"coalesced") + GAP;
		}
	} else if (e->wake == WK_PIC) {
		t = ev_setirq(m, cpu, helper, t, e->gsi, 0) + GAP;
	}
	return helper_out(m, helper, t);
}

static uint64_t wake_timer(struct sim *m, struct vstate *v, uint64_t t)
{
	int cpu = v->cpu, pid = v->blocked ? m->cpus[cpu].curr : v->th->tid;

	t = ev_hrtimer(m, cpu, pid, t, true, ADDR_APIC_TIMER_FN, v->v->id) + GAP;
	if (v->blocked)
		t = ev_wake(m, cpu, t, pid, v->th->tid, v->wake_cpu, &v->wake) + GAP;
	return ev_hrtimer(m, cpu, pid, t, false, 0, v->v->id);
}

/* A busy task takes the vCPU's idle CPU shortly before the wake. */
static void busy_before_wake(struct sim *m, struct vstate *v, uint64_t t)
{
	int by = v->cur.by;

	if (!by || !v->blocked)
		return;
	t = ev_wake(m, v->cpu, t > 20000 ? t - 20000 : t, 0, by, v->cpu, NULL);
	ev_switch(m, v->cpu, t + GAP, by, 0);
}

static void do_wake(struct sim *m, struct vstate *v, uint64_t t)
{
	struct sep *e = &v->cur;
	int vec = wake_vec(v);
	struct vstate *s;

	v->wake = wake_of(v, WR_UNKNOWN, -1, -1);
	busy_before_wake(m, v, t);
	switch (e->wake) {
	case WK_IPI:
		s = ipi_sender(m, v, t);
		if (s) {
			v->wake = wake_of(v, WR_IPI, s->v->id, -1);
			t = wake_ipi(m, v, s, t, vec);
			break;
		}
		if (!m->s->random) {
			vw_err("synth: vcpu %d: no IPI sender in the guest at %" PRIu64,
			       v->v->id, t);
			m->err = -1;
			return;
		}
		e->wake = WK_TIMER;
		e->vec = -1;
		vec = wake_vec(v);
		/* fall through */
	case WK_TIMER:
		v->wake = wake_of(v, WR_TIMER, -1, -1);
		t = wake_timer(m, v, t);
		break;
	case WK_NET:
		v->wake = wake_of(v, WR_NET, -1, -1);
		t = wake_device(m, v, t, v->vm->vhost, vec);
		break;
	case WK_DISK:
		v->wake = wake_of(v, WR_DISK, -1, -1);
		t = ev_block(m, helper_cpu(m, v->vm->io), 0, t, false, 0x1000) + GAP;
		t = wake_device(m, v, t, v->vm->io, vec);
		break;
	default:
		v->wake = wake_of(v, WR_DEVICE, vec,
				  e->wake == WK_MSI ? -1 : e->gsi);
		t = wake_device(m, v, t, v->vm->main, vec);
		break;
	}
	/* LAPIC interrupts are injected by kvm_inj_virq unless APICv posts them */
	v->inj_vec = (!v->vm->apicv || e->wake == WK_PIC) ? vec : -1;
	if (v->blocked) {
		uint64_t in = e->by ? MAX(t + GAP, v->exit_ts + e->idle + e->lat) : t + SWITCH_LAT;

		schedule(m, v, in, PH_SWITCHIN);
	} else {
		schedule(m, v, t + GAP, PH_RESUME);
	}
}

static void do_switchin(struct sim *m, struct vstate *v, uint64_t t)
{
	int old = v->cpu;

	if (v->wake_cpu != old)
		busy_cpu(m, v->wake_cpu, "a migrating vCPU");
	v->cpu = v->wake_cpu;
	if (v->cur.by && v->wake_cpu == old) {
		t = ev_switch(m, v->cpu, t, v->th->tid, 1);	/* busy task sleeps */
	} else {
		t = ev_switch(m, v->cpu, t, v->th->tid, 0);
		if (v->cur.by)
			ev_switch(m, old, t + GAP, 0, 1);
	}
	v->blocked = false;
	schedule(m, v, t + 1000, PH_RESUME);
}

static void do_resume(struct sim *m, struct vstate *v, uint64_t t)
{
	const struct sep *e = &v->cur;
	uint64_t ns = t - v->exit_ts;
	bool waited = e->poll != PL_SUCCESS;

	if (e->poll != PL_NONE) {
		uint32_t old = v->halt_poll, neu = waited ? old / 2 : (old ? old * 2 : 10000);
		uint64_t vals_[] = { !waited, (uint64_t)v->v->id, neu, old };

		if (neu > 200000)
			neu = 200000;
		vals_[2] = neu;
		if (neu != old)
			t = KVM(m, v, v->cpu, v->th->tid, t, m->e_hpoll, SK_HALT_POLL, "grow",
				"vcpu_id", "new", "old") + GAP;
		v->halt_poll = neu;
	}
	{
		REC(m->e_wakeup, v->th->tid);

		srec_set(&r, "ns", ns);
		srec_set(&r, "waited", waited);
		srec_set(&r, "valid", 1);
		si.kind = SK_VCPU_WAKEUP;
		si.wake = v->wake;
		t = emit(m, v->cpu, t, &r, &si) + GAP;
	}
	if (e->wake == WK_TIMER) {
		int vec = wake_vec(v);

		t = ev_accept(m, v, v->cpu, v->th->tid, t, vec, false) + GAP;
		if (v->vm->apicv)
			t = ev_accept(m, v, v->cpu, v->th->tid, t, vec, true) + GAP;
	}
	start_episode(m, v, t);
}

static void do_preempt(struct sim *m, struct vstate *v, uint64_t t)
{
	const struct sep *e = &v->cur;

	t = ev_wake(m, v->cpu, t + 1000, v->th->tid, e->by, v->cpu, NULL) + GAP;
	t = ev_switch(m, v->cpu, t, e->by, 0x100);	/* R+ */
	schedule(m, v, t + e->dur, PH_UNPREEMPT);
}

static void do_unpreempt(struct sim *m, struct vstate *v, uint64_t t)
{
	const struct sep *e = &v->cur;
	int old = v->cpu;

	if (e->cpu >= 0 && e->cpu != old) {
		busy_cpu(m, e->cpu, "a migrating vCPU");
		v->cpu = e->cpu;
		t = ev_switch(m, v->cpu, t, v->th->tid, 0);
		ev_switch(m, old, t + GAP, 0, 1);
	} else {
		t = ev_switch(m, v->cpu, t, v->th->tid, 1);
	}
	schedule(m, v, t + e->hyp, PH_NEXT);
}

static uint64_t ev_nested_exit(struct sim *m, struct vstate *v, uint64_t t, const struct sevent *ev,
			       enum sev_kind kind)
{
	REC(ev, v->th->tid);

	fill_exit(&r, v, v->cur.code, 0, 0);
	si.kind = kind;
	si.isa = (uint32_t)v->vm->isa;
	si.code = v->cur.code;
	return emit(m, v->cpu, t, &r, &si);
}

static void do_l2enter(struct sim *m, struct vstate *v, uint64_t t)
{
	const struct sep *e = &v->cur;
	const struct sevent *ev = m->e_nenter;
	uint32_t inj = e->vec >= 0 ? 0x80000000u | (uint32_t)e->vec : 0;
	bool first = v->launched != e->vmcs;

	t = ev_exit(m, v, t, code_of(v, first ? 20 : 24, 0x80), 0, 0);
	v->launched = e->vmcs;
	{
		REC(ev, v->th->tid);

		srec_set(&r, "rip", guest_rip(v));
		srec_set(&r, "vmcb", e->vmcs);
		srec_set(&r, "nested_rip", 0x401000 + (srand64(&v->rng) & 0xff0));
		srec_set(&r, "int_ctl", 0);
		srec_set(&r, "event_inj", inj);
		srec_set(&r, "tdp_enabled", 1);
		srec_set(&r, "npt", 1);
		srec_set(&r, "guest_pgd", e->eptp);
		srec_set(&r, "isa", (uint64_t)v->vm->isa);
		si.kind = SK_NESTED_ENTER;
		si.vmcs = e->vmcs;
		si.pgd = sev_field(ev, "guest_pgd") ? e->eptp : UINT64_MAX;
		si.wake = (struct swake){ e->l2reason, e->l2reason == WR_DEVICE ? e->vec : -1, -1 };
		t = emit(m, v->cpu, t + e->hyp, &r, &si);
	}
	v->in_l2 = true;
	schedule(m, v, t + GAP, PH_NEXT);
}

static void do_l2exit(struct sim *m, struct vstate *v, uint64_t t, bool reflect)
{
	const struct sep *e = &v->cur;

	t = ev_exit(m, v, t, e->code, 0, 0);
	t = ev_nested_exit(m, v, t + GAP, m->e_nexit, SK_NESTED_EXIT);
	if (!reflect) {
		schedule(m, v, t + e->hyp, PH_NEXT);
		return;
	}
	if (v->vm->isa == 2 && e->code == 0x60) {
		uint64_t vals_[] = { guest_rip(v) };

		t = KVM(m, v, v->cpu, v->th->tid, t + GAP, m->e_nintr, SK_NESTED_OTHER, "rip");
	}
	t = ev_nested_exit(m, v, t + e->hyp, m->e_ninject, SK_NESTED_INJECT);
	v->in_l2 = false;
	schedule(m, v, t + GAP, PH_NEXT);
}

/* The guest run of the current episode ended: its exit and what follows. */
static void do_guest_end(struct sim *m, struct vstate *v, uint64_t t)
{
	struct sep *e = &v->cur;

	switch (e->kind) {
	case EP_EXIT:
		t = ev_exit(m, v, t, e->code, 0, e->code == 1 ? 0x800000ec : 0);
		if ((v->vm->isa == 1 && (e->code == 31 || e->code == 32)) ||
		    (v->vm->isa == 2 && e->code == 0x7c)) {
			uint64_t vals_[] = { e->code != 31, 0x6e0, 0x12345678, 0 };

			KVM(m, v, v->cpu, v->th->tid, t + GAP, m->e_msr, SK_KVM_OTHER, "write",
			    "ecx", "data", "exception");
		}
		schedule(m, v, t + e->hyp, PH_NEXT);
		break;
	case EP_PIO: {
		uint64_t q = (uint64_t)e->port << 16 | (e->in ? 8 : 0);
		uint64_t vals_[] = { 1, e->port, 1, 1, 0x41 };

		t = ev_exit(m, v, t, code_of(v, 30, 0x7b), q, 0);
		if (!e->in)
			KVM(m, v, v->cpu, v->th->tid, t + GAP, m->e_pio, SK_KVM_OTHER,
			    "rw", "port", "size", "count", "val");
		v->pio_in = e->in;
		goto userspace;
	}
	case EP_MMIO: {
		uint64_t vals_[] = { 2, 4, e->gpa, 0x1 };

		t = ev_exit(m, v, t, code_of(v, 49, 0x400), 0, 0);
		KVM(m, v, v->cpu, v->th->tid, t + GAP, m->e_mmio, SK_KVM_OTHER,
		    "type", "len", "gpa", "val");
		goto userspace;
	}
	case EP_HLT:
		t = ev_exit(m, v, t, code_of(v, 12, 0x78), 0, 0);
		after_hlt_exit(m, v, t);
		break;
	case EP_PREEMPT:
		t = ev_exit(m, v, t, code_of(v, 1, 0x60), 0, 0x800000ec);
		do_preempt(m, v, t);
		break;
	case EP_L2ENTER:
		do_l2enter(m, v, t);
		break;
	case EP_L2EXIT:
		do_l2exit(m, v, t, false);
		break;
	case EP_L2REFLECT:
		do_l2exit(m, v, t, true);
		break;
	case EP_L2HLT:
		e->code = code_of(v, 12, 0x78);
		do_l2exit(m, v, t, true);
		break;
	default:
		break;
	}
	return;
userspace:
	{
		REC(m->e_uexit, v->th->tid);

		srec_set(&r, "reason", e->kind == EP_PIO ? 2 : 6);
		si.kind = SK_USEREXIT;
		t = emit(m, v->cpu, t + e->hyp, &r, &si);
	}
	schedule(m, v, t + e->vmm, PH_NEXT);
}

/* The VMM main thread creates the vCPU thread (clone with CLONE_THREAD). */
static void do_spawn(struct sim *m, struct vstate *v, uint64_t t)
{
	int main_tid = v->vm->main, cpu = helper_cpu(m, main_tid);
	char b[16];

	t = helper_in(m, main_tid, t) + GAP;
	{
		REC(m->e_newtask, main_tid);

		srec_set(&r, "pid", v->th->tid);
		srec_str(&r, "comm", comm_of(m, main_tid, cpu, b));
		srec_set(&r, "clone_flags", 0x3d0f00);	/* ... CLONE_THREAD ... */
		si.kind = SK_OTHER;
		t = emit(m, cpu, t, &r, &si) + GAP;
	}
	{
		REC(m->e_wakenew, main_tid);

		srec_str(&r, "comm", comm_of(m, v->th->tid, cpu, b));
		srec_set(&r, "pid", v->th->tid);
		srec_set(&r, "prio", 120);
		srec_set(&r, "target_cpu", v->cpu);
		si.kind = SK_WAKEUP;
		si.wpid = v->th->tid;
		si.target_cpu = v->cpu;
		si.wake = (struct swake){ -1, -1, -1 };
		t = emit(m, cpu, t, &r, &si) + GAP;
	}
	helper_out(m, main_tid, t);
	busy_cpu(m, v->cpu, "a new vCPU thread");
	t = ev_switch(m, v->cpu, t + SWITCH_LAT, v->th->tid, 0);
	schedule(m, v, MAX(v->v->at, t + 1000), PH_START);
}

static void vcpu_step(struct sim *m, struct vstate *v)
{
	uint64_t t = v->next;

	switch (v->ph) {
	case PH_START:
	case PH_NEXT:
		start_episode(m, v, t);
		break;
	case PH_GUEST_END:
		do_guest_end(m, v, t);
		break;
	case PH_BLOCK:
		do_block(m, v, t);
		break;
	case PH_WAKE:
		do_wake(m, v, t);
		break;
	case PH_SWITCHIN:
		do_switchin(m, v, t);
		break;
	case PH_RESUME:
		do_resume(m, v, t);
		break;
	case PH_UNPREEMPT:
		do_unpreempt(m, v, t);
		break;
	case PH_SPAWN:
		do_spawn(m, v, t);
		break;
	default:
		break;
	}
}

/* ---- noise and the recorder ---- */

static void noise_step(struct sim *m, struct vstate *n)
{
	struct snoise *ns = &m->s->noise[n->idx];
	int cpu = helper_cpu(m, ns->tid);

	if (n->ph == PH_START) {
		if (m->cpus[cpu].curr) {	/* the CPU is busy: try later */
			schedule(m, n, n->next + ns->every, PH_START);
			return;
		}
		helper_in(m, ns->tid, n->next);
		schedule(m, n, n->next + ns->run, PH_NEXT);
	} else {
		uint64_t t;

		{
			REC(m->e_irq_in, ns->tid);

			srec_set(&r, "irq", 24);
			srec_str(&r, "name", "eth0-rx-0");
			t = emit(m, cpu, n->next, &r, &si);
		}
		{
			REC(m->e_irq_out, ns->tid);

			srec_set(&r, "irq", 24);
			srec_set(&r, "ret", 1);
			t = emit(m, cpu, t + GAP, &r, &si);
		}
		helper_out(m, ns->tid, t + GAP);
		schedule(m, n, n->next + ns->every, PH_START);
	}
}

static uint64_t marker(struct sim *m, uint64_t t, const char *text)
{
	REC(m->e_print, REC_PID);
	char buf[400];

	snprintf(buf, sizeof(buf), "%s\n", text);
	srec_set(&r, "ip", ADDR_MARK_WRITE);
	srec_str(&r, "buf", buf);
	si.kind = SK_OTHER;
	return emit(m, m->s->rec_cpu, t, &r, &si);
}

/* vmwait record's metadata markers, then the recorder goes to sleep. */
static void recorder_step(struct sim *m, uint64_t t)
{
	char buf[400];

	if (m->s->no_markers)
		return;
	busy_cpu(m, m->s->rec_cpu, "the recorder");
	m->cpus[m->s->rec_cpu].curr = REC_PID;
	for (int i = 0; i < m->s->nr_vms; i++) {
		struct svm *vm = &m->s->vms[i];

		snprintf(buf, sizeof(buf), "vmwait: vm pid=%d cmdline=%s", vm->pid, vm->cmdline);
		t = marker(m, t, buf) + GAP;
		for (int j = 0; j < m->s->nr_thr; j++) {
			struct sthr *th = &m->s->thr[j];

			if (th->tgid != vm->pid)
				continue;
			snprintf(buf, sizeof(buf), "vmwait: task tid=%d tgid=%d comm=%s",
				 th->tid, th->tgid, th->comm);
			t = marker(m, t, buf) + GAP;
		}
	}
	ev_switch(m, m->s->rec_cpu, t, 0, 1);
}

/* ---- random episodes ---- */

static uint64_t rnd_range(uint64_t *st, uint64_t lo, uint64_t hi)
{
	return lo + srand64(st) % (hi - lo + 1);
}

static void rnd_episode(struct sim *m, struct vstate *v, struct sep *e)
{
	static const uint32_t vmx[] = { 1, 10, 28, 31, 32, 48, 49, 52, 56, 40 };
	static const uint32_t svm[] = { 0x60, 0x72, 0x7c, 0x400, 0x64, 0x77, 0x81 };
	uint64_t *st = &v->rng, r = srand64(st) % 100;
	int c = v->cpu;

	memset(e, 0, sizeof(*e));
	e->count = 1;
	e->cpu = -1;
	e->from = -1;
	e->vec = -1;
	e->gsi = -1;
	e->l2reason = -1;
	e->guest = rnd_range(st, 500, 60000);
	e->hyp = rnd_range(st, 400, 8000);
	if (r < 45) {
		e->kind = EP_EXIT;
		e->code = v->vm->isa == 1 ? vmx[srand64(st) % ARRAY_SIZE(vmx)] :
					    svm[srand64(st) % ARRAY_SIZE(svm)];
	} else if (r < 50) {
		e->kind = EP_PIO;
		e->port = 0x3f8;
		e->in = srand64(st) % 2;
		e->vmm = rnd_range(st, 2000, 30000);
	} else if (r < 54) {
		e->kind = EP_MMIO;
		e->gpa = 0xfebf0000;
		e->vmm = rnd_range(st, 2000, 30000);
	} else if (r < 92) {
		static const int wakes[] = { WK_TIMER, WK_TIMER, WK_IPI, WK_IPI, WK_NET, WK_DISK,
					     WK_MSI, WK_IOAPIC };

		e->kind = EP_HLT;
		e->idle = rnd_range(st, 3000, 3000000);
		e->wake = wakes[srand64(st) % ARRAY_SIZE(wakes)];
		e->poll = (int)(srand64(st) % 3);
		e->pollns = rnd_range(st, 2000, 100000);
		e->fast = srand64(st) % 40 == 0;
		if (e->wake == WK_MSI)
			e->vec = 0x31;
		if (e->wake == WK_IOAPIC) {
			e->gsi = 10;
			e->vec = 0x32;
		}
		if (srand64(st) % 10 == 0)
			e->by = 200 + c;
		e->lat = rnd_range(st, 1000, 50000);
	} else {
		int k = (int)(srand64(st) % 3);

		e->kind = EP_PREEMPT;
		e->dur = rnd_range(st, 1000, 2000000);
		e->by = k == 0 ? 200 + c : k == 1 ? v->vm->pid + 200 + c :
			m->s->vms[1 - (int)(v->vm - m->s->vms)].pid + 300 + c;
	}
}

/* ---- setup ---- */

static const struct sevent *need(struct sim *m, const char *name, bool optional)
{
	const struct sevent *ev = sfmt_event(&m->fmt, name);

	if (!ev && !optional) {
		vw_err("synth: %s has no format for %s", m->fmt.dir, name);
		m->err = -1;
	}
	return ev;
}

static int load_formats(struct sim *m)
{
	char dir[1024];

	snprintf(dir, sizeof(dir), "%s/%s", m->o->fmtroot, m->s->kernel);
	if (sfmt_load(&m->fmt, dir))
		return -1;
	m->e_entry = need(m, "kvm_entry", false);
	m->e_exit = need(m, "kvm_exit", false);
	m->e_uexit = need(m, "kvm_userspace_exit", false);
	m->e_pio = need(m, "kvm_pio", false);
	m->e_mmio = need(m, "kvm_mmio", false);
	m->e_wakeup = need(m, "kvm_vcpu_wakeup", false);
	m->e_hpoll = need(m, "kvm_halt_poll_ns", false);
	m->e_setirq = need(m, "kvm_set_irq", false);
	m->e_msi = need(m, "kvm_msi_set_irq", false);
	m->e_ioapic = need(m, "kvm_ioapic_set_irq", false);
	m->e_pic = need(m, "kvm_pic_set_irq", false);
	m->e_accept = need(m, "kvm_apic_accept_irq", false);
	m->e_apicv = need(m, "kvm_apicv_accept_irq", true);
	m->e_ipi = need(m, "kvm_apic_ipi", false);
	m->e_inj = need(m, "kvm_inj_virq", false);
	m->e_nenter = need(m, "kvm_nested_vmenter", true);
	if (!m->e_nenter)
		m->e_nenter = need(m, "kvm_nested_vmrun", true);
	m->e_nexit = need(m, "kvm_nested_vmexit", false);
	m->e_ninject = need(m, "kvm_nested_vmexit_inject", false);
	m->e_nintr = need(m, "kvm_nested_intr_vmexit", false);
	m->e_msr = need(m, "kvm_msr", false);
	m->e_switch = need(m, "sched_switch", false);
	m->e_waking = need(m, "sched_waking", false);
	m->e_wakeup2 = need(m, "sched_wakeup", false);
	m->e_hrt_in = need(m, "hrtimer_expire_entry", false);
	m->e_hrt_out = need(m, "hrtimer_expire_exit", false);
	m->e_rq_issue = need(m, "block_rq_issue", false);
	m->e_rq_done = need(m, "block_rq_complete", false);
	m->e_print = need(m, "print", false);
	m->e_irq_in = need(m, "irq_handler_entry", false);
	m->e_irq_out = need(m, "irq_handler_exit", false);
	m->e_newtask = need(m, "task_newtask", false);
	m->e_wakenew = need(m, "sched_wakeup_new", false);
	return m->err;
}

/* kallsyms: the functions the events point at, so %ps resolves. */
static const char kallsyms[] =
	"ffffffff81000000 T _stext\n"
	"ffffffff8119a3d0 t tick_nohz_handler\n"
	"ffffffff812a4c10 T tracing_mark_write\n"
	"ffffffffc0a1f2e0 t apic_timer_fn\t[kvm]\n"
	"ffffffffc0a1f5a0 t pit_timer_fn\t[kvm]\n";

static int write_metadata(struct sim *m)
{
	struct tdat_writer *w = m->w;
	struct sbuf sb = { 0 };
	int ret = 0;

	ret |= tdat_set_headers(w, m->fmt.header_page, m->fmt.header_page_len,
				m->fmt.header_event, m->fmt.header_event_len);
	for (int i = 0; i < m->fmt.nr_ev; i++) {
		struct sevent *ev = &m->fmt.ev[i];

		if (!strcmp(ev->system, "ftrace"))
			ret |= tdat_add_ftrace_format(w, ev->text, ev->len);
		else
			ret |= tdat_add_event_format(w, ev->system, ev->text, ev->len);
	}
	ret |= tdat_set_kallsyms(w, kallsyms, strlen(kallsyms));
	sbuf_addf(&sb, "%d vmwait\n", REC_PID);
	for (int i = 0; i < m->s->nr_thr; i++)
		sbuf_addf(&sb, "%d %s\n", m->s->thr[i].tid, m->s->thr[i].comm);
	ret |= tdat_set_cmdlines(w, sb.buf, sb.len);
	sbuf_free(&sb);
	ret |= tdat_set_clock(w, "local");
	return ret;
}

static int setup(struct sim *m)
{
	struct scn *s = m->s;
	struct tdat_opts to = {
		.version = m->o->version ? m->o->version : 6,
		.compress = m->o->compress,
		.page_size = s->page_size,
		.ncpus = (unsigned int)s->ncpus,
	};

	if (load_formats(m))
		return -1;
	m->w = tdat_create(m->o->out, &to);
	if (!m->w) {
		vw_err("synth: cannot create %s: %s", m->o->out, strerror(errno));
		return -1;
	}
	if (write_metadata(m)) {
		vw_err("synth: cannot write the metadata of %s", m->o->out);
		return -1;
	}
	m->cpus = xcalloc(s->ncpus, sizeof(*m->cpus));
	for (int i = 0; i < s->ncpus; i++) {
		spenc_init(&m->cpus[i].enc, i, s->page_size, page_sink, m->w);
		m->cpus[i].lost_i = -1;
	}
	m->res.file = xstrdup(m->o->out);
	m->res.cpus = s->ncpus;
	m->truth = truth_new(&m->res, &m->fmt);
	/*
	 * Without markers no rule of the README gives the VMM's own tgid (the
	 * creator of the vCPU threads is not known to be a group leader), so
	 * its vCPUs land in the VM of pid -1, which has no name ("?").
	 */
	if (s->no_markers)
		truth_vm(m->truth, -1, "?");
	for (int i = 0; i < s->nr_vms && !s->no_markers; i++)
		truth_vm(m->truth, s->vms[i].pid, s->vms[i].name);
	truth_thread(m->truth, REC_PID, -1, -1, "vmwait");
	for (int i = 0; i < s->nr_thr; i++) {
		struct sthr *t = &s->thr[i];
		int vcpu = -1;

		for (int j = 0; j < s->nr_vcpus; j++)
			if (s->vcpus[j].tid == t->tid)
				vcpu = s->vcpus[j].id;
		truth_thread(m->truth, t->tid, t->kind == TK_HOST ? -1 :
			     s->no_markers && t->kind != TK_VHOST ? -1 : t->tgid, vcpu, t->comm);
	}
	return 0;
}

/* Actors: one per vCPU, one per noise task, one for the recorder. */
static void make_actors(struct sim *m)
{
	struct scn *s = m->s;
	int n = s->nr_vcpus + s->nr_noise + 1;

	m->vs = xcalloc(n, sizeof(*m->vs));
	m->heap = xcalloc(n, sizeof(*m->heap));
	for (int i = 0; i < s->nr_vcpus; i++) {
		struct vstate *v = &m->vs[i];

		v->v = &s->vcpus[i];
		v->th = scn_thread(s, v->v->tid);
		v->vm = &s->vms[v->v->vm];
		v->idx = i;
		v->cpu = v->v->cpu;
		v->heap = -1;
		v->inj_vec = -1;
		v->rng = s->seed * 1000003 + (uint64_t)v->v->tid;
		if (v->v->spawn) {
			schedule(m, v, v->v->spawn, PH_SPAWN);
			continue;
		}
		m->cpus[v->cpu].curr = v->th->tid;
		schedule(m, v, v->v->at, PH_START);
	}
	m->nr_vs = s->nr_vcpus;
	for (int i = 0; i < s->nr_noise; i++) {
		struct vstate *v = &m->vs[s->nr_vcpus + i];

		v->idx = i;
		v->heap = -1;
		v->vm = NULL;
		schedule(m, v, s->noise[i].at, PH_START);
	}
	m->vs[n - 1].heap = -1;
	m->vs[n - 1].idx = -1;
	schedule(m, &m->vs[n - 1], s->start, PH_DONE);
}

/* Without an end, the trace ends when no vCPU has anything left to do. */
static bool vcpus_done(struct sim *m)
{
	for (int i = 0; i < m->nr_vs; i++)
		if (m->vs[i].heap >= 0)
			return false;
	return true;
}

static void run(struct sim *m)
{
	struct scn *s = m->s;

	while (m->nr_heap && !m->err) {
		struct vstate *v;

		if (s->end && m->heap[0]->next > s->end)
			break;
		if (s->max_events && m->events >= s->max_events)
			break;
		if (!s->end && !s->max_events && vcpus_done(m))
			break;
		v = heap_pop(m);
		if (v->idx < 0)
			recorder_step(m, v->next);
		else if (v - m->vs >= m->nr_vs)
			noise_step(m, v);
		else
			vcpu_step(m, v);
	}
}

static int finish(struct sim *m)
{
	int ret = 0;
	FILE *f;

	for (int i = 0; i < m->s->ncpus; i++)
		ret |= spenc_flush(&m->cpus[i].enc);
	if (ret || m->err || tdat_close(m->w)) {
		m->w = NULL;
		vw_err("synth: writing %s failed", m->o->out);
		return -1;
	}
	m->w = NULL;
	m->res.start_ns = m->first_ts;
	m->res.end_ns = m->last_ts;
	m->res.events = m->events;
	truth_finish(m->truth, m->last_ts);
	res_finish(&m->res);
	if (!m->o->truth)
		return 0;
	f = strcmp(m->o->truth, "-") ? fopen(m->o->truth, "w") : stdout;
	if (!f) {
		vw_err("synth: cannot write %s: %s", m->o->truth, strerror(errno));
		return -1;
	}
	res_write_json(&m->res, f);
	if (f != stdout && fclose(f))
		return -1;
	return 0;
}

int sim_run(struct scn *s, const struct sim_opts *o)
{
	struct sim m = { .s = s, .o = o };
	int ret = -1;

	if (setup(&m))
		goto out;
	make_actors(&m);
	run(&m);
	if (m.err)
		goto out;
	ret = finish(&m);
out:
	if (m.w)
		tdat_abort(m.w);
	if (m.cpus)
		for (int i = 0; i < s->ncpus; i++)
			spenc_free(&m.cpus[i].enc);
	if (m.truth)
		truth_free(m.truth);
	res_free(&m.res);
	sfmt_free(&m.fmt);
	free(m.cpus);
	free(m.vs);
	free(m.heap);
	return ret;
}
