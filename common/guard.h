/*
 * Run a library call on untrusted input in a child process first.
 *
 * Debian's libtraceevent 1.7.1 crashes or loops on some corrupt event
 * formats (tep_parse_event), and nothing in its API says in advance which
 * input will. The calls are deterministic, so a child that performs the same
 * calls and survives proves the parent will too. The child's stderr goes to
 * /dev/null; a crash, a sanitizer report (non-zero exit) or a hang (timeout)
 * becomes one clear error in the parent instead of a core dump.
 */
#ifndef VMWAIT_GUARD_H
#define VMWAIT_GUARD_H

/*
 * Run @fn(@arg) in a child, which exits 0 when it returns 0. The child
 * reports progress through guard_progress() (e.g. the index of the format
 * being parsed), so the parent can say where it failed.
 * Returns 0 if the child succeeded, 1 if it failed (then *@last is the last
 * progress value and *@why a static description: "crashed (signal 11)",
 * "hung", "failed"), -1 if no child could be run (then run in-process).
 */
int guard_run(int (*fn)(void *arg), void *arg, unsigned int timeout_s,
	      long *last, const char **why);

/* Also pass every progress value the child reported to @seen(@v, @ctx). */
int guard_run_seen(int (*fn)(void *arg), void *arg, unsigned int timeout_s,
		   void (*seen)(long v, void *ctx), void *ctx, long *last, const char **why);

/* In the child: report progress @v to the parent (no-op in the parent). */
void guard_progress(long v);

#endif
