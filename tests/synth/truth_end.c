/*
 * Ground truth, the end of the trace: every open period closed, each vCPU
 * thread placed in its VM (README "Threads, vCPUs and VMs": tgid, an
 * injector's tgid, or a guessed VM grouped by ipi waits and HLT rips), VM
 * names, preemption credits resolved into kinds and wakeup latency.
 */
#include <stdlib.h>
#include <string.h>

#include "truth_int.h"
#include "util.h"

#define KERNEL_HALF	0xffff800000000000ULL
enum { LINK_IPI = 1, LINK_RIP = 2 };

void truth_link(struct struth *t, struct tthread *a, struct tthread *b)
{
	t->links = xrealloc(t->links, (t->nr_links + 1) * sizeof(*t->links));
	t->links[t->nr_links].a = a;
	t->links[t->nr_links].b = b;
	t->nr_links++;
}

/* ---- guessed VMs ---- */

struct grouping {
	struct tthread **t;	/* the unplaced vCPU threads, by first sighting */
	int n;
	int *kinds;
};

static int root(struct grouping *g, int i)
{
	while (g->t[i]->group != i)
		i = g->t[i]->group;
	return i;
}

static bool overlap(const struct tthread *x, const struct tthread *y)
{
	return x->vcpu >= 0 && x->vcpu == y->vcpu && x->first <= y->last && y->first <= x->last;
}

/* Join the groups of @i and @j unless the result holds one vcpu id twice at once. */
static void join(struct grouping *g, int i, int j, int kind)
{
	int ri = root(g, i), rj = root(g, j), x;

	if (ri == rj)
		return;
	for (int p = 0; p < g->n; p++)
		for (int q = 0; q < g->n; q++)
			if (root(g, p) == ri && root(g, q) == rj && overlap(g->t[p], g->t[q]))
				return;
	if (rj < ri) {
		x = ri;
		ri = rj;
		rj = x;
	}
	g->t[rj]->group = ri;
	g->kinds[ri] |= g->kinds[rj] | kind;
}

static int index_of(const struct grouping *g, const struct tthread *th)
{
	for (int i = 0; i < g->n; i++)
		if (g->t[i] == th)
			return i;
	return -1;
}

static int cmp_first(const void *x, const void *y)
{
	const struct tthread *a = *(struct tthread *const *)x, *b = *(struct tthread *const *)y;

	if (a->first != b->first)
		return a->first < b->first ? -1 : 1;
	return a->tid < b->tid ? -1 : a->tid > b->tid;
}

static void group_unplaced(struct struth *t)
{
	struct grouping g = { 0 };
	int num = 0;

	g.t = xcalloc(t->nr_list + 1, sizeof(*g.t));
	g.kinds = xcalloc(t->nr_list + 1, sizeof(*g.kinds));
	for (int i = 0; i < t->nr_list; i++)
		if (t->list[i]->is_vcpu && t->list[i]->seen && !t->list[i]->vm)
			g.t[g.n++] = t->list[i];
	qsort(g.t, g.n, sizeof(*g.t), cmp_first);
	for (int i = 0; i < g.n; i++)
		g.t[i]->group = i;
	for (int k = 0; k < t->nr_links; k++) {
		int i = index_of(&g, t->links[k].a), j = index_of(&g, t->links[k].b);

		if (i >= 0 && j >= 0)
			join(&g, i, j, LINK_IPI);
	}
	for (int i = 0; i < g.n; i++)
		for (int j = 0; j < i; j++)
			if (g.t[i]->hlt_seen && g.t[i]->hlt_rip >= KERNEL_HALF &&
			    g.t[j]->hlt_seen && g.t[i]->hlt_rip == g.t[j]->hlt_rip)
				join(&g, j, i, LINK_RIP);
	for (int i = 0; i < g.n; i++) {
		char name[16], by[32];
		struct vw_vm *vm;

		if (root(&g, i) != i)
			continue;
		snprintf(name, sizeof(name), "~%d", ++num);
		snprintf(by, sizeof(by), "%s%s%s", g.kinds[i] & LINK_IPI ? "ipi" : "",
			 g.kinds[i] == (LINK_IPI | LINK_RIP) ? "," : "",
			 g.kinds[i] & LINK_RIP ? "hlt-rip" : "");
		t->res->vms = xrealloc(t->res->vms, (t->res->nr_vms + 1) * sizeof(vm));
		vm = xcalloc(1, sizeof(*vm));
		t->res->vms[t->res->nr_vms++] = vm;
		vm->pid = -1;
		vm->name = xstrdup(name);
		vm->guessed = true;
		vm->grouped_by = xstrdup(by);
		g.t[i]->vm = vm;
	}
	for (int i = 0; i < g.n; i++)
		g.t[i]->vm = g.t[root(&g, i)]->vm;
	free(g.t);
	free(g.kinds);
}

/* ---- names and credits ---- */

