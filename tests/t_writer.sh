#!/usr/bin/env bash
# Tests of the trace.dat writer (common/tdat_write.c, common/tdat_zlib.c):
# unit tests (plain and ASan), real tracefs pages packed as v6, v7-none,
# v7-zstd and v7-zlib and read back by trace-cmd 3.1.6 and libtracecmd, and
# a full disk (small tmpfs mounts).
. "$(dirname "$0")/lib.sh"

W=$TOP/build/tests/writer
NMARK=1500		# markers written from each CPU (live_tests sets it)
SMALL=()

umount_small() {
	local m
	for m in "${SMALL[@]}"; do
		umount "$m" 2>/dev/null
	done
}
trap 'umount_small; cleanup_instances; rm -rf "$T"' EXIT

# run_prefixed PREFIX CMD...: pass CMD's ok/not ok/skip lines on, names prefixed.
run_prefixed() {
	local prefix=$1 rc
	shift
	"$@" > "$T/prefixed.out" 2> "$T/prefixed.err"
	rc=$?
	sed -n "s/^\(ok\|not ok\|skip\) /\1 $prefix/p" "$T/prefixed.out"
	if [ $rc -ne 0 ] && ! grep -q '^not ok' "$T/prefixed.out"; then
		nok "${prefix}exit status" "$rc: $(tail -n 5 "$T/prefixed.err" | tr '\n' ' ')"
	fi
}

unit_tests() {
	mkdir -p "$T/unit" "$T/unit-asan"
	run_prefixed "" "$W/tdat-unit" "$T/unit"
	ASAN_OPTIONS=fast_unwind_on_malloc=0 \
	LSAN_OPTIONS=suppressions=$TOP/tests/lsan.supp \
		run_prefixed "asan: " "$W/tdat-unit-asan" "$T/unit-asan"
}

# mount_small SIZE: mount a tmpfs of SIZE for this test at $SMALLDIR.
mount_small() {
	SMALLDIR="$T/small${#SMALL[@]}"
	mkdir -p "$SMALLDIR" && mount -t tmpfs -o "size=$1" vmwait-test "$SMALLDIR" || return 1
	SMALL+=("$SMALLDIR")
}

# check_truncated MODE: trace-cmd reads the trace cut short by the full disk.
check_truncated() {
	local kept f
	read -r kept f < <(sed -n 's/^# kept \([0-9]*\) events in \(.*\)$/\1 \2/p' "$T/prefixed.out")
	[ -n "${f:-}" ] || return
	command -v trace-cmd > /dev/null || return
	if ! trace-cmd report -i "$f" > "$T/trunc.rep" 2> "$T/trunc.err"; then
		nok "enospc-assemble $1: trace-cmd report" "$(head -c 300 "$T/trunc.err")"
		return
	fi
	check_eq "enospc-assemble $1: trace-cmd report shows every kept event" "$kept" \
		"$(grep -c ' tick: *seq=' "$T/trunc.rep")"
	check_eq "enospc-assemble $1: no warning from trace-cmd" "" \
		"$(grep -iE 'warning|unknown|error|fail|truncated' "$T/trunc.err")"
}

disk_full_tests() {
	local mode
	if [ "$(id -u)" != 0 ]; then
		skip "disk full" "needs root to mount a small tmpfs"
		return
	fi
	mkdir -p "$T/asm-tmp"
	for mode in v6 v7-none v7-zstd; do
		# the disk fills while pages are written: close still keeps every page
		mount_small 1m || { skip "disk full" "cannot mount tmpfs"; return; }
		run_prefixed "" "$W/tdat-unit" --enospc-record "$SMALLDIR" "$mode"
		umount "$SMALLDIR"
		# the disk fills while the file is assembled: a shorter, valid trace
		mount_small 512k || return
		run_prefixed "" "$W/tdat-unit" --enospc-assemble "$SMALLDIR" "$T/asm-tmp" 1000 "$mode"
		check_truncated "$mode"
		umount "$SMALLDIR"
	done
}

