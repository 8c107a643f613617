#!/bin/sh
# allocators.sh - libheapscope.so stacked on each allocator a program may
# bring (LD_PRELOAD="libheapscope.so ALLOCATOR", ours first, as when the
# program links it): jemalloc (libjemalloc2; redis-server links it), tcmalloc
# (libtcmalloc-minimal4), mimalloc (libmimalloc2.0), and glibc's own.
#  1. tests/progs/conformance prints exactly what it prints under the plain
#     allocator preload, at the default rate and at rate 1, and leaves an
#     intact, self-consistent dump (glibc: see conformance.sh).
#  2. allocators_victim aligned (the valloc/pvalloc/memalign family at its
#     edges, exact usable sizes, every block written whole, grown, freed)
#     prints exactly what it prints without us: every entry point reaches
#     the allocator's own (tcmalloc's and mimalloc's pvalloc round and fail
#     their own way), nothing crashes or complains on stderr. jemalloc has no
#     pvalloc: plain, the program would get glibc's block (a crash in
#     jemalloc's free), so it is compared without pvalloc, and the full run
#     over heapscope, which composes it from jemalloc's memalign, must work
#     with glibc's rounding and errors. Over glibc the usable sizes of large
#     alignments follow the heap's layout, so they are left out.
#  3. heap figures: a 64 MiB block held, at rate 1024G (so that the sampled
#     estimate cannot know it): the snapshot the program's SIGUSR2 asks for
#     shows the allocator's own figures, in use 64..80 MiB over jemalloc
#     and tcmalloc and reserved (committed) >= 64 MiB over mimalloc; at the
#     default rate the exit snapshot (no allocator locks there: the sampled
#     estimate, or mimalloc's lock-free figures) shows 48..80 MiB in use
#     over all four.
set -eu
T=allocators
. tests/lib.sh

