/*
 * vmwait analyze --svg: the resource view of an analysis as one
 * self-contained SVG: a lane per vCPU (L2 lanes under their L1 vCPU) grouped
 * by VM, coloured by state and idle by wake reason, IPI arrows, a time axis
 * in trace seconds, a legend, and the idle-duration histograms below.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "svg_int.h"
#include "util.h"

const char *const svg_class_names[SC_NR] = {
	[SC_GUEST] = "guest", [SC_L2] = "guest_l2", [SC_HYP] = "hypervisor", [SC_VMM] = "vmm",
	[SC_PREEMPTED] = "preempted", [SC_RUNNING] = "running", [SC_UNKNOWN] = "unknown",
	[SC_LOST] = "unknown (lost events or gap)", [SC_IDLE] = "idle, its wake not seen",
	[SC_WAIT + WR_TIMER] = "idle: timer", [SC_WAIT + WR_IPI] = "idle: ipi",
	[SC_WAIT + WR_DISK] = "idle: disk", [SC_WAIT + WR_NET] = "idle: net",
	[SC_WAIT + WR_DEVICE] = "idle: device", [SC_WAIT + WR_UNKNOWN] = "idle: unknown",
};

/* Busy states in strong colours, idle in light ones, one hue per wake reason. */
const char *const svg_class_fill[SC_NR] = {
	[SC_GUEST] = "#2ca02c", [SC_L2] = "#005a32", [SC_HYP] = "#ff7f0e", [SC_VMM] = "#9467bd",
	[SC_PREEMPTED] = "#d62728", [SC_RUNNING] = "#a1d76a", [SC_UNKNOWN] = "#969696",
	[SC_LOST] = "url(#hatch)", [SC_IDLE] = "#dde6f0",
	[SC_WAIT + WR_TIMER] = "#6baed6", [SC_WAIT + WR_IPI] = "#f4a6c7",
	[SC_WAIT + WR_DISK] = "#d8b07a", [SC_WAIT + WR_NET] = "#ffe45c",
	[SC_WAIT + WR_DEVICE] = "#7fd1c2", [SC_WAIT + WR_UNKNOWN] = "#c9b7dd",
};

#define TITLE_H		44
#define LEGEND_H	44
#define VM_H		20
#define ROW_H		(SVG_LANE_H + 4)
#define AXIS_H		34

/* @s as XML character data: escaped, control characters and invalid UTF-8 as '?'. */
void svg_text(FILE *f, const char *s)
{
	while (*s) {
		int n = utf8_len(s);

		switch (*s) {
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '&': fputs("&amp;", f); break;
		case '"': fputs("&quot;", f); break;
		default:
			if (!n || (unsigned char)*s < 0x20)
				fputc('?', f);
			else
				fwrite(s, 1, n, f);
		}
		s += n ? n : 1;
	}
}

/* @ns as seconds with @decimals (0..9) digits, rounded. */
const char *svg_secs(char *buf, size_t len, uint64_t ns, int decimals)
{
	uint64_t unit = 1, v;

	for (int i = decimals; i < 9; i++)
		unit *= 10;
	v = (ns + unit / 2) / unit;
	if (decimals)
		snprintf(buf, len, "%llu.%0*llu", (unsigned long long)(v / (NSEC_PER_SEC / unit)),
			 decimals, (unsigned long long)(v % (NSEC_PER_SEC / unit)));
	else
		snprintf(buf, len, "%llu", (unsigned long long)v);
	return buf;
}

struct svg *svg_open(const char *path)
{
	struct svg *s = xcalloc(1, sizeof(*s));

	s->f = fopen(path, "w");
	if (!s->f) {
		vw_err("cannot write %s: %s", path, strerror(errno));
		free(s);
		return NULL;
	}
	s->path = xstrdup(path);
	svg_sink_init(s);
	return s;
}

const struct vw_sink *svg_sink(struct svg *s)
{
	return &s->sink;
}

/* ---- layout ---- */

