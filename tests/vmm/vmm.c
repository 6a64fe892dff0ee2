/* vmm.c: vmwait-vmm main: options, the phase controller, and the ground-truth JSON. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vmm.h"

enum kind { K_TIMER, K_PIT, K_IPI, K_DISK, K_NET, K_SPIN, K_PIO, K_TSCDL, K_COUNT };
enum reason { R_TIMER, R_IPI, R_DISK, R_NET, R_NONE };

static const char *const kind_names[K_COUNT] = {
	"timer", "pit", "ipi", "disk", "net", "spin", "pio", "tscdl"
};
static const char *const reason_names[R_NONE] = { "timer", "ipi", "disk", "net" };
static const int kind_reason[K_COUNT] = {
	R_TIMER, R_TIMER, R_IPI, R_DISK, R_NET, R_NONE, R_NONE, R_TIMER
};

#define MAX_PHASES	64
#define PIT_HZ		1193182ULL
#define TSCDL_LATE_NS	2000000000ULL	/* a TSC-deadline wait later than this is a failure */
#define TSCDL_EARLY_NS	10000ULL	/* KVM's timer advance (at most 5 us) and clock skew */

/* Phases whose wait is a guest timer (retried when it fires before the halt). */
static bool is_timer(int kind)
{
	return kind == K_TIMER || kind == K_PIT || kind == K_TSCDL;
}

struct phase {
	int kind;
	int repeat;
	uint64_t dur_ns;
	/* results */
	uint64_t count, retries, halt_ns, service_ns, raise_to_exit_ns, halts, pio_writes;
	uint64_t elapsed_ns;
	uint64_t vcount[MAX_VCPUS], vhalt_ns[MAX_VCPUS];
	uint64_t from[MAX_VCPUS][MAX_VCPUS];	/* ipi: [target][sender] */
};

struct opts {
	int nvcpus;
	int repeat;
	uint64_t dur_ns;
	const char *phases;
	const char *json;
	const char *disk_file;
	bool rotate;
	long halt_poll_ns;
	int timeout_s;
};

static struct vmm vmm;
static struct phase phases[MAX_PHASES];
static int nphases;
static uint64_t deadline_ns;
static int route_dest[24];

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* Record the first error and stop every thread. */
void vmm_fail(struct vmm *m, const char *fmt, ...)
{
	va_list ap;
	int i;

	pthread_mutex_lock(&m->lock);
	if (!m->error[0]) {
		va_start(ap, fmt);
		vsnprintf(m->error, sizeof(m->error), fmt, ap);
		va_end(ap);
	}
	m->stop = true;
	pthread_cond_broadcast(&m->cond);
	for (i = 0; i < m->nvcpus; i++)
		pthread_cond_broadcast(&m->vcpus[i].cond);
	pthread_mutex_unlock(&m->lock);
	for (i = 0; i < m->nvcpus; i++)
		if (m->vcpus[i].run)
			m->vcpus[i].run->immediate_exit = 1;
}

