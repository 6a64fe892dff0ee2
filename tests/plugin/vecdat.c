/* Writes a small trace.dat of KVM interrupt events in current or old kernel formats (tests/t_plugin.sh). */
/*
 * usage: vecdat new|old OUT.dat
 *
 * "new" uses the formats of Linux 6.18 (kvm_inj_virq prints "IRQ 0x%x" /
 * "Soft/INTn 0x%x" and " [reinjected]"); "old" those of earlier kernels
 * (kvm_inj_virq "irq %u" on a field named irq, kvm_apic_accept_irq with its
 * " (coalesced)" suffix, kvm_msi_set_irq printing "vec %x" in hex). Every
 * record is fixed here, timestamps included, so "trace-cmd report" prints
 * the same text on every machine. One CPU, one page, uncompressed v6.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tdat.h"
#include "../unit/ftrace_text.h"

#define PAGE_SIZE	4096
#define PAGE_HDR	16		/* u64 timestamp, local_t commit */
#define BASE_TS		1000000000000ULL	/* 1000 s */
#define STEP_NS		1000

#define DM_SYMS "{0x0, \"Fixed\"}, {0x1, \"LowPrio\"}, {0x2, \"SMI\"}, {0x3, \"Res3\"}, " \
		"{0x4, \"NMI\"}, {0x5, \"INIT\"}, {0x6, \"SIPI\"}, {0x7, \"ExtINT\"}"

struct fdef {
	const char *decl;		/* "__u8 vec" */
	int offset, size, is_signed;
};

struct edef {
	const char *name;
	int id;
	int size;			/* payload, common fields included */
	struct fdef f[6];		/* own fields, in order */
	const char *print_fmt;
};

struct rdef {
	const char *event;
	int pid;
	uint64_t v[6];			/* values of the event's own fields */
};

/* ---- Linux 6.18 ---- */
static const struct edef new_events[] = {
	{ "kvm_apic_accept_irq", 95, 17,
	  { { "__u32 apicid", 8, 4, 0 }, { "__u16 dm", 12, 2, 0 }, { "__u16 tm", 14, 2, 0 },
	    { "__u8 vec", 16, 1, 0 } },
	  "\"apicid %x vec %u (%s|%s)\", REC->apicid, REC->vec, __print_symbolic((REC->dm >> 8 & 0x7), "
	  DM_SYMS "), REC->tm ? \"level\" : \"edge\"" },
	{ "kvm_apic_ipi", 96, 16,
	  { { "__u32 icr_low", 8, 4, 0 }, { "__u32 dest_id", 12, 4, 0 } },
	  "\"dst %x vec %u (%s|%s|%s|%s|%s)\", REC->dest_id, (u8)REC->icr_low, "
	  "__print_symbolic((REC->icr_low >> 8 & 0x7), " DM_SYMS "), "
	  "(REC->icr_low & (1<<11)) ? \"logical\" : \"physical\", "
	  "(REC->icr_low & (1<<14)) ? \"assert\" : \"de-assert\", "
	  "(REC->icr_low & (1<<15)) ? \"level\" : \"edge\", "
	  "__print_symbolic((REC->icr_low >> 18 & 0x3), {0x0, \"dst\"}, {0x1, \"self\"}, "
	  "{0x2, \"all\"}, {0x3, \"all-but-self\"})" },
	{ "kvm_inj_virq", 102, 14,
	  { { "unsigned int vector", 8, 4, 0 }, { "bool soft", 12, 1, 0 },
	    { "bool reinjected", 13, 1, 0 } },
	  "\"%s 0x%x%s\", REC->soft ? \"Soft/INTn\" : \"IRQ\", REC->vector, "
	  "REC->reinjected ? \" [reinjected]\" : \"\"" },
	{ "kvm_msi_set_irq", 105, 24,
	  { { "__u64 address", 8, 8, 0 }, { "__u64 data", 16, 8, 0 } },
	  "\"dst %llx vec %u (%s|%s|%s%s)\", (u8)(REC->address >> 12) | "
	  "((REC->address >> 32) & 0xffffff00), (u8)REC->data, "
	  "__print_symbolic((REC->data >> 8 & 0x7), " DM_SYMS "), "
	  "(REC->address & (1<<2)) ? \"logical\" : \"physical\", "
	  "(REC->data & (1<<15)) ? \"level\" : \"edge\", (REC->address & (1<<3)) ? \"|rh\" : \"\"" },
	{ "kvm_ioapic_set_irq", 106, 21,
	  { { "__u64 e", 8, 8, 0 }, { "int pin", 16, 4, 1 }, { "bool coalesced", 20, 1, 0 } },
	  "\"pin %u dst %x vec %u (%s|%s|%s%s)%s\", REC->pin, (u8)(REC->e >> 56), (u8)REC->e, "
	  "__print_symbolic((REC->e >> 8 & 0x7), " DM_SYMS "), "
	  "(REC->e & (1<<11)) ? \"logical\" : \"physical\", "
	  "(REC->e & (1<<15)) ? \"level\" : \"edge\", (REC->e & (1<<16)) ? \"|masked\" : \"\", "
	  "REC->coalesced ? \" (coalesced)\" : \"\"" },
	{ NULL, 0, 0, { { NULL, 0, 0, 0 } }, NULL },
};

