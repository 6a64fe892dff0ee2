/* The JSON form of an analysis result (schema vmwait-analysis/2, README). */
#include <stdlib.h>
#include <string.h>

#include "result.h"
#include "util.h"

/* "a,b" as "a","b". */
static void json_list_csv(FILE *f, const char *csv)
{
	char buf[256], *save, *tok;
	int n = 0;

	snprintf(buf, sizeof(buf), "%s", csv ? csv : "");
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		fputs(n++ ? "," : "", f);
		json_str(f, tok);
	}
}

static void json_list(FILE *f, char *const *v, int n)
{
	for (int i = 0; i < n; i++) {
		fputs(i ? "," : "", f);
		json_str(f, v[i]);
	}
}

static void json_stats(FILE *f, const struct vw_hist *h)
{
	fprintf(f, "{\"count\":%llu,\"total_ns\":%llu,\"mean_ns\":%llu,\"p50_ns\":%llu,"
		"\"p90_ns\":%llu,\"p99_ns\":%llu,\"max_ns\":%llu}",
		(unsigned long long)h->count, (unsigned long long)h->total,
		(unsigned long long)(h->count ? h->total / h->count : 0),
		(unsigned long long)hist_pct(h, 50), (unsigned long long)hist_pct(h, 90),
		(unsigned long long)hist_pct(h, 99), (unsigned long long)h->max);
}

static uint64_t vcpu_span(const struct vw_vcpu *v)
{
	uint64_t span = 0;

	for (int s = 0; s < VS_NR; s++)
		span += v->states_ns[s];
	return span;
}

enum { SRC_IPI, SRC_DEVICE, SRC_TIMER };

static void json_sources(FILE *f, const char *name, const struct vw_source *src, int nr,
			 int kind)
{
	fprintf(f, ",\"%s\":[", name);
	for (int i = 0; i < nr; i++) {
		fprintf(f, "%s{", i ? "," : "");
		if (kind == SRC_DEVICE)
			fprintf(f, "\"vector\":%d,\"gsi\":%d", src[i].key, src[i].gsi);
		else if (kind == SRC_TIMER)
			fprintf(f, "\"source\":\"%s\",\"vector\":%d",
				vw_timer_src_names[src[i].key], src[i].gsi);
		else
			fprintf(f, "\"vcpu\":%d", src[i].key);
		fprintf(f, ",\"count\":%llu,\"total_ns\":%llu}",
			(unsigned long long)src[i].hist.count,
			(unsigned long long)src[i].hist.total);
	}
	fputc(']', f);
}

/* The most frequent exit addresses (RES_TOP_RIPS), symbolized when known. */
static void json_rips(FILE *f, const struct vw_vcpu *v)
{
	int n;
	struct vw_rip *r = res_top_rips(v, &n);

	for (int i = 0; i < n && i < RES_TOP_RIPS; i++) {
		fprintf(f, "%s{\"rip\":\"0x%llx\",\"count\":%llu", i ? "," : "",
			(unsigned long long)r[i].rip, (unsigned long long)r[i].count);
		if (res_symbolize) {
			char sym[160];

			if (res_symbolize(r[i].rip, sym, sizeof(sym))) {
				fprintf(f, ",\"symbol\":");
				json_str(f, sym);
			}
		}
		fputc('}', f);
	}
	free(r);
}

