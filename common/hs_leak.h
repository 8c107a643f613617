/* hs_leak.h - the statistical core of leak detection: given a series of
 * (time, bytes) points, decide whether it shows sustained growth (a leak) or
 * something that only looks like growth to a first-vs-last comparison
 * (warm-up then plateau, a sawtooth, one spike, churn, sampling jitter).
 *
 * Runs in the analyzer and in the interposer (after a snapshot) alike: no
 * malloc, no stdio, no locks, no globals, only libm. The caller provides the
 * scratch memory (hs_leak_scratch_needed doubles).
 *
 * The verdict. leaking only if ALL of these hold, checked in this order; the
 * first that fails decides, and `reason` and `rule` say which one:
 *   1. at least HS_LEAK_MIN_POINTS (5) points in the window, spanning at
 *      least min_span_s seconds (early in a run a warm-up is still growing
 *      and looks exactly like a leak: the live detector should wait);
 *   2. Theil-Sen slope > 0 (median of the pairwise slopes: robust to spikes);
 *   3. growth = slope * window span >= threshold_bytes;
 *   4. growth >= HS_LEAK_NOISE_SIGMAS (3) * noise_bytes * sqrt(2): more than
 *      the jitter of the difference of two sampled estimates;
 *   5. Mann-Kendall upward trend (ties corrected) with one-sided p < 0.01;
 *   6. the lower envelope rises, two ways:
 *      a. minimum of the last quarter - minimum of the first quarter
 *         >= HS_LEAK_ENVELOPE_FRACTION (0.25) * growth (a sawtooth whose
 *         period is under a quarter of the window has a flat envelope);
 *      b. the heap never falls back to its starting level: after the first
 *         quarter, no drop of >= HS_LEAK_RETURN_FRACTION (0.5) of the
 *         window's range ends within 0.25 * range + the noise floor of the
 *         first quarter's minimum (catches sawtooth periods up to the whole
 *         window). Measured on a median-of-5 filtered series, so a one- or
 *         two-snapshot spike is not a "drop";
 *   7. growth continues (warm-up then plateau is not a leak), two ways:
 *      a. the Theil-Sen slope over the latest third of the window >=
 *         HS_LEAK_LATE_SLOPE_FRACTION (0.25) * slope (growth that stopped
 *         before the last third);
 *      b. the level of the last quarter (median) minus the level of the
 *         second quarter >= HS_LEAK_LATE_FRACTION (0.5) * what the overall
 *         slope predicts between their median times. A sampled estimate
 *         wanders (its error is correlated over the time the sampled blocks
 *         take to turn over): a third-window slope of a plateau after a
 *         warm-up passed 7a in ~40% of such series (seen live on
 *         ok_warmup_plateau); levels half a window apart hold still.
 *
 * Confidence = (1 - mk_p) * Phi(growth / (noise_bytes * sqrt(2))) (the second
 * factor is 1 when noise_bytes is 0), and 0 when growth <= 0: how sure we are
 * that the growth over the window is real rather than chance or sampling
 * noise. It does not include the shape rules (6, 7); `leaking` does. */
#ifndef HS_LEAK_H
#define HS_LEAK_H

#include <stddef.h>

#define HS_LEAK_MAX_POINTS 512           /* more points in the window are bucket-averaged down to this */
#define HS_LEAK_MIN_POINTS 5             /* rule 1 */
#define HS_LEAK_MK_ALPHA 0.01            /* rule 5: one-sided Mann-Kendall p must be below this */
#define HS_LEAK_NOISE_SIGMAS 3.0         /* rule 4 */
#define HS_LEAK_ENVELOPE_FRACTION 0.25   /* rule 6a */
#define HS_LEAK_RETURN_FRACTION 0.5      /* rule 6b */
#define HS_LEAK_LATE_SLOPE_FRACTION 0.25 /* rule 7a */
#define HS_LEAK_LATE_FRACTION 0.5        /* rule 7b: midway between a plateau (0) and a steady leak (1) */

typedef struct {
    double t, v; /* t: seconds (increasing), v: bytes */
} hs_point_t;

typedef struct {
    double window_s;        /* analyse the points with t >= t_last - window_s (0 = all) */
    double threshold_bytes; /* minimum growth over the window to call it a leak */
    double noise_bytes;     /* standard error of each v from sampling (0 = exact values) */
    double min_span_s;      /* no verdict before the window spans this long (0 = none) */
} hs_leak_params_t;

