#!/bin/sh
# tests/bench/compare.sh (part of `make bench`): heapscope side by side with the profilers users
# would pick instead (tests/bench/profilers.sh defines them), on three workloads:
#   churn1   build/bench/churn -t 1 (malloc/free churn, tests/bench/README.md)
#   churn2   build/bench/churn -t 2
#   pyjson   PYTHONMALLOC=malloc python3 tests/bench/pyjson.py (json dumps/loads of nested data
#            and dict churn: every object through malloc, stacks 30-60 frames deep)
# Rounds are interleaved (round 1 of every workload and configuration, then round 2, ...). Each
# run is measured from outside: CPU (user+sys) of the whole process tree (getrusage
# RUSAGE_CHILDREN of a wrapper, which counts every waited-for descendant: heaptrack's
# interpreter and compressor included), wall time, peak RSS, and the bytes the profiler wrote.
# Then callgrind counts instructions (deterministic): churn at 1 thread, two op counts, the
# difference per malloc+free pair; pyjson at a small size, instructions per run. It prints
# one markdown table per workload and the targets of issue 11 marked PASS/MISS. A MISS is a
# finding: the exit status is non-zero only when a run crashes, hangs (timeout) or pyjson's
# checksum differs from the run without a profiler.
#
# Knobs (environment):
#   BENCH_ROUNDS (5), BENCH_WORKLOADS ("churn1 churn2 pyjson"),
#   BENCH_CONFIGS or PROF_CONFIGS (profilers.sh's list),
#   BENCH_CHURN1_OPS (2000000), BENCH_CHURN2_OPS (1000000 per thread),
#   BENCH_PYJSON_ROUNDS (3), BENCH_PYJSON_DEPTH (7), BENCH_PYTHON (/usr/bin/python3),
#   BENCH_SLOW_CONFIGS ("gperf_heap"): run only in the first BENCH_SLOW_ROUNDS (1) rounds (they
#     are ~100x slower; their ratio does not need more),
#   BENCH_CALLGRIND=0 skips callgrind; BENCH_CG_OPS ("20000 120000"), BENCH_CG_PYJSON
#     ("1 4": rounds depth), BENCH_CG_JOBS (callgrind runs in parallel, default nproc, at most 4),
#   BENCH_TIMEOUT (300 s per timed run), BENCH_CG_TIMEOUT (900 s per callgrind run),
#   PROF_HS_INTERVAL (heapscope's snapshot interval; default 30 s, longer than every run).
set -u
BUILD=${BUILD:-build}
export BUILD
ROUNDS=${BENCH_ROUNDS:-5}
WORKLOADS=${BENCH_WORKLOADS:-churn1 churn2 pyjson}
CHURN1_OPS=${BENCH_CHURN1_OPS:-2000000}
CHURN2_OPS=${BENCH_CHURN2_OPS:-1000000}
PYJSON_ROUNDS=${BENCH_PYJSON_ROUNDS:-3}
PYJSON_DEPTH=${BENCH_PYJSON_DEPTH:-7}
SLOW_CONFIGS=${BENCH_SLOW_CONFIGS-gperf_heap}
SLOW_ROUNDS=${BENCH_SLOW_ROUNDS:-1}
CALLGRIND=${BENCH_CALLGRIND:-1}
CG_OPS=${BENCH_CG_OPS:-20000 120000}
CG_PYJSON=${BENCH_CG_PYJSON:-1 4}
RUN_TIMEOUT=${BENCH_TIMEOUT:-300}
CG_TIMEOUT=${BENCH_CG_TIMEOUT:-900}
if [ -n "${BENCH_PYTHON:-}" ]; then
    PYTHON=$BENCH_PYTHON
elif [ -x /usr/bin/python3 ]; then
    PYTHON=/usr/bin/python3 # not a pyenv shim: a shell script in front would count
else
    PYTHON=python3
fi
CG_JOBS=${BENCH_CG_JOBS:-$(nproc 2>/dev/null || echo 1)}
[ "$CG_JOBS" -gt 4 ] && CG_JOBS=4

here=$(pwd)
lib=$here/tests/bench/profilers.sh
pyjson=$here/tests/bench/pyjson.py
churn=$here/$BUILD/bench/churn
[ -n "${BENCH_CONFIGS:-}" ] && PROF_CONFIGS=$BENCH_CONFIGS
prof_configs=${PROF_CONFIGS:-}
# shellcheck source=tests/bench/profilers.sh
. "$lib"

