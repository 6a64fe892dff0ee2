/* Event format files: parse offsets/sizes and kvm_exit reason names. */
#include <ctype.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "synth.h"
#include "util.h"
#include "../unit/ftrace_text.h"

/* Alignment of a field as the kernel's struct layout gives it. */
static int field_align(const char *type, const struct sfield *fl)
{
	const char *br = strchr(type, '[');

	if (fl->data_loc)
		return 4;
	if (br) {
		int n = atoi(br + 1);

		if (n <= 0)
			return 1;
		return MIN(fl->size / n, 8);
	}
	return fl->size ? MIN(fl->size, 8) : 1;
}

/* Parse one "field:TYPE NAME;\toffset:N;\tsize:N;\tsigned:N;" line. */
static int parse_field(char *line, struct sfield *fl, int *align)
{
	char *decl = line + strlen("field:"), *semi, *name, *p;

	semi = strchr(decl, ';');
	if (!semi)
		return -1;
	*semi = 0;
	p = strstr(semi + 1, "offset:");
	if (!p)
		return -1;
	fl->offset = atoi(p + 7);
	p = strstr(p, "size:");
	if (!p)
		return -1;
	fl->size = atoi(p + 5);
	p = strstr(p, "signed:");
	fl->is_signed = p && atoi(p + 7);
	fl->data_loc = !strncmp(decl, "__data_loc", 10);
	*align = field_align(decl, fl);
	name = strrchr(decl, ' ');
	name = name ? name + 1 : decl;
	p = strchr(name, '[');
	fl->dyn_tail = p && p[1] == ']' && !fl->data_loc;
	if (p)
		*p = 0;
	fl->name = xstrdup(name);
	return 0;
}

/* Parse a whole format file into @ev. */
static int parse_format(struct sevent *ev, const char *system)
{
	char *copy = xstrdup(ev->text), *line, *save = NULL;
	int end = 0, align = 1, a;

	ev->system = xstrdup(system);
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		while (isspace((unsigned char)*line))
			line++;
		if (!strncmp(line, "name: ", 6)) {
			ev->name = xstrdup(line + 6);
		} else if (!strncmp(line, "ID: ", 4)) {
			ev->id = atoi(line + 4);
		} else if (!strncmp(line, "field:", 6)) {
			struct sfield fl = { 0 };

			if (parse_field(line, &fl, &a))
				goto bad;
			ev->fields = xrealloc(ev->fields, (ev->nr_fields + 1) * sizeof(fl));
			ev->fields[ev->nr_fields++] = fl;
			end = MAX(end, fl.offset + fl.size);
			align = MAX(align, a);
		}
	}
	free(copy);
	if (!ev->name || !ev->id)
		return -1;
	ev->size = (end + align - 1) / align * align;
	return 0;
bad:
	free(copy);
	return -1;
}

/* Parse the "{ N, "NAME" }" pairs of one __print_symbolic table. */
static const char *parse_table(struct sfmt *f, const char *p, uint32_t isa)
{
	int depth = 0;

	for (; *p; p++) {
		unsigned long long code;
		const char *q;
		char *end;

		if (*p == '(')
			depth++;
		if (*p == ')' && --depth <= 0)
			return p;
		if (*p != '{')
			continue;
		q = p + 1;
		while (*q == ' ')
			q++;
		if (*q == '-') {
			code = (uint32_t)-strtoll(q + 1, &end, 0);
		} else {
			code = strtoull(q, &end, 0);
			while (*end == ' ')
				end++;
			if (*end == '+') {	/* "0x040 + 13" */
				code += strtoull(end + 1, &end, 0);
			}
		}
		q = strchr(end, '"');
		if (!q)
			return NULL;
		end = strchr(q + 1, '"');
		if (!end)
			return NULL;
		f->names = xrealloc(f->names, (f->nr_names + 1) * sizeof(*f->names));
		f->names[f->nr_names].isa = isa;
		f->names[f->nr_names].code = (uint32_t)code;
		f->names[f->nr_names].name = strndup(q + 1, end - q - 1);
		f->nr_names++;
		p = end;
	}
	return NULL;
}

/*
 * kvm_exit's print fmt has the VMX table (isa == 1) first and the SVM one
 * second (5.10+), or one table chosen by isa in older kernels' formats.
 */
static void parse_exit_names(struct sfmt *f, const struct sevent *ev)
{
	const char *p = strstr(ev->text, "print fmt:");
	uint32_t isa = 1;

	while (p && (p = strstr(p, "__print_symbolic(")) != NULL) {
		p = parse_table(f, p + strlen("__print_symbolic"), isa);
		isa = 2;
	}
}

