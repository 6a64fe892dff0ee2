/* Metadata of the recording: headers, formats, kallsyms, printk, uname, clock. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include <tracefs.h>

#include "recorder.h"
#include "util.h"

/* Read @file of @inst (NULL: top level) into @sb; prints an error on failure. */
static int read_tracefs(struct tracefs_instance *inst, const char *file, struct sbuf *sb)
{
	char *path = tracefs_instance_get_file(inst, file);
	int ret = path ? read_file(path, sb) : -1;

	if (ret < 0)
		vw_err("cannot read %s: %s", path ? path : file, strerror(errno));
	tracefs_put_tracing_file(path);
	return ret;
}

/* Report a failed call of the writer. */
static int chk(int ret, const char *what)
{
	if (ret < 0)
		vw_err("cannot write %s to the output: %s", what, strerror(errno));
	return ret;
}

static int write_headers(struct tdat_writer *w, struct tracefs_instance *inst)
{
	struct sbuf page = { 0 }, event = { 0 };
	int ret = -1;

	if (read_tracefs(inst, "events/header_page", &page) < 0 ||
	    read_tracefs(inst, "events/header_event", &event) < 0)
		goto out;
	ret = chk(tdat_set_headers(w, page.buf, page.len, event.buf, event.len), "headers");
out:
	sbuf_free(&page);
	sbuf_free(&event);
	return ret;
}

/* Add the format of @sys:@name (ftrace ones in their own section). */
static int write_format(struct tdat_writer *w, struct tracefs_instance *inst,
			const char *sys, const char *name)
{
	struct sbuf path = { 0 }, fmt = { 0 };
	int ret;

	sbuf_addf(&path, "events/%s/%s/format", sys, name);
	ret = read_tracefs(inst, path.buf, &fmt);
	if (!ret && !strcmp(sys, "ftrace"))
		ret = chk(tdat_add_ftrace_format(w, fmt.buf, fmt.len), "formats");
	else if (!ret)
		ret = chk(tdat_add_event_format(w, sys, fmt.buf, fmt.len), "formats");
	sbuf_free(&path);
	sbuf_free(&fmt);
	return ret;
}

/* All the ftrace formats (as trace-cmd writes them), then the enabled events'. */
static int write_formats(struct tdat_writer *w, struct tracefs_instance *inst,
			 const struct rec_events *evs)
{
	char **names = tracefs_system_events(tracefs_instance_get_trace_dir(inst), "ftrace");
	int ret = 0;

	for (int i = 0; !ret && names && names[i]; i++)
		ret = write_format(w, inst, "ftrace", names[i]);
	tracefs_list_free(names);
	for (size_t i = 0; !ret && i < evs->n; i++)
		if (strcmp(evs->ev[i].system, "ftrace"))
			ret = write_format(w, inst, evs->ev[i].system, evs->ev[i].name);
	return ret;
}

/* /proc/kallsyms; warns when kptr_restrict hides the addresses. */
static int write_kallsyms(struct tdat_writer *w)
{
	struct sbuf sb = { 0 };
	int ret;

	if (read_file("/proc/kallsyms", &sb) < 0) {
		vw_warn("cannot read /proc/kallsyms: %s; kernel functions will not be resolved",
			strerror(errno));
		return 0;
	}
	if (!strncmp(sb.buf, "0000000000000000 ", 17))
		vw_warn("/proc/kallsyms shows no addresses (kernel.kptr_restrict); "
			"timer functions will not be resolved");
	ret = chk(tdat_set_kallsyms(w, sb.buf, sb.len), "kallsyms");
	sbuf_free(&sb);
	return ret;
}

static int write_printk(struct tdat_writer *w)
{
	struct sbuf sb = { 0 };
	int ret;

	if (read_tracefs(NULL, "printk_formats", &sb) < 0) {
		sbuf_free(&sb);
		return -1;
	}
	ret = chk(tdat_set_printk(w, sb.buf, sb.len), "printk formats");
	sbuf_free(&sb);
	return ret;
}

/* The UNAME option as trace-cmd writes it. */
static int write_uname(struct tdat_writer *w)
{
	struct utsname u;
	struct sbuf sb = { 0 };
	int ret;

	if (uname(&u) < 0)
		return 0;
	sbuf_addf(&sb, "%s %s %s %s", u.sysname, u.release, u.version, u.machine);
	ret = chk(tdat_set_uname(w, sb.buf), "uname");
	sbuf_free(&sb);
	return ret;
}

int rec_write_meta(struct tdat_writer *w, struct tracefs_instance *inst,
		   const struct rec_events *evs)
{
	char *clock;
	int ret;

	if (write_headers(w, inst) < 0 || write_formats(w, inst, evs) < 0 ||
	    write_kallsyms(w) < 0 || write_printk(w) < 0 || write_uname(w) < 0)
		return -1;
	clock = tracefs_get_clock(inst);
	ret = chk(tdat_set_clock(w, clock ? clock : "local"), "trace clock");
	free(clock);
	return ret;
}

/* The global saved_cmdlines (pid -> comm), read at the end of the recording. */
int rec_write_cmdlines(struct tdat_writer *w)
{
	struct sbuf sb = { 0 };
	int ret;

	if (read_tracefs(NULL, "saved_cmdlines", &sb) < 0) {
		sbuf_free(&sb);
		return 0;	/* reported; the comms are also in the events */
	}
	ret = tdat_set_cmdlines(w, sb.buf, sb.len);
	sbuf_free(&sb);
	return ret;
}