for f in "$churn" "$pyjson"; do
    [ -e "$f" ] || { echo "compare: $f missing (run make bench)" >&2; exit 1; }
done
command -v "$PYTHON" >/dev/null 2>&1 || { echo "compare: $PYTHON not found" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/heapscope-compare.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
crashed=0
started=$(date +%s)

# The measuring wrapper: runs CMD in its own process group (killed whole on timeout), waits,
# and writes the whole tree's CPU (RUSAGE_CHILDREN: every waited-for descendant) and wall
# time. The tree's peak RSS comes from GNU time in between: a process forked by this Python
# would carry Python's own peak RSS (Linux keeps the old image's high-water mark across exec).
# Exit status: CMD's, 124 on timeout, 128+N on signal N.
cat >"$tmp/measure.py" <<'EOF'
import os, resource, signal, subprocess, sys, time
out, timeout, cmd = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
if os.access("/usr/bin/time", os.X_OK):
    cmd = ["/usr/bin/time", "-f", "%M", "-o", out + ".rss"] + cmd
t0 = time.monotonic()
p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, start_new_session=True)
try:
    rc = p.wait(timeout=timeout)
except subprocess.TimeoutExpired:
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    rc = 124
wall = time.monotonic() - t0
try:
    os.killpg(p.pid, signal.SIGKILL)  # leftovers that were not waited for
except OSError:
    pass
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
rc = 128 - rc if rc < 0 else rc
try:
    with open(out + ".rss") as f:
        tree = int(f.read().split()[-1])
    os.unlink(out + ".rss")
except (OSError, ValueError, IndexError):
    tree = -1
with open(out, "w") as f:
    f.write("%d %.6f %.6f %.6f %s\n" % (rc, wall, ru.ru_utime, ru.ru_stime, tree if tree >= 0 else "nan"))
sys.exit(rc)
EOF

# The configurations that can run here (the others: one line each saying why not).
active=""
for cfg in $prof_configs; do
    if prof_available "$cfg" 2>"$tmp/why"; then
        active="$active $cfg"
    else
        sed 's/^/compare: skipped: /' "$tmp/why" >&2
    fi
done
for cfg in $active; do
    printf '%s\t%s\t%s\n' "$cfg" "$(prof_label "$cfg")" "$(prof_baseline "$cfg")"
done >"$tmp/configs"

is_slow() {
    for s in $SLOW_CONFIGS; do [ "$s" = "$1" ] && return 0; done
    return 1
}

# field KEY < log: KEY's value from the workload's key=value line (churn ..., pyjson ...).
field() {
    awk -v key="$1" '/^(churn|pyjson) /{for (i = 2; i <= NF; i++) {split($i, kv, "="); if (kv[1] == key) v = kv[2]}} END {print v}'
}

# expected_output CONFIG: a find -name pattern for the files CONFIG must leave, if any.
expected_output() {
    case $1 in
    hs_*) echo '*.hsd' ;;
    heaptrack) echo 'ht.*' ;;
    gperf_heap) echo 'gp.*.heap' ;;
    jemalloc_prof) echo 'je.*.heap' ;;
    esac
}

# check_output CONFIG DIR WHAT: warns when the profiler wrote nothing (is it active?).
check_output() {
    pat=$(expected_output "$1")
    [ -n "$pat" ] || return 0
    [ -n "$(find "$2" -type f -name "$pat" 2>/dev/null | head -n 1)" ] && return 0
    echo "compare: warning: '$1' ($3) wrote no $pat in $2: is the profiler active?" >&2
}

# crash CONFIG WHAT STATUS LOG: a crash, signal or timeout; shows the end of the log.
crash() {
    case $3 in
    124) why="timed out" ;;
    *) why="exited with status $3" ;;
    esac
    echo "compare: CRASH: '$1' on $2 $why; log:" >&2
    tail -n 15 "$4" | sed 's/^/    /' >&2
    crashed=1
}

