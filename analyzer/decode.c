/*
 * The evidence layer: which events the analysis follows, their fields
 * resolved once per event format (offset, size, sign); the decoding of a
 * record into a struct vw_ev with plain loads is inline in decode.h.
 */
#include <endian.h>
#include <stddef.h>
#include <stdio.h>
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
	{ "sched", "sched_process_exit", K_PEXIT, { "pid" } },
	{ "kvm", "kvm_entry", K_KVM_ENTRY, { "vcpu_id" } },
	{ "kvm", "kvm_exit", K_KVM_EXIT, { "exit_reason", "isa", "vcpu_id", "guest_rip" } },
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
	return (kind == K_KVM_EXIT && idx >= 1) ||	/* isa, vcpu_id, guest_rip */
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

static void field_set(struct ev_field *f, const struct tep_format_field *tf)
{
	f->present = true;
	f->off = (uint32_t)tf->offset;
	f->size = (uint32_t)tf->size;
	f->sign = (tf->flags & TEP_FIELD_IS_SIGNED) != 0;
	/* char[] and dynamic strings are read as text, not decoded as numbers */
	f->text = (tf->flags & (TEP_FIELD_IS_STRING | TEP_FIELD_IS_ARRAY |
				TEP_FIELD_IS_DYNAMIC)) != 0;
	if (!f->text && f->size != 1 && f->size != 2 && f->size != 4 && f->size != 8)
		f->present = false;
	f->how = LD_NONE;
	if (!f->present || f->text)
		return;
	switch (f->size) {
	case 1: f->how = f->sign ? LD_S8 : LD_U8; break;
	case 2: f->how = f->sign ? LD_S16 : LD_U16; break;
	case 4: f->how = f->sign ? LD_S32 : LD_U32; break;
	default: f->how = LD_U64; break;
	}
}

