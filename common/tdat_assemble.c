/*
 * The end of a trace.dat writer: the tail after the head, each CPU's data
 * moved from the work directory to the output, the tables patched. The
 * recovery of a killed writer (tdat_recover.c) ends the same way.
 *
 * The move is logged so that a kill during it can be resumed: LOG_ASSEMBLE
 * fixes the layout (and holds the tail's bytes), then for each step of up
 * to COPY_BLOCK bytes of whole pages or chunks the data is written to the
 * output, LOG_COPIED notes it, and only then are its blocks freed in the
 * CPU's file. So the output needs no more room than the data it receives,
 * and every byte is at all times in the CPU's file or (logged) in the
 * output. On a full disk a step's blocks are freed before it is written
 * (the bytes are in memory); a kill in that instant loses that step.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tdat_priv.h"

/* Durable writers sync and note the copy every this many steps (4 MB). */
#define SYNC_STEPS	16

bool compressed(const struct tdat_writer *w)
{
	return w->opts.compress != TDAT_COMP_NONE;
}

/* Bytes of CPU @c in the output: its file, after the chunk count if compressed. */
static uint64_t data_size(const struct tdat_writer *w, const struct tdat_cpu *c)
{
	if (!compressed(w))
		return c->fsize;
	return c->nchunks ? 4 + c->fsize : 0;
}

/* Log records of the assembly, replayed by recovery. */
int apply_progress(struct tdat_writer *w, uint32_t type, uint32_t arg, const char *data,
		   size_t len)
{
	size_t need = sizeof(struct tdat_asm) + w->opts.ncpus * sizeof(struct tdat_cpu_layout);
	struct tdat_cpu_layout l;
	uint64_t copied;

	switch (type) {
	case LOG_HEAD:
		if (len != sizeof(w->head))
			break;
		memcpy(&w->head, data, len);
		w->head_written = true;
		return 0;
	case LOG_ASSEMBLE:
		if (len < need)
			break;
		memcpy(&w->as, data, sizeof(w->as));
		if (w->as.tail_len != len - need)
			break;
		for (unsigned int i = 0; i < w->opts.ncpus; i++) {
			memcpy(&l, data + sizeof(w->as) + i * sizeof(l), sizeof(l));
			w->cpu[i].out_off = l.out_off;
			w->cpu[i].fsize = l.fsize;
			w->cpu[i].nchunks = l.nchunks;
			w->cpu[i].out_size = data_size(w, &w->cpu[i]);
			w->cpu[i].copied = 0;
			w->cpu[i].chunks_copied = 0;
		}
		w->assembling = true;
		return blob_set(&w->tail, data + need, w->as.tail_len);
	case LOG_COPIED:
		if (arg >= w->opts.ncpus || len != 12)
			break;
		memcpy(&copied, data, 8);
		w->cpu[arg].copied = copied;
		memcpy(&w->cpu[arg].chunks_copied, data + 8, 4);
		return 0;
	case LOG_DONE:
		w->done = true;
		return 0;
	}
	errno = EPROTO;
	return -1;
}

/* ---- preparing ---- */

/* Where each CPU's data goes: page-aligned, one after the other, after the tail. */
static void plan_layout(struct tdat_writer *w)
{
	uint64_t ps = w->opts.page_size;
	uint64_t end = w->head.len + w->as.tail_len;

	w->as.data_start = align_up(end, ps);
	for (unsigned int i = 0; i < w->opts.ncpus; i++) {
		struct tdat_cpu *c = &w->cpu[i];

		c->out_off = align_up(end, ps);
		c->out_size = data_size(w, c);
		c->copied = 0;
		c->chunks_copied = 0;
		if (c->out_size)
			end = c->out_off + c->out_size;
	}
}

static int log_assemble(struct tdat_writer *w)
{
	struct tbuf tb = { 0 };
	struct tdat_cpu_layout l = { 0 };
	int ret;

	tb_add(&tb, &w->as, sizeof(w->as));
	for (unsigned int i = 0; i < w->opts.ncpus; i++) {
		l.out_off = w->cpu[i].out_off;
		l.fsize = w->cpu[i].fsize;
		l.nchunks = w->cpu[i].nchunks;
		tb_add(&tb, &l, sizeof(l));
	}
	tb_add(&tb, w->tail.p, w->tail.len);
	if (tb.nomem) {
		errno = ENOMEM;
		ret = -1;
	} else {
		ret = log_put(w, LOG_ASSEMBLE, 0, tb.p, tb.len);
	}
	tb_free(&tb);
	return ret;
}

/*
 * The pending pages become last chunks, the tail is built and the layout
 * fixed and logged. A full disk loses pending pages (*full) but not the file.
 */
