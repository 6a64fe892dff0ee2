/* One switch on the decoded event's kind: what each followed event does to the model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer.h"
#include "util.h"

static void hrtimer_close(struct cpu_state *c)
{
	c->seg++;
	c->hrtimer_pid = -1;
	c->hrtimer_kind = 0;
}

/* "vmwait: task tid=.. tgid=.. comm=..", "vmwait: vm pid=.. cmdline=.." */
static void on_marker(struct analyzer *a, const char *buf)
{
	const char *p;
	int tid, tgid, pid;

	if (strncmp(buf, "vmwait: ", 8))
		return;
	buf += 8;
	if (sscanf(buf, "task tid=%d tgid=%d", &tid, &tgid) == 2 && tid > 0) {
		struct thread *t = thread_hint(a, tid);

		t->tgid = tgid;
		p = strstr(buf, " comm=");
		if (p) {
			char comm[32];
			size_t n = strcspn(p + 6, "\n");

			snprintf(comm, sizeof(comm), "%.*s", (int)MIN(n, sizeof(comm) - 1), p + 6);
			thread_set_comm(a, t, comm, t->seen ? t->first_ns : 0);
		}
	} else if (sscanf(buf, "vm pid=%d", &pid) == 1 && pid > 0) {
		struct vm_info *vm = vm_get(a, pid);

		p = strstr(buf, " cmdline=");
		if (p) {
			free(vm->cmdline);
			vm->cmdline = xstrdup(p + 9);
			vm->cmdline[strcspn(vm->cmdline, "\n")] = '\0';
		}
	}
}

/* The comm in field @i of @e names @t (compared in place: the common case). */
static void comm_from(struct analyzer *a, struct thread *t, const struct vw_ev *e, int i)
{
	const struct ev_field *f = &e->ty->f[i];
	char comm[32];

	if (f->present && f->size == 16 && f->off + 16 <= e->size &&
	    !memcmp(e->data + f->off, t->comm, 16))
		return;
	thread_set_comm(a, t, ev_str(e, i, comm, 17), e->ts);
}

static void on_switch(struct analyzer *a, const struct vw_ev *e)
{
	int prev = (int)e->v[1];
	long long state = (long long)e->v[2];
	int next = (int)e->v[4];
	struct cpu_state *c = &a->cpus[e->cpu];

	if (prev > 0) {
		struct thread *p = thread_get(a, prev, e->ts);

		comm_from(a, p, e, 0);
		if ((state & 0xff) == 2)
			p->did_io = true;
		sched_switch_out(a, p, e->cpu, (state & 0xff) == 0, e->ts);
	}
	c->nent = 0;
	if (c->hrtimer_pid >= 0)
		hrtimer_close(c);
	cpu_switch(a, e->cpu, next, e->ts);
	if (next > 0) {
		struct thread *n = thread_get(a, next, e->ts);

		comm_from(a, n, e, 3);
		sched_switch_in(a, n, e->cpu, e->ts);
	}
}

static void on_wake(struct analyzer *a, const struct vw_ev *e)
{
	int pid = (int)e->v[1];
	int target = e->ty->f[2].present ? (int)e->v[2] : -1;
	struct thread *t;

	a->cpus[e->cpu].irqctx = e->flags & (TRACE_FLAG_HARDIRQ | TRACE_FLAG_SOFTIRQ);
	if (pid <= 0)
		return;
	t = thread_get(a, pid, e->ts);
	comm_from(a, t, e, 0);
	sched_wake(a, t, e->pid, e->cpu, target, e->ts);
}

static void on_newtask(struct analyzer *a, const struct vw_ev *e, struct thread *parent)
{
	char comm[32];
	int pid = (int)e->v[0];
	struct thread *c;

	if (pid <= 0)
		return;
	c = thread_hint(a, pid);
	if (e->ty->f[1].present)
		thread_set_comm(a, c, ev_str(e, 1, comm, 17), c->seen ? c->first_ns : 0);
	if (c->tgid >= 0 || !e->ty->f[2].present)
		return;
	if (e->v[2] & 0x00010000)	/* CLONE_THREAD */
		c->tgid = parent ? parent->tgid : -1;
	else
		c->tgid = pid;
}

