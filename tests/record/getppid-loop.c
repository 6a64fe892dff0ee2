/* Test helper: exactly N getppid() system calls, optionally once GOFILE exists. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Sleep 10 ms at a time until @path exists. */
static void wait_for(const char *path)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };

	while (access(path, F_OK) != 0)
		nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
	const char *go = NULL;
	long n;
	int opt;

	while ((opt = getopt(argc, argv, "w:")) != -1) {
		if (opt != 'w')
			return 2;
		go = optarg;
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: getppid-loop [-w GOFILE] N\n");
		return 2;
	}
	n = atol(argv[optind]);
	if (go)
		wait_for(go);
	for (long i = 0; i < n; i++)
		syscall(SYS_getppid);
	return 0;
}
