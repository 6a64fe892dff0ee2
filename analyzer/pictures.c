/* The pictures analyze can write next to its report: opening, closing, the lane map. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pictures.h"
#include "util.h"

int pictures_open(struct pictures *p, const char *svg, const char *perfetto, bool progress,
		  const struct vw_sink **sinks, int *nsinks, int max)
{
	memset(p, 0, sizeof(*p));
	progress_init(&p->progress, progress);
	if (svg) {
		p->svg = svg_open(svg);
		if (!p->svg || *nsinks >= max)
			goto err;
		sinks[(*nsinks)++] = svg_sink(p->svg);
	}
	if (perfetto) {
		p->perfetto = perfetto_open(perfetto);
		if (!p->perfetto || *nsinks >= max)
			goto err;
		sinks[(*nsinks)++] = perfetto_sink(p->perfetto);
	}
	return 0;
err:
	pictures_close(p, NULL);
	return -1;
}

int pictures_close(struct pictures *p, const struct vw_result *r)
{
	int ret = 0;

	progress_done(&p->progress);
	if (p->svg && svg_close(p->svg, r))
		ret = -1;
	if (p->perfetto && perfetto_close(p->perfetto, r))
		ret = -1;
	p->svg = NULL;
	p->perfetto = NULL;
	return ret;
}

int utf8_len(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	int n;

	if (u[0] < 0x80)
		return 1;
	if (u[0] >= 0xc2 && u[0] <= 0xdf)
		n = 2;
	else if (u[0] >= 0xe0 && u[0] <= 0xef)
		n = 3;
	else if (u[0] >= 0xf0 && u[0] <= 0xf4)
		n = 4;
	else
		return 0;
	for (int i = 1; i < n; i++)
		if ((u[i] & 0xc0) != 0x80)
			return 0;
	/* no overlong forms, surrogates or code points above U+10FFFF */
	if ((u[0] == 0xe0 && u[1] < 0xa0) || (u[0] == 0xed && u[1] > 0x9f) ||
	    (u[0] == 0xf0 && u[1] < 0x90) || (u[0] == 0xf4 && u[1] > 0x8f))
		return 0;
	return n;
}

/* ---- lane map: open addressing on the pointer ---- */

static unsigned int slot(const struct lane_map *m, const void *key)
{
	uint64_t h = (uint64_t)(uintptr_t)key * 0x9e3779b97f4a7c15ULL;

	return (unsigned int)(h >> 32) & (m->size - 1);
}

int lane_map_get(struct lane_map *m, const void *key)
{
	unsigned int i;

	if (key && key == m->last_key)
		return m->last_val;
	if (!m->size || !key)
		return -1;
	for (i = slot(m, key); m->keys[i]; i = (i + 1) & (m->size - 1)) {
		if (m->keys[i] == key) {
			m->last_key = key;
			m->last_val = m->vals[i];
			return m->vals[i];
		}
	}
	return -1;
}

static void grow(struct lane_map *m)
{
	struct lane_map n = { .size = m->size ? m->size * 2 : 64 };

	n.keys = xcalloc(n.size, sizeof(*n.keys));
	n.vals = xcalloc(n.size, sizeof(*n.vals));
	for (unsigned int i = 0; i < m->size; i++)
		if (m->keys[i])
			lane_map_put(&n, m->keys[i], m->vals[i]);
	free(m->keys);
	free(m->vals);
	*m = n;
}

void lane_map_put(struct lane_map *m, const void *key, int val)
{
	unsigned int i;

	if (2 * (m->n + 1) > m->size)
		grow(m);
	for (i = slot(m, key); m->keys[i]; i = (i + 1) & (m->size - 1))
		if (m->keys[i] == key)
			break;
	if (!m->keys[i])
		m->n++;
	m->keys[i] = key;
	m->vals[i] = val;
	m->last_key = NULL;
}

void lane_map_free(struct lane_map *m)
{
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}
