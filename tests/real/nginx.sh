#!/bin/sh
# nginx.sh - Debian's nginx, a master and two workers (daemon off, its own
# config, pid file and logs in the work dir) on 127.0.0.1:28080 under
# `heapscope record`, serving a 4 KiB text file gzipped to `wrk -t2 -c8
# -d10s` and it and a 1 MiB file to curl meanwhile (byte-identical); a
# graceful stop (SIGQUIT to the master's pid) ends every process with status
# 0 and leaves one dump per process (3); `heapscope report` over all three:
# no leak. Run from the repository root.
T=nginx
# shellcheck disable=SC1091 # sourced from the repository root
. tests/real/lib.sh
need_cmd nginx wrk curl ss pgrep
new_workdir
chmod 755 "$W"
PORT=28080
WRK_SECONDS=${REAL_NGINX_SECONDS:-10}
port_free "$PORT"

mkdir -p "$W/html" "$W/logs" "$W/dumps"
head -c 1048576 /dev/urandom >"$W/html/big.bin"
head -c 3000 /dev/urandom | base64 >"$W/html/small.txt"
cat >"$W/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 2;
user root root;
pid $W/nginx.pid;
error_log $W/logs/error.log warn;
events { worker_connections 256; }
http {
    access_log $W/logs/access.log;
    client_body_temp_path $W/tmp_body;
    proxy_temp_path $W/tmp_proxy;
    fastcgi_temp_path $W/tmp_fcgi;
    uwsgi_temp_path $W/tmp_uwsgi;
    scgi_temp_path $W/tmp_scgi;
    types { text/plain txt; application/octet-stream bin; }
    server {
        listen 127.0.0.1:$PORT;
        root $W/html;
        gzip on;
        gzip_types text/plain;
        gzip_min_length 100;
    }
}
EOF

get() { timeout 15 curl -s --max-time 10 "$@"; }
serves() { get -o /dev/null "http://127.0.0.1:$PORT/small.txt"; }

check "nginx (master + 2 workers) under heapscope record serves its files"
# HEAPSCOPE_EMPTY_DUMPS=1: a worker that sampled nothing still leaves its dump.
HEAPSCOPE_EMPTY_DUMPS=1 timeout -s KILL 240 "$CLI" record --interval 0.5 --rate 16K -o "$W/dumps/nginx.%p.hsd" -- \
    nginx -c "$W/nginx.conf" -p "$W" -e "$W/logs/error.log" >"$W/nginx.out" 2>&1 &
tpid=$!
track "$tpid"
wait_until 15 serves || {
    tail -n 5 "$W/nginx.out" "$W/logs/error.log" >&2
    fail "nginx does not serve on 127.0.0.1:$PORT within 15 s"
}
master=$(cat "$W/nginx.pid")
case $master in '' | *[!0-9]*) fail "no pid in $W/nginx.pid" ;; esac
track "$master"
workers=$(pgrep -P "$master" | sort)
[ "$(echo "$workers" | wc -w)" = 2 ] || fail "want 2 workers of master $master, found: $workers"
note "master $master, workers $(echo "$workers" | tr '\n' ' ')"
for f in big.bin small.txt; do
    get "http://127.0.0.1:$PORT/$f" | cmp -s - "$W/html/$f" || fail "curl: $f differs from the file"
done
get -H 'Accept-Encoding: gzip' "http://127.0.0.1:$PORT/small.txt" | gzip -dc | cmp -s - "$W/html/small.txt" ||
    fail "curl: gzipped small.txt differs"

check "wrk -t2 -c8 -d${WRK_SECONDS}s (gzip), curl beside it byte-identical"
timeout $((WRK_SECONDS + 20)) wrk -t2 -c8 -d"${WRK_SECONDS}s" -H 'Accept-Encoding: gzip' \
    "http://127.0.0.1:$PORT/small.txt" >"$W/wrk.out" 2>&1 &
wrk=$!
track "$wrk"
n=0
while alive "$wrk" && [ $n -lt 300 ]; do
    get "http://127.0.0.1:$PORT/big.bin" | cmp -s - "$W/html/big.bin" || fail "curl under load: big.bin differs (round $n)"
    get -H 'Accept-Encoding: gzip' "http://127.0.0.1:$PORT/small.txt" | gzip -dc | cmp -s - "$W/html/small.txt" ||
        fail "curl under load: gzipped small.txt differs (round $n)"
    n=$((n + 1))
    sleep 0.05
done
st=0
wait "$wrk" || st=$?
untrack "$wrk"
cat "$W/wrk.out"
[ "$st" = 0 ] || fail "wrk exited with status $st"
reqs=$(sed -n 's/^ *\([0-9][0-9]*\) requests in .*/\1/p' "$W/wrk.out")
if [ -z "$reqs" ] || [ "$reqs" -lt 1000 ]; then fail "wrk: only '$reqs' requests in ${WRK_SECONDS} s"; fi
if grep -q -e 'Non-2xx' -e 'Socket errors' "$W/wrk.out"; then
    fail "wrk: $(grep -e 'Non-2xx' -e 'Socket errors' "$W/wrk.out")"
fi
note "wrk: $reqs requests, $(sed -n 's/^Requests\/sec: *//p' "$W/wrk.out")/s"
[ "$n" -ge 5 ] || fail "only $n curl rounds while wrk ran"
note "$n curl rounds byte-identical under load"

check "SIGQUIT to the master: every process ends, status 0, one intact dump each"
kill -QUIT "$master"
wait_until 20 gone "$master" || fail "master $master still running 20 s after SIGQUIT"
st=0
wait "$tpid" || st=$?
untrack "$tpid"
untrack "$master"
[ "$st" = 0 ] || fail "nginx master exited with status $st: $(tail -n 3 "$W/logs/error.log")"
for w in $workers; do
    wait_until 10 gone "$w" || fail "worker $w still running after the master ended"
done
if grep -q -e '\[alert\]' -e '\[emerg\]' -e '\[crit\]' "$W/logs/error.log"; then
    fail "error.log: $(grep -m 1 -e '\[alert\]' -e '\[emerg\]' -e '\[crit\]' "$W/logs/error.log")"
fi
set --
for p in $master $workers; do
    d=$W/dumps/nginx.$p.hsd
    [ -f "$d" ] || fail "no dump for pid $p: $(ls "$W/dumps")"
    info_ok "$d"
    set -- "$@" "$d"
done
[ "$(find "$W/dumps" -name '*.hsd*' | wc -l)" = 3 ] || fail "want 3 dumps, found: $(ls "$W/dumps")"
note "3 dumps: $(cd "$W/dumps" && echo *)"
report all-processes noleak -- "$@"

finish