/* Which rule decided the verdict (HS_LEAK_RULE_LEAK when all held). */
typedef enum {
    HS_LEAK_RULE_LEAK = 0,
    HS_LEAK_RULE_TOO_FEW_POINTS,
    HS_LEAK_RULE_NOT_GROWING,
    HS_LEAK_RULE_BELOW_THRESHOLD,
    HS_LEAK_RULE_WITHIN_NOISE,
    HS_LEAK_RULE_NOT_SIGNIFICANT,
    HS_LEAK_RULE_ENVELOPE_FLAT,
    HS_LEAK_RULE_FALLS_BACK,
    HS_LEAK_RULE_GROWTH_STOPPED,
} hs_leak_rule_t;

typedef struct hs_leak_result {
    int leaking;                      /* the verdict */
    hs_leak_rule_t rule;              /* the rule that decided it */
    double slope, slope_lo, slope_hi; /* Theil-Sen slope (bytes/s) and Sen's ~95% interval */
    double intercept;                 /* fitted line v = intercept + slope * t */
    double growth;                    /* slope * (t1 - t0): growth over the window */
    double mk_z, mk_p;                /* Mann-Kendall statistic (ties handled) and one-sided p (upward);
                                       * p = 1 when it cannot be computed (< 2 points, all tied) */
    double late_slope;                /* Theil-Sen slope over the latest third of the window (reported) */
    double late_growth;               /* rule 7: level of the last quarter - level of the second */
    double late_expected;             /* rule 7: what slope predicts for late_growth */
    double envelope_growth;           /* min of the last quarter - min of the first quarter */
    double envelope_fall;             /* largest drop back to the starting level (rule 6b), 0 if none */
    double noise_floor;               /* HS_LEAK_NOISE_SIGMAS * noise_bytes * sqrt(2) */
    double confidence;                /* 0..1, trend significance and sampling noise */
    double t0, t1;                    /* the window actually used */
    size_t n;                         /* points in the window (finite ones) */
    size_t n_used;                    /* points analysed: n, or HS_LEAK_MAX_POINTS bucket means */
    char reason[320];                 /* one or two plain sentences: why leaking / why not */
} hs_leak_result_t;

/* Doubles of scratch that hs_leak_analyze needs for n points (any window). */
size_t hs_leak_scratch_needed(size_t n);
/* The noise_bytes to pass for a series of sampled in-use estimates at this
 * sample rate. What decides a leak is the growth within the window. Blocks
 * live at both ends of the window count the same in both estimates and
 * cancel; the growth's error comes from the blocks sampled in between: those
 * allocated and still live at the end (about the growth G) and those live at
 * the start and freed since (turnover_bytes: the bytes freed in the window,
 * at most what was live at its start). A block of s bytes is sampled with
 * p = 1-exp(-s/rate) and stands for s/p bytes, so the variance is at most
 * rate*(G + turnover). Returned per point so that the detector's floor
 * (HS_LEAK_NOISE_SIGMAS * noise * sqrt(2)) is that many standard errors of
 * the growth. 0 at rate 1 (exact). Without turnover a table whose entries
 * are replaced at random drifts like a leak (seen: an 8 MiB session table). */
double hs_leak_sampling_noise(const hs_point_t *pts, size_t n, double window_s, double sample_rate,
                              double turnover_bytes);

/* Analyses the points with t >= t_last - window_s; points with a non-finite
 * t or v are skipped. More than HS_LEAK_MAX_POINTS points in the window are
 * first reduced to that many bucket means. Returns 0, or -1 when out is NULL
 * or scratch_len < hs_leak_scratch_needed(n) (out then says so in reason).
 * O(m^2) for m = min(points in window, HS_LEAK_MAX_POINTS); ~2 ms at 512. */
int hs_leak_analyze(const hs_point_t *pts, size_t n, const hs_leak_params_t *p, double *scratch, size_t scratch_len,
                    hs_leak_result_t *out);

/* The report's "time to detection": the earliest t among the points at which
 * hs_leak_analyze on the prefix ending at that point says leaking, or -1
 * (never, or scratch_len < hs_leak_scratch_needed(n)). Searches a grid of at
 * most 64 prefixes, then refines between the last quiet and the first
 * leaking grid point, and so on down to single points: about
 * 64 * log64(n) analyses. A leaking verdict isolated between two quiet grid
 * points can be missed; for sustained growth the verdict stays on. */
