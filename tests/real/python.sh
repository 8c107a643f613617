#!/bin/sh
# python.sh - Debian's python3 under `heapscope record` runs
# tests/real/src/leaky_registry.py for 20 s: three threads churning dicts,
# strings and JSON, a fork from a fourth thread (the child exits 0 and
# leaves a dump of its own; the parent waits for it) and a module-level
# dict that grows by ~1-2 MiB/s, then exits normally: the interpreter's
# finalization frees the dict before the exit snapshot. The program checks
# its own results; the parent's report must say LEAK (at least 4 MiB of
# growth) on the running program, its window ending at the last snapshot
# before that teardown. Run from the repository root.
T=python
# shellcheck disable=SC1091 # sourced from the repository root
. tests/real/lib.sh
new_workdir
SECONDS_RUN=${REAL_PYTHON_SECONDS:-20}
mkdir -p "$W/dumps"

check "python3 (threads, fork from a thread, JSON churn, a growing dict) for ${SECONDS_RUN} s"
st=0
timeout 120 "$CLI" record --interval 0.5 --rate 32K -o "$W/dumps/python3.%p.hsd" -- \
    "$PY" "$SRC/leaky_registry.py" "$SECONDS_RUN" >"$W/out" 2>"$W/err" || st=$?
cat "$W/out" "$W/err"
[ "$st" = 0 ] || fail "python3 exited with status $st"
grep -q '^ok entries=[0-9]* churn=[0-9]* fork=0$' "$W/out" || fail "no ok line from the program"
child=$(sed -n 's/^child \([0-9]*\)$/\1/p' "$W/out")
[ -n "$child" ] || fail "the fork child did not report"
parent=$(sed -n 's/^heapscope: recording .* to .*python3\.\([0-9]*\)\.hsd.*/\1/p' "$W/err" | head -n 1)
[ -n "$parent" ] || fail "no 'heapscope: recording' line naming the dump"
[ -f "$W/dumps/python3.$parent.hsd" ] || fail "no parent dump: $(ls "$W/dumps")"
[ -f "$W/dumps/python3.$child.hsd" ] || fail "no dump of the fork child $child: $(ls "$W/dumps")"
info_ok "$W/dumps/python3.$parent.hsd"
info_ok "$W/dumps/python3.$child.hsd"
note "parent $parent, fork child $child: both dumps intact"

report parent leak --min-growth 4194304 --strict-unnamed -- "$W/dumps/python3.$parent.hsd"
check "the finalization freed the registry; the report judged the run before it"
"$PY" - "$W/report.json" "$W/dumps/python3.$parent.hsd" "$CLI" <<'PY' || fail "the teardown (above)"
import csv, io, json, subprocess, sys
r = json.load(open(sys.argv[1]))
rows = list(csv.DictReader(io.StringIO(subprocess.run([sys.argv[3], "stats", "--csv", sys.argv[2]],
                                                      capture_output=True, text=True, check=True).stdout)))
last, peak = rows[-1], max(float(x["est_inuse_bytes"]) for x in rows)
end = r["leak"]["window_end_seconds"]
print("python: exit snapshot at %.2f s holds %.1f MiB of a %.1f MiB peak; the window ends at %.2f s"
      % (float(last["offset_s"]), float(last["est_inuse_bytes"]) / 2**20, peak / 2**20, end))
if last["reason"] != "exit":
    sys.exit("the dump does not end with an exit snapshot (%s): python did not exit normally" % last["reason"])
if not float(last["est_inuse_bytes"]) < peak / 2:
    sys.exit("the heap at exit is not below half its peak: finalization freed nothing, the test tests nothing")
if not end < float(last["offset_s"]):
    sys.exit("the window ends at the exit snapshot: the teardown was judged")
PY
grep -q '^  window: .* ending at the last snapshot before' "$W/report.txt" ||
    fail "the text report does not say the window ends before the exit snapshot"
report fork-child any -- "$W/dumps/python3.$child.hsd"

finish
