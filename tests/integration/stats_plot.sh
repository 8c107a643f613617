#!/bin/sh
# stats_plot.sh - `heapscope stats` and `heapscope plot` on real dumps of
# tests/progs/stats_grow (20 steps of 1 MiB held to the end, one SIGUSR2,
# one fork) and on synthetic ones written here (one snapshot; a flat series;
# 2^64-1 bytes; 3000 snapshots over 3 days with a spike and a dip). Checks:
# table/CSV/JSON have one row per snapshot `info` counts; CSV and JSON parse
# with the documented keys and agree; offsets never go back; the rates add
# up to the cumulative counters; the last rows hold the known growth; the
# SVG is well-formed, self-contained, renders with rsvg-convert, and its
# data-max-* attributes equal the maxima of the stats; fork/signal/exit
# markers appear exactly when such snapshots exist; decimation keeps the
# extremes; bad flags and corrupt dumps fail with exit 2 and one line; a
# truncated dump is a warning with exit 0.
set -eu
T=stats_plot
. tests/lib.sh

P=$PROGS/stats_grow
need "$LIB" "$CLI" "$P"
command -v python3 >/dev/null || fail "python3 missing (sh scripts/deps.sh)"
command -v rsvg-convert >/dev/null || fail "rsvg-convert missing (sh scripts/deps.sh installs librsvg2-bin)"
new_workdir

# expect_error CODE REGEX CMD...: exit CODE, nothing on stdout, one stderr line matching REGEX.
expect_error() {
    want=$1 pattern=$2
    shift 2
    rc=0
    "$@" >"$W/err.out" 2>"$W/err.err" || rc=$?
    [ "$rc" = "$want" ] || fail "$*: exit $rc, want $want ($(head -n 1 "$W/err.err"))"
    [ "$(wc -l <"$W/err.err")" -eq 1 ] || fail "$*: stderr is not one line: $(cat "$W/err.err")"
    grep -Eq -- "$pattern" "$W/err.err" || fail "$*: stderr '$(cat "$W/err.err")' does not match '$pattern'"
    [ ! -s "$W/err.out" ] || fail "$*: unexpected stdout: $(head -n 3 "$W/err.out")"
}

# snapshots_of DUMP: the SNAPSHOT count `heapscope info` reports (exit 0 required).
snapshots_of() {
    "$CLI" info "$1" >"$W/count.info" 2>/dev/null || fail "heapscope info $(basename "$1") failed"
    records_of "$W/count.info" SNAPSHOT
}

# stats_all DUMP NAME: table, CSV and JSON of DUMP into $W/NAME.{txt,csv,json}
# (each must exit 0), then checks them against each other and `info`.
stats_all() {
    "$CLI" stats "$1" >"$W/$2.txt" 2>"$W/$2.txt.err" || fail "stats $2: exit $?: $(head -n 1 "$W/$2.txt.err")"
    "$CLI" stats --csv "$1" >"$W/$2.csv" 2>"$W/$2.csv.err" || fail "stats --csv $2: exit $?"
    "$CLI" stats --json "$1" >"$W/$2.json" 2>"$W/$2.json.err" || fail "stats --json $2: exit $?"
    n=$(snapshots_of "$1")
    # the rows end at the blank line before the wrappers and top sites
    rows=$(awk 'NR > 2 && $0 == "" {exit} NR > 2 {n++} END {print n + 0}' "$W/$2.txt")
    [ "$rows" = "$n" ] || fail "$2: the table has $rows rows, info counts $n snapshots"
    python3 - "$W/$2.csv" "$W/$2.json" "$n" "$1" <<'EOF' || fail "$2: CSV/JSON check failed"
import csv, json, sys
csv_path, json_path, n, dump = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
cols = ["seq", "offset_s", "reason", "heap_in_use", "heap_reserved", "rss", "live_threads", "alloc_calls",
        "free_calls", "alloc_calls_per_s", "free_calls_per_s", "est_inuse_bytes", "lost_samples", "heap_source"]
with open(csv_path, newline="") as f:
    rows = list(csv.DictReader(f))
    f.seek(0)
    header = next(csv.reader(f))
assert header == cols, "CSV header %r" % header
assert len(rows) == n, "CSV has %d rows, info counts %d" % (len(rows), n)
doc = json.load(open(json_path))
for k in ("file", "pid", "program", "sample_rate", "snapshots"):
    assert k in doc, "JSON lacks key %s" % k
assert doc["file"] == dump, doc["file"]
snaps = doc["snapshots"]
assert len(snaps) == n, "JSON has %d snapshots, info counts %d" % (len(snaps), n)
prev = None
for i, (r, s) in enumerate(zip(rows, snaps)):
    assert sorted(s) == sorted(cols), "JSON snapshot %d keys %r" % (i, sorted(s))
    for c in cols:
        if c in ("reason", "heap_source"):
            assert r[c] == s[c], (i, c)
        elif r[c] == "":
            assert s[c] is None, (i, c, s[c])
        else:
            assert abs(float(r[c]) - float(s[c])) <= 1e-6 * max(1.0, abs(float(s[c]))), (i, c, r[c], s[c])
    if prev is not None:
        assert float(r["offset_s"]) >= float(prev["offset_s"]), "offset goes back at row %d" % i
        assert int(r["seq"]) > int(prev["seq"]), "seq does not increase at row %d" % i
    prev = r
EOF
    note "$2: $n snapshots in table, CSV and JSON"
}