# run_one WORKLOAD CONFIG ROUND: one measured run; appends to $tmp/results
#   workload config round cpu_s wall_s program_rss_kib tree_rss_kib output_bytes
run_one() {
    wl=$1 cfg=$2 round=$3
    out=$tmp/out/$wl.$cfg.$round
    log=$tmp/log.$wl.$cfg.$round
    case $wl in
    churn1) set -- "$churn" -t 1 -n "$CHURN1_OPS" ;;
    churn2) set -- "$churn" -t 2 -n "$CHURN2_OPS" ;;
    pyjson) set -- "$PYTHON" "$pyjson" "$PYJSON_ROUNDS" "$PYJSON_DEPTH" ;;
    esac
    # shellcheck disable=SC2016 # $0 and $@ are the inner shell's
    env PYTHONMALLOC=malloc "$PYTHON" "$tmp/measure.py" "$tmp/m" "$RUN_TIMEOUT" \
        sh -c '. "$0"; prof_run "$@"' "$lib" "$cfg" "$out" "$@" >"$log" 2>&1
    status=$?
    if [ "$status" -ne 0 ]; then
        crash "$cfg" "$wl (round $round)" "$status" "$log"
        printf ' %s=CRASH' "$cfg"
        return
    fi
    read -r _ wall user sys tree <"$tmp/m"
    rss=$(field maxrss_kib <"$log")
    bytes=$(find "$out" -type f -printf '%s\n' | awk '{s += $1} END {printf "%d", s}')
    [ "$round" = 1 ] && check_output "$cfg" "$out" "$wl"
    if [ "$wl" = pyjson ]; then
        sum=$(field checksum <"$log")
        [ -s "$tmp/checksum" ] || echo "$sum" >"$tmp/checksum"
        if [ "$sum" != "$(cat "$tmp/checksum")" ]; then
            echo "compare: MISBEHAVED: '$cfg' pyjson checksum $sum, expected $(cat "$tmp/checksum")" >&2
            crashed=1
        fi
    fi
    cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN {printf "%.6f", u + s}')
    echo "$wl $cfg $round $cpu $wall ${rss:-nan} $tree $bytes" >>"$tmp/results"
    printf ' %s=%.2f' "$cfg" "$cpu"
    rm -rf "$out" "$log"
}

echo "== heapscope vs other profilers: $ROUNDS interleaved rounds of $WORKLOADS"
echo "host: $(nproc) cpus, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)," \
    "$(uname -r), glibc $(getconf GNU_LIBC_VERSION | cut -d' ' -f2), $("$PYTHON" --version 2>&1)," \
    "load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "configurations:$active"
slow=""
for cfg in $active; do is_slow "$cfg" && slow="$slow $cfg"; done
[ -n "$slow" ] && [ "$SLOW_ROUNDS" -lt "$ROUNDS" ] && echo "run in the first $SLOW_ROUNDS round(s) only (~100x slower):$slow"
echo "process-tree CPU seconds per run:"
: >"$tmp/results"
round=1
while [ "$round" -le "$ROUNDS" ]; do
    for wl in $WORKLOADS; do
        case $wl in
        churn1 | churn2 | pyjson) ;;
        *) echo "compare: unknown workload '$wl'" >&2; exit 2 ;;
        esac
        printf '  round %d %-6s' "$round" "$wl"
        for cfg in $active; do
            if is_slow "$cfg" && [ "$round" -gt "$SLOW_ROUNDS" ]; then continue; fi
            run_one "$wl" "$cfg" "$round"
        done
        echo
    done
    round=$((round + 1))
done
timed=$(date +%s)

