#!/usr/bin/env bash
# Builds libtraceevent 1.7.1 and libtracecmd 3.1.6 (Debian 12's versions) with
# debug information from their git repositories, so that a crash found
# against Debian's stripped libraries can be re-run with function names and
# source lines:
#
#   tests/fuzz/debug-libs.sh LIBTRACEEVENT_GIT TRACECMD_GIT [OUT]
#   LD_LIBRARY_PATH=$(cat build/fuzz/dbglibs/path) build/vmwait-asan analyze FILE
#
# (OUT defaults to build/fuzz/dbglibs; the .git directories may be bare.)
set -eu
cd "$(dirname "$0")/../.."
te_git=${1:?usage: debug-libs.sh LIBTRACEEVENT_GIT TRACECMD_GIT [OUT]}
tc_git=${2:?usage: debug-libs.sh LIBTRACEEVENT_GIT TRACECMD_GIT [OUT]}
out=$(realpath -m "${3:-build/fuzz/dbglibs}")
rm -rf "$out"
mkdir -p "$out/te" "$out/tc"
git --git-dir="$te_git" archive 4e51588 | tar -x -C "$out/te"      # libtraceevent 1.7.1
git --git-dir="$tc_git" archive 0a68daed | tar -x -C "$out/tc"     # trace-cmd 3.1.6
make -C "$out/te" -j2 libs > "$out/te.log" 2>&1
make -C "$out/tc" -j2 libs > "$out/tc.log" 2>&1
echo "$out/tc/lib/trace-cmd:$out/te/lib" > "$out/path"
echo "debug-libs: LD_LIBRARY_PATH=$(cat "$out/path")"