static void on_accept(struct analyzer *a, const struct vw_ev *e, struct thread *t)
{
	int apicid = (int)e->v[0];
	int vec = (int)e->v[1];

	ctx_push(a, e->cpu, CE_ACCEPT, e->pid, apicid, vec, e->ts);
	if (t->vcpu) {
		kvm_event(a, t, e->kind, e->ts);
		if (apicid == t->vcpu_id)
			evidence_post(t, vec, true);
	}
	if (a->nhalted)
		evidence_accept(a, e->pid, e->cpu, apicid, vec,
				e->flags & (TRACE_FLAG_HARDIRQ | TRACE_FLAG_SOFTIRQ));
}

static void on_nested_enter(const struct vw_ev *e, struct analyzer *a, struct thread *t)
{
	uint32_t inj = (uint32_t)e->v[1];
	int vec = (inj & 0x80000000u) && !(inj & 0x700) ? (int)(inj & 0xff) : -1;

	vcpu_promote(a, t, e->ts);
	kvm_event(a, t, e->kind, e->ts);
	nested_enter(a, t, e->v[0], e->v[2], e->ty->f[2].present, vec, e->ts);
}

/* kvm:* events of thread @t (the record's task). */
static void on_kvm(struct analyzer *a, const struct vw_ev *e, struct thread *t)
{
	switch (e->kind) {
	case K_KVM_ENTRY:
		if (e->ty->f[0].present)
			t->vcpu_id = (int)e->v[0];
		vcpu_promote(a, t, e->ts);
		kvm_event(a, t, e->kind, e->ts);
		on_kvm_entry(a, t, e->ts);
		break;
	case K_KVM_EXIT:
		if (e->ty->f[2].present)
			t->vcpu_id = (int)e->v[2];
		vcpu_promote(a, t, e->ts);
		kvm_event(a, t, e->kind, e->ts);
		on_kvm_exit(a, t, e->ty->f[1].present ? (uint32_t)e->v[1] : 1,
			    (uint32_t)e->v[0], e->v[3], e->ts);
		break;
	case K_USER_EXIT:
	case K_VCPU_WAKEUP:
		vcpu_promote(a, t, e->ts);
		kvm_event(a, t, e->kind, e->ts);
		if (e->kind == K_USER_EXIT)
			on_user_exit(a, t, e->ts);
		else
			on_vcpu_wakeup(a, t, e->ts);
		break;
	case K_HALT_POLL:
		if (t->vcpu_id < 0)
			t->vcpu_id = (int)e->v[0];
		vcpu_promote(a, t, e->ts);
		kvm_event(a, t, e->kind, e->ts);
		break;
	case K_INJ_VIRQ:
		on_inj_virq(a, t, (int)(e->v[0] & 0xff), e->ts);
		break;
	case K_ACCEPT:
		on_accept(a, e, t);
		break;
	case K_APIC_IPI:
		ctx_push(a, e->cpu, CE_IPI, e->pid, (int)e->v[1], (int)(e->v[0] & 0xff), e->ts);
		goto other;
	case K_MSI:
		ctx_push(a, e->cpu, CE_MSI, e->pid, -1, (int)(e->v[1] & 0xff), e->ts);
		goto other;
	case K_SET_IRQ:
		ctx_push(a, e->cpu, CE_SET_IRQ, e->pid, (int)e->v[0], -1, e->ts);
		goto other;
	case K_IOAPIC:
		ctx_push(a, e->cpu, CE_IOAPIC, e->pid, (int)e->v[1], (int)(e->v[0] & 0xff), e->ts);
		goto other;
	case K_PIC:
		ctx_push(a, e->cpu, CE_PIC, e->pid, (int)(e->v[0] * 8 + e->v[1]), -1, e->ts);
		goto other;
	case K_NESTED_VMENTER:
	case K_NESTED_VMRUN:
		on_nested_enter(e, a, t);
		break;
	case K_NESTED_INJECT:
		vcpu_promote(a, t, e->ts);
		kvm_event(a, t, e->kind, e->ts);
		nested_inject(a, t, e->ty->f[1].present ? (uint32_t)e->v[1] : 1,
			      (uint32_t)e->v[0], e->ts);
		break;
	case K_NESTED_VMEXIT:
	case K_NESTED_INTR:
		vcpu_promote(a, t, e->ts);
		/* fall through */
	default:
other:
		if (t->vcpu)
			kvm_event(a, t, e->kind, e->ts);
		break;
	}
}