static void add_row(struct svg_view *w, struct svg *s, const struct vw_vm *vm, int vmi,
		    const struct vw_vcpu *v, bool l2, int *y)
{
	struct svg_row *row;

	w->rows = xrealloc(w->rows, (w->nrows + 1) * sizeof(*w->rows));
	row = &w->rows[w->nrows];
	row->v = v;
	row->vm = vm;
	row->vmi = vmi;
	row->l2 = l2;
	row->y = *y;
	row->lane = lane_map_get(&s->map, v);
	lane_map_put(&w->rowmap, v, w->nrows++);
	*y += ROW_H;
}

/* Rows: per VM a title, then its vCPUs, each followed by the L2 vCPUs it ran. */
static int layout(struct svg_view *w, struct svg *s, const struct vw_result *r, int y)
{
	for (int i = 0; i < r->nr_vms; i++) {
		const struct vw_vm *vm = r->vms[i];

		y += VM_H;
		for (int j = 0; j < vm->nr_vcpus; j++) {
			add_row(w, s, vm, i, vm->vcpus[j], false, &y);
			for (int n = 0; n < vm->nr_nested; n++)
				for (int k = 0; k < vm->nested[n].nr_vcpus; k++)
					if (vm->nested[n].vcpus[k]->tid == vm->vcpus[j]->tid)
						add_row(w, s, vm, i, vm->nested[n].vcpus[k], true,
							&y);
		}
	}
	return y;
}

static void vm_title(FILE *f, const struct vw_vm *vm, int y)
{
	int n = vm->nr_vcpus;

	fprintf(f, "<text class=\"vm\" x=\"4\" y=\"%d\">VM ", y + VM_H - 6);
	svg_text(f, vm->name ? vm->name : "?");
	if (vm->guessed) {
		fprintf(f, " (guessed: pid unknown; vCPU threads grouped by: ");
		svg_text(f, vm->grouped_by && *vm->grouped_by ? vm->grouped_by : "nothing");
		fprintf(f, ")");
	} else if (vm->pid >= 0) {
		fprintf(f, " (pid %d)", vm->pid);
	} else {
		fprintf(f, " (pid unknown)");
	}
	fprintf(f, ", %d vCPU%s</text>\n", n, n == 1 ? "" : "s");
}

/* ---- header, legend, axis ---- */

static void defs(FILE *f)
{
	fprintf(f, "<defs>\n<style>\n"
		"text{font-family:sans-serif;font-size:11px;fill:#222}\n"
		".title{font-size:14px;font-weight:bold}.vm{font-weight:bold}\n"
		".bg{fill:#f3f3f3}.grid{stroke:#d0d0d0;stroke-width:1}\n"
		".lane rect{shape-rendering:crispEdges}.axis{stroke:#444;stroke-width:1}\n"
		".ipi{stroke:#c51b7d;stroke-width:1;fill:none;marker-end:url(#arrow)}"
		".ipim{fill:#c51b7d}\n.bar{stroke:none}.pct{stroke:#333;stroke-dasharray:2,2}\n");
	for (int c = 0; c < SC_NR; c++)
		fprintf(f, ".c%d{fill:%s}\n", c, svg_class_fill[c]);
	fprintf(f, "</style>\n"
		"<pattern id=\"hatch\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" "
		"patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"#e8e8e8\"/>"
		"<rect width=\"2\" height=\"6\" fill=\"#555555\"/></pattern>\n"
		"<marker id=\"arrow\" viewBox=\"0 0 6 6\" refX=\"6\" refY=\"3\" markerWidth=\"6\" "
		"markerHeight=\"6\" orient=\"auto\"><path d=\"M0,0L6,3L0,6z\" fill=\"#c51b7d\"/>"
		"</marker>\n</defs>\n");
}

