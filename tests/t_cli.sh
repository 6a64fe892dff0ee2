#!/usr/bin/env bash
# The command line: help, version, usage errors (exit 2), runtime errors (exit 1),
# and what each option of analyze says it did (issue 14), make install, the man page.
. "$(dirname "$0")/lib.sh"

DEMO=$TOP/tests/data/demo.dat
SYNTH=$TOP/build/tests/synth/vmwait-synth
MAN=$TOP/common/vmwait.1

# check_err NAME RC MESSAGE CMD...: exit status RC, stderr exactly MESSAGE, stdout empty.
check_err() {
	local name=$1 rc=$2 msg=$3
	shift 3
	check_rc "$name: exit $rc" "$rc" "$@"
	check_eq "$name: message" "$msg" "$(cat "$T/err")"
	check_eq "$name: nothing on stdout" "" "$(head -c 200 "$T/out")"
}

# ---- top level ----
check_rc "--version" 0 "$VMWAIT" --version
check_eq "--version text" "vmwait 0.1.0" "$(cat "$T/out")"
check_rc "--help" 0 "$VMWAIT" --help
check_eq "--help lists the commands" "record analyze events top" \
	"$(awk '/^commands:/{f=1; next} f && !NF {f=0} f {printf "%s%s", s, $1; s=" "}' "$T/out")"
check_rc "no command" 2 "$VMWAIT"
check_eq "no command: usage on stderr" "usage: vmwait [--version] [--help] <command> [<args>]" \
	"$(head -n 1 "$T/err")"
check_err "unknown command" 2 "vmwait: unknown command 'frobnicate' (commands: record, analyze, events, top)" \
	"$VMWAIT" frobnicate
check_err "unknown top-level option" 2 "vmwait: unknown option '--bogus' (see 'vmwait --help')" \
	"$VMWAIT" --bogus
check_rc "help analyze" 0 "$VMWAIT" help analyze
check_eq "help analyze = analyze --help" "$("$VMWAIT" analyze --help)" "$(cat "$T/out")"

# ---- one error style: "vmwait: <command>: <message>", one line, getopt silenced ----
for cmd in record analyze events top; do
	check_rc "$cmd --help" 0 "$VMWAIT" "$cmd" --help
	check_eq "$cmd --help prints usage on stdout" "usage: vmwait $cmd" \
		"$(head -n 1 "$T/out" | cut -d' ' -f1-3)"
	check_err "$cmd: unknown long option" 2 \
		"vmwait: $cmd: unknown option '--no-such-option' (see 'vmwait $cmd --help')" \
		"$VMWAIT" "$cmd" --no-such-option
	check_err "$cmd: unknown short option" 2 \
		"vmwait: $cmd: unknown option '-Z' (see 'vmwait $cmd --help')" "$VMWAIT" "$cmd" -Z
done
check_err "record: missing value (short)" 2 "vmwait: record: option '-o' needs a value (see 'vmwait record --help')" \
	"$VMWAIT" record -o
check_err "record: missing value (long)" 2 \
	"vmwait: record: option '--duration' needs a value (see 'vmwait record --help')" \
	"$VMWAIT" record --duration
check_err "record: missing value (abbreviated)" 2 \
	"vmwait: record: option '--duration' needs a value (see 'vmwait record --help')" \
	"$VMWAIT" record --dur
check_err "analyze: missing value" 2 "vmwait: analyze: option '--vm' needs a value (see 'vmwait analyze --help')" \
	"$VMWAIT" analyze "$DEMO" --vm
check_err "analyze: missing value of -o" 2 "vmwait: analyze: option '-o' needs a value (see 'vmwait analyze --help')" \
	"$VMWAIT" analyze "$DEMO" -o
check_err "analyze: ambiguous option" 2 \
	"vmwait: analyze: ambiguous option '--v' (--vm, --vcpu, --vector) (see 'vmwait analyze --help')" \
	"$VMWAIT" analyze --v 1 "$DEMO"
