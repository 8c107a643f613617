#!/bin/sh
# live_cpu.sh - the live service's CPU profile and thread dump
# (interposer/live_cpu.c, interposer/cpuprof.c): a 3-second profile of a
# program burning CPU in two functions 3:1 on two threads gives each its
# share within +-10% (go tool pprof); a concurrent second profile is refused
# (409/429); no timer is left behind; bad ?seconds= is 400; the thread dump
# (?debug=2, ?debug=1, pprof) lists every thread with its stack, within the
# bound although one thread is blocked in read(2) and one blocks SIGPROF; a
# program with its own SIGPROF handler gets 409 for both and its own checks
# pass. Run from the repository root.
T=live_cpu
# shellcheck disable=SC1091 # sourced from the repository root
. tests/lib.sh
need "$LIB" "$PROGS/cpu_burn" "$PROGS/sigprof_owner"
command -v curl >/dev/null || fail "curl missing (scripts/deps.sh)"
command -v go >/dev/null || fail "go missing (scripts/deps.sh: golang-go, for go tool pprof)"
for v in $(env | sed -n 's/^\(HEAPSCOPE_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done
new_workdir
export HEAPSCOPE_OUTPUT="$W/dump.%p.hsd"
export HOME="$W" GOCACHE="$W/gocache" # go tool pprof writes nothing elsewhere

# start NAME PROG [ARGS]: runs PROG under the library with the live service
# on a free loopback port and stdin on fd 4 (closing fd 4 ends its work);
# its pid in $pid, its URL in $url, stderr in $W/NAME.err.
start() {
    name=$1; shift
    mkfifo "$W/$name.in"
    HEAPSCOPE_HTTP=127.0.0.1:0 LD_PRELOAD=$LIB "$@" <"$W/$name.in" >"$W/$name.out" 2>"$W/$name.err" &
    pid=$!
    BG="$BG $pid"
    exec 4>"$W/$name.in"
    url=$(live_url "$W/$name.err") || fail "$name: no 'live service on' line: $(cat "$W/$name.err")"
}
# finish NAME: ends the work, waits, wants exit status 0.
finish() {
    exec 4>&-
    st=0
    wait "$pid" || st=$?
    [ "$st" = 0 ] || fail "$1: exit status $st: $(cat "$W/$1.out") $(tail -n 3 "$W/$1.err")"
}
# get PATH OUT: GET url/PATH into OUT; prints the HTTP status.
get() { curl -s -o "$2" -w '%{http_code}' --max-time 20 "$url/$1"; }
# sigprof_timers PID: the POSIX timers of PID that deliver SIGPROF (27).
sigprof_timers() { grep -c '^signal: 27/' "/proc/$1/timers" || :; }
no_sigprof_timers() { [ "$(sigprof_timers "$1")" = 0 ]; }

start burn "$PROGS/cpu_burn" --masked

check "bad ?seconds= is 400"
for s in 0 301 abc -1; do
    [ "$(get "debug/pprof/profile?seconds=$s" "$W/bad")" = 400 ] || fail "seconds=$s is not 400: $(cat "$W/bad")"
done

check "two concurrent 3-second profiles: one 200, the other 409/429 with a reason"
curl -s -o "$W/p1.pb.gz" -w '%{http_code}' --max-time 20 "$url/debug/pprof/profile?seconds=3" >"$W/p1.code" &
c1=$!
curl -s -o "$W/p2.pb.gz" -w '%{http_code}' --max-time 20 "$url/debug/pprof/profile?seconds=3" >"$W/p2.code" &
c2=$!
wait "$c1" || fail "curl of the first profile failed"
wait "$c2" || fail "curl of the second profile failed"
codes="$(cat "$W/p1.code") $(cat "$W/p2.code")"
case $codes in
"200 409" | "200 429") prof=$W/p1.pb.gz busy=$W/p2.pb.gz ;;
"409 200" | "429 200") prof=$W/p2.pb.gz busy=$W/p1.pb.gz ;;
*) fail "two concurrent profiles answered $codes, want one 200 and one 409/429" ;;
esac
grep -q "already running" "$busy" || fail "the refused profile says: $(cat "$busy")"
wait_until 5 no_sigprof_timers "$pid" || fail "$(sigprof_timers "$pid") SIGPROF timers left after the profile"

check "the profile: samples/count and cpu/nanoseconds, period 10 ms; f_three:f_one = 3:1 within +-10%"
go tool pprof -raw "$prof" >"$W/raw" 2>&1 || fail "go tool pprof -raw: $(tail -n 3 "$W/raw")"
grep -q '^PeriodType: cpu nanoseconds' "$W/raw" || fail "period type: $(grep PeriodType "$W/raw")"
grep -q '^Period: 10000000' "$W/raw" || fail "period: $(grep '^Period:' "$W/raw")"
grep -q '^ *samples/count cpu/nanoseconds' "$W/raw" || fail "sample types: $(sed -n '/^Samples:/{n;p}' "$W/raw")"
go tool pprof -top -sample_index=samples "$prof" >"$W/top" 2>&1 || fail "go tool pprof -top: $(tail -n 3 "$W/top")"
# cum: f_three's loop reads the thread's CPU clock, which is a call.
three=$(awk '$6 == "f_three" { print $4 }' "$W/top")
one=$(awk '$6 == "f_one" { print $4 }' "$W/top")
{ [ -n "$three" ] && [ -n "$one" ]; } || fail "f_three or f_one missing from the profile: $(cat "$W/top")"
total=$(awk '/^Showing nodes/ { print $(NF - 1) }' "$W/top")
note "f_three $three, f_one $one samples of $total in 3 s"
# 3 s of f_three's thread and 1 s of f_one's at 100 Hz: ~400 (fewer on a
# loaded machine, where the threads get less CPU; the shares hold).
[ $((three + one)) -ge 120 ] || fail "only $((three + one)) samples in f_three and f_one in 3 s (~400 expected)"
# shares x1000: 750 +- 75 and 250 +- 25
s3=$((three * 1000 / (three + one)))
s1=$((one * 1000 / (three + one)))
{ [ "$s3" -ge 675 ] && [ "$s3" -le 825 ]; } || fail "f_three has $s3/1000 of the samples, want 750 +- 75"
{ [ "$s1" -ge 225 ] && [ "$s1" -le 275 ]; } || fail "f_one has $s1/1000 of the samples, want 250 +- 25"

