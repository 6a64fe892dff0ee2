/* The human-readable report of an analysis result (CSV: report_csv.c). */
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "util.h"

struct out {
	FILE *f;
	const struct report_opts *o;
};

static const char *dur(char *buf, size_t len, uint64_t ns)
{
	return fmt_duration(buf, len, ns);
}

uint64_t report_span(const struct vw_vcpu *v)
{
	uint64_t s = 0;

	for (int i = 0; i < VS_NR; i++)
		s += v->states_ns[i];
	return s;
}

static void title(const struct out *o, const char *fmt, const char *text)
{
	fprintf(o->f, fmt, o->o->color ? "\033[1m" : "", text, o->o->color ? "\033[0m" : "");
}

static void pct(FILE *f, uint64_t part, uint64_t whole)
{
	if (!whole)
		fprintf(f, " %7s", "-");
	else
		fprintf(f, " %6.1f%%", 100.0 * (double)part / (double)whole);
}

/* ---- header ---- */

static const char *tier_text(const char *tier)
{
	if (!strcmp(tier, "full"))
		return "every event the model uses";
	if (!strcmp(tier, "sched"))
		return "kvm_entry/kvm_exit and sched events, not all of the rest: a halt that "
		       "does not block (a successful poll or KVM's HLT fast path) is idle up to "
		       "the next entry, and without wakings a blocked halt ends there too";
	if (!strcmp(tier, "exits"))
		return "kvm_entry/kvm_exit without sched events. Idle is exact (HLT exit to the "
		       "next entry); hypervisor holds all other host time; wake reasons and "
		       "preemption need kvm_vcpu_wakeup, kvm_apic_accept_irq, sched_switch, "
		       "sched_wakeup";
	if (!strcmp(tier, "light"))
		return "no kvm_entry/kvm_exit (a --light recording, or KVM emulated in software): "
		       "guest and hypervisor time inside KVM_RUN are one 'running' state";
	return "none of kvm_entry, kvm_exit, kvm_vcpu_wakeup: no halt can be seen";
}

static void header(const struct out *o, const struct vw_result *r)
{
	FILE *f = o->f;
	char b[32], c[32], more[128];

	fprintf(f, "%s: %s (%llu.%06llu to %llu.%06llu), %llu events on %d CPUs", r->file,
		dur(b, sizeof(b), r->end_ns - r->start_ns),
		(unsigned long long)(r->start_ns / NSEC_PER_SEC),
		(unsigned long long)(r->start_ns % NSEC_PER_SEC / 1000),
		(unsigned long long)(r->end_ns / NSEC_PER_SEC),
		(unsigned long long)(r->end_ns % NSEC_PER_SEC / 1000),
		(unsigned long long)r->events, r->cpus);
	if (r->buffer && *r->buffer)
		fprintf(f, ", buffer %s", r->buffer);
	if (res_lossy(r))
		fprintf(f, ", %s (states around the losses are 'unknown')\n",
			res_loss_text(r, "EVENTS LOST", more, sizeof(more)));
	else
		fprintf(f, ", no lost events\n");
	if (r->has_window) {
		uint64_t from = MAX(r->window_from, r->start_ns), to = MIN(r->window_to, r->end_ns);

		fprintf(f, "window: %llu.%06llu to %llu.%06llu, %s of the trace%s\n",
			(unsigned long long)(r->window_from / NSEC_PER_SEC),
			(unsigned long long)(r->window_from % NSEC_PER_SEC / 1000),
			(unsigned long long)(r->window_to / NSEC_PER_SEC),
			(unsigned long long)(r->window_to % NSEC_PER_SEC / 1000),
			dur(c, sizeof(c), to > from ? to - from : 0),
			to > from ? "" : " (outside it: nothing is counted)");
	}
	fprintf(f, "recorded (%s): %s.\n", r->evidence.tier, tier_text(r->evidence.tier));
	if (r->evidence.nr_missing) {
		fprintf(f, "would tell more:");
		for (int i = 0; i < r->evidence.nr_missing; i++)
			fprintf(f, "%s %s", i ? "," : "", r->evidence.missing[i]);
		fprintf(f, " (vmwait events --trace-cmd lists them all)\n");
	}
}

/* ---- states ---- */

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

