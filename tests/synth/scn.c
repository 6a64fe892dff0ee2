/* Scenario files (.scn): parser and the random composer's fixed topology. */
#include <stdlib.h>
#include <string.h>

#include "sim.h"
#include "util.h"

#define MAX_KV 32

struct kv { char *k, *v; };

struct line {
	const char *path;
	int no;
	char *word;		/* first word */
	struct kv kv[MAX_KV];
	int nr;
	char *args[4];		/* bare words after the first */
	int nr_args;
};

/* Split @buf in place into a first word, bare words and key=value pairs. */
static int split(char *buf, struct line *l)
{
	char *p = buf;

	l->word = NULL;
	l->nr = l->nr_args = 0;
	while (*p) {
		char *tok, *eq;

		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p || *p == '#')
			break;
		tok = p;
		eq = NULL;
		while (*p && *p != ' ' && *p != '\t') {
			if (*p == '=' && !eq) {
				eq = p;
				if (p[1] == '"') {
					char *q = strchr(p + 2, '"');

					if (!q)
						return -1;
					memmove(p + 1, p + 2, q - p - 2);
					q[-1] = 0;
					p = q + 1;
					break;
				}
			}
			p++;
		}
		if (*p)
			*p++ = 0;
		if (!l->word) {
			l->word = tok;
		} else if (eq) {
			if (l->nr == MAX_KV)
				return -1;
			*eq = 0;
			l->kv[l->nr].k = tok;
			l->kv[l->nr++].v = eq + 1;
		} else {
			if (l->nr_args == 4)
				return -1;
			l->args[l->nr_args++] = tok;
		}
	}
	return 0;
}

static const char *get(struct line *l, const char *k)
{
	for (int i = 0; i < l->nr; i++)
		if (!strcmp(l->kv[i].k, k))
			return l->kv[i].v;
	return NULL;
}

static int bad(struct line *l, const char *what, const char *v)
{
	vw_err("%s:%d: %s%s%s", l->path, l->no, what, v ? ": " : "", v ? v : "");
	return -1;
}

static int get_u64(struct line *l, const char *k, uint64_t *out, uint64_t def)
{
	const char *v = get(l, k);

	*out = def;
	if (v && parse_u64(v, out))
		return bad(l, "bad number", v);
	return 0;
}

static int get_int(struct line *l, const char *k, int *out, int def)
{
	uint64_t v;

	if (get_u64(l, k, &v, (uint64_t)(int64_t)def))
		return -1;
	*out = (int)v;
	return 0;
}

static int get_dur(struct line *l, const char *k, uint64_t *out, uint64_t def)
{
	const char *v = get(l, k);

	*out = def;
	if (v && parse_duration_ns(v, out))
		return bad(l, "bad duration", v);
	return 0;
}

/* The thread @tid names now: the first declared with it that has not exited. */
struct sthr *scn_thread(struct scn *s, int tid)
{
	struct sthr *last = NULL;

	for (int i = 0; i < s->nr_thr; i++) {
		if (s->thr[i].tid != tid)
			continue;
		if (!s->thr[i].gone)
			return &s->thr[i];
		last = &s->thr[i];
	}
	return last;
}

/* The last thread declared with @tid. */
struct sthr *scn_thread_last(struct scn *s, int tid)
{
	struct sthr *last = NULL;

	for (int i = 0; i < s->nr_thr; i++)
		if (s->thr[i].tid == tid)
			last = &s->thr[i];
	return last;
}

struct svm *scn_vm(struct scn *s, int pid)
{
	for (int i = 0; i < s->nr_vms; i++)
		if (s->vms[i].pid == pid)
			return &s->vms[i];
	return NULL;
}

