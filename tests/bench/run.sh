#!/bin/sh
# `make bench`: runs build/bench/churn under four configurations (no preload, the
# passthrough floor, heapscope at the default rate, heapscope at rate 1), then counts
# instructions with callgrind, and prints a markdown table with the targets marked
# PASS/MISS; then the worst malloc+free latency with snapshots every 0.1 s (build/bench/latency,
# a churning heap and one with ~1M free chunks) and what a short process pays (/bin/true
# from a preloaded shell). A missed target is a finding, not a failure: the exit status is
# non-zero only when a run crashes or hangs. See tests/bench/README.md.
#
# Knobs (environment): BENCH_THREADS (2), BENCH_OPS per thread (2000000), BENCH_RUNS (3),
# BENCH_CG_OPS="20000 120000" (callgrind op counts, 1 thread), BENCH_INTERVAL (30 s),
# BENCH_CONFIGS="none passthrough default http rate1" (http: the default rate with HEAPSCOPE_HTTP on, idle), BENCH_CALLGRIND=0 to skip callgrind,
# BENCH_LATENCY_SECONDS (3), BENCH_START_RUNS (500).
set -u
BUILD=${BUILD:-build}
THREADS=${BENCH_THREADS:-2}
OPS=${BENCH_OPS:-2000000}
RUNS=${BENCH_RUNS:-3}
CG_OPS=${BENCH_CG_OPS:-20000 120000}
INTERVAL=${BENCH_INTERVAL:-30}
CONFIGS=${BENCH_CONFIGS:-none passthrough default http rate1}
CALLGRIND=${BENCH_CALLGRIND:-1}
RUN_TIMEOUT=${BENCH_TIMEOUT:-300}

here=$(pwd)
churn=$here/$BUILD/bench/churn
passthrough=$here/$BUILD/bench/libpassthrough.so
heapscope=$here/$BUILD/libheapscope.so
for f in "$churn" "$passthrough"; do
    [ -e "$f" ] || { echo "bench: $f missing (run make bench)" >&2; exit 1; }
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/heapscope-bench.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
crashed=0

# Drop configurations whose library is not built, so the script is usable early on.
active=""
for cfg in $CONFIGS; do
    case $cfg in
    default | http | rate1)
        if [ ! -e "$heapscope" ]; then
            echo "bench: $heapscope not built; skipping configuration '$cfg'" >&2
            continue
        fi ;;
    esac
    active="$active $cfg"
done

# run_in CONFIG CMD...: runs CMD with CONFIG's preload and settings. The dump goes into a
# temp dir; the interval ($hs_interval) is longer than a run, so only the at-exit snapshot
# is written. Under callgrind it is an hour, so that no periodic snapshot lands in one of
# the two runs and not in the other.
hs_interval=$INTERVAL
run_in() {
    cfg=$1; shift
    mkdir -p "$tmp/dumps/$cfg"
    case $cfg in
    none) env -u LD_PRELOAD "$@" ;;
    passthrough) env LD_PRELOAD="$passthrough" "$@" ;;
    default)
        env -u HEAPSCOPE_SAMPLE_RATE LD_PRELOAD="$heapscope" \
            HEAPSCOPE_OUTPUT="$tmp/dumps/$cfg/churn.%p.hsd" HEAPSCOPE_INTERVAL="$hs_interval" "$@" ;;
    http) # the default rate with the live service on, never scraped
        env -u HEAPSCOPE_SAMPLE_RATE LD_PRELOAD="$heapscope" HEAPSCOPE_HTTP=127.0.0.1:0 \
            HEAPSCOPE_OUTPUT="$tmp/dumps/$cfg/churn.%p.hsd" HEAPSCOPE_INTERVAL="$hs_interval" "$@" ;;
    rate1)
        env LD_PRELOAD="$heapscope" HEAPSCOPE_SAMPLE_RATE=1 \
            HEAPSCOPE_OUTPUT="$tmp/dumps/$cfg/churn.%p.hsd" HEAPSCOPE_INTERVAL="$hs_interval" "$@" ;;
    esac
}

# field KEY < churn-output: prints KEY's value from churn's key=value line.
field() {
    awk -v key="$1" '/^churn /{for (i = 2; i <= NF; i++) {split($i, kv, "="); if (kv[1] == key) print kv[2]}}'
}

median() {
    sort -g | awk '{v[NR] = $1} END {if (NR == 0) print "nan"; else print v[int((NR + 1) / 2)]}'
}

