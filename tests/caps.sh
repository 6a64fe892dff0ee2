#!/usr/bin/env bash
# What this machine allows the tests to do, probed by trying each thing.
# Prints one summary line; with -v, one "NAME=yes|no (reason)" line per probe.
# Sourced by tests that need a capability: caps_probe NAME sets CAP_WHY.
set -u
TOP=${VMWAIT_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}

caps_tracefs() {
	local d
	for d in /sys/kernel/tracing /sys/kernel/debug/tracing; do
		[ -e "$d/instances" ] && { echo "$d"; return 0; }
	done
	return 1
}

# caps_probe NAME: 0 if the machine allows NAME; CAP_WHY says why not.
caps_probe() {
	local td inst err rc
	CAP_WHY=
	case $1 in
	root)
		[ "$(id -u)" = 0 ] || { CAP_WHY="not root"; return 1; } ;;
	tracefs)
		td=$(caps_tracefs) || { CAP_WHY="no tracefs mounted"; return 1; }
		inst=$td/instances/vmwait-caps-$$
		err=$(mkdir "$inst" 2>&1) || { CAP_WHY="cannot create an instance: ${err##*: }"; return 1; }
		rmdir "$inst" ;;
	subbuf8k)
		td=$(caps_tracefs) || { CAP_WHY="no tracefs"; return 1; }
		[ -e "$td/buffer_subbuf_size_kb" ] || { CAP_WHY="one ring-buffer page size"; return 1; }
		inst=$td/instances/vmwait-caps-$$
		mkdir "$inst" 2>/dev/null || { CAP_WHY="cannot create an instance"; return 1; }
		err=$( { echo 8 > "$inst/buffer_subbuf_size_kb"; } 2>&1 )
		rc=$?
		rmdir "$inst"
		[ $rc -eq 0 ] || { CAP_WHY="buffer_subbuf_size_kb refuses 8: ${err##*: }"; return 1; } ;;
	kvm)
		[ -e /dev/kvm ] || { CAP_WHY="no /dev/kvm"; return 1; }
		[ -x "$TOP/build/tests/record/kvm-hlt" ] || { CAP_WHY="kvm-hlt not built"; return 1; }
		err=$("$TOP/build/tests/record/kvm-hlt" 1 2>&1 >/dev/null) ||
			{ CAP_WHY="cannot run a VM: ${err:-kvm-hlt failed}"; return 1; } ;;
	kvm_exit_events)
		td=$(caps_tracefs) || { CAP_WHY="no tracefs"; return 1; }
		[ -d "$td/events/kvm/kvm_exit" ] || { CAP_WHY="no kvm:kvm_exit event"; return 1; } ;;
	trace_cmd_record)
		command -v trace-cmd > /dev/null || { CAP_WHY="trace-cmd not installed"; return 1; }
		local dir
		dir=$(mktemp -d)
		err=$(cd "$dir" && timeout 20 trace-cmd record -B "vmwait-caps-$$" -e sched:sched_switch \
			-o "$dir/t.dat" sleep 0.1 2>&1 >/dev/null)
		rc=$?
		td=$(caps_tracefs) && rmdir "$td/instances/vmwait-caps-$$" 2>/dev/null
		rm -rf "$dir"
		[ $rc -eq 0 ] || { CAP_WHY="$(printf '%s' "$err" | grep -v '^ *$' | tail -n 1 | sed 's/^ *//')"; return 1; } ;;
	valgrind)
		command -v valgrind > /dev/null || { CAP_WHY="valgrind not installed"; return 1; } ;;
	libfuzzer)
		command -v clang > /dev/null || { CAP_WHY="clang not installed"; return 1; } ;;
	*)
		CAP_WHY="unknown capability $1"; return 1 ;;
	esac
	return 0
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	line="machine:"
	for c in root tracefs subbuf8k kvm kvm_exit_events trace_cmd_record valgrind libfuzzer; do
		if caps_probe "$c"; then
			line="$line $c=yes"
			[ "${1:-}" = -v ] && echo "$c=yes"
		else
			line="$line $c=no"
			[ "${1:-}" = -v ] && echo "$c=no ($CAP_WHY)"
		fi
	done
	[ "${1:-}" = -v ] || echo "$line"
fi
