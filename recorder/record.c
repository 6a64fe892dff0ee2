/* vmwait record: placeholder until the recorder lands. */
#include <stdio.h>

#include "cmds.h"
#include "util.h"

int cmd_record(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	vw_err("record: not implemented yet");
	return EXIT_RUNTIME;
}
