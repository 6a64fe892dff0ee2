/*
 * The lines of vmwait top as differences of snapshots (README "Live: vmwait
 * top"). A snapshot of a vCPU at time E is what the analysis says of it up
 * to E: its committed periods, waits, exits and credits, plus its open
 * period up to E in the state it is in. Time whose state the model has not
 * decided yet (a light recording's tentative halt, a halt that may still be
 * the HLT fast path) is "pending" instead. A line is the snapshot at its end
 * minus the one at its start; the last line's end snapshot is the finished
 * analysis, so the lines of a vCPU add up exactly to what analyze says.
 */
#include <stdlib.h>
#include <string.h>

#include "top.h"
#include "util.h"

struct snap_exit {
	uint32_t isa, code;
	uint64_t n, ns;
};

struct snap_cred {
	int tid;
	uint64_t ns;
};

struct snap {
	int64_t states[VS_NR];
	int64_t pending;
	uint64_t wait_n[WR_NR], wait_ns[WR_NR];
	struct snap_exit *ex;
	int nex;
	struct snap_cred *cr;		/* tid 0: wakeup latency */
	int ncr;
};

struct lane {
	const struct vw_vcpu *key;
	struct snap prev;
};

/* Lanes by their vCPU result (the same pointer from promotion to the result). */
struct top_lanes {
	struct lane *v;
	size_t n, cap;
};

/* Who preempted: names and kinds as the live analysis or the result has them. */
struct resolver {
	struct analyzer *a;
	int tgid;
	const struct vw_vcpu *final;	/* the finished vCPU, or NULL while live */
};

static void snap_free(struct snap *s)
{
	free(s->ex);
	free(s->cr);
	memset(s, 0, sizeof(*s));
}

struct top_lanes *lanes_new(void)
{
	return xcalloc(1, sizeof(struct top_lanes));
}

void lanes_free(struct top_lanes *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->cap; i++)
		snap_free(&l->v[i].prev);
	free(l->v);
	free(l);
}

static size_t ptr_hash(const void *p, size_t cap)
{
	return (size_t)(((uintptr_t)p >> 4) * 11400714819323198485ULL) & (cap - 1);
}

static struct lane *lane_get(struct top_lanes *l, const struct vw_vcpu *key)
{
	size_t h;

	if (2 * (l->n + 1) > l->cap) {
		struct top_lanes bigger = { .cap = l->cap ? l->cap * 2 : 64 };

		bigger.v = xcalloc(bigger.cap, sizeof(*bigger.v));
		for (size_t i = 0; i < l->cap; i++) {
			if (!l->v[i].key)
				continue;
			for (h = ptr_hash(l->v[i].key, bigger.cap); bigger.v[h].key;)
				h = (h + 1) & (bigger.cap - 1);
			bigger.v[h] = l->v[i];
		}
		free(l->v);
		l->v = bigger.v;
		l->cap = bigger.cap;
	}
	for (h = ptr_hash(key, l->cap); l->v[h].key; h = (h + 1) & (l->cap - 1))
		if (l->v[h].key == key)
			return &l->v[h];
	l->v[h].key = key;
	l->n++;
	return &l->v[h];
}

static void cred_add(struct snap *s, int tid, uint64_t ns)
{
	for (int i = 0; i < s->ncr; i++) {
		if (s->cr[i].tid == tid) {
			s->cr[i].ns += ns;
			return;
		}
	}
	s->cr = xrealloc(s->cr, (s->ncr + 1) * sizeof(*s->cr));
	s->cr[s->ncr].tid = tid;
	s->cr[s->ncr++].ns = ns;
}