static struct sthr *add_thread(struct scn *s, int tid, int tgid, enum th_kind kind,
			       const char *comm, int cpu)
{
	struct sthr *t;

	s->thr = xrealloc(s->thr, (s->nr_thr + 1) * sizeof(*s->thr));
	t = &s->thr[s->nr_thr++];
	memset(t, 0, sizeof(*t));
	t->tid = tid;
	t->tgid = tgid;
	t->kind = kind;
	t->cpu = cpu;
	snprintf(t->comm, sizeof(t->comm), "%s", comm);
	return t;
}

/* Exit reason by name (as the 6.18 print fmt names it) or number. */
static int exit_code(struct line *l, const char *v, int isa, uint32_t *code)
{
	static const struct { int isa; uint32_t code; const char *name; } names[] = {
		{ 1, 1, "EXTERNAL_INTERRUPT" }, { 1, 7, "INTERRUPT_WINDOW" }, { 1, 10, "CPUID" },
		{ 1, 12, "HLT" }, { 1, 18, "VMCALL" }, { 1, 20, "VMLAUNCH" }, { 1, 21, "VMPTRLD" },
		{ 1, 23, "VMREAD" }, { 1, 24, "VMRESUME" }, { 1, 25, "VMWRITE" },
		{ 1, 28, "CR_ACCESS" }, { 1, 30, "IO_INSTRUCTION" },
		{ 1, 31, "MSR_READ" }, { 1, 32, "MSR_WRITE" }, { 1, 40, "PAUSE_INSTRUCTION" },
		{ 1, 44, "APIC_ACCESS" }, { 1, 45, "EOI_INDUCED" }, { 1, 48, "EPT_VIOLATION" },
		{ 1, 49, "EPT_MISCONFIG" }, { 1, 52, "PREEMPTION_TIMER" }, { 1, 55, "XSETBV" },
		{ 1, 56, "APIC_WRITE" },
		{ 2, 0x60, "interrupt" }, { 2, 0x64, "vintr" }, { 2, 0x72, "cpuid" },
		{ 2, 0x77, "pause" }, { 2, 0x78, "hlt" }, { 2, 0x7b, "io" }, { 2, 0x7c, "msr" },
		{ 2, 0x80, "vmrun" }, { 2, 0x81, "hypercall" }, { 2, 0x400, "npf" },
		{ 2, 0x401, "avic_incomplete_ipi" }, { 2, 0x402, "avic_unaccelerated_access" },
		{ 2, 0x6e, "rdtsc" }, { 2, 0x08f, "write_efer_trap" },
	};
	uint64_t n;

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		if (names[i].isa == isa && !strcmp(names[i].name, v)) {
			*code = names[i].code;
			return 0;
		}
	}
	if (parse_u64(v, &n))
		return bad(l, "unknown exit reason for this isa", v);
	*code = (uint32_t)n;
	return 0;
}

static int parse_wake(struct line *l, const char *v, int *wake)
{
	static const char *const names[] = {
		"none", "timer", "ipi", "net", "disk", "msi", "ioapic", "pic", "vfio", "pi",
	};

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		if (!strcmp(v, names[i])) {
			*wake = (int)i;
			return 0;
		}
	}
	return bad(l, "unknown wake", v);
}

static int parse_poll(struct line *l, const char *v, int *poll)
{
	if (!strcmp(v, "none"))
		*poll = PL_NONE;
	else if (!strcmp(v, "block"))
		*poll = PL_BLOCK;
	else if (!strcmp(v, "success"))
		*poll = PL_SUCCESS;
	else
		return bad(l, "unknown poll", v);
	return 0;
}

static int ep_kind(struct line *l, const char *v, enum ep_kind *k)
{
	static const char *const names[] = {
		"exit", "pio", "mmio", "hlt", "preempt", "guest",
		"l2enter", "l2exit", "l2reflect", "l2hlt", "sleep", "ptimer", "quit",
	};

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		if (!strcmp(v, names[i])) {
			*k = (enum ep_kind)i;
			return 0;
		}
	}
	return bad(l, "unknown episode", v);
}