# check_status CONFIG STATUS LOG: records a crash (signal, abort, timeout) and shows the log.
check_status() {
    if [ "$2" -ne 0 ]; then
        echo "bench: CRASH: configuration '$1' exited with status $2; log:" >&2
        tail -n 20 "$3" | sed 's/^/    /' >&2
        crashed=1
        return 1
    fi
    return 0
}

echo "== heapscope benchmark: churn, $THREADS threads x $OPS ops, median of $RUNS runs"
echo "host: $(nproc) cpus, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)," \
    "$(uname -r), glibc $(getconf GNU_LIBC_VERSION | cut -d' ' -f2)," \
    "load $(cut -d' ' -f1-3 /proc/loadavg)"

# Throughput: interleave configurations run by run so that machine noise spreads evenly.
run=1
while [ "$run" -le "$RUNS" ]; do
    for cfg in $active; do
        log=$tmp/tp.$cfg.$run.log
        run_in "$cfg" timeout "$RUN_TIMEOUT" "$churn" -t "$THREADS" -n "$OPS" >"$log" 2>&1
        check_status "$cfg" $? "$log" || continue
        printf '  run %d %-12s %9s ops/s, %9s ops/CPU-s, maxrss %s KiB\n' "$run" "$cfg" \
            "$(field ops_per_sec <"$log")" "$(field ops_per_cpu_sec <"$log")" \
            "$(field maxrss_kib <"$log")"
        field ops_per_sec <"$log" >>"$tmp/ops.$cfg"
        field ops_per_cpu_sec <"$log" >>"$tmp/cpu.$cfg"
        field maxrss_kib <"$log" >>"$tmp/rss.$cfg"
    done
    run=$((run + 1))
done
for cfg in $active; do
    case $cfg in
    default | rate1)
        ls "$tmp/dumps/$cfg/"*.hsd >/dev/null 2>&1 ||
            echo "bench: warning: '$cfg' wrote no dump file; is heapscope active?" >&2 ;;
    esac
done

# Instructions: callgrind counts are deterministic (1 thread, fixed seeds). Two op counts;
# the difference cancels startup and exit, leaving instructions per malloc+free pair.
have_callgrind=0
if [ "$CALLGRIND" = 1 ] && command -v valgrind >/dev/null 2>&1; then
    have_callgrind=1
    echo "== callgrind: 1 thread, ops $CG_OPS"
    hs_interval=3600
    for cfg in $active; do
        for n in $CG_OPS; do
            out=$tmp/cg.$cfg.$n
            log=$tmp/cg.$cfg.$n.log
            # LD_PRELOAD set on the valgrind launcher reaches the client (valgrind appends
            # its own preloads); the ob= check below proves our library was called.
            # The live service's thread wakes up on its own clock: count the
            # program's thread only (--separate-threads: one file per thread;
            # the program's is the one with the most instructions), so the
            # figure is what the allocation path pays with the service idle.
            sep=no
            [ "$cfg" = http ] && sep=yes
            run_in "$cfg" timeout "$RUN_TIMEOUT" valgrind --tool=callgrind --separate-threads=$sep \
                --callgrind-out-file="$out" "$churn" -t 1 -n "$n" >"$log" 2>&1
            check_status "$cfg (callgrind)" $? "$log" || continue
            if [ "$sep" = yes ]; then
                main=$(for f in "$out"-*; do
                    echo "$(awk '/^(summary|totals):/ {print $2; exit}' "$f") $f"
                done | sort -n | tail -n 1 | cut -d' ' -f2)
                mv "$main" "$out" && rm -f "$out"-*
            fi
            ir=$(awk '/^(summary|totals):/ {print $2; exit}' "$out")
            pairs=$(field pairs <"$log")
            echo "$n $pairs $ir" >>"$tmp/ir.$cfg"
            printf '  %-12s ops %-7s pairs %-7s Ir %s\n' "$cfg" "$n" "$pairs" "$ir"
        done
        case $cfg in
        passthrough) lib=libpassthrough.so ;;
        default | http | rate1) lib=libheapscope.so ;;
        *) lib="" ;;
        esac
        if [ -n "$lib" ] && ! grep -q "ob=.*$lib" "$tmp/cg.$cfg."* 2>/dev/null; then
            echo "bench: warning: callgrind saw no code of $lib in '$cfg'" >&2
        fi
        # Keep the big profile for callgrind_annotate when BENCH_KEEP names a directory.
        if [ -n "${BENCH_KEEP:-}" ]; then
            mkdir -p "$BENCH_KEEP" && cp "$tmp/cg.$cfg."* "$BENCH_KEEP/" 2>/dev/null
        fi
    done
fi

