/* The event set shared by the recorder and the analyzer, and `vmwait events`. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tracefs.h>

#include "cmds.h"
#include "events.h"
#include "util.h"

#define H VW_EV_HEAVY

const struct vw_event vw_event_table[] = {
	/* vCPU run loop; entry/exit and the per-exit details are the heavy part. */
	{ "kvm", "kvm_entry", H },
	{ "kvm", "kvm_exit", H },
	{ "kvm", "kvm_userspace_exit", 0 },
	{ "kvm", "kvm_pio", H },
	{ "kvm", "kvm_mmio", H },
	{ "kvm", "kvm_fast_mmio", H },
	/* halts */
	{ "kvm", "kvm_vcpu_wakeup", 0 },
	{ "kvm", "kvm_halt_poll_ns", 0 },
	/* interrupt routing and injection: the wake reasons */
	{ "kvm", "kvm_set_irq", 0 },
	{ "kvm", "kvm_msi_set_irq", 0 },
	{ "kvm", "kvm_ioapic_set_irq", 0 },
	{ "kvm", "kvm_pic_set_irq", 0 },
	{ "kvm", "kvm_apic_accept_irq", 0 },
	{ "kvm", "kvm_apicv_accept_irq", 0 },
	{ "kvm", "kvm_apic_ipi", 0 },
	{ "kvm", "kvm_inj_virq", 0 },
	/* nested virtualization (kvm_nested_vmrun is the pre-5.x name) */
	{ "kvm", "kvm_nested_vmenter", 0 },
	{ "kvm", "kvm_nested_vmrun", VW_EV_OPTIONAL },
	{ "kvm", "kvm_nested_vmexit", H },
	{ "kvm", "kvm_nested_vmexit_inject", 0 },
	{ "kvm", "kvm_nested_intr_vmexit", 0 },
	/* scheduler */
	{ "sched", "sched_switch", 0 },
	{ "sched", "sched_waking", 0 },
	{ "sched", "sched_wakeup", 0 },
	{ "sched", "sched_wakeup_new", 0 },
	{ "sched", "sched_process_exec", 0 },
	{ "sched", "sched_process_exit", 0 },
	{ "sched", "sched_process_fork", 0 },
	{ "task", "task_newtask", 0 },
	/* host context of wakes */
	{ "timer", "hrtimer_expire_entry", 0 },
	{ "timer", "hrtimer_expire_exit", H },
	{ "irq", "irq_handler_entry", 0 },
	{ "irq", "irq_handler_exit", 0 },
	{ "block", "block_rq_issue", 0 },
	{ "block", "block_rq_complete", 0 },
	{ "net", "netif_receive_skb", H },
	{ "net", "net_dev_xmit", H },
	/* trace_marker writes: vmwait's metadata markers */
	{ "ftrace", "print", VW_EV_IMPLICIT },
};

#undef H

const size_t vw_event_table_len = ARRAY_SIZE(vw_event_table);

const struct vw_event *vw_event_find(const char *system, const char *name)
{
	for (size_t i = 0; i < vw_event_table_len; i++) {
		const struct vw_event *ev = &vw_event_table[i];

		if (!strcmp(ev->system, system) && !strcmp(ev->name, name))
			return ev;
	}
	return NULL;
}

bool vw_event_exists(const char *tracing_dir, const char *system, const char *name)
{
	struct sbuf path = { 0 };
	struct stat st;
	bool ok;

	sbuf_addf(&path, "%s/events/%s/%s/format", tracing_dir, system, name);
	ok = stat(path.buf, &st) == 0;
	sbuf_free(&path);
	return ok;
}

static void evset_add(struct vw_evset *set, const struct vw_event *ev)
{
	set->ev = xrealloc(set->ev, (set->n + 1) * sizeof(*set->ev));
	set->ev[set->n++] = ev;
}

