#!/usr/bin/env bash
# vmwait analyze --svg, --perfetto and the progress line: the SVG is valid XML,
# renders (rsvg-convert) with the colour of each state and wake reason where
# tests/pictures/lanes.scn puts them, zooms with --from/--to/--vm/--vcpu and
# stays small on a 10M-event trace; the Perfetto file is well-formed trace-event
# JSON whose slices add up to the analysis; the progress line shows on a
# terminal only.
. "$(dirname "$0")/lib.sh"

SYNTH=$TOP/build/tests/synth/vmwait-synth
PIC=$TOP/tests/pictures
PROBE="python3 $PIC/svg_probe.py"
cd "$TOP" || exit 1

# The documented palette (analyzer/svg.c).
GUEST='#2ca02c' HYP='#ff7f0e' VMM='#9467bd' PREEMPTED='#d62728'
TIMER='#6baed6' IPI='#f4a6c7' DISK='#d8b07a' NET='#ffe45c'

"$SYNTH" "$PIC/lanes.scn" -o "$T/lanes.dat" -t /dev/null 2> "$T/err" ||
	{ nok "synth lanes.scn" "$(head -n 1 "$T/err")"; exit 0; }

# 1. Next to the other outputs, changing none of them.
"$VMWAIT" analyze --json "$T/lanes.dat" > "$T/plain.json"
check_rc "--svg and --perfetto with --json" 0 "$VMWAIT" analyze --json --svg "$T/l.svg" \
	--perfetto "$T/l.pf.json" "$T/lanes.dat"
cp "$T/out" "$T/l.json"
check_eq "the JSON report is the same with pictures" "" "$(cmp "$T/plain.json" "$T/l.json")"
check_rc "--svg with the text report" 0 "$VMWAIT" analyze --svg "$T/t.svg" "$T/lanes.dat"
check_eq "text report with --svg" "$("$VMWAIT" analyze "$T/lanes.dat")" "$(cat "$T/out")"
check_eq "the SVG does not depend on the report format" "" "$(cmp "$T/l.svg" "$T/t.svg")"

# 2. Valid, self-contained XML with the lanes, legend, axis and histograms.
check_eq "SVG is well-formed XML" "ok" \
	"$(python3 -c 'import sys,xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1]); print("ok")' \
	"$T/l.svg" 2>&1 | tail -n 1)"
