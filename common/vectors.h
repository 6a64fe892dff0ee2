/*
 * x86 Linux guest interrupt vectors, as named in the guest kernel's
 * arch/x86/include/asm/irq_vectors.h. LOCAL_TIMER was 0xef until the
 * vector-management rework of Linux 4.15, which gave 0xef to
 * MANAGED_IRQ_SHUTDOWN and moved the timer to 0xec. Used by the analyzer's
 * priors, by --explain and by the trace-cmd plugin that prints vector names.
 */
#ifndef VMWAIT_VECTORS_H
#define VMWAIT_VECTORS_H

#define VEC_LOCAL_TIMER		0xec	/* Linux >= 4.15 */
#define VEC_LOCAL_TIMER_OLD	0xef	/* Linux < 4.15 */
#define VEC_CALL_FUNCTION_SINGLE 0xfb
#define VEC_CALL_FUNCTION	0xfc
#define VEC_RESCHEDULE		0xfd

/* Name of @vec in a current Linux guest, or NULL for device vectors. */
const char *vector_name(unsigned int vec);

#endif
