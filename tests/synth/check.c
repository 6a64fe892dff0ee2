/*
 * synth-check: read a trace.dat with libtracecmd and print what the tests
 * compare with the ground truth: records, lost events, first/last timestamp,
 * per-CPU order violations, records whose event or fields do not decode;
 * with -c EVENT (repeatable), the number of records of each such event, and
 * with -f EVENT, the common_flags values its records carry.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event-parse.h>
#include <trace-cmd.h>

#define MAX_NAMED 16

struct stats {
	unsigned long long records, lost, first, last, bad, unordered;
	unsigned long long *cpu_last;
	int ncpus;
	const char *name[MAX_NAMED];	/* -c: count these events */
	unsigned long long count[MAX_NAMED];
	int nr_name;
	const char *fname;		/* -f: which common_flags this event has */
	unsigned char flags_seen[256];
};

/* Every field of the record must be readable where the format says. */
static int check_fields(struct tep_event *ev, struct tep_record *rec)
{
	struct tep_format_field **f = tep_event_fields(ev);
	int bad = 0;

	for (int i = 0; f && f[i]; i++) {
		if (f[i]->flags & TEP_FIELD_IS_DYNAMIC)
			continue;
		if ((unsigned int)(f[i]->offset + f[i]->size) > (unsigned int)rec->size)
			bad = 1;
	}
	free(f);
	return bad;
}

static int cb(struct tracecmd_input *h, struct tep_record *rec, int cpu, void *data)
{
	struct stats *s = data;
	struct tep_handle *tep = tracecmd_get_tep(h);
	struct tep_event *ev = tep_find_event_by_record(tep, rec);

	if (!s->records)
		s->first = rec->ts;
	s->last = rec->ts;
	s->records++;
	if (rec->missed_events > 0)
		s->lost += (unsigned long long)rec->missed_events;
	if (!ev || check_fields(ev, rec))
		s->bad++;
	if (cpu < s->ncpus) {
		if (rec->ts < s->cpu_last[cpu])
			s->unordered++;
		s->cpu_last[cpu] = rec->ts;
	}
	for (int i = 0; ev && i < s->nr_name; i++)
		if (!strcmp(ev->name, s->name[i]))
			s->count[i]++;
	if (ev && s->fname && !strcmp(ev->name, s->fname))
		s->flags_seen[tep_data_flags(tep, rec) & 0xff] = 1;
	return 0;
}

int main(int argc, char **argv)
{
	struct tracecmd_input *h;
	struct stats s = { 0 };
	int c;

	while ((c = getopt(argc, argv, "c:f:")) != -1) {
		if (c == 'c' && s.nr_name < MAX_NAMED)
			s.name[s.nr_name++] = optarg;
		else if (c == 'f')
			s.fname = optarg;
		else
			goto usage;
	}
	if (optind != argc - 1)
		goto usage;
	h = tracecmd_open(argv[optind], 0);
	if (!h) {
		fprintf(stderr, "synth-check: cannot open %s\n", argv[optind]);
		return 1;
	}
	s.ncpus = 1024;
	s.cpu_last = calloc(s.ncpus > 0 ? s.ncpus : 1, sizeof(*s.cpu_last));
	if (!s.cpu_last || tracecmd_iterate_events(h, NULL, 0, cb, &s) < 0) {
		fprintf(stderr, "synth-check: cannot read %s\n", argv[optind]);
		return 1;
	}
	printf("records=%llu lost=%llu first=%llu last=%llu bad=%llu unordered=%llu\n",
	       s.records, s.lost, s.first, s.last, s.bad, s.unordered);
	for (int i = 0; i < s.nr_name; i++)
		printf("%s%s=%llu", i ? " " : "", s.name[i], s.count[i]);
	if (s.nr_name)
		printf("\n");
	if (s.fname) {
		const char *sep = "";

		printf("%s flags:", s.fname);
		for (int f = 0; f < 256; f++) {
			if (s.flags_seen[f]) {
				printf("%s0x%02x", sep, f);
				sep = ",";
			}
		}
		printf("\n");
	}
	free(s.cpu_last);
	tracecmd_close(h);
	return 0;
usage:
	fprintf(stderr, "usage: synth-check [-c EVENT]... [-f EVENT] trace.dat\n");
	return 2;
}
