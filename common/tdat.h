/*
 * Writer of trace-cmd "trace.dat" files, versions 6 and 7.
 *
 * Debian's libtracecmd 3.1.6 publishes no API to write trace.dat, and the
 * synthetic generator must write event formats of kernels other than the
 * running one, so vmwait carries this small writer. It takes raw ring-buffer
 * pages per CPU and does not care where they come from (the kernel's
 * trace_pipe_raw, or pages encoded by tests/synth).
 *
 * Usage: tdat_create(); set the metadata (any order); tdat_begin() (or
 * the first tdat_write_page()); tdat_write_page() for every page of every
 * CPU, in any interleaving; tdat_close(). Pages of one CPU are kept in the
 * order given. Metadata setters copy their input. A writer is used by one
 * thread at a time.
 *
 * Surviving a kill: while the writer runs, OUTPUT holds the head of the
 * file (formats, kallsyms, printk formats) and the directory
 * OUTPUT.vmwait-tmp/ beside it holds a log of the rest of the metadata and
 * each CPU's data as it will be in the output. Whatever tdat_write_page()
 * accepted is in a file there (the page cache) at once, so after SIGKILL
 * tdat_recover() makes a valid trace of it; after a power loss, what the
 * kernel had written back (tdat_sync() forces it). tdat_close() and
 * tdat_abort() remove the directory.
 *
 * Disk space: pages are stored as they will be in the output (v7 with
 * compression: compressed as they are written, in chunks of 10 pages), and
 * the final copy frees each block it has copied. So a recording needs about
 * the size of its output, plus 9 raw pages per CPU, plus 256 KB, while it runs.
 */
#ifndef VMWAIT_TDAT_H
#define VMWAIT_TDAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum tdat_compress {
	TDAT_COMP_NONE,
	TDAT_COMP_ZSTD,		/* v7 default, as trace-cmd does */
	TDAT_COMP_ZLIB,		/* v7 only; Debian's trace-cmd cannot read it */
};

struct tdat_opts {
	int version;			/* 6 or 7 */
	enum tdat_compress compress;	/* must be NONE for version 6 */
	unsigned int page_size;		/* ring-buffer sub-buffer size, e.g. 4096 */
	unsigned int ncpus;		/* number of CPUs in the flyrecord */
};

/* The work directory beside the output: OUTPUT + this suffix. */
#define TDAT_WORKDIR_SUFFIX	".vmwait-tmp"

struct tdat_writer;

/*
 * Returns NULL with errno set: EINVAL for bad options, EEXIST when
 * OUTPUT.vmwait-tmp exists (an interrupted or running recording; the
 * output is then not touched).
 */
struct tdat_writer *tdat_create(const char *path, const struct tdat_opts *opts);

/*
 * The head: headers, formats, kallsyms and printk formats can be set until
 * tdat_begin() writes them (EBUSY after). The rest of the metadata (the
 * tail: cmdlines, uname, clock, CPU stats, guests) can be set any time
 * before tdat_close(); each such setter logs its value for recovery and
 * reserves its room in the output (ENOSPC: the old value stays).
 */
/* Contents of events/header_page and events/header_event. Required. */
int tdat_set_headers(struct tdat_writer *w,
		     const char *header_page, size_t page_len,
		     const char *header_event, size_t event_len);
/* events/ftrace/<event>/format; may be called any number of times. */
int tdat_add_ftrace_format(struct tdat_writer *w, const char *fmt, size_t len);
/* events/<system>/<event>/format; systems are grouped as the format needs. */
int tdat_add_event_format(struct tdat_writer *w, const char *system,
			  const char *fmt, size_t len);
/* /proc/kallsyms text, printk_formats text, saved_cmdlines text ("pid comm\n"). */
int tdat_set_kallsyms(struct tdat_writer *w, const char *buf, size_t len);
int tdat_set_printk(struct tdat_writer *w, const char *buf, size_t len);
int tdat_set_cmdlines(struct tdat_writer *w, const char *buf, size_t len);

