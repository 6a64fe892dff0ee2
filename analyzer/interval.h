/* Interval slices of an analysis (interval.c): --interval and vmwait top. */
#ifndef VMWAIT_INTERVAL_H
#define VMWAIT_INTERVAL_H

#include <stddef.h>
#include <stdint.h>

#include "result.h"
#include "sink.h"

struct analyzer;
struct interval;

struct interval *interval_new(struct analyzer *a, uint64_t len_ns);
const struct vw_sink *interval_sink(struct interval *iv);
size_t interval_count(const struct interval *iv);
uint64_t interval_start(const struct interval *iv, size_t k);
void interval_result(struct interval *iv, size_t k, const struct vw_result *final,
		     struct vw_result *out);
void interval_free(struct interval *iv);

#endif
