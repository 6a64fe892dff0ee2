/* tests/synth: synthetic KVM host traces with their exact vmwait ground truth. */
#ifndef VMWAIT_SYNTH_H
#define VMWAIT_SYNTH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "result.h"

/* ---- event formats (fmt.c) ---- */

struct sfield {
	char *name;
	int offset;
	int size;
	bool is_signed;
	bool data_loc;		/* __data_loc char[] */
	bool dyn_tail;		/* char buf[] at the end (ftrace print) */
};

struct sevent {
	char *system;
	char *name;
	int id;
	char *text;		/* the format file, as read */
	size_t len;
	struct sfield *fields;
	int nr_fields;
	int size;		/* fixed payload size, struct padding included */
};

struct sfmt {
	char *dir;
	char *header_page, *header_event;
	size_t header_page_len, header_event_len;
	struct sevent *ev;
	int nr_ev;
	/* kvm_exit symbolic names, parsed from its print fmt */
	struct sname { uint32_t isa, code; char *name; } *names;
	int nr_names;
};

int sfmt_load(struct sfmt *f, const char *dir);
void sfmt_free(struct sfmt *f);
const struct sevent *sfmt_event(const struct sfmt *f, const char *name);
const struct sfield *sev_field(const struct sevent *ev, const char *name);
/* Name of a kvm_exit reason as the format's __print_symbolic prints it. */
const char *sfmt_exit_name(const struct sfmt *f, uint32_t isa, uint32_t code);

/* ---- one record (enc.c) ---- */

#define SREC_MAX 512

/* common_flags bits (kernel/trace/trace.h, TRACE_FLAG_*) */
#define TF_IRQS_OFF	0x01
#define TF_NEED_RESCHED	0x04
#define TF_HARDIRQ	0x08
#define TF_SOFTIRQ	0x10
#define TF_IRQ		(TF_HARDIRQ | TF_IRQS_OFF)	/* a hardirq handler */

struct srec {
	const struct sevent *ev;
	int len;
	uint8_t buf[SREC_MAX];
};

void srec_init(struct srec *r, const struct sevent *ev, int pid);
/* OR @flags into common_flags (offset 2 in every layout). */
static inline void srec_flags(struct srec *r, uint8_t flags)
{
	r->buf[2] |= flags;
}
/* Set a field if the layout has it; returns false if it does not. */
bool srec_set(struct srec *r, const char *field, uint64_t v);
bool srec_str(struct srec *r, const char *field, const char *s);

/* ---- ring-buffer pages (enc.c) ---- */

typedef int (*spage_sink)(void *ctx, unsigned int cpu, const void *page);

struct spenc {
	unsigned int cpu;
	unsigned int page_size;
	uint8_t *page;
	unsigned int used;	/* bytes of data after the 16-byte header */
	uint64_t last_ts;
	bool empty;
	uint64_t pending_lost;	/* reported on the next page */
	bool pending_lost_set, pending_lost_stored;
	spage_sink sink;
	void *ctx;
	uint64_t pages;
};

void spenc_init(struct spenc *p, unsigned int cpu, unsigned int page_size,
		spage_sink sink, void *ctx);
int spenc_add(struct spenc *p, uint64_t ts, const void *data, unsigned int len);
/* The next record starts a new page whose header reports @count lost events. */
int spenc_lost(struct spenc *p, uint64_t count, bool stored);
int spenc_flush(struct spenc *p);
void spenc_free(struct spenc *p);

/* ---- the ground truth (truth*.c) ---- */

/*
 * Why a halt ended, as the generator knows it (the physical wake), given by
 * the simulator on the records that end halts; the truth derives the
 * README's reason from the records themselves and, in full traces with
 * nothing dropped, checks that it is this one. SW_DERIVE: the wake has no
 * evidence but the vector seen after it (posted-interrupt wakeups).
 */
#define SW_DERIVE	(-2)

struct swake {
	int reason;		/* enum vw_reason, -1: not a wake, or SW_DERIVE */
	int src;		/* ipi: sending vcpu id; device: vector */
	int gsi;		/* device: gsi or -1 */
	int vec;		/* the wake's vector V as the README finds it, -1 */
};

