#!/bin/sh
# hostharm.sh - more ways a preloaded heapscope must not harm its host or
# misreport it (issue 7), with tests/progs/hostharm_victim:
# - small stacks, every allocation sampled (rate 1; smallstack at the default
#   rate too): a 16 KiB-stack thread (4 KiB of it in use) that creates threads
#   and allocates, a SIGUSR1 handler on an 8 KiB sigaltstack calling malloc,
#   makecontext coroutines on 8 KiB stacks allocating a few calls deep. Each
#   exits 0 and prints what it prints without the library;
# - exit(0) from a SIGALRM handler while threads are inside malloc/free: 20
#   runs at the default settings and 20 at HEAPSCOPE_INTERVAL=0.05, each must
#   exit 0 within 10 s; a dump, where one is left, reads back (an exit
#   snapshot may be skipped, and a snapshot another thread was writing may be
#   cut short by exit());
# - a forked child's counters start at the fork: the parent makes 2,000,000
#   allocations, the child 1000; the child's dump counts under 100,000 calls;
# - every thread start and exit is counted: 10,000 short-lived threads give
#   "threads: 10000 started, 10000 exited" in `heapscope info` (the main
#   thread may be counted on top), and the same totals in `report --json`
#   (threads.created, threads.exited);
# - mallinfo/mallinfo2 (which walk every free chunk under the arena lock)
#   are neither imported nor looked up by name; on a heap with ~1M free chunks
#   the worst malloc+free latency with snapshots every 0.1 s is printed as a
#   note (never asserted).
# HS_LIB=/path/libheapscope.so (and HS_CLI) test another build of the library;
# HS_CASES="smallstack altstack coro bighandler sigexit forkcount threads mallinfo frag"
# runs only the cases named. Every wait is bounded by timeout(1).
set -eu
T=hostharm
. tests/lib.sh
LIB=${HS_LIB:-$LIB}
CLI=${HS_CLI:-$CLI}
case $LIB in /*) ;; *) LIB=$(pwd)/$LIB ;; esac

V=$PROGS/hostharm_victim
need "$LIB" "$CLI" "$V"
# Only the settings each case names.
for v in $(env | sed -n 's/^\(HEAPSCOPE_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done
new_workdir
. tests/bounded.sh

# dumps_intact NAME: every dump in $W/NAME reads back with integrity ok;
# prints how many there are.
dumps_intact() {
    n=0
    for d in "$W/$1"/*.hsd; do
        [ -e "$d" ] || continue
        info "$d" "$W/$1.info"
        n=$((n + 1))
    done
    echo "$n"
}

# ---- small stacks ----
for mode in smallstack altstack coro bighandler; do
    want "$mode" || continue
    case $mode in
    smallstack) check "a 16 KiB-stack thread that creates threads and allocates" ;;
    altstack) check "malloc/free in a signal handler on an 8 KiB sigaltstack, 2000 signals" ;;
    coro) check "makecontext coroutines on 8 KiB stacks allocating a few calls deep" ;;
    bighandler) check "a signal handler needing 96 KiB of stack interrupting sampled allocations" ;;
    esac
    run "${mode}_base" 20 "$V" "$mode"
    status_ok "${mode}_base" 20
    traced "${mode}_rate1" 20 HEAPSCOPE_SAMPLE_RATE=1 "$V" "$mode"
    status_ok "${mode}_rate1" 20
    same_out "${mode}_base" "${mode}_rate1"
    n=$(dumps_intact "${mode}_rate1")
    [ "$n" = 1 ] || fail "${mode}_rate1: $n dumps, expected 1"
    if [ "$mode" = smallstack ]; then
        # The pthread_create hook runs at every rate.
        traced "${mode}_default" 20 "$V" "$mode"
        status_ok "${mode}_default" 20
        same_out "${mode}_base" "${mode}_default"
    fi
    note "$(cat "$W/${mode}_rate1.out")"
done

# ---- exit() from a signal handler while threads are in malloc ----
if want sigexit; then
    check "exit(0) from a SIGALRM handler while four threads malloc/free: 20 runs x 2 settings"
    run sigexit_base 10 "$V" sigexit 100
    status_ok sigexit_base 10
    # readable NAME: the dump of run NAME, if there is one, reads back
    # (`heapscope info` exits 0). exit() ends the other threads wherever they
    # are, possibly inside a snapshot's write(): a truncated tail (a warning,
    # exit 0) is accepted, and so is an empty file (created, the header not yet
    # written); a corrupt record is not. Tallies the verdicts in
    # $W/sigexit_$setting.kinds.
    readable() {
        n=0
        for d in "$W/$1"/*.hsd; do
            [ -e "$d" ] || continue
            n=$((n + 1))
            if [ ! -s "$d" ]; then
                echo "empty" >>"$W/sigexit_$setting.verdicts"
                continue
            fi
            "$CLI" info "$d" >"$W/$1.info" 2>&1 || fail "$1: heapscope info: $(tail -n 1 "$W/$1.info")"
            v=$(sed -n 's/^integrity: //p' "$W/$1.info")
            case $v in
            "ok (clean exit"*) echo "END" ;;
            "ok, no END"*) echo "no-END" ;;
            "truncated tail"*) echo "truncated-tail" ;;
            *) fail "$1: integrity: $v" ;;
            esac >>"$W/sigexit_$setting.verdicts"
        done
        [ "$n" -le 1 ] || fail "$1: $n dumps, expected at most 1"
        [ "$n" = 1 ] || echo "none" >>"$W/sigexit_$setting.verdicts"
        sort "$W/sigexit_$setting.verdicts" | uniq -c | awk '{ print $2 " " $1 }' >"$W/sigexit_$setting.kinds"
    }
    for setting in default fast; do
        : >"$W/sigexit_$setting.verdicts"
        i=0
        while [ "$i" -lt 20 ]; do
            i=$((i + 1))
            ms=$((50 + (i * 37) % 151)) # 50..200 ms, spread over the runs
            name=sigexit_${setting}_$i
            case $setting in
            default) traced "$name" 10 "$V" sigexit "$ms" ;;
            fast) traced "$name" 10 HEAPSCOPE_INTERVAL=0.05 "$V" sigexit "$ms" ;;
            esac
            case $(rc_of "$name") in
            124 | 137) fail "$name: exit() from the handler after $ms ms did not end the process within 10 s (run $i of 20)" ;;
            esac
            status_ok "$name" 10
            readable "$name"
        done
        note "$setting: 20 of 20 runs exited 0; dumps: $(tr '\n' ' ' <"$W/sigexit_$setting.kinds")"
    done
fi

# ---- a fork child's counters ----
if want forkcount; then
    check "a forked child counts its own calls only (parent 2,000,000, child ~1000)"
    traced forkcount 30 "$V" forkcount
    status_ok forkcount 30
    line=$(cat "$W/forkcount.out")
    parent=$(echo "$line" | awk '$1 == "parent" && $5 == "status" { print $2 }')
    child=$(echo "$line" | awk '$1 == "parent" && $5 == "status" { print $4 }')
    [ -n "$child" ] || fail "forkcount printed: $line"
    d=$W/forkcount/hostharm_victim.$child.hsd
    [ -f "$d" ] || fail "no dump of the child $child: $(find "$W/forkcount" -name '*.hsd' | tr '\n' ' ')"
    info "$d" "$W/fk_child.info"
    [ "$(field "$W/fk_child.info" ppid)" = "$parent" ] || fail "the child's dump names ppid $(field "$W/fk_child.info" ppid), not $parent"
    calls=$(stat_of "$W/fk_child.info" alloc_calls)
    frees=$(stat_of "$W/fk_child.info" free_calls)
    [ "$calls" -ge 1000 ] || fail "child: alloc_calls $calls, but it made 1000 allocations itself"
    [ "$calls" -lt 100000 ] || fail "child: alloc_calls $calls at its last snapshot: the parent's 2,000,000 calls are counted (expected ~1000)"
    [ "$frees" -lt 100000 ] || fail "child: free_calls $frees at its last snapshot (expected ~1000)"
    # Every snapshot row of the child, not only the last.
    "$CLI" stats --csv "$d" >"$W/fk_child.csv" 2>"$W/fk_child.csv.err" || fail "heapscope stats --csv of the child failed: $(head -n 1 "$W/fk_child.csv.err")"
    awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i
                       if (!("alloc_calls" in col) || !("alloc_calls_per_s" in col)) { print "no alloc_calls column"; bad = 1; exit }
                       next }
             { n++; if ($col["alloc_calls"] + 0 >= 100000) { print "snapshot " NR - 2 ": alloc_calls " $col["alloc_calls"]; bad = 1; exit }
               if ($col["alloc_calls_per_s"] + 0 > max) max = $col["alloc_calls_per_s"] + 0 }
             END { if (bad) exit 1
                   if (!n) { print "no rows"; exit 1 }
                   printf "%d snapshot(s), at most %.0f allocations/s\n", n, max }' \
        "$W/fk_child.csv" >"$W/fk_child.rows" || fail "child's stats: $(cat "$W/fk_child.rows")"
    note "child: alloc_calls $calls, free_calls $frees; $(cat "$W/fk_child.rows")"
fi

# ---- every thread start and exit is counted ----
if want threads; then
    check "10,000 short-lived threads: 10,000 starts and 10,000 exits counted"
    run threads_base 60 "$V" threads 10000
    status_ok threads_base 60
    traced threads 60 "$V" threads 10000
    status_ok threads 60
    same_out threads_base threads
    n=$(dumps_intact threads)
    [ "$n" = 1 ] || fail "threads: $n dumps, expected 1"
    # "threads: S started, E exited"
    line=$(grep '^threads:' "$W/threads.info" || :)
    started=$(echo "$line" | sed -n 's/^threads: \([0-9]*\) started, \([0-9]*\) exited.*/\1/p')
    exited=$(echo "$line" | sed -n 's/^threads: \([0-9]*\) started, \([0-9]*\) exited.*/\2/p')
    if [ -z "$started" ] || [ -z "$exited" ]; then
        fail "heapscope info printed no 'threads: N started, M exited' line: '$line'"
    fi
    # 10,000, or 10,001 where the main thread is counted too.
    case $started in 10000 | 10001) ;; *) fail "heapscope info: $started thread starts counted, 10000 made" ;; esac
    case $exited in 10000 | 10001) ;; *) fail "heapscope info: $exited thread exits counted, 10000 made" ;; esac
    # The report's threads section states the same totals (threads.created
    # and threads.exited; "started" is accepted for the first).
    d=$(find "$W/threads" -name '*.hsd')
    "$CLI" report --json "$d" >"$W/threads.json" 2>"$W/threads.json.err" ||
        fail "heapscope report --json failed: $(head -n 1 "$W/threads.json.err")"
    if command -v python3 >/dev/null; then
        python3 - "$W/threads.json" >"$W/threads.report" <<'EOF' || fail "report --json: $(cat "$W/threads.report")"