/* The counters of @v: committed states, waits, exits. */
static void snap_counters(const struct vw_vcpu *v, struct snap *s)
{
	for (int i = 0; i < VS_NR; i++)
		s->states[i] = (int64_t)v->states_ns[i];
	for (int r = 0; r < WR_NR; r++) {
		s->wait_n[r] = v->waits[r].count;
		s->wait_ns[r] = v->waits[r].total;
	}
	s->ex = xcalloc(v->nr_exits, sizeof(*s->ex));
	for (int i = 0; i < v->nr_exits; i++) {
		const struct vw_exit *e = &v->exits[i];

		s->ex[i] = (struct snap_exit){ e->isa, e->code, vw_exit_count(e),
					       e->hist.total + e->open_ns };
	}
	s->nex = v->nr_exits;
}

static void add_open(struct snap *s, enum vw_state st, uint64_t from, uint64_t to)
{
	if (to > from)
		s->states[st] += (int64_t)(to - from);
}

/*
 * The open time of @t up to @end (README "Live: vmwait top"): decided in its
 * state, or pending while the model waits for evidence — a tentative halt
 * (from its sleep to its wake, or to now), an unconfirmed halt that may turn
 * out to be the HLT fast path.
 */
static void snap_open(const struct analyzer *a, const struct thread *t, uint64_t end,
		      struct snap *s)
{
	uint64_t since = MIN(t->since, end), cut;

	if (t->retired)
		return;
	if (t->tent && t->tent_woken) {
		cut = MAX(t->tent_since, t->tent_start);
		add_open(s, t->tent_state, t->tent_since, cut);
		if (t->tent_wake > cut)
			s->pending += (int64_t)(t->tent_wake - cut);
		add_open(s, t->state, since, end);
	} else if (t->tent) {
		cut = MAX(since, MIN(t->tent_start, end));
		add_open(s, t->state, since, cut);
		s->pending += (int64_t)(end - cut);
	} else if (t->ctx == CTX_HALTED && !t->halt_confirmed && a->rec.vcpu_wakeup) {
		s->pending += (int64_t)(end - since);
	} else {
		add_open(s, t->state, since, end);
	}
}

static void snap_live(const struct analyzer *a, const struct thread *t, uint64_t end,
		      struct snap *s)
{
	memset(s, 0, sizeof(*s));
	snap_counters(t->res, s);
	snap_open(a, t, end, s);
	for (int i = 0; i < t->credits.n; i++)
		cred_add(s, t->credits.v[i].tid, t->credits.v[i].ns);
	for (int i = 0; i < t->pcred.n; i++)
		cred_add(s, t->pcred.v[i].tid, t->pcred.v[i].ns);
}

static void snap_final(const struct vw_vcpu *v, struct snap *s)
{
	memset(s, 0, sizeof(*s));
	snap_counters(v, s);
	cred_add(s, 0, v->wakeup_latency_ns);
	for (int i = 0; i < v->nr_preemptors; i++)
		cred_add(s, v->preemptors[i].tid, v->preemptors[i].total_ns);
}

/* ---- differences ---- */

static void exit_add(struct top_delta *d, const char *name, uint32_t isa, uint32_t code,
		     int64_t n, int64_t ns)
{
	for (int i = 0; i < d->nexits; i++) {
		if (d->exits[i].isa == isa && d->exits[i].code == code) {
			d->exits[i].n += n;
			d->exits[i].ns += ns;
			return;
		}
	}
	d->exits = xrealloc(d->exits, (d->nexits + 1) * sizeof(*d->exits));
	d->exits[d->nexits++] = (struct top_exit){ xstrdup(name), isa, code, n, ns };
}

static void pre_add(struct top_delta *d, int tid, const char *comm, enum vw_preempt_kind kind,
		    int64_t ns)
{
	struct top_pre *p;

	for (int i = 0; i < d->npre; i++) {
		if (d->pre[i].tid == tid) {
			d->pre[i].ns += ns;
			return;
		}
	}
	d->pre = xrealloc(d->pre, (d->npre + 1) * sizeof(*d->pre));
	p = &d->pre[d->npre++];
	p->tid = tid;
	snprintf(p->comm, sizeof(p->comm), "%s", comm ? comm : "");
	p->kind = kind;
	p->ns = ns;
}