bool vmm_stopping(struct vmm *m)
{
	bool s;

	pthread_mutex_lock(&m->lock);
	s = m->stop;
	pthread_mutex_unlock(&m->lock);
	return s;
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: vmwait-vmm [options]\n"
"A minimal KVM VMM (in-kernel irqchip and PIT, a tiny 32-bit guest) that runs\n"
"phases of waits with known reasons and prints what it did as JSON.\n"
"\n"
"  -c, --vcpus N         vCPUs, 1-4 (default 2; the ipi phase needs 2)\n"
"  -p, --phases LIST     comma-separated NAME[:REPEAT[:DURATION]], run in order;\n"
"                        names: timer tscdl pit ipi disk net spin pio (default:\n"
"                        all but tscdl; without ipi when there is one vCPU)\n"
"  -n, --repeat N        default REPEAT of a phase (default 3)\n"
"  -d, --duration D      default DURATION of timer, tscdl, pit and spin (default\n"
"                        2ms; units ns, us, ms, s; pit at most 54ms)\n"
"  -o, --json FILE       write the JSON to FILE instead of stdout\n"
"      --rotate          run iteration k on vCPU k%%N (ipi: vCPU k%%N to (k+1)%%N);\n"
"                        default: vCPU 0 (ipi: vCPU 0 to vCPU 1)\n"
"      --halt-poll-ns N  per-VM halt-polling limit; default 0, so every wait\n"
"                        blocks; 'kernel' keeps the kernel's default\n"
"      --disk-file PATH  file the disk thread reads (created, filled, removed;\n"
"                        default $TMPDIR or /var/tmp/vmwait-vmm-disk.<pid>)\n"
"      --timeout SEC     give up after SEC seconds (default 60)\n"
"  -h, --help            this help\n"
"\n"
"Phases: timer = LAPIC one-shot (vector 0xec), then HLT; tscdl = LAPIC\n"
"TSC-deadline mode (vector 0xec, WRMSR 0x6e0 = RDTSC + DURATION), then HLT;\n"
"pit = PIT channel 0 one-shot through IOAPIC pin 0 (vector 0x30); ipi = fixed\n"
"IPI 0xfd to a halted vCPU; disk = doorbell port 0x510, the 'IO disk' thread\n"
"reads a block and raises GSI 17 (vector 0x41); net = doorbell port 0x520\n"
"(ioeventfd), the 'vhost-<pid>' thread does a UDP round trip on loopback and\n"
"sends an MSI (vector 0x51);\n"
"spin = compute for DURATION without exits; pio = REPEAT writes to port 0x530.\n"
"Exit status: 0 on success, 1 on error (one line on stderr), 2 on bad usage.\n");
}

/* Parse a duration with an optional unit (ns, us, ms, s; default ns). */
static int parse_dur(const char *s, uint64_t *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || v < 0)
		return -1;
	if (!strcmp(end, "") || !strcmp(end, "ns"))
		;
	else if (!strcmp(end, "us"))
		v *= 1e3;
	else if (!strcmp(end, "ms"))
		v *= 1e6;
	else if (!strcmp(end, "s"))
		v *= 1e9;
	else
		return -1;
	if (v > 4e9)
		return -1;
	*out = (uint64_t)v;
	return 0;
}

static int parse_int(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

/* Parse the phase list into phases[]; prints its own error. */
static int parse_phases(const struct opts *o)
{
	char *list = strdup(o->phases), *save = NULL, *tok;
	int ret = -1, k;

	if (!list)
		return -1;
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *rep = strchr(tok, ':'), *dur = NULL;
		struct phase *p;
		long n;

		if (rep) {
			*rep++ = 0;
			dur = strchr(rep, ':');
			if (dur)
				*dur++ = 0;
		}
		for (k = 0; k < K_COUNT && strcmp(tok, kind_names[k]); k++)
			;
		if (k == K_COUNT) {
			fprintf(stderr, "vmwait-vmm: unknown phase '%s'\n", tok);
			goto out;
		}
		if (nphases == MAX_PHASES) {
			fprintf(stderr, "vmwait-vmm: too many phases (at most %d)\n", MAX_PHASES);
			goto out;
		}
		p = &phases[nphases++];
		p->kind = k;
		p->repeat = o->repeat;
		p->dur_ns = o->dur_ns;
		if (rep && *rep) {
			if (parse_int(rep, 0, 100000, &n) < 0) {
				fprintf(stderr, "vmwait-vmm: bad repeat '%s' for phase %s\n", rep, tok);
				goto out;
			}
			p->repeat = n;
		}
		if (dur && parse_dur(dur, &p->dur_ns) < 0) {
			fprintf(stderr, "vmwait-vmm: bad duration '%s' for phase %s\n", dur, tok);
			goto out;
		}
		if (is_timer(k) && p->dur_ns < 1000) {
			fprintf(stderr, "vmwait-vmm: phase %s needs a duration of at least 1us\n", tok);
			goto out;
		}
		if (k == K_PIT && p->dur_ns * PIT_HZ / 1000000000ULL > 65535) {
			fprintf(stderr, "vmwait-vmm: phase pit: duration above 54ms\n");
			goto out;
		}
		if (k == K_IPI && o->nvcpus < 2) {
			fprintf(stderr, "vmwait-vmm: phase ipi needs at least 2 vCPUs\n");
			goto out;
		}
	}
	ret = 0;
out:
	free(list);
	return ret;
}

