#!/bin/sh
# cli.sh - the heapscope CLI's error handling and `info` output. Builds
# tests/tools/gen_dump.c (a synthetic dump with known values, written by
# hs_codec's encoder) and checks: bad flags and bad dumps fail with exit 2 and
# one stderr line; `info` and `info --stacks` print exactly the expected text;
# truncated and corrupted copies at every byte never crash the reader;
# `record` sets the environment and finds the library in both layouts (with a
# stand-in library, so this test does not depend on the interposer); every
# command takes its options before or after its operands, `--` ends them, and
# `record` stops at CMD and prints the dump's real path (checked once against
# the real library).
# Run from the repository root; $BUILD defaults to build.
set -u
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$(pwd)/$BUILD ;; esac
HS=$BUILD/heapscope
CC=${CC:-cc}
[ -x "$HS" ] || { echo "FAIL: $HS not built (make $HS)"; exit 1; }

tmp=$(mktemp -d) || exit 1
tmp=$(cd "$tmp" && pwd -P)
trap 'rm -rf "$tmp"' EXIT INT TERM
fails=0
fail() {
    echo "FAIL: $*"
    fails=$((fails + 1))
}

mkdir -p "$BUILD/tools"
GEN=$BUILD/tools/gen_dump
$CC -std=c11 -O1 -Wall -Wextra -Werror -D_GNU_SOURCE -Icommon -o "$GEN" tests/tools/gen_dump.c common/hs_codec.c ||
    { echo "FAIL: cannot build gen_dump"; exit 1; }

