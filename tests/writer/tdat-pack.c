/* Packs raw tracefs pages and an instance's formats into a trace.dat with the writer. */
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tdat.h"
#include "util.h"

#define MAX_PACK_CPUS	256

struct pack {
	const char *out;
	const char *inst;		/* the instance's directory */
	const char *top;		/* the tracefs mount (saved_cmdlines, printk_formats) */
	const char *kallsyms;
	const char *guest;		/* NAME:TRACEID:PID,PID,... */
	const char *systems[64];
	int nsystems;
	struct tdat_opts opts;
	FILE *cpu[MAX_PACK_CPUS];
};

static int usage(void)
{
	fprintf(stderr,
		"usage: tdat-pack -o OUT -V 6|7 -c none|zstd|zlib -i INSTANCE_DIR -t TRACEFS\n"
		"                 [-e SYSTEM[/EVENT]]... [-k KALLSYMS] [-g NAME:ID:PID,...]\n"
		"                 CPU0_PAGES [CPU1_PAGES...]\n");
	return 2;
}

static int die(const char *what)
{
	fprintf(stderr, "tdat-pack: %s: %s\n", what, strerror(errno));
	return 1;
}

/* The ring buffer's page size, from header_page's "data" field: offset + size. */
static unsigned int page_size_of(const char *header_page)
{
	const char *p = strstr(header_page, "char data;");
	unsigned int off, size;

	if (!p || sscanf(p, "char data;\toffset:%u;\tsize:%u;", &off, &size) != 2)
		return 0;
	return off + size;
}

static int add_formats(struct tdat_writer *w, const struct pack *pk, const char *pattern,
		       const char *system)
{
	char path[4096];
	struct sbuf sb = { 0 };
	glob_t g;
	int ret = 0;

	snprintf(path, sizeof(path), "%s/events/%s/format", pk->inst, pattern);
	if (glob(path, 0, NULL, &g))
		return -1;
	for (size_t i = 0; i < g.gl_pathc && !ret; i++) {
		sb.len = 0;
		if (read_file(g.gl_pathv[i], &sb))
			ret = -1;
		else if (system)
			ret = tdat_add_event_format(w, system, sb.buf, sb.len);
		else
			ret = tdat_add_ftrace_format(w, sb.buf, sb.len);
	}
	globfree(&g);
	sbuf_free(&sb);
	return ret;
}

static int add_guest(struct tdat_writer *w, const char *spec)
{
	char name[256], *pids, *end;
	unsigned long long id;
	int pid[64], n = 0;

	if (sscanf(spec, "%255[^:]:%llx:", name, &id) != 2 || !(pids = strrchr(spec, ':')))
		return -1;
	for (pids++; *pids && n < 64; pids = *end ? end + 1 : end)
		pid[n++] = (int)strtol(pids, &end, 10);
	return tdat_add_guest(w, name, id, (unsigned int)n, pid);
}

/* Header files, formats, texts and options from the tracefs instance. */
static int set_meta(struct tdat_writer *w, const struct pack *pk)
{
	struct sbuf hp = { 0 }, he = { 0 }, sb = { 0 };
	char path[4096], pattern[512];
	int ret = -1;

	snprintf(path, sizeof(path), "%s/events/header_page", pk->inst);
	if (read_file(path, &hp))
		goto out;
	snprintf(path, sizeof(path), "%s/events/header_event", pk->inst);
	if (read_file(path, &he) || tdat_set_headers(w, hp.buf, hp.len, he.buf, he.len))
		goto out;
	if (add_formats(w, pk, "ftrace/*", NULL))
		goto out;
	for (int i = 0; i < pk->nsystems; i++) {
		char sys[256];

		snprintf(sys, sizeof(sys), "%.*s", (int)strcspn(pk->systems[i], "/"), pk->systems[i]);
		snprintf(pattern, sizeof(pattern), "%s%s", pk->systems[i],
			 strchr(pk->systems[i], '/') ? "" : "/*");
		if (add_formats(w, pk, pattern, sys))
			goto out;
	}
	snprintf(path, sizeof(path), "%s/saved_cmdlines", pk->top);
	if (read_file(path, &sb) || tdat_set_cmdlines(w, sb.buf, sb.len))
		goto out;
	sb.len = 0;
	snprintf(path, sizeof(path), "%s/printk_formats", pk->top);
	if (read_file(path, &sb) || tdat_set_printk(w, sb.buf, sb.len))
		goto out;
	sb.len = 0;
	if (pk->kallsyms && (read_file(pk->kallsyms, &sb) ||
			     tdat_set_kallsyms(w, sb.buf, sb.len)))
		goto out;
	sb.len = 0;
	snprintf(path, sizeof(path), "%s/trace_clock", pk->inst);
	if (read_file(path, &sb))
		goto out;
	sbuf_addc(&sb, '\0');
	sb.buf[strcspn(sb.buf, "\n")] = '\0';
	if (tdat_set_clock(w, sb.buf))
		goto out;
	for (unsigned int c = 0; c < pk->opts.ncpus; c++) {
		sb.len = 0;
		snprintf(path, sizeof(path), "%s/per_cpu/cpu%u/stats", pk->inst, c);
		if (read_file(path, &sb))
			continue;	/* an offline CPU has none */
		sbuf_addc(&sb, '\0');
		if (tdat_add_cpustat(w, c, sb.buf))
			goto out;
	}
	if (pk->guest && add_guest(w, pk->guest))
		goto out;
	ret = 0;
out:
	sbuf_free(&hp);
	sbuf_free(&he);
	sbuf_free(&sb);
	return ret;
}

