#!/usr/bin/env bash
# Bad input never crashes, hangs or leaks (issue #11): the regression files of
# tests/fuzz/regress/ and the committed seeds through the plain vmwait (-j 1)
# and the ASan+UBSan one (-j 2: with the second reading thread), then a
# bounded libFuzzer run (VMWAIT_FUZZ_TIME seconds, default 60) of both harnesses. Files and defect classes listed in
# tests/fuzz/regress/KNOWN (library defects that wait for vmwait's own reader)
# are reported as skipped while they still fail, and fail once they pass, so
# that the list is kept exact. See tests/fuzz/README.md.
. "$(dirname "$0")/lib.sh"

FUZZ=$TOP/tests/fuzz
KNOWN=$FUZZ/regress/KNOWN
TMO=${VMWAIT_FUZZ_TIMEOUT:-30}

# known_class FILE: the crash class KNOWN gives FILE, or nothing.
known_class() {
	awk -v f="$1" '$1 == f { print $2; exit }' "$KNOWN" 2>/dev/null
}

# problems BINARY FILE ASAN: what is wrong with one run ("" when nothing).
problems() {
	local bin=$1 file=$2 asan=$3 rc lines stray
	if [ "$asan" = 1 ]; then
		ASAN_OPTIONS=max_allocation_size_mb=1024:allocator_may_return_null=0:handle_abort=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
			timeout -s ABRT -k 10 "$TMO" "$bin" analyze -j 2 --json -o /dev/null "$file" \
			> /dev/null 2> "$T/err"
	else
		timeout -s KILL "$TMO" "$bin" analyze -j 1 --json -o /dev/null "$file" > /dev/null 2> "$T/err"
	fi
	rc=$?
	if grep -q "ERROR: [A-Za-z]*Sanitizer\|runtime error:" "$T/err"; then
		echo "sanitizer: $(python3 "$FUZZ/classify.py" "$T/err" | cut -f1)"
		return
	fi
	case $rc in
	0|1) ;;
	124|137) echo "no end within ${TMO} s"; return ;;
	*) if [ $rc -gt 128 ]; then echo "killed by signal $((rc - 128))"; else echo "exit $rc"; fi
	   return ;;
	esac
	lines=$(grep -c . "$T/err")
	stray=$(grep -v '^vmwait: ' "$T/err" | grep -m1 .)
	if [ -n "$stray" ]; then
		echo "stray stderr line: $stray"
	elif [ $rc = 1 ] && [ "$lines" != 1 ]; then
		echo "$lines stderr lines on error"
	fi
}

# check_file NAME FILE: both binaries on FILE, one test line.
check_file() {
	local name=$1 file=$2 p a cls
	p=$(problems "$VMWAIT" "$file" 0)
	a=$(problems "$VMWAIT_ASAN" "$file" 1)
	cls=$(known_class "$(basename "$file")")
	if [ -n "$p$a" ]; then
		if [ -n "$cls" ]; then
			skip "$name" "known crash, waits for the new reader ($cls; plain: ${p:-fine}; asan: ${a:-fine})"
		else
			nok "$name" "plain: ${p:-fine}; asan: ${a:-fine}"
		fi
	elif [ -n "$cls" ]; then
		nok "$name" "passes now: remove its line from tests/fuzz/regress/KNOWN"
	else
		ok "$name"
	fi
}

if [ ! -x "$VMWAIT" ] || [ ! -x "$VMWAIT_ASAN" ]; then
	nok "fuzz binaries" "build vmwait and build/vmwait-asan first (make tests)"
	exit 0
fi

# Every KNOWN line names an existing regression file and a class.
if [ -f "$KNOWN" ]; then
	bad=$(awk '!/^#/ && NF { if (NF < 2) print $1 }' "$KNOWN")
	for f in $(awk '!/^#/ && NF { print $1 }' "$KNOWN"); do
		[ -f "$FUZZ/regress/$f" ] || bad="$bad $f"
	done
	check_eq "regress/KNOWN names existing files with a class" "" "$(echo $bad)"
fi

shopt -s nullglob
for f in "$FUZZ"/regress/*; do
	case $(basename "$f") in KNOWN|RECIPES|README*|*.md|*.txt) continue ;; esac
	check_file "regress/$(basename "$f")" "$f"
done
for f in "$FUZZ"/seeds/*; do
	check_file "seed/$(basename "$f")" "$f"
done

# fuzz-pages findings are page data under the template: as a trace.dat, the
# lost-event counts that would overflow are losses of unknown count, exactly.
tmpl=$TOP/build/tests/fuzz/pages-template.dat
if [ -f "$tmpl" ] && python3 "$FUZZ/pages.py" file "$tmpl" "$FUZZ/regress/vmwait-missed-overflow" \
	"$T/mo.dat" 2> /dev/null; then
	check_eq "regress/vmwait-missed-overflow as a trace: its losses" \
		'"lost_events":0,"lost_unknown":2,"corrupt":14' \
		"$("$VMWAIT" analyze --json "$T/mo.dat" 2> /dev/null | grep -o '"lost_events":[^c]*"corrupt":[0-9]*')"
else
	skip "regress/vmwait-missed-overflow as a trace" "no fuzz-pages template (libFuzzer not built)"
fi

# The bounded libFuzzer run.
if [ ! -x "$TOP/build/tests/fuzz/fuzz-analyze" ] || [ ! -x "$TOP/build/tests/fuzz/fuzz-options" ] ||
   [ ! -x "$TOP/build/tests/fuzz/fuzz-pages" ]; then
	skip "fuzz" "the libFuzzer harnesses are not built: clang's libFuzzer (Debian libclang-rt-14-dev) is missing"
	exit 0
fi
if [ ! -x "$TOP/build/tests/synth/vmwait-synth" ]; then
	skip "fuzz" "build/tests/synth/vmwait-synth is not built (the seed corpus comes from it)"
	exit 0
fi
python3 "$FUZZ/run-fuzz.py" --check --time "${VMWAIT_FUZZ_TIME:-60}" --jobs 2 \
	--out "$T/fuzz" analyze options pages
