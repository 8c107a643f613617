/* test_leak.c - the leak verdict on synthetic series with known truth
 * (common/hs_leak.c). Every shape runs exact and with Gaussian sampling
 * noise over many seeds of a local PRNG; the naive first-vs-last baseline is
 * run beside it to show where it is fooled. Timing is printed, and only
 * bounded loosely (a quadratic quickselect would take seconds, not ms). */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hs_leak.h"
#include "run_suite.h"

#define KIB 1024.0
#define MIB (1024.0 * 1024.0)
#define MAX_SERIES 12000
#define SEEDS 50

typedef struct {
    uint64_t s;
} rng_t;

static double uniform01(rng_t *r)
{
    /* splitmix64 */
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return ((double)(z >> 11) + 0.5) / 9007199254740992.0;
}

static double gauss(rng_t *r) { return sqrt(-2 * log(uniform01(r))) * cos(2 * M_PI * uniform01(r)); }

typedef enum {
    STEADY_LEAK,
    SLOW_LEAK,
    WARMUP_PLATEAU,
    SAWTOOTH_60,
    SAWTOOTH_100,
    SAWTOOTH_150,
    SPIKE_MIDDLE,
    SPIKE_LAST,
    CHURN,
    HALF_LEAK,
    LATE_LEAK,
    STEPS,
    TINY_GROWTH,
    DECREASING,
    CONSTANT,
    WARMUP_WANDER,
} shape_t;

typedef struct {
    const char *name;
    shape_t shape;
    size_t n;            /* one point per second, t = 0 .. n-1 */
    double window;       /* seconds, 0 = all */
    double threshold;    /* bytes */
    double noise;        /* sampling noise of the noisy variant, bytes */
    int leaking;         /* the truth */
    hs_leak_rule_t rule; /* the rule expected to decide the exact variant */
    const char *phrase;  /* expected in the exact variant's reason */
} case_t;

