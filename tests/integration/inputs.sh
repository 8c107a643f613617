#!/bin/sh
# inputs.sh - every command that reads dumps (info, report, pprof with and
# without --base, stats, plot) takes its DUMP as a file, as `-` (stdin
# redirected from the file, and piped), as process substitution <(...) and
# as a FIFO whose writer starts late, with identical stdout, stderr and exit
# status (the operand's name aside; pprof's profile byte for byte). A torn
# and a corrupt dump give the same warning or error line, byte offset
# included, through a pipe as from the file. Nothing hangs (every run is
# under `timeout 30`, and a timeout fails the test): a FIFO nobody writes to
# ends with one error line after HS_INPUT_WAIT_SECONDS (10 s); /dev/null,
# /dev/zero, a directory, `-` given twice, and a dump followed by endless
# zeros through a pipe end with exit 2 and one line.
# Run from the repository root; $BUILD defaults to build.
set -eu
T=inputs
. tests/lib.sh

P=$PROGS/stats_grow
need "$LIB" "$CLI" "$P"
command -v bash >/dev/null || fail "bash missing (process substitution)"
command -v timeout >/dev/null || fail "timeout missing (coreutils)"
new_workdir

# A small real dump: 10 steps of 256 KiB, a SIGUSR2 snapshot, a fork (the
# child's dump is ignored), so report has a series and plot has markers.
(cd "$W" && exec timeout 60 env LD_PRELOAD="$LIB" HEAPSCOPE_INTERVAL=0.05 HEAPSCOPE_SIGNAL=SIGUSR2 \
    HEAPSCOPE_SAMPLE_RATE=4K HEAPSCOPE_SEED=7 HEAPSCOPE_OUTPUT="$W/run.%p.hsd" "$P" 10 256 30) \
    >"$W/prog.out" 2>"$W/prog.err" || fail "stats_grow under the library failed: $(head -n 3 "$W/prog.err")"
pid=$(sed -n 's/^pid //p' "$W/prog.out")
[ -s "$W/run.$pid.hsd" ] || fail "no dump run.$pid.hsd in $W"
D=$W/dump.hsd
mv "$W/run.$pid.hsd" "$D"
"$CLI" info "$D" >"$W/d.info" 2>&1 || fail "info of the fresh dump: $(head -n 1 "$W/d.info")"
grep -q '^integrity: ok' "$W/d.info" || fail "the fresh dump is not intact: $(grep integrity "$W/d.info")"

# feed FORM SRC OUT CMD...: runs `$CLI CMD... OPERAND` with the bytes of SRC
# supplied as FORM, stdout to OUT.out, stderr to OUT.err, exit status to
# OUT.rc; the operand's name is rewritten to "-" in the text outputs.
# Fails when `timeout` fires.
feed() {
    form=$1 src=$2 out=$3
    shift 3
    rc=0
    case $form in
    file)
        op=$src
        timeout 30 "$CLI" "$@" "$src" >"$out.out" 2>"$out.err" || rc=$?
        ;;
    stdin)
        op=-
        timeout 30 "$CLI" "$@" - <"$src" >"$out.out" 2>"$out.err" || rc=$?
        ;;
    pipe)
        op=-
        # shellcheck disable=SC2002 # the pipe is the point
        cat "$src" | timeout 30 "$CLI" "$@" - >"$out.out" 2>"$out.err" || rc=$?
        ;;
    procsub)
        op='/dev/fd/[0-9]*'
        # shellcheck disable=SC2016 # expanded by bash
        timeout 30 bash -c 's=$1; shift; "$@" <(cat "$s")' bash "$src" "$CLI" "$@" >"$out.out" 2>"$out.err" || rc=$?
        ;;
    fifo)
        op=$W/dump.fifo
        rm -f "$op"
        mkfifo "$op"
        # The writer comes half a second after the reader: the reader waits.
        # shellcheck disable=SC2016 # expanded by the inner shell
        timeout 30 sh -c 'sleep 0.5; cat "$1" >"$2"' sh "$src" "$op" &
        writer=$!
        BG="$BG $writer"
        timeout 30 "$CLI" "$@" "$op" >"$out.out" 2>"$out.err" || rc=$?
        wait "$writer" || :
        ;;
    *) fail "feed: unknown form $form" ;;
    esac
    [ "$rc" != 124 ] || fail "heapscope $* as $form: still running after 30 s (killed)"
    echo "$rc" >"$out.rc"
    if [ "$1" != pprof ]; then
        sed "s|$op|-|g" "$out.out" >"$out.out.n" && mv "$out.out.n" "$out.out"
    fi
    sed "s|$op|-|g" "$out.err" >"$out.err.n" && mv "$out.err.n" "$out.err"
}

