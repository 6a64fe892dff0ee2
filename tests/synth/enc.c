/*
 * Records laid out from parsed format files, and the kernel ring-buffer page
 * encoding (kernel/trace/ring_buffer.c; libtraceevent src/kbuffer-parse.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "synth.h"
#include "util.h"

#define RB_HDR		16		/* u64 timestamp + local_t commit */
#define TYPE_PADDING	29
#define TYPE_EXTEND	30
#define TS_BITS		27
#define MAX_SMALL	(28 * 4)	/* RB_MAX_SMALL_DATA */
#define MISSED_EVENTS	(1ULL << 31)
#define MISSED_STORED	(1ULL << 30)

/* ---- records ---- */

void srec_init(struct srec *r, const struct sevent *ev, int pid)
{
	r->ev = ev;
	r->len = ev->size;
	memset(r->buf, 0, ev->size);
	r->buf[0] = ev->id & 0xff;
	r->buf[1] = (ev->id >> 8) & 0xff;
	memcpy(r->buf + 4, &pid, 4);	/* common_pid: every layout has it at 4 */
}

bool srec_set(struct srec *r, const char *field, uint64_t v)
{
	const struct sfield *fl = sev_field(r->ev, field);

	if (!fl || fl->data_loc || fl->dyn_tail || fl->size > 8)
		return false;
	/* little endian: the low bytes of v */
	memcpy(r->buf + fl->offset, &v, fl->size);
	return true;
}

bool srec_str(struct srec *r, const char *field, const char *s)
{
	const struct sfield *fl = sev_field(r->ev, field);
	size_t n = strlen(s) + 1;
	uint32_t loc;

	if (!fl)
		return false;
	if (fl->data_loc || fl->dyn_tail) {
		if (r->len + n > SREC_MAX)
			n = SREC_MAX - r->len;
		memcpy(r->buf + r->len, s, n);
		r->buf[r->len + n - 1] = 0;
		if (fl->data_loc) {
			loc = (uint32_t)r->len | (uint32_t)n << 16;
			memcpy(r->buf + fl->offset, &loc, 4);
		}
		r->len += n;
		return true;
	}
	/* fixed char array: strncpy semantics, like the kernel's memcpy of comm */
	memset(r->buf + fl->offset, 0, fl->size);
	memcpy(r->buf + fl->offset, s, MIN(n - 1, (size_t)fl->size - 1));
	return true;
}

/* A numeric field of @r (sign-extended if signed), or @def if the layout lacks it. */
int64_t srec_get(const struct srec *r, const char *field, int64_t def)
{
	const struct sfield *fl = sev_field(r->ev, field);
	uint64_t v = 0;

	if (!fl || fl->data_loc || fl->dyn_tail || fl->size > 8 || !fl->size)
		return def;
	memcpy(&v, r->buf + fl->offset, fl->size);
	if (fl->is_signed && fl->size < 8 && (v >> (fl->size * 8 - 1)) & 1)
		v |= ~0ULL << (fl->size * 8);
	return (int64_t)v;
}

/* A string field of @r into @buf (empty if the layout lacks it). */
const char *srec_get_str(const struct srec *r, const char *field, char *buf, size_t len)
{
	const struct sfield *fl = sev_field(r->ev, field);
	const char *src;
	size_t n;

	buf[0] = 0;
	if (!fl || !len)
		return buf;
	if (fl->data_loc) {
		uint32_t loc;

		memcpy(&loc, r->buf + fl->offset, 4);
		src = (const char *)r->buf + (loc & 0xffff);
		n = loc >> 16;
	} else if (fl->dyn_tail) {
		src = (const char *)r->buf + fl->offset;
		n = (size_t)r->len - (size_t)fl->offset;
	} else {
		src = (const char *)r->buf + fl->offset;
		n = (size_t)fl->size;
	}
	n = MIN(n, len - 1);
	memcpy(buf, src, n);
	buf[n] = 0;
	return buf;
}

/* ---- pages ---- */