# plot_check DUMP NAME: plot DUMP to $W/NAME.svg, render it to PNG, and
# check the SVG against $W/NAME.csv (maxima, snapshot count, markers).
plot_check() {
    "$CLI" plot "$1" -o "$W/$2.svg" 2>"$W/$2.svg.err" || fail "plot $2: exit $?: $(head -n 1 "$W/$2.svg.err")"
    rsvg-convert -o "$W/$2.png" "$W/$2.svg" || fail "rsvg-convert $2.svg: exit $?"
    [ -s "$W/$2.png" ] || fail "$2.png is empty"
    [ "$(head -c 4 "$W/$2.png" | od -An -c | tr -d ' ')" = '211PNG' ] || fail "$2.png is not a PNG"
    python3 - "$W/$2.svg" "$W/$2.csv" <<'EOF' || fail "$2: SVG check failed"
import csv, re, sys
import xml.etree.ElementTree as ET
svg_path, csv_path = sys.argv[1], sys.argv[2]
text = open(svg_path, encoding="utf-8").read()
root = ET.fromstring(text.encode("utf-8"))
NS = "{http://www.w3.org/2000/svg}"
assert root.tag == NS + "svg", root.tag
# Self-contained: no links, no external url(), no images.
assert "href" not in text, "SVG has an href"
assert not re.search(r"url\((?!#)", text), "SVG has an external url()"
assert root.find(".//" + NS + "image") is None, "SVG embeds an image"
rows = list(csv.DictReader(open(csv_path, newline="")))
want = {"data-snapshots": len(rows),
        "data-max-heap-in-use": max([int(r["heap_in_use"]) for r in rows] or [0]),
        "data-max-rss": max([int(r["rss"]) for r in rows] or [0]),
        "data-max-live-threads": max([int(r["live_threads"]) for r in rows] or [0])}
for k, v in want.items():
    assert root.get(k) == str(v), "%s is %s, stats say %s" % (k, root.get(k), v)
desc = root.find(NS + "desc").text
assert "max heap in use %d bytes" % want["data-max-heap-in-use"] in desc, desc
assert "max RSS %d bytes" % want["data-max-rss"] in desc, desc
title = root.find(NS + "title").text
assert "pid" in title, title
# Markers: one group per fork/signal/exit snapshot (up to the drawing cap).
drawn = [g.get("data-reason") for g in root.iter(NS + "g")
         if "marker" in (g.get("class") or "").split() and g.get("data-reason")]
for reason in ("fork-parent", "fork-child", "signal", "exit"):
    have = sum(1 for r in rows if r["reason"] == reason)
    got = drawn.count(reason)
    assert got == min(have, 200) or (have > 200 and got <= 200), "%d %s markers drawn, %d snapshots" % (got, reason, have)
# Every series line has at most 1024 points.
for pl in root.iter(NS + "polyline"):
    pts = pl.get("points").split()
    assert 1 <= len(pts) <= 1024, "%s has %d points" % (pl.get("class"), len(pts))
EOF
}

