/* Small utilities shared by every part of vmwait: errors, memory, parsing. */
#ifndef VMWAIT_UTIL_H
#define VMWAIT_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define NSEC_PER_USEC	1000ULL
#define NSEC_PER_MSEC	1000000ULL
#define NSEC_PER_SEC	1000000000ULL

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define MIN(a, b)	((a) < (b) ? (a) : (b))
#define MAX(a, b)	((a) > (b) ? (a) : (b))

/* Exit codes of the command line: runtime error, usage error. */
#define EXIT_RUNTIME	1
#define EXIT_USAGE	2

void vw_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void vw_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void vw_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void vw_set_quiet(bool quiet);

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);

/* "10s", "500ms", "2m", "1h", "250us", "100ns"; a bare number is seconds. */
int parse_duration_ns(const char *s, uint64_t *ns);
/* A time in seconds with up to nine decimals ("12.5", "100.000000123"). */
int parse_seconds_ns(const char *s, uint64_t *ns);
/* An unsigned integer in decimal or 0x-hex; rejects trailing garbage. */
int parse_u64(const char *s, uint64_t *val);

/* "1.234 ms" style, into buf; returns buf. */
char *fmt_duration(char *buf, size_t len, uint64_t ns);

/* A growable byte buffer. */
struct sbuf {
	char *buf;
	size_t len;
	size_t cap;
};
void sbuf_add(struct sbuf *sb, const void *data, size_t len);
void sbuf_addf(struct sbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sbuf_addc(struct sbuf *sb, char c);
void sbuf_free(struct sbuf *sb);

/* Read a whole file (tracefs files report size 0, so read until EOF). */
int read_file(const char *path, struct sbuf *out);

#endif