# record INSTANCE [SUBBUF_KB]: NMARK markers with known text from every CPU,
# and the forks of a few processes; the kernel's text view goes to $T/kernel.txt.
record() {
	local inst=$1 cpu
	echo 0 > "$inst/tracing_on"
	if [ -n "${2:-}" ]; then
		echo "$2" > "$inst/buffer_subbuf_size_kb" || return 1
	fi
	echo 4096 > "$inst/buffer_size_kb" || return 1
	echo 1 > "$inst/events/sched/sched_process_fork/enable" || return 1
	echo 1 > "$inst/tracing_on"
	for ((cpu = 0; cpu < NCPU; cpu++)); do
		taskset -c "$cpu" bash -c '
			exec 3> "$1/trace_marker"
			for ((i = 1; i <= $2; i++)); do
				echo "vmwait-writer-test cpu $3 marker $i" >&3
			done
			for i in 1 2 3; do /bin/true; done' - "$inst" "$NMARK" "$cpu" || return 1
	done
	echo 0 > "$inst/tracing_on"
	cat "$inst/trace" > "$T/kernel.txt"
}

# The markers trace-cmd shows, "cpu text" in the order shown.
expected_markers() {
	local cpu i
	for ((cpu = 0; cpu < NCPU; cpu++)); do
		for ((i = 1; i <= NMARK; i++)); do
			echo "$cpu tracing_mark_write: vmwait-writer-test cpu $cpu marker $i"
		done
	done
}

# check_report NAME FILE: what trace-cmd report shows of FILE.
check_report() {
	local name=$1 f=$2 n
	if ! trace-cmd report -i "$f" > "$T/$name.rep" 2> "$T/$name.err"; then
		nok "$name: trace-cmd report" "failed: $(head -c 300 "$T/$name.err")"
		return
	fi
	ok "$name: trace-cmd report"
	check_eq "$name: no warning from trace-cmd" "" \
		"$(grep -iE 'warning|unknown|error|fail|truncated' "$T/$name.err" "$T/$name.rep")"
	check_eq "$name: cpus" "cpus=$NCPU" "$(head -n 1 "$T/$name.rep")"
	check_eq "$name: events" "$KERNEL_EVENTS" "$(($(wc -l < "$T/$name.rep") - 1))"
	check_eq "$name: marker count" "$((NCPU * NMARK))" "$(grep -c 'print: .*vmwait-writer-test' "$T/$name.rep")"
	# per CPU, in time order, every marker with its exact text
	sed -n 's/^.*\[0*\([0-9][0-9]*\)\].* print: *\(tracing_mark_write: vmwait-writer-test .*\)$/\1 \2/p' \
		"$T/$name.rep" | sort -s -n -k1,1 > "$T/$name.markers"
	n=$(cmp -s "$T/expected.markers" "$T/$name.markers" && echo same || echo differ)
	check_eq "$name: marker texts" same "$n"
	check_eq "$name: fork events" "$KERNEL_FORKS" "$(grep -c 'sched_process_fork: *comm=' "$T/$name.rep")"
	check_eq "$name: uname" "$(uname -s) $(uname -n) $(uname -r) $(uname -m)" \
		"$(trace-cmd report --uname -i "$f" 2>/dev/null | sed -n 2p)"
	check_eq "$name: version" "vmwait $(sed -n 's/^VERSION *:= *//p' "$TOP/Makefile")" \
		"$(trace-cmd report --version -i "$f" 2>/dev/null | sed -n 2p)"
	check_eq "$name: cpu stats" "$NCPU" "$(trace-cmd report --stat -i "$f" 2>/dev/null | grep -c '^CPU: ')"
}

