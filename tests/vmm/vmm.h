/* vmm.h: shared state of vmwait-vmm, a minimal KVM VMM whose waits have known reasons. */
#ifndef VMM_H
#define VMM_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "layout.h"

#define MAX_VCPUS	4

/* KVM's own per-vCPU halt accounting (binary stats), read around every wait. */
struct halt_snap {
	uint64_t waited;	/* halts that blocked (sum of halt_wait_hist) */
	uint64_t polled;	/* halts that ended while polling */
	uint64_t exits;		/* HLT exits */
	uint64_t ns;		/* halt time: the sum of kvm_vcpu_wakeup's "time" */
};

struct vcpu {
	struct vmm *vmm;
	int id;
	int fd;
	int stats_fd;
	int wchan_fd;
	struct kvm_run *run;
	pthread_t thread;
	bool started;
	pid_t tid;
	pthread_cond_t cond;	/* signalled when a command is ready */
	/* The rest is protected by vmm->lock. */
	bool idle;		/* in userspace, waiting for a command */
	bool cmd_ready;
	uint64_t idle_ns;	/* when it last asked for a command */
	uint64_t pio_writes;
	uint64_t exits;		/* KVM_RUN returns (each one a kvm_userspace_exit event) */
};

/* A device thread that raises one interrupt per request (disk, net). */
struct device {
	pthread_t thread;
	bool started;
	pid_t tid;
	int efd;		/* doorbell eventfd */
	int target;		/* vCPU of the request in flight */
	uint64_t block;		/* disk: block to read */
	uint64_t kick_ns;	/* doorbell time (disk: the exit; net: the ioeventfd read) */
	uint64_t raise_ns;	/* when it raised the interrupt */
};

struct vmm {
	int kvm;
	int vm;
	uint8_t *mem;
	int nvcpus;
	struct vcpu vcpus[MAX_VCPUS];
	size_t run_size;
	pid_t pid;
	long halt_poll_ns;	/* -1: kernel default */
	bool have_stats;
	bool have_wchan;
	struct {		/* offsets of the stats we use in the stats data block */
		long hist, hist_n, poll_ok, wait_ns, poll_ok_ns, poll_fail_ns, exits, blocking;
		long data_offset, data_size;
	} st;
	uint32_t tsc_khz;
	bool tsc_deadline;	/* KVM_CAP_TSC_DEADLINE_TIMER: the in-kernel LAPIC has the mode */

	pthread_mutex_t lock;
	pthread_cond_t cond;	/* the controller's: vCPU idle, thread started, stop */
	bool stop;
	char error[256];

	/* disk */
	struct device disk;
	int disk_fd;
	bool disk_direct;
	char disk_path[4096];
	bool disk_unlink;
	uint64_t disk_blocks;
	/* net */
	struct device net;
	int net_sock;
	int echo_port;
	pid_t echo_pid;
	bool net_ioeventfd;
};

uint64_t now_ns(void);
void vmm_fail(struct vmm *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool vmm_stopping(struct vmm *m);

/* machine.c */
int machine_open(struct vmm *m, char *err, size_t errlen);
int machine_start_vcpus(struct vmm *m);
void machine_probe_wchan(struct vmm *m);
void machine_stop(struct vmm *m);
void machine_close(struct vmm *m);
int vcpu_halt_snap(struct vmm *m, struct vcpu *v, struct halt_snap *s);
int vcpu_wait_blocked(struct vmm *m, struct vcpu *v, uint64_t timeout_ns);
pid_t find_pit_thread(pid_t pid);

/* devices.c */
int devices_open(struct vmm *m, const char *disk_file, char *err, size_t errlen);
int devices_start(struct vmm *m);
void devices_stop(struct vmm *m);
void devices_close(struct vmm *m);

#endif
