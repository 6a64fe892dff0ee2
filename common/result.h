/*
 * The analysis result: per VM and vCPU, time per state, waits per wake
 * reason, exits, preemptors and nested (L2) attribution; with the text-free
 * JSON emitter. The analyzer fills it from a trace; tests/synth fills it from
 * the scenario it generated, so the ground truth and the analysis are
 * printed by the same code and can be compared byte for byte.
 */
#ifndef VMWAIT_RESULT_H
#define VMWAIT_RESULT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define VW_SCHEMA "vmwait-analysis/2"

enum vw_state {
	VS_GUEST,	/* running guest (L1) code */
	VS_GUEST_L2,	/* running a nested (L2) guest */
	VS_HYPERVISOR,	/* host kernel handling an exit, thread on a CPU */
	VS_VMM,		/* VMM userspace handling an exit */
	VS_PREEMPTED,	/* runnable, not on a CPU */
	VS_IDLE,	/* guest halted, until the wakeup */
	VS_UNKNOWN,	/* not enough evidence */
	VS_RUNNING,	/* inside KVM_RUN, guest vs host not traced (no kvm_entry/exit) */
	VS_NR,
};

enum vw_reason {
	WR_TIMER,
	WR_IPI,
	WR_DISK,
	WR_NET,
	WR_DEVICE,
	WR_UNKNOWN,
	WR_NR,
};

extern const char *const vw_state_names[VS_NR];
extern const char *const vw_reason_names[WR_NR];
int vw_reason_parse(const char *s);	/* -1 if unknown */

/*
 * Log-linear histogram: exact below 64 ns, then 64 buckets per power of two,
 * so a reported percentile is at most 1/64 (1.6%) above the true value and
 * never above the true maximum. Count, total and max are exact. Mergeable.
 */
#define HIST_SUB_BITS	6
#define HIST_SUB	(1u << HIST_SUB_BITS)
#define HIST_CHUNKS	(64 - HIST_SUB_BITS + 1)

struct vw_hist {
	uint64_t count;
	uint64_t total;
	uint64_t max;
	uint64_t *chunk[HIST_CHUNKS];
};

void hist_add_new(struct vw_hist *h, unsigned int c, unsigned int s, uint64_t v);

/* The bucket of @v: chunk (power of two) and sub-bucket. */
static inline void hist_index(uint64_t v, unsigned int *chunk, unsigned int *sub)
{
	unsigned int e;

	if (v < HIST_SUB) {
		*chunk = 0;
		*sub = (unsigned int)v;
		return;
	}
	e = 63 - (unsigned int)__builtin_clzll(v);
	*chunk = e - HIST_SUB_BITS + 1;
	*sub = (unsigned int)(v >> (e - HIST_SUB_BITS)) & (HIST_SUB - 1);
}

static inline void hist_add(struct vw_hist *h, uint64_t v)
{
	unsigned int c, s;

	hist_index(v, &c, &s);
	if (__builtin_expect(!h->chunk[c], 0)) {
		hist_add_new(h, c, s, v);
		return;
	}
	h->chunk[c][s]++;
	h->count++;
	h->total += v;
	if (v > h->max)
		h->max = v;
}
void hist_merge(struct vw_hist *dst, const struct vw_hist *src);
/* Value at percentile @pct (1..100): rank ceil(count*pct/100). */
uint64_t hist_pct(const struct vw_hist *h, unsigned int pct);
void hist_free(struct vw_hist *h);
/*
 * The non-empty buckets of @h in increasing order: values @lo..@hi, @count
 * of them. *@pos starts at 0; false after the last.
 */
bool hist_next(const struct vw_hist *h, unsigned int *pos, uint64_t *lo, uint64_t *hi,
	       uint64_t *count);

/* Counters for one exit reason. */
struct vw_exit {
	uint32_t isa;		/* 1 = VMX, 2 = SVM (the kvm_exit isa field) */
	uint32_t code;
	char *name;		/* from the event's print format, or "code N" */
	struct vw_hist hist;	/* closed exits: exit -> next entry, ns */
	uint64_t open;		/* exits still open at the end or at a loss */
	uint64_t open_ns;	/* their time up to there */
	uint64_t unpaired;	/* exits whose kvm_entry is missing (a gap) */
};

/* Every exit of @e: closed, open and unpaired. */
static inline uint64_t vw_exit_count(const struct vw_exit *e)
{
	return e->hist.count + e->open + e->unpaired;
}

enum vw_preempt_kind { PK_SAME_VM, PK_OTHER_VM, PK_HOST, PK_UNKNOWN, PK_NR };
extern const char *const vw_preempt_kind_names[PK_NR];

