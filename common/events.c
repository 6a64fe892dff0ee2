/* vmwait events: placeholder. */
#include <stdio.h>

#include "cmds.h"
#include "util.h"

int cmd_events(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	vw_err("events: not implemented yet");
	return EXIT_RUNTIME;
}
