#!/bin/sh
# heapscope report and the live detector on four corpus programs (tests/leaks/,
# shortened to 8 s): a steady leak is found with the right function, line and
# rate, and the interposer warns while it runs (stderr, HEAPSCOPE_LOG, LEAK
# record); a sawtooth is not a leak; a thread leak is named by the function
# that calls pthread_create; a cache held until exit is listed at exit but is
# not a growth leak; a leak that the program frees at exit is still a leak of
# the running program. make leakeval runs the whole corpus at full length.
set -eu
BUILD=${BUILD:-build}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
LIB="$(pwd)/$BUILD/libheapscope.so"
run() { # NAME RATE [extra env...]
    name=$1 rate=$2
    shift 2
    env HEAPSCOPE_SAMPLE_RATE="$rate" HEAPSCOPE_INTERVAL=0.25 HEAPSCOPE_LEAK_WINDOW=6 HEAPSCOPE_LEAK_THRESHOLD=512K \
        HEAPSCOPE_OUTPUT="$W/$name.hsd" "$@" LD_PRELOAD="$LIB" "$BUILD/leaks/$name" 8 > "$W/$name.out" 2> "$W/$name.err"
}
json() { # NAME PYTHON-EXPRESSION over r (the report)
    "$BUILD/heapscope" report --window 6 --json "$W/$1.hsd" > "$W/$1.json"
    python3 -c "import json,sys; r=json.load(open('$W/$1.json')); print($2)"
}
run leak_steady 32768 &
run ok_sawtooth 262144 HEAPSCOPE_LOG="$W/sawtooth.log" &
wait
run leak_threads 524288 &
run ok_exit_cache 65536 HEAPSCOPE_LOG="$W/cache.log" &
run leak_freed_at_exit 4096 &
wait

echo "check: a steady 1 MiB/s leak is found at its function and line, with its rate"
[ "$(json leak_steady "r['leak']['detected']")" = True ] || fail "leak not detected: $(json leak_steady "r['leak']['reason']")"
[ "$(json leak_steady "r['suspects'][0]['function']")" = remember_upload ] ||
    fail "top suspect: $(json leak_steady "r['suspects'][0]['function']")"
line=$(grep -n 'LEAK: leak_steady' tests/leaks/leak_steady.c | cut -d: -f1)
[ "$(json leak_steady "r['suspects'][0]['line']")" = "$line" ] || fail "suspect line, want $line"
true_rate=$(sed 's/.*leak_rate=\([0-9]*\).*/\1/' "$W/leak_steady.out")
err=$(json leak_steady "round(100 * (r['suspects'][0]['rate_bytes_per_sec'] / $true_rate - 1))")
echo "  suspect rate error: $err% (true rate $true_rate B/s)"
[ "${err#-}" -le 30 ] || fail "rate off by $err%"
set +e
"$BUILD/heapscope" report --fail-on-leak "$W/leak_steady.hsd" > /dev/null; rc=$?
set -e
[ $rc = 3 ] || fail "--fail-on-leak should exit 3 on a leak, got $rc"
"$BUILD/heapscope" help report | grep -q '^exit status: .*3 instead with --fail-on-leak' ||
    fail "report --help does not document exit status 3"

echo "check: the interposer warned while it ran: one stderr line and a LEAK record"
[ "$(grep -c '^heapscope: leak suspected in leak_steady' "$W/leak_steady.err")" = 1 ] ||
    fail "live warning: $(cat "$W/leak_steady.err")"
# remember_upload is static: dladdr cannot name it, the symbol table can.
grep -q '^heapscope: leak suspected in leak_steady.* remember_upload (leak_steady+0x' "$W/leak_steady.err" ||
    fail "live warning does not name remember_upload: $(cat "$W/leak_steady.err")"
"$BUILD/heapscope" info "$W/leak_steady.hsd" | grep -q 'LEAK 1)' || fail "no LEAK record in the dump"

echo "check: a sawtooth is not a leak (report and live detector)"
[ "$(json ok_sawtooth "r['leak']['detected']")" = False ] || fail "sawtooth called a leak"
[ "$(json ok_sawtooth "len(r['suspects'])")" = 0 ] || fail "sawtooth has suspects"
"$BUILD/heapscope" report --fail-on-leak "$W/ok_sawtooth.hsd" > /dev/null || fail "--fail-on-leak on a sawtooth"
[ ! -s "$W/sawtooth.log" ] || fail "live detector warned on a sawtooth: $(cat "$W/sawtooth.log")"
[ ! -s "$W/ok_sawtooth.err" ] || fail "stderr: $(cat "$W/ok_sawtooth.err")"