# Callgrind: instruction counts, deterministic (1 thread, fixed seeds, heapscope's sampler
# seeded, no periodic snapshot). Runs in parallel (counts do not depend on the load); each
# worker claims the next job with mkdir. The longest jobs come first.
: >"$tmp/cg"
cg_job() { # KIND CONFIG [OPS]: KIND churn or pyjson; appends "kind config ops pairs Ir"
    kind=$1 cfg=$2 n=${3:-0}
    out=$tmp/cgout.$kind.$cfg.$n
    log=$tmp/cglog.$kind.$cfg.$n
    if [ "$kind" = churn ]; then
        set -- "$churn" -t 1 -n "$n"
    else
        # shellcheck disable=SC2086 # "rounds depth"
        set -- "$PYTHON" "$pyjson" $CG_PYJSON
    fi
    # shellcheck disable=SC2016 # $0 and $@ are the inner shell's
    env PYTHONMALLOC=malloc PROF_HS_INTERVAL=3600 HEAPSCOPE_SEED=1 \
        timeout -s KILL "$CG_TIMEOUT" sh -c '. "$0"; prof_run "$@"' "$lib" "$cfg" "$tmp/cgdir.$kind.$cfg.$n" \
        valgrind --tool=callgrind --callgrind-out-file="$out" "$@" >"$log" 2>&1
    status=$?
    if [ "$status" -ne 0 ]; then
        crash "$cfg" "$kind under callgrind" "$status" "$log"
        return 1
    fi
    case $cfg in
    passthrough) want=libpassthrough.so ;;
    hs_jemalloc) want="libheapscope.so libjemalloc.so" ;;
    hs_*) want=libheapscope.so ;;
    jemalloc*) want=libjemalloc.so ;;
    tcmalloc* | gperf_heap) want=libtcmalloc.so ;;
    *) want="" ;;
    esac
    for w in $want; do
        grep -q "ob=.*$w" "$out" || echo "compare: warning: callgrind saw no code of $w in '$cfg' ($kind)" >&2
    done
    ir=$(awk '/^(summary|totals):/ {print $2; exit}' "$out")
    pairs=$(field pairs <"$log")
    echo "$kind $cfg $n ${pairs:-0} $ir" >>"$tmp/cg"
    rm -rf "$out" "$tmp/cgdir.$kind.$cfg.$n"
}
cg_worker() {
    i=0
    while read -r kind cfg n; do
        i=$((i + 1))
        mkdir "$tmp/claim.$i" 2>/dev/null || continue
        cg_job "$kind" "$cfg" "$n" || echo crash >"$tmp/cgcrash.$i"
    done <"$tmp/cgjobs"
}
have_cg=0
cgwl=""
if [ "$CALLGRIND" = 1 ] && command -v valgrind >/dev/null 2>&1; then
    have_cg=1
    case " $WORKLOADS " in *" churn1 "* | *" churn2 "*) cgwl=churn ;; esac
    case " $WORKLOADS " in *" pyjson "*) cgwl="$cgwl pyjson" ;; esac
    # Longest first: gperftools' profiler, then rate 1, then the rest; pyjson before churn.
    for pass in slow rate1 rest; do
        for kind in $cgwl; do
            for cfg in $active; do
                [ "$cfg" = heaptrack ] && continue
                case $pass:$cfg in
                slow:gperf_heap | rate1:hs_rate1) ;;
                rest:gperf_heap | rest:hs_rate1 | slow:* | rate1:*) continue ;;
                esac
                if [ "$kind" = churn ]; then
                    for n in $CG_OPS; do echo "churn $cfg $n"; done | sort -k3,3nr
                else
                    echo "pyjson $cfg 0"
                fi
            done
        done
    done >"$tmp/cgjobs"
    echo "== callgrind: $(wc -l <"$tmp/cgjobs") runs, $CG_JOBS at a time (churn -t 1 -n $(echo "$CG_OPS" | tr ' ' '/');" \
        "pyjson.py $CG_PYJSON)"
    w=1
    while [ "$w" -le "$CG_JOBS" ]; do
        cg_worker &
        w=$((w + 1))
    done
    wait
    ls "$tmp"/cgcrash.* >/dev/null 2>&1 && crashed=1
fi
finished=$(date +%s)
echo "time: timed runs $((timed - started)) s, callgrind $((finished - timed)) s"

# The tables. Ratios: per round (the runs of one round are neighbours in time), median and
# min-max over the rounds both configurations ran.
echo
awk -v workloads="$WORKLOADS" -v have_cg="$have_cg" -v cgwl="$cgwl" \
    -v c1="$CHURN1_OPS" -v c2="$CHURN2_OPS" -v pr="$PYJSON_ROUNDS" -v pd="$PYJSON_DEPTH" \
    -v cgops="$CG_OPS" -v cgpy="$CG_PYJSON" -v rounds="$ROUNDS" '
