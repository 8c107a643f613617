#!/bin/sh
# sites.sh - heapscope attributes allocations to the right call sites.
# tests/progs/victim_sites allocates from ten noinline functions (one per
# entry point, plus a realloc chain and a second thread) with known counts
# and sizes (see the table at its top), with frees from threads other than
# the allocating one. From `heapscope info --stacks` we sum the stacks whose
# frame 0 resolves (addr2line) into each function:
#  - at HEAPSCOPE_SAMPLE_RATE=1 the sampled counts, bytes, frees and freed
#    bytes must be exact, the estimates equal the raw counts, no frame may
#    lie inside libheapscope.so, main-thread sites must have `main` further
#    down their stack (the thread site its thread routine), the stack rows
#    must add up to the stats' sampled totals, and the alloc_calls and
#    free_calls stats minus those of a SCALE 0 run (same threads, no site
#    allocations) must equal the program's own call counts; with
#    HEAPSCOPE_MAX_DEPTH=2 stacks are cut to 2 frames and stay exact;
#  - at rate 4096 (fixed HEAPSCOPE_SEED) every site's est_alloc_bytes and
#    est_alloc_objects must lie within 5 standard errors of the truth, and a
#    site whose blocks were all freed must show zero bytes in use.
set -eu
T=sites
. tests/lib.sh

P=$PROGS/victim_sites
need "$LIB" "$CLI" "$P"
command -v addr2line >/dev/null || fail "addr2line not installed (binutils)"
new_workdir

