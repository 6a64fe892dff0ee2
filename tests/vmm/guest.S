/* guest.S: vmwait-vmm's guest, 32-bit flat protected mode, a command loop driven by the VMM. */
#include "layout.h"

/*
 * Entered on every vCPU with IF=0, ESI = vcpu id, FS = this vCPU's page,
 * ESP = top of that page, GDT and IDT already loaded by the VMM. Interrupts
 * stay disabled except inside wait_vec's "sti; hlt", so every interrupt is
 * taken while halted (or right at the HLT) and nowhere else.
 */
	.code32
	.text
	.globl	start
start:
	jmp	main
	.balign	8
	.long	GUEST_MAGIC		/* CODE_BASE + 8 */
	.long	isr_stubs		/* CODE_BASE + 12 */
	.long	STUB_SIZE		/* CODE_BASE + 16 */

main:
	movl	$(0x100 | VEC_SPURIOUS), LAPIC_BASE + LAPIC_SVR	/* software-enable the LAPIC */
	movl	$LVT_MASKED, LAPIC_BASE + LAPIC_LVT0
	movl	$LVT_MASKED, LAPIC_BASE + LAPIC_LVT1
	movl	$LVT_MASKED, LAPIC_BASE + LAPIC_LVTT
	test	%esi, %esi
	jnz	cmd_loop
	mov	$0xff, %al		/* vCPU 0 masks both 8259s: IRQs go through the IOAPIC */
	outb	%al, $0x21
	outb	%al, $0xa1

cmd_loop:
	mov	%esi, %eax
	mov	$PORT_CMD, %dx
	outb	%al, %dx		/* the VMM fills PC_OP/PC_ARG* before resuming us */
	mov	%fs:PC_OP, %eax
	cmp	$OP_TIMER, %eax
	je	op_timer
	cmp	$OP_PIT, %eax
	je	op_pit
	cmp	$OP_IPI_WAIT, %eax
	je	op_ipi_wait
	cmp	$OP_IPI_SEND, %eax
	je	op_ipi_send
	cmp	$OP_DISK, %eax
	je	op_disk
	cmp	$OP_NET, %eax
	je	op_net
	cmp	$OP_SPIN, %eax
	je	op_spin
	cmp	$OP_PIO, %eax
	je	op_pio
	cmp	$OP_ROUTE, %eax
	je	op_route
	cmp	$OP_TSCDL, %eax
	je	op_tscdl
	mov	$0x100, %eax		/* unknown command: reported as "vector" 256 */
	jmp	panic

op_timer:				/* LAPIC one-shot, bus clock 1 GHz, divide by 1 */
	movl	$VEC_TIMER, LAPIC_BASE + LAPIC_LVTT
	movl	$0xb, LAPIC_BASE + LAPIC_TDCR
	mov	%fs:PC_ARG0, %eax
	mov	%eax, LAPIC_BASE + LAPIC_TMICT
	mov	$VEC_TIMER, %ebx
	call	wait_vec
	jmp	cmd_loop

/*
 * LAPIC TSC-deadline mode: LVTT mode 0b10, then IA32_TSC_DEADLINE = TSC + arg1:arg0.
 * In xAPIC mode the MMIO write and the WRMSR are not serialized; Linux puts an
 * MFENCE between them, which KVM's instruction emulator fails on. Reading LVTT
 * back (uncached, so after the write) orders them as well, and shows whether
 * the LAPIC took the mode: one without TSC-deadline keeps bits 18:17 at 0.
 */
op_tscdl:
	movl	$(LVTT_TSCDL | VEC_TIMER), LAPIC_BASE + LAPIC_LVTT
	mov	LAPIC_BASE + LAPIC_LVTT, %ecx
	mov	%ecx, %eax
	and	$LVTT_MODE, %eax
	cmp	$LVTT_TSCDL, %eax
	jne	1f
	rdtsc
	add	%fs:PC_ARG0, %eax
	adc	%fs:PC_ARG1, %edx
	mov	$MSR_TSC_DEADLINE, %ecx
	wrmsr
	mov	$VEC_TIMER, %ebx
	call	wait_vec
	jmp	cmd_loop
1:	mov	$PANIC_NO_TSCDL, %eax	/* ecx = LVTT as read back */
	jmp	panic

