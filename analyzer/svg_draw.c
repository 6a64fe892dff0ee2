/*
 * Drawing one lane of the SVG timeline: its per-pixel summary (runs of
 * buckets with the same dominant class, the mix in the hover title), its
 * whole periods on top, and the IPI arrows between lanes.
 */
#include <stdlib.h>
#include <string.h>

#include "svg_int.h"
#include "util.h"

double svg_x(const struct svg_view *w, uint64_t t)
{
	if (t < w->t0)
		t = w->t0;
	if (t > w->t1)
		t = w->t1;
	return SVG_PLOT_X + (double)(t - w->t0) * w->scale;
}

void svg_row_label(char *buf, size_t len, const struct svg_row *row)
{
	const struct vw_vcpu *v = row->v;
	char id[16] = "?";

	if (v->vcpu >= 0)
		snprintf(id, sizeof(id), "%d", v->vcpu);
	if (row->l2)
		snprintf(buf, len, "L2 vCPU %s", id);
	else
		snprintf(buf, len, "vCPU %s (%.16s-%d)", id, v->comm[0] ? v->comm : "?", v->tid);
}

/* The class holding most of @b's time, -1 if it is empty. */
static int dominant(const struct svg_bucket *b)
{
	uint64_t best = 0;
	int d = -1;

	for (int c = 0; c < SC_NR; c++) {
		if (b->ns[c] > best) {
			best = b->ns[c];
			d = c;
		}
	}
	return d;
}

/* "guest 61%, hypervisor 30%, idle: timer 9%": the largest shares first. */
static void mix(FILE *f, const uint64_t *ns)
{
	uint64_t total = 0;
	bool used[SC_NR] = { false };

	for (int c = 0; c < SC_NR; c++)
		total += ns[c];
	for (int n = 0; n < 5 && total; n++) {
		int best = -1;

		for (int c = 0; c < SC_NR; c++)
			if (!used[c] && ns[c] && (best < 0 || ns[c] > ns[best]))
				best = c;
		if (best < 0)
			break;
		used[best] = true;
		fprintf(f, "%s%s %.0f%%", n ? ", " : "", svg_class_names[best],
			100.0 * (double)ns[best] / (double)total);
	}
}

static void run_flush(FILE *f, const struct svg_view *w, int dom, uint64_t start, uint64_t end,
		      const uint64_t *ns)
{
	double x0 = svg_x(w, start), x1 = svg_x(w, end);
	char a[32], d[32];

	if (dom < 0 || x1 <= x0)
		return;
	fprintf(f, "<rect class=\"c%d\" x=\"%.2f\" width=\"%.2f\" height=\"%d\"><title>%s s +%s, "
		"periods under a pixel: ", dom, x0, x1 - x0, SVG_LANE_H,
		svg_secs(a, sizeof(a), MAX(start, w->t0), 6),
		fmt_duration(d, sizeof(d), MIN(end, w->t1) - MAX(start, w->t0)));
	mix(f, ns);
	fprintf(f, "</title></rect>\n");
}

/* The per-pixel summary: one rect per run of buckets with the same dominant class. */
static void draw_runs(FILE *f, const struct svg_view *w, const struct svg_lane *l)
{
	uint64_t acc[SC_NR], rs = 0, re = 0, width = 1ULL << l->shift;
	int dom = -1;

	for (int i = 0; i < l->n; i++) {
		const struct svg_bucket *b = &l->b[i];
		uint64_t bs = (uint64_t)(l->base + i) << l->shift;
		int d = dominant(b);

		if (d != dom || bs != re) {
			run_flush(f, w, dom, rs, re, acc);
			dom = d;
			rs = bs;
			memset(acc, 0, sizeof(acc));
		}
		if (d < 0)
			continue;
		for (int c = 0; c < SC_NR; c++)
			acc[c] += b->ns[c];
		re = bs + width;
	}
	run_flush(f, w, dom, rs, re, acc);
}

static void from_label(char *buf, size_t len, const struct svg_view *w, const struct vw_vcpu *v)
{
	int r = lane_map_get((struct lane_map *)&w->rowmap, v);

	if (r >= 0)
		svg_row_label(buf, len, &w->rows[r]);
	else
		snprintf(buf, len, "a vCPU not shown");
}

