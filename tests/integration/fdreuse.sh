#!/bin/sh
# A daemon-like program closes every descriptor (the dump's too) the moment
# the dump appears and reuses every number up to its limit for its own file.
# heapscope must never write into the program's file, must keep recording by
# reopening its dump by path, and must not lose the snapshot it could not
# write while no descriptor was free.
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
[ "$snaps" -ge 4 ] || fail "expected 4 snapshots (before, while full, after, exit), got $snaps"
# The 2 MiB allocated while full must be in the last signal snapshot, the
# one taken while no descriptor was free must be there (it cannot read
# /proc either: RSS 0), and it must come before the last one.
"$BUILD/heapscope" stats --csv "$work/fd.hsd" > "$work/stats" || fail "stats failed"
inuse=$(awk -F, '$3 == "signal" {v = $12} END {print v + 0}' "$work/stats")
[ "$inuse" -ge $((5 << 19)) ] && [ "$inuse" -le $((7 << 19)) ] ||
    fail "last signal snapshot estimates $inuse bytes in use, expected ~3 MiB: $(cat "$work/stats")"
awk -F, 'NR > 1 {r[NR] = $3 "," $6} END {exit !(r[3] == "signal,0" && r[4] ~ /^signal,[1-9]/)}' "$work/stats" ||
    fail "the snapshot taken while full is missing or out of order: $(cat "$work/stats")"
echo "ok: the program's file is intact and the dump has $snaps snapshots after its descriptor was closed"

# libunwind validates addresses through a pipe of its own and closes and
# reopens it when a read fails: the numbers must never be the program's.
HEAPSCOPE_SAMPLE_RATE=1 HEAPSCOPE_OUTPUT="$work/unw.hsd" LD_PRELOAD="$BUILD/libheapscope.so" \
    "$BUILD/progs/unwind_pipe_victim" > "$work/out" 2> "$work/err" ||
    fail "unwind_pipe_victim exited $?: $(cat "$work/out" "$work/err")"
[ "$(cat "$work/out")" = ok ] || fail "unwind_pipe_victim: $(cat "$work/out")"
[ ! -s "$work/err" ] || fail "unexpected stderr: $(cat "$work/err")"
"$BUILD/heapscope" info "$work/unw.hsd" > "$work/info" || fail "info failed on unw.hsd"
grep -q '^integrity: ok (clean exit' "$work/info" || fail "unw.hsd: $(grep integrity "$work/info")"
echo "ok: libunwind never read, wrote or closed the program's descriptors"
