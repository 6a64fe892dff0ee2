/* Reading and decoding on a second thread, ahead of the state machine (pipe.c). */
#ifndef VMWAIT_PIPE_H
#define VMWAIT_PIPE_H

struct tin;
struct analyzer;
struct progress;

/*
 * Feed every record of @t to @a: 0 at the end, -1 on a read error, -2: no
 * thread. The reading thread ticks @pg.
 */
int pipe_run(struct tin *t, struct analyzer *a, struct progress *pg);

/* Threads for -j @threads: itself, or for 0 (auto) 2 when two CPUs are ours. */
int pipe_threads(int threads);

#endif