static void json_vcpu_body(FILE *f, const struct vw_vcpu *v)
{
	uint64_t others = 0;

	fprintf(f, "\"span_ns\":%llu,\"states_ns\":{", (unsigned long long)vcpu_span(v));
	for (int s = 0; s < VS_NR; s++)
		fprintf(f, "%s\"%s\":%llu", s ? "," : "", vw_state_names[s],
			(unsigned long long)v->states_ns[s]);
	fprintf(f, "},\"periods\":{");
	for (int s = 0; s < VS_NR; s++) {
		fprintf(f, "%s\"%s\":", s ? "," : "", vw_state_names[s]);
		json_stats(f, &v->state_hist[s]);
	}
	fprintf(f, "},\"polled_ns\":%llu,\"gaps\":%llu,\"waits\":{",
		(unsigned long long)v->polled_ns, (unsigned long long)v->gaps);
	for (int w = 0; w < WR_NR; w++) {
		fprintf(f, "%s\"%s\":", w ? "," : "", vw_reason_names[w]);
		json_stats(f, &v->waits[w]);
	}
	fputc('}', f);
	json_sources(f, "ipi_from", v->ipi_from, v->nr_ipi_from, SRC_IPI);
	json_sources(f, "devices", v->devices, v->nr_devices, SRC_DEVICE);
	json_sources(f, "timers", v->timers, v->nr_timers, SRC_TIMER);
	fprintf(f, ",\"exits\":[");
	for (int i = 0; i < v->nr_exits; i++) {
		const struct vw_exit *e = &v->exits[i];

		fprintf(f, "%s{\"reason\":", i ? "," : "");
		json_str(f, e->name);
		fprintf(f, ",\"isa\":\"%s\",\"code\":%u,\"count\":%llu,\"total_ns\":%llu,"
			"\"mean_ns\":%llu,\"p99_ns\":%llu,\"max_ns\":%llu,\"open\":%llu,"
			"\"open_ns\":%llu,\"unpaired\":%llu}",
			e->isa == 2 ? "svm" : "vmx", e->code,
			(unsigned long long)vw_exit_count(e),
			(unsigned long long)(e->hist.total + e->open_ns),
			(unsigned long long)(e->hist.count ? e->hist.total / e->hist.count : 0),
			(unsigned long long)hist_pct(&e->hist, 99), (unsigned long long)e->hist.max,
			(unsigned long long)e->open, (unsigned long long)e->open_ns,
			(unsigned long long)e->unpaired);
	}
	fprintf(f, "],\"guest_split\":{\"kernel_ns\":%llu,\"user_ns\":%llu},\"exit_rips\":[",
		(unsigned long long)v->guest_kernel_ns, (unsigned long long)v->guest_user_ns);
	json_rips(f, v);
	fprintf(f, "],\"exit_rips_other\":%llu,\"wakeup_latency_ns\":%llu,\"preempted_by\":[",
		(unsigned long long)v->rips_other, (unsigned long long)v->wakeup_latency_ns);
	for (int i = 0; i < v->nr_preemptors; i++) {
		const struct vw_preemptor *p = &v->preemptors[i];

		if (i >= RES_MAX_PREEMPTORS) {
			others += p->total_ns;
			continue;
		}
		fprintf(f, "%s{\"tid\":%d,\"comm\":", i ? "," : "", p->tid);
		json_str(f, p->comm);
		fprintf(f, ",\"kind\":\"%s\",\"total_ns\":%llu}",
			vw_preempt_kind_names[p->kind], (unsigned long long)p->total_ns);
	}
	fprintf(f, "],\"preempted_by_others_ns\":%llu", (unsigned long long)others);
}

static void json_vcpu(FILE *f, const struct vw_vcpu *v)
{
	fprintf(f, "{\"vcpu\":%d,\"tid\":%d,\"comm\":", v->vcpu, v->tid);
	json_str(f, v->comm);
	if (v->key) {
		fprintf(f, ",\"vmcs\":");
		json_str(f, v->key);
	}
	fprintf(f, ",\"first_ns\":%llu,\"end_ns\":%llu,", (unsigned long long)v->first_ns,
		(unsigned long long)v->end_ns);
	json_vcpu_body(f, v);
	fputc('}', f);
}

/* The guest trace joined to a VM and its tasks (README, JSON output). */
static void json_guest(FILE *f, const struct vw_guest *g)
{
	fprintf(f, ",\n   \"guest\":{\"file\":");
	json_str(f, g->file);
	fprintf(f, ",\"clock\":\"%s\",\"offset_ns\":%lld,\"offset_from\":\"%s\","
		"\"offset_window_ns\":", g->time_shift ? "time_shift" : "raw",
		(long long)g->offset_ns, g->offset_from);
	if (!strcmp(g->offset_from, "auto"))
		fprintf(f, "[%lld,%lld]", (long long)g->window_lo, (long long)g->window_hi);
	else
		fprintf(f, "null");
	fprintf(f, ",\"inconsistent_waits\":%llu},\n   \"guest_tasks\":[",
		(unsigned long long)g->inconsistent);
	for (int i = 0; i < g->nr_tasks; i++) {
		const struct vw_guest_task *t = &g->tasks[i];

		fprintf(f, "%s{\"comm\":", i ? ",\n    " : "\n    ");
		json_str(f, t->comm);
		fprintf(f, ",\"pid\":%d,\"waits\":", t->pid);
		json_stats(f, &t->hist);
		fprintf(f, ",\"by_reason\":{");
		for (int w = 0; w < WR_NR; w++)
			fprintf(f, "%s\"%s\":{\"count\":%llu,\"total_ns\":%llu}", w ? "," : "",
				vw_reason_names[w], (unsigned long long)t->count[w],
				(unsigned long long)t->total[w]);
		fprintf(f, "},\"state\":{");
		for (int k = 0; k < GS_NR; k++)
			fprintf(f, "%s\"%s\":%llu", k ? "," : "", vw_gstate_names[k],
				(unsigned long long)t->state[k]);
		fprintf(f, "},\"woken\":%llu}", (unsigned long long)t->woken);
	}
	fputc(']', f);
}