static void state_row(const struct out *o, const struct vw_vm *vm, const char *label,
		      const struct vw_vcpu *v, bool total)
{
	uint64_t span = report_span(v);
	char b[32];

	fprintf(o->f, "  %-22.22s", label);
	for (int s = 0; s < VS_NR; s++)
		if (show_state(vm, s))
			pct(o->f, v->states_ns[s], span);
	fprintf(o->f, " %10s %5llu |", dur(b, sizeof(b), span), (unsigned long long)v->gaps);
	pct(o->f, v->polled_ns, v->states_ns[VS_IDLE]);
	fprintf(o->f, "%s\n", total ? "  (span: vCPU-time, summed)" : "");
}

static void state_table(const struct out *o, const struct vw_vm *vm, const struct vw_vcpu *tot)
{
	static const char *const head[VS_NR] = {
		"guest", "L2", "hyperv", "vmm", "preempt", "idle", "unknown", "running",
	};
	char label[64];

	fprintf(o->f, "  %-22s", "vCPU (thread)");
	for (int s = 0; s < VS_NR; s++)
		if (show_state(vm, s))
			fprintf(o->f, " %7s", head[s]);
	fprintf(o->f, " %10s %5s | %7s\n", "span", "gaps", "polled");
	for (int i = 0; i < vm->nr_vcpus; i++) {
		const struct vw_vcpu *v = vm->vcpus[i];

		snprintf(label, sizeof(label), "%d (%s-%d)", v->vcpu, v->comm[0] ? v->comm : "?",
			 v->tid);
		state_row(o, vm, label, v, false);
	}
	if (vm->nr_vcpus > 1)
		state_row(o, vm, "all", tot, true);
	fprintf(o->f, "  (states add up to 100%% of each span; polled: the share of idle spent "
		"halt-polling on a CPU)\n");
	if (tot->states_ns[VS_RUNNING])
		fprintf(o->f, "  (running: inside KVM_RUN with no kvm_entry/kvm_exit to tell guest "
			"from hypervisor)\n");
	if (tot->gaps)
		fprintf(o->f, "  (gaps: events missing in the trace, e.g. a kvm_entry between two "
			"kvm_exits; the time around each is unknown)\n");
}

/* ---- waits ---- */

static void stats_row(const struct out *o, const char *label, const struct vw_hist *h)
{
	char b[7][32];

	fprintf(o->f, "    %-20s %7llu %10s %10s %10s %10s %10s %10s\n", label,
		(unsigned long long)h->count, dur(b[0], 32, h->total),
		dur(b[1], 32, h->count ? h->total / h->count : 0), dur(b[2], 32, hist_pct(h, 50)),
		dur(b[3], 32, hist_pct(h, 90)), dur(b[4], 32, hist_pct(h, 99)),
		dur(b[5], 32, h->max));
}

static void source_rows(const struct out *o, const struct vw_vcpu *v, int w, const char *pre)
{
	char label[48];

	if (w == WR_IPI)
		for (int i = 0; i < v->nr_ipi_from; i++) {
			snprintf(label, sizeof(label), "%s  from vCPU %d", pre, v->ipi_from[i].key);
			stats_row(o, label, &v->ipi_from[i].hist);
		}
	if (w == WR_DEVICE)
		for (int i = 0; i < v->nr_devices; i++) {
			if (v->devices[i].gsi >= 0)
				snprintf(label, sizeof(label), "%s  vec 0x%x gsi %d", pre,
					 v->devices[i].key, v->devices[i].gsi);
			else
				snprintf(label, sizeof(label), "%s  vec 0x%x", pre, v->devices[i].key);
			stats_row(o, label, &v->devices[i].hist);
		}
	if (w == WR_TIMER)
		for (int i = 0; i < v->nr_timers; i++) {
			const struct vw_source *s = &v->timers[i];

			if (s->gsi >= 0)
				snprintf(label, sizeof(label), "%s  %s vec 0x%x", pre,
					 vw_timer_src_names[s->key], s->gsi);
			else
				snprintf(label, sizeof(label), "%s  %s", pre,
					 vw_timer_src_names[s->key]);
			stats_row(o, label, &s->hist);
		}
}

