/*
 * tin-cmp: read a trace.dat with libtracecmd and with vmwait's reader (tin)
 * and compare the event sequences: timestamp, CPU, type, pid, size, payload
 * hash and lost events. Prints "same N events" or the first difference.
 *
 *   tin-cmp [-B BUFFER] FILE        compare
 *   tin-cmp -d [-B BUFFER] FILE     print tin's sequence (one line per event)
 *   tin-cmp -c [-B BUFFER] FILE     count events (the reader alone, for speed)
 *   tin-cmp -R [-B BUFFER] FILE     replay the file's pages through the live path
 *                                   (tin_push/tin_next_until) and compare with
 *                                   reading the file: "same N events"
 *
 * Known difference, on libtracecmd's side: kbuffer_missed_events() reports a
 * loss only when the page's first entry is an event, so a loss on a page
 * that starts with a time extend is dropped; and a loss on an empty page is
 * not carried to the next page. tin reports both: where libtracecmd says 0
 * and tin a loss, the line is counted as "losses only tin reports".
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <trace-cmd.h>

#include "tdat.h"
#include "tin.h"

/* Exported by libtracecmd 3.1.6, declared only in its private header. */
struct tep_record *tracecmd_read_next_data(struct tracecmd_input *handle, int *rec_cpu);

static uint64_t fnv(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ULL;
	return h;
}

struct ev {
	uint64_t ts, hash;
	int cpu, type, pid;
	uint32_t size;
	int64_t missed;
};

static void tin_ev(struct tep_handle *tep, const struct tin_rec *r, struct ev *e)
{
	struct tep_record rec = { .ts = r->ts, .cpu = r->cpu, .size = (int)r->size,
				  .data = (void *)r->data };

	e->ts = r->ts;
	e->cpu = r->cpu;
	e->size = r->size;
	e->type = tep_data_type(tep, &rec);
	e->pid = tep_data_pid(tep, &rec);
	e->hash = fnv(r->data, r->size);
	e->missed = r->missed;
}

static struct tracecmd_input *tc_open(const char *file, const char *buffer)
{
	struct tracecmd_input *h = tracecmd_open(file, TRACECMD_FL_LOAD_NO_PLUGINS), *b;
	int n;

	if (!h || !buffer || !*buffer)
		return h;
	n = tracecmd_buffer_instances(h);
	for (int i = 0; i < n; i++) {
		if (strcmp(tracecmd_buffer_instance_name(h, i), buffer))
			continue;
		b = tracecmd_buffer_instance_handle(h, i);
		tracecmd_close(h);
		return b;
	}
	tracecmd_close(h);
	return NULL;
}

static int dump(struct tin *t)
{
	struct tin_rec r;
	struct ev e;
	int ret;

	while ((ret = tin_next(t, &r)) > 0) {
		tin_ev(tin_tep(t), &r, &e);
		printf("%" PRIu64 " %d %d %d %u %016" PRIx64 " %" PRId64 "\n", e.ts, e.cpu, e.type,
		       e.pid, e.size, e.hash, e.missed);
	}
	return ret < 0 ? 1 : 0;
}

static int compare(struct tin *t, struct tracecmd_input *h)
{
	struct tep_handle *tep = tracecmd_get_tep(h);
	uint64_t n = 0, extra_loss = 0;
	struct tin_rec r;
	struct ev a, b;

	for (;;) {
		struct tep_record *rec;
		int cpu, got = tin_next(t, &r);

		rec = tracecmd_read_next_data(h, &cpu);
		if (got < 0) {
			printf("tin error after %" PRIu64 " events: %s\n", n, tin_error(t));
			return 1;
		}
		if (!got || !rec) {
			if (got || rec) {
				printf("lengths differ after %" PRIu64 " events: %s has more\n", n,
				       got ? "tin" : "libtracecmd");
				tracecmd_free_record(rec);
				return 1;
			}
			break;
		}
		tin_ev(tin_tep(t), &r, &a);
		b = (struct ev){ .ts = rec->ts, .cpu = cpu, .size = (uint32_t)rec->size,
				 .type = tep_data_type(tep, rec), .pid = tep_data_pid(tep, rec),
				 .hash = fnv(rec->data, rec->size), .missed = rec->missed_events };
		tracecmd_free_record(rec);
		if (a.missed && !b.missed) {
			extra_loss++;
			b.missed = a.missed;
		}
		if (memcmp(&a, &b, sizeof(a))) {
			printf("event %" PRIu64 " differs: tin ts %" PRIu64 " cpu %d type %d pid %d "
			       "size %u missed %" PRId64 "; libtracecmd ts %" PRIu64 " cpu %d type %d "
			       "pid %d size %u missed %" PRId64 "%s\n", n, a.ts, a.cpu, a.type, a.pid,
			       a.size, a.missed, b.ts, b.cpu, b.type, b.pid, b.size, b.missed,
			       a.hash != b.hash ? " (payloads differ)" : "");
			return 1;
		}
		n++;
	}
	printf("same %" PRIu64 " events", n);
	if (extra_loss)
		printf(" (%" PRIu64 " losses only tin reports)", extra_loss);
	printf("\n");
	return 0;
}