echo "check: a thread leak is named by the function that creates the threads"
[ "$(json leak_threads "r['threads']['leak_detected']")" = True ] || fail "thread leak not detected"
[ "$(json leak_threads "r['threads']['suspects'][0]['function']")" = start_watcher ] || fail "thread suspect"
[ "$(json leak_threads "r['threads']['suspects'][0]['start_routine']")" = watcher_main ] || fail "start routine"
[ "$(json leak_threads "r['leak']['detected']")" = False ] || fail "thread leak is not a heap leak"

echo "check: a cache held until exit is at_exit, not a growth leak"
[ "$(json ok_exit_cache "r['leak']['detected']")" = False ] || fail "exit cache called a leak"
[ "$(json ok_exit_cache "r['at_exit'][0]['function']")" = load_geo_table ] ||
    fail "at_exit[0]: $(json ok_exit_cache "r['at_exit'][0]['function']")"
[ ! -s "$W/cache.log" ] || fail "live detector warned on the cache: $(cat "$W/cache.log")"

echo "check: a leak freed at exit is judged on the running program, not on its teardown"
[ "$(json leak_freed_at_exit "r['leak']['detected']")" = True ] ||
    fail "leak freed at exit not detected: $(json leak_freed_at_exit "r['leak']['reason']")"
[ "$(json leak_freed_at_exit "r['suspects'][0]['function']")" = register_session ] ||
    fail "top suspect: $(json leak_freed_at_exit "r['suspects'][0]['function']")"
true_rate=$(sed 's/.*leak_rate=\([0-9]*\).*/\1/' "$W/leak_freed_at_exit.out")
err=$(json leak_freed_at_exit "round(100 * (r['leak']['rate_bytes_per_sec'] / $true_rate - 1))")
echo "  rate error: $err% (true rate $true_rate B/s)"
[ "${err#-}" -le 30 ] || fail "rate off by $err%"
[ "$(json leak_freed_at_exit "r['leak']['window_end_seconds'] < r['span_seconds']")" = True ] ||
    fail "the window ends at the exit snapshot: $(json leak_freed_at_exit "r['leak']")"
[ "$(json leak_freed_at_exit "r['final_estimated_inuse_bytes'] < 1048576")" = True ] ||
    fail "the program did not free its heap at exit: the case tests nothing"
[ "$(json leak_freed_at_exit "'register_session' in [e['function'] for e in r['at_exit']]")" = False ] ||
    fail "at exit lists the freed registry: $(json leak_freed_at_exit "r['at_exit']")"
"$BUILD/heapscope" report --window 6 "$W/leak_freed_at_exit.hsd" > "$W/freed.txt"
grep -q '^  window: .*, ending at the last snapshot before ' "$W/freed.txt" ||
    fail "the text report does not say where the window ends: $(head -12 "$W/freed.txt")"

echo "check: the text report names the verdict, the suspect and a recommendation"
"$BUILD/heapscope" report "$W/leak_steady.hsd" > "$W/text"
grep -q '^verdict: LEAK' "$W/text" && grep -q 'remember_upload (.*leak_steady.c:' "$W/text" &&
    grep -q '^recommendations:' "$W/text" || fail "text report: $(head -20 "$W/text")"

echo "check: plot draws the leak trend and the detection point only for the leak"
"$BUILD/heapscope" plot "$W/leak_steady.hsd" -o "$W/leak.svg"
"$BUILD/heapscope" plot "$W/ok_sawtooth.hsd" -o "$W/saw.svg"
grep -q 'class="trend"' "$W/leak.svg" && grep -q 'leak-detected' "$W/leak.svg" || fail "no trend line in the leak's plot"
grep -q 'class="trend"' "$W/saw.svg" && fail "trend line drawn for a sawtooth"
rsvg-convert -o "$W/leak.png" "$W/leak.svg" || fail "the plot does not render"

echo "check: bad flags and bad input exit 2"
set +e
"$BUILD/heapscope" report --window -3 "$W/leak_steady.hsd" 2> /dev/null; r1=$?
"$BUILD/heapscope" report --threshold lots "$W/leak_steady.hsd" 2> /dev/null; r2=$?
printf 'not a dump' > "$W/bad.hsd"
"$BUILD/heapscope" report "$W/bad.hsd" 2> /dev/null; r3=$?
set -e
[ $r1 = 2 ] && [ $r2 = 2 ] && [ $r3 = 2 ] || fail "exit codes $r1 $r2 $r3"
echo "ok: report finds the leak, the leak freed at exit and the thread leak, and not the sawtooth or the exit cache"