check "goroutine?debug=2: every thread, its name, state and stack; the masked one reported; within the bound"
t=$(curl -s -o "$W/dump2" -w '%{time_total}' --max-time 10 "$url/debug/pprof/goroutine?debug=2") ||
    fail "goroutine?debug=2 failed"
awk -v t="$t" 'BEGIN { exit !(t < 2.0) }' || fail "goroutine?debug=2 took $t s, want < 2 (1 s bound)"
# The threads but the service's own (heapscope-http).
nthreads=0
for task in /proc/"$pid"/task/*; do
    [ "$(cat "$task/comm")" = heapscope-http ] || nthreads=$((nthreads + 1))
done
[ "$(grep -c '^thread ' "$W/dump2")" = "$nthreads" ] ||
    fail "the dump lists $(grep -c '^thread ' "$W/dump2") threads, want $nthreads: $(cat "$W/dump2")"
# thread_stack NAME: the frames listed under the thread named NAME.
thread_stack() { awk -v n="\"$1\"" '/^thread / { on = ($3 == n); next } on' "$W/dump2"; }
thread_stack cpu_burn | grep -q ' wait_for_eof+0x' || fail "main thread not in wait_for_eof: $(cat "$W/dump2")"
thread_stack cpu_burn | grep -q ' read+0x\| __libc_read+0x\| __read+0x' || fail "main thread not in read: $(cat "$W/dump2")"
thread_stack burn_three | grep -q ' burn_three+0x' || fail "burn_three's stack: $(thread_stack burn_three)"
thread_stack burn_one | grep -q ' burn_one+0x' || fail "burn_one's stack: $(thread_stack burn_one)"
thread_stack masked | grep -q 'did not answer' || fail "the masked thread: $(thread_stack masked)"
grep -q '^thread [0-9]* "cpu_burn" \[S (sleeping)\]:' "$W/dump2" || fail "main thread's state: $(grep '^thread' "$W/dump2")"
grep -q '^#[0-9]*  0x[0-9a-f]\{16\} f_three+0x[0-9a-f]* (.*cpu_burn)$\|^#0  0x[0-9a-f]\{16\} .*round_over\|pthread_barrier' \
    "$W/dump2" || fail "no eu-stack-like frame line: $(cat "$W/dump2")"

check "goroutine (pprof): opens in go tool pprof, goroutine/count, one per thread; debug=1 counts"
[ "$(get debug/pprof/goroutine "$W/g.pb.gz")" = 200 ] || fail "goroutine: $(cat "$W/g.pb.gz")"
go tool pprof -raw "$W/g.pb.gz" >"$W/graw" 2>&1 || fail "go tool pprof -raw goroutine: $(tail -n 3 "$W/graw")"
grep -q '^PeriodType: goroutine count' "$W/graw" || fail "goroutine period type: $(grep PeriodType "$W/graw")"
go tool pprof -top "$W/g.pb.gz" >"$W/gtop" 2>&1 || fail "go tool pprof -top goroutine"
gtotal=$(awk '/^Showing nodes/ { print $(NF - 1) }' "$W/gtop")
[ "$gtotal" = "$nthreads" ] || fail "goroutine profile counts $gtotal threads, want $nthreads: $(cat "$W/gtop")"
grep -q 'wait_for_eof' "$W/gtop" || fail "goroutine profile lacks wait_for_eof"
grep -q 'thread did not answer' "$W/gtop" || fail "goroutine profile does not count the masked thread"
[ "$(get 'debug/pprof/goroutine?debug=1' "$W/dump1")" = 200 ] || fail "goroutine?debug=1"
grep -q "^goroutine profile: total $nthreads\$" "$W/dump1" || fail "debug=1 header: $(head -n 1 "$W/dump1")"
grep -q "wait_for_eof" "$W/dump1" || fail "debug=1 lacks wait_for_eof"

finish burn
grep -q '^rounds [0-9]' "$W/burn.out" || fail "cpu_burn printed no result"

check "a program with its own SIGPROF handler: 409 with the reason, and its own checks pass"
start owner "$PROGS/sigprof_owner"
[ "$(get 'debug/pprof/profile?seconds=1' "$W/o1")" = 409 ] || fail "profile: $(cat "$W/o1")"
grep -q 'handles SIGPROF itself' "$W/o1" || fail "the 409 says: $(cat "$W/o1")"
[ "$(get 'debug/pprof/goroutine?debug=2' "$W/o2")" = 409 ] || fail "goroutine: $(cat "$W/o2")"
[ "$(sigprof_timers "$pid")" = 0 ] || fail "timers were started in the program that owns SIGPROF"
finish owner
grep -q '^ticks [1-9]' "$W/owner.out" || fail "sigprof_owner: $(cat "$W/owner.out")"
echo "$T: ok"
