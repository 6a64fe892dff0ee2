#!/usr/bin/env bash
# Real host traces (tests/data/real/, written by trace-cmd 3.2 on real KVM
# hardware, not by vmwait): both readers give the same events; for every vCPU
# thread its exits per reason, guest and idle time and gaps equal what its
# kvm_entry/kvm_exit records say, read by libtracecmd (tests/reader/kvm-facts,
# tests/real/check.py: issue 12's done-when); the ASan build agrees; and the
# findings each file brought (tests/data/real/README.md) stay fixed.
. "$(dirname "$0")/lib.sh"
trap 'rm -rf "$T"' EXIT

FACTS=$TOP/build/tests/reader/kvm-facts
CMP=$TOP/build/tests/reader/tin-cmp
ASAN=$TOP/build/vmwait-asan
REAL=$TOP/tests/data/real

for f in "$REAL"/*.dat; do
	n=$(basename "$f" .dat)
	out=$("$CMP" "$f" 2>&1)
	case "$out" in
	"same "*) ok "$n: vmwait's reader = libtracecmd ($out)" ;;
	*) nok "$n: vmwait's reader = libtracecmd" "$out" ;;
	esac
	if ! "$FACTS" "$f" > "$T/$n.facts.json" 2> "$T/$n.err"; then
		nok "$n: kvm-facts" "$(head -n 1 "$T/$n.err")"
		continue
	fi
	if ! "$VMWAIT" analyze --json "$f" > "$T/$n.json" 2> "$T/$n.err"; then
		nok "$n: analyze --json" "$(head -n 1 "$T/$n.err")"
		continue
	fi
	"$VMWAIT" analyze "$f" > "$T/$n.txt" 2> /dev/null
	python3 "$TOP/tests/real/check.py" "$n" "$T/$n.facts.json" "$T/$n.json" "$T/$n.txt"
	if [ -x "$ASAN" ]; then
		"$ASAN" analyze --json "$f" > "$T/$n.asan.json" 2> "$T/$n.asan.err"
		check_eq "$n: the ASan build, same JSON, clean" "0 same" \
			"$? $(cmp -s "$T/$n.json" "$T/$n.asan.json" && echo same || echo differs)"
	fi
done

# what each file found (tests/data/real/README.md)
vms() { python3 -c 'import json,sys; print(";".join("%s:%s" % (v["name"], ",".join(str(c["tid"]) for c in v["vcpus"])) for v in json.load(open(sys.argv[1]))["vms"]))' "$1"; }
check_eq "exits-one-guest: the GUEST option without a name names its VM by trace id" \
	"guest 0x5d2b93f358166218:483882;~1:453724,453725" "$(vms "$T/exits-one-guest.json")"
check_eq "exits-two-vms: two VMs, none merged" \
	"guest 0xda6d103bdee443d1:60250,60251;~1:52679" "$(vms "$T/exits-two-vms.json")"
check_eq "exits-guest-no-vcpus: a GUEST option with 0 vCPUs is no error" \
	"~1:503844" "$(vms "$T/exits-guest-no-vcpus.json")"
gaps() { python3 -c 'import json,sys; print(" ".join("%d:%d" % (c["tid"], c["gaps"]) for v in json.load(open(sys.argv[1]))["vms"] for c in v["vcpus"]))' "$1"; }
# the 2 entries missing, and 2 halts that lost their kvm_vcpu_wakeup and came
# back on another CPU (no fast path leaves its CPU): unknown, not hypervisor
check_eq "kvm-all: 4 gaps (2 records missing, 2 lost wakeups across CPUs)" \
	"533825:4" "$(gaps "$T/kvm-all.json")"

# The real trace-cmd -A pair: the guest file's trace id names the host's
# unnamed GUEST option; every one of the vCPU's 1488 waits lands in one row
# of the guest-task table (rows sum to the wait count and time).
G=$REAL/guest/exits-one-guest.Salamander4.dat
if "$VMWAIT" analyze --json --guest "$G" "$REAL/exits-one-guest.dat" > "$T/pair.json" 2> "$T/pair.err"; then
	check_eq "real -A pair: joined by trace id, TIME_SHIFT clock, rows sum to the waits" \
		"guest 0x5d2b93f358166218 time_shift 0 1488 1488 2166485350 2166485350" \
		"$(python3 -c '
import json, sys
vm = json.load(open(sys.argv[1]))["vms"][0]
w = vm["vcpus"][0]["waits"]
rows = vm["guest_tasks"]
print(vm["name"], vm["guest"]["clock"], vm["guest"]["inconsistent_waits"],
      sum(x["count"] for x in w.values()), sum(r["waits"]["count"] for r in rows),
      sum(x["total_ns"] for x in w.values()), sum(r["waits"]["total_ns"] for r in rows))' "$T/pair.json")"
else
	nok "real -A pair: analyze --guest" "$(head -n 1 "$T/pair.err")"
fi
