/* The guest tasks of a VM (a guest trace joined to the host's): builders, order, free. */
#include <stdlib.h>
#include <string.h>

#include "result.h"
#include "util.h"

const char *const vw_gstate_names[GS_NR] = { "D", "S", "R", "other" };

/*
 * sched_switch prev_state: the low byte holds the task state bits the
 * tracepoint reports (1 S, 2 D; 0 R, also with the preempted bit above).
 */
enum vw_gstate vw_gstate_of(uint64_t prev_state)
{
	switch (prev_state & 0xff) {
	case 0: return GS_R;
	case 1: return GS_S;
	case 2: return GS_D;
	default: return GS_OTHER;
	}
}

int res_guest_task(struct vw_guest *g, int pid, const char *comm)
{
	struct vw_guest_task *t;

	for (int i = 0; i < g->nr_tasks; i++)
		if (g->tasks[i].pid == pid && !strcmp(g->tasks[i].comm, comm))
			return i;
	if (g->nr_tasks == g->cap_tasks) {
		g->cap_tasks = g->cap_tasks ? 2 * g->cap_tasks : 16;
		g->tasks = xrealloc(g->tasks, g->cap_tasks * sizeof(*g->tasks));
	}
	t = &g->tasks[g->nr_tasks];
	memset(t, 0, sizeof(*t));
	t->pid = pid;
	snprintf(t->comm, sizeof(t->comm), "%s", comm);
	return g->nr_tasks++;
}

void res_guest_wait(struct vw_guest *g, int ti, enum vw_gstate st, enum vw_reason r,
		    uint64_t ns)
{
	struct vw_guest_task *t = &g->tasks[ti];

	hist_add(&t->hist, ns);
	t->count[r]++;
	t->total[r] += ns;
	if (st < GS_NR)
		t->state[st]++;
}

static int cmp_task(const void *x, const void *y)
{
	const struct vw_guest_task *a = x, *b = y;

	if ((a->pid < 0) != (b->pid < 0))
		return a->pid < 0 ? 1 : -1;
	if (a->hist.total != b->hist.total)
		return a->hist.total > b->hist.total ? -1 : 1;
	if (a->woken != b->woken)
		return a->woken > b->woken ? -1 : 1;
	if (a->pid != b->pid)
		return a->pid < b->pid ? -1 : 1;
	return strcmp(a->comm, b->comm);
}

void res_guest_finish(struct vw_guest *g)
{
	if (g && g->nr_tasks)
		qsort(g->tasks, g->nr_tasks, sizeof(*g->tasks), cmp_task);
}

void res_guest_free(struct vw_guest *g)
{
	if (!g)
		return;
	for (int i = 0; i < g->nr_tasks; i++)
		hist_free(&g->tasks[i].hist);
	free(g->tasks);
	free(g->file);
	free(g);
}
