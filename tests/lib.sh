#!/bin/sh
# shellcheck disable=SC2034 # LIB, PROGS, JEMALLOC, T are for the sourcing scripts
# lib.sh - shell helpers shared by the interposer tests (conformance.sh,
# sites.sh, stress.sh, lifecycle.sh): paths, failing with one line, a
# cleaned-up work dir, polling with a deadline, and parsers for the output
# of `heapscope info [--stacks]`. Source it with T set to the test's name:
#     T=sites; . tests/lib.sh
# Run directly (scripts/run-tests.sh runs every tests/integration/*.sh), it
# checks its own parsers against canned `heapscope info` output.
set -eu

BUILD=${BUILD:-build}
case $BUILD in /*) B=$BUILD ;; *) B=$(pwd)/$BUILD ;; esac
LIB=$B/libheapscope.so
CLI=$B/heapscope
PROGS=$B/progs
JEMALLOC=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
T=${T:-lib}

fail() { echo "$T: FAIL: $*" >&2; exit 1; }
check() { echo "$T: check: $*"; }
note() { echo "$T:   $*"; }

# need FILE...: every file exists (built by `make all progs`).
need() {
    for f in "$@"; do
        [ -e "$f" ] || fail "$f missing (run make all progs)"
    done
}

# new_workdir: $W is a fresh directory, removed at exit (KEEP=1 keeps it);
# background processes listed in $BG are killed at exit.
BG=
W=
cleanup_workdir() {
    for p in $BG; do
        kill -9 "$p" 2>/dev/null || :
    done
    if [ -n "$W" ] && [ -z "${KEEP:-}" ]; then
        rm -rf "$W"
    elif [ -n "$W" ]; then
        echo "$T: kept $W" >&2
    fi
}
new_workdir() {
    W=$(mktemp -d)
    trap cleanup_workdir EXIT
    trap 'exit 1' HUP INT TERM
}

# wait_until SECONDS CMD...: polls CMD every 20 ms until it succeeds; returns
# non-zero when SECONDS pass first.
wait_until() {
    limit=$1; shift
    end=$(($(date +%s) + limit))
    until "$@"; do
        [ "$(date +%s)" -le "$end" ] || return 1
        sleep 0.02
    done
}

# live_url LOG [SECONDS]: waits (up to SECONDS, default 10) until LOG, a
# program's stderr, has the line the live service logs once it listens
# ("heapscope: live service on http://HOST:PORT/ (pid N)"; start the program
# with HEAPSCOPE_HTTP=127.0.0.1:0 for a free port) and prints the first such
# URL without its trailing slash. Returns non-zero when none came in time.
live_url() {
    wait_until "${2:-10}" grep -q 'heapscope: live service on http://' "$1" || return 1
    sed -n 's|.*heapscope: live service on \(http://[^ ]*[^/ ]\)/* .*|\1|p' "$1" | head -n 1
}

# info DUMP OUT: `heapscope info DUMP` into OUT; fails unless it exits 0 and
# reports `integrity: ok`.
info() {
    if ! "$CLI" info "$1" >"$2" 2>&1; then
        tail -n 3 "$2" >&2
        fail "heapscope info $(basename "$1") exited non-zero"
    fi
    grep -q '^integrity: ok' "$2" ||
        fail "$(basename "$1"): $(grep '^integrity' "$2" || echo 'no integrity line')"
}

# info_stacks DUMP OUT: `heapscope info --stacks DUMP` into OUT, checked as info.
info_stacks() {
    if ! "$CLI" info --stacks "$1" >"$2" 2>&1; then
        tail -n 3 "$2" >&2
        fail "heapscope info --stacks $(basename "$1") exited non-zero"
    fi
    grep -q '^integrity: ok' "$2" ||
        fail "$(basename "$1"): $(grep '^integrity' "$2" || echo 'no integrity line')"
}

# field OUT NAME: the value printed after NAME (as "NAME VALUE", "NAME: VALUE"
# or "NAME=VALUE", brackets and separators ignored, as in "records: 9
# (HEADER 1, STACK 3)") on the first line of OUT (an info output) that has
# it; empty when absent.
field() {
    awk -v k="$2" '{
        for (i = 1; i <= NF; i++) {
            w = $i
            gsub(/^[(]+|[),;]+$/, "", w)
            if (w == k || w == k ":") {
                if (i < NF) { v = $(i + 1); gsub(/^[(]+|[),;]+$/, "", v); print v; exit }
            } else if (index(w, k "=") == 1) { print substr(w, length(k) + 2); exit }
        }
    }' "$1"
}

# sample_rate OUT: the sample rate an info output's header states.
sample_rate() { sed -n 's/^sample rate: \([0-9]*\) bytes$/\1/p' "$1"; }

# stat_of OUT NAME: a snapshot statistic from an info output; fails when absent.
stat_of() {
    v=$(field "$1" "$2")
    case $v in
    '' | *[!0-9]*) fail "no numeric '$2' in heapscope info output ($(basename "$1"))" ;;
    esac
    echo "$v"
}

# records_of OUT TYPE: how many records of TYPE (HEADER, MAPPINGS, STACK,
# SNAPSHOT, THREAD, END) info counted; 0 when the type is not listed.
records_of() {
    v=$(field "$1" "$2")
    [ -n "$v" ] || v=$(field "$1" "$(echo "$2" | tr '[:upper:]' '[:lower:]')")
    case $v in
    '') echo 0 ;;
    *[!0-9]*) fail "record count of $2 is not a number: '$v'" ;;
    *) echo "$v" ;;
    esac
}

# symbolize OUT BINARY DEST: for each frame of an `info --stacks` output OUT
# that lies in BINARY, writes "stack_id frame_index function" to DEST. The
# address looked up is rel - 1 (inside the call instruction, so the caller's
# line, not the next statement's, which may belong to an inlined callee).
symbolize() {
    real_bin=$(readlink -f "$2")
    awk -v bin="$real_bin" -v base="$(basename "$real_bin")" '
        $1 == "stack" { id = $2 }
        $1 == "frame" && ($4 == bin || $4 == base) { print id, $2, $5 }' "$1" >"$3.frames"
    : >"$3"
    [ -s "$3.frames" ] || return 0
    while read -r _ _ rel; do
        printf '%x\n' $((rel - 1))
    done <"$3.frames" >"$3.addrs"
    addr2line -f -e "$real_bin" <"$3.addrs" | awk 'NR % 2 == 1' >"$3.names"
    [ "$(wc -l <"$3.names")" = "$(wc -l <"$3.frames")" ] || fail "addr2line returned fewer names than addresses"
    paste -d' ' "$3.frames" "$3.names" | awk '{ print $1, $2, $4 }' >"$3"
    rm -f "$3.frames" "$3.addrs" "$3.names"
}

# site_totals OUT SYMS DEST: per function in which frame 0 resolves (SYMS
# from symbolize), the sums over its stacks of the nine counters of an
# `info --stacks` stack line, as "function allocs alloc_bytes frees
# free_bytes est_alloc_objects est_alloc_bytes est_inuse_objects
# est_inuse_bytes nstacks".
site_totals() {
    awk '
        FNR == NR { if ($2 == 0) fn[$1] = $3; next }
        $1 == "stack" {
            if (!($2 in fn)) next
            f = fn[$2]
            for (i = 3; i < NF; i += 2) v[f, $i] += $(i + 1)
            seen[f]++
        }
        END {
            for (f in seen)
                printf "%s %d %d %d %d %.6f %.6f %.6f %.6f %d\n", f, v[f, "allocs"], v[f, "alloc_bytes"],
                    v[f, "frees"], v[f, "free_bytes"], v[f, "est_alloc_objects"], v[f, "est_alloc_bytes"],
                    v[f, "est_inuse_objects"], v[f, "est_inuse_bytes"], seen[f]
        }' "$2" "$1" | sort >"$3"
}

# consistent OUT: an `info --stacks` output of a process that was quiet at
# its last snapshot is self-consistent: the stack rows add up to the sampled
# totals in the stats, live_samples = sampled_allocs - sampled_frees, and no
# stack freed more (or more bytes) than it allocated. Fails with the reason.
consistent() {
    awk '
        $1 == "stack" {
            for (i = 3; i < NF; i += 2) v[$i] = $(i + 1)
            a += v["allocs"]; ab += v["alloc_bytes"]; f += v["frees"]; fb += v["free_bytes"]
            if (v["frees"] > v["allocs"] || v["free_bytes"] > v["alloc_bytes"]) {
                print "stack " $2 " freed more than it allocated"; bad = 1 }
        }
        $1 ~ /^(sampled_allocs|sampled_alloc_bytes|sampled_frees|sampled_free_bytes|live_samples):$/ {
            s[substr($1, 1, length($1) - 1)] = $2 }
        END {
            if (a != s["sampled_allocs"] || ab != s["sampled_alloc_bytes"] ||
                f != s["sampled_frees"] || fb != s["sampled_free_bytes"]) {
                printf "stack rows sum to %d allocs %d bytes %d frees %d bytes; stats say %d %d %d %d\n",
                    a, ab, f, fb, s["sampled_allocs"], s["sampled_alloc_bytes"], s["sampled_frees"],
                    s["sampled_free_bytes"]; bad = 1 }
            if (s["live_samples"] != s["sampled_allocs"] - s["sampled_frees"]) {
                printf "live_samples %d != sampled_allocs %d - sampled_frees %d\n", s["live_samples"],
                    s["sampled_allocs"], s["sampled_frees"]; bad = 1 }
            exit bad
        }' "$1" >"$1.consistency" || fail "$(basename "$1"): $(head -n 1 "$1.consistency")"
}

# The parsers against canned output, when this file is run by itself.
case ${0##*/} in
lib.sh)
    W=$(mktemp -d)
    trap 'rm -rf "$W"' EXIT
    cat >"$W/info" <<'EOF'