static void type_set(struct analyzer *a, struct tep_event *ev, size_t i)
{
	struct ev_type *ty = &a->types[ev->id];

	for (int f = 0; f < MAX_FIELDS && followed[i].fields[f]; f++) {
		struct tep_format_field *tf = find_field(ev, followed[i].fields[f]);

		if (tf)
			field_set(&ty->f[f], tf);
		if (!ty->f[f].present && !field_optional(followed[i].kind, f)) {
			vw_warn("event %s:%s has no field '%s' in this trace; it is ignored",
				ev->system, ev->name, followed[i].fields[f]);
			memset(ty, 0, sizeof(*ty));
			return;
		}
		ty->nf = (uint8_t)(f + 1);
		if (ty->f[f].how != LD_NONE)
			ty->min_size = MAX(ty->min_size, ty->f[f].off + ty->f[f].size);
	}
	ty->kind = followed[i].kind;
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

/* The common fields every record starts with. */
static void common_init(struct analyzer *a, struct tep_event *ev)
{
	struct tep_format_field *f;

	if (a->common_set)
		return;
	a->common_set = true;
	f = tep_find_common_field(ev, "common_type");
	if (f)
		field_set(&a->c_type, f);
	f = tep_find_common_field(ev, "common_flags");
	if (f)
		field_set(&a->c_flags, f);
	f = tep_find_common_field(ev, "common_pid");
	if (f)
		field_set(&a->c_pid, f);
}

static bool has_kind(const struct analyzer *a, int kind)
{
	for (int i = 0; i < a->ntypes; i++)
		if (a->types[i].kind == kind)
			return true;
	return false;
}

/* What the trace recorded: the followed events whose formats it holds, usable. */
static void recorded_init(struct analyzer *a)
{
	a->rec.entry_exit = has_kind(a, K_KVM_ENTRY) && has_kind(a, K_KVM_EXIT);
	a->rec.sched_switch = has_kind(a, K_SWITCH);
	a->rec.waking = has_kind(a, K_WAKING) || has_kind(a, K_WAKEUP);
	a->rec.vcpu_wakeup = has_kind(a, K_VCPU_WAKEUP);
	a->rec.user_exit = has_kind(a, K_USER_EXIT);
	a->rec.accept = has_kind(a, K_ACCEPT);
}

/* The events that make the analysis better, with whether the trace has them. */
static const struct {
	const char *name;
	size_t off;	/* in struct recorded, or -1: look the format up */
} wanted_events[] = {
	{ "kvm_entry", offsetof(struct recorded, entry_exit) },
	{ "kvm_exit", offsetof(struct recorded, entry_exit) },
	{ "kvm_vcpu_wakeup", offsetof(struct recorded, vcpu_wakeup) },
	{ "kvm_userspace_exit", offsetof(struct recorded, user_exit) },
	{ "kvm_apic_accept_irq", offsetof(struct recorded, accept) },
	{ "sched_switch", offsetof(struct recorded, sched_switch) },
	{ "sched_waking", (size_t)-1 },
	{ "sched_wakeup", (size_t)-1 },
	{ "kvm_inj_virq", (size_t)-1 },
	{ "kvm_msi_set_irq", (size_t)-1 },
	{ "kvm_apic_ipi", (size_t)-1 },
	{ "hrtimer_expire_entry", (size_t)-1 },
	{ "sched_process_exit", (size_t)-1 },
	{ "task_newtask", (size_t)-1 },
	{ "kvm_nested_vmenter", (size_t)-1 },
};

static bool format_has(const struct tin_meta *m, const char *name)
{
	for (int i = 0; i < m->nformats; i++)
		if (!strcmp(m->formats[i].name, name))
			return true;
	return false;
}

/* The tier and the recorded/missing lists of README "Evidence". */
void evidence_of(struct analyzer *a, const struct tin_meta *m, struct vw_evidence *ev)
{
	const struct recorded *r = &a->rec;
	const char *tier;

	for (size_t i = 0; i < ARRAY_SIZE(wanted_events); i++) {
		bool have = wanted_events[i].off != (size_t)-1 ?
			    *(const bool *)((const char *)r + wanted_events[i].off) :
			    format_has(m, wanted_events[i].name);

		res_evidence_add(ev, have, wanted_events[i].name);
	}
	if (r->entry_exit && !r->sched_switch)
		tier = "exits";
	else if (r->entry_exit && !r->vcpu_wakeup)
		tier = "sched";
	else if (r->entry_exit)
		tier = r->waking ? "full" : "sched";
	else if (r->vcpu_wakeup && r->sched_switch)
		tier = "light";
	else
		tier = "none";
	snprintf(ev->tier, sizeof(ev->tier), "%s", tier);
}

int dispatch_init(struct analyzer *a)
{
	int n = tep_get_events_count(a->tep);
	int maxid = 0;

	a->swap = tep_is_file_bigendian(a->tep) != tep_is_local_bigendian(a->tep);
	for (int i = 0; i < n; i++) {
		struct tep_event *ev = tep_get_event(a->tep, i);

		if (ev && ev->id > maxid)
			maxid = ev->id;
	}
	a->ntypes = maxid + 1;
	a->types = xcalloc(a->ntypes, sizeof(*a->types));
	for (int i = 0; i < n; i++) {
		struct tep_event *ev = tep_get_event(a->tep, i);

		if (!ev || !ev->system || !ev->name || ev->id < 0 || ev->id >= a->ntypes)
			continue;
		common_init(a, ev);
		a->common_fast = !a->swap && a->c_type.off == 0 && a->c_type.size == 2 &&
				 a->c_flags.off == 2 && a->c_flags.size == 1 &&
				 a->c_pid.off == 4 && a->c_pid.size == 4;
		for (size_t k = 0; k < ARRAY_SIZE(followed); k++) {
			if (strcmp(ev->system, followed[k].system) ||
			    strcmp(ev->name, followed[k].name))
				continue;
			type_set(a, ev, k);
			if (followed[k].kind == K_KVM_EXIT)
				exit_names_init(a, ev);
			break;
		}
		if (!strcmp(ev->system, "kvm") && a->types[ev->id].kind == K_NONE)
			a->types[ev->id].kind = K_KVM_OTHER;
	}
	recorded_init(a);
	return 0;
}

/* A fixed char[] or string field @i of @e, always NUL-terminated into @buf. */
const char *ev_str(const struct vw_ev *e, int i, char *buf, size_t len)
{
	const struct ev_field *f = &e->ty->f[i];
	size_t n;

	if (!f->present || f->off >= e->size) {
		buf[0] = '\0';
		return buf;
	}
	n = MIN(f->size ? (size_t)f->size : (size_t)(e->size - f->off),
		(size_t)(e->size - f->off));
	n = MIN(n, len - 1);
	memcpy(buf, e->data + f->off, n);
	buf[n] = '\0';
	return buf;
}
