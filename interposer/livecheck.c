/* livecheck.c - runs the same leak detector as `heapscope report` on the
 * recent snapshots, with the report's blame rule (common/hs_leak.h) on each
 * stack's growth, so a long-running server says it is leaking while it
 * runs. Run by the snapshot lock's holder: no locks, no malloc (scratch
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
#include "clock.h"
#include "config.h"
#include "elfsym.h"
#include "encode.h"
#include "hs_format.h"
#include "hs_leak.h"
#include "identity.h"
#include "hs_text.h"
#include "log.h"
#include "tables.h"

static hs_point_t points[HS_LEAK_MAX_POINTS];
static double freed_at[HS_LEAK_MAX_POINTS]; /* cumulative estimated bytes freed, per point */
static size_t npoints;
static double *scratch;
static size_t scratch_len;
static double last_alert_s = -1;
static int unavailable;         /* no memory for the scratch: the live check stays off (hs_cfg is read-only) */
static double base_time_s = -1; /* when the per-stack baselines were taken */
static uint32_t series_gen;

/* Per-stack in-use and cumulative estimated bytes freed at the baseline
 * time, indexed by stack id; mapped lazily. */
static double *base_inuse, *base_freed;

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
        base_freed[id] = s ? hs_stack_load_f64(&s->est_free_bytes) : 0;
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
            if (!dladdr1((void *)pc, &info, (void **)&lm, RTLD_DL_LINKMAP) || (pass == 0 && is_library(info.dli_fname)))
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

void hs_livecheck_after_snapshot(hs_enc_t *enc, uint32_t file_gen, double est_inuse, double est_freed)
{
    if (!hs_cfg.leak_window_ms || unavailable)
        return;
    double window_s = (double)hs_cfg.leak_window_ms / 1000.0;
    double now_s = (double)(hs_now_mono_ns() - hs_identity.start_mono_ns) / 1e9;
    if (!scratch) {
        scratch_len = hs_leak_scratch_needed(HS_LEAK_MAX_POINTS);
        scratch = hs_map(scratch_len * sizeof(double));
        base_inuse = hs_map(sizeof(double) * HS_STACK_MAX_IDS);
        base_freed = hs_map(sizeof(double) * HS_STACK_MAX_IDS);
        if (!scratch || !base_inuse || !base_freed) {
            unavailable = 1;
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
    /* Turnover, the report's rule (hs_leak_turnover). */
    size_t first = 0;
    while (first + 1 < npoints && points[first].t < now_s - window_s)
        first++;
    double turnover = hs_leak_turnover(est_freed - freed_at[first], points[first].v);
    hs_leak_params_t params = {
        .window_s = window_s,
        .min_span_s = window_s * 0.9,
        .threshold_bytes = (double)hs_cfg.leak_threshold,
        .noise_bytes = hs_leak_sampling_noise(points, npoints, window_s, (double)hs_cfg.sample_rate, turnover)};
    hs_leak_result_t res;
    if (hs_leak_analyze(points, npoints, &params, scratch, scratch_len, &res) || !res.leaking)
        return;

    /* The stack that grew the most since the baselines. */
    hs_stack_t *top = NULL;
    double top_growth = 0;
    uint32_t n = hs_stack_count(), top_id = 0;
    for (uint32_t id = 1; id <= n; id++) {
        hs_stack_t *s = hs_stack_by_id(id);
        double g = s ? stack_inuse(s) - base_inuse[id] : 0;
        if (s && g > top_growth) {
            top_growth = g;
            top = s;
            top_id = id;
        }
    }
    /* The report's blame rule (common/hs_leak.h) on the one growth we have
     * per stack, since the baselines: at least the site threshold and above
     * the sampling noise of that growth with the stack's own turnover. A
     * process-wide drift that no stack carries (a table whose sampled
     * entries come and go) is not reported. */
    double threshold = (double)hs_cfg.leak_threshold;
    int blamed =
        top && hs_leak_site_growth_is_blamable(
                   top_growth,
                   hs_leak_turnover(hs_stack_load_f64(&top->est_free_bytes) - base_freed[top_id], base_inuse[top_id]),
                   (double)hs_cfg.sample_rate, threshold);
    if (!hs_leak_is_blamed(res.leaking, blamed ? 1 : 0, top_growth, 0, threshold))
        return;
    last_alert_s = now_s;
    char site[400], rate_buf[32], growth_buf[32], line[1024];
    name_stack(top, site, sizeof(site));
    snprintf(line, sizeof(line),
             "leak suspected in %s (pid %u): the sampled heap grew %s over the last %lld s (%s/s); top growing "
             "site: %s",
             hs_identity.program, hs_identity.pid,
             hs_text_bytes(res.growth, HS_TEXT_BYTES_SHORT, growth_buf, sizeof(growth_buf)),
             (long long)llround(res.t1 - res.t0),
             hs_text_bytes(res.slope, HS_TEXT_BYTES_SHORT, rate_buf, sizeof(rate_buf)), site);
    emit_line(line);
    hs_encode_leak(enc, &(hs_encode_leak_t){
                            .mono_ns = hs_now_mono_ns(),
                            .rate_bytes_per_sec = res.slope,
                            .growth_bytes = res.growth,
                            .window_seconds = res.t1 - res.t0,
                            .confidence = res.confidence >= 0 && res.confidence <= 1 ? res.confidence : 0,
                            /* The stack is in the file only if it has a row; 0 otherwise. */
                            .top_stack_id = top && top->written && top->file_gen == file_gen ? top->id : 0,
                            .message = line,
                        });
}