/* "ep TID KIND key=value..." */
static int parse_ep(struct scn *s, struct line *l)
{
	struct svcpu *v = NULL;
	struct sep e = { 0 };
	const struct svm *vm;
	const char *r;
	int tid, isa;

	if (l->nr_args != 2)
		return bad(l, "usage: ep TID KIND key=value...", NULL);
	tid = atoi(l->args[0]);
	for (int i = 0; i < s->nr_vcpus; i++)
		if (s->vcpus[i].tid == tid)
			v = &s->vcpus[i];
	if (!v)
		return bad(l, "no such vcpu thread", l->args[0]);
	vm = &s->vms[v->vm];
	isa = vm->isa;
	if (ep_kind(l, l->args[1], &e.kind))
		return -1;
	if (get_dur(l, "guest", &e.guest, 20000) || get_dur(l, "hyp", &e.hyp, 2000) ||
	    get_dur(l, "vmm", &e.vmm, 10000) || get_dur(l, "idle", &e.idle, 1000000) ||
	    get_dur(l, "pollns", &e.pollns, 0) || get_dur(l, "lat", &e.lat, 0) ||
	    get_dur(l, "for", &e.dur, 50000) ||
	    get_int(l, "from", &e.from, -1) || get_int(l, "vec", &e.vec, -1) ||
	    get_int(l, "gsi", &e.gsi, -1) || get_int(l, "cpu", &e.cpu, -1) ||
	    get_int(l, "by", &e.by, 0) || get_int(l, "count", &e.count, 1) ||
	    get_int(l, "on", &e.on, 0) || get_int(l, "preempt", &e.pre, 0) ||
	    get_u64(l, "vmcs", &e.vmcs, 0x12a3f5000ULL) ||
	    get_u64(l, "eptp", &e.eptp, 0x10b41e05eULL) ||
	    get_u64(l, "gpa", &e.gpa, 0xfebf0000ULL))
		return -1;
	e.port = get(l, "port") ? (uint32_t)strtoul(get(l, "port"), NULL, 0) : 0x3f8;
	e.in = get(l, "in") && atoi(get(l, "in"));
	e.fast = get(l, "fast") && atoi(get(l, "fast"));
	e.soft = get(l, "soft") && atoi(get(l, "soft"));
	e.state = get(l, "state") && !strcmp(get(l, "state"), "S") ? 1 : 2;
	if (e.on && !scn_thread(s, e.on))
		return bad(l, "on needs a thread id", get(l, "on"));
	if (e.pre && !scn_thread(s, e.pre))
		return bad(l, "preempt needs a thread id", get(l, "preempt"));
	e.wake = WK_TIMER;
	if (get(l, "wake") && parse_wake(l, get(l, "wake"), &e.wake))
		return -1;
	if (get(l, "poll") && parse_poll(l, get(l, "poll"), &e.poll))
		return -1;
	if (e.poll == PL_BLOCK && !e.pollns)
		e.pollns = 10000;
	e.l2reason = -1;
	if (get(l, "reason")) {
		if (e.kind == EP_L2ENTER) {
			e.l2reason = vw_reason_parse(get(l, "reason"));
			if (e.l2reason < 0)
				return bad(l, "unknown wake reason", get(l, "reason"));
		} else if (exit_code(l, get(l, "reason"), isa, &e.code)) {
			return -1;
		}
	} else if (e.kind == EP_EXIT || e.kind == EP_L2EXIT || e.kind == EP_L2REFLECT) {
		return bad(l, "reason= is required", NULL);
	}
	if (e.kind == EP_PREEMPT && !scn_thread(s, e.by))
		return bad(l, "preempt needs by=<thread id>", NULL);
	if (e.kind == EP_PTIMER) {
		if (!vm->ptimer)
			return bad(l, "ptimer needs a vm with ptimer=1", NULL);
		e.code = isa == 1 ? 32 : 0x7c;	/* the guest re-arms its TSC deadline */
	}
	if (e.kind == EP_HLT && e.wake == WK_PI && (!vm->apicv || isa != 1))
		return bad(l, "wake=pi needs a vmx vm with apicv=1", NULL);
	if ((r = get(l, "busy")) && !scn_thread(s, (e.by = atoi(r))))
		return bad(l, "busy needs a thread id", r);
	if (e.count < 1)
		e.count = 1;
	v->eps = xrealloc(v->eps, (v->nr_eps + 1) * sizeof(e));
	v->eps[v->nr_eps++] = e;
	return 0;
}

