/*
 * --explain with guest traces: the records of the explained vCPUs' guest
 * CPUs, printed among the host's in time order (host time, prefixed with
 * the guest file's name as trace-cmd report -i host -i guest does), and
 * after each wait a note with what the join of the first pass found.
 */
#include <stdlib.h>
#include <string.h>

#include "analyzer.h"
#include "guest.h"
#include "util.h"

struct gexplain {
	struct gx {
		const struct gtrace *g;
		struct tin *t;
		struct tin_rec rec;
		bool have, done;
	} *v;
	int n;
};

/* The first pass's join of the wait of thread @tid starting at @start, or NULL. */
static const struct hlane *find(const struct guests *gs, int tid, uint64_t start, size_t *k)
{
	for (size_t i = 0; i < gs->nlanes; i++) {
		const struct hlane *hl = &gs->lanes[i];
		size_t lo = 0, hi = hl->n;

		if (hl->tid != tid || !hl->j)
			continue;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (hl->w[mid].start < start)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < hl->n && hl->w[lo].start == start) {
			*k = lo;
			return hl;
		}
	}
	return NULL;
}

static const char *task_name(const struct gtrace *g, int ti, char *buf, size_t len)
{
	if (ti < 0)
		return "none";
	snprintf(buf, len, "%s-%d", g->tasks[ti].comm, g->tasks[ti].pid);
	return buf;
}

/* The note of one wait of the explain pass. */
static void on_note(void *ctx, const struct vw_vcpu *lane, enum vw_reason r, uint64_t start,
		    uint64_t end, bool counted)
{
	struct guests *gs = ctx;
	const struct hlane *hl;
	const struct gjoin *j;
	char a[48], b[48];
	size_t k;

	(void)r;
	(void)end;
	/* gs->ex_a: the waits the end of the pass closes have no line to follow */
	if (!gs->ex_a || lane->key || !counted || !(hl = find(gs, lane->tid, start, &k)))
		return;
	j = &hl->j[k];
	if (j->status == GJ_INCONSISTENT)
		explain_note_lane(gs->ex_a, lane, "guest %s: events inside the halt, no guest task",
				  hl->g->spec->path);
	else if (j->status == GJ_OUTSIDE)
		explain_note_lane(gs->ex_a, lane, "guest %s: not traced then", hl->g->spec->path);
	else if (j->blocked < 0)
		explain_note_lane(gs->ex_a, lane, "guest: ran last unknown; woke %s",
				  task_name(hl->g, j->woken, b, sizeof(b)));
	else
		explain_note_lane(gs->ex_a, lane, "guest: ran last %s (%s); woke %s",
				  task_name(hl->g, j->blocked, a, sizeof(a)),
				  vw_gstate_names[j->state],
				  task_name(hl->g, j->woken, b, sizeof(b)));
}

int guests_explain_begin(struct guests *gs, struct analyzer *a)
{
	struct tin_opts to = { .buffer = "", .plugins = true, .all_formats = true };
	char err[512];

	gs->ex = xcalloc(1, sizeof(*gs->ex));
	gs->ex->v = xcalloc(gs->n, sizeof(*gs->ex->v));
	for (int i = 0; i < gs->n; i++) {
		struct gx *x = &gs->ex->v[gs->ex->n];

		x->g = &gs->g[i];
		x->t = tin_open(gs->g[i].spec->path, &to, err, sizeof(err));
		if (!x->t) {
			vw_err("guest trace: %s", err);
			return -1;
		}
		gs->ex->n++;
	}
	gs->ex_a = a;
	gs->xsink = (struct vw_sink){ .ctx = gs, .wait_whole = on_note };
	a->sinks[a->nsinks++] = &gs->xsink;
	return 0;
}

/* Print the guest records up to host time @ts. */
void guests_explain_until(struct guests *gs, uint64_t ts)
{
	for (int i = 0; gs->ex && i < gs->ex->n; i++) {
		struct gx *x = &gs->ex->v[i];

		while (!x->done) {
			struct tep_record r;
			int64_t t;

			if (!x->have) {
				if (tin_next(x->t, &x->rec) <= 0) {
					x->done = true;
					break;
				}
				x->have = true;
			}
			t = (int64_t)x->rec.ts + x->g->offset;
			if (t > (int64_t)ts)
				break;
			x->have = false;
			if (t < 0 || x->rec.cpu < 0 || x->rec.cpu >= x->g->ncpus ||
			    !x->g->show || !x->g->show[x->rec.cpu])
				continue;
			r = (struct tep_record){ .ts = (unsigned long long)t, .cpu = x->rec.cpu,
						 .size = (int)x->rec.size,
						 .data = (void *)x->rec.data,
						 .missed_events = x->rec.missed };
			explain_guest_line(gs->ex_a, tin_tep(x->t), x->g->spec->path, &r);
		}
	}
}

/* The last guest records (up to @ts), and the readers closed. */
void guests_explain_end(struct guests *gs, uint64_t ts)
{
	guests_explain_until(gs, ts);
	guests_explain_close(gs);
}

void guests_explain_close(struct guests *gs)
{
	if (!gs->ex)
		return;
	gs->ex_a = NULL;
	for (int i = 0; i < gs->ex->n; i++)
		tin_close(gs->ex->v[i].t);
	free(gs->ex->v);
	free(gs->ex);
	gs->ex = NULL;
}
