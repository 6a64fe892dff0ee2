/* Unit tests of the trace.dat writer: synthetic pages written, read back with libtracecmd. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <trace-cmd.h>

#include "../unit/unit.h"
#include "tdat.h"
#include "../unit/ftrace_text.h"

/* Exported by libtracecmd, declared only in its private header. */
int tracecmd_cpus(struct tracecmd_input *handle);

#define PAGE		4096u
#define PAGE_HDR	16u	/* u64 timestamp, u64 commit */
#define EV_SIZE		32u	/* 4-byte event header + 28-byte payload */
#define EV_PER_PAGE	100u
#define EV_ID		900
#define TS_BASE		1000000000ULL
#define TS_STEP		1000ULL
#define MAX_TEST_CPUS	8

static const char header_page[] = FT_HEADER_PAGE;
static const char header_event[] = FT_HEADER_EVENT;
static const char tick_format[] = FT_TICK_FORMAT;

static const char *tmp;

/* Timestamp of event @seq of @cpu: CPUs interleave in time. */
static uint64_t ev_ts(unsigned int cpu, uint64_t seq)
{
	return TS_BASE + seq * TS_STEP + cpu;
}

/* Incompressible but reproducible bytes (splitmix64), so compression varies. */
static uint64_t noise(unsigned int cpu, uint64_t seq)
{
	uint64_t z = seq * 0x9e3779b97f4a7c15ULL + cpu + 1;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Ring-buffer page @n of @cpu: EV_PER_PAGE "tick" events with consecutive seq. */
static void make_page(unsigned char *page, unsigned int cpu, uint64_t n)
{
	uint64_t seq = n * EV_PER_PAGE, ts = ev_ts(cpu, seq);
	uint64_t commit = EV_PER_PAGE * EV_SIZE;
	unsigned char *p = page + PAGE_HDR;

	memset(page, 0, PAGE);
	memcpy(page, &ts, 8);
	memcpy(page + 8, &commit, 8);
	for (unsigned int i = 0; i < EV_PER_PAGE; i++, seq++, p += EV_SIZE) {
		uint32_t hdr = 7 | (uint32_t)((i ? TS_STEP : 0) << 5);	/* type_len 7: 28 bytes */
		uint64_t nz = noise(cpu, seq);
		uint16_t type = EV_ID;
		int32_t pid = 1000 + (int32_t)cpu;
		uint32_t c = cpu;

		memcpy(p, &hdr, 4);
		memcpy(p + 4, &type, 2);
		memcpy(p + 8, &pid, 4);
		memcpy(p + 12, &seq, 8);
		memcpy(p + 20, &c, 4);
		memcpy(p + 24, &nz, 8);
	}
}

struct expect {
	unsigned int ncpus;
	uint64_t pages[MAX_TEST_CPUS];
};

struct readback {
	uint64_t count[MAX_TEST_CPUS];
	uint64_t next_seq[MAX_TEST_CPUS];
	uint64_t bad;		/* events whose fields or time are not the expected ones */
	uint64_t total;
	uint64_t last_ts;
	bool order_bad;
};

static int on_record(struct tracecmd_input *h, struct tep_record *rec, int cpu, void *data)
{
	struct readback *rb = data;
	struct tep_handle *tep = tracecmd_get_tep(h);
	struct tep_event *ev = tep_find_event_by_record(tep, rec);
	unsigned long long seq = 0, fcpu = 0, nz = 0;

	(void)cpu;
	rb->total++;
	if (rec->ts < rb->last_ts)
		rb->order_bad = true;
	rb->last_ts = rec->ts;
	if (!ev || strcmp(ev->name, "tick") || rec->cpu < 0 || rec->cpu >= MAX_TEST_CPUS) {
		rb->bad++;
		return 0;
	}
	tep_get_field_val(NULL, ev, "seq", rec, &seq, 0);
	tep_get_field_val(NULL, ev, "cpu", rec, &fcpu, 0);
	tep_get_field_val(NULL, ev, "noise", rec, &nz, 0);
	if (seq != rb->next_seq[rec->cpu] || fcpu != (unsigned int)rec->cpu ||
	    nz != noise(rec->cpu, seq) ||
	    rec->ts != ev_ts(rec->cpu, seq) || tep_data_pid(tep, rec) != 1000 + rec->cpu)
		rb->bad++;
	rb->next_seq[rec->cpu] = seq + 1;
	rb->count[rec->cpu]++;
	return 0;
}

/* Read @path with libtracecmd; -1 if it cannot be opened. */
static int read_back(const char *path, struct readback *rb, int *cpus)
{
	struct tracecmd_input *h;

	memset(rb, 0, sizeof(*rb));
	h = tracecmd_open(path, TRACECMD_FL_LOAD_NO_PLUGINS);
	if (!h)
		return -1;
	*cpus = tracecmd_cpus(h);
	tracecmd_iterate_events(h, NULL, 0, on_record, rb);
	tracecmd_close(h);
	return 0;
}

static void set_meta(struct tdat_writer *w)
{
	static const char cmdlines[] = "1000 tick-0\n1001 tick-1\n1002 tick-2\n";

	tdat_set_headers(w, header_page, strlen(header_page), header_event, strlen(header_event));
	tdat_add_event_format(w, "vmwait_test", tick_format, strlen(tick_format));
	tdat_set_cmdlines(w, cmdlines, strlen(cmdlines));
	tdat_set_uname(w, "Linux testhost 6.1.0 x86_64");
	tdat_set_clock(w, "[local] global counter");
}

/* Write the pages of @e round-robin over the CPUs, as the recorder does. */
static int write_pages(struct tdat_writer *w, const struct expect *e)
{
	static unsigned char page[PAGE];
	uint64_t n, max = 0;

	for (unsigned int c = 0; c < e->ncpus; c++)
		max = e->pages[c] > max ? e->pages[c] : max;
	for (n = 0; n < max; n++) {
		for (unsigned int c = 0; c < e->ncpus; c++) {
			if (n >= e->pages[c])
				continue;
			make_page(page, c, n);
			if (tdat_write_page(w, c, page))
				return -1;
		}
	}
	return 0;
}

static const char *mode_name(int version, enum tdat_compress c)
{
	if (version == 6)
		return "v6";
	return c == TDAT_COMP_ZSTD ? "v7-zstd" : c == TDAT_COMP_ZLIB ? "v7-zlib" : "v7-none";
}

/* ---- a mini parser of our own output, to check the v7 structure exactly ---- */

struct layout {
	int nsections;
	uint16_t ids[16];
	bool ends_at_eof;
	uint64_t cpu_off[MAX_TEST_CPUS], cpu_size[MAX_TEST_CPUS];
	uint32_t ncpus_opt;
	uint32_t cpucount;
	char version[64];
};

static int rd(int fd, void *buf, size_t len, uint64_t off)
{
	return pread(fd, buf, len, (off_t)off) == (ssize_t)len ? 0 : -1;
}

static void parse_options(int fd, uint64_t off, uint64_t end, struct layout *l)
{
	uint16_t id;
	uint32_t size;
	char buf[512];

	while (off + 6 <= end && !rd(fd, &id, 2, off) && !rd(fd, &size, 4, off + 2)) {
		off += 6;
		if (id == 8 && size == 4)
			rd(fd, &l->cpucount, 4, off);
		if (id == 9 && size < sizeof(l->version))
			rd(fd, l->version, size, off);
		if (id == 3 && size < sizeof(buf) && !rd(fd, buf, size, off)) {
			size_t p = 8 + 1 + strlen(buf + 9) + 1 + 4;

			memcpy(&l->ncpus_opt, buf + p, 4);
			for (uint32_t i = 0; i < l->ncpus_opt && i < MAX_TEST_CPUS; i++) {
				memcpy(&l->cpu_off[i], buf + p + 4 + i * 20 + 4, 8);
				memcpy(&l->cpu_size[i], buf + p + 4 + i * 20 + 12, 8);
			}
		}
		off += size;
	}
}

/* Walk the sections from after the header to the end, as libtracecmd does. */
static int parse_v7(const char *path, struct layout *l)
{
	int fd = open(path, O_RDONLY);
	uint64_t off, size, fsize;
	char hdr[64];
	uint16_t id;

	memset(l, 0, sizeof(*l));
	if (fd < 0)
		return -1;
	fsize = (uint64_t)lseek(fd, 0, SEEK_END);
	rd(fd, hdr, sizeof(hdr), 0);
	off = 10 + 2 + 1 + 1 + 4;			/* magic, "7", endian, long, page */
	off += strlen(hdr + off) + 1;			/* compression name */
	off += strlen(hdr + off) + 1;			/* and version */
	off += 8;					/* first options offset */
	while (off + 16 <= fsize && l->nsections < 16) {
		rd(fd, &id, 2, off);
		rd(fd, &size, 8, off + 8);
		l->ids[l->nsections++] = id;
		if (id == 0)
			parse_options(fd, off + 16, off + 16 + size, l);
		off += 16 + size;
	}
	l->ends_at_eof = off == fsize;
	close(fd);
	return 0;
}

/* Raw sizes of the chunks of the compressed data at @off. */
static int chunk_sizes(const char *path, uint64_t off, uint32_t *sizes, uint32_t max)
{
	int fd = open(path, O_RDONLY);
	uint32_t count = 0, hdr[2];

	if (fd < 0)
		return -1;
	rd(fd, &count, 4, off);
	off += 4;
	for (uint32_t i = 0; i < count && i < max; i++) {
		rd(fd, hdr, 8, off);
		sizes[i] = hdr[1];
		off += 8 + hdr[0];
	}
	close(fd);
	return (int)count;
}

/* ---- test cases ---- */

static void check_readback(const char *name, const char *path, const struct expect *e)
{
	struct readback rb;
	uint64_t want = 0;
	char what[160];
	int cpus = -1;

	snprintf(what, sizeof(what), "%s: libtracecmd opens it", name);
	CHECK(what, read_back(path, &rb, &cpus) == 0);
	snprintf(what, sizeof(what), "%s: cpus", name);
	CHECK_U64(what, e->ncpus, cpus);
	for (unsigned int c = 0; c < e->ncpus; c++) {
		snprintf(what, sizeof(what), "%s: cpu%u events", name, c);
		CHECK_U64(what, e->pages[c] * EV_PER_PAGE, rb.count[c]);
		want += e->pages[c] * EV_PER_PAGE;
	}
	snprintf(what, sizeof(what), "%s: total events", name);
	CHECK_U64(what, want, rb.total);
	snprintf(what, sizeof(what), "%s: every seq, cpu, noise, pid and timestamp as written", name);
	CHECK_U64(what, 0, rb.bad);
	snprintf(what, sizeof(what), "%s: events merged in time order", name);
	CHECK(what, !rb.order_bad);
}

/* v7 layout: contiguous sections in our order, BUFFER option, 10-page chunks. */
static void check_layout(const char *name, const char *path, const struct expect *e,
			 enum tdat_compress comp)
{
	static const uint16_t ids[] = { 15, 16, 17, 18, 19, 20, 21, 0, 3 };
	struct layout l;
	char what[160];
	uint32_t sizes[4096];
	int n;

	parse_v7(path, &l);
	snprintf(what, sizeof(what), "%s: sections strings..options,flyrecord", name);
	CHECK(what, l.nsections == 9 && !memcmp(l.ids, ids, sizeof(ids)));
	snprintf(what, sizeof(what), "%s: sections end exactly at EOF", name);
	CHECK(what, l.ends_at_eof);
	snprintf(what, sizeof(what), "%s: CPUCOUNT option", name);
	CHECK_U64(what, e->ncpus, l.cpucount);
	snprintf(what, sizeof(what), "%s: VERSION option", name);
	CHECK_STR(what, "vmwait " VMWAIT_VERSION, l.version);
	snprintf(what, sizeof(what), "%s: BUFFER option lists every CPU", name);
	CHECK_U64(what, e->ncpus, l.ncpus_opt);
	for (unsigned int c = 0; c < e->ncpus; c++) {
		snprintf(what, sizeof(what), "%s: cpu%u data page-aligned", name, c);
		CHECK_U64(what, 0, l.cpu_off[c] % PAGE);
		if (comp == TDAT_COMP_NONE) {
			snprintf(what, sizeof(what), "%s: cpu%u data size", name, c);
			CHECK_U64(what, e->pages[c] * PAGE, l.cpu_size[c]);
			continue;
		}
		if (!e->pages[c]) {
			snprintf(what, sizeof(what), "%s: cpu%u empty", name, c);
			CHECK_U64(what, 0, l.cpu_size[c]);
			continue;
		}
		n = chunk_sizes(path, l.cpu_off[c], sizes, 4096);
		snprintf(what, sizeof(what), "%s: cpu%u chunks of 10 pages", name, c);
		CHECK_U64(what, (e->pages[c] + 9) / 10, n);
		bool ok = n > 0;
		for (int i = 0; i < n && i < 4096; i++) {
			uint64_t want = i + 1 < n ? 10 * PAGE : (e->pages[c] - 10 * (uint64_t)i) * PAGE;

			ok &= sizes[i] == want;
		}
		snprintf(what, sizeof(what), "%s: cpu%u chunk raw sizes", name, c);
		CHECK(what, ok);
	}
}

/* Write @e in one version/compression, then check it reads back exactly. */
static void round_trip(const char *label, int version, enum tdat_compress comp,
		       const struct expect *e)
{
	struct tdat_opts o = { version, comp, PAGE, e->ncpus };
	struct tdat_writer *w;
	char path[512], name[160], what[200];
	int ret;

	snprintf(name, sizeof(name), "%s %s", label, mode_name(version, comp));
	snprintf(path, sizeof(path), "%s/%s-%s.dat", tmp, label, mode_name(version, comp));
	w = tdat_create(path, &o);
	snprintf(what, sizeof(what), "%s: create", name);
	CHECK(what, w != NULL);
	if (!w)
		return;
	set_meta(w);
	ret = write_pages(w, e);
	snprintf(what, sizeof(what), "%s: write pages", name);
	CHECK(what, ret == 0);
	for (unsigned int c = 0; c < e->ncpus; c++) {
		snprintf(what, sizeof(what), "%s: tdat_cpu_bytes cpu%u", name, c);
		CHECK_U64(what, e->pages[c] * PAGE, tdat_cpu_bytes(w, c));
	}
	snprintf(what, sizeof(what), "%s: close", name);
	CHECK(what, tdat_close(w) == 0);
	check_readback(name, path, e);
	if (version == 7)
		check_layout(name, path, e, comp);
	unlink(path);
}

static void test_round_trips(void)
{
	/* CPU0 empty, CPU1 after it with 2.5 chunks, CPU2 one page, CPU3 empty */
	static const struct expect edge = { 4, { 0, 25, 1, 0 } };
	static const struct expect many = { 2, { 3001, 2999 } };
	static const struct { int v; enum tdat_compress c; } modes[] = {
		{ 6, TDAT_COMP_NONE }, { 7, TDAT_COMP_NONE },
		{ 7, TDAT_COMP_ZSTD }, { 7, TDAT_COMP_ZLIB },
	};

	CHECK("tdat_register_zlib", tdat_register_zlib() == 0);
	CHECK("tdat_register_zlib again (idempotent)", tdat_register_zlib() == 0);
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		round_trip("edge", modes[i].v, modes[i].c, &edge);
	round_trip("many", 7, TDAT_COMP_ZSTD, &many);
	round_trip("many", 6, TDAT_COMP_NONE, &many);
}

/* A trace without any page reads as a trace without events. */
static void test_no_pages(void)
{
	static const struct expect none = { 2, { 0, 0 } };

	round_trip("nopages", 7, TDAT_COMP_ZSTD, &none);
	round_trip("nopages", 6, TDAT_COMP_NONE, &none);
}

static void test_guest_option(void)
{
	struct tdat_opts o = { 7, TDAT_COMP_ZSTD, PAGE, 1 };
	static const struct expect one = { 1, { 1 } };
	const int pids[3] = { 4242, 4243, 4244 };
	const int *cpu_pid = NULL;
	const char *gname = NULL;
	struct tracecmd_input *h;
	struct tdat_writer *w;
	char path[512];
	int nv = 0;

	snprintf(path, sizeof(path), "%s/guest.dat", tmp);
	w = tdat_create(path, &o);
	if (!w) {
		CHECK("guest: create", 0);
		return;
	}
	set_meta(w);
	CHECK("guest: add", tdat_add_guest(w, "vm1", 0x1234abcdULL, 3, pids) == 0);
	CHECK("guest: cpustat", tdat_add_cpustat(w, 0, "entries: 100\n") == 0);
	write_pages(w, &one);
	CHECK("guest: close", tdat_close(w) == 0);
	h = tracecmd_open(path, TRACECMD_FL_LOAD_NO_PLUGINS);
	CHECK("guest: open", h != NULL);
	if (!h)
		return;
	CHECK("guest: cpumap found",
	      tracecmd_get_guest_cpumap(h, 0x1234abcdULL, &gname, &nv, &cpu_pid) == 0);
	CHECK_STR("guest: name", "vm1", gname);
	CHECK_U64("guest: vcpus", 3, nv);
	CHECK("guest: vcpu pids", nv == 3 && cpu_pid && cpu_pid[0] == 4242 &&
	      cpu_pid[1] == 4243 && cpu_pid[2] == 4244);
	tracecmd_close(h);
	unlink(path);
}

static bool fails_with(int ret, int err)
{
	return ret == -1 && errno == err;
}

static void test_bad_options(void)
{
	static const struct tdat_opts bad[] = {
		{ 5, TDAT_COMP_NONE, PAGE, 1 }, { 8, TDAT_COMP_NONE, PAGE, 1 },
		{ 6, TDAT_COMP_ZSTD, PAGE, 1 }, { 6, TDAT_COMP_ZLIB, PAGE, 1 },
		{ 7, (enum tdat_compress)7, PAGE, 1 }, { 7, TDAT_COMP_ZSTD, 0, 1 },
		{ 7, TDAT_COMP_ZSTD, 4000, 1 }, { 7, TDAT_COMP_ZSTD, 128, 1 },
		{ 7, TDAT_COMP_ZSTD, PAGE, 0 },
	};
	struct tdat_opts good = { 7, TDAT_COMP_ZSTD, PAGE, 2 };
	struct tdat_writer *w;
	char path[512], wdir[600], name[64];
	unsigned char page[PAGE] = { 0 };
	enum tdat_compress c;

	snprintf(path, sizeof(path), "%s/bad.dat", tmp);
	snprintf(wdir, sizeof(wdir), "%s%s", path, TDAT_WORKDIR_SUFFIX);
	unlink(path);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(name, sizeof(name), "bad options #%zu: EINVAL", i);
		errno = 0;
		w = tdat_create(path, &bad[i]);
		CHECK(name, !w && errno == EINVAL);
		snprintf(name, sizeof(name), "bad options #%zu: no file", i);
		CHECK(name, access(path, F_OK) != 0);
	}
	errno = 0;
	CHECK("NULL path: EINVAL", !tdat_create(NULL, &good) && errno == EINVAL);
	errno = 0;
	CHECK("NULL opts: EINVAL", !tdat_create(path, NULL) && errno == EINVAL);
	errno = 0;
	CHECK("missing directory: ENOENT",
	      !tdat_create("/nonexistent-vmwait/x.dat", &good) && errno == ENOENT);
	CHECK("close(NULL): EINVAL", fails_with(tdat_close(NULL), EINVAL));
	tdat_abort(NULL);
	CHECK("parse zstd", !tdat_parse_compress("zstd", &c) && c == TDAT_COMP_ZSTD);
	CHECK("parse zlib", !tdat_parse_compress("zlib", &c) && c == TDAT_COMP_ZLIB);
	CHECK("parse none", !tdat_parse_compress("none", &c) && c == TDAT_COMP_NONE);
	CHECK("parse lz4: EINVAL", fails_with(tdat_parse_compress("lz4", &c), EINVAL));
	CHECK("parse NULL: EINVAL", fails_with(tdat_parse_compress(NULL, &c), EINVAL));

	w = tdat_create(path, &good);
	CHECK("create good", w != NULL);
	if (!w)
		return;
	CHECK("write_page cpu 2 of 2: EINVAL", fails_with(tdat_write_page(w, 2, page), EINVAL));
	CHECK("write_page NULL: EINVAL", fails_with(tdat_write_page(w, 0, NULL), EINVAL));
	CHECK("write_page NULL writer: EINVAL", fails_with(tdat_write_page(NULL, 0, page), EINVAL));
	CHECK("headers NULL: EINVAL", fails_with(tdat_set_headers(w, NULL, 0, "x", 1), EINVAL));
	CHECK("event format without system: EINVAL",
	      fails_with(tdat_add_event_format(w, "", tick_format, 10), EINVAL));
	CHECK("ftrace format empty: EINVAL", fails_with(tdat_add_ftrace_format(w, "x", 0), EINVAL));
	CHECK("kallsyms NULL with length: EINVAL", fails_with(tdat_set_kallsyms(w, NULL, 5), EINVAL));
	CHECK("empty kallsyms ok", tdat_set_kallsyms(w, NULL, 0) == 0);
	CHECK("cpustat cpu 2 of 2: EINVAL", fails_with(tdat_add_cpustat(w, 2, "x"), EINVAL));
	CHECK("guest NULL pids: EINVAL", fails_with(tdat_add_guest(w, "g", 1, 2, NULL), EINVAL));
	CHECK("clock '[]': EINVAL", fails_with(tdat_set_clock(w, "[]"), EINVAL));
	CHECK("clock with space: EINVAL", fails_with(tdat_set_clock(w, "a b"), EINVAL));
	CHECK("cpu_bytes bad cpu is 0", tdat_cpu_bytes(w, 9) == 0 && errno == EINVAL);
	/* no tdat_set_headers(): the head, hence the file, cannot be written */
	CHECK("page without headers: EINVAL", fails_with(tdat_write_page(w, 1, page), EINVAL));
	CHECK("begin without headers: EINVAL", fails_with(tdat_begin(w), EINVAL));
	CHECK("close without headers: EINVAL", fails_with(tdat_close(w), EINVAL));
	CHECK("close without headers: output removed", access(path, F_OK) != 0);
	CHECK("close without headers: work directory removed", access(wdir, F_OK) != 0);

	w = tdat_create(path, &good);
	CHECK("create for abort", w != NULL && access(path, F_OK) == 0);
	if (w) {
		CHECK("work directory while writing", access(wdir, F_OK) == 0);
		CHECK("second writer of the same output: EEXIST",
		      !tdat_create(path, &good) && errno == EEXIST);
		CHECK("leftover of a live writer: busy", tdat_leftover(path) == TDAT_LEFT_BUSY);
		set_meta(w);
		CHECK("write a page", tdat_write_page(w, 0, page) == 0);
		CHECK("tmpdir after a page: EBUSY", fails_with(tdat_set_tmpdir(w, tmp), EBUSY));
		CHECK("headers after the head: EBUSY",
		      fails_with(tdat_set_headers(w, "x", 1, "y", 1), EBUSY));
		CHECK("kallsyms after the head: EBUSY", fails_with(tdat_set_kallsyms(w, "", 0), EBUSY));
		CHECK("cmdlines after the head", tdat_set_cmdlines(w, "1 a\n", 4) == 0);
		tdat_abort(w);
	}
	CHECK("abort removes the output", access(path, F_OK) != 0);
	CHECK("abort removes the work directory", access(wdir, F_OK) != 0);
	CHECK("no leftover", tdat_leftover(path) == TDAT_LEFT_NONE);
}

