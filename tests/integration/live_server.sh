#!/bin/sh
# live_server.sh - the live service's server (interposer/live_server.c), apart
# from what its endpoints say (live_heap.sh, live_cpu.sh, live_metrics.sh):
# addresses (port 0, a port range across fork, unix sockets, bad and taken
# addresses), the token, abuse (an oversized request line, 10,000 headers, a
# slowloris client, garbage, 200 parallel connections, a client gone
# mid-answer) answered right while the program's work completes unchanged,
# high close-on-exec descriptors, and the thread never keeping the process
# alive or taking its signals. Run from the repository root.
T=live_server
# shellcheck disable=SC1091 # sourced from the repository root
. tests/lib.sh
need "$LIB" "$PROGS/live_host"
command -v curl >/dev/null || fail "curl missing (scripts/deps.sh)"
for v in $(env | sed -n 's/^\(HEAPSCOPE_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done
new_workdir
export HEAPSCOPE_OUTPUT="$W/dump.%p.hsd"

# The result the work must give, without heapscope.
mkfifo "$W/in0"
"$PROGS/live_host" serve <"$W/in0" >"$W/plain.out" &
exec 3>"$W/in0"
exec 3>&-
wait $! || fail "live_host without heapscope exited non-zero"
expected=$(grep '^work ok' "$W/plain.out") || fail "live_host printed no result"

# start NAME MODE [ARGS]: runs live_host MODE under the library with stdin on
# fd 4 (closing fd 4 ends its work); its pid in $pid, stderr in $W/NAME.err.
start() {
    name=$1; shift
    rm -f "$W/$name.in"
    mkfifo "$W/$name.in"
    LD_PRELOAD=$LIB "$PROGS/live_host" "$@" <"$W/$name.in" >"$W/$name.out" 2>"$W/$name.err" &
    pid=$!
    BG="$BG $pid"
    exec 4>"$W/$name.in"
}
# finish NAME [STATUS]: ends the work, waits, checks the status and the result.
finish() {
    exec 4>&-
    st=0
    wait "$pid" || st=$?
    [ "$st" = "${2:-0}" ] || fail "$1: exit status $st, want ${2:-0} (stderr: $(tail -n 3 "$W/$1.err"))"
    grep -qx "$expected" "$W/$1.out" || fail "$1: the program's work changed: $(grep '^work' "$W/$1.out" || echo none), want $expected"
}
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@"; }

check "port 0: one log line with the address; the index answers; unknown paths 404, other methods 405"
HEAPSCOPE_HTTP=127.0.0.1:0 start basic serve
url=$(live_url "$W/basic.err") || fail "no 'live service on' line: $(cat "$W/basic.err")"
curl -s --max-time 10 "$url/debug/pprof/" >"$W/index.html" || fail "GET /debug/pprof/ failed"
grep -q "href='heap'" "$W/index.html" || fail "the index does not link heap"
grep -q "pid $pid" "$W/index.html" || fail "the index does not name pid $pid"
[ "$(code "$url/no/such/path")" = 404 ] || fail "unknown path is not 404"
[ "$(code -X DELETE "$url/metrics")" = 405 ] || fail "DELETE is not 405"
[ "$(code -X POST --data x "$url/debug/pprof/heap")" = 405 ] || fail "POST to heap is not 405"
[ "$(curl -s -o /dev/null -w '%{http_code}' -I "$url/debug/pprof/")" = 200 ] || fail "HEAD is not 200"

check "descriptors: listener at >= 512, close-on-exec; the thread is named and blocks every signal"
lfd=$(ls -l "/proc/$pid/fd" | awk '/socket:/ { print $9 }' | head -n 1)
[ -n "$lfd" ] && [ "$lfd" -ge 512 ] || fail "listening socket is descriptor '$lfd', want >= 512"
flags=$(sed -n 's/^flags:[[:space:]]*//p' "/proc/$pid/fdinfo/$lfd")
[ $((0$flags & 02000000)) -ne 0 ] || fail "listening socket lacks O_CLOEXEC (flags $flags)"
srv=""
for t in /proc/"$pid"/task/*; do
    [ "$(cat "$t/comm")" = heapscope-http ] && srv=$t
done
[ -n "$srv" ] || fail "no thread named heapscope-http"
grep -q '^SigBlk:[[:space:]]*fffffffe7ffbfeff\|^SigBlk:[[:space:]]*ffffffffffffffff' "$srv/status" ||
    fail "the server thread does not block every signal: $(grep SigBlk "$srv/status")"

check "abuse: long request line 414, 10,000 headers 431, garbage 400, slowloris, 200 connections, client gone mid-answer"
python3 - "$url" >"$W/abuse.out" 2>&1 <<'EOF' || fail "abuse client: $(tail -n 5 "$W/abuse.out")"
import socket, sys, threading, time
host, port = sys.argv[1][len("http://"):].rsplit(":", 1)
port = int(port)
def conn():
    s = socket.create_connection((host, port), timeout=10)
    return s
def ask(raw):
    s = conn()
    try:
        s.sendall(raw)
    except OSError:
        pass
    data = b""
    try:
        while True:
            d = s.recv(65536)
            if not d: break
            data += d
    except OSError:
        pass
    s.close()
    return data.split(b"\r\n", 1)[0].decode(errors="replace")
def want(line, status, what):
    if (" %d " % status) not in line + " ":
        print("FAIL %s: got %r, want %d" % (what, line, status)); sys.exit(1)
    print("ok %s: %s" % (what, line))
want(ask(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"), 414, "9000-byte request line")
want(ask(b"GET /metrics HTTP/1.1\r\n" + b"X-A: b\r\n" * 10000 + b"\r\n"), 431, "10,000 headers")
want(ask(b"\x00\xff\x16\x03\x01garbage\r\n\r\n"), 400, "garbage bytes")
want(ask(b"GET /debug/pprof/ HTTP/1.1\r\nHost: x\r\n\r\n"), 200, "a good request")
# slowloris: half a head, held open; the server keeps answering others
slow = conn(); slow.sendall(b"GET /debug/pprof/ HTTP/1.1\r\nHost: x\r\nX-Slow: ")
t0 = time.time()
want(ask(b"GET /debug/pprof/ HTTP/1.1\r\n\r\n"), 200, "answered while a slowloris client waits")
if time.time() - t0 > 2: print("FAIL the slow client delayed others by %.1fs" % (time.time() - t0)); sys.exit(1)
# 200 parallel connections: each gets 200 or 429, never a hang
results = []
def one():
    try: results.append(ask(b"GET /debug/pprof/ HTTP/1.1\r\n\r\n"))
    except Exception as e: results.append("error " + str(e))
ths = [threading.Thread(target=one) for _ in range(200)]
for th in ths: th.start()
for th in ths: th.join()
ok = sum(" 200 " in r + " " for r in results); busy = sum(" 429 " in r + " " for r in results)
bad = [r for r in results if " 200 " not in r + " " and " 429 " not in r + " "]
print("200 connections: %d ok, %d busy, %d other %r" % (ok, busy, len(bad), bad[:3]))
if bad or ok == 0: print("FAIL parallel connections"); sys.exit(1)
# more than 16 connections at once: the excess is answered 429 at once (the
# accept queue is FIFO: the 16 held ones take the slots before the 17th)
held = []
for _ in range(16):
    s = conn(); s.sendall(b"GET /debug/pprof/ HTTP/1.1\r\n"); held.append(s)
want(ask(b"GET /debug/pprof/ HTTP/1.1\r\n\r\n"), 429, "a 17th connection")
for s in held: s.close()
deadline = time.time() + 5
while True:
    line = ask(b"GET /debug/pprof/ HTTP/1.1\r\n\r\n")
    if " 200 " in line + " " or time.time() > deadline: break
want(line, 200, "answered once the 16 closed")
# a client gone mid-answer: small receive buffer, read a little, close
for _ in range(20):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    s.connect((host, port)); s.sendall(b"GET /debug/pprof/ HTTP/1.1\r\n\r\n"); s.recv(10); s.close()
want(ask(b"GET /debug/pprof/ HTTP/1.1\r\n\r\n"), 200, "answered after clients left mid-answer")
# the slowloris client is dropped after the read timeout (10 s): 408 or a close
slow.settimeout(20)
try: d = slow.recv(4096)
except OSError: d = b""
print("slowloris client after the timeout: %r" % d.split(b"\r\n", 1)[0])
if d and b" 408 " not in d.split(b"\r\n", 1)[0] + b" ": print("FAIL slowloris answer"); sys.exit(1)
EOF
sed 's/^/    /' "$W/abuse.out"
[ "$(code "$url/debug/pprof/")" = 200 ] || fail "the server stopped answering after the abuse"
finish basic

check "token: 401 without or with a wrong one, 200 with it; non-loopback refused without a token"
HEAPSCOPE_HTTP=127.0.0.1:0 HEAPSCOPE_HTTP_TOKEN=s3cret start token serve
url=$(live_url "$W/token.err") || fail "no live line with a token"
[ "$(code "$url/debug/pprof/")" = 401 ] || fail "no token is not 401"
[ "$(code -H 'Authorization: Bearer s3cre' "$url/debug/pprof/")" = 401 ] || fail "a wrong token is not 401"
[ "$(code -H 'Authorization: Basic czNjcmV0' "$url/debug/pprof/")" = 401 ] || fail "Basic auth is not 401"
[ "$(code -H 'Authorization: Bearer s3cret' "$url/debug/pprof/")" = 200 ] || fail "the right token is not 200"
finish token
HEAPSCOPE_HTTP=0.0.0.0:0 start open serve
wait_until 5 grep -q 'not a loopback address' "$W/open.err" || fail "0.0.0.0 without a token: no refusal line"
grep -q 'live service on' "$W/open.err" && fail "0.0.0.0 without a token was served"
finish open
HEAPSCOPE_HTTP=0.0.0.0:0 HEAPSCOPE_HTTP_TOKEN=t0k start open2 serve
live_url "$W/open2.err" >/dev/null || fail "0.0.0.0 with a token was not served"
finish open2

check "bind failures and bad addresses: one warning line, the program runs on"
HEAPSCOPE_HTTP=127.0.0.1:0 start holder serve
url=$(live_url "$W/holder.err") || fail "no live line"
port=${url##*:}
HEAPSCOPE_HTTP=127.0.0.1:$port start taken serve
wait_until 5 grep -q 'cannot listen' "$W/taken.err" || fail "a taken port: no warning"
finish taken
[ "$(grep -c heapscope "$W/taken.err")" = 1 ] || fail "a taken port: not exactly one line: $(cat "$W/taken.err")"
for bad in 'nonsense' '127.0.0.1:99999' '[::1:80' 'example.com:80' '127.0.0.1:9-5' 'unix:'; do
    HEAPSCOPE_HTTP=$bad start bad serve
    wait_until 5 grep -q 'HEAPSCOPE_HTTP=.*not valid' "$W/bad.err" || fail "'$bad': no warning: $(cat "$W/bad.err")"
    finish bad
done

check "a port range: a forking program's parent and children each answer on their own port"
lo=$((port + 1))
HEAPSCOPE_HTTP=127.0.0.1:$lo-$((lo + 9)) start range fork 2
wait_until 10 sh -c "[ \$(grep -c 'live service on' '$W/range.err') -ge 3 ]" ||
    fail "want 3 live lines (parent, 2 children): $(cat "$W/range.err")"
pids=$(sed -n 's/.*(pid \([0-9]*\)).*/\1/p' "$W/range.err" | sort -u | wc -l)
[ "$pids" = 3 ] || fail "want 3 distinct pids in the live lines, got $pids"
sed -n 's|.*live service on \(http://[^ ]*[^/ ]\)/* (pid \([0-9]*\)).*|\1 \2|p' "$W/range.err" >"$W/range.list"
while read -r u p; do
    curl -s --max-time 10 "$u/debug/pprof/" | grep -q "pid $p)" || fail "$u does not answer as pid $p"
done <"$W/range.list"
finish range
[ "$(grep -c '^work ok' "$W/range.out")" = 3 ] || fail "parent and children did not all finish their work"

check "one address and a daemonizing parent (fork, parent exits): the child takes the address over"
HEAPSCOPE_HTTP=127.0.0.1:$lo start daemon daemon
wait "$pid" || fail "the daemonizing parent exited non-zero"
wait_until 10 grep -q 'child [0-9]* ready' "$W/daemon.out" || fail "no daemon child"
child=$(sed -n 's/^child \([0-9]*\) ready$/\1/p' "$W/daemon.out")
BG="$BG $child"
wait_until 10 sh -c "grep -q 'live service on http://127.0.0.1:$lo/ (pid $child)' '$W/daemon.err'" ||
    fail "the daemon child did not take 127.0.0.1:$lo over: $(cat "$W/daemon.err")"
curl -s --max-time 10 "http://127.0.0.1:$lo/debug/pprof/" | grep -q "pid $child)" || fail "127.0.0.1:$lo does not answer as the child"
exec 4>&-
timeout 10 sh -c "while kill -0 $child 2>/dev/null; do sleep 0.05; done" || fail "the daemon child did not end"
grep -qx "$expected" "$W/daemon.out" || fail "daemon child: the work changed"

check "a unix socket: mode 0600, answers, removed at exit"
HEAPSCOPE_HTTP="unix:$W/hs.%p.sock" start unix serve
wait_until 5 grep -q 'live service on unix:' "$W/unix.err" || fail "no unix live line: $(cat "$W/unix.err")"
sock="$W/hs.$pid.sock"
[ -S "$sock" ] || fail "$sock is not a socket"
[ "$(stat -c %a "$sock")" = 600 ] || fail "$sock has mode $(stat -c %a "$sock")"
curl -s --max-time 10 --unix-socket "$sock" http://x/debug/pprof/ | grep -q "href='heap'" || fail "no answer on $sock"
finish unix
[ ! -e "$sock" ] || fail "$sock left behind at exit"

check "the thread never keeps the process alive: main calls pthread_exit, the last worker returns"
HEAPSCOPE_HTTP=127.0.0.1:0 start last lastthread
live_url "$W/last.err" >/dev/null || fail "no live line"
exec 4>&-
st=0
timeout 10 sh -c "while kill -0 $pid 2>/dev/null; do sleep 0.05; done" || fail "the process is still alive 10 s after its last thread ended"
wait "$pid" || st=$?
[ "$st" = 0 ] || fail "pthread_exit from main: status $st, want 0"

check "exit status, SIGTERM and exec pass through unchanged"
HEAPSCOPE_HTTP=127.0.0.1:0 start code exit 7
live_url "$W/code.err" >/dev/null || fail "no live line"
finish code 7
HEAPSCOPE_HTTP=127.0.0.1:0 start term serve
live_url "$W/term.err" >/dev/null || fail "no live line"
kill -TERM "$pid"
st=0
wait "$pid" || st=$?
exec 4>&-
[ "$st" = 143 ] || fail "SIGTERM: status $st, want 143 (killed by SIGTERM)"
HEAPSCOPE_HTTP=127.0.0.1:0 HEAPSCOPE_FOLLOW_EXEC=0 start exec exec
live_url "$W/exec.err" >/dev/null || fail "no live line"
exec 4>&-
wait "$pid" || fail "exec: non-zero status"
grep -q 'socket:' "$W/exec.out" && fail "the exec'd program inherited a socket: $(grep socket: "$W/exec.out")"
check "README's Prometheus configuration passes promtool check config"
if command -v promtool >/dev/null; then
    awk '/^Prometheus \(`prometheus.yml`/ { on = 1 } on && /^```yaml/ { inb = 1; next } inb && /^```/ { exit } inb' \
        README.md >"$W/prometheus.yml"
    grep -q job_name "$W/prometheus.yml" || fail "no Prometheus block found in README.md"
    promtool check config "$W/prometheus.yml" >"$W/promtool.out" 2>&1 || fail "promtool: $(cat "$W/promtool.out")"
else
    fail "promtool missing (Debian prometheus, scripts/deps.sh)"
fi
echo "$T: all checks passed"