/* Hand a command to an idle vCPU and let it run. */
static int give_cmd(struct vmm *m, struct vcpu *v, uint32_t op, uint32_t a0, uint32_t a1,
		    uint32_t a2)
{
	uint32_t *pc = (uint32_t *)(m->mem + PERCPU_BASE + v->id * PERCPU_SIZE);

	pthread_mutex_lock(&m->lock);
	if (m->stop || !v->idle) {
		pthread_mutex_unlock(&m->lock);
		if (!vmm_stopping(m))
			vmm_fail(m, "internal error: vCPU %d is not idle", v->id);
		return -1;
	}
	pc[PC_OP / 4] = op;
	pc[PC_ARG0 / 4] = a0;
	pc[PC_ARG1 / 4] = a1;
	pc[PC_ARG2 / 4] = a2;
	v->idle = false;
	v->cmd_ready = true;
	pthread_cond_signal(&v->cond);
	pthread_mutex_unlock(&m->lock);
	return 0;
}

/*
 * Wait until the vCPU asks for its next command, at most until LIMIT (monotonic
 * ns); returns 0 when it did (when, in *at), ETIMEDOUT, or -1 when stopping.
 */
static int wait_idle_until(struct vmm *m, struct vcpu *v, uint64_t *at, uint64_t limit)
{
	struct timespec ts = { limit / 1000000000ULL, limit % 1000000000ULL };
	int r = 0;

	pthread_mutex_lock(&m->lock);
	while (!v->idle && !m->stop && r != ETIMEDOUT)
		r = pthread_cond_timedwait(&m->cond, &m->lock, &ts);
	if (at)
		*at = v->idle_ns;
	r = v->idle && !m->stop ? 0 : (r == ETIMEDOUT ? ETIMEDOUT : -1);
	pthread_mutex_unlock(&m->lock);
	return r;
}

/* Wait until the vCPU asks for its next command; returns when it did, in *at. */
static int wait_idle(struct vmm *m, struct vcpu *v, uint64_t *at)
{
	int r = wait_idle_until(m, v, at, deadline_ns);

	if (r == ETIMEDOUT)
		vmm_fail(m, "timed out (vCPU %d did not come back; see --timeout)", v->id);
	return r ? -1 : 0;
}

/* Point an IOAPIC pin at vector VEC on vCPU V (edge, fixed, physical), from V itself. */
static int route(struct vmm *m, struct vcpu *v, int pin, int vec)
{
	if (route_dest[pin] == v->id)
		return 0;
	if (give_cmd(m, v, OP_ROUTE, pin, vec, v->id) < 0 || wait_idle(m, v, NULL) < 0)
		return -1;
	route_dest[pin] = v->id;
	return 0;
}

