/*
 * vmwait top's screen (ncurses): per VM and vCPU, the state shares of the
 * last interval, waits per second by reason with the mean, exits per
 * second, and the main preemptor; single keys sort, q quits. While the
 * screen is up, what goes to stderr is kept and printed after it.
 */
#include <ncurses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "top.h"
#include "util.h"

/* Redraws at most this often; a replay makes lines faster than a terminal shows them. */
#define REDRAW_NS	(100 * NSEC_PER_MSEC)

enum sort_key { SORT_NAME, SORT_IDLE, SORT_PREEMPT, SORT_EXITS, SORT_WAITS, SORT_REASON };

static const char *const sort_names[] = { "name", "idle", "preempted", "exits", "waits",
					  "reason" };

struct top_screen {
	uint64_t interval_ns;
	bool replay;
	struct top_line *line;		/* shown, owned */
	enum sort_key sort;
	int reason;			/* SORT_REASON: which */
	uint64_t drawn_ns;
	const char *status;
	SCREEN *term;
	int saved_err;			/* the real stderr */
	FILE *err;			/* stderr meanwhile */
};

/* A row: a VM (its totals) or one of its vCPUs. */
struct row {
	const struct top_vm *vm;
	const struct top_vcpu *v;	/* NULL: the VM's row */
	const struct top_delta *d;
};

struct top_screen *screen_open(uint64_t interval_ns, bool replay)
{
	struct top_screen *s = xcalloc(1, sizeof(*s));

	s->interval_ns = interval_ns;
	s->replay = replay;
	s->saved_err = -1;
	/* newterm(), not initscr(): that one exits on a terminal it does not know */
	s->term = newterm(NULL, stdout, stdin);
	if (!s->term) {
		vw_warn("cannot draw on this terminal (TERM=%s): JSON lines instead",
			getenv("TERM") ? getenv("TERM") : "");
		free(s);
		return NULL;
	}
	fflush(stderr);
	s->err = tmpfile();
	if (s->err) {
		s->saved_err = dup(STDERR_FILENO);
		dup2(fileno(s->err), STDERR_FILENO);
	}
	cbreak();
	noecho();
	nodelay(stdscr, TRUE);
	keypad(stdscr, TRUE);
	curs_set(0);
	return s;
}

/* Print to stderr what was written there while the screen was up. */
static void err_restore(struct top_screen *s)
{
	char buf[4096];
	size_t n;

	if (!s->err)
		return;
	fflush(stderr);
	dup2(s->saved_err, STDERR_FILENO);
	close(s->saved_err);
	rewind(s->err);
	while ((n = fread(buf, 1, sizeof(buf), s->err)) > 0)
		if (fwrite(buf, 1, n, stderr) != n)
			break;
	fclose(s->err);
}

void screen_close(struct top_screen *s)
{
	if (!s)
		return;
	endwin();
	delscreen(s->term);
	err_restore(s);
	line_free(s->line);
	free(s->line);
	free(s);
}

/* ---- numbers ---- */

static int64_t pos(int64_t v)
{
	return v > 0 ? v : 0;
}

/* The decided time of a row's interval: its states' shares are of this. */
static int64_t decided(const struct top_delta *d)
{
	int64_t t = 0;

	for (int i = 0; i < VS_NR; i++)
		t += pos(d->states[i]);
	return t;
}

static double share(const struct top_delta *d, int st)
{
	int64_t t = decided(d);

	return t ? 100.0 * (double)pos(d->states[st]) / (double)t : 0;
}

static int64_t waits(const struct top_delta *d)
{
	int64_t n = 0;

	for (int r = 0; r < WR_NR; r++)
		n += d->wait_n[r];
	return n;
}

static int64_t exits(const struct top_delta *d)
{
	int64_t n = 0;

	for (int i = 0; i < d->nexits; i++)
		n += d->exits[i].n;
	return n;
}

/* "1.2ms", "850us", "3.04s": short durations for narrow columns. */
static char *short_ns(char *buf, size_t len, int64_t ns)
{
	if (ns < 0)
		snprintf(buf, len, "-");
	else if (ns < 1000)
		snprintf(buf, len, "%lldns", (long long)ns);
	else if (ns < 1000000)
		snprintf(buf, len, "%.0fus", ns / 1e3);
	else if (ns < 1000000000)
		snprintf(buf, len, "%.1fms", ns / 1e6);
	else
		snprintf(buf, len, "%.2fs", ns / 1e9);
	return buf;
}

/* A rate per second: "12.5", "1234". */
static char *rate(char *buf, size_t len, int64_t n, double secs)
{
	double r = secs > 0 ? (double)n / secs : 0;

	if (!n)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, r < 100 ? "%.1f" : "%.0f", r);
	return buf;
}

/* ---- sorting ---- */

