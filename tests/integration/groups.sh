#!/bin/sh
# groups.sh - `heapscope report` over several dumps groups them by process
# tree: a preforking parent (tests/progs/prefork) and its three workers, one
# of which leaks, give one line per process (parent first, then children by
# pid, whatever the order of the arguments), the right roles and verdicts, a
# total line and never "-0 B"; --json has the same as "groups" and
# "processes" beside the per-dump reports in argument order. A program run
# through a symlink is named by the symlink (argv[0]), not by its target,
# and an unrelated program is a group of its own. Two runs in fresh pid
# namespaces (the same pids twice) stay two groups, and the children of a
# parent whose dump is missing are not given the old holder of its pid.
# Debian's nginx (a master and two workers that rename themselves "nginx:
# worker process") is one group named nginx. Run from the repository root.
T=groups
# shellcheck disable=SC1091 # sourced from the repository root
. tests/lib.sh
need "$LIB" "$CLI" "$PROGS/prefork"
for v in $(env | sed -n 's/^\(HEAPSCOPE_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done
new_workdir

# prefork_run DIR [RUNNER...]: prefork with 3 workers for 3 s, worker 2
# leaking, its dumps and its stdout (the pids) in DIR.
prefork_run() {
    dir=$1; shift
    mkdir -p "$dir"
    HEAPSCOPE_SAMPLE_RATE=32768 HEAPSCOPE_INTERVAL=0.2 HEAPSCOPE_OUTPUT="$dir/pf.%p.hsd" HEAPSCOPE_EMPTY_DUMPS=1 \
        "$@" env LD_PRELOAD="$LIB" "$PROGS/prefork" 3 3 2 >"$dir/out" || fail "prefork exited $?: $(cat "$dir/out")"
}
pid_of() { sed -n "s/^$1 pid \([0-9]*\)\$/\1/p" "$2/out"; }
# rows FILE: the group table's process lines of a text report as
# "pid ppid role program verdict" (verdicts without their blank).
rows() {
    sed -n '/^group /,/^$/p' "$1" | grep -E '^ +[0-9]+ ' |
        sed 's/no leak/no-leak/; s/threads leak/threads-leak/' | awk '{print $1, $2, $3, $4, $5}'
}

check "a parent and 3 workers, worker 2 leaking: one group, parent first, then children by pid"
prefork_run "$W/a" &
# An unrelated program meanwhile, run through a symlink with another name.
mkdir -p "$W/bin" "$W/s"
ln -s "$PROGS/prefork" "$W/bin/pool-server"
HEAPSCOPE_INTERVAL=0.2 HEAPSCOPE_OUTPUT="$W/s/%e.%p.hsd" HEAPSCOPE_EMPTY_DUMPS=1 \
    LD_PRELOAD="$LIB" "$W/bin/pool-server" 1 1 0 >"$W/s/out" || fail "pool-server exited $?"
wait
parent=$(pid_of parent "$W/a")
w1=$(pid_of "worker 1" "$W/a") w2=$(pid_of "worker 2" "$W/a") w3=$(pid_of "worker 3" "$W/a")
[ -n "$parent" ] && [ -n "$w3" ] || fail "prefork printed no pids: $(cat "$W/a/out")"
[ "$(ls "$W"/a/pf.*.hsd | wc -l)" = 4 ] || fail "want 4 dumps: $(ls "$W/a")"
# The arguments in reverse order: the table's order must not depend on it.
# shellcheck disable=SC2046 # the dump names have no blanks
"$CLI" report $(ls "$W"/a/pf.*.hsd | sort -r) >"$W/a.txt" 2>"$W/a.err" || fail "report exited $?: $(cat "$W/a.err")"
head -n 1 "$W/a.txt" | grep -qx "heapscope report: 4 processes in 1 group; leaking: pid $w2" ||
    fail "headline: $(head -n 1 "$W/a.txt")"
grep -qx "group 1: prefork (pid $parent) and 3 children" "$W/a.txt" || fail "no group line: $(head -n 4 "$W/a.txt")"
sorted=$(printf '%s\n' "$w1" "$w2" "$w3" | sort -n | tr '\n' ' ')
rows "$W/a.txt" >"$W/a.rows"
[ "$(awk '{print $1}' "$W/a.rows" | tr '\n' ' ')" = "$parent $sorted" ] ||
    fail "order: want $parent $sorted, got: $(cat "$W/a.rows")"
read -r p _ role prog verdict <"$W/a.rows"
[ "$p $role $prog $verdict" = "$parent parent prefork no-leak" ] || fail "parent line: $(head -n 1 "$W/a.rows")"
for w in $w1 $w2 $w3; do
    line=$(grep "^$w " "$W/a.rows")
    want=no-leak
    [ "$w" = "$w2" ] && want=LEAK
    [ "$line" = "$w $parent child prefork $want" ] || fail "worker $w: want '$w $parent child prefork $want', got '$line'"
done
grep -qE "^  total +4 processes +LEAK +\+[0-9.]+ MiB/s +\+[0-9.]+ MiB .* leaking: pid $w2\$" "$W/a.txt" ||
    fail "total line: $(grep '^  total' "$W/a.txt")"
grep -q -- '-0 B' "$W/a.txt" && fail "a '-0 B' in the report: $(grep -- '-0 B' "$W/a.txt")"
# Then the detail of each process, in the table's order.
[ "$(grep '^heapscope report: prefork (pid ' "$W/a.txt" | sed 's/.*(pid \([0-9]*\)).*/\1/' | tr '\n' ' ')" = "$parent $sorted" ] ||
    fail "the per-process reports are not in the table's order"
set +e
"$CLI" report --fail-on-leak "$W"/a/pf.*.hsd >/dev/null 2>&1
rc=$?
set -e
[ "$rc" = 3 ] || fail "--fail-on-leak over the group exited $rc, want 3"

check "--json: groups and processes, and the per-dump reports in argument order"
"$CLI" report --json "$W"/a/pf.*.hsd >"$W/a.json" || fail "report --json exited $?"
python3 - "$W/a.json" "$parent" "$w1" "$w2" "$w3" <<'EOF' || fail "JSON: see above"
import json, sys
d = json.load(open(sys.argv[1]))
parent, w1, w2, w3 = map(int, sys.argv[2:])
assert list(d) == ["groups", "processes", "dumps"], list(d)
assert len(d["groups"]) == 1, d["groups"]
g = d["groups"][0]
assert g["root_pid"] == parent and g["program"] == "prefork" and g["processes"] == 4, g
assert g["pids"] == [parent] + sorted([w1, w2, w3]), g["pids"]
assert g["leaking_pids"] == [w2] and g["verdict"] == "LEAK" and g["leak_detected"] is True, g
procs = d["processes"]
assert [p["pid"] for p in procs] == g["pids"], procs
for p in procs:
    assert p["group"] == 0 and p["program"] == "prefork", p
    assert d["dumps"][p["dump"]]["pid"] == p["pid"], p
    assert p["file"] == d["dumps"][p["dump"]]["file"], p
    if p["pid"] == parent:
        assert p["role"] == "parent" and p["parent_pid"] is None and p["depth"] == 0, p
    else:
        assert p["role"] == "child" and p["parent_pid"] == parent and p["ppid"] == parent and p["depth"] == 1, p
    want = "LEAK" if p["pid"] == w2 else "no leak"
    assert p["verdict"] == want and p["leak_detected"] == (p["pid"] == w2), p
    for k in ("rate_bytes_per_sec", "growth_bytes", "window_seconds", "peak_heap_bytes", "final_heap_bytes"):
        assert isinstance(p[k], (int, float)), (k, p)
leaker = [p for p in procs if p["pid"] == w2][0]
assert leaker["rate_bytes_per_sec"] > 1e6 and leaker["growth_bytes"] > 3e6, leaker
assert abs(g["rate_bytes_per_sec"] - sum(p["rate_bytes_per_sec"] for p in procs)) < 1, g
assert g["peak_heap_bytes_sum"] == sum(p["peak_heap_bytes"] for p in procs), g
files = sorted(x["file"] for x in d["dumps"])
assert [x["file"] for x in d["dumps"]] == files, "dumps not in argument order"
# Each per-dump report is the single-dump object unchanged.
assert all("leak" in x and "suspects" in x for x in d["dumps"])
EOF
"$CLI" report --json "$W/a/pf.$w2.hsd" | python3 -c 'import json,sys; r=json.load(sys.stdin); assert "groups" not in r and r["pid"] == '"$w2" ||
    fail "one dump's --json is no longer the single object"

check "a program run through a symlink is named by the symlink; an unrelated program is a group of its own"
sp=$(pid_of parent "$W/s")
[ -f "$W/s/pool-server.$sp.hsd" ] || fail "no dump named pool-server: $(ls "$W/s")"
"$CLI" report "$W/s/pool-server.$sp.hsd" | head -n 1 | grep -q "^heapscope report: pool-server (pid $sp)" ||
    fail "header: $("$CLI" report "$W/s/pool-server.$sp.hsd" | head -n 1)"
"$CLI" report "$W"/a/pf.*.hsd "$W"/s/*.hsd >"$W/as.txt" || fail "report of both exited $?"
head -n 1 "$W/as.txt" | grep -qE "^heapscope report: 6 processes in 2 groups; leaking: pid $w2 \(group [12]\)\$" ||
    fail "headline of both: $(head -n 1 "$W/as.txt")"
# Groups come in the order their roots started: both ran at once here.
grep -q "^group [12]: pool-server (pid $sp) and 1 child\$" "$W/as.txt" || fail "no pool-server group: $(grep '^group' "$W/as.txt")"
grep -q "^group [12]: prefork (pid $parent) and 3 children\$" "$W/as.txt" || fail "no prefork group: $(grep '^group' "$W/as.txt")"
rows "$W/as.txt" | grep -q "^$sp [0-9]* parent pool-server no-leak\$" || fail "pool-server row: $(rows "$W/as.txt")"
"$CLI" report --json "$W"/a/pf.*.hsd "$W"/s/*.hsd | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert sorted(g["program"] for g in d["groups"]) == ["pool-server", "prefork"], d["groups"]
for p in d["processes"]:
    assert p["program"] == d["groups"][p["group"]]["program"], p
' || fail "JSON of both groups"

check "pid reuse: two runs in fresh pid namespaces (the same pids) are two groups"
if unshare -p -f true 2>/dev/null; then
    prefork_run "$W/n1" unshare -p -f
    sleep 0.5
    prefork_run "$W/n2" unshare -p -f
    [ "$(pid_of parent "$W/n1") $(pid_of parent "$W/n2")" = "1 1" ] || fail "not pid 1 in the namespaces"
    "$CLI" report "$W"/n1/*.hsd "$W"/n2/*.hsd >"$W/n.txt" || fail "report exited $?"
    head -n 1 "$W/n.txt" | grep -qx 'heapscope report: 8 processes in 2 groups; leaking: pid 3 (group 1), 3 (group 2)' ||
        fail "headline: $(head -n 1 "$W/n.txt")"
    [ "$(grep -c '^group [12]: prefork (pid 1) and 3 children$' "$W/n.txt")" = 2 ] ||
        fail "want two groups of pid 1: $(grep '^group' "$W/n.txt")"
    # The second run's workers without their parent: not the first run's.
    "$CLI" report "$W"/n1/*.hsd "$W"/n2/pf.[234].hsd >"$W/n3.txt" || fail "report exited $?"
    head -n 1 "$W/n3.txt" | grep -q '^heapscope report: 7 processes in 4 groups' || fail "orphans: $(grep '^group\|^heap' "$W/n3.txt")"
else
    note "skipped: unshare -p (a new pid namespace) is not allowed here"
fi

check "nginx: a master and 2 workers are one group named nginx"
command -v nginx >/dev/null || fail "nginx not installed (scripts/deps.sh)"
port=39417
python3 -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', $port))" 2>/dev/null || fail "port $port is taken"
mkdir -p "$W/ng/logs"
cat >"$W/ng/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 2;
user root root;
pid $W/ng/nginx.pid;
error_log $W/ng/logs/error.log warn;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $W/ng/tmp_body;
    proxy_temp_path $W/ng/tmp_proxy;
    fastcgi_temp_path $W/ng/tmp_fcgi;
    uwsgi_temp_path $W/ng/tmp_uwsgi;
    scgi_temp_path $W/ng/tmp_scgi;
    server { listen 127.0.0.1:$port; root $W/ng; }
}
EOF
HEAPSCOPE_OUTPUT="$W/ng/nginx.%p.hsd" HEAPSCOPE_EMPTY_DUMPS=1 HEAPSCOPE_INTERVAL=0.2 \
    LD_PRELOAD=$LIB nginx -c "$W/ng/nginx.conf" -p "$W/ng" 2>"$W/ng/stderr" &
master=$!
BG="$BG $master"
two_workers() { [ "$(pgrep -P "$master" | wc -l)" = 2 ]; }
wait_until 10 two_workers || fail "nginx did not start 2 workers: $(cat "$W/ng/stderr")"
workers=$(pgrep -P "$master" | sort -n | tr '\n' ' ')
for w in $workers; do
    tr '\0' ' ' <"/proc/$w/cmdline" | grep -q '^nginx: worker process' || fail "worker $w is not titled: $(tr '\0' ' ' <"/proc/$w/cmdline")"
done
wait_until 10 sh -c "curl -s -o /dev/null http://127.0.0.1:$port/nginx.conf" || fail "nginx does not serve"
kill -QUIT "$master"
st=0
wait "$master" || st=$?
[ "$st" = 0 ] || fail "nginx master exited with status $st"
"$CLI" report "$W"/ng/nginx.*.hsd >"$W/ng.txt" || fail "report exited $?"
head -n 1 "$W/ng.txt" | grep -qx 'heapscope report: 3 processes in 1 group; no leak' || fail "headline: $(head -n 1 "$W/ng.txt")"
grep -qx "group 1: nginx (pid $master) and 2 children" "$W/ng.txt" || fail "group line: $(sed -n 3p "$W/ng.txt")"
rows "$W/ng.txt" >"$W/ng.rows"
want="$master parent nginx
$(for w in $workers; do echo "$w child nginx"; done)"
[ "$(awk '{print $1, $3, $4}' "$W/ng.rows")" = "$want" ] || fail "nginx rows: want $want, got $(cat "$W/ng.rows")"
grep -q '^heapscope report: nginx (pid ' "$W/ng.txt" || fail "per-process headers do not say nginx"
echo "$T: all checks passed"
