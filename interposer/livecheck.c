/* livecheck.c - runs the same leak detector as `heapscope report` on the
 * recent snapshots, so a long-running server says it is leaking
 * while it runs. Run by the snapshot lock's holder: no locks, no malloc (scratch
 * comes from mmap once), and at most one warning per window. The top site is
 * named from its object's symbol table (elfsym.c); the offline report adds
 * source lines and inline frames. */
#include "livecheck.h"

#include <dlfcn.h>
#include <inttypes.h>
#include <link.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "arena.h"
#include "capture.h"
#include "elfsym.h"
#include "snapshot.h"
#include "hs_format.h"
#include "hs_leak.h"
#include "log.h"
#include "state.h"
#include "tables.h"

static hs_point_t points[HS_LEAK_MAX_POINTS];
static double freed_at[HS_LEAK_MAX_POINTS]; /* cumulative estimated bytes freed, per point */
static size_t npoints;
static double *scratch;
static size_t scratch_len;
static double last_alert_s = -1;
static double base_time_s = -1; /* when the per-stack baselines were taken */
static uint32_t series_gen;

/* Per-stack in-use at the baseline time, indexed by stack id; mapped lazily. */
static double *base_inuse;

static double stack_inuse(hs_stack_t *s)
{
    return hs_stack_load_f64(&s->est_alloc_bytes) - hs_stack_load_f64(&s->est_free_bytes);
}

static void take_baselines(double now_s)
{
    uint32_t n = hs_stack_count();
    for (uint32_t id = 1; id <= n; id++) {
        hs_stack_t *s = hs_stack_by_id(id);
        base_inuse[id] = s ? stack_inuse(s) : 0;
    }
    base_time_s = now_s;
}

static int is_library(const char *path)
{
    return !path || strstr(path, "/libc.so") || strstr(path, "/libstdc++") || strstr(path, "libheapscope") ||
           strstr(path, "/ld-linux");
}

/* "function (object+0xoffset)" for the first frame outside the C and C++
 * runtimes, or the first frame when every frame is in them. The function
 * comes from the object's own symbol table (static functions too), else
 * from dladdr (exported symbols only). */
static void name_stack(const hs_stack_t *s, char *out, size_t len)
{
    snprintf(out, len, "unknown site");
    for (int pass = 0; pass < 2; pass++) {
        for (uint32_t f = 0; f < s->depth; f++) {
            Dl_info info;
            struct link_map *lm = NULL;
            uintptr_t pc = s->frames[f] - 1;
            if (!dladdr1((void *)pc, &info, (void **)&lm, RTLD_DL_LINKMAP) ||
                (pass == 0 && is_library(info.dli_fname)))
                continue;
            const char *obj = info.dli_fname ? strrchr(info.dli_fname, '/') : NULL;
            obj = obj ? obj + 1 : (info.dli_fname ? info.dli_fname : "?");
            char fn[256];
            const char *file = lm && lm->l_name && lm->l_name[0] ? lm->l_name : "/proc/self/exe";
            const char *name = info.dli_sname;
            if (lm && hs_elfsym_name(file, (uint64_t)(pc - lm->l_addr), fn, sizeof(fn)) == 0)
                name = fn;
            if (name)
                snprintf(out, len, "%s (%s+0x%" PRIxPTR ")", name, obj, pc - (uintptr_t)info.dli_fbase);
            else
                snprintf(out, len, "%s+0x%" PRIxPTR, obj, pc - (uintptr_t)info.dli_fbase);
            return;
        }
    }
}

/* HEAPSCOPE_LOG when set, else stderr while it is still the program's. */
static void emit_line(const char *line) { hs_log_finding("%s", line); }

static const char *human(double bytes, char *buf, size_t len)
{
    /* Integer formatting only: glibc's %f may call malloc. */
    const char *units[] = {"B", "KiB", "MiB", "GiB"};
    int u = 0;
    while (fabs(bytes) >= 10240 && u < 3) {
        bytes /= 1024;
        u++;
    }
    snprintf(buf, len, "%lld %s", (long long)llround(bytes), units[u]);
    return buf;
}

