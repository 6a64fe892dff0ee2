/*
 * Interval slices (--interval, vmwait top): a sink that cuts every period
 * at the interval boundaries and counts waits, exits and preemption in the
 * interval where they end, so that the slices of a vCPU add up exactly to
 * its totals. Each slice is a struct vw_vcpu, printed like any other.
 */
#include <stdlib.h>
#include <string.h>

#include "analyzer.h"
#include "interval.h"
#include "util.h"

struct iv_lane {
	const struct vw_vcpu *lane;
	struct vw_vcpu *v;
	struct credits cr;
};

struct iv_slot {
	struct iv_lane *l;
	int n, cap;
};

struct interval {
	struct vw_sink sink;
	struct analyzer *a;
	uint64_t len, origin;
	bool started;
	struct iv_slot *slot;	/* per interval since origin */
	size_t nslot;		/* allocated */
	size_t nused;		/* intervals up to the last one with a slice */
};

static uint64_t origin_of(struct interval *iv)
{
	if (!iv->started) {
		iv->origin = iv->a->from ? iv->a->from : iv->a->first_ts;
		iv->started = true;
	}
	return iv->origin;
}

static size_t index_of(struct interval *iv, uint64_t ts)
{
	uint64_t o = origin_of(iv);

	return ts <= o ? 0 : (size_t)((ts - o) / iv->len);
}

/* The slice of @lane in interval @k. */
static struct iv_lane *slice(struct interval *iv, size_t k, const struct vw_vcpu *lane)
{
	struct iv_slot *s;

	if (k >= iv->nslot) {
		size_t n = MAX(k + 1, iv->nslot * 2);

		iv->slot = xrealloc(iv->slot, n * sizeof(*iv->slot));
		memset(iv->slot + iv->nslot, 0, (n - iv->nslot) * sizeof(*iv->slot));
		iv->nslot = n;
	}
	s = &iv->slot[k];
	iv->nused = MAX(iv->nused, k + 1);
	for (int i = 0; i < s->n; i++)
		if (s->l[i].lane == lane)
			return &s->l[i];
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 4;
		s->l = xrealloc(s->l, s->cap * sizeof(*s->l));
	}
	memset(&s->l[s->n], 0, sizeof(s->l[s->n]));
	s->l[s->n].lane = lane;
	s->l[s->n].v = xcalloc(1, sizeof(struct vw_vcpu));
	return &s->l[s->n++];
}

static void iv_period(void *ctx, const struct vw_vcpu *lane, enum vw_state s, uint64_t start,
		      uint64_t end)
{
	struct interval *iv = ctx;

	for (size_t k = index_of(iv, start); start < end; k++) {
		uint64_t ke = origin_of(iv) + (k + 1) * iv->len;
		uint64_t e = MIN(end, ke);

		if (e > start)
			res_add_state(slice(iv, k, lane)->v, s, e - start);
		start = e;
	}
}

static void iv_wait(void *ctx, const struct vw_vcpu *lane, enum vw_reason r, uint64_t start,
		    uint64_t end, const struct vw_vcpu *from, int vector)
{
	struct interval *iv = ctx;

	(void)from;
	(void)vector;
	res_add_wait(slice(iv, index_of(iv, end), lane)->v, r, end - start, -1, -1);
}

static void iv_exit(void *ctx, const struct vw_vcpu *lane, uint32_t isa, uint32_t code,
		    const char *reason, uint64_t end, uint64_t ns, bool open)
{
	struct interval *iv = ctx;
	struct vw_vcpu *v = slice(iv, index_of(iv, end), lane)->v;

	if (!open)
		hist_add(&res_exit(v, isa, code, reason)->hist, ns);
	else if (ns)
		res_exit_open(v, isa, code, reason, ns);
	else
		res_exit_unpaired(v, isa, code, reason);
}

static void iv_credit(void *ctx, const struct vw_vcpu *lane, int tid, uint64_t ns, uint64_t ts)
{
	struct interval *iv = ctx;

	credit_add(&slice(iv, index_of(iv, ts), lane)->cr, tid, ns);
}

struct interval *interval_new(struct analyzer *a, uint64_t len)
{
	struct interval *iv = xcalloc(1, sizeof(*iv));

	iv->a = a;
	iv->len = len ? len : 1;
	iv->sink = (struct vw_sink){ .ctx = iv, .period = iv_period, .wait = iv_wait,
				     .exit = iv_exit, .credit = iv_credit };
	return iv;
}

const struct vw_sink *interval_sink(struct interval *iv)
{
	return &iv->sink;
}

size_t interval_count(const struct interval *iv)
{
	return iv->nused;
}

uint64_t interval_start(const struct interval *iv, size_t k)
{
	return iv->origin + k * iv->len;
}

/*
 * Interval @k as a result shaped like @final (same VMs, vCPUs, names; only
 * the vCPUs with a slice there), which consumes the interval. Call before
 * the analyzer is freed.
 */
void interval_result(struct interval *iv, size_t k, const struct vw_result *final,
		     struct vw_result *out)
{
	struct iv_slot *s = k < iv->nslot ? &iv->slot[k] : NULL;

	memset(out, 0, sizeof(*out));
	out->start_ns = interval_start(iv, k);
	out->end_ns = MIN(out->start_ns + iv->len, final->end_ns);
	out->cpus = final->cpus;
	for (int i = 0; i < final->nr_vms; i++) {
		const struct vw_vm *fvm = final->vms[i];
		struct vw_vm *vm = NULL;

		for (int j = 0; j < fvm->nr_vcpus && s; j++) {
			for (int l = 0; l < s->n; l++) {
				struct vw_vcpu *v = s->l[l].v;

				if (s->l[l].lane != fvm->vcpus[j] || !v)
					continue;
				if (!vm) {
					vm = res_vm(out, fvm->pid);
					vm->name = xstrdup(fvm->name ? fvm->name : "");
					vm->guessed = fvm->guessed;
					vm->grouped_by = fvm->grouped_by ?
							 xstrdup(fvm->grouped_by) : NULL;
				}
				v->vcpu = fvm->vcpus[j]->vcpu;
				v->tid = fvm->vcpus[j]->tid;
				memcpy(v->comm, fvm->vcpus[j]->comm, sizeof(v->comm));
				v->first_ns = out->start_ns;
				v->end_ns = out->end_ns;
				credits_to_result(iv->a, v, &s->l[l].cr, fvm);
				vm->vcpus = xrealloc(vm->vcpus, (vm->nr_vcpus + 1) * sizeof(v));
				vm->vcpus[vm->nr_vcpus++] = v;
				s->l[l].v = NULL;	/* now @out's */
			}
		}
	}
	res_finish(out);
	if (!s)
		return;
	/* the interval is consumed: what was not moved into @out is dropped */
	for (int l = 0; l < s->n; l++) {
		res_vcpu_free(s->l[l].v);
		credits_free(&s->l[l].cr);
	}
	free(s->l);
	memset(s, 0, sizeof(*s));
}

void interval_free(struct interval *iv)
{
	if (!iv)
		return;
	for (size_t k = 0; k < iv->nslot; k++) {
		for (int l = 0; l < iv->slot[k].n; l++) {
			res_vcpu_free(iv->slot[k].l[l].v);
			credits_free(&iv->slot[k].l[l].cr);
		}
		free(iv->slot[k].l);
	}
	free(iv->slot);
	free(iv);
}
