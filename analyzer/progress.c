/*
 * The progress line of a long analysis: on a terminal only (never in a pipe
 * or a file), after about a second, redrawn four times a second, erased at
 * the end. VMWAIT_PROGRESS_DELAY_MS sets the first delay (tests use 0).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "pictures.h"
#include "tin.h"
#include "util.h"

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

void progress_init(struct progress *p, bool enabled)
{
	const char *d = getenv("VMWAIT_PROGRESS_DELAY_MS");
	uint64_t delay = 1000;

	p->on = enabled && isatty(STDERR_FILENO);
	p->shown = false;
	p->tick = 0;
	if (d && parse_u64(d, &delay))
		delay = 1000;
	p->start_us = now_us();
	p->next_us = p->start_us + delay * 1000;
}

void progress_update(struct progress *p, const struct tin *t, uint64_t events)
{
	uint64_t now = now_us(), done, total, el;
	double frac, rate;

	if (now < p->next_us)
		return;
	p->next_us = now + 250000;
	tin_progress(t, &done, &total);
	el = MAX(now - p->start_us, 1);
	frac = total ? (double)done / (double)total : 0;
	rate = (double)events * 1e6 / (double)el;
	fprintf(stderr, "\rvmwait: %3.0f%% of the trace, %.2f M events/s", 100 * frac, rate / 1e6);
	if (frac > 0.001)
		fprintf(stderr, ", ETA %.0f s", (double)el / 1e6 * (1 - frac) / frac);
	fprintf(stderr, "\033[K");
	fflush(stderr);
	p->shown = true;
}

void progress_done(struct progress *p)
{
	if (p->shown)
		fprintf(stderr, "\r\033[K");
	p->shown = false;
	p->on = false;
}
