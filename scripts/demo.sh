#!/bin/sh
# `make demo`: run a leaking toy server under `heapscope record`, then show
# what the dump holds. Grows with the analyzer (pprof, report) in later issues.
set -eu
BUILD=${BUILD:-build}
out=$(mktemp -d /tmp/heapscope-demo.XXXXXX)
echo "== heapscope record: a toy server with a session cache that is never trimmed (3 s)"
"$BUILD/heapscope" record --rate 64K --interval 0.5 --output "$out/demo.%p.hsd" -- \
    "$BUILD/progs/demo_leaky_server" 3
dump=$(ls "$out"/demo.*.hsd | head -n 1)
echo
echo "== heapscope info $dump"
"$BUILD/heapscope" info "$dump"
echo
echo "== the three call sites holding the most memory at exit (estimated from samples)"
echo "   frames resolved with addr2line; the analyzer issue turns this into a pprof profile"
"$BUILD/heapscope" info --stacks "$dump" | awk '
    /^stack / { id = $2; for (i = 3; i < NF; i += 2) v[$i] = $(i + 1); inuse[id] = v["est_inuse_bytes"]; allocs[id] = v["est_alloc_objects"] }
    /^  frame / { if (!(id SUBSEP $2 in fr)) { fr[id SUBSEP $2] = $4 " " $5 } }
    END { for (s in inuse) print inuse[s], allocs[s], s, fr[s SUBSEP 0], fr[s SUBSEP 1] }' |
    sort -rn | head -n 3 | while read -r bytes allocs id path0 rel0 path1 rel1; do
        site() { addr2line -f -s -e "$1" "$(printf '0x%x' $(( $2 - 1 )))" 2>/dev/null | paste -sd' ' -; }
        printf '  %6d KiB in use  (%s allocations)  stack %s\n' "$((${bytes%.*} / 1024))" "$allocs" "$id"
        printf '      at %s\n' "$(site "$path0" "$rel0")"
        [ -n "${path1:-}" ] && printf '      called from %s\n' "$(site "$path1" "$rel1")"
    done
echo
echo "dump kept in $out"
