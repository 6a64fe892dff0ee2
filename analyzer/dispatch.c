/* Event dispatch: resolve the followed events and fields once, then route each record. */
#include <stdlib.h>
#include <string.h>

#include "analyzer.h"
#include "util.h"

/* Field names per kind, in the order handlers read them (alternatives with '|'). */
static const struct {
	const char *system, *name;
	uint8_t kind;
	const char *fields[MAX_FIELDS];
} followed[] = {
	{ "sched", "sched_switch", K_SWITCH,
	  { "prev_comm", "prev_pid", "prev_state", "next_comm", "next_pid" } },
	{ "sched", "sched_waking", K_WAKING, { "comm", "pid", "target_cpu" } },
	{ "sched", "sched_wakeup", K_WAKEUP, { "comm", "pid", "target_cpu" } },
	{ "sched", "sched_wakeup_new", K_WAKEUP_NEW, { "comm", "pid", "target_cpu" } },
	{ "task", "task_newtask", K_NEWTASK, { "pid", "comm", "clone_flags" } },
	{ "sched", "sched_process_exec", K_EXEC, { "pid" } },
	{ "kvm", "kvm_entry", K_KVM_ENTRY, { "vcpu_id" } },
	{ "kvm", "kvm_exit", K_KVM_EXIT, { "exit_reason", "isa", "vcpu_id" } },
	{ "kvm", "kvm_userspace_exit", K_USER_EXIT, { "reason" } },
	{ "kvm", "kvm_vcpu_wakeup", K_VCPU_WAKEUP, { "waited" } },
	{ "kvm", "kvm_halt_poll_ns", K_HALT_POLL, { "vcpu_id" } },
	{ "kvm", "kvm_inj_virq", K_INJ_VIRQ, { "vector|irq" } },
	{ "kvm", "kvm_apic_accept_irq", K_ACCEPT, { "apicid", "vec" } },
	{ "kvm", "kvm_apic_ipi", K_APIC_IPI, { "icr_low", "dest_id" } },
	{ "kvm", "kvm_msi_set_irq", K_MSI, { "address", "data" } },
	{ "kvm", "kvm_set_irq", K_SET_IRQ, { "gsi" } },
	{ "kvm", "kvm_ioapic_set_irq", K_IOAPIC, { "e", "pin" } },
	{ "kvm", "kvm_pic_set_irq", K_PIC, { "chip", "pin" } },
	{ "kvm", "kvm_nested_vmenter", K_NESTED_VMENTER, { "vmcb", "event_inj", "guest_pgd" } },
	{ "kvm", "kvm_nested_vmrun", K_NESTED_VMRUN, { "vmcb", "event_inj" } },
	{ "kvm", "kvm_nested_vmexit", K_NESTED_VMEXIT, { NULL } },
	{ "kvm", "kvm_nested_vmexit_inject", K_NESTED_INJECT, { "exit_code", "isa" } },
	{ "kvm", "kvm_nested_intr_vmexit", K_NESTED_INTR, { NULL } },
	{ "timer", "hrtimer_expire_entry", K_HRT_ENTRY, { "function" } },
	{ "timer", "hrtimer_expire_exit", K_HRT_EXIT, { NULL } },
	{ "block", "block_rq_issue", K_BLOCK_ISSUE, { NULL } },
	{ "ftrace", "print", K_PRINT, { "buf" } },
};

/* The formats the analysis parses: the followed events and every kvm event. */
bool dispatch_wants(const char *system, const char *name)
{
	if (!strcmp(system, "kvm"))
		return true;
	for (size_t k = 0; k < ARRAY_SIZE(followed); k++)
		if (!strcmp(system, followed[k].system) && !strcmp(name, followed[k].name))
			return true;
	return false;
}

/* Fields a handler cannot do without (the rest may be absent in old layouts). */
static bool field_optional(uint8_t kind, int idx)
{
	return (kind == K_KVM_EXIT && idx >= 1) ||	/* isa, vcpu_id */
	       (kind == K_NESTED_VMENTER && idx == 2) ||	/* guest_pgd */
	       (kind == K_NESTED_INJECT && idx == 1) ||
	       kind == K_NEWTASK;
}