/* ---- disk full (the shell test runs these on a small tmpfs) ---- */

/* Pages until the disk is full, then close: every page accepted is in the file. */
static int enospc_record(const char *dir, int version, enum tdat_compress comp)
{
	struct tdat_opts o = { version, comp, PAGE, 2 };
	struct expect e = { 2, { 0, 0 } };
	static unsigned char page[PAGE];
	struct tdat_writer *w;
	char path[512], name[160], what[200];
	int err = 0;

	snprintf(path, sizeof(path), "%s/full-%s.dat", dir, mode_name(version, comp));
	w = tdat_create(path, &o);
	if (!w) {
		printf("not ok enospc: create: %s\n", strerror(errno));
		return 1;
	}
	set_meta(w);
	/* a CPU running out of room stops; the other goes on till it fails too */
	for (uint64_t n = 0; n < 1000000 && !err; n++) {
		for (unsigned int c = 0; c < 2; c++) {
			make_page(page, c, e.pages[c]);
			if (tdat_write_page(w, c, page)) {
				err = errno;
				break;
			}
			e.pages[c]++;
		}
	}
	snprintf(name, sizeof(name), "enospc %s", mode_name(version, comp));
	snprintf(what, sizeof(what), "%s: write_page fails with ENOSPC", name);
	CHECK(what, err == ENOSPC);
	snprintf(what, sizeof(what), "%s: pages before it kept", name);
	CHECK(what, tdat_cpu_bytes(w, 0) == e.pages[0] * PAGE &&
	      tdat_cpu_bytes(w, 1) == e.pages[1] * PAGE);
	snprintf(what, sizeof(what), "%s: close succeeds on the full disk", name);
	CHECK(what, tdat_close(w) == 0);
	check_readback(name, path, &e);
	printf("# %s: %llu + %llu pages\n", name, (unsigned long long)e.pages[0],
	       (unsigned long long)e.pages[1]);
	unlink(path);
	return 0;
}

