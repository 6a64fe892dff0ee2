/* A one-vCPU KVM guest that raises interrupts on chosen vectors (tests/t_plugin.sh). */
/*
 * In a deterministic order, all in the calling thread:
 *  1. the guest (real mode, interrupts off) enables its local APIC and sends
 *     itself IPIs on vectors 0xfd, 0xec, 0x31 (kvm_apic_ipi and
 *     kvm_apic_accept_irq), then exits to userspace;
 *  2. we signal MSIs on vectors 0xfb, 0xfc, 0xef, 0x41 (kvm_msi_set_irq and
 *     kvm_apic_accept_irq);
 *  3. the guest enables interrupts and takes the 7 pending ones, highest
 *     vector first (kvm_inj_virq where the host traces injection); each
 *     handler reports its vector through port 0x11, which we print;
 *  4. we pulse GSI 4 (kvm_set_irq, kvm_ioapic_set_irq, kvm_pic_set_irq).
 * Exit status: 0 done, 77 no usable KVM here, 1 failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define MEM_SIZE	0x10000
#define CODE		0x1000	/* main code */
#define STUBS		0x2000	/* interrupt stub of vector v at STUBS + 16 * v */
#define APIC_BASE	0xfee00000u
#define APIC_EOI	0xb0
#define APIC_SPIV	0xf0
#define APIC_ICR	0x300
#define ICR_SELF	(1u << 18)

static const unsigned char ipi_vecs[] = { 0xfd, 0xec, 0x31 };
static const unsigned char msi_vecs[] = { 0xfb, 0xfc, 0xef, 0x41 };

static unsigned char *mem;
static unsigned int pc;

static void emit(const unsigned char *b, unsigned int n)
{
	memcpy(mem + pc, b, n);
	pc += n;
}

/* mov eax, val; mov [off], eax -- DS is based at the APIC page. */
static void emit_apic_write(unsigned int off, unsigned int val)
{
	unsigned char b[10] = { 0x66, 0xb8, val, val >> 8, val >> 16, val >> 24,
				0x66, 0xa3, off, off >> 8 };

	emit(b, sizeof(b));
}

static void build_guest(void)
{
	unsigned int v, i;

	for (v = 0; v < 256; v++) {
		/* Real-mode IVT entry v -> 0000:stub(v) */
		unsigned int stub = STUBS + 16 * v;

		mem[4 * v] = stub & 0xff;
		mem[4 * v + 1] = stub >> 8;
		mem[4 * v + 2] = mem[4 * v + 3] = 0;
		pc = stub;
		emit_apic_write(APIC_EOI, 0);
		emit((unsigned char[]){ 0xb0, v, 0xe6, 0x11, 0xcf }, 5); /* mov al,v; out 0x11,al; iret */
	}
	pc = CODE;
	emit_apic_write(APIC_SPIV, 0x1ff);		/* software-enable the APIC */
	for (i = 0; i < sizeof(ipi_vecs); i++)
		emit_apic_write(APIC_ICR, ICR_SELF | ipi_vecs[i]);
	/* out 0x10,al; sti; hlt; jmp hlt */
	emit((unsigned char[]){ 0xe6, 0x10, 0xfb, 0xf4, 0xeb, 0xfd }, 6);
}

static int fail(const char *what)
{
	fprintf(stderr, "kvm-vectors: %s: %s\n", what, strerror(errno));
	return 1;
}

int main(void)
{
	struct kvm_userspace_memory_region region = { 0 };
	struct kvm_irq_level line = { 0 };
	struct kvm_regs regs = { 0 };
	struct kvm_sregs sregs;
	struct kvm_run *run;
	int kvm, vm, vcpu, size;
	unsigned int i, taken = 0;

	alarm(20);			/* never hang a test run */
	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0) {
		fprintf(stderr, "kvm-vectors: /dev/kvm: %s\n", strerror(errno));
		return 77;
	}
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0) {
		fprintf(stderr, "kvm-vectors: KVM_CREATE_VM: %s\n", strerror(errno));
		return 77;
	}
	if (ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0)
		return fail("KVM_CREATE_IRQCHIP");
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		return fail("KVM_CREATE_VCPU");
	mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return fail("mmap");
	build_guest();
	region.memory_size = MEM_SIZE;
	region.userspace_addr = (unsigned long)mem;
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		return fail("KVM_SET_USER_MEMORY_REGION");
	size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	run = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (size < 0 || run == MAP_FAILED)
		return fail("mmap kvm_run");
	if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
		return fail("KVM_GET_SREGS");
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	sregs.ss.base = 0;
	sregs.ss.selector = 0;
	sregs.ds.base = APIC_BASE;
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
		return fail("KVM_SET_SREGS");
	regs.rip = CODE;
	regs.rsp = 0x8000;
	regs.rflags = 2;
	if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
		return fail("KVM_SET_REGS");

	/* 1. the self-IPIs, up to "out 0x10" */
	if (ioctl(vcpu, KVM_RUN, 0) < 0)
		return fail("KVM_RUN");
	if (run->exit_reason != KVM_EXIT_IO || run->io.port != 0x10) {
		fprintf(stderr, "kvm-vectors: unexpected exit %u\n", run->exit_reason);
		return 1;
	}
	/* 2. the MSIs */
	for (i = 0; i < sizeof(msi_vecs); i++) {
		struct kvm_msi msi = { .address_lo = APIC_BASE, .data = msi_vecs[i] };

		if (ioctl(vm, KVM_SIGNAL_MSI, &msi) < 0)
			return fail("KVM_SIGNAL_MSI");
	}
	/* 3. the guest takes them all */
	printf("delivered");
	while (taken < sizeof(ipi_vecs) + sizeof(msi_vecs)) {
		if (ioctl(vcpu, KVM_RUN, 0) < 0)
			return fail("KVM_RUN");
		if (run->exit_reason != KVM_EXIT_IO || run->io.port != 0x11) {
			fprintf(stderr, "kvm-vectors: unexpected exit %u\n", run->exit_reason);
			return 1;
		}
		printf(" %02x", *((unsigned char *)run + run->io.data_offset));
		taken++;
	}
	printf("\n");
	/* 4. a pulse on GSI 4 */
	line.irq = 4;
	line.level = 1;
	if (ioctl(vm, KVM_IRQ_LINE, &line) < 0)
		return fail("KVM_IRQ_LINE");
	line.level = 0;
	if (ioctl(vm, KVM_IRQ_LINE, &line) < 0)
		return fail("KVM_IRQ_LINE");
	return 0;
}
