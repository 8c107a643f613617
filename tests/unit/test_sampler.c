/* test_sampler.c - statistics of the Poisson byte sampler and the unbiased
 * estimator it feeds (DESIGN.md: 1/(1-exp(-s/R)) objects per sample). The
 * stream below is sampled with the same countdown rule as the hooks:
 * an allocation of n bytes is sampled when the countdown is <= n. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "sampler.h"
#include "run_suite.h"

typedef struct {
    double est_bytes, est_objects, true_bytes, true_objects;
    uint64_t samples;
} estimate_t;

/* A deterministic mixed stream: mostly small, some medium, rare large. */
static uint64_t stream_size(uint64_t *x)
{
    *x = *x * 6364136223846793005ull + 1442695040888963407ull;
    uint64_t r = *x >> 33;
    if (r % 1000 == 0)
        return 1u << 20; /* 1 MiB, 0.1% */
    if (r % 10 == 0)
        return 512 + r % 8192; /* medium, ~10% */
    return 8 + r % 248;        /* small */
}

static estimate_t run_stream(uint64_t seed, uint64_t rate, uint64_t total_bytes)
{
    hs_rng_t rng;
    hs_sampler_seed(&rng, seed);
    uint64_t countdown = hs_sampler_next_interval(&rng, rate), x = seed ^ 0x1234;
    estimate_t e = {0, 0, 0, 0, 0};
    while (e.true_bytes < (double)total_bytes) {
        uint64_t n = stream_size(&x);
        e.true_bytes += (double)n;
        e.true_objects += 1;
        if (countdown > n) {
            countdown -= n;
            continue;
        }
        countdown = hs_sampler_next_interval(&rng, rate);
        double w = hs_sampler_weight(n, rate);
        e.est_bytes += w * (double)n;
        e.est_objects += w;
        e.samples++;
    }
    return e;
}

START_TEST(exponential_draws_have_the_configured_mean)
{
    hs_rng_t rng;
    hs_sampler_seed(&rng, 42);
    const int n = 400000;
    const double rate = 524288;
    double sum = 0, sum2 = 0;
    for (int i = 0; i < n; i++) {
        double v = (double)hs_sampler_next_interval(&rng, (uint64_t)rate);
        ck_assert(v >= 1);
        sum += v;
        sum2 += v * v;
    }
    double mean = sum / n, var = sum2 / n - mean * mean;
    /* SE of the mean is rate/sqrt(n) = 0.16%: allow 4 SE. */
    ck_assert_msg(fabs(mean / rate - 1) < 4 / sqrt(n), "mean %.0f", mean);
    /* Exponential: standard deviation equals the mean. */
    ck_assert_msg(fabs(sqrt(var) / rate - 1) < 0.02, "sd %.0f", sqrt(var));
}
END_TEST

START_TEST(rate_one_samples_everything_with_weight_one)
{
    hs_rng_t rng;
    hs_sampler_seed(&rng, 7);
    ck_assert_uint_eq(hs_sampler_next_interval(&rng, 1), 0);
    ck_assert(hs_sampler_weight(1, 1) == 1.0);
    ck_assert(hs_sampler_weight(12345, 1) == 1.0);
    estimate_t e = run_stream(3, 1, 1u << 24);
    ck_assert(e.est_bytes == e.true_bytes);
    ck_assert(e.est_objects == e.true_objects);
    ck_assert(e.samples == (uint64_t)e.true_objects);
}
END_TEST

START_TEST(weights_match_the_closed_form)
{
    const uint64_t r = 524288;
    ck_assert(fabs(hs_sampler_weight(r, r) - 1 / (1 - exp(-1.0))) < 1e-12);
    /* A block much larger than the rate is always sampled: weight 1. */
    ck_assert(fabs(hs_sampler_weight(64 * r, r) - 1) < 1e-12);
    /* Small blocks: weight ~ rate/size (and no cancellation to inf). */
    ck_assert(fabs(hs_sampler_weight(16, r) / (r / 16.0) - 1) < 1e-4);
    ck_assert(isfinite(hs_sampler_weight(0, r)));
}
END_TEST

START_TEST(estimates_are_unbiased_over_many_runs)
{
    /* 30 runs of 256 MiB at a 64 KiB rate: ~4096 samples each, so one run's
     * relative standard error is about 1/sqrt(4096) = 1.6%. */
    const uint64_t rate = 65536, total = 256ull << 20;
    const int runs = 30;
    double mean_err = 0, sq = 0, mean_obj_err = 0;
    for (int i = 0; i < runs; i++) {
        estimate_t e = run_stream(1000 + (uint64_t)i, rate, total);
        double err = e.est_bytes / e.true_bytes - 1;
        double se = 1 / sqrt((double)e.samples);
        ck_assert_msg(fabs(err) < 4 * se, "run %d: bytes error %.2f%% > 4 SE (%.2f%%)", i, 100 * err, 400 * se);
        mean_err += err / runs;
        sq += err * err / runs;
        mean_obj_err += (e.est_objects / e.true_objects - 1) / runs;
    }
    double sd = sqrt(sq - mean_err * mean_err);
    /* The mean of 30 runs has SE ~0.3%: within 1% means no bias. */
    ck_assert_msg(fabs(mean_err) < 0.01, "mean bytes error %.3f%%", 100 * mean_err);
    ck_assert_msg(fabs(mean_obj_err) < 0.03, "mean objects error %.3f%%", 100 * mean_obj_err);
    /* The spread matches sampling theory (and is not zero: it is sampling). */
    ck_assert_msg(sd > 0.005 && sd < 0.03, "spread %.3f%%", 100 * sd);
}
END_TEST

START_TEST(default_rate_single_run_is_within_a_few_percent)
{
    /* 4 GiB at the default 512 KiB rate: ~8192 samples, SE 1.1%. */
    estimate_t e = run_stream(99, 524288, 4ull << 30);
    double err = e.est_bytes / e.true_bytes - 1;
    ck_assert_msg(fabs(err) < 0.045, "error %.2f%% with %llu samples", 100 * err, (unsigned long long)e.samples);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sampler");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, exponential_draws_have_the_configured_mean);
    tcase_add_test(tc, rate_one_samples_everything_with_weight_one);
    tcase_add_test(tc, weights_match_the_closed_form);
    tcase_add_test(tc, estimates_are_unbiased_over_many_runs);
    tcase_add_test(tc, default_rate_single_run_is_within_a_few_percent);
    suite_add_tcase(s, tc);
    return hs_run_suite(s);
}