/* Periods of a pixel or more, whole, with their state, reason, start and duration. */
static void draw_segs(FILE *f, const struct svg_view *w, const struct svg_lane *l)
{
	for (int i = 0; i < l->nseg; i++) {
		const struct svg_seg *g = &l->seg[i];
		double x0 = svg_x(w, g->start), x1 = svg_x(w, g->end);
		char a[32], d[32], who[64];

		if (x1 <= x0)
			continue;
		fprintf(f, "<rect class=\"c%d\" x=\"%.2f\" width=\"%.2f\" height=\"%d\"><title>%s",
			g->cls, x0, x1 - x0, SVG_LANE_H, svg_class_names[g->cls]);
		if (g->from) {
			from_label(who, sizeof(who), w, g->from);
			fprintf(f, " from ");
			svg_text(f, who);
		}
		if (g->vector >= 0)
			fprintf(f, ", vector 0x%x", g->vector);
		fprintf(f, ": %s s for %s</title></rect>\n", svg_secs(a, sizeof(a), g->start, 6),
			fmt_duration(d, sizeof(d), g->end - g->start));
	}
}

void svg_draw_lane(FILE *f, struct svg *s, const struct svg_view *w, int r)
{
	const struct svg_row *row = &w->rows[r];
	char label[64];

	svg_row_label(label, sizeof(label), row);
	fprintf(f, "<g class=\"lane\" id=\"lane-%d\" transform=\"translate(0,%d)\" data-vm=\"%d\" "
		"data-pid=\"%d\" data-vcpu=\"%d\" data-tid=\"%d\" data-l2=\"%d\" data-y=\"%d\" "
		"data-h=\"%d\">\n", r, row->y, row->vmi, row->vm->pid, row->v->vcpu, row->v->tid,
		row->l2, row->y, SVG_LANE_H);
	fprintf(f, "<text x=\"%d\" y=\"%d\">", row->l2 ? 28 : 16, SVG_LANE_H - 4);
	svg_text(f, label);
	fprintf(f, "</text>\n<rect class=\"bg\" x=\"%d\" width=\"%d\" height=\"%d\"/>\n",
		SVG_PLOT_X, SVG_PLOT_W, SVG_LANE_H);
	if (row->lane >= 0) {
		draw_runs(f, w, &s->lanes[row->lane]);
		draw_segs(f, w, &s->lanes[row->lane]);
	}
	fprintf(f, "</g>\n");
}

/* Columns of lane @l with an IPI wake from another lane shown. */
static int ipi_columns(const struct svg_view *w, const struct svg_lane *l, int r)
{
	int n = 0;

	for (int i = 0; i < l->n; i++) {
		const struct svg_bucket *b = &l->b[i];
		int fr;

		if (!b->nipi || b->ipi_ts < w->t0 || b->ipi_ts > w->t1)
			continue;
		fr = lane_map_get((struct lane_map *)&w->rowmap, b->ipi_from);
		n += fr >= 0 && fr != r;
	}
	return n;
}

/*
 * One arrow per pixel column where IPIs woke a lane, from the sender's lane;
 * where arrows would cover the lanes (more than one column in 8), a mark on
 * the woken lane's top edge instead.
 */
static void lane_ipis(FILE *f, const struct svg_view *w, const struct svg_lane *l, int r)
{
	const struct svg_row *to = &w->rows[r];
	bool dense = ipi_columns(w, l, r) > SVG_PLOT_W / 8;

	for (int i = 0; i < l->n; i++) {
		const struct svg_bucket *b = &l->b[i];
		char a[32], src[64], dst[64];
		int fr;
		double x, y0, y1;

		if (!b->nipi || b->ipi_ts < w->t0 || b->ipi_ts > w->t1)
			continue;
		fr = lane_map_get((struct lane_map *)&w->rowmap, b->ipi_from);
		if (fr < 0 || fr == r)
			continue;
		x = svg_x(w, b->ipi_ts);
		y0 = w->rows[fr].y + SVG_LANE_H / 2.0;
		y1 = fr < r ? to->y - 1.0 : to->y + SVG_LANE_H + 1.0;
		svg_row_label(src, sizeof(src), &w->rows[fr]);
		svg_row_label(dst, sizeof(dst), to);
		if (dense)
			fprintf(f, "<path class=\"ipim\" d=\"M%.2f %dl-2.5 -4h5z\"><title>IPI from ",
				x, to->y);
		else
			fprintf(f, "<path class=\"ipi\" d=\"M%.2f %.1fV%.1f\"><title>IPI from ", x,
				y0, y1);
		svg_text(f, src);
		fprintf(f, " to ");
		svg_text(f, dst);
		fprintf(f, " at %s s", svg_secs(a, sizeof(a), b->ipi_ts, 6));
		if (b->nipi > 1)
			fprintf(f, " (%u IPI wakes in this pixel)", b->nipi);
		fprintf(f, "</title></path>\n");
	}
}

void svg_draw_ipis(FILE *f, struct svg *s, const struct svg_view *w)
{
	fprintf(f, "<g id=\"ipis\">\n");
	for (int r = 0; r < w->nrows; r++)
		if (w->rows[r].lane >= 0)
			lane_ipis(f, w, &s->lanes[w->rows[r].lane], r);
	fprintf(f, "</g>\n");
}
