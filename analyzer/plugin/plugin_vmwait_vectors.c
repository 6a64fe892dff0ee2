/* libtraceevent plugin: adds Linux guest vector names to KVM interrupt events. */
/*
 * With this plugin loaded, "trace-cmd report" prints
 *	kvm_apic_accept_irq: apicid 0 vec 236 (LOCAL_TIMER) (Fixed|edge)
 * instead of
 *	kvm_apic_accept_irq: apicid 0 vec 236 (Fixed|edge)
 * for kvm_apic_accept_irq, kvm_inj_virq, kvm_apic_ipi and kvm_msi_set_irq.
 * The rest of the line is the event's own print format, rendered by
 * libtraceevent, so it stays byte-identical whatever the kernel's format is.
 *
 * Where the vector is printed is found without parsing the format: the event
 * is rendered twice, once as recorded and once with the vector's bits flipped
 * in a copy of the record. The two lines differ only where the vector is
 * printed; that token must read as the vector (decimal or hex) in both lines,
 * in the same notation, or the line is printed unchanged. Events whose vector
 * has no name are never touched.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event-parse.h>
#include <trace-seq.h>

#include "vectors.h"

#define PLUGIN_EXPORT __attribute__((visibility("default")))

/* An event that carries a vector in the low byte of one of its fields. */
struct vec_event {
	const char *system;
	const char *name;
	const char *fields[3];	/* candidates, across kernel versions */
};

static const struct vec_event vec_events[] = {
	{ "kvm", "kvm_apic_accept_irq",	{ "vec", "vector", NULL } },
	{ "kvm", "kvm_inj_virq",	{ "vector", "irq", NULL } },	/* "irq" on older kernels */
	{ "kvm", "kvm_apic_ipi",	{ "icr_low", NULL } },
	{ "kvm", "kvm_msi_set_irq",	{ "data", NULL } },
};

#define NR_VEC_EVENTS (sizeof(vec_events) / sizeof(vec_events[0]))

/* Set while this thread renders an event's own print format (see render()). */
static __thread int rendering;

/* The integer field that holds the vector, or NULL. */
static struct tep_format_field *vector_field(struct tep_event *event,
					     const struct vec_event *ve)
{
	struct tep_format_field *f;
	int i;

	for (i = 0; i < 3 && ve->fields[i]; i++) {
		f = tep_find_field(event, ve->fields[i]);
		if (!f)
			continue;
		if (f->flags & (TEP_FIELD_IS_ARRAY | TEP_FIELD_IS_STRING |
				TEP_FIELD_IS_DYNAMIC | TEP_FIELD_IS_POINTER))
			return NULL;
		if (f->size != 1 && f->size != 2 && f->size != 4 && f->size != 8)
			return NULL;
		return f;
	}
	return NULL;
}

/*
 * Render @record with the event's own print format into @out. Our handler
 * sees the "rendering" flag and returns 1, so libtraceevent prints the format
 * itself instead of recursing into us.
 */
static bool render(struct tep_handle *tep, struct tep_record *record,
		   struct trace_seq *out)
{
	rendering++;
	tep_print_event(tep, out, record, "%s", TEP_PRINT_INFO);
	rendering--;
	trace_seq_terminate(out);
	return out->state == TRACE_SEQ__GOOD && out->buffer;
}

static bool is_tok(char c)
{
	return isalnum((unsigned char)c);
}

/* Does @tok (of @len bytes) print @vec in notation @fmt? */
static bool tok_is(const char *tok, size_t len, const char *fmt, unsigned int vec)
{
	char buf[16];
	int n;

	n = snprintf(buf, sizeof(buf), fmt, vec);
	return n > 0 && (size_t)n == len && !memcmp(tok, buf, len);
}

/*
 * Given line @a printing vector @va and line @b, identical but for vector
 * @vb, return the offset in @a just past the token that prints the vector,
 * or 0 if it cannot be told safely.
 */
