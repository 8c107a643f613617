#!/bin/sh
# cpuprof_overhead.sh - what a 100 Hz live CPU profile costs a CPU-bound
# program (issue 9's target: < 2%). Runs `cpu_burn --work N` (one thread, N
# million dependent multiply-adds, no allocation) under the library with the
# live service on, alternately without a profile and with a 300-second
# /debug/pprof/profile covering the whole work (the work starts once the
# program's SIGPROF timers exist), RUNS times each, and prints the median
# process CPU time of each and the overhead. A report, not an assertion:
# exits non-zero only when a run fails. Usage (from the repository root):
#   BUILD=build sh tests/bench/cpuprof_overhead.sh [MILLIONS] [RUNS]
# (default 1500 million iterations, about 2.5 s of CPU, and 5 runs).
set -eu
BUILD=${BUILD:-build}
case $BUILD in /*) B=$BUILD ;; *) B=$(pwd)/$BUILD ;; esac
LIB=$B/libheapscope.so
PROG=$B/progs/cpu_burn
MILLIONS=${1:-1500}
RUNS=${2:-5}
for f in "$LIB" "$PROG"; do
    [ -e "$f" ] || { echo "cpuprof_overhead: $f missing (make all progs)" >&2; exit 1; }
done
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT INT TERM
for v in $(env | sed -n 's/^\(HEAPSCOPE_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done
export HEAPSCOPE_OUTPUT="$W/dump.%p.hsd"

# wait_for SECONDS CMD...: polls CMD every 10 ms.
wait_for() {
    n=$(($1 * 100)); shift
    until "$@"; do
        n=$((n - 1))
        [ "$n" -gt 0 ] || return 1
        sleep 0.01
    done
}
has_url() { grep -q "live service on http://" "$W/err" 2>/dev/null; }
has_timers() { grep -q '^signal: 27/' "/proc/$pid/timers"; }

# run MODE: one run (MODE plain or profiled); appends its cpu_ns to $W/MODE.
run() {
    rm -f "$W/in" "$W/err" "$W/out"
    mkfifo "$W/in"
    HEAPSCOPE_HTTP=127.0.0.1:0 LD_PRELOAD=$LIB "$PROG" --work "$MILLIONS" <"$W/in" >"$W/out" 2>"$W/err" &
    pid=$!
    exec 4>"$W/in"
    wait_for 10 has_url || { echo "cpuprof_overhead: no live service line" >&2; exit 1; }
    url=$(sed -n 's|.*live service on \(http://[^ ]*[^/ ]\)/* .*|\1|p' "$W/err" | head -n 1)
    cpid=
    if [ "$1" = profiled ]; then
        curl -s -o /dev/null "$url/debug/pprof/profile?seconds=300" &
        cpid=$!
        wait_for 10 has_timers || { echo "cpuprof_overhead: the profile did not start" >&2; exit 1; }
    fi
    echo go >&4
    exec 4>&-
    wait "$pid" || { echo "cpuprof_overhead: cpu_burn failed" >&2; exit 1; }
    [ -z "$cpid" ] || wait "$cpid" || : # the answer ends with the process
    sed -n 's/^cpu_ns \([0-9]*\) .*/\1/p' "$W/out" >>"$W/$1"
}
median() { sort -n "$1" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

i=0
while [ "$i" -lt "$RUNS" ]; do
    run plain
    run profiled
    i=$((i + 1))
done
p=$(median "$W/plain")
q=$(median "$W/profiled")
echo "cpu_burn --work $MILLIONS, $RUNS runs each, median process CPU time:"
echo "  without a profile: $(awk -v n="$p" 'BEGIN { printf "%.3f s", n / 1e9 }')"
echo "  100 Hz profile:    $(awk -v n="$q" 'BEGIN { printf "%.3f s", n / 1e9 }')"
awk -v p="$p" -v q="$q" 'BEGIN { printf "  overhead: %+.2f%% (target < 2%%)\n", (q - p) * 100 / p }'
echo "  runs (ns): without $(tr '\n' ' ' <"$W/plain")"
echo "             with    $(tr '\n' ' ' <"$W/profiled")"
