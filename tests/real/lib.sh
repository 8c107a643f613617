#!/bin/sh
# shellcheck disable=SC2034 # CLI, LIB, PY, SRC are for the sourcing scripts
# lib.sh - helpers shared by the real-program tests (tests/real/*.sh, run by
# scripts/run-tests.sh real, `make check-real`): paths, failing with one line, a
# work dir and server processes cleaned up at exit, bounded waits, and the
# report check (tests/real/report_check.py). Source it from the repository
# root with T set to the test's name:
#     T=redis; . tests/real/lib.sh
# REAL_STRICT_WRAPPERS=1 (the default) fails a test whose report blames an
# allocator wrapper (zmalloc, ngx_alloc, PyMem_*, os::malloc, xmalloc ...)
# instead of its caller; 0 only prints it.
set -eu

BUILD=${BUILD:-build}
case $BUILD in /*) B=$BUILD ;; *) B=$(pwd)/$BUILD ;; esac
CLI=$B/heapscope
LIB=$B/libheapscope.so
SRC=$(pwd)/tests/real/src
CHECK_PY=$(pwd)/tests/real/report_check.py
# Debian's python3, not whatever shim comes first in PATH (pyenv's is a bash
# script that execs python3 again: three programs in one dump's pid).
PY=/usr/bin/python3
REAL_STRICT_WRAPPERS=${REAL_STRICT_WRAPPERS:-1}
export REAL_STRICT_WRAPPERS
T=${T:-real}

fail() { echo "$T: FAIL: $*" >&2; exit 1; }
check() { echo "$T: check: $*"; }
note() { echo "$T:   $*"; }

[ -x "$CLI" ] || fail "$CLI missing (run make all progs)"
[ -f "$LIB" ] || fail "$LIB missing (run make all progs)"
[ -x "$PY" ] || fail "$PY missing (scripts/deps.sh real)"

# need_cmd CMD...: every command is installed.
need_cmd() {
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || fail "$c not installed (sh scripts/deps.sh real)"
    done
}

# Only the settings each test names.
for v in $(env | sed -n 's/^\(HEAPSCOPE_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done

# new_workdir: $W is a fresh directory, removed at exit (KEEP=1 keeps it).
# Every pid in $PIDS (track PID adds one, untrack PID takes a pid that has
# been waited for out again) is sent SIGTERM at exit, then SIGKILL 2 s later
# if it is still there.
PIDS=
W=
track() { PIDS="$PIDS $1"; }
untrack() { PIDS=$(echo " $PIDS " | sed "s/ $1 / /g"); }
cleanup_real() {
    st=$?
    for p in $PIDS; do
        kill -TERM "$p" 2>/dev/null || :
    done
    for p in $PIDS; do
        i=0
        while alive "$p" && [ $i -lt 40 ]; do
            sleep 0.05
            i=$((i + 1))
        done
        kill -KILL "$p" 2>/dev/null || :
    done
    if [ -n "$W" ] && [ -z "${KEEP:-}" ]; then
        rm -rf "$W"
    elif [ -n "$W" ]; then
        echo "$T: kept $W" >&2
    fi
    exit "$st"
}
new_workdir() {
    W=$(mktemp -d "${TMPDIR:-/tmp}/heapscope-real-$T.XXXXXX")
    trap cleanup_real EXIT
    trap 'exit 1' HUP INT TERM
}

# alive PID: the process exists and is not a zombie.
alive() {
    kill -0 "$1" 2>/dev/null && [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != Z ]
}

# wait_until SECONDS CMD...: polls CMD every 50 ms until it succeeds; returns
# non-zero when SECONDS pass first.
wait_until() {
    limit=$1
    shift
    end=$(($(date +%s) + limit))
    until "$@"; do
        [ "$(date +%s)" -le "$end" ] || return 1
        sleep 0.05
    done
}

# gone PID: not alive (for wait_until).
gone() { ! alive "$1"; }

# port_free PORT: fails the test when something listens on PORT already
# (the tests use fixed, unusual ports so that a leftover is noticed).
port_free() {
    if [ -n "$(ss -Htln "sport = :$1" 2>/dev/null)" ]; then
        fail "port $1 is taken: $(ss -Htlnp "sport = :$1" 2>/dev/null | head -n 1)"
    fi
}

# info_ok DUMP: `heapscope info DUMP` exits 0 and says integrity ok.
info_ok() {
    "$CLI" info "$1" >"$W/info.out" 2>&1 || fail "heapscope info $(basename "$1") exited non-zero: $(tail -n 1 "$W/info.out")"
    grep -q '^integrity: ok' "$W/info.out" ||
        fail "$(basename "$1"): $(grep '^integrity' "$W/info.out" || echo 'no integrity line')"
}

# report LABEL EXPECT [CHECK_OPTIONS...] -- DUMP...: `heapscope report` over
# the DUMPs (its text goes into the log), then its --json checked by
# report_check.py: EXPECT is leak, noleak or any; the top suspect and
# top at-exit site are printed as "top: FUNCTION (LOCATION) [...]" lines
# and checked against the allocator-wrapper pattern. A wrapper blamed only
# marks the test failed for finish, so the rest of it still runs.
report() {
    label=$1
    expect=$2
    shift 2
    opts=
    while [ $# -gt 0 ] && [ "$1" != -- ]; do
        opts="$opts $1"
        shift
    done
    [ $# -gt 0 ] || fail "report: no -- before the dumps"
    shift
    [ $# -gt 0 ] || fail "$label: no dump to report on"
    echo "---- heapscope report ($label) ----"
    "$CLI" report "$@" >"$W/report.txt" 2>&1 || {
        cat "$W/report.txt"
        fail "$label: heapscope report exited non-zero"
    }
    cat "$W/report.txt"
    echo "---- end of report ----"
    "$CLI" report --json "$@" >"$W/report.json" 2>"$W/report.err" || {
        cat "$W/report.err"
        fail "$label: heapscope report --json exited non-zero"
    }
    st=0
    # shellcheck disable=SC2086 # opts are separate words
    "$PY" "$CHECK_PY" --label "$T/$label" --expect "$expect" $opts "$W/report.json" || st=$?
    case $st in
    0) ;;
    2) WRAPPER_FAILS="$WRAPPER_FAILS $label" ;;
    *) fail "$label: the report check failed (above)" ;;
    esac
}

# finish: the test's last line; fails when a report blamed an allocator
# wrapper (REAL_STRICT_WRAPPERS=1), after every other check has passed.
WRAPPER_FAILS=
finish() {
    [ -z "$WRAPPER_FAILS" ] ||
        fail "every other check passed; the report blamed an allocator wrapper in:$WRAPPER_FAILS (REAL_STRICT_WRAPPERS=0 to only print it)"
    echo "$T: all checks passed"
}
