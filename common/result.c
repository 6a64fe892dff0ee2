/* The analysis result model: histograms, builders, canonical order (JSON: result_json.c). */
#include <stdlib.h>
#include <string.h>

#include "result.h"
#include "util.h"

const char *const vw_state_names[VS_NR] = {
	"guest", "guest_l2", "hypervisor", "vmm", "preempted", "idle", "unknown", "running",
};

const char *const vw_reason_names[WR_NR] = {
	"timer", "ipi", "disk", "net", "device", "unknown",
};

const char *const vw_preempt_kind_names[PK_NR] = { "same_vm", "other_vm", "host", "unknown" };

bool (*res_symbolize)(uint64_t rip, char *buf, size_t len);

const char *const vw_timer_src_names[TS_NR] = {
	"lapic", "pit", "hpet", "hyperv", "xen", "vector",
};

int vw_reason_parse(const char *s)
{
	for (int i = 0; i < WR_NR; i++)
		if (!strcmp(s, vw_reason_names[i]))
			return i;
	return -1;
}

/* ---- histogram ---- */


/* Largest value that falls into bucket (chunk, sub). */
static uint64_t hist_upper(unsigned int chunk, unsigned int sub)
{
	unsigned int e;
	uint64_t lo, width;

	if (!chunk)
		return sub;
	e = chunk + HIST_SUB_BITS - 1;
	width = 1ULL << (e - HIST_SUB_BITS);
	lo = (1ULL << e) + (uint64_t)sub * width;
	return lo + width - 1;
}

bool hist_next(const struct vw_hist *h, unsigned int *pos, uint64_t *lo, uint64_t *hi,
	       uint64_t *count)
{
	for (; *pos < HIST_CHUNKS * HIST_SUB; (*pos)++) {
		unsigned int c = *pos / HIST_SUB, s = *pos % HIST_SUB;

		if (!h->chunk[c]) {
			*pos = (c + 1) * HIST_SUB - 1;
			continue;
		}
		if (!h->chunk[c][s])
			continue;
		*hi = hist_upper(c, s);
		*lo = c ? *hi - (1ULL << (c - 1)) + 1 : s;
		*count = h->chunk[c][s];
		(*pos)++;
		return true;
	}
	return false;
}

/* hist_add()'s rare path: the bucket's chunk does not exist yet. */
void hist_add_new(struct vw_hist *h, unsigned int c, unsigned int s, uint64_t v)
{
	h->chunk[c] = xcalloc(HIST_SUB, sizeof(uint64_t));
	h->chunk[c][s]++;
	h->count++;
	h->total += v;
	if (v > h->max)
		h->max = v;
}