check_err "analyze: value to a flag" 2 "vmwait: analyze: option '--json' takes no value (see 'vmwait analyze --help')" \
	"$VMWAIT" analyze --json=yes "$DEMO"
check_err "events: value to a flag (its only kind of missing value)" 2 \
	"vmwait: events: option '--light' takes no value (see 'vmwait events --help')" \
	"$VMWAIT" events --light=1
check_err "events: extra argument" 2 "vmwait: events: unexpected argument 'extra' (see 'vmwait events --help')" \
	"$VMWAIT" events extra
check_err "analyze: two files" 2 "vmwait: analyze: expected one trace file, got 2 ('a.dat', 'b.dat')" \
	"$VMWAIT" analyze a.dat b.dat
check_rc "record -d without units is seconds; bad duration" 2 "$VMWAIT" record -d 5parsecs
check_err "analyze a missing file" 1 "vmwait: analyze: cannot open /nonexistent/trace.dat: No such file or directory" \
	"$VMWAIT" analyze /nonexistent/trace.dat

# ---- 1. -o never overwrites the input, nor an existing trace.dat ----
mkdir -p "$T/o" && cp "$DEMO" "$T/o/in.dat" && cp "$DEMO" "$T/o/other.dat"
ln -s in.dat "$T/o/link.dat"
cd "$T/o" || exit 1
"$VMWAIT" analyze in.dat > "$T/o/expected.txt"
check_err "-o X X" 2 "vmwait: analyze: -o in.dat is the input trace: refusing to overwrite it" \
	"$VMWAIT" analyze -o in.dat in.dat
check_err "-o ./X X" 2 "vmwait: analyze: -o ./in.dat is the input trace in.dat (the same file): refusing to overwrite it" \
	"$VMWAIT" analyze -o ./in.dat in.dat
check_err "-o X symlink-to-X" 2 "vmwait: analyze: -o in.dat is the input trace link.dat (the same file): refusing to overwrite it" \
	"$VMWAIT" analyze --json -o in.dat link.dat
check_err "-o symlink-to-X X" 2 "vmwait: analyze: -o link.dat is the input trace in.dat (the same file): refusing to overwrite it" \
	"$VMWAIT" analyze -o link.dat in.dat
check_err "-o X, input X on stdin" 2 "vmwait: analyze: -o $T/o/in.dat is the input trace (standard input): refusing to overwrite it" \
	"$VMWAIT" analyze -o "$T/o/in.dat" - < in.dat
check_err "-o an existing trace.dat" 2 "vmwait: analyze: -o other.dat is a trace.dat file: refusing to overwrite it with the report (remove it first, or choose another file)" \
	"$VMWAIT" analyze -o other.dat in.dat
"$VMWAIT" analyze in.dat >> in.dat 2> "$T/err"
check_eq "stdout appended to the input: exit 2" "2" "$?"
check_eq "stdout appended to the input: message" \
	"vmwait: analyze: standard output is the input trace in.dat: refusing to write the report over it" "$(cat "$T/err")"
check_eq "the input is byte-identical" "" "$(cmp "$DEMO" in.dat 2>&1)"
check_eq "the other trace is byte-identical" "" "$(cmp "$DEMO" other.dat 2>&1)"
check_rc "-o -" 0 "$VMWAIT" analyze -o - in.dat
check_eq "-o - is standard output" "" "$(cmp "$T/out" expected.txt 2>&1)"
check_rc "-o FILE" 0 "$VMWAIT" analyze -o report.txt in.dat
check_eq "-o FILE holds the report" "" "$(cmp report.txt expected.txt 2>&1)"
check_rc "-o FILE over a report" 0 "$VMWAIT" analyze --csv -o report.txt in.dat
check_eq "-o FILE replaces it" "$("$VMWAIT" analyze --csv in.dat)" "$(cat report.txt)"
check_rc "a failed analysis" 1 "$VMWAIT" analyze -o report.txt --vm nosuch in.dat
check_eq "... leaves an existing output as it was" "$("$VMWAIT" analyze --csv in.dat)" "$(cat report.txt)"
check_rc "a failed analysis with a new -o" 1 "$VMWAIT" analyze -o new.txt --vm nosuch in.dat
check_eq "... creates no file" "no" "$([ -e new.txt ] && echo yes || echo no)"
check_err "-o into a missing directory fails before the pass" 1 \
	"vmwait: analyze: cannot write /nonexistent/r.txt: No such file or directory" \
	"$VMWAIT" analyze -o /nonexistent/r.txt in.dat

