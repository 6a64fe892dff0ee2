#!/usr/bin/env bash
# Valgrind memcheck over vmwait analyze (issue #11 item 5): every file of
# tests/data and generated traces in each file version, compression and
# layout (full, light, nested, lost events, random), with --json, --csv, text
# and --explain. Fails on any memcheck error or definite/indirect leak; leaks
# inside the trace libraries are suppressed by tests/valgrind.supp.
. "$(dirname "$0")/lib.sh"

SYNTH=$TOP/build/tests/synth/vmwait-synth
SCN=$TOP/tests/synth/scenarios

if ! command -v valgrind > /dev/null 2>&1; then
	skip "valgrind" "valgrind is not installed (scripts/setup installs it)"
	exit 0
fi
if ! valgrind -q --error-exitcode=99 true 2> "$T/probe"; then
	skip "valgrind" "valgrind does not run here: $(head -n 1 "$T/probe")"
	exit 0
fi

# vg NAME EXPECTED_RC ARGS...: vmwait under memcheck; one test line.
vg() {
	local name=$1 want=$2 rc
	shift 2
	valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
		--show-leak-kinds=definite,indirect --track-origins=yes \
		--suppressions="$TOP/tests/valgrind.supp" \
		"$VMWAIT" analyze "$@" > "$T/out" 2> "$T/vg"
	rc=$?
	if [ $rc = 99 ]; then
		nok "$name" "memcheck: $(grep -m1 -E '(Invalid|uninitialised|definitely|indirectly|Conditional|Mismatched|overlap)' "$T/vg" | sed 's/^==[0-9]*== //')"
	elif [ $rc != "$want" ]; then
		nok "$name" "exit $rc, expected $want: $(grep -v '^==' "$T/vg" | head -n 1)"
	else
		ok "$name"
	fi
}

for f in "$TOP"/tests/data/*.dat; do
	vg "valgrind $(basename "$f")" 0 --json -o /dev/null "$f"
done
vg "valgrind demo.dat --explain" 0 --explain --vcpu 0 -o /dev/null "$TOP/tests/data/demo.dat"

if [ ! -x "$SYNTH" ]; then
	skip "valgrind synth traces" "build/tests/synth/vmwait-synth is not built"
	exit 0
fi
i=0
for v in "-V 6" "-V 7 -z none" "-V 7 -z zstd" "-V 7 -z zlib"; do
	tag=$(echo "$v" | sed 's/-V /v/; s/ -z //')
	for s in basic-vmx nested-vmx nested-svm lost-stored light-tentative two-vms; do
		k=(4.19 5.10 6.1 6.18)
		kk=${k[$((i % 4))]}
		i=$((i + 1))
		# shellcheck disable=SC2086
		"$SYNTH" $v -k "$kk" -o "$T/$tag-$s.dat" "$SCN/$s.scn" > /dev/null ||
			{ nok "valgrind $tag $s" "vmwait-synth failed"; continue; }
		vg "valgrind $tag k$kk $s" 0 --json -o /dev/null "$T/$tag-$s.dat"
	done
	# shellcheck disable=SC2086
	"$SYNTH" $v --random 7 --events 3000 -o "$T/$tag-rnd.dat" > /dev/null
	vg "valgrind $tag random --csv" 0 --csv -o /dev/null "$T/$tag-rnd.dat"
	# shellcheck disable=SC2086
	"$SYNTH" $v --light --random 8 --events 3000 -o "$T/$tag-rndl.dat" > /dev/null
	vg "valgrind $tag random light, text" 0 -o /dev/null "$T/$tag-rndl.dat"
	vg "valgrind $tag --explain" 0 --explain -o /dev/null "$T/$tag-basic-vmx.dat"
done
# Error paths: a cut file and a bad option value.
head -c 3000 "$T/v7zstd-basic-vmx.dat" > "$T/cut.dat"
vg "valgrind truncated file" 1 --json "$T/cut.dat"
vg "valgrind bad --vcpu" 2 --vcpu x "$T/v6-basic-vmx.dat"