static int prepare(struct tdat_writer *w, bool *full)
{
	struct tbuf tb = { 0 };

	for (unsigned int i = 0; i < w->opts.ncpus && compressed(w); i++) {
		struct tdat_cpu *c = &w->cpu[i];

		if (!c->npend)
			continue;
		if (c->fd < 0 && (c->fd = store_cpu_file(w, i, false)) < 0)
			return -1;
		if (flush_pend(w, c) < 0) {
			if (!is_enospc(errno))
				return -1;
			*full = true;
		}
	}
	if (build_tail(w, &tb, &w->as) < 0) {
		tb_free(&tb);
		return -1;
	}
	free(w->tail.p);
	w->tail.p = tb.p;
	w->tail.len = tb.len;
	plan_layout(w);
	w->assembling = true;
	/* the data the layout names must be on disk before the layout */
	if (w->durable && store_sync(w) < 0)
		return -1;
	/*
	 * Without this record (a disk full to the last byte) no step is logged
	 * either: recovery then finds the CPUs' files whole (blocks are only
	 * freed for a step that does not fit otherwise).
	 */
	if (log_assemble(w) < 0 || (w->durable && fdatasync(w->mfd) < 0))
		w->log_broken = true;
	return 0;
}

/* ---- copying ---- */

/*
 * The length of the whole pages or chunks at the start of @buf[0..n). A
 * chunk header that cannot be ours also ends it (blocks freed by a copy
 * that a kill interrupted read as zeros).
 */
static uint64_t whole_prefix(const struct tdat_writer *w, const char *buf, uint64_t n,
			     uint32_t *chunks)
{
	uint64_t off = 0, ps = w->opts.page_size;
	uint32_t h[2];

	*chunks = 0;
	if (!compressed(w))
		return n / ps * ps;
	while (off + 8 <= n) {
		memcpy(h, buf + off, 8);
		if (!h[0] || h[0] > w->zcap || !h[1] || h[1] % ps || h[1] > PAGES_PER_CHUNK * ps ||
		    off + 8 + h[0] > n)
			break;
		off += 8 + (uint64_t)h[0];
		(*chunks)++;
	}
	return off;
}

/*
 * Note the steps copied so far as done, then free their blocks in the CPU's
 * file. Durable: the copied bytes, then the note, reach the disk first, so
 * that not even a power loss leaves a freed block that is not in the output.
 */
static void steps_done(struct tdat_writer *w, unsigned int cpu)
{
	struct tdat_cpu *c = &w->cpu[cpu];
	char rec[12];
	uint64_t upto;

	memcpy(rec, &c->copied, 8);
	memcpy(rec + 8, &c->chunks_copied, 4);
	if (w->durable && fdatasync(w->fd) < 0)
		return;
	if (log_put(w, LOG_COPIED, cpu, rec, sizeof(rec)) < 0)
		return;	/* not logged: a resumed copy needs these bytes */
	if (w->durable && fdatasync(w->mfd) < 0)
		return;
	upto = c->copied / FS_BLOCK * FS_BLOCK;
	if (upto > c->punched)
		release_blocks(c->fd, c->punched, upto - c->punched);
	c->punched = upto;
}

/*
 * Write @n bytes of @buf at @pos; on a full disk, free them in the CPU's
 * file first and try again. Returns the bytes written (errno if short).
 */
static uint64_t put_step(struct tdat_writer *w, struct tdat_cpu *c, const char *buf,
			 uint64_t n, uint64_t pos)
{
	uint64_t done = pwrite_all(w->fd, buf, n, pos);

	if (done == n || !is_enospc(errno))
		return done;
	release_blocks(c->fd, c->copied, n);
	return done + pwrite_all(w->fd, buf + done, n - done, pos + done);
}

/* Copy CPU @cpu's data from where the copy stands; *cut when the disk is full. */
static int copy_cpu(struct tdat_writer *w, unsigned int cpu, char *buf, size_t cap, bool *cut)
{
	struct tdat_cpu *c = &w->cpu[cpu];
	uint64_t hdr = compressed(w) ? 4 : 0;
	uint64_t n, done, unsynced = 0;
	uint32_t k;

	if (*cut || !c->out_size) {
		c->out_size = 0;
		return 0;
	}
	while (c->copied < c->fsize) {
		n = c->fsize - c->copied < cap ? c->fsize - c->copied : cap;
		if (pread_all(c->fd, buf, n, c->copied) < 0)
			return -1;
		n = whole_prefix(w, buf, n, &k);
		if (!n)
			break;	/* the rest is lost (see whole_prefix()) */
		done = put_step(w, c, buf, n, c->out_off + hdr + c->copied);
		if (done != n) {
			if (!is_enospc(errno))
				return -1;
			c->copied += whole_prefix(w, buf, done, &k);
			c->chunks_copied += k;
			*cut = true;
			break;
		}
		c->copied += n;
		c->chunks_copied += k;
		unsynced += n;
		if (!w->durable || unsynced >= SYNC_STEPS * COPY_BLOCK || c->copied == c->fsize) {
			steps_done(w, cpu);
			unsynced = 0;
		}
	}
	if (hdr && !c->chunks_copied) {
		c->out_size = 0;	/* nothing fitted: the CPU stays empty */
		return 0;
	}
	if (hdr && pwrite_all(w->fd, &c->chunks_copied, 4, c->out_off) != 4)
		return -1;
	c->out_size = hdr + c->copied;
	return 0;
}

