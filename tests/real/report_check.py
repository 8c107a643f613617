#!/usr/bin/python3
"""Checks a `heapscope report --json` output for the real-program tests.

    report_check.py --label NAME --expect leak|noleak|any [--min-growth BYTES]
                    [--dump-pid PID] [--strict-unnamed] [--min-detected N] REPORT.json

For every dump in the report (one object, or {"dumps": [...]}):
  - prints the verdict and "top: FUNCTION (LOCATION) [...]" lines for the top
    suspect and the top at-exit site (the figures the allocator-wrapper
    folding changes), with the runners-up as "next:" lines;
  - --expect leak: leak.detected is true with positive growth (at least
    --min-growth bytes) and at least one suspect; noleak: neither a heap leak
    nor a thread leak; any: the verdict is only printed;
  - the top suspect's and the top at-exit site's function must not be an
    allocator wrapper (WRAPPER below, matched on the name without its
    parameter list) nor a wrapper the report detected in that dump
    ("wrappers_detected"): a failure when REAL_STRICT_WRAPPERS=1 (the
    default), a note when 0;
  - --strict-unnamed, for binaries without .symtab (Debian's git and
    python3.11), whose wrappers have no name for WRAPPER to match and are
    found by their call-frame ranges ("git+0x2896c0", docs/frames.md):
    the primary dump's (--dump-pid's, else the one with most snapshots) top
    sites must not be a wrapper detected in any dump of the report (a
    smaller process may have too few samples to detect it itself: there
    only a note), and an unsymbolized top suspect must be named by its
    function's range, not by the bare pc of its stack's first frame;
  - --min-detected N: the primary dump detected at least N wrappers (git:
    its xmalloc family, which only the call-frame ranges can name).
--dump-pid applies --expect only to that pid's dump (the others: any).
Exit status 0 when every check passed, 2 when only the wrapper check failed
(so that a test can go on and fail at its end), 1 otherwise.
"""

import argparse
import json
import os
import re
import sys

WRAPPER = re.compile(
    r"^(z(try)?(malloc|calloc|realloc).*|ngx_(alloc|calloc|memalign|palloc.*|pnalloc|pcalloc)"
    r"|_?Py(Mem|Object)_.*|os::(malloc|realloc)|x(malloc|calloc|realloc|strdup)"
    r"|malloc|calloc|realloc|operator new.*)$"
)
UNSYMBOLIZED = re.compile(r"^[^ ]+\+0x[0-9a-f]+$")


def bare_name(name):
    """The function name without a C++ parameter list, ' const', a
    '[clone .x]' tag or a GCC '.constprop.0'/'.isra.0'/'.part.0'/'.cold'
    suffix: 'os::malloc(unsigned long, MEMFLAGS)' -> 'os::malloc'."""
    n = re.sub(r"\s*\[clone [^]]*\]$", "", name.strip())
    n = re.sub(r"\s+const$", "", n)
    if n.endswith(")") and not n.startswith("operator new"):
        depth = 0
        for i in range(len(n) - 1, -1, -1):
            if n[i] == ")":
                depth += 1
            elif n[i] == "(":
                depth -= 1
                if depth == 0:
                    if i > 0:  # keep 'operator()'
                        n = n[:i]
                    break
    n = re.sub(r"(\.(constprop|isra|part|cold|lto_priv)(\.\d+)?)+$", "", n)
    return n


def location(entry):
    f = entry.get("file") or ""
    line = entry.get("line") or 0
    if not f:
        return "(?)"
    return "(%s:%d)" % (f, line) if line else "(%s)" % f