static bool any_wait(const struct vw_vcpu *v)
{
	for (int w = 0; w < WR_NR; w++)
		if (v->waits[w].count)
			return true;
	return false;
}

static void wait_table(const struct out *o, const struct vw_vm *vm, const struct vw_vcpu *tot)
{
	char label[40];

	if (!any_wait(tot)) {
		fprintf(o->f, "\n  No completed waits.\n");
		return;
	}
	fprintf(o->f, "\n    %-20s %7s %10s %10s %10s %10s %10s %10s\n", "why idle ended", "count",
		"total", "mean", "p50", "p90", "p99", "max");
	for (int w = 0; w < WR_NR; w++) {
		if (!tot->waits[w].count)
			continue;
		stats_row(o, vw_reason_names[w], &tot->waits[w]);
		source_rows(o, tot, w, "");
	}
	if (vm->nr_vcpus < 2)
		return;
	fprintf(o->f, "\n    %-20s %7s %10s %10s %10s %10s %10s %10s\n", "per vCPU", "count",
		"total", "mean", "p50", "p90", "p99", "max");
	for (int i = 0; i < vm->nr_vcpus; i++)
		for (int w = 0; w < WR_NR; w++) {
			if (!vm->vcpus[i]->waits[w].count)
				continue;
			snprintf(label, sizeof(label), "%d %s", vm->vcpus[i]->vcpu, vw_reason_names[w]);
			stats_row(o, label, &vm->vcpus[i]->waits[w]);
		}
}

/* ---- exits ---- */

static int sort_key;

static uint64_t exit_key(const struct vw_exit *e)
{
	switch (sort_key) {
	case SORT_TIME:	return e->hist.total + e->open_ns;
	case SORT_MEAN:	return e->hist.count ? e->hist.total / e->hist.count : 0;
	case SORT_P99:	return hist_pct(&e->hist, 99);
	case SORT_MAX:	return e->hist.max;
	default:	return vw_exit_count(e);
	}
}

static int cmp_exit(const void *x, const void *y)
{
	const struct vw_exit *a = *(struct vw_exit *const *)x, *b = *(struct vw_exit *const *)y;

	if (sort_key == SORT_NAME)
		return strcmp(a->name, b->name);
	if (exit_key(a) != exit_key(b))
		return exit_key(a) > exit_key(b) ? -1 : 1;
	return strcmp(a->name, b->name);
}

static void exit_table(const struct out *o, const struct vw_vcpu *v)
{
	uint64_t n = 0, t = 0;
	const struct vw_exit **e;
	char b[5][32];

	if (!v->nr_exits)
		return;
	e = xcalloc(v->nr_exits, sizeof(*e));
	for (int i = 0; i < v->nr_exits; i++) {
		e[i] = &v->exits[i];
		n += vw_exit_count(e[i]);
		t += e[i]->hist.total + e[i]->open_ns;
	}
	sort_key = o->o->sort;
	qsort(e, v->nr_exits, sizeof(*e), cmp_exit);
	fprintf(o->f, "\n    %-20s %7s %6s %10s %6s %10s %10s %10s %5s\n", "exits", "count",
		"%count", "total", "%time", "mean", "p99", "max", "open");
	for (int i = 0; i < v->nr_exits && i < o->o->top_exits; i++) {
		uint64_t tt = e[i]->hist.total + e[i]->open_ns;

		fprintf(o->f, "    %-20.20s %7llu", e[i]->name,
			(unsigned long long)vw_exit_count(e[i]));
		fprintf(o->f, " %5.1f%%", n ? 100.0 * (double)vw_exit_count(e[i]) / (double)n : 0);
		fprintf(o->f, " %10s", dur(b[0], 32, tt));
		fprintf(o->f, " %5.1f%%", t ? 100.0 * (double)tt / (double)t : 0);
		fprintf(o->f, " %10s %10s %10s %5llu\n",
			dur(b[1], 32, e[i]->hist.count ? e[i]->hist.total / e[i]->hist.count : 0),
			dur(b[2], 32, hist_pct(&e[i]->hist, 99)), dur(b[3], 32, e[i]->hist.max),
			(unsigned long long)(e[i]->open + e[i]->unpaired));
	}
	if (v->nr_exits > o->o->top_exits)
		fprintf(o->f, "    %-20s (--top-exits N shows more)\n", "...");
	fprintf(o->f, "    (time: exit to the next kvm_entry; mean, p99, max of closed exits; "
		"open: at the end, a loss or a gap)\n");
	free(e);
}

