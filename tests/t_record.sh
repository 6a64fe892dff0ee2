#!/usr/bin/env bash
# vmwait record and vmwait events on the running kernel: exact event counts,
# metadata markers, instance cleanup on every way out, the top-level buffer
# left alone, error paths. Needs root and tracefs. Faults (kills, full
# disks, overflows): tests/t_recfault.sh.
. "$(dirname "$0")/lib.sh"

RB=$TOP/build/tests/record
GETPPID=$RB/getppid-loop
KVMHLT=$RB/kvm-hlt
COUNT=$RB/rec-count

if [ "$(id -u)" != 0 ]; then
	skip record "needs root"
	exit 0
fi
if ! TD=$(tracefs_dir); then
	skip record "no tracefs"
	exit 0
fi
for b in "$VMWAIT" "$VMWAIT_ASAN" "$GETPPID" "$KVMHLT" "$COUNT"; do
	if [ ! -x "$b" ]; then
		nok record "missing $b (make tests)"
		exit 0
	fi
done
if [ ! -d "$TD/events/kvm" ]; then
	skip record "no kvm events in this kernel"
	exit 0
fi
HAVE_KVM=1
[ -w /dev/kvm ] || HAVE_KVM=0

# The top-level settings that no test may change.
top_state() {
	local f
	for f in set_event set_event_pid tracing_on buffer_size_kb current_tracer \
		 trace_options trace_clock buffer_percent tracing_cpumask events/enable; do
		printf '%s: ' "$f"
		tr '\n' ' ' < "$TD/$f" 2>/dev/null
		echo
	done
}
top_state > "$T/top.before"

# Instances a recorder with pid $1 left behind.
left_by() { ls -d "$TD/instances/vmwait-$1-"* 2>/dev/null | wc -l; }