LIBDIR=/usr/lib/x86_64-linux-gnu
TCMALLOC=$LIBDIR/libtcmalloc_minimal.so.4
MIMALLOC=$LIBDIR/libmimalloc.so.2
C=$PROGS/conformance
V=$PROGS/allocators_victim
need "$LIB" "$CLI" "$C" "$V" "$JEMALLOC" "$TCMALLOC" "$MIMALLOC"
new_workdir
for v in $(env | sed -n 's/^\(HEAPSCOPE_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done
# mimalloc reports on stderr what it refuses or detects.
export MIMALLOC_SHOW_ERRORS=1

MiB=1048576

# run NAME PRELOAD RATE PROGRAM ARGS...: the program with LD_PRELOAD=PRELOAD
# (none when empty) and HEAPSCOPE_SAMPLE_RATE=RATE (default when empty), in
# its own directory $W/NAME.d (its dumps), output in $W/NAME.out and .err.
# Fails unless it exits 0.
run() {
    name=$1 preload=$2 rate=$3
    shift 3
    mkdir -p "$W/$name.d"
    set -- env HEAPSCOPE_OUTPUT="$W/$name.d/%e.%p.hsd" "$@"
    [ -z "$preload" ] || set -- env LD_PRELOAD="$preload" "$@"
    [ -z "$rate" ] || set -- env HEAPSCOPE_SAMPLE_RATE="$rate" "$@"
    rc=0
    (cd "$W/$name.d" && timeout 60 "$@") >"$W/$name.out" 2>"$W/$name.err" || rc=$?
    [ "$rc" = 0 ] || fail "$name: exited with status $rc: $(head -n 1 "$W/$name.err")"
}

# silent NAME: NAME wrote nothing on stderr.
silent() {
    [ ! -s "$W/$1.err" ] || fail "$1: wrote to stderr: $(head -n 1 "$W/$1.err")"
}

# dump_of NAME: the one dump run NAME left (fails on none or several).
dump_of() {
    dir=$W/$1.d
    set -- "$dir"/*.hsd
    if [ $# != 1 ] || [ ! -f "$1" ]; then
        fail "expected exactly one dump in $dir"
    fi
    echo "$1"
}

# same BASE NAME: NAME printed exactly what BASE printed, on stdout and on
# stderr (mimalloc reports requests it refuses there, the library nothing).
same() {
    for f in out err; do
        if ! cmp -s "$W/$1.$f" "$W/$2.$f"; then
            diff "$W/$1.$f" "$W/$2.$f" | head -n 10 >&2
            fail "$2: std$f differs from $1's (first differences above)"
        fi
    done
}

# intact NAME: NAME's dump is intact and its stack rows add up.
intact() {
    info_stacks "$(dump_of "$1")" "$W/$1.info"
    consistent "$W/$1.info"
}

# snapshot_field NAME REASON FIELD: FIELD of the first snapshot of REASON in
# `heapscope stats --json` of NAME's dump; fails when there is none.
snapshot_field() {
    "$CLI" stats --json "$(dump_of "$1")" >"$W/$1.json" 2>"$W/$1.json.err" ||
        fail "$1: heapscope stats --json: $(head -n 1 "$W/$1.json.err")"
    python3 - "$W/$1.json" "$2" "$3" <<'EOF' || fail "$1: no $2 snapshot with $3 in $(basename "$(dump_of "$1")")"
import json, sys
rows = [s for s in json.load(open(sys.argv[1]))["snapshots"] if s["reason"] == sys.argv[2]]
if not rows or sys.argv[3] not in rows[0]:
    sys.exit(1)
print(rows[0][sys.argv[3]])
EOF
}

# between WHAT VALUE LO HI: LO <= VALUE <= HI (bytes), else fail.
between() {
    case $2 in
    '' | *[!0-9]*) fail "$1 is not a number: '$2'" ;;
    esac
    # Beyond 15 digits the shell's test cannot compare (HS_HEAPSTATS_UNKNOWN
    # written as a figure is 20).
    [ ${#2} -le 15 ] || fail "$1 = $2 bytes, expected $(($3 / MiB))..$(($4 / MiB)) MiB"
    if [ "$2" -lt "$3" ] || [ "$2" -gt "$4" ]; then
        fail "$1 = $2 bytes ($(($2 / MiB)) MiB), expected $(($3 / MiB))..$(($4 / MiB)) MiB"
    fi
    note "$1 = $(($2 / MiB)) MiB"
}

for a in jemalloc tcmalloc mimalloc; do
    case $a in
    jemalloc) so=$JEMALLOC skip=--skip-glibc-only ;;
    tcmalloc) so=$TCMALLOC skip= ;;
    mimalloc) so=$MIMALLOC skip= ;;
    esac
    check "$a: conformance under the stacked preload prints what it prints under $a alone"
    # Two rounds, the first silent: an allocator's own first-call work
    # (mimalloc 2.0 leaves errno ENOENT behind it) is not what is compared.
    # shellcheck disable=SC2086 # $skip is empty or one flag
    run "$a.conf.plain" "$so" "" "$C" $skip 2
    grep -qxF 'done' "$W/$a.conf.plain.out" || fail "$a.conf.plain: the program did not finish"
    for at in default 1; do
        r=$at
        [ "$r" != default ] || r=
        # shellcheck disable=SC2086
        run "$a.conf.$at" "$LIB $so" "$r" "$C" $skip 2
        same "$a.conf.plain" "$a.conf.$at"
        intact "$a.conf.$at"
    done
    note "identical output ($(wc -l <"$W/$a.conf.plain.out") lines) at the default rate and at rate 1, dumps intact"

    check "$a: the valloc/pvalloc/memalign family reaches $a's own entry points"
    if [ "$a" = jemalloc ]; then
        run "$a.al.plain" "$so" "" "$V" aligned --skip-pvalloc
        run "$a.al.stacked" "$LIB $so" 1 "$V" aligned --skip-pvalloc
        same "$a.al.plain" "$a.al.stacked"
        run "$a.al.full" "$LIB $so" 1 "$V" aligned
        silent "$a.al.full"
        grep -qxF 'done' "$W/$a.al.full.out" || fail "$a.al.full: the program did not finish"
        # jemalloc's pvalloc is composed from its memalign: glibc's results
        # (usable sizes are jemalloc's, so not compared).
        run glibc.al.plain "" "" "$V" aligned
        strip='s/ usable=[0-9]*//'
        grep '^pvalloc' "$W/glibc.al.plain.out" | sed "$strip" >"$W/pvalloc.want"
        grep '^pvalloc' "$W/$a.al.full.out" | sed "$strip" >"$W/pvalloc.got"
        [ "$(wc -l <"$W/pvalloc.want")" -ge 11 ] || fail "the glibc run printed too few pvalloc lines"
        if ! cmp -s "$W/pvalloc.want" "$W/pvalloc.got"; then
            diff "$W/pvalloc.want" "$W/pvalloc.got" | head -n 10 >&2
            fail "pvalloc over jemalloc differs from glibc's results"
        fi
        note "same results as jemalloc alone; pvalloc composed from jemalloc's memalign behaves as glibc's"
    else
        run "$a.al.plain" "$so" "" "$V" aligned
        grep -q '^pvalloc(2) ' "$W/$a.al.plain.out" || fail "$a.al.plain: no pvalloc lines"
        run "$a.al.stacked" "$LIB $so" 1 "$V" aligned
        same "$a.al.plain" "$a.al.stacked"
        note "same results (exact usable sizes) as $a alone, pvalloc included"
    fi
    intact "$a.al.stacked"
done

check "glibc: the valloc/pvalloc/memalign family, usable sizes aside, as without heapscope"
[ -f "$W/glibc.al.plain.out" ] || run glibc.al.plain "" "" "$V" aligned
run glibc.al.stacked "$LIB" 1 "$V" aligned
sed 's/ usable=[0-9]*//' "$W/glibc.al.plain.out" >"$W/glibc.al.want.out"
sed 's/ usable=[0-9]*//' "$W/glibc.al.stacked.out" >"$W/glibc.al.got.out"
cp "$W/glibc.al.plain.err" "$W/glibc.al.want.err"
cp "$W/glibc.al.stacked.err" "$W/glibc.al.got.err"
same glibc.al.want glibc.al.got
silent glibc.al.got
intact glibc.al.stacked

for a in jemalloc tcmalloc mimalloc; do
    case $a in
    jemalloc) so=$JEMALLOC ;;
    tcmalloc) so=$TCMALLOC ;;
    mimalloc) so=$MIMALLOC ;;
    esac
    check "$a: a held 64 MiB block in the snapshot taken at a safe point, from $a's own figures"
    run "$a.hold" "$LIB $so" 1024G env HEAPSCOPE_SIGNAL=SIGUSR2 "$V" hold 64
    silent "$a.hold"
    grep -qxF "held $((64 * MiB))" "$W/$a.hold.out" || fail "$a.hold: the program did not hold its block"
    reserved=$(snapshot_field "$a.hold" signal heap_reserved)
    if [ "$a" = mimalloc ]; then
        # mimalloc counts committed bytes only; in use is the sampled estimate.
        between "$a: heap_reserved (committed)" "$reserved" $((64 * MiB)) $((512 * MiB))
    else
        in_use=$(snapshot_field "$a.hold" signal heap_in_use)
        between "$a: heap_in_use" "$in_use" $((64 * MiB)) $((80 * MiB))
        [ "$reserved" -ge "$in_use" ] || fail "$a: heap_reserved $reserved < heap_in_use $in_use"
    fi
done

for a in glibc jemalloc tcmalloc mimalloc; do
    case $a in
    glibc) so= ;;
    jemalloc) so=$JEMALLOC ;;
    tcmalloc) so=$TCMALLOC ;;
    mimalloc) so=$MIMALLOC ;;
    esac
    check "$a: a 64 MiB block held at exit shows in the exit snapshot's heap_in_use"
    run "$a.exit" "$LIB${so:+ $so}" "" "$V" hold 64
    silent "$a.exit"
    in_use=$(snapshot_field "$a.exit" exit heap_in_use)
    between "$a: heap_in_use at exit" "$in_use" $((48 * MiB)) $((80 * MiB))
    info "$(dump_of "$a.exit")" "$W/$a.exit.info"
done

echo "allocators: PASS"