static bool same_rec(const struct tin_rec *a, const struct tin_rec *b)
{
	return a->ts == b->ts && a->cpu == b->cpu && a->size == b->size &&
	       a->missed == b->missed && !memcmp(a->data, b->data, a->size);
}

/* The live path fed with the file's pages equals reading the file. */
static int replay(const char *file, const struct tin_opts *o)
{
	struct tin *src, *ref, *live;
	struct tin_live_meta lm;
	struct tin_rec a, b;
	uint64_t n = 0, limit;
	const void *page;
	char err[512];
	int cpu, r, ret = 1;

	src = tin_open(file, o, err, sizeof(err));
	ref = tin_open(file, o, err, sizeof(err));
	if (!src || !ref) {
		printf("tin cannot open: %s\n", err);
		return 1;
	}
	tin_live_meta_of(src, &lm);
	live = tin_new_live(&lm, o, err, sizeof(err));
	free(lm.formats);
	if (!live) {
		printf("tin cannot go live: %s\n", err);
		goto out;
	}
	for (;;) {
		r = tin_replay_page(src, &cpu, &page, &limit);
		if (r < 0)
			goto out;
		if (!r) {
			tin_live_end(live);
			limit = UINT64_MAX;
		} else if (tin_push(live, cpu, page)) {
			printf("push: %s\n", tin_error(live));
			goto out;
		}
		while (tin_next_until(live, &a, limit) > 0) {
			if (tin_next(ref, &b) <= 0 || !same_rec(&a, &b)) {
				printf("event %llu differs (live ts %llu cpu %d)\n",
				       (unsigned long long)n, (unsigned long long)a.ts, a.cpu);
				goto out;
			}
			n++;
		}
		if (!r)
			break;
	}
	if (tin_next(ref, &b) > 0) {
		printf("the live path stopped after %llu events\n", (unsigned long long)n);
		goto out;
	}
	printf("same %llu events\n", (unsigned long long)n);
	ret = 0;
out:
	tin_close(live);
	tin_close(src);
	tin_close(ref);
	return ret;
}

int main(int argc, char **argv)
{
	struct tin_opts o = { .all_formats = true };

	struct tracecmd_input *h = NULL;
	bool do_dump = false, do_count = false, do_replay = false;
	char err[512];
	struct tin *t;
	int c, ret;

	while ((c = getopt(argc, argv, "cdRB:")) != -1) {
		if (c == 'R')
			do_replay = true;
		else if (c == 'd')
			do_dump = true;
		else if (c == 'c')
			do_count = true;
		else if (c == 'B')
			o.buffer = optarg;
		else
			return 2;
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: tin-cmp [-d] [-B BUFFER] trace.dat\n");
		return 2;
	}
	if (do_replay)
		return replay(argv[optind], &o);
	t = tin_open(argv[optind], &o, err, sizeof(err));
	if (!t) {
		printf("tin cannot open: %s\n", err);
		return 1;
	}
	if (do_count) {
		struct tin_rec r;
		uint64_t n = 0, x = 0;

		while (tin_next(t, &r) > 0) {
			n++;
			x += *(const uint16_t *)r.data;
		}
		printf("%" PRIu64 " events (%" PRIu64 ")\n", n, x);
		tin_close(t);
		return 0;
	}
	if (do_dump) {
		ret = dump(t);
		tin_close(t);
		return ret;
	}
	tdat_register_zlib();
	tracecmd_set_loglevel(TEP_LOG_CRITICAL);
	h = tc_open(argv[optind], tin_meta(t)->buffers[tin_meta(t)->selected].name);
	if (!h) {
		printf("libtracecmd cannot open %s\n", argv[optind]);
		tin_close(t);
		return 1;
	}
	ret = compare(t, h);
	tracecmd_close(h);
	tin_close(t);
	return ret;
}