op_pit:					/* channel 0, lobyte/hibyte, mode 0 (one shot), binary */
	mov	$0x30, %al
	outb	%al, $0x43
	mov	%fs:PC_ARG0, %eax
	outb	%al, $0x40
	mov	%ah, %al
	outb	%al, $0x40
	mov	$VEC_PIT, %ebx
	call	wait_vec
	jmp	cmd_loop

op_ipi_wait:
	mov	$VEC_IPI, %ebx
	call	wait_vec
	jmp	cmd_loop

op_ipi_send:				/* fixed, physical, no shorthand, like Linux */
	mov	%fs:PC_ARG0, %eax
	shl	$24, %eax
	mov	%eax, LAPIC_BASE + LAPIC_ICR_HI
	movl	$VEC_IPI, LAPIC_BASE + LAPIC_ICR_LO
	jmp	cmd_loop

op_disk:
	mov	$PORT_DISK, %dx
	outb	%al, %dx
	mov	$VEC_DISK, %ebx
	call	wait_vec
	jmp	cmd_loop

op_net:
	mov	$PORT_NET, %dx
	outb	%al, %dx
	mov	$VEC_NET, %ebx
	call	wait_vec
	jmp	cmd_loop

op_spin:				/* deadline = TSC + arg1:arg0 in ecx:ebx */
	rdtsc
	add	%fs:PC_ARG0, %eax
	adc	%fs:PC_ARG1, %edx
	mov	%eax, %ebx
	mov	%edx, %ecx
1:	rdtsc
	cmp	%ecx, %edx
	jb	1b
	ja	cmd_loop
	cmp	%ebx, %eax
	jb	1b
	jmp	cmd_loop

op_pio:
	mov	%fs:PC_ARG0, %ecx
	mov	$PORT_PIO, %dx
	test	%ecx, %ecx
	jz	cmd_loop
1:	mov	%ecx, %eax
	outl	%eax, %dx
	loop	1b
	jmp	cmd_loop

op_route:				/* IOAPIC redirection entry: high dword first, then low */
	mov	%fs:PC_ARG0, %eax
	lea	0x11(,%eax,2), %eax
	mov	%eax, IOAPIC_BASE
	mov	%fs:PC_ARG2, %ecx
	shl	$24, %ecx
	mov	%ecx, IOAPIC_BASE + 0x10
	dec	%eax
	mov	%eax, IOAPIC_BASE
	mov	%fs:PC_ARG1, %ecx
	mov	%ecx, IOAPIC_BASE + 0x10
	jmp	cmd_loop

/*
 * Halt until vector EBX has been received, then consume it. Entered and left
 * with IF=0; clobbers EAX. Interrupts are enabled only by the "sti; hlt" here,
 * so an interrupt always arrives at (or right after) that HLT, and isr_common
 * resumes the loop at wait_loop with this call's stack instead of returning
 * with IRET: KVM's instruction emulator, which runs every instruction of this
 * guest on hosts without hardware virtualization, cannot emulate a
 * protected-mode IRET.
 */
wait_vec:
	mov	%esp, %fs:PC_WAIT_ESP
wait_loop:
	cmpl	$0, %fs:PC_SEEN(,%ebx,4)
	jne	1f
	sti
	hlt
	cli
	jmp	wait_loop
1:	decl	%fs:PC_SEEN(,%ebx,4)
	ret

/* Interrupts: count the vector in this vCPU's page, EOI (except spurious), resume wait_loop. */
isr_common:
	mov	(%esp), %eax
	cmp	$32, %eax
	jb	exception
	incl	%fs:PC_SEEN(,%eax,4)
	cmp	$VEC_SPURIOUS, %eax
	je	1f
	movl	$0, LAPIC_BASE + LAPIC_EOI
1:	mov	%fs:PC_WAIT_ESP, %esp
	jmp	wait_loop

/* Exceptions are fatal: report the vector; ECX/EBX hold the two words above it. */
exception:
	mov	4(%esp), %ecx
	mov	8(%esp), %ebx
panic:
	mov	$PORT_PANIC, %dx
	outl	%eax, %dx
1:	cli
	hlt
	jmp	1b

/* 256 stubs of STUB_SIZE bytes; the VMM points IDT gate N at isr_stubs + N * STUB_SIZE. */
	.balign	STUB_SIZE
isr_stubs:
	.set	vec, 0
	.rept	256
	.balign	STUB_SIZE
	pushl	$vec
	jmp	isr_common
	.set	vec, vec + 1
	.endr
	.balign	STUB_SIZE
