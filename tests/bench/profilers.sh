# shellcheck shell=sh
# tests/bench/profilers.sh: the profiler configurations the benchmarks compare, as a
# sourceable POSIX sh library (tests/bench/compare.sh, tests/bench/redis.sh):
#
#   . tests/bench/profilers.sh
#   for cfg in $prof_configs; do
#       prof_available "$cfg" || continue          # one line on stderr says why not
#       prof_run "$cfg" "$outdir/$cfg" ./prog args  # CMD's exit status
#       echo "$(prof_label "$cfg") vs $(prof_baseline "$cfg")"
#   done
#
# Configurations (prof_label gives the long name):
#   none             no preload
#   passthrough      $BUILD/bench/libpassthrough.so: forwards every entry point, records nothing
#   hs_default       heapscope at its default rate (HEAPSCOPE_SAMPLE_RATE unset: 512 KiB)
#   hs_64k           heapscope, HEAPSCOPE_SAMPLE_RATE=65536
#   hs_rate1         heapscope, HEAPSCOPE_SAMPLE_RATE=1 (every allocation)
#   jemalloc         LD_PRELOAD libjemalloc.so.2
#   hs_jemalloc      heapscope (default rate) on top of jemalloc: LD_PRELOAD="libheapscope.so
#                    libjemalloc.so.2"; heapscope resolves malloc with dlsym(RTLD_NEXT), which
#                    finds jemalloc's
#   heaptrack        Debian's heaptrack (every allocation), `heaptrack -o $OUTDIR/ht CMD`: the
#                    script, its heaptrack_interpret process and zstd run beside CMD, so measure
#                    the CPU of the whole process tree (they are waited for: RUSAGE_CHILDREN of
#                    the caller counts them). heaptrack prints a few lines of its own on stdout
#   tcmalloc         LD_PRELOAD libtcmalloc.so.4 (gperftools)
#   tcmalloc_sample  tcmalloc with TCMALLOC_SAMPLE_PARAMETER=524288 (its allocation sampler)
#   gperf_heap       tcmalloc with HEAPPROFILE=$OUTDIR/gp: gperftools' heap profiler, records
#                    every allocation, writes gp.NNNN.heap every 1 GiB allocated and at exit
#   jemalloc_prof    jemalloc with MALLOC_CONF=prof:true,lg_prof_sample:19,prof_final:true,
#                    prof_prefix:$OUTDIR/je (mean sample interval 512 KiB as heapscope's default;
#                    prof_final writes je.<pid>.0.f.heap at exit, as heapscope writes its dump)
#
# Every configuration starts CMD with LD_PRELOAD, MALLOC_CONF, HEAPPROFILE,
# TCMALLOC_SAMPLE_PARAMETER and HEAPSCOPE_SAMPLE_RATE/OUTPUT/INTERVAL/DISABLE taken out of the
# environment and then set as it needs. heapscope's interval is its default (30 s) unless
# PROF_HS_INTERVAL is set. Paths: BUILD (default build, relative to the working directory at
# the call), PROF_JEMALLOC, PROF_TCMALLOC, PROF_HEAPTRACK (the heaptrack script).

prof_configs=${prof_configs:-${PROF_CONFIGS:-none passthrough hs_default hs_64k hs_rate1 jemalloc hs_jemalloc heaptrack tcmalloc tcmalloc_sample gperf_heap jemalloc_prof}}
PROF_JEMALLOC=${PROF_JEMALLOC:-/usr/lib/x86_64-linux-gnu/libjemalloc.so.2}
PROF_TCMALLOC=${PROF_TCMALLOC:-/usr/lib/x86_64-linux-gnu/libtcmalloc.so.4}
PROF_HEAPTRACK=${PROF_HEAPTRACK:-heaptrack}

