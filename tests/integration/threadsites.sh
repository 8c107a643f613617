#!/bin/sh
# threadsites.sh - every thread start and exit is counted (issue 7), however
# many there are between two snapshots. tests/progs/thread_storm creates and
# joins 10,000 short-lived threads from two sites (spawn_a, spawn_b) beside
# 30 that never exit (start_sleepers), with HEAPSCOPE_INTERVAL=30 so that
# only the exit snapshot drains the interposer's 4,096-slot event queue:
#  - `heapscope info` says 10030 started, 10000 exited; report --json gives
#    each site's exact created/exited/live (5000/5000/0 twice, 30/0/30) and
#    totals; the host sees no "dropping samples" line;
#  - at a 20 ms interval (THREAD_SITES in many snapshots, cumulative) the
#    same counts; a fork child's dump counts from the fork (10 and 10);
#  - 5,000 threads from 5,000 creation stacks overfill the 4,096-site table:
#    4,095 sites and the overflow site (905) still add up to 5,000;
#  - a synthetic dump (tests/tools/gen_dump.c --thread-sites) whose THREAD
#    records cover fewer threads than its THREAD_SITES records is counted
#    from the sites, once; a THREAD_SITES entry naming an undefined stack is
#    corrupt (exit 2, record and byte offset named).
# BUILD may name a directory holding another libheapscope.so and heapscope
# (with progs/thread_storm): the old library counts about 2,048 and fails.
set -eu
T=threadsites
. tests/lib.sh

P=$PROGS/thread_storm
need "$LIB" "$CLI" "$P"
new_workdir

# storm NAME INTERVAL [ARGS...]: runs thread_storm ARGS under the library,
# one dump per process in $W/NAME/, stderr in $W/NAME.err.
storm() {
    name=$1 interval=$2
    shift 2
    mkdir -p "$W/$name"
    rc=0
    timeout 120 env LD_PRELOAD="$LIB" HEAPSCOPE_INTERVAL="$interval" HEAPSCOPE_OUTPUT="$W/$name/%p.hsd" \
        "$P" "$@" >"$W/$name.out" 2>"$W/$name.err" || rc=$?
    [ "$rc" = 0 ] || fail "$name: thread_storm exited with status $rc: $(head -n 1 "$W/$name.err")"
}
quiet() { [ ! -s "$W/$1.err" ] || fail "$1: stderr not empty: $(head -n 2 "$W/$1.err")"; }

# threads_line INFO: "STARTED EXITED" from the info output's threads line.
threads_line() { awk '$1 == "threads:" && $3 == "started," { print $2, $4 }' "$1"; }

# report_check DUMP PYTHON-CONDITION: report --json DUMP into $W/report.json,
# and the condition over r (the report) and sites (function -> site) holds.
report_check() {
    "$CLI" report --json "$1" >"$W/report.json" 2>"$W/report.err" ||
        fail "report $(basename "$1") exited non-zero: $(head -n 1 "$W/report.err")"
    python3 - "$W/report.json" "$2" <<'EOF' || fail "report $(basename "$1"): $2 does not hold"
import json, sys
r = json.load(open(sys.argv[1]))
t = r["threads"]
sites = {s["function"]: s for s in t.get("sites", [])}
got = {f: (s["created"], s["exited"], s["live_threads"], s["start_routine"]) for f, s in sites.items()}
print("  created %s, exited %s; sites %s" % (t.get("created"), t.get("exited"), got))
sys.exit(0 if eval(sys.argv[2]) else 1)
EOF
}

STORM_SITES="sites['spawn_a']['created'] == 5000 and sites['spawn_a']['exited'] == 5000 \
and sites['spawn_a']['live_threads'] == 0 and sites['spawn_b']['created'] == 5000 \
and sites['spawn_b']['exited'] == 5000 and sites['spawn_b']['start_routine'] == 'short_task' \
and sites['start_sleepers']['created'] == 30 and sites['start_sleepers']['exited'] == 0 \
and sites['start_sleepers']['live_threads'] == 30 and sites['start_sleepers']['start_routine'] == 'sleeper_main' \
and t['created'] == 10030 and t['exited'] == 10000 \
and sum(s['created'] for s in sites.values()) == 10030 and sum(s['exited'] for s in sites.values()) == 10000"

check "10,000 thread starts and exits between two snapshots are all counted (info and report)"
storm burst 30
grep -qx 'thread_storm: 10000 short-lived threads joined, 30 sleepers alive' "$W/burst.out" ||
    fail "thread_storm did not finish: $(cat "$W/burst.out")"
