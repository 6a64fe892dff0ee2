/*
 * The simulator: runs the scenario's episodes on a small model of a KVM host
 * (CPUs, threads, vCPUs) in time order, writes the events a real x86 host
 * emits for them, with the common_flags of their context (--light: without
 * the per-exit events), and feeds the ground truth. See tests/synth/README.md.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "guest.h"
#include "sim.h"
#include "tdat.h"
#include "util.h"

#define GAP		300	/* ns between events of one burst */
#define SWITCH_LAT	3000	/* waking -> switch-in on an idle CPU */
#define REC_PID		999
#define ADDR_APIC_TIMER_FN	0xffffffffc0a1f2e0ULL
#define ADDR_MARK_WRITE		0xffffffff812a4c10ULL
#define ADDR_TICK_SCHED		0xffffffff8119a3d0ULL
#define ADDR_PIT_TIMER_FN	0xffffffffc0a1f5a0ULL
#define HRTIMER_BASE		0xffff888103c40000ULL

enum phase {
	PH_START, PH_GUEST_END, PH_NEXT, PH_BLOCK, PH_WAKE, PH_SWITCHIN, PH_RESUME,
	PH_UNPREEMPT, PH_SPAWN, PH_SLEEP, PH_SLEEP_WAKE, PH_SLEEP_IN, PH_WOKEN_PREEMPT,
	PH_WOKEN_BACK, PH_PTIMER, PH_QUIT, PH_DONE,
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
	bool alive;		/* its thread exists (spawned, not exited) */
	bool polling;		/* after a HLT exit, on its CPU (not blocked yet) */
	bool msr_next;		/* random: the next episode is a TSC-deadline write */
	uint64_t exit_ts, block_ts;
	int inj_vec;		/* kvm_inj_virq before the next entry, -1 none */
	bool lapic_exp;		/* kvm_wait_lapic_expire after the next entry */
	bool pio_in;		/* kvm_pio read before the next entry */
	int wake_cpu;
	struct swake wake;	/* the current halt's reason */
	uint32_t halt_poll;	/* current halt_poll_ns */
	uint64_t rng;
	uint64_t launched;	/* vmcs that had VMLAUNCH */
	bool l2_idle;		/* the L2 vCPU halted (reflected HLT) */
	bool l2_l1;		/* L1 handles a (non-HLT) exit its L2 vCPU reflected */
	bool ctx_dirty;		/* injection events in its context since its switch-in */
};

