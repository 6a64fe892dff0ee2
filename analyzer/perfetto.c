/*
 * vmwait analyze --perfetto: the analysis as Chrome trace-event JSON, which
 * ui.perfetto.dev and chrome://tracing open. One process per VM, one thread
 * track per vCPU (L2 vCPUs too), an "X" slice per period named by its state
 * (idle slices carry the wake reason, vector and waker), an IPI flow from
 * the sender's track to the woken one, and per VM a counter of preempted
 * (runnable, waiting for a CPU) vCPUs.
 *
 * A vCPU's VM and pid are known only once the pass is over, so the pass
 * writes compact records to an unlinked temporary file and the JSON is
 * written from it after the filters. Times are trace microseconds with the
 * nanoseconds as three decimals.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pictures.h"
#include "util.h"

#define PENDING		4		/* idle periods waiting for their wait, per lane */
#define SYNTH_ID	(1 << 23)	/* above any pid_max: synthetic pids and tids */

enum { PR_PERIOD, PR_LOSS, PR_GAP };

struct prec {
	uint64_t start, end;
	int32_t lane, from;		/* from: the IPI sender's lane, or -1 */
	int16_t vector;
	uint8_t kind, state, reason;	/* reason: WR_NR when no wait ended it */
};

struct pf_lane {
	struct { uint64_t start, end; } pend[PENDING];
	int npend;
	struct pf_early {		/* waits that came before their idle period */
		uint64_t start, end;
		int reason, from, vector;
	} early[PENDING];
	int nearly;
	int pid, tid, vm;		/* at the end; vm -1: not shown */
	bool l2;
	char name[64];
};

struct perfetto {
	FILE *f, *tmp;
	char *path;
	struct vw_sink sink;
	struct lane_map map;
	struct pf_lane *lanes;
	int nlanes;
	uint64_t nev;			/* events written */
};

struct delta {
	uint64_t ts;
	int vm, d;
};

static int lane_of(struct perfetto *p, const struct vw_vcpu *v)
{
	int i = lane_map_get(&p->map, v);

	if (i >= 0)
		return i;
	p->lanes = xrealloc(p->lanes, (p->nlanes + 1) * sizeof(*p->lanes));
	memset(&p->lanes[p->nlanes], 0, sizeof(p->lanes[0]));
	lane_map_put(&p->map, v, p->nlanes);
	return p->nlanes++;
}

static void put(struct perfetto *p, int lane, int kind, int state, uint64_t start, uint64_t end,
		int reason, int from, int vector)
{
	struct prec r = {
		.start = start, .end = end, .lane = lane, .from = from,
		.vector = (int16_t)vector, .kind = (uint8_t)kind, .state = (uint8_t)state,
		.reason = (uint8_t)reason,
	};

	fwrite(&r, sizeof(r), 1, p->tmp);
}

static void pend_drop(struct pf_lane *l, int i)
{
	memmove(&l->pend[i], &l->pend[i + 1], (l->npend - i - 1) * sizeof(l->pend[0]));
	l->npend--;
}

static void on_period(void *ctx, const struct vw_vcpu *v, enum vw_state s, uint64_t start,
		      uint64_t end)
{
	struct perfetto *p = ctx;
	int i = lane_of(p, v);
	struct pf_lane *l = &p->lanes[i];

	if (end <= start)
		return;
	if (s != VS_IDLE) {
		put(p, i, PR_PERIOD, s, start, end, WR_NR, -1, -1);
		return;
	}
	/* idle: its wait, if that came first, or held until its wait says what ended it */
	for (int k = 0; k < l->nearly; k++) {
		struct pf_early *e = &l->early[k];

		if (e->start < end && start < e->end) {
			put(p, i, PR_PERIOD, VS_IDLE, start, end, e->reason, e->from, e->vector);
			*e = l->early[--l->nearly];
			return;
		}
	}
	if (l->npend == PENDING) {
		put(p, i, PR_PERIOD, VS_IDLE, l->pend[0].start, l->pend[0].end, WR_NR, -1, -1);
		pend_drop(l, 0);
	}
	l->pend[l->npend].start = start;
	l->pend[l->npend].end = end;
	l->npend++;
}

