#!/bin/sh
# python.sh - Debian's python3 under `heapscope record` runs
# tests/real/src/leaky_registry.py for 20 s: three threads churning dicts,
# strings and JSON, a fork from a fourth thread (the child exits 0 and
# leaves a dump of its own; the parent waits for it) and a module-level
# dict that grows by ~1-2 MiB/s. The program checks its own results; the
# parent's report must say LEAK (at least 4 MiB of growth). Run from the
# repository root.
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

report parent leak --min-growth 4194304 -- "$W/dumps/python3.$parent.hsd"
report fork-child any -- "$W/dumps/python3.$child.hsd"

finish
