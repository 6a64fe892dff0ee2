/*
 * The writer's work directory, OUTPUT.vmwait-tmp/, which lets a recording
 * killed at any moment be finished later (tdat_recover()):
 *
 *   meta        a log: a header with the options, then records (tdat_priv.h
 *               LOG_*) appended as the metadata of the tail is set, when the
 *               head has been written to the output, and while the output is
 *               assembled. Each record carries a CRC; replay stops at the
 *               first damaged one. The file is locked (flock) while a writer
 *               uses it.
 *   cpuN        CPU N's trace data as it will be in the output: whole pages,
 *               or (compressed) chunks of 10 pages.
 *   cpuN.pend   compressed files only: the raw pages not yet in a chunk
 *               (at most 9).
 *
 * Plus the file helpers the writer shares.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "tdat_priv.h"

#define LOG_MAGIC	"VWRECLG1"
#define LOG_HDR_LEN	32
#define REC_HDR_LEN	16
#define LOG_MAX		(256u << 20)	/* far more than any metadata */

/* ---- file helpers ---- */

/* Write all of @len bytes at @off; returns the bytes written (errno set if short). */
size_t pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	size_t done = 0;
	ssize_t r;

	while (done < len) {
		r = pwrite(fd, (const char *)buf + done, len - done, (off_t)(off + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = ENOSPC;
			break;
		}
		done += (size_t)r;
	}
	return done;
}

int pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;
	ssize_t r;

	while (done < len) {
		r = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = EIO;	/* the file is shorter than it should be */
			return -1;
		}
		done += (size_t)r;
	}
	return 0;
}

/* Give a file's blocks back once they are copied (best effort). */
void release_blocks(int fd, uint64_t off, uint64_t len)
{
	int saved = errno;

	if (len)
		fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len);
	errno = saved;
}

bool is_enospc(int err)
{
	return err == ENOSPC || err == EDQUOT || err == EFBIG;
}

char *workdir_of(const char *path)
{
	char *s;

	if (asprintf(&s, "%s%s", path, TDAT_WORKDIR_SUFFIX) < 0)
		return NULL;
	return s;
}

/* fsync the directory holding @path (best effort). */
static void sync_parent(const char *path)
{
	char *copy = strdup(path);
	int fd;

	if (!copy)
		return;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(copy);
}

/* ---- the log ---- */

static uint32_t crc_of(const void *hdr, size_t hlen, const void *data, size_t len)
{
	uLong crc = crc32(0L, hdr, (uInt)hlen);

	if (len)
		crc = crc32(crc, data, (uInt)len);
	return (uint32_t)crc;
}

static void log_header(const struct tdat_writer *w, char hdr[LOG_HDR_LEN])
{
	uint32_t v[5] = { 1, (uint32_t)w->opts.version, (uint32_t)w->opts.compress,
			  w->opts.page_size, w->opts.ncpus };
	uint32_t crc;

	memcpy(hdr, LOG_MAGIC, 8);
	memcpy(hdr + 8, v, sizeof(v));
	crc = crc_of(hdr, 28, NULL, 0);
	memcpy(hdr + 28, &crc, 4);
}

/* Append one record; on failure the log is left as it was. */
int log_put(struct tdat_writer *w, uint32_t type, uint32_t arg, const void *data, size_t len)
{
	uint32_t hdr[4] = { type, arg, (uint32_t)len, 0 };
	struct tbuf tb = { 0 };
	int ret = 0;

	if (w->mfd < 0)
		return 0;	/* nothing to recover from: no log */
	if (w->log_broken) {
		errno = EIO;
		return -1;
	}
	if (len > LOG_MAX) {
		errno = EFBIG;
		return -1;
	}
	hdr[3] = crc_of(hdr, 12, data, len);
	tb_add(&tb, hdr, sizeof(hdr));
	tb_add(&tb, data, len);
	if (tb.nomem) {
		errno = ENOMEM;
		return -1;
	}
	if (pwrite_all(w->mfd, tb.p, tb.len, w->log_end) != tb.len) {
		int saved = errno;

		if (ftruncate(w->mfd, (off_t)w->log_end) < 0)
			saved = errno;
		errno = saved;
		ret = -1;
	} else {
		w->log_end += tb.len;
	}
	tb_free(&tb);
	return ret;
}

/*
 * Read the log back into @w. A damaged or cut record ends it (a write that
 * the kill interrupted); it is cut there so that new records follow the
 * last good one.
 */
int log_replay(struct tdat_writer *w)
{
	struct stat st;
	uint32_t hdr[4];
	uint64_t off = LOG_HDR_LEN;
	char *buf;
	int ret = 0;

	if (fstat(w->mfd, &st) < 0)
		return -1;
	if ((uint64_t)st.st_size > LOG_MAX) {
		errno = EPROTO;
		return -1;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		errno = ENOMEM;
		return -1;
	}
	if (pread_all(w->mfd, buf, (size_t)st.st_size, 0) < 0) {
		free(buf);
		return -1;
	}
	while (!ret && off + REC_HDR_LEN <= (uint64_t)st.st_size) {
		memcpy(hdr, buf + off, sizeof(hdr));
		if (hdr[2] > st.st_size - off - REC_HDR_LEN ||
		    crc_of(hdr, 12, buf + off + REC_HDR_LEN, hdr[2]) != hdr[3])
			break;
		ret = apply_record(w, hdr[0], hdr[1], buf + off + REC_HDR_LEN, hdr[2]);
		off += REC_HDR_LEN + hdr[2];
	}
	free(buf);
	w->log_end = off;
	if (!ret && (uint64_t)st.st_size > off && ftruncate(w->mfd, (off_t)off) < 0)
		ret = -1;
	return ret;
}