void hist_merge(struct vw_hist *dst, const struct vw_hist *src)
{
	for (unsigned int c = 0; c < HIST_CHUNKS; c++) {
		if (!src->chunk[c])
			continue;
		if (!dst->chunk[c])
			dst->chunk[c] = xcalloc(HIST_SUB, sizeof(uint64_t));
		for (unsigned int s = 0; s < HIST_SUB; s++)
			dst->chunk[c][s] += src->chunk[c][s];
	}
	dst->count += src->count;
	dst->total += src->total;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t hist_pct(const struct vw_hist *h, unsigned int pct)
{
	uint64_t rank, seen = 0;

	if (!h->count)
		return 0;
	rank = (h->count * pct + 99) / 100;
	if (!rank)
		rank = 1;
	for (unsigned int c = 0; c < HIST_CHUNKS; c++) {
		if (!h->chunk[c])
			continue;
		for (unsigned int s = 0; s < HIST_SUB; s++) {
			seen += h->chunk[c][s];
			if (seen >= rank)
				return MIN(hist_upper(c, s), h->max);
		}
	}
	return h->max;
}

void hist_free(struct vw_hist *h)
{
	for (unsigned int c = 0; c < HIST_CHUNKS; c++)
		free(h->chunk[c]);
	memset(h, 0, sizeof(*h));
}

/* ---- builders ---- */

struct vw_vm *res_vm(struct vw_result *r, int pid)
{
	struct vw_vm *vm;

	for (int i = 0; i < r->nr_vms; i++)
		if (r->vms[i]->pid == pid)
			return r->vms[i];
	vm = xcalloc(1, sizeof(*vm));
	vm->pid = pid;
	r->vms = xrealloc(r->vms, (r->nr_vms + 1) * sizeof(*r->vms));
	r->vms[r->nr_vms++] = vm;
	return vm;
}

static struct vw_vcpu *vcpu_alloc(int vcpu, int tid)
{
	struct vw_vcpu *v = xcalloc(1, sizeof(*v));

	v->vcpu = vcpu;
	v->tid = tid;
	return v;
}

struct vw_vcpu *res_vcpu_new(struct vw_vm *vm, int vcpu, int tid)
{
	struct vw_vcpu *v = vcpu_alloc(vcpu, tid);

	vm->vcpus = xrealloc(vm->vcpus, (vm->nr_vcpus + 1) * sizeof(*vm->vcpus));
	vm->vcpus[vm->nr_vcpus++] = v;
	return v;
}

struct vw_nested *res_nested(struct vw_vm *vm, const char *id)
{
	struct vw_nested *n;

	for (int i = 0; i < vm->nr_nested; i++)
		if (!strcmp(vm->nested[i].id, id))
			return &vm->nested[i];
	vm->nested = xrealloc(vm->nested, (vm->nr_nested + 1) * sizeof(*vm->nested));
	n = &vm->nested[vm->nr_nested++];
	memset(n, 0, sizeof(*n));
	n->id = xstrdup(id);
	return n;
}

struct vw_vcpu *res_nested_vcpu(struct vw_nested *n, const char *key, int vcpu, int tid)
{
	struct vw_vcpu *v;

	for (int i = 0; i < n->nr_vcpus; i++)
		if (!strcmp(n->vcpus[i]->key, key))
			return n->vcpus[i];
	v = vcpu_alloc(vcpu, tid);
	v->key = xstrdup(key);
	n->vcpus = xrealloc(n->vcpus, (n->nr_vcpus + 1) * sizeof(*n->vcpus));
	n->vcpus[n->nr_vcpus++] = v;
	return v;
}

struct vw_exit *res_exit_find(struct vw_vcpu *v, uint32_t isa, uint32_t code)
{
	for (int i = 0; i < v->nr_exits; i++)
		if (v->exits[i].isa == isa && v->exits[i].code == code)
			return &v->exits[i];
	return NULL;
}

struct vw_exit *res_exit(struct vw_vcpu *v, uint32_t isa, uint32_t code, const char *name)
{
	struct vw_exit *e = res_exit_find(v, isa, code);

	if (e)
		return e;
	v->exits = xrealloc(v->exits, (v->nr_exits + 1) * sizeof(*v->exits));
	e = &v->exits[v->nr_exits++];
	memset(e, 0, sizeof(*e));
	e->isa = isa;
	e->code = code;
	if (name) {
		e->name = xstrdup(name);
	} else {
		char buf[32];

		snprintf(buf, sizeof(buf), "code %u", code);
		e->name = xstrdup(buf);
	}
	return e;
}

void res_add_preempt(struct vw_vcpu *v, int tid, const char *comm,
		     enum vw_preempt_kind kind, uint64_t ns)
{
	struct vw_preemptor *p;

	for (int i = 0; i < v->nr_preemptors; i++) {
		if (v->preemptors[i].tid == tid) {
			v->preemptors[i].total_ns += ns;
			return;
		}
	}
	v->preemptors = xrealloc(v->preemptors, (v->nr_preemptors + 1) * sizeof(*p));
	p = &v->preemptors[v->nr_preemptors++];
	memset(p, 0, sizeof(*p));
	p->tid = tid;
	snprintf(p->comm, sizeof(p->comm), "%s", comm ? comm : "");
	p->kind = kind;
	p->total_ns = ns;
}

static struct vw_source *source_get(struct vw_source **arr, int *nr, int key, int gsi)
{
	struct vw_source *s;

	for (int i = 0; i < *nr; i++)
		if ((*arr)[i].key == key && (*arr)[i].gsi == gsi)
			return &(*arr)[i];
	*arr = xrealloc(*arr, (*nr + 1) * sizeof(**arr));
	s = &(*arr)[(*nr)++];
	memset(s, 0, sizeof(*s));
	s->key = key;
	s->gsi = gsi;
	return s;
}

void res_add_wait(struct vw_vcpu *v, enum vw_reason reason, uint64_t ns,
		  int source_key, int gsi)
{
	hist_add(&v->waits[reason], ns);
	if (reason == WR_IPI && source_key >= 0)
		hist_add(&source_get(&v->ipi_from, &v->nr_ipi_from, source_key, -1)->hist, ns);
	else if (reason == WR_DEVICE)
		hist_add(&source_get(&v->devices, &v->nr_devices, source_key, gsi)->hist, ns);
}

void res_add_timer_source(struct vw_vcpu *v, enum vw_timer_src src, int vector, uint64_t ns)
{
	hist_add(&source_get(&v->timers, &v->nr_timers, src, vector)->hist, ns);
}

void res_exit_open(struct vw_vcpu *v, uint32_t isa, uint32_t code, const char *name,
		   uint64_t ns)
{
	struct vw_exit *e = res_exit(v, isa, code, name);

	e->open++;
	e->open_ns += ns;
}

void res_exit_unpaired(struct vw_vcpu *v, uint32_t isa, uint32_t code, const char *name)
{
	res_exit(v, isa, code, name)->unpaired++;
}

static uint64_t rip_hash(uint64_t rip)
{
	return (rip * 0x9e3779b97f4a7c15ULL) >> 32;
}

static void rips_grow(struct vw_vcpu *v)
{
	struct vw_rip *old = v->rips;
	int ocap = v->cap_rips;

	v->cap_rips = ocap ? ocap * 2 : 64;
	v->rips = xcalloc(v->cap_rips, sizeof(*v->rips));
	for (int i = 0; i < ocap; i++) {
		uint64_t h = rip_hash(old[i].rip);

		if (!old[i].count)
			continue;
		while (v->rips[h & (v->cap_rips - 1)].count)
			h++;
		v->rips[h & (v->cap_rips - 1)] = old[i];
	}
	free(old);
}

void res_add_rip(struct vw_vcpu *v, uint64_t rip)
{
	res_add_rip_n(v, rip, 1);
}

void res_add_rip_n(struct vw_vcpu *v, uint64_t rip, uint64_t n)
{
	uint64_t h;

	if (v->cap_rips && v->rips[v->last_rip].rip == rip && v->rips[v->last_rip].count) {
		v->rips[v->last_rip].count += n;
		return;
	}
	if (v->nr_rips * 2 >= v->cap_rips) {
		if (v->nr_rips >= RES_MAX_RIPS) {
			/* full: known addresses still count, new ones go to "other" */
			for (h = rip_hash(rip);; h++) {
				struct vw_rip *r = &v->rips[h & (v->cap_rips - 1)];

				if (!r->count) {
					v->rips_other += n;
					return;
				}
				if (r->rip == rip) {
					r->count += n;
					return;
				}
			}
		}
		rips_grow(v);
	}
	for (h = rip_hash(rip);; h++) {
		struct vw_rip *r = &v->rips[h & (v->cap_rips - 1)];

		if (!r->count) {
			r->rip = rip;
			r->count = n;
			v->nr_rips++;
			v->last_rip = (int)(h & (v->cap_rips - 1));
			return;
		}
		if (r->rip == rip) {
			r->count += n;
			v->last_rip = (int)(h & (v->cap_rips - 1));
			return;
		}
	}
}

static int cmp_rip(const void *a, const void *b)
{
	const struct vw_rip *x = a, *y = b;

	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return x->rip < y->rip ? -1 : x->rip > y->rip;
}

struct vw_rip *res_top_rips(const struct vw_vcpu *v, int *n)
{
	struct vw_rip *out = xcalloc(v->nr_rips ? v->nr_rips : 1, sizeof(*out));

	*n = 0;
	for (int i = 0; i < v->cap_rips; i++)
		if (v->rips[i].count)
			out[(*n)++] = v->rips[i];
	if (*n > 1)
		qsort(out, *n, sizeof(*out), cmp_rip);
	return out;
}

void res_evidence_add(struct vw_evidence *e, bool recorded, const char *name)
{
	char ***arr = recorded ? &e->recorded : &e->missing;
	int *n = recorded ? &e->nr_recorded : &e->nr_missing;

	*arr = xrealloc(*arr, (*n + 1) * sizeof(**arr));
	(*arr)[(*n)++] = xstrdup(name);
}


/* ---- canonical order ---- */

static int cmp_exit(const void *a, const void *b)
{
	const struct vw_exit *x = a, *y = b;

	if (vw_exit_count(x) != vw_exit_count(y))
		return vw_exit_count(x) > vw_exit_count(y) ? -1 : 1;
	if (x->isa != y->isa)
		return x->isa < y->isa ? -1 : 1;
	return x->code < y->code ? -1 : x->code > y->code;
}

static int cmp_preemptor(const void *a, const void *b)
{
	const struct vw_preemptor *x = a, *y = b;

	if (x->total_ns != y->total_ns)
		return x->total_ns > y->total_ns ? -1 : 1;
	return x->tid < y->tid ? -1 : x->tid > y->tid;
}

static int cmp_source(const void *a, const void *b)
{
	const struct vw_source *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->gsi < y->gsi ? -1 : x->gsi > y->gsi;
}

static int cmp_vcpu(const void *a, const void *b)
{
	const struct vw_vcpu *x = *(struct vw_vcpu *const *)a, *y = *(struct vw_vcpu *const *)b;

	if (x->key && y->key && strcmp(x->key, y->key))
		return strcmp(x->key, y->key);
	if (x->vcpu != y->vcpu)
		return (unsigned int)x->vcpu < (unsigned int)y->vcpu ? -1 : 1;
	return x->tid < y->tid ? -1 : x->tid > y->tid;
}

static int cmp_vm(const void *a, const void *b)
{
	const struct vw_vm *x = *(struct vw_vm *const *)a, *y = *(struct vw_vm *const *)b;

	if (x->pid != y->pid)
		return (unsigned int)x->pid < (unsigned int)y->pid ? -1 : 1;
	if (x->guessed != y->guessed)
		return x->guessed ? 1 : -1;
	if (x->guessed)		/* "~N": by N */
		return atoi(x->name + 1) - atoi(y->name + 1);
	return strcmp(x->name ? x->name : "", y->name ? y->name : "");
}

static int cmp_nested(const void *a, const void *b)
{
	return strcmp(((const struct vw_nested *)a)->id, ((const struct vw_nested *)b)->id);
}

/* qsort() with an empty (possibly NULL) array is undefined behaviour. */
static void sort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	if (n > 1)
		qsort(base, n, size, cmp);
}

