#!/bin/sh
# writer_paths.sh - the dump lands where it was asked for, in the process it
# belongs to, and nothing of heapscope lands in the program's files:
# - a daemon that closes stderr and opens its own data file on descriptor 2
#   gets no "heapscope: ..." line in it (they go to HEAPSCOPE_LOG if set);
# - a relative HEAPSCOPE_OUTPUT is resolved at load: after chdir(), after
#   closing every descriptor and chdir(), and after daemon() (cwd /), the dump
#   is in the directory the program started in;
# - after chroot() (root only) the dump is still in the directory named at load;
# - a child made by _Fork() or the raw fork system call (no atfork handler)
#   that allocates and exit()s leaves its parent's dump valid, with the
#   parent's pid, whether the parent had written a snapshot before the fork
#   or not;
# - 12 runs with one fixed HEAPSCOPE_OUTPUT (no %p) give 12 distinct dumps.
# Victims: tests/progs/daemonize_victim.c, tests/progs/writer_paths_victim.c.
# CASES="stderr chdir ..." runs only the cases named (stderr, chdir,
# closeall, daemon, chroot, fork, names).
set -eu
T=writer_paths
. tests/lib.sh

V=$PROGS/writer_paths_victim
D=$PROGS/daemonize_victim
need "$LIB" "$CLI" "$V" "$D"
# Only the settings each case names.
for v in $(env | sed -n 's/^\(HEAPSCOPE_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done
new_workdir
mkdir "$W/tmp"

# traced NAME CMD...: CMD under the library at rate 1 (an exit snapshot
# only), $TMPDIR=$W/tmp; stdout/stderr in $W/NAME.out/.err, status in $W/NAME.rc.
traced() {
    name=$1; shift
    if timeout 60 env LD_PRELOAD="$LIB" HEAPSCOPE_SAMPLE_RATE=1 HEAPSCOPE_INTERVAL=3600 TMPDIR="$W/tmp" "$@" \
        >"$W/$name.out" 2>"$W/$name.err"; then
        echo 0
    else
        echo $?
    fi >"$W/$name.rc"
}
# selected CASE: CASE is to run.
selected() { case " ${CASES:-$1} " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
# ok NAME: status 0, else fail with its stderr.
ok() { [ "$(cat "$W/$1.rc")" = 0 ] || fail "$1: exited $(cat "$W/$1.rc"): $(head -n 3 "$W/$1.err")"; }
pid_of() { sed -n 's/^pid \([0-9]*\)$/\1/p' "$W/$1.out"; }
hsd_in() { find "$1" -maxdepth 1 -name '*.hsd*' | sort; }
# valid DUMP PID WHAT: `heapscope info` says integrity ok with header pid
# PID, and `heapscope report` accepts the dump.
valid() {
    info "$1" "$W/info.out"
    [ "$(field "$W/info.out" pid)" = "$2" ] || fail "$3: $(basename "$1") has header pid $(field "$W/info.out" pid), expected $2"
    "$CLI" report "$1" >"$W/report.out" 2>&1 ||
        fail "$3: heapscope report rejects $(basename "$1") (status $?): $(tail -n 2 "$W/report.out")"
}

# --- descriptor 2 reused by the program ----------------------------------------
if selected stderr; then
    check "a daemon's data file on descriptor 2 gets no heapscope line (HEAPSCOPE_VERBOSE=1)"
    mkdir "$W/d2"
    traced d2 env HEAPSCOPE_VERBOSE=1 HEAPSCOPE_OUTPUT="$W/d2/d.%p.hsd" "$D" "$W/d2/data"
    ok d2
    printf 'record 1\nrecord 2\n' >"$W/expected.data"
    if ! cmp -s "$W/expected.data" "$W/d2/data"; then
        fail "the program's data file holds other bytes: $(grep -v '^record' "$W/d2/data" | head -n 2 | tr '\n' ' ')"
    fi
    grep -q 'heapscope: config' "$W/d2.err" || fail "no configuration lines on the stderr of load: $(head -n 1 "$W/d2.err")"
    f=$(hsd_in "$W/d2")
    [ -n "$f" ] || fail "no dump written"
    info "$f" "$W/info.out"

    check "... and with HEAPSCOPE_LOG, the lines written after the swap go there instead"
    mkdir "$W/d2log"
    traced d2log env HEAPSCOPE_VERBOSE=1 HEAPSCOPE_LOG="$W/d2log/hs.log" HEAPSCOPE_OUTPUT="$W/d2log/d.%p.hsd" \
        "$D" "$W/d2log/data"
    ok d2log
    cmp -s "$W/expected.data" "$W/d2log/data" || fail "HEAPSCOPE_LOG set: the program's data file holds other bytes"
    grep -q '^heapscope: pid [0-9]* writing ' "$W/d2log/hs.log" ||
        fail "HEAPSCOPE_LOG lacks the dump line: $(head -n 2 "$W/d2log/hs.log" 2>/dev/null)"
    [ "$(stat -c %a "$W/d2log/hs.log")" = 600 ] || fail "HEAPSCOPE_LOG created with mode $(stat -c %a "$W/d2log/hs.log")"
fi

# --- the directory is fixed at load ----------------------------------------------
if selected chdir; then
    check "relative HEAPSCOPE_OUTPUT, then chdir(): the dump is in the directory of load"
    mkdir -p "$W/cd/start/out" "$W/cd/away/out"
    (cd "$W/cd/start" && traced cd env HEAPSCOPE_OUTPUT="out/cd.%p.hsd" "$V" chdir "$W/cd/away")
    ok cd
    pid=$(pid_of cd)
    [ -z "$(hsd_in "$W/cd/away/out")" ] || fail "chdir: the dump followed the program: $(hsd_in "$W/cd/away/out")"
    [ -f "$W/cd/start/out/cd.$pid.hsd" ] || fail "chdir: no out/cd.$pid.hsd where the program started: $(find "$W/cd" -type f)"
    valid "$W/cd/start/out/cd.$pid.hsd" "$pid" chdir
fi

if selected closeall; then
    check "... also when the program closes every descriptor first (the directory by its absolute path)"
    mkdir -p "$W/ca/start" "$W/ca/away"
    (cd "$W/ca/start" && traced ca env HEAPSCOPE_OUTPUT="ca.%p.hsd" "$V" closeall "$W/ca/away")
    ok ca
    pid=$(pid_of ca)
    [ -z "$(hsd_in "$W/ca/away")" ] || fail "closeall: the dump followed the program: $(hsd_in "$W/ca/away")"
    [ -f "$W/ca/start/ca.$pid.hsd" ] || fail "closeall: no ca.$pid.hsd where the program started: $(find "$W/ca" -type f)"
    valid "$W/ca/start/ca.$pid.hsd" "$pid" closeall
fi

if selected daemon; then
    check "daemon(0, 1) (fork, setsid, chdir /): the daemon's dump is in the directory of load"
    mkdir "$W/dm"
    tag=hswp-$$-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')
    (cd "$W/dm" && traced dm env HEAPSCOPE_OUTPUT="$tag.%p.hsd" "$V" daemon "$W/dm.marker")
    ok dm
    wait_until 30 test -s "$W/dm.marker" || fail "daemon: the daemon never wrote its marker"
    dpid=$(cat "$W/dm.marker")
    gone() { ! kill -0 "$1" 2>/dev/null; }
    wait_until 30 gone "$dpid" || fail "daemon: pid $dpid still runs after 30 s"
    if hsd_in / | grep -q "/$tag\."; then
        rm -f /"$tag".*
        fail "daemon: the dump went to / (the daemon's working directory)"
    fi
    [ -f "$W/dm/$tag.$dpid.hsd" ] || fail "daemon: no $tag.$dpid.hsd in the directory of load: $(find "$W/dm" -type f)"
    valid "$W/dm/$tag.$dpid.hsd" "$dpid" daemon
fi

if selected chroot; then
    check "chroot() before the first snapshot: the dump is in the directory named at load (absolute and relative)"
    if [ "$(id -u)" = 0 ]; then
        mkdir -p "$W/cr/out" "$W/cr/jail" "$W/cr/rel"
        traced cr env HEAPSCOPE_OUTPUT="$W/cr/out/cr.%p.hsd" "$V" chroot "$W/cr/jail"
        ok cr
        pid=$(pid_of cr)
        [ -f "$W/cr/out/cr.$pid.hsd" ] || fail "chroot: no cr.$pid.hsd in $W/cr/out: $(find "$W/cr" "$W/tmp" -type f)"
        [ -z "$(find "$W/cr/jail" -mindepth 1)" ] || fail "chroot: the jail got $(find "$W/cr/jail" -mindepth 1)"
        valid "$W/cr/out/cr.$pid.hsd" "$pid" chroot
        (cd "$W/cr/rel" && traced crrel env HEAPSCOPE_OUTPUT="cr.%p.hsd" "$V" chroot "$W/cr/jail")
        ok crrel
        pid=$(pid_of crrel)
        [ -f "$W/cr/rel/cr.$pid.hsd" ] || fail "chroot, relative template: no cr.$pid.hsd in $W/cr/rel: $(find "$W/cr" "$W/tmp" -type f)"
        [ -z "$(find "$W/cr/jail" -mindepth 1)" ] || fail "chroot: the jail got $(find "$W/cr/jail" -mindepth 1)"
        valid "$W/cr/rel/cr.$pid.hsd" "$pid" "chroot, relative"
    else
        note "skip: chroot needs root"
    fi
fi

# --- a child the atfork handlers never saw ---------------------------------------
if selected fork; then
    for how in _Fork syscall; do
        for before in yes no; do
            check "fork by $how (snapshot before the fork: $before): the child's exit() leaves the parent's dump valid"
            d=$W/rf.$how.$before
            mkdir "$d"
            if [ "$before" = yes ]; then prefix=$d/rf.; else prefix=-; fi
            traced "rf.$how.$before" env HEAPSCOPE_SIGNAL=SIGUSR2 HEAPSCOPE_OUTPUT="$d/rf.%p.hsd" "$V" rawfork "$how" "$prefix"
            ok "rf.$how.$before"
            line=$(grep '^parent ' "$W/rf.$how.$before.out" || :)
            parent=$(echo "$line" | awk '{print $2}')
            child=$(echo "$line" | awk '{print $4}')
            [ "$(echo "$line" | awk '{print $6}')" = ok ] || fail "$how: $(cat "$W/rf.$how.$before.out")"
            [ -f "$d/rf.$parent.hsd" ] || fail "$how: no dump of the parent: $(hsd_in "$d" | tr '\n' ' ')"
            valid "$d/rf.$parent.hsd" "$parent" "$how, parent"
            # The child may have a dump of its own (its pid, its parent's pid as
            # ppid); no other dump may claim to be the parent.
            for f in $(hsd_in "$d"); do
                [ "$f" = "$d/rf.$parent.hsd" ] && continue
                [ "$f" = "$d/rf.$child.hsd" ] || fail "$how: a dump that is neither the parent's nor the child's: $(basename "$f")"
                valid "$f" "$child" "$how, child"
                [ "$(field "$W/info.out" ppid)" = "$parent" ] || fail "$how: the child's dump has ppid $(field "$W/info.out" ppid)"
            done
            note "dumps: $(hsd_in "$d" | sed 's|.*/||' | tr '\n' ' ')"
        done
    done
fi

# --- names never run out -----------------------------------------------------------
if selected names; then
    check "12 runs with one fixed HEAPSCOPE_OUTPUT (no %p): 12 distinct, valid dumps"
    mkdir "$W/same"
    i=0
    while [ $i -lt 12 ]; do
        traced "same$i" env HEAPSCOPE_OUTPUT="$W/same/fixed.hsd" "$V" plain
        ok "same$i"
        [ ! -s "$W/same$i.err" ] || fail "run $i: $(head -n 1 "$W/same$i.err")"
        i=$((i + 1))
    done
    n=$(hsd_in "$W/same" | wc -l)
    [ "$n" = 12 ] || fail "$n dumps for 12 runs: $(hsd_in "$W/same" | sed 's|.*/||' | tr '\n' ' '); stderr: $(cat "$W"/same*.err | head -n 2)"
    for f in $(hsd_in "$W/same"); do
        info "$f" "$W/info.out"
        field "$W/info.out" pid >>"$W/same.pids"
    done
    i=0
    while [ $i -lt 12 ]; do
        grep -qx "$(pid_of "same$i")" "$W/same.pids" || fail "run $i (pid $(pid_of "same$i")) has no dump"
        i=$((i + 1))
    done
    note "names past .9: $(hsd_in "$W/same" | sed -n 's|.*/\(.*-[0-9]*\)$|\1|p' | tr '\n' ' ')"
fi

echo "$T: PASS"
