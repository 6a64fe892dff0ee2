/*
 * The truth's view of a written record: its kind and the fields the README's
 * rules read, decoded from the record's bytes by the format's layout (so the
 * truth sees exactly what the analyzer can).
 */
#include <stdlib.h>
#include <string.h>

#include "synth.h"
#include "util.h"

static const struct { const char *name; enum sev_kind kind; } kinds[] = {
	{ "kvm_entry", SK_ENTRY }, { "kvm_exit", SK_EXIT },
	{ "kvm_userspace_exit", SK_USEREXIT }, { "kvm_vcpu_wakeup", SK_VCPU_WAKEUP },
	{ "kvm_halt_poll_ns", SK_HALT_POLL }, { "kvm_inj_virq", SK_INJ_VIRQ },
	{ "kvm_apic_accept_irq", SK_ACCEPT }, { "kvm_apic_ipi", SK_APIC_IPI },
	{ "kvm_msi_set_irq", SK_MSI }, { "kvm_set_irq", SK_SET_IRQ },
	{ "kvm_ioapic_set_irq", SK_IOAPIC }, { "kvm_pic_set_irq", SK_PIC },
	{ "kvm_nested_vmenter", SK_NESTED_ENTER }, { "kvm_nested_vmrun", SK_NESTED_ENTER },
	{ "kvm_nested_vmexit", SK_NESTED_EXIT },
	{ "kvm_nested_vmexit_inject", SK_NESTED_INJECT },
	{ "sched_switch", SK_SWITCH }, { "sched_waking", SK_WAKING },
	{ "sched_wakeup", SK_WAKEUP }, { "sched_wakeup_new", SK_WAKEUP_NEW },
	{ "task_newtask", SK_NEWTASK }, { "sched_process_exit", SK_PEXIT },
	{ "hrtimer_expire_entry", SK_HRT_ENTRY }, { "hrtimer_expire_exit", SK_HRT_EXIT },
	{ "block_rq_issue", SK_BLOCK_ISSUE }, { "print", SK_PRINT },
};

static enum sev_kind kind_of(const struct sevent *ev)
{
	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
		if (!strcmp(ev->name, kinds[i].name))
			return kinds[i].kind;
	if (!strcmp(ev->system, "kvm"))
		return !strncmp(ev->name, "kvm_nested_", 11) ? SK_NESTED_OTHER : SK_KVM_OTHER;
	return SK_OTHER;
}

#define GET(f, d) srec_get(r, f, d)

static void decode_kvm(const struct srec *r, struct sinfo *si)
{
	switch (si->kind) {
	case SK_ENTRY:
		si->vcpu_id = (int)GET("vcpu_id", -1);
		break;
	case SK_EXIT:
	case SK_NESTED_EXIT:
	case SK_NESTED_INJECT:
		si->vcpu_id = (int)GET("vcpu_id", -1);
		si->code = (uint32_t)GET("exit_reason", GET("exit_code", 0));
		si->isa = (uint32_t)GET("isa", 1);
		si->rip = (uint64_t)GET("guest_rip", GET("rip", 0));
		break;
	case SK_HALT_POLL:
		si->vcpu_id = (int)GET("vcpu_id", -1);
		break;
	case SK_INJ_VIRQ:
		si->vec = (int)(GET("vector", GET("irq", -1)) & 0xff);
		break;
	case SK_ACCEPT:
		si->apicid = (int)GET("apicid", -1);
		si->vec = (int)(GET("vec", -1) & 0xff);
		break;
	case SK_APIC_IPI:
		si->apicid = (int)GET("dest_id", -1);
		si->vec = (int)(GET("icr_low", 0) & 0xff);
		break;
	case SK_MSI:
		si->vec = (int)(GET("data", 0) & 0xff);
		break;
	case SK_SET_IRQ:
		si->gsi = (int)GET("gsi", -1);
		break;
	case SK_IOAPIC:
		si->gsi = (int)GET("pin", -1);
		si->vec = (int)(GET("e", 0) & 0xff);
		break;
	case SK_PIC:
		si->gsi = (int)(GET("chip", 0) * 8 + GET("pin", 0));
		break;
	case SK_NESTED_ENTER:
		si->vmcs = (uint64_t)GET("vmcb", 0);
		si->pgd = sev_field(r->ev, "guest_pgd") ? (uint64_t)GET("guest_pgd", 0) : UINT64_MAX;
		si->event_inj = (uint32_t)GET("event_inj", 0);
		break;
	default:
		break;
	}
}

void sinfo_decode(const struct srec *r, struct sinfo *si)
{
	struct swake w = si->wake;

	memset(si, 0, sizeof(*si));
	si->wake = w;
	si->kind = kind_of(r->ev);
	si->pid = (int)GET("common_pid", -1);
	si->flags = r->buf[2];
	si->vcpu_id = si->apicid = si->vec = si->gsi = -1;
	si->wpid = si->target_cpu = si->prev_pid = si->next_pid = -1;
	switch (si->kind) {
	case SK_SWITCH:
		si->prev_pid = (int)GET("prev_pid", -1);
		si->next_pid = (int)GET("next_pid", -1);
		si->prev_state = (long)GET("prev_state", 0);
		srec_get_str(r, "prev_comm", si->prev_comm, sizeof(si->prev_comm));
		srec_get_str(r, "next_comm", si->next_comm, sizeof(si->next_comm));
		break;
	case SK_WAKING:
	case SK_WAKEUP:
	case SK_WAKEUP_NEW:
		si->wpid = (int)GET("pid", -1);
		si->target_cpu = (int)GET("target_cpu", -1);
		srec_get_str(r, "comm", si->comm, sizeof(si->comm));
		break;
	case SK_NEWTASK:
		si->wpid = (int)GET("pid", -1);
		si->clone_flags = (uint64_t)GET("clone_flags", 0);
		srec_get_str(r, "comm", si->comm, sizeof(si->comm));
		break;
	case SK_PEXIT:
		si->wpid = (int)GET("pid", -1);
		srec_get_str(r, "comm", si->comm, sizeof(si->comm));
		break;
	case SK_HRT_ENTRY:
		si->function = (uint64_t)GET("function", 0);
		break;
	case SK_PRINT:
		srec_get_str(r, "buf", si->text, sizeof(si->text));
		break;
	default:
		decode_kvm(r, si);
		break;
	}
}
