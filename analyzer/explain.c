/*
 * --explain: the events of the chosen vCPUs in trace-cmd report's line format,
 * each followed by what the analysis decided at that event.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer.h"
#include "util.h"
#include "vectors.h"

struct explain {
	FILE *out;
	int *tids;
	int ntids;
	const char *bufname;
	const char *tfmt;
	struct sbuf notes;
	uint64_t from, to;
};

bool explain_selected(const struct analyzer *a, int tid)
{
	if (!a->ex || tid <= 0)
		return false;
	for (int i = 0; i < a->ex->ntids; i++)
		if (a->ex->tids[i] == tid)
			return true;
	return false;
}

void explain_note(struct analyzer *a, const struct thread *t, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	if (!a->ex || !explain_selected(a, t->tid))
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	sbuf_addf(&a->ex->notes, "    => vCPU %d (%s-%d): %s\n", t->vcpu_id, t->comm, t->tid, buf);
}

void explain_state(struct analyzer *a, const struct thread *t, enum vw_state from,
		   enum vw_state to)
{
	explain_note(a, t, "%s -> %s", vw_state_names[from], vw_state_names[to]);
}

/* One line of evidence, for the note of a finished wait. */
void explain_wait(struct analyzer *a, const struct thread *t, const struct pending_wait *pw,
		  enum vw_reason r, int src, int vec)
{
	const struct evidence *ev = &pw->ev;
	const struct thread *w = ev->waker >= 0 ? thread_find(a, ev->waker) : NULL;
	char d[32], evs[256] = "";
	size_t n = 0;

	if (!a->ex || !explain_selected(a, t->tid))
		return;
	if (vec >= 0) {
		const char *name = vector_name((unsigned int)vec);

		n += snprintf(evs + n, sizeof(evs) - n, " vector 0x%x%s%s%s", vec,
			      name ? " (" : "", name ? name : "", name ? ")" : "");
	}
	if (ev->waker >= 0 && n < sizeof(evs))
		n += snprintf(evs + n, sizeof(evs) - n, "; woken by %s-%d",
			      w && w->comm[0] ? w->comm : "?", ev->waker);
	if ((ev->flags & EV_TIMER_FN) && n < sizeof(evs))
		n += snprintf(evs + n, sizeof(evs) - n, " in a KVM timer hrtimer");
	if ((ev->flags & EV_IPI) && n < sizeof(evs))
		n += snprintf(evs + n, sizeof(evs) - n, " after kvm_apic_ipi");
	if ((ev->flags & EV_ROUTED) && n < sizeof(evs))
		n += snprintf(evs + n, sizeof(evs) - n, " after irq routing");
	if (ev->gsi >= 0 && n < sizeof(evs))
		n += snprintf(evs + n, sizeof(evs) - n, " gsi %d", ev->gsi);
	if ((ev->post_vector >= 0 || ev->post_inj >= 0) && ev->vector < 0 && n < sizeof(evs))
		snprintf(evs + n, sizeof(evs) - n, "; vector seen after the wake");
	if (r == WR_IPI && src >= 0)
		explain_note(a, t, "wait of %s ended: ipi from vCPU %d;%s",
			     fmt_duration(d, sizeof(d), pw->ns), src, evs);
	else
		explain_note(a, t, "wait of %s ended: %s;%s", fmt_duration(d, sizeof(d), pw->ns),
			     vw_reason_names[r], evs[0] ? evs : " no evidence");
}

struct explain *explain_new(FILE *out, struct tep_handle *tep, bool in_usecs, const char *bufname,
			    const int *tids, int ntids, uint64_t from, uint64_t to)
{
	struct explain *ex = xcalloc(1, sizeof(*ex));

	ex->out = out;
	ex->tids = xcalloc(ntids ? ntids : 1, sizeof(int));
	memcpy(ex->tids, tids, ntids * sizeof(int));
	ex->ntids = ntids;
	ex->bufname = bufname;
	ex->from = from;
	ex->to = to;
	/* the time column exactly as trace-cmd report prints it */
	if (in_usecs)
		ex->tfmt = tep_test_flag(tep, TEP_NSEC_OUTPUT) ? " %9.1d:" : " %6.1000d:";
	else
		ex->tfmt = "%12d:";
	return ex;
}

void explain_free(struct explain *ex)
{
	if (!ex)
		return;
	sbuf_free(&ex->notes);
	free(ex->tids);
	free(ex);
}

/* Does a record involve a chosen vCPU thread (as its task, or named by it)? */
bool explain_involves(struct analyzer *a, int pid, const int *pids, int npids)
{
	if (explain_selected(a, pid))
		return true;
	for (int i = 0; i < npids; i++)
		if (explain_selected(a, pids[i]))
			return true;
	return false;
}

/* @r as trace-cmd report prints it (@prefix: a buffer's or a file's name). */
static void print_record(struct explain *ex, struct tep_handle *tep, const char *prefix,
			 struct tep_record *r)
{
	static const char spaces[] = "                    ";
	struct tep_event *event;
	struct trace_seq s;
	size_t len;

	trace_seq_init(&s);
	if (prefix)
		trace_seq_printf(&s, "%s: ", prefix);
	tep_print_event(tep, &s, r, "%16s-%-5d [%03d]", TEP_PRINT_COMM, TEP_PRINT_PID,
			TEP_PRINT_CPU);
	tep_print_event(tep, &s, r, ex->tfmt, TEP_PRINT_TIME);
	event = tep_find_event_by_record(tep, r);
	trace_seq_printf(&s, " %s: ", event ? event->name : "(NULL)");
	len = strlen(event ? event->name : "(NULL)");
	if (len < 20)
		trace_seq_printf(&s, "%.*s", (int)(20 - len), spaces);
	tep_print_event(tep, &s, r, "%s", TEP_PRINT_INFO);
	trace_seq_terminate(&s);
	len = strlen(s.buffer);
	if (len && s.buffer[len - 1] == '\n')
		s.buffer[len - 1] = '\0';
	fprintf(ex->out, "%s\n", s.buffer);
	trace_seq_destroy(&s);
}

/* Print @r like trace-cmd report, then the notes gathered while processing it. */
void explain_emit(struct analyzer *a, struct tep_record *r, bool involved)
{
	struct explain *ex = a->ex;

	if (r->ts < ex->from || r->ts > ex->to) {
		ex->notes.len = 0;
		return;
	}
	if (!involved && !ex->notes.len)
		return;
	print_record(ex, a->tep, ex->bufname, r);
	if (ex->notes.len)
		fputs(ex->notes.buf, ex->out);
	ex->notes.len = 0;
}

/* A record of a guest trace (its time already host time), among the host's lines. */
void explain_guest_line(struct analyzer *a, struct tep_handle *tep, const char *file,
			struct tep_record *r)
{
	if (a->ex && r->ts >= a->ex->from && r->ts <= a->ex->to)
		print_record(a->ex, tep, file, r);
}

/* A note on the thread of vCPU @lane, from a sink (the guest join). */
void explain_note_lane(struct analyzer *a, const struct vw_vcpu *lane, const char *fmt, ...)
{
	const struct thread *t = a->ex ? thread_find(a, lane->tid) : NULL;
	char buf[512];
	va_list ap;

	if (!t || !explain_selected(a, lane->tid))
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	explain_note(a, t, "%s", buf);
}
