/* Copies a tracefs trace_pipe_raw file, page by page, until it has no more data. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* usage: tdat-rawcat TRACE_PIPE_RAW PAGE_SIZE OUT; prints the number of pages. */
int main(int argc, char **argv)
{
	unsigned long page, pages = 0;
	ssize_t r;
	char *buf;
	FILE *out;
	int fd;

	if (argc != 4 || !(page = strtoul(argv[2], NULL, 0))) {
		fprintf(stderr, "usage: tdat-rawcat TRACE_PIPE_RAW PAGE_SIZE OUT\n");
		return 2;
	}
	fd = open(argv[1], O_RDONLY | O_NONBLOCK);
	out = fopen(argv[3], "w");
	buf = calloc(1, page);
	if (fd < 0 || !out || !buf) {
		perror("tdat-rawcat");
		return 1;
	}
	for (;;) {
		memset(buf, 0, page);
		r = read(fd, buf, page);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		/* the kernel hands out whole sub-buffers; pad one that is not */
		if (fwrite(buf, page, 1, out) != 1) {
			perror("tdat-rawcat: write");
			return 1;
		}
		pages++;
	}
	if (r < 0 && errno != EAGAIN) {
		perror("tdat-rawcat: read");
		return 1;
	}
	if (fclose(out)) {
		perror("tdat-rawcat: close");
		return 1;
	}
	printf("%lu\n", pages);
	free(buf);
	close(fd);
	return 0;
}
