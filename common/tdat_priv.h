/*
 * Internals of the trace.dat writer, shared by its files:
 * tdat_write.c (creation, the head, pages), tdat_meta.c (metadata setters),
 * tdat_layout.c (the bytes of the head and the tail), tdat_store.c (the work
 * directory, its log and the per-CPU files), tdat_assemble.c (the final
 * file) and tdat_recover.c (finishing a killed writer).
 */
#ifndef VMWAIT_TDAT_PRIV_H
#define VMWAIT_TDAT_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zstd.h>

#include "tdat.h"

/* trace-cmd compresses the flyrecord data in chunks of 10 pages. */
#define PAGES_PER_CHUNK		10
/* Bytes moved per step of the final copy (whole pages or chunks). */
#define COPY_BLOCK		(256u << 10)
#define MAX_CPUS		65536u
#define MIN_PAGE_SIZE		256u
#define MAX_PAGE_SIZE		(8u << 20)	/* the kernel's largest: 128 pages of 64 KiB */
/* Granularity of the file systems' blocks, for freeing copied data. */
#define FS_BLOCK		4096u

/* Section descriptions, stored once in the strings section. */
enum { DS_STRINGS, DS_HEADERS, DS_FTRACE, DS_EVENTS, DS_KALLSYMS, DS_PRINTK,
       DS_CMDLINES, DS_OPTIONS, DS_FLYRECORD, DS_NR };

/* Records of the work directory's log ("meta"), see tdat_store.c. */
enum {
	LOG_UNAME = 1,		/* data: the uname text */
	LOG_CLOCK,		/* data: tdat_set_clock()'s argument */
	LOG_CMDLINES,		/* data: saved_cmdlines text */
	LOG_CPUSTAT,		/* arg: cpu; data: stats text */
	LOG_GUEST,		/* data: an encoded GUEST option */
	LOG_HEAD,		/* data: struct tdat_head; the head is in the output */
	LOG_ASSEMBLE,		/* data: struct tdat_asm, per-CPU layout, tail bytes */
	LOG_COPIED,		/* arg: cpu; data: u64 bytes copied, u32 chunks copied */
	LOG_DONE,		/* the output is complete */
	LOG_RAWOPT,		/* arg: option id; data: tdat_add_option()'s payload */
};

/* A growable byte buffer whose allocation failure is sticky. */
struct tbuf {
	char *p;
	size_t len;
	size_t cap;
	bool nomem;
};

struct blob {
	char *p;
	size_t len;
};

struct event_fmt {
	char *system;
	struct blob fmt;
};

/*
 * What is needed of the head (the part of the file written when the
 * recording starts) to finish the file: its length, and for v7 where the
 * options offset is and where each of its sections starts.
 */
struct tdat_head {
	uint64_t len;
	uint64_t opt_ptr;		/* v7: offset of the options-offset field */
	uint64_t offs[5];		/* v7: headers, ftrace, events, kallsyms, printk */
	uint32_t desc[DS_NR];		/* v7: string ids of the descriptions */
};

/* Where the tail goes and what is patched once the data is in place. */
struct tdat_asm {
	uint64_t tail_len;		/* the tail starts at head.len */
	uint64_t opt_val;		/* v7: offset of the options section */
	uint64_t cpu_table;		/* file offset of the CPU table */
	uint64_t flyrec_size;		/* v7: file offset of the flyrecord size */
	uint64_t data_start;		/* first byte after the tail */
};

/* One CPU's entry of the layout logged with LOG_ASSEMBLE. */
struct tdat_cpu_layout {
	uint64_t out_off;
	uint64_t fsize;
	uint32_t nchunks;
	uint32_t pad;
};

struct tdat_cpu {
	int fd;			/* cpuN: pages, or chunks when compressed; -1 until used */
	int pend_fd;		/* cpuN.pend: pages not yet in a chunk, or -1 */
	uint64_t bytes;		/* raw bytes of the pages accepted */
	uint64_t fsize;		/* bytes in fd */
	uint32_t nchunks;	/* chunks in fd */
	char *pend;		/* the pages of cpuN.pend */
	unsigned int npend;
	unsigned int pend_cap;	/* pages pend can hold */
	char *stats;		/* CPUSTAT text, or NULL */
	/* the final copy */
	uint64_t out_off;	/* where its data starts in the output */
	uint64_t out_size;	/* bytes of it in the output */
	uint64_t copied;	/* bytes of fd copied to the output */
	uint32_t chunks_copied;
	uint64_t punched;	/* fd's blocks before this are freed */
	uint64_t dropped;	/* recovery: bytes dropped as incomplete */
};