static struct tep_format_field *find_field(struct tep_event *ev, const char *names)
{
	char buf[64], *save, *tok;

	snprintf(buf, sizeof(buf), "%s", names);
	for (tok = strtok_r(buf, "|", &save); tok; tok = strtok_r(NULL, "|", &save)) {
		struct tep_format_field *f = tep_find_field(ev, tok);

		if (f)
			return f;
	}
	return NULL;
}

static void desc_set(struct analyzer *a, struct tep_event *ev, size_t i)
{
	struct ev_desc *d;

	if (ev->id < 0 || ev->id >= a->ndesc)
		return;
	d = &a->desc[ev->id];
	for (int f = 0; f < MAX_FIELDS && followed[i].fields[f]; f++) {
		d->f[f] = find_field(ev, followed[i].fields[f]);
		if (!d->f[f] && !field_optional(followed[i].kind, f)) {
			vw_warn("event %s:%s has no field '%s' in this trace; it is ignored",
				ev->system, ev->name, followed[i].fields[f]);
			return;
		}
	}
	d->kind = followed[i].kind;
}

/* Walk a print-format argument tree for __print_symbolic tables, in order. */
static void find_symbols(struct tep_print_arg *arg, struct tep_print_flag_sym **out, int *n)
{
	for (; arg && *n < 2; arg = arg->next) {
		switch (arg->type) {
		case TEP_PRINT_SYMBOL:
			out[(*n)++] = arg->symbol.symbols;
			break;
		case TEP_PRINT_OP:
			find_symbols(arg->op.left, out, n);
			find_symbols(arg->op.right, out, n);
			break;
		case TEP_PRINT_TYPE:
			find_symbols(arg->typecast.item, out, n);
			break;
		default:
			break;
		}
	}
}

/* Exit-reason names from kvm_exit's print format: VMX table, then SVM table. */
static void exit_names_init(struct analyzer *a, struct tep_event *ev)
{
	struct tep_print_flag_sym *tabs[2] = { NULL, NULL };
	int n = 0;

	/* the reason is the only __print_symbolic in every kvm_exit layout */
	find_symbols(ev->print_fmt.args, tabs, &n);
	a->names.vmx = tabs[0];
	a->names.svm = n > 1 ? tabs[1] : tabs[0];
}

const char *exit_name(struct analyzer *a, uint32_t isa, uint32_t code)
{
	struct tep_print_flag_sym *s = isa == 1 ? a->names.vmx : a->names.svm;
	unsigned long long want = isa == 1 ? (code & 0xffff) : code;

	for (; s; s = s->next)
		if ((unsigned long long)(uint32_t)strtoll(s->value, NULL, 0) == want)
			return s->str;
	return NULL;
}

int dispatch_init(struct analyzer *a)
{
	int n = tep_get_events_count(a->tep);
	int maxid = 0;

	for (int i = 0; i < n; i++) {
		struct tep_event *ev = tep_get_event(a->tep, i);

		if (ev && ev->id > maxid)
			maxid = ev->id;
	}
	a->ndesc = maxid + 1;
	a->desc = xcalloc(a->ndesc, sizeof(*a->desc));
	for (int i = 0; i < n; i++) {
		struct tep_event *ev = tep_get_event(a->tep, i);

		if (!ev || !ev->system || !ev->name)
			continue;
		for (size_t k = 0; k < ARRAY_SIZE(followed); k++) {
			if (strcmp(ev->system, followed[k].system) ||
			    strcmp(ev->name, followed[k].name))
				continue;
			desc_set(a, ev, k);
			if (followed[k].kind == K_KVM_EXIT)
				exit_names_init(a, ev);
			break;
		}
		if (!strcmp(ev->system, "kvm") && ev->id >= 0 && ev->id < a->ndesc &&
		    a->desc[ev->id].kind == K_NONE)
			a->desc[ev->id].kind = K_KVM_OTHER;
	}
	return 0;
}

