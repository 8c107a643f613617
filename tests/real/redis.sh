#!/bin/sh
# redis.sh - Debian's redis-server under `heapscope record` on 127.0.0.1:26379
# (no persistence), two runs, each checked by redis and by the report:
#   leak:   redis-benchmark SETs unique random keys (-r 100000000, 256-byte
#           values) for 20 s, so the dataset only grows: the report must say
#           LEAK with at least 8 MiB of growth (redis holds ~100+ MiB here);
#   steady: after a warm-up, SET/GET over 1000 keys for 15 s: no leak.
# Stopped by pid: SHUTDOWN NOSAVE, then SIGTERM/SIGKILL if it stays. Run from
# the repository root (scripts/run-tests.sh real).
T=redis
# shellcheck disable=SC1091 # sourced from the repository root
. tests/real/lib.sh
need_cmd redis-server redis-cli redis-benchmark ss
new_workdir
PORT=26379
LEAK_SECONDS=${REAL_REDIS_SECONDS:-20}
STEADY_SECONDS=${REAL_REDIS_STEADY_SECONDS:-15}

cli() { timeout 10 redis-cli -h 127.0.0.1 -p "$PORT" "$@"; }
pong() { [ "$(cli ping 2>/dev/null)" = PONG ]; }

# start NAME RATE: redis-server under heapscope record at sample rate RATE;
# $tpid is timeout's pid (its status is redis's), $pid redis-server's own
# (it is record's: record execs it), taken from INFO.
start() {
    name=$1
    port_free "$PORT"
    mkdir -p "$W/$name"
    timeout -s KILL 300 "$CLI" record --interval 0.5 --rate "$2" -o "$W/$name/redis.%p.hsd" -- \
        redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
        --dir "$W/$name" --logfile '' >"$W/$name.log" 2>&1 &
    tpid=$!
    track "$tpid"
    wait_until 15 pong || {
        tail -n 5 "$W/$name.log" >&2
        fail "$name: redis-server does not answer PING within 15 s"
    }
    pid=$(cli INFO server | tr -d '\r' | sed -n 's/^process_id://p')
    case $pid in '' | *[!0-9]*) fail "$name: no process_id in INFO server" ;; esac
    track "$pid"
    note "$name: redis-server pid $pid on 127.0.0.1:$PORT"
}

# stop NAME: SHUTDOWN NOSAVE, exit status 0, dump intact.
stop() {
    name=$1
    cli SHUTDOWN NOSAVE >/dev/null 2>&1 || :
    if ! wait_until 10 gone "$pid"; then
        note "$name: still running 10 s after SHUTDOWN NOSAVE; SIGTERM"
        kill -TERM "$pid" 2>/dev/null || :
        wait_until 5 gone "$pid" || kill -KILL "$pid" 2>/dev/null || :
        fail "$name: redis-server did not stop on SHUTDOWN NOSAVE"
    fi
    st=0
    wait "$tpid" || st=$?
    untrack "$tpid"
    untrack "$pid"
    [ "$st" = 0 ] || {
        tail -n 5 "$W/$name.log" >&2
        fail "$name: redis-server exited with status $st"
    }
    dump=$W/$name/redis.$pid.hsd
    [ -f "$dump" ] || fail "$name: no dump $dump ($(ls "$W/$name"))"
    info_ok "$dump"
    note "$name: exit 0, dump $(basename "$dump") intact"
}

# bench SECONDS ARGS...: redis-benchmark until the deadline (it is still
# running then: status 124), its last progress line noted.
bench() {
    secs=$1
    shift
    st=0
    timeout -s INT "$secs" redis-benchmark -h 127.0.0.1 -p "$PORT" -q "$@" >"$W/bench.out" 2>&1 || st=$?
    last=$(tr '\r' '\n' <"$W/bench.out" | grep -v '^ *$' | tail -n 1)
    [ "$st" = 124 ] || fail "redis-benchmark $* ended with status $st before ${secs} s: $last"
    note "redis-benchmark $*: $last"
}

check "leak: unique random keys for ${LEAK_SECONDS} s; redis keeps every one, the report says LEAK"
start leak 64K
[ "$(cli SET hs:probe hello)" = OK ] || fail "leak: SET hs:probe"
bench "$LEAK_SECONDS" -t set -r 100000000 -n 1000000000 -d 256 -c 20
keys=$(cli DBSIZE)
used=$(cli INFO memory | tr -d '\r' | sed -n 's/^used_memory_human://p')
note "leak: DBSIZE $keys, used_memory $used"
[ "$keys" -ge 50000 ] || fail "leak: only $keys keys after ${LEAK_SECONDS} s of unique SETs"
[ "$(cli GET hs:probe)" = hello ] || fail "leak: GET hs:probe"
k=$(cli RANDOMKEY)
[ "$k" = hs:probe ] || [ "$(cli STRLEN "$k")" = 256 ] || fail "leak: $k's value is not 256 bytes"
stop leak
report leak leak --min-growth 8388608 --dump-pid "$pid" -- "$W/leak/redis.$pid.hsd"

check "steady: SET/GET over 1000 keys for ${STEADY_SECONDS} s after a warm-up; no leak"
# 8 KiB: enough samples that the ~2 MiB steady heap's estimate is not
# noisier than the threshold (at 64 KiB it swings by +-0.6 MiB)
start steady 8K
[ "$(cli SET hs:probe steady)" = OK ] || fail "steady: SET hs:probe"
timeout 60 redis-benchmark -h 127.0.0.1 -p "$PORT" -q -t set -r 1000 -n 20000 -d 256 >"$W/warm.out" 2>&1 ||
    fail "steady: warm-up redis-benchmark failed: $(tail -c 200 "$W/warm.out")"
bench "$STEADY_SECONDS" -t set,get -r 1000 -n 100000 -l -d 256 -c 20
keys=$(cli DBSIZE)
note "steady: DBSIZE $keys"
if [ "$keys" -lt 900 ] || [ "$keys" -gt 1001 ]; then fail "steady: DBSIZE $keys, expected 900..1001 (1000 keys + hs:probe)"; fi
[ "$(cli GET hs:probe)" = steady ] || fail "steady: GET hs:probe"
stop steady
report steady noleak -- "$W/steady/redis.$pid.hsd"

finish
