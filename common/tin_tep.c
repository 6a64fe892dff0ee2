/*
 * libtraceevent's handle for a trace.dat: header page, event formats,
 * kallsyms, printk formats and saved cmdlines. The parsing runs in a child
 * process first (guard.h): libtraceevent 1.7.1 crashes or loops on some
 * corrupt formats, so the parent only parses what the child survived.
 */
#include <stdlib.h>
#include <string.h>

#include <event-parse.h>
#include <kbuffer.h>

#include "guard.h"
#include "tin_int.h"
#include "util.h"

/* The value after "@key: " on its own line of a format text. */
static const char *fmt_line(const char *text, const char *key, char *buf, size_t len)
{
	size_t klen = strlen(key);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		size_t n;

		if (strncmp(p, key, klen) || p[klen] != ':')
			continue;
		p += klen + 1;
		while (*p == ' ' || *p == '\t')
			p++;
		n = strcspn(p, "\n");
		if (n >= len)
			return NULL;
		memcpy(buf, p, n);
		buf[n] = '\0';
		return buf;
	}
	return NULL;
}

/* Every format's system, name and id, from its text (nothing parsed yet). */
static void list_formats(struct tin *t)
{
	t->m.formats = xcalloc(t->nfmts ? t->nfmts : 1, sizeof(*t->m.formats));
	for (int i = 0; i < t->nfmts; i++) {
		const char *text = (const char *)t->fmts[i].b.buf;
		char name[128], id[32], *end;
		long v;

		if (!fmt_line(text, "name", name, sizeof(name)) ||
		    !fmt_line(text, "ID", id, sizeof(id)))
			continue;
		v = strtol(id, &end, 10);
		if (*end || v < 0 || v > 65535)
			continue;
		t->m.formats[t->m.nformats].system = xstrdup(t->fmts[i].system);
		t->m.formats[t->m.nformats].name = xstrdup(name);
		t->m.formats[t->m.nformats].id = (int)v;
		t->m.nformats++;
	}
}

static bool wanted(const struct tin *t, int i)
{
	const char *text = (const char *)t->fmts[i].b.buf;
	char name[128];

	if (t->opts.all_formats || !t->opts.want_format)
		return true;
	return fmt_line(text, "name", name, sizeof(name)) &&
	       t->opts.want_format(t->fmts[i].system, name);
}

#define REJECTED	(-1000)	/* progress: REJECTED - i, format i was rejected */

/*
 * The same sequence of libtraceevent calls in the child and the parent.
 * Progress: -2 header page, format index, then -3 kallsyms, -4 printk,
 * -5 cmdlines. The child also reports the formats libtraceevent rejects:
 * the parent does not parse those (the library leaks what it allocated for
 * a format it rejects).
 */
static int parse_all(void *arg)
{
	struct tin *t = arg;
	struct tep_handle *tep = t->tep;

	guard_progress(-2);
	if (tep_parse_header_page(tep, (char *)t->header_page.buf, t->header_page.len,
				  t->m.long_size))
		return -1;
	for (int i = 0; i < t->nfmts; i++) {
		if (!wanted(t, i) || t->fmts[i].rejected)
			continue;
		guard_progress(i);
		/* a format libtraceevent rejects is skipped, as trace-cmd does */
		if (tep_parse_event(tep, (const char *)t->fmts[i].b.buf, t->fmts[i].b.len,
				    t->fmts[i].system))
			guard_progress(REJECTED - i);
	}
	if (t->opts.plugins && t->kallsyms.len) {
		guard_progress(-3);
		tep_parse_kallsyms(tep, (const char *)t->kallsyms.buf);
	}
	if (t->opts.plugins && t->printk.len) {
		guard_progress(-4);
		tep_parse_printk_formats(tep, (const char *)t->printk.buf);
	}
	if (t->cmdlines.len) {
		guard_progress(-5);
		tep_parse_saved_cmdlines(tep, (const char *)t->cmdlines.buf);
	}
	return 0;
}

static struct tep_handle *new_tep(const struct tin *t)
{
	struct tep_handle *tep = tep_alloc();

