/* Human-readable text report and CSV output of an analysis result. */
#include <string.h>

#include "analyzer.h"
#include "util.h"

static const char *dur(char *buf, size_t len, uint64_t ns)
{
	return fmt_duration(buf, len, ns);
}

static uint64_t span_of(const struct vw_vcpu *v)
{
	uint64_t s = 0;

	for (int i = 0; i < VS_NR; i++)
		s += v->states_ns[i];
	return s;
}

static void pct(FILE *f, uint64_t part, uint64_t whole)
{
	if (!whole)
		fprintf(f, " %7s", "-");
	else
		fprintf(f, " %6.1f%%", 100.0 * (double)part / (double)whole);
}

/* States shown as columns (running/guest_l2 only when present anywhere). */
static bool show_state(const struct vw_vm *vm, int s)
{
	if (s != VS_RUNNING && s != VS_GUEST_L2)
		return true;
	for (int i = 0; i < vm->nr_vcpus; i++)
		if (vm->vcpus[i]->states_ns[s])
			return true;
	return false;
}

static void state_row(FILE *f, const struct vw_vm *vm, const char *label,
		      const struct vw_vcpu *v)
{
	char b[32];
	uint64_t span = span_of(v);

	fprintf(f, "  %-22.22s", label);
	for (int s = 0; s < VS_NR; s++)
		if (show_state(vm, s))
			pct(f, v->states_ns[s], span);
	pct(f, v->polled_ns, span);
	fprintf(f, " %10s\n", dur(b, sizeof(b), span));
}

static void state_table(FILE *f, const struct vw_vm *vm, const struct vw_vcpu *tot)
{
	static const char *const head[VS_NR] = {
		"guest", "L2", "hyperv", "vmm", "preempt", "idle", "unknown", "running",
	};
	char label[64];

	fprintf(f, "  %-22s", "vCPU (thread)");
	for (int s = 0; s < VS_NR; s++)
		if (show_state(vm, s))
			fprintf(f, " %7s", head[s]);
	fprintf(f, " %7s %10s\n", "polled", "span");
	for (int i = 0; i < vm->nr_vcpus; i++) {
		const struct vw_vcpu *v = vm->vcpus[i];

		snprintf(label, sizeof(label), "%d (%s-%d)", v->vcpu, v->comm[0] ? v->comm : "?",
			 v->tid);
		state_row(f, vm, label, v);
	}
	if (vm->nr_vcpus > 1)
		state_row(f, vm, "all", tot);
}

static void stats_row(FILE *f, const char *label, const struct vw_hist *h)
{
	char b[7][32];

	fprintf(f, "    %-18s %7llu %10s %10s %10s %10s %10s %10s\n", label,
		(unsigned long long)h->count, dur(b[0], 32, h->total),
		dur(b[1], 32, h->count ? h->total / h->count : 0), dur(b[2], 32, hist_pct(h, 50)),
		dur(b[3], 32, hist_pct(h, 90)), dur(b[4], 32, hist_pct(h, 99)),
		dur(b[5], 32, h->max));
}

static void wait_table(FILE *f, const struct vw_vcpu *v)
{
	bool any = false;

	for (int w = 0; w < WR_NR; w++)
		any |= v->waits[w].count > 0;
	if (!any) {
		fprintf(f, "\n  No completed waits.\n");
		return;
	}
	fprintf(f, "\n    %-18s %7s %10s %10s %10s %10s %10s %10s\n", "why idle ended", "count",
		"total", "mean", "p50", "p90", "p99", "max");
	for (int w = 0; w < WR_NR; w++) {
		if (!v->waits[w].count)
			continue;
		stats_row(f, vw_reason_names[w], &v->waits[w]);
		if (w == WR_IPI)
			for (int i = 0; i < v->nr_ipi_from; i++) {
				char label[32];

				snprintf(label, sizeof(label), "  from vCPU %d", v->ipi_from[i].key);
				stats_row(f, label, &v->ipi_from[i].hist);
			}
		if (w == WR_DEVICE)
			for (int i = 0; i < v->nr_devices; i++) {
				char label[40];

				if (v->devices[i].gsi >= 0)
					snprintf(label, sizeof(label), "  vec 0x%x gsi %d",
						 v->devices[i].key, v->devices[i].gsi);
				else
					snprintf(label, sizeof(label), "  vec 0x%x", v->devices[i].key);
				stats_row(f, label, &v->devices[i].hist);
			}
	}
}

static void exit_table(FILE *f, const struct vw_vcpu *v)
{
	char b[3][32];

	if (!v->nr_exits)
		return;
	fprintf(f, "\n    %-18s %7s %10s %10s %10s\n", "top exits", "count", "total", "p99", "max");
	for (int i = 0; i < v->nr_exits && i < 10; i++) {
		const struct vw_exit *e = &v->exits[i];

		fprintf(f, "    %-18.18s %7llu %10s %10s %10s\n", e->name,
			(unsigned long long)e->hist.count, dur(b[0], 32, e->hist.total),
			dur(b[1], 32, hist_pct(&e->hist, 99)), dur(b[2], 32, e->hist.max));
	}
}

