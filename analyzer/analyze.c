/* vmwait analyze: placeholder until the analyzer lands. */
#include <stdio.h>

#include "cmds.h"
#include "util.h"

int cmd_analyze(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	vw_err("analyze: not implemented yet");
	return EXIT_RUNTIME;
}
