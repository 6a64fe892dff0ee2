/* Entry points of the subcommands of the single vmwait binary. */
#ifndef VMWAIT_CMDS_H
#define VMWAIT_CMDS_H

int cmd_record(int argc, char **argv);
int cmd_analyze(int argc, char **argv);
int cmd_events(int argc, char **argv);
int cmd_top(int argc, char **argv);

#endif