# wait_line FILE REGEX: wait up to 10 s for a line in FILE.
wait_line() {
	local i
	for i in $(seq 200); do
		grep -qE "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

# count FILE.dat EVENT PID: events of EVENT by PID, from libtracecmd.
count() {
	"$COUNT" "$1" | awk -v e="$2" -v p="$3" '$1 == "count" && $2 == e && $3 == p { n = $4 } END { print n + 0 }'
}
lost() { "$COUNT" "$1" | awk '$1 == "lost" { print $2 }'; }
# The pid of the COMMAND, from its "vm" marker.
cmd_pid() {
	"$COUNT" "$1" | sed -n "s|^marker vmwait: vm pid=\([0-9]*\) cmdline=$2\$|\1|p" | head -n1
}
# trace-cmd report lines of EVENT by PID.
report_count() {
	trace-cmd report -i "$1" 2>/dev/null | grep -cE -- "-$3 +\[[0-9]+\] +[0-9.]+: $2:"
}

# ---- vmwait events ----

"$VMWAIT" events > "$T/ev" 2> "$T/ev.err"
check_eq events_rc 0 $?
bad=0
while IFS=: read -r sys name; do
	[ -e "$TD/events/$sys/$name/format" ] || bad=$((bad + 1))
done < "$T/ev"
check_eq events_all_exist 0 "$bad"
check_eq events_has_kvm_entry 1 "$(grep -cx kvm:kvm_entry "$T/ev")"
check_eq events_has_sched_switch 1 "$(grep -cx sched:sched_switch "$T/ev")"
check_eq events_no_duplicates "$(wc -l < "$T/ev")" "$(sort -u "$T/ev" | wc -l)"
check_eq events_trace_cmd "$(sed 's/^/-e /' "$T/ev" | paste -sd' ')" "$("$VMWAIT" events --trace-cmd)"
"$VMWAIT" events --light > "$T/evl"
heavy="kvm:kvm_entry kvm:kvm_exit kvm:kvm_pio kvm:kvm_mmio kvm:kvm_fast_mmio kvm:kvm_nested_vmexit timer:hrtimer_expire_exit net:netif_receive_skb net:net_dev_xmit"
check_eq events_light "$(grep -vxF -f <(tr ' ' '\n' <<< "$heavy") "$T/ev")" "$(cat "$T/evl")"
check_eq events_light_no_entry_exit 0 "$(grep -cxE 'kvm:kvm_(entry|exit)' "$T/evl")"
check_eq events_light_trace_cmd "$(sed 's/^/-e /' "$T/evl" | paste -sd' ')" \
	"$("$VMWAIT" events --trace-cmd --light)"
check_rc events_bad_option 2 "$VMWAIT" events --nosuch

# ---- usage and user errors ----

"$VMWAIT" record --help > "$T/help" 2> "$T/help.err"
check_eq record_help_rc 0 $?
check_eq record_help_stdout "usage: vmwait record [-o FILE] [-d DURATION] [-b KB] [-p PID]... [--light]" "$(head -n1 "$T/help")"
check_eq record_help_no_stderr "" "$(cat "$T/help.err")"
check_eq record_help_space "needs no more free space there than the
final size of FILE plus 9 ring-buffer pages (36 KB) per CPU plus 64 KB." \
	"$(grep -A1 'needs no more free space' "$T/help" | sed 's/.*\(needs no more\)/\1/')"
check_eq record_help_recover "       vmwait record --recover FILE [-q]" "$(sed -n 4p "$T/help")"
check_rc record_bad_duration 2 "$VMWAIT" record -d 10x -o "$T/u.dat"
check_eq record_bad_duration_usage 1 "$(grep -c '^usage: vmwait record' "$T/err")"
check_rc record_zero_duration 2 "$VMWAIT" record -d 0 -o "$T/u.dat"
check_rc record_bad_buffer 2 "$VMWAIT" record -b 12k -o "$T/u.dat"
check_rc record_bad_pid 2 "$VMWAIT" record -p abc -o "$T/u.dat"
check_rc record_bad_option 2 "$VMWAIT" record --nosuch
check_rc record_v6_zstd 2 "$VMWAIT" record --file-version 6 --compression zstd -o "$T/u.dat"
check_rc record_bad_compression 2 "$VMWAIT" record --compression lz4 -o "$T/u.dat"
check_rc record_bad_version 2 "$VMWAIT" record --file-version 8 -o "$T/u.dat"
check_eq record_usage_no_output "" "$(ls "$T/u.dat" 2>/dev/null)"

setpriv --reuid=65534 --regid=65534 --clear-groups "$VMWAIT" record -d 1 -o /tmp/vmwait-nonroot.dat \
	> "$T/out" 2> "$T/err"
check_eq record_not_root_rc 1 $?
check_eq record_not_root_msg "vmwait: record needs root (it creates a tracefs instance)" "$(cat "$T/err")"

"$VMWAIT" record -q -e nosuch:event -d 1 -o "$T/n.dat" > "$T/out" 2> "$T/err" &
p=$!; wait $p
check_eq record_nosuch_event_rc 1 $?
check_eq record_nosuch_event_msg "vmwait: no such event in this kernel: nosuch:event" "$(cat "$T/err")"
check_eq record_nosuch_event_no_instance 0 "$(left_by $p)"
check_eq record_nosuch_event_no_output "" "$(ls "$T/n.dat" 2>/dev/null)"

"$VMWAIT" record -q -d 1 -o /nonexistent-dir/x.dat > "$T/out" 2> "$T/err" &
p=$!; wait $p
check_eq record_unwritable_rc 1 $?
check_eq record_unwritable_msg "vmwait: cannot create /nonexistent-dir/x.dat: No such file or directory" "$(cat "$T/err")"
check_eq record_unwritable_no_instance 0 "$(left_by $p)"

"$VMWAIT" record -q -o "$T/c.dat" -- /nonexistent-cmd > "$T/out" 2> "$T/err" &
p=$!; wait $p
check_eq record_bad_command_rc 1 $?
check_eq record_bad_command_msg "vmwait: cannot run '/nonexistent-cmd': No such file or directory" "$(cat "$T/err")"
check_eq record_bad_command_no_instance 0 "$(left_by $p)"

"$VMWAIT" record -q -d 1 -o /dev/null > "$T/out" 2> "$T/err" &
p=$!; wait $p
check_eq record_not_regular_rc 1 $?
check_eq record_not_regular_msg "vmwait: cannot write /dev/null: not a regular file" "$(cat "$T/err")"
check_eq record_not_regular_no_instance 0 "$(left_by $p)"

"$VMWAIT" record -q -p 999999999 -d 1 -o "$T/np.dat" > "$T/out" 2> "$T/err" &
p=$!; wait $p
check_eq record_no_such_pid_rc 1 $?
check_eq record_no_such_pid_msg "vmwait: no such process: 999999999" "$(cat "$T/err")"

# tracefs not mounted (in a private mount namespace): mounted, or one line.
if unshare -m --propagation private true 2>/dev/null; then
	unshare -m --propagation private sh -c \
		'umount /sys/kernel/tracing 2>/dev/null; umount /sys/kernel/debug 2>/dev/null
		 exec "$1" record -q -d 0.2 -o "$2"' sh "$VMWAIT" "$T/mnt.dat" > "$T/out" 2> "$T/err"
	check_eq tracefs_mounted_rc 0 $?
	check_eq tracefs_mounted_stderr "" "$(cat "$T/err")"
	check_eq tracefs_mounted_readable 0 "$(trace-cmd report -i "$T/mnt.dat" > /dev/null 2>&1; echo $?)"
	unshare -m --propagation private sh -c \
		'mount -t tmpfs none /sys/kernel && exec "$1" record -q -d 0.2 -o "$2"' \
		sh "$VMWAIT" "$T/nomnt.dat" > "$T/out" 2> "$T/err"
	check_eq tracefs_unmountable_rc 1 $?
	check_eq tracefs_unmountable_msg \
		"vmwait: tracefs is not mounted and cannot be mounted on /sys/kernel/tracing" "$(cat "$T/err")"
	check_eq tracefs_unmountable_no_output "" "$(ls "$T/nomnt.dat" 2>/dev/null)"
else
	skip tracefs_mount "no unshare -m"
fi

# ---- exact counts ----

# N getppid() calls by the COMMAND: exactly N sys_enter_getppid of its pid.
"$VMWAIT" record -e syscalls:sys_enter_getppid -o "$T/g.dat" -- "$GETPPID" 5000 > "$T/out" 2> "$T/err" &
p=$!; wait $p
check_eq getppid_rc 0 $?
check_eq getppid_no_instance 0 "$(left_by $p)"
cp=$(cmd_pid "$T/g.dat" "$GETPPID 5000")
check_eq getppid_marker_vm 1 "$([ -n "$cp" ] && echo 1)"
check_eq getppid_marker_task 1 "$("$COUNT" "$T/g.dat" | grep -cx "marker vmwait: task tid=$cp tgid=$cp comm=getppid-loop")"
check_eq getppid_count_libtracecmd 5000 "$(count "$T/g.dat" syscalls:sys_enter_getppid "$cp")"
check_eq getppid_count_trace_cmd 5000 "$(report_count "$T/g.dat" sys_enter_getppid "$cp")"
check_eq getppid_lost 0 "$(lost "$T/g.dat")"
check_eq getppid_no_dropped_in_report 0 "$(trace-cmd report -i "$T/g.dat" 2>/dev/null | grep -c 'EVENTS DROPPED')"
check_eq getppid_summary_status 1 "$(grep -c "command '$GETPPID' exited with status 0" "$T/err")"
check_eq getppid_summary_no_loss 0 "$(grep -c 'LOST' "$T/err")"
# the summary's per-CPU "0 lost", one line per CPU
check_eq getppid_summary_cpus "$(ls -d "$TD"/per_cpu/cpu* | wc -l)" "$(grep -cE '^vmwait:   CPU [0-9]+: [0-9]+ events, .*, 0 lost$' "$T/err")"

if [ $HAVE_KVM = 1 ]; then
	# A VM whose vCPU halts N times; recorded by the ASan build.
	"$VMWAIT_ASAN" record -o "$T/k.dat" -- "$KVMHLT" 3000 > "$T/out" 2> "$T/err" &
	p=$!; wait $p
	check_eq kvm_asan_rc 0 $?
	check_eq kvm_asan_clean 0 "$(grep -cE 'AddressSanitizer|runtime error' "$T/err")"
	check_eq kvm_no_instance 0 "$(left_by $p)"
	vp=$(cmd_pid "$T/k.dat" "$KVMHLT 3000")
	vt=$(trace-cmd report -i "$T/k.dat" 2>/dev/null | sed -n "s/.*task_newtask: *pid=\([0-9]*\) comm=kvm-hlt .*/\1/p" | head -n1)
	check_eq kvm_userspace_exits 3000 "$(count "$T/k.dat" kvm:kvm_userspace_exit "$vt")"
	check_eq kvm_userspace_exits_trace_cmd 3000 "$(trace-cmd report -i "$T/k.dat" 2>/dev/null | grep -cE -- "-$vt +\[[0-9]+\] +[0-9.]+: kvm_userspace_exit: +reason KVM_EXIT_HLT")"
	check_eq kvm_task_marker 1 "$("$COUNT" "$T/k.dat" | grep -cx "marker vmwait: task tid=$vp tgid=$vp comm=kvm-hlt")"
	check_eq kvm_lost 0 "$(lost "$T/k.dat")"

	# --light: no kvm_entry/kvm_exit, the userspace exits still all there
	"$VMWAIT" record -q --light -o "$T/l.dat" -- "$KVMHLT" 700 > "$T/out" 2> "$T/err"
	check_eq light_rc 0 $?
	check_eq light_no_entry_exit 0 "$("$COUNT" "$T/l.dat" | grep -cE '^count kvm:kvm_(entry|exit) ')"
	vt=$(trace-cmd report -i "$T/l.dat" 2>/dev/null | sed -n "s/.*task_newtask: *pid=\([0-9]*\) comm=kvm-hlt .*/\1/p" | head -n1)
	check_eq light_userspace_exits 700 "$(count "$T/l.dat" kvm:kvm_userspace_exit "$vt")"
else
	skip kvm "/dev/kvm not usable"
fi

# File versions and compressions, all read back with the exact count.
for fv in "--file-version 6" "--compression none" "--compression zlib" "--compression zstd"; do
	name=$(tr -d ' -' <<< "$fv")
	"$VMWAIT" record -q $fv -e syscalls:sys_enter_getppid -o "$T/$name.dat" -- "$GETPPID" 321 \
		> "$T/out" 2> "$T/err"
	check_eq "format_${name}_rc" 0 $?
	cp=$(cmd_pid "$T/$name.dat" "$GETPPID 321")
	check_eq "format_${name}_count" 321 "$(count "$T/$name.dat" syscalls:sys_enter_getppid "$cp")"
done
check_eq format_v6_trace_cmd 321 "$(report_count "$T/fileversion6.dat" sys_enter_getppid \
	"$(cmd_pid "$T/fileversion6.dat" "$GETPPID 321")")"

# Losses of an overflowing ring buffer: tests/t_recfault.sh.

# ---- duration ----

start=$(date +%s%N)
"$VMWAIT" record -d 2 -o "$T/d.dat" > "$T/out" 2> "$T/err" &
p=$!; wait $p
rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
check_eq duration_rc 0 $rc
check_eq duration_about_2s 1 "$([ $ms -ge 2000 ] && [ $ms -lt 6000 ] && echo 1)"
check_eq duration_reason 1 "$(grep -c '^vmwait: stopped (duration) after' "$T/err")"
check_eq duration_no_instance 0 "$(left_by $p)"
trace-cmd report -i "$T/d.dat" > "$T/d.txt" 2>/dev/null
check_eq duration_report_rc 0 $?
check_eq duration_report_has_events 1 "$([ "$(grep -cE '^ +.*\[[0-9]+\] +[0-9.]+: [a-z_]+:' "$T/d.txt")" -gt 0 ] && echo 1)"
# the events the summary counted are all in the file
check_eq duration_summary_matches "$(sed -n 's/^vmwait: wrote .*: \([0-9]*\) events,.*/\1/p' "$T/err")" \
	"$("$COUNT" "$T/d.dat" | awk '$1 == "events" { print $2 }')"

# -d ends the recording, not the COMMAND, which is left running.
"$VMWAIT" record -d 0.5 -o "$T/dc.dat" -- sleep 5 > "$T/out" 2> "$T/err" &
p=$!; wait $p
check_eq duration_cmd_rc 0 $?
sp=$(sed -n "s/^vmwait: command 'sleep' (pid \([0-9]*\)) is still running$/\1/p" "$T/err")
check_eq duration_cmd_still_running 1 "$([ -n "$sp" ] && kill -0 "$sp" 2>/dev/null && echo 1)"
[ -n "$sp" ] && kill "$sp" 2>/dev/null
check_eq duration_cmd_no_instance 0 "$(left_by $p)"
check_eq duration_cmd_marker "marker vmwait: vm pid=$sp cmdline=sleep 5" \
	"$("$COUNT" "$T/dc.dat" | grep "^marker vmwait: vm pid=$sp ")"

# ---- signals: the instance is always removed, the file is complete ----

for sig in INT TERM HUP; do
	"$VMWAIT" record -o "$T/s$sig.dat" > "$T/out" 2> "$T/s$sig.err" &
	p=$!
	wait_line "$T/s$sig.err" '^vmwait: recording to'
	check_eq "sig${sig}_instance_while_running" 1 "$(left_by $p)"
	sleep 0.3
	kill -$sig $p
	wait $p
	check_eq "sig${sig}_rc" 0 $?
	check_eq "sig${sig}_reason" 1 "$(grep -c "^vmwait: stopped (SIG$sig)" "$T/s$sig.err")"
	check_eq "sig${sig}_no_instance" 0 "$(left_by $p)"
	check_eq "sig${sig}_no_work_directory" "" "$(ls -d "$T/s$sig.dat.vmwait-tmp" 2>/dev/null)"
	trace-cmd report -i "$T/s$sig.dat" > /dev/null 2>&1
	check_eq "sig${sig}_readable" 0 $?
done

# SIGKILL leaves the instance; the next recorder removes it.
"$VMWAIT" record -o "$T/kill.dat" > "$T/out" 2> "$T/kill.err" &
p=$!
wait_line "$T/kill.err" '^vmwait: recording to'
kill -KILL $p
wait $p 2>/dev/null
check_eq sigkill_instance_left 1 "$(left_by $p)"
"$VMWAIT" record -d 0.2 -o "$T/after.dat" > "$T/out" 2> "$T/err" &
q=$!; wait $q
check_eq sigkill_next_rc 0 $?
check_eq sigkill_stale_removed 0 "$(left_by $p)"
check_eq sigkill_stale_reported 1 "$(grep -c "^vmwait: removed stale tracefs instance vmwait-$p-0$" "$T/err")"
check_eq sigkill_next_no_instance 0 "$(left_by $q)"

# ---- two recorders at once ----

rm -f "$T/go"
"$VMWAIT" record -e syscalls:sys_enter_getppid -o "$T/a.dat" -- "$GETPPID" -w "$T/go" 300 \
	> "$T/out" 2> "$T/a.err" &
pa=$!
wait_line "$T/a.err" '^vmwait: recording to'
"$VMWAIT" record -e syscalls:sys_enter_getppid -o "$T/b.dat" -- "$GETPPID" -w "$T/go" 700 \
	> "$T/out" 2> "$T/b.err" &
pb=$!
wait_line "$T/b.err" '^vmwait: recording to'
check_eq concurrent_both_instances "1 1" "$(left_by $pa) $(left_by $pb)"
touch "$T/go"
wait $pa; ra=$?
wait $pb; rb=$?
check_eq concurrent_rc "0 0" "$ra $rb"
ca=$(cmd_pid "$T/a.dat" "$GETPPID -w $T/go 300")
cb=$(cmd_pid "$T/b.dat" "$GETPPID -w $T/go 700")
check_eq concurrent_a_count 300 "$(count "$T/a.dat" syscalls:sys_enter_getppid "$ca")"
check_eq concurrent_b_count 700 "$(count "$T/b.dat" syscalls:sys_enter_getppid "$cb")"
check_eq concurrent_lost "0 0" "$(lost "$T/a.dat") $(lost "$T/b.dat")"
check_eq concurrent_no_instances "0 0" "$(left_by $pa) $(left_by $pb)"

# ---- -p: only the chosen VM (plus the idle task's interrupts) ----

if [ $HAVE_KVM = 1 ]; then
	rm -f "$T/go"
	"$KVMHLT" -w "$T/go" 400 & vm=$!
	"$GETPPID" -w "$T/go" 250 & other=$!
	for i in $(seq 200); do
		grep -qx 'CPU 0/KVM' /proc/$vm/task/*/comm 2>/dev/null && break
		sleep 0.05
	done
	"$VMWAIT_ASAN" record -p $vm -e syscalls:sys_enter_getppid -o "$T/p.dat" > "$T/out" 2> "$T/p.err" &
	p=$!
	wait_line "$T/p.err" '^vmwait: recording to'
	# the filter: idle (interrupts on idle CPUs), the VM's threads, nothing else
	want=$( (echo 0; ls /proc/$vm/task) | sort -n | paste -sd' ')
	check_eq pid_filter "$want" "$(sort -n "$TD/instances/vmwait-$p-0/set_event_pid" | paste -sd' ')"
	check_eq pid_event_fork 1 "$(cat "$TD/instances/vmwait-$p-0/options/event-fork")"
	touch "$T/go"
	wait $vm $other
	sleep 0.2
	stop_wait $p INT
	check_eq pid_rc 0 $?
	check_eq pid_asan_clean 0 "$(grep -cE 'AddressSanitizer|runtime error' "$T/p.err")"
	vt=$("$COUNT" "$T/p.dat" | sed -n "s/^marker vmwait: task tid=\([0-9]*\) tgid=$vm comm=CPU 0\/KVM$/\1/p")
	check_eq pid_vcpu_marker 1 "$([ -n "$vt" ] && echo 1)"
	check_eq pid_vm_markers "marker vmwait: vm pid=$vm cmdline=$KVMHLT -w $T/go 400" \
		"$("$COUNT" "$T/p.dat" | grep '^marker vmwait: vm ')"
	check_eq pid_vm_exits 400 "$(count "$T/p.dat" kvm:kvm_userspace_exit "$vt")"
	check_eq pid_other_filtered 0 "$(count "$T/p.dat" syscalls:sys_enter_getppid "$other")"
	check_eq pid_no_instance 0 "$(left_by $p)"
fi

# Disk full, SIGKILL and --recover, signals at random moments, tracefs
# read-only, disk space: tests/t_recfault.sh.

# ---- nothing changed at the top level ----

top_state > "$T/top.after"
check_eq top_level_untouched "$(cat "$T/top.before")" "$(cat "$T/top.after")"
