/* Unit tests of common/util.c parsers and windows, and common/result.c histograms. */
#include "unit.h"
#include "util.h"
#include "result.h"

static void test_durations(void)
{
	static const struct { const char *s; unsigned long long ns; } good[] = {
		{ "10s", 10000000000ULL }, { "500ms", 500000000ULL }, { "2m", 120000000000ULL },
		{ "1h", 3600000000000ULL }, { "250us", 250000ULL }, { "100ns", 100ULL },
		{ "2", 2000000000ULL }, { "1.5s", 1500000000ULL }, { "0.25ms", 250000ULL },
		{ "20000000000ns", 20000000000ULL }, { "1.5us", 1500ULL }, { "1.9ns", 1ULL },
	};
	static const char *const bad[] = { "", "s", "10x", "-1s", "1.2.3", "ms10", "10 s" };
	char name[64];
	uint64_t ns;

	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		snprintf(name, sizeof(name), "duration %s", good[i].s);
		ns = 0;
		CHECK(name, !parse_duration_ns(good[i].s, &ns) && ns == good[i].ns);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		snprintf(name, sizeof(name), "duration rejects '%s'", bad[i]);
		CHECK(name, parse_duration_ns(bad[i], &ns) == -1);
	}
	CHECK("seconds 100.000000123", !parse_seconds_ns("100.000000123", &ns) && ns == 100000000123ULL);
	CHECK("seconds rejects 1s", parse_seconds_ns("1s", &ns) == -1);
}

#define S	1000000000ULL

static void test_window_parse(void)
{
	static const struct { const char *s; enum window_anchor a; unsigned long long ns; } good[] = {
		{ "+10s", WIN_START, 10 * S }, { "-1s", WIN_END, S },
		{ "1234.5", WIN_ABS, 1234 * S + S / 2 }, { "2772592311643ns", WIN_ABS, 2772592311643ULL },
		{ "+250us", WIN_START, 250000 }, { "-0.5ms", WIN_END, 500000 },
		{ "+1m", WIN_START, 60 * S }, { "-0", WIN_END, 0 }, { "100.000000123", WIN_ABS, 100 * S + 123 },
	};
	static const char *const bad[] = { "", "+", "-", "+-1", "--1", "-+1", "1x", "+ 1", "abc",
					   "1.2.3", "+1s ", "s" };
	struct window_arg w;
	char name[64];

	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		snprintf(name, sizeof(name), "window_parse %s", good[i].s);
		CHECK(name, !window_parse(good[i].s, &w) && w.anchor == good[i].a && w.ns == good[i].ns);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		snprintf(name, sizeof(name), "window_parse rejects '%s'", bad[i]);
		CHECK(name, window_parse(bad[i], &w) == -1 && w.anchor == WIN_UNSET);
	}
}

/* window_resolve on a trace from 1000 s to 1100 s; @f, @t NULL for unset. */
static void resolve(const char *f, const char *t, int want, uint64_t wf, uint64_t wt)
{
	struct window_arg from = { 0 }, to = { 0 };
	uint64_t gf = 1, gt = 1;
	char name[96];
	int rc;

	if (f)
		window_parse(f, &from);
	if (t)
		window_parse(t, &to);
	rc = window_resolve(&from, &to, 1000 * S, 1100 * S, &gf, &gt);
	snprintf(name, sizeof(name), "window_resolve from %s to %s: rc", f ? f : "-", t ? t : "-");
	CHECK_U64(name, (unsigned long long)(want + 10), (unsigned long long)(rc + 10));
	snprintf(name, sizeof(name), "window_resolve from %s to %s: bounds", f ? f : "-", t ? t : "-");
	CHECK(name, gf == wf && gt == wt);
}

