#!/bin/sh
# lifecycle.sh - when libheapscope.so writes dumps and what they hold, over
# a process's life (tests/progs/lifecycle): _exit before the first interval
# writes nothing; returning from main writes a dump ending in END; fork gives
# parent and child their own dumps (the child's ppid is the parent, a child
# that keeps allocating has its own snapshots); HEAPSCOPE_SIGNAL adds a
# snapshot per signal (SIGUSR2, USR2 or 12); HEAPSCOPE_INTERVAL=0.1 over
# ~1 s gives several; exec through sh and bash is followed, the shell
# writing its own dump when it forks or exits through exit()
# (HEAPSCOPE_FOLLOW_EXEC=0 stops the following); HEAPSCOPE_ONLY limits
# which programs record (by argv[0] or executable name), and a program left
# out, like HEAPSCOPE_DISABLE=1, writes nothing and behaves exactly as
# without the library; each bad value warns once and its default is used;
# five threads (one detached) appear as THREAD records. Here every process
# writes a dump (HEAPSCOPE_EMPTY_DUMPS=1); by default a shell's trivial
# children that sampled nothing write none, checked last.
set -eu
T=lifecycle
. tests/lib.sh

P=$PROGS/lifecycle
C=$PROGS/conformance
need "$LIB" "$CLI" "$P" "$C"
new_workdir

# traced NAME CMD...: runs CMD in $W/NAME (fresh, also the dump directory,
# template %e.%p.hsd) under the library with the HEAPSCOPE_* variables of
# the environment; stdout/stderr in $W/NAME.out/.err; fails unless status 0.
traced() {
    name=$1; shift
    mkdir -p "$W/$name"
    rc=0
    (cd "$W/$name" && timeout 60 env LD_PRELOAD="$LIB" HEAPSCOPE_OUTPUT="$W/$name/%e.%p.hsd" \
        HEAPSCOPE_EMPTY_DUMPS="${HEAPSCOPE_EMPTY_DUMPS:-1}" "$@") \
        >"$W/$name.out" 2>"$W/$name.err" || rc=$?
    [ "$rc" = 0 ] || fail "$name: exited with status $rc: $(head -n 1 "$W/$name.err")"
}
dumps_in() { find "$W/$1" -name '*.hsd' | wc -l; }
pid_of() { awk '$1 == "pid" { print $2; exit }' "$W/$1.out"; }
snapshots() { "$CLI" info "$1" 2>/dev/null >"$W/poll.info" && records_of "$W/poll.info" SNAPSHOT; }
# signal_snapshots DUMP: how many snapshots DUMP holds that a signal asked for
# (the first interval snapshots come after 1 s, 2 s, 4 s ... whatever the interval).
signal_snapshots() {
    "$CLI" stats --csv "$1" 2>/dev/null >"$W/poll.csv" && awk -F, '$3 == "signal" {n++} END {print n + 0}' "$W/poll.csv"
}
# more_snapshots DUMP N: DUMP exists, reads back, and holds more than N snapshots.
more_snapshots() { have=$(signal_snapshots "$1") && [ "$have" -gt "$2" ]; }

check "_exit(0) before the first interval writes no dump"
traced early "$P" exit_early
[ "$(dumps_in early)" = 0 ] || fail "a dump was written: $(ls "$W/early")"

check "returning from main writes one dump, ending in END, intact"
traced ret "$P" return
pid=$(pid_of ret)
[ -f "$W/ret/lifecycle.$pid.hsd" ] || fail "no lifecycle.$pid.hsd: $(ls "$W/ret")"
[ "$(dumps_in ret)" = 1 ] || fail "more than one dump: $(ls "$W/ret")"
info "$W/ret/lifecycle.$pid.hsd" "$W/ret.info"
[ "$(field "$W/ret.info" pid)" = "$pid" ] || fail "header pid is not $pid"
[ "$(records_of "$W/ret.info" END)" = 1 ] || fail "no END record"
[ "$(records_of "$W/ret.info" HEADER)" = 1 ] || fail "not exactly one HEADER record"
[ "$(records_of "$W/ret.info" SNAPSHOT)" -ge 1 ] || fail "no SNAPSHOT record"
mode=$(stat -c %a "$W/ret/lifecycle.$pid.hsd")
[ "$mode" = 600 ] || fail "dump mode is $mode, expected 600"

