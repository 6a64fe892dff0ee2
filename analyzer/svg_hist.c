/*
 * Below the lanes of the SVG timeline: per wake reason, how long the idle
 * periods it ended lasted, on a shared logarithmic time axis (two modes
 * that one percentile hides show as two humps).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "svg_int.h"
#include "util.h"

#define PER_ROW		3
#define PANEL_W		440
#define PANEL_GAP	20
#define PLOT_H		80
#define PANEL_H		(16 + PLOT_H + 30)
#define BINS_PER_DEC	20

/* The waits of reason @w of every vCPU shown (L1; L2 waits are their own). */
static void merged(const struct vw_result *r, int w, struct vw_hist *h)
{
	memset(h, 0, sizeof(*h));
	for (int i = 0; i < r->nr_vms; i++)
		for (int j = 0; j < r->vms[i]->nr_vcpus; j++)
			hist_merge(h, &r->vms[i]->vcpus[j]->waits[w]);
}

static const char *const dec_names[] = {
	"1 ns", "10 ns", "100 ns", "1 us", "10 us", "100 us", "1 ms", "10 ms", "100 ms", "1 s",
	"10 s", "100 s", "1000 s", "10^4 s", "10^5 s", "10^6 s", "10^7 s", "10^8 s", "10^9 s",
	"10^10 s",
};

struct axis {
	int dlo, dhi;		/* decades shown: 10^dlo .. 10^dhi ns */
};

static double ax_x(const struct axis *a, int x0, double v)
{
	double d = log10(MAX(v, 1.0)) - a->dlo;

	return x0 + d * (PANEL_W - 20) / (a->dhi - a->dlo);
}

static void bars(FILE *f, const struct vw_hist *h, const struct axis *a, int w, int x0, int y0)
{
	int nb = (a->dhi - a->dlo) * BINS_PER_DEC;
	uint64_t *bin = xcalloc(nb, sizeof(*bin)), lo, hi, n, top = 1;
	unsigned int pos = 0;
	char b0[32], b1[32];

	while (hist_next(h, &pos, &lo, &hi, &n)) {
		int k = (int)((log10((lo + hi) / 2.0 + 0.5) - a->dlo) * BINS_PER_DEC);

		bin[MIN(MAX(k, 0), nb - 1)] += n;
	}
	for (int k = 0; k < nb; k++)
		top = MAX(top, bin[k]);
	for (int k = 0; k < nb; k++) {
		double v0 = pow(10.0, a->dlo + (double)k / BINS_PER_DEC);
		double v1 = pow(10.0, a->dlo + (double)(k + 1) / BINS_PER_DEC);
		double x = ax_x(a, x0, v0), hgt = (double)bin[k] * PLOT_H / (double)top;

		if (!bin[k])
			continue;
		fprintf(f, "<rect class=\"c%d bar\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" "
			"height=\"%.2f\"><title>%s to %s: %llu waits</title></rect>\n",
			SC_WAIT + w, x, y0 + PLOT_H - MAX(hgt, 1.0), ax_x(a, x0, v1) - x,
			MAX(hgt, 1.0), fmt_duration(b0, sizeof(b0), (uint64_t)v0),
			fmt_duration(b1, sizeof(b1), (uint64_t)v1), (unsigned long long)bin[k]);
	}
	free(bin);
}

