/* Internals of the trace.dat reader shared by its files (tin_*.c). */
#ifndef VMWAIT_TIN_INT_H
#define VMWAIT_TIN_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <kbuffer.h>

#include "tin.h"

struct tep_plugin_list;

/* A piece of metadata, NUL-terminated for text parsers. */
struct blob {
	uint8_t *buf;
	size_t len;
	uint64_t off;		/* where it starts in the file (for messages) */
};

struct fmt_blob {
	char *system;		/* "ftrace" for the ftrace formats */
	struct blob b;
	bool rejected;		/* libtraceevent refused it (in the guard's child) */
};

/* TIME_SHIFT samples of one CPU (guest files), sorted by time. */
struct tshift_cpu {
	int n;
	struct tshift_sample {
		int64_t time, offset, scaling, fraction;
	} *s;
};

/* Reading one CPU's data of the selected buffer. */
struct tin_stream {
	int cpu;
	uint64_t off, size;	/* the CPU's data in the file */
	uint64_t pos;		/* next byte of the data to read (relative) */
	uint8_t *buf;		/* pages read or decompressed */
	size_t cap;
	size_t len;		/* valid bytes in buf */
	size_t page;		/* offset in buf of the current page */
	uint64_t buf_off;	/* file offset of buf (uncompressed), for messages */
	uint32_t chunks_left;	/* compressed: chunks not read yet */
	bool compressed;
	bool live;		/* pages are pushed (tin_push), not read */
	bool loaded;		/* a page is loaded in kb */
	bool longs;		/* the page has a record with a length word (type 0) */
	bool done;
	struct {		/* live: pushed pages not read yet (a ring) */
		uint8_t *pages;
		size_t head, n, cap;
	} q;
	int64_t pending_missed;	/* loss to report on the next event */
	struct kbuffer *kb;
	uint8_t *fix;		/* a corrupt page's valid prefix, rewritten */
	const uint8_t *rp_page;	/* replay: the next raw page, not handed out yet */
	/*
	 * The current event. tin_next() returns the top stream's next event
	 * without storing it here when the stream stays on top: these are
	 * current for every stream in the heap but the one tin_next() returned.
	 */
	uint64_t ts;
	const void *data;
	uint32_t dsize;
	int64_t missed;
};

struct tin {
	char *path;
	int fd;
	struct tin_opts opts;
	struct tin_meta m;
	char err[512];

	struct blob header_page, header_event, kallsyms, printk, cmdlines;
	uint8_t *ra;		/* tin_file.c's metadata read-ahead window */
	uint64_t ra_off;
	size_t ra_len;
	struct fmt_blob *fmts;
	int nfmts;
	uint64_t sec_off[32];	/* v7: metadata section offsets by option id */
	bool v6_clock;		/* v6: a trace_clock text follows the CPU table */

	int64_t tshift_flags;
	int tshift_ncpus;
	struct tshift_cpu *tshift;

	struct tep_handle *tep;
	struct tep_plugin_list *plugins;
	bool tep_shared;	/* @tep is tin_tep.c's kept handle, not ours */
	int kb_lsize, kb_endian;	/* kbuffer_alloc() arguments */

	struct tin_stream *st;
	int nst;
	struct tin_hent {
		uint64_t ts;
		uint32_t cpu, idx;
	} *heap;		/* streams with an event, a min-heap on (ts, cpu) */
	int nheap;
	bool started;
	bool live;		/* tin_new_live(): pages pushed, merged up to a limit */
	bool ts_plain;		/* no timestamp option: raw timestamps are the times */
	bool returned;		/* live: the heap's top was returned, advance it next */
	int *starved;		/* live: streams with no event queued (by index) */
	int nstarved;
	uint64_t done_bytes, total_bytes;

	uint64_t corrupt;
	char corrupt_first[200];
};

/* tin_file.c: the file layout, validated */
int tin_fail(struct tin *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int tin_read_layout(struct tin *t);
int tin_pread(struct tin *t, void *buf, size_t len, uint64_t off, const char *what);
uint16_t tin_u16(const struct tin *t, const void *p);
uint32_t tin_u32(const struct tin *t, const void *p);
uint64_t tin_u64(const struct tin *t, const void *p);
int tin_uncompress(struct tin *t, uint8_t *dst, size_t dlen, const uint8_t *src, size_t slen);

/* tin_opts.c: options */
int tin_parse_option(struct tin *t, uint16_t id, const uint8_t *d, uint32_t size, uint64_t off);

/* tin_tep.c: libtraceevent's handle from the metadata */
int tin_build_tep(struct tin *t);
void tin_put_tep(struct tin *t);

/* tin.c: the streams of a buffer and their merge (a min-heap by time, then CPU) */
int tin_streams_init(struct tin *t, int bi);
void tin_sift_down(struct tin *t, int i);
void tin_heap_add(struct tin *t, int idx);

/* tin_cpu.c: per-CPU streams */
int tin_stream_push(struct tin *t, struct tin_stream *s, const void *page, uint32_t psz);
int tin_stream_raw_page(struct tin *t, struct tin_stream *s, const uint8_t **page);
uint64_t tin_stream_last_ts(struct tin *t, struct tin_stream *s);
int tin_stream_init(struct tin *t, struct tin_stream *s, const struct tin_cpu_sec *sec,
		    bool compressed);
void tin_stream_free(struct tin_stream *s);
int tin_stream_next(struct tin *t, struct tin_stream *s);
int tin_stream_next_page(struct tin *t, struct tin_stream *s);
uint64_t tin_ts_calc(const struct tin *t, uint64_t ts, int cpu);
void tin_note_corrupt(struct tin *t, struct tin_stream *s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The record of stream @s's current event. */
static inline void tin_rec_of(const struct tin_stream *s, struct tin_rec *r)
{
	r->ts = s->ts;
	r->data = s->data;
	r->size = s->dsize;
	r->cpu = s->cpu;
	r->missed = s->missed;
}

/*
 * The payload size of event @d, just returned by kbuffer from @s's page.
 * page_check() walked that page's headers as kbuffer does: without a type-0
 * record (its length in a second word) every record's header is the word
 * before its payload, and its type is the length in words, in the word's
 * first byte (the low 5 bits little-endian, the high 5 big-endian). What
 * kbuffer_event_size() would return, without the call.
 */
static inline uint32_t tin_ev_size(const struct tin *t, const struct tin_stream *s,
				   const void *d)
{
	uint8_t b;

	if (__builtin_expect(s->longs, 0))
		return (uint32_t)kbuffer_event_size(s->kb);
	b = ((const uint8_t *)d)[-4];
	return (t->m.big_endian ? b >> 3 : b & 31) * 4u;
}

#endif