file: /tmp/x.hsd
pid: 123
ppid: 45
sample rate: 524288 bytes
records: 23 (HEADER 1, MAPPINGS 1, STACK 7, SNAPSHOT 3, THREAD 10, END 1)
threads: 5 started, 5 exited
snapshots: 3 (seq 0..2), span 0.300 s
  alloc_calls: 2500
free_calls=999
integrity: ok (clean exit, END record present)
EOF
    [ "$(field "$W/info" pid)" = 123 ] || fail "field 'pid: 123'"
    [ "$(field "$W/info" ppid)" = 45 ] || fail "field 'ppid 45'"
    [ "$(stat_of "$W/info" free_calls)" = 999 ] || fail "field 'free_calls=999'"
    [ "$(records_of "$W/info" SNAPSHOT)" = 3 ] || fail "records_of SNAPSHOT"
    [ "$(records_of "$W/info" THREAD)" = 10 ] || fail "records_of THREAD"
    [ "$(records_of "$W/info" HEADER)" = 1 ] || fail "records_of HEADER"
    [ "$(records_of "$W/info" END)" = 1 ] || fail "records_of END"
    [ "$(stat_of "$W/info" alloc_calls)" = 2500 ] || fail "stat_of alloc_calls"
    [ "$(field "$W/info" threads)" = 5 ] || fail "field threads"
    [ "$(field "$W/info" snapshots)" = 3 ] || fail "field snapshots"
    [ "$(sample_rate "$W/info")" = 524288 ] || fail "sample_rate"
    [ "$(records_of "$W/info" BOGUS)" = 0 ] || fail "records_of an absent type"
    echo "lib: parsers ok"
    ;;
esac
