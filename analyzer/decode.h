/*
 * The decoding of a record into a struct vw_ev (decode.c resolves the
 * fields): inline, as it runs once per record in session.c and pipe.c.
 */
#ifndef VMWAIT_DECODE_H
#define VMWAIT_DECODE_H

#include <string.h>

#include "analyzer.h"

/* A number of the record at @f (0 when absent or out of the record). */
static inline uint64_t load(const struct analyzer *a, const struct vw_ev *e,
			    const struct ev_field *f)
{
	const uint8_t *p = e->data + f->off;
	uint64_t v;

	if (!f->present || f->text || f->off + f->size > e->size)
		return 0;
	switch (f->size) {
	case 1:
		return f->sign ? (uint64_t)(int64_t)*(const int8_t *)p : *p;
	case 2: {
		uint16_t x;

		memcpy(&x, p, 2);
		x = a->swap ? __builtin_bswap16(x) : x;
		return f->sign ? (uint64_t)(int64_t)(int16_t)x : x;
	}
	case 4: {
		uint32_t x;

		memcpy(&x, p, 4);
		x = a->swap ? __builtin_bswap32(x) : x;
		return f->sign ? (uint64_t)(int64_t)(int32_t)x : x;
	}
	default:
		memcpy(&v, p, 8);
		return a->swap ? __builtin_bswap64(v) : v;
	}
}

/* Native-order loads of the common fields and of a format's numeric fields. */
static inline uint64_t load_fast(const uint8_t *p, uint8_t how)
{
	switch (how) {
	case LD_U8:	return *p;
	case LD_S8:	return (uint64_t)(int64_t)*(const int8_t *)p;
	case LD_U16:	{ uint16_t x; memcpy(&x, p, 2); return x; }
	case LD_S16:	{ int16_t x; memcpy(&x, p, 2); return (uint64_t)(int64_t)x; }
	case LD_U32:	{ uint32_t x; memcpy(&x, p, 4); return x; }
	case LD_S32:	{ int32_t x; memcpy(&x, p, 4); return (uint64_t)(int64_t)x; }
	case LD_U64:	{ uint64_t x; memcpy(&x, p, 8); return x; }
	default:	return 0;
	}
}

/*
 * Decode @e, its record (e->rec) read: its type, flags, pid, kind and the
 * kind's numeric fields. The common case (a file in the host's byte order,
 * a record holding every field) is plain loads; anything else goes through
 * the checked load(). Inline in the reading loops: it runs once per record.
 */
static inline __attribute__((always_inline)) void decode_ev(const struct analyzer *a,
							    struct vw_ev *e)
{
	const struct ev_type *ty;
	unsigned int id;

	if (a->common_fast && e->size >= 8) {
		uint16_t t16;
		int32_t p32;

		memcpy(&t16, e->data, 2);
		memcpy(&p32, e->data + 4, 4);
		id = t16;
		e->flags = e->data[2];
		e->pid = p32;
	} else {
		id = (unsigned int)load(a, e, &a->c_type);
		e->flags = (uint8_t)load(a, e, &a->c_flags);
		e->pid = a->c_pid.present && a->c_pid.off + 4 <= e->size ?
			 (int)load(a, e, &a->c_pid) : -1;
	}
	if (id >= (unsigned int)a->ntypes) {
		e->ty = NULL;
		e->kind = K_NONE;
		return;
	}
	ty = &a->types[id];
	e->ty = ty;
	e->kind = ty->kind;
	if (!ty->nf)
		return;
	if (!a->swap && e->size >= ty->min_size) {
		for (int i = 0; i < ty->nf; i++)
			e->v[i] = load_fast(e->data + ty->f[i].off, ty->f[i].how);
		return;
	}
	for (int i = 0; i < ty->nf; i++)
		e->v[i] = load(a, e, &ty->f[i]);
}

/* Decode the record @r into @e. */
static inline void decode(const struct analyzer *a, const struct tin_rec *r, struct vw_ev *e)
{
	e->rec = *r;
	decode_ev(a, e);
}

#endif