# One line per configuration: name ops_median rss_median_kib ir_per_pair cpu_ops_median.
for cfg in $active; do
    ops=$(median <"$tmp/ops.$cfg" 2>/dev/null || echo nan)
    rss=$(median <"$tmp/rss.$cfg" 2>/dev/null || echo nan)
    irpp=nan
    if [ "$have_callgrind" = 1 ] && [ -s "$tmp/ir.$cfg" ]; then
        irpp=$(sort -n "$tmp/ir.$cfg" | awk 'NR == 1 {p0 = $2; i0 = $3} {p1 = $2; i1 = $3}
            END {if (NR >= 2 && p1 > p0) printf "%.1f", (i1 - i0) / (p1 - p0); else print "nan"}')
    fi
    cpu=$(median <"$tmp/cpu.$cfg" 2>/dev/null || echo nan)
    echo "$cfg $ops $rss $irpp $cpu"
done >"$tmp/results"

echo
echo "== results (paste into README.md)"
echo
echo "churn: $THREADS threads x $OPS ops, sizes 16 B-192 KiB (87 % <= 256 B), 12.5 % calloc," \
    "6 % realloc, 12.5 % of frees cross-thread; heapscope interval ${INTERVAL} s;" \
    "instructions from callgrind at 1 thread, ops $(echo "$CG_OPS" | tr ' ' '/')."
echo
awk -v labels="none=no preload;passthrough=passthrough floor;default=heapscope, default rate (524288);http=heapscope, default rate, HEAPSCOPE_HTTP idle;rate1=heapscope, rate 1" '
function num(x) { return x != "nan" && x != "" }
function fmt_ops(x,   s, r) {
    if (!num(x)) return "n/a"
    s = sprintf("%.0f", x); r = ""
    while (length(s) > 3) { r = "," substr(s, length(s) - 2) r; s = substr(s, 1, length(s) - 3) }
    return s r
}
function ratio(a, b) { return (num(a) && num(b) && b > 0) ? sprintf("%.3f", a / b) : "n/a" }
function mib(k) { return num(k) ? sprintf("%.1f", k / 1024) : "n/a" }
function dmib(a, b) { return (num(a) && num(b)) ? sprintf("%+.1f", (a - b) / 1024) : "n/a" }
function dir(a, b) { return (num(a) && num(b)) ? sprintf("%+.1f", a - b) : "n/a" }
function verdict(ok, known) { return known ? (ok ? "PASS" : "MISS") : "n/a" }
BEGIN { n = split(labels, l, ";"); for (i = 1; i <= n; i++) { split(l[i], kv, "="); name[kv[1]] = kv[2] } }
{ order[++count] = $1; ops[$1] = $2; rss[$1] = $3; ir[$1] = $4; cpu[$1] = $5 }
END {
    print "| configuration | ops/s (median) | vs no preload | vs passthrough | vs passthrough, CPU time | peak RSS MiB | RSS vs passthrough MiB | instructions per malloc+free pair | extra vs passthrough |"
    print "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    for (i = 1; i <= count; i++) {
        c = order[i]
        printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", name[c], fmt_ops(ops[c]),
            ratio(ops[c], ops["none"]), ratio(ops[c], ops["passthrough"]),
            ratio(cpu[c], cpu["passthrough"]), mib(rss[c]),
            dmib(rss[c], rss["passthrough"]), num(ir[c]) ? ir[c] : "n/a", dir(ir[c], ir["passthrough"])
    }
    print ""
    print "| target (heapscope at the default rate) | measured | result |"
    print "|---|---:|:---:|"
    k = num(ops["default"]) && num(ops["passthrough"])
    r = k ? ops["default"] / ops["passthrough"] : 0
    printf "| throughput >= 0.97 x passthrough (wall) | %s | %s |\n", ratio(ops["default"], ops["passthrough"]), verdict(r >= 0.97, k)
    k = num(cpu["default"]) && num(cpu["passthrough"])
    r = k ? cpu["default"] / cpu["passthrough"] : 0
    printf "| throughput >= 0.97 x passthrough (per CPU second) | %s | %s |\n", ratio(cpu["default"], cpu["passthrough"]), verdict(r >= 0.97, k)
    k = num(ir["default"]) && num(ir["passthrough"])
    d = k ? ir["default"] - ir["passthrough"] : 0
    printf "| <= 15 extra instructions per malloc+free pair | %s | %s |\n", dir(ir["default"], ir["passthrough"]), verdict(d <= 15, k)
    k = num(rss["default"]) && num(rss["passthrough"])
    d = k ? (rss["default"] - rss["passthrough"]) / 1024 : 0
    printf "| RSS overhead <= 8 MiB | %s | %s |\n", k ? dmib(rss["default"], rss["passthrough"]) " MiB" : "n/a", verdict(d <= 8, k)
}' "$tmp/results"