static const case_t cases[] = {
    {"steady leak 1 MiB/s", STEADY_LEAK, 300, 300, 10 * MIB, 2 * MIB, 1, HS_LEAK_RULE_LEAK, "still growing"},
    {"slow leak 10 KiB/s", SLOW_LEAK, 600, 600, 1 * MIB, 100 * KIB, 1, HS_LEAK_RULE_LEAK, "Mann-Kendall"},
    {"warm-up then plateau", WARMUP_PLATEAU, 300, 300, 10 * MIB, 1 * MIB, 0, HS_LEAK_RULE_GROWTH_STOPPED,
     "warm-up then plateau"},
    {"sawtooth 50 MB, period 60 s", SAWTOOTH_60, 300, 300, 10 * MIB, 1 * MIB, 0, HS_LEAK_RULE_ENVELOPE_FLAT,
     "lower envelope is flat"},
    {"sawtooth 50 MB, period 100 s", SAWTOOTH_100, 300, 300, 10 * MIB, 1 * MIB, 0, HS_LEAK_RULE_FALLS_BACK, "sawtooth"},
    {"sawtooth 50 MB, period 150 s", SAWTOOTH_150, 300, 300, 10 * MIB, 1 * MIB, 0, HS_LEAK_RULE_FALLS_BACK, "sawtooth"},
    {"one spike in the middle", SPIKE_MIDDLE, 300, 300, 10 * MIB, 1 * MIB, 0, HS_LEAK_RULE_NOT_GROWING,
     "temporary peak"},
    {"one spike at the end", SPIKE_LAST, 300, 300, 10 * MIB, 1 * MIB, 0, HS_LEAK_RULE_NOT_GROWING, "temporary peak"},
    {"flat heavy churn", CHURN, 300, 300, 10 * MIB, 1 * MIB, 0, HS_LEAK_RULE_NOT_GROWING, "not a leak"},
    {"leak that starts halfway", HALF_LEAK, 300, 300, 10 * MIB, 2 * MIB, 1, HS_LEAK_RULE_LEAK, "rising"},
    {"plateau then a late leak", LATE_LEAK, 600, 300, 10 * MIB, 1 * MIB, 1, HS_LEAK_RULE_LEAK, "rising"},
    {"steps of 5 MiB every 30 s", STEPS, 300, 300, 10 * MIB, 1 * MIB, 1, HS_LEAK_RULE_LEAK, "rising"},
    {"tiny growth below threshold", TINY_GROWTH, 300, 300, 10 * MIB, 100 * KIB, 0, HS_LEAK_RULE_BELOW_THRESHOLD,
     "below the 10 MiB threshold"},
    {"decreasing", DECREASING, 300, 300, 10 * MIB, 1 * MIB, 0, HS_LEAK_RULE_NOT_GROWING, "no upward trend"},
    {"constant", CONSTANT, 300, 300, 10 * MIB, 1 * MIB, 0, HS_LEAK_RULE_NOT_GROWING, "no upward trend"},
    /* The live detector's false positive on ok_warmup_plateau: a warm-up in
     * the first third, then a plateau whose sampled estimate wanders
     * (autocorrelated: entries are replaced slowly) by about the threshold. */
    {"warm-up then a wandering plateau", WARMUP_WANDER, 300, 300, 1 * MIB, 1 * MIB, 0, HS_LEAK_RULE_GROWTH_STOPPED,
     "warm-up then plateau"},
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

static double shape_value(shape_t shape, double t, double n, rng_t *r)
{
    switch (shape) {
    case STEADY_LEAK: return 100 * MIB + 1 * MIB * t;
    case SLOW_LEAK: return 50 * MIB + 10 * KIB * t;
    case WARMUP_PLATEAU: return 100 * MIB + 80 * MIB * (1 - exp(-t / 30));
    case SAWTOOTH_60: return 100 * MIB + 50e6 * fmod(t, 60) / 60;
    case SAWTOOTH_100: return 100 * MIB + 50e6 * fmod(t, 100) / 100;
    case SAWTOOTH_150: return 100 * MIB + 50e6 * fmod(t, 150) / 150;
    case SPIKE_MIDDLE: return 200 * MIB + (t == floor(n / 2) ? 300 * MIB : 0);
    case SPIKE_LAST: return 200 * MIB + (t == n - 1 ? 300 * MIB : 0);
    case CHURN:
        /* Short-lived allocations come and go: +-20 MiB around a flat mean. */
        return 200 * MIB + 10 * MIB * sin(t / 7) + 10 * MIB * (2 * uniform01(r) - 1);
    case HALF_LEAK: return 100 * MIB + 1 * MIB * fmax(0, t - n / 2);
    case LATE_LEAK: return 100 * MIB + 200 * KIB * fmax(0, t - 400);
    case STEPS: return 100 * MIB + 5 * MIB * floor(t / 30);
    case TINY_GROWTH: return 100 * MIB + 10 * KIB * t;
    case DECREASING: return 300 * MIB - 100 * KIB * t;
    case CONSTANT: return 100 * MIB;
    case WARMUP_WANDER: return 100 * MIB + 24 * MIB * fmin(1, t / 100);
    }
    return 0;
}

static size_t make_series(hs_point_t *pts, const case_t *c, double noise, uint64_t seed)
{
    rng_t r = {seed * 0x2545F4914F6CDD1Dull + 1};
    double wander = 0;
    for (size_t i = 0; i < c->n; i++) {
        double e = gauss(&r);
        if (c->shape == WARMUP_WANDER) {
            /* AR(1), correlation time 20 points, marginal sd 1: sampled
             * estimates drift with turnover rather than jump. */
            wander = 0.95 * wander + sqrt(1 - 0.95 * 0.95) * e;
            e = wander;
        }
        pts[i].t = (double)i;
        pts[i].v = shape_value(c->shape, (double)i, (double)c->n, &r) + noise * e;
    }
    return c->n;
}

static hs_point_t series[MAX_SERIES];
static double scratch[4 * HS_LEAK_MAX_POINTS + HS_LEAK_MAX_POINTS * (HS_LEAK_MAX_POINTS - 1) / 2];
#define SCRATCH_LEN (sizeof(scratch) / sizeof(scratch[0]))

static hs_leak_params_t params_of(const case_t *c, double noise)
{
    hs_leak_params_t p = {c->window, c->threshold, noise, 0};
    return p;
}

static void check_finite(const hs_leak_result_t *r)
{
    const double x[] = {r->slope, r->slope_lo,   r->slope_hi,        r->intercept,     r->growth,      r->mk_z,
                        r->mk_p,  r->late_slope, r->envelope_growth, r->envelope_fall, r->noise_floor, r->confidence,
                        r->t0,    r->t1};
    for (size_t i = 0; i < sizeof(x) / sizeof(x[0]); i++)
        ck_assert_msg(isfinite(x[i]), "field %zu is %g (%s)", i, x[i], r->reason);
    ck_assert(r->confidence >= 0 && r->confidence <= 1);
    ck_assert(r->mk_p >= 0 && r->mk_p <= 1);
    ck_assert(r->slope_lo <= r->slope && r->slope <= r->slope_hi);
    ck_assert(strlen(r->reason) > 0 && strlen(r->reason) < sizeof(r->reason));
}

/* The floor to beat: first vs last point of the window. */
static int naive_is_leaking(const hs_point_t *pts, size_t n, const hs_leak_params_t *p)
{
    double t_last = pts[n - 1].t;
    size_t first = 0;
    while (p->window_s > 0 && pts[first].t < t_last - p->window_s)
        first++;
    double growth = pts[n - 1].v - pts[first].v;
    return growth > 0 && growth >= p->threshold_bytes;
}

START_TEST(exact_series_get_the_right_verdict_and_reason)
{
    const case_t *c = &cases[_i];
    size_t n = make_series(series, c, 0, 1);
    hs_leak_params_t p = params_of(c, 0);
    hs_leak_result_t r;
    ck_assert_int_eq(hs_leak_analyze(series, n, &p, scratch, SCRATCH_LEN, &r), 0);
    printf("%-30s exact: %s\n", c->name, r.reason);
    check_finite(&r);
    ck_assert_msg(r.leaking == c->leaking, "%s: leaking=%d: %s", c->name, r.leaking, r.reason);
    ck_assert_msg(r.rule == c->rule, "%s: rule %d, expected %d: %s", c->name, r.rule, c->rule, r.reason);
    ck_assert_msg(strstr(r.reason, c->phrase), "%s: '%s' not in: %s", c->name, c->phrase, r.reason);
    if (c->leaking)
        ck_assert(r.confidence > 0.99);
}
END_TEST

START_TEST(noisy_series_get_the_right_verdict_for_every_seed)
{
    const case_t *c = &cases[_i];
    hs_leak_params_t p = params_of(c, c->noise);
    hs_leak_result_t r;
    int right = 0;
    double min_conf = 1, max_conf = 0;
    for (uint64_t seed = 1; seed <= SEEDS; seed++) {
        size_t n = make_series(series, c, c->noise, seed);
        ck_assert_int_eq(hs_leak_analyze(series, n, &p, scratch, SCRATCH_LEN, &r), 0);
        check_finite(&r);
        if (r.leaking == c->leaking)
            right++;
        else
            printf("%-30s noisy seed %llu WRONG: %s\n", c->name, (unsigned long long)seed, r.reason);
        min_conf = fmin(min_conf, r.confidence);
        max_conf = fmax(max_conf, r.confidence);
    }
    printf("%-30s noisy (sd %.0f KiB): %d/%d right, confidence %.3f..%.3f; last: %s\n", c->name, c->noise / KIB, right,
           SEEDS, min_conf, max_conf, r.reason);
    ck_assert_msg(right == SEEDS, "%s: %d/%d right", c->name, right, SEEDS);
    if (c->leaking)
        ck_assert(min_conf > 0.99);
}
END_TEST

START_TEST(the_naive_baseline_is_fooled_where_hs_leak_is_not)
{
    const shape_t fooled[] = {SAWTOOTH_60, SAWTOOTH_100, SPIKE_LAST, WARMUP_PLATEAU};
    for (size_t i = 0; i < NCASES; i++) {
        const case_t *c = &cases[i];
        for (int noisy = 0; noisy <= 1; noisy++) {
            size_t n = make_series(series, c, noisy ? c->noise : 0, 7);
            hs_leak_params_t p = params_of(c, noisy ? c->noise : 0);
            hs_leak_result_t r;
            ck_assert_int_eq(hs_leak_analyze(series, n, &p, scratch, SCRATCH_LEN, &r), 0);
            int naive = naive_is_leaking(series, n, &p);
            int is_fooled_case = 0;
            for (size_t k = 0; k < sizeof(fooled) / sizeof(fooled[0]); k++)
                is_fooled_case |= c->shape == fooled[k];
            if (!noisy)
                printf("%-30s truth %-3s naive %-3s hs_leak %s\n", c->name, c->leaking ? "yes" : "no",
                       naive ? "yes" : "no", r.leaking ? "yes" : "no");
            ck_assert_int_eq(r.leaking, c->leaking);
            if (is_fooled_case)
                ck_assert_msg(naive && !c->leaking, "%s: the naive baseline should be fooled", c->name);
            /* On real leaks the baseline agrees: the extra rules cost no recall here. */
            if (c->leaking)
                ck_assert(naive);
        }
    }
}
END_TEST

START_TEST(slope_is_accurate_and_its_interval_covers_the_truth)
{
    const case_t *c = &cases[0]; /* steady 1 MiB/s, sd 2 MiB per snapshot */
    hs_leak_params_t p = params_of(c, c->noise);
    int covered = 0;
    double worst = 0;
    for (uint64_t seed = 1; seed <= SEEDS; seed++) {
        size_t n = make_series(series, c, c->noise, seed);
        hs_leak_result_t r;
        ck_assert_int_eq(hs_leak_analyze(series, n, &p, scratch, SCRATCH_LEN, &r), 0);
        double err = fabs(r.slope / MIB - 1);
        worst = fmax(worst, err);
        ck_assert_msg(err < 0.05, "seed %llu: slope %.0f", (unsigned long long)seed, r.slope);
        covered += r.slope_lo <= MIB && MIB <= r.slope_hi;
        ck_assert(fabs(r.growth - r.slope * 299) < 1);
        ck_assert(fabs(r.intercept - 100 * MIB) < 1 * MIB);
    }
    /* Sen's ~95% interval: expect ~47/50; 40 is 4 binomial SDs below. */
    printf("slope: worst error %.2f%%, 95%% interval covers 1 MiB/s in %d/%d seeds\n", 100 * worst, covered, SEEDS);
    ck_assert_int_ge(covered, 40);
    /* The slow noisy leak is estimated too (10 KiB/s under 100 KiB of noise). */
    c = &cases[1];
    p = params_of(c, c->noise);
    for (uint64_t seed = 1; seed <= SEEDS; seed++) {
        size_t n = make_series(series, c, c->noise, seed);
        hs_leak_result_t r;
        ck_assert_int_eq(hs_leak_analyze(series, n, &p, scratch, SCRATCH_LEN, &r), 0);
        ck_assert_msg(fabs(r.slope / (10 * KIB) - 1) < 0.05, "slow seed %llu: %.1f", (unsigned long long)seed, r.slope);
    }
}
END_TEST

START_TEST(too_few_points_and_degenerate_inputs_are_quiet_and_finite)
{
    hs_leak_params_t p = {300, 10 * MIB, 0, 0};
    hs_leak_result_t r;
    /* 0..4 points of a steep leak: never enough. */
    for (size_t n = 0; n < HS_LEAK_MIN_POINTS; n++) {
        for (size_t i = 0; i < n; i++)
            series[i] = (hs_point_t){(double)i, 100 * MIB * (double)i};
        ck_assert_int_eq(hs_leak_analyze(n ? series : NULL, n, &p, scratch, SCRATCH_LEN, &r), 0);
        check_finite(&r);
        ck_assert(!r.leaking);
        ck_assert_int_eq(r.rule, HS_LEAK_RULE_TOO_FEW_POINTS);
        ck_assert(strstr(r.reason, "not enough data"));
        ck_assert_uint_eq(r.n, n);
    }
    /* Equal t everywhere: no slope is defined, nothing may become NaN. */
    for (size_t i = 0; i < 50; i++)
        series[i] = (hs_point_t){42, 100 * MIB + MIB * (double)i};
    ck_assert_int_eq(hs_leak_analyze(series, 50, &p, scratch, SCRATCH_LEN, &r), 0);
    check_finite(&r);
    ck_assert(!r.leaking);
    ck_assert(r.t0 == 42 && r.t1 == 42 && r.growth == 0);
    /* Pairs of equal t (two snapshots per second), and a growing series. */
    for (size_t i = 0; i < 100; i++)
        series[i] = (hs_point_t){(double)(i / 2), 100 * MIB + MIB * (double)(i / 2)};
    ck_assert_int_eq(hs_leak_analyze(series, 100, &p, scratch, SCRATCH_LEN, &r), 0);
    check_finite(&r);
    ck_assert(r.leaking);
    ck_assert(fabs(r.slope - MIB) < 1);
    /* NaN and inf points are skipped, not propagated. */
    for (size_t i = 0; i < 100; i++)
        series[i] = (hs_point_t){(double)i, 100 * MIB + MIB * (double)i};
    series[10].v = NAN;
    series[20].t = INFINITY;
    series[99].v = -INFINITY;
    ck_assert_int_eq(hs_leak_analyze(series, 100, &p, scratch, SCRATCH_LEN, &r), 0);
    check_finite(&r);
    ck_assert(r.leaking);
    ck_assert_uint_eq(r.n, 97);
    ck_assert(r.t1 == 98);
    /* All zeros, huge values, and absurd parameters. */
    for (size_t i = 0; i < 20; i++)
        series[i] = (hs_point_t){(double)i, 0};
    hs_leak_params_t odd = {NAN, -1, INFINITY, NAN};
    ck_assert_int_eq(hs_leak_analyze(series, 20, &odd, scratch, SCRATCH_LEN, &r), 0);
    check_finite(&r);
    ck_assert(!r.leaking);
    for (size_t i = 0; i < 20; i++)
        series[i] = (hs_point_t){(double)i, 1e300 * ((double)i + 1) / 20};
    ck_assert_int_eq(hs_leak_analyze(series, 20, NULL, scratch, SCRATCH_LEN, &r), 0);
    check_finite(&r);
    printf("huge values: %s\n", r.reason);
}
END_TEST

START_TEST(window_selects_the_latest_points)
{
    hs_leak_params_t p = {300, 10 * MIB, 0, 0};
    hs_leak_result_t r;
    /* A 1 MiB/s leak for 300 s, then flat for 300 s. */
    for (size_t i = 0; i < 600; i++)
        series[i] = (hs_point_t){(double)i, 100 * MIB + MIB * fmin((double)i, 300)};
    ck_assert_int_eq(hs_leak_analyze(series, 600, &p, scratch, SCRATCH_LEN, &r), 0);
    ck_assert(r.t0 == 299 && r.t1 == 599);
    ck_assert_uint_eq(r.n, 301);
    ck_assert(!r.leaking);
    ck_assert_int_eq(r.rule, HS_LEAK_RULE_NOT_GROWING);
    /* The whole series: a warm-up then a plateau. */
    p.window_s = 0;
    ck_assert_int_eq(hs_leak_analyze(series, 600, &p, scratch, SCRATCH_LEN, &r), 0);
    ck_assert_uint_eq(r.n, 600);
    ck_assert_uint_eq(r.n_used, HS_LEAK_MAX_POINTS); /* bucket means of 1-2 points */
    ck_assert(r.t0 < 1 && r.t1 > 598);
    ck_assert(!r.leaking);
    ck_assert_int_eq(r.rule, HS_LEAK_RULE_GROWTH_STOPPED);
    /* The prefix ending at 300 s sees only the leak. */
    p.window_s = 300;
    ck_assert_int_eq(hs_leak_analyze(series, 301, &p, scratch, SCRATCH_LEN, &r), 0);
    ck_assert(r.leaking);
    /* A window longer than the data takes it all. */
    p.window_s = 1e6;
    ck_assert_int_eq(hs_leak_analyze(series, 200, &p, scratch, SCRATCH_LEN, &r), 0);
    ck_assert(r.t0 == 0 && r.n == 200 && r.leaking);
}
END_TEST

START_TEST(long_windows_are_decimated_to_bucket_means)
{
    hs_leak_params_t p = {0, 10 * MIB, 2 * MIB, 0};
    rng_t rng = {99};
    for (size_t i = 0; i < 10000; i++)
        series[i] = (hs_point_t){0.1 * (double)i, 100 * MIB + 100 * KIB * 0.1 * (double)i + 2 * MIB * gauss(&rng)};
    hs_leak_result_t r;
    ck_assert_int_eq(hs_leak_analyze(series, 10000, &p, scratch, SCRATCH_LEN, &r), 0);
    check_finite(&r);
    ck_assert_uint_eq(r.n, 10000);
    ck_assert_uint_eq(r.n_used, HS_LEAK_MAX_POINTS);
    ck_assert(r.leaking);
    ck_assert_msg(fabs(r.slope / (100 * KIB) - 1) < 0.02, "slope %.0f", r.slope);
    /* The bucket means span (nearly) the whole window. */
    ck_assert(r.t0 < 1 && r.t1 > 998);
}
END_TEST

START_TEST(first_detection_is_timely_and_stays_on)
{
    hs_leak_params_t p = {300, 10 * MIB, 0, 0};
    hs_leak_result_t r;
    /* 1 MiB/s from t=0: 10 MiB of growth needs 10 s. */
    for (size_t i = 0; i < 300; i++)
        series[i] = (hs_point_t){(double)i, 100 * MIB + MIB * (double)i};
    double t = hs_leak_first_detection(series, 300, &p, scratch, SCRATCH_LEN);
    printf("first detection, 1 MiB/s leak, 10 MiB threshold: t=%.0f s\n", t);
    ck_assert(t >= 10 && t <= 15);
    /* Monotone: every longer prefix is leaking, and agrees on the time. */
    for (size_t n = (size_t)t + 1; n <= 300; n++) {
        ck_assert_int_eq(hs_leak_analyze(series, n, &p, scratch, SCRATCH_LEN, &r), 0);
        ck_assert_msg(r.leaking, "prefix %zu: %s", n, r.reason);
        if (n % 37 == 0)
            ck_assert(hs_leak_first_detection(series, n, &p, scratch, SCRATCH_LEN) == t);
    }
    ck_assert(hs_leak_first_detection(series, (size_t)t, &p, scratch, SCRATCH_LEN) == -1);
    /* A 4x slower leak is detected later, and with noise within a window. */
    double prev = t;
    const double rates[] = {512 * KIB, 256 * KIB, 128 * KIB};
    for (size_t k = 0; k < 3; k++) {
        rng_t rng = {k + 5};
        p.noise_bytes = 1 * MIB;
        for (size_t i = 0; i < 600; i++)
            series[i] = (hs_point_t){(double)i, 100 * MIB + rates[k] * (double)i + MIB * gauss(&rng)};
        double tk = hs_leak_first_detection(series, 600, &p, scratch, SCRATCH_LEN);
        printf("first detection, %.0f KiB/s leak with 1 MiB noise: t=%.0f s (threshold alone: %.0f s)\n",
               rates[k] / KIB, tk, 10 * MIB / rates[k]);
        ck_assert(tk >= prev);
        ck_assert(tk >= 0.9 * 10 * MIB / rates[k] && tk <= 10 * MIB / rates[k] + 60);
        prev = tk;
    }
    /* The late leak (200 KiB/s from t=400) is found after it starts and within a window. */
    const case_t *c = &cases[10];
    ck_assert_int_eq(c->shape, LATE_LEAK);
    size_t n = make_series(series, c, c->noise, 3);
    p = params_of(c, c->noise);
    t = hs_leak_first_detection(series, n, &p, scratch, SCRATCH_LEN);
    printf("first detection, plateau then 200 KiB/s from t=400: t=%.0f s\n", t);
    ck_assert(t > 400 + 10 * MIB / (200 * KIB) && t <= 400 + 300);
    /* While a warm-up is still climbing it looks exactly like a leak: with
     * no minimum span, prefixes inside the warm-up (tau = 30 s) say leaking,
     * and the verdict turns off once growth slows. Requiring half a window
     * of data (what the live detector does) removes that. */
    c = &cases[2];
    ck_assert_int_eq(c->shape, WARMUP_PLATEAU);
    n = make_series(series, c, 0, 1);
    p = params_of(c, 0);
    t = hs_leak_first_detection(series, n, &p, scratch, SCRATCH_LEN);
    printf("first detection, warm-up (tau 30 s) with no minimum span: t=%.0f s\n", t);
    ck_assert(t >= 0 && t < 30);
    for (size_t m = 120; m <= n; m++) {
        ck_assert_int_eq(hs_leak_analyze(series, m, &p, scratch, SCRATCH_LEN, &r), 0);
        ck_assert_msg(!r.leaking, "prefix %zu: %s", m, r.reason);
    }
    /* With half a window as the minimum span, non-leaks are never detected. */
    for (size_t i = 0; i < NCASES; i++) {
        n = make_series(series, &cases[i], cases[i].noise, 11);
        p = params_of(&cases[i], cases[i].noise);
        p.min_span_s = cases[i].window / 2;
        t = hs_leak_first_detection(series, n, &p, scratch, SCRATCH_LEN);
        if (cases[i].leaking)
            ck_assert_msg(t >= p.min_span_s && t < (double)n, "%s: %g", cases[i].name, t);
        else
            ck_assert_msg(t == -1, "%s: %g", cases[i].name, t);
    }
    /* The minimum span also gates analyze and says so. */
    for (size_t i = 0; i < 300; i++)
        series[i] = (hs_point_t){(double)i, 100 * MIB + MIB * (double)i};
    p = (hs_leak_params_t){300, 10 * MIB, 0, 150};
    ck_assert_int_eq(hs_leak_analyze(series, 100, &p, scratch, SCRATCH_LEN, &r), 0);
    ck_assert(!r.leaking && strstr(r.reason, "need 150 s"));
    ck_assert_int_eq(hs_leak_analyze(series, 152, &p, scratch, SCRATCH_LEN, &r), 0);
    ck_assert(r.leaking);
}
END_TEST

START_TEST(scratch_too_small_is_refused)
{
    hs_leak_params_t p = {300, 10 * MIB, 0, 0};
    hs_leak_result_t r;
    for (size_t i = 0; i < 300; i++)
        series[i] = (hs_point_t){(double)i, 100 * MIB + MIB * (double)i};
    size_t need = hs_leak_scratch_needed(300);
    ck_assert_uint_eq(need, 4 * 300 + 300 * 299 / 2);
    ck_assert_uint_eq(hs_leak_scratch_needed(100000), hs_leak_scratch_needed(HS_LEAK_MAX_POINTS));
    ck_assert_uint_eq(hs_leak_scratch_needed(0), 0);
    ck_assert_int_eq(hs_leak_analyze(series, 300, &p, scratch, need - 1, &r), -1);
    ck_assert(!r.leaking && strstr(r.reason, "scratch"));
    ck_assert_int_eq(hs_leak_analyze(series, 300, &p, NULL, need, &r), -1);
    ck_assert_int_eq(hs_leak_analyze(series, 300, &p, scratch, need, NULL), -1);
    ck_assert(hs_leak_first_detection(series, 300, &p, scratch, need - 1) == -1);
    /* Exactly enough works, and does not write past it. */
    double *exact = malloc((need + 1) * sizeof(double));
    ck_assert_ptr_nonnull(exact);
    exact[need] = 12345;
    ck_assert_int_eq(hs_leak_analyze(series, 300, &p, exact, need, &r), 0);
    ck_assert(r.leaking);
    ck_assert(exact[need] == 12345);
    free(exact);
}
END_TEST

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

START_TEST(analysis_of_512_points_is_fast)
{
    hs_leak_params_t p = {0, 10 * MIB, 1 * MIB, 0};
    hs_leak_result_t r;
    rng_t rng = {1};
    const char *names[] = {"noisy leak", "exact leak (all slopes equal)", "staircase (many ties)"};
    for (int kind = 0; kind < 3; kind++) {
        for (size_t i = 0; i < HS_LEAK_MAX_POINTS; i++) {
            double t = (double)i;
            double v = kind == 0   ? 100 * MIB + MIB * t + MIB * gauss(&rng)
                       : kind == 1 ? 100 * MIB + MIB * t
                                   : 100 * MIB + 5 * MIB * floor(t / 30);
            series[i] = (hs_point_t){t, v};
        }
        const int reps = 20;
        double start = now_ms();
        for (int k = 0; k < reps; k++)
            ck_assert_int_eq(hs_leak_analyze(series, HS_LEAK_MAX_POINTS, &p, scratch, SCRATCH_LEN, &r), 0);
        double ms = (now_ms() - start) / reps;
        printf("timing: %d points, %s: %.2f ms per analysis\n", HS_LEAK_MAX_POINTS, names[kind], ms);
        ck_assert(r.leaking);
        /* Loose on purpose (sanitizer builds, busy CI): catches a quadratic
         * quickselect, not a slow machine. */
        ck_assert_msg(ms < 250, "%.1f ms", ms);
    }
}
END_TEST

/* ---- the blame rule the report and the live detector share ---- */

START_TEST(turnover_is_what_was_freed_at_most_what_was_live_at_the_start)
{
    ck_assert(hs_leak_turnover(5 * MIB, 10 * MIB) == 5 * MIB);
    ck_assert(hs_leak_turnover(15 * MIB, 10 * MIB) == 10 * MIB);
    ck_assert(hs_leak_turnover(-3, 10 * MIB) == 0);
    ck_assert(hs_leak_turnover(5 * MIB, -1) == 0);
    ck_assert(hs_leak_turnover(NAN, 10 * MIB) == 0);
    ck_assert(hs_leak_turnover(5 * MIB, NAN) == 0);
}
END_TEST

START_TEST(a_site_must_carry_a_tenth_of_the_threshold_and_4_KiB)
{
    ck_assert(hs_leak_site_threshold(10 * MIB) == 1 * MIB);
    ck_assert(hs_leak_site_threshold(100 * KIB) == 10 * KIB);
    ck_assert(hs_leak_site_threshold(40 * KIB) == 4 * KIB);
    ck_assert(hs_leak_site_threshold(1 * KIB) == 4 * KIB);
    ck_assert(hs_leak_site_threshold(0) == 4 * KIB);
    /* The report analyses each site's series with exactly that threshold. */
    hs_point_t pts[3] = {{0, 0}, {1, 1}, {2, 2}};
    hs_leak_params_t p = hs_leak_site_params(pts, 3, 60, 10 * MIB, 1, 0);
    ck_assert(p.threshold_bytes == 1 * MIB && p.noise_bytes == 0 && p.window_s == 60 && p.min_span_s == 0);
}
END_TEST

/* Without turnover the noise rule is growth >= 9 samples' worth (the live
 * detector's old rule); at rate 1 only the site threshold counts. */
START_TEST(without_turnover_a_site_needs_nine_samples_worth_of_growth)
{
    double rate = 512 * KIB, threshold = 10 * MIB; /* the defaults: site threshold 1 MiB < 9 * rate */
    ck_assert(!hs_leak_site_growth_is_blamable(9 * rate * 0.999, 0, rate, threshold));
    ck_assert(hs_leak_site_growth_is_blamable(9 * rate * 1.001, 0, rate, threshold));
    rate = 4 * KIB; /* 9 * rate = 36 KiB < the site threshold */
    ck_assert(!hs_leak_site_growth_is_blamable(1 * MIB - 1, 0, rate, threshold));
    ck_assert(hs_leak_site_growth_is_blamable(1 * MIB, 0, rate, threshold));
    ck_assert(!hs_leak_site_growth_is_blamable(4 * KIB - 1, 0, 1, 1 * KIB));
    ck_assert(hs_leak_site_growth_is_blamable(4 * KIB, 0, 1, 1 * KIB));
    ck_assert(!hs_leak_site_growth_is_blamable(-1 * MIB, 0, 1, 1 * KIB));
    ck_assert(!hs_leak_site_growth_is_blamable(NAN, 0, rate, threshold));
}
END_TEST

/* A table whose sampled entries are replaced at random drifts by about
 * sqrt(rate * turnover): that much turnover must raise the floor. */
START_TEST(turnover_raises_the_floor_a_site_must_pass)
{
    double rate = 32 * KIB, threshold = 512 * KIB, growth = 400 * KIB; /* above 9 * rate = 288 KiB */
    ck_assert(hs_leak_site_growth_is_blamable(growth, 0, rate, threshold));
    ck_assert(!hs_leak_site_growth_is_blamable(growth, 10 * MIB, rate, threshold));
    /* 3 * sqrt(rate * (G + turnover)) <= G: at 1 MiB of turnover 400 KiB is short, 1.4 MiB of growth is not. */
    ck_assert(!hs_leak_site_growth_is_blamable(growth, 1 * MIB, rate, threshold));
    ck_assert(hs_leak_site_growth_is_blamable(1.4 * MIB, 1 * MIB, rate, threshold));
}
END_TEST

/* The two-point form (live) and the series form (report) draw the same
 * line: on a steady linear series, the site test of hs_leak_analyze fails
 * on the same side of the threshold and of the noise floor. */
START_TEST(live_and_report_forms_of_the_site_rule_agree)
{
    const double rates[] = {1, 4 * KIB, 64 * KIB, 512 * KIB};
    const double turnovers[] = {0, 256 * KIB, 8 * MIB};
    const double growths[] = {2 * KIB, 100 * KIB, 600 * KIB, 1.5 * MIB, 5 * MIB, 40 * MIB};
    double threshold = 10 * MIB;
    size_t n = 60;
    for (size_t ri = 0; ri < sizeof(rates) / sizeof(rates[0]); ri++)
        for (size_t ti = 0; ti < sizeof(turnovers) / sizeof(turnovers[0]); ti++)
            for (size_t gi = 0; gi < sizeof(growths) / sizeof(growths[0]); gi++) {
                double g = growths[gi];
                for (size_t i = 0; i < n; i++)
                    series[i] = (hs_point_t){(double)i, 50 * MIB + g * (double)i / (double)(n - 1)};
                hs_leak_params_t p = hs_leak_site_params(series, n, 0, threshold, rates[ri], turnovers[ti]);
                hs_leak_result_t r;
                ck_assert_int_eq(hs_leak_analyze(series, n, &p, scratch, SCRATCH_LEN, &r), 0);
                int live = hs_leak_site_growth_is_blamable(g, turnovers[ti], rates[ri], threshold);
                ck_assert_msg(live == r.leaking, "rate %.0f turnover %.0f growth %.0f: live %d report %d (%s)",
                              rates[ri], turnovers[ti], g, live, r.leaking, r.reason);
            }
}
END_TEST

START_TEST(a_leak_needs_a_site_to_blame)
{
    double t = 10 * MIB;
    ck_assert(!hs_leak_is_blamed(1, 0, 0, 0, t));      /* process grows, no site carries it */
    ck_assert(hs_leak_is_blamed(1, 1, 1 * MIB, 0, t)); /* the live detector's case */
    ck_assert(hs_leak_is_blamed(0, 3, t, 0.95, t));    /* sites together, the fastest sure */
    ck_assert(!hs_leak_is_blamed(0, 3, t, 0.9, t));
    ck_assert(!hs_leak_is_blamed(0, 3, t - 1, 0.99, t));
    ck_assert(!hs_leak_is_blamed(0, 0, t, 1, t));
}
END_TEST

/* ---- the headline rate (hs_leak_rate_t) ---- */

START_TEST(the_headline_sums_the_sites_and_adds_their_half_widths_in_quadrature)
{
    hs_leak_rate_t r = {0};
    ck_assert(r.rate == 0 && r.lo == 0 && r.hi == 0 && r.sites == 0); /* nothing blamed */
    hs_leak_rate_add(&r, 300 * KIB, 250 * KIB, 380 * KIB);
    ck_assert_uint_eq(r.sites, 1);
    /* One site gives its own interval back. */
    ck_assert_double_eq_tol(r.rate, 300 * KIB, 1e-6);
    ck_assert_double_eq_tol(r.lo, 250 * KIB, 1e-6);
    ck_assert_double_eq_tol(r.hi, 380 * KIB, 1e-6);
    /* Two independent sites: half-widths 50 and 120 below, 80 and 90 above:
     * sqrt(50^2 + 120^2) = 130, sqrt(80^2 + 90^2) = 120.4 (not 170 and 170:
     * the bounds are not summed). */
    hs_leak_rate_add(&r, 100 * KIB, -20 * KIB, 190 * KIB);
    ck_assert_uint_eq(r.sites, 2);
    ck_assert_double_eq_tol(r.rate, 400 * KIB, 1e-6);
    ck_assert_double_eq_tol(r.lo, (400 - 130) * KIB, 1e-6);
    ck_assert_double_eq_tol(r.hi, (400 + sqrt(80 * 80 + 90 * 90)) * KIB, 1e-6);
    /* Order does not matter. */
    hs_leak_rate_t q = {0};
    hs_leak_rate_add(&q, 100 * KIB, -20 * KIB, 190 * KIB);
    hs_leak_rate_add(&q, 300 * KIB, 250 * KIB, 380 * KIB);
    ck_assert_double_eq_tol(q.lo, r.lo, 1e-6);
    ck_assert_double_eq_tol(q.hi, r.hi, 1e-6);
    /* lo is clamped at 0; a non-finite rate is skipped; bounds missing or on
     * the wrong side count as no width. */
    hs_leak_rate_t c = {0};
    hs_leak_rate_add(&c, 10 * KIB, -500 * KIB, 20 * KIB);
    ck_assert(c.lo == 0 && c.hi == 20 * KIB);
    hs_leak_rate_add(&c, NAN, 0, 1);
    hs_leak_rate_add(&c, 5 * KIB, NAN, 2 * KIB);
    ck_assert_uint_eq(c.sites, 2);
    ck_assert_double_eq_tol(c.rate, 15 * KIB, 1e-6);
    ck_assert_double_eq_tol(c.hi, 25 * KIB, 1e-6);
}
END_TEST

START_TEST(a_growths_sampling_error_follows_the_block_size)
{
    double g = 4 * MIB, rate = 128 * KIB;
    /* Exact at rate 1. */
    ck_assert(hs_leak_growth_stderr(g, 0, 1, 16 * KIB) == 0);
    /* Unknown block size: the bound sqrt(rate * (growth + turnover)). */
    ck_assert_double_eq_tol(hs_leak_growth_stderr(g, MIB, rate, 0), sqrt(rate * 5 * MIB), 1e-6);
    ck_assert_double_eq_tol(hs_leak_growth_stderr(g, MIB, rate, NAN), sqrt(rate * 5 * MIB), 1e-6);
    /* 16 KiB blocks at 128 KiB: p = 1 - exp(-1/8), variance g * s (1-p)/p. */
    double p = 1 - exp(-0.125);
    ck_assert_double_eq_tol(hs_leak_growth_stderr(g, 0, rate, 16 * KIB), sqrt(g * 16 * KIB * (1 - p) / p), 1e-3);
    /* Tiny blocks reach the bound; blocks far above the rate are ~exact. */
    ck_assert_double_eq_tol(hs_leak_growth_stderr(g, 0, rate, 1), sqrt(rate * g), 0.01 * sqrt(rate * g));
    ck_assert(hs_leak_growth_stderr(g, 0, rate, 4 * MIB) < 1e-3 * sqrt(rate * g));
    ck_assert(hs_leak_growth_stderr(-g, 0, rate, 0) == 0);
}
END_TEST

START_TEST(a_sites_interval_is_sens_widened_by_its_sampling_error)
{
    hs_leak_result_t site = {.slope = 300 * KIB, .slope_lo = 290 * KIB, .slope_hi = 330 * KIB, .t0 = 5, .t1 = 20};
    hs_leak_rate_t r = {0};
    hs_leak_rate_add_site(&r, &site, 0); /* no sampling error: Sen's interval */
    ck_assert_double_eq_tol(r.lo, 290 * KIB, 1e-6);
    ck_assert_double_eq_tol(r.hi, 330 * KIB, 1e-6);
    /* A growth error of 600 KiB over 15 s: 1.96 * 40 KiB/s = 78.4 KiB/s,
     * in quadrature with Sen's 10 and 30. */
    hs_leak_rate_t w = {0};
    hs_leak_rate_add_site(&w, &site, 600 * KIB);
    double h = 1.959963984540054 * 40 * KIB;
    ck_assert_double_eq_tol(w.lo, 300 * KIB - sqrt(100 * KIB * KIB + h * h), 1e-3);
    ck_assert_double_eq_tol(w.hi, 300 * KIB + sqrt(900 * KIB * KIB + h * h), 1e-3);
    /* The live form: growth over a span, the sampling error alone. */
    hs_leak_rate_t live = {0};
    hs_leak_rate_add_growth(&live, 3 * MIB, 0, 1); /* no span yet: nothing */
    ck_assert_uint_eq(live.sites, 0);
    hs_leak_rate_add_growth(&live, 3 * MIB, 12, 600 * KIB);
    ck_assert_uint_eq(live.sites, 1);
    ck_assert_double_eq_tol(live.rate, 256 * KIB, 1e-6);
    ck_assert_double_eq_tol(live.hi - live.rate, 1.959963984540054 * 50 * KIB, 1e-3);
    ck_assert_double_eq_tol(live.rate - live.lo, live.hi - live.rate, 1e-3);
}
END_TEST

/* The reason for the sampling term: a leak of 16 KiB blocks sampled at
 * 128 KiB (the sampler's 1/p weights, one Bernoulli draw per block) is a
 * smooth series around a line that is off as a whole. Sen's interval alone
 * misses the true rate far more often than 5%; widened by the growth's
 * sampling error it holds it about 95% of the time. */
START_TEST(the_headline_interval_holds_the_true_rate_of_a_sampled_leak)
{
    const double rate = 128 * KIB, block = 16 * KIB, per_second = 16, truth = block * per_second;
    const int seeds = 200;
    double p = 1 - exp(-block / rate);
    int sen_covered = 0, covered = 0;
    for (int seed = 1; seed <= seeds; seed++) {
        rng_t g = {(uint64_t)seed * 7919};
        double est = 0;
        size_t n = 0, blocks = 0;
        for (int k = 0; k <= 30; k++) { /* a snapshot every 0.5 s for 15 s */
            double t = 0.5 * k;
            for (; (double)blocks < t * per_second; blocks++)
                if (uniform01(&g) < p)
                    est += block / p;
            series[n++] = (hs_point_t){t, est};
        }
        hs_leak_params_t sp = hs_leak_site_params(series, n, 15, 512 * KIB, rate, 0);
        hs_leak_result_t r;
        ck_assert_int_eq(hs_leak_analyze(series, n, &sp, scratch, SCRATCH_LEN, &r), 0);
        sen_covered += r.slope_lo <= truth && truth <= r.slope_hi;
        hs_leak_rate_t h = {0};
        hs_leak_rate_add_site(&h, &r, hs_leak_growth_stderr(r.growth, 0, rate, block));
        covered += h.lo <= truth && truth <= h.hi;
    }
    printf("a sampled 256 KiB/s leak: Sen's interval holds the truth in %d/%d runs, the headline's in %d/%d\n",
           sen_covered, seeds, covered, seeds);
    /* ~190/200 expected; 175 is about 3.5 binomial SDs below. */
    ck_assert_int_ge(covered, 175);
    ck_assert_int_lt(sen_covered, covered);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("leak");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, exact_series_get_the_right_verdict_and_reason, 0, (int)NCASES);
    tcase_add_loop_test(tc, noisy_series_get_the_right_verdict_for_every_seed, 0, (int)NCASES);
    tcase_add_test(tc, the_naive_baseline_is_fooled_where_hs_leak_is_not);
    tcase_add_test(tc, slope_is_accurate_and_its_interval_covers_the_truth);
    tcase_add_test(tc, too_few_points_and_degenerate_inputs_are_quiet_and_finite);
    tcase_add_test(tc, window_selects_the_latest_points);
    tcase_add_test(tc, long_windows_are_decimated_to_bucket_means);
    tcase_add_test(tc, first_detection_is_timely_and_stays_on);
    tcase_add_test(tc, scratch_too_small_is_refused);
    tcase_add_test(tc, analysis_of_512_points_is_fast);
    tcase_add_test(tc, turnover_is_what_was_freed_at_most_what_was_live_at_the_start);
    tcase_add_test(tc, a_site_must_carry_a_tenth_of_the_threshold_and_4_KiB);
    tcase_add_test(tc, without_turnover_a_site_needs_nine_samples_worth_of_growth);
    tcase_add_test(tc, turnover_raises_the_floor_a_site_must_pass);
    tcase_add_test(tc, live_and_report_forms_of_the_site_rule_agree);
    tcase_add_test(tc, a_leak_needs_a_site_to_blame);
    tcase_add_test(tc, the_headline_sums_the_sites_and_adds_their_half_widths_in_quadrature);
    tcase_add_test(tc, a_growths_sampling_error_follows_the_block_size);
    tcase_add_test(tc, a_sites_interval_is_sens_widened_by_its_sampling_error);
    tcase_add_test(tc, the_headline_interval_holds_the_true_rate_of_a_sampled_leak);
    suite_add_tcase(s, tc);
    return hs_run_suite(s);
}