# expect_error CODE REGEX CMD...: exit CODE, nothing on stdout, and exactly
# one stderr line matching REGEX.
expect_error() {
    want=$1
    pattern=$2
    shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    [ "$rc" = "$want" ] || fail "$*: exit $rc, want $want"
    [ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "$*: stderr is not one line: $(cat "$tmp/err")"
    grep -Eq -- "$pattern" "$tmp/err" || fail "$*: stderr '$(cat "$tmp/err")' does not match '$pattern'"
    [ ! -s "$tmp/out" ] || fail "$*: unexpected stdout: $(head -3 "$tmp/out")"
}

# ---- usage and flag errors ----
"$HS" --help >"$tmp/help" 2>&1 || fail "--help: exit $?"
for word in record info "exit status" "  0 " "  1 " "  2 " "  3 " 126 127; do
    grep -q -- "$word" "$tmp/help" || fail "--help lacks '$word'"
done
"$HS" help record | grep -q -- "--interval" || fail "help record"
"$HS" info --help | grep -q -- "--stacks" || fail "info --help"
expect_error 2 '^heapscope: missing command' "$HS"
expect_error 2 "^heapscope: unknown command 'frobnicate'" "$HS" frobnicate
expect_error 2 '^heapscope: no help' "$HS" help frobnicate
expect_error 2 "^heapscope: record: unknown option '--bogus'" "$HS" record --bogus -- true
expect_error 2 '^heapscope: record: missing command' "$HS" record
expect_error 2 '^heapscope: record: missing command' "$HS" record --rate 4K --
expect_error 2 '^heapscope: record: --rate needs a value' "$HS" record --rate
for v in 0 abc 10X -5 4KX 1.5 2048G 99999999999999999999999; do
    expect_error 2 "^heapscope: record: --rate '$v': must be a positive number" "$HS" record --rate "$v" -- true
done
expect_error 2 "^heapscope: record: --rate '0': " "$HS" record --rate=0 -- true
for v in 0 x 1e3 -1 0.001 100000 inf; do
    expect_error 2 "^heapscope: record: --interval '$v': " "$HS" record --interval "$v" -- true
done
for v in 0 257 1x ""; do
    expect_error 2 "^heapscope: record: --depth '$v': " "$HS" record --depth "$v" -- true
done
for v in FOO KILL SIGSTOP 9 11 999; do
    expect_error 2 "^heapscope: record: --signal '$v': " "$HS" record --signal "$v" -- true
done
expect_error 2 "^heapscope: record: --output '': must not be empty" "$HS" record --output "" -- true
for v in x 1e3 -1 100000 inf; do
    expect_error 2 "^heapscope: record: --leak-window '$v': must be 0 .off. or" "$HS" record --leak-window "$v" -- true
done
for v in 0 abc 10X 2000000G; do
    expect_error 2 "^heapscope: record: --leak-threshold '$v': " "$HS" record --leak-threshold "$v" -- true
done
expect_error 2 "^heapscope: record: --leak-log '': must not be empty" "$HS" record --leak-log= -- true
expect_error 2 '^heapscope: record: --leak-window needs a value' "$HS" record --leak-window
expect_error 2 '^heapscope: info: missing DUMP' "$HS" info
expect_error 2 '^heapscope: info: one DUMP at a time' "$HS" info a.hsd b.hsd
expect_error 2 "^heapscope: info: unknown option '--bogus'" "$HS" info --bogus a.hsd

# ---- record: environment, library lookup, exit status ----
printf 'int heapscope_stand_in;\n' >"$tmp/empty.c"
mkdir -p "$tmp/b" "$tmp/inst/bin" "$tmp/inst/lib/heapscope" "$tmp/nolib" "$tmp/link"
$CC -shared -fPIC -o "$tmp/b/libheapscope.so" "$tmp/empty.c" || fail "cannot build the stand-in library"
cp "$tmp/b/libheapscope.so" "$tmp/other.so"
cp "$tmp/b/libheapscope.so" "$tmp/inst/lib/heapscope/libheapscope.so"
cp "$HS" "$tmp/b/heapscope"
cp "$HS" "$tmp/inst/bin/heapscope"
cp "$HS" "$tmp/nolib/heapscope"
ln -s "$tmp/b/heapscope" "$tmp/link/heapscope"
# shellcheck disable=SC2016 # expanded by the child shell, on purpose
show='echo "$HEAPSCOPE_SAMPLE_RATE|$HEAPSCOPE_INTERVAL|$HEAPSCOPE_OUTPUT|$HEAPSCOPE_MAX_DEPTH|$HEAPSCOPE_SIGNAL|$LD_PRELOAD"'
out=$(LD_PRELOAD="$tmp/other.so" "$tmp/b/heapscope" record --rate 4K --interval 0.5 --output 'x.%p.hsd' \
    --depth 16 --signal usr2 -- sh -c "$show" 2>"$tmp/err")
[ "$out" = "4096|0.500|x.%p.hsd|16|12|$tmp/b/libheapscope.so:$tmp/other.so" ] || fail "record environment: '$out'"
# The banner names the dump as the library will: the template expanded with
# CMD's pid (record execs CMD, so that is record's own) and made absolute.
grep -Eqx "heapscope: recording sh -c .* to $(pwd -P)/x\.[0-9]+\.hsd" "$tmp/err" || fail "record banner: $(cat "$tmp/err")"
out=$(env -u LD_PRELOAD -u HEAPSCOPE_OUTPUT -u HEAPSCOPE_INTERVAL -u HEAPSCOPE_MAX_DEPTH \
    "$tmp/link/heapscope" record --rate=1 --signal=SIGUSR1 -- sh -c "$show" 2>"$tmp/err")
[ "$out" = "1||||10|$tmp/b/libheapscope.so" ] || fail "record through a symlink: '$out'"
grep -Eq "to $(pwd -P)/heapscope\.sh\.[0-9]+\.hsd\$" "$tmp/err" || fail "record default template: $(cat "$tmp/err")"
# shellcheck disable=SC2016
leak_show='echo "$HEAPSCOPE_LEAK_WINDOW|$HEAPSCOPE_LEAK_THRESHOLD|$HEAPSCOPE_LOG"'
out=$("$tmp/b/heapscope" record --leak-window 60 --leak-threshold 2M --leak-log "$tmp/leaks.log" \
    -- sh -c "$leak_show" 2>/dev/null)
[ "$out" = "60|2097152|$tmp/leaks.log" ] || fail "record leak options: '$out'"
out=$(env -u HEAPSCOPE_LOG "$tmp/b/heapscope" record --leak-window=0 --leak-threshold=1 -- sh -c "$leak_show" 2>/dev/null)
[ "$out" = "0|1|" ] || fail "record --leak-window 0: '$out'"
# The library's grammars (common/hs_options.c): 4KB and 1.5M are sizes, 1.5s
# seconds, off a signal; numbers go on as the library reads them back.
out=$(env -u LD_PRELOAD -u HEAPSCOPE_OUTPUT -u HEAPSCOPE_LOG "$tmp/b/heapscope" record --rate 4KB --interval 1.5s \
    --depth 064 --signal off --leak-threshold 1.5M --leak-window 0.001 -- sh -c "$show; $leak_show" 2>/dev/null | tr '\n' '|')
[ "$out" = "4096|1.500||64|off|$tmp/b/libheapscope.so|0.001|1572864||" ] ||
    fail "record, the library's grammars: '$out'"
# shellcheck disable=SC2016
out=$(env -u LD_PRELOAD "$tmp/inst/bin/heapscope" record sh -c 'echo "$LD_PRELOAD"' 2>/dev/null)
[ "$out" = "$tmp/inst/lib/heapscope/libheapscope.so" ] || fail "record, install layout: '$out'"
"$tmp/b/heapscope" record -- sh -c 'exit 7' 2>/dev/null
[ $? = 7 ] || fail "record does not pass the exit status through"
"$tmp/b/heapscope" record -- /nonexistent/cmd 2>"$tmp/err"
[ $? = 127 ] || fail "record of a missing command: not 127"
grep -q "^heapscope: record: cannot run '/nonexistent/cmd'" "$tmp/err" || fail "missing command message"
"$tmp/b/heapscope" record -- "$tmp/empty.c" 2>/dev/null
[ $? = 126 ] || fail "record of a non-executable: not 126"
expect_error 1 '^heapscope: record: libheapscope.so not found' "$tmp/nolib/heapscope" record -- true

# ---- info on bad files ----
"$GEN" "$tmp/good.hsd" >"$tmp/offsets" || fail "gen_dump"
"$GEN" --no-end "$tmp/noend.hsd" >/dev/null || fail "gen_dump --no-end"
size=$(wc -c <"$tmp/good.hsd" | tr -d ' ')
[ "$size" = 1449 ] || fail "gen_dump wrote $size bytes, this test expects 1449"
expect_error 2 "^heapscope: $tmp/none.hsd: cannot open: No such file or directory\$" "$HS" info "$tmp/none.hsd"
: >"$tmp/empty.hsd"
expect_error 2 "^heapscope: $tmp/empty.hsd: empty file \\(no heapscope preamble\\)\$" "$HS" info "$tmp/empty.hsd"
"$GEN" --flip 0 "$tmp/magic.hsd" >/dev/null
expect_error 2 "^heapscope: $tmp/magic.hsd: corrupt file preamble at byte offset 0: bad magic \\(not a heapscope dump\\)\$" \
    "$HS" info "$tmp/magic.hsd"
expect_error 2 "corrupt file preamble at byte offset 0: bad magic" "$HS" info "$tmp/empty.c"
cp "$tmp/good.hsd" "$tmp/version.hsd"
printf '\003' | dd of="$tmp/version.hsd" bs=1 seek=8 conv=notrunc 2>/dev/null
expect_error 2 "corrupt file preamble at byte offset 8: unsupported format version 3 \\(this heapscope reads version 2\\)\$" \
    "$HS" info "$tmp/version.hsd"
head -c 16 "$tmp/good.hsd" >"$tmp/preamble.hsd"
expect_error 2 "^heapscope: $tmp/preamble.hsd: no complete HEADER record \\(end of file at byte offset 16 after 0 complete records\\)\$" \
    "$HS" info "$tmp/preamble.hsd"
head -c 60 "$tmp/good.hsd" >"$tmp/header.hsd"
expect_error 2 "no complete HEADER record \\(truncated tail at byte offset 16 after 0 complete records\\)\$" \
    "$HS" info "$tmp/header.hsd"
snap2=$(awk '$1 == "SNAPSHOT" { n++; if (n == 2) print $2 }' "$tmp/offsets")
[ "$snap2" = 861 ] || fail "second SNAPSHOT at $snap2, want 861"
"$GEN" --flip $((snap2 + 30)) "$tmp/corrupt.hsd" >/dev/null
expect_error 2 "^heapscope: $tmp/corrupt.hsd: corrupt SNAPSHOT record at byte offset 861: checksum mismatch \\(stored 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}\\)\$" \
    "$HS" info "$tmp/corrupt.hsd"
for kind in dup-stack unknown-row repeat-row seq thread-stack; do
    "$GEN" --break "$kind" "$tmp/broken.hsd" >/dev/null
    expect_error 2 "^heapscope: $tmp/broken.hsd: corrupt (STACK|SNAPSHOT|THREAD) record at byte offset [0-9]+: " \
        "$HS" info "$tmp/broken.hsd"
done

# ---- info on the valid dump: exact output ----
cat >"$tmp/want" <<'EOF'
file: good.hsd
format version: 2
pid: 4242
ppid: 1
program: /usr/bin/demo
command line: demo --flag two\x20words
hostname: testhost
start time: 2023-11-14T22:13:20.123Z
sample rate: 524288 bytes
max depth: 64
interval: 2.500 s
records: 12 (HEADER 1, MAPPINGS 2, STACK 3, SNAPSHOT 3, THREAD 2, END 1)
mappings: 3 objects in the last set
  0x401000-0x402000 /usr/bin/demo build-id 0102030405060708090a0b0c0d0e0f1011121314
  0x7f0000001000-0x7f0000100000 /usr/lib/libc.so.6 build-id none
  0x7f1000000000-0x7f1000001000 [unnamed] build-id 01020304
stack ids: 3 defined, 2 with rows
threads: 1 started, 1 exited
snapshots: 3 (seq 0..2), span 2.500 s
last snapshot: seq 2, reason exit, time 2023-11-14T22:13:23.623Z
  heap_in_use: 300
  heap_reserved: 301
  rss: 302
  live_threads: 303
  alloc_calls: 304
  free_calls: 305
  sampled_allocs: 306
  sampled_alloc_bytes: 307
  sampled_frees: 308
  sampled_free_bytes: 309
  lost_samples: 310
  live_samples: 311
  stacks: 312
  heap_source: 313
integrity: ok (clean exit, END record present)
EOF
# Stack 1 keeps its seq-1 row (absent from the last snapshot) and resolves
# through the mapping set current when it was written (libold.so).
cat >"$tmp/want_stacks" <<'EOF'
stack 1 allocs 4 alloc_bytes 2000 frees 1 free_bytes 500 est_alloc_objects 4 est_alloc_bytes 2201 est_inuse_objects 3 est_inuse_bytes 1650
  frame 0 0x401123 /usr/bin/demo 0x401123
  frame 1 0x7f0000012345 /usr/lib/libold.so 0x12345
  frame 2 0x401456 /usr/bin/demo 0x401456
stack 2 allocs 3 alloc_bytes 192 frees 1 free_bytes 64 est_alloc_objects 24577 est_alloc_bytes 1572864 est_inuse_objects 16385 est_inuse_bytes 1048576
  frame 0 0x7f0000054321 /usr/lib/libc.so.6 0x54321
  frame 1 0xdead0000 ? 0x0
  frame 2 0x7f1000000010 [unnamed] 0x100010
EOF
(cd "$tmp" && "$HS" info good.hsd >got 2>err) || fail "info good.hsd: exit $?"
diff -u "$tmp/want" "$tmp/got" || fail "info output differs"
[ ! -s "$tmp/err" ] || fail "info good.hsd wrote to stderr: $(cat "$tmp/err")"
cat "$tmp/want" "$tmp/want_stacks" >"$tmp/want_all"
(cd "$tmp" && "$HS" info --stacks good.hsd >got 2>&1) || fail "info --stacks: exit $?"
diff -u "$tmp/want_all" "$tmp/got" || fail "info --stacks output differs"
"$HS" info - <"$tmp/good.hsd" | grep -qx 'file: -' || fail "info - (stdin)"

(cd "$tmp" && "$HS" info noend.hsd >got 2>&1) || fail "info noend.hsd: exit $?"
grep -qx 'integrity: ok, no END record (the process was still running or was killed)' "$tmp/got" ||
    fail "no-END verdict: $(grep integrity "$tmp/got")"
grep -qx 'records: 11 (HEADER 1, MAPPINGS 2, STACK 3, SNAPSHOT 3, THREAD 2, END 0)' "$tmp/got" || fail "no-END counts"

# A copy cut inside the last snapshot: a warning, exit 0, and the state as of
# the second snapshot.
head -c 1300 "$tmp/good.hsd" >"$tmp/cut.hsd"
(cd "$tmp" && "$HS" info --stacks cut.hsd >got 2>err) || fail "info cut.hsd: exit $?"
[ ! -s "$tmp/err" ] || fail "info cut.hsd wrote to stderr"
grep -qx 'integrity: truncated tail at byte offset 1201 after 10 complete records' "$tmp/got" ||
    fail "truncated verdict: $(grep integrity "$tmp/got")"
grep -qx 'snapshots: 2 (seq 0..1), span 1.000 s' "$tmp/got" || fail "truncated snapshot span"
grep -qx 'last snapshot: seq 1, reason signal, time 2023-11-14T22:13:22.123Z' "$tmp/got" || fail "truncated last snapshot"
grep -qx 'stack 2 allocs 1 alloc_bytes 64 frees 0 free_bytes 0 est_alloc_objects 8192 est_alloc_bytes 524288 est_inuse_objects 8192 est_inuse_bytes 524288' \
    "$tmp/got" || fail "truncated: stack 2 row"

# ---- argument order (GNU style), --, short forms ----
# Options may follow the DUMPs, with the same result as before them.
G=$tmp/good.hsd
"$HS" stats --csv "$G" >"$tmp/before" 2>&1 || fail "stats --csv DUMP: exit $?"
"$HS" stats "$G" --csv >"$tmp/after" 2>&1 || fail "stats DUMP --csv: exit $?"
cmp -s "$tmp/before" "$tmp/after" || fail "stats DUMP --csv differs from stats --csv DUMP"
"$HS" report --json --no-symbolize "$G" >"$tmp/before" 2>&1 || fail "report --json DUMP: exit $?"
"$HS" report "$G" --json --no-symbolize >"$tmp/after" 2>&1 || fail "report DUMP --json: exit $?"
head -c 1 "$tmp/after" | grep -q '{' || fail "report DUMP --json is not JSON: $(head -c 80 "$tmp/after")"
cmp -s "$tmp/before" "$tmp/after" || fail "report DUMP --json differs from report --json DUMP"
"$HS" pprof --no-symbolize -o "$tmp/before.pb.gz" "$G" 2>/dev/null || fail "pprof -o F DUMP: exit $?"
mkdir -p "$tmp/pp"
(cd "$tmp/pp" && "$HS" pprof "$G" -o after.pb.gz --no-symbolize 2>/dev/null) || fail "pprof DUMP -o F: exit $?"
cmp -s "$tmp/before.pb.gz" "$tmp/pp/after.pb.gz" || fail "pprof DUMP -o F differs from pprof -o F DUMP"
[ "$(ls "$tmp/pp")" = after.pb.gz ] || fail "pprof DUMP -o F wrote more than F: $(ls "$tmp/pp")"
"$HS" pprof "$G" --no-symbolize -o"$tmp/glued.pb.gz" 2>/dev/null || fail "pprof -oFILE: exit $?"
cmp -s "$tmp/before.pb.gz" "$tmp/glued.pb.gz" || fail "pprof -oFILE differs"
"$HS" pprof "$G" --output="$tmp/eq.pb.gz" --no-symbolize 2>/dev/null || fail "pprof --output=FILE: exit $?"
cmp -s "$tmp/before.pb.gz" "$tmp/eq.pb.gz" || fail "pprof --output=FILE differs"
"$HS" plot -o "$tmp/before.svg" "$G" 2>/dev/null || fail "plot -o F DUMP: exit $?"
"$HS" plot "$G" -o "$tmp/after.svg" 2>/dev/null || fail "plot DUMP -o F: exit $?"
cmp -s "$tmp/before.svg" "$tmp/after.svg" || fail "plot DUMP -o F differs from plot -o F DUMP"
(cd "$tmp" && "$HS" info good.hsd --stacks >got 2>&1) || fail "info DUMP --stacks: exit $?"
diff -u "$tmp/want_all" "$tmp/got" >/dev/null || fail "info DUMP --stacks differs"
for c in info stats report pprof plot; do
    "$HS" "$c" "$G" --help | grep -q "^usage: heapscope $c" || fail "$c DUMP --help"
done
# -- ends the options: a dump whose name starts with '-'.
cp "$G" "$tmp/-x.hsd"
(cd "$tmp" && "$HS" info -- -x.hsd) | grep -qx 'file: -x.hsd' || fail "info -- -x.hsd"
(cd "$tmp" && "$HS" stats --csv -- -x.hsd) | grep -q '^seq,' || fail "stats --csv -- -x.hsd"
(cd "$tmp" && "$HS" pprof -o "$tmp/dash.pb.gz" --no-symbolize -- -x.hsd 2>/dev/null) || fail "pprof -- -x.hsd"
(cd "$tmp" && "$HS" report --no-symbolize -- -x.hsd | grep -q '^heapscope report: ') || fail "report -- -x.hsd"
(cd "$tmp" && "$HS" plot -o - -- -x.hsd | grep -q '<svg') || fail "plot -o - -- -x.hsd"
(cd "$tmp" && expect_error 2 "^heapscope: info: unknown option '-x' in '-x.hsd' .*-- ends the options" "$HS" info -x.hsd)
expect_error 2 "^heapscope: stats: one DUMP at a time \\('$G' and '--csv' given\\)" "$HS" stats -- "$G" --csv
# An unknown option is one line and exit 2 wherever it stands.
for c in info stats report pprof plot; do
    expect_error 2 "^heapscope: $c: unknown option '--bogus' \\(see heapscope help $c\\)\$" "$HS" "$c" "$G" --bogus
    expect_error 2 "^heapscope: $c: unknown option '--bogus'" "$HS" "$c" --bogus "$G"
done
expect_error 2 "^heapscope: stats: --csv takes no value" "$HS" stats "$G" --csv=1
expect_error 2 '^heapscope: pprof: -o needs a value' "$HS" pprof "$G" -o
expect_error 2 '^heapscope: report: --window needs a value' "$HS" report "$G" --window
expect_error 2 '^heapscope: pprof: missing DUMP' "$HS" pprof -o "$tmp/x.pb.gz"
expect_error 2 '^heapscope: report: missing DUMP' "$HS" report --json
"$HS" help pprof | grep -q -- '-o FILE' || fail "help pprof lacks -o"
"$HS" help record | grep -q -- '-o, --output' || fail "help record lacks -o, --output"
"$HS" --help | grep -q -- '-- ends the options' || fail "--help does not describe the argument order"

# record: -o as heaptrack and perf spell it; the banner has CMD's pid.
# shellcheck disable=SC2016 # $$ is the child's
out=$("$tmp/b/heapscope" record -o "$tmp/r.%e.%p.hsd" -- sh -c 'echo "$$|$HEAPSCOPE_OUTPUT"' 2>"$tmp/err")
pid=${out%%|*}
[ "$out" = "$pid|$tmp/r.%e.%p.hsd" ] || fail "record -o: '$out'"
[ "$(cat "$tmp/err")" = "heapscope: recording sh -c echo \"\$\$|\$HEAPSCOPE_OUTPUT\" to $tmp/r.sh.$pid.hsd" ] ||
    fail "record -o banner (pid $pid): $(cat "$tmp/err")"
# shellcheck disable=SC2016
out=$(cd "$tmp" && "$tmp/b/heapscope" record -orel.%p.hsd sh -c 'echo $$' 2>"$tmp/err")
grep -qx "heapscope: recording sh -c echo \$\$ to $tmp/rel.$out.hsd" "$tmp/err" ||
    fail "record -oTEMPLATE, relative (pid $out): $(cat "$tmp/err")"
# shellcheck disable=SC2016
out=$("$tmp/b/heapscope" record --output="$tmp/o.hsd" -- sh -c 'echo "$HEAPSCOPE_OUTPUT"' 2>/dev/null)
[ "$out" = "$tmp/o.hsd" ] || fail "record --output=TEMPLATE: '$out'"
: >"$tmp/taken.hsd"
"$tmp/b/heapscope" record -o "$tmp/taken.hsd" -- true 2>"$tmp/err"
grep -qx "heapscope: recording true to $tmp/taken.hsd.1 (taken.hsd exists)" "$tmp/err" ||
    fail "record to a taken name: $(cat "$tmp/err")"
"$tmp/b/heapscope" record -o /nonexistent/dir/x.hsd -- true 2>"$tmp/err"
grep -q "to /nonexistent/dir/x.hsd (or .*/x.hsd if /nonexistent/dir is still not writable then)\$" "$tmp/err" ||
    fail "record to a missing directory: $(cat "$tmp/err")"
# A #! script: the library sees the interpreter's name as the program.
printf '#!/bin/sh\necho $$\n' >"$tmp/script.sh"
chmod +x "$tmp/script.sh"
out=$("$tmp/b/heapscope" record -o "$tmp/%e.%p.hsd" -- "$tmp/script.sh" 2>"$tmp/err")
grep -qx "heapscope: recording $tmp/script.sh to $tmp/sh.$out.hsd" "$tmp/err" || fail "record a script: $(cat "$tmp/err")"
# Options after CMD are CMD's, with or without --.
# shellcheck disable=SC2016
show_args='echo "$HEAPSCOPE_SAMPLE_RATE|$*"'
out=$(env -u HEAPSCOPE_SAMPLE_RATE "$tmp/b/heapscope" record -- sh -c "$show_args" prog --rate 5 2>/dev/null)
[ "$out" = "|--rate 5" ] || fail "record -- prog --rate 5: '$out'"
out=$("$tmp/b/heapscope" record --rate 4K sh -c "$show_args" prog --rate 5 -o x -- y 2>/dev/null)
[ "$out" = "4096|--rate 5 -o x -- y" ] || fail "record --rate 4K prog --rate 5: '$out'"
expect_error 2 "^heapscope: record: unknown option '--bogus'" "$tmp/b/heapscope" record --bogus sh
expect_error 2 '^heapscope: record: -o needs a value' "$tmp/b/heapscope" record -o
# With the real library, the printed path is the dump's, and the pid in it is
# the one the dump records.
REAL_PROG=$BUILD/progs/many_blocks
if [ -x "$REAL_PROG" ] && [ -f "$BUILD/libheapscope.so" ]; then
    mkdir -p "$tmp/real"
    (cd "$tmp/real" && "$HS" record --rate 1 -o 'real.%e.%p.hsd' -- "$REAL_PROG" >/dev/null 2>"$tmp/err") ||
        fail "record $REAL_PROG: exit $?"
    path=$(sed -n 's/^heapscope: recording .* to \(.*\)$/\1/p' "$tmp/err")
    [ -f "$path" ] || fail "record printed '$path', which does not exist: $(ls "$tmp/real")"
    case $path in "$tmp/real/real.many_blocks."*.hsd) ;; *) fail "record printed '$path'" ;; esac
    pid=${path#"$tmp/real/real.many_blocks."}
    "$HS" info "$path" 2>/dev/null | grep -qx "pid: ${pid%.hsd}" || fail "the dump's pid is not the printed one ($path)"
else
    fail "$REAL_PROG or $BUILD/libheapscope.so not built (make progs all)"
fi

# ---- every prefix and every flipped byte: exit 0 or 2, never a crash ----
i=0
while [ "$i" -le "$size" ]; do
    head -c "$i" "$tmp/good.hsd" >"$tmp/prefix.hsd"
    "$HS" info --stacks "$tmp/prefix.hsd" >/dev/null 2>"$tmp/err"
    rc=$?
    case $rc in
    0) [ ! -s "$tmp/err" ] || fail "prefix $i: exit 0 with stderr" ;;
    2) [ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "prefix $i: not one stderr line" ;;
    *) fail "prefix $i: exit $rc" ;;
    esac
    i=$((i + 1))
done
i=0
while [ "$i" -lt "$size" ]; do
    "$GEN" --flip "$i" "$tmp/flip.hsd" >/dev/null
    "$HS" info --stacks "$tmp/flip.hsd" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    case $rc in
    2) [ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "flip $i: not one stderr line" ;;
    0) grep -q '^integrity: truncated tail' "$tmp/out" || fail "flip $i: accepted as intact" ;;
    *) fail "flip $i: exit $rc" ;;
    esac
    i=$((i + 1))
done

[ "$fails" = 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "cli: all checks passed"