static unsigned long long fval(struct analyzer *a, struct tep_record *r, struct tep_format_field *f)
{
	if (!f || f->offset + f->size > r->size)
		return 0;
	return tep_read_number(a->tep, (char *)r->data + f->offset, f->size);
}

static long long fsval(struct analyzer *a, struct tep_record *r, struct tep_format_field *f)
{
	unsigned long long v = fval(a, r, f);

	if (f && (f->flags & TEP_FIELD_IS_SIGNED)) {
		switch (f->size) {
		case 1: return (int8_t)v;
		case 2: return (int16_t)v;
		case 4: return (int32_t)v;
		}
	}
	return (long long)v;
}

/* A fixed char[] field (comm), always NUL-terminated into @buf. */
static const char *fstr(struct tep_record *r, struct tep_format_field *f, char *buf, size_t len)
{
	size_t n;

	if (!f || f->offset >= r->size) {
		buf[0] = '\0';
		return buf;
	}
	n = MIN((size_t)f->size ? (size_t)f->size : (size_t)(r->size - f->offset),
		(size_t)(r->size - f->offset));
	n = MIN(n, len - 1);
	memcpy(buf, (char *)r->data + f->offset, n);
	buf[n] = '\0';
	return buf;
}

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

static void on_switch(struct analyzer *a, struct ev_desc *d, struct tep_record *r,
		      int cpu, uint64_t ts)
{
	char comm[32];
	int prev = (int)fsval(a, r, d->f[1]);
	long long state = fsval(a, r, d->f[2]);
	int next = (int)fsval(a, r, d->f[4]);

	if (prev > 0) {
		struct thread *p = thread_get(a, prev, ts);

		thread_set_comm(a, p, fstr(r, d->f[0], comm, 17), ts);
		if ((state & 0xff) == 2)
			p->did_io = true;
		sched_switch_out(a, p, cpu, (state & 0xff) == 0, ts);
	}
	a->cpus[cpu].nent = 0;
	if (a->cpus[cpu].hrtimer_pid >= 0)
		hrtimer_close(&a->cpus[cpu]);
	cpu_switch(a, cpu, next, ts);
	if (next > 0) {
		struct thread *n = thread_get(a, next, ts);

		thread_set_comm(a, n, fstr(r, d->f[3], comm, 17), ts);
		sched_switch_in(a, n, cpu, ts);
	}
}

static void on_wake(struct analyzer *a, struct ev_desc *d, struct tep_record *r,
		    int waker, int cpu, uint64_t ts)
{
	char comm[32];
	int pid = (int)fsval(a, r, d->f[1]);
	int target = d->f[2] ? (int)fsval(a, r, d->f[2]) : -1;
	struct thread *t;

	if (pid <= 0)
		return;
	t = thread_get(a, pid, ts);
	thread_set_comm(a, t, fstr(r, d->f[0], comm, 17), ts);
	sched_wake(a, t, waker, cpu, target, ts);
}

static void on_newtask(struct analyzer *a, struct ev_desc *d, struct tep_record *r,
		       struct thread *parent)
{
	char comm[32];
	int pid = (int)fsval(a, r, d->f[0]);
	struct thread *c;

	if (pid <= 0)
		return;
	c = thread_hint(a, pid);
	if (d->f[1])
		thread_set_comm(a, c, fstr(r, d->f[1], comm, 17), c->seen ? c->first_ns : 0);
	if (c->tgid >= 0)
		return;
	if (d->f[2] && (fval(a, r, d->f[2]) & 0x00010000))	/* CLONE_THREAD */
		c->tgid = parent ? parent->tgid : -1;
	else if (d->f[2])
		c->tgid = pid;
}

static void on_kvm(struct analyzer *a, struct ev_desc *d, struct tep_record *r,
		   struct thread *t, int pid, int cpu, uint64_t ts)
{
	uint64_t v;