# ---- 5. no file: ./trace.dat; '-': standard input, if it is a regular file ----
mkdir -p "$T/empty" && cd "$T/empty" || exit 1
check_err "no file, no ./trace.dat" 1 \
	"vmwait: analyze: cannot open trace.dat: No such file or directory (no file given: ./trace.dat is the default)" \
	"$VMWAIT" analyze
cp "$DEMO" trace.dat
check_rc "no file reads ./trace.dat" 0 "$VMWAIT" analyze
check_eq "... the same report as naming it" "$("$VMWAIT" analyze trace.dat)" "$(cat "$T/out")"
check_rc "- reads a regular standard input" 0 "$VMWAIT" analyze --json - < trace.dat
check_eq "... the same result" "$("$VMWAIT" analyze --json trace.dat | sed 's|"file":"[^"]*"|"file":"x"|')" \
	"$(sed 's|"file":"[^"]*"|"file":"x"|' "$T/out")"
cat trace.dat | "$VMWAIT" analyze - > "$T/out" 2> "$T/err"
check_eq "- from a pipe: exit 1" "1" "$?"
check_eq "- from a pipe: message" \
	"vmwait: analyze: cannot seek a pipe: standard input must be a regular trace.dat file (save it to a file first)" \
	"$(cat "$T/err")"
mkfifo fifo
check_err "a FIFO named as the file (no hang)" 1 \
	"vmwait: analyze: cannot seek a pipe: fifo must be a regular trace.dat file (save it to a file first)" \
	timeout 60 "$VMWAIT" analyze fifo
check_err "- from /dev/null" 1 "vmwait: analyze: standard input is a character device, not a trace.dat file" \
	"$VMWAIT" analyze - < /dev/null
check_err "- with standard input closed" 1 "vmwait: analyze: standard input is closed: give a trace.dat file" \
	"$VMWAIT" analyze - <&-
if command -v script > /dev/null; then
	check_eq "- from a terminal" \
		"vmwait: analyze: standard input is a terminal: redirect a trace.dat file to it (vmwait analyze - < trace.dat)" \
		"$(script -qec "$VMWAIT analyze -" /dev/null < /dev/null | tr -d '\r')"
else
	skip "- from a terminal" "no script(1) to give it a terminal"
fi
cd "$TOP" || exit 1

# ---- 2. a selection that matches nothing is an error on every path ----
for fmt in "" --json --csv --explain; do
	check_err "--vm web1 ${fmt:-text}" 1 "vmwait: analyze: no VM 'web1' in this trace (VMs: 12582 vmwait-vmm)" \
		"$VMWAIT" analyze $fmt --vm web1 "$DEMO"
	check_err "--vm 999 ${fmt:-text}" 1 "vmwait: analyze: no VM '999' in this trace (VMs: 12582 vmwait-vmm)" \
		"$VMWAIT" analyze $fmt --vm 999 "$DEMO"
	check_err "--vcpu 5 ${fmt:-text}" 1 "vmwait: analyze: no vCPU 5 in VM 12582 vmwait-vmm (vCPUs: 0, 1)" \
		"$VMWAIT" analyze $fmt --vcpu 5 "$DEMO"
	check_err "--vcpu 0,5,7 ${fmt:-text}" 1 "vmwait: analyze: no vCPUs 5, 7 in VM 12582 vmwait-vmm (vCPUs: 0, 1)" \
		"$VMWAIT" analyze $fmt --vm vmwait-vmm --vcpu 0,5,7 "$DEMO"