# Where the extra instructions go: per function, (cfg(large) - cfg(small)) minus the same
# difference for passthrough, divided by the pairs in between. Self cost, all objects.
annotate() {
    callgrind_annotate --auto=no --threshold=100 "$1" 2>/dev/null | awk -v w="$2" '
        /^ *[0-9][0-9,]* \(/ && !/PROGRAM TOTALS/ {
            n = $1; gsub(",", "", n); name = $0; sub(/^[^)]*\) +/, "", name); object = ""
            if (match(name, / \[[^]]*\]$/)) {
                object = substr(name, RSTART + 2, RLENGTH - 3); name = substr(name, 1, RSTART - 1)
                sub(/^.*\//, "", object); object = " [" object "]"
            }
            sub(/^.*\//, "", name); print w * n "\t" name object }'
}
breakdown() {
    small=${CG_OPS%% *}; large=${CG_OPS##* }
    for f in "$1.$small" "$1.$large" "passthrough.$small" "passthrough.$large"; do
        [ -s "$tmp/cg.$f" ] || return 0
    done
    dpairs=$(sort -n "$tmp/ir.$1" | awk 'NR == 1 {p0 = $2} {p1 = $2} END {print p1 - p0}')
    echo
    echo "extra instructions per pair by function, $(echo "$1" | sed 's/^default$/default rate/;s/^rate1$/rate 1/') vs passthrough (self cost, |x| >= 0.1):"
    echo
    echo "| function [object] | instructions per pair |"
    echo "|---|---:|"
    { annotate "$tmp/cg.$1.$large" 1; annotate "$tmp/cg.$1.$small" -1
      annotate "$tmp/cg.passthrough.$large" -1; annotate "$tmp/cg.passthrough.$small" 1; } |
        awk -F '\t' -v d="$dpairs" '{sum[$2] += $1}
            END {for (k in sum) {v = sum[k] / d; if (v >= 0.1 || v <= -0.1) printf "%.1f\t%s\n", v, k}}' |
        sort -t "$(printf '\t')" -k1,1gr | head -n "${BENCH_BREAKDOWN_ROWS:-12}" |
        awk -F '\t' '{printf "| %s | %s |\n", $2, $1}'
}
if [ "$have_callgrind" = 1 ] && command -v callgrind_annotate >/dev/null 2>&1; then
    for cfg in $active; do
        case $cfg in default | rate1) breakdown "$cfg" ;; esac
    done
fi

# What one sampled allocation costs by stack depth (rate 1, every allocation a sample):
# build/bench/depth recurses D frames, then makes malloc+free pairs from 4 call sites;
# callgrind instructions per pair from the difference of two runs, minus the same
# without the library. The stack walk, the walk cache and the interning scale with D.
depth_bin=$here/$BUILD/bench/depth
if [ "$CALLGRIND" = 1 ] && command -v valgrind >/dev/null 2>&1 && [ -x "$depth_bin" ] && [ -e "$heapscope" ]; then
    echo
    echo "instructions per sampled malloc+free pair by stack depth (rate 1, callgrind, 2,000 vs 12,000 pairs):"
    echo
    echo "| frames below the allocating function | no profiler | heapscope rate 1 | per sample, heapscope's share |"
    echo "|---:|---:|---:|---:|"
    for d in ${BENCH_DEPTHS:-8 32 64}; do
        row=""
        for cfg in none rate1; do
            irs=""
            for n in 2000 12000; do
                case $cfg in
                none) ir=$(timeout "$RUN_TIMEOUT" valgrind --tool=callgrind --callgrind-out-file="$tmp/cgd" \
                    "$depth_bin" -d "$d" -n "$n" 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p') ;;
                rate1) ir=$(env LD_PRELOAD="$heapscope" HEAPSCOPE_SAMPLE_RATE=1 HEAPSCOPE_INTERVAL=3600 \
                    HEAPSCOPE_OUTPUT="$tmp/dumps/depth.%p.hsd" timeout "$RUN_TIMEOUT" valgrind --tool=callgrind \
                    --callgrind-out-file="$tmp/cgd" "$depth_bin" -d "$d" -n "$n" 2>&1 |
                    sed -n 's/.*Collected : \([0-9]*\).*/\1/p') ;;
                esac
                [ -n "$ir" ] || { echo "bench: CRASH: depth $d ($cfg) under callgrind" >&2; crashed=1; ir=0; }
                irs="$irs $ir"
            done
            row="$row $(echo "$irs" | awk '{printf "%.0f", ($2 - $1) / 10000}')"
        done
        echo "$d $row" | awk '{printf "| %d | %s | %s | %s |\n", $1, $2, $3, $3 - $2}'
    done
    rm -f "$tmp/cgd"
