/* livecheck.c - runs the same leak detector as `heapscope report` on the
 * recent snapshots, with the report's blame rule (common/hs_leak.h) on each
 * stack's growth, so a long-running server says it is leaking while it
 * runs. Run by the snapshot lock's holder: no locks, no malloc (scratch
 * comes from mmap once), and at most one warning per window. The top site is
 * named from its object's symbol table (elfsym.c); the offline report adds
 * source lines and inline frames. */
#include "livecheck.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "arena.h"
#include "clock.h"
#include "config.h"
#include "encode.h"
#include "hs_format.h"
#include "hs_leak.h"
#include "identity.h"
#include "hs_text.h"
#include "log.h"
#include "seqlock.h"
#include "sitename.h"
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

/* What the live service reads (hs_livecheck_read): built here by the
 * snapshot lock's holder, published with a seqlock at the end of each
 * judgement. */
static hs_livecheck_view_t view;
/* The live service's site growth is measured from the baselines before the
 * current ones (one to two windows back), so it never falls back to 0 when
 * the blame baselines are renewed; the first window, from the current. */
static double *prev_inuse, *prev_freed, prev_time_s = -1;
static double *site_inuse, *site_freed, site_time_s = -1;
static double stack_inuse(hs_stack_t *s);
static _Atomic uint32_t view_seq;
static _Atomic uint64_t view_words[HS_SEQLOCK_WORDS(sizeof(hs_livecheck_view_t))];
static double detected_at_s = -1; /* first leak verdict in this dump */
static double last_rate;          /* the latest slope, for the growth alert */
static int last_rate_known;

/* Keeps the HS_LIVECHECK_SITES stacks that grew most since the baselines,
 * fastest first (insertion into a short sorted array: most stacks fall
 * below its last entry and cost one comparison). */
static void note_growing_site(hs_stack_t *s, uint32_t id, double growth)
{
    uint32_t n = view.nsites;
    if (n == HS_LIVECHECK_SITES && growth <= view.sites[n - 1].growth_bytes)
        return;
    uint32_t at = n < HS_LIVECHECK_SITES ? n : n - 1;
    while (at > 0 && view.sites[at - 1].growth_bytes < growth) {
        view.sites[at] = view.sites[at - 1];
        at--;
    }
    uint64_t allocs = atomic_load_explicit(&s->allocs, memory_order_relaxed);
    uint64_t frees = atomic_load_explicit(&s->frees, memory_order_relaxed);
    double objects = hs_stack_load_f64(&s->est_alloc_objects) - hs_stack_load_f64(&s->est_free_objects);
    view.sites[at] = (hs_livecheck_site_t){
        .stack_id = id,
        .growth_bytes = growth,
        .inuse_bytes = stack_inuse(s),
        .inuse_objects = objects > 0 ? objects : 0,
        .live_samples = allocs > frees ? allocs - frees : 0,
        .base_inuse_bytes = site_inuse[id],
        .freed_since_base = hs_stack_load_f64(&s->est_free_bytes) - site_freed[id],
    };
    if (n < HS_LIVECHECK_SITES)
        view.nsites++;
}

static void publish(const hs_leak_result_t *res, double now_s, double window_s, double threshold, double est_inuse,
                    int leak_detected, const hs_leak_rate_t *rate, double rate_growth, double rate_span)
{
    if (leak_detected && detected_at_s < 0)
        detected_at_s = now_s;
    view.judged++;
    view.at_s = now_s;
    view.window_s = window_s;
    view.threshold_bytes = threshold;
    view.baseline_s = site_time_s;
    view.leak_detected = leak_detected;
    view.detected_at_s = detected_at_s;
    view.est_inuse_bytes = est_inuse;
    view.process = *res;
    view.rate = *rate;
    view.rate_growth_bytes = rate_growth;
    view.rate_span_s = rate_span;
    last_rate = rate->rate;
    last_rate_known = res->rule != HS_LEAK_RULE_TOO_FEW_POINTS && isfinite(res->slope);
    hs_seqlock_write(&view_seq, view_words, &view, sizeof(view));
}

int hs_livecheck_read(hs_livecheck_view_t *out) { return hs_seqlock_read(&view_seq, view_words, out, sizeof(*out)); }

int hs_livecheck_rate(double *rate)
{
    *rate = last_rate;
    return last_rate_known;
}

static double stack_inuse(hs_stack_t *s)
{
    return hs_stack_load_f64(&s->est_alloc_bytes) - hs_stack_load_f64(&s->est_free_bytes);
}

static void take_baselines(double now_s)
{
    /* The current baselines become the previous ones (ids only grow, so the
     * recycled arrays hold nothing for ids above this count). */
    if (prev_inuse && base_time_s >= 0) {
        double *t = prev_inuse;
        prev_inuse = base_inuse;
        base_inuse = t;
        t = prev_freed;
        prev_freed = base_freed;
        base_freed = t;
        prev_time_s = base_time_s;
    }
    uint32_t n = hs_stack_count();
    for (uint32_t id = 1; id <= n; id++) {
        hs_stack_t *s = hs_stack_by_id(id);
        base_inuse[id] = s ? stack_inuse(s) : 0;
        base_freed[id] = s ? hs_stack_load_f64(&s->est_free_bytes) : 0;
    }
    base_time_s = now_s;
}

