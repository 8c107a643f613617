#!/bin/sh
# live_wrappers.sh - the in-process site is the caller of an allocation
# wrapper, not the wrapper (issue 10; interposer/sitename.c and
# framefilter.c). tests/progs/live_wrapped leaks through xmalloc (in the
# default table) and app_alloc (not in it):
#  a. the live leak warning names leak_via_xmalloc "via xmalloc"; with
#     HEAPSCOPE_DROP_FRAMES=app_alloc it names leak_via_app "via app_alloc",
#     without it app_alloc itself (the variable is what changes it);
#  b. with the live service: /debug/heapscope/leaks names both callers and
#     neither wrapper, heapscope_site_growth_bytes has the callers,
#     `go tool pprof -top` on /debug/pprof/heap shows the callers as the
#     leaves, and the profile's drop_frames (protoc) holds the expression;
#  c. a HEAPSCOPE_DROP_FRAMES that is not a regular expression gives one
#     warning line naming the variable, the default table still applies,
#     and the program runs to its end with status 0.
# Run from the repository root; $BUILD defaults to build.
T=live_wrappers
# shellcheck disable=SC1091 # sourced from the repository root
. tests/lib.sh

for tool in curl go protoc python3; do
    command -v "$tool" >/dev/null 2>&1 || fail "$tool missing (sh scripts/deps.sh)"
done
need "$LIB" "$PROGS/live_wrapped"
new_workdir
export PPROF_TMPDIR="$W/pprof" # where go tool pprof saves what it fetched

# run NAME MODE SECONDS VAR=VALUE...: live_wrapped in the background under the
# library, a leak window of 2 s and a snapshot every 0.1 s.
run() {
    name=$1 mode=$2 secs=$3
    shift 3
    env HEAPSCOPE_OUTPUT="$W/$name.%p.hsd" HEAPSCOPE_INTERVAL=0.1 HEAPSCOPE_LEAK_WINDOW=2 \
        HEAPSCOPE_LEAK_THRESHOLD=256K HEAPSCOPE_SAMPLE_RATE=16K "$@" LD_PRELOAD="$LIB" \
        "$PROGS/live_wrapped" "$mode" "$secs" >"$W/$name.out" 2>"$W/$name.err" &
    BG="$BG $!"
    echo "$!" >"$W/$name.pid"
}
# finish NAME: waits for the run; fails unless it exited 0 after "done".
finish() {
    wait "$(cat "$W/$1.pid")" || fail "$1: live_wrapped exited $?: $(cat "$W/$1.err")"
    grep -qx 'done' "$W/$1.out" || fail "$1: live_wrapped did not finish: $(cat "$W/$1.out" "$W/$1.err")"
}
# warned NAME SITE: the run's leak warnings all name SITE as the top growing site.
warned() {
    grep -q '^heapscope: leak suspected in live_wrapped' "$W/$1.err" || fail "$1: no leak warning: $(cat "$W/$1.err")"
    if grep '^heapscope: leak suspected' "$W/$1.err" | grep -v "top growing site: $2\$" >&2; then
        fail "$1: a warning does not name '$2'"
    fi
}

run x x 4
run app app 4
run app_dropped app 4 HEAPSCOPE_DROP_FRAMES=app_alloc
run bad x 4 HEAPSCOPE_DROP_FRAMES='app_alloc(' HEAPSCOPE_HTTP=127.0.0.1:0
run both both 30 HEAPSCOPE_DROP_FRAMES=app_alloc HEAPSCOPE_HTTP=127.0.0.1:0

# get URL OUT: the body into OUT; prints the HTTP status.
get() { curl -s -o "$2" -w '%{http_code}' --max-time 10 "$1"; }

check "c. a bad HEAPSCOPE_DROP_FRAMES: one warning line at start, the table alone, the program unharmed"
BAD=$(live_url "$W/bad.err") || fail "bad: no live service line: $(cat "$W/bad.err")"
for path in /debug/heapscope/leaks /metrics /debug/pprof/heap; do
    [ "$(get "$BAD$path" "$W/bad.body")" = 200 ] || fail "bad: GET $path: $(head -c 300 "$W/bad.body")"
done
finish bad
n=$(grep -c 'HEAPSCOPE_DROP_FRAMES' "$W/bad.err" || :)
[ "$n" = 1 ] || fail "bad: $n lines name HEAPSCOPE_DROP_FRAMES: $(cat "$W/bad.err")"
grep -q "^heapscope: warning: HEAPSCOPE_DROP_FRAMES 'app_alloc(' is not a regular expression: .*; using the default allocator and wrapper table alone\$" \
    "$W/bad.err" || fail "bad: the warning line: $(grep HEAPSCOPE_DROP_FRAMES "$W/bad.err")"
# At start: before the first leak warning.
first=$(grep -n 'HEAPSCOPE_DROP_FRAMES\|leak suspected' "$W/bad.err" | head -n 1)
case $first in *HEAPSCOPE_DROP_FRAMES*) ;; *) fail "bad: the warning came late: $first" ;; esac
warned bad 'leak_via_xmalloc (live_wrapped+0x[0-9a-f]*) via xmalloc'

