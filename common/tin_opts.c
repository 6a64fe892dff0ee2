/* trace.dat options (both versions), each checked against its own size. */
#include <stdlib.h>
#include <string.h>

#include "tin_int.h"
#include "util.h"

enum {
	OPT_DATE = 1, OPT_CPUSTAT, OPT_BUFFER, OPT_TRACECLOCK, OPT_UNAME, OPT_HOOK,
	OPT_OFFSET, OPT_CPUCOUNT, OPT_VERSION, OPT_PROCMAPS, OPT_TRACEID,
	OPT_TIME_SHIFT, OPT_GUEST, OPT_TSC2NSEC, OPT_STRINGS, OPT_HEADER_INFO,
	OPT_FTRACE_EVENTS, OPT_EVENT_FORMATS, OPT_KALLSYMS, OPT_PRINTK, OPT_CMDLINES,
	OPT_BUFFER_TEXT,
};

#define MAX_CPUS	65536
#define MAX_SAMPLES	(1 << 20)

/* A bounded reader over one option's data. */
struct od {
	struct tin *t;
	const uint8_t *p, *end;
	uint64_t off;
	const char *what;
};

static int od_fail(struct od *o)
{
	return tin_fail(o->t, "corrupt: %s option at offset %llu is shorter than its contents",
			o->what, (unsigned long long)o->off);
}

static int od_u32(struct od *o, uint32_t *v)
{
	if (o->end - o->p < 4)
		return od_fail(o);
	*v = tin_u32(o->t, o->p);
	o->p += 4;
	return 0;
}

static int od_u64(struct od *o, uint64_t *v)
{
	if (o->end - o->p < 8)
		return od_fail(o);
	*v = tin_u64(o->t, o->p);
	o->p += 8;
	return 0;
}

static int od_str(struct od *o, char **s)
{
	size_t n = strnlen((const char *)o->p, o->end - o->p);

	if (n == (size_t)(o->end - o->p))
		return od_fail(o);
	*s = xstrdup((const char *)o->p);
	o->p += n + 1;
	return 0;
}

static struct tin_buffer *buffer_slot(struct tin *t, const char *name)
{
	struct tin_buffer *b;

	if (!*name) {
		b = &t->m.buffers[0];
		free(b->name);
		free(b->clock);
		free(b->secs);
	} else {
		t->m.buffers = xrealloc(t->m.buffers, (t->m.nbuffers + 1) * sizeof(*b));
		b = &t->m.buffers[t->m.nbuffers++];
	}
	memset(b, 0, sizeof(*b));
	return b;
}

static int opt_buffer(struct od *o)
{
	struct tin *t = o->t;
	struct tin_buffer *b;
	uint64_t off;
	uint32_t n;
	char *name;

	if (od_u64(o, &off) || od_str(o, &name))
		return -1;
	b = buffer_slot(t, name);
	b->name = name;
	b->section = off;
	if (t->m.version < 7)
		return 0;
	if (od_str(o, &b->clock) || od_u32(o, &b->page_size) || od_u32(o, &n))
		return -1;
	if (n > MAX_CPUS || n > (uint32_t)(o->end - o->p) / 20)
		return tin_fail(t, "corrupt: buffer '%s' claims %u CPUs (option at offset %llu)",
				name, n, (unsigned long long)o->off);
	b->secs = xcalloc(n ? n : 1, sizeof(*b->secs));
	b->ncpus = (int)n;
	for (uint32_t i = 0; i < n; i++) {
		if (od_u32(o, &b->secs[i].cpu) || od_u64(o, &b->secs[i].off) ||
		    od_u64(o, &b->secs[i].size))
			return -1;
		if (b->secs[i].cpu >= MAX_CPUS)
			return tin_fail(t, "corrupt: buffer '%s' names CPU %u", name,
					b->secs[i].cpu);
	}
	if (!*name && b->clock && !t->m.clock)
		t->m.clock = xstrdup(b->clock);
	return 0;
}

