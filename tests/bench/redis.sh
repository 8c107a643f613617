#!/bin/sh
# tests/bench/redis.sh (part of `make bench`): redis-server under each profiler configuration
# of tests/bench/profilers.sh, driven by redis-benchmark over loopback TCP.
#
# Workload (fixed work per run): redis-benchmark -t set,get,lpush,lpop -d 256 -n N -r KEYSPACE
# -c 50 -P 1 against a fresh redis-server (Debian's, which links libjemalloc.so.2 itself: the
# configuration "none" runs on that jemalloc), started from a config file with save "" and
# appendonly no on a free 127.0.0.1 port. Measured per run, from outside:
#   - server CPU per request: CPU time of the whole process tree prof_run started (the sum of
#     /proc/PID/task/*/schedstat run time, ns, over every process and thread of the tree) after
#     the benchmark minus before it, over the 4 x N requests. For heaptrack the tree is the
#     heaptrack script, redis-server, heaptrack_interpret and the zstd compressor: their CPU is
#     counted. "After" is taken once the tree is quiet again (heaptrack's interpreter catches up
#     on its pipe after the benchmark ends);
#   redis-server's threads are pinned to CPU 1 and redis-benchmark to CPU 0 (REDIS_PIN=1;
#   heaptrack's helpers are not pinned): unpinned, where the scheduler puts server and client
#   alone moved the none/hs_default ratio by +-19% between rounds on a quiet 2-CPU machine;
#   pinned, 3 quiet rounds gave 1.042-1.045 (other programs' load still adds +-10%);
#   - requests/s as redis-benchmark reports them (all 4 tests: requests / sum of their times);
#   - the server's peak RSS (VmHWM of redis-server itself, helpers not included);
#   - the bytes the profiler wrote in its output directory, per minute of the server's life.
# Rounds are interleaved (round r: every configuration once, fresh server each). Per round,
# ratios against "none" and against prof_baseline's configuration of the same round; the
# tables give median (min-max) over rounds.
#
# The overhead target (heapscope default rate <= 1.02 x none, known to +-3%) needs a precise
# ratio: after the full rounds, extra rounds of none and hs_default alone (order alternating)
# run until the distribution-free 95% confidence interval of the median per-round ratio (order
# statistics k and n+1-k of n rounds, k from Binomial(n, 1/2); at least 6 rounds) is within
# +-3% of the median, or REDIS_MAX_ROUNDS rounds have run; the script prints how many it took.
# The min-max of all rounds is printed too: it only widens with more rounds, so it cannot be
# the stopping rule. (Running none and hs_default side by side on the shared CPU, to cancel
# outside load, was tried: precise, but the cache and switch cost the two servers impose on
# each other is added to both and pulled the ratio to 1.01 where alone it was 1.04.)
#
# Dump growth at the default interval (30 s), heapscope at the default rate:
#   - idle: a server started at the beginning, given short bursts of requests until its dump
#     holds a first snapshot (heapscope creates the file then), then left idle for
#     REDIS_IDLE_SECONDS (in the background while the rounds run: it takes no CPU);
#   - load: a server under back-to-back redis-benchmark runs for REDIS_LOAD_SECONDS.
# The dump's size is sampled every second; growth counts from the first snapshot, extrapolated
# to an hour; under load also the steady rate over the snapshots at the full interval (the
# first snapshots come after 1, 2, 4, ... s), which is what an hour of load writes.
#
# Prints markdown tables and the targets marked PASS/MISS. A MISS is a finding: the exit
# status is non-zero only when a server or redis-benchmark crashes or hangs (timeouts).
#
# Knobs (environment): BUILD (build), REDIS_CONFIGS (below), REDIS_ROUNDS (3),
# REDIS_MAX_ROUNDS (12: rounds of none/hs_default at most, the full rounds included), REDIS_REQUESTS (20000 per
# test, -n), REDIS_KEYSPACE (100000, -r), REDIS_CLIENTS (50), REDIS_PIPELINE (1, -P),
# REDIS_PIN (1: server on CPU 1, benchmark on CPU 0), REDIS_IDLE_SECONDS (180),
# REDIS_LOAD_SECONDS (100; 0 skips), REDIS_TIMEOUT (300 s per benchmark run),
# REDIS_SLOW_CONFIGS ("gperf_heap": run in the first REDIS_SLOW_ROUNDS (1) rounds only),
# REDIS_SERVER (redis-server), REDIS_BENCHMARK (redis-benchmark).
set -u
BUILD=${BUILD:-build}
export BUILD
CONFIGS=${REDIS_CONFIGS:-none hs_default passthrough hs_64k hs_rate1 heaptrack jemalloc hs_jemalloc jemalloc_prof tcmalloc tcmalloc_sample gperf_heap}
ROUNDS=${REDIS_ROUNDS:-3}
MAX_ROUNDS=${REDIS_MAX_ROUNDS:-12}
REQUESTS=${REDIS_REQUESTS:-20000}
KEYSPACE=${REDIS_KEYSPACE:-100000}
CLIENTS=${REDIS_CLIENTS:-50}
PIPELINE=${REDIS_PIPELINE:-1}
PIN=${REDIS_PIN:-1}
IDLE_SECONDS=${REDIS_IDLE_SECONDS:-180}
LOAD_SECONDS=${REDIS_LOAD_SECONDS:-100}
RUN_TIMEOUT=${REDIS_TIMEOUT:-300}
SLOW_CONFIGS=${REDIS_SLOW_CONFIGS-gperf_heap}
SLOW_ROUNDS=${REDIS_SLOW_ROUNDS:-1}
SERVER=${REDIS_SERVER:-redis-server}
BENCHMARK=${REDIS_BENCHMARK:-redis-benchmark}
TESTS=set,get,lpush,lpop
NTESTS=4
START_TIMEOUT=60 # seconds for a server to answer PING (heaptrack starts slowly)
STOP_TIMEOUT=120 # seconds for a server (and heaptrack's interpreter) to finish after SIGTERM

