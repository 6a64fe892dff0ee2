/* `vmwait record --recover OUTPUT`, and the check for what a killed recorder left. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmds.h"
#include "recorder.h"
#include "util.h"

/*
 * Refuse to record over the work directory of another recording: it holds
 * the data of a killed one (to recover), or belongs to a live one.
 */
int rec_check_leftover(const char *output)
{
	switch (tdat_leftover(output)) {
	case TDAT_LEFT_NONE:
		return 0;
	case TDAT_LEFT_BUSY:
		vw_err("%s is being written by another 'vmwait record' (%s%s is in use)",
		       output, output, TDAT_WORKDIR_SUFFIX);
		return -1;
	default:
		vw_err("%s%s holds an interrupted recording: run 'vmwait record --recover %s' "
		       "(or remove it)", output, TDAT_WORKDIR_SUFFIX, output);
		return -1;
	}
}

/* One line on a failed recovery. */
static void recover_error(const char *output, int err)
{
	const char *wd = TDAT_WORKDIR_SUFFIX;

	switch (err) {
	case ENOENT:
		vw_err("nothing to recover: there is no %s%s", output, wd);
		break;
	case EBUSY:
		vw_err("%s is being written by a running 'vmwait record' (%s%s is in use)",
		       output, output, wd);
		break;
	case ENODATA:
		vw_err("nothing to recover in %s%s: the recording was stopped before it began "
		       "(removed it)", output, wd);
		break;
	case EPROTO:
		vw_err("cannot recover %s: %s%s or the start of %s is damaged", output, output,
		       wd, output);
		break;
	case ENOSPC:
	case EDQUOT:
	case EFBIG:
		vw_err("cannot write %s: %s%s", output, strerror(err),
		       access(output, F_OK) == 0 ?
		       " (kept the trace up to the last page that fitted)" : "");
		break;
	default:
		vw_err("cannot recover %s: %s", output, strerror(err));
		break;
	}
}

/*
 * The one warning line on what a killed recording lost: always the events
 * not yet read from the ring buffers, plus any page or chunk the kill cut.
 */
static void recover_loss(const char *output, const struct tdat_recovery *info)
{
	struct sbuf sb = { 0 };
	unsigned int n = 0;

	for (unsigned int i = 0; i < info->ncpus; i++) {
		if (!info->dropped[i])
			continue;
		sbuf_addf(&sb, "%sCPU %u: %" PRIu64 " bytes", n++ ? ", " : "", i, info->dropped[i]);
	}
	vw_warn("%s ends where its recorder was killed: events still in the ring buffers "
		"then are not in it, nor the loss counters%s%s%s", output,
		n ? "; dropped what the kill cut short (" : "", n ? sb.buf : "", n ? ")" : "");
	sbuf_free(&sb);
}

/* Remove the tracefs instance the killed recorder left, if we may. */
static void recover_instances(void)
{
	if (geteuid() == 0 && rec_tracing_dir())
		rec_cleanup_stale();
}

int rec_recover(const char *output)
{
	struct tdat_recovery info = { 0 };
	uint64_t pages = 0;
	unsigned int cpus = 0;

	if (tdat_recover(output, &info) < 0) {
		recover_error(output, errno);
		tdat_recovery_free(&info);
		recover_instances();
		return EXIT_RUNTIME;
	}
	if (info.complete) {
		vw_info("%s was complete; removed %s%s", output, output, TDAT_WORKDIR_SUFFIX);
	} else if (info.resumed) {
		/* the buffers were drained and the counters stored before the copy */
		vw_info("recovered %s: finished writing it (the kill came at its end)", output);
	} else {
		for (unsigned int i = 0; i < info.ncpus; i++) {
			pages += info.pages[i];
			cpus += info.pages[i] > 0;
		}
		vw_info("recovered %s: %" PRIu64 " ring-buffer pages of %u CPU%s", output, pages,
			cpus, cpus == 1 ? "" : "s");
		recover_loss(output, &info);
	}
	tdat_recovery_free(&info);
	recover_instances();
	return 0;
}
