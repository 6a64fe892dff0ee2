/* tests/synth: scenario model shared by the parser, the random composer and the simulator. */
#ifndef VMWAIT_SYNTH_SIM_H
#define VMWAIT_SYNTH_SIM_H

#include "tdat.h"
#include "synth.h"

enum th_kind { TK_VCPU, TK_VHOST, TK_IO, TK_MAIN, TK_HOST, TK_REC };

enum ep_kind {
	EP_EXIT, EP_PIO, EP_MMIO, EP_HLT, EP_PREEMPT, EP_GUEST,
	EP_L2ENTER, EP_L2EXIT, EP_L2REFLECT, EP_L2HLT, EP_SLEEP, EP_PTIMER,
	EP_QUIT,	/* the guest powers off: IO exit, userspace, the thread exits */
};

enum wake_kind {
	WK_NONE, WK_TIMER, WK_IPI, WK_NET, WK_DISK, WK_MSI, WK_IOAPIC, WK_PIC, WK_VFIO,
	WK_PI,		/* posted-interrupt wakeup (IPI virtualization, VT-d): no KVM event */
};
enum poll_kind { PL_NONE, PL_BLOCK, PL_SUCCESS };

struct sep {
	enum ep_kind kind;
	uint64_t guest, hyp, vmm, idle, pollns, lat, dur;
	uint32_t code;		/* exit reason code (EP_EXIT, L2 exits) */
	int wake, poll;
	int from;		/* ipi: sender vcpu id, -1 any */
	int vec, gsi;
	int cpu;		/* move to this CPU (hlt wake, preempt), -1 stay */
	int by;			/* preempt / busy: thread id */
	uint64_t vmcs, eptp;
	int l2reason;		/* l2enter: reason of the L2 wait it ends */
	uint32_t port;
	uint64_t gpa;
	bool in, fast;
	bool soft;		/* vfio: signalled from softirq; disk: completed in softirq */
	int on;			/* vfio: the task the interrupt lands on, 0 the VM's vhost */
	int state;		/* sleep: prev_state (1 S, 2 D) */
	int pre;		/* hlt: a task preempting the woken vCPU before kvm_vcpu_wakeup
				 * (random: -1, the host task of the CPU it is woken on) */
	int count;
};

struct sthr {
	int tid, tgid;
	char comm[16];		/* its name now (renames change it) */
	char last_comm[16];	/* its name at the end (saved_cmdlines), "" if never renamed */
	enum th_kind kind;
	int cpu;		/* home CPU (vCPU: initial) */
	bool gone;		/* exited: its tid names the next thread declared with it */
};

/* One record not written: the nth record of @event naming thread @tid. */
struct smiss { int tid, nth, seen; char event[32]; };

/* A thread renamed mid-trace (prctl(PR_SET_NAME)/pthread_setname_np). */
struct srename { int tid; uint64_t at; char comm[16]; };

struct svm {
	int pid;
	char name[64];
	char cmdline[256];
	int isa;		/* 1 vmx, 2 svm */
	bool apicv;
	int timer_vec;
	/*
	 * The guest's LAPIC timer: TSC-deadline mode with KVM's timer advance
	 * (tscdl); on the VMX preemption timer (hvtimer, implies tscdl); posted
	 * to the running guest from its hrtimer (ptimer: pi_inject_timer, APICv,
	 * MWAIT/HLT in the guest; implies tscdl).
	 */
	bool tscdl, hvtimer, ptimer;
	int vhost, io, main;	/* thread ids, 0 if none */
	uint64_t slide;		/* the guest kernel's KASLR slide (HLT exits' rip) */
	int net_vec, disk_vec;
};

struct svcpu;
struct sguest_opts;

struct slost { int cpu; uint64_t from, to; bool stored; };
struct snoise { int tid; uint64_t every, run, at; };

struct scn {
	char kernel[32];
	char fmtdir[512];
	int ncpus;
	unsigned int page_size;
	uint64_t base;		/* trace clock at scenario time 0 */
	uint64_t start, end;	/* end 0: when every vCPU is done */
	int rec_cpu;
	bool no_markers;	/* a trace-cmd recording: no vmwait markers */
	bool sameclock;		/* records pushed to the clock may share a timestamp */
	struct srename *renames;
	int nr_renames;
	struct smiss *miss;
	int nr_miss;
	struct svm *vms;
	int nr_vms;
	struct sthr *thr;
	int nr_thr;
	struct svcpu *vcpus;
	int nr_vcpus;
	struct slost *lost;
	int nr_lost;
	struct snoise *noise;
	int nr_noise;
	bool light;		/* written as vmwait record --light would record it */
	char *profile, *events;	/* "record PROFILE", "events LIST" (sim_opts override) */
	/* random composition */
	bool random;
	uint64_t seed;
	uint64_t max_events;
	struct {
		int migrate;	/* % of blocked halts and preemptions that migrate */
		int loss;	/* per mille of exits whose records are lost */
		int nested;	/* bit i: vCPU i (scn.vcpus) runs nested guests */
		int first_spare, nr_spare;	/* CPUs free for migrations */
	} rnd;
};

struct svcpu {
	int tid, id, vm;	/* vm: index in scn.vms */
	int thr;		/* index in scn.thr (a tid may be reused) */
	int cpu;
	uint64_t at;		/* first entry */
	uint64_t spawn;		/* created by the VMM main thread at this time, 0: exists */
	struct sep *eps;
	int nr_eps;
};

int scn_parse(struct scn *s, const char *path);
int scn_random(struct scn *s, uint64_t seed, uint64_t events, const char *kernel);
void scn_free(struct scn *s);
struct sthr *scn_thread(struct scn *s, int tid);
struct sthr *scn_thread_last(struct scn *s, int tid);
struct svm *scn_vm(struct scn *s, int pid);

struct sim_opts {
	const char *out;	/* trace.dat */
	const char *truth;	/* JSON, or NULL */
	const char *fmtroot;	/* tests/data/formats */
	int version;		/* trace.dat 6 or 7 */
	enum tdat_compress compress;	/* v7 only */
	bool light;		/* --light: leave out the per-exit events */
	const char *profile;	/* --profile: exits, nosched, noirq, sched, light, full */
	const char *events;	/* --events-only: the events recorded (NULL: all) */
	double drop;		/* --drop: share of records left out at random */
	uint64_t drop_seed;
	const char *drop_events;	/* --drop-events: only these may be left out */
	bool no_losses;		/* --no-losses: the random mode loses nothing */
	const char *facts;	/* --facts: the generator's account of entries/exits */
	int isa;		/* --isa: random VMs' isa (1 vmx, 2 svm), 0 the seed's */
	const struct sguest_opts *guest;	/* --guest: the guests' traces (guest.h) */
};


int sim_run(struct scn *s, const struct sim_opts *o);

/* Deterministic PRNG (splitmix64). */
static inline uint64_t srand64(uint64_t *st)
{
	uint64_t z = (*st += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

#endif