static const struct snap_exit *exit_find(const struct snap *s, uint32_t isa, uint32_t code)
{
	for (int i = 0; i < s->nex; i++)
		if (s->ex[i].isa == isa && s->ex[i].code == code)
			return &s->ex[i];
	return NULL;
}

static uint64_t cred_find(const struct snap *s, int tid)
{
	for (int i = 0; i < s->ncr; i++)
		if (s->cr[i].tid == tid)
			return s->cr[i].ns;
	return 0;
}

/* A preemptor's name and kind, as the analysis tells them now. */
static void resolve(const struct resolver *rs, int tid, const char **comm,
		    enum vw_preempt_kind *kind)
{
	if (rs->final) {
		for (int i = 0; i < rs->final->nr_preemptors; i++) {
			if (rs->final->preemptors[i].tid == tid) {
				*comm = rs->final->preemptors[i].comm;
				*kind = rs->final->preemptors[i].kind;
				return;
			}
		}
	}
	*comm = preemptor_comm(rs->a, tid);
	*kind = preempt_kind(rs->a, rs->tgid, tid);
}

static int cmp_exit(const void *x, const void *y)
{
	const struct top_exit *a = x, *b = y;

	if (a->n != b->n)
		return a->n > b->n ? -1 : 1;
	return a->isa != b->isa ? (a->isa < b->isa ? -1 : 1) : (a->code < b->code ? -1 : a->code > b->code);
}

static int cmp_pre(const void *x, const void *y)
{
	const struct top_pre *a = x, *b = y;

	if (a->ns != b->ns)
		return a->ns > b->ns ? -1 : 1;
	return a->tid < b->tid ? -1 : a->tid > b->tid;
}

static void delta_sort(struct top_delta *d)
{
	if (d->nexits > 1)
		qsort(d->exits, d->nexits, sizeof(*d->exits), cmp_exit);
	if (d->npre > 1)
		qsort(d->pre, d->npre, sizeof(*d->pre), cmp_pre);
}

/* @d = @cur - @prev; exit names from @v. */
static void delta_of(const struct snap *cur, const struct snap *prev, const struct vw_vcpu *v,
		     const struct resolver *rs, struct top_delta *d)
{
	memset(d, 0, sizeof(*d));
	for (int i = 0; i < VS_NR; i++)
		d->states[i] = cur->states[i] - prev->states[i];
	d->pending = cur->pending - prev->pending;
	d->undecided = cur->pending;
	for (int r = 0; r < WR_NR; r++) {
		d->wait_n[r] = (int64_t)(cur->wait_n[r] - prev->wait_n[r]);
		d->wait_ns[r] = (int64_t)(cur->wait_ns[r] - prev->wait_ns[r]);
	}
	for (int i = 0; i < cur->nex; i++) {
		const struct snap_exit *p = exit_find(prev, cur->ex[i].isa, cur->ex[i].code);
		int64_t n = (int64_t)(cur->ex[i].n - (p ? p->n : 0));
		int64_t ns = (int64_t)(cur->ex[i].ns - (p ? p->ns : 0));

		if (n || ns)
			exit_add(d, v->exits[i].name, cur->ex[i].isa, cur->ex[i].code, n, ns);
	}
	for (int i = 0; i < cur->ncr; i++) {
		int64_t ns = (int64_t)(cur->cr[i].ns - cred_find(prev, cur->cr[i].tid));
		enum vw_preempt_kind kind;
		const char *comm;

		if (cur->cr[i].tid == 0) {
			d->wakeup_ns = ns;
		} else if (ns > 0) {
			resolve(rs, cur->cr[i].tid, &comm, &kind);
			pre_add(d, cur->cr[i].tid, comm, kind, ns);
		}
	}
	delta_sort(d);
}

