#!/bin/sh
# wrappers.sh - reports blame the callers of allocation wrappers (issue 10,
# docs/frames.md). tests/progs/wrapped allocates through its own wrapper
# app_alloc (listed nowhere: five callers, one of which leaks), a wrapper of
# it (app_strdup) and a listed one (xmalloc); run under `heapscope record`:
#  - report (text and JSON) detects app_alloc and app_strdup, names the leak
#    "remember_session (wrapped.c:LINE) via app_alloc" in suspects, at exit
#    and recommendations, the short-lived allocations at parse_header; JSON
#    "via" keys (null with --keep-frames '.*', which restores the raw view);
#  - stats (table and JSON) lists the wrappers and the callers as top sites;
#  - pprof's drop_frames/keep_frames make `go tool pprof -top` show the same
#    callers as its flat functions, never a wrapper; --keep-frames '.*' shows
#    the wrappers again; --drop-frames moves the blame the same way in stats
#    and in pprof;
#  - a bad --drop-frames / --keep-frames is one line naming the flag, exit 2,
#    for report, stats and pprof;
#  - a copy stripped of its symbols (strip --strip-all keeps .eh_frame):
#    app_alloc and app_strdup, unnamed now, are still detected, by their
#    call-frame ranges ("wrapped_stripped+0x<start>", the addresses nm gives
#    in the unstripped binary), and report, stats and pprof blame their
#    distinct callers, never them;
#  - no "-0" in any of it.
set -eu
T=wrappers
. tests/lib.sh

P=$PROGS/wrapped
need "$LIB" "$CLI" "$P"
command -v go >/dev/null || fail "go missing (sh scripts/deps.sh installs golang-go)"
command -v python3 >/dev/null || fail "python3 missing"
new_workdir
export HOME="$W/home" GOCACHE="$W/gocache" GOPATH="$W/gopath" GOFLAGS=-mod=mod
mkdir -p "$HOME"
SRC=$(cd tests/progs && pwd)/wrapped.c
LEAK_LINE=$(grep -n 'LEAK: wrapped' "$SRC" | cut -d: -f1)

check "record tests/progs/wrapped"
HEAPSCOPE_SEED=7 "$CLI" record --rate 16K --interval 0.1 -o "$W/w.hsd" -- "$P" 3 >"$W/run.out" 2>"$W/run.err" ||
    fail "record exited $?: $(cat "$W/run.err")"
grep -q '^wrapped: done' "$W/run.out" || fail "wrapped did not finish"
[ -s "$W/w.hsd" ] || fail "no dump"

# ---- report ----------------------------------------------------------------------------
check "report: the leak is blamed on the wrapper's caller"
"$CLI" report "$W/w.hsd" >"$W/report.txt" 2>"$W/report.err" || fail "report exited $?: $(cat "$W/report.err")"
grep -qx 'allocation wrappers detected: app_alloc, app_strdup (--keep-frames to keep them)' "$W/report.txt" ||
    fail "no wrappers line: $(cat "$W/report.txt")"
grep -q '^verdict: LEAK' "$W/report.txt" || fail "no leak found: $(cat "$W/report.txt")"
want="remember_session ($SRC:$LEAK_LINE) via app_alloc"
top=$(sed -n '/^suspects/{n;n;p;q}' "$W/report.txt")
case $top in *"  $want") ;; *) fail "top suspect '$top', want '$want'" ;; esac
sed -n '/^at exit/{n;p;q}' "$W/report.txt" | grep -qF "objects  $want" || fail "at exit: $(cat "$W/report.txt")"
grep -qF -- "- Nothing allocated at $want is ever freed" "$W/report.txt" || fail "no recommendation for the leak"
grep -Eq -- "- parse_header \\($SRC:[0-9]+\\) via app_alloc makes [0-9]+ short-lived allocations per second" \
    "$W/report.txt" || fail "no short-lived recommendation at parse_header: $(cat "$W/report.txt")"
# a wrapper is never a site: no "app_alloc (" nor "xmalloc (" as a name
if grep -v '^allocation wrappers detected' "$W/report.txt" | grep -Eq '(^| )(app_alloc|app_strdup|xmalloc) \('; then
    fail "a wrapper is blamed: $(grep -E '(app_alloc|app_strdup|xmalloc) \(' "$W/report.txt")"
fi
note "$want"

