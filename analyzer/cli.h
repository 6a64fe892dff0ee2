/*
 * The command line of vmwait analyze: its options, the checks made on them
 * before and after the pass (conflicts, selections, the output file).
 */
#ifndef VMWAIT_CLI_H
#define VMWAIT_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "report.h"
#include "result.h"
#include "util.h"

enum { OUT_TEXT, OUT_JSON, OUT_CSV };

struct vector_override;
struct guest_spec;

struct analyze_opts {
	const char *file;		/* what the pass opens ("/dev/stdin" for "-") */
	const char *name;		/* the file as the user named it, for messages */
	bool file_given;		/* else ./trace.dat */
	const char *out;		/* NULL or "-": standard output */
	const char *vm;
	const char *buffer;
	int *vcpus;			/* --vcpu list, or NULL */
	int nvcpus;
	int format;
	bool format_set;
	bool explain;
	struct window_arg from_arg, to_arg;
	const char *from_str, *to_str;
	uint64_t from, to;		/* the window in trace ns, resolved */
	struct vector_override *ovr;
	int novr;
	struct report_opts report;	/* --top, --top-exits, --sort, --color */
	uint64_t interval;		/* --interval, ns (0: none) */
	const char *guest_kallsyms;	/* --guest-kallsyms FILE */
	struct guest_spec *guests;	/* --guest FILE[=VM], with their --guest-offset */
	int nguests;
	const char **goffsets;		/* --guest-offset, as given */
	int ngoffsets;
	const char *svg, *perfetto;	/* pictures (pictures.h) */
	bool quiet;			/* no progress line */
	int threads;			/* -j: 2 decodes in a second thread (pipe.c), 0 auto */
	bool color_set;
};

/* Parse argv; returns 0, -1 after --help (exit 0), or EXIT_USAGE. */
int analyze_parse_args(int argc, char **argv, struct analyze_opts *o);
void analyze_opts_free(struct analyze_opts *o);
/* Does --vm / --vcpu match the VM, the vCPU? */
bool sel_vm_matches(const struct vw_vm *vm, const char *sel);
bool sel_vcpu_matches(const struct analyze_opts *o, int vcpu);
/*
 * Keep what --vm / --vcpu select; 0, or -1 when a selection matches nothing,
 * the result then untouched so that sel_explain() can name what exists.
 */
int sel_filter(struct vw_result *r, const struct analyze_opts *o);
void sel_apply(struct vw_result *r, const struct analyze_opts *o);
/* One line: why the selection matched nothing and what the trace holds. */
void sel_explain(const struct vw_result *r, const struct analyze_opts *o);

/*
 * The report's destination. out_prepare(), before the pass: refuse an output
 * that is the input or an existing trace.dat, and open it without truncating
 * (so that a bad path fails fast and a failed analysis clobbers nothing).
 * out_begin(), once there is something to write: truncate, and the stream.
 * out_end(): flush and close; a file it created is removed when !ok.
 */
struct out_file {
	const char *path;	/* NULL: standard output */
	int fd;
	bool created;
	FILE *f;
};
int out_prepare(const struct analyze_opts *o, struct out_file *of);	/* 0 or exit code */
FILE *out_begin(struct out_file *of);	/* NULL after a message */
int out_end(struct out_file *of, bool ok);	/* 0 or EXIT_RUNTIME */

/* symbols.c: --guest-kallsyms */
int guest_kallsyms_load(const char *path);
void guest_kallsyms_free(void);

#endif
