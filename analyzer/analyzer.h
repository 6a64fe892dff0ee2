/*
 * Internal state of the one-pass analyzer (see README "The model").
 *
 * Layers, each calling only the ones below it:
 *   decode.c   evidence: a record -> struct vw_ev (kind, fields)
 *   handle.c   one switch on the kind -> the state machine
 *   state.c    per-thread state machine: components, halts, gaps, losses
 *   nested.c   L2 vCPUs following their L1 thread      wake.c  wake reasons
 *   account.c  periods, exits, waits and credits into the result (window)
 *   thread.c   threads and VMs;  finish.c  the end: VMs grouped, result built
 */
#ifndef VMWAIT_ANALYZER_H
#define VMWAIT_ANALYZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <event-parse.h>

#include "result.h"
#include "sink.h"
#include "tin.h"

enum sched_st { SCH_UNKNOWN, SCH_ON, SCH_RUNNABLE, SCH_SLEEPING };
enum ctx_st { CTX_UNKNOWN, CTX_GUEST, CTX_GUEST_L2, CTX_HYP, CTX_VMM, CTX_HALTED, CTX_RUN };

/* Evidence flags gathered for one wake. */
enum {
	EV_IPI		= 1 << 0,	/* kvm_apic_ipi in the waker context */
	EV_TIMER_FN	= 1 << 1,	/* woken from a KVM guest timer's hrtimer */
	EV_ROUTED	= 1 << 3,	/* msi/ioapic/pic/set_irq in the context */
	EV_IRQCTX	= 1 << 4,	/* woken from interrupt context: no waker task */
};

struct evidence {
	int flags;
	int timer_src;		/* TS_* of the hrtimer callback, -1 */
	int vector;		/* accepted vector for this vCPU, -1 */
	int routed_vector;	/* from kvm_msi_set_irq / kvm_ioapic_set_irq, -1 */
	int post_vector;	/* first accept for the vCPU itself after its wake, -1 */
	int post_inj;		/* first kvm_inj_virq after its wake, -1 */
	int gsi;		/* -1 */
	int waker;		/* tid of the waking context, -1 */
};

/* A wait whose time is known and whose reason awaits more evidence. */
struct pending_wait {
	bool active;
	uint64_t ns;
	uint64_t end;
	struct evidence ev;
	struct l2vcpu *l2;		/* L0 halted the vCPU while in this L2 */
};

struct l2vcpu;

struct credit {
	int tid;
	uint64_t ns;
};

/* A growable list of credits per preemptor (settled, or of the open period). */
struct credits {
	struct credit *v;
	int n, cap;
};

/* An exit whose kvm_entry has not come yet. */
struct open_exit {
	bool open;
	uint32_t isa, code;
	uint64_t start;
};

/* Per-thread analysis state; every thread is followed, vCPUs are reported. */
struct thread {
	int tid;
	int tgid;			/* -1 unknown */
	int anchor;			/* tgid of a thread that injected into it, -1 */
	char comm[32];
	int cpu;			/* last known CPU, -1 */
	uint8_t sched, ctx;
	bool seen;			/* first sighting happened (see README) */
	bool vcpu;
	bool seen_entry;		/* has had kvm_entry/kvm_exit */
	bool did_io;			/* block I/O or D-sleep since last injection */
	bool exiting;			/* sched_process_exit seen, final switch-out due */
	bool retired;			/* ended: its tid may be reused */
	int guest;			/* 1 + index of a trace-cmd GUEST option naming it */
	int vcpu_id;			/* -1 unknown */
	uint64_t first_ns, last_ns;	/* first sighting, last event naming it */
	uint64_t end_ns;		/* where its span ended (retired) */
	uint64_t hlt_rip;		/* guest rip of its first HLT exit, 0 */
	struct pre_period {
		uint64_t start, end;
		uint8_t state;
	} *pre;				/* periods before it was a vCPU (for sinks) */
	int npre;

	/* the open period */
	enum vw_state state;
	uint64_t since;
	uint64_t pre_ns[VS_NR];		/* time before it was known as a vCPU */

	/* halt */
	int halt_idx;			/* index in analyzer.halted, -1 */
	bool halt_confirmed;
	int halt_cpu;			/* the CPU of the HLT exit that began the halt */
	uint64_t halt_start;
	uint64_t on_since;		/* while halted and on a CPU */
	uint64_t polled;
	struct evidence ev;		/* waker context of a sched_waking */
	struct evidence ev_poll;	/* halt-poll evidence, while halted */
	bool woken;			/* the halt ended at a sched_waking */
	struct pending_wait pw;

