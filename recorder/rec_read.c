/* Per-CPU readers: ring-buffer pages from trace_pipe_raw to the trace.dat writer. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <kbuffer.h>
#include <tracefs.h>

#include "recorder.h"
#include "util.h"

/* Pages taken from one CPU before the next CPU gets its turn. */
#define PAGES_PER_TURN	256
/* Turns of every CPU in one reader_drain() while tracing. */
#define TURNS_PER_DRAIN	16

int reader_open(struct rec_reader *r, struct tracefs_instance *inst,
		unsigned int ncpus, unsigned int page_size, struct tdat_writer *w)
{
	memset(r, 0, sizeof(*r));
	r->w = w;
	r->ncpus = ncpus;
	r->page_size = page_size;
	r->page = xmalloc(page_size);
	r->cpu = xcalloc(ncpus, sizeof(*r->cpu));
	for (unsigned int i = 0; i < ncpus; i++)
		r->cpu[i].fd = -1;
	r->kbuf = kbuffer_alloc(sizeof(long) == 8 ? KBUFFER_LSIZE_8 : KBUFFER_LSIZE_4,
				KBUFFER_ENDIAN_SAME_AS_HOST);
	if (!r->kbuf) {
		vw_err("out of memory");
		return -1;
	}
	for (unsigned int i = 0; i < ncpus; i++) {
		struct rec_cpu *c = &r->cpu[i];
		char file[64];

		snprintf(file, sizeof(file), "per_cpu/cpu%u/trace_pipe_raw", i);
		c->fd = tracefs_instance_file_open(inst, file, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		if (c->fd < 0) {
			if (errno == ENOENT || errno == ENODEV)
				continue;	/* no buffer for this CPU (offline) */
			vw_err("cannot open %s: %s", file, strerror(errno));
			return -1;
		}
		c->present = true;
		c->tcpu = tracefs_cpu_alloc_fd(c->fd, (int)page_size, true);
		if (!c->tcpu) {
			vw_err("cannot set up the reader of CPU %u: %s", i, strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* Count the events and the flagged losses of the page in r->page. */
static void account_page(struct rec_reader *r, struct rec_cpu *c)
{
	unsigned long long ts;
	int missed;

	c->pages++;
	if (kbuffer_load_subbuffer(r->kbuf, r->page) < 0)
		return;
	missed = kbuffer_missed_events(r->kbuf);
	if (missed) {
		c->missed_pages++;
		if (missed > 0)
			c->missed += (uint64_t)missed;
	}
	for (void *ev = kbuffer_read_event(r->kbuf, &ts); ev;
	     ev = kbuffer_next_event(r->kbuf, &ts))
		c->events++;
}

/* Hand the @len bytes read into r->page to the writer as one page of @cpu. */
static int put_page(struct rec_reader *r, unsigned int cpu, int len)
{
	if ((unsigned int)len < r->page_size)
		memset(r->page + len, 0, r->page_size - len);
	account_page(r, &r->cpu[cpu]);
	if (tdat_write_page(r->w, cpu, r->page) < 0) {
		r->werr = errno;
		return -1;
	}
	return 0;
}

/*
 * Move up to @max whole pages of @cpu to the writer, spliced through a pipe
 * by libtracefs. Returns the number of pages, or -1 (errno set).
 */
static int drain_whole_pages(struct rec_reader *r, unsigned int cpu, int max)
{
	struct rec_cpu *c = &r->cpu[cpu];
	int n, pages = 0;

	while (pages < max) {
		n = tracefs_cpu_buffered_read(c->tcpu, r->page, true);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0) {
			vw_err("cannot read the ring buffer of CPU %u: %s", cpu, strerror(errno));
			return -1;
		}
		if (n == 0)
			break;
		if (put_page(r, cpu, n) < 0)
			return -1;
		pages++;
	}
	return pages;
}

/* After tracing stopped: the pages still buffered and the last, partial one. */
static int drain_tail(struct rec_reader *r, unsigned int cpu)
{
	struct rec_cpu *c = &r->cpu[cpu];
	int n;

	if (drain_whole_pages(r, cpu, INT_MAX) < 0)
		return -1;
	while ((n = tracefs_cpu_flush(c->tcpu, r->page)) > 0)
		if (put_page(r, cpu, n) < 0)
			return -1;
	if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
		vw_err("cannot read the ring buffer of CPU %u: %s", cpu, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Move what the CPUs have to the writer, CPUs taking turns. With @final
 * (tracing is off), everything including partial pages, so no tail is lost.
 * Returns 0, or -1: a read error (reported) or a write error (r->werr).
 */
int reader_drain(struct rec_reader *r, bool final)
{
	bool again = true;

	/* While tracing, return to the main loop now and then (signals, -d). */
	for (int turn = 0; again && (final || turn < TURNS_PER_DRAIN); turn++) {
		again = false;
		for (unsigned int i = 0; i < r->ncpus; i++) {
			int n;

			if (!r->cpu[i].tcpu)
				continue;
			n = drain_whole_pages(r, i, PAGES_PER_TURN);
			if (n < 0)
				return -1;
			if (n == PAGES_PER_TURN)
				again = true;
		}
	}
	for (unsigned int i = 0; final && i < r->ncpus; i++)
		if (r->cpu[i].tcpu && drain_tail(r, i) < 0)
			return -1;
	return 0;
}

/* Parse "key: value" lines of per_cpu/cpuN/stats. */
static void parse_stats(const char *text, struct rec_cpustat *st)
{
	static const struct {
		const char *key;
		size_t off;
	} keys[] = {
		{ "entries:", offsetof(struct rec_cpustat, entries) },
		{ "overrun:", offsetof(struct rec_cpustat, overrun) },
		{ "commit overrun:", offsetof(struct rec_cpustat, commit_overrun) },
		{ "dropped events:", offsetof(struct rec_cpustat, dropped) },
		{ "read events:", offsetof(struct rec_cpustat, read) },
	};

	const char *line = text;

	while (line && *line) {
		for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
			size_t kl = strlen(keys[i].key);

			if (!strncmp(line, keys[i].key, kl))
				*(uint64_t *)((char *)st + keys[i].off) = strtoull(line + kl, NULL, 10);
		}
		line = strchr(line, '\n');
		if (line)
			line++;
	}
}

/*
 * Read the instance's per-CPU stats (the loss counters) and add them to the
 * output as the CPUSTAT option. Returns -1 if the writer fails (r->werr).
 */
int reader_stats(struct rec_reader *r, struct tracefs_instance *inst)
{
	for (unsigned int i = 0; i < r->ncpus; i++) {
		char file[64];
		char *text;
		int len, ret;

		snprintf(file, sizeof(file), "per_cpu/cpu%u/stats", i);
		text = tracefs_instance_file_read(inst, file, &len);
		if (!text) {
			vw_warn("cannot read %s: %s; lost events of CPU %u are unknown",
				file, strerror(errno), i);
			continue;
		}
		parse_stats(text, &r->cpu[i].stat);
		ret = tdat_add_cpustat(r->w, i, text);
		free(text);
		if (ret < 0) {
			r->werr = errno;
			return -1;
		}
	}
	return 0;
}

/*
 * Events lost on CPU @c: the ring buffer's counters (overwritten, dropped,
 * commit overruns), or what the pages flagged if that is more.
 */
uint64_t reader_cpu_lost(const struct rec_cpu *c)
{
	uint64_t stat = c->stat.overrun + c->stat.commit_overrun + c->stat.dropped;

	return MAX(stat, c->missed);
}

void reader_close(struct rec_reader *r)
{
	for (unsigned int i = 0; r->cpu && i < r->ncpus; i++) {
		if (r->cpu[i].tcpu)
			tracefs_cpu_free_fd(r->cpu[i].tcpu);
		if (r->cpu[i].fd >= 0)
			close(r->cpu[i].fd);
		r->cpu[i].tcpu = NULL;
		r->cpu[i].fd = -1;
	}
	if (r->kbuf)
		kbuffer_free(r->kbuf);
	r->kbuf = NULL;
	free(r->page);
	r->page = NULL;
}

void reader_free(struct rec_reader *r)
{
	reader_close(r);
	free(r->cpu);
	r->cpu = NULL;
}
