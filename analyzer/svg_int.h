/*
 * The SVG timeline's inside: what each lane keeps during the pass (svg_lane.c)
 * and what the drawing needs (svg.c, svg_hist.c).
 *
 * A lane keeps its periods at the width of a pixel, whatever the trace's
 * length: time is cut into buckets of 2^shift ns aligned on absolute time
 * (bucket k covers [k << shift, (k + 1) << shift)); a period shorter than a
 * bucket adds its time to the buckets it overlaps, per colour class; a
 * longer one is kept whole as a segment. When a lane needs more than
 * SVG_MAXB buckets, its buckets are merged in pairs (shift + 1) and the
 * segments now shorter than a bucket go into them. Memory and the drawing
 * are bounded by the width, not by the number of events.
 */
#ifndef VMWAIT_SVG_INT_H
#define VMWAIT_SVG_INT_H

#include <stdio.h>

#include "pictures.h"

/* Layout, in SVG pixels. x of trace time t: SVG_PLOT_X + (t - t0) * SVG_PLOT_W / (t1 - t0). */
#define SVG_W		1400
#define SVG_PLOT_X	230
#define SVG_PLOT_W	1130
#define SVG_LANE_H	16
#define SVG_MAXB	(2 * SVG_PLOT_W)

/* Colour classes: the states, with idle split by what ended it. */
enum svg_class {
	SC_GUEST, SC_L2, SC_HYP, SC_VMM, SC_PREEMPTED, SC_RUNNING, SC_UNKNOWN,
	SC_LOST,		/* unknown after lost events or a gap: hatched */
	SC_IDLE,		/* idle that no wait ended (open at the end, dropped) */
	SC_WAIT,		/* + enum vw_reason: idle ended by that reason */
	SC_NR = SC_WAIT + WR_NR,
};

extern const char *const svg_class_names[SC_NR];
extern const char *const svg_class_fill[SC_NR];

struct svg_bucket {
	uint64_t ns[SC_NR];
	uint64_t ipi_ts;			/* the first IPI wake in it */
	const struct vw_vcpu *ipi_from;		/* its sender */
	uint32_t nipi;				/* IPI wakes in it */
};

struct svg_seg {
	uint64_t start, end;
	const struct vw_vcpu *from;		/* idle ended by an IPI: its sender */
	int16_t vector;				/* idle: the wake's vector, or -1 */
	uint8_t cls;
};

#define SVG_MARKS	8

#define SVG_EARLY	4

struct svg_lane {
	const struct vw_vcpu *key;
	int shift;
	int64_t base;			/* absolute index of b[0] */
	int n, cap;
	struct svg_bucket *b;
	struct svg_seg *seg;
	int nseg, segcap;
	uint64_t marks[SVG_MARKS];	/* losses and gaps not yet matched to an unknown period */
	int nmarks;
	uint64_t idle_end;		/* end of the latest idle period drawn */
	struct svg_early {		/* waits that came before their idle period */
		uint64_t start, end;
		const struct vw_vcpu *from;
		int16_t vector;
		uint8_t cls;
	} early[SVG_EARLY];
	int nearly;
};

#define SVG_CACHE	16

struct svg {
	FILE *f;
	char *path;
	struct vw_sink sink;
	struct lane_map map;
	struct svg_lane *lanes;
	int nlanes, cap;
	const struct vw_vcpu *cache[SVG_CACHE];	/* recent lanes by pointer bits */
	int cache_lane[SVG_CACHE];
};

/* What is drawn: the time range, and one row per lane shown. */
struct svg_row {
	const struct vw_vcpu *v;
	const struct vw_vm *vm;
	int vmi;			/* index of vm in the result */
	int y;
	bool l2;
	int lane;			/* in svg.lanes, -1: no period */
};

struct svg_view {
	uint64_t t0, t1;
	double scale;			/* pixels per ns */
	struct svg_row *rows;
	int nrows;
	struct lane_map rowmap;		/* vw_vcpu -> row */
};

/* svg_lane.c */
void svg_lane_coarsen(struct svg_lane *l);
void svg_lane_free(struct svg_lane *l);
void svg_sink_init(struct svg *s);

/* svg_draw.c */
double svg_x(const struct svg_view *w, uint64_t t);
void svg_row_label(char *buf, size_t len, const struct svg_row *row);
void svg_draw_lane(FILE *f, struct svg *s, const struct svg_view *w, int row);
void svg_draw_ipis(FILE *f, struct svg *s, const struct svg_view *w);

/* svg.c */
void svg_text(FILE *f, const char *s);		/* XML-escaped */
const char *svg_secs(char *buf, size_t len, uint64_t ns, int decimals);

/* svg_hist.c: the idle-duration histograms of @r at @y; returns the height drawn. */
int svg_hists(FILE *f, const struct vw_result *r, int y);

#endif
