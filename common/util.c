/* Small utilities shared by every part of vmwait: errors, memory, parsing. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

static bool quiet;
static const char *cmd_name;

void vw_set_quiet(bool q)
{
	quiet = q;
}

void vw_set_cmd(const char *cmd)
{
	cmd_name = cmd;
}

/*
 * Make @s one printable line: messages quote names and strings read from
 * files, which may hold anything. Control characters (C0, DEL, and C1 or
 * U+2028/U+2029 as UTF-8) become '?'; other bytes stay (paths may be UTF-8).
 */
void str_one_line(char *s)
{
	unsigned char *u = (unsigned char *)s;

	for (; *u; u++) {
		if (*u < 0x20 || *u == 0x7f)
			*u = '?';
		else if (u[0] == 0xc2 && u[1] >= 0x80 && u[1] <= 0x9f)
			u[0] = u[1] = '?';
		else if (u[0] == 0xe2 && u[1] == 0x80 && (u[2] == 0xa8 || u[2] == 0xa9))
			u[0] = u[1] = u[2] = '?';
	}
}

static void vmsg(const char *prefix, const char *fmt, va_list ap)
{
	char buf[2048];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	str_one_line(buf);
	fprintf(stderr, "vmwait: %s%s%s%s\n", cmd_name ? cmd_name : "", cmd_name ? ": " : "",
		prefix, buf);
}

void vw_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg("", fmt, ap);
	va_end(ap);
}

void vw_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg("warning: ", fmt, ap);
	va_end(ap);
}

void vw_info(const char *fmt, ...)
{
	va_list ap;

	if (quiet)
		return;
	va_start(ap, fmt);
	vmsg("", fmt, ap);
	va_end(ap);
}

static void oom(void)
{
	fputs("vmwait: out of memory\n", stderr);
	exit(EXIT_RUNTIME);
}

void *xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);

	if (!p)
		oom();
	return p;
}

void *xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);

	if (!p)
		oom();
	return p;
}

void *xrealloc(void *ptr, size_t size)
{
	void *p = realloc(ptr, size ? size : 1);

	if (!p)
		oom();
	return p;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p)
		oom();
	return p;
}

int parse_u64(const char *s, uint64_t *val)
{
	char *end;

	if (!s || !*s || *s == '-')
		return -1;
	errno = 0;
	*val = strtoull(s, &end, 0);
	if (errno || *end)
		return -1;
	return 0;
}

/* Parse "<int>[.<frac>]" into an integer scaled by 10^scale_digits, exactly. */
static int parse_fixed(const char *s, int scale_digits, uint64_t *out, const char **rest)
{
	uint64_t ip = 0, frac = 0;
	int nfrac = 0;
	bool digits = false;

	while (*s >= '0' && *s <= '9') {
		if (ip > (UINT64_MAX - 9) / 10)
			return -1;
		ip = ip * 10 + (uint64_t)(*s++ - '0');
		digits = true;
	}
	if (*s == '.') {
		s++;
		while (*s >= '0' && *s <= '9') {
			if (nfrac < scale_digits) {
				frac = frac * 10 + (uint64_t)(*s - '0');
				nfrac++;
			}
			s++;
			digits = true;
		}
	}
	if (!digits)
		return -1;
	for (; nfrac < scale_digits; nfrac++)
		frac *= 10;
	for (int i = 0; i < scale_digits; i++) {
		if (ip > UINT64_MAX / 10)
			return -1;
		ip *= 10;
	}
	if (ip > UINT64_MAX - frac)
		return -1;
	*out = ip + frac;
	*rest = s;
	return 0;
}

int parse_duration_ns(const char *s, uint64_t *ns)
{
	/* parsed with as many decimals as give nanoseconds, then scaled */
	static const struct { const char *unit; int digits; uint64_t mult; } units[] = {
		{ "ns", 0, 1 }, { "us", 3, 1 }, { "ms", 6, 1 }, { "s", 9, 1 },
		{ "m", 9, 60 }, { "h", 9, 3600 }, { "", 9, 1 },
	};
	const char *unit, *rest;
	uint64_t v;

	if (!s)
		return -1;
	unit = s + strspn(s, "0123456789.");
	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		if (strcmp(unit, units[i].unit))
			continue;
		if (parse_fixed(s, units[i].digits, &v, &rest) || rest != unit ||
		    v > UINT64_MAX / units[i].mult)
			return -1;
		*ns = v * units[i].mult;
		return 0;
	}
	return -1;
}

int parse_seconds_ns(const char *s, uint64_t *ns)
{
	const char *rest;

	if (!s || parse_fixed(s, 9, ns, &rest) || *rest)
		return -1;
	return 0;
}

/*
 * The long options of @lopts that @name (@len characters, maybe abbreviated)
 * can mean, listed as "--a, --b" in @list; *@one is set when it is one.
 */
static int long_matches(const struct option *lopts, const char *name, size_t len,
			struct sbuf *list, const struct option **one)
{
	int n = 0;

	for (const struct option *l = lopts; l && l->name; l++) {
		if (strncmp(l->name, name, len))
			continue;
		if (strlen(l->name) == len) {	/* an exact match is never ambiguous */
			*one = l;
			return 1;
		}
		sbuf_addf(list, "%s--%s", n ? ", " : "", l->name);
		*one = l;
		n++;
	}
	return n;
}

