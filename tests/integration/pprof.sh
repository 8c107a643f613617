#!/bin/sh
# heapscope pprof on real dumps, checked by independent readers (go tool
# pprof, protoc): exact values at rate 1, unbiased estimates over 30 seeded
# runs at a 64 KiB rate (their spread matching sampling theory), a single run
# at the default rate within 3 standard errors, call sites with file:line,
# -list, --base/--at and pprof's own -base, merging dumps, --no-symbolize,
# a missing binary, and bad input.
set -eu
BUILD=${BUILD:-build}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
export HOME="$W/home" GOCACHE="$W/gocache" GOPATH="$W/gopath" GOFLAGS=-mod=mod
mkdir -p "$HOME"
fail() { echo "FAIL: $*" >&2; exit 1; }
CLI="$BUILD/heapscope"
LIB="$(pwd)/$BUILD/libheapscope.so"
PROG="$BUILD/progs/accuracy"
pp() { go tool pprof -symbolize=none "$@" 2>/dev/null; }
MIB=1048576

# Summaries of `go tool pprof -raw`: per pid and leaf function, the 4 values.
cat > "$W/raw.py" <<'PY'
import re, sys, collections
text = sys.stdin.read()
samples = text.split("Samples:")[1].split("Locations")[0].strip().splitlines()[1:]
locs = {}
for line in text.split("Locations")[1].split("Mappings")[0].strip().splitlines():
    m = re.match(r"\s*(\d+): 0x[0-9a-f]+ M=\d+ (\S+) (\S+)", line)
    if m:
        locs[m.group(1)] = (m.group(2), m.group(3))
tot = collections.defaultdict(lambda: [0, 0, 0, 0])
i = 0
while i < len(samples):
    vals, ids = samples[i].split(":", 1)
    pid = re.search(r"pid:\[(\d+)\]", samples[i + 1]).group(1)
    leaf = locs[ids.split()[0]][0]
    for k, v in enumerate(vals.split()):
        tot[(pid, leaf)][k] += int(v)
    i += 2
for (pid, fn), v in sorted(tot.items()):
    print(pid, fn, *v)
PY
values() { # PROFILE -> lines "pid function alloc_objects alloc_space inuse_objects inuse_space"
    pp -raw "$1" | python3 "$W/raw.py"
}
get() { # SUMMARY FUNCTION COLUMN(3..6) [PID]
    awk -v f="$2" -v c="$3" -v p="${4:-}" '$2 == f && (p == "" || $1 == p) {print $c; n++} END {if (!n) print 0}' "$1"
}

echo "check: rate 1 gives exact values (go tool pprof -raw)"
HEAPSCOPE_SAMPLE_RATE=1 HEAPSCOPE_OUTPUT="$W/exact.hsd" LD_PRELOAD="$LIB" "$PROG" > /dev/null
"$CLI" pprof -o "$W/exact.pb.gz" "$W/exact.hsd" 2> /dev/null
values "$W/exact.pb.gz" > "$W/exact.txt"
[ "$(get "$W/exact.txt" hold_big 6)" = $((64 * MIB)) ] || fail "hold_big inuse_space: $(get "$W/exact.txt" hold_big 6)"
[ "$(get "$W/exact.txt" hold_big 5)" = 65536 ] || fail "hold_big inuse_objects"
[ "$(get "$W/exact.txt" hold_small 6)" = $((16 * MIB)) ] || fail "hold_small inuse_space"
[ "$(get "$W/exact.txt" churn_temp 4)" = $((1024 * MIB)) ] || fail "churn_temp alloc_space: $(get "$W/exact.txt" churn_temp 4)"
[ "$(get "$W/exact.txt" churn_temp 3)" = 262144 ] || fail "churn_temp alloc_objects"
[ "$(get "$W/exact.txt" churn_temp 6)" = 0 ] || fail "churn_temp inuse_space"

echo "check: call sites with file:line, and -list shows the source"
for f in hold_big hold_small churn_temp; do
    line=$(grep -n "site: $f" tests/progs/accuracy.c | cut -d: -f1)
    pp -raw "$W/exact.pb.gz" | grep -q " $f .*tests/progs/accuracy.c:$line " ||
        fail "$f is not at accuracy.c:$line in -raw"
done
pp -list 'hold_big' "$W/exact.pb.gz" | grep -q "64MB .*site: hold_big" || fail "-list hold_big: $(pp -list hold_big "$W/exact.pb.gz" | head -5)"

