/*
 * --vm and --vcpu on the finished result: keep what they select, or say in
 * one line that they select nothing and what the trace holds instead.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

bool sel_vm_matches(const struct vw_vm *vm, const char *sel)
{
	uint64_t pid;

	if (!sel)
		return true;
	if (!parse_u64(sel, &pid))
		return vm->pid == (int)pid;
	return vm->name && !strcmp(vm->name, sel);
}

bool sel_vcpu_matches(const struct analyze_opts *o, int vcpu)
{
	if (!o->nvcpus)
		return true;
	for (int i = 0; i < o->nvcpus; i++)
		if (o->vcpus[i] == vcpu)
			return true;
	return false;
}

static bool vm_has_vcpu(const struct vw_vm *vm, int vcpu)
{
	for (int j = 0; j < vm->nr_vcpus; j++)
		if (vm->vcpus[j]->vcpu == vcpu)
			return true;
	return false;
}

/* Is vCPU @vcpu in a VM that --vm selects? */
static bool vcpu_exists(const struct vw_result *r, const struct analyze_opts *o, int vcpu)
{
	for (int i = 0; i < r->nr_vms; i++)
		if (sel_vm_matches(r->vms[i], o->vm) && vm_has_vcpu(r->vms[i], vcpu))
			return true;
	return false;
}

/* Does --vm select a VM (or is it not given)? */
static bool vm_found(const struct vw_result *r, const char *sel)
{
	for (int i = 0; i < r->nr_vms; i++)
		if (sel_vm_matches(r->vms[i], sel))
			return true;
	return !sel;
}

/* Does every part of the selection match something? */
static bool sel_valid(const struct vw_result *r, const struct analyze_opts *o)
{
	if (!vm_found(r, o->vm))
		return false;
	for (int k = 0; k < o->nvcpus; k++)
		if (!vcpu_exists(r, o, o->vcpus[k]))
			return false;
	return true;
}

int sel_filter(struct vw_result *r, const struct analyze_opts *o)
{
	if (!sel_valid(r, o))
		return -1;
	sel_apply(r, o);
	for (int i = 0; i < r->nr_intervals; i++)
		sel_apply(&r->intervals[i], o);
	return 0;
}

/* Drop what --vm / --vcpu leave out of @r (a selection may match nothing here). */
void sel_apply(struct vw_result *r, const struct analyze_opts *o)
{
	int nv = 0;

	for (int i = 0; i < r->nr_vms; i++) {
		struct vw_vm *vm = r->vms[i];
		int nc = 0;

		if (!sel_vm_matches(vm, o->vm)) {
			res_vm_free(vm);
			continue;
		}
		for (int j = 0; j < vm->nr_vcpus; j++) {
			if (sel_vcpu_matches(o, vm->vcpus[j]->vcpu))
				vm->vcpus[nc++] = vm->vcpus[j];
			else
				res_vcpu_free(vm->vcpus[j]);
		}
		vm->nr_vcpus = nc;
		/* with --vcpu, a VM holding none of them is not shown */
		if (o->nvcpus && !nc) {
			res_vm_free(vm);
			continue;
		}
		r->vms[nv++] = vm;
	}
	r->nr_vms = nv;
}

/* "12582 vmwait-vmm": a VM as the user can select it. */
static void add_vm(struct sbuf *sb, const struct vw_vm *vm)
{
	if (vm->pid >= 0)
		sbuf_addf(sb, "%d", vm->pid);
	else
		sbuf_addf(sb, "pid unknown");
	if (vm->name)
		sbuf_addf(sb, " %s", vm->name);
}

/* "0, 1": the vCPU ids of @vm, in the result's order (by id). */
static void add_vcpus(struct sbuf *sb, const struct vw_vm *vm)
{
	if (!vm->nr_vcpus)
		sbuf_addf(sb, "none");
	for (int j = 0; j < vm->nr_vcpus; j++) {
		if (vm->vcpus[j]->vcpu >= 0)
			sbuf_addf(sb, "%s%d", j ? ", " : "", vm->vcpus[j]->vcpu);
		else
			sbuf_addf(sb, "%sthread %d (id unknown)", j ? ", " : "", vm->vcpus[j]->tid);
	}
}

static void explain_vm(const struct vw_result *r, const struct analyze_opts *o)
{
	struct sbuf sb = { 0 };

	for (int i = 0; i < r->nr_vms; i++) {
		sbuf_addf(&sb, "%s", i ? ", " : "");
		add_vm(&sb, r->vms[i]);
	}
	if (r->nr_vms)
		vw_err("no VM '%s' in this trace (VMs: %s)", o->vm, sb.buf);
	else
		vw_err("no VM '%s' in this trace (it has no VMs: no kvm events?)", o->vm);
	sbuf_free(&sb);
}

void sel_explain(const struct vw_result *r, const struct analyze_opts *o)
{
	struct sbuf miss = { 0 }, has = { 0 };
	const struct vw_vm *only = NULL;
	int nmiss = 0, nsel = 0;

	if (!vm_found(r, o->vm)) {
		explain_vm(r, o);
		return;
	}
	for (int k = 0; k < o->nvcpus; k++) {
		bool dup = false;

		for (int l = 0; l < k; l++)
			dup |= o->vcpus[l] == o->vcpus[k];
		if (dup || vcpu_exists(r, o, o->vcpus[k]))
			continue;
		sbuf_addf(&miss, "%s%d", nmiss++ ? ", " : "", o->vcpus[k]);
	}
	for (int i = 0; i < r->nr_vms; i++) {
		if (!sel_vm_matches(r->vms[i], o->vm))
			continue;
		only = r->vms[i];
		sbuf_addf(&has, "%sVM ", nsel++ ? "; " : "");
		add_vm(&has, only);
		sbuf_addf(&has, ": vCPUs ");
		add_vcpus(&has, only);
	}
	if (nsel == 1) {
		sbuf_free(&has);
		sbuf_addf(&has, "VM ");
		add_vm(&has, only);
		sbuf_addf(&has, " (vCPUs: ");
		add_vcpus(&has, only);
		sbuf_addf(&has, ")");
		vw_err("no vCPU%s %s in %s", nmiss > 1 ? "s" : "", miss.buf, has.buf);
	} else if (nsel) {
		vw_err("no vCPU%s %s in %s (%s)", nmiss > 1 ? "s" : "", miss.buf,
		       o->vm ? "the VMs selected by --vm" : "this trace", has.buf);
	} else {
		vw_err("no vCPU%s %s in this trace (it has no VMs: no kvm events?)",
		       nmiss > 1 ? "s" : "", miss.buf);
	}
	sbuf_free(&miss);
	sbuf_free(&has);
}
