#!/bin/sh
# hostsafety.sh - libheapscope.so never harms its host. Whatever happens to
# the dump (directory missing or read-only, $TMPDIR unwritable too, /dev/full,
# a full file system, RLIMIT_FSIZE, a symlink or file at the target path) the
# program prints the same stdout, exits with the same status and sees at most
# one heapscope line on stderr. Also: the dump is created mode 0600, SIGPIPE
# and the program's own SIGUSR2 handler behave as without the library, and a
# worker forked after clearenv() still records with the configured rate.
# A taken path (symlink, file, device, the same program re-exec'd in the same
# pid) is never followed, truncated or written beside a device in /dev.
# Cases that need a private mount namespace (root) say "skip" without one.
set -eu

BUILD=${BUILD:-build}
case $BUILD in /*) B=$BUILD ;; *) B=$(pwd)/$BUILD ;; esac
LIB=$B/libheapscope.so
CLI=$B/heapscope
ALLOC=$B/progs/hostsafety_alloc
WRITER=$B/progs/hostsafety_writer
SIGPROG=$B/progs/hostsafety_signal
CLEARENV=$B/progs/hostsafety_clearenv

fail() { echo "hostsafety: FAIL: $*" >&2; exit 1; }
check() { echo "hostsafety: check: $*"; }
note() { echo "hostsafety:   $*"; }

[ -f "$LIB" ] || fail "$LIB not built"
[ -x "$CLI" ] || fail "$CLI not built"
for p in "$ALLOC" "$WRITER" "$SIGPROG" "$CLEARENV"; do
    [ -x "$p" ] || fail "$p not built (make progs)"
done
# Only the settings each case names.
for v in $(env | sed -n 's/^\(HEAPSCOPE_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done

W=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || { chmod -R u+w "$W" 2>/dev/null; rm -rf "$W"; }' EXIT
trap 'exit 1' HUP INT TERM

# run NAME CMD...: stdout, stderr and exit status into $W/NAME.{out,err,rc}.
run() {
    name=$1; shift
    if "$@" >"$W/$name.out" 2>"$W/$name.err"; then echo 0; else echo $?; fi >"$W/$name.rc"
}

# traced NAME RATE OUTPUT CMD...: run under the library.
traced() {
    name=$1; rate=$2; out=$3; shift 3
    run "$name" env LD_PRELOAD="$LIB" HEAPSCOPE_INTERVAL=0.2 HEAPSCOPE_SAMPLE_RATE="$rate" \
        HEAPSCOPE_OUTPUT="$out" "$@"
}

# same BASE NAME: same exit status and stdout as the run without the library.
same() {
    [ "$(cat "$W/$1.rc")" = "$(cat "$W/$2.rc")" ] ||
        fail "$2: exit status $(cat "$W/$2.rc"), without heapscope $(cat "$W/$1.rc"); stderr: $(head -n 1 "$W/$2.err")"
    if ! cmp -s "$W/$1.out" "$W/$2.out"; then
        diff "$W/$1.out" "$W/$2.out" | head -n 6 >&2
        fail "$2: stdout differs from the run without heapscope"
    fi
}

# stderr_lines NAME MIN MAX: stderr holds MIN..MAX lines, each mentioning
# heapscope (the victims print nothing on stderr by themselves).
stderr_lines() {
    n=$(wc -l <"$W/$1.err")
    if grep -q -v heapscope "$W/$1.err"; then
        fail "$1: stderr line not from heapscope: $(grep -v -m 1 heapscope "$W/$1.err")"
    fi
    if [ "$n" -lt "$2" ] || [ "$n" -gt "$3" ]; then
        fail "$1: $n heapscope line(s) on stderr, expected $2..$3: $(head -n 2 "$W/$1.err" | tr '\n' ' ')"
    fi
    [ "$n" = 0 ] || note "stderr: $(head -n 1 "$W/$1.err")"
}

# info_ok FILE WHAT: `heapscope info` exits 0 and says integrity ok.
info_ok() {
    "$CLI" info "$1" >"$W/info.out" 2>&1 || fail "$2: heapscope info $1 exited non-zero: $(tail -n 1 "$W/info.out")"
    grep -q '^integrity: ok' "$W/info.out" ||
        fail "$2: $(grep '^integrity' "$W/info.out" || echo 'no integrity line')"
}

# hsd_in DIR: the dumps in DIR, one a line.
hsd_in() { find "$1" -maxdepth 1 -name '*.hsd' 2>/dev/null | sort; }

# in_ns OPTS DIR [OPTS DIR ...] -- CMD...: CMD in a private mount namespace
# with a tmpfs mounted (options OPTS) on each DIR; 125 if that is impossible.
cat >"$W/ns.sh" <<'EOF'
while [ "$1" != -- ]; do
    mount -t tmpfs -o "$1" heapscope-test "$2" 2>/dev/null || exit 125
    shift 2
done
shift
exec "$@"
EOF
in_ns() { unshare -m --propagation private sh "$W/ns.sh" "$@"; }
NS=0
mkdir "$W/probe"
if [ "$(id -u)" = 0 ] && in_ns size=4k "$W/probe" -- true 2>/dev/null; then NS=1; fi

# --- baseline: enough allocation that a rate-1 dump is well over 1 KiB ------
check "the victim at rate 1: same output and status, dump mode 0600 under umask 000 and 022, intact, > 1 KiB"
run alloc.base "$ALLOC" 30 3
[ "$(cat "$W/alloc.base.rc")" = 3 ] || fail "hostsafety_alloc misbehaves without heapscope"
for mask in 000 022; do
    mkdir "$W/mode$mask"
    (umask $mask && traced "alloc.mode$mask" 1 "$W/mode$mask/a.%p.hsd" "$ALLOC" 30 3)
    same alloc.base "alloc.mode$mask"
    stderr_lines "alloc.mode$mask" 0 0
    f=$(hsd_in "$W/mode$mask")
    if [ -z "$f" ] || [ "$(echo "$f" | wc -l)" != 1 ]; then
        fail "umask $mask: expected one dump, found: $f"
    fi
    [ "$(stat -c %a "$f")" = 600 ] || fail "umask $mask: dump mode is $(stat -c %a "$f"), expected 600"
    info_ok "$f" "umask $mask"
done
size=$(stat -c %s "$f")
[ "$size" -gt 2048 ] || fail "a rate-1 dump of the victim is only $size bytes; the size-limit cases below need > 1 KiB"
note "rate-1 dump: $size bytes"

# --- fallback to $TMPDIR -----------------------------------------------------
check "HEAPSCOPE_OUTPUT in a nonexistent directory: the dump goes to \$TMPDIR (same basename)"
mkdir "$W/tmp1"
run fb1 env TMPDIR="$W/tmp1" LD_PRELOAD="$LIB" HEAPSCOPE_SAMPLE_RATE=4096 \
    HEAPSCOPE_OUTPUT="$W/no/such/dir/fb.%p.hsd" "$ALLOC" 30 3
same alloc.base fb1
stderr_lines fb1 0 1
f=$(hsd_in "$W/tmp1")
case $f in "$W/tmp1/fb."[0-9]*.hsd) ;; *) fail "fallback: expected \$TMPDIR/fb.PID.hsd, found '$f'" ;; esac
info_ok "$f" "fallback"

check "HEAPSCOPE_OUTPUT in a read-only directory: the dump goes to \$TMPDIR"
mkdir "$W/ro" "$W/tmp2"
if [ "$NS" = 1 ]; then
    run fb2 in_ns ro,size=4k "$W/ro" -- env TMPDIR="$W/tmp2" LD_PRELOAD="$LIB" HEAPSCOPE_SAMPLE_RATE=4096 \
        HEAPSCOPE_OUTPUT="$W/ro/fb.%p.hsd" "$ALLOC" 30 3
elif [ "$(id -u)" != 0 ]; then
    chmod 555 "$W/ro"
    run fb2 env TMPDIR="$W/tmp2" LD_PRELOAD="$LIB" HEAPSCOPE_SAMPLE_RATE=4096 \
        HEAPSCOPE_OUTPUT="$W/ro/fb.%p.hsd" "$ALLOC" 30 3
else
    note "skip: root without mount namespaces cannot make a read-only directory"
fi
if [ -f "$W/fb2.rc" ]; then
    same alloc.base fb2
    stderr_lines fb2 0 1
    f=$(hsd_in "$W/tmp2")
    case $f in "$W/tmp2/fb."[0-9]*.hsd) ;; *) fail "read-only: expected \$TMPDIR/fb.PID.hsd, found '$f'" ;; esac
    info_ok "$f" "read-only fallback"
fi

check "output directory and \$TMPDIR both unwritable: one heapscope line on stderr, output and status unchanged"
touch "$W/notadir"
tag=hsafety-$$-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')
case $B in /tmp/*) ns_tmp=0 ;; *) ns_tmp=$NS ;; esac
if [ "$ns_tmp" = 1 ]; then
    # /tmp read-only too, whatever the library's last resort is
    run nowhere in_ns ro,size=4k /tmp -- env TMPDIR="$W/notadir/sub" LD_PRELOAD="$LIB" \
        HEAPSCOPE_SAMPLE_RATE=4096 HEAPSCOPE_OUTPUT="$W/no/such/dir/$tag.%p.hsd" "$ALLOC" 30 3
else
    run nowhere env TMPDIR="$W/notadir/sub" LD_PRELOAD="$LIB" HEAPSCOPE_SAMPLE_RATE=4096 \
        HEAPSCOPE_OUTPUT="$W/no/such/dir/$tag.%p.hsd" "$ALLOC" 30 3
fi
same alloc.base nowhere
if hsd_in /tmp | grep -q "/$tag\."; then
    note "the library fell back to /tmp after \$TMPDIR: $(hsd_in /tmp | grep "/$tag\.")"
    rm -f /tmp/"$tag".*.hsd
    stderr_lines nowhere 0 1
else
    stderr_lines nowhere 1 1
fi

# --- devices, full disks, file size limits ----------------------------------
check "HEAPSCOPE_OUTPUT=/dev/full: output and status unchanged, /dev/full still a device"
mkdir "$W/tmp3"
devfull_before=$(find /dev -maxdepth 1 -name 'full?*' | sort)
run devfull env TMPDIR="$W/tmp3" LD_PRELOAD="$LIB" HEAPSCOPE_SAMPLE_RATE=1 HEAPSCOPE_INTERVAL=0.2 \
    HEAPSCOPE_OUTPUT=/dev/full "$ALLOC" 30 3
same alloc.base devfull
stderr_lines devfull 0 1
[ -c /dev/full ] || fail "/dev/full is no longer a character device"
devfull_new=$(find /dev -maxdepth 1 -name 'full?*' | sort | grep -v -x -F "$devfull_before" || :)
if [ -n "$devfull_new" ]; then
    # shellcheck disable=SC2086 # one path a word
    rm -f $devfull_new
    fail "/dev/full taken: the dump was created beside the device, in /dev: $(echo "$devfull_new" | tr "\n" " ")"
fi
note "dump for /dev/full went to: $(hsd_in "$W/tmp3"; find "$W/tmp3" -type f ! -name '*.hsd') (\$TMPDIR)"

check "a full file system (4 KiB tmpfs) at rate 1: output and status unchanged, at most one heapscope line"
[ "$size" -gt 4096 ] || note "the rate-1 dump ($size bytes) fits in 4 KiB: this case does not fill the disk"
if [ "$NS" = 1 ]; then
    mkdir "$W/full" "$W/full.copy"
    # shellcheck disable=SC2016 # expanded by the inner shell
    run diskfull in_ns size=4k "$W/full" -- sh -c '
        env LD_PRELOAD="$1" HEAPSCOPE_SAMPLE_RATE=1 HEAPSCOPE_INTERVAL=0.2 \
            HEAPSCOPE_OUTPUT="$2/df.%p.hsd" "$3" 30 3
        rc=$?; cp "$2"/* "$2.copy/" 2>/dev/null; exit $rc' sh "$LIB" "$W/full" "$ALLOC"
    same alloc.base diskfull
    stderr_lines diskfull 0 1
    for f in "$W/full.copy"/*; do
        [ -e "$f" ] || { note "no dump left on the full file system"; break; }
        if "$CLI" info "$f" >"$W/info.out" 2>&1; then rc=0; else rc=$?; fi
        [ "$rc" -lt 128 ] || fail "heapscope info crashed (status $rc) on the dump of a full disk"
        note "dump on the full disk: $(stat -c %s "$f") bytes, info status $rc, $(grep -m 1 '^integrity' "$W/info.out" || tail -n 1 "$W/info.out")"
    done
else
    note "skip: needs root and mount namespaces for a small tmpfs"
fi

check "ulimit -f 1 (RLIMIT_FSIZE) at rate 1: exit 0 with the right output, not SIGXFSZ"
run alloc0.base "$ALLOC" 30 0
# SigIgn is inherited: bit 24 is SIGXFSZ (25)
if [ $(( 0x$(awk '/^SigIgn:/ { print $2 }' /proc/self/status) >> 24 & 1 )) = 1 ]; then
    note "SIGXFSZ is ignored in this environment; the case still checks status and output"
fi
mkdir "$W/fsize"
# shellcheck disable=SC2016 # expanded by the inner shell
run fsize sh -c 'ulimit -f 1 && exec env LD_PRELOAD="$1" HEAPSCOPE_SAMPLE_RATE=1 HEAPSCOPE_INTERVAL=0.2 \
    HEAPSCOPE_OUTPUT="$2/fs.%p.hsd" "$3" 30 0' sh "$LIB" "$W/fsize" "$ALLOC"
[ "$(cat "$W/fsize.rc")" != 153 ] || fail "ulimit -f: the host was killed by SIGXFSZ (status 153)"
same alloc0.base fsize
stderr_lines fsize 0 1
for f in "$W/fsize"/*; do
    [ -e "$f" ] || { note "no dump left under the size limit"; break; }
    if "$CLI" info "$f" >"$W/info.out" 2>&1; then rc=0; else rc=$?; fi
    [ "$rc" -lt 128 ] || fail "heapscope info crashed (status $rc) on a size-limited dump"
    note "size-limited dump: $(stat -c %s "$f") bytes, info status $rc, $(grep -m 1 '^integrity' "$W/info.out" || tail -n 1 "$W/info.out")"
done

# --- what is at the target path ---------------------------------------------
check "an existing symlink, a dangling symlink and an existing file at the dump path are left alone"
mkdir "$W/sl" "$W/tmp4"
printf 'precious\n' >"$W/sl/target"
chmod 644 "$W/sl/target"
ln -s "$W/sl/target" "$W/sl/link.hsd"
ln -s "$W/sl/created-through-link" "$W/sl/dangling.hsd"
printf 'precious\n' >"$W/sl/exists.hsd"
for what in link dangling exists; do
    touch "$W/sl.stamp"
    run "sl.$what" env TMPDIR="$W/tmp4" LD_PRELOAD="$LIB" HEAPSCOPE_SAMPLE_RATE=4096 \
        HEAPSCOPE_OUTPUT="$W/sl/$what.hsd" "$ALLOC" 30 3
    same alloc.base "sl.$what"
    stderr_lines "sl.$what" 0 1
    [ "$(cat "$W/sl/target")" = precious ] || fail "$what: the symlink's target was written to"
    [ "$(cat "$W/sl/exists.hsd")" = precious ] || fail "$what: an existing file at the dump path was written to"
    [ "$(stat -c %a "$W/sl/target")" = 644 ] || fail "$what: the symlink's target changed mode"
    [ ! -e "$W/sl/created-through-link" ] || fail "$what: a file was created through a dangling symlink"
    if [ ! -L "$W/sl/link.hsd" ] || [ "$(readlink "$W/sl/link.hsd")" != "$W/sl/target" ]; then
        fail "$what: the symlink was replaced"
    fi
    [ -L "$W/sl/dangling.hsd" ] || fail "$what: the dangling symlink was replaced"
    note "$what.hsd taken: dump went to: $(find "$W/sl" "$W/tmp4" -type f -newer "$W/sl.stamp" | tr '\n' ' ')"
    find "$W/tmp4" -type f -exec rm -f {} +
done

check "a program that execs itself (same name, same pid: its dump path is taken): output unchanged, both dumps intact"
mkdir "$W/reexec"
# The first image asks for a snapshot (HEAPSCOPE_SIGNAL) and waits (at most
# 5 s) until its first snapshot is in its dump, then execs itself; the
# second exits with 4.
cat >"$W/reexec.py" <<'EOF'
import os, signal, sys, time
if sys.argv[2] == "second":
    print("second image", [len(str(i)) for i in range(100)][-1])
    sys.exit(4)
if os.environ.get("LD_PRELOAD"):
    os.kill(os.getpid(), signal.SIGUSR2)
    deadline = time.monotonic() + 5
    def written():  # the dump holds its first snapshot (not merely created)
        return any(os.path.getsize(os.path.join(sys.argv[1], f)) > 0 for f in os.listdir(sys.argv[1]))
    while not written() and time.monotonic() < deadline:
        time.sleep(0.01)
print("first image", flush=True)
os.execv(sys.executable, [sys.executable, sys.argv[0], sys.argv[1], "second"])
EOF
run reexec.base /usr/bin/python3 "$W/reexec.py" "$W/reexec" first
[ "$(cat "$W/reexec.base.rc")" = 4 ] || fail "re-exec victim misbehaves without heapscope: $(head -n 1 "$W/reexec.base.err")"
run reexec env LD_PRELOAD="$LIB" HEAPSCOPE_SIGNAL=SIGUSR2 HEAPSCOPE_SAMPLE_RATE=4096 \
    HEAPSCOPE_OUTPUT="$W/reexec/%e.%p.hsd" /usr/bin/python3 "$W/reexec.py" "$W/reexec" first
same reexec.base reexec
stderr_lines reexec 0 1
n=0
for f in "$W/reexec"/*; do
    [ -e "$f" ] || continue
    n=$((n + 1))
    "$CLI" info "$f" >"$W/info.out" 2>&1 || fail "re-exec: heapscope info $(basename "$f"): $(tail -n 1 "$W/info.out")"
done
[ "$n" = 2 ] || fail "re-exec: expected a dump per image, found: $(find "$W/reexec" -type f | sed 's|.*/||' | tr '\n' ' ')"
note "dumps of the two images: $(find "$W/reexec" -type f | sed 's|.*/||' | sort | tr '\n' ' ')"

