/*
 * The generator's own account of the kvm_entry/kvm_exit records it wrote
 * (--facts FILE), apart from the truth's model: per vCPU thread, its exits
 * per reason, the guest time (entry -> next exit) and the HLT time (HLT
 * exit -> next entry, or the end of the trace). tests/t_tiers.sh checks
 * what each evidence tier claims against these numbers.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "synth.h"
#include "util.h"

#define FACT_EXITS 64

struct fthread {
	int tid;
	bool in_guest, in_hlt, had_ee;
	bool blocked, ended, injected;	/* since the HLT exit */
	uint64_t since;
	uint64_t guest_ns, hlt_ns, hlt_closed;	/* closed intervals */
	uint64_t woken, polled, reentered;	/* HLT exits by how they ended */
	struct { uint32_t isa, code; uint64_t n; } exits[FACT_EXITS];
	int nr_exits;
};

struct sfacts {
	struct fthread *t;
	int n;
};

struct sfacts *facts_new(void)
{
	return xcalloc(1, sizeof(struct sfacts));
}

/* The record of the live thread @tid (a new one after its exit). */
static struct fthread *fthread(struct sfacts *f, int tid)
{
	for (int i = f->n - 1; i >= 0; i--)
		if (f->t[i].tid == tid)
			return &f->t[i];
	f->t = xrealloc(f->t, (f->n + 1) * sizeof(*f->t));
	memset(&f->t[f->n], 0, sizeof(*f->t));
	f->t[f->n].tid = tid;
	return &f->t[f->n++];
}

static void count_exit(struct fthread *t, uint32_t isa, uint32_t code)
{
	for (int i = 0; i < t->nr_exits; i++) {
		if (t->exits[i].isa == isa && t->exits[i].code == code) {
			t->exits[i].n++;
			return;
		}
	}
	if (t->nr_exits == FACT_EXITS)
		abort();
	t->exits[t->nr_exits].isa = isa;
	t->exits[t->nr_exits].code = code;
	t->exits[t->nr_exits++].n = 1;
}

/*
 * Between a HLT exit and the next entry: blocked (switched out sleeping),
 * then woken (sched_waking/wakeup), or ended by kvm_vcpu_wakeup, or taken
 * by L1 (kvm_nested_vmexit_inject).
 */
static void halt_event(struct sfacts *f, const struct sinfo *e)
{
	struct fthread *t = NULL;

	if (e->kind == SK_SWITCH && (e->prev_state & 0xff))
		t = fthread(f, e->prev_pid);
	else if (e->kind == SK_WAKING || e->kind == SK_WAKEUP)
		t = fthread(f, e->wpid);
	else if (e->kind == SK_VCPU_WAKEUP || e->kind == SK_NESTED_INJECT)
		t = fthread(f, e->pid);
	if (!t || !t->in_hlt || t->ended || t->injected)
		return;
	if (e->kind == SK_SWITCH) {
		t->blocked = true;
	} else if (e->kind == SK_NESTED_INJECT) {
		t->injected = true;
	} else if (e->kind == SK_VCPU_WAKEUP || t->blocked) {
		t->ended = true;
		if (t->blocked)
			t->woken++;
		else
			t->polled++;
	}
}

/* One written record. */
void facts_event(struct sfacts *f, uint64_t ts, const struct sinfo *e)
{
	struct fthread *t;

	halt_event(f, e);
	if (e->kind != SK_ENTRY && e->kind != SK_EXIT)
		return;
	t = fthread(f, e->pid);
	t->had_ee = true;
	if (e->kind == SK_ENTRY) {
		if (t->in_hlt) {
			t->hlt_ns += ts - t->since;
			t->hlt_closed++;
			if (!t->blocked && !t->injected)
				t->reentered++;
		}
		t->in_hlt = false;
		t->in_guest = true;
		t->since = ts;
		return;
	}
	if (t->in_guest)
		t->guest_ns += ts - t->since;
	t->in_guest = false;
	count_exit(t, e->isa == 1 ? 1 : 2, e->code);
	t->in_hlt = e->isa == 1 ? (e->code & 0xffff) == 12 : e->code == 0x78;
	t->blocked = t->ended = t->injected = false;
	t->since = ts;
}

/* Write @path (@end: the end of this trace). */
int facts_write(struct sfacts *f, const char *path, uint64_t end)
{
	FILE *o = fopen(path, "w");

	if (!o) {
		vw_err("synth: cannot write %s: %s", path, strerror(errno));
		return -1;
	}
	fprintf(o, "{\"end_ns\":%llu,\"threads\":[", (unsigned long long)end);
	for (int i = 0, n = 0; i < f->n; i++) {
		struct fthread *t = &f->t[i];

		if (!t->had_ee)
			continue;	/* no kvm_entry/kvm_exit: no vCPU thread of these counts */
		/* what is open at the end runs to the end of the trace that holds it */
		fprintf(o, "%s\n {\"tid\":%d,\"guest_ns\":%llu,\"guest_since\":%llu,"
			"\"hlt_ns\":%llu,\"hlt_since\":%llu,\"hlt_closed\":%llu,\"woken\":%llu,"
			"\"polled\":%llu,\"reentered\":%llu,\"exits\":[",
			n++ ? "," : "", t->tid, (unsigned long long)t->guest_ns,
			(unsigned long long)(t->in_guest ? t->since : 0),
			(unsigned long long)t->hlt_ns, (unsigned long long)(t->in_hlt ? t->since : 0),
			(unsigned long long)t->hlt_closed, (unsigned long long)t->woken,
			(unsigned long long)t->polled, (unsigned long long)t->reentered);
		for (int j = 0; j < t->nr_exits; j++)
			fprintf(o, "%s{\"isa\":\"%s\",\"code\":%u,\"count\":%llu}", j ? "," : "",
				t->exits[j].isa == 1 ? "vmx" : "svm", t->exits[j].code,
				(unsigned long long)t->exits[j].n);
		fprintf(o, "]}");
	}
	fprintf(o, "]}\n");
	return fclose(o) ? -1 : 0;
}

void facts_free(struct sfacts *f)
{
	if (f)
		free(f->t);
	free(f);
}