check "a process that grows by 20 x 1 MiB, forks once and takes SIGUSR2 once: dumps for parent and child"
mkdir -p "$W/run"
rc=0
(cd "$W/run" && exec timeout 60 env LD_PRELOAD="$LIB" HEAPSCOPE_INTERVAL=0.1 HEAPSCOPE_SIGNAL=SIGUSR2 \
    HEAPSCOPE_SAMPLE_RATE=64K HEAPSCOPE_SEED=11 HEAPSCOPE_OUTPUT="$W/run/%e.%p.hsd" "$P" 20 1024 50) \
    >"$W/run.out" 2>"$W/run.err" || rc=$?
[ "$rc" = 0 ] || fail "stats_grow exited with $rc: $(head -n 1 "$W/run.err")"
parent=$(awk '$1 == "pid" { print $2 }' "$W/run.out")
child=$(awk '$1 == "child" { print $2 }' "$W/run.out")
held=$(awk '$1 == "held" { print $2 }' "$W/run.out")
PD=$W/run/stats_grow.$parent.hsd
CD=$W/run/stats_grow.$child.hsd
for d in "$PD" "$CD"; do
    [ -f "$d" ] || fail "$(basename "$d") missing: $(ls "$W/run")"
done
note "parent $parent, child $child, $held bytes held at exit"

check "stats: one row per snapshot in table, CSV and JSON; CSV and JSON agree; offsets and seqs increase"
stats_all "$PD" parent
stats_all "$CD" child
grep -q 'MiB' "$W/parent.txt" || fail "the table has no MiB sizes"
head -n 1 "$W/parent.txt" | grep -q "pid $parent, program stats_grow" || fail "table title: $(head -n 1 "$W/parent.txt")"

check "stats: the last rows hold the known growth; rates add up to the counters; reasons as run"
python3 - "$W/parent.csv" "$W/child.csv" "$held" <<'EOF' || fail "the stats do not match the program's behaviour"
import csv, sys
parent = list(csv.DictReader(open(sys.argv[1], newline="")))
child = list(csv.DictReader(open(sys.argv[2], newline="")))
held = int(sys.argv[3])
last, first = parent[-1], parent[0]
reasons = [r["reason"] for r in parent]
assert reasons[-1] == "exit", reasons
assert reasons.count("signal") == 1, reasons
assert reasons.count("fork-parent") == 1, reasons
assert reasons.count("interval") >= 5, reasons
heap = int(last["heap_in_use"])
# glibc: the heap figure is the sampled estimate (mallinfo2 would walk the
# heap under the arena lock); 64 KiB rate over 20 MiB: a standard error near 6%.
assert last["heap_source"] == "sampled", last["heap_source"]
assert 0.75 * held <= heap <= held * 1.25, "last heap_in_use %d vs %d held" % (heap, held)
assert int(first["heap_in_use"]) < heap / 2, "no growth: first %s, last %d" % (first["heap_in_use"], heap)
assert int(last["rss"]) >= held, "RSS %s below the %d bytes held (all touched)" % (last["rss"], held)
est = float(last["est_inuse_bytes"])
# 64 KiB rate over 20 MiB: ~320 samples, a standard error near 6%.
assert 0.75 * held <= est <= 1.25 * held, "est_inuse_bytes %.0f vs %d held" % (est, held)
assert int(last["heap_reserved"]) == 0, "heap_reserved is unknown over glibc, not %s" % last["heap_reserved"]
# sum of rate x interval = the cumulative counter (first row: since the start)
for counter in ("alloc_calls", "free_calls"):
    total, t = 0.0, 0.0
    for r in parent:
        total += float(r[counter + "_per_s"]) * (float(r["offset_s"]) - t)
        t = float(r["offset_s"])
    want = int(last[counter])
    assert abs(total - want) <= 0.01 * want + 2, "%s: rates add up to %.1f, counter %d" % (counter, total, want)