# check_dump NAME FILE VERSION COMPRESSION: trace-cmd dump --summary.
check_dump() {
	local name=$1 f=$2 v=$3 c=$4 want
	if ! trace-cmd dump --summary -i "$f" > "$T/$name.dump" 2>&1; then
		nok "$name: trace-cmd dump --summary" "$(head -c 300 "$T/$name.dump")"
		return
	fi
	ok "$name: trace-cmd dump --summary"
	check_eq "$name: dump version" "$v" "$(awk '/\[Version\]/ {print $1}' "$T/$name.dump")"
	check_eq "$name: dump kallsyms" "[Kallsyms, $(wc -c < /proc/kallsyms) bytes]" \
		"$(grep -o '\[Kallsyms, [0-9]* bytes\]' "$T/$name.dump")"
	if [ "$v" = 6 ]; then
		check_eq "$name: dump cpus" "$NCPU" "$(awk '/CPUs with tracing data/ {print $1}' "$T/$name.dump")"
		check_eq "$name: dump clock" "[local]" "$(grep -A1 'Tracing clock' "$T/$name.dump" | tail -n 1 | tr -d '\t ')"
		return
	fi
	check_eq "$name: dump compression" "$c" "$(awk '/Compression algorithm/ {print $1}' "$T/$name.dump")"
	want="[buffer \"\", \"local\" clock, $PAGE page size, $NCPU cpus"
	check_eq "$name: dump buffer" "$want" "$(grep -o '\[buffer [^,]*, [^,]*, [^,]*, [0-9]* cpus' "$T/$name.dump")"
	check_eq "$name: dump sections" "[9 sections]" "$(grep -o '\[[0-9]* sections\]' "$T/$name.dump")"
}

# check_libtracecmd NAME FILE [-z]: the same events through libtracecmd.
check_libtracecmd() {
	local name=$1 f=$2 zlib=${3:-}
	if ! "$W/tdat-read" ${zlib:+"$zlib"} "$f" > "$T/$name.lib" 2> "$T/$name.liberr"; then
		nok "$name: libtracecmd reads it" "$(head -c 300 "$T/$name.liberr")"
		return
	fi
	ok "$name: libtracecmd reads it"
	check_eq "$name: libtracecmd markers" "count ftrace:print $((NCPU * NMARK))" "$(grep '^count ftrace:print ' "$T/$name.lib")"
	check_eq "$name: libtracecmd forks" "count sched:sched_process_fork $KERNEL_FORKS" \
		"$(grep '^count sched:sched_process_fork ' "$T/$name.lib")"
	check_eq "$name: libtracecmd events" "events $KERNEL_EVENTS" "$(grep '^events ' "$T/$name.lib")"
	check_eq "$name: libtracecmd cpus" "cpus $NCPU" "$(grep '^cpus ' "$T/$name.lib")"
	check_eq "$name: libtracecmd clock" "clock local" "$(grep '^clock ' "$T/$name.lib")"
}

# live_run LABEL SUBBUF_KB MIN_PAGES MODE...: trace in a new instance (with
# ring-buffer pages of SUBBUF_KB, or the default), pack its pages in every
# MODE ("VERSION COMPRESSION") and check what the readers see.
live_run() {
	local label=$1 subbuf=$2 min=$3 inst cpu files=() m name pages total=0
	shift 3
	inst=$(new_instance "$TD") || { nok "${label}tracefs instance" "cannot create"; return; }
	if ! record "$inst" "$subbuf"; then
		nok "${label}record" "could not trace in $inst"
		return
	fi
	PAGE=$(sed -n 's/.*char data;\toffset:\([0-9]*\);\tsize:\([0-9]*\);.*/\1 \2/p' \
		"$inst/events/header_page" | awk '{print $1 + $2}')
	[ -z "$subbuf" ] || check_eq "${label}page size" "$((subbuf * 1024))" "$PAGE"
	check_eq "${label}no events lost" "$NCPU" "$(cat "$inst"/per_cpu/cpu*/stats | grep -c '^overrun: 0$')"
	KERNEL_EVENTS=$(grep -vc '^#' "$T/kernel.txt")
	KERNEL_FORKS=$(grep -c 'sched_process_fork:' "$T/kernel.txt")
	check_eq "${label}kernel shows the markers" "$((NCPU * NMARK))" "$(grep -c 'vmwait-writer-test' "$T/kernel.txt")"
	for ((cpu = 0; cpu < NCPU; cpu++)); do
		pages=$("$W/tdat-rawcat" "$inst/per_cpu/cpu$cpu/trace_pipe_raw" "$PAGE" "$T/cpu$cpu.raw") || {
			nok "${label}read cpu$cpu pages" "tdat-rawcat failed"; return; }
		total=$((total + pages))
		files+=("$T/cpu$cpu.raw")
	done
	# enough pages for several 10-page chunks
	check_eq "${label}more than $min pages per CPU" ok \
		"$([ "$total" -gt $((min * NCPU)) ] && echo ok || echo "$total")"
	expected_markers > "$T/expected.markers"
	for m in "$@"; do
		set -- $m
		name="${label}v$1-$2"
		if ! "$W/tdat-pack" -o "$T/$name.dat" -V "$1" -c "$2" -i "$inst" -t "$TD" \
			-e sched/sched_process_fork -k /proc/kallsyms "${files[@]}" 2> "$T/pack.err"; then
			nok "$name: pack" "$(cat "$T/pack.err")"
			continue
		fi
		ok "$name: pack"
		if [ "$2" != zlib ]; then
			check_report "$name" "$T/$name.dat"
			check_dump "$name" "$T/$name.dat" "$1" "$2"
			check_libtracecmd "$name" "$T/$name.dat"
		else
			# Debian's trace-cmd has no zlib: read it through tdat_register_zlib()
			if "$W/tdat-read" -c "$T/$name.dat" > /dev/null 2>&1; then
				skip "$name: unreadable without tdat_register_zlib()" "this libtracecmd has zlib"
			else
				ok "$name: unreadable without tdat_register_zlib()"
			fi
			check_libtracecmd "$name" "$T/$name.dat" -z
		fi
		[ "$name" = "${label}v6-none" ] && continue
		check_eq "$name: libtracecmd output identical to v6" same \
			"$(cmp -s "$T/${label}v6-none.lib" "$T/$name.lib" && echo same || echo differ)"
	done
}

