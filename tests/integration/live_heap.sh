#!/bin/sh
# live_heap.sh - the live service's heap endpoints (interposer/live_heap.c)
# read by the real clients: `go tool pprof -raw URL/debug/pprof/heap`,
# /allocs and /threadcreate show live_victim's sites with exact values at
# rate 1 and file:line from the local binary; two scrapes of /allocs keep
# every stack's addresses and never lower alloc_*; ?seconds=2 answers only
# what was allocated in those 2 seconds; ?debug=1 is Go's text; /symbol
# names the profile's addresses; and, without the HTTP server, the periodic
# files (HEAPSCOPE_PPROF_DIR) appear every interval, mode 0600, at most KEEP
# of them, and open in go tool pprof and protoc. Run from the repository root.
T=live_heap
# shellcheck disable=SC1091 # sourced from the repository root
. tests/lib.sh
need "$LIB" "$PROGS/live_victim"
for tool in curl go protoc python3; do
    command -v $tool >/dev/null || fail "$tool missing (scripts/deps.sh)"
done
for v in $(env | sed -n 's/^\(HEAPSCOPE_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done
new_workdir
export HOME="$W/home" GOCACHE="$W/gocache" GOPATH="$W/gopath" PPROF_TMPDIR="$W/pprof"
mkdir -p "$HOME"
export HEAPSCOPE_OUTPUT="$W/dump.%p.hsd" HEAPSCOPE_SAMPLE_RATE=1
SRC=tests/progs/live_victim.c

# start NAME [VAR=VALUE...]: runs live_victim under the library with those
# variables, its stdin on fd 3; pid in $pid; waits for "ready".
start() {
    name=$1; shift
    mkfifo "$W/$name.in"
    exec 3<>"$W/$name.in"
    env "$@" LD_PRELOAD="$LIB" "$PROGS/live_victim" <"$W/$name.in" >"$W/$name.out" 2>"$W/$name.err" &
    pid=$!
    BG="$BG $pid"
    wait_until 10 grep -q '^ready$' "$W/$name.out" || fail "$name: live_victim never got ready: $(cat "$W/$name.err")"
}

# Per leaf function: the summed values of `go tool pprof -raw`, and every
# stack as its list of location addresses with its values.
cat >"$W/raw.py" <<'PY'
import re, sys, collections
mode, text = sys.argv[1], sys.stdin.read()
samples = text.split("Samples:")[1].split("Locations")[0].strip().splitlines()[1:]
addr, name = {}, {}
for line in text.split("Locations")[1].split("Mappings")[0].strip().splitlines():
    m = re.match(r"\s*(\d+): (0x[0-9a-f]+) M=\d+ (\S+) (\S*)", line)
    if m:
        addr[m.group(1)], name[m.group(1)] = m.group(2), m.group(3) + " " + m.group(4)
tot = collections.defaultdict(lambda: [0, 0, 0, 0])
for line in samples:
    if ":" not in line or line.strip().startswith(("bytes:", "start_routine:")):
        continue
    vals, ids = line.split(":", 1)
    ids = ids.split()
    if not ids:
        continue
    vals = [int(v) for v in vals.split()]
    if mode == "stacks":
        print(" ".join(addr[i] for i in ids), *vals)
    else:
        fn = name[ids[0]].split()[0]
        for k, v in enumerate(vals):
            tot[fn][k] += v
if mode == "leaves":
    for fn, v in sorted(tot.items()):
        print(fn, *v)
PY
raw() { go tool pprof -raw "$1" 2>"$W/pprof.err" || fail "go tool pprof -raw $1: $(cat "$W/pprof.err")"; }
get() { # SUMMARY FUNCTION COLUMN(2..5)
    awk -v f="$2" -v c="$3" '$1 == f {print $c; n++} END {if (!n) print 0}' "$1"
}

start live HEAPSCOPE_HTTP=127.0.0.1:0
URL=$(live_url "$W/live.err") || fail "no live service line in stderr: $(cat "$W/live.err")"

check "go tool pprof -raw $URL/debug/pprof/heap: the sites with exact sizes at rate 1, file:line from the binary"
raw "$URL/debug/pprof/heap" >"$W/heap.raw"
python3 "$W/raw.py" leaves <"$W/heap.raw" >"$W/heap.txt"
[ "$(get "$W/heap.txt" live_site_keep 4)" = 1000 ] || fail "live_site_keep inuse_objects: $(get "$W/heap.txt" live_site_keep 4)"
[ "$(get "$W/heap.txt" live_site_keep 5)" = 1000000 ] || fail "live_site_keep inuse_space: $(get "$W/heap.txt" live_site_keep 5)"
[ "$(get "$W/heap.txt" live_site_churn 3)" = 2048000 ] || fail "live_site_churn alloc_space: $(get "$W/heap.txt" live_site_churn 3)"
[ "$(get "$W/heap.txt" live_site_churn 5)" = 0 ] || fail "live_site_churn inuse_space"
grep -q '^PeriodType: space bytes$' "$W/heap.raw" || fail "period type is not space/bytes"
line=$(grep -n 'out\[i\] = malloc(1000);' "$SRC" | cut -d: -f1)
grep -q " live_site_keep .*$SRC:$line " "$W/heap.raw" || fail "live_site_keep is not at $SRC:$line"
go tool pprof -top "$URL/debug/pprof/heap" 2>/dev/null | grep -q '^Type: inuse_space$' || fail "heap's default is not inuse_space"

check "protoc decodes /debug/pprof/heap: Go's four sample types, period = the sample rate, mappings with build-ids"
curl -sf -D "$W/heap.head" -o "$W/heap.pb.gz" "$URL/debug/pprof/heap" || fail "curl heap"
grep -qi '^Content-Type: application/octet-stream' "$W/heap.head" || fail "Content-Type: $(cat "$W/heap.head")"
gzip -t "$W/heap.pb.gz" || fail "the body is not gzip"
gzip -dc "$W/heap.pb.gz" | protoc --decode perftools.profiles.Profile common/profile.proto >"$W/heap.proto" ||
    fail "protoc --decode"
python3 - "$W/heap.proto" <<'PY' || fail "decoded profile: sample types, period or mapping wrong"
import re, sys
t = open(sys.argv[1]).read()
strings = re.findall(r'^string_table: "(.*)"$', t, re.M)
types = [(strings[int(a)], strings[int(b)]) for a, b in re.findall(r'^sample_type \{\n  type: (\d+)\n  unit: (\d+)\n\}', t, re.M)]
assert types == [("alloc_objects", "count"), ("alloc_space", "bytes"), ("inuse_objects", "count"), ("inuse_space", "bytes")], types
assert re.search(r"^period: 1$", t, re.M)
assert "default_sample_type" not in t
assert any("live_victim" in strings[int(m)] for m in re.findall(r"^  filename: (\d+)$", t, re.M))
assert all(len(strings[int(b)]) >= 16 for b in re.findall(r"^  build_id: (\d+)$", t, re.M))
assert re.search(r"^  build_id: ", t, re.M)
PY

check "/debug/pprof/allocs defaults to alloc_space; two scrapes keep every stack's addresses and never lower alloc_*"
raw "$URL/debug/pprof/allocs" | python3 "$W/raw.py" stacks >"$W/allocs1.txt"
echo grow >&3
wait_until 10 grep -q '^grown 1$' "$W/live.out" || fail "grow did not happen"
raw "$URL/debug/pprof/allocs" | python3 "$W/raw.py" stacks >"$W/allocs2.txt"
python3 - "$W/allocs1.txt" "$W/allocs2.txt" <<'PY' || fail "alloc_* decreased or addresses moved between scrapes"
import sys
def load(p):
    d = {}
    for line in open(p):
        f = line.split()
        d[" ".join(f[:-4])] = [int(v) for v in f[-4:]]
    return d
a, b = load(sys.argv[1]), load(sys.argv[2])
assert a, "empty first scrape"
for stack, v in a.items():
    assert stack in b, "stack gone: " + stack
    assert b[stack][0] >= v[0] and b[stack][1] >= v[1], (stack, v, b[stack])
assert len(b) > len(a), "the grow site is missing from the second scrape"
PY
go tool pprof -top "$URL/debug/pprof/allocs" 2>/dev/null | grep -q '^Type: alloc_space$' || fail "allocs' default is not alloc_space"

check "/debug/pprof/threadcreate: 2 live threads at live_site_spawn"
raw "$URL/debug/pprof/threadcreate" >"$W/tc.raw"
grep -q '^threadcreate/count$' "$W/tc.raw" || fail "threadcreate sample type: $(head -8 "$W/tc.raw")"
python3 "$W/raw.py" leaves <"$W/tc.raw" >"$W/tc.txt"
[ "$(get "$W/tc.txt" live_site_spawn 2)" = 2 ] || fail "threadcreate: $(cat "$W/tc.txt")"

check "/debug/pprof/symbol: Go's protocol names the profile's addresses"
[ "$(curl -sf "$URL/debug/pprof/symbol")" = "num_symbols: 1" ] || fail "GET /debug/pprof/symbol"
keep_addr=$(awk '$4 == "live_site_keep" {print $2; exit}' "$W/heap.raw")
spawn_addr=$(awk '$4 == "live_site_spawn" {print $2; exit}' "$W/tc.raw")
if [ -z "$keep_addr" ] || [ -z "$spawn_addr" ]; then fail "no addresses in the -raw output"; fi
curl -sf --data-binary "$keep_addr+$spawn_addr+0x1" "$URL/debug/pprof/symbol" >"$W/sym.txt" || fail "POST /symbol"
printf 'num_symbols: 1\n%s live_site_keep\n%s live_site_spawn\n' "$keep_addr" "$spawn_addr" | diff -u - "$W/sym.txt" ||
    fail "symbol answer"

check "?debug=1 is Go's legacy text"
curl -sf "$URL/debug/pprof/heap?debug=1" >"$W/heap.txt1" || fail "heap?debug=1"
head -1 "$W/heap.txt1" | grep -q '^heap profile: [0-9]*: [0-9]* \[[0-9]*: [0-9]*\] @ heap/2$' || fail "debug=1: $(head -1 "$W/heap.txt1")"
grep -q '	live_site_keep$' "$W/heap.txt1" || fail "debug=1 lacks live_site_keep"
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/debug/pprof/heap?seconds=0")
[ "$code" = 400 ] || fail "seconds=0 answered $code"

check "?seconds=2: only what was allocated in those 2 seconds"
curl -sf -o "$W/delta.pb.gz" "$URL/debug/pprof/heap?seconds=2" &
curl_pid=$!
n=1
# Grows paced over the window (each waited for); how many land inside it
# is not known, so the delta must be whole grows, at least one.
while kill -0 "$curl_pid" 2>/dev/null && [ $n -lt 40 ]; do
    n=$((n + 1))
    echo grow >&3
    wait_until 10 grep -q "^grown $n\$" "$W/live.out" || fail "grow $n did not happen"
    sleep 0.2
done
wait "$curl_pid" || fail "curl heap?seconds=2 failed"
raw "$W/delta.pb.gz" >"$W/delta.raw"
grep -q '^Duration: 2' "$W/delta.raw" || fail "delta duration: $(grep Duration "$W/delta.raw")"
python3 "$W/raw.py" leaves <"$W/delta.raw" >"$W/delta.txt"
grows=$(($(get "$W/delta.txt" live_site_grow 2) / 200))
if [ "$grows" -lt 1 ] || [ "$grows" -ge "$n" ]; then fail "delta has $grows grows of $((n - 1)): $(cat "$W/delta.txt")"; fi
[ "$(get "$W/delta.txt" live_site_grow 3)" = $((grows * 409600)) ] || fail "delta alloc_space of live_site_grow"
[ "$(get "$W/delta.txt" live_site_keep 3)" = 0 ] || fail "live_site_keep in the delta"
note "$grows of $((n - 1)) grows fell in the 2 s window"
kill -0 "$pid" || fail "live_victim died"
kill "$pid"

check "periodic files without the HTTP server: every second, 0600, KEEP=3 kept, open in go tool pprof"
mkdir "$W/pd"
start files HEAPSCOPE_PPROF_DIR="$W/pd" HEAPSCOPE_PPROF_INTERVAL=1 HEAPSCOPE_PPROF_KEEP=3
fpid=$pid
echo tick >&3
wait_until 20 test -e "$W/pd/heap.live_victim.$fpid.5.pb.gz" || fail "no 5th file in 20 s: $(ls "$W/pd")"
grep -q 'live service' "$W/files.err" && fail "a live service started without HEAPSCOPE_HTTP"
kill "$fpid"
wait "$fpid" 2>/dev/null || :
ls "$W/pd" >"$W/files.txt"
n=$(sed -n "s/^heap\.live_victim\.$fpid\.\([0-9]*\)\.pb\.gz$/\1/p" "$W/files.txt" | sort -n | tail -1)
[ "$(grep -c '\.pb\.gz$' "$W/files.txt")" = 3 ] || fail "KEEP=3: $(cat "$W/files.txt")"
for i in $((n - 2)) $((n - 1)) $n; do
    f="$W/pd/heap.live_victim.$fpid.$i.pb.gz"
    [ -e "$f" ] || fail "$f missing: $(cat "$W/files.txt")"
    [ "$(stat -c %a "$f")" = 600 ] || fail "$f mode $(stat -c %a "$f")"
done
grep -q 'tmp' "$W/files.txt" && fail "a temporary file was left: $(cat "$W/files.txt")"
raw "$W/pd/heap.live_victim.$fpid.$n.pb.gz" | python3 "$W/raw.py" leaves >"$W/file.txt"
[ "$(get "$W/file.txt" live_site_keep 5)" = 1000000 ] || fail "the file's live_site_keep inuse_space: $(cat "$W/file.txt")"
gzip -dc "$W/pd/heap.live_victim.$fpid.$n.pb.gz" | protoc --decode perftools.profiles.Profile common/profile.proto |
    grep -c '^sample_type {' | grep -qx 4 || fail "protoc: the file lacks 4 sample types"
echo "$T: ok"
