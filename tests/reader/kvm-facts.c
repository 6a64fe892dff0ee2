/*
 * kvm-facts: what a trace's kvm_entry/kvm_exit records say per thread, read
 * with libtracecmd (not vmwait's reader, not its analyzer): the ground truth
 * of tests/t_real.sh for host traces nobody generated.
 *
 *   kvm-facts FILE   JSON as vmwait-synth --facts writes it, plus "gaps"
 *
 * Per thread, in record order: kvm_exit records per (isa, exit_reason);
 * guest_ns, the sum of kvm_entry -> next kvm_exit; hlt_ns, the sum of an HLT
 * kvm_exit -> next kvm_entry, or -> kvm_vcpu_wakeup where the trace has it
 * (KVM's word that the halt ended; hlt_closed of them); *_since, an interval still
 * open at the end; gaps, two kvm_entry or two kvm_exit in a row (an event is
 * missing: the time between the two is counted in neither sum).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <trace-cmd.h>

#include "tdat.h"

/* Exported by libtracecmd 3.1.6, declared only in its private header. */
struct tep_record *tracecmd_read_next_data(struct tracecmd_input *handle, int *rec_cpu);

#define MAX_THREADS	4096
#define MAX_REASONS	64
#define HLT_VMX		12
#define HLT_SVM		0x78

struct reason {
	unsigned long long isa, code, count;
};

struct fthread {
	int tid;
	int last;		/* 0 none, 1 entry, 2 exit */
	int last_hlt;
	uint64_t last_ts;
	uint64_t guest_ns, hlt_ns, hlt_closed, gaps;
	struct reason r[MAX_REASONS];
	int nr;
};

static struct fthread th[MAX_THREADS];
static int nth;
static uint64_t nwakeups;	/* kvm_vcpu_wakeup records */

static struct fthread *thread_of(int tid)
{
	for (int i = 0; i < nth; i++)
		if (th[i].tid == tid)
			return &th[i];
	if (nth == MAX_THREADS) {
		fprintf(stderr, "kvm-facts: more than %d threads\n", MAX_THREADS);
		exit(1);
	}
	th[nth].tid = tid;
	return &th[nth++];
}

static void count_reason(struct fthread *t, unsigned long long isa, unsigned long long code)
{
	for (int i = 0; i < t->nr; i++) {
		if (t->r[i].isa == isa && t->r[i].code == code) {
			t->r[i].count++;
			return;
		}
	}
	if (t->nr == MAX_REASONS) {
		fprintf(stderr, "kvm-facts: more than %d exit reasons\n", MAX_REASONS);
		exit(1);
	}
	t->r[t->nr++] = (struct reason){ isa, code, 1 };
}

static void on_exit_rec(struct fthread *t, uint64_t ts, unsigned long long isa,
			unsigned long long code)
{
	count_reason(t, isa, code);
	if (t->last == 1)
		t->guest_ns += ts - t->last_ts;
	else if (t->last == 2)
		t->gaps++;
	t->last = 2;
	t->last_hlt = code == (isa == 2 ? HLT_SVM : HLT_VMX);
	t->last_ts = ts;
}

static void on_entry_rec(struct fthread *t, uint64_t ts)
{
	if (t->last == 2 && t->last_hlt) {
		t->hlt_ns += ts - t->last_ts;
		t->hlt_closed++;
	} else if (t->last == 1) {
		t->gaps++;
	}
	t->last = 1;
	t->last_ts = ts;
}

static void on_wakeup_rec(struct fthread *t, uint64_t ts)
{
	if (t->last == 2 && t->last_hlt) {
		t->hlt_ns += ts - t->last_ts;
		t->hlt_closed++;
		t->last_hlt = 0;
	}
}

static void print_facts(uint64_t end)
{
	printf("{\"end_ns\":%" PRIu64 ",\"vcpu_wakeups\":%" PRIu64 ",\"threads\":[", end,
	       nwakeups);
	for (int i = 0; i < nth; i++) {
		struct fthread *t = &th[i];

		printf("%s\n {\"tid\":%d,\"guest_ns\":%" PRIu64 ",\"guest_since\":%" PRIu64
		       ",\"hlt_ns\":%" PRIu64 ",\"hlt_since\":%" PRIu64 ",\"hlt_closed\":%" PRIu64
		       ",\"gaps\":%" PRIu64 ",\"exits\":[", i ? "," : "", t->tid, t->guest_ns,
		       t->last == 1 ? t->last_ts : 0, t->hlt_ns,
		       t->last == 2 && t->last_hlt ? t->last_ts : 0, t->hlt_closed, t->gaps);
		for (int k = 0; k < t->nr; k++)
			printf("%s{\"isa\":\"%s\",\"code\":%llu,\"count\":%llu}", k ? "," : "",
			       t->r[k].isa == 2 ? "svm" : "vmx", t->r[k].code, t->r[k].count);
		printf("]}");
	}
	printf("\n]}\n");
}

int main(int argc, char **argv)
{
	struct tracecmd_input *h;
	struct tep_record *rec;
	struct tep_handle *tep;
	uint64_t end = 0;
	int cpu;

	if (argc != 2) {
		fprintf(stderr, "usage: kvm-facts FILE\n");
		return 2;
	}
	tdat_register_zlib();
	tracecmd_set_loglevel(TEP_LOG_CRITICAL);
	h = tracecmd_open(argv[1], TRACECMD_FL_LOAD_NO_PLUGINS);
	if (!h) {
		fprintf(stderr, "kvm-facts: libtracecmd cannot open %s\n", argv[1]);
		return 1;
	}
	tep = tracecmd_get_tep(h);
	while ((rec = tracecmd_read_next_data(h, &cpu))) {
		struct tep_event *ev = tep_find_event_by_record(tep, rec);
		unsigned long long isa = 1, code = 0;

		end = rec->ts;
		if (ev && !strcmp(ev->system, "kvm") && !strcmp(ev->name, "kvm_exit")) {
			tep_get_field_val(NULL, ev, "exit_reason", rec, &code, 0);
			if (tep_find_field(ev, "isa"))
				tep_get_field_val(NULL, ev, "isa", rec, &isa, 0);
			on_exit_rec(thread_of(tep_data_pid(tep, rec)), rec->ts, isa, code);
		} else if (ev && !strcmp(ev->system, "kvm") && !strcmp(ev->name, "kvm_entry")) {
			on_entry_rec(thread_of(tep_data_pid(tep, rec)), rec->ts);
		} else if (ev && !strcmp(ev->system, "kvm") && !strcmp(ev->name, "kvm_vcpu_wakeup")) {
			on_wakeup_rec(thread_of(tep_data_pid(tep, rec)), rec->ts);
			nwakeups++;
		}
		tracecmd_free_record(rec);
	}
	print_facts(end);
	tracecmd_close(h);
	return 0;
}