live_tests() {
	if [ "$(id -u)" != 0 ]; then
		skip "tracefs" "needs root"
		return
	fi
	TD=$(tracefs_dir) || { skip "tracefs" "no tracefs"; return; }
	command -v trace-cmd > /dev/null || { skip "tracefs" "trace-cmd is not installed"; return; }
	NCPU=$(nproc)
	NMARK=1500
	live_run "" "" 20 "6 none" "7 none" "7 zstd" "7 zlib"
	check_eq "v7-zstd smaller than v7-none" yes \
		"$([ "$(stat -c %s "$T/v7-zstd.dat")" -lt "$(stat -c %s "$T/v7-none.dat")" ] && echo yes || echo no)"
	if [ ! -e "$TD/buffer_subbuf_size_kb" ]; then
		skip "8k pages" "this kernel has one ring-buffer page size"
		return
	fi
	# The file may exist and still refuse (EPERM in some VMs): try it.
	if ! subbuf_writable "$TD"; then
		skip "8k pages" "this kernel refuses 8 KB ring-buffer pages (buffer_subbuf_size_kb: $SUBBUF_ERR)"
		return
	fi
	# pages larger than the CPU's page (Linux 6.7+)
	NMARK=1000
	live_run "8k-" 8 3 "6 none" "7 zstd" "7 zlib"
}

# Can an instance's sub-buffer size be set to 8 KB here? Sets SUBBUF_ERR.
subbuf_writable() {
	local inst rc
	inst=$(new_instance "$1") || { SUBBUF_ERR="cannot create an instance"; return 1; }
	SUBBUF_ERR=$( { echo 8 > "$inst/buffer_subbuf_size_kb"; } 2>&1 )
	rc=$?
	SUBBUF_ERR=${SUBBUF_ERR##*: }
	[ $rc -eq 0 ] && [ "$(cat "$inst/buffer_subbuf_size_kb")" = 8 ]
}

# A trace of 10^6 events: exact count through libtracecmd, and the writer's speed.
large_test() {
	local out
	mkdir -p "$T/large"
	out=$("$W/tdat-unit" --bench "$T/large" 2500 4 v7-zstd) || { nok "large trace" "bench failed"; return; }
	echo "$out"
	check_eq "large trace: 10^6 events read back" "events 1000000" \
		"$("$W/tdat-read" -c "$T/large/bench-v7-zstd.dat" | grep '^events ')"
	rm -rf "$T/large"
}

if [ ! -x "$W/tdat-unit" ] || [ ! -x "$W/tdat-pack" ]; then
	nok "writer test binaries" "not built (make tests)"
	exit 1
fi
unit_tests
live_tests
large_test
disk_full_tests
