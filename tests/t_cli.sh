#!/usr/bin/env bash
# The command line: help, version, usage errors (exit 2), runtime errors (exit 1).
. "$(dirname "$0")/lib.sh"

check_rc "--version" 0 "$VMWAIT" --version
check_eq "--version text" "vmwait 0.1.0" "$(cat "$T/out")"
check_rc "--help" 0 "$VMWAIT" --help
check_eq "--help lists the commands" "record analyze events" \
	"$(awk '/^commands:/{f=1; next} f && !NF {f=0} f {printf "%s%s", s, $1; s=" "}' "$T/out")"
check_rc "no command" 2 "$VMWAIT"
check_eq "no command: usage on stderr" "usage: vmwait [--version] [--help] <command> [<args>]" \
	"$(head -n 1 "$T/err")"
check_rc "unknown command" 2 "$VMWAIT" frobnicate
check_eq "unknown command message" "vmwait: unknown command 'frobnicate'" "$(head -n 1 "$T/err")"
for cmd in record analyze events; do
	check_rc "$cmd --help" 0 "$VMWAIT" "$cmd" --help
	check_eq "$cmd --help prints usage on stdout" "usage: vmwait $cmd" \
		"$(head -n 1 "$T/out" | cut -d' ' -f1-3)"
	check_rc "$cmd with an unknown option" 2 "$VMWAIT" "$cmd" --no-such-option
	check_eq "$cmd: nothing on stdout for a usage error" "" "$(cat "$T/out")"
done
check_rc "record -d without units is seconds; bad duration" 2 "$VMWAIT" record -d 5parsecs
check_rc "analyze a missing file" 1 "$VMWAIT" analyze /nonexistent/trace.dat
check_eq "one line for a runtime error" "1" "$(grep -c . "$T/err")"
