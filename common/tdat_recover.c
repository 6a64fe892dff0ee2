/*
 * Recovery of a trace.dat writer that was killed (tdat_recover()): replay the
 * work directory's log, keep every whole page or chunk of each CPU's files,
 * then end as tdat_close() does, or resume the final copy if the kill came
 * during it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tdat_priv.h"

/* Uncompressed: whole pages only. */
static int recover_raw(struct tdat_writer *w, struct tdat_cpu *c)
{
	uint64_t ps = w->opts.page_size;
	struct stat st;

	if (fstat(c->fd, &st) < 0)
		return -1;
	c->fsize = (uint64_t)st.st_size / ps * ps;
	c->dropped = (uint64_t)st.st_size - c->fsize;
	c->bytes = c->fsize;
	if (c->dropped && ftruncate(c->fd, (off_t)c->fsize) < 0)
		return -1;
	return 0;
}

/* Scan the chunks of @c's file; every whole one that decompresses is kept. */
static int scan_chunks(struct tdat_writer *w, struct tdat_cpu *c, char *z, char *raw,
		       char *last, uint64_t *last_len)
{
	uint64_t ps = w->opts.page_size, off = 0;
	uint32_t hdr[2];
	struct stat st;

	if (fstat(c->fd, &st) < 0)
		return -1;
	while (off + 8 <= (uint64_t)st.st_size) {
		if (pread_all(c->fd, hdr, 8, off) < 0)
			return -1;
		if (!hdr[0] || hdr[0] > w->zcap || !hdr[1] || hdr[1] % ps ||
		    hdr[1] > PAGES_PER_CHUNK * ps || off + 8 + hdr[0] > (uint64_t)st.st_size)
			break;
		if (pread_all(c->fd, z, hdr[0], off + 8) < 0)
			return -1;
		if (decompress_block(w->opts.compress, z, hdr[0], raw, hdr[1]) < 0)
			break;
		off += 8 + (uint64_t)hdr[0];
		c->nchunks++;
		c->bytes += hdr[1];
		memcpy(last, raw, hdr[1]);
		*last_len = hdr[1];
	}
	c->fsize = off;
	c->dropped = (uint64_t)st.st_size - off;
	if (c->dropped && ftruncate(c->fd, (off_t)off) < 0)
		return -1;
	return 0;
}

/*
 * The pending pages of @c. If a kill came between a chunk's write and the
 * emptying of cpuN.pend, its pages are also the first of the last chunk:
 * they are not taken twice.
 */
static int recover_pend(struct tdat_writer *w, struct tdat_cpu *c, unsigned int cpu,
			const char *last, uint64_t last_len)
{
	uint64_t ps = w->opts.page_size, k;
	struct stat st;

	c->pend_fd = store_cpu_file(w, cpu, true);
	if (c->pend_fd < 0)
		return errno == ENOENT ? 0 : -1;
	if (fstat(c->pend_fd, &st) < 0)
		return -1;
	k = (uint64_t)st.st_size / ps;
	if (k > PAGES_PER_CHUNK - 1)
		k = PAGES_PER_CHUNK - 1;	/* never more: damaged */
	c->dropped += (uint64_t)st.st_size - k * ps;
	c->pend = malloc(PAGES_PER_CHUNK * ps);
	if (!c->pend) {
		errno = ENOMEM;
		return -1;
	}
	c->pend_cap = PAGES_PER_CHUNK;
	if (k && pread_all(c->pend_fd, c->pend, k * ps, 0) < 0)
		return -1;
	if (k && last_len >= k * ps && !memcmp(last, c->pend, k * ps))
		k = 0;
	if (ftruncate(c->pend_fd, (off_t)(k * ps)) < 0)
		return -1;
	c->npend = (unsigned int)k;
	c->bytes += k * ps;
	return 0;
}