static void title(FILE *f, const struct vw_result *r, const struct svg_view *w)
{
	char a[32], b[32], d[32], more[128];

	fprintf(f, "<text class=\"title\" x=\"4\" y=\"18\">");
	svg_text(f, r->file ? r->file : "?");
	fprintf(f, ": %s (%s s to %s s), %llu events on %d CPUs, ",
		fmt_duration(d, sizeof(d), r->end_ns - r->start_ns),
		svg_secs(a, sizeof(a), r->start_ns, 6), svg_secs(b, sizeof(b), r->end_ns, 6),
		(unsigned long long)r->events, r->cpus);
	if (res_lossy(r))
		fprintf(f, "%s</text>\n", res_loss_text(r, "events lost", more, sizeof(more)));
	else
		fprintf(f, "no lost events</text>\n");
	fprintf(f, "<text x=\"4\" y=\"36\">");
	if (r->has_window)
		fprintf(f, "window %s s to %s s; ", svg_secs(a, sizeof(a), w->t0, 6),
			svg_secs(b, sizeof(b), w->t1, 6));
	fprintf(f, "evidence: ");
	svg_text(f, r->evidence.tier);
	fprintf(f, ". One lane per vCPU, coloured by state, idle by what woke it; periods under a "
		"pixel are summed per pixel (hover for the mix).</text>\n");
}

static void legend(FILE *f, int y)
{
	static const int order[] = {
		SC_GUEST, SC_L2, SC_HYP, SC_VMM, SC_PREEMPTED, SC_RUNNING, SC_UNKNOWN, SC_LOST, -1,
		SC_WAIT + WR_TIMER, SC_WAIT + WR_IPI, SC_WAIT + WR_DISK, SC_WAIT + WR_NET,
		SC_WAIT + WR_DEVICE, SC_WAIT + WR_UNKNOWN, SC_IDLE,
	};
	int x = SVG_PLOT_X, yy = y;

	fprintf(f, "<g id=\"legend\">\n<text x=\"4\" y=\"%d\">states</text>\n"
		"<text x=\"4\" y=\"%d\">idle, by what woke it</text>\n", y + 11, y + 31);
	for (size_t i = 0; i < ARRAY_SIZE(order); i++) {
		int c = order[i];

		if (c < 0) {
			x = SVG_PLOT_X;
			yy += 20;
			continue;
		}
		fprintf(f, "<rect class=\"c%d\" x=\"%d\" y=\"%d\" width=\"14\" height=\"12\"/>"
			"<text x=\"%d\" y=\"%d\">%s</text>\n", c, x, yy + 1, x + 18, yy + 11,
			svg_class_names[c]);
		x += 18 + 7 * (int)strlen(svg_class_names[c]) + 16;
	}
	fprintf(f, "<path class=\"ipi\" d=\"M%d %dH%d\"/><text x=\"%d\" y=\"%d\">IPI: sender to "
		"woken vCPU</text>\n</g>\n", x, yy + 7, x + 24, x + 30, yy + 11);
}

/* A step of 1, 2 or 5 times a power of ten giving at most 10 ticks over @span ns. */
static uint64_t tick_step(uint64_t span, int *decimals)
{
	uint64_t p = 1;

	for (int e = 0; e < 19; e++, p *= 10) {
		static const int m[] = { 1, 2, 5 };

		for (int i = 0; i < 3; i++) {
			if (span / (p * m[i]) <= 10) {
				*decimals = e >= 9 ? 0 : 9 - e;
				return p * m[i];
			}
		}
	}
	*decimals = 0;
	return p;
}

/* Grid lines behind the lanes (top..bottom) and the labelled axis at @bottom. */
static void axis(FILE *f, const struct svg_view *w, int top, int bottom)
{
	int dec;
	uint64_t step = tick_step(w->t1 - w->t0, &dec);
	char a[32];

	fprintf(f, "<g id=\"axis\">\n<path class=\"axis\" d=\"M%d %dH%d\"/>\n", SVG_PLOT_X,
		bottom, SVG_PLOT_X + SVG_PLOT_W);
	for (uint64_t t = (w->t0 + step - 1) / step * step; t <= w->t1; t += step) {
		double x = svg_x(w, t);

		fprintf(f, "<path class=\"grid\" d=\"M%.2f %dV%d\"/><path class=\"axis\" "
			"d=\"M%.2f %dV%d\"/><text x=\"%.2f\" y=\"%d\" text-anchor=\"middle\">%s"
			"</text>\n", x, top, bottom, x, bottom, bottom + 5, x, bottom + 17,
			svg_secs(a, sizeof(a), t, dec));
	}
	fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">trace time (s)</text>\n</g>\n",
		SVG_PLOT_X - 34, bottom + 17);
}