function num(x) { return x != "" && x != "nan" }
function sortn(a, n,   i, j, t) { for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t } }
# stat(key): median, min and max of vals[key, 1..cnt[key]] into S_med, S_min, S_max.
function stat(key,   n, i, a) {
    n = cnt[key]; S_n = n
    if (n == 0) { S_med = S_min = S_max = "nan"; return 0 }
    for (i = 1; i <= n; i++) a[i] = vals[key, i]
    sortn(a, n); S_min = a[1]; S_max = a[n]
    S_med = (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    return n
}
function add(key, v) { vals[key, ++cnt[key]] = v }
# ratio(w, m, a, b): per-round m[a]/m[b] (m: cpu or wall) into key "ratio"; returns count.
function ratio(w, m, a, b,   r, k) {
    k = "r" SUBSEP w SUBSEP m SUBSEP a SUBSEP b
    if (!(k in done)) {
        done[k] = 1
        for (r = 1; r <= rounds; r++)
            if (((w, a, r) in cpu) && ((w, b, r) in cpu)) {
                if (m == "cpu" && cpu[w, b, r] > 0) add(k, cpu[w, a, r] / cpu[w, b, r])
                if (m == "wall" && wall[w, b, r] > 0) add(k, wall[w, a, r] / wall[w, b, r])
                if (m == "tp_cpu" && cpu[w, a, r] > 0) add(k, cpu[w, b, r] / cpu[w, a, r])
                if (m == "tp_wall" && wall[w, a, r] > 0) add(k, wall[w, b, r] / wall[w, a, r])
            }
    }
    return stat(k)
}
function fmt3(x) { return num(x) ? sprintf("%.3f", x) : "n/a" }
function rfmt(w, m, a, b) { if (a == b || !ratio(w, m, a, b)) return ""; return sprintf("%.3f (%.3f-%.3f)", S_med, S_min, S_max) }
function human(b) { if (!num(b)) return "n/a"; if (b >= 1048576) return sprintf("%.1f MiB", b / 1048576); if (b >= 1024) return sprintf("%.1f KiB", b / 1024); return sprintf("%d B", b) }
function mib(k) { return num(k) ? sprintf("%.1f", k / 1024) : "n/a" }
function med(w, c, what,   k, r) {
    k = "m" SUBSEP w SUBSEP c SUBSEP what
    if (!(k in done)) {
        done[k] = 1
        for (r = 1; r <= rounds; r++) if ((w, c, r) in cpu) {
            if (what == "cpu") add(k, cpu[w, c, r]); else if (what == "wall") add(k, wall[w, c, r])
            else if (what == "rss") { if (num(rss[w, c, r])) add(k, rss[w, c, r]) }
            else if (what == "tree") { if (num(tree[w, c, r])) add(k, tree[w, c, r]) } else if (what == "bytes") add(k, bytes[w, c, r])
            else if (what == "bpm" && wall[w, c, r] > 0) add(k, bytes[w, c, r] * 60 / wall[w, c, r])
        }
    }
    stat(k); return S_med
}
function verdict(ok, known) { return known ? (ok ? "PASS" : "MISS") : "n/a" }
# Callgrind figures: cgpp[c] instructions per pair (churn), cgir[c] per run (pyjson).
function cgval(kind, c) { return kind == "churn" ? ((c in cgpp) ? cgpp[c] : "nan") : ((c in cgir) ? cgir[c] : "nan") }
FILENAME ~ /configs$/ { split($0, f, "\t"); order[++ncfg] = f[1]; label[f[1]] = f[2]; base[f[1]] = f[3]; next }
FILENAME ~ /results$/ { w = $1; c = $2; r = $3; cpu[w, c, r] = $4; wall[w, c, r] = $5; rss[w, c, r] = $6; tree[w, c, r] = $7; bytes[w, c, r] = $8; ran[w, c] = 1; next }
FILENAME ~ /cg$/ {
    if ($1 == "pyjson") cgir[$2] = $5
    else { k = $2; if (!(k in p0) || $3 < n0[k]) { n0[k] = $3; p0[k] = $4; i0[k] = $5 } if (!(k in p1) || $3 > n1[k]) { n1[k] = $3; p1[k] = $4; i1[k] = $5 } }
    next
}
END {
    for (k in p1) if (p1[k] > p0[k]) cgpp[k] = (i1[k] - i0[k]) / (p1[k] - p0[k])
    nw = split(workloads, wls, " ")
    for (i = 1; i <= nw; i++) {
        w = wls[i]
        if (w == "churn1") { units = c1; desc = "churn -t 1 -n " c1 " (" c1 " malloc/free operations)"; unit = "CPU ns/op"; scale = 1e9 / units; kind = "churn" }
        if (w == "churn2") { units = 2 * c2; desc = "churn -t 2 -n " c2 " (" 2 * c2 " operations, 2 threads)"; unit = "CPU ns/op"; scale = 1e9 / units; kind = "churn" }
        if (w == "pyjson") { units = pr; desc = "PYTHONMALLOC=malloc python3 pyjson.py " pr " " pd " (" pr " rounds)"; unit = "CPU s/round"; scale = 1 / units; kind = "pyjson" }
        print "### " w ": " desc
        print ""
        if (kind == "churn") cgh = "| instructions per malloc+free pair (callgrind, 1 thread) | instructions on/off"
        else cgh = "| instructions per run (callgrind, pyjson.py " cgpy ") | instructions vs none | instructions on/off"
        print "| configuration | " unit " median (min-max) | CPU vs none | CPU on/off vs baseline | CPU vs passthrough | wall s | peak RSS MiB | process tree peak RSS MiB | output per run | output per minute " cgh " |"
        print "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:" (kind == "churn" ? "|---:|" : "|---:|---:|")
        for (j = 1; j <= ncfg; j++) {
            c = order[j]
            if (!((w, c) in ran)) { printf "| %s | no run |\n", label[c]; continue }
            m = med(w, c, "cpu"); n = S_n
            cpuf = sprintf(kind == "churn" ? "%.1f (%.1f-%.1f)" : "%.3f (%.3f-%.3f)", m * scale, S_min * scale, S_max * scale)
            if (n < rounds) cpuf = cpuf " [" n " run" (n > 1 ? "s" : "") "]"
            b = base[c]
            onoff = (b == "none" || c == b) ? "" : rfmt(w, "cpu", c, b)
            if (onoff != "") onoff = onoff " vs " b
            vp = (c ~ /^hs_/ && c != "hs_jemalloc") ? rfmt(w, "cpu", c, "passthrough") : ""
            cg = cgval(kind, c); cgb = cgval(kind, b)
            cgcol = num(cg) ? (kind == "churn" ? sprintf("%.1f", cg) : sprintf("%.1f M", cg / 1e6)) : (c == "heaptrack" ? "skipped" : "n/a")
            cgon = (c != b && num(cg) && num(cgb) && cgb > 0) ? sprintf("%.3f vs %s", cg / cgb, b) : ""
            cgn = cgval(kind, "none")
            cgvn = (num(cg) && num(cgn) && cgn > 0) ? sprintf("%.3f", cg / cgn) : ""
            printf "| %s | %s | %s | %s | %s | %.2f | %s | %s | %s | %s/min | %s | %s%s\n", label[c], cpuf,
                rfmt(w, "cpu", c, "none"), onoff, vp, med(w, c, "wall"), mib(med(w, c, "rss")),
                mib(med(w, c, "tree")), human(med(w, c, "bytes")), human(med(w, c, "bpm")), cgcol,
                (kind == "pyjson" ? cgvn " | " : ""), cgon " |"
        }
        print ""
    }
    print "Ratios are per round (runs of one round are neighbours in time): median (min-max over the rounds). CPU is user+sys of the whole process tree (heaptrack: its script, heaptrack_interpret and zstd included); peak RSS is the program'"'"'s own (getrusage in the program), the process tree column the largest process (heaptrack: its interpreter). Output: bytes the profiler wrote per run (heapscope: its dump with the exit snapshot; heaptrack: ht.zst; gperftools: gp.*.heap; jemalloc: je.*.heap), per minute of that run'"'"'s wall time. heaptrack is not run under callgrind (a shell script, its interpreter and the program are three processes)."
    print ""
    print "### targets"
    print ""
    print "| target | workload | measured | result |"
    print "|---|---|---:|:---:|"
    for (i = 1; i <= nw; i++) {
        w = wls[i]
        k = ratio(w, "cpu", "hs_rate1", "heaptrack")
        r1 = med(w, "hs_rate1", "cpu"); ht = med(w, "heaptrack", "cpu"); no = med(w, "none", "cpu")
        ratio(w, "cpu", "hs_rate1", "heaptrack")
        ov = (num(r1) && num(ht) && num(no) && ht > no) ? sprintf("; overhead (rate1-none)/(heaptrack-none) %.3f", (r1 - no) / (ht - no)) : ""
        printf "| (a) heapscope rate 1 CPU <= 1/3 of heaptrack'"'"'s (whole process tree) | %s | %s%s | %s |\n", w,
            k ? sprintf("%.3f (%.3f-%.3f)", S_med, S_min, S_max) : "n/a", ov, verdict(S_med <= 1 / 3, k)
    }
    for (i = 1; i <= nw; i++) {
        w = wls[i]
        if (w != "churn1" && w != "churn2") continue
        k = ratio(w, "tp_cpu", "hs_default", "passthrough")
        printf "| (b) default rate >= 0.97x passthrough, ops per CPU-s | %s | %s | %s |\n", w,
            k ? sprintf("%.3f (%.3f-%.3f)", S_med, S_min, S_max) : "n/a", verdict(S_med >= 0.97, k)
        k = ratio(w, "tp_wall", "hs_default", "passthrough")
        printf "| (b) default rate >= 0.97x passthrough, ops/s | %s | %s | %s |\n", w,
            k ? sprintf("%.3f (%.3f-%.3f)", S_med, S_min, S_max) : "n/a", verdict(S_med >= 0.97, k)
    }
    k = ("hs_default" in cgpp) && ("passthrough" in cgpp)
    printf "| (b) default rate <= 15 extra instructions per malloc+free pair vs passthrough | churn, callgrind | %s | %s |\n",
        k ? sprintf("%+.1f", cgpp["hs_default"] - cgpp["passthrough"]) : "n/a", verdict(k && cgpp["hs_default"] - cgpp["passthrough"] <= 15, k)
    # (c): on/off overhead at the same mean interval, and with every allocation recorded.
    np = split("hs_jemalloc:jemalloc:jemalloc_prof:jemalloc:heapscope on jemalloc vs jemalloc prof (512 KiB);hs_default:none:tcmalloc_sample:tcmalloc:heapscope default vs tcmalloc sampling (512 KiB);hs_rate1:none:gperf_heap:tcmalloc:heapscope rate 1 vs gperftools heap profiler (every allocation)", pairs, ";")
    for (p = 1; p <= np; p++) {
        split(pairs[p], q, ":")
        for (i = 1; i <= nw; i++) {
            w = wls[i]
            ka = ratio(w, "cpu", q[1], q[2]); ma = S_med
            kb = ratio(w, "cpu", q[3], q[4]); mb = S_med
            printf "| (c) %s: on/off CPU %s/%s vs %s/%s | %s | %s vs %s | %s |\n", q[5], q[1], q[2], q[3], q[4], w,
                ka ? sprintf("%.3f", ma) : "n/a", kb ? sprintf("%.3f", mb) : "n/a", verdict(ma < mb, ka && kb)
        }
        nk = split(cgwl, kinds, " ")
        for (i = 1; i <= nk; i++) {
            kd = kinds[i]
            a1 = cgval(kd, q[1]); a2 = cgval(kd, q[2]); b1 = cgval(kd, q[3]); b2 = cgval(kd, q[4])
            kk = num(a1) && num(a2) && num(b1) && num(b2) && a2 > 0 && b2 > 0
            printf "| (c) %s: on/off instructions | %s, callgrind | %s vs %s | %s |\n", q[5], kd,
                kk ? sprintf("%.3f", a1 / a2) : "n/a", kk ? sprintf("%.3f", b1 / b2) : "n/a", verdict(kk && a1 / a2 < b1 / b2, kk)
        }
    }
    for (i = 1; i <= nw; i++) {
        w = wls[i]
        a = med(w, "hs_default", "rss"); b = med(w, "none", "rss")
        k = num(a) && num(b)
        printf "| (d) RSS overhead <= 8 MiB at the default rate (vs no profiler) | %s | %s | %s |\n", w,
            k ? sprintf("%+.1f MiB", (a - b) / 1024) : "n/a", verdict(k && (a - b) / 1024 <= 8, k)
    }
}' "$tmp/configs" "$tmp/results" "$tmp/cg"
echo
echo "compare.sh took $(($(date +%s) - started)) s"

if [ "$crashed" != 0 ]; then
    echo "compare: at least one run crashed, hung or misbehaved (see above)" >&2
    exit 1
fi
exit 0
