/* vmwait top's JSON lines: one object per interval, schema vmwait-top/1 (README). */
#include <inttypes.h>
#include <stdio.h>

#include "top.h"
#include "util.h"

/* The keys every vCPU and VM total has: states, pending, waits, exits, preemption. */
static void json_delta(FILE *f, const struct top_delta *d, int max_pre)
{
	int64_t en = 0, ens = 0;

	fputs("\"states_ns\":{", f);
	for (int s = 0; s < VS_NR; s++)
		fprintf(f, "%s\"%s\":%" PRId64, s ? "," : "", vw_state_names[s], d->states[s]);
	fprintf(f, "},\"pending_ns\":%" PRId64 ",\"undecided_ns\":%" PRId64 ",\"waits\":{",
		d->pending, d->undecided);
	for (int r = 0; r < WR_NR; r++)
		fprintf(f, "%s\"%s\":{\"count\":%" PRId64 ",\"total_ns\":%" PRId64
			",\"mean_ns\":%" PRId64 "}", r ? "," : "", vw_reason_names[r], d->wait_n[r],
			d->wait_ns[r], d->wait_n[r] > 0 ? d->wait_ns[r] / d->wait_n[r] : 0);
	for (int i = 0; i < d->nexits; i++) {
		en += d->exits[i].n;
		ens += d->exits[i].ns;
	}
	fprintf(f, "},\"exits\":{\"count\":%" PRId64 ",\"total_ns\":%" PRId64 ",\"reasons\":[",
		en, ens);
	for (int i = 0; i < d->nexits; i++) {
		fprintf(f, "%s{\"reason\":", i ? "," : "");
		json_str(f, d->exits[i].name);
		fprintf(f, ",\"isa\":%u,\"code\":%u,\"count\":%" PRId64 ",\"total_ns\":%" PRId64 "}",
			d->exits[i].isa, d->exits[i].code, d->exits[i].n, d->exits[i].ns);
	}
	fprintf(f, "]},\"wakeup_latency_ns\":%" PRId64 ",\"preempted_by\":[", d->wakeup_ns);
	for (int i = 0; i < d->npre && i < max_pre; i++) {
		fprintf(f, "%s{\"tid\":%d,\"comm\":", i ? "," : "", d->pre[i].tid);
		json_str(f, d->pre[i].comm);
		fprintf(f, ",\"kind\":\"%s\",\"total_ns\":%" PRId64 "}",
			vw_preempt_kind_names[d->pre[i].kind], d->pre[i].ns);
	}
	fputc(']', f);
}

static void json_vm(FILE *f, const struct top_vm *vm)
{
	fprintf(f, "{\"pid\":%d,\"name\":", vm->pid);
	json_str(f, vm->name);
	fprintf(f, ",\"totals\":{\"vcpus\":%d,", vm->nvcpus);
	json_delta(f, &vm->tot, 5);
	fputs("},\"vcpus\":[", f);
	for (int i = 0; i < vm->nvcpus; i++) {
		const struct top_vcpu *v = &vm->vcpus[i];

		fprintf(f, "%s{\"vcpu\":%d,\"tid\":%d,\"comm\":", i ? "," : "", v->vcpu, v->tid);
		json_str(f, v->comm);
		fprintf(f, ",\"first_ns\":%" PRIu64 ",", v->first_ns);
		json_delta(f, &v->d, 5);
		fputc('}', f);
	}
	fputs("]}", f);
}

void top_json_line(const struct top_line *l, FILE *f)
{
	fprintf(f, "{\"schema\":\"%s\",\"interval\":%zu,\"start_ns\":%" PRIu64 ",\"end_ns\":%" PRIu64
		",\"final\":%s,\"tier\":\"%s\",\"cpus\":%d,\"events\":%" PRIu64
		",\"lost_events\":%" PRIu64 ",\"losses\":%" PRIu64 ",\"top_cpu_ns\":%" PRIu64
		",\"vcpus\":%d,\"vms\":[", TOP_SCHEMA, l->index, l->start_ns, l->end_ns,
		l->final ? "true" : "false", l->tier ? l->tier : "", l->cpus, l->events,
		l->lost_events, l->losses, l->cpu_ns, l->nvcpus);
	for (int i = 0; i < l->nvms; i++) {
		if (i)
			fputc(',', f);
		json_vm(f, &l->vms[i]);
	}
	fputs("]}\n", f);
}
