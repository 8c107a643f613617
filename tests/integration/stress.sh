#!/bin/sh
# stress.sh - libheapscope.so survives tests/progs/stress: 8 threads of mixed
# malloc/calloc/realloc/free/posix_memalign with cross-thread frees through
# a shared slot array, a fork() from one worker in the middle (the child
# allocates, frees inherited blocks and exit()s), and exit() from the main
# thread while the workers still allocate; snapshots every 0.05 s. Run at
# the default rate and at rate 64 (nearly every allocation sampled and
# unwound), 8 x 1M operations each (about 5 s and 10 s on 2 cores; a run
# killed after 60 s counts as a deadlock). Each run must end with status 0
# and intact blocks, and leave exactly two dumps, the parent's and child's,
# named by their pids, both intact, the child's header naming the parent;
# the parent's exact alloc_calls must cover the operations it was told to do.
set -eu
T=stress
. tests/lib.sh

P=$PROGS/stress
need "$LIB" "$CLI" "$P"
new_workdir

# stress NAME RATE OPS [TIME_LIMIT]
stress() {
    name=$1 rate=$2 ops=$3 limit=${4:-60}
    check "$name: rate $rate, 8 threads x $ops ops, fork, exit() under load, interval 0.05 s"
    mkdir -p "$W/$name"
    start=$(date +%s)
    rc=0
    (cd "$W/$name" && timeout -s KILL "$limit" env LD_PRELOAD="$LIB" HEAPSCOPE_SAMPLE_RATE="$rate" \
        HEAPSCOPE_INTERVAL=0.05 HEAPSCOPE_OUTPUT="$W/$name/stress.%p.hsd" \
        "$P" 8 "$ops") >"$W/$name.out" 2>"$W/$name.err" || rc=$?
    [ "$rc" != 137 ] || fail "$name: killed after ${limit}s (deadlock or far too slow)"
    [ "$rc" = 0 ] || fail "$name: exited with status $rc: $(head -n 1 "$W/$name.err")"
    note "finished in $(($(date +%s) - start)) s"
    [ ! -s "$W/$name.err" ] || fail "$name: stderr not empty: $(head -n 1 "$W/$name.err")"
    read -r w1 parent w2 child w3 status <"$W/$name.out" || fail "$name: no result line"
    [ "$w1 $w2 $w3 $status" = "parent child status ok" ] || fail "$name: $(cat "$W/$name.out")"

    n=$(find "$W/$name" -name '*.hsd' | wc -l)
    [ "$n" = 2 ] || fail "$name: expected 2 dumps (parent $parent, child $child), found $n: $(ls "$W/$name")"
    [ -f "$W/$name/stress.$parent.hsd" ] || fail "$name: no dump for the parent (pid $parent)"
    [ -f "$W/$name/stress.$child.hsd" ] || fail "$name: no dump for the child (pid $child)"
    info "$W/$name/stress.$parent.hsd" "$W/$name.parent.info"
    info "$W/$name/stress.$child.hsd" "$W/$name.child.info"
    [ "$(field "$W/$name.parent.info" pid)" = "$parent" ] || fail "$name: parent dump's header pid is not $parent"
    [ "$(field "$W/$name.child.info" pid)" = "$child" ] || fail "$name: child dump's header pid is not $child"
    [ "$(field "$W/$name.child.info" ppid)" = "$parent" ] ||
        fail "$name: child dump's header ppid is $(field "$W/$name.child.info" ppid), expected $parent"
    [ "$(records_of "$W/$name.parent.info" END)" = 1 ] || fail "$name: the parent's dump has no END record"
    [ "$(records_of "$W/$name.child.info" END)" = 1 ] || fail "$name: the child's dump has no END record"

    # 80 % of the operations allocate (binomial: mean 0.8 n, sd 0.4 sqrt(n)
    # per thread); the workers' counted phase happened before the exit
    # snapshot, so its calls are a lower bound: 0.79 n is > 5 sd below the
    # mean for n >= 200k.
    calls=$(stat_of "$W/$name.parent.info" alloc_calls)
    min=$((8 * ops * 79 / 100))
    [ "$calls" -ge "$min" ] || fail "$name: alloc_calls $calls < $min for 8 x $ops operations"
    frees=$(stat_of "$W/$name.parent.info" free_calls)
    [ "$frees" -le "$calls" ] || fail "$name: free_calls $frees > alloc_calls $calls"
    note "parent $parent: $(records_of "$W/$name.parent.info" SNAPSHOT) snapshots, alloc_calls $calls," \
        "sampled_allocs $(field "$W/$name.parent.info" sampled_allocs)," \
        "lost_samples $(field "$W/$name.parent.info" lost_samples);" \
        "child $child: $(records_of "$W/$name.child.info" SNAPSHOT) snapshots"
}

stress default 524288 1000000
stress rate64 64 1000000

echo "stress: PASS"