set -- "$W/burst"/*.hsd
[ $# = 1 ] && [ -f "$1" ] || fail "expected one dump, found $#"
info "$1" "$W/burst.info"
note "$(grep '^records:' "$W/burst.info")"
[ "$(threads_line "$W/burst.info")" = "10030 10000" ] ||
    fail "info: $(grep '^threads:' "$W/burst.info"); want 10030 started, 10000 exited"
[ "$(stat_of "$W/burst.info" lost_samples)" = 0 ] || fail "samples lost: $(stat_of "$W/burst.info" lost_samples)"
[ "$(stat_of "$W/burst.info" live_threads)" = 31 ] || fail "live_threads $(stat_of "$W/burst.info" live_threads)"
report_check "$1" "$STORM_SITES"
quiet burst

check "THREAD_SITES in many snapshots (20 ms interval) sum to the same counts"
storm steady 0.02
set -- "$W/steady"/*.hsd
info "$1" "$W/steady.info"
n=$(records_of "$W/steady.info" THREAD_SITES)
note "$n THREAD_SITES records"
[ "$n" -gt 1 ] || fail "only $n THREAD_SITES records at a 20 ms interval"
[ "$(threads_line "$W/steady.info")" = "10030 10000" ] || fail "info: $(grep '^threads:' "$W/steady.info")"
report_check "$1" "$STORM_SITES"
quiet steady

check "a fork child's dump counts its own threads from the fork"
storm forked 30 1000 fork
quiet forked
child=$(sed -n 's/^thread_storm: child \([0-9]*\) joined 10 threads$/\1/p' "$W/forked.out")
[ -n "$child" ] && [ -f "$W/forked/$child.hsd" ] || fail "no dump of the fork child: $(cat "$W/forked.out")"
info "$W/forked/$child.hsd" "$W/child.info"
[ "$(threads_line "$W/child.info")" = "10 10" ] || fail "child: $(grep '^threads:' "$W/child.info"); want 10 and 10"
report_check "$W/forked/$child.hsd" "list(sites) == ['spawn_a'] and got['spawn_a'][:3] == (10, 10, 0)"
for f in "$W/forked"/*.hsd; do
    [ "$f" = "$W/forked/$child.hsd" ] || parent=$f
done
info "$parent" "$W/parent.info"
[ "$(threads_line "$W/parent.info")" = "1030 1000" ] || fail "parent: $(grep '^threads:' "$W/parent.info")"

check "more creation sites than the table holds: the overflow site keeps the totals exact"
storm manysites 30 5000 sites
quiet manysites
set -- "$W/manysites"/*.hsd
info "$1" "$W/manysites.info"
[ "$(threads_line "$W/manysites.info")" = "5000 5000" ] || fail "info: $(grep '^threads:' "$W/manysites.info")"
# One report site (descend) for the 4,095 stacks the table held, the
# overflow for the rest (more there only if some stack found no slot).
report_check "$1" "t['created'] == 5000 and t['exited'] == 5000 and set(sites) == {'descend', '?'} \
and sites['?']['created'] >= 905 and sites['?']['created'] == sites['?']['exited'] \
and sites['descend']['created'] + sites['?']['created'] == 5000 and sites['descend']['live_threads'] == 0"

check "a synthetic dump is counted from its THREAD_SITES records, not twice"
GEN=$W/gen_dump
${CC:-cc} -std=c11 -O1 -Wall -Wextra -Werror -D_GNU_SOURCE -Icommon -o "$GEN" tests/tools/gen_dump.c \
    common/hs_codec.c || fail "cannot build gen_dump"
"$GEN" --thread-sites "$W/sites.hsd" >/dev/null
info "$W/sites.hsd" "$W/sites.info"
[ "$(records_of "$W/sites.info" THREAD)" = 2 ] && [ "$(records_of "$W/sites.info" THREAD_SITES)" = 2 ] ||
    fail "records: $(grep '^records:' "$W/sites.info")"
[ "$(threads_line "$W/sites.info")" = "5 4" ] || fail "info: $(grep '^threads:' "$W/sites.info"); want 5 and 4"
report_check "$W/sites.hsd" "t['created'] == 5 and t['exited'] == 4 and len(sites) == 3 \
and sites['?']['start_routine'] == \"(sites beyond the interposer's table)\" and sites['?']['created'] == 1"

check "a THREAD_SITES entry naming an undefined stack is corrupt"
at=$("$GEN" --break sites-stack "$W/broken.hsd" | awk '$1 == "THREAD_SITES" { o = $2 } END { print o }')
for cmd in info report; do
    rc=0
    "$CLI" "$cmd" "$W/broken.hsd" >"$W/broken.out" 2>"$W/broken.err" || rc=$?
    [ "$rc" = 2 ] || fail "$cmd: exit $rc, want 2"
    grep -q "corrupt THREAD_SITES record at byte offset $at: entry 0: creation_stack_id 7 is not defined" \
        "$W/broken.err" || fail "$cmd: $(tail -n 1 "$W/broken.err")"
    [ ! -s "$W/broken.out" ] || fail "$cmd printed a report for a corrupt dump"
done

echo "$T: PASS"
