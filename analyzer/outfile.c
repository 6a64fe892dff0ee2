/* Where vmwait analyze writes its report: never over its input, never over a trace.dat. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* Does the regular file @path start with the trace.dat magic? */
static bool is_trace_dat(const char *path)
{
	static const char magic[] = { 0x17, 0x08, 0x44, 't', 'r', 'a', 'c', 'i', 'n', 'g' };
	char buf[sizeof(magic)];
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	return n == (ssize_t)sizeof(buf) && !memcmp(buf, magic, sizeof(magic));
}

/* The input's identity, when it is a regular file (else false). */
static bool input_stat(const struct analyze_opts *o, struct stat *st)
{
	if (!strcmp(o->name, "-"))
		return fstat(STDIN_FILENO, st) == 0 && S_ISREG(st->st_mode);
	return stat(o->file, st) == 0 && S_ISREG(st->st_mode);
}

static int refuse_input(const struct analyze_opts *o)
{
	if (!strcmp(o->name, "-"))
		vw_err("-o %s is the input trace (standard input): refusing to overwrite it",
		       o->out);
	else if (!strcmp(o->out, o->name))
		vw_err("-o %s is the input trace: refusing to overwrite it", o->out);
	else
		vw_err("-o %s is the input trace %s (the same file): refusing to overwrite it",
		       o->out, o->name);
	return EXIT_USAGE;
}

int out_prepare(const struct analyze_opts *o, struct out_file *of)
{
	struct stat in, st;
	bool have_in = input_stat(o, &in);

	memset(of, 0, sizeof(*of));
	of->fd = -1;
	if (!o->out || !strcmp(o->out, "-")) {
		if (have_in && fstat(STDOUT_FILENO, &st) == 0 && same_file(&in, &st)) {
			vw_err("standard output is the input trace %s: refusing to write the report "
			       "over it", o->name);
			return EXIT_USAGE;
		}
		return 0;
	}
	of->path = o->out;
	if (stat(o->out, &st) == 0) {
		if (have_in && same_file(&in, &st))
			return refuse_input(o);
		if (S_ISREG(st.st_mode) && is_trace_dat(o->out)) {
			vw_err("-o %s is a trace.dat file: refusing to overwrite it with the report "
			       "(remove it first, or choose another file)", o->out);
			return EXIT_USAGE;
		}
	}
	of->fd = open(o->out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (of->fd >= 0)
		of->created = true;
	else if (errno == EEXIST)
		of->fd = open(o->out, O_WRONLY | O_CLOEXEC);
	if (of->fd < 0) {
		vw_err("cannot write %s: %s", o->out, strerror(errno));
		return EXIT_RUNTIME;
	}
	/* the file opened may not be the one checked (a race, a symlink swapped) */
	if (have_in && fstat(of->fd, &st) == 0 && same_file(&in, &st)) {
		close(of->fd);
		of->fd = -1;
		return refuse_input(o);
	}
	return 0;
}

FILE *out_begin(struct out_file *of)
{
	struct stat st;

	if (!of->path) {
		of->f = stdout;
		return of->f;
	}
	if (fstat(of->fd, &st) == 0 && S_ISREG(st.st_mode) && ftruncate(of->fd, 0)) {
		vw_err("cannot write %s: %s", of->path, strerror(errno));
		return NULL;
	}
	of->f = fdopen(of->fd, "w");
	if (!of->f) {
		vw_err("cannot write %s: %s", of->path, strerror(errno));
		return NULL;
	}
	of->fd = -1;		/* the stream owns it now */
	return of->f;
}

int out_end(struct out_file *of, bool ok)
{
	int ret = 0;

	if (of->f && (fflush(of->f) || ferror(of->f))) {
		if (ok)
			vw_err("writing the report to %s failed: %s",
			       of->path ? of->path : "standard output", strerror(errno));
		ok = false;
		ret = EXIT_RUNTIME;
	}
	if (of->f && of->f != stdout && fclose(of->f) && ok) {
		vw_err("writing the report to %s failed: %s", of->path, strerror(errno));
		ok = false;
		ret = EXIT_RUNTIME;
	}
	if (of->fd >= 0)
		close(of->fd);
	if (!ok && of->created)
		unlink(of->path);
	of->f = NULL;
	of->fd = -1;
	return ret;
}
