#!/bin/sh
# Analyzer benchmark: synthetic long-running dumps (tests/bench/gen_long_dump.c:
# snapshots 30 s apart, 5000 stacks over 3000 libc code addresses, ~10% of
# the stacks changing per snapshot) through each analyzer command.
#   24 h  (2880 snapshots, ~100 MiB, flat load): under 2 s and 100 MiB RSS.
#   7 days (20160 snapshots, ~625 MiB, daily load cycle, weekends, a daily
#         cache, slow leaks): under 5 s and 100 MiB RSS.
# ANALYZER_DAYS picks the dumps (default "1 7"; e.g. ANALYZER_DAYS=1 for the
# quick one). A report, not a test: a missed target prints MISS, only a crash
# fails. Each dump is generated (seconds shown), used and removed in turn.
set -eu
BUILD=${BUILD:-build}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
run() {
    name=$1
    shift
    /usr/bin/time -f "%e %M" -o "$W/time" "$@" > /dev/null 2> "$W/err" || { cat "$W/err" >&2; exit 1; }
    read -r secs kib < "$W/time"
    mib=$((kib / 1024))
    verdict=PASS
    if awk -v s="$secs" -v t="$max_s" "BEGIN { exit !(s >= t) }" || [ "$mib" -ge 100 ]; then verdict=MISS; fi
    echo "| \`$name\` | $secs | $mib | $verdict |"
}
for days in ${ANALYZER_DAYS:-1 7}; do
    if [ "$days" = 1 ]; then
        label="24 h" max_s=2 base=1440
    else
        label="$days-day" max_s=5 base=$((days * 1440))
    fi
    dump="$W/run.hsd"
    gen_s=$(/usr/bin/time -f "%e" "$BUILD/bench/gen_long_dump" -d "$days" "$dump" 2>&1 >/dev/null) || {
        echo "$gen_s" >&2
        exit 1
    }
    echo "== analyzer: synthetic $label dump, $(($(wc -c < "$dump") / 1048576)) MiB, $((days * 2880)) snapshots, 5000 stacks (generated in $gen_s s)"
    echo
    echo "| command | seconds | peak RSS MiB | target (< $max_s s, < 100 MiB) |"
    echo "|---|---:|---:|:---:|"
    run "heapscope info" "$BUILD/heapscope" info "$dump"
    run "heapscope pprof" "$BUILD/heapscope" pprof -o "$W/heap.pb.gz" "$dump"
    run "heapscope pprof --base $base" "$BUILD/heapscope" pprof --base "$base" -o "$W/growth.pb.gz" "$dump"
    for cmd in stats report; do
        if "$BUILD/heapscope" help "$cmd" > /dev/null 2>&1; then
            run "heapscope $cmd" "$BUILD/heapscope" "$cmd" "$dump"
        fi
    done
    if "$BUILD/heapscope" help plot > /dev/null 2>&1; then
        run "heapscope plot" "$BUILD/heapscope" plot "$dump" -o "$W/timeline.svg"
    fi
    rm -f "$dump"
    echo
done