static bool delta_zero(const struct top_delta *d)
{
	static const struct top_delta zero;

	return !d->nexits && !d->npre &&
	       !memcmp(d->states, zero.states, sizeof(d->states)) && !d->pending && !d->undecided &&
	       !memcmp(d->wait_n, zero.wait_n, sizeof(d->wait_n)) &&
	       !memcmp(d->wait_ns, zero.wait_ns, sizeof(d->wait_ns)) && !d->wakeup_ns;
}

static void delta_free(struct top_delta *d)
{
	for (int i = 0; i < d->nexits; i++)
		free(d->exits[i].name);
	free(d->exits);
	free(d->pre);
	memset(d, 0, sizeof(*d));
}

/* @src summed into @dst (a VM's totals). */
static void delta_merge(struct top_delta *dst, const struct top_delta *src)
{
	for (int i = 0; i < VS_NR; i++)
		dst->states[i] += src->states[i];
	dst->pending += src->pending;
	dst->undecided += src->undecided;
	for (int r = 0; r < WR_NR; r++) {
		dst->wait_n[r] += src->wait_n[r];
		dst->wait_ns[r] += src->wait_ns[r];
	}
	dst->wakeup_ns += src->wakeup_ns;
	for (int i = 0; i < src->nexits; i++)
		exit_add(dst, src->exits[i].name, src->exits[i].isa, src->exits[i].code,
			 src->exits[i].n, src->exits[i].ns);
	for (int i = 0; i < src->npre; i++)
		pre_add(dst, src->pre[i].tid, src->pre[i].comm, src->pre[i].kind, src->pre[i].ns);
}

/* ---- lines ---- */

static bool filter_pass(const struct top_filter *f, int pid, const char *name)
{
	uint64_t v;

	if (f->pids && f->pids->n && !pidset_has(f->pids, pid))
		return false;
	if (!f->vm)
		return true;
	if (!parse_u64(f->vm, &v))
		return pid == (int)v;
	return name && !strcmp(name, f->vm);
}

static struct top_vm *line_vm(struct top_line *l, int pid, const char *name)
{
	for (int i = 0; i < l->nvms; i++)
		if (l->vms[i].pid == pid && !strcmp(l->vms[i].name, name))
			return &l->vms[i];
	l->vms = xrealloc(l->vms, (l->nvms + 1) * sizeof(*l->vms));
	memset(&l->vms[l->nvms], 0, sizeof(*l->vms));
	l->vms[l->nvms].pid = pid;
	l->vms[l->nvms].name = xstrdup(name);
	return &l->vms[l->nvms++];
}

/* The difference of @lane's snapshot @cur with its last one, into VM @pid of @l. */
static void line_add(struct top_line *l, struct lane *lane, struct snap *cur,
		     const struct vw_vcpu *v, const struct resolver *rs, int pid, const char *name,
		     bool keep_zero, const struct top_filter *f)
{
	struct top_vcpu c = { .vcpu = v->vcpu, .tid = v->tid, .first_ns = v->first_ns };
	struct top_vm *vm;

	delta_of(cur, &lane->prev, v, rs, &c.d);
	snap_free(&lane->prev);
	lane->prev = *cur;
	if ((!keep_zero && delta_zero(&c.d)) || !filter_pass(f, pid, name)) {
		delta_free(&c.d);
		return;
	}
	snprintf(c.comm, sizeof(c.comm), "%s", v->comm);
	vm = line_vm(l, pid, name);
	vm->vcpus = xrealloc(vm->vcpus, (vm->nvcpus + 1) * sizeof(*vm->vcpus));
	vm->vcpus[vm->nvcpus++] = c;
	l->nvcpus++;
}

