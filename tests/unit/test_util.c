/* Unit tests of common/util.c parsers and common/result.c histograms. */
#include "unit.h"
#include "util.h"
#include "result.h"

static void test_durations(void)
{
	static const struct { const char *s; unsigned long long ns; } good[] = {
		{ "10s", 10000000000ULL }, { "500ms", 500000000ULL }, { "2m", 120000000000ULL },
		{ "1h", 3600000000000ULL }, { "250us", 250000ULL }, { "100ns", 100ULL },
		{ "2", 2000000000ULL }, { "1.5s", 1500000000ULL }, { "0.25ms", 250000ULL },
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
	test_hist();
	return UNIT_DONE();
}