static void vcpu_finish(struct vw_vcpu *v)
{
	sort(v->exits, v->nr_exits, sizeof(*v->exits), cmp_exit);
	sort(v->preemptors, v->nr_preemptors, sizeof(*v->preemptors), cmp_preemptor);
	sort(v->ipi_from, v->nr_ipi_from, sizeof(*v->ipi_from), cmp_source);
	sort(v->devices, v->nr_devices, sizeof(*v->devices), cmp_source);
	sort(v->timers, v->nr_timers, sizeof(*v->timers), cmp_source);
}

void res_finish(struct vw_result *r)
{
	sort(r->vms, r->nr_vms, sizeof(*r->vms), cmp_vm);
	for (int i = 0; i < r->nr_vms; i++) {
		struct vw_vm *vm = r->vms[i];

		sort(vm->vcpus, vm->nr_vcpus, sizeof(*vm->vcpus), cmp_vcpu);
		for (int j = 0; j < vm->nr_vcpus; j++)
			vcpu_finish(vm->vcpus[j]);
		sort(vm->nested, vm->nr_nested, sizeof(*vm->nested), cmp_nested);
		for (int j = 0; j < vm->nr_nested; j++) {
			struct vw_nested *n = &vm->nested[j];

			sort(n->vcpus, n->nr_vcpus, sizeof(*n->vcpus), cmp_vcpu);
			for (int k = 0; k < n->nr_vcpus; k++)
				vcpu_finish(n->vcpus[k]);
		}
	}
}