/* ---- guest addresses (host-only hints) ---- */

static void rip_label(uint64_t rip, char *buf, size_t len)
{
	char sym[128];

	if (res_symbolize && res_symbolize(rip, sym, sizeof(sym)))
		snprintf(buf, len, "%s", sym);
	else
		snprintf(buf, len, "0x%llx", (unsigned long long)rip);
}

/* Per vCPU: guest kernel/user shares by the exits' rips, and where it exits most. */
static void rip_table(const struct out *o, const struct vw_vm *vm)
{
	bool any = false;

	for (int i = 0; i < vm->nr_vcpus; i++)
		any |= vm->vcpus[i]->nr_rips > 0;
	if (!any)
		return;
	fprintf(o->f, "\n    %-8s %7s %7s   %s\n", "guest", "kernel", "user",
		"exits most at (count)");
	for (int i = 0; i < vm->nr_vcpus; i++) {
		const struct vw_vcpu *v = vm->vcpus[i];
		uint64_t g = v->guest_kernel_ns + v->guest_user_ns;
		struct vw_rip *r;
		char label[160];
		int n;

		if (!v->nr_rips)
			continue;
		r = res_top_rips(v, &n);
		fprintf(o->f, "    vCPU %-3d", v->vcpu);
		pct(o->f, v->guest_kernel_ns, g);
		pct(o->f, v->guest_user_ns, g);
		fprintf(o->f, "  ");
		for (int k = 0; k < n && k < 3; k++) {
			rip_label(r[k].rip, label, sizeof(label));
			fprintf(o->f, "%s %s (%llu)", k ? "," : "", label,
				(unsigned long long)r[k].count);
		}
		fputc('\n', o->f);
		free(r);
	}
	fprintf(o->f, "    (a heuristic: guest time is kernel when the exit ending it has an "
		"upper-half rip, as in 64-bit Linux guests%s)\n",
		res_symbolize ? "" : "; --guest-kallsyms names the addresses");
}

/* ---- guest tasks (README, Which guest program waited?) ---- */

#define GUEST_ROWS	10

static void guest_row(const struct out *o, const struct vw_guest_task *t, const char *label)
{
	char b[2][32], by[128] = "";
	size_t n = 0;

	for (int w = 0; w < WR_NR && n < sizeof(by); w++)
		if (t->count[w])
			n += snprintf(by + n, sizeof(by) - n, "%s%s %llu", n ? ", " : "",
				      vw_reason_names[w], (unsigned long long)t->count[w]);
	fprintf(o->f, "    %-26.26s %6llu %10s %10s %5llu %5llu %5llu %5llu %6llu  %s\n", label,
		(unsigned long long)t->hist.count, dur(b[0], 32, t->hist.total),
		dur(b[1], 32, hist_pct(&t->hist, 99)), (unsigned long long)t->state[GS_D],
		(unsigned long long)t->state[GS_S], (unsigned long long)t->state[GS_R],
		(unsigned long long)t->state[GS_OTHER], (unsigned long long)t->woken, by);
}

