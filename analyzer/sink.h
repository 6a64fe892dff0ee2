/*
 * Consumers of the analysis as it is decided, period by period: the SVG
 * timeline, the Perfetto export, per-interval tables (--interval, top).
 *
 * A lane is a vCPU (or an L2 vCPU), identified by its result struct: the
 * pointer stays the same from the first callback to the finished result,
 * where it can be found in its VM (vw_result). All times are absolute trace
 * nanoseconds, already clipped to the analysis window. Callbacks may be
 * NULL. Periods of one lane do not overlap and mostly arrive in time order:
 * a period held by an undecided tentative halt (light recordings) arrives
 * once decided, never earlier than analyzer_watermark() said. The wait
 * ending an idle period arrives after that period (its reason needs
 * evidence from after the wake).
 */
#ifndef VMWAIT_SINK_H
#define VMWAIT_SINK_H

#include <stdbool.h>
#include <stdint.h>

#include "result.h"

enum vw_mark { MARK_LOSS, MARK_GAP };

struct vw_sink {
	void *ctx;
	/* one maximal period of a state */
	void (*period)(void *ctx, const struct vw_vcpu *lane, enum vw_state s,
		       uint64_t start, uint64_t end);
	/*
	 * A completed wait [start, end): its reason; the vCPU that sent the IPI
	 * (or NULL); the vector (or -1).
	 */
	void (*wait)(void *ctx, const struct vw_vcpu *lane, enum vw_reason r, uint64_t start,
		     uint64_t end, const struct vw_vcpu *from, int vector);
	/*
	 * An exit of @lane (isa, code, reason name) that closed at @end after
	 * @ns; open: the trace ended, lost events or had a gap (@ns so far).
	 */
	void (*exit)(void *ctx, const struct vw_vcpu *lane, uint32_t isa, uint32_t code,
		     const char *reason, uint64_t end, uint64_t ns, bool open);
	/*
	 * The same wait unclipped, [start, end), and whether it is counted (it
	 * ends inside the window); also for the waits outside it (guest join).
	 */
	void (*wait_whole)(void *ctx, const struct vw_vcpu *lane, enum vw_reason r,
			   uint64_t start, uint64_t end, bool counted);
	/* preemption of @lane by task @tid (0: the idle task, -1: unknown), settled at @ts */
	void (*credit)(void *ctx, const struct vw_vcpu *lane, int tid, uint64_t ns, uint64_t ts);
	/* lost events or a gap on @lane at @ts: what follows is unknown */
	void (*mark)(void *ctx, const struct vw_vcpu *lane, enum vw_mark m, uint64_t ts);
};

#endif
