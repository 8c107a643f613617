#!/bin/sh
# Full tables never harm the host: 4.6M live blocks at rate 1 overfill the
# live-block table (2^22 slots). The program must print exactly what it
# prints without the library, the loss is logged once and counted in
# lost_samples, and the blocks that were recorded are all matched on free.
set -eu
BUILD=${BUILD:-build}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
n=4600000
"$BUILD/progs/many_blocks" $n > "$work/plain"
HEAPSCOPE_SAMPLE_RATE=1 HEAPSCOPE_OUTPUT="$work/full.hsd" LD_PRELOAD="$BUILD/libheapscope.so" \
    "$BUILD/progs/many_blocks" $n > "$work/traced" 2> "$work/err" || fail "exit status $?"
cmp -s "$work/plain" "$work/traced" || fail "output differs: $(cat "$work/traced")"
lines=$(grep -c '^heapscope: dropping samples' "$work/err" || true)
[ "$lines" = 1 ] || fail "expected one 'dropping samples' line, got $lines: $(head -3 "$work/err")"
[ "$(wc -l < "$work/err")" = 1 ] || fail "unexpected stderr: $(cat "$work/err")"
"$BUILD/heapscope" info "$work/full.hsd" > "$work/info"
lost=$(awk '$1 == "lost_samples:" {print $2}' "$work/info")
allocs=$(awk '$1 == "sampled_allocs:" {print $2}' "$work/info")
frees=$(awk '$1 == "sampled_frees:" {print $2}' "$work/info")
echo "lost_samples=$lost sampled_allocs=$allocs sampled_frees=$frees"
[ "$lost" -gt 0 ] || fail "no lost samples counted"
[ "$allocs" -gt 3500000 ] || fail "too few samples recorded: $allocs"
[ $((allocs + lost)) -ge $n ] || fail "allocations unaccounted for: $allocs + $lost < $n"
# Every recorded block is freed again except stdout's buffer, which stdio keeps.
[ $((allocs - frees)) = 1 ] || fail "recorded blocks not all matched on free: $allocs allocs, $frees frees"
echo "ok: a full live table drops samples, logs once, and the program runs on"