check "report --json: via keys and the detected wrappers"
"$CLI" report --json "$W/w.hsd" >"$W/report.json" 2>/dev/null || fail "report --json exited $?"
"$CLI" report --json --keep-frames '.*' "$W/w.hsd" >"$W/raw.json" 2>/dev/null || fail "report --json --keep-frames exited $?"
python3 - "$W/report.json" "$W/raw.json" "$SRC" "$LEAK_LINE" <<'EOF' || fail "report JSON"
import json, sys
doc, raw, src, line = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3], int(sys.argv[4])
assert doc["wrappers_detected"] == ["app_alloc", "app_strdup"], doc["wrappers_detected"]
s = doc["suspects"][0]
assert (s["function"], s["file"], s["line"], s["via"]) == ("remember_session", src, line, "app_alloc"), s
a = doc["at_exit"][0]
assert (a["function"], a["via"]) == ("remember_session", "app_alloc"), a
for site in doc["suspects"] + doc["at_exit"]:
    assert "via" in site and site["function"] not in ("app_alloc", "app_strdup", "xmalloc"), site
# the raw view: nothing detected, the wrapper itself blamed, via null
assert raw["wrappers_detected"] == [], raw["wrappers_detected"]
assert raw["suspects"][0]["function"] == "app_alloc" and raw["suspects"][0]["via"] is None, raw["suspects"][0]
assert all(site["via"] is None for site in raw["suspects"] + raw["at_exit"]), raw["at_exit"]
EOF
"$CLI" report --keep-frames '.*' "$W/w.hsd" >"$W/raw.txt" 2>/dev/null || fail "report --keep-frames exited $?"
grep -q 'allocation wrappers detected' "$W/raw.txt" && fail "--keep-frames '.*' still detects wrappers"
sed -n '/^suspects/{n;n;p;q}' "$W/raw.txt" | grep -q '  app_alloc (' || fail "raw view: $(cat "$W/raw.txt")"

# ---- stats -----------------------------------------------------------------------------
check "stats: the wrappers and the callers as top sites"
"$CLI" stats "$W/w.hsd" >"$W/stats.txt" 2>"$W/stats.err" || fail "stats exited $?: $(cat "$W/stats.err")"
grep -qx 'allocation wrappers detected: app_alloc, app_strdup (--keep-frames to keep them)' "$W/stats.txt" ||
    fail "stats: no wrappers line"
sed -n '/^top sites/{n;n;p;q}' "$W/stats.txt" | grep -qF "$want" || fail "stats top site: $(cat "$W/stats.txt")"
grep -Eq ' log_line \(.*\) via xmalloc$' "$W/stats.txt" || fail "stats: log_line via xmalloc missing"
"$CLI" stats --json "$W/w.hsd" >"$W/stats.json" 2>/dev/null || fail "stats --json exited $?"
python3 - "$W/stats.json" <<'EOF' || fail "stats JSON"
import json, sys
doc = json.load(open(sys.argv[1]))
assert doc["wrappers_detected"] == ["app_alloc", "app_strdup"], doc["wrappers_detected"]
top = doc["top_sites"][0]
assert (top["function"], top["via"]) == ("remember_session", "app_alloc"), top
for t in doc["top_sites"]:
    assert t["function"] not in ("app_alloc", "app_strdup", "xmalloc"), t
    assert set(t) == {"function", "file", "line", "via", "inuse_bytes", "inuse_objects", "alloc_bytes",
                      "alloc_objects"}, t
EOF

# ---- pprof -----------------------------------------------------------------------------
# flat_of PROFILE: the functions with flat alloc_space > 0 in `go tool pprof -top`, sorted.
flat_of() {
    go tool pprof -top -nodefraction=0 -nodecount=1000 -sample_index=alloc_space "$1" 2>/dev/null | python3 -c '
import sys
names, on = set(), False
for line in sys.stdin:
    f = line.split()
    if f[:2] == ["flat", "flat%"]:
        on = True
        continue
    if on and len(f) >= 6 and f[0] not in ("0", "0B"):
        names.add(" ".join(f[5:]).replace(" (inline)", ""))
print("\n".join(sorted(names)))'
}
# sites_of STATS_JSON: the functions of its top sites that allocated, sorted.
sites_of() {
    python3 -c '
import json, sys
doc = json.load(open(sys.argv[1]))
print("\n".join(sorted({t["function"] for t in doc["top_sites"] if t["alloc_bytes"] > 0})))' "$1"
}

