/*
 * The --guest inputs: each guest trace loaded before the host pass; after
 * it, the VM it belongs to (trace-cmd's trace ids, =VM, or the only VM),
 * its clock (the file's TIME_SHIFT, --guest-offset, or auto), the checks
 * that refuse a join that cannot be right, and the join.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "guest.h"
#include "tin.h"
#include "util.h"

struct guests *guests_open(const struct guest_spec *specs, int n)
{
	struct guests *gs = xcalloc(1, sizeof(*gs));

	gs->g = xcalloc(n, sizeof(*gs->g));
	gs->n = n;
	guests_sink_init(gs);
	for (int i = 0; i < n; i++) {
		gs->g[i].spec = &specs[i];
		if (gtrace_load(&gs->g[i])) {
			guests_free(gs);
			return NULL;
		}
	}
	return gs;
}

void guests_free(struct guests *gs)
{
	if (!gs)
		return;
	guests_explain_close(gs);
	for (int i = 0; i < gs->n; i++)
		gtrace_free(&gs->g[i]);
	for (size_t i = 0; i < gs->nlanes; i++) {
		free(gs->lanes[i].w);
		free(gs->lanes[i].j);
	}
	free(gs->lanes);
	free(gs->lhash);
	free(gs->g);
	free(gs);
}

/* "web1 (pid 4000), web2 (pid 5000)": the VMs of @res, for messages. */
static void vm_list(const struct vw_result *res, struct sbuf *sb)
{
	for (int i = 0; i < res->nr_vms; i++) {
		sbuf_addf(sb, "%s%s", i ? ", " : "", res->vms[i]->name ? res->vms[i]->name : "?");
		if (res->vms[i]->pid >= 0)
			sbuf_addf(sb, " (pid %d)", res->vms[i]->pid);
	}
	if (!res->nr_vms)
		sbuf_addf(sb, "none: no kvm events?");
}

/* The one VM of @res that @sel names (pid or name); NULL after a message. */
static struct vw_vm *vm_named(const struct vw_result *res, const char *sel, const char *path,
			      const char *how)
{
	struct vw_vm *vm = NULL;
	struct sbuf sb = { 0 };
	int n = 0;

	for (int i = 0; i < res->nr_vms; i++)
		if (sel_vm_matches(res->vms[i], sel)) {
			vm = res->vms[i];
			n++;
		}
	if (n == 1)
		return vm;
	vm_list(res, &sb);
	if (n)
		vw_err("guest trace %s: %s '%s' names %d VMs of %s (%s): give its pid", path, how,
		       sel, n, res->file, sb.buf);
	else
		vw_err("guest trace %s: %s '%s', but %s has no such VM (VMs: %s)", path, how, sel,
		       res->file, sb.buf);
	sbuf_free(&sb);
	return NULL;
}

/* trace-cmd -A: the host's GUEST option naming @g by its trace id, or NULL. */
static const struct tdat_guest *linked(const struct gtrace *g, const struct tin_meta *host)
{
	if (!g->has_trace_id)
		return NULL;
	for (int k = 0; k < host->nguests; k++)
		if (host->guests[k].trace_id == g->trace_id)
			return &host->guests[k];
	return NULL;
}

/* Refuse a guest trace that trace-cmd's ids say belongs to another recording. */
static int ids_check(const struct gtrace *g, const struct tin_meta *host, const char *hname)
{
	struct sbuf sb = { 0 };

	if (g->time_shift && host->has_trace_id && g->peer_trace_id != host->trace_id) {
		vw_err("guest trace %s was recorded with another host trace (its TIME_SHIFT names "
		       "trace id 0x%" PRIx64 ", %s is 0x%" PRIx64 ")", g->spec->path,
		       g->peer_trace_id, hname, host->trace_id);
		return -1;
	}
	if (!g->has_trace_id || !host->nguests || linked(g, host))
		return 0;
	for (int k = 0; k < host->nguests; k++)
		sbuf_addf(&sb, "%s%s 0x%" PRIx64, k ? ", " : "", host->guests[k].name,
			  host->guests[k].trace_id);
	vw_err("guest trace %s (trace id 0x%" PRIx64 ") is none of the guests %s names (%s): "
	       "the trace of another VM", g->spec->path, g->trace_id, hname, sb.buf);
	sbuf_free(&sb);
	return -1;
}

