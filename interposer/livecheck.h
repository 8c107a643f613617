/* livecheck.h - the live leak detector run after each snapshot. */
#ifndef HS_LIVECHECK_H
#define HS_LIVECHECK_H

#include <stdint.h>

#include "hs_codec.h"
#include "hs_leak.h"

/* Adds this snapshot's sampled in-use estimate (and the cumulative estimate
 * of bytes freed, for the turnover in the noise model) to the recent series and, when
 * the series shows a leak (common/hs_leak.c, HEAPSCOPE_LEAK_WINDOW and
 * HEAPSCOPE_LEAK_THRESHOLD) and none was reported within the last window,
 * appends a LEAK record to enc and logs one line (stderr or HEAPSCOPE_LOG).
 * Only with the snapshot lock held. */
void hs_livecheck_after_snapshot(hs_enc_t *enc, uint32_t file_gen, double est_inuse, double est_freed);

/* ---- for the live service (live_metrics.c) ---- */

/* Stacks kept per judgement: the most HEAPSCOPE_METRICS_SITES allows. */
#define HS_LIVECHECK_SITES 100

/* A stack whose sampled in-use estimate grew since the baselines (taken at
 * the first judgement and again once per HEAPSCOPE_LEAK_WINDOW). */
typedef struct {
    uint32_t stack_id;
    double growth_bytes; /* in-use now - in-use at the baseline, > 0 */
    double inuse_bytes, inuse_objects;
    uint64_t live_samples;   /* sampled blocks not freed */
    double base_inuse_bytes; /* at the baseline, and the estimated bytes */
    double freed_since_base; /* freed since: the turnover of the noise rule */
} hs_livecheck_site_t;

/* The latest judgement. */
typedef struct {
    uint64_t judged; /* snapshots judged so far (>= 1) */
    double at_s;     /* when, seconds since the process (or fork child) started */
    double window_s, threshold_bytes;
    double baseline_s;        /* when the per-stack baselines were taken */
    int leak_detected;        /* the verdict with blame (hs_leak_is_blamed), as the report's */
    double detected_at_s;     /* the first leak verdict in this dump, or -1 */
    double est_inuse_bytes;   /* the sampled in-use estimate judged */
    hs_leak_result_t process; /* hs_leak_analyze on the process series: the heap's trend */
    /* The headline (common/hs_leak.h): while the verdict says leak, the
     * blamable stacks' growth since the baseline (rate_span_s ago) over
     * that time, with the ~95% interval of its sampling error
     * (hs_leak_rate_add_growth); all 0 otherwise. */
    hs_leak_rate_t rate;
    double rate_growth_bytes, rate_span_s;
    uint32_t nsites; /* stacks that grew most since the baselines, fastest first */
    hs_livecheck_site_t sites[HS_LIVECHECK_SITES];
} hs_livecheck_view_t;

/* Any thread: a consistent copy of the latest judgement. Returns 0, or -1
 * when there is none yet (no snapshot judged, or HEAPSCOPE_LEAK_WINDOW=0). */
int hs_livecheck_read(hs_livecheck_view_t *out);
/* The snapshot lock's holder, after hs_livecheck_after_snapshot: the latest
 * leak rate (bytes/s, the view's rate.rate: what the verdict blames, 0 when
 * it is no leak) in *rate. Returns 1 when there is one (the window holds
 * enough points), else 0. */
int hs_livecheck_rate(double *rate);

#endif
