/* layout.h: guest memory map, ports, vectors and commands shared by vmwait-vmm and its guest. */
#ifndef VMM_LAYOUT_H
#define VMM_LAYOUT_H

/* Guest physical memory: 1 MiB of RAM at 0; paging off, flat 32-bit segments. */
#define GUEST_MEM_SIZE	0x100000
#define GDT_BASE	0x1000		/* written by the VMM */
#define IDT_BASE	0x2000		/* 256 interrupt gates, written by the VMM */
#define CODE_BASE	0x8000		/* guest.bin is loaded and linked here */
#define PERCPU_BASE	0x10000		/* one page per vCPU; FS points at it */
#define PERCPU_SIZE	0x1000
#define DISK_BUF	0x20000		/* the disk thread reads a block here */
#define DISK_BLOCK	4096

/* Guest header at CODE_BASE + 8: magic, address of the ISR stubs, stub size. */
#define GUEST_MAGIC	0x564d5754	/* "TWMV" */
#define STUB_SIZE	16

/* Selectors of the GDT the VMM writes: one FS selector per vCPU. */
#define SEL_CODE	0x08
#define SEL_DATA	0x10
#define SEL_PERCPU0	0x18

/* Offsets in the per-vCPU page (FS-relative). */
#define PC_OP		0x00	/* command written by the VMM before it resumes the vCPU */
#define PC_ARG0		0x04
#define PC_ARG1		0x08
#define PC_ARG2		0x0c
#define PC_WAIT_ESP	0x10	/* guest-private: ESP of the current wait_vec */
#define PC_SEEN		0x400	/* u32 per vector: interrupts received, not yet consumed */
#define PC_STACK_TOP	0x1000

/* I/O ports handled by the VMM (all others raise an error). */
#define PORT_CMD	0x500	/* out: "give me my next command" (al = vcpu id) */
#define PORT_DISK	0x510	/* out: disk doorbell, handled by the vCPU thread in userspace */
#define PORT_NET	0x520	/* out: net doorbell, an ioeventfd that wakes the vhost thread */
#define PORT_PIO	0x530	/* out: a plain port write, counted by the VMM */
#define PORT_PANIC	0x5f0	/* out: the guest took an exception (eax = vector) */
#define PANIC_NO_TSCDL	0x101	/* eax for PORT_PANIC: the LAPIC kept LVTT out of TSC-deadline mode */

/* Interrupt vectors and lines. */
#define VEC_PIT		0x30	/* IRQ0, as Linux's IRQ0_VECTOR */
#define VEC_DISK	0x41
#define VEC_NET		0x51
#define VEC_TIMER	0xec	/* LOCAL_TIMER_VECTOR */
#define VEC_IPI		0xfd	/* RESCHEDULE_VECTOR */
#define VEC_SPURIOUS	0xff
#define GSI_PIT		0	/* KVM's default routing: GSI 0 -> IOAPIC pin 0 (and PIC) */
#define GSI_DISK	17	/* IOAPIC pin 17 only */

/* Commands (PC_OP). */
#define OP_TIMER	1	/* arg0 = LAPIC one-shot count (ns at divide 1); halt until it fires */
#define OP_PIT		2	/* arg0 = PIT channel 0 mode 0 count; halt until IRQ0 */
#define OP_IPI_WAIT	3	/* halt until VEC_IPI arrives */
#define OP_IPI_SEND	4	/* arg0 = destination APIC id: send fixed VEC_IPI */
#define OP_DISK		5	/* ring PORT_DISK, halt until VEC_DISK */
#define OP_NET		6	/* ring PORT_NET, halt until VEC_NET */
#define OP_SPIN		7	/* arg0/arg1 = TSC ticks (lo/hi): spin on RDTSC */
#define OP_PIO		8	/* arg0 = number of writes to PORT_PIO */
#define OP_ROUTE	9	/* arg0 = IOAPIC pin, arg1 = low dword, arg2 = dest APIC id */
#define OP_TSCDL	10	/* arg0/arg1 = TSC ticks (lo/hi): TSC-deadline at RDTSC + ticks; halt */

/* Local APIC and IOAPIC (in-kernel, reached by MMIO). */
#define LAPIC_BASE	0xfee00000
#define LAPIC_EOI	0xb0
#define LAPIC_SVR	0xf0
#define LAPIC_ICR_LO	0x300
#define LAPIC_ICR_HI	0x310
#define LAPIC_LVTT	0x320
#define LAPIC_LVT0	0x350
#define LAPIC_LVT1	0x360
#define LAPIC_TMICT	0x380
#define LAPIC_TDCR	0x3e0
#define LVT_MASKED	0x10000
#define LVTT_MODE	0x60000		/* LVT timer mode, bits 18:17 */
#define LVTT_TSCDL	0x40000		/* 0b10: TSC-deadline */
#define MSR_TSC_DEADLINE 0x6e0		/* IA32_TSC_DEADLINE */
#define IOAPIC_BASE	0xfec00000

#endif
