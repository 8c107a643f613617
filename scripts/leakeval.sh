#!/bin/sh
# leakeval.sh - scores heapscope's leak detector against the corpus of
# tests/leaks/ (`make leakeval`): runs every case of tests/leaks/cases.txt
# under libheapscope.so, two at a time, each in its own directory, reads
# `heapscope report --json` and prints a markdown table judged against the
# targets of issue 4. Builds nothing: build/leaks/* must exist (make).
#   LEAKEVAL_CASES="a b"  run only these cases
#   LEAKEVAL_JOBS=N       cases at a time (default 2)
#   LEAKEVAL_CASES_FILE   another cases file (default tests/leaks/cases.txt)
#   KEEP=1                keep the work directory (dumps, reports, logs)
#   HEAPSCOPE_LEAK_THRESHOLD  passed on to the live detector, which must not
#                         warn on a non-leak
# Exit status: 0 every case met its target, 1 one did not, 2 setup error.
set -eu
BUILD=${BUILD:-build}
case $BUILD in /*) B=$BUILD ;; *) B=$(pwd)/$BUILD ;; esac
LIB=$B/libheapscope.so
CLI=$B/heapscope
CASES=${LEAKEVAL_CASES_FILE:-tests/leaks/cases.txt}
JOBS=${LEAKEVAL_JOBS:-2}

die() { echo "leakeval: $*" >&2; exit 2; }

for f in "$LIB" "$CLI" "$CASES"; do
    [ -e "$f" ] || die "$f missing (run make)"
done
"$CLI" help report > /dev/null 2>&1 || die "$CLI has no report command"
command -v python3 > /dev/null || die "python3 is needed to read the JSON reports"

W=$(mktemp -d /tmp/leakeval.XXXXXX)
cleanup() {
    if [ -n "${KEEP:-}" ]; then echo "leakeval: kept $W" >&2; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'exit 2' HUP INT TERM

# The selected cases, comments dropped, in file order.
grep -v '^[[:space:]]*\(#\|$\)' "$CASES" > "$W/all"
if [ -n "${LEAKEVAL_CASES:-}" ]; then
    : > "$W/cases"
    for name in $LEAKEVAL_CASES; do
        awk -v n="$name" '$1 == n' "$W/all" | grep . >> "$W/cases" || die "no case '$name' in $CASES"
    done
else
    cp "$W/all" "$W/cases"
fi
while read -r name _; do
    [ -x "$B/leaks/$name" ] || die "$B/leaks/$name missing (run make leakeval)"
done < "$W/cases"

# run_case NAME EXPECTED KIND DURATION INTERVAL WINDOW RATE ...: one run of
# the program and its report. HEAPSCOPE_ONLY keeps timeout/env from writing
# dumps of their own; the live detector gets the same window as the report.
run_case() {
    d=$W/run/$1
    mkdir -p "$d"
    started=$(date +%s)
    status=0
    timeout "$(awk -v s="$4" 'BEGIN { printf "%d", s + 60 }')" env HEAPSCOPE_ONLY="$1" \
        HEAPSCOPE_SAMPLE_RATE="$7" HEAPSCOPE_INTERVAL="$5" HEAPSCOPE_LEAK_WINDOW="$6" \
        HEAPSCOPE_OUTPUT="$d/dump.hsd" LD_PRELOAD="$LIB" "$B/leaks/$1" "$4" \
        > "$d/stdout" 2> "$d/stderr" || status=$?
    echo "$status" > "$d/program.rc"
    status=0
    "$CLI" report --json --window "$6" "$d/dump.hsd" > "$d/report.json" 2> "$d/report.err" ||
        status=$?
    echo "$status" > "$d/report.rc"
    echo "leakeval: $1 done in $(($(date +%s) - started)) s" >&2
}

# JOBS lanes, each running every JOBS-th case in turn: the cases last about
# the same time, so the lanes finish together.
echo "leakeval: $(wc -l < "$W/cases") cases, $JOBS at a time, in $W" >&2
lane=0
while [ "$lane" -lt "$JOBS" ]; do
    awk -v j="$JOBS" -v l="$lane" '(NR - 1) % j == l' "$W/cases" | while read -r line; do
        # shellcheck disable=SC2086 # the case's fields, split on purpose
        run_case $line
    done &
    lane=$((lane + 1))
done
wait

# A non-leak that its report calls a leak runs once more, and the case is
# judged on that second run: a plateau's or a replaced table's sampled
# estimate wanders (about +-1.3 MiB at a 64 KiB rate) and a 15 s window now
# and then sees a trend in the wander (about one non-leak run in 25 here,
# under four parallel cases and the fuzzer). Two false positives in a row
# fail the case; one is printed beside the pass.
called_leak() {
    python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); sys.exit(0 if (r.get("leak") or {}).get("detected") or (r.get("threads") or {}).get("leak_detected") else 1)' "$1" 2>/dev/null
}
# shellcheck disable=SC2094 # cases is only read, here and by awk below
while read -r name expected _; do
    [ "$expected" = ok ] || continue
    d=$W/run/$name
    called_leak "$d/report.json" || continue
    mv "$d" "$d.first"
    # shellcheck disable=SC2046 # the case's fields, split on purpose
    run_case $(awk -v n="$name" '$1 == n' "$W/cases") < /dev/null
    python3 -c 'import json, sys; print((json.load(open(sys.argv[1])).get("leak") or {}).get("reason") or "a leak")' \
        "$d.first/report.json" > "$d/first_run_false_positive" 2>/dev/null || echo "a leak" > "$d/first_run_false_positive"
done < "$W/cases"

# Scoring. Targets (issue 4): every leak found with the right top suspect
# (threads: the function that called pthread_create), rate within 15% or
# three standard errors when those are wider, detection within one window,
# and no leak reported for a non-leak. The rate judged is the headline
# (leak.rate_bytes_per_sec: since issue 10 the blamed sites' rates summed),
# its standard error that of the blamed growth: each suspect's own
# (relative_se) added in quadrature, as the sites' sampling is independent.
# The table prints the headline's reported ~95% interval and the whole
# heap's trend (leak.heap_rate_bytes_per_sec) beside it; a truth outside
# the interval is a note, not a failure (a 95% interval misses one run in
# twenty).
python3 - "$W" "$(pwd)" << 'PY'
import json, math, os, re, sys

work, root = sys.argv[1], sys.argv[2]

def truth(path):
    """key=value pairs of the summary line the program prints."""
    out = {}
    try:
        for tok in open(path).read().split():
            k, eq, v = tok.partition("=")
            if eq:
                try:
                    out[k] = float(v)
                except ValueError:
                    pass
    except OSError:
        pass
    return out

def plain(fn):
    """A function name without C++ parameters or GCC clone suffixes."""
    fn = fn or ""
    fn = re.sub(r"\.(isra|constprop|part|cold|lto_priv)\.\d+$", "", fn)
    return re.sub(r"\([^()]*\)( const)?$", "", fn)

def marker_line(name):
    for ext in (".c", ".cc"):
        path = os.path.join(root, "tests/leaks", name + ext)
        if os.path.exists(path):
            for i, line in enumerate(open(path), 1):
                if "LEAK: %s " % name in line:
                    return i
    return None

def rate_text(v, kind):
    if v is None:
        return "-"
    if kind == "threads":
        return "%.2f/s" % v
    return "%.1f KiB/s" % (v / 1024)

def relative_se(s, rate):
    """Relative standard error of the suspect's growth estimate: n sampled
    blocks of mean size b, each kept with p = 1 - exp(-b/R) and weighted
    1/p, give sqrt((1 - p) / n); blocks far above R are exact."""
    try:
        inuse, objects, samples = s["inuse_bytes"], s["live_objects"], s["samples"]
        growth = s.get("growth_bytes") or inuse
        if not (inuse > 0 and objects > 0 and samples > 0):
            return None
        p = 1 - math.exp(-(inuse / objects) / rate)
        n = samples * min(1.0, growth / inuse)  # the samples behind the window's growth
        return math.sqrt(max(0.0, 1 - p) / max(n, 1.0))
    except (KeyError, TypeError, ZeroDivisionError):
        return None

def headline_se(suspects, rate, headline):
    """Relative standard error of the headline: the suspects' absolute
    errors in quadrature over the headline, or None when one is unknown."""
    var = 0.0
    for s in suspects:
        se = relative_se(s, rate)
        r = s.get("rate_bytes_per_sec")
        if se is None or r is None:
            return None
        var += (se * r) ** 2
    return math.sqrt(var) / headline if headline else None

def interval_text(leak):
    lo, hi = leak.get("rate_lo_bytes_per_sec"), leak.get("rate_hi_bytes_per_sec")
    if lo is None or hi is None:
        return ""
    digits = 1 if hi < 100 * 1024 else 0
    return " [%.*f-%.*f]" % (digits, lo / 1024, digits, hi / 1024)

rows, failed = [], 0
for line in open(os.path.join(work, "cases")):
    name, expected, kind, duration, interval, window, rate, function, true_rate = line.split()[:9]
    interval, window, rate = float(interval), float(window), float(rate)
    d = os.path.join(work, "run", name)
    notes, ok = [], True
    verdict = top = samples = measured_text = error_text = detected_text = trend_text = "-"
    measured = true = None
    prog_rc = open(os.path.join(d, "program.rc")).read().strip()
    report_rc = open(os.path.join(d, "report.rc")).read().strip()
    report = None
    if prog_rc != "0":
        ok = False
        notes.append("program exited %s" % prog_rc)
    if report_rc != "0":
        ok = False
        err = open(os.path.join(d, "report.err")).read().strip().splitlines()
        notes.append("report exited %s%s" % (report_rc, (": " + err[0]) if err else ""))
    else:
        try:
            report = json.load(open(os.path.join(d, "report.json")))
        except ValueError as e:
            ok = False
            notes.append("report is not JSON: %s" % e)
    facts = truth(os.path.join(d, "stdout"))
    if report is not None:
        leak = report.get("leak") or {}
        threads = report.get("threads") or {}
        suspects = report.get("suspects") or []
        thread_suspects = threads.get("suspects") or []
        heap_found, threads_found = bool(leak.get("detected")), bool(threads.get("leak_detected"))
        heap_rate = leak.get("heap_rate_bytes_per_sec")
        if kind == "heap" and heap_rate is not None:
            trend_text = "%+.1f KiB/s" % (heap_rate / 1024) if abs(heap_rate) >= 51.2 else "0.0 KiB/s"
        if expected == "ok":
            verdict = "leak" if heap_found or threads_found else "no leak"
            if heap_found:
                ok = False
                top = suspects[0].get("function") if suspects else "-"
                measured_text = rate_text(leak.get("rate_bytes_per_sec"), "heap")
                notes.append("false positive: %s" % (leak.get("reason") or "heap leak"))
            if threads_found:
                ok = False
                notes.append("false positive: thread leak")
            first = os.path.join(d, "first_run_false_positive")
            if os.path.exists(first):
                notes.append("rerun: the first run was a false positive (%s)" % open(first).read().strip()[:120])
            exits = report.get("at_exit") or []
            if exits and not (heap_found or threads_found):
                notes.append("at exit: %s" % exits[0].get("function"))
        elif kind == "threads":
            verdict = "thread leak" if threads_found else "no thread leak"
            s = thread_suspects[0] if thread_suspects else {}
            top = s.get("function") or "-"
            samples = "%s live (exact)" % s.get("live_threads", "-")
            measured, true = s.get("rate_per_sec"), facts.get("thread_rate")
            tolerance = 0.15
            at = threads.get("detected_at_seconds")
            notes.append("heap: %s" % ("leak" if heap_found else "no leak"))
            if at is None:
                notes.append("no threads.detected_at_seconds: detection time not judged")
        else:
            verdict = "leak" if heap_found else "no leak"
            s = suspects[0] if suspects else {}
            top = s.get("function") or "-"
            samples = str(s.get("samples", "-"))
            measured = leak.get("rate_bytes_per_sec")
            true = facts.get("leak_rate") or float(true_rate)
            se = headline_se(suspects, rate, measured) if suspects else None
            tolerance = max(0.15, 3 * se) if se is not None else 0.15
            lo, hi = leak.get("rate_lo_bytes_per_sec"), leak.get("rate_hi_bytes_per_sec")
            if heap_found and lo is not None and hi is not None and not lo <= true <= hi:
                notes.append("truth outside the reported interval")
            at = leak.get("detected_at_seconds")
            want_line, got_line = marker_line(name), s.get("line")
            if top != "-" and want_line and got_line != want_line:
                notes.append("line %s, the LEAK marker is on %s" % (got_line, want_line))
            if s.get("rate_bytes_per_sec") is not None and measured:
                share = s["rate_bytes_per_sec"] / measured
                if share < 0.9:
                    notes.append("top suspect has %.0f%% of the rate" % (100 * share))
        if expected == "leak":
            found = threads_found if kind == "threads" else heap_found
            if not found:
                ok = False
                notes.append("leak not found")
            if plain(top) != function:
                ok = False
                notes.append("top suspect should be %s" % function)
            if measured is not None and true:
                error = (measured - true) / true
                measured_text = "%s%s / %s" % (rate_text(measured, kind),
                                               interval_text(leak) if kind == "heap" else "", rate_text(true, kind))
                error_text = "%+.1f%% (±%.0f%%)" % (100 * error, 100 * tolerance)
                if abs(error) > tolerance:
                    ok = False
                    notes.append("rate off by more than %.0f%%" % (100 * tolerance))
            elif found:
                ok = False
                notes.append("no rate to compare")
            if at is not None:
                detected_text = "%.1f s" % at
                if at > window + interval:
                    ok = False
                    notes.append("detected after one window (%g s)" % window)
            elif found and kind != "threads":
                ok = False
                notes.append("no detection time")
    # The interposer's live detector ran beside the program with the same
    # window (HEAPSCOPE_LEAK_THRESHOLD from the caller's environment, 10 MiB
    # by default): on a non-leak it must stay silent.
    try:
        live = [l for l in open(os.path.join(d, "stderr")) if l.startswith("heapscope: leak suspected")]
    except OSError:
        live = []
    if live and expected == "ok":
        ok = False
        notes.append("live detector false positive: %s" % live[0].split("top growing site: ")[-1].strip())
    elif live:
        notes.append("live warning")
    failed += not ok
    rows.append([name, expected, verdict, top, samples, measured_text, error_text, trend_text,
                 detected_text, "PASS" if ok else "FAIL", "; ".join(notes)])

header = ["case", "expected", "verdict", "top suspect", "samples", "headline rate [95%] / true",
          "error (tolerance)", "heap trend", "detected at", "result", "notes"]
print("| " + " | ".join(header) + " |")
print("|" + "|".join("---" for _ in header) + "|")
for r in rows:
    print("| " + " | ".join(c.replace("|", "\\|") for c in r) + " |")
print()
print("%d cases: %d passed, %d failed" % (len(rows), len(rows) - failed, failed))
sys.exit(1 if failed else 0)
PY