check "fork: parent and child write their own dumps; the child's ppid is the parent; the child snapshots on its own"
HEAPSCOPE_INTERVAL=0.1 traced fork "$P" fork 600
grep -q '^parent [0-9]* child [0-9]* status ok$' "$W/fork.out" || fail "fork: $(cat "$W/fork.out")"
parent=$(awk '$1 == "parent" { print $2 }' "$W/fork.out")
child=$(awk '$1 == "parent" { print $4 }' "$W/fork.out")
[ "$(dumps_in fork)" = 2 ] || fail "expected 2 dumps, found: $(ls "$W/fork")"
info "$W/fork/lifecycle.$parent.hsd" "$W/fork.parent.info"
info "$W/fork/lifecycle.$child.hsd" "$W/fork.child.info"
[ "$(field "$W/fork.parent.info" pid)" = "$parent" ] || fail "parent dump's header pid is not $parent"
[ "$(field "$W/fork.child.info" pid)" = "$child" ] || fail "child dump's header pid is not $child"
[ "$(field "$W/fork.child.info" ppid)" = "$parent" ] ||
    fail "child's header ppid is $(field "$W/fork.child.info" ppid), expected $parent"
n=$(records_of "$W/fork.child.info" SNAPSHOT)
# fork-child + ~5 interval snapshots in 0.6 s + exit; 3 leaves room for a slow machine
[ "$n" -ge 3 ] || fail "the child, allocating for 0.6 s at interval 0.1, has $n snapshots (< 3)"
[ "$(records_of "$W/fork.child.info" END)" = 1 ] || fail "the child's dump has no END record"
[ "$(records_of "$W/fork.parent.info" END)" = 1 ] || fail "the parent's dump has no END record"
note "parent $parent, child $child: $n child snapshots"

check "fork at rate 1: the child's record of what it inherited is consistent and holds its frees of the parent's blocks"
HEAPSCOPE_SAMPLE_RATE=1 HEAPSCOPE_INTERVAL=0.1 traced fork1 "$P" fork 300
grep -q '^parent [0-9]* child [0-9]* status ok$' "$W/fork1.out" || fail "fork1: $(cat "$W/fork1.out")"
parent=$(awk '$1 == "parent" { print $2 }' "$W/fork1.out")
child=$(awk '$1 == "parent" { print $4 }' "$W/fork1.out")
[ -f "$W/fork1/lifecycle.$child.hsd" ] || fail "no child dump: $(ls "$W/fork1")"
info_stacks "$W/fork1/lifecycle.$parent.hsd" "$W/fork1.parent.info"
info_stacks "$W/fork1/lifecycle.$child.hsd" "$W/fork1.child.info"
consistent "$W/fork1.parent.info"
consistent "$W/fork1.child.info"
pf=$(stat_of "$W/fork1.parent.info" sampled_frees)
cf=$(stat_of "$W/fork1.child.info" sampled_frees)
# The child's first round frees the 64 blocks the parent allocated before forking.
[ "$cf" -ge $((pf + 64)) ] || fail "child sampled_frees $cf < parent's $pf + the 64 inherited blocks it freed"

# signalled NAME SPELLING SIGNALS: runs `lifecycle wait` with
# HEAPSCOPE_SIGNAL=SPELLING, sends SIGUSR2 SIGNALS times, each time polling
# (bounded) until the dump holds one more signal snapshot (written at the
# program's next sampled allocation), then lets it exit; the dump must then
# hold SIGNALS signal snapshots and end with the exit snapshot.
signalled() {
    name=$1 spelling=$2 signals=$3
    mkdir -p "$W/$name"
    (cd "$W/$name" && exec timeout 60 env LD_PRELOAD="$LIB" HEAPSCOPE_SIGNAL="$spelling" \
        HEAPSCOPE_OUTPUT="$W/$name/%e.%p.hsd" "$P" wait "$W/$name.ready" "$W/$name.go") \
        >"$W/$name.out" 2>"$W/$name.err" &
    bgpid=$!
    BG=$bgpid
    wait_until 10 test -s "$W/$name.ready" || fail "$name: the waiting program never became ready"
    pid=$(cat "$W/$name.ready")
    BG="$bgpid $pid"
    dump=$W/$name/lifecycle.$pid.hsd
    k=0
    while [ $k -lt "$signals" ]; do
        kill -USR2 "$pid"
        wait_until 10 more_snapshots "$dump" $k ||
            fail "$name: still $k snapshots 10 s after SIGUSR2 number $((k + 1))"
        k=$((k + 1))
        [ "$(signal_snapshots "$dump")" = $k ] || fail "$name: $(signal_snapshots "$dump") signal snapshots after $k signals"
    done
    touch "$W/$name.go"
    rc=0
    wait "$bgpid" || rc=$?
    BG=
    [ "$rc" = 0 ] || fail "$name: the waiting program exited with status $rc: $(head -n 1 "$W/$name.err")"
    [ ! -s "$W/$name.err" ] || fail "$name: stderr not empty: $(head -n 1 "$W/$name.err")"
    info "$dump" "$W/$name.info"
    [ "$(signal_snapshots "$dump")" = "$signals" ] || fail "$name: $(signal_snapshots "$dump") signal snapshots, expected $signals"
    grep -q '^last snapshot: .*reason exit' "$W/$name.info" || fail "$name: the last snapshot is not the exit's"
}

