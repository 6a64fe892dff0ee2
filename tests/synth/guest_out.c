/*
 * tests/synth: the guest traces written (sched_switch, sched_waking,
 * sched_wakeup on each guest CPU; trace-cmd -A's ids and TIME_SHIFT, or a
 * plain recording in the guest's clock) and their ground truth: the README
 * rules ("Which guest program waited?") applied to the events written and
 * to the truth's waits, independently of the analyzer.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "guest.h"
#include "tdat.h"
#include "util.h"

#define OPT_TRACEID	11
#define OPT_TIME_SHIFT	12

char *sgout_path(const struct sguest_opts *o, const struct svm *vm)
{
	char *p;

	if (asprintf(&p, "%s-%s.dat", o->prefix, vm->name) < 0)
		return NULL;
	return p;
}

int64_t sgout_offset(const struct sguest_opts *o, int idx)
{
	return o->offset + 1000003 * (int64_t)idx;
}

static int page_sink(void *ctx, unsigned int cpu, const void *page)
{
	return tdat_write_page(ctx, cpu, page);
}

static const char *comm(int task)
{
	return task < 0 ? "swapper" : sg_pool[task].comm;
}

static int pid(int task)
{
	return task < 0 ? 0 : sg_pool[task].pid;
}

/* The records of one planned event, in the guest's clock (host - @off). */
static int put(struct spenc *enc, const struct sfmt *f, const struct sgev *e, int cpu, int cur,
	       int64_t off)
{
	uint64_t ts = (uint64_t)((int64_t)e->ts - off);
	struct srec r;
	int ret = 0;

	if (e->kind == SG_SWITCH) {
		srec_init(&r, sfmt_event(f, "sched_switch"), pid(e->prev));
		srec_flags(&r, TF_IRQS_OFF);
		srec_str(&r, "prev_comm", comm(e->prev));
		srec_set(&r, "prev_pid", (uint64_t)pid(e->prev));
		srec_set(&r, "prev_prio", 120);
		srec_set(&r, "prev_state", (uint64_t)e->state);
		srec_str(&r, "next_comm", comm(e->next));
		srec_set(&r, "next_pid", (uint64_t)pid(e->next));
		srec_set(&r, "next_prio", 120);
		return spenc_add(enc, ts, r.buf, (unsigned int)r.len);
	}
	for (int i = 0; i < 2 && !ret; i++) {
		srec_init(&r, sfmt_event(f, i ? "sched_wakeup" : "sched_waking"), pid(cur));
		srec_flags(&r, TF_IRQS_OFF);
		srec_str(&r, "comm", comm(e->next));
		srec_set(&r, "pid", (uint64_t)pid(e->next));
		srec_set(&r, "prio", 120);
		srec_set(&r, "success", 1);
		srec_set(&r, "target_cpu", (uint64_t)cpu);
		ret = spenc_add(enc, ts, r.buf, (unsigned int)r.len);
	}
	return ret;
}

/* trace-cmd's TIME_SHIFT: two samples per CPU, offset @off, scaling 1. */
static int time_shift(struct tdat_writer *w, int ncpus, uint64_t host_id, int64_t off,
		      uint64_t t0, uint64_t t1)
{
	struct sbuf sb = { 0 };
	uint32_t u32;
	int64_t v[2];
	int ret;

	sbuf_add(&sb, &host_id, 8);
	u32 = 0;
	sbuf_add(&sb, &u32, 4);
	u32 = (uint32_t)ncpus;
	sbuf_add(&sb, &u32, 4);
	for (int c = 0; c < ncpus; c++) {
		u32 = 2;
		sbuf_add(&sb, &u32, 4);
		v[0] = (int64_t)t0, v[1] = (int64_t)(t1 > t0 ? t1 : t0 + 1);
		sbuf_add(&sb, v, 16);
		v[0] = v[1] = off;
		sbuf_add(&sb, v, 16);
		v[0] = v[1] = 1;
		sbuf_add(&sb, v, 16);
	}
	v[0] = v[1] = 0;
	for (int c = 0; c < ncpus; c++)
		sbuf_add(&sb, v, 16);
	ret = tdat_add_option(w, OPT_TIME_SHIFT, sb.buf, sb.len);
	sbuf_free(&sb);
	return ret;
}

static int metadata(struct tdat_writer *w, const struct sgvm *v, const struct sfmt *f,
		    const struct sguest_opts *o, uint64_t host_id, uint64_t t0, uint64_t t1)
{
	static const char *const evs[] = { "sched_switch", "sched_waking", "sched_wakeup",
					   "sched_wakeup_new" };
	struct sbuf sb = { 0 };
	uint64_t id = SG_GUEST_ID(v->idx);
	int ret;

	ret = tdat_set_headers(w, f->header_page, f->header_page_len, f->header_event,
			       f->header_event_len);
	for (size_t i = 0; i < ARRAY_SIZE(evs); i++) {
		const struct sevent *ev = sfmt_event(f, evs[i]);

		if (ev)
			ret |= tdat_add_event_format(w, "sched", ev->text, ev->len);
	}
	for (int i = 0; i < sg_npool; i++)
		sbuf_addf(&sb, "%d %s\n", sg_pool[i].pid, sg_pool[i].comm);
	ret |= tdat_set_cmdlines(w, sb.buf, sb.len);
	sbuf_free(&sb);
	ret |= tdat_set_clock(w, "local");
	ret |= tdat_set_uname(w, "Linux guest 6.18.0 x86_64");
	if (o->tracecmd) {
		ret |= tdat_add_option(w, OPT_TRACEID, &id, 8);
		ret |= time_shift(w, v->ncpus, host_id, sgout_offset(o, v->idx), t0, t1);
	}
	return ret;
}

