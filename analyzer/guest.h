/*
 * The guest join (README "Which guest program waited?"): guest traces read
 * beside the host's, their clocks mapped to host time, and each wait of a
 * vCPU joined with the scheduler events of the same guest CPU: the guest
 * task that ran last before the vCPU halted, and the one its wake made
 * runnable.
 *
 *   guest.c          the --guest inputs: which VM, the clock, the checks
 *   guest_load.c     a guest trace's scheduler events per guest CPU, compact
 *   guest_join.c     the sink collecting the host's waits; the join per wait
 *   guest_offset.c   --guest-offset auto
 *   guest_explain.c  --explain: guest lines among the host's, a note per wait
 *
 * Memory: unlike the host pass, the join keeps every wait of the joined
 * VMs (32 bytes) and every guest scheduler event (16 bytes).
 */
#ifndef VMWAIT_GUEST_H
#define VMWAIT_GUEST_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "result.h"
#include "sink.h"

struct analyze_opts;
struct analyzer;
struct tin_meta;

enum { GO_NONE, GO_VALUE, GO_AUTO };

/* One --guest FILE[=VM], with its --guest-offset. */
struct guest_spec {
	const char *path;
	const char *vm;			/* =VM, or NULL */
	int offset_mode;		/* GO_* */
	int64_t offset;			/* GO_VALUE */
};

/* One guest scheduler event on its guest CPU. */
enum { GE_BLOCK, GE_SWITCH, GE_WAKE, GE_LOSS };
struct gev {
	uint64_t ts;			/* file time; host time once mapped */
	uint32_t task;			/* index in gtrace.tasks */
	uint8_t kind;			/* GE_BLOCK: task switched out to idle;
					   GE_SWITCH: task switched in (not idle);
					   GE_WAKE: task woken; GE_LOSS: events lost */
	uint8_t state;			/* GE_BLOCK: enum vw_gstate */
};

struct gtask {
	int pid;
	char comm[17];
};

/* Per wait of a vCPU: what the join found. */
enum { GJ_UNKNOWN, GJ_OK, GJ_INCONSISTENT, GJ_OUTSIDE };
struct gjoin {
	int blocked, woken;		/* task indexes, -1 */
	uint8_t state;			/* enum vw_gstate of blocked */
	uint8_t status;			/* GJ_* */
};

/* A wait of a vCPU, as the host analysis decided it. */
struct hwait {
	uint64_t start, end;		/* unclipped */
	uint64_t entry;			/* the vCPU's next guest entry, 0 unknown */
	uint8_t reason;
	bool counted;			/* inside the window */
};

/* The waits of one vCPU (an L1 lane). */
struct hlane {
	const struct vw_vcpu *lane;
	const struct gtrace *g;		/* the guest trace it was joined with */
	int tid, vcpu;			/* to find it again in another pass */
	struct hwait *w;
	struct gjoin *j;		/* after the join, one per wait */
	size_t n, cap;
};

/* A loaded guest trace. */
struct gtrace {
	const struct guest_spec *spec;
	int ncpus;
	struct gev **ev;		/* per guest CPU, in time order */
	size_t *nev, *cap;
	struct gtask *tasks;
	uint32_t ntasks, cap_tasks;
	uint32_t *hash;			/* task lookup: 1 + index, 0 empty */
	uint32_t hsize;
	uint64_t first, last;		/* span of its records */
	uint64_t nswitch;
	bool time_shift, has_trace_id;
	uint64_t trace_id, peer_trace_id;
	/* decided after the host pass */
	struct vw_vm *vm;
	int64_t offset;
	const char *offset_from;
	int64_t lo, hi;			/* auto: the window of offsets allowed */
	bool *show;			/* per guest CPU: a vCPU the selection keeps */
};

struct guests {
	struct gtrace *g;
	int n;
	struct vw_sink sink;
	struct hlane *lanes;
	size_t nlanes, cap_lanes;
	int *lhash;			/* lane lookup by pointer: 1 + index */
	size_t lhsize;
	struct vw_sink xsink;		/* explain pass: a note per wait */
	struct analyzer *ex_a;
	struct gexplain *ex;
};

/* guest.c */
struct guests *guests_open(const struct guest_spec *specs, int n);
int guests_join(struct guests *gs, struct vw_result *res, const struct tin_meta *host,
		const struct analyze_opts *o);
void guests_free(struct guests *gs);

/* guest_load.c */
int gtrace_load(struct gtrace *g);
void gtrace_free(struct gtrace *g);
void gtrace_shift(struct gtrace *g, int64_t off);

/* guest_join.c */
void guests_sink_init(struct guests *gs);
void guests_sort(struct guests *gs);
struct hlane *guests_lane(struct guests *gs, const struct vw_vcpu *lane, bool add);
void gtrace_join(struct guests *gs, struct gtrace *g, const struct analyze_opts *o);
bool gtrace_covers(const struct gtrace *g, uint64_t s, uint64_t e);
size_t gev_lower(const struct gev *ev, size_t n, uint64_t ts);

/* guest_offset.c: 0 with g->offset, g->lo, g->hi; -1 after a message */
int gtrace_auto_offset(struct guests *gs, struct gtrace *g);

/* guest_explain.c */
int guests_explain_begin(struct guests *gs, struct analyzer *a);
void guests_explain_until(struct guests *gs, uint64_t ts);
void guests_explain_end(struct guests *gs, uint64_t ts);
void guests_explain_close(struct guests *gs);

/* finish.c: the VM name of trace-cmd's GUEST option @g (its trace id if unnamed). */
struct tdat_guest;
const char *guest_vm_name(const struct tdat_guest *g, char *buf, size_t len);

#endif
