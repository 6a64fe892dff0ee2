/* The recorder's event set: vmwait's table for this kernel plus the -e events. */
#include <stdlib.h>
#include <string.h>

#include <tracefs.h>

#include "events.h"
#include "recorder.h"
#include "util.h"

static bool has_event(const struct rec_events *evs, const char *sys, const char *name)
{
	for (size_t i = 0; i < evs->n; i++)
		if (!strcmp(evs->ev[i].system, sys) && !strcmp(evs->ev[i].name, name))
			return true;
	return false;
}

static void add_event(struct rec_events *evs, const char *sys, const char *name)
{
	struct rec_event *ev;

	if (has_event(evs, sys, name))
		return;
	evs->ev = xrealloc(evs->ev, (evs->n + 1) * sizeof(*evs->ev));
	ev = &evs->ev[evs->n++];
	ev->system = xstrdup(sys);
	ev->name = xstrdup(name);
	/* ftrace events (print, bprint, ...) are written without being enabled. */
	ev->implicit = !strcmp(sys, "ftrace");
}

/* Add every event of @sys; -1 if the system does not exist. */
static int add_system(struct rec_events *evs, const char *tdir, const char *sys)
{
	char **names = tracefs_system_events(tdir, sys);
	int n = 0;

	for (int i = 0; names && names[i]; i++, n++)
		add_event(evs, sys, names[i]);
	tracefs_list_free(names);
	return n ? 0 : -1;
}

/* Add one -e spec: "system:event", "system:*" or "system". */
static int add_spec(struct rec_events *evs, const char *tdir, const char *spec)
{
	char *sys = xstrdup(spec), *name = strchr(sys, ':');
	int ret = 0;

	if (name)
		*name++ = '\0';
	if (!*sys || (name && (!*name || strchr(name, ':') || strchr(name, '/'))) ||
	    strchr(sys, '/') || !strcmp(sys, ".") || !strcmp(sys, "..")) {
		vw_err("bad event '%s' (expected SYSTEM:EVENT)", spec);
		ret = -1;
	} else if (!name || !strcmp(name, "*")) {
		ret = add_system(evs, tdir, sys);
		if (ret < 0)
			vw_err("no such event system in this kernel: %s", sys);
	} else if (!vw_event_exists(tdir, sys, name)) {
		vw_err("no such event in this kernel: %s:%s", sys, name);
		ret = -1;
	} else {
		add_event(evs, sys, name);
	}
	free(sys);
	return ret;
}

int rec_events_build(const char *tdir, bool light, char **extra, size_t nextra,
		     struct rec_events *out)
{
	struct vw_evset present, missing;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	vw_events_resolve(tdir, light, &present, &missing);
	if (!vw_evset_has_kvm(&present)) {
		vw_err("this kernel has no kvm trace events (is the kvm module loaded?)");
		goto out;
	}
	for (size_t i = 0; i < present.n; i++)
		add_event(out, present.ev[i]->system, present.ev[i]->name);
	for (size_t i = 0; i < nextra; i++)
		if (add_spec(out, tdir, extra[i]) < 0)
			goto out;
	if (missing.n) {
		struct sbuf sb = { 0 };

		for (size_t i = 0; i < missing.n; i++)
			sbuf_addf(&sb, " %s:%s", missing.ev[i]->system, missing.ev[i]->name);
		out->missing = sb.buf;
		out->nmissing = missing.n;
	}
	ret = 0;
out:
	vw_evset_free(&present);
	vw_evset_free(&missing);
	if (ret < 0)
		rec_events_free(out);
	return ret;
}

void rec_events_free(struct rec_events *evs)
{
	for (size_t i = 0; i < evs->n; i++) {
		free(evs->ev[i].system);
		free(evs->ev[i].name);
	}
	free(evs->ev);
	free(evs->missing);
	memset(evs, 0, sizeof(*evs));
}
