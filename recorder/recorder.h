/* Internal interfaces of `vmwait record`. */
#ifndef VMWAIT_RECORDER_H
#define VMWAIT_RECORDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <sys/types.h>

#include "tdat.h"

struct tracefs_instance;
struct tracefs_cpu;
struct kbuffer;

/* A sorted set of pids (or tids). */
struct pidset {
	int *v;
	size_t n;
};

bool pidset_add(struct pidset *s, int pid);	/* true if newly added */
bool pidset_has(const struct pidset *s, int pid);
void pidset_free(struct pidset *s);

/* One event of the recording. */
struct rec_event {
	char *system;
	char *name;
	bool implicit;		/* always recorded, nothing to enable */
};

struct rec_events {
	struct rec_event *ev;
	size_t n;
	char *missing;		/* " sys:event sys:event" of the table, absent here */
	size_t nmissing;
};

/*
 * Build the event set: the table (minus --light drops) that exists under
 * @tdir, plus the -e specs. Prints the error and returns -1 if a -e event
 * does not exist or there is no kvm event at all.
 */
int rec_events_build(const char *tdir, bool light, char **extra, size_t nextra,
		     struct rec_events *out);
void rec_events_free(struct rec_events *evs);

/* rec_instance.c: our own tracefs instance. */
const char *rec_tracing_dir(void);
int rec_cleanup_stale(void);
struct tracefs_instance *rec_instance_create(void);
int rec_instance_setup(struct tracefs_instance *inst, unsigned long kb,
		       const struct pidset *filter, const struct rec_events *evs);
int rec_instance_remove(struct tracefs_instance *inst);
unsigned int rec_instance_ncpus(struct tracefs_instance *inst);
unsigned int rec_instance_page_size(struct tracefs_instance *inst);
unsigned long rec_default_buffer_kb(unsigned int ncpus);

/* rec_proc.c: KVM processes, their threads and helpers, from /proc. */
bool proc_exists(int pid);
bool proc_has_kvm_vm(int pid);
void proc_find_kvm(struct pidset *out);
void proc_threads(int pid, struct pidset *out);
void proc_find_helpers(const struct pidset *vms, struct pidset *out);

/*
 * SIGINT, SIGTERM, SIGHUP (and SIGCHLD if @chld) blocked and delivered through
 * the returned signalfd (non-blocking), which the main loop polls; SIGPIPE
 * ignored. The mask before goes to @oldmask if given. -1 on failure.
 */
int stop_signals_fd(bool chld, sigset_t *oldmask);
/* The name a stop signal gives as the reason to stop: "SIGINT", ... */
const char *stop_signal_name(unsigned int signo);

/* The metadata markers, written once per VM and per thread. */
struct rec_markers {
	struct tracefs_instance *inst;
	struct pidset vms;
	struct pidset tids;
	unsigned long written;
	bool failed;
};

void markers_init(struct rec_markers *m, struct tracefs_instance *inst);
void markers_describe_vm(struct rec_markers *m, int pid);
void markers_describe_cmd(struct rec_markers *m, int pid, char **argv);
void markers_fini(struct rec_markers *m);

/* rec_meta.c: everything but the ring-buffer pages. */
int rec_write_meta(struct tdat_writer *w, struct tracefs_instance *inst,
		   const struct rec_events *evs);
int rec_write_cmdlines(struct tdat_writer *w);	/* -1: writer failed (errno) */

/* rec_opts.c: the command line. */
struct rec_opts {
	const char *output;
	uint64_t duration_ns;		/* 0: until stopped */
	unsigned long buffer_kb;	/* 0: default */
	struct pidset pids;
	bool light;
	bool quiet;
	char **extra;			/* -e specs */
	size_t nextra;
	struct tdat_opts topts;
	char **cmd;			/* COMMAND ARGS..., or NULL */
	const char *recover;		/* --recover OUTPUT */
	bool recording_opts;		/* an option of a recording was given */
};

/* Returns 0 to go on, -1 after --help (exit 0), or EXIT_USAGE. */
int rec_parse_args(struct rec_opts *o, int argc, char **argv);

/* rec_recover.c: a killed recorder's leftovers. */
int rec_check_leftover(const char *output);
int rec_recover(const char *output);	/* returns the exit status */

/* rec_read.c: the per-CPU readers. */
struct rec_cpustat {
	uint64_t entries, overrun, commit_overrun, dropped, read;
};

struct rec_cpu {
	struct tracefs_cpu *tcpu;
	int fd;			/* trace_pipe_raw, -1 if the CPU has none */
	bool present;		/* it had one */
	uint64_t pages;
	uint64_t events;	/* events in the pages written */
	uint64_t missed;	/* lost events flagged in the pages */
	uint64_t missed_pages;	/* pages flagged with losses */
	struct rec_cpustat stat;
};

struct rec_reader {
	struct tdat_writer *w;
	struct rec_cpu *cpu;
	unsigned int ncpus;
	unsigned int page_size;
	char *page;
	struct kbuffer *kbuf;
	int werr;		/* errno of the writer's first failure */
};

int reader_open(struct rec_reader *r, struct tracefs_instance *inst,
		unsigned int ncpus, unsigned int page_size, struct tdat_writer *w);
int reader_drain(struct rec_reader *r, bool final);
int reader_stats(struct rec_reader *r, struct tracefs_instance *inst);
uint64_t reader_cpu_lost(const struct rec_cpu *c);
void reader_close(struct rec_reader *r);	/* closes the files, keeps the counts */
void reader_free(struct rec_reader *r);

#endif
