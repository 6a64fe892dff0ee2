/* CSV output: one row per vCPU, every state and wait reason as columns. */
#include "report.h"

static void csv_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

void report_csv(const struct vw_result *r, FILE *f)
{
	fprintf(f, "vm_pid,vm_name,vcpu,tid,comm,span_ns");
	for (int s = 0; s < VS_NR; s++)
		fprintf(f, ",%s_ns", vw_state_names[s]);
	fprintf(f, ",polled_ns,gaps,wakeup_latency_ns");
	for (int w = 0; w < WR_NR; w++)
		fprintf(f, ",%s_waits,%s_wait_ns", vw_reason_names[w], vw_reason_names[w]);
	fputc('\n', f);
	for (int i = 0; i < r->nr_vms; i++) {
		const struct vw_vm *vm = r->vms[i];

		for (int j = 0; j < vm->nr_vcpus; j++) {
			const struct vw_vcpu *v = vm->vcpus[j];

			fprintf(f, "%d,", vm->pid);
			csv_str(f, vm->name ? vm->name : "");
			fprintf(f, ",%d,%d,", v->vcpu, v->tid);
			csv_str(f, v->comm);
			fprintf(f, ",%llu", (unsigned long long)report_span(v));
			for (int s = 0; s < VS_NR; s++)
				fprintf(f, ",%llu", (unsigned long long)v->states_ns[s]);
			fprintf(f, ",%llu,%llu,%llu", (unsigned long long)v->polled_ns,
				(unsigned long long)v->gaps, (unsigned long long)v->wakeup_latency_ns);
			for (int w = 0; w < WR_NR; w++)
				fprintf(f, ",%llu,%llu", (unsigned long long)v->waits[w].count,
					(unsigned long long)v->waits[w].total);
			fputc('\n', f);
		}
	}
}