check "HEAPSCOPE_SIGNAL=SIGUSR2: each signal adds a snapshot (1, 2, then 3 with the exit)"
signalled sig SIGUSR2 2
check "HEAPSCOPE_SIGNAL=USR2 and =12 name the same signal"
signalled sig_short USR2 1
signalled sig_number 12 1

check "the first snapshots come early (1 s, then 3 s) whatever the interval: a 3.5 s run that _exits leaves data"
traced early_data "$P" run_exit 3500
pid=$(pid_of early_data)
[ -f "$W/early_data/lifecycle.$pid.hsd" ] || fail "a 3.5 s run that _exited left no dump: $(ls "$W/early_data")"
"$CLI" info "$W/early_data/lifecycle.$pid.hsd" >"$W/early_data.info" 2>&1 ||
    fail "early_data: info failed: $(tail -n 1 "$W/early_data.info")"
n=$(records_of "$W/early_data.info" SNAPSHOT)
[ "$n" -ge 2 ] || fail "a 3.5 s run at the default 30 s interval has $n snapshots (expected those at ~1 s and ~3 s)"
[ "$(records_of "$W/early_data.info" END)" = 0 ] || fail "early_data: an END record after _exit"
note "$n snapshots before _exit"

check "HEAPSCOPE_INTERVAL=0.1 on a program running ~1 s yields several snapshots"
HEAPSCOPE_INTERVAL=0.1 traced interval "$P" run 1000
pid=$(pid_of interval)
info "$W/interval/lifecycle.$pid.hsd" "$W/interval.info"
n=$(records_of "$W/interval.info" SNAPSHOT)
# 10 intervals + 1 at exit; at least 5 even when the machine is busy, and
# not more than 13 (snapshots must not come faster than asked).
if [ "$n" -lt 5 ] || [ "$n" -gt 13 ]; then
    fail "$n snapshots in ~1 s at interval 0.1 (expected 5..13)"
fi
note "$n snapshots"

# dash (sh) leaves through _exit and starts commands with vfork, so a
# dash that only runs commands takes no snapshot and writes no dump of its
# own; bash forks and calls exit(), so it writes one.
check "exec: sh -c 'prog' (dash execs in place): one dump, the program's, under the same pid"
traced exec sh -c "echo shell \$\$; exec '$P' return"
spid=$(awk '$1 == "shell" { print $2 }' "$W/exec.out")
pid=$(pid_of exec)
[ -n "$spid" ] || fail "exec: the shell printed no pid"
[ "$spid" = "$pid" ] || fail "exec: shell pid '$spid', program pid '$pid': $(cat "$W/exec.out")"
[ -f "$W/exec/lifecycle.$pid.hsd" ] || fail "no dump from the exec'd program: $(ls "$W/exec")"
[ "$(dumps_in exec)" = 1 ] || fail "expected only the program's dump: $(ls "$W/exec")"
info "$W/exec/lifecycle.$pid.hsd" "$W/exec.info"
[ "$(records_of "$W/exec.info" END)" = 1 ] || fail "the exec'd program's dump has no END record"