check "pprof: go tool pprof -top shows the callers, as stats does"
"$CLI" pprof -o "$W/w.pb.gz" "$W/w.hsd" 2>/dev/null || fail "pprof exited $?"
flat_of "$W/w.pb.gz" >"$W/flat.txt"
sites_of "$W/stats.json" >"$W/sites.txt"
grep -qx remember_session "$W/flat.txt" || fail "pprof -top: no remember_session: $(cat "$W/flat.txt")"
grep -Eqx 'app_alloc|app_strdup|xmalloc|malloc' "$W/flat.txt" && fail "pprof -top shows a wrapper: $(cat "$W/flat.txt")"
# stats lists ten sites at most: each is a pprof leaf, and all of them when fewer
comm -23 "$W/sites.txt" "$W/flat.txt" | grep . && fail "stats sites pprof does not show as leaves"
[ "$(wc -l <"$W/sites.txt")" -ge 10 ] || cmp -s "$W/sites.txt" "$W/flat.txt" ||
    fail "pprof leaves $(tr '\n' ' ' <"$W/flat.txt") differ from stats sites $(tr '\n' ' ' <"$W/sites.txt")"
note "leaves: $(tr '\n' ' ' <"$W/flat.txt")"

check "pprof --keep-frames '.*': the raw view"
"$CLI" pprof --keep-frames '.*' -o "$W/raw.pb.gz" "$W/w.hsd" 2>/dev/null || fail "pprof --keep-frames exited $?"
[ "$(flat_of "$W/raw.pb.gz" | tr '\n' ' ')" = "app_alloc xmalloc " ] ||
    fail "raw pprof leaves: $(flat_of "$W/raw.pb.gz" | tr '\n' ' ')"

check "--drop-frames moves the blame the same way in stats and pprof"
"$CLI" stats --json --drop-frames 'log_line|store_name' "$W/w.hsd" >"$W/drop.json" 2>/dev/null || fail "stats --drop-frames"
"$CLI" pprof --drop-frames 'log_line|store_name' -o "$W/drop.pb.gz" "$W/w.hsd" 2>/dev/null || fail "pprof --drop-frames"
sites_of "$W/drop.json" >"$W/drop.sites"
flat_of "$W/drop.pb.gz" >"$W/drop.flat"
grep -Eqx 'log_line|store_name' "$W/drop.flat" && fail "pprof --drop-frames still shows them"
grep -Eqx 'log_line|store_name' "$W/drop.sites" && fail "stats --drop-frames still shows them"
comm -23 "$W/drop.sites" "$W/drop.flat" | grep . && fail "stats sites that pprof does not show with --drop-frames"
[ "$(wc -l <"$W/drop.sites")" -ge 10 ] || cmp -s "$W/drop.sites" "$W/drop.flat" ||
    fail "--drop-frames: pprof $(tr '\n' ' ' <"$W/drop.flat"), stats $(tr '\n' ' ' <"$W/drop.sites")"

# ---- bad expressions ---------------------------------------------------------------------
check "a bad regular expression: one line naming the flag, exit 2"
for cmd in report stats pprof; do
    for flag in --drop-frames --keep-frames; do
        set -- "$W/w.hsd"
        [ "$cmd" != pprof ] || set -- "$@" -o "$W/x.pb.gz"
        rc=0
        "$CLI" "$cmd" "$flag" 'app_(alloc' "$@" >"$W/bad.out" 2>"$W/bad.err" || rc=$?
        [ "$rc" = 2 ] || fail "$cmd $flag: exit $rc, want 2"
        [ "$(wc -l <"$W/bad.err")" = 1 ] || fail "$cmd $flag: stderr: $(cat "$W/bad.err")"
        grep -q "^heapscope: $cmd: $flag 'app_(alloc' is not a regular expression" "$W/bad.err" ||
            fail "$cmd $flag: $(cat "$W/bad.err")"
        [ ! -s "$W/bad.out" ] || fail "$cmd $flag: stdout: $(head -n 2 "$W/bad.out")"
        [ ! -e "$W/x.pb.gz" ] || fail "pprof $flag wrote a profile"
    done
done