/* The VM @g belongs to: =VM, trace-cmd's GUEST option, or the only VM. */
static int pick_vm(struct guests *gs, struct gtrace *g, const struct vw_result *res,
		   const struct tin_meta *host)
{
	const struct tdat_guest *l = linked(g, host);
	const char *path = g->spec->path;
	const char *lname = NULL;
	struct sbuf sb = { 0 };
	char buf[48];

	if (ids_check(g, host, res->file))
		return -1;
	if (l)
		lname = guest_vm_name(l, buf, sizeof(buf));
	if (g->spec->vm) {
		g->vm = vm_named(res, g->spec->vm, path, "=VM is");
		if (g->vm && l && (!g->vm->name || strcmp(g->vm->name, lname))) {
			vw_err("guest trace %s is guest '%s' (its trace id), not VM '%s'", path,
			       lname, g->spec->vm);
			return -1;
		}
	} else if (l) {
		g->vm = vm_named(res, lname, path, "its trace id names guest");
	} else if (res->nr_vms == 1) {
		g->vm = res->vms[0];
	} else {
		vm_list(res, &sb);
		vw_err("guest trace %s: which VM is it? give --guest %s=VM (%s has %s%s)", path,
		       path, res->file, res->nr_vms ? "VMs " : "no VM", sb.buf);
		sbuf_free(&sb);
		return -1;
	}
	if (!g->vm)
		return -1;
	for (int i = 0; i < gs->n; i++)
		if (&gs->g[i] != g && gs->g[i].vm == g->vm) {
			vw_err("guest traces %s and %s are both of VM %s", gs->g[i].spec->path,
			       path, g->vm->name);
			return -1;
		}
	return 0;
}

/* Guest CPU n is vCPU n: the VM may not have a vCPU the guest has no CPU for. */
static int cpus_check(const struct gtrace *g)
{
	for (int i = 0; i < g->vm->nr_vcpus; i++)
		if (g->vm->vcpus[i]->vcpu >= g->ncpus) {
			vw_err("guest trace %s has %d CPUs, but VM %s has vCPU %d: it is not this "
			       "VM's trace", g->spec->path, g->ncpus, g->vm->name,
			       g->vm->vcpus[i]->vcpu);
			return -1;
		}
	return 0;
}

#define SECS(ns)	(unsigned long long)((ns) / NSEC_PER_SEC), \
			(unsigned long long)((ns) % NSEC_PER_SEC)

/* The clock: an offset on top of the file's own mapping, and the overlap check. */
static int clock_map(struct guests *gs, struct gtrace *g, const struct vw_result *res)
{
	g->lo = g->hi = 0;
	if (g->spec->offset_mode == GO_AUTO) {
		if (gtrace_auto_offset(gs, g))
			return -1;
		g->offset_from = "auto";
	} else {
		g->offset = g->spec->offset_mode == GO_VALUE ? g->spec->offset : 0;
		g->offset_from = g->spec->offset_mode == GO_VALUE ? "option" : "none";
	}
	gtrace_shift(g, g->offset);
	if (g->last < res->start_ns || g->first > res->end_ns) {
		vw_err("guest trace %s runs from %llu.%09llu to %llu.%09llu in host time, %s from "
		       "%llu.%09llu to %llu.%09llu: the clocks differ (give --guest-offset NS or "
		       "auto)", g->spec->path, SECS(g->first), SECS(g->last), res->file,
		       SECS(res->start_ns), SECS(res->end_ns));
		return -1;
	}
	return 0;
}

/* Waits with guest events inside their halt: a few are skew, many a wrong join. */
static int consistency(struct guests *gs, const struct gtrace *g)
{
	uint64_t judged = 0, bad = g->vm->guest->inconsistent;

	for (int i = 0; i < g->vm->nr_vcpus; i++) {
		const struct hlane *hl = guests_lane(gs, g->vm->vcpus[i], false);

		if (!hl || !hl->j)
			continue;
		for (size_t k = 0; k < hl->n; k++)
			judged += hl->w[k].counted && hl->j[k].status != GJ_OUTSIDE &&
				  hl->j[k].status != GJ_UNKNOWN;
	}
	if (bad && (bad >= 3 && bad * 10 > judged)) {
		vw_err("guest trace %s does not fit VM %s: %llu of its %llu waits have guest "
		       "scheduler events inside the halt (another VM's trace, or clocks that "
		       "differ: see --guest-offset)", g->spec->path, g->vm->name,
		       (unsigned long long)bad, (unsigned long long)judged);
		return -1;
	}
	if (bad)
		vw_warn("guest trace %s: %llu of the %llu waits of VM %s it covers have guest "
			"scheduler events inside the halt (clock skew?): they have no guest task",
			g->spec->path, (unsigned long long)bad, (unsigned long long)judged,
			g->vm->name);
	return 0;
}

int guests_join(struct guests *gs, struct vw_result *res, const struct tin_meta *host,
		const struct analyze_opts *o)
{
	guests_sort(gs);
	for (int i = 0; i < gs->n; i++) {
		struct gtrace *g = &gs->g[i];

		if (pick_vm(gs, g, res, host) || cpus_check(g) || clock_map(gs, g, res))
			return -1;
		gtrace_join(gs, g, o);
		if (consistency(gs, g))
			return -1;
	}
	return 0;
}
