/*
 * The end of the pass: close what is open, put every vCPU thread in its VM
 * (known, named by a GUEST option, joined through an injection, or grouped
 * by evidence — README "Threads, vCPUs and VMs"), and build the result.
 */
#include <stdlib.h>
#include <string.h>

#include "analyzer.h"
#include "guest.h"
#include "util.h"

enum { LINK_IPI = 1, LINK_RIP = 2 };

#define KERNEL_HALF	0xffff800000000000ULL

static struct vw_vm *vm_new(struct vw_result *r, int pid, const char *name)
{
	struct vw_vm *vm = xcalloc(1, sizeof(*vm));

	vm->pid = pid;
	vm->name = name ? xstrdup(name) : NULL;
	r->vms = xrealloc(r->vms, (r->nr_vms + 1) * sizeof(*r->vms));
	r->vms[r->nr_vms++] = vm;
	return vm;
}

/*
 * The name of the VM of trace-cmd's GUEST option @g: its name, or (real
 * trace-cmd 3.2 files carry GUEST options with an empty name) its trace id.
 */
const char *guest_vm_name(const struct tdat_guest *g, char *buf, size_t len)
{
	if (g->name && *g->name)
		return g->name;
	snprintf(buf, len, "guest 0x%llx", (unsigned long long)g->trace_id);
	return buf;
}

/* The VM of a guest named by trace-cmd's GUEST option, whose VMM pid is unknown. */
static struct vw_vm *guest_vm(struct analyzer *a, struct vw_result *r, int g)
{
	char buf[48];
	const char *name = guest_vm_name(&a->info->guests[g], buf, sizeof(buf));

	for (int i = 0; i < r->nr_vms; i++)
		if (r->vms[i]->pid == -1 && !r->vms[i]->guessed && r->vms[i]->name &&
		    !strcmp(r->vms[i]->name, name))
			return r->vms[i];
	return vm_new(r, -1, name);
}

/* ---- grouping by evidence ---- */

struct grouping {
	struct thread **t;	/* the threads to group, by first sighting */
	int n;
	int *kinds;		/* per root: LINK_* that made the group */
};

static int root(struct grouping *g, int i)
{
	while (g->t[i]->group != i)
		i = g->t[i]->group = g->t[g->t[i]->group]->group;
	return i;
}

static bool overlap(const struct thread *x, const struct thread *y)
{
	return x->vcpu_id >= 0 && x->vcpu_id == y->vcpu_id &&
	       x->first_ns <= y->last_ns && y->first_ns <= x->last_ns;
}

/* Join the groups of @i and @j unless that puts one vcpu id twice at once. */
static void join(struct grouping *g, int i, int j, int kind)
{
	int ri = root(g, i), rj = root(g, j);

	if (ri == rj)
		return;
	for (int p = 0; p < g->n; p++) {
		if (root(g, p) != ri)
			continue;
		for (int q = 0; q < g->n; q++)
			if (root(g, q) == rj && overlap(g->t[p], g->t[q]))
				return;
	}
	if (rj < ri) {
		int x = ri;

		ri = rj;
		rj = x;
	}
	g->t[rj]->group = ri;
	g->kinds[ri] |= g->kinds[rj] | kind;
}

static int index_of(const struct grouping *g, const struct thread *t)
{
	for (int i = 0; i < g->n; i++)
		if (g->t[i] == t)
			return i;
	return -1;
}

static int cmp_first(const void *x, const void *y)
{
	const struct thread *a = *(struct thread *const *)x, *b = *(struct thread *const *)y;

	if (a->first_ns != b->first_ns)
		return a->first_ns < b->first_ns ? -1 : 1;
	return a->tid < b->tid ? -1 : a->tid > b->tid;
}

static void link_all(struct analyzer *a, struct grouping *g)
{
	for (int k = 0; k < a->nlinks; k++) {
		int i = index_of(g, a->links[k].a), j = index_of(g, a->links[k].b);

		if (i >= 0 && j >= 0)
			join(g, i, j, LINK_IPI);
	}
	for (int i = 0; i < g->n; i++)
		for (int j = 0; j < i; j++)
			if (g->t[i]->hlt_rip >= KERNEL_HALF && g->t[i]->hlt_rip == g->t[j]->hlt_rip)
				join(g, j, i, LINK_RIP);
}

