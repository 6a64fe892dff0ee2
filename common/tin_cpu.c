/*
 * One CPU's events: its data read (or its v7 chunks decompressed) a few
 * pages at a time, every page checked before libtraceevent's kbuffer parses
 * it, timestamps corrected as libtracecmd corrects them.
 *
 * kbuffer trusts the page it is given: a commit size beyond the page, or an
 * event length that does not advance, makes it read out of bounds or loop
 * forever (kbuffer_next_event on a 200 KB file hangs trace-cmd report).
 * page_check() walks the event headers the way kbuffer will and keeps only
 * the prefix that is consistent; the rest of the page is skipped and
 * reported as a loss.
 */
#include <endian.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kbuffer.h>

#include "tin_int.h"
#include "util.h"

#define MISSING_EVENTS	(1ULL << 31)
#define MISSING_STORED	(1ULL << 30)
#define COMMIT_MASK	((1ULL << 27) - 1)
#define BATCH_PAGES	16
#define MAX_CHUNK	(64u << 20)
#define MAX_RATIO	4096

void tin_note_corrupt(struct tin *t, struct tin_stream *s, const char *fmt, ...)
{
	va_list ap;

	t->corrupt++;
	s->pending_missed = -1;
	if (t->corrupt_first[0])
		return;
	va_start(ap, fmt);
	vsnprintf(t->corrupt_first, sizeof(t->corrupt_first), fmt, ap);
	va_end(ap);
}

static uint64_t mul_shr(uint64_t a, uint64_t mul, unsigned int shift)
{
	unsigned __int128 r = (unsigned __int128)a * mul;

	return (uint64_t)(r >> shift);
}

/* TIME_SHIFT correction between samples @a and @b (libtracecmd's formula). */
static uint64_t tshift_apply(const struct tin *t, uint64_t ts, const struct tshift_sample *a,
			     const struct tshift_sample *b)
{
	long long cor;

	if ((t->tshift_flags & 1) && b->time != a->time) {
		long long delta = b->time - a->time;
		long long off = ((long long)ts - a->time) * (b->offset - a->offset);

		cor = a->offset + (off + delta / 2) / delta;
	} else {
		cor = a->offset;
	}
	ts = (ts * (uint64_t)a->scaling) >> (a->fraction & 63);
	return cor < 0 ? ts - (uint64_t)llabs(cor) : ts + (uint64_t)cor;
}

static uint64_t tshift_calc(const struct tin *t, uint64_t ts, int cpu)
{
	const struct tshift_cpu *c;
	int lo, hi, mid;

	if (cpu >= t->tshift_ncpus || !t->tshift[cpu].n)
		return ts;
	c = &t->tshift[cpu];
	if (c->n == 1)
		return ts + (uint64_t)c->s[0].offset;
	if (c->n == 2 || ts <= (uint64_t)c->s[0].time)
		return tshift_apply(t, ts, &c->s[0], &c->s[1]);
	if (ts >= (uint64_t)c->s[c->n - 1].time)
		return tshift_apply(t, ts, &c->s[c->n - 2], &c->s[c->n - 1]);
	lo = 0;
	hi = c->n - 1;
	mid = (lo + hi) / 2;
	while (lo <= hi) {
		if ((long long)ts < c->s[mid].time)
			hi = mid - 1;
		else if ((long long)ts > c->s[mid].time)
			lo = mid + 1;
		else
			break;
		mid = (lo + hi) / 2;
	}
	return tshift_apply(t, ts, &c->s[mid], &c->s[mid + 1]);
}

/* A raw ring-buffer timestamp in the file's time, as libtracecmd computes it. */
uint64_t tin_ts_calc(const struct tin *t, uint64_t ts, int cpu)
{
	if (t->tshift)
		ts = tshift_calc(t, ts, cpu);
	if (t->m.tsc_mult)
		ts = mul_shr(ts, t->m.tsc_mult, t->m.tsc_shift);
	return ts + (uint64_t)t->m.ts_offset;
}