static size_t vector_end(const char *a, size_t la, unsigned int va,
			 const char *b, size_t lb, unsigned int vb)
{
	static const char *const notations[] = {
		"%u", "0x%x", "0x%02x", "%x", "%02x", "0x%X", "0x%02X", "%X", "%02X",
	};
	size_t pre = 0, suf = 0, start, ea, eb, i;

	while (pre < la && pre < lb && a[pre] == b[pre])
		pre++;
	while (suf < la - pre && suf < lb - pre &&
	       a[la - 1 - suf] == b[lb - 1 - suf])
		suf++;
	if (pre == la && pre == lb)
		return 0;			/* the vector is not printed */

	/* Widen the differing span to whole tokens in both lines. */
	start = pre;
	while (start > 0 && is_tok(a[start - 1]))
		start--;
	for (ea = la - suf; ea < la && is_tok(a[ea]); ea++)
		;
	for (eb = lb - suf; eb < lb && is_tok(b[eb]); eb++)
		;
	/* The whole difference must lie inside one token. */
	for (i = start; i < ea; i++)
		if (!is_tok(a[i]))
			return 0;
	for (i = start; i < eb; i++)
		if (!is_tok(b[i]))
			return 0;
	if (ea == start || eb == start)
		return 0;

	for (i = 0; i < sizeof(notations) / sizeof(notations[0]); i++)
		if (tok_is(a + start, ea - start, notations[i], va) &&
		    tok_is(b + start, eb - start, notations[i], vb))
			return ea;
	return 0;
}

/*
 * Print handler of the vector events: the event's own line with " (NAME)"
 * after the vector. Returns 1 (let libtraceevent print the line as usual)
 * whenever the vector has no name or its place in the line is not certain.
 */
static int vector_handler(struct trace_seq *s, struct tep_record *record,
			  struct tep_event *event, void *context)
{
	const struct vec_event *ve = context;
	struct tep_handle *tep = event->tep;
	struct tep_format_field *field;
	struct tep_record flipped;
	struct trace_seq a, b;
	unsigned long long val;
	unsigned int vec;
	const char *name;
	char stackbuf[256];
	char *copy;
	size_t end = 0;
	int byte;

	if (rendering)
		return 1;
	field = vector_field(event, ve);
	if (!field || !record->data || record->size < 0 ||
	    field->offset < 0 || field->offset + field->size > record->size)
		return 1;
	if (tep_read_number_field(field, record->data, &val))
		return 1;
	vec = val & 0xff;
	name = vector_name(vec);
	if (!name)
		return 1;

	/* The same record with the vector's bits (the low byte) flipped. */
	copy = (size_t)record->size <= sizeof(stackbuf) ? stackbuf : malloc(record->size);
	if (!copy)
		return 1;
	memcpy(copy, record->data, record->size);
	byte = field->offset + (tep_is_file_bigendian(tep) ? field->size - 1 : 0);
	copy[byte] ^= 0xff;
	flipped = *record;
	flipped.data = copy;

	trace_seq_init(&a);
	trace_seq_init(&b);
	if (render(tep, record, &a) && render(tep, &flipped, &b))
		end = vector_end(a.buffer, a.len, vec, b.buffer, b.len, vec ^ 0xff);
	if (end)
		trace_seq_printf(s, "%.*s (%s)%s", (int)end, a.buffer, name,
				 a.buffer + end);
	trace_seq_destroy(&a);
	trace_seq_destroy(&b);
	if (copy != stackbuf)
		free(copy);
	return end ? 0 : 1;
}

PLUGIN_EXPORT int TEP_PLUGIN_LOADER(struct tep_handle *tep)
{
	size_t i;

	for (i = 0; i < NR_VEC_EVENTS; i++)
		tep_register_event_handler(tep, -1, vec_events[i].system,
					   vec_events[i].name, vector_handler,
					   (void *)&vec_events[i]);
	return 0;
}

PLUGIN_EXPORT int TEP_PLUGIN_UNLOADER(struct tep_handle *tep)
{
	size_t i;

	for (i = 0; i < NR_VEC_EVENTS; i++)
		tep_unregister_event_handler(tep, -1, vec_events[i].system,
					     vec_events[i].name, vector_handler,
					     (void *)&vec_events[i]);
	return 0;
}