/* Guessed VMs "~N" for the vCPU threads that no tgid places. */
static void group_unplaced(struct analyzer *a, struct vw_result *r)
{
	struct grouping g = { 0 };
	int n = 0;

	for (struct thread *t = a->all; t; t = t->all_next)
		if (t->res && t->seen && !t->vm)
			n++;
	if (!n)
		return;
	g.t = xcalloc(n, sizeof(*g.t));
	g.kinds = xcalloc(n, sizeof(*g.kinds));
	for (struct thread *t = a->all; t; t = t->all_next)
		if (t->res && t->seen && !t->vm)
			g.t[g.n++] = t;
	qsort(g.t, g.n, sizeof(*g.t), cmp_first);
	for (int i = 0; i < g.n; i++)
		g.t[i]->group = i;
	link_all(a, &g);
	/* a root is its group's first thread: groups are numbered in that order */
	for (int i = 0, num = 0; i < g.n; i++) {
		char name[16], by[32] = "";
		struct vw_vm *vm;

		if (root(&g, i) != i)
			continue;
		snprintf(name, sizeof(name), "~%d", ++num);
		snprintf(by, sizeof(by), "%s%s%s", g.kinds[i] & LINK_IPI ? "ipi" : "",
			 (g.kinds[i] & LINK_IPI) && (g.kinds[i] & LINK_RIP) ? "," : "",
			 g.kinds[i] & LINK_RIP ? "hlt-rip" : "");
		vm = vm_new(r, -1, name);
		vm->guessed = true;
		vm->grouped_by = xstrdup(by);
		g.t[i]->vm = vm;
	}
	for (int i = 0; i < g.n; i++)
		g.t[i]->vm = g.t[root(&g, i)]->vm;
	free(g.t);
	free(g.kinds);
}

/* Every vCPU thread's VM: its tgid, its GUEST option, an injector's tgid, or a group. */
static void place_vcpus(struct analyzer *a, struct vw_result *r)
{
	for (struct thread *t = a->all; t; t = t->all_next) {
		if (!t->res || !t->seen)
			continue;
		if (t->tgid >= 0)
			t->vm = res_vm(r, t->tgid);
		else if (t->guest)
			t->vm = guest_vm(a, r, t->guest - 1);
		else if (t->anchor >= 0)
			t->vm = res_vm(r, t->anchor);
	}
	group_unplaced(a, r);
}

/* ---- preemptors ---- */

/* The VM a thread belongs to: its own (vCPU threads), or the VM of its tgid. */
static struct vw_vm *vm_of(struct analyzer *a, const struct thread *p)
{
	if (p->vm)
		return p->vm;
	if (p->tgid < 0)
		return NULL;
	for (struct thread *t = a->all; t; t = t->all_next)
		if (t->vm && t->vm->pid == p->tgid && !t->vm->guessed)
			return t->vm;
	return NULL;
}

static const struct thread *thread_any(struct analyzer *a, int tid)
{
	const struct thread *found = NULL;

	for (struct thread *t = a->all; t; t = t->all_next)
		if (t->tid == tid)
			found = t;	/* the last one with this tid */
	return found;
}

/* @c's credits into @v: the idle task as wakeup latency, the rest as preemptors. */
void credits_to_result(struct analyzer *a, struct vw_vcpu *v, const struct credits *c,
		       const struct vw_vm *vm)
{
	for (int i = 0; i < c->n; i++) {
		const struct thread *p = c->v[i].tid > 0 ? thread_any(a, c->v[i].tid) : NULL;
		enum vw_preempt_kind kind = PK_HOST;
		const char *comm;
		const struct vw_vm *pvm;

		if (c->v[i].tid == 0) {
			v->wakeup_latency_ns += c->v[i].ns;
			continue;
		}
		if (c->v[i].tid < 0) {
			kind = PK_UNKNOWN;
		} else if (p && (pvm = vm_of(a, p))) {
			kind = pvm == vm ? PK_SAME_VM : PK_OTHER_VM;
		}
		comm = c->v[i].tid < 0 ? "<unknown>" :
		       p && p->comm[0] ? p->comm : tep_data_comm_from_pid(a->tep, c->v[i].tid);
		res_add_preempt(v, c->v[i].tid, comm, kind, c->v[i].ns);
	}
}