void res_write_json_vm(const struct vw_vm *vm, FILE *f)
{
	struct vw_vcpu *tot = res_vm_totals(vm);

	fprintf(f, "{\"pid\":%d,\"name\":", vm->pid);
	json_str(f, vm->name);
	fprintf(f, ",\"guessed\":%s,\"grouped_by\":[", vm->guessed ? "true" : "false");
	json_list_csv(f, vm->grouped_by);
	fprintf(f, "],\"vcpus\":[");
	for (int i = 0; i < vm->nr_vcpus; i++) {
		fputs(i ? ",\n    " : "\n    ", f);
		json_vcpu(f, vm->vcpus[i]);
	}
	fprintf(f, "],\n   \"totals\":{\"vcpus\":%d,", vm->nr_vcpus);
	json_vcpu_body(f, tot);
	fprintf(f, "},\n   \"nested\":[");
	for (int i = 0; i < vm->nr_nested; i++) {
		const struct vw_nested *n = &vm->nested[i];

		fprintf(f, "%s{\"id\":", i ? "," : "");
		json_str(f, n->id);
		fprintf(f, ",\"vcpus\":[");
		for (int j = 0; j < n->nr_vcpus; j++) {
			fputs(j ? ",\n    " : "\n    ", f);
			json_vcpu(f, n->vcpus[j]);
		}
		fprintf(f, "]}");
	}
	fprintf(f, "]");
	if (vm->guest)
		json_guest(f, vm->guest);
	fprintf(f, "}");
	res_vcpu_free(tot);
}

void res_write_json(const struct vw_result *r, FILE *f)
{
	fprintf(f, "{\"schema\":\"%s\",\n \"trace\":{\"file\":", VW_SCHEMA);
	json_str(f, r->file);
	fprintf(f, ",\"buffer\":");
	json_str(f, r->buffer ? r->buffer : "");
	fprintf(f, ",\"start_ns\":%llu,\"end_ns\":%llu,\"window\":",
		(unsigned long long)r->start_ns, (unsigned long long)r->end_ns);
	if (r->has_window)
		fprintf(f, "{\"from_ns\":%llu,\"to_ns\":%llu}",
			(unsigned long long)r->window_from, (unsigned long long)r->window_to);
	else
		fprintf(f, "null");
	fprintf(f, ",\"events\":%llu,\"lost_events\":%llu,\"lost_unknown\":%llu,\"corrupt\":%llu,"
		"\"cpus\":%d,\n  \"evidence\":{\"tier\":", (unsigned long long)r->events,
		(unsigned long long)r->lost_events, (unsigned long long)r->lost_unknown,
		(unsigned long long)r->corrupt, r->cpus);
	json_str(f, r->evidence.tier[0] ? r->evidence.tier : "unknown");
	fprintf(f, ",\"recorded\":[");
	json_list(f, r->evidence.recorded, r->evidence.nr_recorded);
	fprintf(f, "],\"missing\":[");
	json_list(f, r->evidence.missing, r->evidence.nr_missing);
	fprintf(f, "]}},\n \"vms\":[");
	for (int i = 0; i < r->nr_vms; i++) {
		fputs(i ? ",\n  " : "\n  ", f);
		res_write_json_vm(r->vms[i], f);
	}
	fprintf(f, "]");
	if (r->interval_ns) {
		fprintf(f, ",\n \"interval_ns\":%llu,\"intervals\":[",
			(unsigned long long)r->interval_ns);
		for (int k = 0; k < r->nr_intervals; k++) {
			const struct vw_result *iv = &r->intervals[k];

			fprintf(f, "%s{\"start_ns\":%llu,\"end_ns\":%llu,\"vms\":[",
				k ? ",\n  " : "\n  ", (unsigned long long)iv->start_ns,
				(unsigned long long)iv->end_ns);
			for (int i = 0; i < iv->nr_vms; i++) {
				fputs(i ? ",\n   " : "\n   ", f);
				res_write_json_vm(iv->vms[i], f);
			}
			fprintf(f, "]}");
		}
		fprintf(f, "]");
	}
	fprintf(f, "}\n");
}