int tin_stream_init(struct tin *t, struct tin_stream *s, const struct tin_cpu_sec *sec,
		    bool compressed)
{
	uint8_t b[4];

	memset(s, 0, sizeof(*s));
	s->cpu = (int)sec->cpu;
	s->off = sec->off;
	s->size = sec->size;
	s->compressed = compressed;
	s->kb = kbuffer_alloc(t->kb_lsize, t->kb_endian);
	if (!s->kb)
		return tin_fail(t, "out of memory");
	s->done = !s->size;
	if (!compressed || s->done)
		return 0;
	if (s->size < 4 || tin_pread(t, b, 4, s->off, "chunk count")) {
		tin_fail(t, "corrupt: CPU %d data at offset %llu has no chunk count", s->cpu,
			 (unsigned long long)s->off);
		tin_stream_free(s);
		return -1;
	}
	s->chunks_left = tin_u32(t, b);
	s->pos = 4;
	/*
	 * trace-cmd records the size of the chunks without their count: the
	 * chunks are bounded by the file, not by the recorded size.
	 */
	s->size = t->m.file_size - s->off;
	if ((uint64_t)s->chunks_left > (s->size - 4) / 8) {
		tin_fail(t, "corrupt: CPU %d data at offset %llu claims %u chunks in %llu bytes",
			 s->cpu, (unsigned long long)s->off, s->chunks_left,
			 (unsigned long long)s->size);
		tin_stream_free(s);
		return -1;
	}
	return 0;
}

void tin_stream_free(struct tin_stream *s)
{
	if (s->kb)
		kbuffer_free(s->kb);
	free(s->buf);
	free(s->fix);
	free(s->q.pages);
	memset(s, 0, sizeof(*s));
}

static void reserve(struct tin_stream *s, size_t n)
{
	if (s->cap >= n)
		return;
	free(s->buf);
	s->buf = xmalloc(n);
	s->cap = n;
}

/* The next pages of uncompressed data: 1, 0 at the end, -1 on I/O error. */
static int fill_plain(struct tin *t, struct tin_stream *s, uint32_t psz)
{
	uint64_t left = s->size - s->pos;
	size_t n = (size_t)MIN(left, (uint64_t)BATCH_PAGES * psz);

	n -= n % psz;
	if (!n) {
		if (left)
			tin_note_corrupt(t, s, "CPU %d: its data ends with a partial page of %llu "
					 "bytes at offset %llu", s->cpu, (unsigned long long)left,
					 (unsigned long long)(s->off + s->pos));
		s->done = true;
		return 0;
	}
	reserve(s, n);
	s->buf_off = s->off + s->pos;
	if (tin_pread(t, s->buf, n, s->buf_off, "CPU data"))
		return -1;
	s->pos += n;
	s->len = n;
	t->done_bytes += n;
	return 1;
}

/* The next chunk of compressed data, decompressed: 1, 0 at the end, -1. */
static int fill_chunk(struct tin *t, struct tin_stream *s, uint32_t psz)
{
	for (;;) {
		uint64_t at = s->off + s->pos;
		uint32_t csize, usize;
		uint8_t h[8], *src;
		int bad;

		if (!s->chunks_left || s->size - s->pos < 8) {
			s->done = true;
			return 0;
		}
		if (tin_pread(t, h, 8, at, "chunk header"))
			return -1;
		csize = tin_u32(t, h);
		usize = tin_u32(t, h + 4);
		s->chunks_left--;
		if (csize > s->size - s->pos - 8 || !usize || usize % psz || usize > MAX_CHUNK ||
		    (uint64_t)usize > (uint64_t)csize * MAX_RATIO + psz) {
			/* chunk boundaries are lost: nothing after this can be read */
			tin_note_corrupt(t, s, "CPU %d: corrupt chunk header at offset %llu "
					 "(%u bytes from %u); the rest of the CPU's data is skipped",
					 s->cpu, (unsigned long long)at, usize, csize);
			s->done = true;
			return 0;
		}
		s->pos += 8 + (uint64_t)csize;
		t->done_bytes += 8 + (uint64_t)csize;
		src = xmalloc(csize ? csize : 1);
		reserve(s, usize);
		bad = tin_pread(t, src, csize, at + 8, "chunk");
		if (!bad && tin_uncompress(t, s->buf, usize, src, csize)) {
			tin_note_corrupt(t, s, "CPU %d: the chunk at offset %llu does not "
					 "decompress; its events are skipped", s->cpu,
					 (unsigned long long)at);
			bad = 1;
			t->err[0] = '\0';
		}
		free(src);
		if (bad && t->err[0])
			return -1;
		if (bad)
			continue;
		s->buf_off = at;
		s->len = usize;
		return 1;
	}
}