assert int(last["alloc_calls"]) >= held // 4096, last["alloc_calls"]
assert child[0]["reason"] == "fork-child", child[0]["reason"]
# A child's counts start at the fork: its first row's rate is its own since
# then, and it never shows the parent's cumulative calls.
assert child[0]["alloc_calls_per_s"] != "", "a forked child's first row has no rate"
assert int(child[-1]["alloc_calls"]) < int(last["alloc_calls"]) / 2, (child[-1]["alloc_calls"], last["alloc_calls"])
t, total = 0.0, 0.0
for r in child:
    total += float(r["alloc_calls_per_s"]) * (float(r["offset_s"]) - t)
    t = float(r["offset_s"])
assert abs(total - int(child[-1]["alloc_calls"])) <= 0.01 * int(child[-1]["alloc_calls"]) + 2, (total, child[-1]["alloc_calls"])
assert child[-1]["reason"] == "exit", child[-1]["reason"]
print("stats_plot:   last heap_in_use %d (held %d), est_inuse_bytes %.0f" % (heap, held, est))
EOF

check "plot: well-formed, self-contained SVG; renders to PNG; maxima and markers match the stats"
plot_check "$PD" parent
plot_check "$CD" child
grep -q 'data-reason="signal"' "$W/parent.svg" || fail "no signal marker in the parent's plot"
grep -q 'data-reason="fork-parent"' "$W/parent.svg" || fail "no fork marker in the parent's plot"
grep -q 'data-reason="exit"' "$W/parent.svg" || fail "no exit marker in the parent's plot"
grep -q 'data-reason="fork-child"' "$W/child.svg" || fail "no fork-child marker in the child's plot"
grep -q 'time since start (s)' "$W/parent.svg" || fail "x axis is not labelled in seconds"
grep -q 'MiB</text>' "$W/parent.svg" || fail "left axis ticks are not in MiB"
"$CLI" plot -o - "$PD" >"$W/stdout.svg" 2>/dev/null || fail "plot -o - : exit $?"
cmp -s "$W/stdout.svg" "$W/parent.svg" || fail "plot -o - differs from plot -o FILE"
note "parent.svg $(wc -c <"$W/parent.svg") bytes, parent.png $(wc -c <"$W/parent.png") bytes"

check "synthetic dumps: one snapshot; a flat series; 2^64-1 bytes; 3000 snapshots over 3 days with a spike and a dip"
cat >"$W/gen.py" <<'EOF'
# gen.py KIND OUT: a valid dump (FORMAT.md) whose snapshots follow KIND.
import struct, sys, zlib
kind, out = sys.argv[1], sys.argv[2]
def rec(t, payload):
    head = struct.pack("<II", t, len(payload))
    return head + payload + struct.pack("<I", zlib.crc32(head + payload) & 0xffffffff)
def s(b):
    return struct.pack("<I", len(b)) + b
start = 1_000_000_000_000
data = b"HSDUMP\r\n" + struct.pack("<II", 2, 0)
data += rec(1, struct.pack("<IIQQQII", 4242, 1, 1_700_000_000 * 10**9, start, 524288, 64, 1000)
            + s(b"/opt/<gen>&\"synth\"") + s(b"./<gen>&\"synth\"\0--flag\0") + s(b"host"))
data += rec(3, struct.pack("<II", 1, 1) + struct.pack("<Q", 0x401000))
if kind == "one":
    series = [(0.5, 1, 1 << 20, 3 << 20, 2)]
elif kind == "huge":  # u64 extremes: a 2^63 heap and a 2^64-1 RSS
    series = [(1.0, 1, 1 << 62, 1 << 63, 1), (2.0, 1, 1 << 63, (1 << 64) - 1, 70000), (3.0, 2, 0, 0, 0)]
