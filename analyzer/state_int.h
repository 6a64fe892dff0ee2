/* Shared between the two halves of the state machine (state.c, halt.c). */
#ifndef VMWAIT_STATE_INT_H
#define VMWAIT_STATE_INT_H

#include "analyzer.h"

/* state.c */
void state_enter(struct analyzer *a, struct thread *t, enum vw_state s, uint64_t ts);
enum vw_state state_now(const struct thread *t);
void set_sched(struct analyzer *a, struct thread *t, enum sched_st s, uint64_t ts);
void preempt_stop(struct analyzer *a, struct thread *t, uint64_t ts);
void relabel_unknown(struct analyzer *a, struct thread *t, uint64_t ts);

/* halt.c */
void polled_add(struct analyzer *a, struct thread *t, uint64_t ts);
void halted_del(struct analyzer *a, struct thread *t);
void halt_wake(struct analyzer *a, struct thread *t, uint64_t ts);
void tent_hold(struct analyzer *a, struct thread *t, uint64_t ts, enum sched_st s);
void tent_refute(struct analyzer *a, struct thread *t);
void gap(struct analyzer *a, struct thread *t, uint64_t ts);

#endif