/* "function (object+0xoffset)" for the first frame outside the C and C++
 * runtimes (sitename.c). */
static void name_stack(const hs_stack_t *s, char *out, size_t len)
{
    hs_sitename_t n;
    if (hs_sitename_of_stack(s, &n) == 0)
        hs_sitename_format(&n, out, len);
    else
        snprintf(out, len, "unknown site");
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
        prev_inuse = hs_map(sizeof(double) * HS_STACK_MAX_IDS);
        prev_freed = hs_map(sizeof(double) * HS_STACK_MAX_IDS);
        if (!scratch || !base_inuse || !base_freed || !prev_inuse || !prev_freed) {
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
        prev_time_s = -1;
        detected_at_s = -1;
        last_rate_known = 0;
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
    /* Judged at every snapshot (the live service shows the verdict); the
     * warning and the LEAK record stay at most one per window. */
    hs_leak_result_t res;
    if (hs_leak_analyze(points, npoints, &params, scratch, scratch_len, &res))
        return;

    /* The stack that grew the most since the baselines, and the fastest
     * growing ones for the live service. */
    hs_stack_t *top = NULL;
    double top_growth = 0;
    uint32_t n = hs_stack_count(), top_id = 0;
    view.nsites = 0;
    int have_prev = prev_time_s >= 0;
    site_inuse = have_prev ? prev_inuse : base_inuse;
    site_freed = have_prev ? prev_freed : base_freed;
    site_time_s = have_prev ? prev_time_s : base_time_s;
    for (uint32_t id = 1; id <= n; id++) {
        hs_stack_t *s = hs_stack_by_id(id);
        double g = s ? stack_inuse(s) - base_inuse[id] : 0;
        double site_growth = s ? stack_inuse(s) - site_inuse[id] : 0;
        if (s && site_growth > 0)
            note_growing_site(s, id, site_growth);
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
    int leak_detected = res.leaking && hs_leak_is_blamed(res.leaking, blamed ? 1 : 0, top_growth, 0, threshold);
    /* The published verdict also blames on the growth since the older
     * baseline (one to two windows): right after the baselines are renewed
     * no stack has grown since them yet, and the live verdict would drop
     * to "no leak" once per window. The warning keeps its own rule. */
    const hs_livecheck_site_t *fastest = view.nsites ? &view.sites[0] : NULL;
    int blamed_since_older =
        fastest && hs_leak_site_growth_is_blamable(
                       fastest->growth_bytes, hs_leak_turnover(fastest->freed_since_base, fastest->base_inuse_bytes),
                       (double)hs_cfg.sample_rate, threshold);
    int published = leak_detected || (res.leaking && blamed_since_older &&
                                      hs_leak_is_blamed(res.leaking, 1, fastest->growth_bytes, 0, threshold));
    /* The headline rate (common/hs_leak.h): what the published verdict
     * blames, i.e. every stack whose growth since the site baseline passes
     * the blame rule, over the time since that baseline; when only the top
     * stack since the newer baselines carried the verdict, that one. 0 when
     * the verdict is no leak: the heap's own trend (res.slope) is published
     * beside it, never as the leak's rate. */
    hs_leak_rate_t rate = {0};
    double rate_growth = 0, rate_span = 0;
    if (published) {
        double sample_rate = (double)hs_cfg.sample_rate;
        rate_span = now_s - site_time_s;
        for (uint32_t i = 0; i < view.nsites; i++) {
            const hs_livecheck_site_t *ls = &view.sites[i];
            double site_turnover = hs_leak_turnover(ls->freed_since_base, ls->base_inuse_bytes);
            if (!hs_leak_site_growth_is_blamable(ls->growth_bytes, site_turnover, sample_rate, threshold))
                continue;
            double mean_block = ls->inuse_objects >= 1 ? ls->inuse_bytes / ls->inuse_objects : 0;
            hs_leak_rate_add_growth(&rate, ls->growth_bytes, rate_span,
                                    hs_leak_growth_stderr(ls->growth_bytes, site_turnover, sample_rate, mean_block));
            rate_growth += ls->growth_bytes;
        }
        if (!rate.sites && leak_detected) {
            rate_span = now_s - base_time_s;
            double top_turnover =
                hs_leak_turnover(hs_stack_load_f64(&top->est_free_bytes) - base_freed[top_id], base_inuse[top_id]);
            hs_leak_rate_add_growth(&rate, top_growth, rate_span,
                                    hs_leak_growth_stderr(top_growth, top_turnover, sample_rate, 0));
            rate_growth = rate.sites ? top_growth : 0;
        }
        if (!rate.sites)
            rate_span = 0;
    }
    publish(&res, now_s, window_s, threshold, est_inuse, published, &rate, rate_growth, rate_span);
    if (!leak_detected)
        return;
    if (last_alert_s >= 0 && now_s - last_alert_s < window_s)
        return; /* not more than once per window */
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