int vw_opt_error(const char *cmd, int c, char *const argv[], const struct option *lopts)
{
	const char *tok = optind > 0 ? argv[optind - 1] : "";
	const struct option *one = NULL;
	struct sbuf list = { 0 };
	size_t len = 0;
	int n = 0;
	bool is_long = !strncmp(tok, "--", 2);

	if (is_long) {
		len = strcspn(tok + 2, "=");
		n = long_matches(lopts, tok + 2, len, &list, &one);
		/* '?' after "--x=v" then "-yz": the error is about y, a short one */
		if (c != ':' && optopt && !(tok[2 + len] == '=' && n == 1 && one->val == optopt))
			is_long = false;
	}
	fprintf(stderr, "vmwait: %s: ", cmd);
	if (!is_long && c == ':')
		fprintf(stderr, "option '-%c' needs a value", optopt);
	else if (!is_long)
		fprintf(stderr, "unknown option '-%c'", optopt);
	else if (c == ':')
		fprintf(stderr, "option '--%s' needs a value", n == 1 ? one->name : tok + 2);
	else if (optopt)
		fprintf(stderr, "option '--%s' takes no value", one->name);
	else if (n > 1)
		fprintf(stderr, "ambiguous option '%.*s' (%s)", (int)len + 2, tok, list.buf);
	else
		fprintf(stderr, "unknown option '%.*s'", (int)len + 2, tok);
	fprintf(stderr, " (see 'vmwait %s --help')\n", cmd);
	sbuf_free(&list);
	return EXIT_USAGE;
}

int window_parse(const char *s, struct window_arg *w)
{
	w->anchor = WIN_ABS;
	if (s && (*s == '+' || *s == '-'))
		w->anchor = *s++ == '+' ? WIN_START : WIN_END;
	if (!s || *s == '+' || *s == '-' || parse_duration_ns(s, &w->ns)) {
		w->anchor = WIN_UNSET;
		return -1;
	}
	return 0;
}

/* One bound of a window; @unset is what an unset bound means. */
static uint64_t window_bound(const struct window_arg *w, uint64_t unset,
			     uint64_t trace_start, uint64_t trace_end)
{
	switch (w ? w->anchor : WIN_UNSET) {
	case WIN_ABS:
		return w->ns;
	case WIN_START:
		return w->ns > UINT64_MAX - trace_start ? UINT64_MAX : trace_start + w->ns;
	case WIN_END:
		return w->ns > trace_end ? 0 : trace_end - w->ns;
	default:
		return unset;
	}
}

int window_resolve(const struct window_arg *from, const struct window_arg *to,
		   uint64_t trace_start, uint64_t trace_end,
		   uint64_t *from_ns, uint64_t *to_ns)
{
	bool from_set = from && from->anchor != WIN_UNSET;
	bool to_set = to && to->anchor != WIN_UNSET;

	*from_ns = window_bound(from, trace_start, trace_start, trace_end);
	*to_ns = window_bound(to, trace_end, trace_start, trace_end);
	if (!from_set && !to_set)
		return 0;
	if (from_set && to_set && *from_ns >= *to_ns)
		return WIN_EMPTY;
	if (*from_ns >= trace_end || *to_ns <= trace_start)
		return WIN_OUTSIDE;
	*from_ns = MAX(*from_ns, trace_start);
	*to_ns = MIN(*to_ns, trace_end);
	return 0;
}

char *fmt_duration(char *buf, size_t len, uint64_t ns)
{
	if (ns < NSEC_PER_USEC)
		snprintf(buf, len, "%llu ns", (unsigned long long)ns);
	else if (ns < NSEC_PER_MSEC)
		snprintf(buf, len, "%.1f us", ns / 1e3);
	else if (ns < NSEC_PER_SEC)
		snprintf(buf, len, "%.2f ms", ns / 1e6);
	else
		snprintf(buf, len, "%.3f s", ns / 1e9);
	return buf;
}

void sbuf_add(struct sbuf *sb, const void *data, size_t len)
{
	if (sb->len + len + 1 > sb->cap) {
		size_t cap = sb->cap ? sb->cap : 256;

		while (cap < sb->len + len + 1)
			cap *= 2;
		sb->buf = xrealloc(sb->buf, cap);
		sb->cap = cap;
	}
	memcpy(sb->buf + sb->len, data, len);
	sb->len += len;
	sb->buf[sb->len] = '\0';
}

void sbuf_addc(struct sbuf *sb, char c)
{
	sbuf_add(sb, &c, 1);
}

void sbuf_addf(struct sbuf *sb, const char *fmt, ...)
{
	va_list ap;
	char small[256];
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(small)) {
		sbuf_add(sb, small, n);
		return;
	}
	char *big = xmalloc(n + 1);

	va_start(ap, fmt);
	vsnprintf(big, n + 1, fmt, ap);
	va_end(ap);
	sbuf_add(sb, big, n);
	free(big);
}

void sbuf_free(struct sbuf *sb)
{
	free(sb->buf);
	sb->buf = NULL;
	sb->len = sb->cap = 0;
}

int read_file(const char *path, struct sbuf *out)
{
	char buf[8192];
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			close(fd);
			return -1;
		}
		sbuf_add(out, buf, n);
	}
	close(fd);
	if (!out->buf)
		sbuf_add(out, "", 0);
	return 0;
}

/* Shared by the analysis JSON (result_json.c) and top's JSON lines (top_json.c). */
void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}