done
"$VMWAIT" analyze --json "$DEMO" > "$T/all.json"
check_rc "--vcpu 0,1" 0 "$VMWAIT" analyze --json --vcpu 0,1 "$DEMO"
check_eq "--vcpu 0,1 selects both" "" "$(cmp "$T/out" "$T/all.json" 2>&1)"
check_rc "--vm 12582 --vcpu 1" 0 "$VMWAIT" analyze --csv --vm 12582 --vcpu 1 "$DEMO"
check_eq "--vm 12582 --vcpu 1 selects one row" "$(sed -n '1p;3p' <("$VMWAIT" analyze --csv "$DEMO"))" "$(cat "$T/out")"
"$VMWAIT" analyze --explain "$DEMO" > "$T/explain.all"
check_rc "--explain --vcpu 0,1" 0 "$VMWAIT" analyze --explain --vcpu 0,1 "$DEMO"
check_eq "--explain --vcpu 0,1 = every vCPU" "" "$(cmp "$T/out" "$T/explain.all" 2>&1)"
check_rc "--explain --vcpu 0 --vcpu 1" 0 "$VMWAIT" analyze --explain --vcpu 0 --vcpu 1 "$DEMO"
check_eq "a repeated --vcpu adds to the list" "" "$(cmp "$T/out" "$T/explain.all" 2>&1)"
for bad in "0," ",1" "0,,1" "x" "-1"; do
	check_err "--vcpu '$bad'" 2 "vmwait: analyze: invalid value '$bad' for --vcpu (see 'vmwait analyze --help')" \
		"$VMWAIT" analyze --vcpu="$bad" "$DEMO"
done
if [ -x "$SYNTH" ] && "$SYNTH" "$TOP/tests/synth/scenarios/two-vms.scn" -o "$T/two.dat" -t /dev/null 2> /dev/null; then
	check_err "two VMs: --vcpu 3" 1 \
		"vmwait: analyze: no vCPU 3 in this trace (VM 1000 web1: vCPUs 0, 1; VM 2000 db2: vCPUs 0, 1)" \
		"$VMWAIT" analyze --vcpu 3 "$T/two.dat"
	check_err "two VMs: --vm db2 --vcpu 2" 1 "vmwait: analyze: no vCPU 2 in VM 2000 db2 (vCPUs: 0, 1)" \
		"$VMWAIT" analyze --vm db2 --vcpu 2 "$T/two.dat"
	check_err "two VMs: --vm nosuch" 1 "vmwait: analyze: no VM 'nosuch' in this trace (VMs: 1000 web1, 2000 db2)" \
		"$VMWAIT" analyze --json --vm nosuch "$T/two.dat"
	check_rc "two VMs: --vcpu 1" 0 "$VMWAIT" analyze --json --vcpu 1 "$T/two.dat"
	check_eq "... vCPU 1 of each VM" "web1:1 db2:1" \
		"$(python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print(' '.join('%s:%s' % (m['name'], ','.join(str(v['vcpu']) for v in m['vcpus'])) for m in j['vms']))" "$T/out")"
else
	skip "two VMs" "build/tests/synth/vmwait-synth is not built"
fi

# ---- 3. conflicting options: exit 2, one clear line ----
check_err "--json --csv" 2 "vmwait: analyze: --json and --csv cannot be combined: choose one output format" \
	"$VMWAIT" analyze --json --csv "$DEMO"
check_err "--csv --json" 2 "vmwait: analyze: --csv and --json cannot be combined: choose one output format" \
	"$VMWAIT" analyze --csv --json "$DEMO"
check_err "--explain --json" 2 "vmwait: analyze: --explain prints events as text: it cannot be combined with --json" \
	"$VMWAIT" analyze --explain --json "$DEMO"
check_err "--csv --explain" 2 "vmwait: analyze: --explain prints events as text: it cannot be combined with --csv" \
	"$VMWAIT" analyze --csv --explain "$DEMO"
