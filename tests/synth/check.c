/*
 * synth-check: read a trace.dat with libtracecmd and print what the tests
 * compare with the ground truth: records, lost events, first/last timestamp,
 * per-CPU order violations, records whose event or fields do not decode.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event-parse.h>
#include <trace-cmd.h>

struct stats {
	unsigned long long records, lost, first, last, bad, unordered;
	unsigned long long *cpu_last;
	int ncpus;
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
	return 0;
}

int main(int argc, char **argv)
{
	struct tracecmd_input *h;
	struct stats s = { 0 };

	if (argc != 2) {
		fprintf(stderr, "usage: synth-check trace.dat\n");
		return 2;
	}
	h = tracecmd_open(argv[1], 0);
	if (!h) {
		fprintf(stderr, "synth-check: cannot open %s\n", argv[1]);
		return 1;
	}
	s.ncpus = 1024;
	s.cpu_last = calloc(s.ncpus > 0 ? s.ncpus : 1, sizeof(*s.cpu_last));
	if (!s.cpu_last || tracecmd_iterate_events(h, NULL, 0, cb, &s) < 0) {
		fprintf(stderr, "synth-check: cannot read %s\n", argv[1]);
		return 1;
	}
	printf("records=%llu lost=%llu first=%llu last=%llu bad=%llu unordered=%llu\n",
	       s.records, s.lost, s.first, s.last, s.bad, s.unordered);
	free(s.cpu_last);
	tracecmd_close(h);
	return 0;
}