double hs_leak_first_detection(const hs_point_t *pts, size_t n, const hs_leak_params_t *p, double *scratch,
                               size_t scratch_len);

/* ---- blame: one rule for the report and the live detector ----
 *
 * A leak is growth somebody can be blamed for: the process series must pass
 * hs_leak_analyze and so must one call site's own growth, measured against
 * its own sampling noise. The report has a series per call site and runs the
 * full test on it (hs_leak_site_params); the live detector keeps no series
 * per stack (that would be HS_STACK_MAX_IDS series in the interposer), only
 * each stack's in-use at a baseline, so it applies the same two numeric
 * rules to the one growth it has (hs_leak_site_growth_is_blamable): at least
 * the site threshold, and at least HS_LEAK_NOISE_SIGMAS standard errors of
 * the sampled growth, turnover included. With no turnover the noise rule is
 * growth >= 3 * sqrt(rate * growth), i.e. growth >= 9 * rate.
 *
 * Rejected: the live detector's old rule, max(threshold / 10, 9 * rate) on
 * the top stack. Its "nine samples' worth" is this noise rule with the
 * turnover left out, and turnover is what makes a sampled estimate drift: a
 * table whose entries are replaced at random turns its whole size over,
 * and an 8 MiB one at the default 512 KiB rate wanders by up to
 * 3 * sqrt(rate * 8 MiB) = 6 MiB (three standard errors), above the old
 * rule's 4.5 MiB floor (the report's ok_spike false positive, fixed there
 * by counting turnover). Without the 4 KiB floor a 1 KiB threshold at rate
 * 1 blamed a stack for 103 bytes. */

/* A call site must carry a tenth of the process threshold (a 10 MiB leak is
 * not blamed on a site that grew 100 KiB) and never less than 4 KiB (which
 * decides only for thresholds under 40 KiB, e.g. at sample rate 1). */
#define HS_LEAK_SITE_THRESHOLD_DIVISOR 10.0
#define HS_LEAK_SITE_MIN_BYTES 4096.0
/* Without a process verdict, the sites together must carry the threshold
 * and the fastest must be this sure of its own trend. */
#define HS_LEAK_BLAME_CONFIDENCE 0.95

/* The bytes freed within the window that count as turnover in the noise
 * model (hs_leak_sampling_noise): those freed since the window's start, at
 * most what was live at its start (blocks both allocated and freed inside
 * the window were never in either estimate). Never negative; 0 for NaN. */
double hs_leak_turnover(double freed_in_window, double live_at_start);
/* The least growth over the window for which one call site (or stack) can
 * be blamed: max(threshold / HS_LEAK_SITE_THRESHOLD_DIVISOR,
 * HS_LEAK_SITE_MIN_BYTES). */
double hs_leak_site_threshold(double threshold_bytes);
/* The parameters for hs_leak_analyze on one call site's in-use series: the
 * site threshold, and the site's own sampling noise from its turnover
 * (hs_leak_turnover of the site's bytes freed in the window). */
hs_leak_params_t hs_leak_site_params(const hs_point_t *pts, size_t n, double window_s, double threshold_bytes,
                                     double sample_rate, double turnover_bytes);
/* The live detector's form of the site rule, for a growth known only at two
 * times (a baseline and now): growth >= hs_leak_site_threshold and growth >=
 * HS_LEAK_NOISE_SIGMAS standard errors of a sampled growth with that
 * turnover (0 noise at rate 1). */
int hs_leak_site_growth_is_blamable(double growth, double turnover_bytes, double sample_rate, double threshold_bytes);
/* The verdict with blame. process_leaking: hs_leak_analyze's verdict on the
 * process series; sites: call sites that passed the site rule; sites_growth:
 * their growth together; top_confidence: the confidence of the fastest of
 * them (0 when not known, as live). Leaking when the process leaks and some
 * site is to blame, or when the sites together grew by the threshold with
 * the fastest at least HS_LEAK_BLAME_CONFIDENCE sure (growth spread over
 * sites can pass each site's test while the process series, noisier by
 * every other site's sampling noise, does not). */