static double sort_value(const struct top_screen *s, const struct top_delta *d)
{
	switch (s->sort) {
	case SORT_IDLE:		return share(d, VS_IDLE);
	case SORT_PREEMPT:	return share(d, VS_PREEMPTED);
	case SORT_EXITS:	return (double)exits(d);
	case SORT_WAITS:	return (double)waits(d);
	case SORT_REASON:	return (double)d->wait_n[s->reason];
	default:		return 0;
	}
}

static int cmp_rows(const void *x, const void *y, void *screen)
{
	const struct row *a = x, *b = y;
	double va = sort_value(screen, a->d), vb = sort_value(screen, b->d);

	if (va != vb)
		return va > vb ? -1 : 1;
	return a < b ? -1 : a > b;	/* stable: the line's order */
}

/* VMs sorted by their totals, each followed by its vCPUs sorted. */
static struct row *rows_of(struct top_screen *s, int *n)
{
	const struct top_line *l = s->line;
	struct row *vms = xcalloc(l->nvms, sizeof(*vms)), *rows;
	int k = 0;

	rows = xcalloc(l->nvms + l->nvcpus, sizeof(*rows));
	for (int i = 0; i < l->nvms; i++)
		vms[i] = (struct row){ &l->vms[i], NULL, &l->vms[i].tot };
	if (s->sort != SORT_NAME)
		qsort_r(vms, l->nvms, sizeof(*vms), cmp_rows, s);
	for (int i = 0; i < l->nvms; i++) {
		const struct top_vm *vm = vms[i].vm;
		int first = ++k;

		rows[first - 1] = vms[i];
		for (int j = 0; j < vm->nvcpus; j++)
			rows[k++] = (struct row){ vm, &vm->vcpus[j], &vm->vcpus[j].d };
		if (s->sort != SORT_NAME)
			qsort_r(rows + first, vm->nvcpus, sizeof(*rows), cmp_rows, s);
	}
	free(vms);
	*n = k;
	return rows;
}

/* ---- drawing ---- */

/* The states with a column: those the recorded events can tell, and any seen. */
static void state_columns(const struct top_line *l, bool *show)
{
	for (int st = 0; st < VS_NR; st++) {
		show[st] = st == VS_VMM || st == VS_PREEMPTED || st == VS_IDLE || st == VS_UNKNOWN ||
			   (l->exits_recorded ? st == VS_GUEST || st == VS_HYPERVISOR :
						st == VS_RUNNING);
		for (int i = 0; i < l->nvms && !show[st]; i++)
			show[st] = l->vms[i].tot.states[st] != 0;
	}
}

static const char *const state_heads[VS_NR] = { "guest", "l2", "hyperv", "vmm", "prmpt", "idle",
						"unkn", "run" };
static const char *const reason_heads[WR_NR] = { "timer", "ipi", "disk", "net", "dev", "unkn" };

static void text_at(int y, int attr, const char *text)
{
	attron(attr);
	mvaddnstr(y, 0, text, COLS);
	clrtoeol();
	attroff(attr);
}

static void draw_header(struct top_screen *s, const bool *show)
{
	const struct top_line *l = s->line;
	double secs = (double)(l->end_ns - l->start_ns) / 1e9;
	struct sbuf sb = { 0 };
	char when[32] = "", cpu[16], ev[16], len[32];
	time_t now = time(NULL);

	if (!s->replay)
		strftime(when, sizeof(when), "%H:%M:%S  ", localtime(&now));
	snprintf(cpu, sizeof(cpu), "%.1f%%", secs > 0 ? l->cpu_ns / 1e7 / secs : 0);
	sbuf_addf(&sb, "vmwait top  %sinterval %zu%s (%s)  %d CPUs  %s  events %s/s  "
		  "lost %llu  top %s CPU", when, l->index, l->final ? ", the last" : "",
		  short_ns(len, sizeof(len), (int64_t)(l->end_ns - l->start_ns)), l->cpus, l->tier,
		  rate(ev, sizeof(ev), (int64_t)l->events, secs),
		  (unsigned long long)l->lost_events, cpu);
	text_at(0, A_BOLD, sb.buf);
	sb.len = 0;
	sbuf_addf(&sb, "sort: %s%s%s   keys: i idle  p preempted  e exits  w waits  r reason  "
		  "n name  q quit", sort_names[s->sort], s->sort == SORT_REASON ? " " : "",
		  s->sort == SORT_REASON ? vw_reason_names[s->reason] : "");
	text_at(1, 0, sb.buf);
	if (s->status) {
		text_at(2, A_BOLD, s->status);
	} else if (l->losses) {
		char warn[160];

		snprintf(warn, sizeof(warn), "events were LOST in this interval (%llu counted): the "
			 "buffers overflowed; that time of the vCPUs on those CPUs is unknown",
			 (unsigned long long)l->lost_events);
		text_at(2, A_BOLD | A_STANDOUT, warn);
	} else {
		text_at(2, 0, "");
	}
	sb.len = 0;
	sbuf_addf(&sb, "%-26s", "VM / vCPU");
	for (int st = 0; st < VS_NR; st++)
		if (show[st])
			sbuf_addf(&sb, "%7s", state_heads[st]);
	sbuf_addf(&sb, "%8s %8s", "undec", "waits/s");
	for (int r = 0; r < WR_NR; r++)
		sbuf_addf(&sb, "%7s", reason_heads[r]);
	sbuf_addf(&sb, " %8s %8s  %s", s->sort == SORT_REASON ? reason_heads[s->reason] : "mean",
		  "exits/s", "preempted by");
	text_at(3, A_REVERSE, sb.buf);
	sbuf_free(&sb);
}

