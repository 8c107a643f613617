#!/bin/sh
# live.sh - what the live service (HEAPSCOPE_HTTP) costs, called by `make
# bench` (tests/bench/run.sh) after the churn table:
#   - a Prometheus scrape: CPU time of the server thread per GET /metrics
#     (its run time over BENCH_SCRAPES back-to-back scrapes, from
#     /proc/PID/task/TID/schedstat), and what one scrape a second is as a share of
#     one core; and the churn benchmark's CPU time with a scrape every second
#     against without (ratio, median of BENCH_LIVE_RUNS interleaved runs);
#   - serving /debug/pprof/heap of a process holding 10,000 distinct stacks
#     (build/bench/stacks at rate 1): wall time of the request (median of 5)
#     and the extra peak memory (VmHWM after resetting it, minus VmRSS before).
# Prints markdown tables. Knobs: BENCH_SCRAPES (200), BENCH_LIVE_RUNS (3),
# BENCH_LIVE_OPS (100000000 per churn run, 1 thread: about 8 s).
set -u
BUILD=${BUILD:-build}
here=$(pwd)
lib=$here/$BUILD/libheapscope.so
churn=$here/$BUILD/bench/churn
stacks=$here/$BUILD/bench/stacks
SCRAPES=${BENCH_SCRAPES:-200}
RUNS=${BENCH_LIVE_RUNS:-3}
OPS=${BENCH_LIVE_OPS:-100000000}
for f in "$lib" "$churn" "$stacks"; do
    [ -e "$f" ] || { echo "bench: $f missing (run make bench)" >&2; exit 1; }
