#!/usr/bin/env bash
# The trace-cmd plugin: guest vector names in "trace-cmd report", nothing else changed; make install.
#
# Traces: two fixed trace.dat files in current and old kvm formats
# (tests/plugin/vecdat.c), a live one of a tiny KVM guest recorded in a private
# tracefs instance (tests/plugin/kvm-vectors.c), and, when it is built,
# random ones from the synthetic generator in every kernel's formats.
. "$(dirname "$0")/lib.sh"

PLUGDIR=$TOP/build/plugins
PLUGIN=$PLUGDIR/plugin_vmwait_vectors.so
VECDAT=$TOP/build/tests/plugin/vecdat
KVMVEC=$TOP/build/tests/plugin/kvm-vectors
SYNTH=$TOP/build/tests/synth/vmwait-synth
OUR_EVENTS='kvm_apic_accept_irq|kvm_inj_virq|kvm_apic_ipi|kvm_msi_set_irq'

if ! command -v trace-cmd > /dev/null; then
	skip plugin "trace-cmd is not installed"
	exit 0
fi
for f in "$PLUGIN" "$VECDAT" "$KVMVEC"; do
	if [ ! -e "$f" ]; then
		nok plugin-built "$f is missing (run make tests)"
		exit 0
	fi
done

# No per-user plugins: ~/.local/lib/traceevent/plugins is under $HOME.
export HOME=$T/home
mkdir -p "$HOME"
unset TRACEEVENT_PLUGIN_DIR

# The names the plugin may insert: those of common/vectors.c.
NAMES=$(sed -n 's/.*return "\([A-Z0-9_]*\)";.*/\1/p' "$TOP/common/vectors.c" | paste -sd'|')

# Is a copy of the plugin loaded even without TRACEEVENT_PLUGIN_DIR (installed
# system-wide)? Then there is no report "without" it to compare with.
BASELINE_OK=1
if trace-cmd list -P 2>/dev/null | grep -q 'plugin_vmwait_vectors'; then
	BASELINE_OK=0
fi

# report_pair NAME FILE: $T/NAME.with and $T/NAME.without
report_pair() {
	TRACEEVENT_PLUGIN_DIR=$PLUGDIR trace-cmd report "$2" > "$T/$1.with" 2> "$T/$1.with.err" &&
		trace-cmd report "$2" > "$T/$1.without" 2> "$T/$1.without.err"
}

# The info part of report lines: "event:   text" without task, CPU and time.
info() {
	sed -E 's/^[^]]*\] +[0-9]+\.[0-9]+: //'
}

# check_rest_identical NAME EXPECTED_NAMED_LINES: the report with the plugin,
# less one inserted " (NAME)" per line, is byte for byte the report without
# it; and that many lines differ.
check_rest_identical() {
	local n
	if [ $BASELINE_OK = 0 ]; then
		skip "$1-rest-identical" "an installed copy of the plugin is always loaded"
		return
	fi
	sed -E "s/ \\(($NAMES)\\)//" "$T/$1.with" > "$T/$1.stripped"
	if cmp -s "$T/$1.stripped" "$T/$1.without"; then
		ok "$1-rest-identical"
	else
		nok "$1-rest-identical" "$(diff "$T/$1.without" "$T/$1.stripped" | head -6 | tr '\n' '|')"
	fi
	n=$(diff "$T/$1.without" "$T/$1.with" | grep -c '^>')
	check_eq "$1-named-lines" "$2" "$n"
}

# check_unnamed_same NAME EXPECTED: the lines of the four events that the
# plugin left alone (same with and without it), as info text.
check_unnamed_same() {
	if [ $BASELINE_OK = 0 ]; then
		skip "$1-unnamed-same" "an installed copy of the plugin is always loaded"
		return
	fi
	check_eq "$1-unnamed-same" "$2" \
		"$(paste -d '\n' "$T/$1.with" "$T/$1.without" |
		   awk 'NR % 2 { w = $0; next } w == $0' | grep -E " ($OUR_EVENTS): " | info)"
}