	if (!tep)
		return NULL;
	tep_set_file_bigendian(tep, t->m.big_endian ? TEP_BIG_ENDIAN : TEP_LITTLE_ENDIAN);
	tep_set_local_bigendian(tep, __BYTE_ORDER == __BIG_ENDIAN ? TEP_BIG_ENDIAN :
				TEP_LITTLE_ENDIAN);
	tep_set_long_size(tep, t->m.long_size);
	tep_set_page_size(tep, (int)t->m.page_size);
	tep_set_cpus(tep, t->m.cpus);
	return tep;
}

static int child_parse(void *arg)
{
	struct tin *t = arg;

	t->tep = new_tep(t);
	return t->tep ? parse_all(t) : -1;
}

static int guard_fail(struct tin *t, long where, const char *why)
{
	if (where >= 0 && where < t->nfmts) {
		const struct fmt_blob *f = &t->fmts[where];
		char name[128];

		return tin_fail(t, "corrupt event format #%ld (system %s, event %s) at offset "
				"%llu: libtraceevent %s parsing it", where, f->system,
				fmt_line((const char *)f->b.buf, "name", name, sizeof(name)) ?
				name : "?", (unsigned long long)f->b.off, why);
	}
	return tin_fail(t, "corrupt %s at offset %llu: libtraceevent %s parsing it",
			where == -2 ? "header_page" : where == -3 ? "kallsyms" :
			where == -4 ? "printk formats" : "saved cmdlines",
			(unsigned long long)(where == -2 ? t->header_page.off :
					     where == -3 ? t->kallsyms.off :
					     where == -4 ? t->printk.off : t->cmdlines.off), why);
}

/* The header page says how to read ring-buffer pages; check it is sane. */
static int check_header_page(struct tin *t)
{
	int ts = tep_get_header_timestamp_size(t->tep);
	int commit = tep_get_header_page_size(t->tep);

	if (ts != 8)
		return tin_fail(t, "corrupt header_page at offset %llu: timestamp of %d bytes",
				(unsigned long long)t->header_page.off, ts);
	if (commit != 4 && commit != 8)
		return tin_fail(t, "corrupt header_page at offset %llu: commit of %d bytes",
				(unsigned long long)t->header_page.off, commit);
	t->kb_lsize = commit == 8 ? KBUFFER_LSIZE_8 : KBUFFER_LSIZE_4;
	t->kb_endian = t->m.big_endian ? KBUFFER_ENDIAN_BIG : KBUFFER_ENDIAN_LITTLE;
	if (tep_is_old_format(t->tep))
		return tin_fail(t, "the ring-buffer format of Linux 2.6.30 and older is not "
				"supported");
	return 0;
}

static void child_said(long v, void *ctx)
{
	struct tin *t = ctx;

	if (v <= REJECTED && REJECTED - v < t->nfmts)
		t->fmts[REJECTED - v].rejected = true;
}

/*
 * Metadata the child proved safe before, in this process (a long-running
 * caller such as the fuzzer opens many files with the same formats): its
 * digest, and which formats were rejected. Deterministic calls on the same
 * bytes behave the same, so the child is not needed again.
 */
#define SAFE_CACHE	32

static struct {
	uint64_t digest;
	int nrej;
	int rej[8];
} safe[SAFE_CACHE];
static unsigned int nsafe;

/* FNV-1a over 8-byte words (then the tail's bytes): metadata is tens of KB. */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t w;

		memcpy(&w, b + i, 8);
		h = (h ^ w) * 1099511628211ULL;
		h ^= h >> 29;
	}
	for (; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ULL;
	return h;
}

/*
 * A digest of everything new_tep() and parse_all() give libtraceevent but
 * the CPU count, which only tep_get_cpus() reads (vmwait never does).
 */
static uint64_t meta_digest(const struct tin *t)
{
	uint64_t h = fnv(1469598103934665603ULL, &t->m.long_size, sizeof(t->m.long_size));

	h = fnv(h, &t->m.big_endian, sizeof(t->m.big_endian));
	h = fnv(h, &t->m.page_size, sizeof(t->m.page_size));
	h = fnv(h, &t->opts.plugins, sizeof(t->opts.plugins));
	h = fnv(h, t->header_page.buf, t->header_page.len);
	for (int i = 0; i < t->nfmts; i++) {
		if (!wanted(t, i))
			continue;
		h = fnv(h, t->fmts[i].system, strlen(t->fmts[i].system) + 1);
		h = fnv(h, t->fmts[i].b.buf, t->fmts[i].b.len);
	}
	if (t->opts.plugins) {
		h = fnv(h, t->kallsyms.buf, t->kallsyms.len);
		h = fnv(h, t->printk.buf, t->printk.len);
	}
	return fnv(h, t->cmdlines.buf, t->cmdlines.len);
}