	/* light-mode tentative halt (thread never had kvm_entry/kvm_exit) */
	bool tent;			/* switched out sleeping */
	bool tent_woken;
	uint64_t tent_start, tent_wake, tent_since;
	enum vw_state tent_state;
	struct evidence tent_ev;

	struct open_exit exit;

	/* preemption credit, while preempted (list of the CPU waited on) */
	int wait_cpu;
	uint64_t credit_since;
	struct thread *wnext, *wprev;
	struct credits credits;		/* settled */
	struct credits pcred;		/* of the open preempted period */

	/* nested */
	bool in_l2;
	struct l2vcpu *cur_l2;

	struct vw_vcpu *res;		/* allocated once known as a vCPU */
	struct vw_vm *vm;		/* finish.c: the VM it is reported in */
	struct thread *hnext;		/* hash chain */
	struct thread *all_next;	/* every thread, in order of creation */
	int group;			/* finish.c: union-find parent */
};

/* An L2 vCPU (vmcs12/vmcb12) inside an L1 VM. */
struct l2vcpu {
	uint64_t vmcs;
	uint64_t pgd;
	bool has_pgd;
	int tgid;			/* L1 VM when it was first seen, -1 */
	struct thread *l1;		/* the L1 vCPU thread it first ran on */
	enum vw_state state;		/* open period */
	uint64_t since;
	bool active;			/* being accounted */
	bool halted;			/* after a reflected HLT */
	uint64_t halt_start;
	struct open_exit exit;
	bool held;			/* its thread's tentative halt holds a period */
	uint64_t hold_since;
	enum vw_state hold_state;
	struct credits credits, pcred;	/* preemption credit, settled and open */
	struct vw_vcpu *res;
	struct l2vcpu *next;
};

#define CTX_ENTRIES 8

enum ctx_type { CE_ACCEPT, CE_IPI, CE_MSI, CE_SET_IRQ, CE_IOAPIC, CE_PIC };

struct ctx_entry {
	uint8_t type;
	int pid;
	uint32_t seg;
	uint64_t ts;
	int a;		/* accept: apicid; ipi: dest; set_irq: gsi; ioapic: pin; pic: chip*8+pin */
	int vec;	/* -1 if none */
};

/* What is known about one host CPU. */
struct cpu_state {
	int curr;			/* tid on the CPU, -1 unknown */
	bool started;			/* has had a record */
	uint32_t seg;			/* context segment: bumped at hrtimer entry/exit */
	int hrtimer_pid;		/* pid interrupted by a running hrtimer, -1 */
	int hrtimer_kind;		/* 0 none, 1 + TS_* a KVM guest timer, -1 other */
	bool irqctx;			/* the record being handled runs in hard/soft irq */
	bool hrt_flagged;		/* the hrtimer entry carried the hardirq flag */
	struct ctx_entry ent[CTX_ENTRIES];
	int nent;
	struct thread *waiters;		/* preempted vCPU threads waiting here */
	struct thread *curr_t;		/* thread of the last record's task (a cache) */
};

/* Per-VM knowledge learned while streaming. */
struct vm_info {
	int tgid;
	char *cmdline;
	int8_t learned[256];		/* vector -> reason + 1, 0 unknown */
	struct vm_info *next;
};

/* Handler ids of the events the analyzer follows. */
enum ev_kind {
	K_NONE, K_SWITCH, K_WAKING, K_WAKEUP, K_WAKEUP_NEW, K_NEWTASK, K_PEXIT,
	K_KVM_ENTRY, K_KVM_EXIT, K_USER_EXIT, K_VCPU_WAKEUP, K_HALT_POLL,
	K_INJ_VIRQ, K_ACCEPT, K_APIC_IPI, K_MSI, K_SET_IRQ, K_IOAPIC, K_PIC,
	K_NESTED_VMENTER, K_NESTED_VMRUN, K_NESTED_VMEXIT, K_NESTED_INJECT,
	K_NESTED_INTR, K_HRT_ENTRY, K_HRT_EXIT, K_BLOCK_ISSUE, K_PRINT, K_EXEC,
	K_KVM_OTHER, K_NR
};

#define MAX_FIELDS 8

enum { LD_NONE, LD_U8, LD_S8, LD_U16, LD_S16, LD_U32, LD_S32, LD_U64 };