echo "check: protoc decodes the profile with our own profile.proto"
gzip -dc "$W/exact.pb.gz" | protoc --decode perftools.profiles.Profile common/profile.proto > "$W/decoded.txt" ||
    fail "protoc --decode"
[ "$(grep -c '^sample_type {' "$W/decoded.txt")" = 4 ] || fail "expected 4 sample types"
grep -q '^period: 1$' "$W/decoded.txt" || fail "period should be the sample rate (1)"
grep -q '^period_type {' "$W/decoded.txt" || fail "no period_type"
grep -q 'has_inline_frames: true' "$W/decoded.txt" || fail "mappings lack has_* flags"

echo "check: 30 seeded runs at a 64 KiB rate, merged into one profile by pid: unbiased, spread as sampling theory says"
i=1
while [ $i -le 30 ]; do
    HEAPSCOPE_SEED=$i HEAPSCOPE_SAMPLE_RATE=65536 HEAPSCOPE_OUTPUT="$W/seed.$i.hsd" LD_PRELOAD="$LIB" "$PROG" > /dev/null
    i=$((i + 1))
done
"$CLI" pprof -o "$W/seeds.pb.gz" "$W"/seed.*.hsd 2> /dev/null
values "$W/seeds.pb.gz" > "$W/seeds.txt"
[ "$(awk '{print $1}' "$W/seeds.txt" | sort -u | wc -l)" = 30 ] || fail "expected 30 pids in the merged profile"
python3 - "$W/seeds.txt" <<'PY' || fail "estimator statistics"
import math, sys, collections
rows = collections.defaultdict(dict)
for line in open(sys.argv[1]):
    pid, fn, ao, ab, io, ib = line.split()
    rows[fn][pid] = (int(ab), int(ib))
R = 65536.0
def se(n, s):  # relative standard error of the byte estimate for n blocks of s bytes
    p = 1 - math.exp(-s / R)
    return math.sqrt((1 - p) / (n * p))
cases = [("hold_big", 1, 64 << 20, se(65536, 1024)), ("hold_small", 1, 16 << 20, se(2048, 8192)),
         ("churn_temp", 0, 1 << 30, se(262144, 4096))]
ok = True
for fn, col, truth, rel in cases:
    vals = [v[col] / truth for v in rows[fn].values()]
    vals += [0.0] * (30 - len(vals))
    mean = sum(vals) / 30
    sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / 29)
    print(f"  {fn}: mean {100 * (mean - 1):+.2f}% of the truth, spread {100 * sd:.2f}% (theory {100 * rel:.2f}%)")
    if abs(mean - 1) > 0.03 or not (0.6 * rel <= sd <= 1.5 * rel):
        ok = False
sys.exit(0 if ok else 1)
PY

echo "check: one run at the default rate is within 3 standard errors"
HEAPSCOPE_SEED=7 HEAPSCOPE_OUTPUT="$W/default.hsd" LD_PRELOAD="$LIB" "$PROG" > /dev/null
"$CLI" pprof -o "$W/default.pb.gz" "$W/default.hsd" 2> /dev/null
values "$W/default.pb.gz" > "$W/default.txt"
python3 - "$W/default.txt" <<'PY' || fail "default-rate single run"
import math, sys
R = 524288.0
got = {l.split()[1]: l.split() for l in open(sys.argv[1])}
def se(n, s):
    p = 1 - math.exp(-s / R)
    return math.sqrt((1 - p) / (n * p))
ok = True
for fn, col, truth, rel in [("hold_big", 5, 64 << 20, se(65536, 1024)), ("hold_small", 5, 16 << 20, se(2048, 8192)),
                            ("churn_temp", 3, 1 << 30, se(262144, 4096))]:
    v = int(got[fn][col]) if fn in got else 0
    err = v / truth - 1
    print(f"  {fn}: {100 * err:+.1f}% ({err / rel:+.2f} SE)")
    ok = ok and abs(err) <= 3 * rel
sys.exit(0 if ok else 1)
PY
pp -top -sample_index=inuse_space "$W/default.pb.gz" | grep -E ' (hold_big|hold_small)$' | awk '{print $NF}' | tr '\n' ' ' > "$W/order"
[ "$(cat "$W/order")" = "hold_big hold_small " ] || fail "-top order: $(cat "$W/order")"

echo "check: --base/--at show the growth between two snapshots, and pprof's own -base agrees"
HEAPSCOPE_SAMPLE_RATE=1 HEAPSCOPE_SIGNAL=SIGUSR2 HEAPSCOPE_INTERVAL=3600 HEAPSCOPE_OUTPUT="$W/grow.hsd" \
    LD_PRELOAD="$LIB" "$PROG" 100 "$W/grow.hsd" > /dev/null
