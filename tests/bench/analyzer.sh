#!/bin/sh
# Analyzer benchmark: a synthetic 24-hour dump (2880 snapshots 30 s apart,
# 5000 stacks over 3000 libc code addresses, ~10% of stacks changing per
# snapshot, ~100 MiB) through each analyzer command. Targets: under 2 s and
# under 100 MiB RSS per command on a 2-core machine. A report, not a test:
# a missed target prints MISS, only a crash fails.
set -eu
BUILD=${BUILD:-build}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
"$BUILD/bench/gen_long_dump" "$W/day.hsd"
echo "== analyzer: synthetic 24 h dump, $(($(wc -c < "$W/day.hsd") / 1048576)) MiB, 2880 snapshots, 5000 stacks"
echo
echo "| command | seconds | peak RSS MiB | target (< 2 s, < 100 MiB) |"
echo "|---|---:|---:|:---:|"
run() {
    name=$1
    shift
    /usr/bin/time -f "%e %M" -o "$W/time" "$@" > /dev/null 2> "$W/err" || { cat "$W/err" >&2; exit 1; }
    read -r secs kib < "$W/time"
    mib=$((kib / 1024))
    verdict=PASS
    if awk -v s="$secs" "BEGIN { exit !(s >= 2) }" || [ "$mib" -ge 100 ]; then verdict=MISS; fi
    echo "| \`$name\` | $secs | $mib | $verdict |"
}
run "heapscope info" "$BUILD/heapscope" info "$W/day.hsd"
run "heapscope pprof" "$BUILD/heapscope" pprof -o "$W/day.pb.gz" "$W/day.hsd"
run "heapscope pprof --base 1440" "$BUILD/heapscope" pprof --base 1440 -o "$W/growth.pb.gz" "$W/day.hsd"
for cmd in stats report; do
    if "$BUILD/heapscope" help "$cmd" > /dev/null 2>&1; then
        run "heapscope $cmd" "$BUILD/heapscope" "$cmd" "$W/day.hsd"
    fi
done
if "$BUILD/heapscope" help plot > /dev/null 2>&1; then
    run "heapscope plot" "$BUILD/heapscope" plot "$W/day.hsd" -o "$W/day.svg"
fi
