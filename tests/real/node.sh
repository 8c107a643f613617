#!/bin/sh
# node.sh - a small Node.js HTTP server (tests/real/src/http_server.js) on
# 127.0.0.1:28081 under `heapscope record`, asked 300 times by curl (each a
# new process and connection); every answer (N, N*N, sha256, padding) is
# checked; stopped by pid with SIGTERM (status 0); the report: no leak.
# Run from the repository root.
T=node
# shellcheck disable=SC1091 # sourced from the repository root
. tests/real/lib.sh
need_cmd node curl ss
new_workdir
PORT=28081
REQUESTS=${REAL_NODE_REQUESTS:-300}
mkdir -p "$W/dumps"
port_free "$PORT"

check "node http server under heapscope record, $REQUESTS curl requests, answers checked"
timeout -s KILL 240 "$CLI" record --interval 0.5 --rate 64K -o "$W/dumps/node.%p.hsd" -- \
    node "$SRC/http_server.js" "$PORT" >"$W/out" 2>"$W/err" &
tpid=$!
track "$tpid"
listening() { grep -q "^listening $PORT pid [0-9]*$" "$W/out"; }
wait_until 20 listening || {
    cat "$W/out" "$W/err" >&2
    fail "node does not listen on 127.0.0.1:$PORT within 20 s"
}
pid=$(sed -n "s/^listening $PORT pid \([0-9]*\)$/\1/p" "$W/out")
track "$pid"
note "node pid $pid"
i=0
while [ $i -lt "$REQUESTS" ]; do
    timeout 15 curl -s -S --max-time 10 -f "http://127.0.0.1:$PORT/?n=$i" >>"$W/answers" ||
        fail "curl request $i failed"
    i=$((i + 1))
done
"$PY" - "$W/answers" "$REQUESTS" <<'EOF' || fail "the answers are wrong (above)"
import hashlib, json, sys
lines = open(sys.argv[1]).read().splitlines()
want = int(sys.argv[2])
if len(lines) != want:
    sys.exit("want %d answers, got %d" % (want, len(lines)))
for i, line in enumerate(lines):
    d = json.loads(line)
    sha = hashlib.sha256(b"heapscope-%d" % i).hexdigest()
    if d != {"n": i, "square": i * i, "sha": sha, "pad": "x" * (1000 + i % 5000)}:
        sys.exit("answer %d is wrong: %s" % (i, line[:120]))
print("node:   %d answers checked" % want)
EOF

check "SIGTERM to pid $pid: status 0, it counted every request, dump intact"
kill -TERM "$pid"
wait_until 15 gone "$pid" || fail "node still running 15 s after SIGTERM"
st=0
wait "$tpid" || st=$?
untrack "$tpid"
untrack "$pid"
[ "$st" = 0 ] || fail "node exited with status $st: $(tail -n 3 "$W/err")"
grep -q "^served $REQUESTS$" "$W/out" || fail "node says: $(tail -n 1 "$W/out"), want served $REQUESTS"
if grep -v '^heapscope: recording ' "$W/err" | grep -q .; then
    fail "unexpected stderr: $(grep -v '^heapscope: recording ' "$W/err" | head -n 3)"
fi
[ -f "$W/dumps/node.$pid.hsd" ] || fail "no dump node.$pid.hsd: $(ls "$W/dumps")"
info_ok "$W/dumps/node.$pid.hsd"
report node noleak -- "$W/dumps/node.$pid.hsd"

finish