/* One wait of phase P, iteration K; timers are retried until KVM saw one blocking halt. */
static int one_wait(struct vmm *m, struct phase *p, int k, bool rotate)
{
	int n = m->nvcpus;
	struct vcpu *t = &m->vcpus[rotate ? k % n : 0];
	struct vcpu *s = &m->vcpus[rotate ? k % n : 0];
	struct halt_snap a, b;
	uint64_t back = 0, raise = 0, kick = 0, t0, limit;
	int r;

	if (p->kind == K_IPI)
		t = &m->vcpus[rotate ? (k + 1) % n : 1];
	if (p->kind == K_PIT && route(m, t, GSI_PIT, VEC_PIT) < 0)
		return -1;
	if (p->kind == K_DISK && route(m, t, GSI_DISK, VEC_DISK) < 0)
		return -1;
	for (;;) {
		vcpu_halt_snap(m, t, &a);
		t0 = now_ns();
		limit = deadline_ns;
		switch (p->kind) {
		case K_TIMER:
			if (give_cmd(m, t, OP_TIMER, p->dur_ns, 0, 0) < 0)
				return -1;
			break;
		case K_PIT:
			if (give_cmd(m, t, OP_PIT, p->dur_ns * PIT_HZ / 1000000000ULL, 0, 0) < 0)
				return -1;
			break;
		case K_TSCDL: {		/* the guest adds this to its RDTSC */
			uint64_t ticks = p->dur_ns * m->tsc_khz / 1000000ULL;

			if (give_cmd(m, t, OP_TSCDL, (uint32_t)ticks, (uint32_t)(ticks >> 32), 0) < 0)
				return -1;
			if (t0 + p->dur_ns + TSCDL_LATE_NS < limit)
				limit = t0 + p->dur_ns + TSCDL_LATE_NS;
			break;
		}
		case K_IPI:
			if (give_cmd(m, t, OP_IPI_WAIT, 0, 0, 0) < 0 ||
			    vcpu_wait_blocked(m, t, 2000000000ULL) < 0 ||
			    give_cmd(m, s, OP_IPI_SEND, t->id, 0, 0) < 0 ||
			    wait_idle(m, s, NULL) < 0)
				return -1;
			break;
		case K_DISK:
		case K_NET: {
			struct device *d = p->kind == K_DISK ? &m->disk : &m->net;

			pthread_mutex_lock(&m->lock);
			d->target = t->id;
			d->block = k;
			pthread_mutex_unlock(&m->lock);
			if (give_cmd(m, t, p->kind == K_DISK ? OP_DISK : OP_NET, 0, 0, 0) < 0)
				return -1;
			break;
		}
		}
		r = wait_idle_until(m, t, &back, limit);
		if (r == ETIMEDOUT && limit < deadline_ns) {
			vmm_fail(m, "phase tscdl: the TSC-deadline timer of vCPU %d did not fire within "
				 "%llu ms of its deadline (the guest's TSC and KVM's disagree?)", t->id,
				 TSCDL_LATE_NS / 1000000);
			return -1;
		}
		if (r == ETIMEDOUT)
			vmm_fail(m, "timed out (vCPU %d did not come back; see --timeout)", t->id);
		if (r)
			return -1;
		/* Never before the deadline: RDTSC came after t0 (KVM may fire 5 us early). */
		if (p->kind == K_TSCDL && back - t0 + TSCDL_EARLY_NS + p->dur_ns / 1000 < p->dur_ns) {
			vmm_fail(m, "phase tscdl: the TSC-deadline timer of vCPU %d fired %llu ns after "
				 "it was armed for %llu ns (the guest's TSC and KVM's disagree?)", t->id,
				 (unsigned long long)(back - t0), (unsigned long long)p->dur_ns);
			return -1;
		}
		if (p->kind == K_DISK || p->kind == K_NET) {
			struct device *d = p->kind == K_DISK ? &m->disk : &m->net;

			pthread_mutex_lock(&m->lock);
			raise = d->raise_ns;
			kick = d->kick_ns;
			pthread_mutex_unlock(&m->lock);
		}
		if (vcpu_halt_snap(m, t, &b) < 0)
			break;		/* no stats: trust the design */
		p->halts += (b.waited - a.waited) + (b.polled - a.polled);
		if (b.waited - a.waited == 1 && b.polled == a.polled && b.exits - a.exits == 1)
			break;
		/* A timer that fired before the vCPU blocked: not a wait; try again. */
		p->retries++;
		if (is_timer(p->kind) && p->retries > (uint64_t)p->repeat + 3) {
			vmm_fail(m, "phase %s: the timer fired before vCPU %d halted in %llu tries "
				 "(duration too short for this host?)", kind_names[p->kind], t->id,
				 (unsigned long long)p->retries);
			return -1;
		}
		if (!is_timer(p->kind)) {
			vmm_fail(m, "phase %s, iteration %d: KVM counted %llu blocking halts, %llu polled, "
				 "%llu HLT exits on vCPU %d (expected 1, 0, 1)", kind_names[p->kind], k,
				 (unsigned long long)(b.waited - a.waited),
				 (unsigned long long)(b.polled - a.polled),
				 (unsigned long long)(b.exits - a.exits), t->id);
			return -1;
		}
	}
	p->count++;
	p->vcount[t->id]++;
	p->halt_ns += b.ns - a.ns;
	p->vhalt_ns[t->id] += b.ns - a.ns;
	if (p->kind == K_IPI)
		p->from[t->id][s->id]++;
	if (p->kind == K_DISK || p->kind == K_NET) {
		p->service_ns += raise - kick;
		p->raise_to_exit_ns += back - raise;
	}
	return 0;
}

