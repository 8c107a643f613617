#!/bin/sh
# redis.sh - Debian's redis-server (linked against jemalloc; calls
# malloc_usable_size through zmalloc_size) runs correctly under heapscope:
# started by `heapscope record`, by a plain LD_PRELOAD and by the stacked
# preload "libheapscope.so libjemalloc.so.2", it must store and return a few
# hundred keys, a 1 MB value (grown to 2 MB), counters and a list, report its
# memory through jemalloc, shut down cleanly with status 0 and leave a dump
# that `heapscope info` calls intact.
set -eu

BUILD=${BUILD:-build}
case $BUILD in /*) B=$BUILD ;; *) B=$(pwd)/$BUILD ;; esac
LIB=$B/libheapscope.so
CLI=$B/heapscope
JEMALLOC=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2

fail() { echo "redis: FAIL: $*" >&2; exit 1; }
check() { echo "redis: check: $*"; }

[ -f "$LIB" ] || fail "$LIB not built"
[ -x "$CLI" ] || fail "$CLI not built"
command -v redis-server >/dev/null || fail "redis-server not installed (scripts/deps.sh)"
command -v redis-cli >/dev/null || fail "redis-cli not installed (scripts/deps.sh)"
[ -f "$JEMALLOC" ] || fail "$JEMALLOC missing (libjemalloc2)"

# Only the settings each run names.
for v in $(env | sed -n 's/^\(HEAPSCOPE_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done

W=$(mktemp -d)
pid=
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -9 "$pid" 2>/dev/null || :
    fi
    [ -n "${KEEP:-}" ] || rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

# A process that exited but was not reaped yet is not alive.
alive() {
    kill -0 "$1" 2>/dev/null && [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != Z ]
}

random_port() {
    while :; do
        p=$(( $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 40000 + 20000 ))
        [ -z "$(ss -Htln "sport = :$p" 2>/dev/null)" ] && { echo "$p"; return; }
    done
}

# start NAME MODE RATE: starts redis-server in the background ($pid, $port),
# waits (at most 10 s) until it answers PING; retries on another port when
# the one picked was taken meanwhile.
start() {
    name=$1; mode=$2; rate=$3
    mkdir -p "$W/dumps/$name" "$W/data/$name"
    for attempt in 1 2 3 4 5; do
        port=$(random_port)
        set -- redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
            --daemonize no --dir "$W/data/$name" --logfile ''
        case $mode in
        record)
            "$CLI" record --interval 0.2 --rate "$rate" \
                --output "$W/dumps/$name/redis.%p.hsd" -- "$@" >"$W/$name.log" 2>&1 &
            ;;
        preload)
            env LD_PRELOAD="$LIB" HEAPSCOPE_INTERVAL=0.2 HEAPSCOPE_SAMPLE_RATE="$rate" \
                HEAPSCOPE_OUTPUT="$W/dumps/$name/redis.%p.hsd" "$@" >"$W/$name.log" 2>&1 &
            ;;
        stacked)
            env LD_PRELOAD="$LIB $JEMALLOC" HEAPSCOPE_INTERVAL=0.2 HEAPSCOPE_SAMPLE_RATE="$rate" \
                HEAPSCOPE_OUTPUT="$W/dumps/$name/redis.%p.hsd" "$@" >"$W/$name.log" 2>&1 &
            ;;
        esac
        pid=$!
        i=0
        while alive "$pid"; do
            if [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ]; then
                return 0
            fi
            i=$((i + 1))
            [ $i -le 200 ] || { tail -n 5 "$W/$name.log" >&2; fail "$name: no PONG within 10 s"; }
            sleep 0.05
        done
        grep -q 'Address already in use' "$W/$name.log" || break
        echo "redis:   port $port was taken, retry $attempt"
    done
    tail -n 5 "$W/$name.log" >&2
    fail "$name: redis-server exited during start-up"
}

cli() { redis-cli -p "$port" "$@"; }

# exercise NAME: the workload; every answer is checked.
exercise() {
    name=$1
    # 300 keys with values of 5..3000 bytes
    awk 'BEGIN { for (i = 1; i <= 300; i++) { v = "v" i "-"
        for (n = (i * 37) % 3000; n > 0; n--) v = v substr("abcdefghij", 1 + n % 10, 1)
        print "key:" i, v } }' >"$W/kv.txt"
    sed 's/^/SET /' "$W/kv.txt" | cli >"$W/set.out"
    [ "$(grep -c '^OK$' "$W/set.out")" = 300 ] || fail "$name: SET of 300 keys: $(sort "$W/set.out" | uniq -c | head -n 3)"
    cut -d' ' -f1 "$W/kv.txt" | sed 's/^/GET /' | cli >"$W/get.out"
    cut -d' ' -f2 "$W/kv.txt" | cmp -s - "$W/get.out" || fail "$name: GET of 300 keys returned other values"

    # a 1 MB value, then grown to 2 MB with APPEND (a jemalloc realloc)
    [ "$(cli -x SET big <"$W/big.txt")" = OK ] || fail "$name: SET of a 1 MB value"
    [ "$(cli STRLEN big)" = 1048576 ] || fail "$name: STRLEN big is $(cli STRLEN big)"
    cli GET big >"$W/big.got"
    { cat "$W/big.txt"; echo; } | cmp -s - "$W/big.got" || fail "$name: GET big returned other bytes"
    [ "$(cli -x APPEND big <"$W/big.txt")" = 2097152 ] || fail "$name: APPEND to big"
    cli GETRANGE big 1048576 -1 >"$W/big2.got"
    { cat "$W/big.txt"; echo; } | cmp -s - "$W/big2.got" || fail "$name: the appended half of big differs"
    # MEMORY USAGE sizes the object with zmalloc_size = malloc_usable_size,
    # which must be jemalloc's answer for a jemalloc block
    usage=$(cli MEMORY USAGE big)
    case $usage in '' | *[!0-9]*) fail "$name: MEMORY USAGE big answered '$usage'" ;; esac
    if [ "$usage" -lt 2097152 ] || [ "$usage" -ge 4194304 ]; then
        fail "$name: MEMORY USAGE big = $usage, expected 2 MB..4 MB"
    fi
    cli INFO memory | grep -q '^mem_allocator:jemalloc' || fail "$name: INFO says the allocator is not jemalloc"
    [ "$(cli MEMORY PURGE)" = OK ] || fail "$name: MEMORY PURGE"

    # counters, a list, deletes
    awk 'BEGIN { for (i = 0; i < 100; i++) print "INCR counter" }' | cli >"$W/incr.out"
    [ "$(tail -n 1 "$W/incr.out")" = 100 ] || fail "$name: 100 INCRs ended at $(tail -n 1 "$W/incr.out")"
    [ "$(cli INCRBY counter 23)" = 123 ] || fail "$name: INCRBY"
    awk 'BEGIN { for (i = 0; i < 500; i++) print "RPUSH list item-" i }' | cli >/dev/null
    [ "$(cli LLEN list)" = 500 ] || fail "$name: LLEN list is $(cli LLEN list)"
    [ "$(cli LINDEX list 321)" = item-321 ] || fail "$name: LINDEX list 321"
    # shellcheck disable=SC2046 # one argument per key
    [ "$(cli DEL $(awk 'BEGIN { for (i = 1; i <= 100; i++) print "key:" i }'))" = 100 ] ||
        fail "$name: DEL of 100 keys"
    [ "$(cli EXISTS key:50 key:150)" = 1 ] || fail "$name: EXISTS after DEL"
    # 200 keys left + big + counter + list
    [ "$(cli DBSIZE)" = 203 ] || fail "$name: DBSIZE is $(cli DBSIZE), expected 203"
}

# stop NAME: SHUTDOWN NOSAVE, bounded wait (10 s), status 0, intact dump.
stop() {
    name=$1
    cli SHUTDOWN NOSAVE >/dev/null 2>&1 || :
    i=0
    while alive "$pid"; do
        i=$((i + 1))
        [ $i -le 200 ] || fail "$name: redis-server still running 10 s after SHUTDOWN NOSAVE"
        sleep 0.05
    done
    if wait "$pid"; then rc=0; else rc=$?; fi
    pid=
    [ "$rc" = 0 ] || { tail -n 5 "$W/$name.log" >&2; fail "$name: redis-server exited with status $rc"; }
    # the library itself says nothing unless something went wrong
    if grep 'heapscope' "$W/$name.log" | grep -q -v '^heapscope: recording '; then
        fail "$name: $(grep 'heapscope' "$W/$name.log" | grep -m 1 -v '^heapscope: recording ')"
    fi
    n=0
    for f in "$W/dumps/$name"/*; do
        [ -e "$f" ] || continue
        n=$((n + 1))
        "$CLI" info "$f" >"$W/info.out" 2>&1 || fail "$name: heapscope info $(basename "$f") exited non-zero: $(tail -n 1 "$W/info.out")"
        grep -q '^integrity: ok' "$W/info.out" ||
            fail "$name: $(basename "$f"): $(grep '^integrity' "$W/info.out" || echo 'no integrity line')"
    done
    [ "$n" -ge 1 ] || fail "$name: no dump written in $W/dumps/$name"
    echo "redis:   exit 0, $n dump(s), integrity ok"
}

head -c 786432 /dev/urandom | base64 -w0 >"$W/big.txt"
[ "$(wc -c <"$W/big.txt")" = 1048576 ] || fail "could not make the 1 MB value"

check "redis-server under 'heapscope record --rate 4096': SET/GET/APPEND/INCR/DEL/DBSIZE, clean shutdown, dump ok"
start record record 4096
exercise record
stop record

check "redis-server under LD_PRELOAD=libheapscope.so (default rate)"
start preload preload 524288
exercise preload
stop preload

check "redis-server under LD_PRELOAD='libheapscope.so libjemalloc.so.2' at rate 1"
start stacked stacked 1
exercise stacked
stop stacked

echo "redis: PASS"
