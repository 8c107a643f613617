#!/bin/sh
# nothread.sh - by default libheapscope.so starts no thread of its own, so it
# does not change what its host can do (issue 7):
# - a program whose main thread calls pthread_exit() ends (glibc calls
#   exit(0) when its last thread ends; atexit handlers run) with a complete
#   dump, at default settings and at HEAPSCOPE_INTERVAL=0.1 with rate 1;
# - /proc/self/task has one entry in a single-threaded program (C and
#   python3), and python3's os.fork() raises no DeprecationWarning about
#   forking a multi-threaded process (3.12+; 3.11 does not warn anyway);
# - unshare -U / unshare -r work (the kernel refuses CLONE_NEWUSER to a
#   multi-threaded caller);
# - under a low RLIMIT_NPROC (as user nobody) a preloaded shell forks as many
#   children as without the library and nothing prints on stderr;
# - CPython's own test_threading (Debian's libpython3.11-testsuite) passes
#   under the library: its fork-from-a-thread tests leave a child whose last
#   thread calls pthread_exit.
# Cases that cannot run here (no user namespaces, not root, no nobody user,
# no test suite) say "skip" and why. Every wait is bounded by timeout(1).
# HS_LIB=/path/libheapscope.so (and HS_CLI) test another build of the library;
# HS_CASES="mainexit tasks python unshare nproc test_threading" runs only
# the cases named.
set -eu
T=nothread
. tests/lib.sh
LIB=${HS_LIB:-$LIB}
CLI=${HS_CLI:-$CLI}
case $LIB in /*) ;; *) LIB=$(pwd)/$LIB ;; esac

V=$PROGS/nothread_victim
PY=${HS_PYTHON:-/usr/bin/python3}
need "$LIB" "$CLI" "$V"
# Only the settings each case names.
for v in $(env | sed -n 's/^\(HEAPSCOPE_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done
new_workdir
. tests/bounded.sh

# the_dump NAME: the one dump in $W/NAME.
the_dump() {
    n=$(find "$W/$1" -name '*.hsd' | wc -l)
    [ "$n" = 1 ] || fail "$1: $n dumps, expected 1: $(find "$W/$1" -name '*.hsd' | tr '\n' ' ')"
    find "$W/$1" -name '*.hsd'
}

if want mainexit; then
check "main thread calls pthread_exit(): the process ends with its last thread"
run me_base 20 "$V" mainexit
status_ok me_base 20
[ "$(cat "$W/me_base.out")" = "worker done
atexit ran" ] || fail "without heapscope the victim printed: $(tr '\n' ' ' <"$W/me_base.out")"
for setting in default fast; do
    case $setting in
    default) traced "me_$setting" 20 "$V" mainexit ;;
    fast) traced "me_$setting" 20 HEAPSCOPE_INTERVAL=0.1 HEAPSCOPE_SAMPLE_RATE=1 "$V" mainexit ;;
    esac
    status_ok "me_$setting" 20
    same_out me_base "me_$setting"
    d=$(the_dump "me_$setting")
    info "$d" "$W/me_$setting.info"
    [ "$(records_of "$W/me_$setting.info" END)" = 1 ] || fail "me_$setting: the dump has no END record"
    note "$setting: exited 0, atexit handlers ran, dump intact with END"
done
fi

if want tasks; then
check "a single-threaded program has one entry in /proc/self/task"
run tasks_base 20 "$V" tasks
status_ok tasks_base 20
[ "$(cat "$W/tasks_base.out")" = "tasks 1" ] || fail "without heapscope: $(cat "$W/tasks_base.out")"
traced tasks_default 20 "$V" tasks
status_ok tasks_default 20
same_out tasks_base tasks_default
traced tasks_fast 20 HEAPSCOPE_INTERVAL=0.1 HEAPSCOPE_SAMPLE_RATE=1 "$V" tasks
status_ok tasks_fast 20
same_out tasks_base tasks_fast
fi

if ! want python; then
    :
elif [ -x "$PY" ]; then
    check "python3: one thread, and os.fork() does not warn about threads"
    pyver=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    # shellcheck disable=SC2016 # Python code, not shell
    prog='import os
blocks = [bytes(1000 + i % 5000) for i in range(20000)]
del blocks
print(len(os.listdir("/proc/self/task")))
pid = os.fork()
if pid == 0:
    os._exit(0)
_, status = os.waitpid(pid, 0)
print("child", status)'
    run py_base 30 "$PY" -W error::DeprecationWarning -c "$prog"
    status_ok py_base 30
    traced py_lib 30 "$PY" -W error::DeprecationWarning -c "$prog"
    status_ok py_lib 30
    same_out py_base py_lib
    case $pyver in
    3.[0-9] | 3.1[01]) why=' (3.11 and older never warn about fork)' ;;
    *) why='' ;;
    esac
    note "python $pyver: $(head -n 1 "$W/py_lib.out") task(s), fork without warning$why"
else
    note "skip python3 cases: $PY not found"
fi

if ! want unshare; then
    :
else
check "unshare -U and unshare -r work under the library"
run us_base 20 unshare -U true
if [ "$(rc_of us_base)" != 0 ]; then
    note "skip: unshare -U fails without heapscope too: $(head -n 1 "$W/us_base.err")"
else
    traced us_lib 20 unshare -U true
    status_ok us_lib 20
    run ur_base 20 unshare -r id -u
    status_ok ur_base 20
    traced ur_lib 20 unshare -r id -u
    status_ok ur_lib 20
    same_out ur_base ur_lib
    note "unshare -U true: 0; unshare -r id -u: $(cat "$W/ur_lib.out")"
fi
fi

if ! want nproc; then
    :
else
check "under a low RLIMIT_NPROC (user nobody) every fork succeeds and nothing is printed"
if [ "$(id -u)" != 0 ]; then
    note "skip: needs root to run as nobody (RLIMIT_NPROC counts every process of the user)"
elif ! command -v setpriv >/dev/null || ! command -v prlimit >/dev/null || ! id nobody >/dev/null 2>&1; then
    note "skip: needs setpriv, prlimit and a user nobody"
elif ! setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups test -r "$LIB"; then
    note "skip: user nobody cannot read $LIB"
else
    chmod 0711 "$W"
    mkdir "$W/nproc"
    chmod 1777 "$W/nproc"
    libname=$(basename "$LIB")
    # The shell says whether the library is in it, then forks 5 children,
    # one at a time, each exec'ing /bin/true.
    # shellcheck disable=SC2016 # expanded by the inner shell
    script='case $(cat /proc/$$/maps) in *'"$libname"'*) echo loaded ;; *) echo bare ;; esac
for i in 1 2 3 4 5; do /bin/true || echo "fork $i failed"; done; echo end'
    # nproc_run LIMIT NAME [LIB]: the script as nobody under RLIMIT_NPROC=LIMIT.
    nproc_run() {
        run "$2" 20 setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups \
            prlimit --nproc="$1" env LD_PRELOAD="${3:-}" HEAPSCOPE_OUTPUT="$W/nproc/%e.%p.hsd" sh -c "$script"
    }
    # RLIMIT_NPROC counts the tasks of the real user: those nobody already has
    # plus the shell and one child at a time.
    for extra in 2 3; do
        have=$(ps -L -U nobody -o lwp= 2>/dev/null | wc -l)
        limit=$((have + extra))
        nproc_run "$limit" "nproc${extra}_base"
        if [ "$(rc_of "nproc${extra}_base")" != 0 ] || [ -s "$W/nproc${extra}_base.err" ] ||
            [ "$(tr '\n' ' ' <"$W/nproc${extra}_base.out")" != "bare end " ]; then
            note "skip limit $limit: without heapscope: status $(rc_of "nproc${extra}_base"), $(cat "$W/nproc${extra}_base.out" "$W/nproc${extra}_base.err" | tr '\n' ' ')"
            continue
        fi
        nproc_run "$limit" "nproc${extra}_lib" "$LIB"
        if grep -q 'cannot be preloaded' "$W/nproc${extra}_lib.err"; then
            fail "nproc${extra}_lib: the library was not preloaded: $(head -n 1 "$W/nproc${extra}_lib.err")"
        fi
        status_ok "nproc${extra}_lib" 20
        if [ -s "$W/nproc${extra}_lib.err" ]; then
            fail "nproc${extra}_lib (RLIMIT_NPROC $limit): stderr: $(head -n 3 "$W/nproc${extra}_lib.err" | tr '\n' ' ')"
        fi
        [ "$(tr '\n' ' ' <"$W/nproc${extra}_lib.out")" = "loaded end " ] ||
            fail "nproc${extra}_lib (RLIMIT_NPROC $limit): stdout: $(tr '\n' ' ' <"$W/nproc${extra}_lib.out")"
        note "RLIMIT_NPROC $limit ($have task(s) of nobody + $extra): 5 forks, no message"
    done
fi
fi

if ! want test_threading; then
    :
else
check "CPython's test_threading passes under the library"
if [ ! -x "$PY" ] || ! "$PY" -c 'import test.test_threading' 2>/dev/null; then
    note "skip: $PY has no test.test_threading (Debian: libpython3.11-testsuite, see scripts/deps.sh)"
else
    # ~11 s without the library on a 2-core VM. The whole module: under the
    # old library ThreadJoinOnShutdown.test_3_join_in_forked_from_thread never
    # ends. KILL goes to the whole process group (regrtest and the children
    # it forks), since a child kept alive by a thread blocking every signal
    # ignores TERM.
    mkdir -p "$W/tt/tmp"
    start=$(date +%s)
    rc=0
    (cd "$W/tt" && TMPDIR="$W/tt/tmp" timeout -s KILL 120 env LD_PRELOAD="$LIB" \
        HEAPSCOPE_OUTPUT="$W/tt/%e.%p.hsd" "$PY" -m test -v test_threading) >"$W/tt.out" 2>&1 || rc=$?
    secs=$(($(date +%s) - start))
    if [ "$rc" != 0 ] || ! grep -q '^Tests result: SUCCESS' "$W/tt.out"; then
        last=$(grep -E '^test_[A-Za-z0-9_]+ \(' "$W/tt.out" | tail -n 1 | cut -c 1-120)
        grep -E '^(FAIL|ERROR):' "$W/tt.out" | head -n 5 >&2 || :
        # Is it the library's fault? The same run without it.
        rc0=0
        (cd "$W/tt" && TMPDIR="$W/tt/tmp" timeout -s KILL 120 "$PY" -m test test_threading) >"$W/tt0.out" 2>&1 || rc0=$?
        if [ "$rc0" != 0 ]; then
            note "skip: test_threading fails without heapscope too (status $rc0): $(tail -n 1 "$W/tt0.out")"
        elif [ "$rc" = 137 ]; then
            fail "test_threading under the library did not finish in 120 s (passes without it); last test started: $last"
        else
            fail "test_threading under the library: status $rc after ${secs} s (passes without it): $(tail -n 1 "$W/tt.out")"
        fi
    else
        note "$(grep -E '^Ran [0-9]+ tests' "$W/tt.out" | tail -n 1) under the library, ${secs} s"
    fi
fi
fi

echo "$T: ok"