def human(n):
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return ("%.0f %s" if unit == "B" else "%.1f %s") % (n, unit)
        n /= 1024
    return str(n)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--label", required=True)
    ap.add_argument("--expect", choices=("leak", "noleak", "any"), required=True)
    ap.add_argument("--min-growth", type=float, default=0)
    ap.add_argument("--dump-pid", type=int, default=0)
    ap.add_argument("--strict-unnamed", action="store_true")
    ap.add_argument("--min-detected", type=int, default=0)
    ap.add_argument("report")
    a = ap.parse_args()
    strict = os.environ.get("REAL_STRICT_WRAPPERS", "1") not in ("0", "", "no", "false", "off")

    with open(a.report) as fh:
        doc = json.load(fh)
    dumps = doc["dumps"] if "dumps" in doc else [doc]
    errors = []
    wrappers = []
    if a.dump_pid and not any(d.get("pid") == a.dump_pid for d in dumps):
        errors.append("no dump of pid %d in the report" % a.dump_pid)
    # Wrappers detected anywhere in the report, and the dump judged by them.
    detected_anywhere = set()
    for d in dumps:
        detected_anywhere.update(d.get("wrappers_detected") or [])
    primary = next((d for d in dumps if a.dump_pid and d.get("pid") == a.dump_pid), None)
    if primary is None and dumps:
        primary = max(dumps, key=lambda d: d.get("snapshots", 0))
    if primary is not None and len(primary.get("wrappers_detected") or []) < a.min_detected:
        errors.append("%s pid %s: %d wrapper(s) detected, want at least %d" % (
            os.path.basename(str(primary.get("program", "?"))), primary.get("pid"),
            len(primary.get("wrappers_detected") or []), a.min_detected))
    for d in dumps:
        who = "%s pid %s" % (os.path.basename(str(d.get("program", "?"))), d.get("pid"))
        leak = d.get("leak") or {}
        threads = d.get("threads") or {}
        suspects = d.get("suspects") or []
        at_exit = d.get("at_exit") or []
        detected = bool(leak.get("detected"))
        growth = float(leak.get("growth_bytes") or 0)
        print(
            "%s: %s: verdict %s, growth %s over %.1f s (threshold %s), %d snapshots, thread leak %s; %s"
            % (
                a.label,
                who,
                "LEAK" if detected else "no leak",
                human(growth),
                float(leak.get("window_seconds") or 0),
                human(leak.get("threshold_bytes") or 0),
                d.get("snapshots", 0),
                "yes" if threads.get("leak_detected") else "no",
                leak.get("reason", ""),
            )
        )
        for i, s in enumerate(suspects[:3]):
            stack = s.get("stack") or []
            caller = next((f for f in stack if not WRAPPER.match(bare_name(f))), "-")
            print(
                "%s %s %s [suspect #%d of %s: %s/s, +%s, %d samples; first non-wrapper frame: %s]"
                % ("top:" if i == 0 else "  next:", s.get("function", "?"), location(s), i + 1, who,
                   human(s.get("rate_bytes_per_sec", 0)), human(s.get("growth_bytes", 0)),
                   s.get("samples", 0), caller)
            )
            if i == 0 and stack:
                print("      stack: " + " <- ".join(stack[:8]))
        if not suspects:
            print("top: - (no suspect) [suspect of %s]" % who)
        for i, e in enumerate(at_exit[:3]):
            print(
                "%s %s %s [at_exit #%d of %s: %s in %d objects]"
                % ("top:" if i == 0 else "  next:", e.get("function", "?"), location(e), i + 1, who,
                   human(e.get("bytes", 0)), e.get("objects", 0))
            )
        if not at_exit:
            print("top: - (nothing at exit) [at_exit of %s]" % who)

        expect = a.expect if not a.dump_pid or d.get("pid") == a.dump_pid else "any"
        if expect == "leak":
            if not detected:
                errors.append("%s: expected a leak, the report says none (%s)" % (who, leak.get("reason")))
            elif growth <= 0 or growth < a.min_growth:
                errors.append("%s: leak growth %s, expected at least %s" % (who, human(growth), human(max(a.min_growth, 1))))
            elif not suspects:
                errors.append("%s: a leak without any suspect" % who)
        elif expect == "noleak":
            if detected:
                errors.append("%s: expected no leak, the report says LEAK (%s)" % (who, leak.get("reason")))
            if threads.get("leak_detected"):
                errors.append("%s: expected no thread leak, the report says one" % who)

        detected = set(d.get("wrappers_detected") or [])
        for kind, items in (("suspect", suspects), ("at_exit", at_exit)):
            if not items:
                continue
            fn = items[0].get("function", "")
            name = bare_name(fn)
            if fn in detected or name in detected:
                wrappers.append("%s: top %s is %s, a wrapper detected in this dump, not its caller" % (who, kind, fn))
            elif a.strict_unnamed and (fn in detected_anywhere or name in detected_anywhere):
                if d is primary:
                    wrappers.append("%s: top %s is %s, a wrapper detected in the report, not its caller" % (who, kind, fn))
                else:
                    print("%s: note: top %s of %s is %s, a wrapper detected in another dump of the report "
                          "(too few samples here to detect it)" % (a.label, kind, who, fn))
            elif a.strict_unnamed and kind == "suspect" and UNSYMBOLIZED.match(name) and \
                    fn in (items[0].get("stack") or [])[:1]:
                wrappers.append("%s: top suspect %s is named by its bare pc, not by its function's range" % (who, fn))
            elif UNSYMBOLIZED.match(name):
                print("%s: note: top %s of %s is unsymbolized (%s): %s" % (
                    a.label, kind, who, fn, "not a wrapper the report detected" if a.strict_unnamed
                    else "the wrapper check cannot judge it"))
            elif WRAPPER.match(name):
                wrappers.append("%s: top %s is the allocator wrapper %s, not its caller" % (who, kind, fn))

    for e in errors:
        print("%s: FAIL: %s" % (a.label, e))
    for w in wrappers:
        if strict:
            print("%s: FAIL: %s (REAL_STRICT_WRAPPERS=1)" % (a.label, w))
        else:
            print("%s: wrapper (not enforced, REAL_STRICT_WRAPPERS=0): %s" % (a.label, w))
    if errors:
        return 1
    if wrappers and strict:
        return 2
    print("%s: report ok (%d dump%s)" % (a.label, len(dumps), "" if len(dumps) == 1 else "s"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