/*
 * Temporary files elsewhere, output on a small disk: the copy runs out of
 * space, the file is kept, valid, with whole pages (chunks) of CPU0 and
 * nothing of CPU1.
 */
static int enospc_assemble(const char *dir, const char *tmpdir, int version,
			   enum tdat_compress comp, uint64_t pages)
{
	struct tdat_opts o = { version, comp, PAGE, 2 };
	struct expect e = { 2, { pages, pages } };
	struct tdat_writer *w;
	struct readback rb;
	char path[512], name[160], what[200];
	int ret, err, cpus;

	snprintf(path, sizeof(path), "%s/asm-%s.dat", dir, mode_name(version, comp));
	snprintf(name, sizeof(name), "enospc-assemble %s", mode_name(version, comp));
	w = tdat_create(path, &o);
	if (!w) {
		printf("not ok %s: create: %s\n", name, strerror(errno));
		return 1;
	}
	set_meta(w);
	tdat_set_tmpdir(w, tmpdir);
	if (write_pages(w, &e)) {
		printf("not ok %s: pages: %s\n", name, strerror(errno));
		tdat_abort(w);
		return 1;
	}
	ret = tdat_close(w);
	err = errno;
	printf("%s %s: close fails with ENOSPC\n", ret == -1 && err == ENOSPC ? "ok" : "not ok", name);
	printf("%s %s: output kept\n", access(path, F_OK) == 0 ? "ok" : "not ok", name);
	if (read_back(path, &rb, &cpus)) {
		printf("not ok %s: unreadable\n", name);
		return 1;
	}
	snprintf(what, sizeof(what), "%s: cpu1 dropped", name);
	CHECK_U64(what, 0, rb.count[1]);
	snprintf(what, sizeof(what), "%s: some of cpu0 kept", name);
	CHECK(what, rb.count[0] > 0 && rb.count[0] < pages * EV_PER_PAGE);
	snprintf(what, sizeof(what), "%s: whole %s", name, comp ? "chunks" : "pages");
	CHECK_U64(what, 0, rb.count[0] % ((comp ? 10 : 1) * EV_PER_PAGE));
	snprintf(what, sizeof(what), "%s: events as written", name);
	CHECK_U64(what, 0, rb.bad);
	/* left for trace-cmd report in tests/t_writer.sh */
	printf("# kept %llu events in %s\n", (unsigned long long)rb.count[0], path);
	return 0;
}