/* What an event is to the truth (decoded from the record: decode.c). */
enum sev_kind {
	SK_OTHER,		/* any event not listed below */
	SK_KVM_OTHER,		/* any other kvm:* event */
	SK_ENTRY, SK_EXIT, SK_USEREXIT, SK_VCPU_WAKEUP, SK_HALT_POLL, SK_INJ_VIRQ,
	SK_ACCEPT,		/* kvm_apic_accept_irq */
	SK_APIC_IPI, SK_MSI, SK_SET_IRQ, SK_IOAPIC, SK_PIC,
	SK_NESTED_ENTER, SK_NESTED_EXIT, SK_NESTED_INJECT, SK_NESTED_OTHER,
	SK_SWITCH, SK_WAKING, SK_WAKEUP, SK_WAKEUP_NEW,
	SK_NEWTASK, SK_PEXIT, SK_HRT_ENTRY, SK_HRT_EXIT, SK_BLOCK_ISSUE, SK_PRINT,
};

/* A written record as the truth sees it: its fields, decoded (decode.c). */
struct sinfo {
	enum sev_kind kind;
	int cpu;
	int pid;		/* common_pid */
	uint8_t flags;		/* common_flags */
	/* sched_switch */
	int prev_pid, next_pid;
	long prev_state;
	char prev_comm[17], next_comm[17];
	/* waking/wakeup/wakeup_new (wpid), task_newtask and sched_process_exit (wpid) */
	int wpid, target_cpu;
	char comm[17];
	uint64_t clone_flags;
	/* kvm */
	int vcpu_id;		/* entry/exit (-1 if the layout has none), halt_poll */
	uint32_t isa, code;	/* exit, nested_exit, inject */
	uint64_t rip;		/* exit: guest rip */
	uint64_t vmcs, pgd;	/* nested_enter (pgd UINT64_MAX: no guest_pgd) */
	uint32_t event_inj;
	int apicid, vec;	/* accept: apicid, vector; inj_virq, msi, ioapic: vector */
	int gsi;		/* set_irq: gsi; ioapic: pin; pic: chip * 8 + pin */
	uint64_t function;	/* hrtimer_expire_entry */
	char text[256];		/* print: the marker */
	struct swake wake;	/* set by the simulator: the physical wake (waking, */
				/* kvm_vcpu_wakeup, nested_enter), else reason -1 */
};

/* Fill @si from the record @r (everything but si->wake and si->cpu). */
void sinfo_decode(const struct srec *r, struct sinfo *si);
int64_t srec_get(const struct srec *r, const char *field, int64_t def);
const char *srec_get_str(const struct srec *r, const char *field, char *buf, size_t len);

/* The generator's own account of the entry/exit records written (facts.c). */
struct sfacts;
struct sfacts *facts_new(void);
void facts_event(struct sfacts *f, uint64_t ts, const struct sinfo *e);
int facts_write(struct sfacts *f, const char *path, uint64_t end);
void facts_free(struct sfacts *f);

struct struth;

/* @rec: which of @f's events the trace records (formats written), by index in f->ev. */
struct struth *truth_new(struct vw_result *res, const struct sfmt *f, const bool *rec);
/* The saved_cmdlines entry of @tid (the comm of a thread no record names). */
void truth_cmdline(struct struth *t, int tid, const char *comm);
/* kallsyms: @addr is KVM's guest-timer callback of source @src (TS_*). */
void truth_timer_fn(struct struth *t, uint64_t addr, int src);
/* Check every wait's README reason against the physical wake (full traces). */
void truth_check_physical(struct struth *t, bool on);
/* Every wait of an L1 vCPU, as it is counted (the guest traces' generator). */
void truth_on_wait(struct struth *t, void (*cb)(void *ctx, const struct vw_vcpu *lane,
						uint64_t start, uint64_t end, int reason),
		   void *ctx);
void truth_event(struct struth *t, uint64_t ts, const struct sinfo *e);
/* The first record on @cpu after a loss of @count events (-1: unknown). */
void truth_lost(struct struth *t, uint64_t ts, int cpu, int64_t count);
/*
 * Whether a loss reported now on @cpu has a result the README defines for
 * every thread last seen there (see tests/synth/README.md, Losses).
 */
bool truth_loss_ok(struct struth *t, int cpu);
/* Close everything at @end and fill the result. */
void truth_finish(struct struth *t, uint64_t end);
void truth_free(struct struth *t);

#endif