/* A KASLR slide per VM (2 MB aligned, below 1 GB), from its pid. */
static uint64_t default_slide(int pid)
{
	return ((uint64_t)(unsigned int)pid * 2654435761u % 511 + 1) << 21;
}

static int parse_vm(struct scn *s, struct line *l)
{
	struct svm *vm;
	const char *v;
	int pid;

	if (get_int(l, "pid", &pid, 0) || pid <= 0)
		return bad(l, "vm needs pid=", NULL);
	s->vms = xrealloc(s->vms, (s->nr_vms + 1) * sizeof(*s->vms));
	vm = &s->vms[s->nr_vms++];
	memset(vm, 0, sizeof(*vm));
	vm->pid = pid;
	snprintf(vm->name, sizeof(vm->name), "%s", get(l, "name") ? get(l, "name") : "vm");
	v = get(l, "cmdline");
	if (v)
		snprintf(vm->cmdline, sizeof(vm->cmdline), "%s", v);
	else
		snprintf(vm->cmdline, sizeof(vm->cmdline),
			 "qemu-system-x86_64 -name guest=%s,debug-threads=on -enable-kvm -m 2048",
			 vm->name);
	vm->isa = get(l, "isa") && !strcmp(get(l, "isa"), "svm") ? 2 : 1;
	vm->apicv = get(l, "apicv") && atoi(get(l, "apicv"));
	vm->hvtimer = get(l, "hvtimer") && atoi(get(l, "hvtimer"));
	vm->ptimer = get(l, "ptimer") && atoi(get(l, "ptimer"));
	vm->tscdl = (get(l, "tscdl") && atoi(get(l, "tscdl"))) || vm->hvtimer || vm->ptimer;
	if (vm->hvtimer && (vm->isa != 1 || vm->ptimer))
		return bad(l, "hvtimer=1 needs isa=vmx and no ptimer", NULL);
	if (vm->ptimer && !vm->apicv)
		return bad(l, "ptimer=1 needs apicv=1", NULL);
	if (get_int(l, "timer", &vm->timer_vec, 0xec) || get_int(l, "netvec", &vm->net_vec, 0x23) ||
	    get_int(l, "diskvec", &vm->disk_vec, 0x24))
		return -1;
	if (get_u64(l, "slide", &vm->slide, default_slide(pid)))
		return -1;
	vm->slide &= 0x3fe00000;
	add_thread(s, pid, pid, TK_MAIN, get(l, "comm") ? get(l, "comm") : "qemu-system-x86", -1);
	vm->main = pid;
	return get_int(l, "cpu", &s->thr[s->nr_thr - 1].cpu, -1);
}

static int parse_thread(struct scn *s, struct line *l)
{
	static const char *const kinds[] = { "vcpu", "vhost", "io", "main", "host" };
	int tid, vmpid, cpu, kind = -1;
	struct svm *vm = NULL;
	char comm[16];
	const char *k = get(l, "kind");

	if (get_int(l, "tid", &tid, 0) || get_int(l, "vm", &vmpid, -1) ||
	    get_int(l, "cpu", &cpu, -1) || tid <= 0 || !k)
		return bad(l, "thread needs tid= kind=", NULL);
	for (size_t i = 1; i < ARRAY_SIZE(kinds); i++)
		if (!strcmp(k, kinds[i]))
			kind = (int)i;
	if (kind < 0)
		return bad(l, "unknown thread kind", k);
	if (kind != TK_HOST && !(vm = scn_vm(s, vmpid)))
		return bad(l, "thread needs vm=<pid> of a vm above", NULL);
	if (kind == TK_VHOST)
		snprintf(comm, sizeof(comm), "vhost-%d", vm->pid);
	else if (kind == TK_IO)
		snprintf(comm, sizeof(comm), "IO iothread0");
	else
		snprintf(comm, sizeof(comm), "qemu-system-x86");
	if (get(l, "comm"))
		snprintf(comm, sizeof(comm), "%s", get(l, "comm"));
	if (kind == TK_MAIN && scn_thread(s, tid)) {	/* the VM's main thread */
		scn_thread(s, tid)->cpu = cpu;
		return 0;
	}
	add_thread(s, tid, vm ? vm->pid : tid, kind, comm, cpu);
	if (kind == TK_VHOST)
		vm->vhost = tid;
	if (kind == TK_IO)
		vm->io = tid;
	return 0;
}

