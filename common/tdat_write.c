/*
 * Writer of trace-cmd trace.dat files (v6, and v7 with zstd/zlib/no
 * compression): creation, the head, pages, freeing. How a recording survives
 * a kill and how little room it needs is told in tdat.h; the metadata is set
 * by tdat_meta.c, the file's bytes are built by tdat_layout.c, kept by
 * tdat_store.c, put together by tdat_assemble.c, recovered by tdat_recover.c.
 *
 * The output holds the head (formats, kallsyms, printk formats: everything
 * the recording needs before its first page) from tdat_begin() on; the
 * pages go to per-CPU files of the work directory, already as they will be
 * in the output (compressed chunks for v7 with compression, compressed as
 * they are written); the tail (cmdlines, options, CPU table) and the data
 * follow the head at tdat_close().
 *
 * A full disk: the tail's space is preallocated in the output after the head;
 * a page that does not fit is dropped whole (tdat_write_page() fails with
 * ENOSPC); the final copy frees each block of a per-CPU file once it is in
 * the output. If the disk still fills up during that copy, the file is cut
 * after the last whole page (or chunk) and its CPU table patched: a valid,
 * shorter trace, and ENOSPC. This holds for every version and compression,
 * since the data is always at the end of the file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tdat_priv.h"

/* ---- creation ---- */

static bool opts_valid(const struct tdat_opts *o)
{
	if (o->version != 6 && o->version != 7)
		return false;
	if (o->compress != TDAT_COMP_NONE && o->compress != TDAT_COMP_ZSTD &&
	    o->compress != TDAT_COMP_ZLIB)
		return false;
	if (o->version == 6 && o->compress != TDAT_COMP_NONE)
		return false;
	if (o->page_size < MIN_PAGE_SIZE || o->page_size > MAX_PAGE_SIZE ||
	    (o->page_size & (o->page_size - 1)))
		return false;
	return o->ncpus > 0 && o->ncpus <= MAX_CPUS;
}

/* The writer without files; NULL with errno ENOMEM. */
static struct tdat_writer *writer_alloc(const char *path)
{
	struct tdat_writer *w = calloc(1, sizeof(*w));

	if (!w)
		goto nomem;
	w->fd = w->wfd = w->mfd = -1;
	w->path = strdup(path);
	w->wdir = workdir_of(path);
	w->clock = strdup("local");
	w->clock_text = strdup("[local]");
	if (!w->path || !w->wdir || !w->clock || !w->clock_text)
		goto nomem;
	return w;
nomem:
	if (w)
		writer_free(w);
	errno = ENOMEM;
	return NULL;
}

/* Per-CPU state and the compressor, once the options are known. */
static int writer_setup(struct tdat_writer *w)
{
	size_t chunk = (size_t)w->opts.page_size * PAGES_PER_CHUNK;

	w->cpu = calloc(w->opts.ncpus, sizeof(*w->cpu));
	if (!w->cpu)
		goto nomem;
	for (unsigned int i = 0; i < w->opts.ncpus; i++)
		w->cpu[i].fd = w->cpu[i].pend_fd = -1;
	if (w->opts.compress == TDAT_COMP_NONE)
		return 0;
	w->zcap = comp_bound(w, chunk);
	w->zbuf = malloc(w->zcap);
	if (!w->zbuf)
		goto nomem;
	if (w->opts.compress != TDAT_COMP_ZSTD)
		return 0;
	/* as trace-cmd: default level, no content size in the frames */
	w->zctx = ZSTD_createCCtx();
	if (!w->zctx ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(w->zctx, ZSTD_c_contentSizeFlag, 0)))
		goto nomem;
	return 0;
nomem:
	errno = ENOMEM;
	return -1;
}

