/*
 * tin: vmwait's own reader of trace-cmd trace.dat files (v6 and v7,
 * uncompressed, zstd or zlib; the top buffer and instances).
 *
 * Why not libtracecmd: Debian's libtracecmd 3.1.6 crashes, hangs or makes
 * absurd allocations on corrupt files, reads no zlib, and allocates and
 * frees every record. tin validates every offset, size, count and string of
 * the file before it is used, and every ring-buffer page before
 * libtraceevent's kbuffer parses it; event formats are parsed by
 * libtraceevent (tep) after a probe in a child process (guard.h). Records
 * are returned in place, merged across CPUs by timestamp (ties: lower CPU
 * first, as libtracecmd), with the file's timestamp options applied exactly
 * as libtracecmd applies them.
 *
 * Errors: functions returning -1 (or NULL) leave a one-line description,
 * naming the file and the offset where it applies, in tin_error().
 */
#ifndef VMWAIT_TIN_H
#define VMWAIT_TIN_H

#include <stdbool.h>
#include <stdint.h>

#include "tdat_read.h"

struct tep_handle;
struct tin;

/* One event, valid until the next tin_next() call. */
struct tin_rec {
	uint64_t ts;		/* nanoseconds (file options applied) */
	const void *data;	/* payload: common fields, then the event's */
	uint32_t size;		/* bytes of payload */
	int cpu;
	/*
	 * Events lost on this CPU just before this one: 0; N (the kernel's
	 * stored count); -1 (a loss without a count, a corrupt page or chunk
	 * whose rest was skipped, or a missing chunk).
	 */
	int64_t missed;
};

struct tin_opts {
	const char *buffer;	/* instance to read: NULL = the one with most kvm
				   events, "" = the top buffer */
	bool plugins;		/* load libtraceevent plugins (printing) */
	bool all_formats;	/* parse every event format (printing needs them);
				   otherwise only those @want_format() accepts */
	bool (*want_format)(const char *system, const char *name);
};

/* Per buffer (instance) of the file. */
struct tin_buffer {
	char *name;		/* "" for the top buffer */
	char *clock;		/* trace clock, or NULL */
	uint64_t section;	/* v7: its flyrecord section; v6: its data-kind tag */
	uint32_t page_size;
	int ncpus;		/* CPU data sections */
	struct tin_cpu_sec {
		uint32_t cpu;
		uint64_t off, size;
	} *secs;
	bool compressed;
};

/* What the file says besides its events. */
struct tin_meta {
	int version;
	char compression[32];		/* "none", "zstd", "zlib" */
	bool big_endian;
	int long_size;
	uint32_t page_size;		/* the file header's */
	int cpus;			/* CPU count of the file */
	uint64_t file_size;
	char *uname, *tracecmd_version, *clock;
	char *cpustats;			/* CPUSTAT texts, concatenated */
	struct tdat_guest *guests;	/* trace-cmd GUEST options */
	int nguests;
	struct tin_buffer *buffers;	/* [0] is the top buffer */
	int nbuffers;
	int selected;			/* index of the buffer being read */
	bool in_usecs;			/* timestamps are ns of a known clock */
	/* timestamp options */
	int64_t ts_offset;		/* DATE (us -> ns) and OFFSET, summed */
	uint32_t tsc_mult, tsc_shift;	/* TSC2NSEC */
	bool time_shift;		/* a TIME_SHIFT option (guest file) */
	/* trace-cmd -A: this recording's TRACEID; a guest file's TIME_SHIFT names its host's */
	bool has_trace_id;
	uint64_t trace_id;
	uint64_t peer_trace_id;		/* valid when time_shift */
	/* event formats present in the file (every one, parsed or not) */
	struct tin_format {
		char *system, *name;
		int id;
	} *formats;
	int nformats;
	char *rejected;			/* "sys:event, ..." libtraceevent refused, or NULL */
};

/* Open @path; NULL on error with the message in @err (@errlen bytes). */
struct tin *tin_open(const char *path, const struct tin_opts *opts, char *err, size_t errlen);
void tin_close(struct tin *t);

const struct tin_meta *tin_meta(const struct tin *t);
struct tep_handle *tin_tep(struct tin *t);
const char *tin_error(const struct tin *t);

/*
 * The next event of the selected buffer in time order: 1, 0 at the end, -1
 * on an I/O error (the events before it were all returned). Corrupt data is
 * not an error: it is skipped, counted (tin_corrupt()) and marked as a loss
 * on the next event of that CPU.
 */
int tin_next(struct tin *t, struct tin_rec *r);

/* Bytes of CPU data consumed so far and in all (for a progress line). */
void tin_progress(const struct tin *t, uint64_t *done, uint64_t *total);

/* Corrupt pages/chunks skipped so far, and a description of the first. */
uint64_t tin_corrupt(const struct tin *t, const char **first);

/*
 * Addresses of the kallsyms symbols named in @names (NULL-terminated), up
 * to @max: a lookup of a few names without parsing all of kallsyms.
 */
int tin_symbols(const struct tin *t, const char *const *names, uint64_t *addrs, int max);

/*
 * The first and last timestamps of the selected buffer (start > end: no
 * events), from each CPU's first and last pages; reading restarts after.
 */
int tin_bounds(struct tin *t, uint64_t *start, uint64_t *end);

/* Restart reading from the first event (a second pass). */
int tin_rewind(struct tin *t);

/*
 * Live reading (vmwait top): the metadata comes from the running kernel and
 * ring-buffer pages are pushed as they are read from each CPU's buffer. The
 * merge returns an event only when it is sure no earlier one can still come:
 * at most up to @limit, a time by which every CPU's buffer was drained.
 */
struct tin_live_meta {
	const char *header_page;	/* events/header_page */
	size_t header_page_len;
	struct tin_live_format {
		const char *system;	/* "ftrace" for ftrace's own formats */
		const char *text;
		size_t len;
	} *formats;
	int nformats;
	const char *kallsyms;		/* /proc/kallsyms, or NULL */
	const char *cmdlines;		/* saved_cmdlines, or NULL */
	int ncpus;
	uint32_t page_size;		/* ring-buffer sub-buffer size */
	int long_size;			/* the kernel's */
};

struct tin *tin_new_live(const struct tin_live_meta *lm, const struct tin_opts *opts,
			 char *err, size_t errlen);
/* Queue one raw page (meta page_size bytes) of @cpu, copied. */
int tin_push(struct tin *t, int cpu, const void *page);
/* The next event with timestamp <= @limit: 1, or 0 if none can be told yet. */
int tin_next_until(struct tin *t, struct tin_rec *r, uint64_t limit);
/* No more pages will come: tin_next_until() then drains everything. */
void tin_live_end(struct tin *t);

/*
 * Replay a file through the live path: its raw pages in order of their first
 * timestamp, each with the limit a live reader would have (1, 0 at the end).
 * The page stays valid until the next call. tin_live_meta_of() fills @lm
 * from the file (formats point into @t; free lm->formats).
 */
int tin_replay_page(struct tin *t, int *cpu, const void **page, uint64_t *limit);
void tin_live_meta_of(const struct tin *t, struct tin_live_meta *lm);

#endif