/* ---- finishing ---- */

static int patch(struct tdat_writer *w, uint64_t off, const void *v, size_t len)
{
	return pwrite_all(w->fd, v, len, off) == len ? 0 : -1;
}

/* Fill in the per-CPU offsets and sizes, and v7's flyrecord section size. */
static int patch_tables(struct tdat_writer *w, uint64_t end)
{
	size_t entry = w->opts.version == 6 ? 16 : 20;
	size_t skip = w->opts.version == 6 ? 0 : 4;
	uint64_t v[2], size;

	for (unsigned int i = 0; i < w->opts.ncpus; i++) {
		v[0] = w->cpu[i].out_off;
		v[1] = w->cpu[i].out_size;
		if (patch(w, w->as.cpu_table + i * entry + skip, v, 16))
			return -1;
	}
	if (w->opts.version == 6)
		return 0;
	size = end - (w->as.flyrec_size + 8);
	return patch(w, w->as.flyrec_size, &size, 8);
}

/* The end of the valid output. */
static uint64_t output_end(const struct tdat_writer *w)
{
	uint64_t end = w->head.len + w->as.tail_len;

	for (unsigned int i = 0; i < w->opts.ncpus; i++)
		if (w->cpu[i].out_size)
			end = w->cpu[i].out_off + w->cpu[i].out_size;
	return end;
}

/* Cut the file to its valid end and give back unused preallocated blocks. */
static int trim(struct tdat_writer *w, uint64_t end)
{
	if (ftruncate(w->fd, (off_t)end) < 0)
		return -1;
	if (w->reserved > end)
		release_blocks(w->fd, end, w->reserved - end);
	return 0;
}

static int write_tail(struct tdat_writer *w)
{
	if (pwrite_all(w->fd, w->tail.p, w->tail.len, w->head.len) != w->tail.len)
		return -1;
	if (w->opts.version == 7 && patch(w, w->head.opt_ptr, &w->as.opt_val, 8))
		return -1;
	return 0;
}

/*
 * Tail, data, tables: the whole output. *full is set when the disk filled
 * up and the output was cut (it is then still valid).
 */
int assemble(struct tdat_writer *w, bool *full)
{
	size_t cap = COPY_BLOCK;
	bool cut = false;
	uint64_t end;
	char *buf;
	int ret = -1;

	if (!w->assembling && prepare(w, full) < 0)
		return -1;
	if (write_tail(w) < 0)
		return -1;
	if (compressed(w) && cap < w->zcap + 8)
		cap = w->zcap + 8;
	if (cap < w->opts.page_size)
		cap = w->opts.page_size;
	buf = malloc(cap);
	if (!buf) {
		errno = ENOMEM;
		return -1;
	}
	for (unsigned int i = 0; i < w->opts.ncpus; i++)
		if (copy_cpu(w, i, buf, cap, &cut) < 0)
			goto out;
	end = output_end(w);
	if (trim(w, end) < 0 || patch_tables(w, end) < 0)
		goto out;
	if (w->durable && fdatasync(w->fd) < 0)
		goto out;
	log_put(w, LOG_DONE, 0, NULL, 0);
	*full |= cut;
	ret = 0;
out:
	free(buf);
	return ret;
}

/*
 * Close the output after assemble() returned @ret and free @w. A valid
 * output (@ret 0, or cut by a full disk) is kept and the work directory
 * removed. After an error, both are removed, or with @keep (recovery) both
 * are left for another try. Returns 0, or -1 with errno (ENOSPC if cut).
 */
int writer_finish(struct tdat_writer *w, int ret, bool full, bool keep)
{
	int saved = errno;

	if (w->fd >= 0 && close(w->fd) < 0 && !ret) {
		ret = -1;
		saved = errno;
	}
	w->fd = -1;
	if (!ret && full) {
		ret = -1;
		saved = ENOSPC;
	}
	if (ret && saved != ENOSPC && keep) {
		writer_free(w);
		errno = saved;
		return -1;
	}
	if (ret && saved != ENOSPC)
		unlink(w->path);
	store_remove(w);
	writer_free(w);
	errno = saved;
	return ret;
}

/* Give up a recovery, leaving the files as they are. */
int writer_giveup(struct tdat_writer *w)
{
	int saved = errno;

	writer_free(w);
	errno = saved;
	return -1;
}

int tdat_close(struct tdat_writer *w)
{
	bool full = false;
	int ret;

	if (!w) {
		errno = EINVAL;
		return -1;
	}
	ret = writer_begin(w);
	if (!ret)
		ret = assemble(w, &full);
	return writer_finish(w, ret, full, false);
}