/* Where a followed field lies in the records of one event format. */
struct ev_field {
	uint32_t off, size;
	bool present, sign, text;
	uint8_t how;			/* LD_*: how to load it as a number */
};

/* One event format: what the analysis does with it and its fields. */
struct ev_type {
	uint8_t kind;
	uint8_t nf;
	uint32_t min_size;		/* a record this long holds every numeric field */
	struct ev_field f[MAX_FIELDS];
};

/*
 * A decoded record: the evidence the state machine consumes. It begins with
 * the reader's record, field for field (tin_next() fills it in place).
 */
struct vw_ev {
	union {
		struct tin_rec rec;
		struct {
			uint64_t ts;
			const uint8_t *data;
			uint32_t size;
			int cpu;
			int64_t missed;
		};
	};
	int pid;			/* common_pid, -1 if unreadable */
	uint8_t kind;
	uint8_t flags;			/* common_flags */
	const struct ev_type *ty;	/* NULL: a format the analysis did not parse */
	uint64_t v[MAX_FIELDS];		/* numeric fields, in the kind's order */
};
_Static_assert(offsetof(struct vw_ev, ts) == offsetof(struct tin_rec, ts) &&
	       offsetof(struct vw_ev, data) == offsetof(struct tin_rec, data) &&
	       offsetof(struct vw_ev, size) == offsetof(struct tin_rec, size) &&
	       offsetof(struct vw_ev, cpu) == offsetof(struct tin_rec, cpu) &&
	       offsetof(struct vw_ev, missed) == offsetof(struct tin_rec, missed) &&
	       offsetof(struct vw_ev, pid) >= sizeof(struct tin_rec),
	       "struct vw_ev begins with a struct tin_rec");

/* Exit-reason names from the kvm_exit print format. */
struct exit_names {
	struct tep_print_flag_sym *vmx;
	struct tep_print_flag_sym *svm;
};

/* What the trace recorded (README, Evidence): formats present in the file. */
struct recorded {
	bool entry_exit;		/* kvm_entry and kvm_exit */
	bool sched_switch;
	bool waking;			/* sched_waking or sched_wakeup */
	bool vcpu_wakeup;
	bool user_exit;
	bool accept;
};

/* An ipi wait: evidence that two vCPU threads are of one VM. */
struct link {
	struct thread *a, *b;
};

struct explain;

struct vector_override {
	int vec;
	int reason;
};

struct analyzer {
	struct tep_handle *tep;
	struct ev_type *types;		/* indexed by event id */
	int ntypes;
	struct ev_field c_type, c_flags, c_pid;
	bool common_set;
	bool common_fast;		/* common fields at their usual place, native order */
	bool swap;			/* the file's byte order is not the host's */
	struct exit_names names;
	struct recorded rec;

	struct thread **htab;		/* tid hash (live threads) */
	unsigned int hsize, nthreads;
	struct thread *all, **all_tail;	/* every thread, retired ones too */
	struct cpu_state *cpus;
	int ncpus;
	struct vm_info *vms;
	struct l2vcpu *l2s;
	struct thread **halted;		/* vCPU threads with ctx halted */
	int nhalted, halted_cap;
	struct link *links;		/* ipi waits between vCPU threads */
	int nlinks, links_cap;
	const struct vector_override *ovr;
	int novr;
	const struct vw_sink *sinks[4];	/* timeline consumers (sink.h) */
	int nsinks;

	/* KVM guest-timer hrtimer callbacks (kallsyms) */
	struct { uint64_t addr; int src; } timer_fns[32];
	int ntimer_fns;

	const struct tin_meta *info;	/* version, compression, GUEST options */
	struct explain *ex;		/* --explain, or NULL */

	uint64_t first_ts, last_ts;
	uint64_t events, lost_events;
	uint64_t lost_unknown;		/* losses whose count is unknown */
	uint64_t from, to;		/* window, to = UINT64_MAX when open */
	bool warned_backwards;
};

/* thread.c */
struct thread *thread_find(struct analyzer *a, int tid);
struct thread *thread_hint(struct analyzer *a, int tid);
struct thread *thread_get(struct analyzer *a, int tid, uint64_t ts);
void thread_set_comm(struct analyzer *a, struct thread *t, const char *comm, uint64_t ts);
void thread_retire(struct analyzer *a, struct thread *t);
struct vm_info *vm_get(struct analyzer *a, int tgid);
enum vw_preempt_kind preempt_kind(struct analyzer *a, int tgid, int tid);
const char *preemptor_comm(struct analyzer *a, int tid);
void threads_free(struct analyzer *a);