	switch (d->kind) {
	case K_KVM_ENTRY:
		if (d->f[0])
			t->vcpu_id = (int)fval(a, r, d->f[0]);
		vcpu_promote(a, t, ts);
		kvm_event(a, t, d->kind, ts);
		on_kvm_entry(a, t, ts);
		break;
	case K_KVM_EXIT:
		if (d->f[2])
			t->vcpu_id = (int)fval(a, r, d->f[2]);
		vcpu_promote(a, t, ts);
		kvm_event(a, t, d->kind, ts);
		on_kvm_exit(a, t, d->f[1] ? (uint32_t)fval(a, r, d->f[1]) : 1,
			    (uint32_t)fval(a, r, d->f[0]), ts);
		break;
	case K_USER_EXIT:
		vcpu_promote(a, t, ts);
		kvm_event(a, t, d->kind, ts);
		on_user_exit(a, t, ts);
		break;
	case K_VCPU_WAKEUP:
		vcpu_promote(a, t, ts);
		kvm_event(a, t, d->kind, ts);
		on_vcpu_wakeup(a, t, ts);
		break;
	case K_HALT_POLL:
		if (t->vcpu_id < 0)
			t->vcpu_id = (int)fval(a, r, d->f[0]);
		vcpu_promote(a, t, ts);
		kvm_event(a, t, d->kind, ts);
		break;
	case K_INJ_VIRQ:
		vcpu_promote(a, t, ts);
		kvm_event(a, t, d->kind, ts);
		evidence_post(t, (int)(fval(a, r, d->f[0]) & 0xff), false);
		break;
	case K_ACCEPT: {
		int apicid = (int)fval(a, r, d->f[0]);
		int vec = (int)fval(a, r, d->f[1]);

		ctx_push(a, cpu, CE_ACCEPT, pid, apicid, vec);
		if (t->vcpu) {
			kvm_event(a, t, d->kind, ts);
			if (apicid == t->vcpu_id)
				evidence_post(t, vec, true);
		}
		if (a->nhalted)
			evidence_accept(a, pid, cpu, apicid, vec,
					tep_data_flags(a->tep, r) & (TRACE_FLAG_HARDIRQ |
								     TRACE_FLAG_SOFTIRQ));
		break;
	}
	case K_APIC_IPI:
		v = fval(a, r, d->f[0]);
		ctx_push(a, cpu, CE_IPI, pid, (int)fval(a, r, d->f[1]), (int)(v & 0xff));
		goto other;
	case K_MSI:
		ctx_push(a, cpu, CE_MSI, pid, -1, (int)(fval(a, r, d->f[1]) & 0xff));
		goto other;
	case K_SET_IRQ:
		ctx_push(a, cpu, CE_SET_IRQ, pid, (int)fval(a, r, d->f[0]), -1);
		goto other;
	case K_IOAPIC:
		ctx_push(a, cpu, CE_IOAPIC, pid, (int)fval(a, r, d->f[1]),
			 (int)(fval(a, r, d->f[0]) & 0xff));
		goto other;
	case K_PIC:
		ctx_push(a, cpu, CE_PIC, pid,
			 (int)(fval(a, r, d->f[0]) * 8 + fval(a, r, d->f[1])), -1);
		goto other;
	case K_NESTED_VMENTER:
	case K_NESTED_VMRUN: {
		uint32_t inj = (uint32_t)fval(a, r, d->f[1]);
		int vec = (inj & 0x80000000u) && !(inj & 0x700) ? (int)(inj & 0xff) : -1;

		vcpu_promote(a, t, ts);
		kvm_event(a, t, d->kind, ts);
		on_nested_enter(a, t, fval(a, r, d->f[0]), fval(a, r, d->f[2]),
				d->f[2] != NULL, vec, ts);
		break;
	}
	case K_NESTED_INJECT:
		vcpu_promote(a, t, ts);
		kvm_event(a, t, d->kind, ts);
		on_nested_inject(a, t, d->f[1] ? (uint32_t)fval(a, r, d->f[1]) : 1,
				 (uint32_t)fval(a, r, d->f[0]), ts);
		break;
	case K_NESTED_VMEXIT:
	case K_NESTED_INTR:
		vcpu_promote(a, t, ts);
		/* fall through */
	default:
other:
		if (t->vcpu)
			kvm_event(a, t, d->kind, ts);
		break;
	}
}