/* Run phase P: REPEAT iterations. */
static int run_phase(struct vmm *m, struct phase *p, bool rotate)
{
	uint64_t t0 = now_ns(), pio0 = 0, pio1 = 0;
	struct halt_snap a[MAX_VCPUS], b;
	int k, i;

	for (i = 0; i < m->nvcpus; i++) {
		vcpu_halt_snap(m, &m->vcpus[i], &a[i]);
		pthread_mutex_lock(&m->lock);
		pio0 += m->vcpus[i].pio_writes;
		pthread_mutex_unlock(&m->lock);
	}
	for (k = 0; k < p->repeat; k++) {
		struct vcpu *v = &m->vcpus[rotate ? k % m->nvcpus : 0];

		switch (p->kind) {
		case K_SPIN: {
			uint64_t ticks = p->dur_ns * m->tsc_khz / 1000000ULL;

			if (give_cmd(m, v, OP_SPIN, (uint32_t)ticks, (uint32_t)(ticks >> 32), 0) < 0 ||
			    wait_idle(m, v, NULL) < 0)
				return -1;
			break;
		}
		case K_PIO:
			if (give_cmd(m, v, OP_PIO, 1, 0, 0) < 0 || wait_idle(m, v, NULL) < 0)
				return -1;
			break;
		default:
			if (one_wait(m, p, k, rotate) < 0)
				return -1;
		}
	}
	for (i = 0; i < m->nvcpus; i++) {
		pthread_mutex_lock(&m->lock);
		pio1 += m->vcpus[i].pio_writes;
		pthread_mutex_unlock(&m->lock);
		if (kind_reason[p->kind] == R_NONE && vcpu_halt_snap(m, &m->vcpus[i], &b) == 0)
			p->halts += (b.waited - a[i].waited) + (b.polled - a[i].polled);
	}
	p->pio_writes = pio1 - pio0;
	p->elapsed_ns = now_ns() - t0;
	return 0;
}

