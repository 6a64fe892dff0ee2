#!/usr/bin/env bash
# t_vmm: runs the test VMM (tests/vmm) with every phase, checks its JSON exactly and, as root with
# tracefs, the kvm/sched/irq events its phases must produce (recorded in a private instance).
. "$(dirname "$0")/lib.sh"
VMM=$TOP/build/tests/vmm/vmwait-vmm
CHECK=$TOP/tests/vmm/check_vmm.py

if [ ! -x "$VMM" ]; then
	nok vmm_built "missing $VMM (make tests)"
	exit 0
fi

# Usage and errors: one line on stderr, documented exit codes.
check_rc vmm_help 0 "$VMM" --help
check_eq vmm_help_usage "usage: vmwait-vmm [options]" "$(head -n 1 "$T/out")"
check_rc vmm_bad_option 2 "$VMM" --bogus
check_eq vmm_bad_option_one_line 1 "$(wc -l < "$T/err")"
check_rc vmm_ipi_needs_two_vcpus 2 "$VMM" -c 1 -p ipi
check_rc vmm_pit_too_long 2 "$VMM" -p pit:1:60ms
check_rc vmm_tscdl_too_short 2 "$VMM" -p tscdl:1:500ns
check_eq vmm_tscdl_too_short_message "vmwait-vmm: phase tscdl needs a duration of at least 1us" \
	"$(cat "$T/err")"
if [ "$(id -u)" = 0 ] && command -v unshare > /dev/null &&
   unshare -m true 2> /dev/null; then
	# Hide /dev/kvm behind an empty tmpfs in a private mount namespace.
	check_rc vmm_no_kvm 1 unshare -m sh -c 'mount -t tmpfs none /dev && exec "$0"' "$VMM"
	check_eq vmm_no_kvm_message "vmwait-vmm: cannot open /dev/kvm: No such file or directory" \
		"$(cat "$T/err")"
else
	skip vmm_no_kvm "needs root and unshare to hide /dev/kvm"
fi

if [ ! -e /dev/kvm ]; then
	skip vmm_runs "no /dev/kvm on this machine"
	exit 0
fi
if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
	skip vmm_runs "/dev/kvm is not readable and writable by $(id -un)"
	exit 0
fi

# The tscdl phase needs TSC-deadline mode in KVM's in-kernel LAPIC; where it is missing the
# phase fails with one line saying so, and the runs below leave it out.
TSCDL=1
if ! "$VMM" -c 1 -p tscdl:1:1ms -o "$T/tscdl.json" > /dev/null 2> "$T/err"; then
	case "$(cat "$T/err")" in
	*"no TSC-deadline timer on this host"*)
		skip vmm_tscdl "$(head -n 1 "$T/err")"
		TSCDL= ;;
	esac
fi

# Tracing: only as root, where tracefs is (or can be) mounted and has the kvm events.
TD=
if [ "$(id -u)" = 0 ]; then
	TD=$(tracefs_dir) || TD=
	if [ -n "$TD" ] && ! grep -qx 'kvm:kvm_vcpu_wakeup' "$TD/available_events"; then
		skip vmm_trace "tracefs has no kvm events"
		TD=
	fi
	[ -z "$TD" ] || [ -d "$TD/instances" ] || TD=
	[ -n "$TD" ] || skip vmm_trace "tracefs is not usable"
else
	skip vmm_trace "needs root for tracefs"
fi

# run NAME VCPUS ROTATE PHASES: one run of the VMM (traced when possible) and its checks.
# PHASES is fully spelled NAME:REPEAT:DURATION_NS so that the checker knows what was asked.
run() {
	local name=$1 vcpus=$2 rotate=$3 phases=$4 inst= clock= rc args=()
	local json=$T/$name.json trace=$T/$name.trace
	args=(-c "$vcpus" -p "$(echo "$phases" | sed 's/:\([0-9]*\)$/:\1ns/; s/:\([0-9]*\),/:\1ns,/g')"
	      --timeout 60 -o "$json")
	[ "$rotate" = 1 ] && args+=(--rotate)
	if [ -n "$TD" ]; then
		if ! inst=$(new_instance "$TD"); then
			nok "$name/trace_instance" "cannot create a tracefs instance"
			inst=
		else
			echo 0 > "$inst/tracing_on"
			echo 16384 > "$inst/buffer_size_kb"
			# CLOCK_MONOTONIC, as hrtimer expiry times (checked for tscdl)
			echo mono > "$inst/trace_clock" 2> /dev/null
			clock=$(sed 's/.*\[\(.*\)\].*/\1/' "$inst/trace_clock")
			: > "$inst/trace"
			{
				echo 'kvm:*'
				echo sched:sched_switch
				echo sched:sched_waking
				echo sched:sched_wakeup
				echo timer:hrtimer_expire_entry
				echo timer:hrtimer_start
				echo 'irq:*'
			} > "$inst/set_event"
			echo 1 > "$inst/tracing_on"
		fi
	fi
	timeout -k 5 90 "$VMM" "${args[@]}" > "$T/out" 2> "$T/err"
	rc=$?
	if [ -n "$inst" ]; then
		echo 0 > "$inst/tracing_on"
		cp "$inst/trace" "$trace"
		echo > "$inst/set_event"
	fi
	if [ $rc -ne 0 ]; then
		case "$(cat "$T/err")" in
		*"/dev/kvm is unusable"*|*"cannot open /dev/kvm"*)
			skip "$name" "$(head -n 1 "$T/err")"
			return ;;
		esac
		nok "$name/runs" "exit status $rc: $(head -n 1 "$T/err")"
		return
	fi
	ok "$name/runs"
	check_eq "$name/quiet" "" "$(cat "$T/err")"
	if [ -n "$inst" ]; then
		python3 "$CHECK" "$name/" "$json" "$vcpus" "$rotate" "$phases" "$trace" "$clock"
	else
		python3 "$CHECK" "$name/" "$json" "$vcpus" "$rotate" "$phases"
	fi
}

# Every phase on 2 vCPUs (ipi: vCPU 0 to vCPU 1), then spread over 3 vCPUs; tscdl after
# timer, then before it (the LAPIC timer switches mode both ways).
run vmm_all 2 0 timer:3:2000000,${TSCDL:+tscdl:3:2000000,}pit:3:3000000,ipi:3:0,disk:3:0,net:3:0,spin:2:2000000,pio:5:0
run vmm_rotate 3 1 ${TSCDL:+tscdl:4:1000000,}timer:4:1000000,pit:4:1000000,ipi:4:0,disk:4:0,net:4:0,spin:1:1000000,pio:4:0
exit 0
