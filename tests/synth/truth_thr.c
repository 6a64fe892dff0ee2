/*
 * Ground truth, threads and setup: a thread per incarnation of a tid (a new
 * one after its exit), its name, vcpu id (README order) and tgid from
 * names; the CPUs; the evidence tier of the recorded set; the truth's
 * lifetime.
 */
#include <stdlib.h>
#include <string.h>

#include "truth_int.h"
#include "util.h"

/* ---- threads ---- */

struct tthread *thr_find(struct struth *t, int tid)
{
	return tid > 0 && tid < t->nr_live ? t->live[tid] : NULL;
}

/* The live thread of @tid; a new one (not seen yet) if the last one ended. */
struct tthread *thr_live(struct struth *t, int tid)
{
	struct tthread *th;

	if (tid <= 0)
		return NULL;
	if (tid >= t->nr_live) {
		int n = MAX(tid + 1, t->nr_live * 2);

		t->live = xrealloc(t->live, n * sizeof(*t->live));
		memset(t->live + t->nr_live, 0, (n - t->nr_live) * sizeof(*t->live));
		t->nr_live = n;
	}
	if (t->live[tid])
		return t->live[tid];
	th = xcalloc(1, sizeof(*th));
	th->tid = tid;
	th->idx = t->nr_list;
	th->tgid = th->anchor = -1;
	th->vcpu = -1;
	th->vsrc = 99;
	th->live = true;
	th->acc.state = -1;
	th->last_cpu = th->wait_cpu = -1;
	t->live[tid] = th;
	t->list = xrealloc(t->list, (t->nr_list + 1) * sizeof(*t->list));
	t->list[t->nr_list++] = th;
	return th;
}

struct tcpu *cpu_get(struct struth *t, int cpu)
{
	if (cpu >= t->nr_cpus) {
		t->cpus = xrealloc(t->cpus, (cpu + 1) * sizeof(*t->cpus));
		memset(t->cpus + t->nr_cpus, 0, (cpu + 1 - t->nr_cpus) * sizeof(*t->cpus));
		for (int i = t->nr_cpus; i <= cpu; i++)
			t->cpus[i].curr = t->cpus[i].hrt_pid = t->cpus[i].prev_pid = -1;
		t->nr_cpus = cpu + 1;
	}
	return &t->cpus[cpu];
}

/* README: the vcpu id from, in order: kvm_entry/kvm_exit, kvm_halt_poll_ns, name, accept. */
void set_vcpu_id(struct tthread *th, int id, int rank)
{
	if (id >= 0 && rank <= th->vsrc) {
		th->vcpu = id;
		th->vsrc = rank;
	}
}

/* "CPU <n>/KVM" -> n, or -1. */
static int name_vcpu(const char *comm)
{
	char *end;
	long n;

	if (strncmp(comm, "CPU ", 4))
		return -1;
	n = strtol(comm + 4, &end, 10);
	if (end == comm + 4 || strcmp(end, "/KVM") || n < 0)
		return -1;
	return (int)n;
}

/* "vhost-<pid>", "kvm-pit/<pid>": a kernel worker of VM <pid>. */
static int worker_of(const char *comm)
{
	const char *p = !strncmp(comm, "vhost-", 6) ? comm + 6 :
			!strncmp(comm, "kvm-pit/", 8) ? comm + 8 : NULL;
	char *end;
	long v;

	if (!p)
		return -1;
	v = strtol(p, &end, 10);
	return end != p && v > 0 ? (int)v : -1;
}

void set_comm(struct struth *t, struct tthread *th, const char *comm, uint64_t ts)
{
	int id;

	if (!comm || !*comm || comm[0] == '<')
		return;
	if (comm != th->comm)
		snprintf(th->comm, sizeof(th->comm), "%s", comm);
	th->has_comm = true;
	id = name_vcpu(th->comm);
	if (id >= 0) {
		set_vcpu_id(th, id, 2);
		promote(t, th, ts);
	}
	if (th->tgid < 0 && worker_of(th->comm) > 0)
		th->tgid = worker_of(th->comm);
}

/*
 * Known as a vCPU from @ts: its result row exists from now on; the closed
 * periods before count in its totals only, and the preemption before it is
 * credited to "unknown".
 */
void promote(struct struth *t, struct tthread *th, uint64_t ts)
{
	struct vw_vcpu *v;

	(void)t;
	if (th->is_vcpu)
		return;
	th->is_vcpu = true;
	v = xcalloc(1, sizeof(*v));
	v->tid = th->tid;
	th->acc.res = v;
	for (int s = 0; s < VS_NR; s++)
		v->states_ns[s] += th->acc.pre[s];
	credits_add(&th->acc.done, CK_UNKNOWN, th->acc.pre[VS_PREEMPTED]);
	if (th->seen && th->acc.state == VS_PREEMPTED && th->acc.end == ts)
		credits_add(&th->acc.open, CK_UNKNOWN, ts - th->acc.start);
}