check_err "one vector, two reasons" 2 "vmwait: analyze: --vector 0x23 given twice, as disk and as net" \
	"$VMWAIT" analyze --vector 0x23=disk --vector 0x23=net "$DEMO"
check_err "one vector spelt two ways, two reasons" 2 "vmwait: analyze: --vector 35 given twice, as disk and as timer" \
	"$VMWAIT" analyze --vector 0x23=disk --vector 35=timer "$DEMO"
check_rc "the same vector and reason twice" 0 "$VMWAIT" analyze --json --vector 0x23=disk --vector 35=disk "$DEMO"
check_eq "... is one override" "$("$VMWAIT" analyze --json --vector 0x23=disk "$DEMO")" "$(cat "$T/out")"
check_rc "--json --json" 0 "$VMWAIT" analyze --json --json "$DEMO"
check_err "--vm twice" 2 "vmwait: analyze: --vm given twice ('a', then 'b'); give it once" \
	"$VMWAIT" analyze --vm a --vm b "$DEMO"
check_err "-o twice" 2 "vmwait: analyze: --output given twice ('x', then 'y'); give it once" \
	"$VMWAIT" analyze -o x --output y "$DEMO"
check_err "--from twice" 2 "vmwait: analyze: --from given twice ('+1s', then '2'); give it once" \
	"$VMWAIT" analyze --from +1s --from 2 "$DEMO"
check_err "--from after --to" 2 "vmwait: analyze: --from must be before --to (--from 10, --to 5)" \
	"$VMWAIT" analyze --from 10 --to 5 "$DEMO"
check_err "--from after --to, both from the start" 2 "vmwait: analyze: --from must be before --to (--from +2s, --to +1s)" \
	"$VMWAIT" analyze --from +2s --to +1s "$DEMO"
check_err "--from after --to, both from the end" 2 "vmwait: analyze: --from must be before --to (--from -1s, --to -2s)" \
	"$VMWAIT" analyze --from -1s --to -2s "$DEMO"

# ---- 4. windows relative to the trace's first and last events ----
# demo.dat runs from 2772.592311643 to 2772.657380726.
check_rc "--from +0s --to -0s" 0 "$VMWAIT" analyze --json --from +0s --to -0s "$DEMO"
# the same analysis; the JSON names the window it was given
check_eq "--from +0s --to -0s is the whole trace" "" \
	"$(sed 's/"window":{"from_ns":2772592311643,"to_ns":2772657380726}/"window":null/' "$T/out" | cmp - "$T/all.json" 2>&1)"
"$VMWAIT" analyze --json --from 2772.602311643 --to 2772.637380726 "$DEMO" > "$T/abs.json"
check_rc "--from +10ms --to -20ms" 0 "$VMWAIT" analyze --json --from +10ms --to -20ms "$DEMO"
check_eq "... = the same window in absolute time" "" "$(cmp "$T/out" "$T/abs.json" 2>&1)"
check_rc "--from +10000us --to 2772.637380726" 0 "$VMWAIT" analyze --json --from +10000us --to 2772.637380726 "$DEMO"
check_eq "... mixed anchors, other units" "" "$(cmp "$T/out" "$T/abs.json" 2>&1)"
check_rc "--from 2772602311643ns --to -20000000ns" 0 "$VMWAIT" analyze --json --from 2772602311643ns --to -20000000ns "$DEMO"
check_eq "... in nanoseconds" "" "$(cmp "$T/out" "$T/abs.json" 2>&1)"
for fmt in "" --json --csv --explain; do
	check_err "a window after the trace ${fmt:-text}" 1 \
		"vmwait: analyze: the window (--from +10s) holds nothing of the trace, which runs from 2772.592311643 to 2772.657380726 (65.07 ms)" \
		"$VMWAIT" analyze $fmt --from +10s "$DEMO"
done
check_err "a window before the trace" 1 \
	"vmwait: analyze: the window (--to -1s) holds nothing of the trace, which runs from 2772.592311643 to 2772.657380726 (65.07 ms)" \
	"$VMWAIT" analyze --to -1s "$DEMO"
