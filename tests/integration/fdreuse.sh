#!/bin/sh
# A daemon-like program closes every descriptor (the dump's too) and reuses
# the numbers for its own file. heapscope must never write into the
# program's file, and must keep recording by reopening its dump by path.
set -eu
BUILD=${BUILD:-build}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
HEAPSCOPE_SAMPLE_RATE=4096 HEAPSCOPE_SIGNAL=SIGUSR2 HEAPSCOPE_INTERVAL=3600 \
    HEAPSCOPE_OUTPUT="$work/fd.hsd" LD_PRELOAD="$BUILD/libheapscope.so" \
    "$BUILD/progs/fdclose_victim" "$work/fd.hsd" "$work/user.txt" > "$work/out" 2> "$work/err" ||
    fail "victim exited $?: $(cat "$work/err")"
[ "$(cat "$work/out")" = ok ] || fail "victim output: $(cat "$work/out")"
[ "$(cat "$work/user.txt")" = "user data" ] || fail "the program's file was written into: $(wc -c < "$work/user.txt") bytes"
[ ! -s "$work/err" ] || fail "unexpected stderr: $(cat "$work/err")"
"$BUILD/heapscope" info "$work/fd.hsd" > "$work/info" || fail "info failed"
grep -q '^integrity: ok (clean exit' "$work/info" || fail "$(grep integrity "$work/info")"
snaps=$(awk '$1 == "snapshots:" {print $2}' "$work/info")
[ "$snaps" -ge 3 ] || fail "expected 3 snapshots (before, after, exit), got $snaps"
echo "ok: the program's file is intact and the dump has $snaps snapshots after its descriptor was closed"