import json, sys
t = json.load(open(sys.argv[1])).get("threads")
if not isinstance(t, dict):
    print("no threads object"); sys.exit(1)
found = []
for keys, what in ((("started", "created", "total_started", "total_created"), "started"),
                   (("exited", "total_exited"), "exited")):
    for k in keys:
        v = t.get(k)
        if isinstance(v, dict):
            v = v.get("total")
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            if v not in (10000, 10001):
                print("threads.%s is %s, 10000 threads %s" % (k, v, what)); sys.exit(1)
            found.append("%s %d" % (k, v))
            break
if len(found) != 2:
    print("threads states no total of starts and exits (keys: %s)" % ", ".join(sorted(t))); sys.exit(1)
print(", ".join(found))
EOF
        note "info: $started started, $exited exited; report --json threads: $(cat "$W/threads.report")"
    else
        note "info: $started started, $exited exited"
    fi
fi

# ---- mallinfo ----
if want mallinfo; then
    check "the library neither imports nor looks up mallinfo/mallinfo2"
    command -v nm >/dev/null || fail "nm (binutils) not found"
    if nm -D --undefined-only "$LIB" | grep -Eq '[[:space:]]mallinfo2?(@|$)'; then
        fail "$(basename "$LIB") imports $(nm -D --undefined-only "$LIB" | grep -Eo 'mallinfo2?(@[^ ]*)?' | tr '\n' ' ')"
    fi
    # A dlsym("mallinfo2") would leave the bare name among the strings.
    if strings -n 8 "$LIB" | grep -Eqx 'mallinfo2?'; then
        fail "$(basename "$LIB") holds the string \"$(strings -n 8 "$LIB" | grep -Ex 'mallinfo2?' | head -n 1)\" (a lookup by name?)"
    fi
fi
if want frag; then
    check "a heap with ~1M free chunks, snapshots every 0.1 s: worst malloc+free latency (a note only)"
    run frag_base 60 "$V" frag 2
    status_ok frag_base 60
    traced frag 60 HEAPSCOPE_INTERVAL=0.1 "$V" frag 2
    status_ok frag 60
    n=$(dumps_intact frag)
    [ "$n" = 1 ] || fail "frag: $n dumps, expected 1"
    worst() { awk '$1 == "worst_ns" { printf "%.2f ms over %d pairs", $2 / 1e6, $4 }' "$W/$1.out"; }
    note "worst malloc+free: $(worst frag) under the library, $(worst frag_base) without"
fi

echo "$T: ok"
