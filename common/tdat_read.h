/*
 * What vmwait reads from a trace.dat beside the events: the file version,
 * its compression, and options that libtracecmd does not enumerate (the
 * GUEST options written by "trace-cmd record -A").
 */
#ifndef VMWAIT_TDAT_READ_H
#define VMWAIT_TDAT_READ_H

#include <stdint.h>

struct tdat_guest {
	char *name;
	uint64_t trace_id;
	int nvcpus;
	int *vcpu_pid;		/* vcpu id -> host task pid (0 if not given) */
};

struct tdat_info {
	int version;
	char compression[32];	/* "none" for v6 and uncompressed v7 */
	struct tdat_guest *guests;
	int nguests;
	uint64_t file_size;
	uint64_t data_end;	/* where the last CPU's trace data ends */
};

/* Returns 0, or -1 when @path is not a readable trace.dat header. */
int tdat_read_info(const char *path, struct tdat_info *info);
void tdat_info_free(struct tdat_info *info);

#endif