here=$(pwd)
heapscope_cli=$here/$BUILD/heapscope
# shellcheck source=tests/bench/profilers.sh disable=SC1091
. "$here/tests/bench/profilers.sh"

for cmd in "$SERVER" "$BENCHMARK" redis-cli ps ss timeout; do
    command -v "$cmd" >/dev/null 2>&1 || {
        echo "redis bench: $cmd not found (Debian packages redis-server, redis-tools, procps, iproute2)" >&2
        exit 1
    }
done

BENCH_PREFIX=""
if [ "$PIN" = 1 ]; then
    if command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -ge 2 ]; then
        BENCH_PREFIX="taskset -c 0"
    else
        echo "redis bench: no taskset or one CPU: not pinning (REDIS_PIN=0)" >&2
        PIN=0
    fi
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/heapscope-redis.XXXXXX") || exit 1
crashed=0
jobs_started="" # background jobs (prof_run subshells, load loops, size loggers) to clean up

now_ms() { date +%s%3N; }

# tree_pids ROOT: ROOT and every process below it.
tree_pids() {
    ps -e -o pid=,ppid= | awk -v root="$1" '
        {kids[$2] = kids[$2] " " $1}
        END {
            n = 1; q[1] = root; out = root
            for (i = 1; i <= n; i++) {
                c = split(kids[q[i]], k, " ")
                for (j = 1; j <= c; j++) { q[++n] = k[j]; out = out " " k[j] }
            }
            print out
        }'
}