# ---- without symbols -----------------------------------------------------------------------
check "stripped: app_alloc and app_strdup found by their call-frame ranges, their callers blamed"
command -v strip >/dev/null || fail "strip missing (binutils)"
S=$W/wrapped_stripped
strip --strip-all -o "$S" "$P" || fail "strip exited $?"
nm "$S" 2>&1 | grep -q 'no symbols' || fail "the stripped copy still has symbols: $(nm "$S" 2>&1 | head -n 3)"
# fn NAME: how reports name NAME's function in the stripped copy (strip moves no code)
fn() {
    a=$(nm "$P" | awk -v n="$1" '$3 == n { print $1 }')
    [ -n "$a" ] || fail "no $1 in nm $P"
    printf 'wrapped_stripped+0x%x' "0x$a"
}
ALLOC=$(fn app_alloc)
STRDUP=$(fn app_strdup)
LEAKER=$(fn remember_session)
HEAPSCOPE_SEED=7 "$CLI" record --rate 16K --interval 0.1 -o "$W/s.hsd" -- "$S" 3 >"$W/srun.out" 2>"$W/srun.err" ||
    fail "record of the stripped copy exited $?: $(cat "$W/srun.err")"
"$CLI" report "$W/s.hsd" >"$W/sreport.txt" 2>"$W/sreport.err" || fail "report exited $?: $(cat "$W/sreport.err")"
grep -qxF "allocation wrappers detected: $ALLOC, $STRDUP (--keep-frames to keep them)" "$W/sreport.txt" ||
    fail "stripped: want wrappers $ALLOC, $STRDUP: $(grep 'wrappers detected' "$W/sreport.txt")"
# "remember_session (its call) via app_alloc", each named by its function's start
top=$(sed -n '/^suspects/{n;n;p;q}' "$W/sreport.txt")
case $top in
*"  $LEAKER (wrapped_stripped+0x"*") via $ALLOC") ;;
*) fail "stripped: top suspect '$top', want '$LEAKER (...) via $ALLOC'" ;;
esac
if grep -v '^allocation wrappers detected' "$W/sreport.txt" | grep -qF -e "$ALLOC (" -e "$STRDUP ("; then
    fail "stripped: a wrapper is blamed: $(grep -F -e "$ALLOC (" -e "$STRDUP (" "$W/sreport.txt")"
fi
note "stripped: ${top##*  }"
"$CLI" stats --json "$W/s.hsd" >"$W/sstats.json" 2>/dev/null || fail "stats --json (stripped) exited $?"
python3 - "$W/sstats.json" "$ALLOC" "$STRDUP" <<'EOF' || fail "stripped: stats JSON"
import json, sys
doc, alloc, strdup = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
assert doc["wrappers_detected"] == [alloc, strdup], doc["wrappers_detected"]
for t in doc["top_sites"]:
    assert t["function"] not in (alloc, strdup), t
callers = {t["function"] for t in doc["top_sites"] if t["via"] == alloc}
assert len(callers) >= 3, ("distinct callers via app_alloc", callers)
EOF
"$CLI" pprof -o "$W/s.pb.gz" "$W/s.hsd" 2>/dev/null || fail "pprof (stripped) exited $?"
flat_of "$W/s.pb.gz" >"$W/sflat.txt"
sites_of "$W/sstats.json" >"$W/ssites.txt"
grep -qxF -e "$ALLOC" -e "$STRDUP" "$W/sflat.txt" && fail "stripped: pprof -top shows a wrapper: $(cat "$W/sflat.txt")"
comm -23 "$W/ssites.txt" "$W/sflat.txt" | grep . && fail "stripped: stats sites pprof does not show as leaves"
[ "$(wc -l <"$W/ssites.txt")" -ge 10 ] || cmp -s "$W/ssites.txt" "$W/sflat.txt" ||
    fail "stripped: pprof leaves $(tr '\n' ' ' <"$W/sflat.txt") differ from stats sites $(tr '\n' ' ' <"$W/ssites.txt")"
note "stripped leaves: $(tr '\n' ' ' <"$W/sflat.txt")"

# ---- never "-0" --------------------------------------------------------------------------
check "no -0 anywhere"
for f in report.txt report.json raw.txt raw.json stats.txt stats.json drop.json sreport.txt sstats.json; do
    if grep -En -- '(^|[^0-9A-Za-z_.+-])-0(\.0+)?([^0-9.x]|$)' "$W/$f"; then
        fail "$f prints -0"
    fi
done