# --- pipes and signals --------------------------------------------------------
check "stdout a pipe closed early: SIGPIPE death (141) or EPIPE exit (7) as without the library"
mkdir "$W/pipe"
pipe_run() { # NAME PRELOAD(0/1) IGNORE_SIGPIPE(0/1): writer | head -n 1
    name=$1
    if [ "$3" = 1 ]; then trap '' PIPE; fi
    if [ "$2" = 1 ]; then
        set -- env LD_PRELOAD="$LIB" HEAPSCOPE_INTERVAL=0.2 HEAPSCOPE_SAMPLE_RATE=4096 \
            HEAPSCOPE_OUTPUT="$W/pipe/$name.%p.hsd" "$WRITER" 1000000
    else
        set -- "$WRITER" 1000000
    fi
    # the status is taken in an if, so that set -e does not end the group
    { if "$@" 2>"$W/$name.err"; then rc=0; else rc=$?; fi; echo $rc >"$W/$name.rc"; } |
        head -n 1 >"$W/$name.out"
}
for ign in 0 1; do
    (pipe_run "pipe$ign.base" 0 $ign)
    (pipe_run "pipe$ign" 1 $ign)
    same "pipe$ign.base" "pipe$ign"
    cmp -s "$W/pipe$ign.base.err" "$W/pipe$ign.err" || fail "pipe$ign: stderr $(head -n 1 "$W/pipe$ign.err")"