# ---- 1. fixed traces, current (6.18) formats ----
"$VECDAT" new "$T/new.dat" 2> "$T/vecdat.err" || nok vecdat-new "$(cat "$T/vecdat.err")"
report_pair new "$T/new.dat" || nok new-report "$(cat "$T/new.with.err" "$T/new.without.err")"
check_eq new-exact "$(cat <<'EOF'
cpus=1
 qemu-system-x86-4242  [000]  1000.000001: kvm_apic_accept_irq:  apicid 0 vec 236 (LOCAL_TIMER) (Fixed|edge)
       CPU 0/KVM-4243  [000]  1000.000002: kvm_inj_virq:         IRQ 0xec (LOCAL_TIMER)
 qemu-system-x86-4242  [000]  1000.000003: kvm_apic_accept_irq:  apicid 1 vec 49 (Fixed|edge)
       CPU 1/KVM-4244  [000]  1000.000004: kvm_inj_virq:         IRQ 0x31
       CPU 0/KVM-4243  [000]  1000.000005: kvm_apic_ipi:         dst 1 vec 253 (RESCHEDULE) (Fixed|physical|de-assert|edge|dst)
       CPU 0/KVM-4243  [000]  1000.000006: kvm_apic_accept_irq:  apicid 1 vec 253 (RESCHEDULE) (Fixed|edge)
       CPU 1/KVM-4244  [000]  1000.000007: kvm_inj_virq:         IRQ 0xfd (RESCHEDULE) [reinjected]
       CPU 0/KVM-4243  [000]  1000.000008: kvm_apic_ipi:         dst 1 vec 0 (INIT|physical|assert|edge|dst)
       CPU 0/KVM-4243  [000]  1000.000009: kvm_apic_ipi:         dst 0 vec 251 (CALL_FUNCTION_SINGLE) (Fixed|physical|de-assert|edge|all-but-self)
      vhost-4242-4250  [000]  1000.000010: kvm_msi_set_irq:      dst 1 vec 252 (CALL_FUNCTION) (Fixed|physical|edge)
      vhost-4242-4250  [000]  1000.000011: kvm_msi_set_irq:      dst 0 vec 65 (Fixed|physical|level)
      vhost-4242-4250  [000]  1000.000012: kvm_msi_set_irq:      dst 0 vec 239 (MANAGED_IRQ_SHUTDOWN) (Fixed|logical|edge)
 qemu-system-x86-4242  [000]  1000.000013: kvm_apic_accept_irq:  apicid 0 vec 2 (NMI) (NMI|edge)
       CPU 0/KVM-4243  [000]  1000.000014: kvm_inj_virq:         Soft/INTn 0x80 (IA32_SYSCALL)
       CPU 0/KVM-4243  [000]  1000.000015: kvm_inj_virq:         IRQ 0x2 (NMI)
      vhost-4242-4250  [000]  1000.000016: kvm_ioapic_set_irq:   pin 4 dst 0 vec 236 (Fixed|physical|edge)
EOF
)" "$(cat "$T/new.with")"
check_rest_identical new 11
check_unnamed_same new "$(cat <<'EOF'
kvm_apic_accept_irq:  apicid 1 vec 49 (Fixed|edge)
kvm_inj_virq:         IRQ 0x31
kvm_apic_ipi:         dst 1 vec 0 (INIT|physical|assert|edge|dst)
kvm_msi_set_irq:      dst 0 vec 65 (Fixed|physical|level)
EOF
)"
# Not one of the four events, although it prints "vec 236": untouched.
check_eq new-other-event \
	"      vhost-4242-4250  [000]  1000.000016: kvm_ioapic_set_irq:   pin 4 dst 0 vec 236 (Fixed|physical|edge)" \
	"$(grep kvm_ioapic_set_irq "$T/new.without")"