/* ---- the directory ---- */

/* Create the work directory; EEXIST if it exists. */
int store_create(struct tdat_writer *w)
{
	if (mkdir(w->wdir, 0700) < 0)
		return -1;
	w->wfd = open(w->wdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (w->wfd < 0) {
		int saved = errno;

		rmdir(w->wdir);
		errno = saved;
		return -1;
	}
	return 0;
}

/*
 * Create the log, locked, once the output exists (and was truncated): it
 * appears whole (written as meta.new, then renamed), so a kill before
 * leaves a directory without a log, which recovery takes as "never began".
 */
int store_log_create(struct tdat_writer *w)
{
	char hdr[LOG_HDR_LEN];

	w->mfd = openat(w->wfd, "meta.new", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (w->mfd < 0 || flock(w->mfd, LOCK_EX | LOCK_NB) < 0)
		return -1;
	log_header(w, hdr);
	if (pwrite_all(w->mfd, hdr, LOG_HDR_LEN, 0) != LOG_HDR_LEN)
		return -1;
	if (renameat(w->wfd, "meta.new", w->wfd, "meta") < 0)
		return -1;
	w->log_end = LOG_HDR_LEN;
	return 0;
}

/*
 * Open an existing work directory for recovery and read the options from
 * its log: ENOENT if there is none, ENODATA if it has no log (the writer was
 * killed while it began), EBUSY if a writer holds it, EPROTO if its log is
 * not one.
 */
int store_open(struct tdat_writer *w)
{
	char hdr[LOG_HDR_LEN], want[LOG_HDR_LEN];
	uint32_t v[5];

	w->wfd = open(w->wdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (w->wfd < 0)
		return -1;
	w->mfd = openat(w->wfd, "meta", O_RDWR | O_CLOEXEC);
	if (w->mfd < 0) {
		if (errno == ENOENT)
			errno = ENODATA;
		return -1;
	}
	if (flock(w->mfd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			errno = EBUSY;
		return -1;
	}
	if (pread_all(w->mfd, hdr, LOG_HDR_LEN, 0) < 0 || memcmp(hdr, LOG_MAGIC, 8)) {
		errno = EPROTO;
		return -1;
	}
	memcpy(v, hdr + 8, sizeof(v));
	w->opts.version = (int)v[1];
	w->opts.compress = (enum tdat_compress)v[2];
	w->opts.page_size = v[3];
	w->opts.ncpus = v[4];
	log_header(w, want);
	if (v[0] != 1 || memcmp(hdr, want, LOG_HDR_LEN)) {
		errno = EPROTO;
		return -1;
	}
	return 0;
}

/* An anonymous file in @dir: O_TMPFILE, else a name unlinked at once. */
static int tmpfile_in(const char *dir)
{
	char *name;
	int fd;

	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
		return fd;
	if (asprintf(&name, "%s/.vmwait-cpu.XXXXXX", dir) < 0) {
		errno = ENOMEM;
		return -1;
	}
	fd = mkostemp(name, O_CLOEXEC);
	if (fd >= 0)
		unlink(name);
	free(name);
	return fd;
}

/*
 * Open CPU @cpu's data file (or, with @pend, its pending pages): created in
 * the work directory, or anonymous in tdat_set_tmpdir()'s directory. When
 * recovering, an existing one is opened (ENOENT if there is none).
 */
int store_cpu_file(struct tdat_writer *w, unsigned int cpu, bool pend)
{
	char name[32];
	int flags = O_RDWR | O_CLOEXEC;

	if (w->tmpdir)
		return tmpfile_in(w->tmpdir);
	snprintf(name, sizeof(name), "cpu%u%s", cpu, pend ? ".pend" : "");
	if (!w->recovering)
		flags |= O_CREAT | O_EXCL;
	return openat(w->wfd, name, flags, 0600);
}

/* Make what was written so far durable (data files, log, directory entries). */
int store_sync(struct tdat_writer *w)
{
	int ret = 0;

	for (unsigned int i = 0; i < w->opts.ncpus; i++) {
		if (w->cpu[i].fd >= 0 && fdatasync(w->cpu[i].fd) < 0)
			ret = -1;
		if (w->cpu[i].pend_fd >= 0 && fdatasync(w->cpu[i].pend_fd) < 0)
			ret = -1;
	}
	if (w->fd >= 0 && fdatasync(w->fd) < 0)
		ret = -1;
	if (w->mfd >= 0 && fdatasync(w->mfd) < 0)
		ret = -1;
	if (w->wfd >= 0 && fsync(w->wfd) < 0)
		ret = -1;
	sync_parent(w->path);
	return ret;
}

/* Remove the work directory and everything of ours in it. */
void store_remove(struct tdat_writer *w)
{
	char name[32];

	if (w->wfd < 0)
		return;
	for (unsigned int i = 0; i < w->opts.ncpus; i++) {
		snprintf(name, sizeof(name), "cpu%u", i);
		unlinkat(w->wfd, name, 0);
		snprintf(name, sizeof(name), "cpu%u.pend", i);
		unlinkat(w->wfd, name, 0);
	}
	unlinkat(w->wfd, "meta", 0);
	unlinkat(w->wfd, "meta.new", 0);
	close(w->wfd);
	w->wfd = -1;
	rmdir(w->wdir);
	if (w->mfd >= 0)
		close(w->mfd);
	w->mfd = -1;
}