static int opt_guest(struct od *o)
{
	struct tin *t = o->t;
	struct tdat_guest g = { 0 };
	uint32_t n, cpu, pid;

	if (od_str(o, &g.name))
		return -1;
	if (od_u64(o, &g.trace_id) || od_u32(o, &n))
		goto bad;
	/*
	 * trace-cmd writes 0 vCPUs when the guest's agent did not say which
	 * host threads run them (seen in real host traces): the guest still
	 * names a trace id, it maps no thread.
	 */
	if (n > 4096 || n > (uint32_t)(o->end - o->p) / 8) {
		tin_fail(t, "corrupt: GUEST option at offset %llu claims %u vCPUs",
			 (unsigned long long)o->off, n);
		goto bad;
	}
	g.nvcpus = (int)n;
	g.vcpu_pid = n ? xcalloc(n, sizeof(int)) : NULL;
	for (uint32_t i = 0; i < n; i++) {
		if (od_u32(o, &cpu) || od_u32(o, &pid))
			goto bad;
		if (cpu < n)
			g.vcpu_pid[cpu] = (int)pid;
	}
	t->m.guests = xrealloc(t->m.guests, (t->m.nguests + 1) * sizeof(g));
	t->m.guests[t->m.nguests++] = g;
	return 0;
bad:
	free(g.name);
	free(g.vcpu_pid);
	return -1;
}

static int cmp_sample(const void *a, const void *b)
{
	const struct tshift_sample *x = a, *y = b;

	return x->time > y->time ? 1 : x->time < y->time ? -1 : 0;
}

/* TIME_SHIFT (guest files): per-CPU offsets applied as libtracecmd does. */
static int opt_time_shift(struct od *o)
{
	struct tin *t = o->t;
	uint64_t id, v;
	uint32_t flags, ncpu, n;

	if (o->end - o->p < 16)
		return 0;	/* libtracecmd ignores a short one too */
	if (od_u64(o, &id) || od_u32(o, &flags) || od_u32(o, &ncpu))
		return -1;
	t->m.peer_trace_id = id;
	if (ncpu > MAX_CPUS || t->tshift)
		return tin_fail(t, "corrupt: TIME_SHIFT option at offset %llu (%u CPUs)",
				(unsigned long long)o->off, ncpu);
	t->tshift_flags = flags;
	t->tshift_ncpus = (int)ncpu;
	t->tshift = xcalloc(ncpu ? ncpu : 1, sizeof(*t->tshift));
	for (uint32_t c = 0; c < ncpu; c++) {
		struct tshift_cpu *tc = &t->tshift[c];

		if (od_u32(o, &n))
			return -1;
		if (n > MAX_SAMPLES || n > (uint32_t)(o->end - o->p) / 24)
			return tin_fail(t, "corrupt: TIME_SHIFT option at offset %llu claims %u "
					"samples", (unsigned long long)o->off, n);
		tc->n = (int)n;
		tc->s = xcalloc(n ? n : 1, sizeof(*tc->s));
		for (int f = 0; f < 3; f++) {
			for (uint32_t i = 0; i < n; i++) {
				int64_t *dst = f == 0 ? &tc->s[i].time : f == 1 ?
					       &tc->s[i].offset : &tc->s[i].scaling;

				if (od_u64(o, &v))
					return -1;
				*dst = (int64_t)v;
			}
		}
	}
	for (uint32_t c = 0; c < ncpu && o->p < o->end; c++)
		for (int i = 0; i < t->tshift[c].n; i++) {
			if (od_u64(o, &v))
				return -1;
			t->tshift[c].s[i].fraction = (int64_t)v;
		}
	for (uint32_t c = 0; c < ncpu; c++) {
		struct tshift_cpu *tc = &t->tshift[c];
		int j = 0;

		qsort(tc->s, tc->n, sizeof(*tc->s), cmp_sample);
		for (int k = 0; k < tc->n; k++)
			if (!k || tc->s[k].time != tc->s[k - 1].time)
				tc->s[j++] = tc->s[k];
		tc->n = j;
	}
	t->m.time_shift = true;
	return 0;
}