static void on_wait(void *ctx, const struct vw_vcpu *v, enum vw_reason r, uint64_t start,
		    uint64_t end, const struct vw_vcpu *from, int vector)
{
	struct perfetto *p = ctx;
	int i = lane_of(p, v), fr = from ? lane_of(p, from) : -1;
	struct pf_lane *l = &p->lanes[i];

	for (int k = l->npend - 1; k >= 0; k--) {
		if (l->pend[k].start < end && start < l->pend[k].end) {
			put(p, i, PR_PERIOD, VS_IDLE, l->pend[k].start, l->pend[k].end, r, fr,
			    vector);
			pend_drop(l, k);
			return;
		}
	}
	/* counted before the analyzer committed its idle period: held for it */
	if (l->nearly == PENDING)
		memmove(l->early, l->early + 1, --l->nearly * sizeof(l->early[0]));
	l->early[l->nearly++] = (struct pf_early){ .start = start, .end = end, .reason = r,
						   .from = fr, .vector = vector };
}

static void on_mark(void *ctx, const struct vw_vcpu *v, enum vw_mark m, uint64_t ts)
{
	struct perfetto *p = ctx;

	put(p, lane_of(p, v), m == MARK_LOSS ? PR_LOSS : PR_GAP, 0, ts, ts, WR_NR, -1, -1);
}

struct perfetto *perfetto_open(const char *path)
{
	struct perfetto *p = xcalloc(1, sizeof(*p));

	p->f = fopen(path, "w");
	if (!p->f) {
		vw_err("cannot write %s: %s", path, strerror(errno));
		free(p);
		return NULL;
	}
	p->tmp = tmpfile();
	if (!p->tmp) {
		vw_err("cannot create a temporary file for %s: %s", path, strerror(errno));
		fclose(p->f);
		free(p);
		return NULL;
	}
	p->path = xstrdup(path);
	p->sink.ctx = p;
	p->sink.period = on_period;
	p->sink.wait = on_wait;
	p->sink.mark = on_mark;
	return p;
}

const struct vw_sink *perfetto_sink(struct perfetto *p)
{
	return &p->sink;
}

/* ---- the JSON ---- */

/* Opens the next event of the array. */
static FILE *ev(struct perfetto *p)
{
	fputs(p->nev++ ? ",\n{" : "{", p->f);
	return p->f;
}

/* @s as a JSON string; invalid UTF-8 (comms are bytes) as '?'. */
static void jstr(FILE *f, const char *s)
{
	fputc('"', f);
	while (*s) {
		unsigned char c = (unsigned char)*s;
		int n = utf8_len(s);

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else if (n)
			fwrite(s, 1, n, f);
		else
			fputc('?', f);
		s += n ? n : 1;
	}
	fputc('"', f);
}

/* Microseconds with the nanoseconds as decimals: exact. */
static void us(FILE *f, const char *key, uint64_t ns)
{
	fprintf(f, ",\"%s\":%llu.%03llu", key, (unsigned long long)(ns / 1000),
		(unsigned long long)(ns % 1000));
}

static void label(char *buf, size_t len, const struct vw_vcpu *v, bool l2)
{
	char id[16] = "?";

	if (v->vcpu >= 0)
		snprintf(id, sizeof(id), "%d", v->vcpu);
	if (l2)
		snprintf(buf, len, "L2 vCPU %s (%s)", id, v->key ? v->key : "?");
	else
		snprintf(buf, len, "vCPU %s (%.16s-%d)", id, v->comm[0] ? v->comm : "?", v->tid);
}

static void meta(struct perfetto *p, const char *what, int pid, int tid, const char *key,
		 const char *s, int sort)
{
	FILE *f = ev(p);
	char b[16];

	fprintf(f, "\"ph\":\"M\",\"name\":\"%s\",\"pid\":%d,\"tid\":%d,\"args\":{\"%s\":", what,
		pid, tid, key);
	if (s) {
		jstr(f, s);
	} else {
		snprintf(b, sizeof(b), "%d", sort);
		fputs(b, f);
	}
	fprintf(f, "}}");
}

static void thread(struct perfetto *p, const struct vw_vcpu *v, int vm, int pid, bool l2,
		   int *next_id, int *sort)
{
	int i = lane_map_get(&p->map, v);
	if (i < 0)
		return;
	p->lanes[i].vm = vm;
	p->lanes[i].pid = pid;
	p->lanes[i].l2 = l2;
	p->lanes[i].tid = l2 || v->tid <= 0 || v->tid >= SYNTH_ID ? (*next_id)++ : v->tid;
	for (int j = 0; j < p->nlanes && !l2; j++)
		if (j != i && p->lanes[j].vm >= 0 && p->lanes[j].tid == p->lanes[i].tid)
			p->lanes[i].tid = (*next_id)++;	/* a reused tid */
	label(p->lanes[i].name, sizeof(p->lanes[i].name), v, l2);
	meta(p, "thread_name", pid, p->lanes[i].tid, "name", p->lanes[i].name, 0);
	meta(p, "thread_sort_index", pid, p->lanes[i].tid, "sort_index", NULL, (*sort)++);
}