int sgout_write(const struct sgvm *v, const struct sfmt *f, const struct sguest_opts *o,
		uint64_t host_id)
{
	struct tdat_opts to = { .version = o->version ? o->version : 6, .compress = o->compress,
				.page_size = 4096, .ncpus = (unsigned int)v->ncpus };
	int64_t off = sgout_offset(o, v->idx);
	uint64_t t0 = UINT64_MAX, t1 = 0;
	char *path = sgout_path(o, v->vm);
	struct tdat_writer *w = path ? tdat_create(path, &to) : NULL;
	int ret = 0;

	if (!w) {
		vw_err("synth: cannot create %s: %s", path ? path : "a guest trace", strerror(errno));
		free(path);
		return -1;
	}
	for (int c = 0; c < v->ncpus; c++)
		if (v->cpu[c].n) {
			t0 = MIN(t0, (uint64_t)((int64_t)v->cpu[c].ev[0].ts - off));
			t1 = MAX(t1, (uint64_t)((int64_t)v->cpu[c].ev[v->cpu[c].n - 1].ts - off));
		}
	ret = metadata(w, v, f, o, host_id, t0 == UINT64_MAX ? 0 : t0, t1);
	for (int c = 0; c < v->ncpus && !ret; c++) {
		struct spenc enc;
		int cur = -1;

		spenc_init(&enc, (unsigned int)c, 4096, page_sink, w);
		for (size_t i = 0; i < v->cpu[c].n && !ret && !o->empty; i++) {
			ret = put(&enc, f, &v->cpu[c].ev[i], c, cur, off);
			if (v->cpu[c].ev[i].kind == SG_SWITCH)
				cur = v->cpu[c].ev[i].next;
		}
		ret |= spenc_flush(&enc);
		spenc_free(&enc);
	}
	if (ret || tdat_close(w)) {
		if (ret)
			tdat_abort(w);
		vw_err("synth: writing %s failed", path);
		free(path);
		return -1;
	}
	free(path);
	return 0;
}

/* ---- the truth ---- */

/* What the README's rules see on a guest CPU: a task blocked, switched in, woken. */
enum { TV_BLOCK, TV_SWITCH, TV_WAKE };

/*
 * The wait [s, e) of guest CPU @c, the next wait at @bound: ran last and
 * woken; false if a guest event lies inside it (the host's records were
 * left out: with every record kept, that is a generator bug).
 */
static bool rule(const struct sgcpu *c, uint64_t s, uint64_t e, uint64_t bound, bool strict,
		 int *ran, int *state, int *woken)
{
	size_t i = 0;

	while (i < c->n && c->ev[i].ts < s)
		i++;
	if (i < c->n && c->ev[i].ts < e) {
		if (!strict)
			return false;
		vw_err("synth: --guest: a guest event at %llu inside the halt [%llu, %llu)",
		       (unsigned long long)c->ev[i].ts, (unsigned long long)s,
		       (unsigned long long)e);
		abort();
	}
	for (size_t k = i; k-- > 0;) {
		const struct sgev *x = &c->ev[k];

		if (x->kind == SG_WAKE)
			continue;
		*ran = x->next >= 0 ? x->next : x->prev;
		*state = x->next >= 0 ? GS_R : vw_gstate_of((uint64_t)x->state);
		break;
	}
	for (size_t k = i; k < c->n && c->ev[k].ts < bound; k++)
		if (c->ev[k].kind == SG_WAKE || c->ev[k].next >= 0) {
			*woken = c->ev[k].next;
			break;
		}
	return true;
}

static int task_of(struct vw_guest *vg, int task)
{
	return task < 0 ? res_guest_task(vg, -1, "<unknown>") :
	       res_guest_task(vg, sg_pool[task].pid, sg_pool[task].comm);
}

void sgout_truth(const struct sgvm *v, const struct sguest_opts *o, struct vw_vm *vm,
		 const void *ctx,
		 const struct swt *(*waits)(const void *ctx, const struct vw_vcpu *lane,
					    size_t *n))
{
	struct vw_guest *vg = xcalloc(1, sizeof(*vg));
	uint64_t first = UINT64_MAX, last = 0;

	vg->file = sgout_path(o, v->vm);
	vg->time_shift = o->tracecmd;
	vg->offset_ns = o->tracecmd ? 0 : sgout_offset(o, v->idx);
	vg->offset_from = o->tracecmd ? "none" : "option";
	for (int c = 0; c < v->ncpus; c++)
		if (v->cpu[c].n) {
			first = MIN(first, v->cpu[c].ev[0].ts);
			last = MAX(last, v->cpu[c].ev[v->cpu[c].n - 1].ts);
		}
	for (int i = 0; i < vm->nr_vcpus; i++) {
		const struct vw_vcpu *lane = vm->vcpus[i];
		size_t n;
		const struct swt *w = waits(ctx, lane, &n);
		int cpu = lane->vcpu;

		for (size_t k = 0; k < n; k++) {
			uint64_t bound = k + 1 < n ? w[k + 1].start : UINT64_MAX;
			int ran = -1, state = GS_NR, woken = -1;

			if (cpu >= 0 && cpu < v->ncpus && w[k].start >= first && w[k].end <= last &&
			    !rule(&v->cpu[cpu], w[k].start, w[k].end, bound, o->strict, &ran,
				  &state, &woken)) {
				ran = woken = -1;
				state = GS_NR;
				vg->inconsistent++;
			}
			res_guest_wait(vg, task_of(vg, ran), (enum vw_gstate)state,
				       (enum vw_reason)w[k].reason, w[k].end - w[k].start);
			if (woken >= 0)
				vg->tasks[task_of(vg, woken)].woken++;
		}
	}
	res_guest_finish(vg);
	vm->guest = vg;
}