# tree_cpu_ns ROOT: run time (ns) of every thread of every process of ROOT's tree.
tree_cpu_ns() {
    for p in $(tree_pids "$1"); do
        cat /proc/"$p"/task/*/schedstat 2>/dev/null
    done | awk '{s += $1} END {printf "%.0f\n", s}'
}

# alive PID: the process exists and is not a zombie.
alive() {
    [ -r "/proc/$1/stat" ] || return 1
    state=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
    [ -n "$state" ] && [ "$state" != Z ]
}

# ours PID: PID is this script's child (a job pid reaped long ago may belong to someone else now).
# shellcheck disable=SC2317 # called by the trap
ours() {
    [ "$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f2)" = "$$" ]
}

# kill_tree ROOT: SIGKILL to ROOT's tree (leaves first), used on hangs and at exit.
kill_tree() {
    for p in $(tree_pids "$1" | tr ' ' '\n' | sort -rn); do
        kill -9 "$p" 2>/dev/null
    done
}

# shellcheck disable=SC2317 # called by the trap
cleanup() {
    for j in $jobs_started; do
        alive "$j" && ours "$j" && kill_tree "$j"
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 141' PIPE # e.g. piped into head: still clean up
trap 'exit 143' TERM

# free_port: a TCP port nobody listens on (a race with another program is caught by
# start_server, which retries on "Address already in use").
free_port() {
    while :; do
        p=$(awk -v s="$(now_ms)$$" 'BEGIN {srand(s % 2147483647); printf "%d\n", 20000 + int(rand() * 40000)}')
        [ -z "$(ss -Htan "sport = :$p" 2>/dev/null)" ] && { echo "$p"; return; }
    done
}

# start_server CONFIG OUTDIR RUNDIR: starts redis-server under CONFIG in the background and
# waits (polling) until it answers PING. Sets job (prof_run's subshell), rpid (redis-server),
# port, t_start (ms). Returns 1 when the server did not come up (logged as a crash).
start_server() {
    s_cfg=$1; s_out=$2; s_run=$3
    mkdir -p "$s_run" "$s_out"
    tries=0
    while :; do
        tries=$((tries + 1))
        port=$(free_port)
        rm -f "$s_run/redis.pid"
        cat >"$s_run/redis.conf" <<EOF
bind 127.0.0.1
port $port
save ""
appendonly no
daemonize no
pidfile $s_run/redis.pid
logfile $s_run/redis.log
dir $s_run
EOF
        t_start=$(now_ms)
        prof_run "$s_cfg" "$s_out" "$SERVER" "$s_run/redis.conf" >"$s_run/prof.log" 2>&1 &
        job=$!
        jobs_started="$jobs_started $job"
        deadline=$((t_start + START_TIMEOUT * 1000))
        while :; do
            if [ -s "$s_run/redis.pid" ] &&
                [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ]; then
                rpid=$(cat "$s_run/redis.pid")
                return 0
            fi
            alive "$job" || break
            if [ "$(now_ms)" -gt "$deadline" ]; then
                hang "$s_cfg: no PONG after $START_TIMEOUT s"
                return 1
            fi
            sleep 0.05
        done
        wait "$job" 2>/dev/null
        if grep -q 'Address already in use' "$s_run/redis.log" 2>/dev/null && [ "$tries" -lt 5 ]; then
            continue
        fi
        echo "redis bench: CRASH: $s_cfg: the server exited at start; log:" >&2
        tail -n 5 "$s_run/redis.log" "$s_run/prof.log" 2>/dev/null | sed 's/^/    /' >&2
        crashed=1
        return 1
    done
}

# hang MESSAGE: reports a hang, kills prof_run's job and its tree, marks the run crashed.
hang() {
    echo "redis bench: HANG: $1" >&2
    kill_tree "$job"
    wait "$job" 2>/dev/null
    crashed=1
}

# stop_server CONFIG: SIGTERM to redis-server, then waits for prof_run's job (heaptrack's
# script waits for its interpreter). Sets t_stop (ms). Returns 1 on a hang or a bad status.
stop_server() {
    kill -TERM "$rpid" 2>/dev/null
    deadline=$(($(now_ms) + STOP_TIMEOUT * 1000))
    while alive "$job"; do
        if [ "$(now_ms)" -gt "$deadline" ]; then
            hang "$1: still running $STOP_TIMEOUT s after SIGTERM"
            return 1
        fi
        sleep 0.05
    done
    wait "$job"
    st=$?
    t_stop=$(now_ms)
    if [ "$st" -ne 0 ]; then
        echo "redis bench: CRASH: $1: exit status $st after SIGTERM" >&2
        crashed=1
        return 1
    fi
    return 0
}

# bench_once PORT LOG: one fixed-work redis-benchmark run; its --csv output in LOG.
# pin_server PID: every thread of redis-server on CPU 1 (REDIS_PIN=1); redis-benchmark runs on
# CPU 0 (BENCH_PREFIX). Without pinning the scheduler's placement (server and client on one
# core or on two, migrations) moves CPU per request by up to +-20% from run to run.
pin_server() {
    [ "$PIN" = 1 ] || return 0
    taskset -a -p -c 1 "$1" >/dev/null 2>&1 || echo "redis bench: warning: taskset failed on $1" >&2
}

# In the background and waited for, so that a signal to this script is handled at once.
bench_once() {
    $BENCH_PREFIX timeout "$RUN_TIMEOUT" "$BENCHMARK" -h 127.0.0.1 -p "$1" -t "$TESTS" -d 256 -n "$REQUESTS" \
        -r "$KEYSPACE" -c "$CLIENTS" -P "$PIPELINE" --csv >"$2" 2>&1 &
    b_pid=$!
    jobs_started="$jobs_started $b_pid"
    wait "$b_pid"
}

# wait_quiet ROOT: polls the tree's CPU until it uses under 1% of a core over 0.25 s (at
# most 60 s), so that work still queued after the benchmark (heaptrack's interpreter) counts.
wait_quiet() {
    q_prev=$(tree_cpu_ns "$1")
    q_end=$(($(now_ms) + 60000))
    while [ "$(now_ms)" -lt "$q_end" ]; do
        sleep 0.25
        q_now=$(tree_cpu_ns "$1")
        [ $((q_now - q_prev)) -lt 2500000 ] && break
        q_prev=$q_now
    done
}

dir_bytes() {
    find "$1" -type f -printf '%s\n' 2>/dev/null | awk '{s += $1} END {printf "%.0f\n", s}'
}

# run_one CONFIG ROUND: a fresh server, one benchmark run, one result line in $tmp/res.CONFIG:
# round cpu_ns requests rps hwm_kib out_bytes life_ms
run_one() {
    cfg=$1; r=$2
    out=$tmp/out/$cfg.$r
    run=$tmp/run/$cfg.$r
    start_server "$cfg" "$out" "$run" || return 1
    pin_server "$rpid"
    c0=$(tree_cpu_ns "$job")
    if ! bench_once "$port" "$run/bench.csv"; then
        echo "redis bench: CRASH or HANG: $cfg round $r: redis-benchmark failed; output:" >&2
        tr '\r' '\n' <"$run/bench.csv" | tail -n 5 | sed 's/^/    /' >&2
        tail -n 5 "$run/redis.log" 2>/dev/null | sed 's/^/    /' >&2
        crashed=1
        alive "$rpid" && stop_server "$cfg"
        return 1
    fi
    wait_quiet "$job"
    c1=$(tree_cpu_ns "$job")
    hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$rpid/status" 2>/dev/null)
    stop_server "$cfg" || return 1
    record "res.$cfg" "$r" "$((c1 - c0))" "$run/bench.csv" "$hwm" "$out" "$((t_stop - t_start))"
    printf '  round %2d %-16s %s\n' "$r" "$cfg" "$(describe "res.$cfg")"
    return 0
}

# record FILE ROUND CPU_NS BENCH_CSV HWM_KIB OUTDIR LIFE_MS: appends a result line to $tmp/FILE
# (round cpu_ns requests rps hwm_kib out_bytes life_ms) and removes OUTDIR (dumps can be large).
record() {
    rps=$(awk -F'"' -v n="$REQUESTS" 'NF >= 4 && $4 + 0 > 0 {t += n / $4; c++}
        END {if (c) printf "%.0f\n", c * n / t; else print "nan"}' "$4")
    bytes=$(dir_bytes "$6")
    echo "$2 $3 $((NTESTS * REQUESTS)) $rps ${5:-nan} $bytes $7" >>"$tmp/$1"
    rm -rf "$6"
}

# describe FILE: the last result line of $tmp/FILE, for the progress log.
describe() {
    tail -n 1 "$tmp/$1" | awk '{printf "%7.2f us/req %8s req/s  VmHWM %6.1f MiB  wrote %9d B",
        $2 / 1000 / $3, $4, $5 / 1024, $6}'
}

# size_log DIR SECONDS LOG: every second, "ms_since_start bytes_in_DIR" into LOG, for SECONDS.
size_log() {
    l_t0=$(now_ms)
    while :; do
        l_t=$(($(now_ms) - l_t0))
        echo "$l_t $(dir_bytes "$1")" >>"$3"
        [ "$l_t" -ge $(($2 * 1000)) ] && break
        sleep 1
    done
}

snapshots_in() {
    for f in "$1"/*.hsd; do
        [ -e "$f" ] && "$heapscope_cli" info "$f" 2>/dev/null | sed -n 's/^snapshots: \([0-9]*\).*/\1/p'
    done | awk '{s += $1} END {print s + 0}'
}

