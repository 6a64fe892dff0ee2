/* The event set of vmwait: what `vmwait record` enables and the analyzer reads. */
#ifndef VMWAIT_EVENTS_H
#define VMWAIT_EVENTS_H

#include <stdbool.h>
#include <stddef.h>

/* Flags of an entry of the event table. */
#define VW_EV_HEAVY	0x1	/* high rate: left out by --light */
#define VW_EV_OPTIONAL	0x2	/* alternative name on some kernels: not reported when missing */
#define VW_EV_IMPLICIT	0x4	/* always in the buffer, has no enable file (ftrace:print) */

struct vw_event {
	const char *system;
	const char *name;
	unsigned int flags;
};

/* The whole table, in a fixed order (kvm, sched, task, timer, irq, block, net, ftrace). */
extern const struct vw_event vw_event_table[];
extern const size_t vw_event_table_len;

/* The table entry of @system:@name, or NULL. */
const struct vw_event *vw_event_find(const char *system, const char *name);

/* Does @tracing_dir (a tracefs top or instance dir) have events/@system/@name? */
bool vw_event_exists(const char *tracing_dir, const char *system, const char *name);

/* A list of pointers into vw_event_table. */
struct vw_evset {
	const struct vw_event **ev;
	size_t n;
};

/*
 * Split the table, for the kernel behind @tracing_dir, into the events that
 * exist (@present, without the VW_EV_HEAVY ones if @light) and the
 * non-optional ones that do not (@missing, may be NULL).
 */
void vw_events_resolve(const char *tracing_dir, bool light,
		       struct vw_evset *present, struct vw_evset *missing);
void vw_evset_free(struct vw_evset *set);

/* Does @set hold at least one kvm:* event? */
bool vw_evset_has_kvm(const struct vw_evset *set);

/* Warn once, on one line, about the events of @missing (nothing if empty). */
void vw_evset_warn_missing(const struct vw_evset *missing);

#endif
