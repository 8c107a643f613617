#!/bin/sh
# `make demo`: run a leaking toy server under `heapscope record`, then show
# what the dump holds: info, stats, a symbolized pprof profile read by go tool
# pprof, the growth between two points, a timeline plot with the leak trend,
# and the leak report that names the leaking function and line.
set -eu
BUILD=${BUILD:-build}
out=$(mktemp -d /tmp/heapscope-demo.XXXXXX)
echo "== heapscope record: a toy server with a session cache that is never trimmed (4 s)"
echo "   (HEAPSCOPE_LEAK_WINDOW=2: the interposer's live detector looks at the last 2 s)"
# Snapshots every 0.1 s: the live detector waits for points spanning 90% of
# its 2 s window, which 0.25 s intervals reached only in about 1 run of 6.
HEAPSCOPE_LEAK_WINDOW=2 HEAPSCOPE_LEAK_THRESHOLD=1M \
    "$BUILD/heapscope" record --rate 64K --interval 0.1 --output "$out/demo.%p.hsd" -- \
    "$BUILD/progs/demo_leaky_server" 4
dump=$(ls "$out"/demo.*.hsd | head -n 1)
echo
echo "== heapscope info $dump"
"$BUILD/heapscope" info "$dump"
echo
echo "== heapscope stats (one row per snapshot; every other row shown)"
"$BUILD/heapscope" stats "$dump" | awk 'NR <= 2 || NR % 2 == 0' 
echo
echo "== heapscope pprof -o $out/heap.pb.gz (symbolized offline), then go tool pprof -top"
"$BUILD/heapscope" pprof -o "$out/heap.pb.gz" "$dump"
# go keeps a build cache under $HOME; give it one if this shell has none.
[ -n "${HOME:-}" ] && [ -w "${HOME:-/nonexistent}" ] || export HOME="$out"
go tool pprof -top -nodecount=8 -sample_index=inuse_space "$out/heap.pb.gz" 2>/dev/null
echo
echo "== what grew in the second half of the run (pprof --base): the leak stands alone"
"$BUILD/heapscope" pprof --base 2s -o "$out/growth.pb.gz" "$dump"
go tool pprof -top -nodecount=4 -sample_index=inuse_space "$out/growth.pb.gz" 2>/dev/null | sed -n '/flat%/,$p'
echo
"$BUILD/heapscope" plot "$dump" -o "$out/timeline.svg"
echo "timeline: $out/timeline.svg    profiles: $out/heap.pb.gz, $out/growth.pb.gz"
echo "open one with: go tool pprof -http=127.0.0.1:8080 $out/heap.pb.gz"
echo
echo "== heapscope report (exit status 3 with --fail-on-leak, for CI pipelines)"
"$BUILD/heapscope" report "$dump"
