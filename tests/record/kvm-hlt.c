/*
 * Test helper: a minimal KVM VM. Its vCPU thread ("CPU 0/KVM") runs a
 * guest that executes HLT; without an in-kernel irqchip each HLT exits to
 * userspace, so the VM makes exactly N KVM_RUN calls ending in KVM_EXIT_HLT.
 * With -w, the VM is created at once but runs only once GOFILE exists.
 */
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#define GUEST_ADDR	0x1000

struct vm {
	int kvm, vm, vcpu;
	struct kvm_run *run;
	long n;
	const char *go;
	int err;
};

static void __attribute__((noreturn)) die(const char *what)
{
	perror(what);
	exit(1);
}

/* Guest memory with "hlt; jmp hlt" at GUEST_ADDR, one vCPU in real mode there. */
static void vm_create(struct vm *v)
{
	static const unsigned char code[] = { 0xf4, 0xeb, 0xfd };
	struct kvm_userspace_memory_region mem = { 0 };
	struct kvm_sregs sregs;
	struct kvm_regs regs = { 0 };
	void *ram;
	int size;

	v->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (v->kvm < 0)
		die("/dev/kvm");
	v->vm = ioctl(v->kvm, KVM_CREATE_VM, 0);
	if (v->vm < 0)
		die("KVM_CREATE_VM");
	ram = mmap(NULL, 0x1000, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ram == MAP_FAILED)
		die("mmap");
	memcpy(ram, code, sizeof(code));
	mem.guest_phys_addr = GUEST_ADDR;
	mem.memory_size = 0x1000;
	mem.userspace_addr = (unsigned long)ram;
	if (ioctl(v->vm, KVM_SET_USER_MEMORY_REGION, &mem) < 0)
		die("KVM_SET_USER_MEMORY_REGION");
	v->vcpu = ioctl(v->vm, KVM_CREATE_VCPU, 0);
	if (v->vcpu < 0)
		die("KVM_CREATE_VCPU");
	size = ioctl(v->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	v->run = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, v->vcpu, 0);
	if (v->run == MAP_FAILED)
		die("mmap vcpu");
	if (ioctl(v->vcpu, KVM_GET_SREGS, &sregs) < 0)
		die("KVM_GET_SREGS");
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	if (ioctl(v->vcpu, KVM_SET_SREGS, &sregs) < 0)
		die("KVM_SET_SREGS");
	regs.rip = GUEST_ADDR;
	regs.rflags = 2;
	if (ioctl(v->vcpu, KVM_SET_REGS, &regs) < 0)
		die("KVM_SET_REGS");
}

static void *vcpu_thread(void *arg)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	struct vm *v = arg;

	prctl(PR_SET_NAME, "CPU 0/KVM");
	while (v->go && access(v->go, F_OK) != 0)
		nanosleep(&ts, NULL);
	for (long i = 0; i < v->n; i++) {
		if (ioctl(v->vcpu, KVM_RUN, 0) < 0) {
			perror("KVM_RUN");
			v->err = 1;
			break;
		}
		if (v->run->exit_reason != KVM_EXIT_HLT) {
			fprintf(stderr, "kvm-hlt: exit reason %u\n", v->run->exit_reason);
			v->err = 1;
			break;
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct vm v = { 0 };
	pthread_t t;
	int opt;

	while ((opt = getopt(argc, argv, "w:")) != -1) {
		if (opt != 'w')
			return 2;
		v.go = optarg;
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: kvm-hlt [-w GOFILE] N\n");
		return 2;
	}
	v.n = atol(argv[optind]);
	vm_create(&v);
	if (pthread_create(&t, NULL, vcpu_thread, &v))
		die("pthread_create");
	pthread_join(t, NULL);
	return v.err;
}