int hs_leak_is_blamed(int process_leaking, size_t sites, double sites_growth, double top_confidence,
                      double threshold_bytes);

/* ---- the headline rate: the growth somebody is blamed for ----
 *
 * The verdict's rate is the sum of the rates of the call sites (report) or
 * stacks (live) it blames, not the trend of the whole heap: the heap's
 * Theil-Sen slope over a window also carries every sawtooth, plateau and
 * churn beside the leak, and where a large sawtooth stands at the window's
 * two ends moves it by more than the leak itself (seen: a 256 KiB/s leak
 * beside a 48 MiB batch buffer read as 417-978 KiB/s, its site as
 * 219-316 KiB/s). The heap's trend stays available beside it.
 *
 * The interval must hold the true rate, and a sampled series has two
 * errors: how far its points scatter about a line (Sen's interval of the
 * Theil-Sen slope, which takes the points' errors as independent), and the
 * sampling error of the estimate itself, which Sen's interval does not see:
 * a sampled block weighs 1/p from its sampling on, so the estimate's error
 * accumulates like a random walk and the points lie smoothly around a line
 * that is off as a whole (seen: a site estimated at 285 KiB/s with Sen's
 * interval 270-304 KiB/s, true rate 255 KiB/s). Each site's half-widths are
 * therefore Sen's, side by side, and 1.96 standard errors of its sampled
 * growth over the window's span, added in quadrature (the two errors come
 * from different places: the program's own irregularity and the sampler):
 *   h_lo,i = sqrt((r_i - sen_lo_i)^2 + (1.96 se_i / span_i)^2), h_hi,i likewise
 * Live there is no series per stack, so no Sen term: h_i = 1.96 se_i / span.
 *
 * Distinct sites are distinct allocations, and the sampler's decisions on
 * distinct allocations are independent (a Poisson process over bytes), so
 * their errors are independent and their variances add. The headline is
 *   rate = sum r_i
 *   lo   = rate - sqrt(sum h_lo,i^2),  hi = rate + sqrt(sum h_hi,i^2)
 * with lo clamped at 0 (the sites passed a growth test; a negative
 * attributed rate means nothing). One site gives its own interval back.
 * Rejected: summing the bounds (sum lo_i, sum hi_i), right only if every
 * site erred the same way at once, so it widens with the number of sites
 * for no reason; and Sen's interval alone (above: too narrow to hold the
 * truth of a sampled series). */
typedef struct {
    double rate;         /* bytes/s: the sum of the sites' rates (0 with no site) */
    double lo, hi;       /* its ~95% interval, lo >= 0 */
    size_t sites;        /* sites summed */
    double lo_sq, hi_sq; /* running sums of the squared half-widths */
} hs_leak_rate_t;

/* Adds one site's rate and interval to r (zero-initialised: no site yet).
 * A bound that is not finite, or on the wrong side of rate, counts as a
 * zero half-width; a non-finite rate is skipped. */
void hs_leak_rate_add(hs_leak_rate_t *r, double rate, double lo, double hi);
/* The standard error of a site's sampled growth over a window: a block of
 * s bytes is sampled with p = 1 - exp(-s/rate) and weighs s/p, a variance
 * of s^2 (1-p)/p, so (growth + turnover) bytes of blocks of mean size
 * mean_block give (growth + turnover) * mean_block * (1-p)/p. That is at
 * most sample_rate * (growth + turnover) (small blocks: the bound of
 * hs_leak_sampling_noise) and ~0 for blocks far above the rate (exact).
 * mean_block <= 0 or not finite uses the bound; 0 at sample rate 1. */
double hs_leak_growth_stderr(double growth, double turnover_bytes, double sample_rate, double mean_block);
/* The report's form: adds a site judged by hs_leak_analyze, its Theil-Sen
 * slope with Sen's interval widened by growth_stderr over the site's span
 * (in quadrature, above). */
void hs_leak_rate_add_site(hs_leak_rate_t *r, const hs_leak_result_t *site, double growth_stderr);
/* The live form: adds one stack's growth since its baseline, span_s
 * seconds ago, as the rate growth / span_s with the interval
 * +-1.96 growth_stderr / span_s. Nothing is added when span_s <= 0. */
void hs_leak_rate_add_growth(hs_leak_rate_t *r, double growth, double span_s, double growth_stderr);

#endif