/* Per guest task: the waits it ran last before, and the wakes that made it runnable. */
static void guest_table(const struct out *o, const struct vw_vm *vm)
{
	const struct vw_guest *g = vm->guest;
	struct vw_guest_task rest = { .pid = 0 };
	const struct vw_guest_task *unknown = NULL;
	char label[64], off[128];
	int nrest = 0;

	if (!g)
		return;
	if (!strcmp(g->offset_from, "auto"))
		snprintf(off, sizeof(off), "; offset %+lld ns, estimated (the evidence allows "
			 "%+lld to %+lld)", (long long)g->offset_ns, (long long)g->window_lo,
			 (long long)g->window_hi);
	else if (!strcmp(g->offset_from, "option"))
		snprintf(off, sizeof(off), "; offset %+lld ns", (long long)g->offset_ns);
	else
		off[0] = '\0';
	fprintf(o->f, "\n    guest tasks of %s (clock: %s%s)\n", g->file,
		g->time_shift ? "its TIME_SHIFT" : "as recorded", off);
	fprintf(o->f, "    %-26s %6s %10s %10s %5s %5s %5s %5s %6s  %s\n",
		"ran last before the halt", "waits", "total", "p99", "D", "S", "R", "other", "woken",
		"by reason");
	for (int i = 0; i < g->nr_tasks; i++) {
		const struct vw_guest_task *t = &g->tasks[i];

		if (t->pid < 0) {
			unknown = t;	/* last, after the others */
			continue;
		}
		if (i >= GUEST_ROWS) {
			hist_merge(&rest.hist, &t->hist);
			for (int w = 0; w < WR_NR; w++)
				rest.count[w] += t->count[w];
			for (int k = 0; k < GS_NR; k++)
				rest.state[k] += t->state[k];
			rest.woken += t->woken;
			nrest++;
			continue;
		}
		snprintf(label, sizeof(label), "%s-%d", t->comm, t->pid);
		guest_row(o, t, label);
	}
	if (nrest) {
		snprintf(label, sizeof(label), "others (%d tasks)", nrest);
		guest_row(o, &rest, label);
		hist_free(&rest.hist);
	}
	if (unknown)
		guest_row(o, unknown, "<unknown>");
	fprintf(o->f, "    (D, S, other: the state it blocked in before the vCPU halted; R: still "
		"running; woken: waits whose wake made it runnable)\n");
	if (g->inconsistent)
		fprintf(o->f, "    (%llu waits had guest events inside the halt: no guest task)\n",
			(unsigned long long)g->inconsistent);
}

/* ---- preemption ---- */

static void preempt_table(const struct out *o, const struct vw_vcpu *v)
{
	uint64_t others = 0;
	int nothers = 0;
	char b[32], label[64];

	if (!v->nr_preemptors && !v->wakeup_latency_ns)
		return;
	fprintf(o->f, "\n    %-38s %-8s %10s\n", "preempted: waiting for a CPU", "kind", "time");
	if (v->wakeup_latency_ns)
		fprintf(o->f, "    %-38s %-8s %10s\n", "on an idle CPU (wakeup latency)", "-",
			dur(b, sizeof(b), v->wakeup_latency_ns));
	for (int i = 0; i < v->nr_preemptors; i++) {
		const struct vw_preemptor *p = &v->preemptors[i];

		if (i >= o->o->top) {
			others += p->total_ns;
			nothers++;
			continue;
		}
		if (p->tid < 0)
			snprintf(label, sizeof(label), "behind %s", p->comm);
		else
			snprintf(label, sizeof(label), "behind %s-%d", p->comm, p->tid);
		fprintf(o->f, "    %-38.38s %-8s %10s\n", label, vw_preempt_kind_names[p->kind],
			dur(b, sizeof(b), p->total_ns));
	}
	if (nothers) {
		snprintf(label, sizeof(label), "others (%d; --top N shows more)", nothers);
		fprintf(o->f, "    %-38.38s %-8s %10s\n", label, "", dur(b, sizeof(b), others));
	}
}

/* ---- nested ---- */

static void nested_tables(const struct out *o, const struct vw_vm *vm)
{
	char b[6][32], t[64];

	for (int i = 0; i < vm->nr_nested; i++) {
		const struct vw_nested *n = &vm->nested[i];

		snprintf(t, sizeof(t), "Nested L2 VM %s", n->id);
		title(o, "\n  %s%s%s\n", t);
		fprintf(o->f, "    %-26s %10s %10s %10s %10s %10s %10s\n", "L2 vCPU (vmcs)",
			"L2 runs", "L0 handles", "L1 handles", "L2 idle", "preempted", "other");
		for (int j = 0; j < n->nr_vcpus; j++) {
			const struct vw_vcpu *v = n->vcpus[j];
			uint64_t other = report_span(v) - v->states_ns[VS_GUEST_L2] -
					 v->states_ns[VS_HYPERVISOR] - v->states_ns[VS_GUEST] -
					 v->states_ns[VS_IDLE] - v->states_ns[VS_PREEMPTED];
			char label[64];

			snprintf(label, sizeof(label), "%s on vCPU %d", v->key, v->vcpu);
			fprintf(o->f, "    %-26.26s %10s %10s %10s %10s %10s %10s\n", label,
				dur(b[0], 32, v->states_ns[VS_GUEST_L2]),
				dur(b[1], 32, v->states_ns[VS_HYPERVISOR]),
				dur(b[2], 32, v->states_ns[VS_GUEST]),
				dur(b[3], 32, v->states_ns[VS_IDLE]),
				dur(b[4], 32, v->states_ns[VS_PREEMPTED]), dur(b[5], 32, other));
		}
		fprintf(o->f, "    (other: vmm and unknown time)\n");
	}
}