static int parse_vcpu(struct scn *s, struct line *l)
{
	struct svcpu *v;
	struct svm *vm;
	int pid, tid, id, cpu;
	char comm[32];

	if (get_int(l, "vm", &pid, 0) || get_int(l, "tid", &tid, 0) ||
	    get_int(l, "id", &id, -1) || get_int(l, "cpu", &cpu, -1))
		return -1;
	vm = scn_vm(s, pid);
	if (!vm || tid <= 0 || id < 0 || cpu < 0 || cpu >= s->ncpus)
		return bad(l, "vcpu needs vm= tid= id= cpu= (cpus first)", NULL);
	s->vcpus = xrealloc(s->vcpus, (s->nr_vcpus + 1) * sizeof(*s->vcpus));
	v = &s->vcpus[s->nr_vcpus++];
	memset(v, 0, sizeof(*v));
	v->tid = tid;
	v->id = id;
	v->vm = (int)(vm - s->vms);
	v->cpu = cpu;
	if (get_dur(l, "at", &v->at, 10000 + 1000 * (uint64_t)s->nr_vcpus) ||
	    get_dur(l, "spawn", &v->spawn, 0))
		return -1;
	if (v->spawn && v->spawn >= v->at)
		return bad(l, "spawn= must come before at=", NULL);
	snprintf(comm, sizeof(comm), "CPU %d/KVM", id);
	if (get(l, "comm"))
		snprintf(comm, sizeof(comm), "%s", get(l, "comm"));
	if (tid == vm->pid) {
		/* a vCPU run by the VMM's main thread (a single-vCPU VM) */
		struct sthr *m = scn_thread(s, tid);

		m->kind = TK_VCPU;
		m->cpu = cpu;
		if (get(l, "comm"))
			snprintf(m->comm, sizeof(m->comm), "%s", get(l, "comm"));
		v->thr = (int)(m - s->thr);
		vm->main = 0;
		return 0;
	}
	if (scn_thread(s, tid) && !v->spawn)
		return bad(l, "a reused tid needs spawn= (after the first thread quits)", NULL);
	v->thr = s->nr_thr;
	add_thread(s, tid, pid, TK_VCPU, comm, cpu);
	return 0;
}