done
command -v curl >/dev/null || { echo "bench: curl missing" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/heapscope-live.XXXXXX") || exit 1
pids=""
cleanup() {
    for p in $pids; do kill -9 "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

# url_of ERRFILE: the live URL the library logged (waits up to 10 s).
url_of() {
    i=0
    while [ $i -lt 500 ]; do
        u=$(sed -n 's|.*heapscope: live service on \(http://[^ ]*[^/ ]\)/* .*|\1|p' "$1" | head -n 1)
        [ -n "$u" ] && { echo "$u"; return 0; }
        sleep 0.02
        i=$((i + 1))
    done
    return 1
}
# server_ns PID: nanoseconds PID's heapscope-http thread has run on a CPU
# (/proc/PID/task/TID/schedstat, first field: finer than utime's ticks).
server_ns() {
    for t in /proc/"$1"/task/*; do
        if [ "$(cat "$t/comm" 2>/dev/null)" = heapscope-http ]; then
            awk '{print $1}' "$t/schedstat"
            return
        fi
    done
    echo 0
}
median() { sort -n | awk '{v[NR] = $1} END {if (NR) print v[int((NR + 1) / 2)]; else print "nan"}'; }

echo
echo "== live service: the cost of a scrape"
mkfifo "$tmp/in"
HEAPSCOPE_HTTP=127.0.0.1:0 HEAPSCOPE_OUTPUT="$tmp/s.%p.hsd" LD_PRELOAD=$lib "$stacks" -n 2000 \
    <"$tmp/in" >"$tmp/stacks.out" 2>"$tmp/stacks.err" &
spid=$!
pids="$pids $spid"
exec 5>"$tmp/in"
url=$(url_of "$tmp/stacks.err") || { echo "bench: no live URL: $(cat "$tmp/stacks.err")" >&2; exit 1; }
curl -s -o /dev/null "$url/metrics"
t0=$(server_ns "$spid")
start=$(date +%s%N)
i=0
while [ $i -lt "$SCRAPES" ]; do
    curl -s -o "$tmp/metrics.txt" "$url/metrics" || break
    i=$((i + 1))
done
wall_ms=$((($(date +%s%N) - start) / 1000000))
t1=$(server_ns "$spid")
bytes=$(wc -c <"$tmp/metrics.txt")
exec 5>&-
wait "$spid"
awk -v t=$((t1 - t0)) -v n="$SCRAPES" -v w="$wall_ms" -v b="$bytes" 'BEGIN {
    per = t / n / 1e6
    printf "\n| measure | value |\n|---|---:|\n"
    printf "| server thread CPU per /metrics scrape (%d scrapes) | %.3f ms |\n", n, per
    printf "| one scrape a second, share of one core | %.3f %% |\n", per / 10
    printf "| wall time per scrape (curl included) | %.2f ms |\n", w / n
    printf "| /metrics size | %d bytes |\n", b
}'

# churn CPU with and without a scrape a second (interleaved).
churn_cpu() { # MODE: CPU seconds (user+sys) of one churn run
    : >"$tmp/c.err" # exists before url_of reads it (the child opens it later)
    HEAPSCOPE_HTTP=127.0.0.1:0 HEAPSCOPE_OUTPUT="$tmp/c.%p.hsd" LD_PRELOAD=$lib \
        "$churn" -t 1 -n "$OPS" >"$tmp/c.out" 2>"$tmp/c.err" &
    cpid=$!
    if [ "$1" = scrape ]; then
        u=$(url_of "$tmp/c.err")
        while kill -0 "$cpid" 2>/dev/null; do
            curl -s -o /dev/null --max-time 2 "$u/metrics"
            sleep 1
        done
    fi
    # the process's own CPU: churn prints cpu_seconds= (user+sys of the whole process)
    wait "$cpid"
    sed -n 's/.* cpu_seconds=\([0-9.]*\).*/\1/p' "$tmp/c.out"
}
r=0
while [ $r -lt "$RUNS" ]; do
    churn_cpu idle >>"$tmp/cpu.idle"
    churn_cpu scrape >>"$tmp/cpu.scrape"
    r=$((r + 1))
done
idle=$(median <"$tmp/cpu.idle")
scr=$(median <"$tmp/cpu.scrape")
echo
echo "churn (1 thread, $OPS ops) with the live service, CPU seconds, median of $RUNS interleaved runs:"
echo
echo "| configuration | CPU s | ratio |"
echo "|---|---:|---:|"
awk -v a="$idle" -v b="$scr" 'BEGIN {
        printf "| HEAPSCOPE_HTTP, never scraped | %.3f | 1.000 |\n", a
        printf "| HEAPSCOPE_HTTP, /metrics every second | %.3f | %.3f |\n", b, (a > 0 ? b / a : 0) }'

echo
echo "== live service: serving /debug/pprof/heap of 10,000 stacks (rate 1)"
HEAPSCOPE_SAMPLE_RATE=1 HEAPSCOPE_HTTP=127.0.0.1:0 HEAPSCOPE_OUTPUT="$tmp/h.%p.hsd" LD_PRELOAD=$lib \
    "$stacks" -n 10000 <"$tmp/in" >"$tmp/h.out" 2>"$tmp/h.err" &
hpid=$!
pids="$pids $hpid"
exec 5>"$tmp/in"
url=$(url_of "$tmp/h.err") || { echo "bench: no live URL" >&2; exit 1; }
i=0
while ! grep -q ready "$tmp/h.out" && [ $i -lt 500 ]; do sleep 0.02; i=$((i + 1)); done
rss_kib() { sed -n "s/^$2:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$1/status"; }
n=0
while [ $n -lt 5 ]; do
    before=$(rss_kib "$hpid" VmRSS)
    echo 5 >"/proc/$hpid/clear_refs" 2>/dev/null # resets VmHWM to the current RSS
    t=$(curl -s -o "$tmp/heap.pb.gz" -w '%{time_total}' "$url/debug/pprof/heap")
    peak=$(rss_kib "$hpid" VmHWM)
    echo "$t" >>"$tmp/heap.t"
    echo $((peak - before)) >>"$tmp/heap.mem"
    n=$((n + 1))
done
exec 5>&-
wait "$hpid"
samples=$(go tool pprof -raw "$tmp/heap.pb.gz" 2>/dev/null | awk '/^Samples:/ {on = 1; next} /^Locations/ {on = 0} on && /^ *[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+:/ {n++} END {print n + 0}')
awk -v t="$(median <"$tmp/heap.t")" -v m="$(median <"$tmp/heap.mem")" -v s="$samples" \
    -v z="$(wc -c <"$tmp/heap.pb.gz")" 'BEGIN {
    printf "\n| measure | value | target |\n|---|---:|---:|\n"
    printf "| samples in the profile (go tool pprof -raw) | %d | 10000 |\n", s
    printf "| time to serve (curl time_total, median of 5) | %.1f ms | < 100 ms |\n", t * 1000
    printf "| extra peak memory (VmHWM - VmRSS before, median) | %.1f MiB | < 16 MiB |\n", m / 1024
    printf "| profile size (gzipped) | %d bytes | |\n", z
}'