/* Time the writer on @cpus x @pages synthetic pages; prints the rates as "#" lines. */
static int bench(const char *dir, uint64_t pages, unsigned int cpus, int version,
		 enum tdat_compress comp)
{
	struct tdat_opts o = { version, comp, PAGE, cpus };
	struct expect e = { cpus, { 0 } };
	struct timespec t0, t1, t2;
	struct tdat_writer *w;
	struct stat st;
	char path[512];

	if (cpus > MAX_TEST_CPUS)
		return 1;
	for (unsigned int c = 0; c < cpus; c++)
		e.pages[c] = pages;
	snprintf(path, sizeof(path), "%s/bench-%s.dat", dir, mode_name(version, comp));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	w = tdat_create(path, &o);
	if (!w)
		return 1;
	set_meta(w);
	if (write_pages(w, &e)) {
		tdat_abort(w);
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (tdat_close(w) || stat(path, &st))
		return 1;
	clock_gettime(CLOCK_MONOTONIC, &t2);
	printf("# bench %s: %llu events, %.0f MB raw -> %.1f MB; pages %.2f s, close %.2f s\n",
	       mode_name(version, comp), (unsigned long long)(pages * cpus * EV_PER_PAGE),
	       pages * cpus * PAGE / 1e6, st.st_size / 1e6,
	       (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9,
	       (t2.tv_sec - t1.tv_sec) + (t2.tv_nsec - t1.tv_nsec) / 1e9);
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: tdat-unit TMPDIR\n"
		"       tdat-unit --enospc-record SMALLDIR v6|v7-none|v7-zstd\n"
		"       tdat-unit --enospc-assemble SMALLDIR TMPDIR PAGES v6|v7-none|v7-zstd\n"
		"       tdat-unit --bench DIR PAGES_PER_CPU CPUS v6|v7-none|v7-zstd|v7-zlib\n");
	return 2;
}

/* "v6", "v7-none", "v7-zstd", "v7-zlib". */
static int parse_mode(const char *s, int *version, enum tdat_compress *c)
{
	if (!strcmp(s, "v6")) {
		*version = 6;
		*c = TDAT_COMP_NONE;
		return 0;
	}
	*version = 7;
	return strncmp(s, "v7-", 3) ? -1 : tdat_parse_compress(s + 3, c);
}

/*
 * The disk-full cases run one per process: libtracecmd 3.1.6 keeps a v6
 * file mapped after tracecmd_close(), so its blocks would stay in use.
 */
int main(int argc, char **argv)
{
	enum tdat_compress c;
	int v;

	setvbuf(stdout, NULL, _IOLBF, 0);	/* nothing lost if a sanitizer aborts */
	tracecmd_set_loglevel(TEP_LOG_CRITICAL);
	if (argc == 4 && !strcmp(argv[1], "--enospc-record")) {
		if (parse_mode(argv[3], &v, &c))
			return usage();
		enospc_record(argv[2], v, c);
		return UNIT_DONE();
	}
	if (argc == 6 && !strcmp(argv[1], "--enospc-assemble")) {
		if (parse_mode(argv[5], &v, &c))
			return usage();
		enospc_assemble(argv[2], argv[3], v, c, strtoull(argv[4], NULL, 0));
		return UNIT_DONE();
	}
	if (argc == 6 && !strcmp(argv[1], "--bench")) {
		if (parse_mode(argv[5], &v, &c))
			return usage();
		return bench(argv[2], strtoull(argv[3], NULL, 0), (unsigned int)atoi(argv[4]), v, c);
	}
	if (argc != 2)
		return usage();
	tmp = argv[1];
	test_bad_options();
	test_round_trips();
	test_no_pages();
	test_guest_option();
	return UNIT_DONE();
}