struct cpu {
	int curr;		/* tid, 0 idle */
	struct spenc enc;
	uint64_t dropped;	/* records lost since the last one written */
	bool lost_stored;	/* the count of that loss is stored */
	int drop_tid;		/* random loss: drop up to this thread's kvm_entry (< 0: switch-out) */
	bool drop_to_kvm;	/* ... or (light) up to its next kvm:* record, written */
	uint8_t ctxf;		/* common_flags of the context now running here */
	bool resched;		/* TIF_NEED_RESCHED of the task here */
	int owner;		/* random: vCPU index running here or moving here, -1 */
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
	bool light;
	int err;
	uint64_t rng;
	bool *rec;		/* per format (fmt.ev): the trace records it */
	bool *droppable;	/* per format: --drop may leave it out */
	uint64_t drop_ppm;	/* --drop: share of records left out, per million */
	uint64_t drop_rng;
	uint64_t dropped;	/* records left out by --drop */
	int gcpu;		/* CPU of the last timestamp given (equal stamps) */
	struct sfacts *facts;	/* --facts */
	struct sguest *guest;	/* --guest */
	/* noise actors ride in the heap as pseudo-vCPUs */
	const struct sevent *e_entry, *e_exit, *e_uexit, *e_pio, *e_mmio, *e_wakeup,
		*e_hpoll, *e_setirq, *e_msi, *e_ioapic, *e_pic, *e_accept, *e_apicv, *e_ipi,
		*e_inj, *e_nenter, *e_nexit, *e_ninject, *e_nintr, *e_msr, *e_switch,
		*e_waking, *e_wakeup2, *e_hrt_in, *e_hrt_out, *e_rq_issue, *e_rq_done,
		*e_print, *e_irq_in, *e_irq_out, *e_newtask, *e_wakenew, *e_hvts, *e_wle,
		*e_pexit;
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

/* A scenario's loss window covers @ts on @cpu. */
static bool in_loss(struct sim *m, int cpu, uint64_t ts)
{
	for (int i = 0; i < m->s->nr_lost; i++) {
		struct slost *lo = &m->s->lost[i];

		if (lo->cpu == cpu && ts >= lo->from && ts < lo->to) {
			m->cpus[cpu].lost_stored = lo->stored;
			return true;
		}
	}
	return false;
}

/* Events vmwait record --light leaves out. */
static bool heavy(struct sim *m, const struct sevent *ev)
{
	return ev == m->e_entry || ev == m->e_exit || ev == m->e_nexit || ev == m->e_pio ||
	       ev == m->e_mmio || ev == m->e_hrt_out || !strcmp(ev->name, "kvm_fast_mmio");
}

/* A scenario's "miss": this record, the nth of its event naming the thread, is not written. */
static bool missed(struct sim *m, const struct srec *r, const struct sinfo *si)
{
	for (int i = 0; i < m->s->nr_miss; i++) {
		struct smiss *x = &m->s->miss[i];
		int who = si->kind == SK_SWITCH ? si->prev_pid :
			  si->kind == SK_WAKING || si->kind == SK_WAKEUP ? si->wpid : si->pid;

		if (who == x->tid && !strcmp(r->ev->name, x->event) && ++x->seen == x->nth)
			return true;
	}
	return false;
}

/* --drop: leave this record out (seeded, apart from the simulation's own PRNG). */
static bool drop_now(struct sim *m, const struct sevent *ev)
{
	if (!m->drop_ppm || !m->droppable[ev - m->fmt.ev] || !strcmp(ev->system, "ftrace"))
		return false;
	if (srand64(&m->drop_rng) % 1000000 >= m->drop_ppm)
		return false;
	m->dropped++;
	return true;
}

static struct vstate *vstate_of(struct sim *m, int tid);

/* Write one record at (at least) @ts; returns the time given to it. */
static uint64_t emit(struct sim *m, int cpu, uint64_t ts, struct srec *r, struct sinfo *si)
{
	struct cpu *c = &m->cpus[cpu];
	bool drop = false;

	/* trace sameclock=1: a record pushed to the clock shares it with a lower CPU's */
	if (m->s->sameclock && ts <= m->gclk && cpu > m->gcpu)
		ts = m->gclk;
	else
		ts = MAX(ts, m->gclk + 1);
	m->gclk = ts;
	m->gcpu = cpu;
	if (ts < m->s->start || (m->s->end && ts > m->s->end) || m->err ||
	    (m->s->max_events && m->events >= m->s->max_events))
		return ts;
	if (m->guest)
		sguest_record(m->guest, ts + m->s->base, r);	/* physical: before any loss */
	if (c->drop_tid && c->drop_to_kvm) {
		/* the loss is reported at this record */
		if (si->kind == SK_KVM_OTHER && si->pid == c->drop_tid && !heavy(m, r->ev))
			c->drop_tid = 0;
		else
			drop = true;
	} else if (c->drop_tid) {
		/* the last record of this loss: the thread's kvm_entry, or (< 0) its switch-out */
		drop = true;
		if (c->drop_tid > 0 ? si->kind == SK_ENTRY && si->pid == c->drop_tid :
		    si->kind == SK_SWITCH && si->prev_pid == -c->drop_tid)
			c->drop_tid = 0;
	}
	if (!m->rec[r->ev - m->fmt.ev])
		return ts;	/* never recorded: not a lost event either */
	if (!drop && (drop_now(m, r->ev) || missed(m, r, si)))
		return ts;	/* --drop, miss: silently missing, like a real file's gaps */
	if (drop || in_loss(m, cpu, ts)) {
		c->dropped++;
		return ts;
	}
	if (c->dropped) {
		if (spenc_lost(&c->enc, c->dropped, c->lost_stored))
			m->err = -1;
		truth_lost(m->truth, ts + m->s->base, cpu,
			   c->lost_stored ? (int64_t)c->dropped : -1);
		c->dropped = 0;
	}
	srec_flags(r, c->ctxf | (c->resched ? TF_NEED_RESCHED : 0));
	sinfo_decode(r, si);
	if (spenc_add(&c->enc, ts + m->s->base, r->buf, r->len))
		m->err = -1;
	si->cpu = cpu;
	truth_event(m->truth, ts + m->s->base, si);
	if (m->facts)
		facts_event(m->facts, ts + m->s->base, si);
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
#define REC(ev_, pid_) struct srec r; \
	struct sinfo si = { .pid = (pid_), .wake = { -1, -1, -1, -1 } }; \
	srec_init(&r, (ev_), (pid_))

/* Records on @cpu run in a context with these common_flags until irq_off(). */
static uint8_t irq_on(struct sim *m, int cpu, uint8_t flags)
{
	uint8_t old = m->cpus[cpu].ctxf;

	m->cpus[cpu].ctxf = flags;
	return old;
}

static void irq_off(struct sim *m, int cpu, uint8_t old)
{
	m->cpus[cpu].ctxf = old;
}

/* The vCPU whose thread @tid names now (the live one where a tid is reused). */
static struct vstate *vstate_of(struct sim *m, int tid)
{
	struct vstate *any = NULL;

	for (int i = 0; i < m->nr_vs; i++) {
		if (!m->vs[i].th || m->vs[i].th->tid != tid)
			continue;
		if (m->vs[i].alive)
			return &m->vs[i];
		if (!any)
			any = &m->vs[i];
	}
	return any;
}

static uint64_t ev_switch(struct sim *m, int cpu, uint64_t ts, int next, long prev_state)
{
	const struct sevent *ev = m->e_switch;
	int prev = m->cpus[cpu].curr;
	struct vstate *pv = prev > 0 ? vstate_of(m, prev) : NULL;
	char b1[16], b2[16];
	REC(ev, prev);

	/* __schedule(): IRQs off, need_resched cleared before the tracepoint */
	srec_flags(&r, TF_IRQS_OFF);
	m->cpus[cpu].resched = false;
	if (pv)
		pv->ctx_dirty = false;	/* the analyzer's context restarts here */
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
	m->cpus[cpu].curr = next;
	return emit(m, cpu, ts, &r, &si);
}

/*
 * sched_waking and sched_wakeup of @tid by @pid on @cpu (IRQs off under
 * p->pi_lock). A wakee for this CPU preempts its idle task, or the current
 * task if @preempt: need_resched is set from the wakeup on.
 */
static uint64_t ev_wake(struct sim *m, int cpu, uint64_t ts, int pid, int tid, int target,
			const struct swake *w, bool preempt)
{
	uint64_t t = ts;

	for (int i = 0; i < 2; i++) {
		REC(i ? m->e_wakeup2 : m->e_waking, pid);
		char b[16];

		srec_flags(&r, TF_IRQS_OFF);
		if (i && target == cpu && (!m->cpus[cpu].curr || preempt))
			m->cpus[cpu].resched = true;
		srec_str(&r, "comm", comm_of(m, tid, target, b));
		srec_set(&r, "pid", tid);
		srec_set(&r, "prio", 120);
		srec_set(&r, "success", 1);
		srec_set(&r, "target_cpu", target);
		si.kind = i ? SK_WAKEUP : SK_WAKING;
		si.wpid = tid;
		si.target_cpu = target;
		si.wake = w ? *w : (struct swake){ -1, -1, -1, -1 };
		t = emit(m, cpu, i ? t + GAP : ts, &r, &si);
	}
	return t;
}

/*
 * Where a guest exits: a real guest exits at a few hot addresses (its idle
 * loop, the APIC and I/O accessors) and rarely elsewhere, so three exits in
 * four come from 16 addresses and the rest from 4096.
 */
static uint64_t guest_rip(struct vstate *v)
{
	uint64_t r = srand64(&v->rng);

	if ((r & 3) != 3)
		return 0xffffffff81000000ULL + ((r >> 2) & 0xf) * 0x1d30;
	return 0xffffffff81000000ULL + ((r >> 2) & 0xfff0);
}

static uint64_t ev_entry(struct sim *m, struct vstate *v, uint64_t ts, uint32_t intr)
{
	REC(m->e_entry, v->th->tid);

	srec_flags(&r, TF_IRQS_OFF);	/* vmx_vcpu_run(): IRQs off around VM-entry */
	srec_set(&r, "vcpu_id", v->v->id);
	srec_set(&r, "rip", guest_rip(v));
	srec_set(&r, "intr_info", intr);
	si.kind = SK_ENTRY;
	return emit(m, v->cpu, ts, &r, &si);
}

/*
 * Where the guest kernel halts (native_safe_halt) at its KASLR slide: the
 * same for every vCPU of a VM; an L2 guest has a kernel of its own.
 */
static uint64_t hlt_rip(const struct vstate *v)
{
	uint64_t slide = v->vm->slide;

	if (v->in_l2)
		slide = (slide + 0x3a00000) & 0x3fe00000;
	return 0xffffffff81000000ULL + slide + 0x1c2f4e;
}

static void fill_exit(struct srec *r, struct vstate *v, uint32_t code, uint64_t info1,
		      uint32_t intr)
{
	uint64_t r1 = guest_rip(v), r2 = guest_rip(v);
	bool hlt = code == (v->vm->isa == 1 ? 12u : 0x78u);

	srec_set(r, "exit_reason", code);
	srec_set(r, "exit_code", code);
	srec_set(r, "guest_rip", hlt ? hlt_rip(v) : r1);
	srec_set(r, "rip", hlt ? hlt_rip(v) : r2);
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

	srec_flags(&r, TF_IRQS_OFF);
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
	const struct sevent *ev = apicv ? m->e_apicv : m->e_accept;

	if (!ev)
		return ts;
	REC(ev, pid);

	srec_set(&r, "apicid", (uint64_t)tgt->v->id);
	srec_set(&r, "dm", 0);
	srec_set(&r, "tm", 0);
	srec_set(&r, "vec", (uint64_t)vec);
	si.kind = apicv ? SK_KVM_OTHER : SK_ACCEPT;
	si.apicid = tgt->v->id;
	si.vec = vec;
	return emit(m, cpu, ts, &r, &si);
}

/*
 * kvm_hv_timer_state: the guest's LAPIC timer moves to the VMX preemption
 * timer (@on) or to its hrtimer (start_hv_timer(), start_sw_timer()).
 */
static uint64_t ev_hv_timer(struct sim *m, struct vstate *v, uint64_t ts, bool on, uint8_t flags)
{
	uint64_t vals_[] = { (uint64_t)v->v->id, on };
	uint8_t old;

	if (!m->e_hvts)
		return ts;
	old = irq_on(m, v->cpu, flags);
	ts = KVM(m, v, v->cpu, v->th->tid, ts, m->e_hvts, SK_KVM_OTHER, "vcpu_id",
		 "hv_timer_in_use");
	irq_off(m, v->cpu, old);
	return ts;
}

/*
 * kvm_wait_lapic_expire of @v's expired TSC deadline by @pid on @cpu (after
 * kvm_entry in vmx/svm_vcpu_run, or in apic_timer_fn for a posted timer).
 */
static uint64_t ev_wait_lapic(struct sim *m, struct vstate *v, int cpu, int pid, uint64_t ts)
{
	/* guest TSC - deadline: < 0 early (KVM busy-waits), > 0 late */
	uint64_t vals_[] = { (uint64_t)v->v->id,
			     (uint64_t)((int64_t)(srand64(&v->rng) % 3000) - 2000) };

	if (!m->e_wle)
		return ts;
	return KVM(m, v, cpu, pid, ts, m->e_wle, SK_KVM_OTHER, "vcpu_id", "delta");
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

/* Wake @tid from an interrupt (@how: its context flags) on its idle CPU, switch to it. */
static uint64_t helper_in(struct sim *m, int tid, uint64_t ts, uint8_t how)
{
	int cpu = helper_cpu(m, tid);
	uint8_t old;

	busy_cpu(m, cpu, "a helper thread");
	old = irq_on(m, cpu, how);
	ts = ev_wake(m, cpu, ts, 0, tid, cpu, NULL, false);
	irq_off(m, cpu, old);
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
		REC(m->e_inj, v->th->tid);

		srec_set(&r, "vector", (uint64_t)v->inj_vec);
		srec_set(&r, "irq", (uint64_t)v->inj_vec);
		srec_set(&r, "soft", 0);
		srec_set(&r, "reinjected", 0);
		si.kind = SK_INJ_VIRQ;
		si.vec = v->inj_vec;
		t = emit(m, v->cpu, t, &r, &si) + GAP;
		intr = 0x80000000u | (uint32_t)v->inj_vec;
		v->inj_vec = -1;
	}
	t = ev_entry(m, v, t, intr);
	v->in_guest = true;
	if (v->lapic_exp) {
		/* vmx_vcpu_run(): kvm_wait_lapic_expire() right after the entry's tracepoint */
		uint8_t old = irq_on(m, v->cpu, TF_IRQS_OFF);

		t = ev_wait_lapic(m, v, v->cpu, v->th->tid, t + GAP);
		irq_off(m, v->cpu, old);
		v->lapic_exp = false;
	}
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
	if (v->cur.kind == EP_PTIMER) {
		v->exit_ts = t + v->cur.guest;	/* the end of this guest run */
		schedule(m, v, t + v->cur.guest / 2, PH_PTIMER);
		return;
	}
	schedule(m, v, t + v->cur.guest, PH_GUEST_END);
}

static struct swake wake_of(struct vstate *v, int reason, int src, int gsi, int vec)
{
	(void)v;
	return (struct swake){ reason, src, gsi, vec };
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
	case WK_VFIO: return 0x45;
	default: return 0x41;
	}
}

/* Random: a CPU a vCPU may move to (no vCPU there or on its way), reserved; else its own. */
static int migrate_target(struct sim *m, struct vstate *v)
{
	int n = m->s->rnd.nr_spare + m->s->rnd.first_spare, pick;

	if (!m->s->random || !m->s->rnd.migrate ||
	    (int)(srand64(&v->rng) % 100) >= m->s->rnd.migrate)
		return v->cpu;
	pick = (int)(srand64(&v->rng) % (uint64_t)n);
	for (int i = 0; i < n; i++) {
		int c = (pick + i) % n;

		if (m->cpus[c].owner < 0 && !m->cpus[c].curr) {
			m->cpus[c].owner = v->idx;
			return c;
		}
	}
	return v->cpu;
}

/* The vCPU left @old for good: another one may move there. */
static void release_cpu(struct sim *m, struct vstate *v, int old)
{
	if (old != v->cpu && m->cpus[old].owner == v->idx)
		m->cpus[old].owner = -1;
}

static void after_hlt_exit(struct sim *m, struct vstate *v, uint64_t t)
{
	const struct sep *e = &v->cur;

	if (e->fast) {
		schedule(m, v, t + GAP, PH_NEXT);
		return;
	}
	/* vcpu_block(): the guest timer leaves the preemption timer for its hrtimer */
	if (v->vm->hvtimer)
		t = ev_hv_timer(m, v, t + GAP, false, 0);
	v->blocked = false;
	v->polling = true;
	v->wake_cpu = e->cpu >= 0 ? e->cpu : v->cpu;
	if (e->wake == WK_DISK && v->vm->io) {
		uint64_t u = helper_in(m, v->vm->io, t + 2000, TF_IRQ);

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
	if (e->cpu < 0)
		v->wake_cpu = migrate_target(m, v);
	schedule(m, v, t + (e->poll == PL_BLOCK ? e->pollns : 1500), PH_BLOCK);
}

static void do_block(struct sim *m, struct vstate *v, uint64_t t)
{
	const struct sep *e = &v->cur;

	t = ev_switch(m, v->cpu, t, 0, 1);
	v->blocked = true;
	v->polling = false;
	v->block_ts = t;
	if (e->wake == WK_NONE) {
		v->done = true;
		return;
	}
	schedule(m, v, MAX(v->exit_ts + e->idle, t + 1000), PH_WAKE);
}

/*
 * @s runs its guest (L1) long enough to be interrupted at @t, with no
 * injection events of its own in the analyzer's context (they would be
 * evidence of an interrupt taken in its context).
 */
static bool interruptible(struct sim *m, const struct vstate *s, uint64_t t)
{
	return s->in_guest && !s->in_l2 && s->ph == PH_GUEST_END &&
	       s->next > t + 4 * GAP + 2000 && !s->ctx_dirty && !m->cpus[s->cpu].drop_tid;
}

/* A vCPU other than @v, of @vm (or any VM), interruptible at @t. */
static struct vstate *in_guest(struct sim *m, struct vstate *v, const struct svm *vm, uint64_t t)
{
	for (int i = 0; i < m->nr_vs; i++) {
		struct vstate *s = &m->vs[i];

		if (s != v && (!vm || s->vm == vm) && interruptible(m, s, t))
			return s;
	}
	return NULL;
}

/* The sending vCPU of an IPI: the given one, or any vCPU of the VM in the guest. */
static struct vstate *ipi_sender(struct sim *m, struct vstate *v, uint64_t t)
{
	for (int i = 0; i < m->nr_vs; i++) {
		struct vstate *s = &m->vs[i];

		if (s == v || s->vm != v->vm || !s->in_guest || s->in_l2 || s->ph != PH_GUEST_END ||
		    s->next <= t + 4 * GAP + 2000 || m->cpus[s->cpu].drop_tid)
			continue;
		if (v->cur.from < 0 || v->cur.from == s->v->id)
			return s;
	}
	return NULL;
}

/* @s was interrupted in its guest from @t0 to @t: its guest run keeps its planned length. */
static void reenter(struct sim *m, struct vstate *s, uint64_t t0, uint64_t t)
{
	s->in_guest = true;
	schedule(m, s, s->next + (t - t0), PH_GUEST_END);
}

/*
 * x2APIC ICR write on the sender: exit, ipi, accept, wake, [apicv], msr, entry
 * (the WRMSR fastpath runs with IRQs off).
 */
static uint64_t wake_ipi(struct sim *m, struct vstate *v, struct vstate *s, uint64_t t,
			 int vec)
{
	uint64_t t0 = t, icr = (uint64_t)v->v->id << 32 | (uint32_t)vec;
	uint8_t old;

	t = ev_exit(m, s, t, code_of(s, 32, 0x7c), 0, 0) + GAP;
	old = irq_on(m, s->cpu, TF_IRQS_OFF);
	{
		uint64_t vals_[] = { (uint32_t)vec, (uint64_t)v->v->id };

		t = KVM(m, s, s->cpu, s->th->tid, t, m->e_ipi, SK_KVM_OTHER, "icr_low",
			"dest_id") + GAP;
	}
	t = ev_accept(m, v, s->cpu, s->th->tid, t, vec, false) + GAP;
	if (v->blocked)
		t = ev_wake(m, s->cpu, t, s->th->tid, v->th->tid, v->wake_cpu, &v->wake,
			    false) + GAP;
	if (s->vm->apicv)
		t = ev_accept(m, v, s->cpu, s->th->tid, t, vec, true) + GAP;
	{
		uint64_t vals_[] = { 1, 0x830, icr, 0 };

		t = KVM(m, s, s->cpu, s->th->tid, t, m->e_msr, SK_KVM_OTHER, "write", "ecx",
			"data", "exception") + GAP;
	}
	irq_off(m, s->cpu, old);
	t = ev_entry(m, s, t, 0);
	s->ctx_dirty = true;
	reenter(m, s, t0, t);
	return t;
}

/* A device interrupt raised by a helper thread of the VM (woken in context @how). */
static uint64_t wake_device(struct sim *m, struct vstate *v, uint64_t t, int helper, int vec,
			    uint8_t how)
{
	const struct sep *e = &v->cur;
	int cpu = helper_cpu(m, helper);
	/* eventfd_signal() -> irqfd_wakeup() runs under the wait queue lock, IRQs off */
	bool irqfd = e->wake == WK_NET || e->wake == WK_DISK;
	uint8_t old;

	t = helper_in(m, helper, t, how) + GAP;
	old = irq_on(m, cpu, irqfd ? TF_IRQS_OFF : 0);
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
		t = ev_wake(m, cpu, t, helper, v->th->tid, v->wake_cpu, &v->wake, false) + GAP;
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
	irq_off(m, cpu, old);
	return helper_out(m, helper, t);
}

static uint64_t ev_irq_handler(struct sim *m, int cpu, int pid, uint64_t ts, bool entry, int irq,
			       const char *name)
{
	REC(entry ? m->e_irq_in : m->e_irq_out, pid);

	srec_set(&r, "irq", (uint64_t)irq);
	if (entry)
		srec_str(&r, "name", name);
	else
		srec_set(&r, "ret", 1);
	si.kind = SK_OTHER;
	return emit(m, cpu, ts, &r, &si);
}

/*
 * An assigned device's MSI (VFIO): its handler signals the irqfd in hardirq
 * (or, with soft=1, from a softirq) on the CPU it lands on, in the context of
 * whatever task runs there: a helper thread of the VM in a burst, or vCPU @s
 * interrupted in its guest (EXTERNAL_INTERRUPT exit).
 */
static uint64_t wake_vfio(struct sim *m, struct vstate *v, struct vstate *s, int on, uint64_t t,
			  int vec)
{
	static const char name[] = "vfio-msix[0](0000:01:00.0)";
	const struct sep *e = &v->cur;
	uint64_t t0 = t;
	int cpu, pid;
	uint8_t old;

	if (s) {
		cpu = s->cpu;
		pid = s->th->tid;
		t = ev_exit(m, s, t, code_of(s, 1, 0x60), 0, 0x80000025) + GAP;
	} else {
		cpu = helper_cpu(m, on);
		pid = on;
		t = helper_in(m, on, t, TF_IRQ) + 2 * GAP;
	}
	old = irq_on(m, cpu, e->soft ? TF_SOFTIRQ | TF_IRQS_OFF : TF_IRQ);
	if (!e->soft)
		t = ev_irq_handler(m, cpu, pid, t, true, 40, name) + GAP;
	t = ev_msi(m, v, cpu, pid, t, vec) + GAP;
	t = ev_accept(m, v, cpu, pid, t, vec, false) + GAP;
	if (v->blocked)
		t = ev_wake(m, cpu, t, pid, v->th->tid, v->wake_cpu, &v->wake, false) + GAP;
	if (v->vm->apicv)
		t = ev_accept(m, v, cpu, pid, t, vec, true) + GAP;
	if (!e->soft)
		t = ev_irq_handler(m, cpu, pid, t, false, 40, NULL) + GAP;
	irq_off(m, cpu, old);
	if (!s)
		return helper_out(m, on, t);
	t = ev_entry(m, s, t, 0);
	s->ctx_dirty = true;
	reenter(m, s, t0, t);
	return t;
}

/*
 * The guest timer's hrtimer (apic_timer_fn, HRTIMER_MODE_ABS_HARD) fires in
 * hardirq on the vCPU's CPU; with posted timers it stays on the housekeeping
 * CPU it was started from (__kvm_migrate_apic_timer() leaves it there), when
 * that one is idle, and wakes the vCPU remotely. A polling vCPU then has no
 * hrtimer on its own thread: only the vector after the wake tells (README).
 */
static uint64_t wake_timer(struct sim *m, struct vstate *v, uint64_t t)
{
	int cpu = v->cpu, hk = m->s->rec_cpu, pid;
	uint8_t old;

	if (v->vm->ptimer && !m->cpus[hk].curr && !m->cpus[hk].drop_tid && hk != v->cpu) {
		cpu = hk;
		if (!v->blocked)
			v->wake = wake_of(v, SW_DERIVE, -1, -1, -1);
	}
	pid = v->blocked || cpu != v->cpu ? m->cpus[cpu].curr : v->th->tid;
	old = irq_on(m, cpu, TF_IRQ);

	t = ev_hrtimer(m, cpu, pid, t, true, ADDR_APIC_TIMER_FN, v->v->id) + GAP;
	if (v->blocked)
		t = ev_wake(m, cpu, t, pid, v->th->tid, v->wake_cpu, &v->wake, false) + GAP;
	t = ev_hrtimer(m, cpu, pid, t, false, 0, v->v->id);
	irq_off(m, cpu, old);
	return t;
}

/* A busy task takes the vCPU's idle CPU shortly before the wake. */
static void busy_before_wake(struct sim *m, struct vstate *v, uint64_t t)
{
	int by = v->cur.by;
	uint8_t old;

	if (!by || !v->blocked)
		return;
	old = irq_on(m, v->cpu, TF_IRQ);
	t = ev_wake(m, v->cpu, t > 20000 ? t - 20000 : t, 0, by, v->cpu, NULL, false);
	irq_off(m, v->cpu, old);
	ev_switch(m, v->cpu, t + GAP, by, 0);
}

/*
 * A polling vCPU of @vm with @v's vcpu id: an accept for that id by a thread
 * of @vm is its halt-poll wake evidence (README), whatever VM it was for.
 */
static bool id_polls(struct sim *m, const struct vstate *v, const struct svm *vm)
{
	for (int i = 0; i < m->nr_vs; i++)
		if (m->vs[i].vm == vm && m->vs[i].v->id == v->v->id && m->vs[i].polling)
			return true;
	return false;
}

/* Random: where an assigned device's interrupt lands (see wake_vfio). */
static struct vstate *vfio_on(struct sim *m, struct vstate *v, uint64_t t, int *on)
{
	struct vstate *s;
	uint64_t r = srand64(&v->rng) % 4;

	*on = 0;
	if (!v->blocked || r == 2) {
		/*
		 * A polling vCPU has no waking: its evidence is the accept by a
		 * thread of its VM, whose flags the README does not consult.
		 */
		s = in_guest(m, v, v->vm, t);
		if (s || !v->blocked)
			return s;
	}
	if (r == 3 && (s = in_guest(m, v, NULL, t)) && !id_polls(m, v, s->vm))
		return s;
	*on = r == 1 && v->vm->io ? v->vm->io : v->vm->vhost;
	return NULL;
}

static void do_wake(struct sim *m, struct vstate *v, uint64_t t)
{
	struct sep *e = &v->cur;
	int vec = wake_vec(v), on;
	struct vstate *s;
	uint8_t old;

	v->wake = wake_of(v, WR_UNKNOWN, -1, -1, -1);
	busy_before_wake(m, v, t);
	switch (e->wake) {
	case WK_VFIO:
		if (m->s->random) {
			s = vfio_on(m, v, t, &on);
		} else {
			on = e->on ? e->on : v->vm->vhost;
			s = vstate_of(m, on);
			if (s && (s == v || !interruptible(m, s, t))) {
				vw_err("synth: vcpu %d: thread %d is not in its guest at %" PRIu64,
				       v->v->id, on, t);
				m->err = -1;
				return;
			}
		}
		if (s || on) {
			v->wake = wake_of(v, WR_DEVICE, vec, -1, vec);
			t = wake_vfio(m, v, s, on, t, vec);
			break;
		}
		e->wake = WK_TIMER;
		e->vec = -1;
		vec = wake_vec(v);
		goto timer;
	case WK_IPI:
		s = ipi_sender(m, v, t);
		if (s) {
			v->wake = wake_of(v, WR_IPI, s->v->id, -1, vec);
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
timer:
		v->wake = wake_of(v, WR_TIMER, -1, -1, vec);
		t = wake_timer(m, v, t);
		break;
	case WK_PI:
		/*
		 * IPI virtualization, or an assigned device's VT-d posted
		 * interrupt: no KVM event on the sender; a blocked vCPU is woken
		 * by the wakeup vector's handler on the CPU it blocked on. Its
		 * reason is what the README makes of the vector seen after it.
		 */
		v->wake = wake_of(v, SW_DERIVE, -1, -1, -1);
		if (v->blocked) {
			old = irq_on(m, v->cpu, TF_IRQ);
			t = ev_wake(m, v->cpu, t, m->cpus[v->cpu].curr, v->th->tid, v->wake_cpu,
				    &v->wake, false);
			irq_off(m, v->cpu, old);
		}
		break;
	case WK_NET:
		v->wake = wake_of(v, WR_NET, -1, -1, vec);
		/* the tap's NET_RX softirq wakes the vhost worker */
		t = wake_device(m, v, t, v->vm->vhost, vec, TF_SOFTIRQ);
		break;
	case WK_DISK: {
		int hc = helper_cpu(m, v->vm->io);

		v->wake = wake_of(v, WR_DISK, -1, -1, vec);
		/* the completion (hardirq, or the block softirq) wakes the I/O thread */
		old = irq_on(m, hc, e->soft ? TF_SOFTIRQ : TF_IRQ);
		t = ev_block(m, hc, 0, t, false, 0x1000) + GAP;
		irq_off(m, hc, old);
		t = wake_device(m, v, t, v->vm->io, vec, e->soft ? TF_SOFTIRQ : TF_IRQ);
		break;
	}
	default:
		v->wake = wake_of(v, WR_DEVICE, vec,
				  e->wake == WK_MSI ? -1 : e->gsi, vec);
		t = wake_device(m, v, t, v->vm->main, vec, TF_IRQ);
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
	release_cpu(m, v, old);
	v->blocked = false;
	schedule(m, v, t + 1000, v->cur.pre ? PH_WOKEN_PREEMPT : PH_RESUME);
}

/* preempt=: a tick wakes a task that preempts the woken vCPU before kvm_vcpu_wakeup. */
static void do_woken_preempt(struct sim *m, struct vstate *v, uint64_t t)
{
	uint8_t old = irq_on(m, v->cpu, TF_IRQ);

	if (v->cur.pre < 0)	/* random: the host task of this CPU */
		v->cur.pre = 200 + v->cpu;
	t = ev_wake(m, v->cpu, t, v->th->tid, v->cur.pre, v->cpu, NULL, true) + GAP;
	irq_off(m, v->cpu, old);
	t = ev_switch(m, v->cpu, t, v->cur.pre, 0x100);	/* R+ */
	schedule(m, v, t + v->cur.dur, PH_WOKEN_BACK);
}

static void do_resume(struct sim *m, struct vstate *v, uint64_t t)
{
	const struct sep *e = &v->cur;
	uint64_t ns = t - v->exit_ts;
	bool waited = e->poll != PL_SUCCESS;

	v->polling = false;
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
	/* back to the preemption timer, unless the hrtimer fired (timer pending) */
	if (v->vm->hvtimer && e->wake != WK_TIMER)
		t = ev_hv_timer(m, v, t, true, 0) + GAP;
	if (e->wake == WK_TIMER) {
		int vec = wake_vec(v);

		v->lapic_exp = v->vm->tscdl;	/* the entry delivers the expired deadline */
		t = ev_accept(m, v, v->cpu, v->th->tid, t, vec, false) + GAP;
		if (v->vm->apicv)
			t = ev_accept(m, v, v->cpu, v->th->tid, t, vec, true) + GAP;
	}
	start_episode(m, v, t);
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

/*
 * A host interrupt on the vCPU's CPU (EXTERNAL_INTERRUPT exit) wakes @by,
 * which preempts the vCPU (switched out R+).
 */
static void do_preempt(struct sim *m, struct vstate *v, uint64_t t)
{
	struct sep *e = &v->cur;
	uint8_t old = irq_on(m, v->cpu, TF_IRQ);

	t = ev_wake(m, v->cpu, t + 1000, v->th->tid, e->by, v->cpu, NULL, true) + GAP;
	irq_off(m, v->cpu, old);
	if (v->in_l2)	/* handle_exit(): every slow-path exit in guest mode */
		t = ev_nested_exit(m, v, t, m->e_nexit, SK_NESTED_EXIT) + GAP;
	t = ev_switch(m, v->cpu, t, e->by, 0x100);	/* R+ */
	if (e->cpu < 0)
		e->cpu = migrate_target(m, v);
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
		release_cpu(m, v, old);
	} else {
		t = ev_switch(m, v->cpu, t, v->th->tid, 1);
	}
	schedule(m, v, t + e->hyp, PH_NEXT);
}

static void do_l2enter(struct sim *m, struct vstate *v, uint64_t t)
{
	const struct sep *e = &v->cur;
	const struct sevent *ev = m->e_nenter;
	uint32_t inj = e->vec >= 0 ? 0x80000000u | (uint32_t)e->vec : 0;
	bool first = v->launched != e->vmcs;

	t = ev_exit(m, v, t, code_of(v, first ? 20 : 24, 0x80), 0, 0);
	v->launched = e->vmcs;
	/* VMX has no VM-enter event before 6.1 (kvm_nested_vmrun is SVM's) */
	if (v->vm->isa == 1 && !strcmp(ev->name, "kvm_nested_vmrun")) {
		t += e->hyp;
	} else {
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
		si.wake = (struct swake){ e->l2reason, e->l2reason == WR_DEVICE ? e->vec : -1, -1,
					  e->vec };
		t = emit(m, v->cpu, t + e->hyp, &r, &si);
	}
	v->in_l2 = true;
	v->l2_idle = v->l2_l1 = false;
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
	v->l2_idle = e->code == code_of(v, 12, 0x78);
	v->l2_l1 = !v->l2_idle;
	schedule(m, v, t + GAP, PH_NEXT);
}

/* A host page fault: the vCPU thread sleeps in the host (D or S) for @dur. */
static void do_sleep(struct sim *m, struct vstate *v, uint64_t t)
{
	t = ev_switch(m, v->cpu, t, 0, v->cur.state);
	schedule(m, v, t + v->cur.dur, PH_SLEEP_WAKE);
}

/* The I/O completion (hardirq on its idle CPU) wakes it. */
static void do_sleep_wake(struct sim *m, struct vstate *v, uint64_t t)
{
	uint8_t old = irq_on(m, v->cpu, TF_IRQ);

	t = ev_wake(m, v->cpu, t, m->cpus[v->cpu].curr, v->th->tid, v->cpu, NULL, false);
	irq_off(m, v->cpu, old);
	schedule(m, v, t + SWITCH_LAT, PH_SLEEP_IN);
}

/* A PREEMPTION_TIMER exit of a guest whose LAPIC timer runs on it (not in L2). */
static bool hv_expiry(const struct vstate *v, const struct sep *e)
{
	return e->kind == EP_EXIT && e->code == 52 && v->vm->hvtimer && v->vm->isa == 1 &&
	       !v->in_l2;
}

/*
 * Random: lose the records of this exit on the vCPU's CPU, up to its next
 * kvm_entry; the loss is reported at its next record there, its next exit
 * (not after a preemption-timer expiry: its kvm_wait_lapic_expire follows
 * the entry).
 * Light traces have neither: the userspace exit of PIO/MMIO is lost, and the
 * loss is reported at the kvm_msr (or kvm_hv_timer_state) of a TSC-deadline
 * write that follows, which sets the thread's state at once (a later first
 * record would leave it unknown for a while: one unknown period with the
 * time before the loss, see tests/synth/README.md). A thread whose L2 vCPU
 * follows it may lose events (the L2 vCPU is dropped); one whose L2 vCPU
 * idles after a reflected HLT may not (truth_loss_ok()).
 */
static void maybe_lose(struct sim *m, struct vstate *v)
{
	struct cpu *c = &m->cpus[v->cpu];
	const struct sep *e = &v->cur;

	if (!m->s->random || !m->s->rnd.loss || v->in_l2 || c->drop_tid || c->dropped ||
	    (m->light && e->kind == EP_EXIT) || hv_expiry(v, e) ||
	    (int)(srand64(&v->rng) % 1000) >= m->s->rnd.loss * (m->light ? 10 : 1) ||
	    !truth_loss_ok(m->truth, v->cpu))
		return;
	c->drop_tid = v->th->tid;
	c->drop_to_kvm = m->light;
	c->lost_stored = srand64(&v->rng) % 2;
	v->msr_next = m->light;
}

/*
 * The VMX preemption timer expires in the guest (handle_fastpath_preemption_timer):
 * the timer interrupt is accepted at once; with APICv posted and the guest
 * re-entered from the fastpath (IRQs off), else injected at the next entry.
 */
static void do_hv_expiry(struct sim *m, struct vstate *v, uint64_t t)
{
	int vec = v->vm->timer_vec;
	uint8_t old;

	t = ev_exit(m, v, t, 52, 0, 0) + GAP;
	old = irq_on(m, v->cpu, v->vm->apicv ? TF_IRQS_OFF : 0);
	t = ev_accept(m, v, v->cpu, v->th->tid, t, vec, false) + GAP;
	if (v->vm->apicv)
		t = ev_accept(m, v, v->cpu, v->th->tid, t, vec, true) + GAP;
	irq_off(m, v->cpu, old);
	v->inj_vec = v->vm->apicv ? -1 : vec;
	v->lapic_exp = true;
	v->ctx_dirty = true;	/* an accept in its context */
	schedule(m, v, v->vm->apicv ? t : t + v->cur.hyp, PH_NEXT);
}

/* The guest run of the current episode ended: its exit and what follows. */
static void do_guest_end(struct sim *m, struct vstate *v, uint64_t t)
{
	struct sep *e = &v->cur;
	uint8_t old;

	if (e->kind == EP_EXIT || e->kind == EP_PIO || e->kind == EP_MMIO)
		maybe_lose(m, v);
	switch (e->kind) {
	case EP_EXIT:
	case EP_PTIMER:
		if (hv_expiry(v, e)) {
			do_hv_expiry(m, v, t);
			break;
		}
		t = ev_exit(m, v, t, e->code, 0, e->code == 1 ? 0x800000ec : 0);
		if ((v->vm->isa == 1 && (e->code == 31 || e->code == 32)) ||
		    (v->vm->isa == 2 && e->code == 0x7c)) {
			uint64_t vals_[] = { e->code != 31, 0x6e0, 0x12345678, 0 };
			bool wr = e->code != 31;

			/*
			 * A TSC-deadline write takes the IRQs-off fastpath; it
			 * (re)starts the guest timer on the preemption timer or
			 * its hrtimer (start_hv_timer(), start_sw_timer()).
			 */
			if (wr && v->vm->tscdl)
				t = ev_hv_timer(m, v, t + GAP, v->vm->hvtimer, TF_IRQS_OFF);
			old = irq_on(m, v->cpu, wr ? TF_IRQS_OFF : 0);
			KVM(m, v, v->cpu, v->th->tid, t + GAP, m->e_msr, SK_KVM_OTHER, "write",
			    "ecx", "data", "exception");
			irq_off(m, v->cpu, old);
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
		if (v->in_l2) {	/* L0 halts the vCPU in guest mode (no HLT exiting in vmcs12) */
			e->code = code_of(v, 12, 0x78);
			t = ev_nested_exit(m, v, t + GAP, m->e_nexit, SK_NESTED_EXIT);
		}
		after_hlt_exit(m, v, t);
		break;
	case EP_PREEMPT:
		t = ev_exit(m, v, t, code_of(v, 1, 0x60), 0, 0x800000ec);
		if (v->in_l2)
			e->code = code_of(v, 1, 0x60);
		do_preempt(m, v, t);
		break;
	case EP_SLEEP:
		t = ev_exit(m, v, t, code_of(v, 48, 0x400), 0, 0);
		if (v->in_l2) {	/* an EPT violation of L2 that L0 handles */
			e->code = code_of(v, 48, 0x400);
			t = ev_nested_exit(m, v, t + GAP, m->e_nexit, SK_NESTED_EXIT);
		}
		schedule(m, v, t + e->hyp, PH_SLEEP);
		break;
	case EP_QUIT: {
		uint64_t vals_[] = { 1, 0x604, 2, 1, 0x2000 };

		/* ACPI power-off: outw to the PM1a control port, handled by the VMM */
		t = ev_exit(m, v, t, code_of(v, 30, 0x7b), 0x6040000, 0);
		KVM(m, v, v->cpu, v->th->tid, t + GAP, m->e_pio, SK_KVM_OTHER,
		    "rw", "port", "size", "count", "val");
		goto userspace;
	}
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
	schedule(m, v, t + e->vmm, e->kind == EP_QUIT ? PH_QUIT : PH_NEXT);
}

/* The VMM main thread creates the vCPU thread (clone with CLONE_THREAD). */
static void do_spawn(struct sim *m, struct vstate *v, uint64_t t)
{
	int main_tid = v->vm->main, cpu = helper_cpu(m, main_tid);
	char b[16];

	t = helper_in(m, main_tid, t, TF_IRQ) + GAP;
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

		srec_flags(&r, TF_IRQS_OFF);	/* wake_up_new_task(): p->pi_lock */
		srec_str(&r, "comm", comm_of(m, v->th->tid, cpu, b));
		srec_set(&r, "pid", v->th->tid);
		srec_set(&r, "prio", 120);
		srec_set(&r, "target_cpu", v->cpu);
		si.kind = SK_WAKEUP;
		si.wpid = v->th->tid;
		si.target_cpu = v->cpu;
		si.wake = (struct swake){ -1, -1, -1, -1 };
		t = emit(m, cpu, t, &r, &si) + GAP;
	}
	helper_out(m, main_tid, t);
	busy_cpu(m, v->cpu, "a new vCPU thread");
	v->alive = true;
	m->cpus[v->cpu].owner = v->idx;
	t = ev_switch(m, v->cpu, t + SWITCH_LAT, v->th->tid, 0);
	schedule(m, v, MAX(v->v->at, t + 1000), PH_START);
}

/*
 * A posted timer interrupt (pi_inject_timer): the guest timer's hrtimer
 * fires on the housekeeping CPU hosting it (the recorder's CPU; in random
 * traces the noise task's), in hardirq over the task running there;
 * apic_timer_fn() waits for the TSC deadline and posts the interrupt to the
 * vCPU, which stays in its guest (HLT and MWAIT do not exit). The guest
 * re-arms its TSC deadline at the end of the run (the episode's exit).
 */
static void do_ptimer(struct sim *m, struct vstate *v, uint64_t t)
{
	int cpu = m->s->rec_cpu, vec = v->vm->timer_vec, pid;
	uint64_t end = v->exit_ts;
	uint8_t old;

	/*
	 * Random: only over the idle task. An accept in a task's context is
	 * halt-poll evidence for a vCPU of that task's VM with this vcpu id
	 * (README), and the analyzer takes a task of unknown VM for one of
	 * every VM (tests/synth/known/poll-host-accept.scn).
	 */
	if (m->s->random && (m->cpus[cpu].curr || m->cpus[cpu].drop_tid))
		goto out;
	pid = m->cpus[cpu].curr;
	old = irq_on(m, cpu, TF_IRQ);
	t = ev_hrtimer(m, cpu, pid, t, true, ADDR_APIC_TIMER_FN, v->v->id) + GAP;
	if (v->vm->tscdl)
		t = ev_wait_lapic(m, v, cpu, pid, t) + GAP;
	t = ev_accept(m, v, cpu, pid, t, vec, false) + GAP;
	t = ev_accept(m, v, cpu, pid, t, vec, true) + GAP;
	t = ev_hrtimer(m, cpu, pid, t, false, 0, v->v->id);
	irq_off(m, cpu, old);
out:
	schedule(m, v, MAX(end, t + GAP), PH_GUEST_END);
}

/*
 * The vCPU thread exits (the VMM stops its vCPUs): sched_process_exit, then
 * its last switch-out, in state X (EXIT_DEAD: a thread is reaped at once).
 * Its tid names the next thread declared with it.
 */
static void do_quit(struct sim *m, struct vstate *v, uint64_t t)
{
	char b[16];

	{
		REC(m->e_pexit, v->th->tid);

		srec_str(&r, "comm", comm_of(m, v->th->tid, v->cpu, b));
		srec_set(&r, "pid", v->th->tid);
		srec_set(&r, "prio", 120);
		srec_set(&r, "group_dead", 0);
		t = emit(m, v->cpu, t, &r, &si) + GAP;
	}
	ev_switch(m, v->cpu, t, 0, 0x10);
	v->th->gone = true;
	v->alive = false;
	v->done = true;
	if (m->cpus[v->cpu].owner == v->idx)
		m->cpus[v->cpu].owner = -1;
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
	case PH_SLEEP:
		do_sleep(m, v, t);
		break;
	case PH_SLEEP_WAKE:
		do_sleep_wake(m, v, t);
		break;
	case PH_SLEEP_IN:
		t = ev_switch(m, v->cpu, t, v->th->tid, 0);
		schedule(m, v, t + v->cur.hyp, PH_NEXT);
		break;
	case PH_WOKEN_PREEMPT:
		do_woken_preempt(m, v, t);
		break;
	case PH_WOKEN_BACK:
		t = ev_switch(m, v->cpu, t, v->th->tid, 1);	/* the preemptor sleeps */
		schedule(m, v, t + 1000, PH_RESUME);
		break;
	case PH_PTIMER:
		do_ptimer(m, v, t);
		break;
	case PH_QUIT:
		do_quit(m, v, t);
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
	struct cpu *c = &m->cpus[cpu];

	if (n->ph == PH_START) {
		if (c->curr) {	/* the CPU is busy: try later */
			schedule(m, n, n->next + ns->every, PH_START);
			return;
		}
		/* random: this burst is lost (reported at the next record here); per cent */
		if (m->s->random && m->s->rnd.loss && !c->drop_tid && !c->dropped &&
		    (int)(srand64(&m->rng) % 100) < m->s->rnd.loss) {
			c->drop_tid = -ns->tid;	/* until it switches out */
			c->drop_to_kvm = false;
			c->lost_stored = srand64(&m->rng) % 2;
		}
		helper_in(m, ns->tid, n->next, TF_IRQ);
		schedule(m, n, n->next + ns->run, PH_NEXT);
	} else {
		uint8_t old = irq_on(m, cpu, TF_IRQ);
		uint64_t t;

		t = ev_irq_handler(m, cpu, ns->tid, n->next, true, 24, "eth0-rx-0");
		t = ev_irq_handler(m, cpu, ns->tid, t + GAP, false, 24, NULL);
		irq_off(m, cpu, old);
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

			if (th->tgid != vm->pid || scn_thread(m->s, th->tid) != th)
				continue;	/* a reused tid: the recorder saw the first */
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

#define PICK(st, arr) ((arr)[srand64(st) % ARRAY_SIZE(arr)])

/*
 * A halt: its wake (a posted-interrupt wakeup only with VMX APICv), poll
 * mode, the fast path (with a wake already pending: also in L2, where KVM
 * emulates the halt with one pending), a busy task on its CPU, a task that
 * preempts it once woken.
 */
static void rnd_hlt(struct vstate *v, struct sep *e)
{
	static const int wakes[] = { WK_TIMER, WK_TIMER, WK_IPI, WK_IPI, WK_NET, WK_DISK,
				     WK_MSI, WK_IOAPIC, WK_VFIO, WK_PI };
	uint64_t *st = &v->rng;

	e->kind = EP_HLT;
	e->idle = rnd_range(st, 3000, 3000000);
	e->wake = PICK(st, wakes);
	if (e->wake == WK_PI && !(v->vm->apicv && v->vm->isa == 1))
		e->wake = WK_TIMER;
	e->poll = (int)(srand64(st) % 3);
	e->pollns = rnd_range(st, 2000, 100000);
	e->fast = srand64(st) % 40 == 0;
	e->soft = srand64(st) % 3 == 0;
	if (e->wake == WK_MSI)
		e->vec = 0x31;
	if (e->wake == WK_IOAPIC) {
		e->gsi = 10;
		e->vec = 0x32;
	}
	if (srand64(st) % 10 == 0)
		e->by = 200 + v->cpu;
	if (srand64(st) % 12 == 0) {
		e->pre = -1;	/* the host task of the CPU it is woken on */
		e->dur = rnd_range(st, 1000, 300000);
	}
	e->lat = rnd_range(st, 1000, 50000);
}

static void rnd_preempt(struct sim *m, struct vstate *v, struct sep *e)
{
	uint64_t *st = &v->rng;
	int k = (int)(srand64(st) % 3), c = v->cpu;

	e->kind = EP_PREEMPT;
	e->dur = rnd_range(st, 1000, 2000000);
	e->by = k == 0 ? 200 + c : k == 1 ? v->vm->pid + 200 + c :
		m->s->vms[1 - (int)(v->vm - m->s->vms)].pid + 300 + c;
}

/* A host page fault: the vCPU thread sleeps (D or S). */
static void rnd_sleep(struct vstate *v, struct sep *e)
{
	uint64_t *st = &v->rng;

	e->kind = EP_SLEEP;
	e->state = srand64(st) % 2 ? 2 : 1;
	e->dur = rnd_range(st, 2000, 500000);
}

static void rnd_l2enter(struct vstate *v, struct sep *e);

/*
 * A nested vCPU in L2: L2 exits handled by L0 or reflected to L1, L2 HLTs
 * (reflected), L0 halting it in L2 (polled or blocked), preemptions and host
 * page faults while it runs L2.
 */
static void rnd_l2_episode(struct sim *m, struct vstate *v, struct sep *e)
{
	static const uint32_t vmx_l0[] = { 48, 1, 49, 52, 10 }, svm_l0[] = { 0x400, 0x60, 0x72 };
	static const uint32_t vmx_l1[] = { 10, 1, 30, 28 }, svm_l1[] = { 0x72, 0x60, 0x7b };
	uint64_t *st = &v->rng, r = srand64(st) % 100;
	bool vmx = v->vm->isa == 1;

	if (r < 40) {
		e->kind = EP_L2EXIT;
		e->code = vmx ? PICK(st, vmx_l0) : PICK(st, svm_l0);
	} else if (r < 55) {
		e->kind = EP_L2REFLECT;
		e->code = vmx ? PICK(st, vmx_l1) : PICK(st, svm_l1);
	} else if (r < 66) {
		e->kind = EP_L2HLT;
	} else if (r < 78) {
		rnd_hlt(v, e);	/* L0 halts it in L2 */
	} else if (r < 85) {
		rnd_preempt(m, v, e);
	} else if (r < 88) {
		rnd_sleep(v, e);
	} else {
		e->kind = EP_L2EXIT;
		e->code = vmx ? 48 : 0x400;
	}
}

/*
 * L1 handles an exit its L2 vCPU reflected (the L2 vCPU follows the thread):
 * exits, I/O, halts, preemptions, page faults, then back to L2.
 */
static void rnd_l1_handling(struct sim *m, struct vstate *v, struct sep *e)
{
	static const uint32_t vmx[] = { 23, 25, 21, 10, 32 }, svm[] = { 0x72, 0x7c, 0x81 };
	uint64_t *st = &v->rng, r = srand64(st) % 100;

	if (r < 28) {
		rnd_l2enter(v, e);
	} else if (r < 66) {
		e->kind = EP_EXIT;
		e->code = v->vm->isa == 1 ? PICK(st, vmx) : PICK(st, svm);
	} else if (r < 74) {
		e->kind = EP_PIO;
		e->port = 0x3f8;
		e->vmm = rnd_range(st, 2000, 30000);
	} else if (r < 88) {
		rnd_hlt(v, e);
	} else if (r < 95) {
		rnd_preempt(m, v, e);
	} else {
		rnd_sleep(v, e);
	}
}

/*
 * L1 enters its L2 vCPU; after an L2 HLT, the entry injects the wake's vector
 * (timer, a device, an IPI, or none).
 */
static void rnd_l2enter(struct vstate *v, struct sep *e)
{
	uint64_t *st = &v->rng, r = srand64(st) % 4;

	e->kind = EP_L2ENTER;
	e->vmcs = 0x12a3f5000ULL + 0x1000ULL * (uint64_t)v->idx;
	e->eptp = 0x10b41e05eULL + 0x100000ULL * (uint64_t)v->v->vm;
	if (v->l2_idle) {
		static const int reasons[] = { WR_TIMER, WR_DEVICE, WR_IPI, WR_UNKNOWN };

		e->l2reason = reasons[r];
		e->vec = r == 0 ? v->vm->timer_vec : r == 1 ? 0x51 :
			 r == 2 ? 0xfb + (int)(srand64(st) % 3) : -1;
	} else if (r == 0) {
		e->vec = 0x51;	/* an event for the running L2, no wait ends */
	}
}

static void rnd_episode(struct sim *m, struct vstate *v, struct sep *e)
{
	static const uint32_t vmx[] = { 1, 10, 28, 31, 32, 48, 49, 52, 56, 40 };
	static const uint32_t svm[] = { 0x60, 0x72, 0x7c, 0x400, 0x64, 0x77, 0x81 };
	uint64_t *st = &v->rng, r = srand64(st) % 100;
	bool nested = m->s->rnd.nested & (1 << v->idx);

	memset(e, 0, sizeof(*e));
	e->count = 1;
	e->cpu = -1;
	e->from = -1;
	e->vec = -1;
	e->gsi = -1;
	e->l2reason = -1;
	e->guest = rnd_range(st, 500, 60000);
	e->hyp = rnd_range(st, 400, 8000);
	if (v->msr_next) {
		v->msr_next = false;
		e->kind = EP_EXIT;
		e->code = v->vm->isa == 1 ? 32 : 0x7c;
	} else if (nested && v->in_l2) {
		rnd_l2_episode(m, v, e);
	} else if (nested && v->l2_l1) {
		rnd_l1_handling(m, v, e);
	} else if (nested && r < 8) {
		rnd_l2enter(v, e);
	} else if (r < 45) {
		e->kind = EP_EXIT;
		e->code = v->vm->isa == 1 ? PICK(st, vmx) : PICK(st, svm);
	} else if (r < 50) {
		e->kind = EP_PIO;
		e->port = 0x3f8;
		e->in = srand64(st) % 2;
		e->vmm = rnd_range(st, 2000, 30000);
	} else if (r < 54) {
		e->kind = EP_MMIO;
		e->gpa = 0xfebf0000;
		e->vmm = rnd_range(st, 2000, 30000);
	} else if (r < 55) {
		rnd_sleep(v, e);
	} else if (r < 90) {
		rnd_hlt(v, e);
	} else if (r < 94 && v->vm->ptimer) {
		/* its timer posted from the noise CPU; then the guest re-arms it */
		e->kind = EP_PTIMER;
		e->code = v->vm->isa == 1 ? 32 : 0x7c;
		e->guest = rnd_range(st, 20000, 200000);
	} else {
		rnd_preempt(m, v, e);
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
	m->e_hvts = need(m, "kvm_hv_timer_state", true);
	m->e_wle = need(m, "kvm_wait_lapic_expire", true);
	m->e_pexit = need(m, "sched_process_exit", false);
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

		if (!m->rec[i])
			continue;	/* not recorded: its format is not in the file */
		if (!strcmp(ev->system, "ftrace"))
			ret |= tdat_add_ftrace_format(w, ev->text, ev->len);
		else
			ret |= tdat_add_event_format(w, ev->system, ev->text, ev->len);
	}
	ret |= tdat_set_kallsyms(w, kallsyms, strlen(kallsyms));
	sbuf_addf(&sb, "%d vmwait\n", REC_PID);
	truth_cmdline(m->truth, REC_PID, "vmwait");
	for (int i = 0; i < m->s->nr_thr; i++) {
		struct sthr *th = &m->s->thr[i];
		const char *comm = th->last_comm[0] ? th->last_comm : th->comm;

		/* one entry per tid, its last name (as the kernel's saved_cmdlines keeps) */
		if (scn_thread_last(m->s, th->tid) != th)
			continue;
		sbuf_addf(&sb, "%d %s\n", th->tid, comm);
		truth_cmdline(m->truth, th->tid, comm);
	}
	ret |= tdat_set_cmdlines(w, sb.buf, sb.len);
	sbuf_free(&sb);
	ret |= tdat_set_clock(w, "local");
	return ret;
}

/* Is @ev in the comma-separated @list ("name" or "system:name")? */
static bool in_list(const char *list, const struct sevent *ev)
{
	const char *p = list;
	size_t n = strlen(ev->name), sn = strlen(ev->system);

	while (p && *p) {
		size_t len = strcspn(p, ",");

		if ((len == n && !strncmp(p, ev->name, n)) ||
		    (len == sn + 1 + n && !strncmp(p, ev->system, sn) && p[sn] == ':' &&
		     !strncmp(p + sn + 1, ev->name, n)))
			return true;
		p += len + (p[len] == ',');
	}
	return false;
}

/*
 * The events a recording holds (README, Evidence: their formats are in the
 * file): a profile, or --events-only; ftrace's own formats always.
 */
static const char *const profiles[][2] = {
	{ "full", NULL },
	{ "exits", "kvm_entry,kvm_exit" },
	{ "nosched", "-sched_switch,sched_waking,sched_wakeup,sched_wakeup_new,"
		     "sched_process_exit" },
	{ "noirq", "-irq_handler_entry,irq_handler_exit,hrtimer_expire_entry,"
		   "hrtimer_expire_exit,kvm_apic_accept_irq,kvm_apicv_accept_irq,kvm_inj_virq,"
		   "kvm_msi_set_irq,kvm_set_irq,kvm_ioapic_set_irq,kvm_pic_set_irq,kvm_apic_ipi" },
	{ "sched", "-kvm_vcpu_wakeup" },
	{ "light", NULL },
};

static int record_set(struct sim *m)
{
	/* the command line's choice wins over the scenario's (--light too) */
	bool cli = m->o->events || m->o->profile || m->o->light;
	const char *list = cli ? m->o->events : m->s->events;
	const char *profile = cli ? m->o->profile : m->s->profile;
	bool light = m->light;

	if (profile && !m->o->events) {
		size_t i;

		for (i = 0; i < ARRAY_SIZE(profiles); i++)
			if (!strcmp(profile, profiles[i][0]))
				break;
		if (i == ARRAY_SIZE(profiles)) {
			vw_err("synth: unknown profile '%s' (full, exits, nosched, noirq, sched, light)",
			       profile);
			return -1;
		}
		list = profiles[i][1];
		light = m->light = m->light || !strcmp(profile, "light");
	}
	m->rec = xcalloc(m->fmt.nr_ev, sizeof(*m->rec));
	m->droppable = xcalloc(m->fmt.nr_ev, sizeof(*m->droppable));
	for (int i = 0; i < m->fmt.nr_ev; i++) {
		const struct sevent *ev = &m->fmt.ev[i];
		bool in = !list || (list[0] == '-' ? !in_list(list + 1, ev) : in_list(list, ev));

		m->rec[i] = !strcmp(ev->system, "ftrace") || (in && !(light && heavy(m, ev)));
		m->droppable[i] = !m->o->drop_events || in_list(m->o->drop_events, ev);
	}
	m->drop_ppm = (uint64_t)(m->o->drop * 1000000.0 + 0.5);
	m->drop_rng = m->o->drop_seed * 0x9e3779b97f4a7c15ULL + 0x5bd1e995;
	return 0;
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

	if (load_formats(m) || record_set(m))
		return -1;
	if (m->o->facts)
		m->facts = facts_new();
	m->res.file = xstrdup(m->o->out);
	m->res.cpus = s->ncpus;
	m->truth = truth_new(&m->res, &m->fmt, m->rec);
	if (m->o->guest) {
		struct sguest_opts go = *m->o->guest;

		go.strict = !m->o->drop && !s->nr_miss;
		m->guest = sguest_new(s, &m->fmt, &go);
		if (!m->guest)
			return -1;
		truth_on_wait(m->truth, sguest_wait, m->guest);
	}
	truth_timer_fn(m->truth, ADDR_APIC_TIMER_FN, TS_LAPIC);
	truth_timer_fn(m->truth, ADDR_PIT_TIMER_FN, TS_PIT);
	/* the physical wake reasons hold where every event is recorded and kept */
	truth_check_physical(m->truth, !m->o->events && !m->s->events && !m->drop_ppm &&
			     (!m->o->profile || !strcmp(m->o->profile, "full")) &&
			     (!m->s->profile || !strcmp(m->s->profile, "full")));
	m->w = tdat_create(m->o->out, &to);
	if (!m->w) {
		vw_err("synth: cannot create %s: %s", m->o->out, strerror(errno));
		return -1;
	}
	if (write_metadata(m) || (m->guest && sguest_host_options(m->guest, m->w))) {
		vw_err("synth: cannot write the metadata of %s", m->o->out);
		return -1;
	}
	m->cpus = xcalloc(s->ncpus, sizeof(*m->cpus));
	for (int i = 0; i < s->ncpus; i++) {
		spenc_init(&m->cpus[i].enc, i, s->page_size, page_sink, m->w);
		m->cpus[i].owner = -1;
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
		v->th = &s->thr[v->v->thr];
		v->vm = &s->vms[v->v->vm];
		v->idx = i;
		v->cpu = v->v->cpu;
		v->heap = -1;
		v->inj_vec = -1;
		v->rng = s->seed * 1000003 + (uint64_t)v->v->tid;
		if (v->v->spawn) {
			if (!m->cpus[v->cpu].curr)
				m->cpus[v->cpu].owner = i;
			schedule(m, v, v->v->spawn, PH_SPAWN);
			continue;
		}
		v->alive = true;
		m->cpus[v->cpu].curr = v->th->tid;
		m->cpus[v->cpu].owner = i;
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

/* Threads renamed by now take their new name (in later records and markers). */
static void apply_renames(struct sim *m, uint64_t now)
{
	for (int i = 0; i < m->s->nr_renames; i++) {
		struct srename *r = &m->s->renames[i];
		struct sthr *th;

		if (r->at > now || r->at == UINT64_MAX)
			continue;
		th = scn_thread(m->s, r->tid);
		if (th)
			snprintf(th->comm, sizeof(th->comm), "%s", r->comm);
		r->at = UINT64_MAX;
	}
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
		apply_renames(m, m->heap[0]->next);
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
	if (m->guest && sguest_finish(m->guest, &m->res))
		return -1;
	if (m->facts && facts_write(m->facts, m->o->facts, m->last_ts))
		return -1;
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
	struct sim m = { .s = s, .o = o, .light = o->light || s->light,
			 .rng = s->seed * 7919 + 17 };
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
	facts_free(m.facts);
	sguest_free(m.guest);
	free(m.rec);
	free(m.droppable);
	free(m.vs);
	free(m.heap);
	return ret;
}