check "a. the live warning names the caller via the wrapper"
finish x
warned x 'leak_via_xmalloc (live_wrapped+0x[0-9a-f]*) via xmalloc'
note "$(grep -m 1 'leak suspected' "$W/x.err" | sed 's/.*top growing site: /top growing site: /')"
finish app
warned app 'app_alloc (live_wrapped+0x[0-9a-f]*)'
finish app_dropped
warned app_dropped 'leak_via_app (live_wrapped+0x[0-9a-f]*) via app_alloc'
note "$(grep -m 1 'leak suspected' "$W/app_dropped.err" | sed 's/.*top growing site: /top growing site: /')"
for r in x app app_dropped; do
    ! grep -v '^heapscope: leak suspected' "$W/$r.err" | grep . >&2 || fail "$r: unexpected stderr"
done

check "b. /debug/heapscope/leaks, /metrics and go tool pprof name the callers"
URL=$(live_url "$W/both.err") || fail "both: no live service line: $(cat "$W/both.err")"
both_suspected() {
    [ "$(get "$URL/debug/heapscope/leaks" "$W/leaks.json")" = 200 ] &&
        python3 -c "
import json, sys
r = json.load(open('$W/leaks.json'))
sys.exit(0 if r['leak']['detected'] and len(r['suspects']) >= 2 else 1)"
}
wait_until 20 both_suspected || fail "both: no leak with two suspects in 20 s: $(head -c 800 "$W/leaks.json")"
python3 - "$W/leaks.json" <<'EOF' || fail "/debug/heapscope/leaks: $(head -c 800 "$W/leaks.json")"
import json, sys
r = json.load(open(sys.argv[1]))
names = [s["function"] for s in r["suspects"]]
assert set(names[:2]) == {"leak_via_xmalloc", "leak_via_app"}, names
assert "xmalloc" not in names and "app_alloc" not in names, names
assert names[0] == "leak_via_xmalloc", names  # twice as fast
for s in r["suspects"][:2]:
    assert s["file"].endswith("/live_wrapped"), s
    assert s["via"] == {"leak_via_xmalloc": "xmalloc", "leak_via_app": "app_alloc"}[s["function"]], s
    assert s["stack"][1] == s["function"], s["stack"]  # the stack still starts at the wrapper
assert "leak_via_xmalloc" in r["recommendations"][0], r["recommendations"]
EOF
[ "$(get "$URL/metrics" "$W/metrics")" = 200 ] || fail "GET /metrics"
for f in leak_via_xmalloc leak_via_app; do
    grep -q "^heapscope_site_growth_bytes{function=\"$f\"," "$W/metrics" ||
        fail "/metrics: no site growth for $f: $(grep site_growth_bytes "$W/metrics")"
done
! grep -q '^heapscope_site_growth_bytes{function="\(xmalloc\|app_alloc\)"' "$W/metrics" ||
    fail "/metrics names a wrapper: $(grep site_growth_bytes "$W/metrics")"
go tool pprof -top "$URL/debug/pprof/heap" >"$W/top" 2>"$W/top.err" || fail "go tool pprof -top: $(cat "$W/top.err")"
# The rows with flat bytes are the leaves: the two callers, no wrapper.
awk '$1 != "0" && $NF ~ /^[a-z_]+$/ && NF == 6 { print $NF }' "$W/top" | sort >"$W/leaves"
[ "$(tr '\n' ' ' <"$W/leaves")" = "leak_via_app leak_via_xmalloc " ] ||
    fail "go tool pprof -top leaves are '$(tr '\n' ' ' <"$W/leaves")': $(cat "$W/top")"
note "go tool pprof -top: $(grep -c . "$W/leaves") leaves, $(awk '$NF == "leak_via_xmalloc" { print $1 }' "$W/top") in leak_via_xmalloc"
[ "$(get "$URL/debug/pprof/heap" "$W/heap.pb.gz")" = 200 ] || fail "GET /debug/pprof/heap"
gzip -dc "$W/heap.pb.gz" | protoc --decode perftools.profiles.Profile common/profile.proto >"$W/heap.proto" ||
    fail "protoc --decode"
python3 - "$W/heap.proto" <<'EOF' || fail "drop_frames: $(grep -n 'drop_frames' "$W/heap.proto")"
import re, sys
text = open(sys.argv[1]).read()
strings = [bytes(s, "latin-1").decode("unicode_escape") for s in re.findall(r'^string_table: "(.*)"$', text, re.M)]
drop = strings[int(re.search(r"^drop_frames: (\d+)$", text, re.M).group(1))]
assert "app_alloc" in drop and "xmalloc" in drop and "malloc" in drop, drop
assert not re.search(r"^keep_frames:", text, re.M)
EOF
warned both 'leak_via_xmalloc (live_wrapped+0x[0-9a-f]*) via xmalloc'
kill "$(cat "$W/both.pid")" 2>/dev/null || :
echo "$T: ok"