/* One page of each CPU in turn, as the recorder reads them. */
static int write_pages(struct tdat_writer *w, struct pack *pk)
{
	char *page = malloc(pk->opts.page_size);
	unsigned int live = pk->opts.ncpus;
	int ret = 0;

	if (!page)
		return -1;
	while (live && !ret) {
		live = 0;
		for (unsigned int c = 0; c < pk->opts.ncpus && !ret; c++) {
			if (!pk->cpu[c] || fread(page, pk->opts.page_size, 1, pk->cpu[c]) != 1)
				continue;
			live++;
			ret = tdat_write_page(w, c, page);
		}
	}
	free(page);
	return ret;
}

static int parse_args(struct pack *pk, int argc, char **argv)
{
	int opt;

	pk->opts.version = 7;
	pk->opts.compress = TDAT_COMP_ZSTD;
	while ((opt = getopt(argc, argv, "o:V:c:i:t:e:k:g:")) != -1) {
		switch (opt) {
		case 'o': pk->out = optarg; break;
		case 'V': pk->opts.version = atoi(optarg); break;
		case 'c':
			if (tdat_parse_compress(optarg, &pk->opts.compress))
				return -1;
			break;
		case 'i': pk->inst = optarg; break;
		case 't': pk->top = optarg; break;
		case 'e':
			if (pk->nsystems == 64)
				return -1;
			pk->systems[pk->nsystems++] = optarg;
			break;
		case 'k': pk->kallsyms = optarg; break;
		case 'g': pk->guest = optarg; break;
		default: return -1;
		}
	}
	if (!pk->out || !pk->inst || !pk->top || optind == argc ||
	    argc - optind > MAX_PACK_CPUS)
		return -1;
	pk->opts.ncpus = (unsigned int)(argc - optind);
	for (int i = optind; i < argc; i++) {
		pk->cpu[i - optind] = fopen(argv[i], "r");
		if (!pk->cpu[i - optind])
			return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct pack pk = { 0 };
	struct sbuf hp = { 0 };
	struct tdat_writer *w;
	char path[4096];

	if (parse_args(&pk, argc, argv))
		return usage();
	snprintf(path, sizeof(path), "%s/events/header_page", pk.inst);
	if (read_file(path, &hp))
		return die(path);
	sbuf_addc(&hp, '\0');
	pk.opts.page_size = page_size_of(hp.buf);
	sbuf_free(&hp);
	w = tdat_create(pk.out, &pk.opts);
	if (!w)
		return die("tdat_create");
	if (set_meta(w, &pk)) {
		tdat_abort(w);
		return die("metadata");
	}
	if (write_pages(w, &pk)) {
		tdat_abort(w);
		return die("tdat_write_page");
	}
	if (tdat_close(w))
		return die("tdat_close");
	for (unsigned int c = 0; c < pk.opts.ncpus; c++)
		fclose(pk.cpu[c]);
	return 0;
}
