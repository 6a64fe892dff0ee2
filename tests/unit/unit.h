/* Minimal unit-test helpers: print "ok"/"not ok" lines for tests/run.sh. */
#ifndef VMWAIT_UNIT_H
#define VMWAIT_UNIT_H

#include <stdio.h>
#include <string.h>

static int unit_failed;

#define CHECK(name, cond) do {						\
	if (cond)							\
		printf("ok %s\n", name);				\
	else {								\
		printf("not ok %s: %s (%s:%d)\n", name, #cond,		\
		       __FILE__, __LINE__);				\
		unit_failed++;						\
	}								\
} while (0)

#define CHECK_U64(name, want, got) do {					\
	unsigned long long w_ = (want), g_ = (got);			\
	if (w_ == g_)							\
		printf("ok %s\n", name);				\
	else {								\
		printf("not ok %s: expected %llu, got %llu (%s:%d)\n",	\
		       name, w_, g_, __FILE__, __LINE__);		\
		unit_failed++;						\
	}								\
} while (0)

#define CHECK_STR(name, want, got) do {					\
	const char *w_ = (want), *g_ = (got);				\
	if (g_ && !strcmp(w_, g_))					\
		printf("ok %s\n", name);				\
	else {								\
		printf("not ok %s: expected '%s', got '%s' (%s:%d)\n",	\
		       name, w_, g_ ? g_ : "(null)", __FILE__, __LINE__); \
		unit_failed++;						\
	}								\
} while (0)

#define UNIT_DONE() (unit_failed ? 1 : 0)

#endif
