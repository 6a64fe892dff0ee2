/* Small utilities shared by every part of vmwait: errors, memory, parsing. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

static bool quiet;

void vw_set_quiet(bool q)
{
	quiet = q;
}

static void vmsg(const char *prefix, const char *fmt, va_list ap)
{
	fprintf(stderr, "vmwait: %s", prefix);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
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
	static const struct { const char *unit; uint64_t mult; } units[] = {
		{ "ns", 1 }, { "us", NSEC_PER_USEC }, { "ms", NSEC_PER_MSEC },
		{ "s", NSEC_PER_SEC }, { "m", 60 * NSEC_PER_SEC },
		{ "h", 3600 * NSEC_PER_SEC }, { "", NSEC_PER_SEC },
	};
	const char *rest;
	uint64_t v;

	if (!s || parse_fixed(s, 9, &v, &rest))
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		if (strcmp(rest, units[i].unit))
			continue;
		/* v is in units of 1e-9; scale by mult / 1e9 exactly. */
		if (units[i].mult >= NSEC_PER_SEC) {
			uint64_t m = units[i].mult / NSEC_PER_SEC;

			if (m && v > UINT64_MAX / m)
				return -1;
			*ns = v * m;
		} else {
			*ns = v / (NSEC_PER_SEC / units[i].mult);
		}
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
