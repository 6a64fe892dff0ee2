/* The text and CSV reports of an analysis result. */
#ifndef VMWAIT_REPORT_H
#define VMWAIT_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "result.h"

enum { SORT_COUNT, SORT_TIME, SORT_MEAN, SORT_P99, SORT_MAX, SORT_NAME };

struct report_opts {
	int top;		/* preemptors shown (the rest: one "others" row) */
	int top_exits;		/* exit reasons shown */
	int sort;		/* SORT_*: the exits table's order */
	bool color;		/* ANSI colour (a terminal, no NO_COLOR) */
};

void report_text(const struct vw_result *r, const struct report_opts *o, FILE *f);
void report_csv(const struct vw_result *r, FILE *f);
uint64_t report_span(const struct vw_vcpu *v);

#endif