/* Print the ground truth. */
static void print_json(FILE *f, struct vmm *m, const struct opts *o)
{
	uint64_t tc[R_NONE] = { 0 }, th[R_NONE] = { 0 }, halts = 0, pio = 0;
	pid_t pit = find_pit_thread(m->pid);
	int i, j, r, k;

	fprintf(f, "{\"schema\":\"vmwait-vmm/1\",\"pid\":%d,\"comm\":\"vmwait-vmm\",\n", m->pid);
	fprintf(f, " \"vcpus\":[");
	for (i = 0; i < m->nvcpus; i++)
		fprintf(f, "%s{\"vcpu\":%d,\"tid\":%d,\"comm\":\"CPU %d/KVM\",\"apic_id\":%d,"
			"\"userspace_exits\":%llu,\"pio_writes\":%llu}", i ? "," : "", i,
			m->vcpus[i].tid, i, i, (unsigned long long)m->vcpus[i].exits,
			(unsigned long long)m->vcpus[i].pio_writes);
	fprintf(f, "],\n \"threads\":[{\"tid\":%d,\"comm\":\"IO disk\",\"role\":\"disk\"},"
		"{\"tid\":%d,\"comm\":\"vhost-%d\",\"role\":\"net\"},"
		"{\"tid\":%d,\"comm\":\"kvm-pit/%d\",\"role\":\"pit\"}],\n",
		m->disk.tid, m->net.tid, m->pid, pit, m->pid);
	fprintf(f, " \"echo\":{\"pid\":%d,\"comm\":\"udp-echo\",\"port\":%d},\n", m->echo_pid,
		m->echo_port);
	fprintf(f, " \"kvm\":{\"halt_poll_ns\":");
	if (m->halt_poll_ns >= 0)
		fprintf(f, "%ld", m->halt_poll_ns);
	else
		fprintf(f, "null");
	fprintf(f, ",\"stats\":%s,\"wchan\":%s,\"tsc_khz\":%u,\"tsc_deadline\":%s},\n",
		m->have_stats ? "true" : "false", m->have_wchan ? "true" : "false", m->tsc_khz,
		m->tsc_deadline ? "true" : "false");
	fprintf(f, " \"devices\":{\"timer\":{\"vector\":%d},\"ipi\":{\"vector\":%d},\n", VEC_TIMER,
		VEC_IPI);
	fprintf(f, "  \"tscdl\":{\"vector\":%d,\"msr\":%d},\n", VEC_TIMER, MSR_TSC_DEADLINE);
	fprintf(f, "  \"pit\":{\"gsi\":%d,\"ioapic_pin\":%d,\"vector\":%d},\n", GSI_PIT, GSI_PIT, VEC_PIT);
	fprintf(f, "  \"disk\":{\"gsi\":%d,\"ioapic_pin\":%d,\"vector\":%d,\"doorbell_port\":%d,"
		"\"doorbell\":\"exit\",\"file\":\"%s\",\"o_direct\":%s,\"block_size\":%d},\n",
		GSI_DISK, GSI_DISK, VEC_DISK, PORT_DISK, m->disk_path,
		m->disk_direct ? "true" : "false", DISK_BLOCK);
	fprintf(f, "  \"net\":{\"gsi\":null,\"vector\":%d,\"msi_address\":%u,\"doorbell_port\":%d,"
		"\"doorbell\":\"%s\"},\n", VEC_NET, LAPIC_BASE, PORT_NET,
		m->net_ioeventfd ? "ioeventfd" : "exit");
	fprintf(f, "  \"pio\":{\"port\":%d}},\n", PORT_PIO);
	fprintf(f, " \"options\":{\"rotate\":%s,\"timeout_s\":%d},\n", o->rotate ? "true" : "false",
		o->timeout_s);
	fprintf(f, " \"phases\":[");
	for (k = 0; k < nphases; k++) {
		struct phase *p = &phases[k];

		r = kind_reason[p->kind];
		fprintf(f, "%s\n  {\"name\":\"%s\",\"repeat\":%d,\"duration_ns\":", k ? "," : "",
			kind_names[p->kind], p->repeat);
		if (is_timer(p->kind) || p->kind == K_SPIN)
			fprintf(f, "%llu", (unsigned long long)p->dur_ns);
		else
			fprintf(f, "null");
		fprintf(f, ",\"elapsed_ns\":%llu,\"halts\":%llu,\"pio_writes\":%llu,\"waits\":{",
			(unsigned long long)p->elapsed_ns, (unsigned long long)p->halts,
			(unsigned long long)p->pio_writes);
		halts += p->halts;
		pio += p->pio_writes;
		if (r != R_NONE) {
			bool dev = p->kind == K_DISK || p->kind == K_NET;

			tc[r] += p->count;
			th[r] += p->halt_ns;
			fprintf(f, "\"%s\":{\"count\":%llu,\"retries\":%llu,\"halt_ns\":%llu,",
				reason_names[r], (unsigned long long)p->count,
				(unsigned long long)p->retries, (unsigned long long)p->halt_ns);
			if (dev)
				fprintf(f, "\"service_ns\":%llu,\"raise_to_exit_ns\":%llu,",
					(unsigned long long)p->service_ns,
					(unsigned long long)p->raise_to_exit_ns);
			else
				fprintf(f, "\"service_ns\":null,\"raise_to_exit_ns\":null,");
			fprintf(f, "\"vcpus\":[");
			for (i = 0, j = 0; i < m->nvcpus; i++) {
				int s, js = 0;

				if (!p->vcount[i])
					continue;
				fprintf(f, "%s{\"vcpu\":%d,\"count\":%llu,\"halt_ns\":%llu", j++ ? "," : "",
					i, (unsigned long long)p->vcount[i],
					(unsigned long long)p->vhalt_ns[i]);
				if (p->kind == K_IPI) {
					fprintf(f, ",\"from\":[");
					for (s = 0; s < m->nvcpus; s++)
						if (p->from[i][s])
							fprintf(f, "%s{\"vcpu\":%d,\"count\":%llu}",
								js++ ? "," : "", s,
								(unsigned long long)p->from[i][s]);
					fprintf(f, "]");
				}
				fprintf(f, "}");
			}
			fprintf(f, "]}");
		}
		fprintf(f, "}}");
	}
	fprintf(f, "],\n \"totals\":{\"waits\":{");
	for (r = 0; r < R_NONE; r++)
		fprintf(f, "%s\"%s\":{\"count\":%llu,\"halt_ns\":%llu}", r ? "," : "", reason_names[r],
			(unsigned long long)tc[r], (unsigned long long)th[r]);
	fprintf(f, "},\"halts\":%llu,\"pio_writes\":%llu}}\n", (unsigned long long)halts,
		(unsigned long long)pio);
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "vcpus", required_argument, NULL, 'c' },
		{ "phases", required_argument, NULL, 'p' },
		{ "repeat", required_argument, NULL, 'n' },
		{ "duration", required_argument, NULL, 'd' },
		{ "json", required_argument, NULL, 'o' },
		{ "rotate", no_argument, NULL, 'R' },
		{ "halt-poll-ns", required_argument, NULL, 'H' },
		{ "disk-file", required_argument, NULL, 'F' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long v;
	int c;

	opterr = 0;	/* one error line, ours */
	while ((c = getopt_long(argc, argv, "c:p:n:d:o:h", lo, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (parse_int(optarg, 1, MAX_VCPUS, &v) < 0)
				goto bad;
			o->nvcpus = v;
			break;
		case 'p':
			o->phases = optarg;
			break;
		case 'n':
			if (parse_int(optarg, 0, 100000, &v) < 0)
				goto bad;
			o->repeat = v;
			break;
		case 'd':
			if (parse_dur(optarg, &o->dur_ns) < 0)
				goto bad;
			break;
		case 'o':
			o->json = optarg;
			break;
		case 'R':
			o->rotate = true;
			break;
		case 'H':
			if (!strcmp(optarg, "kernel"))
				o->halt_poll_ns = -1;
			else if (parse_int(optarg, 0, 1000000000, &v) < 0)
				goto bad;
			else
				o->halt_poll_ns = v;
			break;
		case 'F':
			o->disk_file = optarg;
			break;
		case 'T':
			if (parse_int(optarg, 1, 86400, &v) < 0)
				goto bad;
			o->timeout_s = v;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			if (optopt && optopt != '?')
				fprintf(stderr, "vmwait-vmm: bad option -%c (see --help)\n", optopt);
			else
				fprintf(stderr, "vmwait-vmm: bad option %s (see --help)\n",
					argv[optind - 1]);
			return -1;
		}
	}
	if (!o->phases)		/* default: every phase the vCPU count allows */
		o->phases = o->nvcpus > 1 ? "timer,pit,ipi,disk,net,spin,pio" : "timer,pit,disk,net,spin,pio";
	if (optind < argc) {
		fprintf(stderr, "vmwait-vmm: unexpected argument '%s' (see --help)\n", argv[optind]);
		return -1;
	}
	return 0;
bad:
	fprintf(stderr, "vmwait-vmm: bad value '%s' for an option (see --help)\n", optarg);
	return -1;
}

int main(int argc, char **argv)
{
	struct opts o = {
		.nvcpus = 2, .repeat = 3, .dur_ns = 2000000,
		.halt_poll_ns = 0, .timeout_s = 60,
	};
	struct vmm *m = &vmm;
	pthread_condattr_t ca;
	char err[512] = "";
	FILE *out = NULL;
	int i, ret = 1;

	if (parse_opts(argc, argv, &o) < 0 || parse_phases(&o) < 0)
		return 2;
	m->pid = getpid();
	m->nvcpus = o.nvcpus;
	m->halt_poll_ns = o.halt_poll_ns;
	m->kvm = m->vm = m->disk_fd = m->net_sock = -1;
	m->disk.efd = m->net.efd = -1;
	for (i = 0; i < MAX_VCPUS; i++)
		m->vcpus[i].fd = m->vcpus[i].stats_fd = m->vcpus[i].wchan_fd = -1;
	for (i = 0; i < 24; i++)
		route_dest[i] = -1;
	pthread_mutex_init(&m->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&m->cond, &ca);
	for (i = 0; i < MAX_VCPUS; i++)
		pthread_cond_init(&m->vcpus[i].cond, &ca);
	deadline_ns = now_ns() + o.timeout_s * 1000000000ULL;

	if (o.json) {
		out = fopen(o.json, "w");
		if (!out) {
			fprintf(stderr, "vmwait-vmm: cannot write %s: %s\n", o.json, strerror(errno));
			return 1;
		}
	}
	/* /dev/kvm first, so a machine without KVM fails before creating anything. */
	if (access("/dev/kvm", R_OK | W_OK) < 0) {
		snprintf(err, sizeof(err), "cannot open /dev/kvm: %s", strerror(errno));
		goto out;
	}
	if (devices_open(m, o.disk_file, err, sizeof(err)) < 0)	/* forks: before any thread */
		goto out;
	if (machine_open(m, err, sizeof(err)) < 0)
		goto out;
	for (i = 0; i < nphases; i++)
		if (phases[i].kind == K_TSCDL && !m->tsc_deadline) {
			snprintf(err, sizeof(err), "phase tscdl: no TSC-deadline timer on this host "
				 "(no KVM_CAP_TSC_DEADLINE_TIMER)");
			goto out;
		}
	if (machine_start_vcpus(m) < 0 || devices_start(m) < 0)
		goto stop;
	for (i = 0; i < m->nvcpus; i++)		/* each vCPU initializes and asks for work */
		if (wait_idle(m, &m->vcpus[i], NULL) < 0)
			goto stop;
	machine_probe_wchan(m);
	for (i = 0; i < nphases; i++)
		if (run_phase(m, &phases[i], o.rotate) < 0)
			goto stop;
	ret = 0;
stop:
	machine_stop(m);
	devices_stop(m);
	if (m->error[0]) {
		memcpy(err, m->error, sizeof(m->error));	/* err is larger */
		ret = 1;
	}
	if (!ret) {
		print_json(out ? out : stdout, m, &o);
		if (fflush(out ? out : stdout) != 0) {
			snprintf(err, sizeof(err), "cannot write the JSON: %s", strerror(errno));
			ret = 1;
		}
	}
out:
	devices_close(m);
	machine_close(m);
	if (out && fclose(out) != 0 && !ret) {
		snprintf(err, sizeof(err), "cannot write %s: %s", o.json, strerror(errno));
		ret = 1;
	}
	if (ret)
		fprintf(stderr, "vmwait-vmm: %s\n", err[0] ? err : "failed");
	return ret;
}