/* "[local] global counter": the clock in brackets. */
static char *clock_of(const uint8_t *d, uint32_t size)
{
	const char *p = memchr(d, '[', size), *q;

	if (!p)
		return NULL;
	q = memchr(p, ']', size - (p - (const char *)d));
	if (!q || q - p - 1 > 63)
		return NULL;
	return strndup(p + 1, q - p - 1);
}

static void text_append(char **dst, const uint8_t *d, uint32_t size)
{
	size_t old = *dst ? strlen(*dst) : 0;
	size_t n = strnlen((const char *)d, size);

	*dst = xrealloc(*dst, old + n + 2);
	memcpy(*dst + old, d, n);
	(*dst)[old + n] = '\0';
	if (n && (*dst)[old + n - 1] != '\n')
		strcpy(*dst + old + n, "\n");
}

int tin_parse_option(struct tin *t, uint16_t id, const uint8_t *d, uint32_t size, uint64_t off)
{
	struct od o = { .t = t, .p = d, .end = d + size, .off = off };
	uint32_t v32 = 0;
	uint64_t v64;

	switch (id) {
	case OPT_DATE:
		t->m.ts_offset += strtoll((const char *)d, NULL, 0) * 1000;
		return 0;
	case OPT_OFFSET:
		t->m.ts_offset += strtoll((const char *)d, NULL, 0);
		return 0;
	case OPT_CPUSTAT:
		text_append(&t->m.cpustats, d, size);
		return 0;
	case OPT_BUFFER:
		o.what = "BUFFER";
		return opt_buffer(&o);
	case OPT_TRACECLOCK:
		if (t->m.version < 7) {
			t->v6_clock = true;
		} else if (!t->m.clock) {
			t->m.clock = clock_of(d, size);
		}
		return 0;
	case OPT_UNAME:
		free(t->m.uname);
		t->m.uname = strndup((const char *)d, size);
		return 0;
	case OPT_VERSION:
		free(t->m.tracecmd_version);
		t->m.tracecmd_version = strndup((const char *)d, size);
		return 0;
	case OPT_CPUCOUNT:
		o.what = "CPUCOUNT";
		if (od_u32(&o, &v32))
			return -1;
		if (v32 == 0 || v32 > MAX_CPUS)
			return tin_fail(t, "corrupt: CPUCOUNT option says %u CPUs", v32);
		t->m.cpus = (int)v32;
		return 0;
	case OPT_GUEST:
		o.what = "GUEST";
		return opt_guest(&o);
	case OPT_TRACEID:
		if (size < 8)
			return 0;	/* libtracecmd ignores a short one */
		t->m.trace_id = tin_u64(t, d);
		t->m.has_trace_id = true;
		return 0;
	case OPT_TIME_SHIFT:
		o.what = "TIME_SHIFT";
		return opt_time_shift(&o);
	case OPT_TSC2NSEC:
		if (size < 16)
			return 0;
		t->m.tsc_mult = tin_u32(t, d);
		t->m.tsc_shift = tin_u32(t, d + 4);
		if (t->m.tsc_shift > 63)
			return tin_fail(t, "corrupt: TSC2NSEC shift %u", t->m.tsc_shift);
		return 0;
	case OPT_HEADER_INFO:
	case OPT_FTRACE_EVENTS:
	case OPT_EVENT_FORMATS:
	case OPT_KALLSYMS:
	case OPT_PRINTK:
	case OPT_CMDLINES:
		if (size < 8)
			return 0;
		v64 = tin_u64(t, d);
		if (v64 >= t->m.file_size)
			return tin_fail(t, "corrupt: option %u at offset %llu points to offset %llu, "
					"beyond the file", id, (unsigned long long)off,
					(unsigned long long)v64);
		t->sec_off[id] = v64;
		return 0;
	default:
		return 0;	/* unknown or not needed: skipped, as libtracecmd does */
	}
}