/* account.c */
uint64_t clip(const struct analyzer *a, uint64_t start, uint64_t end);
void period_add(struct analyzer *a, struct vw_vcpu *v, enum vw_state s,
		uint64_t start, uint64_t end);
void commit(struct analyzer *a, struct thread *t, enum vw_state s, uint64_t start, uint64_t end);
void credit_add(struct credits *c, int tid, uint64_t ns);
void credits_move(struct credits *dst, struct credits *src);
void credits_free(struct credits *c);
void exit_begin(struct open_exit *x, uint32_t isa, uint32_t code, uint64_t ts);
void exit_close(struct analyzer *a, struct vw_vcpu *v, struct open_exit *x, uint64_t ts);
void exit_abandon(struct analyzer *a, struct vw_vcpu *v, struct open_exit *x, uint64_t ts);
void exit_unpaired(struct analyzer *a, struct vw_vcpu *v, struct open_exit *x, uint64_t ts);
void wait_add(struct analyzer *a, struct vw_vcpu *v, enum vw_reason r, uint64_t ns,
	      uint64_t end, int src, int gsi, int timer_src, int vec, const struct vw_vcpu *from);
void credits_commit(struct analyzer *a, const struct vw_vcpu *v, struct credits *dst,
		    struct credits *src, uint64_t ts);
void sink_mark(struct analyzer *a, const struct vw_vcpu *v, enum vw_mark m, uint64_t ts);
void sink_pre_periods(struct analyzer *a, struct thread *t);
uint64_t analyzer_watermark(const struct analyzer *a);
const char *exit_name(struct analyzer *a, uint32_t isa, uint32_t code);

/* state.c */
void vcpu_promote(struct analyzer *a, struct thread *t, uint64_t ts);
void state_update(struct analyzer *a, struct thread *t, uint64_t ts);
void sched_switch_out(struct analyzer *a, struct thread *t, int cpu, bool runnable, uint64_t ts);
void sched_switch_in(struct analyzer *a, struct thread *t, int cpu, uint64_t ts);
void sched_wake(struct analyzer *a, struct thread *t, int waker, int cpu, int target_cpu, uint64_t ts);
void sched_exit(struct analyzer *a, struct thread *t, uint64_t ts);
void cpu_switch_slow(struct analyzer *a, int cpu, int next, uint64_t ts);
void seen_on_cpu_slow(struct analyzer *a, struct thread *t, int cpu, uint64_t ts);
void kvm_event(struct analyzer *a, struct thread *t, enum ev_kind k, uint64_t ts);
void on_kvm_entry(struct analyzer *a, struct thread *t, uint64_t ts);
void on_kvm_exit(struct analyzer *a, struct thread *t, uint32_t isa, uint32_t code, uint64_t rip,
		 uint64_t ts);
void on_user_exit(struct analyzer *a, struct thread *t, uint64_t ts);
void on_vcpu_wakeup(struct analyzer *a, struct thread *t, uint64_t ts);
void on_inj_virq(struct analyzer *a, struct thread *t, int vec, uint64_t ts);
void halt_cancel(struct analyzer *a, struct thread *t);
void on_loss(struct analyzer *a, int cpu, uint64_t ts);
void thread_end(struct analyzer *a, struct thread *t, uint64_t ts);

/* The task on @cpu is @next (settles its waiters' credit when it changes). */
static inline void cpu_switch(struct analyzer *a, int cpu, int next, uint64_t ts)
{
	if (a->cpus[cpu].curr != next)
		cpu_switch_slow(a, cpu, next, ts);
}

/* @t has a record on @cpu: it is on that CPU. */
static inline void seen_on_cpu(struct analyzer *a, struct thread *t, int cpu, uint64_t ts)
{
	t->last_ns = ts;
	if (t->cpu != cpu || t->sched != SCH_ON)
		seen_on_cpu_slow(a, t, cpu, ts);
}

/* session.c: one analysis, fed in time order */
struct session_opts {
	uint64_t from, to;		/* window; to = UINT64_MAX when open */
	const struct vector_override *ovr;
	int novr;
	FILE *ex_out;			/* --explain output, or NULL */
	const int *ex_tids;
	int ex_ntids;
};
struct analyzer *session_new(struct tin *t, const struct session_opts *o);
void session_feed(struct analyzer *a, const struct tin_rec *r);
struct progress;
int session_pass(struct analyzer *a, struct tin *t, struct progress *pg);
void session_feed_ev(struct analyzer *a, struct vw_ev *e);
void session_end(struct analyzer *a, struct vw_result *res);
void session_free(struct analyzer *a);