static int recover_chunks(struct tdat_writer *w, struct tdat_cpu *c, unsigned int cpu)
{
	size_t chunk = (size_t)w->opts.page_size * PAGES_PER_CHUNK;
	char *z = malloc(w->zcap), *raw = malloc(chunk), *last = malloc(chunk);
	uint64_t last_len = 0;
	int ret = -1;

	if (!z || !raw || !last) {
		errno = ENOMEM;
		goto out;
	}
	if (scan_chunks(w, c, z, raw, last, &last_len) < 0)
		goto out;
	ret = recover_pend(w, c, cpu, last, last_len);
out:
	free(z);
	free(raw);
	free(last);
	return ret;
}

/* Every CPU's file, cut after its last whole page or chunk. */
static int recover_cpus(struct tdat_writer *w, struct tdat_recovery *info)
{
	for (unsigned int i = 0; i < w->opts.ncpus; i++) {
		struct tdat_cpu *c = &w->cpu[i];
		int ret;

		c->fd = store_cpu_file(w, i, false);
		if (c->fd < 0) {
			if (errno != ENOENT)
				return -1;
			continue;	/* no page for this CPU */
		}
		ret = compressed(w) ? recover_chunks(w, c, i) : recover_raw(w, c);
		if (ret < 0)
			return -1;
		info->pages[i] = c->bytes / w->opts.page_size;
		info->dropped[i] = c->dropped;
	}
	return 0;
}

/* The kill came while the data was moved: every file with data left must be there. */
static int reopen_cpus(struct tdat_writer *w)
{
	for (unsigned int i = 0; i < w->opts.ncpus; i++) {
		struct tdat_cpu *c = &w->cpu[i];

		if (c->copied >= c->fsize)
			continue;
		c->fd = store_cpu_file(w, i, false);
		if (c->fd < 0) {
			errno = errno == ENOENT ? EPROTO : errno;
			return -1;
		}
	}
	return 0;
}

/* Open the output and check that it starts with the head that was logged. */
static int reopen_output(struct tdat_writer *w)
{
	char buf[64];
	struct stat st;

	w->fd = open(w->path, O_RDWR | O_CLOEXEC);
	if (w->fd < 0) {
		errno = errno == ENOENT ? EPROTO : errno;
		return -1;
	}
	if (fstat(w->fd, &st) < 0)
		return -1;
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size < w->head.len ||
	    pread_all(w->fd, buf, sizeof(buf) < w->head.len ? sizeof(buf) : w->head.len, 0) < 0 ||
	    !tdat_head_valid(w, buf, sizeof(buf) < w->head.len ? sizeof(buf) : w->head.len)) {
		errno = EPROTO;
		return -1;
	}
	return 0;
}

int tdat_recover(const char *path, struct tdat_recovery *info)
{
	struct tdat_writer *w;
	bool full = false;
	int ret;

	if (!path || !*path || !info) {
		errno = EINVAL;
		return -1;
	}
	memset(info, 0, sizeof(*info));
	w = writer_reopen(path);
	if (!w)
		return -1;
	info->ncpus = w->opts.ncpus;
	info->pages = calloc(w->opts.ncpus, sizeof(*info->pages));
	info->dropped = calloc(w->opts.ncpus, sizeof(*info->dropped));
	if (!info->pages || !info->dropped) {
		errno = ENOMEM;
		return writer_giveup(w);
	}
	if (w->done || !w->head_written) {
		/* complete already, or nothing was ever written: only leftovers */
		info->complete = w->done;
		if (!w->done)
			unlink(path);
		store_remove(w);
		writer_free(w);
		if (info->complete)
			return 0;
		errno = ENODATA;
		return -1;
	}
	if (reopen_output(w) < 0)
		return writer_giveup(w);
	/* what the killed writer preallocated after the tail is given back at the end */
	w->reserved = align_up(w->head.len + tail_estimate(w) + (1u << 20), FS_BLOCK);
	info->resumed = w->assembling;
	if (w->assembling) {
		free(info->pages);
		info->pages = NULL;
		ret = reopen_cpus(w);
	} else {
		ret = recover_cpus(w, info);
	}
	if (ret < 0)
		return writer_giveup(w);
	ret = assemble(w, &full);
	return writer_finish(w, ret, full, true);
}

void tdat_recovery_free(struct tdat_recovery *info)
{
	if (!info)
		return;
	free(info->pages);
	free(info->dropped);
	info->pages = info->dropped = NULL;
}