# ---------------------------------------------------------------------------------------------

active=""
for cfg in $CONFIGS; do
    if prof_available "$cfg"; then
        active="$active $cfg"
    else
        echo "redis bench: skipping '$cfg' (not available here)" >&2
    fi
done
has() { case " $active " in *" $1 "*) return 0 ;; esac; return 1; }

echo "== redis: $("$SERVER" --version | cut -d' ' -f3,6), redis-benchmark -t $TESTS -d 256" \
    "-n $REQUESTS -r $KEYSPACE -c $CLIENTS -P $PIPELINE over 127.0.0.1 per run, fresh server each run"
echo "host: $(nproc) cpus, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)," \
    "$(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
t_begin=$(now_ms)

# The idle server sits idle in the background from now on.
idle_ok=0
if has hs_default && [ "$IDLE_SECONDS" -gt 0 ]; then
    if start_server hs_default "$tmp/idle/out" "$tmp/idle/run"; then
        idle_job=$job; idle_rpid=$rpid
        # A server that has worked and then sits idle: a short burst first, so that the dump
        # exists (heapscope creates it at the first sampled allocation) and holds a snapshot.
        # heapscope writes the file with its first snapshot, due 1 s after the start and
        # written at the next sampled allocation: bursts until it is there (at most 10).
        w=0
        while [ "$(snapshots_in "$tmp/idle/out")" -lt 1 ] && [ "$w" -lt 10 ]; do
            w=$((w + 1))
            timeout "$RUN_TIMEOUT" "$BENCHMARK" -h 127.0.0.1 -p "$port" -t "$TESTS" -d 256 -n 2000 \
                -r "$KEYSPACE" -c "$CLIENTS" -P 1 --csv >"$tmp/idle/run/warmup.csv" 2>&1 || {
                echo "redis bench: CRASH or HANG: idle server's warm-up failed" >&2
                crashed=1
                break
            }
        done
        idle_warmups=$w
        idle_snap0=$(snapshots_in "$tmp/idle/out")
        size_log "$tmp/idle/out" "$IDLE_SECONDS" "$tmp/idle/sizes" &
        idle_logger=$!
        jobs_started="$jobs_started $idle_logger"
        idle_ok=1
    fi