/* Options: uname string, trace clock name (e.g. "local"), per-CPU stats text. */
int tdat_set_uname(struct tdat_writer *w, const char *uname);
int tdat_set_clock(struct tdat_writer *w, const char *clock);
int tdat_add_cpustat(struct tdat_writer *w, unsigned int cpu, const char *stats);
/* trace-cmd's GUEST option: guest name, trace id, vCPU -> host task pid. */
int tdat_add_guest(struct tdat_writer *w, const char *name, uint64_t trace_id,
		   unsigned int nvcpus, const int *vcpu_pids);
/*
 * Any other option, written as given (@data in the file's byte order): e.g.
 * TRACEID (11) and TIME_SHIFT (12) of trace-cmd's host-guest recordings.
 * Not the options the writer itself writes (BUFFER, CPUCOUNT, sections).
 */
int tdat_add_option(struct tdat_writer *w, uint16_t id, const void *data, size_t len);

/*
 * Put the per-CPU data in anonymous files in @dir instead of the work
 * directory (they cannot be recovered then). Only before the first
 * tdat_write_page(); for tests.
 */
int tdat_set_tmpdir(struct tdat_writer *w, const char *dir);

/*
 * Write the head to the output and reserve the tail's room; fails with
 * EINVAL without tdat_set_headers(), ENOSPC if it does not fit. From then on
 * a kill leaves a recoverable trace.
 */
int tdat_begin(struct tdat_writer *w);

/* Make what was written so far durable (fdatasync); for power losses. */
int tdat_sync(struct tdat_writer *w);
/* Also sync at tdat_begin() and before tdat_close() removes the work directory. */
int tdat_set_durable(struct tdat_writer *w, bool durable);

/*
 * Append one raw ring-buffer page (opts.page_size bytes) to @cpu's data.
 * Calls tdat_begin() first if needed. On failure (e.g. ENOSPC) the page is
 * not kept; the pages before it are.
 */
int tdat_write_page(struct tdat_writer *w, unsigned int cpu, const void *page);

/* Bytes of page data written so far for @cpu. */
uint64_t tdat_cpu_bytes(struct tdat_writer *w, unsigned int cpu);

/*
 * Write everything out, remove the work directory and free @w. Returns 0,
 * or -1 with errno set; the output is then removed, except after ENOSPC
 * while the trace data was copied: the file is kept as a valid trace with
 * each CPU's data up to the last whole page (compressed: chunk) that
 * fitted. So after ENOSPC, the output exists if and only if it is readable.
 */
int tdat_close(struct tdat_writer *w);
/* Free @w and remove the output and the work directory without finishing. */
void tdat_abort(struct tdat_writer *w);

enum tdat_leftover {
	TDAT_LEFT_NONE,		/* no OUTPUT.vmwait-tmp */
	TDAT_LEFT_INTERRUPTED,	/* one that no writer holds: recover or remove it */
	TDAT_LEFT_BUSY,		/* a live writer (or recovery) holds it */
};
enum tdat_leftover tdat_leftover(const char *path);

/* What tdat_recover() found. */
struct tdat_recovery {
	unsigned int ncpus;
	uint64_t *pages;	/* per CPU: pages recovered (NULL if resumed) */
	uint64_t *dropped;	/* per CPU: bytes dropped as incomplete */
	bool resumed;		/* the kill came while the output was assembled */
	bool complete;		/* the output was complete already */
};

/*
 * Finish the output of a writer that was killed: its head, the logged
 * metadata, and every whole page (chunk) of each CPU's data; a page or
 * chunk cut by the kill is dropped (and counted). Removes the work
 * directory. Returns 0, or -1 with errno: ENOENT (no work directory),
 * EBUSY (a live writer holds it), ENODATA (killed before tdat_begin():
 * nothing to recover; the leftovers are removed), EPROTO (the work
 * directory or the output's head is damaged), ENOSPC (as tdat_close()),
 * or another error of the files. Free @info with tdat_recovery_free().
 */
int tdat_recover(const char *path, struct tdat_recovery *info);
void tdat_recovery_free(struct tdat_recovery *info);

/*
 * Teach libtracecmd to read zlib-compressed v7 files (Debian's build lacks
 * zlib). Idempotent; returns 0 when zlib is readable afterwards.
 */
int tdat_register_zlib(void);

/* Parse "none", "zstd", "zlib"; returns -1 if unknown. */
int tdat_parse_compress(const char *s, enum tdat_compress *c);

#endif