# same NAME SRC CMD...: CMD on SRC as a file, then in every other form; each
# must match the file's run exactly.
FORMS="stdin pipe procsub fifo"
same() {
    name=$1 src=$2
    shift 2
    feed file "$src" "$W/$name.file" "$@"
    for form in $FORMS; do
        feed "$form" "$src" "$W/$name.$form" "$@"
        for part in rc out err; do
            a=$W/$name.file.$part b=$W/$name.$form.$part
            cmp -s "$a" "$b" || fail "heapscope $* as $form differs from the file in its $part: $(diff "$a" "$b" | head -n 5)"
        done
    done
}

check "every command gives the same output for a file, -, a pipe, <(...) and a FIFO"
same info "$D" info --stacks
same report "$D" report
same report_json "$D" report --json
same pprof "$D" pprof --no-symbolize -o -
same pprof_base "$D" pprof -o - --at last --base first
same stats "$D" stats
same stats_json "$D" stats --json
same plot "$D" plot -o -
for name in info report report_json pprof pprof_base stats stats_json plot; do
    rc=$(cat "$W/$name.file.rc")
    [ "$rc" = 0 ] || fail "$name on the file: exit $rc: $(head -n 1 "$W/$name.file.err")"
    [ -s "$W/$name.file.out" ] || fail "$name on the file: no output"
done
note "info, report (text, JSON), pprof (plain, --base), stats (table, JSON), plot: 5 forms each alike"

check "a torn and a corrupt dump read through a pipe give the same line, offset included"
size=$(wc -c <"$D")
head -c $((size - 7)) "$D" >"$W/torn.hsd"
cp "$D" "$W/bad.hsd"
printf 'X' | dd of="$W/bad.hsd" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
FORMS="pipe procsub"
same torn_report "$W/torn.hsd" report
same torn_stats "$W/torn.hsd" stats
same torn_plot "$W/torn.hsd" plot -o -
same bad_report "$W/bad.hsd" report
same bad_info "$W/bad.hsd" info
same bad_pprof "$W/bad.hsd" pprof -o -
torn=$W/torn_report.pipe bad=$W/bad_report.pipe
grep -q 'truncated tail at byte offset' "$torn.err" || fail "torn dump: no truncation warning: $(cat "$torn.err")"
[ "$(cat "$torn.rc")" = 0 ] || fail "torn dump through a pipe: exit $(cat "$torn.rc"), want 0"
grep -q 'corrupt .* at byte offset [0-9]' "$bad.err" || fail "corrupt dump: $(cat "$bad.err")"
[ "$(cat "$bad.rc")" = 2 ] || fail "corrupt dump through a pipe: exit $(cat "$bad.rc"), want 2"

# expect_error REGEX CMD...: exit 2 within 30 s, nothing on stdout, one
# stderr line matching REGEX; stdin is whatever the caller redirects.
expect_error() {
    pattern=$1
    shift
    rc=0
    timeout 30 "$@" >"$W/e.out" 2>"$W/e.err" || rc=$?
    [ "$rc" != 124 ] || fail "$*: still running after 30 s (killed)"
    [ "$rc" = 2 ] || fail "$*: exit $rc, want 2 ($(head -n 1 "$W/e.err"))"
    [ "$(wc -l <"$W/e.err")" -eq 1 ] || fail "$*: stderr is not one line: $(cat "$W/e.err")"
    grep -Eq -- "$pattern" "$W/e.err" || fail "$*: stderr '$(cat "$W/e.err")' does not match '$pattern'"
    [ ! -s "$W/e.out" ] || fail "$*: unexpected stdout: $(head -c 200 "$W/e.out")"
}