static bool safe_known(struct tin *t, uint64_t d)
{
	for (unsigned int i = 0; i < MIN(nsafe, SAFE_CACHE); i++) {
		if (safe[i].digest != d)
			continue;
		for (int k = 0; k < safe[i].nrej; k++)
			t->fmts[safe[i].rej[k]].rejected = true;
		return true;
	}
	return false;
}

static void safe_add(const struct tin *t, uint64_t d)
{
	unsigned int slot = nsafe++ % SAFE_CACHE;

	safe[slot].digest = d;
	safe[slot].nrej = 0;
	for (int i = 0; i < t->nfmts; i++) {
		if (!t->fmts[i].rejected)
			continue;
		if (safe[slot].nrej == (int)ARRAY_SIZE(safe[slot].rej)) {
			safe[slot].digest = 0;	/* too many to remember: not cached */
			return;
		}
		safe[slot].rej[safe[slot].nrej++] = i;
	}
}

/*
 * The last handle built, kept for the next open of the same metadata (the
 * analyzer opens a file more than once; a fuzzer opens thousands of files
 * with the same formats). libtraceevent only reads it after parsing, and
 * the digest covers every input of new_tep() and parse_all(). Without
 * plugins only: plugin handlers are registered per handle.
 */
static struct {
	uint64_t digest;
	struct tep_handle *tep;
	int users;
} last;

static bool tep_reuse(struct tin *t, uint64_t digest)
{
	if (!last.tep || last.digest != digest || !digest || t->opts.plugins)
		return false;
	t->tep = last.tep;
	t->tep_shared = true;
	last.users++;
	return true;
}

static void tep_keep(struct tin *t, uint64_t digest)
{
	if (!digest || t->opts.plugins || (last.tep && last.users))
		return;
	if (last.tep)
		tep_free(last.tep);
	last.tep = t->tep;
	last.digest = digest;
	last.users = 1;
	t->tep_shared = true;
}

/* tin_close()'s part: a shared handle stays for the next open. */
void tin_put_tep(struct tin *t)
{
	if (t->tep_shared) {
		last.users--;
	} else if (t->tep) {
		if (t->plugins)
			tep_unload_plugins(t->plugins, t->tep);
		tep_free(t->tep);
	}
	t->tep = NULL;
}

/* The rejected formats, "system:name, ...", for the report. */
static void list_rejected(struct tin *t)
{
	for (int i = 0; i < t->nfmts; i++) {
		char name[128], *old = t->m.rejected;

		if (!t->fmts[i].rejected)
			continue;
		if (!fmt_line((const char *)t->fmts[i].b.buf, "name", name, sizeof(name)))
			snprintf(name, sizeof(name), "#%d", i);
		if (asprintf(&t->m.rejected, "%s%s%s:%s", old ? old : "", old ? ", " : "",
			     t->fmts[i].system, name) < 0)
			t->m.rejected = NULL;
		free(old);
	}
}

int tin_build_tep(struct tin *t)
{
	const char *why;
	uint64_t digest;
	long where;
	int ret = 0;

	list_formats(t);
	digest = meta_digest(t);
	if (!digest || !safe_known(t, digest)) {
		ret = guard_run_seen(child_parse, t, 20, child_said, t, &where, &why);
		if (!ret)
			safe_add(t, digest);
	}
	if (ret > 0 && where <= REJECTED)
		where = REJECTED - where;
	if (ret > 0)
		return guard_fail(t, where, why);
	list_rejected(t);
	if (tep_reuse(t, digest))
		return check_header_page(t);
	/* ret < 0: no child could be started; parse in-process */
	t->tep = new_tep(t);
	if (!t->tep)
		return tin_fail(t, "out of memory");
	if (parse_all(t))
		return tin_fail(t, "corrupt header_page at offset %llu",
				(unsigned long long)t->header_page.off);
	if (check_header_page(t))
		return -1;
	if (t->opts.plugins)
		t->plugins = tep_load_plugins(t->tep);
	else
		tep_keep(t, digest);
	return 0;
}
