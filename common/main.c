/* vmwait: why is my VM waiting? Command dispatcher and top-level options. */
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
	{ "top",     cmd_top,     "live wait analysis of every VM on this host, per interval" },
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

/* Run the command @name, or say in one line why not. */
static int run_cmd(const char *name, int argc, char **argv)
{
	struct sbuf names = { 0 };

	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++)
		if (!strcmp(name, cmds[i].name))
			return cmds[i].fn(argc, argv);
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++)
		sbuf_addf(&names, "%s%s", i ? ", " : "", cmds[i].name);
	if (name[0] == '-')
		vw_err("unknown option '%s' (see 'vmwait --help')", name);
	else
		vw_err("unknown command '%s' (commands: %s)", name, names.buf);
	sbuf_free(&names);
	return EXIT_USAGE;
}

int main(int argc, char **argv)
{
	char *help[] = { NULL, "--help", NULL };

	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    (!strcmp(argv[1], "help") && argc == 2)) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("vmwait %s\n", VMWAIT_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "help")) {		/* vmwait help CMD: CMD --help */
		help[0] = argv[2];
		return run_cmd(argv[2], 2, help);
	}
	return run_cmd(argv[1], argc - 1, argv + 1);
}