/* ---- names ---- */

static void vm_name(struct vw_vm *vm, struct analyzer *a)
{
	struct vm_info *vi = NULL;
	const struct thread *t;
	const char *p;

	/* trace-cmd's GUEST option names the guest whose vCPUs it maps */
	for (t = a->all; t; t = t->all_next)
		if (t->guest && t->vm == vm) {
			vm->name = xstrdup(a->info->guests[t->guest - 1].name);
			return;
		}
	for (struct vm_info *i = a->vms; i; i = i->next)
		if (i->tgid == vm->pid)
			vi = i;
	if (vi && vi->cmdline && (p = strstr(vi->cmdline, "-name "))) {
		char name[128];
		const char *g;
		size_t n;

		p += 6;
		g = strstr(p, "guest=");
		if (g && (size_t)(g - p) < strcspn(p, " "))
			p = g + 6;
		n = strcspn(p, " ,");
		snprintf(name, sizeof(name), "%.*s", (int)MIN(n, sizeof(name) - 1), p);
		vm->name = xstrdup(name);
		return;
	}
	t = vm->pid > 0 ? thread_any(a, vm->pid) : NULL;
	if (t && t->comm[0])
		vm->name = xstrdup(t->comm);
	else if (vm->pid > 0)
		vm->name = xstrdup(tep_data_comm_from_pid(a->tep, vm->pid));
	else
		vm->name = xstrdup("?");
}

/*
 * The VMs and vCPUs as known now, while the analysis goes on (vmwait top):
 * VMs by tgid (unknown ones together, pid -1, name "?"), each vCPU the live
 * result struct of its thread, borrowed (interval slices match them as
 * lanes). Free with analyzer_layout_free(), which leaves the vCPUs alone.
 */
void analyzer_layout(struct analyzer *a, struct vw_result *r)
{
	memset(r, 0, sizeof(*r));
	for (struct thread *t = a->all; t; t = t->all_next) {
		struct vw_vm *vm;

		if (!t->res || !t->seen || t->retired)
			continue;
		vm = res_vm(r, t->tgid >= 0 ? t->tgid : t->anchor);
		if (!vm->name)
			vm_name(vm, a);		/* as the result will name it */
		t->res->vcpu = t->vcpu_id;
		snprintf(t->res->comm, sizeof(t->res->comm), "%s", t->comm);
		vm->vcpus = xrealloc(vm->vcpus, (vm->nr_vcpus + 1) * sizeof(*vm->vcpus));
		vm->vcpus[vm->nr_vcpus++] = t->res;
	}
	r->start_ns = a->first_ts;
	r->end_ns = a->last_ts;
	r->events = a->events;
	r->lost_events = a->lost_events;
	r->lost_unknown = a->lost_unknown;
	r->cpus = a->ncpus;
}

void analyzer_layout_free(struct vw_result *r)
{
	for (int i = 0; i < r->nr_vms; i++) {
		free(r->vms[i]->vcpus);
		free(r->vms[i]->name);
		free(r->vms[i]);
	}
	free(r->vms);
	memset(r, 0, sizeof(*r));
}

/* Close every open period at the end and move the vCPUs into @r. */
void analyzer_finish(struct analyzer *a, struct vw_result *r)
{
	uint64_t end = a->last_ts;

	for (struct thread *t = a->all; t; t = t->all_next)
		if (t->seen && !t->retired)
			thread_end(a, t, end);
	place_vcpus(a, r);
	l2_finish(a, end);
	for (struct thread *t = a->all; t; t = t->all_next) {
		struct vw_vcpu *v = t->res;

		if (!v || !t->seen)
			continue;
		t->vm->vcpus = xrealloc(t->vm->vcpus, (t->vm->nr_vcpus + 1) * sizeof(*v));
		t->vm->vcpus[t->vm->nr_vcpus++] = v;
		v->vcpu = t->vcpu_id;
		v->end_ns = t->end_ns;
		snprintf(v->comm, sizeof(v->comm), "%s", t->comm);
		credits_to_result(a, v, &t->credits, t->vm);
		t->res = NULL;
	}
	for (int i = 0; i < r->nr_vms; i++)
		if (!r->vms[i]->name)
			vm_name(r->vms[i], a);
}