/* Where a timer wait's interrupt came from (the "timer" breakdown). */
enum vw_timer_src { TS_LAPIC, TS_PIT, TS_HPET, TS_HYPERV, TS_XEN, TS_VECTOR, TS_NR };
extern const char *const vw_timer_src_names[TS_NR];

struct vw_preemptor {
	int tid;
	char comm[32];
	enum vw_preempt_kind kind;
	uint64_t total_ns;
};

/* Waits of reason ipi per sending vCPU, device per vector/gsi, timer per source. */
struct vw_source {
	int key;		/* ipi: sending vcpu id; device: vector; timer: TS_* */
	int gsi;		/* device: gsi, or -1; timer: vector, or -1 */
	struct vw_hist hist;
};

/* A guest address where exits happen, and how many did. */
struct vw_rip {
	uint64_t rip;
	uint64_t count;
};

#define RES_MAX_RIPS	4096	/* distinct exit addresses followed per vCPU */
#define RES_TOP_RIPS	10	/* exit addresses listed per vCPU */

/* Guest symbols for exit addresses (--guest-kallsyms): "name+0xoff", or false. */
extern bool (*res_symbolize)(uint64_t rip, char *buf, size_t len);

struct vw_vcpu {
	int vcpu;		/* vcpu id, or -1 if never learned */
	int tid;		/* host thread; for L2 entries, the L1 vCPU's */
	char comm[32];
	char *key;		/* nested entries: vmcs12/vmcb12 address ("0x...") */
	uint64_t first_ns;	/* first event involving the thread */
	uint64_t end_ns;	/* end of its span: its exit, or the trace's end */
	uint64_t states_ns[VS_NR];
	struct vw_hist state_hist[VS_NR];	/* per maximal period of a state */
	uint64_t polled_ns;	/* part of idle spent halt-polling on a CPU */
	uint64_t gaps;		/* events found missing (README, Gaps) */
	uint64_t guest_kernel_ns, guest_user_ns;	/* guest time by its exit's rip */
	struct vw_rip *rips;	/* exits per guest rip (open addressing, 0 = empty) */
	int nr_rips, cap_rips;
	int last_rip;		/* slot of the last address counted (a guest exits at few) */
	uint64_t rips_other;	/* exits at addresses beyond RES_MAX_RIPS */
	uint64_t wakeup_latency_ns;	/* preempted on an idle CPU */
	struct vw_hist waits[WR_NR];
	struct vw_source *ipi_from;
	int nr_ipi_from;
	struct vw_source *devices;
	int nr_devices;
	struct vw_source *timers;
	int nr_timers;
	struct vw_exit *exits;
	int nr_exits;
	struct vw_preemptor *preemptors;
	int nr_preemptors;
};

struct vw_nested {
	char *id;		/* L2 VM: nested EPTP / nCR3 / L2 CR3 ("0x...") */
	struct vw_vcpu **vcpus;
	int nr_vcpus;
};

/*
 * Guest tasks, when a guest trace is joined to the host's (README "Which
 * guest program waited?"): per guest task, the waits it ran last before
 * (by the host's reason) and the state it was left in, and how many wakes
 * made it runnable. pid -1 ("<unknown>"): waits no guest task is known for.
 */
enum vw_gstate { GS_D, GS_S, GS_R, GS_OTHER, GS_NR };
extern const char *const vw_gstate_names[GS_NR];	/* "D", "S", "R", "other" */
/* The state letter of a sched_switch prev_state (D, S, R or other). */
enum vw_gstate vw_gstate_of(uint64_t prev_state);

struct vw_guest_task {
	int pid;
	char comm[32];
	struct vw_hist hist;		/* the waits it ran last before */
	uint64_t count[WR_NR], total[WR_NR];	/* the same, by reason */
	uint64_t state[GS_NR];		/* the state it was in when the vCPU halted */
	uint64_t woken;			/* waits whose wake made it runnable */
};

struct vw_guest {
	char *file;			/* the guest trace, as named */
	bool time_shift;		/* its clock mapped by its TIME_SHIFT option */
	int64_t offset_ns;		/* added to its (mapped) timestamps */
	const char *offset_from;	/* "none", "option", "auto" */
	int64_t window_lo, window_hi;	/* auto: the offsets the evidence allows */
	uint64_t inconsistent;		/* waits with guest events inside the halt */
	struct vw_guest_task *tasks;
	int nr_tasks, cap_tasks;
};

/* The task (@pid, @comm) of @g, added on first use; pid -1 is "<unknown>". */
int res_guest_task(struct vw_guest *g, int pid, const char *comm);
/* A wait of @ns, reason @r, that task @ti (index) ran last before, in state @st (GS_NR: none). */
void res_guest_wait(struct vw_guest *g, int ti, enum vw_gstate st, enum vw_reason r,
		    uint64_t ns);