static uint64_t read_long(const struct tin *t, const uint8_t *p)
{
	return t->kb_lsize == KBUFFER_LSIZE_8 ? tin_u64(t, p) : tin_u32(t, p);
}

/* A 32-bit word of a file of byte order @be. */
static inline uint32_t rd32(const uint8_t *p, bool be)
{
	uint32_t x;

	memcpy(&x, p, 4);
	return be ? be32toh(x) : le32toh(x);
}

/*
 * The consistent prefix of the @commit data bytes at @d, walked as kbuffer
 * will; *@longs is set on a type-0 record (its length in a second word).
 * Inline for each byte order (@be a constant): it runs once per record.
 */
static inline __attribute__((always_inline)) uint32_t
walk(const uint8_t *d, uint32_t commit, bool be, bool *longs)
{
	uint32_t pos = 0;

	while (commit - pos >= 4) {
		uint32_t x = rd32(d + pos, be), type = be ? x >> 27 : x & 31, len;

		if (__builtin_expect(type - 1 < 28, 1)) {
			len = 4 + type * 4;	/* data, its length in words in its type */
		} else if (type == KBUFFER_TYPE_PADDING) {
			if (commit - pos < 8 || rd32(d + pos + 4, be) > 0x7fffffffu)
				break;
			len = 4 + rd32(d + pos + 4, be);
		} else if (type >= KBUFFER_TYPE_TIME_EXTEND) {
			len = 8;
		} else {
			uint32_t l;

			*longs = true;
			if (commit - pos < 8)
				break;
			l = rd32(d + pos + 4, be);
			if (l < 4 || l > commit)
				break;
			len = 8 + ((l - 4 + 3) & ~3u);
		}
		if (len > commit - pos) {
			if (type == KBUFFER_TYPE_PADDING)
				return commit;	/* padding may run to the page end */
			break;
		}
		pos += len;
	}
	return pos >= commit ? commit : pos;
}

/*
 * Walk the event headers of @page as kbuffer will. Returns the number of
 * data bytes that are consistent (== the commit size for a good page);
 * *@missed gets the page's loss (0, count, -1), *@longs whether a record
 * has a length word.
 */
static uint32_t page_check(const struct tin *t, const uint8_t *page, uint32_t psz,
			   int64_t *missed, uint32_t *commit_out, bool *longs)
{
	uint32_t hdr = t->kb_lsize == KBUFFER_LSIZE_8 ? 16 : 12;
	uint32_t lsz = hdr - 8, max = psz - hdr;
	const uint8_t *d = page + hdr;
	uint64_t flags = read_long(t, page + 8);
	uint32_t commit = (uint32_t)(flags & COMMIT_MASK);

	*missed = 0;
	*longs = false;
	if (flags & MISSING_EVENTS)
		*missed = -1;
	*commit_out = commit;
	if (commit > max)
		return 0;
	if ((flags & MISSING_EVENTS) && (flags & MISSING_STORED) && commit + lsz <= max)
		*missed = (int64_t)read_long(t, d + commit);
	return t->m.big_endian ? walk(d, commit, true, longs) : walk(d, commit, false, longs);
}

/* Store @v as a long of the file at @p. */
static void put_long(const struct tin *t, uint8_t *p, uint64_t v)
{
	if (t->kb_lsize == KBUFFER_LSIZE_8) {
		uint64_t x = t->m.big_endian ? htobe64(v) : htole64(v);

		memcpy(p, &x, 8);
	} else {
		uint32_t x = t->m.big_endian ? htobe32((uint32_t)v) : htole32((uint32_t)v);

		memcpy(p, &x, 4);
	}
}