fi

# The worst single malloc+free pair, where a snapshot written by the program's own thread
# shows up: snapshots every 0.1 s (HEAPSCOPE_INTERVAL), on a churning heap and on a heap
# with ~1M free chunks (where glibc's mallinfo2 took ~150 ms). The max includes the
# scheduler's preemptions, so compare it with the run without heapscope.
latency=$here/$BUILD/bench/latency
LAT_SECONDS=${BENCH_LATENCY_SECONDS:-3}
if [ -x "$latency" ]; then
    echo
    echo "worst malloc+free latency, snapshots every 0.1 s, ${LAT_SECONDS} s per run (max; p99.9 upper bound):"
    echo
    echo "| heap | no preload | heapscope default rate | heapscope rate 1 |"
    echo "|---|---:|---:|---:|"
    for heap in churn fragmented; do
        row="| $heap"
        for cfg in none default rate1; do
            case $cfg in
            none) out=$(timeout "$RUN_TIMEOUT" "$latency" "$heap" "$LAT_SECONDS") ;;
            default) out=$(timeout "$RUN_TIMEOUT" env LD_PRELOAD="$heapscope" HEAPSCOPE_INTERVAL=0.1 \
                HEAPSCOPE_OUTPUT="$tmp/lat.%p.hsd" "$latency" "$heap" "$LAT_SECONDS") ;;
            rate1) out=$(timeout "$RUN_TIMEOUT" env LD_PRELOAD="$heapscope" HEAPSCOPE_INTERVAL=0.1 \
                HEAPSCOPE_SAMPLE_RATE=1 HEAPSCOPE_OUTPUT="$tmp/lat.%p.hsd" "$latency" "$heap" "$LAT_SECONDS") ;;
            esac || crashed=1
            row="$row | $(echo "$out" | sed -n 's/.*max_us=\([0-9.]*\) p999_us=\([0-9.]*\).*/\1 us (p99.9 \2 us)/p')"
        done
        echo "$row |"
    done
fi

# What a short process pays: a preloaded shell runs /bin/true N times (wall time of the
# loop, median of 3), and callgrind counts one /bin/true's instructions (loading included).
START_RUNS=${BENCH_START_RUNS:-500}
start_loop() {
    for _ in 1 2 3; do
        t0=$(date +%s%N)
        env "$@" sh -c "i=0; while [ \$i -lt $START_RUNS ]; do /bin/true; i=\$((i + 1)); done" || crashed=1
        t1=$(date +%s%N)
        echo $(((t1 - t0) / 1000))
    done | sort -n | sed -n 2p
}
start_ir() {
    if [ "$have_callgrind" = 1 ]; then
        env "$@" valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.true" /bin/true 2>&1 |
            sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
    else
        echo n/a
    fi
}
echo
echo "start cost: $START_RUNS runs of /bin/true from a shell with the library preloaded (median of 3), and"
echo "instructions of one /bin/true (callgrind, dynamic loading included):"
echo
echo "| configuration | loop ms | per process us | vs no preload | instructions | dumps left |"
echo "|---|---:|---:|---:|---:|---:|"
base_us=""
for cfg in none disabled default; do
    mkdir -p "$tmp/start.$cfg"
    case $cfg in
    none) set -- X=1 ;;
    disabled) set -- LD_PRELOAD="$heapscope" HEAPSCOPE_DISABLE=1 ;;
    default) set -- LD_PRELOAD="$heapscope" HEAPSCOPE_OUTPUT="$tmp/start.$cfg/%p.hsd" ;;
    esac
    us=$(start_loop "$@")
    [ -n "$base_us" ] || base_us=$us
    ir=$(start_ir "$@")
    dumps=$(find "$tmp/start.$cfg" -name '*.hsd' | wc -l)
    awk -v c="$cfg" -v us="$us" -v b="$base_us" -v n="$START_RUNS" -v ir="$ir" -v d="$dumps" \
        'BEGIN {printf "| %s | %.0f | %.0f | %.2f | %s | %d |\n", c, us / 1000, us / n, us / b, ir, d}'
done

# The live service (HEAPSCOPE_HTTP): a scrape's cost, serving 10,000 stacks.
sh tests/bench/live.sh || crashed=1
sh tests/bench/cpuprof_overhead.sh || crashed=1

if [ "$crashed" != 0 ]; then
    echo "bench: at least one run crashed or hung (see above)" >&2
    exit 1
fi
exit 0
