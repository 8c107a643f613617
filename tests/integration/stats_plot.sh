#!/bin/sh
# heapscope stats and plot on a real dump with a known shape
# (tests/progs/stats_grow.c: 20 steps of 256 KiB, a signal and a fork halfway):
# the table, CSV and JSON agree with info's snapshot count and with the growth,
# the SVG renders with rsvg-convert and carries the same extremes as stats,
# with signal, fork and exit markers; bad flags and bad dumps are refused.
set -eu
BUILD=${BUILD:-build}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
HS="$BUILD/heapscope"
HEAPSCOPE_INTERVAL=0.1 HEAPSCOPE_SIGNAL=SIGUSR2 HEAPSCOPE_OUTPUT="$W/grow.%p.hsd" \
    LD_PRELOAD="$BUILD/libheapscope.so" "$BUILD/progs/stats_grow" 20 256 60 > "$W/out"
pid=$(awk '/^pid/ {print $2}' "$W/out")
dump="$W/grow.$pid.hsd"
[ -f "$dump" ] || fail "no parent dump: $(ls "$W")"

echo "check: stats rows match info's snapshot count, in table, CSV and JSON"
snaps=$("$HS" info "$dump" | awk '$1 == "snapshots:" {print $2}')
"$HS" stats "$dump" > "$W/table"
"$HS" stats --csv "$dump" > "$W/csv"
"$HS" stats --json "$dump" > "$W/json"
python3 - "$W/csv" "$W/json" "$snaps" <<'PY' || fail "stats content"
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1])))
doc = json.load(open(sys.argv[2]))
n = int(sys.argv[3])
assert len(rows) == n == len(doc["snapshots"]), (len(rows), n, len(doc["snapshots"]))
for key in ("file", "pid", "program", "sample_rate", "snapshots"):
    assert key in doc, key
t = [float(r["offset_s"]) for r in rows]
assert t == sorted(t), "offsets not monotonic"
heap = [int(r["heap_in_use"]) for r in rows]
# 20 steps of 256 KiB are held at the end: the last rows show at least 5 MiB.
assert heap[-1] >= 5 * 1024 * 1024 - 64 * 1024, heap[-1]
assert heap[-1] > heap[0], (heap[0], heap[-1])
reasons = {r["reason"] for r in rows}
assert {"signal", "exit"} <= reasons, reasons
assert "fork-parent" in reasons, reasons
print(f"  {n} snapshots, heap {heap[0]} -> {heap[-1]} bytes, reasons {sorted(reasons)}")
PY
[ "$(grep -c '^ *[0-9]' "$W/table")" = "$snaps" ] || fail "table rows"

echo "check: the plot renders and shows the extremes stats reports"
"$HS" plot "$dump" -o "$W/t.svg"
rsvg-convert -o "$W/t.png" "$W/t.svg" || fail "rsvg-convert cannot render the plot"
[ -s "$W/t.png" ] || fail "empty PNG"
python3 - "$W/csv" "$W/t.svg" <<'PY' || fail "plot extremes"
import csv, re, sys
rows = list(csv.DictReader(open(sys.argv[1])))
svg = open(sys.argv[2]).read()
def attr(name):
    return int(re.search(name + r'="(\d+)"', svg).group(1))
assert attr("data-max-heap-in-use") == max(int(r["heap_in_use"]) for r in rows)
assert attr("data-max-rss") == max(int(r["rss"]) for r in rows)
assert attr("data-snapshots") == len(rows)
for reason in ("signal", "exit", "fork-parent"):
    assert f'data-reason="{reason}"' in svg, reason
PY

echo "check: bad flags and dumps are refused; a torn tail is a warning"
set +e
"$HS" stats --xml "$dump" 2> /dev/null; r1=$?
"$HS" plot "$dump" 2> /dev/null; r2=$?
printf 'HSDUMP\r\n\001\000\000\000\000\000\000\000garbage!' > "$W/bad.hsd"
"$HS" stats "$W/bad.hsd" 2> "$W/e3"; r3=$?
size=$(wc -c < "$dump")
head -c $((size - 7)) "$dump" > "$W/torn.hsd"
"$HS" stats "$W/torn.hsd" > /dev/null 2> "$W/e4"; r4=$?
set -e
[ $r1 = 2 ] && [ $r2 = 2 ] || fail "bad flags: $r1 $r2"
[ $r3 = 2 ] && [ "$(wc -l < "$W/e3")" = 1 ] || fail "corrupt dump: $r3 $(cat "$W/e3")"
[ $r4 = 0 ] && grep -q truncated "$W/e4" || fail "torn dump: $r4 $(cat "$W/e4")"
echo "ok: stats and plot agree with the dump"