/* finish.c */
void analyzer_finish(struct analyzer *a, struct vw_result *r);
void analyzer_layout(struct analyzer *a, struct vw_result *r);
void analyzer_layout_free(struct vw_result *r);
void credits_to_result(struct analyzer *a, struct vw_vcpu *v, const struct credits *c,
		       const struct vw_vm *vm);

/* wake.c */
void ctx_push(struct analyzer *a, int cpu, enum ctx_type type, int pid, int x, int vec,
	      uint64_t ts);
void evidence_reset(struct evidence *ev);
void capture_waker(struct analyzer *a, struct thread *t, int waker, int cpu);
void evidence_accept(struct analyzer *a, int sender, int cpu, int apicid, int vec, bool irqctx);
bool gap_due(const struct thread *t, const struct vw_ev *e);
void gap_check(struct analyzer *a, struct thread *t, const struct vw_ev *e);
void evidence_post(struct thread *t, int vec, bool accept);
void evidence_timer_on_self(struct thread *t, int kind);
void wait_finalize(struct analyzer *a, struct thread *t);
enum vw_reason classify_vector(struct analyzer *a, int vec);
int hrtimer_kind(struct analyzer *a, unsigned long long addr);
void hrtimer_init(struct analyzer *a, const struct tin *t);
bool thread_is_vm_worker(const struct thread *t, const char *prefix, int *pid);

/* nested.c */
void nested_enter(struct analyzer *a, struct thread *t, uint64_t vmcs, uint64_t pgd,
		  bool has_pgd, int inj_vec, uint64_t ts);
void nested_inject(struct analyzer *a, struct thread *t, uint32_t isa, uint32_t code,
		   uint64_t ts);
void l2_follow_slow(struct analyzer *a, struct thread *t, uint64_t ts);

/* The L2 vCPU current on @t (if any) follows @t's state. */
static inline void l2_follow(struct analyzer *a, struct thread *t, uint64_t ts)
{
	if (t->cur_l2)
		l2_follow_slow(a, t, ts);
}
void l2_exit_open(struct thread *t, uint32_t isa, uint32_t code, uint64_t ts);
void l2_exit_close(struct analyzer *a, struct thread *t, uint64_t ts);
void l2_drop(struct analyzer *a, struct thread *t, uint64_t ts, bool gap);
void l2_relabel(struct thread *t, enum vw_state from, enum vw_state to);
void l2_credit(struct thread *t, int who, uint64_t ns);
void l2_hold(struct thread *t, uint64_t ts);
struct l2vcpu *l2_hold_confirm(struct analyzer *a, struct thread *t);
void l2_hold_refute(struct analyzer *a, struct thread *t);
void l2_finish(struct analyzer *a, uint64_t ts);

/* decode.c */
bool dispatch_wants(const char *system, const char *name);
int dispatch_init(struct analyzer *a);
const char *ev_str(const struct vw_ev *e, int i, char *buf, size_t len);
void evidence_of(struct analyzer *a, const struct tin_meta *m, struct vw_evidence *ev);

/* handle.c */
void handle(struct analyzer *a, const struct vw_ev *e);
int ev_named_pids(const struct vw_ev *e, int *pids);


/* explain.c */
struct explain *explain_new(FILE *out, struct tep_handle *tep, bool in_usecs, const char *bufname,
			    const int *tids, int ntids, uint64_t from, uint64_t to);
void explain_free(struct explain *ex);
bool explain_selected(const struct analyzer *a, int tid);
void explain_note(struct analyzer *a, const struct thread *t, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void explain_state(struct analyzer *a, const struct thread *t, enum vw_state from,
		   enum vw_state to);
void explain_wait(struct analyzer *a, const struct thread *t, const struct pending_wait *pw,
		  enum vw_reason r, int src, int vec);
bool explain_involves(struct analyzer *a, int pid, const int *pids, int npids);
void explain_emit(struct analyzer *a, struct tep_record *r, bool involved);
void explain_guest_line(struct analyzer *a, struct tep_handle *tep, const char *file,
			struct tep_record *r);
void explain_note_lane(struct analyzer *a, const struct vw_vcpu *lane, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