void vw_events_resolve(const char *tracing_dir, bool light,
		       struct vw_evset *present, struct vw_evset *missing)
{
	memset(present, 0, sizeof(*present));
	if (missing)
		memset(missing, 0, sizeof(*missing));
	for (size_t i = 0; i < vw_event_table_len; i++) {
		const struct vw_event *ev = &vw_event_table[i];

		if (light && (ev->flags & VW_EV_HEAVY))
			continue;
		if (vw_event_exists(tracing_dir, ev->system, ev->name))
			evset_add(present, ev);
		else if (missing && !(ev->flags & VW_EV_OPTIONAL))
			evset_add(missing, ev);
	}
}

void vw_evset_free(struct vw_evset *set)
{
	free(set->ev);
	set->ev = NULL;
	set->n = 0;
}

bool vw_evset_has_kvm(const struct vw_evset *set)
{
	for (size_t i = 0; i < set->n; i++)
		if (!strcmp(set->ev[i]->system, "kvm"))
			return true;
	return false;
}

void vw_evset_warn_missing(const struct vw_evset *missing)
{
	struct sbuf sb = { 0 };

	if (!missing->n)
		return;
	for (size_t i = 0; i < missing->n; i++)
		sbuf_addf(&sb, " %s:%s", missing->ev[i]->system, missing->ev[i]->name);
	vw_warn("this kernel lacks %zu event%s, skipped:%s", missing->n,
		missing->n == 1 ? "" : "s", sb.buf);
	sbuf_free(&sb);
}

static void events_usage(FILE *f)
{
	fprintf(f,
		"usage: vmwait events [--light] [--trace-cmd]\n\n"
		"Print the events vmwait records and analyzes that exist in this kernel,\n"
		"one system:event per line (ftrace:print, the markers, is always recorded\n"
		"and not listed).\n\n"
		"  -l, --light      without the high-rate events (kvm_entry, kvm_exit, ...)\n"
		"  -t, --trace-cmd  as '-e system:event' arguments on one line, for\n"
		"                   trace-cmd record $(vmwait events --trace-cmd) ...\n"
		"  -h, --help       this help\n");
}

/* Print @set, one per line or as trace-cmd arguments. */
static void events_print(const struct vw_evset *set, bool trace_cmd)
{
	const char *sep = "";

	for (size_t i = 0; i < set->n; i++) {
		const struct vw_event *ev = set->ev[i];

		if (ev->flags & VW_EV_IMPLICIT)
			continue;
		if (trace_cmd) {
			printf("%s-e %s:%s", sep, ev->system, ev->name);
			sep = " ";
		} else {
			printf("%s:%s\n", ev->system, ev->name);
		}
	}
	if (trace_cmd)
		putchar('\n');
}

int cmd_events(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "light", no_argument, NULL, 'l' },
		{ "trace-cmd", no_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct vw_evset present, missing;
	bool light = false, trace_cmd = false;
	const char *dir;
	int c, rc = 0;

	vw_set_cmd("events");
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:lth", longopts, NULL)) != -1) {
		switch (c) {
		case 'l': light = true; break;
		case 't': trace_cmd = true; break;
		case 'h': events_usage(stdout); return 0;
		default: return vw_opt_error("events", c, argv, longopts);
		}
	}
	if (optind != argc) {
		vw_err("unexpected argument '%s' (see 'vmwait events --help')", argv[optind]);
		return EXIT_USAGE;
	}
	dir = tracefs_tracing_dir();	/* mounts tracefs if needed and allowed */
	if (!dir) {
		vw_err("tracefs is not mounted%s", geteuid() ? " (run as root)" : "");
		return EXIT_RUNTIME;
	}
	vw_events_resolve(dir, light, &present, &missing);
	if (!vw_evset_has_kvm(&present)) {
		vw_err("this kernel has no kvm trace events in %s (is the kvm module loaded?%s)",
		       dir, geteuid() ? " are you root?" : "");
		rc = EXIT_RUNTIME;
		goto out;
	}
	vw_evset_warn_missing(&missing);
	events_print(&present, trace_cmd);
	if (fflush(stdout) || ferror(stdout))
		rc = EXIT_RUNTIME;
out:
	vw_evset_free(&present);
	vw_evset_free(&missing);
	return rc;
}