# ---- 2. fixed traces, older kernels' formats ----
"$VECDAT" old "$T/old.dat" 2> "$T/vecdat.err" || nok vecdat-old "$(cat "$T/vecdat.err")"
report_pair old "$T/old.dat" || nok old-report "$(cat "$T/old.with.err" "$T/old.without.err")"
check_eq old-exact "$(cat <<'EOF'
cpus=1
 qemu-system-x86-4242  [000]  1000.000001: kvm_apic_accept_irq:  apicid 0 vec 239 (MANAGED_IRQ_SHUTDOWN) (Fixed|edge)
 qemu-system-x86-4242  [000]  1000.000002: kvm_apic_accept_irq:  apicid 0 vec 239 (MANAGED_IRQ_SHUTDOWN) (Fixed|edge) (coalesced)
       CPU 0/KVM-4243  [000]  1000.000003: kvm_inj_virq:         irq 239 (MANAGED_IRQ_SHUTDOWN)
 qemu-system-x86-4242  [000]  1000.000004: kvm_apic_accept_irq:  apicid 1 vec 35 (Fixed|level)
       CPU 1/KVM-4244  [000]  1000.000005: kvm_inj_virq:         irq 35
       CPU 0/KVM-4243  [000]  1000.000006: kvm_apic_ipi:         dst 1 vec 253 (RESCHEDULE) (Fixed|physical|de-assert|edge|dst)
       CPU 1/KVM-4244  [000]  1000.000007: kvm_inj_virq:         irq 253 (RESCHEDULE)
      vhost-4242-4250  [000]  1000.000008: kvm_msi_set_irq:      dst 1 vec fb (CALL_FUNCTION_SINGLE) (Fixed|physical|edge)
      vhost-4242-4250  [000]  1000.000009: kvm_msi_set_irq:      dst 0 vec 80 (IA32_SYSCALL) (Fixed|physical|edge)
      vhost-4242-4250  [000]  1000.000010: kvm_msi_set_irq:      dst 0 vec 31 (Fixed|physical|edge)
EOF
)" "$(cat "$T/old.with")"
check_rest_identical old 7
check_unnamed_same old "$(cat <<'EOF'
kvm_apic_accept_irq:  apicid 1 vec 35 (Fixed|level)
kvm_inj_virq:         irq 35
kvm_msi_set_irq:      dst 0 vec 31 (Fixed|physical|edge)
EOF
)"

# ---- loading ----
check_eq plugin-listed "  $PLUGDIR/plugin_vmwait_vectors.so" \
	"$(TRACEEVENT_PLUGIN_DIR=$PLUGDIR trace-cmd list -P 2>&1 | grep plugin_vmwait_vectors)"
# Loaded twice (a per-user copy, and the build tree's): the same report.
mkdir -p "$T/home2/.local/lib/traceevent/plugins"
cp "$PLUGIN" "$T/home2/.local/lib/traceevent/plugins/"
HOME=$T/home2 TRACEEVENT_PLUGIN_DIR=$PLUGDIR trace-cmd report "$T/new.dat" > "$T/twice" 2>&1
if cmp -s "$T/twice" "$T/new.with"; then
	ok plugin-loaded-twice
else
	nok plugin-loaded-twice "$(diff "$T/new.with" "$T/twice" | head -4 | tr '\n' '|')"
fi

# ---- 3. a live trace of a KVM guest, in a private tracefs instance ----
live_trace() {
	local td inst e rc
	if ! td=$(tracefs_dir); then
		skip live "tracefs is not available"
		return 1
	fi
	if [ ! -d "$td/events/kvm" ]; then
		skip live "no kvm events (kvm module not loaded)"
		return 1
	fi
	if ! new_instance "$td" > "$T/inst"; then
		skip live "cannot create a tracefs instance"
		return 1
	fi
	inst=$(cat "$T/inst")
	for e in kvm_apic_accept_irq kvm_apic_ipi kvm_msi_set_irq kvm_inj_virq \
		 kvm_set_irq kvm_ioapic_set_irq kvm_pic_set_irq; do
		if ! echo 1 > "$inst/events/kvm/$e/enable"; then
			skip live "cannot enable kvm:$e"
			return 1
		fi
	done
	# Only the guest program's events: its pid is the shell's it execs from.
	bash -c 'echo $$ > "$1/set_event_pid" && exec "$2"' _ "$inst" "$KVMVEC" \
		> "$T/kvm.out" 2> "$T/kvm.err"
	rc=$?
	echo 0 > "$inst/tracing_on"
	if [ $rc = 77 ]; then
		skip live "$(cat "$T/kvm.err")"
		return 1
	fi
	check_eq live-guest "0 delivered fd fc fb ef ec 41 31" "$rc $(cat "$T/kvm.out")"
	[ $rc = 0 ] || return 1
	# extract -B reads only this instance (not the top-level buffer), then removes it.
	if ! trace-cmd extract -B "${inst##*/}" -o "$T/live.dat" > "$T/extract.log" 2>&1; then
		nok live-extract "$(tail -3 "$T/extract.log" | tr '\n' '|')"
		return 1
	fi
	return 0
}