static void panel(FILE *f, const struct vw_hist *h, const struct axis *a, int w, int x0, int y)
{
	static const unsigned int pcts[] = { 50, 99 };
	char p50[32], p90[32], p99[32], mx[32];
	int y0 = y + 16;

	fprintf(f, "<g class=\"hist\" id=\"hist-%s\" data-count=\"%llu\">\n<text x=\"%d\" y=\"%d\">"
		"<tspan font-weight=\"bold\">%s</tspan>: %llu wait%s, p50 %s, p90 %s, p99 %s, max %s"
		"</text>\n<rect class=\"bg\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"/>\n",
		vw_reason_names[w], (unsigned long long)h->count, x0, y + 11, vw_reason_names[w],
		(unsigned long long)h->count, h->count == 1 ? "" : "s",
		fmt_duration(p50, sizeof(p50), hist_pct(h, 50)),
		fmt_duration(p90, sizeof(p90), hist_pct(h, 90)),
		fmt_duration(p99, sizeof(p99), hist_pct(h, 99)),
		fmt_duration(mx, sizeof(mx), h->max), x0, y0, PANEL_W - 20, PLOT_H);
	bars(f, h, a, w, x0, y0);
	for (size_t i = 0; i < ARRAY_SIZE(pcts); i++) {
		double x = ax_x(a, x0, (double)hist_pct(h, pcts[i]));

		fprintf(f, "<path class=\"pct\" d=\"M%.2f %dV%d\"><title>p%u</title></path>\n", x,
			y0, y0 + PLOT_H, pcts[i]);
	}
	fprintf(f, "<path class=\"axis\" d=\"M%d %dH%d\"/>\n", x0, y0 + PLOT_H,
		x0 + PANEL_W - 20);
	for (int d = a->dlo; d <= a->dhi; d++) {
		double x = ax_x(a, x0, pow(10.0, d));

		fprintf(f, "<path class=\"axis\" d=\"M%.2f %dV%d\"/><text x=\"%.2f\" y=\"%d\" "
			"text-anchor=\"middle\">%s</text>\n", x, y0 + PLOT_H, y0 + PLOT_H + 4, x,
			y0 + PLOT_H + 15, d < (int)ARRAY_SIZE(dec_names) ? dec_names[d] : "");
	}
	fprintf(f, "</g>\n");
}

/* The decades every panel shares: from the shortest wait to the longest, two at least. */
static void axis_of(const struct vw_hist *h, struct axis *a)
{
	uint64_t lo = UINT64_MAX, hi = 1;

	for (int w = 0; w < WR_NR; w++) {
		uint64_t l, u, n;
		unsigned int pos = 0;

		if (!h[w].count)
			continue;
		if (hist_next(&h[w], &pos, &l, &u, &n))
			lo = MIN(lo, MAX(l, 1));
		hi = MAX(hi, h[w].max);
	}
	a->dlo = (int)floor(log10((double)lo));
	a->dhi = (int)ceil(log10((double)hi + 1.0));
	if (a->dhi - a->dlo < 2)
		a->dlo = MAX(a->dhi - 2, 0);
	if (a->dhi - a->dlo < 2)
		a->dhi = a->dlo + 2;
}

int svg_hists(FILE *f, const struct vw_result *r, int y)
{
	struct vw_hist h[WR_NR];
	struct axis a;
	int n = 0, nr = 0, y0 = y + 24;

	for (int w = 0; w < WR_NR; w++) {
		merged(r, w, &h[w]);
		n += h[w].count > 0;
	}
	fprintf(f, "<g id=\"hists\">\n<text class=\"vm\" x=\"4\" y=\"%d\">How long idle lasted, "
		"by what ended it (waits of the vCPUs shown, log time axis; dashed: p50, p99)"
		"</text>\n", y + 12);
	if (!n)
		fprintf(f, "<text x=\"%d\" y=\"%d\">No completed waits.</text>\n", SVG_PLOT_X,
			y0 + 12);
	axis_of(h, &a);
	for (int w = 0, i = 0; w < WR_NR; w++) {
		if (!h[w].count)
			continue;
		panel(f, &h[w], &a, w, 20 + (i % PER_ROW) * (PANEL_W + PANEL_GAP),
		      y0 + (i / PER_ROW) * PANEL_H);
		i++;
		nr = (i + PER_ROW - 1) / PER_ROW;
	}
	fprintf(f, "</g>\n");
	for (int w = 0; w < WR_NR; w++)
		hist_free(&h[w]);
	return 24 + (n ? nr * PANEL_H : 24);
}