static void preempt_table(FILE *f, const struct vw_vcpu *v)
{
	char b[32], label[64];

	if (!v->nr_preemptors)
		return;
	fprintf(f, "\n    %-38s %-8s %10s\n", "preempted by", "kind", "time");
	for (int i = 0; i < v->nr_preemptors && i < 5; i++) {
		const struct vw_preemptor *p = &v->preemptors[i];

		if (p->tid < 0)
			snprintf(label, sizeof(label), "%s", p->comm);
		else
			snprintf(label, sizeof(label), "%s-%d", p->comm, p->tid);
		fprintf(f, "    %-38.38s %-8s %10s\n", label, vw_preempt_kind_names[p->kind],
			dur(b, sizeof(b), p->total_ns));
	}
}

static void nested_tables(FILE *f, const struct vw_vm *vm)
{
	char b[6][32];

	for (int i = 0; i < vm->nr_nested; i++) {
		const struct vw_nested *n = &vm->nested[i];

		fprintf(f, "\n  Nested L2 VM %s\n", n->id);
		fprintf(f, "    %-28s %10s %10s %10s %10s %10s\n", "L2 vCPU (vmcs)", "L2 runs",
			"L0 handles", "L1 handles", "L2 idle", "other");
		for (int j = 0; j < n->nr_vcpus; j++) {
			const struct vw_vcpu *v = n->vcpus[j];
			uint64_t other = span_of(v) - v->states_ns[VS_GUEST_L2] -
					 v->states_ns[VS_HYPERVISOR] - v->states_ns[VS_GUEST] -
					 v->states_ns[VS_IDLE];
			char label[64];

			snprintf(label, sizeof(label), "%s on vCPU %d", v->key, v->vcpu);
			fprintf(f, "    %-28.28s %10s %10s %10s %10s %10s\n", label,
				dur(b[0], 32, v->states_ns[VS_GUEST_L2]),
				dur(b[1], 32, v->states_ns[VS_HYPERVISOR]),
				dur(b[2], 32, v->states_ns[VS_GUEST]),
				dur(b[3], 32, v->states_ns[VS_IDLE]), dur(b[4], 32, other));
		}
	}
}

void report_text(const struct vw_result *r, FILE *f)
{
	char b[32];

	fprintf(f, "%s: %s, %llu events on %d CPUs", r->file,
		dur(b, sizeof(b), r->end_ns - r->start_ns), (unsigned long long)r->events, r->cpus);
	if (r->lost_events)
		fprintf(f, ", %llu EVENTS LOST (states around the losses are 'unknown')\n",
			(unsigned long long)r->lost_events);
	else
		fprintf(f, ", no lost events\n");
	if (!r->nr_vms)
		fprintf(f, "\nNo vCPU threads found (no kvm events in this trace?).\n");
	for (int i = 0; i < r->nr_vms; i++) {
		const struct vw_vm *vm = r->vms[i];
		struct vw_vcpu *tot = res_vm_totals(vm);

		if (vm->pid >= 0)
			fprintf(f, "\nVM %s (pid %d), %d vCPU%s\n", vm->name, vm->pid, vm->nr_vcpus,
				vm->nr_vcpus == 1 ? "" : "s");
		else
			fprintf(f, "\nvCPUs of unknown VMs, %d vCPU%s\n", vm->nr_vcpus,
				vm->nr_vcpus == 1 ? "" : "s");
		state_table(f, vm, tot);
		if (tot->states_ns[VS_RUNNING])
			fprintf(f, "  (no kvm_entry/kvm_exit for some vCPUs: a light recording, or KVM "
				"emulated in software;\n   their guest and hypervisor time inside KVM_RUN "
				"is shown as 'running')\n");
		wait_table(f, tot);
		exit_table(f, tot);
		preempt_table(f, tot);
		nested_tables(f, vm);
		res_vcpu_free(tot);
	}
}

void report_csv(const struct vw_result *r, FILE *f)
{
	fprintf(f, "vm_pid,vm_name,vcpu,tid,comm,span_ns");
	for (int s = 0; s < VS_NR; s++)
		fprintf(f, ",%s_ns", vw_state_names[s]);
	fprintf(f, ",polled_ns");
	for (int w = 0; w < WR_NR; w++)
		fprintf(f, ",%s_waits,%s_wait_ns", vw_reason_names[w], vw_reason_names[w]);
	fputc('\n', f);
	for (int i = 0; i < r->nr_vms; i++) {
		const struct vw_vm *vm = r->vms[i];

		for (int j = 0; j < vm->nr_vcpus; j++) {
			const struct vw_vcpu *v = vm->vcpus[j];

			fprintf(f, "%d,\"%s\",%d,%d,\"%s\",%llu", vm->pid, vm->name ? vm->name : "",
				v->vcpu, v->tid, v->comm, (unsigned long long)span_of(v));
			for (int s = 0; s < VS_NR; s++)
				fprintf(f, ",%llu", (unsigned long long)v->states_ns[s]);
			fprintf(f, ",%llu", (unsigned long long)v->polled_ns);
			for (int w = 0; w < WR_NR; w++)
				fprintf(f, ",%llu,%llu", (unsigned long long)v->waits[w].count,
					(unsigned long long)v->waits[w].total);
			fputc('\n', f);
		}
	}
}
