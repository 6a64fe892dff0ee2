/* Reads a trace.dat with libtracecmd and prints its metadata, event counts and events. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <trace-cmd.h>

#include "tdat.h"

/* Exported by libtracecmd, declared only in its private header. */
int tracecmd_cpus(struct tracecmd_input *handle);
const char *tracecmd_get_uname(struct tracecmd_input *handle);
const char *tracecmd_get_version(struct tracecmd_input *handle);
const char *tracecmd_get_trace_clock(struct tracecmd_input *handle);

struct count {
	char *name;
	unsigned long n;
};

struct state {
	struct count *counts;
	size_t nr;
	unsigned long total;
	int show_events;
	struct trace_seq seq;
};

static void count_event(struct state *st, const char *name)
{
	size_t i;

	for (i = 0; i < st->nr; i++) {
		if (!strcmp(st->counts[i].name, name)) {
			st->counts[i].n++;
			return;
		}
	}
	st->counts = realloc(st->counts, (st->nr + 1) * sizeof(*st->counts));
	if (!st->counts)
		abort();
	st->counts[st->nr].name = strdup(name);
	st->counts[st->nr].n = 1;
	st->nr++;
}

/* One line per event: cpu, timestamp, pid, system:name, then the event's own text. */
static int on_record(struct tracecmd_input *h, struct tep_record *rec, int cpu, void *data)
{
	struct state *st = data;
	struct tep_handle *tep = tracecmd_get_tep(h);
	struct tep_event *ev = tep_find_event_by_record(tep, rec);
	char name[256];

	(void)cpu;
	snprintf(name, sizeof(name), "%s:%s", ev ? ev->system : "?", ev ? ev->name : "?");
	count_event(st, name);
	st->total++;
	if (!st->show_events || !ev)
		return 0;
	trace_seq_reset(&st->seq);
	tep_print_event(tep, &st->seq, rec, "%s", TEP_PRINT_INFO);
	trace_seq_terminate(&st->seq);
	/* a marker's text ends with its newline: keep one event per line */
	while (st->seq.len && st->seq.buffer[st->seq.len - 1] == '\n')
		st->seq.buffer[--st->seq.len] = '\0';
	printf("E %d %llu %d %s %s\n", rec->cpu, rec->ts, tep_data_pid(tep, rec), name,
	       st->seq.buffer);
	return 0;
}

static int cmp_count(const void *a, const void *b)
{
	return strcmp(((const struct count *)a)->name, ((const struct count *)b)->name);
}

int main(int argc, char **argv)
{
	struct state st = { .show_events = 1 };
	struct tracecmd_input *h;
	int opt;

	while ((opt = getopt(argc, argv, "zc")) != -1) {
		if (opt == 'z') {
			if (tdat_register_zlib()) {
				perror("tdat_register_zlib");
				return 1;
			}
		} else if (opt == 'c') {
			st.show_events = 0;
		} else {
			return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: tdat-read [-z] [-c] FILE\n");
		return 2;
	}
	h = tracecmd_open(argv[optind], 0);
	if (!h) {
		fprintf(stderr, "tdat-read: cannot open %s\n", argv[optind]);
		return 1;
	}
	trace_seq_init(&st.seq);
	printf("cpus %d\n", tracecmd_cpus(h));
	printf("uname %s\n", tracecmd_get_uname(h) ?: "");
	printf("version %s\n", tracecmd_get_version(h) ?: "");
	printf("clock %s\n", tracecmd_get_trace_clock(h) ?: "");
	tracecmd_iterate_events(h, NULL, 0, on_record, &st);
	qsort(st.counts, st.nr, sizeof(*st.counts), cmp_count);
	for (size_t i = 0; i < st.nr; i++)
		printf("count %s %lu\n", st.counts[i].name, st.counts[i].n);
	printf("events %lu\n", st.total);
	trace_seq_destroy(&st.seq);
	tracecmd_close(h);
	return 0;
}
