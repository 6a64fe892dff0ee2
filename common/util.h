/* Small utilities shared by every part of vmwait: errors, memory, parsing. */
#ifndef VMWAIT_UTIL_H
#define VMWAIT_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
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

/* Control characters of @s (from a file, say) replaced: one printable line. */
void str_one_line(char *s);
/* @s as a JSON string, quoted; bytes outside printable ASCII as \u00XX. */
void json_str(FILE *f, const char *s);
void vw_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void vw_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void vw_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void vw_set_quiet(bool quiet);
/* Name the running subcommand: messages then read "vmwait: <cmd>: ...". */
void vw_set_cmd(const char *cmd);

/*
 * After getopt_long() returned '?' or ':' (with opterr = 0 and ':' leading
 * the short options): one line naming the option at fault, as
 * "vmwait: <cmd>: unknown option '--x' (see 'vmwait <cmd> --help')".
 * Returns EXIT_USAGE.
 */
struct option;
int vw_opt_error(const char *cmd, int c, char *const argv[], const struct option *lopts);

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

/*
 * A --from/--to argument: absolute trace time, or relative to the trace's
 * first event ("+10s") or last event ("-1s"). Units ns, us, ms, s, m, h;
 * a bare number is seconds.
 */
enum window_anchor { WIN_UNSET, WIN_ABS, WIN_START, WIN_END };
struct window_arg {
	enum window_anchor anchor;
	uint64_t ns;
};
int window_parse(const char *s, struct window_arg *w);

/* window_resolve() results besides 0 */
#define WIN_EMPTY	(-1)
#define WIN_OUTSIDE	(-2)
/*
 * The absolute window [from_ns, to_ns] (both inclusive) of a trace whose
 * events run from @trace_start to @trace_end: an unset bound is the trace's,
 * a relative one saturates at 0 and UINT64_MAX, and the result is clipped to
 * the trace. Returns 0, WIN_EMPTY (both given and from >= to) or WIN_OUTSIDE
 * (a bound given and nothing of the trace left: from >= trace_end or to <=
 * trace_start); on an error the outputs hold the unclipped bounds.
 */
int window_resolve(const struct window_arg *from, const struct window_arg *to,
		   uint64_t trace_start, uint64_t trace_end,
		   uint64_t *from_ns, uint64_t *to_ns);

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
