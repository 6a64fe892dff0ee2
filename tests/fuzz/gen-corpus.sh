#!/usr/bin/env bash
# Writes the fuzzing seed corpus into DIR (and DIR.manifest: each file's
# vmwait-synth arguments): the committed seeds
# (tests/fuzz/seeds/) plus traces made by vmwait-synth in every file version,
# compression and kernel layout, full and --light, nested, lost events and
# small random seeds. Each file is a few KB to ~110 KB.
#
# usage: tests/fuzz/gen-corpus.sh DIR [--with-demo]
#   --with-demo  also copy tests/data/*.dat (1 MB; for the mutation campaign,
#                too big for libFuzzer's -max_len)
set -eu
cd "$(dirname "$0")/../.."
out=${1:?usage: gen-corpus.sh DIR [--with-demo]}
SYNTH=${VMWAIT_SYNTH:-build/tests/synth/vmwait-synth}
SCN=tests/synth/scenarios
[ -x "$SYNTH" ] || { echo "gen-corpus: $SYNTH is not built (make tests)" >&2; exit 1; }
mkdir -p "$out"
rm -f "$out.manifest"

# gen NAME ARGS...: one trace, named NAME in the corpus; DIR.manifest says how
gen() {
	local name=$1
	shift
	"$SYNTH" -o "$out/$name" "$@" > /dev/null
	printf '%s\t%s\n' "$name" "$*" >> "$out.manifest"
}

# Every scenario in v6 and in v7 zstd; the others in v7 none and zlib.
n=0
for s in "$SCN"/*.scn; do
	b=$(basename "$s" .scn)
	gen "v6-$b" -V 6 "$s"
	gen "v7zstd-$b" -V 7 -z zstd "$s"
	case $((n % 3)) in
	0) gen "v7none-$b" -V 7 -z none "$s" ;;
	1) gen "v7zlib-$b" -V 7 -z zlib "$s" ;;
	esac
	n=$((n + 1))
done

# Kernel layouts x versions on a plain, a nested, a lost-events and an SVM trace.
for k in 4.19 5.10 6.1 6.18; do
	for s in basic-vmx nested-vmx lost-stored svm-basic; do
		gen "k$k-v6-$s" -k "$k" -V 6 "$SCN/$s.scn"
		gen "k$k-v7zlib-$s" -k "$k" -V 7 -z zlib "$SCN/$s.scn"
	done
	gen "k$k-light-v7zstd-two-vms" -k "$k" --light -V 7 -z zstd "$SCN/two-vms.scn"
done

# --light of full scenarios.
for s in basic-vmx nested-svm nested-vmx poll-block lost-unstored vfio-irq; do
	gen "light-v6-$s" --light -V 6 "$SCN/$s.scn"
	gen "light-v7zstd-$s" --light -V 7 -z zstd "$SCN/$s.scn"
done

# Random scenarios (migration, losses, nested guests, guest timers), small.
i=0
for seed in 1 2 3 4 5 6 7 8 9 10 11 12; do
	for v in "-V 6" "-V 7 -z none" "-V 7 -z zstd" "-V 7 -z zlib"; do
		k=(4.19 5.10 6.1 6.18)
		kk=${k[$(((seed + i) % 4))]}
		light=()
		[ $((seed % 3)) = 0 ] && light=(--light)
		ev=$((200 + (seed * 97 + i * 31) % 700))
		# shellcheck disable=SC2086
		gen "rnd$seed-$(echo $v | sed "s/-V /v/; s/ -z //")-k$kk${light:+-light}" $v -k "$kk" "${light[@]}" \
			--random "$seed" --events "$ev"
		i=$((i + 1))
	done
done

if [ -d tests/fuzz/seeds ]; then
	cp tests/fuzz/seeds/* "$out/" 2>/dev/null || true
fi
if [ "${2:-}" = --with-demo ]; then
	for f in tests/data/*.dat; do
		cp "$f" "$out/data-$(basename "$f" .dat)"
	done
fi
echo "gen-corpus: $(find "$out" -type f | wc -l) files, $(du -sk "$out" | cut -f1) KB in $out" >&2