static struct tthread *last_of(struct struth *t, int tid)
{
	struct tthread *found = NULL;

	for (int i = 0; i < t->nr_list; i++)
		if (t->list[i]->tid == tid)
			found = t->list[i];
	return found;
}

/* README: the guest= or first value of -name in the cmdline, else the tgid's command name. */
static void vm_name(struct struth *t, struct vw_vm *vm)
{
	const struct tthread *th;
	char name[128];

	for (int i = 0; i < t->nr_vmcmd; i++) {
		const char *p = strstr(t->vmcmd[i].cmdline, "-name "), *g;
		size_t n;

		if (t->vmcmd[i].pid != vm->pid || !p)
			continue;
		p += 6;
		g = strstr(p, "guest=");
		if (g && (size_t)(g - p) < strcspn(p, " "))
			p = g + 6;
		n = strcspn(p, " ,");
		snprintf(name, sizeof(name), "%.*s", (int)MIN(n, sizeof(name) - 1), p);
		vm->name = xstrdup(name);
		return;
	}
	th = last_of(t, vm->pid);
	if (th && th->comm[0])
		vm->name = xstrdup(th->comm);
	else if (vm->pid > 0 && vm->pid < t->nr_cmdline && t->cmdline[vm->pid])
		vm->name = xstrdup(t->cmdline[vm->pid]);
	else
		vm->name = xstrdup("?");
}

/* The VM a thread belongs to: its own (vCPU threads), or the reported VM of its tgid. */
static struct vw_vm *vm_of(struct struth *t, const struct tthread *p)
{
	if (p->is_vcpu && p->vm)
		return p->vm;
	if (p->tgid < 0)
		return NULL;
	for (int i = 0; i < t->res->nr_vms; i++)
		if (t->res->vms[i]->pid == p->tgid && !t->res->vms[i]->guessed)
			return t->res->vms[i];
	return NULL;
}

static void credits_out(struct struth *t, struct vw_vcpu *v, const struct credits *c,
			struct vw_vm *vm)
{
	for (int i = 0; i < c->n; i++) {
		const struct tthread *p;
		struct vw_vm *pvm;

		if (c->v[i].key == CK_IDLE) {
			v->wakeup_latency_ns += c->v[i].ns;
			continue;
		}
		if (c->v[i].key == CK_UNKNOWN) {
			res_add_preempt(v, -1, "<unknown>", PK_UNKNOWN, c->v[i].ns);
			continue;
		}
		p = t->list[c->v[i].key - 1];
		pvm = vm_of(t, p);
		res_add_preempt(v, p->tid, p->comm, !pvm ? PK_HOST :
				pvm == vm ? PK_SAME_VM : PK_OTHER_VM, c->v[i].ns);
	}
}

static void attach(struct vw_vcpu ***arr, int *nr, struct vw_vcpu *v)
{
	*arr = xrealloc(*arr, (*nr + 1) * sizeof(**arr));
	(*arr)[(*nr)++] = v;
}

void truth_finish(struct struth *t, uint64_t end)
{
	for (int i = 0; i < t->nr_list; i++)
		end_thread(t, t->list[i], end, false);
	for (int i = 0; i < t->nr_l2s; i++)
		acc_commit(&t->l2s[i]->acc);
	/* the VM of each vCPU thread: its tgid, an injector's, or a guessed one */
	for (int i = 0; i < t->nr_list; i++) {
		struct tthread *th = t->list[i];

		if (!th->is_vcpu || !th->seen)
			continue;
		if (th->tgid >= 0)
			th->vm = res_vm(t->res, th->tgid);
		else if (th->anchor >= 0)
			th->vm = res_vm(t->res, th->anchor);
	}
	group_unplaced(t);
	for (int i = 0; i < t->nr_list; i++) {
		struct tthread *th = t->list[i];
		struct vw_vcpu *v = th->acc.res;

		if (!th->is_vcpu || !th->seen)
			continue;
		v->vcpu = th->vcpu;
		v->first_ns = th->first;
		v->end_ns = th->end;
		snprintf(v->comm, sizeof(v->comm), "%s", th->comm);
		credits_out(t, v, &th->acc.done, th->vm);
		attach(&th->vm->vcpus, &th->vm->nr_vcpus, v);
	}
	for (int i = 0; i < t->nr_l2s; i++) {
		struct tl2 *l2 = t->l2s[i];
		struct vw_nested *n = res_nested(l2->l1->vm, l2->id);

		l2->acc.res->end_ns = end;
		credits_out(t, l2->acc.res, &l2->acc.done, l2->l1->vm);
		attach(&n->vcpus, &n->nr_vcpus, l2->acc.res);
		l2->acc.res = NULL;
	}
	for (int i = 0; i < t->res->nr_vms; i++)
		if (!t->res->vms[i]->name)
			vm_name(t, t->res->vms[i]);
}