void hs_livecheck_after_snapshot(hs_enc_t *enc, uint32_t file_gen, double est_inuse, double est_freed)
{
    if (!hs_cfg.leak_window_ms)
        return;
    double window_s = (double)hs_cfg.leak_window_ms / 1000.0;
    double now_s = (double)(hs_now_mono_ns() - hs_identity.start_mono_ns) / 1e9;
    if (!scratch) {
        scratch_len = hs_leak_scratch_needed(HS_LEAK_MAX_POINTS);
        scratch = hs_map(scratch_len * sizeof(double));
        base_inuse = hs_map(sizeof(double) * HS_STACK_MAX_IDS);
        if (!scratch || !base_inuse) {
            hs_cfg.leak_window_ms = 0; /* no memory: the live check stays off */
            return;
        }
    }
    if (series_gen != file_gen) {
        /* A new dump (fork child): start the series afresh. */
        series_gen = file_gen;
        npoints = 0;
        last_alert_s = -1;
        base_time_s = -1;
    }
    /* Keep the points of the window (plus one older); halve when full. */
    size_t drop = 0;
    while (drop + 1 < npoints && points[drop + 1].t < now_s - window_s)
        drop++;
    if (drop) {
        memmove(points, points + drop, (npoints - drop) * sizeof(points[0]));
        memmove(freed_at, freed_at + drop, (npoints - drop) * sizeof(freed_at[0]));
        npoints -= drop;
    }
    if (npoints == HS_LEAK_MAX_POINTS) {
        for (size_t i = 0; i < HS_LEAK_MAX_POINTS / 2; i++) {
            points[i] = points[2 * i];
            freed_at[i] = freed_at[2 * i];
        }
        npoints = HS_LEAK_MAX_POINTS / 2;
    }
    freed_at[npoints] = est_freed;
    points[npoints++] = (hs_point_t){now_s, est_inuse};
    if (base_time_s < 0 || now_s - base_time_s >= window_s)
        take_baselines(now_s);
    if (last_alert_s >= 0 && now_s - last_alert_s < window_s)
        return; /* not more than once per window */

    /* min_span_s: a warm-up still climbing, or the rising half of a slow
     * sawtooth, looks like a leak until the series covers the whole window
     * (seen: a 4 s sawtooth flagged by a 6 s window at half span). */
    /* Turnover, as in the report: bytes freed within the window, at most
     * what was live at its start (see hs_leak_sampling_noise). */
    size_t first = 0;
    while (first + 1 < npoints && points[first].t < now_s - window_s)
        first++;
    double turnover = est_freed - freed_at[first];
    if (turnover > points[first].v)
        turnover = points[first].v;
    hs_leak_params_t params = {.window_s = window_s,
                               .min_span_s = window_s * 0.9,
                               .threshold_bytes = (double)hs_cfg.leak_threshold,
                               .noise_bytes = hs_leak_sampling_noise(points, npoints, window_s,
                                                                     (double)hs_cfg.sample_rate, turnover)};
    hs_leak_result_t res;
    if (hs_leak_analyze(points, npoints, &params, scratch, scratch_len, &res) || !res.leaking)
        return;

    /* The stack that grew the most since the baselines. */
    hs_stack_t *top = NULL;
    double top_growth = 0;
    uint32_t n = hs_stack_count();
    for (uint32_t id = 1; id <= n; id++) {
        hs_stack_t *s = hs_stack_by_id(id);
        double g = s ? stack_inuse(s) - base_inuse[id] : 0;
        if (s && g > top_growth) {
            top_growth = g;
            top = s;
        }
    }
    /* As in the report, a leak needs a site to blame: one stack must have
     * grown by more than sampling noise (nine samples' worth) and a tenth of
     * the threshold since the baselines. A process-wide drift that no stack
     * carries (a table whose sampled entries come and go) is not reported. */
    double need = (double)hs_cfg.leak_threshold / 10;
    if (need < 9.0 * (double)hs_cfg.sample_rate)
        need = 9.0 * (double)hs_cfg.sample_rate;
    if (!top || top_growth < need)
        return;
    last_alert_s = now_s;
    char site[400], rate_buf[32], growth_buf[32], line[1024];
    name_stack(top, site, sizeof(site));
    snprintf(line, sizeof(line),
             "leak suspected in %s (pid %u): the sampled heap grew %s over the last %lld s (%s/s); top growing "
             "site: %s",
             hs_identity.program, hs_identity.pid, human(res.growth, growth_buf, sizeof(growth_buf)),
             (long long)llround(res.t1 - res.t0), human(res.slope, rate_buf, sizeof(rate_buf)), site);
    emit_line(line);
    size_t rec = hs_enc_record_begin(enc, HS_REC_LEAK);
    hs_enc_u64(enc, hs_now_mono_ns());
    hs_enc_f64(enc, res.slope);
    hs_enc_f64(enc, res.growth);
    hs_enc_f64(enc, res.t1 - res.t0);
    hs_enc_f64(enc, res.confidence >= 0 && res.confidence <= 1 ? res.confidence : 0);
    /* The stack is in the file only if it has a row; 0 otherwise. */
    hs_enc_u32(enc, top && top->written && top->file_gen == file_gen ? top->id : 0);
    hs_enc_u32(enc, 0);
    hs_enc_str(enc, line, strlen(line));
    hs_enc_record_end(enc, rec);
}