check "exec: bash -c 'prog; true' (fork, exec, exit): the shell and the program each write a dump"
traced exec2 bash -c "echo shell \$\$; '$P' return; true"
spid=$(awk '$1 == "shell" { print $2 }' "$W/exec2.out")
pid=$(pid_of exec2)
[ -n "$spid" ] || fail "the shell printed no pid: $(cat "$W/exec2.out")"
[ -n "$pid" ] || fail "the program printed no pid: $(cat "$W/exec2.out")"
[ -f "$W/exec2/lifecycle.$pid.hsd" ] || fail "no dump from the exec'd program: $(ls "$W/exec2")"
[ -f "$W/exec2/bash.$spid.hsd" ] || fail "no dump from the shell (pid $spid): $(ls "$W/exec2")"
for f in "$W/exec2"/*.hsd; do info "$f" "$W/exec2.info"; done
info "$W/exec2/bash.$spid.hsd" "$W/exec2.info"
[ "$(records_of "$W/exec2.info" END)" = 1 ] || fail "the shell's dump has no END record"

check "exec: sh -c '(:); prog; true': a dash that forks writes its own dump (fork snapshot)"
traced exec3 sh -c "echo shell \$\$; (:); '$P' return; true"
spid=$(awk '$1 == "shell" { print $2 }' "$W/exec3.out")
pid=$(pid_of exec3)
[ -f "$W/exec3/lifecycle.$pid.hsd" ] || fail "no dump from the exec'd program: $(ls "$W/exec3")"
[ -f "$W/exec3/sh.$spid.hsd" ] || fail "no dump from the forking shell (pid $spid): $(ls "$W/exec3")"
for f in "$W/exec3"/*.hsd; do info "$f" "$W/exec3.info"; done

check "HEAPSCOPE_FOLLOW_EXEC=0: the exec'd program writes no dump, the shell still does"
HEAPSCOPE_FOLLOW_EXEC=0 traced noexec bash -c "echo shell \$\$; '$P' return; true"
spid=$(awk '$1 == "shell" { print $2 }' "$W/noexec.out")
pid=$(pid_of noexec)
[ -n "$pid" ] || fail "the program did not run: $(cat "$W/noexec.out")"
[ -z "$(find "$W/noexec" -name 'lifecycle.*')" ] || fail "the exec'd program wrote a dump: $(ls "$W/noexec")"
[ -f "$W/noexec/bash.$spid.hsd" ] || fail "no dump from the shell itself: $(ls "$W/noexec")"

check "HEAPSCOPE_ONLY=lifecycle: only that program writes a dump"
HEAPSCOPE_ONLY=lifecycle traced only bash -c "'$P' return; true"
pid=$(pid_of only)
[ -f "$W/only/lifecycle.$pid.hsd" ] || fail "the named program wrote no dump: $(ls "$W/only")"
[ "$(dumps_in only)" = 1 ] || fail "other programs wrote dumps: $(ls "$W/only")"
# The program name is argv[0]'s basename or the executable's.
ln -s "$P" "$W/victim_alias"
HEAPSCOPE_ONLY=victim_alias traced only_alias "$W/victim_alias" return
[ "$(dumps_in only_alias)" = 1 ] || fail "HEAPSCOPE_ONLY=victim_alias (argv[0]): $(dumps_in only_alias) dumps"
HEAPSCOPE_ONLY=lifecycle traced only_exe "$W/victim_alias" return
[ "$(dumps_in only_exe)" = 1 ] || fail "HEAPSCOPE_ONLY=lifecycle (executable, run as victim_alias): $(dumps_in only_exe) dumps"
HEAPSCOPE_ONLY=bash traced only1 bash -c "'$P' return; true"
[ -z "$(find "$W/only1" -name 'lifecycle.*')" ] || fail "HEAPSCOPE_ONLY=bash: the program wrote a dump"
[ "$(dumps_in only1)" -ge 1 ] || fail "HEAPSCOPE_ONLY=bash: bash wrote no dump"
HEAPSCOPE_ONLY=nosuchprogram,other traced only2 bash -c "'$P' return; true"
[ "$(dumps_in only2)" = 0 ] || fail "HEAPSCOPE_ONLY=nosuchprogram,other: dumps written: $(ls "$W/only2")"
# A program left out must still be served right when it allocates a lot
# (every conformance check at rate 1 reaches the sampling decision).
(cd "$W" && "$C" 1) >"$W/plain.out" 2>&1
HEAPSCOPE_ONLY=lifecycle HEAPSCOPE_SAMPLE_RATE=1 traced only3 "$C" 1
cmp -s "$W/plain.out" "$W/only3.out" || fail "HEAPSCOPE_ONLY=lifecycle: conformance output differs from a plain run"
[ "$(dumps_in only3)" = 0 ] || fail "HEAPSCOPE_ONLY=lifecycle: conformance wrote a dump: $(ls "$W/only3")"

check "HEAPSCOPE_DISABLE=1: no dump, output identical to a plain run"
HEAPSCOPE_DISABLE=1 HEAPSCOPE_SAMPLE_RATE=1 traced disabled "$C" 1
cmp -s "$W/plain.out" "$W/disabled.out" || fail "output differs from the plain run"
[ ! -s "$W/disabled.err" ] || fail "stderr not empty: $(head -n 1 "$W/disabled.err")"
[ "$(dumps_in disabled)" = 0 ] || fail "a dump was written: $(ls "$W/disabled")"
HEAPSCOPE_DISABLE=1 HEAPSCOPE_INTERVAL=0.05 traced disabled2 "$P" fork 200
[ "$(dumps_in disabled2)" = 0 ] || fail "fork with intervals while disabled wrote dumps: $(ls "$W/disabled2")"

check "bad values (HEAPSCOPE_SAMPLE_RATE=abc and others): one warning line each, defaults used, the program works"
# bad NAME VAR=VALUE HEADER_LINE: one "heapscope: warning: ... VAR" line on
# stderr, a normal run, and HEADER_LINE (the default) in the dump's info.
bad() {
    name=$1 setting=$2 want=$3
    traced "$name" env "$setting" "$P" return
    [ "$(wc -l <"$W/$name.err")" = 1 ] ||
        fail "$setting: stderr has $(wc -l <"$W/$name.err") lines: $(cat "$W/$name.err")"
    grep -q "^heapscope: warning: .*${setting%%=*}" "$W/$name.err" ||
        fail "$setting: not a 'heapscope: warning: ... ${setting%%=*}' line: $(cat "$W/$name.err")"
    pid=$(pid_of "$name")
    info "$W/$name/lifecycle.$pid.hsd" "$W/$name.info"
    grep -qxF "$want" "$W/$name.info" || fail "$setting: the dump's info lacks '$want': $(grep -E '^(sample rate|max depth|interval):' "$W/$name.info" | tr '\n' ';')"
}
bad badrate HEAPSCOPE_SAMPLE_RATE=abc "sample rate: 524288 bytes"
bad badrate2 HEAPSCOPE_SAMPLE_RATE=-5 "sample rate: 524288 bytes"
bad badrate3 HEAPSCOPE_SAMPLE_RATE=12Q "sample rate: 524288 bytes"
bad baddepth HEAPSCOPE_MAX_DEPTH=0 "max depth: 64"
bad baddepth2 HEAPSCOPE_MAX_DEPTH=257 "max depth: 64"
bad badinterval HEAPSCOPE_INTERVAL=soon "interval: 30.000 s"
bad badsignal HEAPSCOPE_SIGNAL=SIGNOSUCH "sample rate: 524288 bytes"
check "good values with suffixes are taken: HEAPSCOPE_SAMPLE_RATE=64K, HEAPSCOPE_INTERVAL=0.25"
HEAPSCOPE_SAMPLE_RATE=64K HEAPSCOPE_INTERVAL=0.25 HEAPSCOPE_MAX_DEPTH=256 traced goodvalues "$P" return
[ ! -s "$W/goodvalues.err" ] || fail "valid values gave warnings: $(cat "$W/goodvalues.err")"
info "$W/goodvalues/lifecycle.$(pid_of goodvalues).hsd" "$W/goodvalues.info"
for want in "sample rate: 65536 bytes" "interval: 0.250 s" "max depth: 256"; do
    grep -qxF "$want" "$W/goodvalues.info" || fail "the dump's info lacks '$want'"
done

check "threads: 5 threads (one detached) give THREAD records (5 started, 5 exited)"
traced threads "$P" threads
grep -qx 'threads 5 done' "$W/threads.out" || fail "the program did not finish: $(cat "$W/threads.out")"
pid=$(pid_of threads)
info "$W/threads/lifecycle.$pid.hsd" "$W/threads.info"
n=$(records_of "$W/threads.info" THREAD)
started=$(awk '$1 == "threads:" && $3 == "started," { print $2 }' "$W/threads.info")
exited=$(awk '$1 == "threads:" && $3 == "started," { print $4 }' "$W/threads.info")
[ "$started $exited" = "5 5" ] ||
    fail "info counts threads '$started' started, '$exited' exited; expected 5 and 5"
[ "$n" = 10 ] || fail "$n THREAD records for 5 threads that started and exited (expected 10)"
note "$n THREAD records: $started started, $exited exited"

check "by default, trivial children that sampled nothing leave no dump; a sampling one does"
HEAPSCOPE_EMPTY_DUMPS=0 traced trivial sh -c 'i=0; while [ $i -lt 20 ]; do /bin/true; i=$((i + 1)); done'
[ "$(dumps_in trivial)" = 0 ] || fail "20 runs of /bin/true left $(dumps_in trivial) dumps"
HEAPSCOPE_EMPTY_DUMPS=0 HEAPSCOPE_SAMPLE_RATE=1 traced sampling "$P" return
[ "$(dumps_in sampling)" = 1 ] || fail "a program that sampled left $(dumps_in sampling) dumps"
HEAPSCOPE_EMPTY_DUMPS=1 traced trivial_kept /bin/true
[ "$(dumps_in trivial_kept)" = 1 ] || fail "HEAPSCOPE_EMPTY_DUMPS=1: /bin/true left $(dumps_in trivial_kept) dumps"

echo "lifecycle: PASS"
