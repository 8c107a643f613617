/* analysis.h - the leak analysis of one dump, as data: the process series,
 * the verdict with its window and threshold, the suspects (call sites whose
 * own in-use grows), thread leaks by creation site, what was still allocated
 * at exit, and the recommendations. `heapscope report` prints it
 * (report_print.h); `heapscope plot` draws its trend. Nothing here prints a
 * report. */
#ifndef HS_ANALYSIS_H
#define HS_ANALYSIS_H

#include <stddef.h>
#include <stdint.h>

#include "hs_leak.h"
#include "symbolize.h"
#include "input.h"
#include "model.h"
#include "sites.h"

#define HS_ANALYSIS_MAX_SUSPECTS 10
#define HS_ANALYSIS_MAX_AT_EXIT 10
#define HS_ANALYSIS_MAX_RECOMMENDATIONS 16

/* The process at one snapshot. */
typedef struct {
    double t; /* seconds since the process started */
    uint32_t seq, reason;
    double est_inuse; /* the sampled in-use estimate, all stacks */
    double est_freed; /* cumulative estimated bytes freed: for the growth's sampling noise */
    uint64_t heap_in_use, heap_reserved, rss, threads, alloc_calls;
} hs_analysis_point_t;

/* A call site: the stacks whose site (sites.h: the caller of the allocator
 * and its wrappers, the program's own code first) is the same function, file
 * and line, or offset without a line table. Counters are estimates at the
 * last judged snapshot (the window's end: the last one before a teardown
 * left out, hs_analysis_t.njudged); exit_* at the dump's last snapshot, for
 * the at-exit view. leak is the verdict on the site's own in-use series. */
typedef struct {
    hs_site_t where;
    const hs_model_stack_t *top_stack; /* the member stack holding the most at the window's end */
    double inuse_bytes, inuse_objects, alloc_objects, alloc_bytes, free_objects, free_bytes;
    uint64_t live_samples, sampled_allocs, sampled_frees;
    double first_inuse_objects;                  /* at the first point of the window */
    double exit_inuse_bytes, exit_inuse_objects; /* at the last snapshot of the dump */
    hs_leak_result_t leak;
} hs_analysis_site_t;

/* Threads by creation site (the function that called pthread_create, plus
 * the start routine), exact counts at the dump's end; leak judges pts up to
 * the window's end (hs_analysis_t.njudged). */
typedef struct hs_analysis_thread_site {
    char *function, *start_routine, *file;
    uint32_t line;
    uint64_t started, exited;
    long live;
    hs_point_t *pts; /* live threads at each snapshot since the site's first */
    size_t npts, cap;
    hs_leak_result_t leak;
    double detected_at; /* time to detection, or -1 */
    struct hs_analysis_thread_site *next;
} hs_analysis_thread_site_t;

/* An ALERT record of the dump (a health threshold crossed or recovered). */
typedef struct {
    double t; /* seconds since the process started */
    uint32_t kind, event;
    double value;
    uint64_t threshold;
} hs_analysis_alert_t;

typedef struct {
    double window_s;   /* 0: 300 s, or the whole run when shorter */
    double threshold;  /* bytes of growth over the window, when has_threshold */
    int has_threshold; /* else 10 MiB per 300 s, at most 5% of the peak, at least 64 KiB */
    /* Frames blamed on their callers (docs/frames.md): the default table
     * plus drop_frames, minus keep_frames (NULL: none; both must compile:
     * the commands check them with hs_frame_filter_new first), plus the
     * wrappers detected in the dump (wrappers.h). */
    const char *drop_frames, *keep_frames;
} hs_analysis_options_t;

typedef struct hs_analysis {
    const char *path;
    const hs_model_header_t *header;
    hs_symbolizer_t *sym;            /* NULL: frames are named module+offset */
    const hs_analysis_point_t *proc; /* every snapshot */
    size_t nproc;
    /* The snapshots every verdict judges (process, call sites, threads):
     * proc[0..njudged). A dump that ends at exit ends with the EXIT
     * snapshot, taken after the program's own teardown (CPython's
     * finalization, a server's pools freed at shutdown): that snapshot, and
     * the DLCLOSE snapshots just before it, are left out whenever
     * HS_LEAK_MIN_POINTS points remain in the window, so a leak stopped
     * cleanly is still judged on the running program
     * (docs/leak-detection.md, "The end of the run"). The at-exit view and
     * the final figures use the last snapshot. */
    size_t njudged;
    int exit_judged; /* the dump ended at exit and its exit snapshot is judged: too few points without it */
    double window_s, t0, t1, threshold; /* the window used (t1: proc[njudged - 1].t), and the threshold over it */
    hs_leak_result_t leak;              /* the process series' verdict (before blame) */
    double detected_at;                 /* time to detection, or -1 */
    int leak_detected;                  /* the verdict with blame (hs_leak_is_blamed) */
    /* The headline (hs_leak.h, "the headline rate"): the Theil-Sen slopes of
     * every blamed site (suspects, listed or not) summed, each site's Sen
     * interval widened by its sampling error, combined in quadrature;
     * rate.sites 0 and everything 0 when nothing is blamed (no leak). The
     * heap's own trend stays in leak.slope. */
    hs_leak_rate_t rate;
    double growth; /* the blamed sites' growth over the window, summed; 0 when none */
    char why[480]; /* why the verdict: leak.reason, or the blamed growth when blame alone decided */
    int threads_leak;
    const hs_analysis_site_t *suspects[HS_ANALYSIS_MAX_SUSPECTS]; /* fastest first */
    size_t nsuspects;
    const hs_analysis_site_t *at_exit[HS_ANALYSIS_MAX_AT_EXIT]; /* largest first; when the run ended at exit */
    size_t nat_exit;
    const hs_analysis_thread_site_t *thread_sites; /* every creation site, leaking or not */
    char *recommendations[HS_ANALYSIS_MAX_RECOMMENDATIONS];
    size_t nrecommendations;
    hs_frame_filter_t *frames;         /* the filter sites were found with; its detected wrappers (wrappers.h) */
    const hs_analysis_alert_t *alerts; /* every ALERT record, in file order */
    size_t nalerts;
    struct hs_analysis_state *state; /* analysis.c's own: the model, the site tables */
} hs_analysis_t;

/* Reads the dump twice (in must be HS_INPUT_REREAD): the process series and
 * the thread events first, then, once the window is known, the in-use
 * series of every call site inside it; then decides, ranks and recommends.
 * sym (may be NULL) names the sites and must outlive *a. Returns 0, or -1
 * with one line in err ("FILE: why"); free *a either way. A truncated tail
 * is a warning on stderr. */
int hs_analysis_run(hs_analysis_t *a, hs_input_t *in, hs_symbolizer_t *sym, const hs_analysis_options_t *opt, char *err,
                    size_t errlen);
/* The process verdict alone (one pass, no call sites, no warning on
 * stderr): the trend line that plot draws, and its time to detection. */
int hs_analysis_leak_trend(hs_input_t *in, double window_s, hs_leak_result_t *out, double *detected_at, char *err,
                           size_t errlen);
void hs_analysis_free(hs_analysis_t *a);

/* "file:line", "file", "module+0xoffset" or "?" for a site (hs_site_location); returns buf. */
const char *hs_analysis_site_location(const hs_site_t *w, char *buf, size_t len);

#endif
