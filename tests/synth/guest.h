/*
 * tests/synth: the guests' own traces (vmwait-synth --guest PREFIX). Each VM
 * of the scenario gets a trace of its guest kernel's scheduler, consistent
 * with the host's: a guest CPU runs only while its vCPU is in the guest (L1),
 * goes idle just before its HLT exits and wakes a task just after the entry
 * that follows a wait. Written as trace-cmd's host-guest mode writes them
 * (the host's TRACEID and GUEST options, the guest's TRACEID and TIME_SHIFT)
 * or as a plain guest recording whose clock is the host's minus an offset.
 * The ground truth gets each VM's guest tasks, by the README's rules applied
 * to the guest events written and to the truth's own waits.
 */
#ifndef VMWAIT_SYNTH_GUEST_H
#define VMWAIT_SYNTH_GUEST_H

#include <stdbool.h>
#include <stdint.h>

#include "sim.h"

struct sguest_opts {
	const char *prefix;	/* guest traces: PREFIX-<vm name>.dat */
	bool tracecmd;		/* trace-cmd -A form (ids, TIME_SHIFT), else plain */
	bool empty;		/* the formats but no records (a bad input) */
	int64_t offset;		/* guest clock = host - (offset + 1000003 * VM index) */
	int version;
	enum tdat_compress compress;
	bool strict;		/* every host record kept: no guest event may fall in a wait */
};

struct sguest;
struct tdat_writer;

/* trace-cmd -A's trace ids: the host recording's, and each guest's. */
#define SG_HOST_ID(seed)	(0x10057ULL + (uint64_t)(seed))
#define SG_GUEST_ID(idx)	(0x6e57000000000000ULL + (uint64_t)(idx))

struct sguest *sguest_new(const struct scn *s, const struct sfmt *f,
			  const struct sguest_opts *o);
/* trace-cmd form: the host file's TRACEID and GUEST options. */
int sguest_host_options(struct sguest *g, struct tdat_writer *w);
/* Every host record at @ts as simulated (recorded or not, lost or not). */
void sguest_record(struct sguest *g, uint64_t ts, const struct srec *r);
/* The truth's waits (L1 vCPUs), in order per vCPU. */
void sguest_wait(void *ctx, const struct vw_vcpu *lane, uint64_t start, uint64_t end,
		 int reason);
/* Write the guest traces and the guest tasks of @res (after truth_finish, res_finish). */
int sguest_finish(struct sguest *g, struct vw_result *res);
void sguest_free(struct sguest *g);

/* A truth wait of one vCPU. */
struct swt {
	uint64_t start, end;
	int reason;
};

/* guest_out.c: the files and the truth (guest.c's state) */
struct sgev {
	uint64_t ts;		/* host time */
	int kind;		/* SG_SWITCH, SG_WAKE */
	int prev, next;		/* tasks (pool index, -1 idle); SG_WAKE: next */
	int state;		/* prev_state */
};
enum { SG_SWITCH, SG_WAKE };

struct sgtask {
	int pid;
	const char *comm;
	int state;		/* prev_state when it blocks */
	int reason;		/* the wait reason it usually blocks for, -1 any */
};
extern const struct sgtask sg_pool[];
extern const int sg_npool;

struct sgcpu {
	struct sgev *ev;
	size_t n, cap;
};

/* One VM's guest: its CPUs' events. */
struct sgvm {
	const struct svm *vm;
	int idx;
	int ncpus;
	struct sgcpu *cpu;
	int *vcpu_tid;		/* per guest CPU: the host thread (0 none) */
};

int sgout_write(const struct sgvm *v, const struct sfmt *f, const struct sguest_opts *o,
		uint64_t host_id);
void sgout_truth(const struct sgvm *v, const struct sguest_opts *o, struct vw_vm *vm,
		 const void *lanes_ctx,
		 const struct swt *(*waits)(const void *ctx, const struct vw_vcpu *lane,
					    size_t *n));
char *sgout_path(const struct sguest_opts *o, const struct svm *vm);
int64_t sgout_offset(const struct sguest_opts *o, int idx);

#endif