static int cmp_vcpu(const void *x, const void *y)
{
	const struct top_vcpu *a = x, *b = y;

	if (a->vcpu != b->vcpu)
		return a->vcpu < b->vcpu ? -1 : 1;
	if (a->tid != b->tid)
		return a->tid < b->tid ? -1 : 1;
	return a->first_ns < b->first_ns ? -1 : a->first_ns > b->first_ns;
}

static int cmp_vm(const void *x, const void *y)
{
	const struct top_vm *a = x, *b = y;

	if ((a->pid < 0) != (b->pid < 0))
		return a->pid < 0 ? 1 : -1;
	if (a->pid != b->pid)
		return a->pid < b->pid ? -1 : 1;
	return strcmp(a->name, b->name);
}

/* VM totals, and the canonical order (live: VMs by pid, unknown last; vCPUs by id). */
static void line_finish(struct top_line *l, bool sort)
{
	if (sort && l->nvms > 1)
		qsort(l->vms, l->nvms, sizeof(*l->vms), cmp_vm);
	for (int i = 0; i < l->nvms; i++) {
		struct top_vm *vm = &l->vms[i];

		if (sort && vm->nvcpus > 1)
			qsort(vm->vcpus, vm->nvcpus, sizeof(*vm->vcpus), cmp_vcpu);
		for (int j = 0; j < vm->nvcpus; j++)
			delta_merge(&vm->tot, &vm->vcpus[j].d);
		delta_sort(&vm->tot);
	}
}

/* The name of VM @pid as the analysis has it now. */
static const char *vm_name_now(struct analyzer *a, const struct vw_result *lay, int pid)
{
	for (int i = 0; i < lay->nr_vms; i++)
		if (lay->vms[i]->pid == pid && lay->vms[i]->name)
			return lay->vms[i]->name;
	return pid > 0 ? preemptor_comm(a, pid) : "?";
}

void lanes_line(struct top_lanes *l, struct analyzer *a, uint64_t end,
		const struct top_filter *f, struct top_line *out)
{
	struct vw_result lay;

	memset(out, 0, sizeof(*out));
	analyzer_layout(a, &lay);
	for (struct thread *t = a->all; t; t = t->all_next) {
		int pid = t->tgid >= 0 ? t->tgid : t->anchor;
		struct resolver rs = { a, pid, NULL };
		struct lane *lane;
		struct snap cur;

		if (!t->res || !t->seen)
			continue;
		lane = lane_get(l, t->res);
		snap_live(a, t, end, &cur);
		t->res->vcpu = t->vcpu_id;
		snprintf(t->res->comm, sizeof(t->res->comm), "%s", t->comm);
		line_add(out, lane, &cur, t->res, &rs, pid, vm_name_now(a, &lay, pid),
			 !t->retired, f);
	}
	analyzer_layout_free(&lay);
	line_finish(out, true);
}

void lanes_final(struct top_lanes *l, struct analyzer *a, const struct vw_result *res,
		 const struct top_filter *f, struct top_line *out)
{
	memset(out, 0, sizeof(*out));
	out->final = true;
	for (int i = 0; i < res->nr_vms; i++) {
		const struct vw_vm *vm = res->vms[i];

		for (int j = 0; j < vm->nr_vcpus; j++) {
			const struct vw_vcpu *v = vm->vcpus[j];
			struct resolver rs = { a, vm->pid, v };
			struct snap cur;

			snap_final(v, &cur);
			line_add(out, lane_get(l, v), &cur, v, &rs, vm->pid,
				 vm->name ? vm->name : "?", false, f);
		}
	}
	line_finish(out, false);
}

void line_free(struct top_line *l)
{
	if (!l)
		return;
	for (int i = 0; i < l->nvms; i++) {
		for (int j = 0; j < l->vms[i].nvcpus; j++)
			delta_free(&l->vms[i].vcpus[j].d);
		delta_free(&l->vms[i].tot);
		free(l->vms[i].vcpus);
		free(l->vms[i].name);
	}
	free(l->vms);
	memset(l, 0, sizeof(*l));
}
