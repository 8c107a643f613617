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
