/* Names of the fixed x86 Linux guest interrupt vectors (irq_vectors.h). */
#include <stddef.h>

#include "vectors.h"

const char *vector_name(unsigned int vec)
{
	switch (vec) {
	case 0x02: return "NMI";
	case 0x80: return "IA32_SYSCALL";
	case 0xec: return "LOCAL_TIMER";
	case 0xed: return "HYPERV_STIMER0";
	case 0xee: return "HYPERV_REENLIGHTENMENT";
	case 0xef: return "MANAGED_IRQ_SHUTDOWN";	/* LOCAL_TIMER before 4.15 */
	case 0xf0: return "POSTED_INTR_NESTED";
	case 0xf1: return "POSTED_INTR_WAKEUP";
	case 0xf2: return "POSTED_INTR";
	case 0xf3: return "HYPERVISOR_CALLBACK";
	case 0xf4: return "DEFERRED_ERROR";
	case 0xf6: return "IRQ_WORK";
	case 0xf7: return "X86_PLATFORM_IPI";
	case 0xf8: return "REBOOT";
	case 0xf9: return "THRESHOLD_APIC";
	case 0xfa: return "THERMAL_APIC";
	case 0xfb: return "CALL_FUNCTION_SINGLE";
	case 0xfc: return "CALL_FUNCTION";
	case 0xfd: return "RESCHEDULE";
	case 0xfe: return "ERROR_APIC";
	case 0xff: return "SPURIOUS_APIC";
	default:   return NULL;
	}
}