fi

# Full rounds.
r=1
while [ "$r" -le "$ROUNDS" ]; do
    for cfg in $active; do
        if [ "$r" -gt "$SLOW_ROUNDS" ]; then
            case " $SLOW_CONFIGS " in *" $cfg "*) continue ;; esac
        fi
        run_one "$cfg" "$r"
    done
    r=$((r + 1))
done

# ratios CONFIG BASE: per-round ratio of CPU per request, CONFIG over BASE, same round.
ratios() {
    [ -s "$tmp/res.$1" ] && [ -s "$tmp/res.$2" ] || return 0
    awk 'NR == FNR {b[$1] = $2 / $3; next} ($1 in b) && b[$1] > 0 {printf "%.6f\n", ($2 / $3) / b[$1]}' \
        "$tmp/res.$2" "$tmp/res.$1"
}

# median_ci < values: "n median lo hi min max": lo/hi the distribution-free 95% confidence
# interval of the median (order statistics k and n+1-k, k the largest with
# P(Binomial(n, 1/2) < k) <= 0.025); lo = hi = nan when n < 6 (no such k).
median_ci() {
    sort -g | awk '{v[++n] = $1}
        END {
            if (n == 0) { print "0 nan nan nan nan nan"; exit }
            med = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
            k = 0; cum = 0; p = 0.5 ^ n; c = 1
            for (i = 0; i < n; i++) {
                cum += c * p                  # P(X <= i)
                if (cum <= 0.025) k = i + 1; else break
                c = c * (n - i) / (i + 1)
            }
            if (k >= 1) printf "%d %.6f %.6f %.6f %.6f %.6f\n", n, med, v[k], v[n + 1 - k], v[1], v[n]
            else printf "%d %.6f nan nan %.6f %.6f\n", n, med, v[1], v[n]
        }'
}

# stats_of CONFIG BASE: sets stats to median_ci's line for the per-round ratios.
stats_of() {
    stats=$(ratios "$1" "$2" | median_ci)
}

# Extra rounds of none and hs_default alone (order alternating) until the median ratio's 95% CI
# is within +-3% (at least 6 rounds in all: fewer cannot give a 95% interval; at most
# MAX_ROUNDS, the full rounds included).
converged=no
if has none && has hs_default; then
    fails=0
    while :; do
        stats_of hs_default none
        # shellcheck disable=SC2086 # split the fields on purpose
        set -- $stats
        if [ "$3" != nan ] && awk -v m="$2" -v lo="$3" -v hi="$4" 'BEGIN {exit !((hi - lo) / 2 < 0.03 * m)}'; then
            converged=yes
            break
        fi
        [ "$1" -ge "$MAX_ROUNDS" ] && break
        if [ $((r % 2)) -eq 0 ]; then
            run_one none "$r" || fails=$((fails + 1))
            run_one hs_default "$r" || fails=$((fails + 1))
        else
            run_one hs_default "$r" || fails=$((fails + 1))
            run_one none "$r" || fails=$((fails + 1))
        fi
        [ "$fails" -ge 3 ] && break
        r=$((r + 1))
    done
fi
pair_rounds=$(ratios hs_default none | wc -l)

