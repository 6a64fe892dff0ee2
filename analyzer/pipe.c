/*
 * Two cores: a reader thread reads and decodes the trace (the reader's
 * pages, kbuffer, the merge across CPUs) into batches of decoded records,
 * each with a copy of its payload, while the calling thread runs the one
 * in-order state machine on them. Bounded: a ring of a few batches.
 */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer.h"
#include "decode.h"
#include "pictures.h"
#include "pipe.h"
#include "util.h"

#define BATCH	4096
#define NBATCH	4

struct batch {
	struct vw_ev ev[BATCH];
	uint8_t *arena;		/* the records' payloads */
	size_t cap;
	int n;
};

struct pipe {
	struct tin *t;
	struct analyzer *a;
	struct progress *pg;
	uint64_t nrec;			/* records read (the reader's) */
	struct batch b[NBATCH];
	unsigned long filled, used;	/* batches produced, consumed */
	int ret;			/* the reader's last tin_next() result */
	bool done, stop;
	pthread_mutex_t lock;
	pthread_cond_t cond;
};

/*
 * Decode up to BATCH records into @b, each read in place into its slot; the
 * tin_next() result that ended it.
 */
static int fill(struct pipe *p, struct batch *b)
{
	size_t used = 0;
	int ret = 1;

	b->n = 0;
	while (b->n < BATCH && (ret = tin_next(p->t, &b->ev[b->n].rec)) > 0) {
		struct vw_ev *e = &b->ev[b->n];

		if (e->cpu < 0 || e->cpu >= p->a->ncpus)
			continue;
		if (!b->arena || used + e->size > b->cap) {
			/* payloads are copied after decoding: rebase the batch's pointers */
			uint8_t *old = b->arena;

			b->cap = MAX(b->cap * 2, used + e->size + BATCH * 64);
			b->arena = xrealloc(b->arena, b->cap);
			for (int i = 0; i < b->n; i++)
				b->ev[i].data = b->arena + (b->ev[i].data - old);
		}
		memcpy(b->arena + used, e->data, e->size);
		e->data = b->arena + used;
		used += e->size;
		b->n++;
		decode_ev(p->a, e);
		progress_tick(p->pg, p->t, ++p->nrec);
	}
	return ret;
}

static void *reader(void *arg)
{
	struct pipe *p = arg;

	for (;;) {
		struct batch *b;
		int ret;

		pthread_mutex_lock(&p->lock);
		while (p->filled - p->used == NBATCH && !p->stop)
			pthread_cond_wait(&p->cond, &p->lock);
		if (p->stop) {
			pthread_mutex_unlock(&p->lock);
			return NULL;
		}
		b = &p->b[p->filled % NBATCH];
		pthread_mutex_unlock(&p->lock);
		ret = fill(p, b);
		pthread_mutex_lock(&p->lock);
		p->filled++;
		if (ret <= 0) {
			p->ret = ret;
			p->done = true;
		}
		pthread_cond_broadcast(&p->cond);
		pthread_mutex_unlock(&p->lock);
		if (ret <= 0)
			return NULL;
	}
}

int pipe_run(struct tin *t, struct analyzer *a, struct progress *pg)
{
	struct pipe *p = xcalloc(1, sizeof(*p));
	pthread_t th;
	int ret = 0;

	p->t = t;
	p->a = a;
	p->pg = pg;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	if (pthread_create(&th, NULL, reader, p)) {
		free(p);
		return -2;	/* no thread: the caller reads itself */
	}
	for (;;) {
		struct batch *b;

		pthread_mutex_lock(&p->lock);
		while (p->filled == p->used && !p->done)
			pthread_cond_wait(&p->cond, &p->lock);
		if (p->filled == p->used) {
			ret = p->ret;
			pthread_mutex_unlock(&p->lock);
			break;
		}
		b = &p->b[p->used % NBATCH];
		pthread_mutex_unlock(&p->lock);
		for (int i = 0; i < b->n; i++)
			session_feed_ev(a, &b->ev[i]);
		pthread_mutex_lock(&p->lock);
		p->used++;
		pthread_cond_broadcast(&p->cond);
		pthread_mutex_unlock(&p->lock);
	}
	pthread_join(th, NULL);
	for (int i = 0; i < NBATCH; i++)
		free(p->b[i].arena);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	free(p);
	return ret;
}

/*
 * -j auto: the second thread wins on two CPUs (README "Speed") and costs
 * about 15% when both threads share one, so it is used only when this
 * process may run on two CPUs or more (its affinity, as taskset sets it).
 */
int pipe_threads(int threads)
{
	cpu_set_t set;

	if (threads)
		return threads;
	if (sched_getaffinity(0, sizeof(set), &set))
		return 1;
	return CPU_COUNT(&set) >= 2 ? 2 : 1;
}