if live_trace; then
	report_pair live "$T/live.dat" || nok live-report "$(cat "$T/live.with.err" "$T/live.without.err")"
	check_eq live-exact "$(cat <<'EOF'
kvm_apic_ipi:         dst 0 vec 253 (RESCHEDULE) (Fixed|physical|de-assert|edge|self)
kvm_apic_accept_irq:  apicid 0 vec 253 (RESCHEDULE) (Fixed|edge)
kvm_apic_ipi:         dst 0 vec 236 (LOCAL_TIMER) (Fixed|physical|de-assert|edge|self)
kvm_apic_accept_irq:  apicid 0 vec 236 (LOCAL_TIMER) (Fixed|edge)
kvm_apic_ipi:         dst 0 vec 49 (Fixed|physical|de-assert|edge|self)
kvm_apic_accept_irq:  apicid 0 vec 49 (Fixed|edge)
kvm_msi_set_irq:      dst 0 vec 251 (CALL_FUNCTION_SINGLE) (Fixed|physical|edge)
kvm_apic_accept_irq:  apicid 0 vec 251 (CALL_FUNCTION_SINGLE) (Fixed|edge)
kvm_msi_set_irq:      dst 0 vec 252 (CALL_FUNCTION) (Fixed|physical|edge)
kvm_apic_accept_irq:  apicid 0 vec 252 (CALL_FUNCTION) (Fixed|edge)
kvm_msi_set_irq:      dst 0 vec 239 (MANAGED_IRQ_SHUTDOWN) (Fixed|physical|edge)
kvm_apic_accept_irq:  apicid 0 vec 239 (MANAGED_IRQ_SHUTDOWN) (Fixed|edge)
kvm_msi_set_irq:      dst 0 vec 65 (Fixed|physical|edge)
kvm_apic_accept_irq:  apicid 0 vec 65 (Fixed|edge)
kvm_set_irq:          gsi 4 level 1 source 0
kvm_ioapic_set_irq:   pin 4 dst 0 vec 0 (Fixed|physical|edge|masked)
kvm_pic_set_irq:      chip 0 pin 4 (edge)
kvm_set_irq:          gsi 4 level 0 source 0
kvm_ioapic_set_irq:   pin 4 dst 0 vec 0 (Fixed|physical|edge|masked)
kvm_pic_set_irq:      chip 0 pin 4 (edge)
EOF
)" "$(grep -v '^cpus=' "$T/live.with" | grep -v ' kvm_inj_virq: ' | info)"
	# kvm_inj_virq fires only where the host injects through VMX/SVM.
	if grep -q ' kvm_inj_virq: ' "$T/live.with"; then
		check_eq live-inj-virq "$(cat <<'EOF'
kvm_inj_virq:         IRQ 0xfd (RESCHEDULE)
kvm_inj_virq:         IRQ 0xfc (CALL_FUNCTION)
kvm_inj_virq:         IRQ 0xfb (CALL_FUNCTION_SINGLE)
kvm_inj_virq:         IRQ 0xef (MANAGED_IRQ_SHUTDOWN)
kvm_inj_virq:         IRQ 0xec (LOCAL_TIMER)
kvm_inj_virq:         IRQ 0x41
kvm_inj_virq:         IRQ 0x31
EOF
)" "$(grep ' kvm_inj_virq: ' "$T/live.with" | info)"
		check_rest_identical live 15
	else
		skip live-inj-virq "this host does not trace kvm_inj_virq (the fixed traces cover it)"
		check_rest_identical live 10
	fi
	check_unnamed_same live "$(cat <<'EOF'
kvm_apic_ipi:         dst 0 vec 49 (Fixed|physical|de-assert|edge|self)
kvm_apic_accept_irq:  apicid 0 vec 49 (Fixed|edge)
kvm_msi_set_irq:      dst 0 vec 65 (Fixed|physical|edge)
kvm_apic_accept_irq:  apicid 0 vec 65 (Fixed|edge)
EOF
)"
fi