/* ---- the whole picture ---- */

static void view_init(struct svg_view *w, const struct vw_result *r)
{
	w->t0 = r->start_ns;
	w->t1 = r->end_ns;
	if (r->has_window) {
		w->t0 = MAX(w->t0, r->window_from);
		w->t1 = MIN(w->t1, r->window_to);
	}
	if (w->t1 <= w->t0)
		w->t1 = w->t0 + 1;
	w->scale = (double)SVG_PLOT_W / (double)(w->t1 - w->t0);
}

/* Every lane at the same pixel grid: buckets of at most a pixel column or two. */
static void coarsen_all(struct svg *s, const struct svg_view *w)
{
	int shift = 0;

	while (((w->t1 - 1) >> shift) - (w->t0 >> shift) + 1 > SVG_PLOT_W)
		shift++;
	for (int i = 0; i < s->nlanes; i++)
		while (s->lanes[i].shift < shift)
			svg_lane_coarsen(&s->lanes[i]);
}

/* Draws into @f; returns the picture's height. */
static int draw(FILE *f, struct svg *s, const struct vw_result *r, struct svg_view *w)
{
	int top = TITLE_H + LEGEND_H, bottom, y;

	title(f, r, w);
	legend(f, TITLE_H);
	bottom = layout(w, s, r, top) + 4;
	axis(f, w, top, bottom);
	if (!w->nrows)
		fprintf(f, "<text x=\"%d\" y=\"%d\">No vCPU threads in the selection.</text>\n",
			SVG_PLOT_X, top + 14);
	for (int i = 0, r0 = 0; i < r->nr_vms; i++) {
		while (r0 < w->nrows && w->rows[r0].vmi < i)
			r0++;
		vm_title(f, r->vms[i], r0 < w->nrows ? w->rows[r0].y - VM_H : top);
	}
	for (int i = 0; i < w->nrows; i++)
		svg_draw_lane(f, s, w, i);
	svg_draw_ipis(f, s, w);
	y = bottom + AXIS_H;
	y += svg_hists(f, r, y);
	fprintf(f, "</svg>\n");
	return y + 8;
}

int svg_close(struct svg *s, const struct vw_result *r)
{
	struct svg_view w = { 0 };
	char *body = NULL;
	size_t len = 0;
	FILE *mem;
	int ret = 0, h;

	if (!r) {		/* nothing analyzed: no file left behind */
		unlink(s->path);
		goto out;
	}
	view_init(&w, r);
	coarsen_all(s, &w);
	mem = open_memstream(&body, &len);
	if (!mem) {
		vw_err("cannot draw %s: %s", s->path, strerror(errno));
		ret = -1;
		goto out;
	}
	h = draw(mem, s, r, &w);
	fclose(mem);
	fprintf(s->f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/"
		"2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" data-t0=\"%llu\" "
		"data-t1=\"%llu\" data-plot-x=\"%d\" data-plot-w=\"%d\">\n", SVG_W, h, SVG_W, h,
		(unsigned long long)w.t0, (unsigned long long)w.t1, SVG_PLOT_X, SVG_PLOT_W);
	defs(s->f);
	fprintf(s->f, "<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n");
	fwrite(body, 1, len, s->f);
out:
	if (s->f && (fflush(s->f) || ferror(s->f))) {
		vw_err("writing %s failed: %s", s->path, strerror(errno));
		ret = -1;
	}
	if (s->f)
		fclose(s->f);
	for (int i = 0; i < s->nlanes; i++)
		svg_lane_free(&s->lanes[i]);
	free(s->lanes);
	lane_map_free(&s->map);
	lane_map_free(&w.rowmap);
	free(w.rows);
	free(body);
	free(s->path);
	free(s);
	return ret;
}
