/* Threads (by tid, reused tids retired) and what is known of their VMs. */
#include <stdlib.h>
#include <string.h>

#include "analyzer.h"
#include "util.h"

#define HASH_MIN 1024

static unsigned int thash(int tid, unsigned int size)
{
	return ((unsigned int)tid * 2654435761u) & (size - 1);
}

struct thread *thread_find(struct analyzer *a, int tid)
{
	struct thread *t;

	if (!a->htab)
		return NULL;
	for (t = a->htab[thash(tid, a->hsize)]; t; t = t->hnext)
		if (t->tid == tid)
			return t;
	return NULL;
}

static void htab_grow(struct analyzer *a)
{
	unsigned int nsize = a->hsize ? a->hsize * 2 : HASH_MIN;
	struct thread **n = xcalloc(nsize, sizeof(*n));

	for (unsigned int i = 0; i < a->hsize; i++) {
		struct thread *t = a->htab[i], *next;

		for (; t; t = next) {
			unsigned int h = thash(t->tid, nsize);

			next = t->hnext;
			t->hnext = n[h];
			n[h] = t;
		}
	}
	free(a->htab);
	a->htab = n;
	a->hsize = nsize;
}

struct vm_info *vm_get(struct analyzer *a, int tgid)
{
	struct vm_info *vm;

	for (vm = a->vms; vm; vm = vm->next)
		if (vm->tgid == tgid)
			return vm;
	vm = xcalloc(1, sizeof(*vm));
	vm->tgid = tgid;
	vm->next = a->vms;
	a->vms = vm;
	return vm;
}

/* "CPU <n>/KVM" (QEMU's vCPU thread names) -> n, or -1. */
static int vcpu_id_from_name(const char *comm)
{
	char *end;
	long n;

	if (strncmp(comm, "CPU ", 4))
		return -1;
	n = strtol(comm + 4, &end, 10);
	if (end == comm + 4 || strcmp(end, "/KVM") || n < 0)
		return -1;
	return (int)n;
}

void thread_set_comm(struct analyzer *a, struct thread *t, const char *comm, uint64_t ts)
{
	int id;
	int pid;

	if (!comm || !*comm || comm[0] == '<' || !strncmp(t->comm, comm, sizeof(t->comm)))
		return;	/* nothing new: the common case, once per sched event */
	/* zero-padded, so that a record's comm[16] compares with one memcmp */
	memset(t->comm, 0, sizeof(t->comm));
	snprintf(t->comm, sizeof(t->comm), "%s", comm);
	id = vcpu_id_from_name(t->comm);
	if (id >= 0) {
		if (t->vcpu_id < 0)
			t->vcpu_id = id;
		vcpu_promote(a, t, ts);
	}
	if (t->tgid < 0 && (thread_is_vm_worker(t, "vhost-", &pid) ||
			    thread_is_vm_worker(t, "kvm-pit/", &pid)))
		t->tgid = pid;
}

static struct thread *thread_new(struct analyzer *a, int tid)
{
	struct thread *t = xcalloc(1, sizeof(*t));
	unsigned int h;

	if (a->nthreads >= a->hsize)
		htab_grow(a);
	t->tid = tid;
	t->tgid = -1;
	t->anchor = -1;
	t->cpu = -1;
	t->vcpu_id = -1;
	t->wait_cpu = -1;
	t->halt_idx = -1;
	t->state = VS_UNKNOWN;
	t->sched = SCH_UNKNOWN;
	t->ctx = CTX_UNKNOWN;
	evidence_reset(&t->ev);
	evidence_reset(&t->ev_poll);
	h = thash(tid, a->hsize);
	t->hnext = a->htab[h];
	a->htab[h] = t;
	a->nthreads++;
	if (!a->all_tail)
		a->all_tail = &a->all;
	*a->all_tail = t;
	a->all_tail = &t->all_next;
	return t;
}

/* A thread known by name or tgid only (markers, task_newtask): not yet seen. */
struct thread *thread_hint(struct analyzer *a, int tid)
{
	struct thread *t = thread_find(a, tid);

	return t ? t : thread_new(a, tid);
}

struct thread *thread_get(struct analyzer *a, int tid, uint64_t ts)
{
	struct thread *t = thread_hint(a, tid);

	if (t->seen)
		return t;
	t->seen = true;
	t->first_ns = ts;
	t->last_ns = ts;
	t->since = ts;
	if (!t->comm[0])
		thread_set_comm(a, t, tep_data_comm_from_pid(a->tep, tid), ts);
	else if (t->vcpu && t->res)
		t->res->first_ns = ts;
	return t;
}

/* @t ended (it exited): its tid names a new thread from now on. */
void thread_retire(struct analyzer *a, struct thread *t)
{
	struct thread **p = &a->htab[thash(t->tid, a->hsize)];

	for (; *p; p = &(*p)->hnext) {
		if (*p == t) {
			*p = t->hnext;
			a->nthreads--;
			break;
		}
	}
	t->hnext = NULL;
	t->retired = true;
	for (int i = 0; i < a->ncpus; i++)
		if (a->cpus[i].curr_t == t)
			a->cpus[i].curr_t = NULL;
}

enum vw_preempt_kind preempt_kind(struct analyzer *a, int tgid, int tid)
{
	struct thread *p;

	if (tid < 0)
		return PK_UNKNOWN;
	p = tid > 0 ? thread_find(a, tid) : NULL;
	if (!p || p->tgid < 0)
		return PK_HOST;
	if (p->tgid == tgid)
		return PK_SAME_VM;
	for (struct thread *t = a->all; t; t = t->all_next)
		if (t->vcpu && t->tgid == p->tgid)
			return PK_OTHER_VM;
	return PK_HOST;
}

const char *preemptor_comm(struct analyzer *a, int tid)
{
	struct thread *p;

	if (tid == 0)
		return "<idle>";
	if (tid < 0)
		return "<unknown>";
	p = thread_find(a, tid);
	return p && p->comm[0] ? p->comm : tep_data_comm_from_pid(a->tep, tid);
}

void threads_free(struct analyzer *a)
{
	struct thread *t, *next;

	for (t = a->all; t; t = next) {
		next = t->all_next;
		res_vcpu_free(t->res);
		credits_free(&t->credits);
		credits_free(&t->pcred);
		free(t->pre);
		free(t);
	}
	a->all = NULL;
	a->all_tail = NULL;
	while (a->vms) {
		struct vm_info *n = a->vms->next;

		free(a->vms->cmdline);
		free(a->vms);
		a->vms = n;
	}
	free(a->htab);
	a->htab = NULL;
}