static const struct rdef new_records[] = {
	{ "kvm_apic_accept_irq", 4242, { 0, 0, 0, 0xec } },
	{ "kvm_inj_virq", 4243, { 0xec, 0, 0 } },
	{ "kvm_apic_accept_irq", 4242, { 1, 0, 0, 0x31 } },	/* a device vector */
	{ "kvm_inj_virq", 4244, { 0x31, 0, 0 } },
	{ "kvm_apic_ipi", 4243, { 0xfd, 1 } },
	{ "kvm_apic_accept_irq", 4243, { 1, 0, 0, 0xfd } },
	{ "kvm_inj_virq", 4244, { 0xfd, 0, 1 } },		/* reinjected */
	{ "kvm_apic_ipi", 4243, { 0x4500, 1 } },		/* INIT: vector 0 */
	{ "kvm_apic_ipi", 4243, { 0xc00fb, 0 } },		/* all-but-self */
	{ "kvm_msi_set_irq", 4250, { 0xfee01000, 0xfc } },
	{ "kvm_msi_set_irq", 4250, { 0xfee00000, 0x8041 } },	/* a device vector, level */
	{ "kvm_msi_set_irq", 4250, { 0xfee00004, 0xef } },	/* logical */
	{ "kvm_apic_accept_irq", 4242, { 0, 0x400, 0, 2 } },	/* NMI */
	{ "kvm_inj_virq", 4243, { 0x80, 1, 0 } },		/* int $0x80 */
	{ "kvm_inj_virq", 4243, { 0x2, 0, 0 } },
	{ "kvm_ioapic_set_irq", 4250, { 0xec, 4, 0 } },		/* not ours: untouched */
	{ NULL, 0, { 0 } },
};

/* ---- older kernels ---- */
static const struct edef old_events[] = {
	{ "kvm_apic_accept_irq", 80, 17,
	  { { "__u32 apicid", 8, 4, 0 }, { "__u16 dm", 12, 2, 0 }, { "__u8 tm", 14, 1, 0 },
	    { "__u8 vec", 15, 1, 0 }, { "bool coalesced", 16, 1, 0 } },
	  "\"apicid %x vec %u (%s|%s)%s\", REC->apicid, REC->vec, __print_symbolic((REC->dm >> 8 & 0x7), "
	  DM_SYMS "), REC->tm ? \"level\" : \"edge\", REC->coalesced ? \" (coalesced)\" : \"\"" },
	{ "kvm_apic_ipi", 81, 16,
	  { { "__u32 icr_low", 8, 4, 0 }, { "__u32 dest_id", 12, 4, 0 } },
	  "\"dst %x vec %u (%s|%s|%s|%s|%s)\", REC->dest_id, (u8)REC->icr_low, "
	  "__print_symbolic((REC->icr_low >> 8 & 0x7), " DM_SYMS "), "
	  "(REC->icr_low & (1<<11)) ? \"logical\" : \"physical\", "
	  "(REC->icr_low & (1<<14)) ? \"assert\" : \"de-assert\", "
	  "(REC->icr_low & (1<<15)) ? \"level\" : \"edge\", "
	  "__print_symbolic((REC->icr_low >> 18 & 0x3), {0x0, \"dst\"}, {0x1, \"self\"}, "
	  "{0x2, \"all\"}, {0x3, \"all-but-self\"})" },
	{ "kvm_inj_virq", 87, 12,
	  { { "unsigned int irq", 8, 4, 0 } },
	  "\"irq %u\", REC->irq" },
	{ "kvm_msi_set_irq", 90, 24,
	  { { "__u64 address", 8, 8, 0 }, { "__u64 data", 16, 8, 0 } },
	  "\"dst %u vec %x (%s|%s|%s%s)\", (u8)(REC->address >> 12), (u8)REC->data, "
	  "__print_symbolic((REC->data >> 8 & 0x7), " DM_SYMS "), "
	  "(REC->address & (1<<2)) ? \"logical\" : \"physical\", "
	  "(REC->data & (1<<15)) ? \"level\" : \"edge\", (REC->address & (1<<3)) ? \"|rh\" : \"\"" },
	{ NULL, 0, 0, { { NULL, 0, 0, 0 } }, NULL },
};

