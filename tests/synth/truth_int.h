/* Internals of the ground truth, shared by the truth*.c files. */
#ifndef VMWAIT_SYNTH_TRUTH_INT_H
#define VMWAIT_SYNTH_TRUTH_INT_H

#include "synth.h"

enum { S_UNKNOWN, S_RUNNABLE, S_SLEEPING, S_ONCPU };
enum { C_UNKNOWN, C_GUEST, C_GUEST_L2, C_HYP, C_VMM, C_HALTED, C_RUN };
enum { L2_IN, L2_L1, L2_IDLE };

/* Credit keys: the task a preempted vCPU waited behind. */
#define CK_UNKNOWN	(-1)	/* the CPU's task is not known, or not yet a vCPU */
#define CK_IDLE		0	/* the idle task: wakeup latency */
/* > 0: 1 + index of the thread (incarnation) in struct struth.list */

#define MAX_PENDING	256

struct credit { int key; uint64_t ns; };

struct credits { struct credit *v; int n, cap; };

/* One result row's open period and what must be committed with it. */
struct acc {
	struct vw_vcpu *res;	/* NULL until the thread is known as a vCPU */
	int state;		/* -1: none yet */
	uint64_t start, end;
	uint64_t polled;
	struct credits open;	/* credits of the open period (dropped at a loss) */
	struct credits done;	/* committed credits, resolved at the end */
	uint64_t pre[VS_NR];	/* closed periods before the thread was a vCPU */
};

/* What a wake's evidence tells (README, Wake reasons). */
struct wev {
	bool set;		/* poll wakes: the first evidence was taken */
	bool timer_fn;		/* a KVM guest timer's hrtimer_expire_entry */
	int timer_src;		/* TS_* */
	bool ipi;		/* kvm_apic_ipi in the waker context */
	bool routed;		/* msi/ioapic/set_irq/pic in the waker context */
	int vec;		/* accepted vector for this vcpu id, -1 */
	int routed_vec;		/* kvm_msi_set_irq / kvm_ioapic_set_irq vector, -1 */
	int gsi;		/* -1 */
	struct tthread *waker;	/* the waking task (task context), or NULL */
	int post_accept, post_inj;	/* after the wake: vectors, -1 */
};

struct tl2 {
	struct acc acc;
	uint64_t vmcs;
	char *id;		/* L2 VM: "0x..." or "unknown" */
	struct tthread *l1;	/* the thread it first ran on */
	int mode;
	uint64_t idle_start;
	bool idle_open;
	bool exit_open;
	uint32_t isa, code;
	uint64_t exit_ts;
};

struct pseg { uint64_t from, to; int sched; int ctx; int l2mode; };

struct tthread {
	int tid, idx;
	int tgid;		/* -1 unknown */
	int anchor;		/* tgid of a non-vCPU thread that injected into it, -1 */
	int vcpu, vsrc;		/* vcpu id and the rank of its source (README order) */
	char comm[32];
	bool has_comm;
	bool seen, is_vcpu, live, exiting, ended;
	uint64_t first, last, end;
	int sched, ctx;
	bool had_ee;
	int last_cpu, wait_cpu;
	bool did_io;
	uint64_t hlt_rip;
	bool hlt_seen;
	/* halt */
	bool halt_open, confirmed, blocked;
	uint64_t halt_start;
	struct tl2 *halt_l2;
	struct wev hev;		/* halt-poll evidence gathered during the halt */
	/* tentative halt: switched out sleeping, never had kvm_entry/kvm_exit */
	bool tent, tent_woken;
	uint64_t tent_start, tent_wake;
	struct wev tev;
	struct swake tent_phys;
	struct tl2 *tent_l2;
	/* time whose state awaits a halt's confirmation (or its refutation) */
	struct pseg pend[MAX_PENDING];
	int nr_pend;
	uint64_t at;		/* accounted up to here */
	/* the last wait, from its wake to the end of its "after the wake" window */
	bool post_open;
	struct wev pw;
	struct swake pw_phys;
	struct tl2 *pw_l2;
	uint64_t pw_ns;
	uint64_t pw_start, pw_end;	/* the wait (the guest join's hook) */
	/* exit */
	bool exit_open;
	uint32_t isa, code;
	uint64_t exit_ts;
	struct tl2 *exit_l2;
	/* nested */
	bool in_l2;
	struct tl2 *l2;
	/* preemption credit */
	bool crediting;
	uint64_t credit_from;
	struct acc acc;
	struct vw_vm *vm;	/* truth_end.c */
	int group;
};

struct centry {
	enum sev_kind kind;
	int pid;
	uint32_t seg;
	int a, vec;		/* accept: apicid, vector; msi/ioapic: -/pin, vector; ... */
	uint64_t ts;
};