/* Add the format @text (taken over) of an event of @system. */
static int add_text(struct sfmt *f, const char *system, char *text, size_t len,
		    const char *path)
{
	struct sevent *ev;

	f->ev = xrealloc(f->ev, (f->nr_ev + 1) * sizeof(*f->ev));
	ev = &f->ev[f->nr_ev];
	memset(ev, 0, sizeof(*ev));
	ev->text = text;
	ev->len = len;
	if (parse_format(ev, system)) {
		vw_err("synth: cannot parse %s", path);
		return -1;
	}
	f->nr_ev++;
	if (!strcmp(ev->name, "kvm_exit"))
		parse_exit_names(f, ev);
	return 0;
}

static int add_event(struct sfmt *f, const char *system, const char *path)
{
	struct sbuf sb = { 0 };

	if (read_file(path, &sb))
		return -1;
	return add_text(f, system, sb.buf, sb.len, path);
}

/*
 * sched_process_exit, as this machine's 6.18 tracefs shows it (the layout
 * is the same since 2.6 but for group_dead, 6.10); the tests/data layouts
 * predate thread exits in the generator.
 */
static const char pexit_format[] =
	"name: sched_process_exit\n"
	"ID: 369\n"
	"format:\n"
	FT_COMMON_FIELDS
	"\tfield:char comm[16];\toffset:8;\tsize:16;\tsigned:0;\n"
	"\tfield:pid_t pid;\toffset:24;\tsize:4;\tsigned:1;\n"
	"\tfield:int prio;\toffset:28;\tsize:4;\tsigned:1;\n"
	"\tfield:bool group_dead;\toffset:32;\tsize:1;\tsigned:0;\n"
	"\n"
	"print fmt: \"comm=%s pid=%d prio=%d group_dead=%s\", REC->comm, REC->pid, "
	"REC->prio, REC->group_dead ? \"true\" : \"false\"\n";

static int load_system(struct sfmt *f, const char *dir, const char *system)
{
	char path[4096];
	struct dirent *de;
	DIR *d;
	int ret = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, system);
	d = opendir(path);
	if (!d)
		return -1;
	while (!ret && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s/%s/format", dir, system, de->d_name);
		ret = add_event(f, system, path);
	}
	closedir(d);
	return ret;
}

static int load_header(const char *dir, const char *name, char **buf, size_t *len)
{
	char path[4096];
	struct sbuf sb = { 0 };

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (read_file(path, &sb))
		return -1;
	*buf = sb.buf;
	*len = sb.len;
	return 0;
}

static int cmp_event(const void *a, const void *b)
{
	const struct sevent *x = a, *y = b;

	return x->id - y->id;
}

int sfmt_load(struct sfmt *f, const char *dir)
{
	struct dirent *de;
	DIR *d;
	int ret = 0;

	memset(f, 0, sizeof(*f));
	f->dir = xstrdup(dir);
	if (load_header(dir, "header_page", &f->header_page, &f->header_page_len) ||
	    load_header(dir, "header_event", &f->header_event, &f->header_event_len)) {
		vw_err("synth: no header_page/header_event in %s", dir);
		return -1;
	}
	d = opendir(dir);
	if (!d)
		return -1;
	while (!ret && (de = readdir(d))) {
		if (de->d_name[0] == '.' || de->d_type != DT_DIR)
			continue;
		ret = load_system(f, dir, de->d_name);
	}
	closedir(d);
	if (!ret && !sfmt_event(f, "sched_process_exit"))
		ret = add_text(f, "sched", xstrdup(pexit_format), strlen(pexit_format),
			       "sched_process_exit");
	qsort(f->ev, f->nr_ev, sizeof(*f->ev), cmp_event);
	return ret;
}

void sfmt_free(struct sfmt *f)
{
	for (int i = 0; i < f->nr_ev; i++) {
		struct sevent *ev = &f->ev[i];

		for (int j = 0; j < ev->nr_fields; j++)
			free(ev->fields[j].name);
		free(ev->fields);
		free(ev->system);
		free(ev->name);
		free(ev->text);
	}
	for (int i = 0; i < f->nr_names; i++)
		free(f->names[i].name);
	free(f->names);
	free(f->ev);
	free(f->dir);
	free(f->header_page);
	free(f->header_event);
	memset(f, 0, sizeof(*f));
}

const struct sevent *sfmt_event(const struct sfmt *f, const char *name)
{
	for (int i = 0; i < f->nr_ev; i++)
		if (!strcmp(f->ev[i].name, name))
			return &f->ev[i];
	return NULL;
}

const struct sfield *sev_field(const struct sevent *ev, const char *name)
{
	for (int i = 0; i < ev->nr_fields; i++)
		if (!strcmp(ev->fields[i].name, name))
			return &ev->fields[i];
	return NULL;
}

const char *sfmt_exit_name(const struct sfmt *f, uint32_t isa, uint32_t code)
{
	if (isa != 1)
		isa = 2;
	if (isa == 1)
		code &= 0xffff;
	for (int i = 0; i < f->nr_names; i++)
		if (f->names[i].isa == isa && f->names[i].code == code)
			return f->names[i].name;
	return NULL;
}