# _prof_build: the build directory as an absolute path.
_prof_build() {
    case ${BUILD:-build} in
    /*) echo "${BUILD:-build}" ;;
    *) echo "$(pwd)/${BUILD:-build}" ;;
    esac
}

# prof_label CONFIG: a human name for tables.
prof_label() {
    case $1 in
    none) echo "no profiler (glibc)" ;;
    passthrough) echo "pass-through interposer (floor)" ;;
    hs_default) echo "heapscope, default rate (512 KiB)" ;;
    hs_64k) echo "heapscope, rate 64 KiB" ;;
    hs_rate1) echo "heapscope, rate 1 (every allocation)" ;;
    jemalloc) echo "jemalloc alone" ;;
    hs_jemalloc) echo "heapscope default rate on jemalloc" ;;
    heaptrack) echo "heaptrack (every allocation)" ;;
    tcmalloc) echo "tcmalloc alone" ;;
    tcmalloc_sample) echo "tcmalloc sampling 512 KiB" ;;
    gperf_heap) echo "gperftools heap profiler (every allocation)" ;;
    jemalloc_prof) echo "jemalloc prof, lg_prof_sample 19 (512 KiB)" ;;
    *) echo "$1" ;;
    esac
}

# prof_baseline CONFIG: the configuration CONFIG's on/off overhead ratio is taken against
# (the same allocator without the profiler). For hs_* the pass-through floor is worth
# showing beside it.
prof_baseline() {
    case $1 in
    hs_jemalloc | jemalloc_prof) echo jemalloc ;;
    tcmalloc_sample | gperf_heap) echo tcmalloc ;;
    *) echo none ;;
    esac
}

# _prof_file PATH CONFIG: fails with a reason when PATH is not a file.
_prof_file() {
    [ -f "$1" ] && return 0
    echo "profilers: $2 unavailable: $1 not found" >&2
    return 1
}

# prof_available CONFIG: 0 when CONFIG can run here; otherwise one line on stderr, 1.
prof_available() {
    _pa_build=$(_prof_build)
    case $1 in
    none) return 0 ;;
    passthrough) _prof_file "$_pa_build/bench/libpassthrough.so" "$1" ;;
    hs_default | hs_64k | hs_rate1) _prof_file "$_pa_build/libheapscope.so" "$1" ;;
    jemalloc) _prof_file "$PROF_JEMALLOC" "$1" ;;
    hs_jemalloc) _prof_file "$_pa_build/libheapscope.so" "$1" && _prof_file "$PROF_JEMALLOC" "$1" ;;
    jemalloc_prof)
        _prof_file "$PROF_JEMALLOC" "$1" || return 1
        # A jemalloc built without --enable-prof says "Invalid conf pair: prof:true".
        _pa_err=$(env LD_PRELOAD="$PROF_JEMALLOC" MALLOC_CONF=prof:true true 2>&1)
        [ -z "$_pa_err" ] && return 0
        echo "profilers: $1 unavailable: this jemalloc has no profiling ($_pa_err)" >&2
        return 1 ;;
    tcmalloc | tcmalloc_sample | gperf_heap) _prof_file "$PROF_TCMALLOC" "$1" ;;
    heaptrack)
        if ! command -v "$PROF_HEAPTRACK" >/dev/null 2>&1; then
            echo "profilers: $1 unavailable: $PROF_HEAPTRACK not installed (Debian package heaptrack)" >&2
            return 1
        fi ;;
    *)
        echo "profilers: unknown configuration '$1'" >&2
        return 1 ;;
    esac
}

# _prof_env [VAR=VALUE...] CMD [ARGS...]: env with the profilers' variables taken out first.
_prof_env() {
    if [ -n "${PROF_HS_INTERVAL:-}" ]; then
        set -- HEAPSCOPE_INTERVAL="$PROF_HS_INTERVAL" "$@"
    fi
    env -u LD_PRELOAD -u MALLOC_CONF -u HEAPPROFILE -u TCMALLOC_SAMPLE_PARAMETER \
        -u HEAPSCOPE_SAMPLE_RATE -u HEAPSCOPE_OUTPUT -u HEAPSCOPE_INTERVAL -u HEAPSCOPE_DISABLE "$@"
}

# prof_run CONFIG OUTDIR CMD [ARGS...]: runs CMD under CONFIG, the profiler's files in OUTDIR
# (created); returns CMD's exit status (heaptrack's script passes it on).
prof_run() {
    _pr_cfg=$1
    _pr_out=$2
    shift 2
    mkdir -p "$_pr_out" || return 1
    case $_pr_out in /*) ;; *) _pr_out=$(pwd)/$_pr_out ;; esac
    _pr_build=$(_prof_build)
    _pr_hs=$_pr_build/libheapscope.so
    case $_pr_cfg in
    none) _prof_env "$@" ;;
    passthrough) _prof_env LD_PRELOAD="$_pr_build/bench/libpassthrough.so" "$@" ;;
    hs_default) _prof_env LD_PRELOAD="$_pr_hs" HEAPSCOPE_OUTPUT="$_pr_out/hs.%p.hsd" "$@" ;;
    hs_64k) _prof_env LD_PRELOAD="$_pr_hs" HEAPSCOPE_SAMPLE_RATE=65536 HEAPSCOPE_OUTPUT="$_pr_out/hs.%p.hsd" "$@" ;;
    hs_rate1) _prof_env LD_PRELOAD="$_pr_hs" HEAPSCOPE_SAMPLE_RATE=1 HEAPSCOPE_OUTPUT="$_pr_out/hs.%p.hsd" "$@" ;;
    jemalloc) _prof_env LD_PRELOAD="$PROF_JEMALLOC" "$@" ;;
    hs_jemalloc) _prof_env LD_PRELOAD="$_pr_hs $PROF_JEMALLOC" HEAPSCOPE_OUTPUT="$_pr_out/hs.%p.hsd" "$@" ;;
    heaptrack) _prof_env "$PROF_HEAPTRACK" -o "$_pr_out/ht" "$@" ;;
    tcmalloc) _prof_env LD_PRELOAD="$PROF_TCMALLOC" "$@" ;;
    tcmalloc_sample) _prof_env LD_PRELOAD="$PROF_TCMALLOC" TCMALLOC_SAMPLE_PARAMETER=524288 "$@" ;;
    gperf_heap) _prof_env LD_PRELOAD="$PROF_TCMALLOC" HEAPPROFILE="$_pr_out/gp" "$@" ;;
    jemalloc_prof)
        _prof_env LD_PRELOAD="$PROF_JEMALLOC" \
            MALLOC_CONF="prof:true,lg_prof_sample:19,prof_final:true,prof_prefix:$_pr_out/je" "$@" ;;
    *)
        echo "profilers: unknown configuration '$_pr_cfg'" >&2
        return 127 ;;
    esac
}