static void draw_row(struct top_screen *s, int y, const struct row *r, const bool *show)
{
	const struct top_line *l = s->line;
	const struct top_delta *d = r->d;
	double secs = (double)(l->end_ns - l->start_ns) / 1e9;
	int64_t n = s->sort == SORT_REASON ? d->wait_n[s->reason] : waits(d);
	int64_t ns = 0;
	struct sbuf sb = { 0 };
	char a[32], b[32];

	if (r->v)
		sbuf_addf(&sb, "  %-3d %-20.20s", r->v->vcpu, r->v->comm);
	else
		sbuf_addf(&sb, "%-18.18s %7d", r->vm->name, r->vm->pid);
	for (int st = 0; st < VS_NR; st++) {
		if (show[st] && decided(d))
			sbuf_addf(&sb, "%7.1f", share(d, st));
		else if (show[st])
			sbuf_addf(&sb, "%7s", "-");
	}
	sbuf_addf(&sb, "%8s %8s", d->undecided ? short_ns(a, sizeof(a), d->undecided) : "-",
		  rate(b, sizeof(b), waits(d), secs));
	for (int w = 0; w < WR_NR; w++)
		sbuf_addf(&sb, "%7s", rate(a, sizeof(a), d->wait_n[w], secs));
	for (int w = 0; w < WR_NR; w++)
		if (s->sort != SORT_REASON || w == s->reason)
			ns += d->wait_ns[w];
	sbuf_addf(&sb, " %8s %8s", n > 0 ? short_ns(a, sizeof(a), ns / n) : "-",
		  l->exits_recorded ? rate(b, sizeof(b), exits(d), secs) : "-");
	if (d->npre)
		sbuf_addf(&sb, "  %s %.1f%%", d->pre[0].comm,
			  secs > 0 ? (double)d->pre[0].ns / 1e7 / secs : 0);
	text_at(y, r->v ? 0 : A_BOLD, sb.buf);
	sbuf_free(&sb);
}

static void draw(struct top_screen *s)
{
	bool show[VS_NR];
	struct row *rows;
	int n, y = 4;

	erase();
	if (!s->line) {
		text_at(0, A_BOLD, "vmwait top: waiting for the first interval");
		text_at(2, A_BOLD, s->status ? s->status : "");
		refresh();
		return;
	}
	state_columns(s->line, show);
	draw_header(s, show);
	rows = rows_of(s, &n);
	if (!n)
		text_at(y, 0, s->replay ? "no vCPU in this interval" :
			 "no vCPU in this interval: no VM is running (or none of its vCPUs ran)");
	for (int i = 0; i < n && y < LINES; i++)
		draw_row(s, y++, &rows[i], show);
	free(rows);
	refresh();
	s->drawn_ns = mono_ns();
}

void screen_show(struct top_screen *s, struct top_line *l)
{
	if (s->line)
		line_free(s->line);
	else
		s->line = xmalloc(sizeof(*s->line));
	*s->line = *l;
	if (l->final || mono_ns() - s->drawn_ns >= REDRAW_NS)
		draw(s);
}

void screen_status(struct top_screen *s, const char *msg)
{
	s->status = msg;
	draw(s);
}

bool screen_keys(struct top_screen *s)
{
	bool redraw = false;
	int c;

	while ((c = getch()) != ERR) {
		switch (c) {
		case 'q':
		case 'Q':
			return true;
		case 'i': s->sort = SORT_IDLE; break;
		case 'p': s->sort = SORT_PREEMPT; break;
		case 'e': s->sort = SORT_EXITS; break;
		case 'w': s->sort = SORT_WAITS; break;
		case 'n': s->sort = SORT_NAME; break;
		case 'r':
			s->reason = s->sort == SORT_REASON ? (s->reason + 1) % WR_NR : 0;
			s->sort = SORT_REASON;
			break;
		default:
			break;	/* KEY_RESIZE and the rest: a redraw */
		}
		redraw = true;
	}
	if (redraw)
		draw(s);
	return false;
}