static void vm_title(const struct out *o, const struct vw_vm *vm)
{
	char t[160];
	int n = vm->nr_vcpus;

	if (vm->guessed && vm->grouped_by && *vm->grouped_by)
		snprintf(t, sizeof(t), "VM %s (pid unknown; vCPU threads grouped by: %s), %d vCPU%s",
			 vm->name, vm->grouped_by, n, n == 1 ? "" : "s");
	else if (vm->guessed)
		snprintf(t, sizeof(t), "VM %s (pid unknown; one vCPU thread, nothing ties it to "
			 "others), %d vCPU%s", vm->name, n, n == 1 ? "" : "s");
	else if (vm->pid >= 0)
		snprintf(t, sizeof(t), "VM %s (pid %d), %d vCPU%s", vm->name, vm->pid, n,
			 n == 1 ? "" : "s");
	else
		snprintf(t, sizeof(t), "VM %s (pid unknown), %d vCPU%s", vm->name, n,
			 n == 1 ? "" : "s");
	title(o, "\n%s%s%s\n", t);
}

/* --interval: one row per vCPU and slice, the state shares and waits by reason. */
static void interval_tables(const struct out *o, const struct vw_result *r)
{
	static const char *const head[VS_NR] = {
		"guest", "L2", "hyperv", "vmm", "preempt", "idle", "unknown", "running",
	};
	char b[32], t[64];

	snprintf(t, sizeof(t), "Per interval of %s", dur(b, sizeof(b), r->interval_ns));
	title(o, "\n%s%s%s (time from the trace's start; waits ending in each)\n", t);
	fprintf(o->f, "  %-10s %-22s", "from", "vCPU (thread)");
	for (int s = 0; s < VS_NR; s++)
		fprintf(o->f, " %7s", head[s]);
	fprintf(o->f, "   waits timer/ipi/disk/net/device/unknown\n");
	for (int k = 0; k < r->nr_intervals; k++) {
		const struct vw_result *iv = &r->intervals[k];

		for (int i = 0; i < iv->nr_vms; i++) {
			for (int j = 0; j < iv->vms[i]->nr_vcpus; j++) {
				const struct vw_vcpu *v = iv->vms[i]->vcpus[j];
				uint64_t span = report_span(v);
				char label[64];

				snprintf(label, sizeof(label), "%d (%s-%d)", v->vcpu, v->comm, v->tid);
				fprintf(o->f, "  +%-9.6f %-22.22s",
					(double)(iv->start_ns - r->start_ns) / 1e9, label);
				for (int s = 0; s < VS_NR; s++)
					pct(o->f, v->states_ns[s], span);
				fprintf(o->f, "   ");
				for (int w = 0; w < WR_NR; w++)
					fprintf(o->f, "%s%llu", w ? "/" : "",
						(unsigned long long)v->waits[w].count);
				fputc('\n', o->f);
			}
		}
	}
}

void report_text(const struct vw_result *r, const struct report_opts *opts, FILE *f)
{
	struct out o = { .f = f, .o = opts };

	header(&o, r);
	if (!r->nr_vms)
		fprintf(f, "\nNo vCPU threads found (no kvm events in this trace?).\n");
	for (int i = 0; i < r->nr_vms; i++) {
		const struct vw_vm *vm = r->vms[i];
		struct vw_vcpu *tot = res_vm_totals(vm);

		vm_title(&o, vm);
		state_table(&o, vm, tot);
		wait_table(&o, vm, tot);
		guest_table(&o, vm);
		exit_table(&o, tot);
		rip_table(&o, vm);
		preempt_table(&o, tot);
		nested_tables(&o, vm);
		res_vcpu_free(tot);
	}
	if (r->interval_ns)
		interval_tables(&o, r);
}