static void vcpu_merge(struct vw_vcpu *dst, const struct vw_vcpu *src)
{
	for (int s = 0; s < VS_NR; s++) {
		dst->states_ns[s] += src->states_ns[s];
		hist_merge(&dst->state_hist[s], &src->state_hist[s]);
	}
	dst->polled_ns += src->polled_ns;
	dst->gaps += src->gaps;
	dst->guest_kernel_ns += src->guest_kernel_ns;
	dst->guest_user_ns += src->guest_user_ns;
	dst->rips_other += src->rips_other;
	for (int i = 0; i < src->cap_rips; i++)
		if (src->rips[i].count)
			res_add_rip_n(dst, src->rips[i].rip, src->rips[i].count);
	dst->wakeup_latency_ns += src->wakeup_latency_ns;
	for (int w = 0; w < WR_NR; w++)
		hist_merge(&dst->waits[w], &src->waits[w]);
	for (int i = 0; i < src->nr_ipi_from; i++)
		hist_merge(&source_get(&dst->ipi_from, &dst->nr_ipi_from, src->ipi_from[i].key, -1)->hist,
			   &src->ipi_from[i].hist);
	for (int i = 0; i < src->nr_devices; i++)
		hist_merge(&source_get(&dst->devices, &dst->nr_devices, src->devices[i].key,
				       src->devices[i].gsi)->hist, &src->devices[i].hist);
	for (int i = 0; i < src->nr_timers; i++)
		hist_merge(&source_get(&dst->timers, &dst->nr_timers, src->timers[i].key,
				       src->timers[i].gsi)->hist, &src->timers[i].hist);
	for (int i = 0; i < src->nr_exits; i++) {
		const struct vw_exit *e = &src->exits[i];

		struct vw_exit *d = res_exit(dst, e->isa, e->code, e->name);

		hist_merge(&d->hist, &e->hist);
		d->open += e->open;
		d->open_ns += e->open_ns;
		d->unpaired += e->unpaired;
	}
	for (int i = 0; i < src->nr_preemptors; i++) {
		const struct vw_preemptor *p = &src->preemptors[i];

		res_add_preempt(dst, p->tid, p->comm, p->kind, p->total_ns);
	}
}