check_err "an absolute window outside the trace" 1 \
	"vmwait: analyze: the window (--from 10 --to 20) holds nothing of the trace, which runs from 2772.592311643 to 2772.657380726 (65.07 ms)" \
	"$VMWAIT" analyze --from 10 --to 20 "$DEMO"
check_err "an empty window, mixed anchors" 2 \
	"vmwait: analyze: the window is empty: --from +50ms (2772.642311643) is not before --to -30ms (2772.627380726)" \
	"$VMWAIT" analyze --from +50ms --to -30ms "$DEMO"
check_err "a bad time" 2 "vmwait: analyze: invalid value '+1x' for --from (see 'vmwait analyze --help')" \
	"$VMWAIT" analyze --from +1x "$DEMO"
# Other formats and versions: the first and last events are found without a pass.
if [ -x "$SYNTH" ]; then
	for z in "-V 6" "-V 7 -z zstd" "-V 7 -z zlib" "-V 7 -z none"; do
		"$SYNTH" --random 5 --events 100000 $z -o "$T/r.dat" -t /dev/null 2> /dev/null
		"$VMWAIT" analyze --json "$T/r.dat" > "$T/r.json"
		check_rc "relative window, $z: runs" 0 "$VMWAIT" analyze --json --from +0s --to -0s "$T/r.dat"
		check_eq "relative window, $z: whole trace" "" \
			"$(sed 's/"window":{[^}]*}/"window":null/' "$T/out" | cmp - "$T/r.json" 2>&1)"
	done
else
	skip "relative windows in other formats" "build/tests/synth/vmwait-synth is not built"
fi
# A damaged file with a relative window: the same one-line error as without it.
head -c 6000 "$DEMO" > "$T/cut.dat"
"$VMWAIT" analyze "$T/cut.dat" > /dev/null 2> "$T/cut.err"
rc=$?
check_rc "truncated file, relative window: same exit" "$rc" "$VMWAIT_ASAN" analyze --from +1ms "$T/cut.dat"
check_eq "truncated file, relative window: same message" "$(cat "$T/cut.err")" "$(cat "$T/err")"

# The paths above under ASan/UBSan: the same exit and the same one line, nothing more.
cd "$T/o" || exit 1
while IFS= read -r args; do
	"$VMWAIT" analyze $args > /dev/null 2> "$T/plain.err"
	rc=$?
	check_rc "asan: analyze $args" "$rc" "$VMWAIT_ASAN" analyze $args
	check_eq "asan: analyze $args: stderr" "$(cat "$T/plain.err")" "$(cat "$T/err")"
done <<-EOF
	--vm web1 in.dat
	--explain --vcpu 0,5 in.dat
	--json --vcpu 0,1 in.dat
	--from +10ms --to -20ms in.dat
	--from +10s in.dat
	--from +50ms --to -30ms in.dat
	--json --csv in.dat
	--vector 1=disk --vector 1=net in.dat
	--vm a --vm b in.dat
	-o in.dat in.dat
	-o other.dat in.dat
	-o asan.txt --explain --vcpu 1 in.dat
	--v 1 in.dat
	--vcpu 0,, in.dat
EOF
cd "$TOP" || exit 1

# ---- 6. record --compression zlib: trace-cmd cannot read it ----
check_eq "record --help says it" "1" "$("$VMWAIT" record --help | grep -c "12's trace-cmd 3.1.6 cannot read zlib files")"
check_eq "the man page says it" "1" "$(grep -c "Debian 12's trace-cmd 3.1.6 cannot read zlib-compressed files" "$MAN")"
check_rc "--compression zlib warns (then stops at a bad option)" 2 "$VMWAIT" record --compression zlib --bogus
check_eq "the warning" "vmwait: warning: --compression zlib: Debian 12's trace-cmd 3.1.6 cannot read the file (vmwait analyze can); use zstd for trace-cmd" \
	"$(head -n 1 "$T/err")"