# victim NAME RATE SCALE [DEPTH]: runs victim_sites SCALE under the library
# at RATE (stacks of at most DEPTH frames, default 64); $DUMP is its single
# dump, $W/NAME.info its `info --stacks` output.
victim() {
    mkdir -p "$W/$1.d"
    rc=0
    (cd "$W/$1.d" && timeout 60 env LD_PRELOAD="$LIB" HEAPSCOPE_SAMPLE_RATE="$2" \
        HEAPSCOPE_SEED=12345 HEAPSCOPE_MAX_DEPTH="${4:-64}" HEAPSCOPE_OUTPUT="$W/$1.d/%e.%p.hsd" \
        "$P" "$3") >"$W/$1.out" 2>"$W/$1.err" || rc=$?
    [ "$rc" = 0 ] || fail "$1: victim_sites exited with status $rc: $(head -n 1 "$W/$1.err")"
    [ ! -s "$W/$1.err" ] || fail "$1: stderr not empty: $(head -n 1 "$W/$1.err")"
    grep -qx "victim_sites scale $3 done" "$W/$1.out" || fail "$1: victim_sites did not finish"
    set -- "$1" "$W/$1.d"/*.hsd
    if [ $# != 2 ] || [ ! -f "$2" ]; then
        fail "$1: expected exactly one dump, found $(($# - 1))"
    fi
    DUMP=$2
    info_stacks "$DUMP" "$W/$1.info"
    grep -q '^stack ' "$W/$1.info" || fail "$1: info --stacks printed no stack"
}

# expected SCALE: "function allocs alloc_bytes frees free_bytes" per site.
expected() {
    s=$1
    cat <<EOF
alloc_site_a $((1000 * s)) $((100000 * s)) 0 0
alloc_site_b $((500 * s)) $((2048000 * s)) $((250 * s)) $((1024000 * s))
alloc_site_calloc $((300 * s)) $((192000 * s)) $((300 * s)) $((192000 * s))
alloc_site_posix_memalign $((100 * s)) $((20000 * s)) $((50 * s)) $((10000 * s))
alloc_site_aligned_alloc $((10 * s)) $((1280 * s)) 0 0
alloc_site_memalign $((10 * s)) $((1280 * s)) 0 0
alloc_site_valloc $((10 * s)) $((1280 * s)) 0 0
alloc_site_reallocarray $((10 * s)) $((1280 * s)) 0 0
alloc_site_realloc $((200 * s)) $((1286400 * s)) $((199 * s)) $((1273600 * s))
alloc_site_thread $((400 * s)) $((102400 * s)) $((200 * s)) $((51200 * s))
EOF
}

# ----------------------------------------------------------------- rate 1
check "rate 1: per-site counts, bytes, frees and freed bytes are exact"
victim exact 1 1
EXACT=$DUMP
symbolize "$W/exact.info" "$P" "$W/exact.syms"
[ -s "$W/exact.syms" ] || fail "no frame of any stack lies in $(basename "$P") (mapping paths wrong?)"
site_totals "$W/exact.info" "$W/exact.syms" "$W/exact.totals"
expected 1 | while read -r fn a ab f fb; do
    got=$(awk -v f="$fn" '$1 == f { print $2, $3, $4, $5 }' "$W/exact.totals")
    [ -n "$got" ] || fail "no stack has frame 0 in $fn"
    [ "$got" = "$a $ab $f $fb" ] ||
        fail "$fn: allocs/bytes/frees/freed bytes = $got, expected $a $ab $f $fb"
    note "$fn: $got (exact)"
done

check "rate 1: estimates equal the raw counts"
awk '$1 ~ /^alloc_site_/ {
    if ($6 != $2 || $7 != $3 || $8 != $2 - $4 || $9 != $3 - $5) {
        print $1 ": estimates " $6, $7, $8, $9 " vs raw " $2, $3, $2 - $4, $3 - $5; exit 1 }
}' "$W/exact.totals" || fail "est_* differ from the raw counts at rate 1"

check "rate 1: no frame 0 inside libheapscope.so (its own frames are skipped)"
own=$(awk '$1 == "frame" && $2 == 0 && $4 ~ /libheapscope\.so$/' "$W/exact.info" | wc -l)
[ "$own" = 0 ] || fail "$own stacks have frame 0 inside libheapscope.so"
own=$(awk '$1 == "frame" && $4 ~ /libheapscope\.so$/' "$W/exact.info" | wc -l)
[ "$own" = 0 ] || fail "$own frames lie inside libheapscope.so"

check "rate 1: main-thread sites have main further down; the thread site has its thread routine"
awk '
    { fn[$1, $2] = $3; if ($2 == 0) site[$1] = $3 }
    END {
        for (id in site) {
            s = site[id]
            if (s !~ /^alloc_site_/) continue
            want = s == "alloc_site_thread" ? "thread_allocator" : "main"
            ok = 0
            for (i = 1; i < 256; i++) if (fn[id, i] == want) ok = 1
            if (!ok) { print "stack " id " (" s ") has no frame in " want; bad = 1 }
            if (s == "alloc_site_thread") for (i = 1; i < 256; i++) if (fn[id, i] == "main") {
                print "stack " id " (" s ") claims main"; bad = 1 }
        }
        exit bad
    }' "$W/exact.syms" >"$W/chain.err" || fail "$(head -n 1 "$W/chain.err")"

check "rate 1: alloc_calls/free_calls grow by exactly the program's own calls (2540 / 999)"
victim base 1 0
info "$EXACT" "$W/exact.stats"
info "$DUMP" "$W/base.stats"
da=$(($(stat_of "$W/exact.stats" alloc_calls) - $(stat_of "$W/base.stats" alloc_calls)))
df=$(($(stat_of "$W/exact.stats" free_calls) - $(stat_of "$W/base.stats" free_calls)))
[ "$da" = 2540 ] || fail "alloc_calls grew by $da, expected 2540"
[ "$df" = 999 ] || fail "free_calls grew by $df, expected 999"
note "alloc_calls +$da, free_calls +$df"
ds=$(($(stat_of "$W/exact.stats" sampled_allocs) - $(stat_of "$W/base.stats" sampled_allocs)))
[ "$ds" = 2540 ] || fail "sampled_allocs grew by $ds at rate 1, expected 2540"
lost=$(stat_of "$W/exact.stats" lost_samples)
[ "$lost" = 0 ] || fail "lost_samples = $lost at rate 1"

check "rate 1: stack rows add up to the sampled totals of the stats"
consistent "$W/exact.info"
consistent "$W/base.info"

check "rate 1, HEAPSCOPE_MAX_DEPTH=2: stacks have at most 2 frames, frame 0 still the site, totals exact"
victim depth2 1 1 2
deepest=$(awk '$1 == "frame" && $2 + 1 > d { d = $2 + 1 } END { print d + 0 }' "$W/depth2.info")
[ "$deepest" -le 2 ] || fail "a stack has $deepest frames at HEAPSCOPE_MAX_DEPTH=2"
symbolize "$W/depth2.info" "$P" "$W/depth2.syms"
site_totals "$W/depth2.info" "$W/depth2.syms" "$W/depth2.totals"
expected 1 | while read -r fn a ab f fb; do
    got=$(awk -v f="$fn" '$1 == f { print $2, $3, $4, $5 }' "$W/depth2.totals")
    [ "$got" = "$a $ab $f $fb" ] ||
        fail "depth 2: $fn: allocs/bytes/frees/freed bytes = '$got', expected $a $ab $f $fb"
done
awk '$2 == 0 { site[$1] = $3 } $2 == 1 { up[$1] = $3 }
    END { for (id in site) if (site[id] ~ /^alloc_site_/ && up[id] != "main" && up[id] != "thread_allocator") n++
          exit n > 0 }' "$W/depth2.syms" ||
    fail "depth 2: frame 1 of a site stack is neither main nor thread_allocator"

# ---------------------------------------------------------- rate 4096
# A block of s bytes is sampled with probability p = 1 - exp(-s/R) and then
# stands for s/p bytes, so for n blocks of size s the estimate of n*s has
# variance n s^2 (1-p)/p (and the object estimate n (1-p)/p). Summed over a
# site's sizes this gives the standard error; we allow 5 of them (a false
# failure has probability < 1e-6 per site). At SCALE 20 the smallest site
# (alloc_site_a, 20000 x 100 B, ~480 expected samples) has a relative
# error of 4.5 %, so a 5-SE bound of 23 % still catches a wrong weighting.
R=4096
S=20
check "rate $R, SCALE $S: est_alloc_bytes/objects per site within 5 standard errors"
victim sampled $R $S
symbolize "$W/sampled.info" "$P" "$W/sampled.syms"
site_totals "$W/sampled.info" "$W/sampled.syms" "$W/sampled.totals"
{
    # function count size ... (one "count size" pair per size class)
    echo "alloc_site_a $((1000 * S)) 100"
    echo "alloc_site_b $((500 * S)) 4096"
    echo "alloc_site_calloc $((300 * S)) 640"
    echo "alloc_site_posix_memalign $((100 * S)) 200"
    for f in aligned_alloc memalign valloc reallocarray; do echo "alloc_site_$f $((10 * S)) 128"; done
    echo "alloc_site_thread $((400 * S)) 256"
    printf 'alloc_site_realloc'
    i=1
    while [ $i -le 200 ]; do printf ' %d %d' "$S" $((64 * i)); i=$((i + 1)); done
    echo
} >"$W/sizes"
awk -v R=$R '
    FNR == NR {
        n = 0; b = 0; vb = 0; vn = 0
        for (i = 2; i < NF; i += 2) {
            c = $i; s = $(i + 1); p = 1 - exp(-s / R)
            n += c; b += c * s; vb += c * s * s * (1 - p) / p; vn += c * (1 - p) / p
        }
        want_n[$1] = n; want_b[$1] = b; se_b[$1] = sqrt(vb); se_n[$1] = sqrt(vn); next
    }
    { got_n[$1] = $6; got_b[$1] = $7; raw[$1] = $2; inuse_b[$1] = $9 }
    END {
        for (f in want_b) {
            # A small site may have no sample at all: an estimate of 0,
            # judged like any other (a big site is then far out of bounds).
            if (!(f in got_b)) { got_b[f] = 0; got_n[f] = 0; raw[f] = 0 }
            zb = (got_b[f] - want_b[f]) / se_b[f]; zn = (got_n[f] - want_n[f]) / se_n[f]
            printf "%s: %d samples, est_alloc_bytes %.0f vs %d (%+.2f SE), est_alloc_objects %.0f vs %d (%+.2f SE)\n",
                f, raw[f], got_b[f], want_b[f], zb, got_n[f], want_n[f], zn
            if (zb > 5 || zb < -5 || zn > 5 || zn < -5) bad = 1
        }
        # Every calloc block was freed: whatever was sampled was freed with
        # the same weight, so nothing can remain in use.
        if (inuse_b["alloc_site_calloc"] > 1e-6 * got_b["alloc_site_calloc"] ||
            inuse_b["alloc_site_calloc"] < -1e-6 * got_b["alloc_site_calloc"]) {
            print "alloc_site_calloc: est_inuse_bytes " inuse_b["alloc_site_calloc"] " after freeing all"; bad = 1 }
        exit bad
    }' "$W/sizes" "$W/sampled.totals" >"$W/sampled.report" || {
    cat "$W/sampled.report" >&2
    fail "an estimate lies outside 5 standard errors (details above)"
}
sed "s/^/$T:   /" "$W/sampled.report"

echo "sites: PASS"
