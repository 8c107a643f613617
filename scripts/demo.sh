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
echo
echo "== a preforking server: one dump per process, one report for the group (worker 2 leaks)"
"$BUILD/heapscope" record --rate 64K --interval 0.1 --output "$out/prefork.%p.hsd" -- \
    "$BUILD/progs/prefork" 3 3 2 >/dev/null
"$BUILD/heapscope" report "$out"/prefork.*.hsd | sed -n '1,/^$/p;/^group/,/total/p'
echo
echo "== live: the same server with --http, scraped while it runs (what Prometheus, Parca and Alloy see)"
HEAPSCOPE_LEAK_WINDOW=2 HEAPSCOPE_LEAK_THRESHOLD=1M \
    "$BUILD/heapscope" record --rate 64K --interval 0.1 --http 127.0.0.1:0 --output "$out/live.%p.hsd" -- \
    "$BUILD/progs/demo_leaky_server" 6 >"$out/live.out" 2>"$out/live.err" &
live=$!
url=""
i=0
while [ -z "$url" ] && [ $i -lt 500 ]; do
    url=$(sed -n 's|.*heapscope: live service on \(http://[^ ]*[^/ ]\)/* .*|\1|p' "$out/live.err" | head -n 1)
    [ -n "$url" ] || sleep 0.02
    i=$((i + 1))
done
[ -n "$url" ] || { echo "demo: the live service did not start: $(cat "$out/live.err")" >&2; exit 1; }
echo "$(grep 'live service on' "$out/live.err")"
# Scrape once the live detector has seen 2 s of growth (its window).
i=0
until curl -s "$url/metrics" | grep -q '^heapscope_leak 1' || [ $i -ge 200 ]; do sleep 0.05; i=$((i + 1)); done
echo "\$ curl -s $url/metrics | grep -E '^(heapscope_heap_inuse|heapscope_leak|heapscope_site_growth|process_resident)'"
curl -s "$url/metrics" | grep -E '^(heapscope_heap_inuse|heapscope_leak|heapscope_site_growth|process_resident)' ||
    echo "demo: /metrics did not answer" >&2
echo
echo "\$ go tool pprof -top -nodecount=5 $url/debug/pprof/heap"
go tool pprof -top -nodecount=5 "$url/debug/pprof/heap" 2>&1 | sed -n '/flat%/,$p'
wait "$live" || { echo "demo: the live demo server failed: $(tail -n 3 "$out/live.err")" >&2; exit 1; }
