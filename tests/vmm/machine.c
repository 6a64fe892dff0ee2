/* machine.c: vmwait-vmm's KVM side: VM, irqchip, PIT, memory, vCPUs and their threads. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "vmm.h"

/* The assembled guest (blob.S includes guest.bin). */
extern const uint8_t guest_blob[], guest_blob_end[];

static void on_kick(int sig)
{
	(void)sig;
}

/* A flat 32-bit data segment descriptor with the given base and byte-granular limit. */
static uint64_t data_desc(uint32_t base, uint32_t limit)
{
	return (limit & 0xffffULL) | ((uint64_t)(base & 0xffffff) << 16) |
	       (0x92ULL << 40) | ((uint64_t)((limit >> 16) & 0xf) << 48) |
	       (0x4ULL << 52) | ((uint64_t)(base >> 24) << 56);
}

/* Copy the guest to CODE_BASE and write the GDT and the IDT it expects. */
static int load_guest(struct vmm *m, char *err, size_t errlen)
{
	size_t len = guest_blob_end - guest_blob;
	uint32_t hdr[3], stubs;
	uint64_t *gdt = (uint64_t *)(m->mem + GDT_BASE);
	uint32_t *idt = (uint32_t *)(m->mem + IDT_BASE);
	int i;

	if (len < 20 || CODE_BASE + len > PERCPU_BASE) {
		snprintf(err, errlen, "guest image has a bad size (%zu bytes)", len);
		return -1;
	}
	memcpy(m->mem + CODE_BASE, guest_blob, len);
	memcpy(hdr, m->mem + CODE_BASE + 8, sizeof(hdr));
	stubs = hdr[1];
	if (hdr[0] != GUEST_MAGIC || hdr[2] != STUB_SIZE ||
	    stubs < CODE_BASE || stubs + 256 * STUB_SIZE > CODE_BASE + len) {
		snprintf(err, errlen, "guest image has a bad header");
		return -1;
	}
	gdt[0] = 0;
	gdt[1] = 0x00cf9a000000ffffULL;		/* SEL_CODE: flat 32-bit code */
	gdt[2] = 0x00cf92000000ffffULL;		/* SEL_DATA: flat 32-bit data */
	for (i = 0; i < MAX_VCPUS; i++)
		gdt[3 + i] = data_desc(PERCPU_BASE + i * PERCPU_SIZE, PERCPU_SIZE - 1);
	for (i = 0; i < 256; i++) {
		uint32_t off = stubs + i * STUB_SIZE;

		idt[2 * i] = (off & 0xffff) | (SEL_CODE << 16);
		idt[2 * i + 1] = (off & 0xffff0000) | 0x8e00;	/* present 32-bit interrupt gate */
	}
	return 0;
}

/* Find the offsets of the halt statistics in the vCPU binary stats (Linux >= 5.14). */
static void stats_init(struct vmm *m, int fd)
{
	struct kvm_stats_header h;
	char *descs = NULL;
	size_t dsz;
	uint32_t i;
	long end = 0;

	m->st.hist = m->st.poll_ok = m->st.wait_ns = m->st.poll_ok_ns = -1;
	m->st.poll_fail_ns = m->st.exits = m->st.blocking = -1;
	if (pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h))
		return;
	dsz = sizeof(struct kvm_stats_desc) + h.name_size;
	descs = calloc(h.num_desc, dsz);
	if (!descs || pread(fd, descs, dsz * h.num_desc, h.desc_offset) != (ssize_t)(dsz * h.num_desc))
		goto out;
	for (i = 0; i < h.num_desc; i++) {
		struct kvm_stats_desc *d = (void *)(descs + i * dsz);
		long off = d->offset;

		if (off + 8L * d->size > end)
			end = off + 8L * d->size;
		if (!strcmp(d->name, "halt_wait_hist")) {
			m->st.hist = off;
			m->st.hist_n = d->size;
		} else if (!strcmp(d->name, "halt_successful_poll")) {
			m->st.poll_ok = off;
		} else if (!strcmp(d->name, "halt_wait_ns")) {
			m->st.wait_ns = off;
		} else if (!strcmp(d->name, "halt_poll_success_ns")) {
			m->st.poll_ok_ns = off;
		} else if (!strcmp(d->name, "halt_poll_fail_ns")) {
			m->st.poll_fail_ns = off;
		} else if (!strcmp(d->name, "halt_exits")) {
			m->st.exits = off;
		} else if (!strcmp(d->name, "blocking")) {
			m->st.blocking = off;
		}
	}
	m->st.data_offset = h.data_offset;
	m->st.data_size = end;
	m->have_stats = m->st.hist >= 0 && m->st.poll_ok >= 0 && m->st.wait_ns >= 0 &&
			m->st.poll_ok_ns >= 0 && m->st.poll_fail_ns >= 0 && m->st.exits >= 0;