static int open_output(struct tdat_writer *w)
{
	struct stat st;

	w->fd = open(w->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (w->fd < 0)
		return -1;
	if (fstat(w->fd, &st) < 0)
		return -1;
	if (!S_ISREG(st.st_mode)) {
		/* pages are patched in place: only a regular file will do */
		close(w->fd);
		w->fd = -1;
		errno = EINVAL;
		return -1;
	}
	return 0;
}

struct tdat_writer *tdat_create(const char *path, const struct tdat_opts *opts)
{
	struct tdat_writer *w;
	int saved;

	if (!path || !*path || !opts || !opts_valid(opts)) {
		errno = EINVAL;
		return NULL;
	}
	w = writer_alloc(path);
	if (!w)
		return NULL;
	w->opts = *opts;
	if (writer_setup(w) < 0) {
		saved = errno;
		writer_free(w);
		errno = saved;
		return NULL;
	}
	/* leftovers of an interrupted recording: EEXIST, the output untouched */
	if (store_create(w) < 0) {
		saved = errno;
		writer_free(w);
		errno = saved;
		return NULL;
	}
	if (open_output(w) < 0 || store_log_create(w) < 0) {
		saved = errno;
		tdat_abort(w);
		errno = saved;
		return NULL;
	}
	return w;
}

/* ---- the head ---- */

static void free_head_blobs(struct tdat_writer *w)
{
	for (unsigned int i = 0; i < w->nr_ftrace; i++)
		free(w->ftrace[i].p);
	for (unsigned int i = 0; i < w->nr_events; i++) {
		free(w->events[i].system);
		free(w->events[i].fmt.p);
	}
	free(w->ftrace);
	free(w->events);
	free(w->header_page.p);
	free(w->header_event.p);
	free(w->kallsyms.p);
	free(w->printk.p);
	w->ftrace = NULL;
	w->events = NULL;
	w->nr_ftrace = w->nr_events = 0;
	memset(&w->header_page, 0, sizeof(w->header_page));
	memset(&w->header_event, 0, sizeof(w->header_event));
	memset(&w->kallsyms, 0, sizeof(w->kallsyms));
	memset(&w->printk, 0, sizeof(w->printk));
}

/* Write the head to the output, reserve the tail, log it. */
int writer_begin(struct tdat_writer *w)
{
	struct tbuf tb = { 0 };
	int ret = -1;

	if (w->head_written)
		return 0;
	if (!w->header_page.len || !w->header_event.len) {
		errno = EINVAL;	/* tdat_set_headers() is required */
		return -1;
	}
	if (build_head(w, &tb))
		goto out;
	if (pwrite_all(w->fd, tb.p, tb.len, 0) != tb.len)
		goto out;
	w->head_written = true;
	if (reserve_tail(w, 0) < 0 || log_put(w, LOG_HEAD, 0, &w->head, sizeof(w->head)) < 0)
		goto out;
	if (w->durable && store_sync(w) < 0)
		goto out;
	free_head_blobs(w);
	ret = 0;
out:
	if (ret)
		w->head_written = false;
	tb_free(&tb);
	return ret;
}

int tdat_begin(struct tdat_writer *w)
{
	if (!w) {
		errno = EINVAL;
		return -1;
	}
	return writer_begin(w);
}

int tdat_set_durable(struct tdat_writer *w, bool durable)
{
	if (!w) {
		errno = EINVAL;
		return -1;
	}
	w->durable = durable;
	return 0;
}

int tdat_sync(struct tdat_writer *w)
{
	if (!w) {
		errno = EINVAL;
		return -1;
	}
	return store_sync(w);
}

/* ---- pages ---- */

/* Uncompressed: the page goes to the end of the CPU's file. */
static int put_raw(struct tdat_writer *w, struct tdat_cpu *c, const void *page)
{
	size_t n = pwrite_all(c->fd, page, w->opts.page_size, c->fsize);

	if (n != w->opts.page_size) {
		int saved = errno;

		/* keep whole pages only */
		if (n && ftruncate(c->fd, (off_t)c->fsize) < 0)
			saved = errno;
		errno = saved;
		return -1;
	}
	c->fsize += n;
	c->bytes += n;
	return 0;
}

/* Compress @len bytes of pages into a chunk at the end of the CPU's file. */
static int append_chunk(struct tdat_writer *w, struct tdat_cpu *c, const char *data, size_t len)
{
	uint32_t hdr[2];
	long zlen;
	int saved;

	zlen = compress_block(w, data, len, w->zbuf, w->zcap);
	if (zlen < 0)
		return -1;
	hdr[0] = (uint32_t)zlen;
	hdr[1] = (uint32_t)len;
	if (pwrite_all(c->fd, hdr, 8, c->fsize) == 8 &&
	    pwrite_all(c->fd, w->zbuf, (size_t)zlen, c->fsize + 8) == (size_t)zlen) {
		c->fsize += 8 + (uint64_t)zlen;
		c->nchunks++;
		return 0;
	}
	saved = errno;
	if (ftruncate(c->fd, (off_t)c->fsize) < 0)
		saved = errno;
	errno = saved;
	return -1;
}

/* Room for a chunk's pages in c->pend. */
static int pend_alloc(struct tdat_writer *w, struct tdat_cpu *c, unsigned int pages)
{
	char *p;

	if (c->pend_cap >= pages)
		return 0;
	p = realloc(c->pend, (size_t)pages * w->opts.page_size);
	if (!p) {
		errno = ENOMEM;
		return -1;
	}
	c->pend = p;
	c->pend_cap = pages;
	return 0;
}

/*
 * Compressed: nine pages wait in cpuN.pend (on disk, so that a kill loses
 * none); the tenth makes them a chunk, and cpuN.pend is emptied.
 */
static int put_compressed(struct tdat_writer *w, struct tdat_cpu *c, unsigned int cpu,
			  const void *page)
{
	size_t ps = w->opts.page_size;
	size_t n;

	if (pend_alloc(w, c, PAGES_PER_CHUNK) < 0)
		return -1;
	if (c->pend_fd < 0 && (c->pend_fd = store_cpu_file(w, cpu, true)) < 0)
		return -1;
	memcpy(c->pend + c->npend * ps, page, ps);
	if (c->npend + 1 < PAGES_PER_CHUNK) {
		n = pwrite_all(c->pend_fd, page, ps, c->npend * ps);
		if (n != ps) {
			int saved = errno;

			if (n && ftruncate(c->pend_fd, (off_t)(c->npend * ps)) < 0)
				saved = errno;
			errno = saved;
			return -1;
		}
		c->npend++;
	} else {
		if (append_chunk(w, c, c->pend, (c->npend + 1) * ps) < 0)
			return -1;
		/* a kill before this leaves the pages twice; recovery sees it */
		if (ftruncate(c->pend_fd, 0) < 0)
			return -1;
		c->npend = 0;
	}
	c->bytes += ps;
	return 0;
}

/*
 * The pending pages of @c as a last (short) chunk. On a full disk the
 * pending file is freed first (its pages are in memory) and it is tried
 * again. Returns -1 with errno (ENOSPC: the pages are lost).
 */
int flush_pend(struct tdat_writer *w, struct tdat_cpu *c)
{
	size_t ps = w->opts.page_size;
	unsigned int n, done = 0;

	while (done < c->npend) {
		n = c->npend - done < PAGES_PER_CHUNK ? c->npend - done : PAGES_PER_CHUNK;
		if (append_chunk(w, c, c->pend + done * ps, n * ps) < 0) {
			if (!is_enospc(errno) || c->pend_fd < 0 || ftruncate(c->pend_fd, 0) < 0)
				return -1;
			if (append_chunk(w, c, c->pend + done * ps, n * ps) < 0)
				return -1;
		}
		done += n;
	}
	c->npend = 0;
	if (c->pend_fd >= 0 && ftruncate(c->pend_fd, 0) < 0)
		return -1;
	return 0;
}

int tdat_write_page(struct tdat_writer *w, unsigned int cpu, const void *page)
{
	struct tdat_cpu *c;

	if (!w || !page || cpu >= w->opts.ncpus) {
		errno = EINVAL;
		return -1;
	}
	if (writer_begin(w) < 0)
		return -1;
	c = &w->cpu[cpu];
	if (c->fd < 0 && (c->fd = store_cpu_file(w, cpu, false)) < 0)
		return -1;
	if (w->opts.compress == TDAT_COMP_NONE)
		return put_raw(w, c, page);
	return put_compressed(w, c, cpu, page);
}

uint64_t tdat_cpu_bytes(struct tdat_writer *w, unsigned int cpu)
{
	if (!w || cpu >= w->opts.ncpus) {
		errno = EINVAL;
		return 0;
	}
	return w->cpu[cpu].bytes;
}

/* ---- leftovers and freeing ---- */

enum tdat_leftover tdat_leftover(const char *path)
{
	enum tdat_leftover ret = TDAT_LEFT_NONE;
	char *wdir = path ? workdir_of(path) : NULL;
	char *meta = NULL;
	struct stat st;
	int fd;

	if (!wdir || lstat(wdir, &st) < 0)
		goto out;
	ret = TDAT_LEFT_INTERRUPTED;
	if (asprintf(&meta, "%s/meta", wdir) < 0) {
		meta = NULL;
		goto out;
	}
	fd = open(meta, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		goto out;
	if (flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK)
		ret = TDAT_LEFT_BUSY;
	close(fd);
out:
	free(meta);
	free(wdir);
	return ret;
}

void writer_free(struct tdat_writer *w)
{
	for (unsigned int i = 0; w->cpu && i < w->opts.ncpus; i++) {
		if (w->cpu[i].fd >= 0)
			close(w->cpu[i].fd);
		if (w->cpu[i].pend_fd >= 0)
			close(w->cpu[i].pend_fd);
		free(w->cpu[i].stats);
		free(w->cpu[i].pend);
	}
	free_head_blobs(w);
	for (unsigned int i = 0; i < w->nr_guests; i++)
		free(w->guests[i].p);
	for (unsigned int i = 0; i < w->nr_raw; i++)
		free(w->raw[i].p);
	free(w->raw);
	free(w->raw_id);
	if (w->fd >= 0)
		close(w->fd);
	if (w->wfd >= 0)
		close(w->wfd);
	if (w->mfd >= 0)
		close(w->mfd);
	free(w->guests);
	free(w->cpu);
	free(w->cmdlines.p);
	free(w->tail.p);
	free(w->uname);
	free(w->clock);
	free(w->clock_text);
	free(w->tmpdir);
	free(w->wdir);
	free(w->path);
	free(w->zbuf);
	ZSTD_freeCCtx(w->zctx);
	free(w);
}

void tdat_abort(struct tdat_writer *w)
{
	if (!w)
		return;
	if (w->fd >= 0 && w->path)
		unlink(w->path);
	store_remove(w);
	writer_free(w);
}

/*
 * A writer killed while it began left a work directory without a log: the
 * output, if it was truncated already, is empty; an older one is kept.
 */
static void forget_unborn(struct tdat_writer *w)
{
	struct stat st;

	if (stat(w->path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0)
		unlink(w->path);
	store_remove(w);
	errno = ENODATA;
}

/* For recovery: a writer for @path with the options of its work directory. */
struct tdat_writer *writer_reopen(const char *path)
{
	struct tdat_writer *w = writer_alloc(path);
	int saved;

	if (!w)
		return NULL;
	w->recovering = true;
	w->durable = true;
	if (store_open(w) < 0) {
		if (errno == ENODATA)
			forget_unborn(w);
		goto fail;
	}
	if (!opts_valid(&w->opts)) {
		errno = EPROTO;
		goto fail;
	}
	if (writer_setup(w) < 0 || log_replay(w) < 0)
		goto fail;
	return w;
fail:
	saved = errno;
	writer_free(w);
	errno = saved;
	return NULL;
}