struct vw_vcpu *res_vm_totals(const struct vw_vm *vm)
{
	struct vw_vcpu *t = vcpu_alloc(-1, -1);

	t->first_ns = UINT64_MAX;
	for (int i = 0; i < vm->nr_vcpus; i++) {
		vcpu_merge(t, vm->vcpus[i]);
		t->first_ns = MIN(t->first_ns, vm->vcpus[i]->first_ns);
	}
	if (t->first_ns == UINT64_MAX)
		t->first_ns = 0;
	vcpu_finish(t);
	return t;
}

/* ---- freeing ---- */

void res_vcpu_free(struct vw_vcpu *v)
{
	if (!v)
		return;
	for (int s = 0; s < VS_NR; s++)
		hist_free(&v->state_hist[s]);
	for (int w = 0; w < WR_NR; w++)
		hist_free(&v->waits[w]);
	for (int i = 0; i < v->nr_ipi_from; i++)
		hist_free(&v->ipi_from[i].hist);
	for (int i = 0; i < v->nr_devices; i++)
		hist_free(&v->devices[i].hist);
	for (int i = 0; i < v->nr_timers; i++)
		hist_free(&v->timers[i].hist);
	free(v->timers);
	free(v->rips);
	for (int i = 0; i < v->nr_exits; i++) {
		hist_free(&v->exits[i].hist);
		free(v->exits[i].name);
	}
	free(v->ipi_from);
	free(v->devices);
	free(v->exits);
	free(v->preemptors);
	free(v->key);
	free(v);
}

void res_vm_free(struct vw_vm *vm)
{
	for (int j = 0; j < vm->nr_vcpus; j++)
		res_vcpu_free(vm->vcpus[j]);
	for (int j = 0; j < vm->nr_nested; j++) {
		for (int k = 0; k < vm->nested[j].nr_vcpus; k++)
			res_vcpu_free(vm->nested[j].vcpus[k]);
		free(vm->nested[j].vcpus);
		free(vm->nested[j].id);
	}
	free(vm->nested);
	res_guest_free(vm->guest);
	free(vm->vcpus);
	free(vm->name);
	free(vm->grouped_by);
	free(vm);
}

void res_free(struct vw_result *r)
{
	for (int i = 0; i < r->nr_vms; i++)
		res_vm_free(r->vms[i]);
	free(r->vms);
	free(r->file);
	free(r->buffer);
	for (int i = 0; i < r->nr_intervals; i++)
		res_free(&r->intervals[i]);
	free(r->intervals);
	for (int i = 0; i < r->evidence.nr_recorded; i++)
		free(r->evidence.recorded[i]);
	for (int i = 0; i < r->evidence.nr_missing; i++)
		free(r->evidence.missing[i]);
	free(r->evidence.recorded);
	free(r->evidence.missing);
	memset(r, 0, sizeof(*r));
}

bool res_lossy(const struct vw_result *r)
{
	return r->lost_events || r->lost_unknown || r->corrupt;
}

const char *res_loss_text(const struct vw_result *r, const char *lost, char *buf, size_t len)
{
	unsigned long long k = r->lost_unknown;
	int n;

	if (!k)
		n = snprintf(buf, len, "%llu %s", (unsigned long long)r->lost_events, lost);
	else if (!r->lost_events)
		n = snprintf(buf, len, "%s (count unknown) at %llu point%s", lost, k,
			     k > 1 ? "s" : "");
	else
		n = snprintf(buf, len, "%llu %s, and more of unknown count at %llu point%s",
			     (unsigned long long)r->lost_events, lost, k, k > 1 ? "s" : "");
	if (r->corrupt && n >= 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, " and corrupt pages skipped");
	return buf;
}
