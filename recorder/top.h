/*
 * Internal interfaces of `vmwait top`: live (or replayed) wait analysis of
 * every VM, one line per interval (README "Live: vmwait top").
 *
 *   top_opts.c    the command line
 *   top.c         the command: the source (live or replay), the feed, the lines
 *   top_live.c    live source: own instance, metadata, per-CPU pages, -o FILE
 *   top_snap.c    per-vCPU snapshots of the analysis, and lines as their differences
 *   top_json.c    JSON lines (schema vmwait-top/1)
 *   top_screen.c  the curses screen
 */
#ifndef VMWAIT_TOP_H
#define VMWAIT_TOP_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "../analyzer/analyzer.h"
#include "recorder.h"
#include "util.h"

#define TOP_SCHEMA	"vmwait-top/1"

/* top_opts.c */
struct top_opts {
	struct pidset pids;		/* -p: traced (live) and shown */
	const char *vm;			/* --vm: only the VM of this name or pid is shown */
	uint64_t interval_ns;		/* -i */
	uint64_t duration_ns;		/* -d, 0: until stopped */
	bool light;			/* --light (default) or --full */
	bool json;			/* --json-lines */
	const char *output;		/* -o FILE, or NULL */
	const char *replay;		/* --replay FILE, or NULL */
	double speed;			/* --speed X, 0: as fast as it can */
};

/* Returns 0 to go on, -1 after --help (exit 0), or EXIT_USAGE. */
int top_parse_args(struct top_opts *o, int argc, char **argv);

/* top_snap.c: what one interval's line says (differences of two snapshots). */
struct top_exit {
	char *name;
	uint32_t isa, code;
	int64_t n, ns;
};

struct top_pre {
	int tid;
	char comm[32];
	enum vw_preempt_kind kind;
	int64_t ns;
};

struct top_delta {
	int64_t states[VS_NR];
	int64_t pending;		/* change of the time not decided yet */
	int64_t undecided;		/* the time not decided yet, at the end */
	int64_t wait_n[WR_NR], wait_ns[WR_NR];
	int64_t wakeup_ns;		/* preempted on an idle CPU */
	struct top_exit *exits;		/* by count */
	int nexits;
	struct top_pre *pre;		/* by time, positive only */
	int npre;
};

struct top_vcpu {
	int vcpu, tid;
	char comm[32];
	uint64_t first_ns;
	struct top_delta d;
};

struct top_vm {
	int pid;
	char *name;
	struct top_vcpu *vcpus;
	int nvcpus;
	struct top_delta tot;		/* its vCPUs summed */
};

struct top_line {
	size_t index;
	uint64_t start_ns, end_ns;
	bool final;			/* the last line: the analysis is finished */
	uint64_t events, lost_events, losses;
	uint64_t cpu_ns;		/* CPU time of top itself during the interval */
	int cpus;
	const char *tier;		/* evidence tier of the recorded events */
	bool exits_recorded;		/* kvm_entry/kvm_exit: exits are counted */
	struct top_vm *vms;
	int nvms;
	int nvcpus;			/* vCPUs shown */
};

/* Which VMs a line shows: -p pids and --vm. */
struct top_filter {
	const struct pidset *pids;
	const char *vm;
};

struct top_lanes;
struct top_lanes *lanes_new(void);
void lanes_free(struct top_lanes *l);
/* The line of the interval ending at @end while the analysis goes on. */
void lanes_line(struct top_lanes *l, struct analyzer *a, uint64_t end,
		const struct top_filter *f, struct top_line *out);
/* The last line, from the finished analysis @res. */
void lanes_final(struct top_lanes *l, struct analyzer *a, const struct vw_result *res,
		 const struct top_filter *f, struct top_line *out);
void line_free(struct top_line *l);

/* top_json.c */
void top_json_line(const struct top_line *l, FILE *f);

/* top_screen.c */
struct top_screen;
struct top_screen *screen_open(uint64_t interval_ns, bool replay);
/* Show @l (the screen keeps it, to redraw on a key). */
void screen_show(struct top_screen *s, struct top_line *l);
/* Handle the keys typed; true when the user quit. */
bool screen_keys(struct top_screen *s);
/* A message under the title (NULL: none), shown at once. */
void screen_status(struct top_screen *s, const char *msg);
void screen_close(struct top_screen *s);

/*
 * top_live.c: the live source (errors are reported, one line). An event is
 * in its CPU's buffer once committed, a little after its timestamp was
 * taken: a drain that started at T has read every event up to T minus this.
 */
#define TOP_REORDER_NS	(10 * NSEC_PER_MSEC)

struct top_live;
struct top_live *live_open(const struct top_opts *o);
const struct tin_live_meta *live_meta(const struct top_live *lv);
void live_meta_release(struct top_live *lv);
/* Tracing on; *@start_ns: a time before the first event (CLOCK_MONOTONIC). */
int live_start(struct top_live *lv, uint64_t *start_ns);
/*
 * Read what the CPUs have into @t (and the output); *@limit: a time by which
 * every event was read. The pages read, or -1 after a message.
 */
int live_drain(struct top_live *lv, struct tin *t, uint64_t *limit);
/* A VM seen in the trace: its markers (name, threads) if not written yet. */
void live_describe(struct top_live *lv, int pid);
/* Stop tracing (a marker first: an event at the stop) and read everything left. */
int live_stop(struct top_live *lv, struct tin *t);
/* The CPUs' trace_pipe_raw descriptors, for poll(): readable when half full. */
int live_fds(const struct top_live *lv, int *fds, int max);
/* Finish the output and remove the instance; 0, or -1 if the output failed. */
int live_close(struct top_live *lv);
uint64_t mono_ns(void);

#endif