static const struct rdef old_records[] = {
	{ "kvm_apic_accept_irq", 4242, { 0, 0, 0, 0xef, 0 } },	/* LOCAL_TIMER before 4.15 */
	{ "kvm_apic_accept_irq", 4242, { 0, 0, 0, 0xef, 1 } },	/* coalesced */
	{ "kvm_inj_virq", 4243, { 0xef } },
	{ "kvm_apic_accept_irq", 4242, { 1, 0, 1, 0x23, 0 } },	/* a device vector, level */
	{ "kvm_inj_virq", 4244, { 0x23 } },
	{ "kvm_apic_ipi", 4243, { 0xfd, 1 } },
	{ "kvm_inj_virq", 4244, { 0xfd } },
	{ "kvm_msi_set_irq", 4250, { 0xfee01000, 0xfb } },	/* hex: "vec fb" */
	{ "kvm_msi_set_irq", 4250, { 0xfee00000, 0x80 } },	/* hex, all digits: "vec 80" */
	{ "kvm_msi_set_irq", 4250, { 0xfee00000, 0x31 } },	/* a device vector: "vec 31" */
	{ NULL, 0, { 0 } },
};

static const char header_page[] = FT_HEADER_PAGE;
static const char header_event[] = FT_HEADER_EVENT;

static const char cmdlines[] =
	"4242 qemu-system-x86\n4243 CPU 0/KVM\n4244 CPU 1/KVM\n4250 vhost-4242\n";

/* The event's format file, as tracefs shows it. */
static char *format_text(const struct edef *e)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int i;

	if (!f)
		return NULL;
	fprintf(f, "name: %s\nID: %d\nformat:\n" FT_COMMON_FIELDS, e->name, e->id);
	for (i = 0; i < 6 && e->f[i].decl; i++)
		fprintf(f, "\tfield:%s;\toffset:%d;\tsize:%d;\tsigned:%d;\n", e->f[i].decl,
			e->f[i].offset, e->f[i].size, e->f[i].is_signed);
	fprintf(f, "\nprint fmt: %s\n", e->print_fmt);
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}

static const struct edef *find_event(const struct edef *evs, const char *name)
{
	for (; evs->name; evs++)
		if (!strcmp(evs->name, name))
			return evs;
	return NULL;
}

static void put_le(uint8_t *p, uint64_t v, int size)
{
	int i;

	for (i = 0; i < size; i++)
		p[i] = v >> (8 * i);
}

/* Encode @recs into one ring-buffer page; returns -1 if they do not fit. */
static int build_page(uint8_t *page, const struct edef *evs, const struct rdef *recs)
{
	size_t pos = PAGE_HDR;
	int i;

	memset(page, 0, PAGE_SIZE);
	put_le(page, BASE_TS, 8);
	for (; recs->event; recs++) {
		const struct edef *e = find_event(evs, recs->event);
		int len;
		uint8_t *p;

		if (!e)
			return -1;
		len = (e->size + 3) & ~3;
		if (pos + 4 + len > PAGE_SIZE || len / 4 > 28)
			return -1;
		/* type_len = len / 4 (data follows), time_delta from the previous event */
		put_le(page + pos, (uint32_t)(len / 4) | ((uint32_t)STEP_NS << 5), 4);
		p = page + pos + 4;
		put_le(p, e->id, 2);
		put_le(p + 4, recs->pid, 4);
		for (i = 0; i < 6 && e->f[i].decl; i++)
			put_le(p + e->f[i].offset, recs->v[i], e->f[i].size);
		pos += 4 + len;
	}
	put_le(page + 8, pos - PAGE_HDR, 8);
	return 0;
}

int main(int argc, char **argv)
{
	struct tdat_opts opts = { .version = 6, .compress = TDAT_COMP_NONE,
				  .page_size = PAGE_SIZE, .ncpus = 1 };
	const struct edef *evs, *e;
	const struct rdef *recs;
	struct tdat_writer *w;
	static uint8_t page[PAGE_SIZE];
	int err = 0;

	if (argc != 3 || (strcmp(argv[1], "new") && strcmp(argv[1], "old"))) {
		fprintf(stderr, "usage: vecdat new|old OUT.dat\n");
		return 2;
	}
	evs = strcmp(argv[1], "new") ? old_events : new_events;
	recs = strcmp(argv[1], "new") ? old_records : new_records;
	if (build_page(page, evs, recs)) {
		fprintf(stderr, "vecdat: bad record table\n");
		return 1;
	}
	w = tdat_create(argv[2], &opts);
	if (!w) {
		fprintf(stderr, "vecdat: %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	err |= tdat_set_headers(w, header_page, strlen(header_page),
				header_event, strlen(header_event));
	for (e = evs; e->name && !err; e++) {
		char *fmt = format_text(e);

		err |= !fmt || tdat_add_event_format(w, "kvm", fmt, strlen(fmt));
		free(fmt);
	}
	err |= tdat_set_cmdlines(w, cmdlines, strlen(cmdlines));
	err |= tdat_set_printk(w, "", 0);
	err |= tdat_set_kallsyms(w, "", 0);
	err |= tdat_set_uname(w, "Linux vecdat 6.18.0 #1 SMP x86_64");
	err |= tdat_set_clock(w, "local");
	err |= tdat_write_page(w, 0, page);
	if (err) {
		fprintf(stderr, "vecdat: writing %s: %s\n", argv[2], strerror(errno));
		tdat_abort(w);
		return 1;
	}
	if (tdat_close(w)) {
		fprintf(stderr, "vecdat: %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	return 0;
}
