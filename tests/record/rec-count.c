/*
 * Test helper: reads a trace.dat with libtracecmd and prints, one per line:
 * "cpus N", "events N", "lost N" (events the pages say were lost; a loss
 * of unknown size counts 1), "count SYSTEM:EVENT PID N" for every event and
 * pid, and "marker TEXT" for every trace_marker write.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <trace-cmd.h>

#include "tdat.h"

int tracecmd_cpus(struct tracecmd_input *handle);

struct count {
	char *name;
	int pid;
	unsigned long n;
};

struct state {
	struct count *c;
	size_t nr;
	unsigned long events;
	unsigned long long lost;
};

static void count(struct state *st, const char *name, int pid)
{
	for (size_t i = 0; i < st->nr; i++) {
		if (st->c[i].pid == pid && !strcmp(st->c[i].name, name)) {
			st->c[i].n++;
			return;
		}
	}
	st->c = realloc(st->c, (st->nr + 1) * sizeof(*st->c));
	if (!st->c)
		abort();
	st->c[st->nr].name = strdup(name);
	st->c[st->nr].pid = pid;
	st->c[st->nr].n = 1;
	st->nr++;
}

static void print_marker(struct tep_event *ev, struct tep_record *rec)
{
	struct tep_format_field *f = tep_find_field(ev, "buf");
	const char *buf;
	int len;

	if (!f)
		return;
	buf = (const char *)rec->data + f->offset;
	len = (int)strnlen(buf, rec->size - f->offset);
	while (len && buf[len - 1] == '\n')
		len--;
	printf("marker %.*s\n", len, buf);
}

static int on_record(struct tracecmd_input *h, struct tep_record *rec, int cpu, void *data)
{
	struct tep_handle *tep = tracecmd_get_tep(h);
	struct tep_event *ev = tep_find_event_by_record(tep, rec);
	struct state *st = data;
	char name[256];

	(void)cpu;
	st->events++;
	if (rec->missed_events)
		st->lost += rec->missed_events > 0 ? (unsigned long long)rec->missed_events : 1;
	snprintf(name, sizeof(name), "%s:%s", ev ? ev->system : "?", ev ? ev->name : "?");
	count(st, name, tep_data_pid(tep, rec));
	if (ev && !strcmp(ev->system, "ftrace") && !strcmp(ev->name, "print"))
		print_marker(ev, rec);
	return 0;
}

int main(int argc, char **argv)
{
	struct state st = { 0 };
	struct tracecmd_input *h;

	if (argc != 2) {
		fprintf(stderr, "usage: rec-count FILE\n");
		return 2;
	}
	if (tdat_register_zlib())
		fprintf(stderr, "rec-count: no zlib support\n");
	h = tracecmd_open(argv[1], 0);
	if (!h) {
		fprintf(stderr, "rec-count: cannot open %s\n", argv[1]);
		return 1;
	}
	printf("cpus %d\n", tracecmd_cpus(h));
	tracecmd_iterate_events(h, NULL, 0, on_record, &st);
	for (size_t i = 0; i < st.nr; i++)
		printf("count %s %d %lu\n", st.c[i].name, st.c[i].pid, st.c[i].n);
	printf("events %lu\n", st.events);
	printf("lost %llu\n", st.lost);
	tracecmd_close(h);
	return 0;
}
