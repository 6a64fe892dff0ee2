/* vmwait: why is my VM waiting? Command dispatcher. */
#include <stdio.h>
#include <string.h>

#include "cmds.h"
#include "util.h"

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
} cmds[] = {
	{ "record",  cmd_record,  "record kvm, sched and irq events into a trace.dat" },
	{ "analyze", cmd_analyze, "explain where each VM and vCPU spent its time" },
	{ "events",  cmd_events,  "print the event set the analyzer uses" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: vmwait [--version] [--help] <command> [<args>]\n\n"
		   "Host-only wait analysis of KVM guests from the host's kernel trace.\n\n"
		   "commands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++)
		fprintf(f, "  %-8s %s\n", cmds[i].name, cmds[i].help);
	fprintf(f, "\nRun 'vmwait <command> --help' for the options of a command.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("vmwait %s\n", VMWAIT_VERSION);
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "vmwait: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