/* Tasks by total wait time (then pid, comm), "<unknown>" last. */
void res_guest_finish(struct vw_guest *g);
void res_guest_free(struct vw_guest *g);

struct vw_vm {
	int pid;		/* VMM tgid, or -1 when unknown */
	char *name;
	bool guessed;		/* grouped from evidence, pid unknown */
	char *grouped_by;	/* guessed: comma-separated link kinds, "" none */
	struct vw_vcpu **vcpus;
	int nr_vcpus;
	struct vw_nested *nested;
	int nr_nested;
	struct vw_guest *guest;	/* a guest trace joined to it, or NULL */
};

/* What the trace recorded, and what that lets the analysis tell (README). */
struct vw_evidence {
	char tier[16];		/* "full", "sched", "exits", "light", "none" */
	char **recorded;	/* followed events whose format is in the trace */
	int nr_recorded;
	char **missing;		/* followed events that would tell more */
	int nr_missing;
};

struct vw_result {
	char *file;
	char *buffer;		/* instance analyzed, "" for the top buffer */
	uint64_t start_ns, end_ns;
	bool has_window;
	uint64_t window_from, window_to;	/* --from/--to, absolute ns */
	uint64_t events;
	uint64_t lost_events;
	uint64_t lost_unknown;	/* losses of unknown count (not in lost_events) */
	uint64_t corrupt;	/* corrupt pages or chunks skipped */
	int cpus;
	struct vw_evidence evidence;
	uint64_t interval_ns;		/* --interval: the slices below, else 0 */
	struct vw_result *intervals;	/* each with start_ns/end_ns and its vms */
	int nr_intervals;
	struct vw_vm **vms;
	int nr_vms;
};

/* Builders. Lookups create on first use. */
struct vw_vm *res_vm(struct vw_result *r, int pid);
struct vw_vcpu *res_vcpu_new(struct vw_vm *vm, int vcpu, int tid);
struct vw_nested *res_nested(struct vw_vm *vm, const char *id);
struct vw_vcpu *res_nested_vcpu(struct vw_nested *n, const char *key, int vcpu, int tid);
struct vw_exit *res_exit(struct vw_vcpu *v, uint32_t isa, uint32_t code, const char *name);
struct vw_exit *res_exit_find(struct vw_vcpu *v, uint32_t isa, uint32_t code);
void res_add_preempt(struct vw_vcpu *v, int tid, const char *comm,
		     enum vw_preempt_kind kind, uint64_t ns);
void res_add_wait(struct vw_vcpu *v, enum vw_reason reason, uint64_t ns,
		  int source_key, int gsi);
/* A timer wait's source (after res_add_wait() of WR_TIMER): TS_*, vector or -1. */
void res_add_timer_source(struct vw_vcpu *v, enum vw_timer_src src, int vector, uint64_t ns);
/* An exit still open at the end or at a loss, after @ns; one whose entry is missing. */
void res_exit_open(struct vw_vcpu *v, uint32_t isa, uint32_t code, const char *name,
		   uint64_t ns);
void res_exit_unpaired(struct vw_vcpu *v, uint32_t isa, uint32_t code, const char *name);
/* One exit of @v at guest address @rip. */
void res_add_rip(struct vw_vcpu *v, uint64_t rip);
void res_add_rip_n(struct vw_vcpu *v, uint64_t rip, uint64_t n);
/* @v's exit addresses by count (then address), into a new array of *@n. */
struct vw_rip *res_top_rips(const struct vw_vcpu *v, int *n);
/* Evidence lists take copies. */
void res_evidence_add(struct vw_evidence *e, bool recorded, const char *name);
/* Add one maximal period of @state lasting @ns. */
static inline void res_add_state(struct vw_vcpu *v, enum vw_state state, uint64_t ns)
{
	v->states_ns[state] += ns;
	hist_add(&v->state_hist[state], ns);
}

/* Sort everything into the canonical order used by every output. */
void res_finish(struct vw_result *r);
/* Were events lost or skipped? */
bool res_lossy(const struct vw_result *r);
/* "N @lost" (@lost: "events lost"), losses of unknown count, corrupt pages: for a header. */
const char *res_loss_text(const struct vw_result *r, const char *lost, char *buf, size_t len);
/* Per-VM totals: every vCPU's counters summed (caller frees with res_vcpu_free). */
struct vw_vcpu *res_vm_totals(const struct vw_vm *vm);

void res_write_json(const struct vw_result *r, FILE *f);
/* One VM object of the "vms" list (per-interval outputs reuse it). */
void res_write_json_vm(const struct vw_vm *vm, FILE *f);
void res_free(struct vw_result *r);
void res_vm_free(struct vw_vm *vm);
void res_vcpu_free(struct vw_vcpu *v);

#define RES_MAX_PREEMPTORS	10

#endif
