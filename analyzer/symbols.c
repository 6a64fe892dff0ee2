/* --guest-kallsyms: the guest's /proc/kallsyms, to name the addresses where it exits. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "util.h"

struct sym {
	uint64_t addr;
	char *name;
};

static struct sym *syms;
static size_t nsyms;

static int cmp_sym(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* "name+0xoff" of the symbol at or below @rip, within 1 MB of it. */
static bool lookup(uint64_t rip, char *buf, size_t len)
{
	size_t lo = 0, hi = nsyms;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (syms[mid].addr <= rip)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo || rip - syms[lo - 1].addr >= (1u << 20))
		return false;
	snprintf(buf, len, "%s+0x%llx", syms[lo - 1].name,
		 (unsigned long long)(rip - syms[lo - 1].addr));
	return true;
}

/* One line: "<hex address> <type> <name>[\t[module]]"; text symbols only. */
static void parse_line(char *line)
{
	char *end, *type, *name;
	uint64_t addr = strtoull(line, &end, 16);

	if (end == line || *end != ' ')
		return;
	type = end + 1;
	if (!strchr("TtWw", *type) || type[1] != ' ')
		return;
	name = type + 2;
	name[strcspn(name, " \t\n")] = '\0';
	if (!addr || !*name)
		return;
	syms = xrealloc(syms, (nsyms + 1) * sizeof(*syms));
	syms[nsyms].addr = addr;
	syms[nsyms].name = xstrdup(name);
	nsyms++;
}

int guest_kallsyms_load(const char *path)
{
	struct sbuf sb = { 0 };
	char *p, *nl;

	if (read_file(path, &sb) < 0) {
		vw_err("cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	sbuf_addc(&sb, '\0');
	for (p = sb.buf; p && *p; p = nl ? nl + 1 : NULL) {
		nl = strchr(p, '\n');
		if (nl)
			*nl = '\0';
		parse_line(p);
	}
	sbuf_free(&sb);
	if (!nsyms) {
		vw_err("%s holds no text symbols (expected a guest's /proc/kallsyms, read as root)",
		       path);
		return -1;
	}
	qsort(syms, nsyms, sizeof(*syms), cmp_sym);
	res_symbolize = lookup;
	return 0;
}

void guest_kallsyms_free(void)
{
	for (size_t i = 0; i < nsyms; i++)
		free(syms[i].name);
	free(syms);
	syms = NULL;
	nsyms = 0;
	res_symbolize = NULL;
}