static int parse_line(struct scn *s, struct line *l)
{
	const char *w = l->word;

	if (!strcmp(w, "kernel")) {
		if (l->nr_args != 1)
			return bad(l, "usage: kernel VERSION", NULL);
		snprintf(s->kernel, sizeof(s->kernel), "%s", l->args[0]);
	} else if (!strcmp(w, "cpus")) {
		s->ncpus = l->nr_args == 1 ? atoi(l->args[0]) : 0;
		if (s->ncpus <= 0 || s->ncpus > 256)
			return bad(l, "usage: cpus N", NULL);
		s->rec_cpu = s->ncpus - 1;
	} else if (!strcmp(w, "trace")) {
		if (get_dur(l, "base", &s->base, s->base) || get_dur(l, "start", &s->start, 0) || get_dur(l, "end", &s->end, 0) ||
		    get_int(l, "reccpu", &s->rec_cpu, s->rec_cpu))
			return -1;
		s->no_markers = get(l, "markers") && !atoi(get(l, "markers"));
		s->sameclock = get(l, "sameclock") && atoi(get(l, "sameclock"));
		if (get(l, "page") && !(s->page_size = (unsigned int)atoi(get(l, "page"))))
			return bad(l, "bad page size", NULL);
	} else if (!strcmp(w, "vm")) {
		return parse_vm(s, l);
	} else if (!strcmp(w, "vcpu")) {
		return parse_vcpu(s, l);
	} else if (!strcmp(w, "thread")) {
		return parse_thread(s, l);
	} else if (!strcmp(w, "ep")) {
		return parse_ep(s, l);
	} else if (!strcmp(w, "lost")) {
		struct slost lo = { 0 };

		if (get_int(l, "cpu", &lo.cpu, -1) || get_dur(l, "from", &lo.from, 0) ||
		    get_dur(l, "to", &lo.to, 0) || lo.cpu < 0 || lo.to <= lo.from)
			return bad(l, "usage: lost cpu=N from=T to=T [stored=0|1]", NULL);
		lo.stored = !get(l, "stored") || atoi(get(l, "stored"));
		s->lost = xrealloc(s->lost, (s->nr_lost + 1) * sizeof(lo));
		s->lost[s->nr_lost++] = lo;
	} else if (!strcmp(w, "noise")) {
		struct snoise n = { 0 };

		if (get_int(l, "tid", &n.tid, 0) || get_dur(l, "every", &n.every, 1000000) ||
		    get_dur(l, "run", &n.run, 20000) || get_dur(l, "at", &n.at, 50000) ||
		    !scn_thread(s, n.tid))
			return bad(l, "usage: noise tid=HOSTTHREAD every=D run=D", NULL);
		s->noise = xrealloc(s->noise, (s->nr_noise + 1) * sizeof(n));
		s->noise[s->nr_noise++] = n;
	} else if (!strcmp(w, "rename")) {
		struct srename r = { 0 };
		struct sthr *th;

		if (get_int(l, "tid", &r.tid, 0) || get_dur(l, "at", &r.at, 0) || !get(l, "comm") ||
		    !(th = scn_thread_last(s, r.tid)))
			return bad(l, "usage: rename tid=T at=D comm=NAME (a thread above)", NULL);
		snprintf(r.comm, sizeof(r.comm), "%s", get(l, "comm"));
		snprintf(th->last_comm, sizeof(th->last_comm), "%s", r.comm);
		s->renames = xrealloc(s->renames, (s->nr_renames + 1) * sizeof(r));
		s->renames[s->nr_renames++] = r;
	} else if (!strcmp(w, "miss")) {
		struct smiss x = { 0 };

		if (get_int(l, "tid", &x.tid, 0) || get_int(l, "nth", &x.nth, 1) || !get(l, "event") ||
		    x.tid <= 0 || x.nth < 1)
			return bad(l, "usage: miss tid=T event=NAME [nth=N]", NULL);
		snprintf(x.event, sizeof(x.event), "%s", get(l, "event"));
		s->miss = xrealloc(s->miss, (s->nr_miss + 1) * sizeof(x));
		s->miss[s->nr_miss++] = x;
	} else if (!strcmp(w, "record") || !strcmp(w, "events")) {
		char **dst = w[0] == 'r' ? &s->profile : &s->events;

		if (l->nr_args != 1)
			return bad(l, "usage: record PROFILE | events LIST", NULL);
		free(*dst);
		*dst = xstrdup(l->args[0]);
	} else if (!strcmp(w, "light")) {
		s->light = l->nr_args != 1 || atoi(l->args[0]);
	} else if (!strcmp(w, "name")) {
		/* documentation only */
	} else {
		return bad(l, "unknown keyword", w);
	}
	return 0;
}