check "/dev/null, /dev/zero and a directory fail with one line"
for cmd in "info" "report" "pprof -o -" "stats" "plot -o -"; do
    # shellcheck disable=SC2086 # $cmd is a command and its flags
    expect_error '^heapscope: /dev/null: empty file' "$CLI" $cmd /dev/null
    # shellcheck disable=SC2086
    expect_error '^heapscope: /dev/zero: corrupt file preamble at byte offset 0: bad magic' "$CLI" $cmd /dev/zero
    # shellcheck disable=SC2086
    expect_error "^heapscope: $W: is a directory" "$CLI" $cmd "$W"
    # shellcheck disable=SC2086
    expect_error '^heapscope: -: empty file' "$CLI" $cmd - </dev/null
done
cat "$D" /dev/zero | expect_error '^heapscope: -: corrupt file at byte offset [0-9]+: .* after the END record' "$CLI" report -

check "'-' given twice is refused"
expect_error "^heapscope: report: '-' \\(stdin\\) is given 2 times; stdin can be read only once" "$CLI" report - - <"$D"
# shellcheck disable=SC2094 # $D is only read
expect_error "^heapscope: pprof: '-' \\(stdin\\) is given 2 times" "$CLI" pprof -o - "$D" - - <"$D"
expect_error "^heapscope: info: one DUMP at a time" "$CLI" info - - <"$D"

check "a FIFO nobody writes to ends within the bound, for every command"
start=$(date +%s)
i=0
pids=
for cmd in "info" "report" "pprof -o -" "stats" "plot -o -"; do
    i=$((i + 1))
    mkfifo "$W/lonely$i.fifo"
    # shellcheck disable=SC2086
    (rc=0; timeout 30 "$CLI" $cmd "$W/lonely$i.fifo" >"$W/lonely$i.out" 2>"$W/lonely$i.err" || rc=$?
     echo "$rc" >"$W/lonely$i.rc") &
    pids="$pids $!"
done
BG="$BG $pids"
for p in $pids; do
    wait "$p" || :
done
elapsed=$(($(date +%s) - start))
i=0
for cmd in "info" "report" "pprof -o -" "stats" "plot -o -"; do
    i=$((i + 1))
    rc=$(cat "$W/lonely$i.rc")
    [ "$rc" != 124 ] || fail "$cmd on a FIFO without a writer: still blocked after 30 s"
    [ "$rc" = 2 ] || fail "$cmd on a FIFO without a writer: exit $rc, want 2 ($(head -n 1 "$W/lonely$i.err"))"
    [ "$(wc -l <"$W/lonely$i.err")" -eq 1 ] || fail "$cmd on a lonely FIFO: stderr is not one line: $(cat "$W/lonely$i.err")"
    grep -q "^heapscope: $W/lonely$i.fifo: no data within 10 s" "$W/lonely$i.err" ||
        fail "$cmd on a lonely FIFO: $(cat "$W/lonely$i.err")"
    [ ! -s "$W/lonely$i.out" ] || fail "$cmd on a lonely FIFO: unexpected stdout"
done
note "all five gave up after ${elapsed} s"

check "--help says DUMP may be - or a pipe"
"$CLI" --help | grep -q -- '- for stdin' || fail "--help does not mention - for stdin"
for c in info report pprof stats plot; do
    "$CLI" help "$c" | grep -q -- 'DUMP may be a file, - (stdin), a pipe or a FIFO' || fail "help $c does not mention -"
done

echo "$T: ok"
