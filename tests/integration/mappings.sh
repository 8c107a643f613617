#!/bin/sh
# MAPPINGS follow dlopen/dlclose: a program snapshots, loads zlib and lets it
# allocate, snapshots, unloads it and exits. The dump must carry three
# mapping sets (start, with zlib, without), and the zlib allocation's stack
# must resolve into libz through the set in force when it was recorded.
set -eu
BUILD=${BUILD:-build}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

HEAPSCOPE_SAMPLE_RATE=1 HEAPSCOPE_SIGNAL=SIGUSR2 HEAPSCOPE_INTERVAL=3600 \
    HEAPSCOPE_OUTPUT="$work/dl.hsd" LD_PRELOAD="$BUILD/libheapscope.so" \
    "$BUILD/progs/dlopen_victim" "$work/dl.hsd" > "$work/out" || fail "dlopen_victim failed"
grep -q "zlib loaded, used and unloaded" "$work/out" || fail "victim output"
"$BUILD/heapscope" info "$work/dl.hsd" > "$work/info" || fail "info failed"
grep -q "^integrity: ok" "$work/info" || fail "integrity: $(grep integrity "$work/info")"
records=$(grep '^records:' "$work/info")
echo "$records"
echo "$records" | grep -q "MAPPINGS 3" || fail "expected 3 MAPPINGS records (start, dlopen, dlclose): $records"
# The deflate state was allocated inside libz: some stack's frame 0 lies in
# libz as the mappings of that time say (info resolves against the set in
# force at each stack's definition).
"$BUILD/heapscope" info --stacks "$work/dl.hsd" > "$work/stacks"
grep -q '^  frame 0 0x[0-9a-f]* [^ ]*libz\.so[^ ]* 0x' "$work/stacks" ||
    fail "no stack with frame 0 in libz: $(grep -c '^stack' "$work/stacks") stacks"
echo "ok: mappings follow dlopen and dlclose; zlib's allocation resolves into libz"

# dlclose, then another library at the same address: the stacks recorded in
# the first must still resolve into it (they are written before it unloads),
# and the second's into the second.
HEAPSCOPE_SAMPLE_RATE=1 HEAPSCOPE_INTERVAL=3600 HEAPSCOPE_OUTPUT="$work/reuse.hsd" \
    LD_PRELOAD="$BUILD/libheapscope.so" "$BUILD/progs/dlreuse_victim" "$BUILD/plugins" > "$work/out" ||
    fail "dlreuse_victim failed"
"$BUILD/heapscope" info --stacks "$work/reuse.hsd" > "$work/stacks" || fail "info --stacks reuse.hsd failed"
grep -q "^integrity: ok" "$work/stacks" || fail "reuse.hsd: $(grep integrity "$work/stacks")"
# "allocs N" of each stack whose allocation site (frame 0) lies in plugin X.
site_allocs() {
    awk -v lib="$1" '/^stack / {n = $4} $1 == "frame" && $2 == 0 && $4 ~ lib {s += n} END {print s + 0}' "$work/stacks"
}
a=$(site_allocs 'libhs_plug_a[.]so'); b=$(site_allocs 'libhs_plug_b[.]so')
[ "$a" = 32 ] && [ "$b" = 32 ] ||
    fail "plugin A's blocks must resolve into A and B's into B: A $a, B $b ($(cat "$work/out"))"
echo "ok: after dlclose, a library at the same address ($(cat "$work/out")) is not blamed for the old one's blocks"