/* Processes and threads: pids and tids for every lane shown, with their names. */
static void tracks(struct perfetto *p, const struct vw_result *r)
{
	int next_id = SYNTH_ID, sort = 0;
	char name[160];

	for (int i = 0; i < p->nlanes; i++)
		p->lanes[i].vm = -1;
	for (int i = 0; i < r->nr_vms; i++) {
		const struct vw_vm *vm = r->vms[i];
		int pid = vm->pid > 0 && !vm->guessed ? vm->pid : next_id++;

		if (vm->guessed)
			snprintf(name, sizeof(name), "VM %s (guessed, pid unknown)", vm->name);
		else if (vm->pid > 0)
			snprintf(name, sizeof(name), "VM %s (pid %d)", vm->name, vm->pid);
		else
			snprintf(name, sizeof(name), "VM %s (pid unknown)", vm->name);
		meta(p, "process_name", pid, pid, "name", name, 0);
		meta(p, "process_sort_index", pid, pid, "sort_index", NULL, i);
		for (int j = 0; j < vm->nr_vcpus; j++) {
			thread(p, vm->vcpus[j], i, pid, false, &next_id, &sort);
			for (int n = 0; n < vm->nr_nested; n++)
				for (int k = 0; k < vm->nested[n].nr_vcpus; k++)
					if (vm->nested[n].vcpus[k]->tid == vm->vcpus[j]->tid)
						thread(p, vm->nested[n].vcpus[k], i, pid, true,
						       &next_id, &sort);
		}
	}
}

static void slice(struct perfetto *p, const struct prec *r, uint64_t *flow)
{
	const struct pf_lane *l = &p->lanes[r->lane];
	const struct pf_lane *from = r->from >= 0 ? &p->lanes[r->from] : NULL;
	FILE *f = ev(p);

	fprintf(f, "\"ph\":\"X\",\"cat\":\"vmwait\",\"name\":\"%s\",\"pid\":%d,\"tid\":%d",
		vw_state_names[r->state], l->pid, l->tid);
	us(f, "ts", r->start);
	us(f, "dur", r->end - r->start);
	if (r->state == VS_IDLE) {
		fprintf(f, ",\"args\":{\"reason\":\"%s\"", r->reason < WR_NR ?
			vw_reason_names[r->reason] : "none (its wake not seen)");
		if (r->vector >= 0)
			fprintf(f, ",\"vector\":\"0x%x\"", r->vector);
		if (from && from->vm >= 0) {
			fprintf(f, ",\"waker\":");
			jstr(f, from->name);
			fprintf(f, ",\"waker_pid\":%d,\"waker_tid\":%d", from->pid, from->tid);
		}
		fputc('}', f);
	}
	fputc('}', f);
	if (!from || from->vm < 0 || r->from == r->lane)
		return;
	/* the IPI: from the sender's slice to the end of this idle slice */
	(*flow)++;
	fprintf(ev(p), "\"ph\":\"s\",\"cat\":\"ipi\",\"name\":\"ipi\",\"id\":%llu,\"pid\":%d,"
		"\"tid\":%d", (unsigned long long)*flow, from->pid, from->tid);
	us(f, "ts", r->end - 1);
	fprintf(f, "}");
	fprintf(ev(p), "\"ph\":\"f\",\"bp\":\"e\",\"cat\":\"ipi\",\"name\":\"ipi\",\"id\":%llu,"
		"\"pid\":%d,\"tid\":%d", (unsigned long long)*flow, l->pid, l->tid);
	us(f, "ts", r->end - 1);
	fputc('}', f);
}

static int delta_cmp(const void *a, const void *b)
{
	const struct delta *x = a, *y = b;

	if (x->vm != y->vm)
		return x->vm < y->vm ? -1 : 1;
	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	return x->d - y->d;
}