static void test_window_resolve(void)
{
	struct window_arg a = { WIN_ABS, 5 * S };
	uint64_t f, t;

	resolve(NULL, NULL, 0, 1000 * S, 1100 * S);
	resolve("+10s", NULL, 0, 1010 * S, 1100 * S);
	resolve(NULL, "-1s", 0, 1000 * S, 1099 * S);
	resolve("+10s", "-10s", 0, 1010 * S, 1090 * S);
	resolve("+10s", "+20s", 0, 1010 * S, 1020 * S);
	resolve("-20s", "-10s", 0, 1080 * S, 1090 * S);
	resolve("1050", "-10s", 0, 1050 * S, 1090 * S);
	resolve("900", "2000", 0, 1000 * S, 1100 * S);		/* clipped to the trace */
	resolve("+0s", "-0s", 0, 1000 * S, 1100 * S);
	resolve("1099.999999999", NULL, 0, 1100 * S - 1, 1100 * S);
	/* empty: both given, from not before to (unclipped bounds returned) */
	resolve("+50s", "-60s", WIN_EMPTY, 1050 * S, 1040 * S);
	resolve("1050", "1050", WIN_EMPTY, 1050 * S, 1050 * S);
	resolve("+2s", "+1s", WIN_EMPTY, 1002 * S, 1001 * S);
	/* outside: nothing of the trace left */
	resolve("+200s", NULL, WIN_OUTSIDE, 1200 * S, 1100 * S);
	resolve("-0s", NULL, WIN_OUTSIDE, 1100 * S, 1100 * S);
	resolve(NULL, "-200s", WIN_OUTSIDE, 1000 * S, 900 * S);
	resolve(NULL, "-2000s", WIN_OUTSIDE, 1000 * S, 0);	/* saturates at 0 */
	resolve(NULL, "1000", WIN_OUTSIDE, 1000 * S, 1000 * S);
	resolve("5", "10", WIN_OUTSIDE, 5 * S, 10 * S);
	/* saturation at the top */
	a.anchor = WIN_START;
	a.ns = UINT64_MAX;
	CHECK("window_resolve +max saturates", window_resolve(&a, NULL, 1000 * S, 1100 * S, &f, &t) ==
	      WIN_OUTSIDE && f == UINT64_MAX);
	/* unknown bounds (0, max): absolute times pass through */
	a.anchor = WIN_ABS;
	a.ns = 5 * S;
	CHECK("window_resolve without trace bounds", !window_resolve(&a, NULL, 0, UINT64_MAX, &f, &t) &&
	      f == 5 * S && t == UINT64_MAX);
}

static void test_hist(void)
{
	struct vw_hist h = { 0 }, m = { 0 };

	for (uint64_t v = 1; v <= 100; v++)
		hist_add(&h, v);
	CHECK_U64("hist count", 100, h.count);
	CHECK_U64("hist total", 5050, h.total);
	CHECK_U64("hist max", 100, h.max);
	CHECK_U64("hist p50 exact below 64", 50, hist_pct(&h, 50));
	/* 90 lies in [64,128) with bucket width 1: exact. */
	CHECK_U64("hist p90", 90, hist_pct(&h, 90));
	CHECK_U64("hist p99", 99, hist_pct(&h, 99));

	hist_add(&m, 1000000);		/* bucket width 2^13 above 2^19 */
	CHECK_U64("hist single = max", 1000000, hist_pct(&m, 50));
	hist_add(&m, 1000001);
	hist_add(&m, 3000000);
	/* rank 2 of 3 -> bucket of 1000001: [999424, 1007615], width 2^13 */
	CHECK_U64("hist p50 bucket upper bound", 1007615, hist_pct(&m, 50));
	CHECK("hist relative error below 1/64", hist_pct(&m, 50) - 1000001 < 1000001 / 64 + 1);
	hist_merge(&h, &m);
	CHECK_U64("hist merged count", 103, h.count);
	CHECK_U64("hist merged max", 3000000, h.max);
	hist_free(&h);
	hist_free(&m);
}

int main(void)
{
	test_durations();
	test_window_parse();
	test_window_resolve();
	test_hist();
	return UNIT_DONE();
}