/* The thread of the record's task, from the CPU's cache when it did not change. */
static struct thread *task_of(struct analyzer *a, const struct vw_ev *e)
{
	struct cpu_state *c = &a->cpus[e->cpu];
	struct thread *t;

	if (e->pid <= 0)
		return NULL;
	if (c->curr_t && c->curr_t->tid == e->pid && c->curr_t->seen)
		return c->curr_t;
	t = thread_get(a, e->pid, e->ts);
	c->curr_t = t;
	return t;
}

/* A marker (ftrace print): out of line, its buffer kept off handle()'s frame. */
static void __attribute__((noinline)) on_print(struct analyzer *a, const struct vw_ev *e)
{
	char buf[4096];

	on_marker(a, ev_str(e, 0, buf, sizeof(buf)));
}

/* Apply one record to the model. Records come in time order across CPUs. */
void handle(struct analyzer *a, const struct vw_ev *e)
{
	struct cpu_state *c = &a->cpus[e->cpu];
	struct thread *t;

	/*
	 * An hrtimer callback ends at hrtimer_expire_exit, or (a --light
	 * recording has no exit event) at the first record on its CPU without
	 * the hardirq flag, or at a sched_switch.
	 */
	if (c->hrtimer_pid >= 0 && c->hrt_flagged && !(e->flags & TRACE_FLAG_HARDIRQ))
		hrtimer_close(c);
	if (e->pid >= 0)
		cpu_switch(a, e->cpu, e->pid, e->ts);
	t = task_of(a, e);
	if (t && t->vcpu && e->kind >= K_SWITCH && e->kind <= K_INJ_VIRQ)
		gap_check(a, t, e);
	if (t)
		seen_on_cpu(a, t, e->cpu, e->ts);
	switch (e->kind) {
	case K_NONE:
		break;
	case K_SWITCH:
		on_switch(a, e);
		break;
	case K_WAKING:
	case K_WAKEUP:
	case K_WAKEUP_NEW:
		on_wake(a, e);
		break;
	case K_NEWTASK:
		on_newtask(a, e, t);
		break;
	case K_PEXIT:
		if ((int)e->v[0] > 0 && thread_find(a, (int)e->v[0]))
			sched_exit(a, thread_find(a, (int)e->v[0]), e->ts);
		break;
	case K_EXEC:
		/* exec leaves one thread, the leader: its pid is the tgid */
		if ((int)e->v[0] > 0)
			thread_hint(a, (int)e->v[0])->tgid = (int)e->v[0];
		break;
	case K_HRT_ENTRY:
		c->seg++;
		c->hrt_flagged = e->flags & TRACE_FLAG_HARDIRQ;
		c->hrtimer_pid = e->pid;
		c->hrtimer_kind = hrtimer_kind(a, e->v[0]);
		if (t && t->vcpu && t->ctx == CTX_HALTED)
			evidence_timer_on_self(t, c->hrtimer_kind);
		break;
	case K_HRT_EXIT:
		hrtimer_close(c);
		break;
	case K_BLOCK_ISSUE:
		if (t)
			t->did_io = true;
		break;
	case K_PRINT:
		on_print(a, e);
		break;
	default:
		if (t)
			on_kvm(a, e, t);
		break;
	}
}

/* The threads a record names besides its task (for --explain). */
int ev_named_pids(const struct vw_ev *e, int *pids)
{
	switch (e->kind) {
	case K_SWITCH:
		pids[0] = (int)e->v[1];
		pids[1] = (int)e->v[4];
		return 2;
	case K_WAKING:
	case K_WAKEUP:
	case K_WAKEUP_NEW:
	case K_NEWTASK:
		pids[0] = (int)e->v[e->kind == K_NEWTASK ? 0 : 1];
		return 1;
	default:
		return 0;
	}
}