done
[ "$(cat "$W/pipe0.rc")" = 141 ] || fail "SIGPIPE: writer status $(cat "$W/pipe0.rc"), expected 141"
[ "$(cat "$W/pipe1.rc")" = 7 ] || fail "EPIPE: writer status $(cat "$W/pipe1.rc"), expected 7"
for f in $(hsd_in "$W/pipe"); do
    "$CLI" info "$f" >"$W/info.out" 2>&1 || fail "dump of a writer killed by SIGPIPE: $(tail -n 1 "$W/info.out")"
done

check "the program's own SIGUSR2 handler gets every SIGUSR2 (HEAPSCOPE_SIGNAL unset, then SIGUSR1)"
mkdir "$W/sig"
run sig.base "$SIGPROG"
[ "$(cat "$W/sig.base.out")" = "usr2=30 alarm=0 child=0" ] || fail "hostsafety_signal misbehaves without heapscope"
traced sig 4096 "$W/sig/s.%p.hsd" "$SIGPROG"
same sig.base sig
stderr_lines sig 0 0
traced sig1 4096 "$W/sig/s1.%e.%p.hsd" env HEAPSCOPE_SIGNAL=SIGUSR1 "$SIGPROG"
same sig.base sig1
stderr_lines sig1 0 0

# --- nginx-style environment wipe ---------------------------------------------
check "clearenv() then fork: the worker writes its own dump with the configured rate (12345)"
mkdir "$W/ce"
run ce env LD_PRELOAD="$LIB" HEAPSCOPE_SAMPLE_RATE=12345 HEAPSCOPE_INTERVAL=0.2 \
    HEAPSCOPE_OUTPUT="$W/ce/ce.%p.hsd" "$CLEARENV"
[ "$(cat "$W/ce.rc")" = 0 ] || fail "clearenv victim exited $(cat "$W/ce.rc"): $(head -n 1 "$W/ce.err")"
stderr_lines ce 0 0
worker=$(sed -n 's/^worker pid=\([0-9]*\) status=0$/\1/p' "$W/ce.out")
[ -n "$worker" ] || fail "clearenv victim: no worker pid in its output"
[ -f "$W/ce/ce.$worker.hsd" ] || fail "no dump for the worker (pid $worker): $(find "$W/ce" -type f | tr '\n' ' ')"
info_ok "$W/ce/ce.$worker.hsd" "clearenv worker"
grep -Eiq '^sample[ _]rate:? *12345( |$)' "$W/info.out" ||
    fail "the worker's dump does not show sample rate 12345: $(grep -i -m 1 rate "$W/info.out" || echo 'no rate line')"

echo "hostsafety: PASS"
