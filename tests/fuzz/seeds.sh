#!/bin/sh
# seeds.sh DIR - the seed corpus for tests/fuzz/fuzz_dump: real dumps of a
# few programs from build/progs run under libheapscope.so (threads, a fork,
# a dlopen for extra MAPPINGS records, several snapshots), plus copies cut
# inside the preamble, inside a record head and inside a payload, so the
# fuzzer starts from every framing path. Seeds are generated, never committed.
# Small dumps make fast fuzzing: sample rates are high and runs are short.
set -eu
out=${1:?usage: seeds.sh DIR}
BUILD=${BUILD:-build}
case $BUILD in /*) B=$BUILD ;; *) B=$(pwd)/$BUILD ;; esac
for f in "$B/libheapscope.so" "$B/progs/demo_leaky_server" "$B/progs/victim_sites" "$B/progs/lifecycle" \
    "$B/progs/dlopen_victim"; do
    [ -e "$f" ] || { echo "seeds.sh: $f missing (run make all progs)" >&2; exit 1; }
done
rm -rf "$out"
mkdir -p "$out/run"
out=$(cd "$out" && pwd)

# record OUTPUT RATE CMD...: runs CMD under the library in $out/run with
# the dump path template OUTPUT (%p: a forked child writes its own dump).
record() {
    output=$1 rate=$2; shift 2
    (cd "$out/run" && timeout 60 env LD_PRELOAD="$B/libheapscope.so" HEAPSCOPE_SAMPLE_RATE="$rate" \
        HEAPSCOPE_INTERVAL=0.05 HEAPSCOPE_SIGNAL=SIGUSR2 HEAPSCOPE_OUTPUT="$output" "$@") >/dev/null 2>&1 ||
        { echo "seeds.sh: $*: failed" >&2; exit 1; }
}
# With health thresholds low enough to cross: the dump carries ALERT records.
record "$out/run/leaky.%p.hsd" 16384 env HEAPSCOPE_ALERT_HEAP=64K HEAPSCOPE_ALERT_THREADS=1 \
    "$B/progs/demo_leaky_server" 0.3
record "$out/run/sites.%p.hsd" 65536 "$B/progs/victim_sites" 1
record "$out/run/threads.%p.hsd" 4096 "$B/progs/lifecycle" threads
record "$out/run/fork.%p.hsd" 16384 "$B/progs/lifecycle" fork 120
record "$out/run/dlopen.hsd" 65536 "$B/progs/dlopen_victim" "$out/run/dlopen.hsd"

n=0
for f in "$out"/run/*.hsd; do
    [ -s "$f" ] || continue
    n=$((n + 1))
    size=$(wc -c <"$f")
    cp "$f" "$out/dump$n.hsd"
    # Cuts: inside the preamble, inside the first record's head, inside the
    # HEADER payload, at half, and one byte short of the whole file.
    for cut in 11 20 40 $((size / 2)) $((size - 1)); do
        [ "$cut" -lt "$size" ] && head -c "$cut" "$f" >"$out/dump$n.cut$cut.hsd"
    done
done
rm -rf "$out/run"
[ "$n" -ge 5 ] || { echo "seeds.sh: only $n dumps were written" >&2; exit 1; }
echo "seeds.sh: $n dumps, $(find "$out" -type f | wc -l) seeds, $(du -sk "$out" | cut -f1) KiB in $out"