check_rc "--compression zstd does not" 2 "$VMWAIT" record --compression zstd --bogus
check_eq "no warning for zstd" "vmwait: record: unknown option '--bogus' (see 'vmwait record --help')" "$(cat "$T/err")"

# ---- 7. make install honours PREFIX and DESTDIR for every file ----
tep_prefix=$(pkg-config --variable=prefix libtraceevent)
tep_rel=$(pkg-config --variable=libdir libtraceevent)/traceevent/plugins
tep_rel=${tep_rel#"$tep_prefix"/}
case $tep_rel in /*) tep_rel=lib/traceevent/plugins ;; esac
# -o vmwait: install what is built, never rebuild it.
mk() { make -C "$TOP" --no-print-directory -s -o vmwait "$@"; }
if mk install DESTDIR="$T/dest" PREFIX=/usr/local > "$T/install.log" 2>&1; then
	check_eq "install DESTDIR PREFIX=/usr/local: exactly these files" \
		"$(printf '%s\n' "$T/dest/usr/local/bin/vmwait" "$T/dest/usr/local/share/man/man1/vmwait.1" \
			"$T/dest/usr/local/$tep_rel/plugin_vmwait_vectors.so" | sort)" \
		"$(find "$T/dest" -type f -o -type l | sort)"
else
	nok "install DESTDIR PREFIX=/usr/local" "$(tail -3 "$T/install.log" | tr '\n' '|')"
fi
# PREFIX alone: first what make would do (every destination under PREFIX), then do it.
P=$T/prefix
outside=$(mk -n install PREFIX="$P" 2>&1 | tr ' ;&' '\n\n\n' | grep '^/' | grep -v "^$P/" |
	grep -v -x -e "$TOP/vmwait" -e "$TOP/common/vmwait.1")
check_eq "install PREFIX=...: no destination outside PREFIX (dry run)" "" "$outside"
if [ -z "$outside" ] && mk install PREFIX="$P" > "$T/install.log" 2>&1; then
	check_eq "install PREFIX=...: exactly these files" \
		"$(printf '%s\n' "$P/bin/vmwait" "$P/share/man/man1/vmwait.1" "$P/$tep_rel/plugin_vmwait_vectors.so" | sort)" \
		"$(find "$P" -type f -o -type l | sort)"
else
	nok "install PREFIX=..." "not run, or failed: $(tail -3 "$T/install.log" 2>/dev/null | tr '\n' '|')"
fi

# ---- 9. every option of every --help is in the man page, and the man page invents none ----
# Long options: anywhere in the text. Short ones: in --help, the "  -x, --xx" column.
longs() { grep -oE -- '--[a-z][a-z-]*' | sort -u; }
shorts() { grep -oE -- '^ +-[a-zA-Z],' | grep -oE -- '-[a-zA-Z]' | sort -u; }
sed 's/\\-/-/g; s/\\f[BIRP]//g' "$MAN" > "$T/man.txt"
longs < "$T/man.txt" > "$T/man.long"
grep -oE -- '(^|[ [,])-[a-zA-Z]\b' "$T/man.txt" | grep -oE -- '-[a-zA-Z]' | sort -u > "$T/man.short"
check_eq "the man page lists long options" "yes" "$(grep -q -x -- --explain "$T/man.long" && echo yes)"
: > "$T/help.all"
for cmd in "" record analyze events top; do
	"$VMWAIT" $cmd --help > "$T/help"
	cat "$T/help" >> "$T/help.all"
	check_eq "man page has every long option of 'vmwait${cmd:+ $cmd} --help'" "" \
		"$(longs < "$T/help" | comm -23 - "$T/man.long" | tr '\n' ' ')"
	check_eq "man page has every short option of 'vmwait${cmd:+ $cmd} --help'" "" \
		"$(shorts < "$T/help" | comm -23 - "$T/man.short" | tr '\n' ' ')"
done
check_eq "every long option in the man page exists" "" \
	"$(longs < "$T/help.all" | comm -13 - "$T/man.long" | tr '\n' ' ')"