/* Per VM, the number of its vCPUs that are preempted, from the start and at every change. */
static void counters(struct perfetto *p, struct delta *d, size_t n, const struct vw_result *r)
{
	uint64_t t0 = r->has_window ? MAX(r->window_from, r->start_ns) : r->start_ns;
	size_t i = 0;

	if (n)
		qsort(d, n, sizeof(*d), delta_cmp);
	for (int vm = 0; vm < r->nr_vms; vm++) {
		int pid = -1, count = 0;

		for (int j = 0; j < p->nlanes; j++)
			if (p->lanes[j].vm == vm)
				pid = p->lanes[j].pid;
		if (pid < 0)
			continue;
		fprintf(ev(p), "\"ph\":\"C\",\"name\":\"runnable\",\"pid\":%d,\"tid\":%d", pid,
			pid);
		us(p->f, "ts", t0);
		fprintf(p->f, ",\"args\":{\"vCPUs\":0}}");
		for (; i < n && d[i].vm == vm; i++) {
			count += d[i].d;
			if (i + 1 < n && d[i + 1].vm == vm && d[i + 1].ts == d[i].ts)
				continue;
			fprintf(ev(p), "\"ph\":\"C\",\"name\":\"runnable\",\"pid\":%d,"
				"\"tid\":%d", pid, pid);
			us(p->f, "ts", d[i].ts);
			fprintf(p->f, ",\"args\":{\"vCPUs\":%d}}", count);
		}
	}
}

static void events(struct perfetto *p, const struct vw_result *res)
{
	struct delta *d = NULL;
	size_t nd = 0, cap = 0;
	uint64_t flow = 0;
	struct prec r;

	rewind(p->tmp);
	while (fread(&r, sizeof(r), 1, p->tmp) == 1) {
		const struct pf_lane *l;

		if (r.lane < 0 || r.lane >= p->nlanes || p->lanes[r.lane].vm < 0)
			continue;
		l = &p->lanes[r.lane];
		if (r.kind != PR_PERIOD) {
			fprintf(ev(p), "\"ph\":\"i\",\"s\":\"t\",\"cat\":\"vmwait\",\"name\":\"%s\","
				"\"pid\":%d,\"tid\":%d", r.kind == PR_LOSS ? "lost events" : "gap",
				l->pid, l->tid);
			us(p->f, "ts", r.start);
			fputc('}', p->f);
			continue;
		}
		slice(p, &r, &flow);
		if (r.state != VS_PREEMPTED || l->l2)	/* an L2 vCPU is its L1's thread */
			continue;
		if (nd + 2 > cap) {
			cap = cap ? 2 * cap : 1024;
			d = xrealloc(d, cap * sizeof(*d));
		}
		d[nd++] = (struct delta){ r.start, l->vm, 1 };
		d[nd++] = (struct delta){ r.end, l->vm, -1 };
	}
	counters(p, d, nd, res);
	free(d);
}

int perfetto_close(struct perfetto *p, const struct vw_result *r)
{
	int ret = 0;

	if (!r) {		/* nothing analyzed: no file left behind */
		unlink(p->path);
		goto out;
	}
	for (int i = 0; i < p->nlanes; i++)
		while (p->lanes[i].npend) {
			put(p, i, PR_PERIOD, VS_IDLE, p->lanes[i].pend[0].start,
			    p->lanes[i].pend[0].end, WR_NR, -1, -1);
			pend_drop(&p->lanes[i], 0);
		}
	if (fflush(p->tmp) || ferror(p->tmp)) {
		vw_err("writing the temporary file for %s failed: %s", p->path, strerror(errno));
		ret = -1;
		goto out;
	}
	fprintf(p->f, "{\"traceEvents\":[\n");
	tracks(p, r);
	events(p, r);
	fprintf(p->f, "\n],\n\"otherData\":{\"generator\":\"vmwait analyze "
		"--perfetto\",\"file\":");
	jstr(p->f, r->file ? r->file : "");
	fprintf(p->f, ",\"events\":\"%llu\",\"lost_events\":\"%llu\"}}\n",
		(unsigned long long)r->events, (unsigned long long)r->lost_events);
out:
	if (fflush(p->f) || ferror(p->f)) {
		vw_err("writing %s failed: %s", p->path, strerror(errno));
		ret = -1;
	}
	fclose(p->f);
	fclose(p->tmp);
	lane_map_free(&p->map);
	free(p->lanes);
	free(p->path);
	free(p);
	return ret;
}