void spenc_init(struct spenc *p, unsigned int cpu, unsigned int page_size,
		spage_sink sink, void *ctx)
{
	memset(p, 0, sizeof(*p));
	p->cpu = cpu;
	p->page_size = page_size;
	p->page = xcalloc(1, page_size);
	p->empty = true;
	p->sink = sink;
	p->ctx = ctx;
}

static void put32(uint8_t *at, uint32_t v)
{
	memcpy(at, &v, 4);
}

static void put64(uint8_t *at, uint64_t v)
{
	memcpy(at, &v, 8);
}

/*
 * Finish the page as a full page read by splice from trace_pipe_raw: commit
 * is the end of the data (real_end), the rest is one padding event, and a
 * lost-events count, if any, is stored right after the data.
 */
int spenc_flush(struct spenc *p)
{
	unsigned int cap = p->page_size - RB_HDR, left = cap - p->used;
	uint8_t *data = p->page + RB_HDR;
	uint64_t commit = p->used;
	int ret;

	if (p->empty)
		return 0;
	if (left >= 8) {
		put32(data + p->used, TYPE_PADDING | 1u << 5);	/* time_delta 1 */
		put32(data + p->used + 4, left - 4);
	} else if (left) {
		put32(data + p->used, TYPE_PADDING);
	}
	if (p->pending_lost_set) {
		commit |= MISSED_EVENTS;
		if (p->pending_lost_stored && left >= 8) {
			put64(data + p->used, p->pending_lost);
			commit |= MISSED_STORED;
		}
		p->pending_lost_set = false;
	}
	put64(p->page + 8, commit);
	ret = p->sink(p->ctx, p->cpu, p->page);
	memset(p->page, 0, p->page_size);
	p->used = 0;
	p->empty = true;
	p->pages++;
	return ret;
}

int spenc_lost(struct spenc *p, uint64_t count, bool stored)
{
	int ret = spenc_flush(p);

	p->pending_lost = count;
	p->pending_lost_stored = stored;
	p->pending_lost_set = true;
	return ret;
}

/* Bytes an event of @len payload bytes takes, header included. */
static unsigned int event_bytes(unsigned int len)
{
	len = (len + 3) & ~3u;
	return len > MAX_SMALL ? len + 8 : len + 4;
}

int spenc_add(struct spenc *p, uint64_t ts, const void *payload, unsigned int len)
{
	unsigned int need = event_bytes(len), cap = p->page_size - RB_HDR;
	uint64_t delta;

	/* keep room for a lost-events count to be stored after the data */
	if (p->pending_lost_set && p->pending_lost_stored)
		cap -= 8;
	uint8_t *at;

	if (ts < p->last_ts && !p->empty) {
		errno = EINVAL;
		return -1;
	}
	if (need > cap)
		return errno = E2BIG, -1;
	delta = p->empty ? 0 : ts - p->last_ts;
	if (!p->empty && p->used + need + (delta >> TS_BITS ? 8 : 0) > cap) {
		if (spenc_flush(p))
			return -1;
		delta = 0;
	}
	if (p->empty) {
		put64(p->page, ts);
		p->empty = false;
	}
	at = p->page + RB_HDR + p->used;
	if (delta >> TS_BITS) {
		put32(at, TYPE_EXTEND | (uint32_t)(delta & ((1u << TS_BITS) - 1)) << 5);
		put32(at + 4, (uint32_t)(delta >> TS_BITS));
		at += 8;
		p->used += 8;
		delta = 0;
	}
	if (need - 4 > MAX_SMALL) {
		put32(at, (uint32_t)delta << 5);
		put32(at + 4, need - 4);
		at += 8;
	} else {
		put32(at, (need - 4) / 4 | (uint32_t)delta << 5);
		at += 4;
	}
	memcpy(at, payload, len);
	p->used += need;
	p->last_ts = ts;
	return 0;
}

void spenc_free(struct spenc *p)
{
	free(p->page);
	p->page = NULL;
}