static void scn_defaults(struct scn *s)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->kernel, sizeof(s->kernel), "6.18");
	s->page_size = 4096;
	s->ncpus = 4;
	s->rec_cpu = 3;
	s->base = 4242 * NSEC_PER_SEC + 123456789;
}

int scn_parse(struct scn *s, const char *path)
{
	struct sbuf sb = { 0 };
	struct line l = { .path = path };
	char *p, *nl;
	int ret = 0;

	scn_defaults(s);
	if (read_file(path, &sb)) {
		vw_err("cannot read %s", path);
		return -1;
	}
	sbuf_addc(&sb, 0);
	for (p = sb.buf; p && *p && !ret; p = nl) {
		nl = strchr(p, '\n');
		if (nl)
			*nl++ = 0;
		l.no++;
		if (split(p, &l)) {
			ret = bad(&l, "cannot split line", NULL);
			break;
		}
		if (l.word)
			ret = parse_line(s, &l);
	}
	sbuf_free(&sb);
	if (!ret && !s->nr_vcpus) {
		vw_err("%s: no vcpu", path);
		ret = -1;
	}
	return ret;
}

void scn_free(struct scn *s)
{
	for (int i = 0; i < s->nr_vcpus; i++)
		free(s->vcpus[i].eps);
	free(s->vcpus);
	free(s->vms);
	free(s->thr);
	free(s->lost);
	free(s->noise);
	free(s->renames);
	free(s->miss);
	free(s->profile);
	free(s->events);
	memset(s, 0, sizeof(*s));
}

/* The guest timer mode of @vm, for the random mode's debug line. */
static const char *timer_name(const struct svm *vm)
{
	return vm->hvtimer ? "hv" : vm->ptimer ? "posted" : vm->tscdl ? "tscdl" : "plain";
}

/*
 * Random topology: two VMs (one VMX with APICv, one without; or SVM), two
 * or three vCPUs each on their own CPU, spare CPUs they may migrate to, the
 * VMs' helper threads on two helper CPUs, a host noise task on its own CPU,
 * and per vCPU-capable CPU preemptors (host, each VM). The seed also picks
 * what the run exercises: migration, losses, vCPUs running nested guests,
 * and (from a stream of its own, so the rest stays as it was) each guest's
 * LAPIC timer: TSC deadline, VMX preemption timer, posted timer interrupts.
 * Episodes come from sim.c.
 */
