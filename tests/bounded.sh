#!/bin/sh
# bounded.sh - helpers for tests that run a victim with and without the
# library under a time bound and compare (tests/integration/hostharm.sh,
# nothread.sh). Source it after tests/lib.sh and new_workdir ($W, $LIB, fail).

# run NAME SECONDS CMD...: CMD without the library, bounded by SECONDS (then
# TERM, and KILL 3 s later: a process held alive by a thread that blocks
# every signal ignores TERM); stdout, stderr and status in $W/NAME.{out,err,rc}.
run() {
    name=$1 secs=$2
    shift 2
    rc=0
    timeout -k 3 "$secs" "$@" >"$W/$name.out" 2>"$W/$name.err" || rc=$?
    echo "$rc" >"$W/$name.rc"
}
# traced NAME SECONDS [VAR=VALUE...] CMD...: as run, under the library (and
# the settings given), in $W/NAME (fresh), which is also where the dumps go
# (%e.%p.hsd).
traced() {
    name=$1 secs=$2
    shift 2
    mkdir -p "$W/$name"
    rc=0
    (cd "$W/$name" && timeout -k 3 "$secs" env LD_PRELOAD="$LIB" HEAPSCOPE_OUTPUT="$W/$name/%e.%p.hsd" "$@") \
        >"$W/$name.out" 2>"$W/$name.err" || rc=$?
    echo "$rc" >"$W/$name.rc"
}
rc_of() { cat "$W/$1.rc"; }
# want CASE: CASE is among $HS_CASES (all when unset).
want() {
    case " ${HS_CASES:-all} " in
    *" all "* | *" $1 "*) return 0 ;;
    esac
    return 1
}
# status_ok NAME SECONDS: NAME exited 0; a timeout or a signal is named.
status_ok() {
    rc=$(rc_of "$1")
    case $rc in
    0) ;;
    124 | 137) fail "$1: did not exit within $2 s (timeout killed it)" ;;
    13[0-9] | 1[4-5][0-9]) fail "$1: killed by signal $((rc - 128))$([ "$rc" = 139 ] && echo ' (SIGSEGV)'), stderr: $(head -n 2 "$W/$1.err" | tr '\n' ' ')" ;;
    *) fail "$1: exit status $rc, stderr: $(head -n 2 "$W/$1.err" | tr '\n' ' ')" ;;
    esac
}
# same_out BASE NAME: NAME printed what BASE (run without the library) did.
same_out() {
    if ! cmp -s "$W/$1.out" "$W/$2.out"; then
        diff "$W/$1.out" "$W/$2.out" | head -n 6 >&2
        fail "$2: stdout differs from the run without heapscope"
    fi
}