struct tdat_writer {
	struct tdat_opts opts;
	bool durable;		/* tdat_set_durable() */
	char *path;
	int fd;			/* the output */
	char *wdir;		/* the work directory, path + TDAT_WORKDIR_SUFFIX */
	int wfd;		/* its fd, or -1 */
	int mfd;		/* its log, locked while the writer lives, or -1 */
	uint64_t log_end;
	uint64_t log_reserved;	/* bytes preallocated in the log */
	bool log_broken;	/* a record is missing: log no more */
	char *tmpdir;		/* tdat_set_tmpdir(): anonymous per-CPU files there */
	uint64_t reserved;	/* bytes preallocated in the output */
	struct tdat_cpu *cpu;
	/* the head: freed once written */
	struct blob header_page, header_event;
	struct blob kallsyms, printk;
	struct blob *ftrace;
	unsigned int nr_ftrace;
	struct event_fmt *events;
	unsigned int nr_events;
	bool head_written;
	struct tdat_head head;
	/* the tail */
	struct blob cmdlines;
	char *uname;
	char *clock_text;	/* TRACECLOCK option text */
	char *clock;		/* the selected clock's name */
	struct blob *guests;	/* encoded GUEST options */
	unsigned int nr_guests;
	struct blob *raw;	/* tdat_add_option()'s options */
	uint16_t *raw_id;
	unsigned int nr_raw;
	/* compression of chunks */
	ZSTD_CCtx *zctx;
	char *zbuf;
	size_t zcap;
	/* recovery */
	bool recovering;
	bool assembling;	/* LOG_ASSEMBLE was logged: resume the copy */
	bool done;		/* LOG_DONE was logged */
	struct tdat_asm as;
	struct blob tail;	/* the tail's bytes when assembling */
};

/* tdat_layout.c */
void tb_add(struct tbuf *tb, const void *data, size_t len);
void tb_free(struct tbuf *tb);
uint64_t align_up(uint64_t v, uint64_t a);
size_t comp_bound(const struct tdat_writer *w, size_t len);
long compress_block(struct tdat_writer *w, const void *in, size_t len, void *out, size_t cap);
int decompress_block(enum tdat_compress c, const void *in, size_t len, void *out, size_t raw);
int build_head(struct tdat_writer *w, struct tbuf *tb);
int build_tail(struct tdat_writer *w, struct tbuf *tb, struct tdat_asm *as);
uint64_t tail_estimate(const struct tdat_writer *w);
bool tdat_head_valid(const struct tdat_writer *w, const char *p, size_t len);

/* tdat_meta.c */
int blob_set(struct blob *b, const void *data, size_t len);
int str_set(char **dst, const char *s);
int apply_clock(struct tdat_writer *w, const char *clock);
int reserve_tail(struct tdat_writer *w, uint64_t extra);
int apply_record(struct tdat_writer *w, uint32_t type, uint32_t arg, const char *data,
		 size_t len);

/* tdat_store.c */
size_t pwrite_all(int fd, const void *buf, size_t len, uint64_t off);
int pread_all(int fd, void *buf, size_t len, uint64_t off);
void release_blocks(int fd, uint64_t off, uint64_t len);
bool is_enospc(int err);
char *workdir_of(const char *path);
int store_create(struct tdat_writer *w);
int store_log_create(struct tdat_writer *w);
int store_open(struct tdat_writer *w);
int log_put(struct tdat_writer *w, uint32_t type, uint32_t arg, const void *data, size_t len);
int log_replay(struct tdat_writer *w);
int store_cpu_file(struct tdat_writer *w, unsigned int cpu, bool pend);
int store_sync(struct tdat_writer *w);
void store_remove(struct tdat_writer *w);

/* tdat_write.c */
struct tdat_writer *writer_reopen(const char *path);
int writer_begin(struct tdat_writer *w);
int flush_pend(struct tdat_writer *w, struct tdat_cpu *c);
void writer_free(struct tdat_writer *w);

/* tdat_assemble.c */
bool compressed(const struct tdat_writer *w);
int apply_progress(struct tdat_writer *w, uint32_t type, uint32_t arg, const char *data,
		   size_t len);
int assemble(struct tdat_writer *w, bool *full);
int writer_finish(struct tdat_writer *w, int ret, bool full, bool keep);
int writer_giveup(struct tdat_writer *w);

#endif