int scn_random(struct scn *s, uint64_t seed, uint64_t events, const char *kernel)
{
	uint64_t st = seed, tst = seed * 0x2545f4914f6cdd1dULL + 0x3c6ef372fe94f82aULL;
	int cpu = 0, nv[2], nvc, helpers;

	scn_defaults(s);
	if (kernel)
		snprintf(s->kernel, sizeof(s->kernel), "%s", kernel);
	s->random = true;
	s->seed = seed;
	s->max_events = events ? events : 200000;
	nv[0] = 2 + (int)(srand64(&st) % 2);
	nv[1] = 2 + (int)(srand64(&st) % 2);
	nvc = nv[0] + nv[1];
	if (srand64(&st) % 3) {
		s->rnd.migrate = 5 + (int)(srand64(&st) % 20);
		s->rnd.nr_spare = 1 + (int)(srand64(&st) % 2);
	}
	if (srand64(&st) % 3)
		s->rnd.loss = 1 + (int)(srand64(&st) % 8);
	if (srand64(&st) % 3) {
		s->rnd.nested = (int)(srand64(&st) % (1u << nvc));
		if (!s->rnd.nested)
			s->rnd.nested = 1;
	}
	s->rnd.first_spare = nvc;
	helpers = nvc + s->rnd.nr_spare;
	s->ncpus = helpers + 3;
	s->rec_cpu = s->ncpus - 1;
	for (int m = 0; m < 2; m++) {
		struct svm *vm;
		int pid = 4000 + 1000 * m;

		s->vms = xrealloc(s->vms, (s->nr_vms + 1) * sizeof(*s->vms));
		vm = &s->vms[s->nr_vms++];
		memset(vm, 0, sizeof(*vm));
		vm->pid = pid;
		snprintf(vm->name, sizeof(vm->name), "rnd%d", m);
		snprintf(vm->cmdline, sizeof(vm->cmdline),
			 "qemu-system-x86_64 -name guest=rnd%d,debug-threads=on -smp %d", m, nv[m]);
		vm->isa = (srand64(&st) % 3 == 0) ? 2 : 1;
		vm->apicv = srand64(&st) % 2;
		vm->timer_vec = (srand64(&st) % 4 == 0) ? 0xef : 0xec;
		vm->net_vec = 0x23;
		vm->disk_vec = 0x24;
		vm->main = pid;
		vm->slide = default_slide(pid);
		vm->vhost = pid + 100;
		vm->io = pid + 101;
		add_thread(s, pid, pid, TK_MAIN, "qemu-system-x86", helpers + m);
		add_thread(s, pid + 100, pid, TK_VHOST, "", helpers + m);
		snprintf(s->thr[s->nr_thr - 1].comm, 16, "vhost-%d", pid);
		add_thread(s, pid + 101, pid, TK_IO, "IO iothread0", helpers + m);
		for (int i = 0; i < nv[m]; i++) {
			struct svcpu *v;

			s->vcpus = xrealloc(s->vcpus, (s->nr_vcpus + 1) * sizeof(*s->vcpus));
			v = &s->vcpus[s->nr_vcpus++];
			memset(v, 0, sizeof(*v));
			v->tid = pid + 10 + i;
			v->thr = s->nr_thr;
			v->id = i;
			v->vm = m;
			v->cpu = cpu;
			v->at = 10000 + 700 * (uint64_t)cpu;
			add_thread(s, v->tid, pid, TK_VCPU, "", cpu);
			snprintf(s->thr[s->nr_thr - 1].comm, 16, "CPU %d/KVM", i & 0xff);
			cpu++;
		}
	}
	/* preemptors per vCPU-capable CPU: a host kworker, a worker of each VM */
	for (int c = 0; c < helpers; c++) {
		char comm[16];

		snprintf(comm, sizeof(comm), "kworker/%d:1", c & 0xff);
		add_thread(s, 200 + c, -1, TK_HOST, comm, -1);
		for (int m = 0; m < 2; m++) {
			add_thread(s, s->vms[m].pid + 200 + c, s->vms[m].pid, TK_MAIN, "worker", -1);
			add_thread(s, s->vms[m].pid + 300 + c, s->vms[m].pid, TK_MAIN, "worker", -1);
		}
	}
	for (int m = 0; m < 2; m++) {
		struct svm *vm = &s->vms[m];

		vm->hvtimer = vm->isa == 1 && srand64(&tst) % 2;
		vm->ptimer = !vm->hvtimer && vm->apicv && srand64(&tst) % 2;
		vm->tscdl = vm->hvtimer || vm->ptimer || srand64(&tst) % 2;
	}
	add_thread(s, 150, -1, TK_HOST, "rcu_sched", s->ncpus - 1);
	s->noise = xcalloc(1, sizeof(*s->noise));
	s->noise[0] = (struct snoise){ 150, 700000, 30000, 40000 };
	s->nr_noise = 1;
	if (getenv("VMWAIT_SYNTH_DEBUG"))
		fprintf(stderr, "synth: random %llu: vcpus %d+%d, isa %d/%d, apicv %d/%d, "
			"migrate %d%% (%d spare CPUs), loss %d, nested 0x%x, timers %s/%s\n",
			(unsigned long long)seed, nv[0], nv[1], s->vms[0].isa, s->vms[1].isa,
			s->vms[0].apicv, s->vms[1].apicv, s->rnd.migrate, s->rnd.nr_spare,
			s->rnd.loss, (unsigned int)s->rnd.nested, timer_name(&s->vms[0]),
			timer_name(&s->vms[1]));
	return 0;
}