"$CLI" pprof --base 0 --at last -o "$W/growth.pb.gz" "$W/grow.hsd" 2> /dev/null
values "$W/growth.pb.gz" > "$W/growth.txt"
[ "$(get "$W/growth.txt" hold_big 6)" = $((64 * MIB)) ] || fail "growth of hold_big"
[ "$(get "$W/growth.txt" hold_small 6)" = 0 ] || fail "hold_small did not grow after snapshot 0"
"$CLI" pprof --at first -o "$W/first.pb.gz" "$W/grow.hsd" 2> /dev/null
"$CLI" pprof --at 1 -o "$W/second.pb.gz" "$W/grow.hsd" 2> /dev/null
pp -top -unit=B -sample_index=inuse_space -base "$W/first.pb.gz" "$W/second.pb.gz" > "$W/base.txt"
grep -qE "^ *$((64 * MIB))B .* hold_big$" "$W/base.txt" || fail "go tool pprof -base: $(grep hold "$W/base.txt")"
if grep -qE ' hold_small$' "$W/base.txt" && ! grep -qE '^ *0 .* hold_small$' "$W/base.txt"; then
    fail "hold_small should not grow under -base"
fi

echo "check: --no-symbolize leaves symbols to pprof, which finds them in the binary"
"$CLI" pprof --no-symbolize -o "$W/raw.pb.gz" "$W/exact.hsd" 2> /dev/null
gzip -dc "$W/raw.pb.gz" | protoc --decode perftools.profiles.Profile common/profile.proto | grep -q has_functions &&
    fail "--no-symbolize still sets has_functions"
go tool pprof -top "$W/raw.pb.gz" 2> /dev/null | grep -q ' hold_big$' || fail "pprof did not symbolize hold_big itself"

echo "check: a binary missing since the run leaves module+offset frames and one warning"
cp "$PROG" "$W/gone_prog"
HEAPSCOPE_SAMPLE_RATE=65536 HEAPSCOPE_OUTPUT="$W/gone.hsd" LD_PRELOAD="$LIB" "$W/gone_prog" 10 > /dev/null
rm "$W/gone_prog"
"$CLI" pprof -o "$W/gone.pb.gz" "$W/gone.hsd" 2> "$W/gone.err" || fail "pprof failed on a missing binary"
[ "$(grep -c gone_prog "$W/gone.err")" = 1 ] || fail "expected one warning naming the binary: $(cat "$W/gone.err")"
pp -raw "$W/gone.pb.gz" | grep -q 'gone_prog+0x' || fail "no gone_prog+0x... frames"

echo "check: bad input is a one-line error with exit 2; a truncated tail is a warning"
set +e
"$CLI" pprof --at 99 -o "$W/x.pb.gz" "$W/exact.hsd" 2> "$W/e1"; r1=$?
"$CLI" pprof --at soon "$W/exact.hsd" 2> "$W/e2"; r2=$?
"$CLI" pprof --sample-type nope "$W/exact.hsd" 2> "$W/e3"; r3=$?
cp "$W/exact.hsd" "$W/bad.hsd"; printf '\377' | dd of="$W/bad.hsd" bs=1 seek=300 conv=notrunc 2> /dev/null
"$CLI" pprof -o "$W/x.pb.gz" "$W/bad.hsd" 2> "$W/e4"; r4=$?
size=$(wc -c < "$W/exact.hsd")
head -c $((size - 5)) "$W/exact.hsd" > "$W/torn.hsd"
"$CLI" pprof -o "$W/torn.pb.gz" "$W/torn.hsd" 2> "$W/e5"; r5=$?
set -e
[ $r1 = 2 ] && [ "$(wc -l < "$W/e1")" = 1 ] || fail "--at 99: $r1 $(cat "$W/e1")"
[ $r2 = 2 ] || fail "--at soon: $r2"
[ $r3 = 2 ] || fail "--sample-type nope: $r3"
[ $r4 = 2 ] && grep -q 'byte offset' "$W/e4" || fail "corrupt dump: $r4 $(cat "$W/e4")"
[ $r5 = 0 ] && grep -q 'truncated' "$W/e5" || fail "torn dump: $r5 $(cat "$W/e5")"
echo "ok: pprof profiles are exact at rate 1, unbiased when sampled, and open in go tool pprof and protoc"
