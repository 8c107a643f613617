#!/bin/sh
# live_nginx.sh - Debian's nginx (a master and two workers, forked from it)
# under HEAPSCOPE_HTTP with a port range: every process answers the live
# service on a port of its own (the index names its pid), nginx serves its
# file unchanged meanwhile, and a graceful stop ends every process with status
# 0, a dump each (HEAPSCOPE_EMPTY_DUMPS=1: a worker may end before its first
# sample) and no socket of ours left behind. Run from the repository root.
T=live_nginx
# shellcheck disable=SC1091 # sourced from the repository root
. tests/lib.sh
need "$LIB"
command -v nginx >/dev/null || fail "nginx not installed (scripts/deps.sh)"
command -v curl >/dev/null || fail "curl not installed (scripts/deps.sh)"
for v in $(env | sed -n 's/^\(HEAPSCOPE_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done
new_workdir
chmod 755 "$W"

# free_port: a TCP port on loopback nobody listens on now.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# free_range N: the first of N consecutive free ports.
free_range() {
    python3 - "$1" <<'EOF'
import socket, sys, random
n = int(sys.argv[1])
for _ in range(200):
    lo = random.randint(20000, 60000 - n)
    socks = []
    try:
        for p in range(lo, lo + n):
            s = socket.socket(); s.bind(("127.0.0.1", p)); socks.append(s)
        print(lo); sys.exit(0)
    except OSError:
        pass
    finally:
        for s in socks: s.close()
sys.exit(1)
EOF
}

port=$(free_port)
lo=$(free_range 8) || fail "no 8 free consecutive ports"
mkdir -p "$W/html" "$W/logs"
head -c 300000 /dev/urandom >"$W/html/blob.bin"
cat >"$W/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 2;
user root root;
pid $W/nginx.pid;
error_log $W/logs/error.log warn;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $W/tmp_body;
    proxy_temp_path $W/tmp_proxy;
    fastcgi_temp_path $W/tmp_fcgi;
    uwsgi_temp_path $W/tmp_uwsgi;
    scgi_temp_path $W/tmp_scgi;
    server {
        listen 127.0.0.1:$port;
        root $W/html;
    }
}
EOF

check "nginx -c (master + 2 workers) with HEAPSCOPE_HTTP=127.0.0.1:$lo-$((lo + 7))"
HEAPSCOPE_HTTP="127.0.0.1:$lo-$((lo + 7))" HEAPSCOPE_LOG="$W/hs.log" HEAPSCOPE_OUTPUT="$W/nginx.%p.hsd" HEAPSCOPE_EMPTY_DUMPS=1 \
    LD_PRELOAD=$LIB nginx -c "$W/nginx.conf" -p "$W" 2>"$W/stderr" &
master=$!
BG="$BG $master"
lines() { cat "$W/stderr" "$W/hs.log" 2>/dev/null | grep 'live service on http'; }
enough() { [ "$(lines | wc -l)" -ge 3 ]; }
wait_until 20 enough || fail "want 3 live lines (master, 2 workers): $(cat "$W/stderr" "$W/hs.log" 2>/dev/null)"
wait_until 10 sh -c "curl -s -o /dev/null http://127.0.0.1:$port/blob.bin" || fail "nginx does not serve"
lines | sed -n 's|.*live service on \(http://[^ ]*[^/ ]\)/* (pid \([0-9]*\)).*|\1 \2|p' | sort -u >"$W/list"
[ "$(cut -d' ' -f2 "$W/list" | sort -u | wc -l)" = 3 ] || fail "want 3 distinct pids: $(cat "$W/list")"
[ "$(cut -d' ' -f1 "$W/list" | sort -u | wc -l)" = 3 ] || fail "want 3 distinct ports: $(cat "$W/list")"
grep -q " $master\$" "$W/list" || fail "the master ($master) has no port: $(cat "$W/list")"
workers=$(pgrep -P "$master" | sort)
[ "$(echo "$workers" | wc -l)" = 2 ] || fail "want 2 workers, found: $workers"
for w in $workers; do
    grep -q " $w\$" "$W/list" || fail "worker $w has no port: $(cat "$W/list")"
done

check "each process answers on its own port; nginx serves its file unchanged meanwhile"
while read -r u p; do
    curl -s --max-time 10 "$u/debug/pprof/" | grep -q "pid $p)" || fail "$u does not answer as pid $p"
    curl -s --max-time 10 "$u/debug/pprof/cmdline" | tr '\0' ' ' | grep -q nginx || fail "$u: cmdline is not nginx's"
done <"$W/list"
for i in 1 2 3 4 5 6 7 8 9 10; do
    curl -s --max-time 10 "http://127.0.0.1:$port/blob.bin" | cmp -s - "$W/html/blob.bin" ||
        fail "nginx served a different file (round $i)"
done

check "a graceful stop (SIGQUIT) ends every process; nothing of ours listens any more"
kill -QUIT "$master"
st=0
wait "$master" || st=$?
[ "$st" = 0 ] || fail "nginx master exited with status $st"
for w in $workers; do
    wait_until 10 sh -c "! kill -0 $w 2>/dev/null" || fail "worker $w still alive"
done
while read -r u p; do
    curl -s -o /dev/null --max-time 2 "$u/" && fail "$u still answers after nginx stopped"
done <"$W/list"
[ "$(ls "$W"/nginx.*.hsd 2>/dev/null | wc -l)" -ge 3 ] || fail "want a dump per process: $(ls "$W")"
echo "$T: all checks passed"
