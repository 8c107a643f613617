#!/bin/sh
# conformance.sh - every entry point libheapscope.so interposes behaves
# exactly like the allocator underneath it: tests/progs/conformance prints
# one line per edge case (NULL or not, errno, alignment, usable size,
# preserved and zeroed content) and its output under the library must be
# byte-identical to its output without it: over glibc at the default rate,
# at rate 1 (every call on the sampled path) and at rate 4096 over three
# rounds (sampled and unsampled blocks mixed); and stacked over jemalloc
# ("libheapscope.so libjemalloc.so.2") against a plain jemalloc preload.
set -eu
T=conformance
. tests/lib.sh

P=$PROGS/conformance
need "$LIB" "$CLI" "$P" "$JEMALLOC"
new_workdir

# run NAME PRELOAD RATE ARGS...: runs the program with LD_PRELOAD=PRELOAD
# (none when empty) and HEAPSCOPE_SAMPLE_RATE=RATE (unset when empty);
# stdout in $W/NAME.out, stderr in $W/NAME.err, dumps in $W/NAME.d.
run() {
    name=$1 preload=$2 rate=$3
    shift 3
    mkdir -p "$W/$name.d"
    set -- env HEAPSCOPE_OUTPUT="$W/$name.d/%e.%p.hsd" "$P" "$@"
    [ -z "$preload" ] || set -- env LD_PRELOAD="$preload" "$@"
    [ -z "$rate" ] || set -- env HEAPSCOPE_SAMPLE_RATE="$rate" "$@"
    rc=0
    (cd "$W/$name.d" && timeout 60 "$@") >"$W/$name.out" 2>"$W/$name.err" || rc=$?
    [ "$rc" = 0 ] || fail "$name: exited with status $rc: $(head -n 1 "$W/$name.err")"
}

# same BASE NAME: NAME printed exactly what BASE printed, nothing on stderr,
# and left exactly one dump that heapscope info calls intact, whose stack
# rows add up to its sampled totals (failed calls, realloc(p, 0), frees of
# NULL and of bootstrap blocks must all be accounted right).
same() {
    if ! cmp -s "$W/$1.out" "$W/$2.out"; then
        diff "$W/$1.out" "$W/$2.out" | head -n 10 >&2
        fail "$2: output differs from $1 (first differences above)"
    fi
    [ ! -s "$W/$2.err" ] || fail "$2: wrote to stderr: $(head -n 1 "$W/$2.err")"
    set -- "$2" "$W/$2.d"/*.hsd
    if [ $# != 2 ] || [ ! -f "$2" ]; then
        fail "$1: expected exactly one dump, found $(($# - 1))"
    fi
    info_stacks "$2" "$W/$1.info"
    consistent "$W/$1.info"
    note "$1: identical output ($(wc -l <"$W/$1.out") lines), dump intact and consistent"
}

check "the program's own expectations hold for plain glibc (the baseline is sane)"
run plain "" "" 1
for line in \
    'malloc(0): ret=ptr errno=untouched usable>=req=1 aligned16=1' \
    'free(NULL): errno=untouched' \
    'malloc_usable_size(NULL)=0' \
    'realloc(NULL,100): ret=ptr errno=untouched usable>=req=1 aligned16=1' \
    'realloc(p,0): ret=NULL errno=untouched' \
    'calloc(SIZE_MAX/2+1,4): ret=NULL errno=ENOMEM' \
    'reallocarray(p,SIZE_MAX/2+1,4): ret=NULL errno=ENOMEM old_intact=1' \
    'posix_memalign(align=0,64): rc=EINVAL errno=untouched memptr_untouched=1' \
    'posix_memalign(align=3,64): rc=EINVAL errno=untouched memptr_untouched=1' \
    'posix_memalign(align=4,64): rc=EINVAL errno=untouched memptr_untouched=1' \
    'posix_memalign(align=1048576,1048576): rc=0 errno=untouched nonnull=1 usable>=req=1 aligned=1' \
    'pvalloc(4097) [rounded 8192]: ret=ptr errno=untouched usable>=req=1 aligned4096=1' \
    'malloc(SIZE_MAX-4096): ret=NULL errno=ENOMEM' \
    'calloc(1,PTRDIFF_MAX+1): ret=NULL errno=ENOMEM' \
    'realloc(NULL,SIZE_MAX-4096): ret=NULL errno=ENOMEM' \
    'memalign(64,PTRDIFF_MAX+1): ret=NULL errno=ENOMEM' \
    'malloc x2000: null=0 errno_changed=0 content_lost=0' \
    'mixed long-lived x500 then realloc x2: ok=1' \
    'done'; do
    grep -qxF "$line" "$W/plain.out" || fail "plain glibc run lacks the line: $line"
done
bad=$(grep -cE '(usable>=req|aligned[0-9]*|preserved|zeroed|ok|old_intact|memptr_untouched)=0' "$W/plain.out" || :)
[ "$bad" = 0 ] || fail "plain glibc run has $bad failed property lines"
[ -z "$(ls "$W/plain.d")" ] || fail "plain run wrote a dump without the library"

check "under libheapscope.so at the default rate: same output as plain glibc"
run default "$LIB" "" 1
same plain default

check "under libheapscope.so at rate 1 (every allocation sampled): same output"
run rate1 "$LIB" 1 1
same plain rate1

check "under libheapscope.so at rate 4096, three rounds (sampled and unsampled mixed): same output"
run rate4096 "$LIB" 4096 3
same plain rate4096

check "stacked over jemalloc: same output as a plain jemalloc preload"
run jemalloc "$JEMALLOC" "" --skip-glibc-only 1
grep -qxF 'done' "$W/jemalloc.out" || fail "plain jemalloc run did not finish"
[ -z "$(ls "$W/jemalloc.d")" ] || fail "plain jemalloc run wrote a dump"
cmp -s "$W/plain.out" "$W/jemalloc.out" && fail "jemalloc output equals glibc's: jemalloc was not used"
run jemalloc.default "$LIB $JEMALLOC" "" --skip-glibc-only 1
same jemalloc jemalloc.default
run jemalloc.rate1 "$LIB $JEMALLOC" 1 --skip-glibc-only 1
same jemalloc jemalloc.rate1

# jemalloc 5.3 has no pvalloc and no reallocarray: preloaded alone, those
# reach glibc's, whose blocks jemalloc's free cannot take (the program
# crashes). heapscope composes them from memalign and realloc of the
# allocator below, so stacked over jemalloc they must work and show the
# same observable results as glibc's own.
check "stacked over jemalloc: pvalloc and reallocarray served by jemalloc, results as glibc's"
run jemalloc.all "$LIB $JEMALLOC" 1 1
grep -E '^(pvalloc|reallocarray)' "$W/plain.out" >"$W/glibc-only.want"
grep -E '^(pvalloc|reallocarray)' "$W/jemalloc.all.out" >"$W/glibc-only.got" || :
[ "$(wc -l <"$W/glibc-only.want")" -ge 10 ] || fail "plain run printed too few pvalloc/reallocarray lines"
if ! cmp -s "$W/glibc-only.want" "$W/glibc-only.got"; then
    diff "$W/glibc-only.want" "$W/glibc-only.got" | head -n 10 >&2
    fail "pvalloc/reallocarray over jemalloc differ from glibc's results"
fi
grep -qxF 'done' "$W/jemalloc.all.out" || fail "jemalloc.all: the program did not finish"

echo "conformance: PASS"
