/*
 * Writer of trace-cmd "trace.dat" files, versions 6 and 7.
 *
 * Debian's libtracecmd 3.1.6 publishes no API to write trace.dat, and the
 * synthetic generator must write event formats of kernels other than the
 * running one, so vmwait carries this small writer. It takes raw ring-buffer
 * pages per CPU and does not care where they come from (the kernel's
 * trace_pipe_raw, or pages encoded by tests/synth).
 *
 * Usage: tdat_create(); set the metadata (any order); tdat_write_page() for
 * every page of every CPU, in any interleaving; tdat_close(). Pages of one
 * CPU are kept in the order given. Metadata setters copy their input.
 * A writer is used by one thread at a time.
 */
#ifndef VMWAIT_TDAT_H
#define VMWAIT_TDAT_H

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

struct tdat_writer;

/* Returns NULL with errno set (EINVAL for bad options). */
struct tdat_writer *tdat_create(const char *path, const struct tdat_opts *opts);

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
 * Where the per-CPU temporary files go (default: the output's directory,
 * else $TMPDIR). Only before the first tdat_write_page().
 */
int tdat_set_tmpdir(struct tdat_writer *w, const char *dir);

/*
 * Append one raw ring-buffer page (opts.page_size bytes) to @cpu's data.
 * On failure (e.g. ENOSPC) the page is not kept; the pages before it are.
 */
int tdat_write_page(struct tdat_writer *w, unsigned int cpu, const void *page);

/* Bytes of page data written so far for @cpu. */
uint64_t tdat_cpu_bytes(struct tdat_writer *w, unsigned int cpu);

/*
 * Write everything out and free @w. Returns 0, or -1 with errno set; the
 * output is then removed, except after ENOSPC while the trace data was
 * copied: the file is kept as a valid trace with each CPU's data up to the
 * last whole page (compressed: chunk of 10 pages) that fitted. So after
 * ENOSPC, the output exists if and only if it is readable.
 */
int tdat_close(struct tdat_writer *w);
/* Free @w and remove the output without finishing it. */
void tdat_abort(struct tdat_writer *w);

/*
 * Teach libtracecmd to read zlib-compressed v7 files (Debian's build lacks
 * zlib). Idempotent; returns 0 when zlib is readable afterwards.
 */
int tdat_register_zlib(void);

/* Parse "none", "zstd", "zlib"; returns -1 if unknown. */
int tdat_parse_compress(const char *s, enum tdat_compress *c);

#endif
