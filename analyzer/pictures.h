/*
 * Pictures of an analysis: the SVG timeline (--svg, svg*.c), the Perfetto
 * export (--perfetto, perfetto.c) and the progress line on a terminal
 * (progress.c). The first two are sinks (sink.h) fed during the pass and
 * drawn from the finished, filtered result.
 */
#ifndef VMWAIT_PICTURES_H
#define VMWAIT_PICTURES_H

#include <stdbool.h>
#include <stdint.h>

#include "sink.h"

struct tin;
struct svg;
struct perfetto;

/* Opened before the pass (an unwritable FILE fails here, said); NULL on error. */
struct svg *svg_open(const char *path);
const struct vw_sink *svg_sink(struct svg *s);
/* Draw what @r kept after the filters, write, free @s; -1 on a write error (said). */
int svg_close(struct svg *s, const struct vw_result *r);

struct perfetto *perfetto_open(const char *path);
const struct vw_sink *perfetto_sink(struct perfetto *p);
int perfetto_close(struct perfetto *p, const struct vw_result *r);

/* The progress line: percent of the file, events/s, ETA; only on a terminal. */
struct progress {
	bool on;
	bool shown;
	uint32_t tick;
	uint64_t start_us, next_us;	/* monotonic: the pass began; next update */
};

void progress_init(struct progress *p, bool enabled);
void progress_update(struct progress *p, const struct tin *t, uint64_t events);
void progress_done(struct progress *p);

/* Cheap enough for every record: the clock is read every 16384 calls. */
static inline void progress_tick(struct progress *p, const struct tin *t, uint64_t events)
{
	if (p->on && !(++p->tick & 0x3fff))
		progress_update(p, t, events);
}

/* What analyze opens before its pass and closes after the filters. */
struct pictures {
	struct svg *svg;
	struct perfetto *perfetto;
	struct progress progress;
};

/* Open the sinks asked for and add them to @sinks; -1 on error (said). */
int pictures_open(struct pictures *p, const char *svg, const char *perfetto, bool progress,
		  const struct vw_sink **sinks, int *nsinks, int max);
/* Write them from the filtered result; -1 if one failed (said). */
int pictures_close(struct pictures *p, const struct vw_result *r);

/* Length of the valid UTF-8 character at @s (1..4), 0 if invalid (comms may be anything). */
int utf8_len(const char *s);

/* Lanes by their result pointer (shared by the SVG and the Perfetto sinks). */
struct lane_map {
	const void **keys;
	int *vals;
	unsigned int size, n;
	const void *last_key;
	int last_val;
};

int lane_map_get(struct lane_map *m, const void *key);	/* -1 when absent */
void lane_map_put(struct lane_map *m, const void *key, int val);
void lane_map_free(struct lane_map *m);

#endif