check_eq "SVG refers to nothing outside itself" "0" \
	"$(grep -c -E '<script|<image|@import|href="(http|file)|url\((http|file)' "$T/l.svg")"
check_eq "one lane per vCPU, in order" "1001 0 0 108 16|1002 1 0 128 16|1003 2 0 148 16" \
	"$($PROBE lanes "$T/l.svg" | paste -sd '|')"
check_eq "title line" "1" "$(grep -c "lanes.dat: 2.000 s (4242.123457 s to 4244.123580 s), 118 events on 6 CPUs, 4 events lost" "$T/l.svg")"
check_eq "VM title" "1" "$(grep -c '>VM pic1 (pid 1000), 3 vCPUs<' "$T/l.svg")"
check_eq "legend has every colour class" "15" "$(grep -o '<rect class="c[0-9]*" x="[0-9]*" y=' "$T/l.svg" | sort -u | wc -l)"
check_eq "histograms: one per wake reason seen" "timer 1|ipi 1|disk 1|net 1" \
	"$($PROBE hists "$T/l.svg" | paste -sd '|')"
check_eq "axis ticks every 200 ms" "4242.2 4242.4 4242.6 4242.8 4243.0 4243.2 4243.4 4243.6 4243.8 4244.0" \
	"$(grep -o 'text-anchor="middle">4[0-9.]*<' "$T/l.svg" | grep -o '4[0-9.]*' | paste -sd ' ')"
check_eq "hover title of the timer wait" "idle: timer, vector 0xec: 4242.623570 s for 400.00 ms" \
	"$($PROBE titles "$T/l.svg" 1001 | grep 'idle: timer')"
check_eq "hover title of the IPI wait names its sender" \
	"idle: ipi from vCPU 0 (CPU 0/KVM-1001), vector 0xfb: 4242.223469 s for 150.00 ms" \
	"$($PROBE titles "$T/l.svg" 1002 | grep 'idle: ipi')"
check_eq "IPI arrow from vCPU 0 down to vCPU 1 at the wake" \
	"371.25 116.0 127.0 IPI from vCPU 0 (CPU 0/KVM-1001) to vCPU 1 (CPU 1/KVM-1002) at 4242.373470 s" \
	"$($PROBE ipis "$T/l.svg")"
check_eq "lost events: the unknown period is hatched" "1" \
	"$(grep -c 'class="c7" x="[0-9.]*" width="[0-9.]*" height="16"><title>unknown (lost events or gap): 4242.523474 s for 300.00 ms' "$T/l.svg")"

# 3. Rendered: the colour of the lane in the middle of each known period.
if ! command -v rsvg-convert > /dev/null; then
	skip "SVG renders" "rsvg-convert missing (Debian librsvg2-bin; scripts/setup installs it)"
else
	rsvg-convert -o "$T/l.png" "$T/l.svg" 2> "$T/err"
	check_eq "SVG renders to a PNG" "0 1400" "$? $(python3 -c 'import struct,sys
d=open(sys.argv[1],"rb").read(24); print(struct.unpack(">I",d[16:20])[0])' "$T/l.png")"
	pixel() { # NAME TID MS COLOUR
		check_eq "pixel: $1" "$4" "$($PROBE pixel "$T/l.svg" "$T/l.png" "$2" "$3")"
	}
	pixel "vCPU 0 guest" 1001 150 "$GUEST"
	pixel "vCPU 0 hypervisor" 1001 400 "$HYP"
	pixel "vCPU 0 idle, timer" 1001 700 "$TIMER"
	pixel "vCPU 0 preempted" 1001 1150 "$PREEMPTED"
	pixel "vCPU 0 vmm" 1001 1500 "$VMM"
	pixel "vCPU 0 guest again" 1001 1800 "$GUEST"
	pixel "vCPU 1 idle, ipi" 1002 175 "$IPI"
	pixel "vCPU 1 idle, disk" 1002 750 "$DISK"
	pixel "vCPU 1 idle, net" 1002 1250 "$NET"
	pixel "vCPU 2 guest after the loss" 1002 1700 "$GUEST"
	c=$($PROBE pixel "$T/l.svg" "$T/l.png" 1003 600)
	check_eq "pixel: vCPU 2 hatched grey during the loss" "grey" \
		"$(python3 -c 'import sys; r,g,b=(int(sys.argv[1][i:i+2],16) for i in (1,3,5))
print("grey" if max(r,g,b)-min(r,g,b)<8 and 0x50<=r<=0xe8 else sys.argv[1])' "$c")"

	# 4. Zoom: the window is the whole width; the filters leave their lanes.
	"$VMWAIT" analyze --svg "$T/z.svg" --from 4242.623456789 --to 4243.223456789 \
		"$T/lanes.dat" > /dev/null
	rsvg-convert -o "$T/z.png" "$T/z.svg"
	check_eq "--from/--to: the axis is the window" "4242623456789 4243223456789" \
		"$(sed -n 's/.* data-t0="\([0-9]*\)" data-t1="\([0-9]*\)".*/\1 \2/p' "$T/z.svg")"
	check_eq "--from/--to: timer wait at +250 ms" "$TIMER" "$($PROBE pixel "$T/z.svg" "$T/z.png" 1001 250)"
	check_eq "--from/--to: disk wait at +200 ms" "$DISK" "$($PROBE pixel "$T/z.svg" "$T/z.png" 1002 200)"
	check_eq "--from/--to: its hover title is whole" "idle: timer, vector 0xec: 4242.623570 s for 400.00 ms" \
		"$($PROBE titles "$T/z.svg" 1001 | grep 'idle: timer')"
fi
"$VMWAIT" analyze --svg "$T/v.svg" --vcpu 1 "$T/lanes.dat" > /dev/null
check_eq "--vcpu 1: its lane only" "1002 1 0 108 16" "$($PROBE lanes "$T/v.svg" | paste -sd '|')"
check_rc "--vm matching nothing: an error" 1 "$VMWAIT" analyze --svg "$T/m.svg" --vm nosuchvm \
	"$T/lanes.dat"
check_eq "... that leaves no SVG behind" "no" "$([ -e "$T/m.svg" ] && echo yes || echo no)"

# 5. Perfetto: structure and totals against the analysis, everywhere.
check_eq "perfetto: lanes.scn" "ok 3 tracks, 66 slices, 1 flows" \
	"$(python3 "$PIC/check_perfetto.py" "$T/l.pf.json" "$T/l.json")"
bad=""
for s in tests/synth/scenarios/*.scn; do
	n=$(basename "$s" .scn)
	"$SYNTH" "$s" -o "$T/s.dat" -t /dev/null 2> /dev/null || continue
	"$VMWAIT" analyze --json --perfetto "$T/s.pf.json" "$T/s.dat" > "$T/s.json"
	r=$(python3 "$PIC/check_perfetto.py" "$T/s.pf.json" "$T/s.json")
	[ "${r%% *}" = ok ] || bad="$bad $n: $r;"
done
check_eq "perfetto: every scenario" "" "$bad"
for seed in 3 4; do
	for light in "" --light; do
		"$SYNTH" --random $seed --events 30000 $light -o "$T/r.dat" -t /dev/null
		"$VMWAIT" analyze --json --perfetto "$T/r.pf.json" "$T/r.dat" > "$T/r.json"
		r=$(python3 "$PIC/check_perfetto.py" "$T/r.pf.json" "$T/r.json")
		check_eq "perfetto: random seed $seed $light" "ok" "${r%% *}"
	done
done
"$VMWAIT" analyze --json --vcpu 1 --from 4242.3 --to 4242.6 --perfetto "$T/w.pf.json" \
	"$T/r.dat" > "$T/w.json"
r=$(python3 "$PIC/check_perfetto.py" "$T/w.pf.json" "$T/w.json")
check_eq "perfetto: a window and a vCPU" "ok" "${r%% *}"

# 6. Names that are not XML or JSON: escaped; bytes that are not UTF-8 become '?'.
printf 'kernel 6.18\ncpus 4\nvm pid=1000 name=w<&"\xff\xc3\xa9 isa=vmx cpu=3\nvcpu vm=1000 id=0 tid=1001 cpu=0 comm=K<&\xff\xc3\xa9\x01\nep 1001 hlt guest=50us idle=1ms wake=timer\nep 1001 exit reason=CPUID guest=100us hyp=1us\n' > "$T/esc.scn"
"$SYNTH" "$T/esc.scn" -o "$T/esc.dat" -t /dev/null
"$VMWAIT" analyze --svg "$T/esc.svg" --perfetto "$T/esc.json" "$T/esc.dat" > /dev/null
check_eq "odd names: SVG labels" "VM w<&\"?é (pid 1000), 1 vCPU|vCPU 0 (K<&?é?-1001)" \
	"$(python3 -c 'import sys,xml.etree.ElementTree as E
r=E.parse(sys.argv[1]).getroot()
print("|".join(t.text for t in r.iter("{http://www.w3.org/2000/svg}text") if t.text and ("VM w" in t.text or "vCPU 0" in t.text)))' "$T/esc.svg")"
check_eq "odd names: Perfetto names" "VM w<&\"?é (pid 1000)|vCPU 0 (K<&?é\x01-1001)" \
	"$(python3 -c 'import sys,json
print("|".join(repr(e["args"]["name"])[1:-1] for e in json.load(open(sys.argv[1]))["traceEvents"]
      if e["ph"] == "M" and "name" in e["args"]))' "$T/esc.json")"

# 7. Under ASan+UBSan: nested, losses, light, windows; nothing reported.
asan=""
for n in nested-vmx lost-unstored light-tentative l2-credits spawn-nomarkers; do
	"$SYNTH" "tests/synth/scenarios/$n.scn" -o "$T/a.dat" -t /dev/null
	"$VMWAIT_ASAN" analyze --svg "$T/a.svg" --perfetto "$T/a.json" "$T/a.dat" > /dev/null \
		2> "$T/err" && [ ! -s "$T/err" ] || asan="$asan $n: $(head -n 1 "$T/err")"
done
"$VMWAIT_ASAN" analyze --svg "$T/a.svg" --perfetto "$T/a.json" --from 4242.3 --to 4242.4 \
	"$T/r.dat" > /dev/null 2> "$T/err" && [ ! -s "$T/err" ] || asan="$asan random: $(head -n 1 "$T/err")"
check_eq "ASan: pictures of tricky traces" "" "$asan"

# 8. Errors: one line, the right exit status.
check_rc "--svg into a missing directory" 1 "$VMWAIT" analyze --svg /nonexistent/x.svg "$T/lanes.dat"
check_eq "... says so in one line" "vmwait: analyze: cannot write /nonexistent/x.svg: No such file or directory" "$(cat "$T/err")"
check_rc "--perfetto into a missing directory" 1 "$VMWAIT" analyze --perfetto /nonexistent/x.json "$T/lanes.dat"
check_rc "--svg with an unwritable --perfetto" 1 "$VMWAIT" analyze --svg "$T/left.svg" \
	--perfetto /nonexistent/x.json "$T/lanes.dat"
check_eq "... leaves no SVG behind" "no" "$([ -e "$T/left.svg" ] && echo yes || echo no)"
check_rc "--svg without a file" 2 "$VMWAIT" analyze "$T/lanes.dat" --svg

# 9. The progress line: on a terminal, not in a pipe, not with -q.
"$SYNTH" --random 9 --events 200000 -o "$T/p.dat" -t /dev/null
pty() { # run vmwait with stderr on a pseudo-terminal; print what it wrote there
	python3 - "$@" <<'EOF'
import os, pty, subprocess, sys
m, s = pty.openpty()
env = dict(os.environ, VMWAIT_PROGRESS_DELAY_MS="0")
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=s, env=env)
os.close(s)
out = b""
while True:
    try:
        d = os.read(m, 4096)
    except OSError:
        break
    if not d:
        break
    out += d
p.wait()
sys.stdout.write(repr(out.decode()))
EOF
}
out=$(pty "$VMWAIT" analyze "$T/p.dat")
check_eq "progress: percent, events/s and ETA on a terminal" "yes" \
	"$(echo "$out" | grep -q -E 'vmwait: +[0-9]+% of the trace, [0-9.]+ M events/s, ETA [0-9]+ s' && echo yes)"
check_eq "progress: erased at the end" "yes" "$(echo "$out" | grep -q -F "\\r\\x1b[K'" && echo yes)"
check_eq "progress: -q silences it" "''" "$(pty "$VMWAIT" analyze -q "$T/p.dat")"
VMWAIT_PROGRESS_DELAY_MS=0 "$VMWAIT" analyze "$T/p.dat" > /dev/null 2> "$T/err"
check_eq "progress: nothing when stderr is not a terminal" "0" "$(wc -c < "$T/err")"

# 10. Size depends on the width, not on the events: a 10M-event trace.
if "$SYNTH" --random 42 --events 10000000 -o "$T/big.dat" -t /dev/null 2> "$T/err"; then
	"$VMWAIT" analyze --svg "$T/big.svg" "$T/big.dat" > /dev/null
	size=$(wc -c < "$T/big.svg")
	check_eq "10M events: SVG under 3 MB" "yes" "$([ "$size" -lt 3000000 ] && echo yes || echo "no: $size bytes")"
	check_eq "10M events: SVG is well-formed" "ok" \
		"$(python3 -c 'import sys,xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1]); print("ok")' "$T/big.svg" 2>&1 | tail -n 1)"
	rm -f "$T/big.dat"
else
	nok "10M events: synth" "$(head -n 1 "$T/err")"
fi