/* ---- setup ---- */

static bool recorded(const struct sfmt *f, const bool *rec, const char *name)
{
	for (int i = 0; i < f->nr_ev; i++)
		if (!strcmp(f->ev[i].name, name))
			return rec[i];
	return false;
}

/* README, Evidence: the fixed list, and the tier of the recorded set. */
static void evidence(struct struth *t, const bool *rec)
{
	static const char *const list[] = {
		"kvm_entry", "kvm_exit", "kvm_vcpu_wakeup", "kvm_userspace_exit",
		"kvm_apic_accept_irq", "sched_switch", "sched_waking", "sched_wakeup",
		"kvm_inj_virq", "kvm_msi_set_irq", "kvm_apic_ipi", "hrtimer_expire_entry",
		"sched_process_exit", "task_newtask", "kvm_nested_vmenter",
	};
	const struct sfmt *f = t->fmt;
	bool entry = recorded(f, rec, "kvm_entry"), kexit = recorded(f, rec, "kvm_exit");
	bool sw = recorded(f, rec, "sched_switch"), wake = recorded(f, rec, "kvm_vcpu_wakeup");
	bool waking = recorded(f, rec, "sched_waking") || recorded(f, rec, "sched_wakeup");
	const char *tier = NULL;

	for (size_t i = 0; i < ARRAY_SIZE(list); i++)
		res_evidence_add(&t->res->evidence, recorded(f, rec, list[i]), list[i]);
	if (entry && kexit && sw && waking)
		tier = wake ? "full" : "sched";
	else if (entry && kexit && !sw)
		tier = "exits";
	else if (!entry && !kexit && wake && sw)
		tier = "light";
	else if (!entry && !kexit && !wake)
		tier = "none";
	if (!tier) {
		vw_err("synth: the README names no tier for this set of recorded events");
		exit(EXIT_USAGE);
	}
	snprintf(t->res->evidence.tier, sizeof(t->res->evidence.tier), "%s", tier);
	t->rec_entry_exit = entry && kexit;
	t->rec_switch = sw;
	t->rec_vcpu_wakeup = wake;
}

struct struth *truth_new(struct vw_result *res, const struct sfmt *f, const bool *rec)
{
	struct struth *t = xcalloc(1, sizeof(*t));

	t->res = res;
	t->fmt = f;
	t->debug = getenv("VMWAIT_SYNTH_DEBUG") != NULL;
	evidence(t, rec);
	return t;
}

void truth_cmdline(struct struth *t, int tid, const char *comm)
{
	if (tid <= 0)
		return;
	if (tid >= t->nr_cmdline) {
		t->cmdline = xrealloc(t->cmdline, (tid + 1) * sizeof(*t->cmdline));
		memset(t->cmdline + t->nr_cmdline, 0, (tid + 1 - t->nr_cmdline) * sizeof(char *));
		t->nr_cmdline = tid + 1;
	}
	free(t->cmdline[tid]);
	t->cmdline[tid] = xstrdup(comm);
}

void truth_timer_fn(struct struth *t, uint64_t addr, int src)
{
	if (t->nr_timers < (int)ARRAY_SIZE(t->timers))
		t->timers[t->nr_timers++] = (struct ttimer){ addr, src };
}

void truth_check_physical(struct struth *t, bool on)
{
	t->check = on;
}

void truth_on_wait(struct struth *t, void (*cb)(void *ctx, const struct vw_vcpu *lane,
						uint64_t start, uint64_t end, int reason),
		   void *ctx)
{
	t->on_wait = cb;
	t->on_wait_ctx = ctx;
}

void truth_free(struct struth *t)
{
	for (int i = 0; i < t->nr_list; i++) {
		struct tthread *th = t->list[i];

		res_vcpu_free(th->vm ? NULL : th->acc.res);
		free(th->acc.open.v);
		free(th->acc.done.v);
		free(th);
	}
	for (int i = 0; i < t->nr_l2s; i++) {
		free(t->l2s[i]->acc.open.v);
		free(t->l2s[i]->acc.done.v);
		free(t->l2s[i]->id);
		free(t->l2s[i]);
	}
	for (int i = 0; i < t->nr_cpus; i++)
		free(t->cpus[i].ent);
	for (int i = 0; i < t->nr_cmdline; i++)
		free(t->cmdline[i]);
	for (int i = 0; i < t->nr_vmcmd; i++)
		free(t->vmcmd[i].cmdline);
	free(t->vmcmd);
	free(t->cmdline);
	free(t->list);
	free(t->l2s);
	free(t->learn);
	free(t->live);
	free(t->cpus);
	free(t);
}