/* The page at s->page, checked; a corrupt one is replaced by its valid prefix. */
static void load_page(struct tin *t, struct tin_stream *s, uint32_t psz)
{
	uint8_t *page = s->buf + s->page;
	uint32_t commit, good;
	int64_t missed;

	good = page_check(t, page, psz, &missed, &commit, &s->longs);
	/* a count that would overflow is no count (a corrupt page): lost, unknown */
	if (missed)
		s->pending_missed = missed < 0 || s->pending_missed < 0 ||
				    missed > INT64_MAX - s->pending_missed ? -1 :
				    s->pending_missed + missed;
	if (good != commit) {
		tin_note_corrupt(t, s, "CPU %d: corrupt ring-buffer page at offset %llu "
				 "(%u of %u bytes readable); its remaining events are skipped",
				 s->cpu, (unsigned long long)(s->buf_off + s->page), good,
				 commit);
		if (!s->fix)
			s->fix = xmalloc(psz);
		memcpy(s->fix, page, psz);
		put_long(t, s->fix + 8, good);	/* the valid prefix, no loss flags */
		page = s->fix;
	}
	kbuffer_load_subbuffer(s->kb, page);
	s->loaded = true;
}

/* Live: queue a copy of @page (the pages being read are never moved). */
int tin_stream_push(struct tin *t, struct tin_stream *s, const void *page, uint32_t psz)
{
	(void)t;
	if (s->q.n == s->q.cap) {
		size_t ncap = s->q.cap ? s->q.cap * 2 : 16;
		uint8_t *n = xmalloc(ncap * psz);

		for (size_t i = 0; i < s->q.n; i++)
			memcpy(n + i * psz, s->q.pages + ((s->q.head + i) % s->q.cap) * psz, psz);
		free(s->q.pages);
		s->q.pages = n;
		s->q.cap = ncap;
		s->q.head = 0;
	}
	memcpy(s->q.pages + ((s->q.head + s->q.n) % s->q.cap) * psz, page, psz);
	s->q.n++;
	t->total_bytes += psz;
	return 0;
}

/* Live: the oldest queued page into the stream's buffer: 1, or 0 if none is queued. */
static int fill_live(struct tin *t, struct tin_stream *s, uint32_t psz)
{
	if (!s->q.n)
		return 0;
	reserve(s, psz);
	memcpy(s->buf, s->q.pages + s->q.head * psz, psz);
	s->q.head = (s->q.head + 1) % s->q.cap;
	s->q.n--;
	s->len = psz;
	s->buf_off = 0;
	t->done_bytes += psz;
	return 1;
}

/* Load the next page: 1, 0 at the end of the CPU's data, -1 on I/O error. */
static int next_page(struct tin *t, struct tin_stream *s, uint32_t psz)
{
	if (s->loaded)
		s->page += psz;
	s->loaded = false;
	if (s->live) {
		if (s->page < s->len) {
			load_page(t, s, psz);
			return 1;
		}
		if (fill_live(t, s, psz) <= 0)
			return 0;
		s->page = 0;
		load_page(t, s, psz);
		return 1;
	}
	if (s->page >= s->len) {
		int r;

		if (s->done)
			return 0;
		r = s->compressed ? fill_chunk(t, s, psz) : fill_plain(t, s, psz);
		if (r <= 0)
			return r;
		s->page = 0;
	}
	load_page(t, s, psz);
	return 1;
}

/* The timestamp of the last event in the @len bytes of pages at @buf, or 0. */
static uint64_t last_ts_in(struct tin *t, struct tin_stream *s, size_t len, uint32_t psz)
{
	for (size_t p = len / psz; p-- > 0;) {
		unsigned long long ts, last = 0;
		bool any = false;

		s->page = p * psz;
		load_page(t, s, psz);
		for (void *d = kbuffer_read_event(s->kb, &ts); d; d = kbuffer_next_event(s->kb, &ts)) {
			last = ts;
			any = true;
		}
		s->loaded = false;
		if (any)
			return tin_ts_calc(t, last, s->cpu);
	}
	return 0;
}