# ---- 4. random synthetic traces in every kernel's formats ----
if [ -x "$SYNTH" ]; then
	for k in 4.19 6.18; do
		if ! "$SYNTH" --random 7 --events 20000 -k "$k" -F "$TOP/tests/data/formats" \
			-o "$T/synth-$k.dat" > "$T/synth.log" 2>&1; then
			skip "synth-$k" "vmwait-synth failed: $(tail -1 "$T/synth.log")"
			continue
		fi
		if ! report_pair "synth-$k" "$T/synth-$k.dat"; then
			nok "synth-$k-report" "$(head -3 "$T/synth-$k.with.err")"
			continue
		fi
		if [ $BASELINE_OK = 0 ]; then
			skip "synth-$k" "an installed copy of the plugin is always loaded"
			continue
		fi
		sed -E "s/ \\(($NAMES)\\)//" "$T/synth-$k.with" > "$T/synth-$k.stripped"
		if cmp -s "$T/synth-$k.stripped" "$T/synth-$k.without"; then
			ok "synth-$k-rest-identical"
		else
			nok "synth-$k-rest-identical" \
				"$(diff "$T/synth-$k.without" "$T/synth-$k.stripped" | head -4 | tr '\n' '|')"
		fi
		# Only the four events change, and every LOCAL_TIMER of theirs is named.
		check_eq "synth-$k-only-ours" 0 \
			"$(diff "$T/synth-$k.without" "$T/synth-$k.with" | grep '^>' | grep -cvE " ($OUR_EVENTS): ")"
		check_eq "synth-$k-timer-named" \
			"$(grep -E " ($OUR_EVENTS): " "$T/synth-$k.without" | grep -cE '(vec|irq) 236( |$)|0xec( |$)')" \
			"$(grep -E " ($OUR_EVENTS): " "$T/synth-$k.with" | grep -cE '((vec|irq) 236|0xec) \(LOCAL_TIMER\)')"
	done
else
	skip synth "build/tests/synth/vmwait-synth is not built"
fi

# ---- 5. make install PREFIX=/usr: libtraceevent's system plugin directory, under DESTDIR ----
# Where libtraceevent loads its system plugins from, as trace-cmd reports it.
sysdir=$(trace-cmd list -P 2>/dev/null | sed -n 's|^ *\(/.*\)/plugin_[A-Za-z0-9_]*\.so$|\1|p' |
	 grep -v "^$HOME" | sort -u | head -1)
if [ -z "$sysdir" ]; then
	sysdir=$(pkg-config --variable=libdir libtraceevent)/traceevent/plugins
fi
# PREFIX moves every file, the plugin too (PLUGIN_DIR: libtraceevent's directory
# under PREFIX); with PREFIX=/usr it lands where libtraceevent looks.
# -o vmwait: the test installs the binary already built, it never rebuilds it.
if make -C "$TOP" --no-print-directory -s -o vmwait install DESTDIR="$T/dest" \
	PREFIX=/usr > "$T/install.log" 2>&1; then
	check_eq install-files "$(printf '%s\n' "$T/dest/usr/bin/vmwait" \
		"$T/dest/usr/share/man/man1/vmwait.1" \
		"$T/dest$sysdir/plugin_vmwait_vectors.so" | sort)" \
		"$(find "$T/dest" -type f | sort)"
	if cmp -s "$PLUGIN" "$T/dest$sysdir/plugin_vmwait_vectors.so"; then
		ok install-same-file
	else
		nok install-same-file "the installed plugin differs from $PLUGIN"
	fi
	check_eq install-mode 644 "$(stat -c %a "$T/dest$sysdir/plugin_vmwait_vectors.so" 2>&1)"
	TRACEEVENT_PLUGIN_DIR=$T/dest$sysdir trace-cmd report "$T/new.dat" > "$T/installed" 2>&1
	if cmp -s "$T/installed" "$T/new.with"; then
		ok install-loads
	else
		nok install-loads "$(diff "$T/new.with" "$T/installed" | head -4 | tr '\n' '|')"
	fi
else
	nok install "$(tail -5 "$T/install.log" | tr '\n' '|')"
fi
# PLUGIN_DIR chooses another directory (e.g. a per-user one).
if make -C "$TOP" --no-print-directory -s -o vmwait install DESTDIR="$T/dest2" \
	PLUGIN_DIR=/home/u/.local/lib/traceevent/plugins > "$T/install2.log" 2>&1; then
	check_eq install-plugin-dir "$T/dest2/home/u/.local/lib/traceevent/plugins/plugin_vmwait_vectors.so" \
		"$(find "$T/dest2" -name 'plugin_vmwait_vectors.so')"
else
	nok install-plugin-dir "$(tail -5 "$T/install2.log" | tr '\n' '|')"
fi
exit 0