elif kind == "flat":
    series = [(0.1 * (i + 1), 1, 5 << 20, 5 << 20, 3) for i in range(40)]
else:  # long: 3000 snapshots 90 s apart; heap 100 MiB with a 1000 MiB spike and a 0 dip
    series = []
    for i in range(3000):
        heap = 1000 << 20 if i == 1777 else 0 if i == 2500 else 100 << 20
        rss = 1200 << 20
        reason = 5 if i % 500 == 250 else 2 if i == 2999 else 1
        series.append((90.0 * (i + 1), reason, heap, rss, 1 + i % 7))
alloc = 0
for seq, (t, reason, heap, rss, threads) in enumerate(series):
    alloc += 1000
    stats = [heap, heap, rss, threads, alloc, alloc // 2, 10, 10 << 20, 0, 0, 0, 10, 1, 0]
    rows = b""
    if seq == 0:
        rows = struct.pack("<IIQQQQdddd", 1, 0, 10, 10 << 20, 0, 0, 20.0, 20.0 * 524288, 0.0, 0.0)
    ns = start + int(t * 1e9)
    payload = struct.pack("<QQII", ns, 1_700_000_000 * 10**9 + int(t * 1e9), seq, reason)
    payload += struct.pack("<14Q", *stats) + struct.pack("<I", 1 if rows else 0) + rows
    data += rec(4, payload)
data += rec(6, struct.pack("<QI", start + int(series[-1][0] * 1e9), series[-1][1]))
open(out, "wb").write(data)
EOF
for kind in one flat huge long; do
    python3 "$W/gen.py" $kind "$W/$kind.hsd" || fail "gen.py $kind"
    info "$W/$kind.hsd" "$W/$kind.info"
    stats_all "$W/$kind.hsd" "$kind"
    plot_check "$W/$kind.hsd" "$kind"
done
grep -q 'sampled in use' "$W/one.txt" || fail "table header"
grep -q '10.0 MiB' "$W/one.txt" || fail "one: sampled in use is not 10.0 MiB (20 samples of 512 KiB): $(tail -n 1 "$W/one.txt")"
grep -q '&lt;gen&gt;&amp;' "$W/one.svg" || fail "the program name is not escaped in the SVG title"
grep -q '18446744073709551615' "$W/huge.csv" || fail "2^64-1 RSS not exact in the CSV"
grep -q '16.0 EiB' "$W/huge.txt" || fail "2^64-1 RSS not shown as 16.0 EiB in the table"
grep -q 'EiB</text>' "$W/huge.svg" || fail "2^64-1 RSS did not give an EiB axis"
grep -q 'time since start (days)' "$W/long.svg" || fail "a 3-day span is not in days"
python3 - "$W/long.svg" <<'EOF' || fail "decimation lost the spike or the dip"
import sys
import xml.etree.ElementTree as ET
NS = "{http://www.w3.org/2000/svg}"
root = ET.parse(sys.argv[1]).getroot()
heap = [pl for pl in root.iter(NS + "polyline") if pl.get("class") == "heap"][0]
ys = [float(p.split(",")[1]) for p in heap.get("points").split()]
assert len(ys) <= 1024, len(ys)
# baseline 100 MiB, spike 1000 MiB, dip 0: (y(0) - y(spike)) / (y(0) - y(base)) = 10
bottom, top = max(ys), min(ys)
base = sorted(ys)[len(ys) // 2]
ratio = (bottom - top) / (bottom - base)
assert abs(ratio - 10) < 0.1, "spike/base ratio %.3f, want 10" % ratio
EOF
note "3000 snapshots: $(grep -o 'data-points="[0-9]*"' "$W/long.svg"), spike and dip kept"

check "bad usage: exit 2 and one line"
expect_error 2 "^heapscope: stats: unknown option '--bogus'" "$CLI" stats --bogus "$PD"
expect_error 2 '^heapscope: stats: --csv and --json exclude each other' "$CLI" stats --csv --json "$PD"
expect_error 2 '^heapscope: stats: missing DUMP' "$CLI" stats --csv
expect_error 2 '^heapscope: stats: one DUMP at a time' "$CLI" stats "$PD" "$CD"
expect_error 2 "^heapscope: plot: unknown option '--bogus'" "$CLI" plot --bogus "$PD" -o "$W/x.svg"
expect_error 2 '^heapscope: plot: missing -o' "$CLI" plot "$PD"
expect_error 2 '^heapscope: plot: -o needs a value' "$CLI" plot "$PD" -o
expect_error 2 '^heapscope: plot: missing DUMP' "$CLI" plot -o "$W/x.svg"
expect_error 2 '^heapscope: plot: -o given twice' "$CLI" plot "$PD" -o "$W/x.svg" --output "$W/y.svg"
expect_error 2 "$W/nonexistent.hsd" "$CLI" stats "$W/nonexistent.hsd"
[ ! -e "$W/x.svg" ] || fail "a failed plot wrote $W/x.svg"
"$CLI" help stats | grep -q -- '--json' || fail "help stats"
"$CLI" plot --help | grep -q -- '-o' || fail "plot --help"

check "corrupt dump: exit 2, one line naming the file and byte offset, no output"
cp "$PD" "$W/corrupt.hsd"
# Inside the HEADER record's payload (preamble 16 bytes + type and length 8):
# a checksum mismatch. A byte in the middle may land in a length field, which
# reads as a torn tail (a warning, exit 0), not as corruption.
off=26
printf '\377' | dd of="$W/corrupt.hsd" bs=1 seek=$off conv=notrunc 2>/dev/null
cmp -s "$PD" "$W/corrupt.hsd" && fail "the corruption did not change the file"
for fmt in "" --csv --json; do
    # shellcheck disable=SC2086 # $fmt is empty or one flag
    expect_error 2 "corrupt.hsd.*byte offset [0-9]+" "$CLI" stats $fmt "$W/corrupt.hsd"
done
expect_error 2 "corrupt.hsd.*byte offset [0-9]+" "$CLI" plot "$W/corrupt.hsd" -o "$W/corrupt.svg"
[ ! -e "$W/corrupt.svg" ] || fail "plot of a corrupt dump wrote an SVG"

check "truncated dump (torn last snapshot): warning, exit 0, the complete snapshots"
# END is the last 24 bytes (8 frame + 12 payload + 4 crc); 34 cuts into the exit snapshot.
head -c $((size - 34)) "$PD" >"$W/trunc.hsd"
n_full=$(snapshots_of "$PD")
n_trunc=$(snapshots_of "$W/trunc.hsd")
[ "$n_trunc" = $((n_full - 1)) ] || fail "truncated dump: info counts $n_trunc snapshots, want $((n_full - 1))"
for fmt in "" --csv --json; do
    rc=0
    # shellcheck disable=SC2086
    "$CLI" stats $fmt "$W/trunc.hsd" >"$W/trunc.out" 2>"$W/trunc.err" || rc=$?
    [ "$rc" = 0 ] || fail "stats $fmt of a truncated dump: exit $rc"
    grep -q 'warning:.*truncated' "$W/trunc.err" || fail "stats $fmt: no truncation warning: $(cat "$W/trunc.err")"
    [ "$(wc -l <"$W/trunc.err")" = 1 ] || fail "stats $fmt: more than one warning line"
done
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["truncated"] is True; assert len(d["snapshots"]) == int(sys.argv[2])' \
    "$W/trunc.out" "$n_trunc" || fail "JSON of the truncated dump"
stats_all "$W/trunc.hsd" trunc
rc=0
"$CLI" plot "$W/trunc.hsd" -o "$W/trunc.svg" 2>"$W/trunc.err" || rc=$?
[ "$rc" = 0 ] || fail "plot of a truncated dump: exit $rc"
grep -q 'warning:.*truncated' "$W/trunc.err" || fail "plot: no truncation warning"
plot_check "$W/trunc.hsd" trunc

echo "$T: ok"