/* Route one record. Records come in time order across CPUs. */
static void dispatch_one(struct analyzer *a, struct tep_record *r, struct ev_desc *d, int pid,
			 int cpu, uint64_t ts)
{
	struct cpu_state *c = &a->cpus[cpu];
	struct thread *t = NULL;
	char buf[4096];

	/*
	 * An hrtimer callback ends at hrtimer_expire_exit, or (a --light
	 * recording has no exit event) at the first record on its CPU without
	 * the hardirq flag, or at a sched_switch.
	 */
	if (c->hrtimer_pid >= 0 && c->hrt_flagged &&
	    !(tep_data_flags(a->tep, r) & TRACE_FLAG_HARDIRQ))
		hrtimer_close(c);
	if (pid >= 0)
		cpu_switch(a, cpu, pid, ts);
	if (pid > 0) {
		t = thread_get(a, pid, ts);
		seen_on_cpu(a, t, cpu, ts);
	}
	if (!d || d->kind == K_NONE)
		return;
	if (d->kind == K_WAKING || d->kind == K_WAKEUP || d->kind == K_WAKEUP_NEW)
		c->irqctx = tep_data_flags(a->tep, r) & (TRACE_FLAG_HARDIRQ | TRACE_FLAG_SOFTIRQ);
	switch (d->kind) {
	case K_SWITCH:
		on_switch(a, d, r, cpu, ts);
		break;
	case K_WAKING:
	case K_WAKEUP:
	case K_WAKEUP_NEW:
		on_wake(a, d, r, pid, cpu, ts);
		break;
	case K_NEWTASK:
		on_newtask(a, d, r, t);
		break;
	case K_EXEC: {
		/* exec leaves one thread, the leader: its pid is the tgid */
		int p = (int)fsval(a, r, d->f[0]);

		if (p > 0)
			thread_hint(a, p)->tgid = p;
		break;
	}
	case K_HRT_ENTRY:
		c->seg++;
		c->hrt_flagged = tep_data_flags(a->tep, r) & TRACE_FLAG_HARDIRQ;
		c->hrtimer_pid = pid;
		c->hrtimer_kind = hrtimer_kind(a, fval(a, r, d->f[0]));
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
		on_marker(a, fstr(r, d->f[0], buf, sizeof(buf)));
		break;
	default:
		if (t)
			on_kvm(a, d, r, t, pid, cpu, ts);
		break;
	}
}

/* The threads a sched event names besides its task (for --explain). */
static int named_pids(struct analyzer *a, struct tep_record *r, struct ev_desc *d, int *pids)
{
	if (!d)
		return 0;
	switch (d->kind) {
	case K_SWITCH:
		pids[0] = (int)fsval(a, r, d->f[1]);
		pids[1] = (int)fsval(a, r, d->f[4]);
		return 2;
	case K_WAKING:
	case K_WAKEUP:
	case K_WAKEUP_NEW:
		pids[0] = (int)fsval(a, r, d->f[1]);
		return 1;
	case K_NEWTASK:
		pids[0] = (int)fsval(a, r, d->f[0]);
		return 1;
	default:
		return 0;
	}
}

void dispatch(struct analyzer *a, struct tep_record *r, int cpu, uint64_t ts)
{
	int id = tep_data_type(a->tep, r);
	int pid = tep_data_pid(a->tep, r);
	struct ev_desc *d = (id >= 0 && id < a->ndesc) ? &a->desc[id] : NULL;
	int pids[2], n;
	bool involved;

	if (!a->ex) {
		dispatch_one(a, r, d, pid, cpu, ts);
		return;
	}
	n = named_pids(a, r, d, pids);
	involved = explain_involves(a, pid, pids, n);
	dispatch_one(a, r, d, pid, cpu, ts);
	explain_emit(a, r, involved);
}
