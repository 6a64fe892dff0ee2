/* Child-process probe for library calls on untrusted input (see guard.h). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "guard.h"

static int progress_fd = -1;

void guard_progress(long v)
{
	ssize_t n;

	if (progress_fd < 0)
		return;
	n = write(progress_fd, &v, sizeof(v));
	(void)n;
}

static pid_t parent_pid;

static void __attribute__((noreturn)) child(int (*fn)(void *), void *arg, int wfd)
{
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

	/* never outlive the parent, which alone would kill a hung child */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent_pid)
		_exit(1);
	if (null >= 0 && !getenv("VMWAIT_GUARD_STDERR"))
		dup2(null, STDERR_FILENO);
	progress_fd = wfd;
	_exit(fn(arg) ? 1 : 0);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Read progress values until the child closes its end or @deadline passes. */
static bool drain(int rfd, long *last, uint64_t deadline, void (*seen)(long, void *), void *ctx)
{
	struct pollfd p = { .fd = rfd, .events = POLLIN };
	long v;

	for (;;) {
		uint64_t now = now_ms();
		ssize_t n;

		if (now >= deadline)
			return false;
		if (poll(&p, 1, (int)(deadline - now)) < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		if (!p.revents)
			continue;
		n = read(rfd, &v, sizeof(v));
		if (n == (ssize_t)sizeof(v)) {
			*last = v;
			if (seen)
				seen(v, ctx);
		}
		else if (n == 0)
			return true;
		else if (n < 0 && errno != EINTR)
			return true;
	}
}

int guard_run(int (*fn)(void *arg), void *arg, unsigned int timeout_s,
	      long *last, const char **why)
{
	return guard_run_seen(fn, arg, timeout_s, NULL, NULL, last, why);
}

int guard_run_seen(int (*fn)(void *arg), void *arg, unsigned int timeout_s,
		   void (*seen)(long v, void *ctx), void *ctx, long *last, const char **why)
{
	static char sigbuf[48];
	int pfd[2], status;
	pid_t pid;
	bool done;

	*last = -1;
	*why = "failed";
	if (pipe2(pfd, O_CLOEXEC))
		return -1;
	fflush(NULL);
	parent_pid = getpid();
	pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (!pid) {
		close(pfd[0]);
		child(fn, arg, pfd[1]);
	}
	close(pfd[1]);
	done = drain(pfd[0], last, now_ms() + timeout_s * 1000ULL, seen, ctx);
	close(pfd[0]);
	if (!done)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!done) {
		*why = "hung";
		return 1;
	}
	if (WIFSIGNALED(status)) {
		snprintf(sigbuf, sizeof(sigbuf), "crashed (signal %d)", WTERMSIG(status));
		*why = sigbuf;
		return 1;
	}
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