out:
	free(descs);
}

/* Read KVM's halt accounting of one vCPU; returns -1 when stats are unavailable. */
int vcpu_halt_snap(struct vmm *m, struct vcpu *v, struct halt_snap *s)
{
	uint64_t buf[1024];
	long i;

	memset(s, 0, sizeof(*s));
	if (!m->have_stats || m->st.data_size > (long)sizeof(buf))
		return -1;
	if (pread(v->stats_fd, buf, m->st.data_size, m->st.data_offset) != m->st.data_size)
		return -1;
	for (i = 0; i < m->st.hist_n; i++)
		s->waited += buf[m->st.hist / 8 + i];
	s->polled = buf[m->st.poll_ok / 8];
	s->exits = buf[m->st.exits / 8];
	s->ns = buf[m->st.wait_ns / 8] + buf[m->st.poll_ok_ns / 8] + buf[m->st.poll_fail_ns / 8];
	return 0;
}

/* Is the vCPU thread asleep in kvm_vcpu_block (dequeued, so its sched_switch is done)? */
static bool vcpu_blocked(struct vmm *m, struct vcpu *v)
{
	char buf[64];
	ssize_t n;

	if (m->have_wchan) {
		n = pread(v->wchan_fd, buf, sizeof(buf) - 1, 0);
		if (n <= 0)
			return false;
		buf[n] = 0;
		return !strcmp(buf, "kvm_vcpu_block");
	}
	/* No symbolic wchan: KVM's "blocking" flag and the thread state 'S'. */
	if (m->st.blocking >= 0) {
		uint64_t b = 0;
		char path[64], st[512], *p;
		int fd;

		if (pread(v->stats_fd, &b, 8, m->st.data_offset + m->st.blocking) != 8 || !b)
			return false;
		snprintf(path, sizeof(path), "/proc/self/task/%d/stat", v->tid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return false;
		n = read(fd, st, sizeof(st) - 1);
		close(fd);
		if (n <= 0)
			return false;
		st[n] = 0;
		p = strrchr(st, ')');
		return p && p[1] == ' ' && p[2] == 'S';
	}
	return true;
}

/* Wait until vCPU V is asleep in its halt, so the interrupt we raise really wakes it. */
int vcpu_wait_blocked(struct vmm *m, struct vcpu *v, uint64_t timeout_ns)
{
	uint64_t deadline = now_ns() + timeout_ns;
	struct timespec ts = { 0, 20000 };

	while (!vcpu_blocked(m, v)) {
		if (vmm_stopping(m))
			return -1;
		if (now_ns() > deadline) {
			vmm_fail(m, "vCPU %d did not halt within %llu ms", v->id,
				 (unsigned long long)(timeout_ns / 1000000));
			return -1;
		}
		nanosleep(&ts, NULL);
	}
	return 0;
}

/*
 * CPUID for one vCPU: everything KVM supports, with this vCPU's APIC id, and
 * TSC-deadline (1:ECX bit 24) where the in-kernel LAPIC has it: older kernels
 * leave it out of KVM_GET_SUPPORTED_CPUID (QEMU adds it the same way).
 */
static int setup_cpuid(struct vmm *m, struct vcpu *v)
{
	int n = 128, r;
	struct kvm_cpuid2 *c;
	int i;

	for (;;) {
		c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
		if (!c)
			return -1;
		c->nent = n;
		r = ioctl(m->kvm, KVM_GET_SUPPORTED_CPUID, c);
		if (r == 0 || errno != E2BIG || n >= 4096)
			break;
		free(c);
		n *= 2;
	}
	if (r < 0)
		goto out;
	for (i = 0; i < (int)c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		if (e->function == 1) {
			e->ebx = (e->ebx & 0x00ffffff) | ((uint32_t)v->id << 24);
			if (m->tsc_deadline)
				e->ecx |= 1U << 24;
		} else if (e->function == 0xb || e->function == 0x1f) {
			e->edx = v->id;
		}
	}
	r = ioctl(v->fd, KVM_SET_CPUID2, c);
out:
	free(c);
	return r;
}

/* Put a vCPU in flat 32-bit protected mode at the guest's entry point. */
static int setup_vcpu(struct vmm *m, struct vcpu *v, char *err, size_t errlen)
{
	struct kvm_sregs s;
	struct kvm_regs r;
	struct kvm_segment code = {
		.base = 0, .limit = 0xffffffff, .selector = SEL_CODE, .type = 0xb,
		.present = 1, .dpl = 0, .db = 1, .s = 1, .l = 0, .g = 1,
	};
	struct kvm_segment data = code;
	struct kvm_segment pc = code;
	struct kvm_mp_state mp = { KVM_MP_STATE_RUNNABLE };

	v->fd = ioctl(m->vm, KVM_CREATE_VCPU, v->id);
	if (v->fd < 0) {
		snprintf(err, errlen, "KVM_CREATE_VCPU %d: %s", v->id, strerror(errno));
		return -1;
	}
	v->run = mmap(NULL, m->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED) {
		v->run = NULL;
		snprintf(err, errlen, "mmap of vCPU %d: %s", v->id, strerror(errno));
		return -1;
	}
	if (setup_cpuid(m, v) < 0) {
		snprintf(err, errlen, "KVM_SET_CPUID2 on vCPU %d: %s", v->id, strerror(errno));
		return -1;
	}
	data.selector = SEL_DATA;
	data.type = 0x3;
	pc.selector = SEL_PERCPU0 + 8 * v->id;
	pc.type = 0x3;
	pc.base = PERCPU_BASE + v->id * PERCPU_SIZE;
	pc.limit = PERCPU_SIZE - 1;
	pc.g = 0;
	if (ioctl(v->fd, KVM_GET_SREGS, &s) < 0)
		goto sregs;
	s.cs = code;
	s.ds = s.es = s.gs = s.ss = data;
	s.fs = pc;
	s.gdt.base = GDT_BASE;
	s.gdt.limit = (3 + MAX_VCPUS) * 8 - 1;
	s.idt.base = IDT_BASE;
	s.idt.limit = 256 * 8 - 1;
	s.cr0 = 0x11;		/* PE | ET, paging off */
	s.cr4 = 0;
	s.efer = 0;
	if (ioctl(v->fd, KVM_SET_SREGS, &s) < 0)
		goto sregs;
	memset(&r, 0, sizeof(r));
	r.rip = CODE_BASE;
	r.rsp = PERCPU_BASE + v->id * PERCPU_SIZE + PC_STACK_TOP;
	r.rsi = v->id;
	r.rflags = 0x2;		/* IF=0 */
	if (ioctl(v->fd, KVM_SET_REGS, &r) < 0) {
		snprintf(err, errlen, "KVM_SET_REGS on vCPU %d: %s", v->id, strerror(errno));
		return -1;
	}
	/* APs would wait for INIT/SIPI; start them directly. */
	if (v->id && ioctl(v->fd, KVM_SET_MP_STATE, &mp) < 0) {
		snprintf(err, errlen, "KVM_SET_MP_STATE on vCPU %d: %s", v->id, strerror(errno));
		return -1;
	}
	v->stats_fd = ioctl(v->fd, KVM_GET_STATS_FD, NULL);
	if (v->id == 0 && v->stats_fd >= 0)
		stats_init(m, v->stats_fd);
	if (v->stats_fd < 0)
		m->have_stats = false;
	return 0;
sregs:
	snprintf(err, errlen, "KVM_{GET,SET}_SREGS on vCPU %d: %s", v->id, strerror(errno));
	return -1;
}

/* Open /dev/kvm and build the VM: memory, irqchip, PIT, guest image and vCPUs. */
int machine_open(struct vmm *m, char *err, size_t errlen)
{
	struct kvm_userspace_memory_region region;
	struct kvm_pit_config pit = { .flags = 0 };
	int i, r;

	m->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (m->kvm < 0) {
		snprintf(err, errlen, "cannot open /dev/kvm: %s", strerror(errno));
		return -1;
	}
	r = ioctl(m->kvm, KVM_GET_API_VERSION, 0);
	if (r != KVM_API_VERSION) {
		snprintf(err, errlen, "/dev/kvm is unusable: API version %d, expected %d", r,
			 KVM_API_VERSION);
		return -1;
	}
	if (ioctl(m->kvm, KVM_CHECK_EXTENSION, KVM_CAP_IRQCHIP) <= 0 ||
	    ioctl(m->kvm, KVM_CHECK_EXTENSION, KVM_CAP_PIT2) <= 0 ||
	    ioctl(m->kvm, KVM_CHECK_EXTENSION, KVM_CAP_SIGNAL_MSI) <= 0 ||
	    ioctl(m->kvm, KVM_CHECK_EXTENSION, KVM_CAP_IMMEDIATE_EXIT) <= 0) {
		snprintf(err, errlen, "/dev/kvm is unusable: no in-kernel irqchip, PIT, MSI or immediate exit");
		return -1;
	}
	m->run_size = ioctl(m->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if ((long)m->run_size <= 0) {
		snprintf(err, errlen, "KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
		return -1;
	}
	m->vm = ioctl(m->kvm, KVM_CREATE_VM, 0);
	if (m->vm < 0) {
		snprintf(err, errlen, "/dev/kvm is unusable: KVM_CREATE_VM: %s", strerror(errno));
		return -1;
	}
	if (m->halt_poll_ns >= 0) {
		struct kvm_enable_cap cap = { .cap = KVM_CAP_HALT_POLL };

		cap.args[0] = m->halt_poll_ns;
		if (ioctl(m->vm, KVM_ENABLE_CAP, &cap) < 0)
			m->halt_poll_ns = -1;	/* reported as the kernel's default */
	}
	ioctl(m->vm, KVM_SET_TSS_ADDR, 0xfffbd000UL);	/* VMX without unrestricted guest */
	if (ioctl(m->vm, KVM_CREATE_IRQCHIP, 0) < 0) {
		snprintf(err, errlen, "KVM_CREATE_IRQCHIP: %s", strerror(errno));
		return -1;
	}
	if (ioctl(m->vm, KVM_CREATE_PIT2, &pit) < 0) {
		snprintf(err, errlen, "KVM_CREATE_PIT2: %s", strerror(errno));
		return -1;
	}
	m->mem = mmap(NULL, GUEST_MEM_SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m->mem == MAP_FAILED) {
		m->mem = NULL;
		snprintf(err, errlen, "cannot map guest memory: %s", strerror(errno));
		return -1;
	}
	region = (struct kvm_userspace_memory_region){
		.slot = 0, .guest_phys_addr = 0, .memory_size = GUEST_MEM_SIZE,
		.userspace_addr = (uintptr_t)m->mem,
	};
	if (ioctl(m->vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
		snprintf(err, errlen, "KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));
		return -1;
	}
	if (load_guest(m, err, errlen) < 0)
		return -1;
	m->tsc_deadline = ioctl(m->vm, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) > 0;
	m->have_stats = true;
	for (i = 0; i < m->nvcpus; i++) {
		struct vcpu *v = &m->vcpus[i];

		v->vmm = m;
		v->id = i;
		if (setup_vcpu(m, v, err, errlen) < 0)
			return -1;
	}
	r = ioctl(m->vcpus[0].fd, KVM_GET_TSC_KHZ, 0);
	if (r <= 0) {
		snprintf(err, errlen, "KVM_GET_TSC_KHZ: %s", strerror(errno));
		return -1;
	}
	m->tsc_khz = r;
	return 0;
}

/* Port I/O exits of a vCPU; returns -1 when the vCPU thread must stop. */
static int handle_io(struct vmm *m, struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	uint32_t val = 0;
	uint64_t one = 1;

	if (run->io.direction != KVM_EXIT_IO_OUT) {
		vmm_fail(m, "vCPU %d: unexpected IN from port 0x%x", v->id, run->io.port);
		return -1;
	}
	memcpy(&val, data, run->io.size < 4 ? run->io.size : 4);
	switch (run->io.port) {
	case PORT_CMD:
		pthread_mutex_lock(&m->lock);
		v->idle = true;
		v->idle_ns = now_ns();
		pthread_cond_signal(&m->cond);
		while (!v->cmd_ready && !m->stop)
			pthread_cond_wait(&v->cond, &m->lock);
		v->cmd_ready = false;
		v->idle = false;
		pthread_mutex_unlock(&m->lock);
		return vmm_stopping(m) ? -1 : 0;
	case PORT_DISK:
		pthread_mutex_lock(&m->lock);
		m->disk.kick_ns = now_ns();
		pthread_mutex_unlock(&m->lock);
		if (write(m->disk.efd, &one, 8) != 8) {
			vmm_fail(m, "disk doorbell: %s", strerror(errno));
			return -1;
		}
		return 0;
	case PORT_NET:		/* only when the ioeventfd could not be registered */
		if (write(m->net.efd, &one, 8) != 8) {
			vmm_fail(m, "net doorbell: %s", strerror(errno));
			return -1;
		}
		return 0;
	case PORT_PIO:
		pthread_mutex_lock(&m->lock);
		v->pio_writes += run->io.count;
		pthread_mutex_unlock(&m->lock);
		return 0;
	case PORT_PANIC: {
		uint32_t *pc = (uint32_t *)(m->mem + PERCPU_BASE + v->id * PERCPU_SIZE);
		struct kvm_regs r;

		memset(&r, 0, sizeof(r));
		ioctl(v->fd, KVM_GET_REGS, &r);
		if (val == 0x100)
			vmm_fail(m, "vCPU %d: guest got an unknown command", v->id);
		else if (val == PANIC_NO_TSCDL)
			vmm_fail(m, "phase tscdl: no TSC-deadline timer on this host (the LAPIC of "
				 "vCPU %d left LVTT at 0x%llx)", v->id, (unsigned long long)r.rcx);
		else if (val == 13 && pc[PC_OP / 4] == OP_TSCDL)
			vmm_fail(m, "phase tscdl: no TSC-deadline timer on this host (WRMSR 0x%x "
				 "raised #GP on vCPU %d)", MSR_TSC_DEADLINE, v->id);
		else
			vmm_fail(m, "vCPU %d: guest exception %u (stack: 0x%llx 0x%llx)", v->id, val,
				 (unsigned long long)r.rcx, (unsigned long long)r.rbx);
		return -1;
	}
	default:
		vmm_fail(m, "vCPU %d: unexpected OUT to port 0x%x", v->id, run->io.port);
		return -1;
	}
}

/* One vCPU thread, named like QEMU's: run the guest, serve its exits. */
static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	struct vmm *m = v->vmm;
	char name[16];

	snprintf(name, sizeof(name), "CPU %d/KVM", v->id);
	prctl(PR_SET_NAME, name);
	pthread_mutex_lock(&m->lock);
	v->tid = gettid();
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	while (!vmm_stopping(m)) {
		int r = ioctl(v->fd, KVM_RUN, 0);

		pthread_mutex_lock(&m->lock);
		v->exits++;
		pthread_mutex_unlock(&m->lock);
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			vmm_fail(m, "KVM_RUN on vCPU %d: %s", v->id, strerror(errno));
			break;
		}
		switch (v->run->exit_reason) {
		case KVM_EXIT_IO:
			if (handle_io(m, v) < 0)
				return NULL;
			break;
		case KVM_EXIT_INTR:
			break;
		case KVM_EXIT_MMIO:
			vmm_fail(m, "vCPU %d: unexpected MMIO at 0x%llx", v->id,
				 (unsigned long long)v->run->mmio.phys_addr);
			return NULL;
		case KVM_EXIT_SHUTDOWN:
			vmm_fail(m, "vCPU %d: guest shutdown (triple fault)", v->id);
			return NULL;
		case KVM_EXIT_INTERNAL_ERROR: {
			struct kvm_regs r;

			memset(&r, 0, sizeof(r));
			ioctl(v->fd, KVM_GET_REGS, &r);
			vmm_fail(m, "vCPU %d: KVM internal error, suberror %u at rip 0x%llx", v->id,
				 v->run->internal.suberror, (unsigned long long)r.rip);
			return NULL;
		}
		case KVM_EXIT_FAIL_ENTRY:
			vmm_fail(m, "vCPU %d: entry failed, reason 0x%llx", v->id,
				 (unsigned long long)v->run->fail_entry.hardware_entry_failure_reason);
			return NULL;
		default:
			vmm_fail(m, "vCPU %d: unexpected exit reason %u", v->id, v->run->exit_reason);
			return NULL;
		}
	}
	return NULL;
}

/* Start one thread per vCPU and learn their tids. */
int machine_start_vcpus(struct vmm *m)
{
	struct sigaction sa;
	char path[64];
	int i, r;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_kick;	/* no SA_RESTART: a kick makes KVM_RUN return EINTR */
	sigaction(SIGUSR1, &sa, NULL);
	m->have_wchan = true;
	for (i = 0; i < m->nvcpus; i++) {
		struct vcpu *v = &m->vcpus[i];

		r = pthread_create(&v->thread, NULL, vcpu_thread, v);
		if (r) {
			vmm_fail(m, "cannot start vCPU %d: %s", i, strerror(r));
			return -1;
		}
		v->started = true;
	}
	/* Each thread publishes its tid; open its wchan to see when it blocks. */
	pthread_mutex_lock(&m->lock);
	for (i = 0; i < m->nvcpus; i++)
		while (!m->vcpus[i].tid && !m->stop)
			pthread_cond_wait(&m->cond, &m->lock);
	pthread_mutex_unlock(&m->lock);
	if (vmm_stopping(m))
		return -1;
	for (i = 0; i < m->nvcpus; i++) {
		struct vcpu *v = &m->vcpus[i];

		snprintf(path, sizeof(path), "/proc/self/task/%d/wchan", v->tid);
		v->wchan_fd = open(path, O_RDONLY | O_CLOEXEC);
		if (v->wchan_fd < 0)
			m->have_wchan = false;
	}
	return 0;
}

/*
 * Does /proc/<tid>/wchan name the function a thread sleeps in (it reads "0"
 * without kallsyms)? Called while the vCPU threads sleep, idle in userspace.
 */
void machine_probe_wchan(struct vmm *m)
{
	uint64_t deadline = now_ns() + 200000000ULL;
	char buf[64];
	ssize_t n;

	if (!m->have_wchan)
		return;
	do {
		n = pread(m->vcpus[0].wchan_fd, buf, sizeof(buf) - 1, 0);
		if (n > 0 && !(n == 1 && buf[0] == '0'))
			return;
		usleep(1000);
	} while (now_ns() < deadline);
	m->have_wchan = false;
}

/* Stop the vCPU threads: wake the idle ones, kick the ones inside KVM_RUN, join. */
void machine_stop(struct vmm *m)
{
	int i;

	pthread_mutex_lock(&m->lock);
	m->stop = true;
	pthread_cond_broadcast(&m->cond);
	for (i = 0; i < m->nvcpus; i++)
		pthread_cond_broadcast(&m->vcpus[i].cond);
	pthread_mutex_unlock(&m->lock);
	for (i = 0; i < m->nvcpus; i++) {
		struct vcpu *v = &m->vcpus[i];
		struct timespec ts;

		if (!v->started)
			continue;
		for (;;) {
			if (v->run)
				v->run->immediate_exit = 1;
			pthread_kill(v->thread, SIGUSR1);
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 50000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			if (pthread_timedjoin_np(v->thread, NULL, &ts) == 0)
				break;
		}
		v->started = false;
	}
}

/* Release the vCPUs, the VM and /dev/kvm. */
void machine_close(struct vmm *m)
{
	int i;

	for (i = 0; i < m->nvcpus; i++) {
		struct vcpu *v = &m->vcpus[i];

		if (v->wchan_fd >= 0)
			close(v->wchan_fd);
		if (v->stats_fd >= 0)
			close(v->stats_fd);
		if (v->run)
			munmap(v->run, m->run_size);
		if (v->fd >= 0)
			close(v->fd);
	}
	if (m->mem)
		munmap(m->mem, GUEST_MEM_SIZE);
	if (m->vm >= 0)
		close(m->vm);
	if (m->kvm >= 0)
		close(m->kvm);
}

/* The tid of the in-kernel PIT's worker thread, "kvm-pit/<pid>", or 0. */
pid_t find_pit_thread(pid_t pid)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	char want[32], path[300];
	pid_t found = 0;

	snprintf(want, sizeof(want), "kvm-pit/%d", pid);
	while (d && (e = readdir(d)) && !found) {
		char comm[32] = "";
		ssize_t n;
		int fd;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", e->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, comm, sizeof(comm) - 1);
		close(fd);
		if (n > 0 && comm[n - 1] == '\n')
			comm[n - 1] = 0;
		if (!strcmp(comm, want))
			found = atoi(e->d_name);
	}
	if (d)
		closedir(d);
	return found;
}