struct tcpu {
	int curr;		/* tid, -1 unknown */
	bool started;
	uint32_t seg;		/* bumped at hrtimer brackets */
	bool hrt_open, hrt_flagged;
	int hrt_pid, hrt_src;	/* hrt_src: TS_* of a KVM guest timer, -1 other */
	struct centry *ent;
	int nent, cap;
	/* the previous record here (README: the accept right before a waking) */
	enum sev_kind prev_kind;
	int prev_pid, prev_apicid;
};

struct tlearn { int tgid; int8_t reason[256]; };

struct ttimer { uint64_t addr; int src; };

struct struth {
	struct vw_result *res;
	const struct sfmt *fmt;
	bool rec_entry_exit, rec_switch, rec_vcpu_wakeup;
	bool check;		/* compare each wait with the physical wake */
	struct tthread **live;	/* the live thread of each tid */
	int nr_live;
	struct tthread **list;	/* every thread, in creation order */
	int nr_list;
	char **cmdline;		/* saved_cmdlines by tid */
	int nr_cmdline;
	struct tcpu *cpus;
	int nr_cpus;
	struct tl2 **l2s;
	int nr_l2s;
	struct tlearn *learn;
	int nr_learn;
	struct { int pid; char *cmdline; } *vmcmd;
	int nr_vmcmd;
	struct { struct tthread *a, *b; } *links;	/* ipi waits between vCPU threads */
	int nr_links;
	struct ttimer timers[8];
	int nr_timers;
	bool debug;		/* VMWAIT_SYNTH_DEBUG: print each wait on stderr */
	/* every wait of an L1 vCPU as counted (tests/synth/guest.c) */
	void (*on_wait)(void *ctx, const struct vw_vcpu *lane, uint64_t start, uint64_t end,
			int reason);
	void *on_wait_ctx;
};

/* truth_thr.c */
struct tthread *thr_live(struct struth *t, int tid);
struct tthread *thr_find(struct struth *t, int tid);
struct tcpu *cpu_get(struct struth *t, int cpu);
void set_comm(struct struth *t, struct tthread *th, const char *comm, uint64_t ts);
void promote(struct struth *t, struct tthread *th, uint64_t ts);
void set_vcpu_id(struct tthread *th, int id, int rank);

/* truth.c */
void acc_add(struct acc *a, int state, uint64_t from, uint64_t to, bool polled);
void acc_lose(struct acc *a);
void acc_commit(struct acc *a);
void credits_add(struct credits *c, int key, uint64_t ns);
int l1_state(int sched, int ctx);
int l2_state(int mode, int st);
void advance(struct tthread *th, uint64_t to);
void resolve(struct tthread *th, bool halt);
void credit_flush(struct struth *t, struct tthread *th, uint64_t ts);
void credit_update(struct struth *t, struct tthread *th, uint64_t ts);
void lose_thread(struct struth *t, struct tthread *th, uint64_t ts, bool gap);
void end_thread(struct struth *t, struct tthread *th, uint64_t ts, bool exited);

/* truth_kvm.c */
bool is_hlt(uint32_t isa, uint32_t code);
void kvm_effect(struct struth *t, struct tthread *th, const struct sinfo *e, uint64_t ts);
void tent_start(struct tthread *th, uint64_t ts);
void tent_refute(struct tthread *th);
void exit_count(struct struth *t, struct tthread *th, uint64_t ts, int how);
void l2_drop(struct struth *t, struct tthread *th, uint64_t ts, int how);
enum { EXIT_CLOSED, EXIT_OPEN, EXIT_UNPAIRED };

/* truth_wake.c */
void wev_reset(struct wev *w);
void ctx_push(struct struth *t, const struct sinfo *e, uint64_t ts);
void ctx_clear(struct tcpu *c);
void bracket_close(struct tcpu *c);
void capture_waker(struct struth *t, struct tthread *th, struct wev *w, const struct sinfo *e);
void poll_accept(struct struth *t, const struct sinfo *e, uint64_t ts);
void poll_hrtimer(struct struth *t, struct tthread *th, int src);
void post_close(struct struth *t, struct tthread *th);
void halt_waited(struct struth *t, struct tthread *th, const struct wev *w,
		 const struct swake *phys, struct tl2 *l2, uint64_t start, uint64_t end);
void l2_wait(struct struth *t, struct tl2 *l2, uint32_t event_inj, const struct swake *phys,
	     uint64_t ns);
int timer_src_of(struct struth *t, uint64_t addr);

/* truth_end.c */
void truth_link(struct struth *t, struct tthread *a, struct tthread *b);

#endif