/*
 * The last event's timestamp of a CPU's data (0 when there is none), without
 * reading it all: its last pages, or its last chunk. @s is left unusable.
 */
uint64_t tin_stream_last_ts(struct tin *t, struct tin_stream *s)
{
	uint32_t psz = t->m.buffers[t->m.selected].page_size;
	uint64_t ts = 0, at = 0;

	if (s->live || !s->size)
		return 0;
	if (!s->compressed) {
		/* back from the end, a batch of whole pages at a time */
		for (uint64_t end = s->size - s->size % psz; end && !ts;) {
			size_t n = (size_t)MIN(end, (uint64_t)BATCH_PAGES * psz);

			reserve(s, n);
			s->buf_off = s->off + end - n;
			if (tin_pread(t, s->buf, n, s->buf_off, "CPU data"))
				return 0;
			ts = last_ts_in(t, s, n, psz);
			end -= n;
		}
		return ts;
	}
	/* the chunk headers lead to the last chunks: the last one with events counts */
	{
		uint64_t ring[8], pos = s->pos;
		uint32_t left = s->chunks_left;
		int n = 0;

		while (left && s->size - pos >= 8) {
			uint8_t h[8];
			uint32_t csize;

			if (tin_pread(t, h, 8, s->off + pos, "chunk header"))
				return 0;
			csize = tin_u32(t, h);
			if (csize > s->size - pos - 8)
				break;
			ring[n++ % 8] = pos;
			pos += 8 + (uint64_t)csize;
			left--;
		}
		for (int k = 0; k < MIN(n, 8) && !ts; k++) {
			s->pos = ring[(n - 1 - k) % 8];
			s->chunks_left = 1;
			s->done = false;
			if (fill_chunk(t, s, psz) > 0)
				ts = last_ts_in(t, s, s->len, psz);
		}
		(void)at;
	}
	return ts;
}

/* Replay: the next raw page of the CPU's data, unparsed: 1, 0 at the end, -1. */
int tin_stream_raw_page(struct tin *t, struct tin_stream *s, const uint8_t **page)
{
	uint32_t psz = t->m.buffers[t->m.selected].page_size;

	if (s->loaded)
		s->page += psz;
	s->loaded = true;	/* the page handed out counts as consumed next time */
	if (s->page >= s->len) {
		int r;

		s->loaded = false;
		if (s->done)
			return 0;
		r = s->compressed ? fill_chunk(t, s, psz) : fill_plain(t, s, psz);
		if (r <= 0)
			return r;
		s->page = 0;
		s->loaded = true;
	}
	*page = s->buf + s->page;
	return 1;
}

/* The stream's current event: @d, or the first of the next page with one. */
static inline int stream_read(struct tin *t, struct tin_stream *s, void *d,
			      unsigned long long ts)
{
	uint32_t psz = t->m.buffers[t->m.selected].page_size;

	while (!d) {
		int r = next_page(t, s, psz);

		if (r <= 0)
			return r;
		d = kbuffer_read_event(s->kb, &ts);
	}
	s->data = d;
	s->dsize = tin_ev_size(t, s, d);
	s->ts = t->tshift || t->m.tsc_mult || t->m.ts_offset ? tin_ts_calc(t, ts, s->cpu) : ts;
	s->missed = s->pending_missed;
	s->pending_missed = 0;
	return 1;
}

/* The first event of the next page with one (the current page has no more). */
int tin_stream_next_page(struct tin *t, struct tin_stream *s)
{
	return stream_read(t, s, NULL, 0);
}

int tin_stream_next(struct tin *t, struct tin_stream *s)
{
	unsigned long long ts = 0;
	void *d = NULL;

	if (s->loaded)
		d = kbuffer_next_event(s->kb, &ts);
	return stream_read(t, s, d, ts);
}