# Dump growth under load: back-to-back benchmark runs against one hs_default server.
load_ok=0
if has hs_default && [ "$LOAD_SECONDS" -gt 0 ]; then
    echo "  load: hs_default under back-to-back redis-benchmark runs for $LOAD_SECONDS s"
    if start_server hs_default "$tmp/load/out" "$tmp/load/run"; then
        load_snap0=$(snapshots_in "$tmp/load/out")
        (
            i=0
            while :; do
                i=$((i + 1))
                bench_once "$port" "$tmp/load/run/bench.$i.csv" || {
                    echo "redis bench: load: redis-benchmark run $i failed" >&2
                    exit 1
                }
                rm -f "$tmp/load/run/bench.$i.csv"
                echo "$i" >"$tmp/load/run/count"
            done
        ) &
        load_loop=$!
        jobs_started="$jobs_started $load_loop"
        size_log "$tmp/load/out" "$LOAD_SECONDS" "$tmp/load/sizes"
        if alive "$load_loop"; then
            kill_tree "$load_loop"
            wait "$load_loop" 2>/dev/null
        else
            crashed=1 # the loop never ends on its own
        fi
        load_runs=$(cat "$tmp/load/run/count" 2>/dev/null || echo 0)
        load_snap1=$(snapshots_in "$tmp/load/out")
        load_records=$("$heapscope_cli" info "$tmp/load/out"/*.hsd 2>/dev/null | sed -n 's/^records: //p')
        stop_server "load hs_default" && load_ok=1
    fi
fi

# The idle server: the rest of its idle time, then stop.
if [ "$idle_ok" = 1 ]; then
    wait "$idle_logger"
    idle_snap1=$(snapshots_in "$tmp/idle/out")
    idle_records=$("$heapscope_cli" info "$tmp/idle/out"/*.hsd 2>/dev/null | sed -n 's/^records: //p')
    job=$idle_job; rpid=$idle_rpid
    stop_server "idle hs_default" || idle_ok=0
    idle_final=$(dir_bytes "$tmp/idle/out")
fi
t_end=$(now_ms)

# --------------------------------------------------------------------------------------------
# Tables.

num() { awk -v x="$1" 'BEGIN {exit !(x != "nan" && x != "")}'; }

label() {
    case $1 in
    none) echo "no profiler (redis's own jemalloc)" ;;
    jemalloc) echo "jemalloc preloaded (the one redis links: same as none)" ;;
    tcmalloc) echo "tcmalloc alone (replaces redis's jemalloc)" ;;
    hs_default) echo "heapscope, default rate (512 KiB), on redis's jemalloc" ;;
    heaptrack) echo "heaptrack (every allocation; interpreter + zstd CPU counted)" ;;
    *) prof_label "$1" ;;
    esac
}

echo
echo "== results: redis (tests/bench/redis.sh)"
echo
echo "redis-server $("$SERVER" --version | cut -d' ' -f3 | sed 's/v=//') (Debian, links libjemalloc.so.2)," \
    "redis-benchmark -t $TESTS -d 256 -n $REQUESTS -r $KEYSPACE -c $CLIENTS -P $PIPELINE (=$((NTESTS * REQUESTS)) requests)" \
    "over 127.0.0.1$([ "$PIN" = 1 ] && echo ", server pinned to CPU 1 and benchmark to CPU 0"), a fresh server per run, $ROUNDS interleaved rounds (gperf_heap: $SLOW_ROUNDS)," \
    "none and hs_default: $pair_rounds rounds (the targets)." \
    "Server CPU = run time of the server's whole process tree (all threads) during the run, per request."
echo
echo "| configuration | server CPU us/request, median (min-max) | vs none (min-max) | vs baseline (min-max) | req/s | VmHWM MiB | output bytes/min | rounds |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for cfg in $active; do
    [ -s "$tmp/res.$cfg" ] || { echo "| $(label "$cfg") | crashed | | | | | | 0 |"; continue; }
    base=$(prof_baseline "$cfg")
    cpu=$(awk '{printf "%.6f\n", $2 / $3 / 1000}' "$tmp/res.$cfg" | median_ci)
    vs_none=$(ratios "$cfg" none | median_ci)
    if [ "$base" = none ] || ! has "$base"; then
        vs_base="-"
    else
        vs_base=$(ratios "$cfg" "$base" | median_ci | awk '$1 > 0 {printf "%.3f (%.3f-%.3f) vs %s\n", $2, $5, $6, b}' b="$base")
    fi
    rps=$(awk '{print $4}' "$tmp/res.$cfg" | median_ci | awk '{printf "%.0f", $2}')
    hwm=$(awk '{print $5}' "$tmp/res.$cfg" | median_ci | awk '{printf "%.1f", $2 / 1024}')
    bpm=$(awk '$7 > 0 {printf "%.0f\n", $6 * 60000 / $7}' "$tmp/res.$cfg" | median_ci | awk '{printf "%.0f", $2}')
    echo "$cpu" "$vs_none" | awk -v l="$(label "$cfg")" -v vb="$vs_base" -v rps="$rps" -v hwm="$hwm" -v bpm="$bpm" '{
        vn = ($7 > 0) ? sprintf("%.3f (%.3f-%.3f)", $8, $11, $12) : "n/a"
        printf "| %s | %.2f (%.2f-%.2f) | %s | %s | %s | %s | %s | %d |\n", l, $2, $5, $6, vn, vb, rps, hwm, bpm, $1 }'
done
echo
echo "vs baseline: the same allocator without the profiler (prof_baseline), round by round; \"-\" where" \
    "that is none. Output bytes/min: what the profiler wrote over the server's life (a few seconds;" \
    "heapscope's snapshots come after 1, 2, 4 ... s, so this overstates its steady rate: see dump growth)."

# Dump growth: growth LOG SNAPS_AT_START: "first_ms first_bytes end_ms end_bytes per_hour
# steady_per_hour steady_from_ms steady_to_ms writes" (the first snapshot is in the file at
# the start when SNAPS_AT_START >= 1, else it is the first change of size).
growth() {
    awk -v s0="$2" '
        {t[NR] = $1; b[NR] = $2}
        END {
            n = NR; fi = 1
            if (s0 < 1) { for (i = 2; i <= n; i++) if (b[i] != b[i - 1]) { fi = i; break } }
            # change points: times at which the size changed
            m = 0; for (i = 2; i <= n; i++) if (b[i] != b[i - 1]) { m++; ct[m] = t[i]; cb[m] = b[i]; pb[m] = b[i - 1] }
            dt = t[n] - t[fi]
            ph = (dt > 0) ? (b[n] - b[fi]) * 3600000 / dt : 0
            # steady: from the change before the first gap of >= 25 s to the last change
            st = "nan"; sf = "nan"; stt = "nan"
            for (j = 2; j <= m; j++) if (ct[j] - ct[j - 1] >= 25000) {
                if (m > j - 1 && ct[m] > ct[j - 1]) {
                    st = (cb[m] - cb[j - 1]) * 3600000 / (ct[m] - ct[j - 1]); sf = ct[j - 1]; stt = ct[m]
                }
                break
            }
            w = ""; for (j = 1; j <= m; j++) w = w sprintf("%s%.0fs:+%d", (j > 1 ? ", " : ""), ct[j] / 1000, cb[j] - pb[j])
            printf "%d %d %d %d %.0f %s %s %s %s\n", t[fi], b[fi], t[n], b[n], ph, st, sf, stt, (w == "" ? "none" : w)
        }' "$1"
}
mibh() { awk -v x="$1" 'BEGIN {if (x == "nan") print "n/a"; else if (x < 1048576) printf "%.1f KiB/h", x / 1024; else printf "%.2f MiB/h", x / 1048576}'; }

echo
echo "dump growth, heapscope at the default rate and interval (30 s; the first snapshots after 1, 2, 4 ... s):"
echo
echo "| server | measured over | snapshots (start-end) | dump bytes (from first snapshot-end) | growth per hour | size changes (time since start: bytes added) |"
echo "|---|---:|---:|---:|---:|---|"
idle_ph=nan; load_ph=nan; load_steady=nan
if [ "$idle_ok" = 1 ] && [ -s "$tmp/idle/sizes" ]; then
    g=$(growth "$tmp/idle/sizes" "$idle_snap0")
    # shellcheck disable=SC2086 # split the fields on purpose
    set -- $g
    idle_ph=$5
    over=$((($3 - $1) / 1000))
    shift 8
    echo "| idle | $over s | $idle_snap0-$idle_snap1 | $(sed -n 1p "$tmp/idle/sizes" | cut -d' ' -f2)-$(tail -n 1 "$tmp/idle/sizes" | cut -d' ' -f2) | $(mibh "$idle_ph") | $* |"
fi
if [ "$load_ok" = 1 ] && [ -s "$tmp/load/sizes" ]; then
    g=$(growth "$tmp/load/sizes" "$load_snap0")
    # shellcheck disable=SC2086 # split the fields on purpose
    set -- $g
    load_ph=$5; load_steady=$6; sf=$(awk -v x="$7" 'BEGIN {printf "%.0f", x / 1000}'); stt=$(awk -v x="$8" 'BEGIN {printf "%.0f", x / 1000}')
    over=$((($3 - $1) / 1000))
    first=$2; last=$4
    shift 8
    echo "| under load ($load_runs benchmark runs) | $over s | $load_snap0-$load_snap1 | $first-$last | $(mibh "$load_ph") (steady, $sf-$stt s: $(mibh "$load_steady")) | $* |"
fi
echo
[ "$idle_ok" = 1 ] && echo "idle server: $idle_warmups warm-up burst(s) of $((NTESTS * 2000)) requests before the idle time;" \
    "dump records at its end: ${idle_records:-none (no dump yet)}; $idle_final bytes after the exit snapshot"
[ "$load_ok" = 1 ] && echo "loaded dump records at the end: ${load_records:-?}"

# Targets.
echo
echo "| target (heapscope at the default rate, redis) | measured | result |"
echo "|---|---:|:---:|"
verdict() { if [ "$2" = 0 ]; then echo "n/a"; elif [ "$1" = 1 ]; then echo PASS; else echo MISS; fi; }
stats_of hs_default none
# shellcheck disable=SC2086 # split the fields on purpose
set -- $stats
if [ "$1" -gt 0 ]; then
    ok=$(awk -v m="$2" 'BEGIN {print (m <= 1.02) ? 1 : 0}')
    echo "| server CPU per request <= 1.02 x none | $(awk -v m="$2" -v lo="$3" -v hi="$4" -v a="$5" -v b="$6" -v n="$1" 'BEGIN {
        printf "%.3f (median of %d rounds; 95%% CI of the median %s; min-max %.3f-%.3f)", m, n,
            (lo == "nan") ? "n/a under 6 rounds" : sprintf("%.3f-%.3f", lo, hi), a, b }') | $(verdict "$ok" 1)$(awk -v lo="$3" -v hi="$4" 'BEGIN {if (lo == "nan" || (lo <= 1.02 && hi > 1.02)) printf " (unresolved: the interval spans 1.02)"}') |"
    if [ "$converged" = yes ]; then
        echo "| that ratio known to +-3% (95% CI of the median within +-3%) | $(awk -v m="$2" -v lo="$3" -v hi="$4" 'BEGIN {printf "+-%.1f%%", (hi - lo) / 2 / m * 100}') after $1 rounds (min-max of all: $(awk -v m="$2" -v a="$5" -v b="$6" 'BEGIN {printf "+-%.1f%%", (b - a) / 2 / m * 100}')) | PASS |"
    else
        echo "| that ratio known to +-3% (95% CI of the median within +-3%) | not reached in $1 rounds (REDIS_MAX_ROUNDS=$MAX_ROUNDS)$(awk -v m="$2" -v lo="$3" -v hi="$4" 'BEGIN {if (lo != "nan") printf ": +-%.1f%%", (hi - lo) / 2 / m * 100}') | MISS |"
    fi
else
    echo "| server CPU per request <= 1.02 x none | not measured | n/a |"
fi
k=0; num "$idle_ph" && k=1
echo "| idle dump growth <= 1 MiB/h | $(mibh "$idle_ph") (from ${IDLE_SECONDS} s idle) | $(verdict "$(awk -v x="$idle_ph" 'BEGIN {print (x <= 1048576) ? 1 : 0}')" "$k") |"
if num "$load_steady"; then lg=$load_steady; how="steady rate at the full interval"; else lg=$load_ph; how="from the first snapshot, ramp included"; fi
k=0; num "$lg" && [ "$load_ok" = 1 ] && k=1
echo "| dump growth under load <= 10 MiB/h | $(mibh "$lg") ($how; ${LOAD_SECONDS} s of load) | $(verdict "$(awk -v x="$lg" 'BEGIN {print (x <= 10485760) ? 1 : 0}')" "$k") |"
if [ -s "$tmp/res.hs_default" ] && [ -s "$tmp/res.none" ]; then
    hd=$(awk '{print $5}' "$tmp/res.hs_default" | median_ci | cut -d' ' -f2)
    hn=$(awk '{print $5}' "$tmp/res.none" | median_ci | cut -d' ' -f2)
    ok=$(awk -v a="$hd" -v b="$hn" 'BEGIN {print ((a - b) / 1024 <= 8) ? 1 : 0}')
    echo "| RSS overhead <= 8 MiB (VmHWM of redis-server, medians of all runs) | $(awk -v a="$hd" -v b="$hn" 'BEGIN {printf "%+.1f MiB (%.1f vs %.1f)", (a - b) / 1024, a / 1024, b / 1024}') | $(verdict "$ok" 1) |"
fi
echo
echo "redis.sh took $(((t_end - t_begin) / 1000)) s"

if [ "$crashed" != 0 ]; then
    echo "redis bench: at least one run crashed or hung (see above)" >&2
    exit 1
fi
exit 0
