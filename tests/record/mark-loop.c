/*
 * Test helper: writes numbered markers "vmwait-test seq=N" (N = 1, 2, ...)
 * followed by N % 13 dots (so that their sizes vary) to a trace_marker file
 * at a steady RATE per second (0: as fast as it can) until killed. After
 * SECONDS of writing it creates the file DONE (if given), so that a test can
 * wait for that much marked time without guessing.
 *
 * usage: mark-loop TRACE_MARKER RATE [SECONDS DONE]
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TICK_NS	1000000L	/* markers go out in bursts every millisecond */

static void add_ns(struct timespec *t, long ns)
{
	t->tv_nsec += ns;
	while (t->tv_nsec >= 1000000000L) {
		t->tv_nsec -= 1000000000L;
		t->tv_sec++;
	}
}

int main(int argc, char **argv)
{
	unsigned long seq = 0, rate, per_tick;
	double secs = 0;
	struct timespec next, start, now;
	const char *done = NULL;
	char buf[64];
	int fd, len;

	if (argc != 3 && argc != 5) {
		fprintf(stderr, "usage: mark-loop TRACE_MARKER RATE [SECONDS DONE]\n");
		return 2;
	}
	rate = strtoul(argv[2], NULL, 10);
	if (argc == 5) {
		secs = atof(argv[3]);
		done = argv[4];
	}
	per_tick = rate / 1000 ? rate / 1000 : rate ? 1 : 1000;
	fd = open(argv[1], O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "mark-loop: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	next = start;
	for (;;) {
		for (unsigned long i = 0; i < per_tick; i++) {
			seq++;
			len = snprintf(buf, sizeof(buf), "vmwait-test seq=%lu%.*s\n", seq,
				       (int)(seq % 13), ".............");
			if (write(fd, buf, (size_t)len) != len) {
				fprintf(stderr, "mark-loop: write: %s\n", strerror(errno));
				return 1;
			}
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (done && (now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9 >= secs) {
			close(open(done, O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
			done = NULL;
		}
		if (!rate)
			continue;
		add_ns(&next, TICK_NS);
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
	}
}
