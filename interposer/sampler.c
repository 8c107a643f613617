/* sampler.c - the byte-based Poisson sampler: each thread counts down bytes
 * drawn from an exponential distribution; the allocation that crosses zero is
 * sampled. Pure functions over caller-owned state: no locks, no allocation. */
#include "sampler.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void hs_sampler_seed(hs_rng_t *rng, uint64_t seed)
{
    rng->s0 = splitmix64(&seed);
    rng->s1 = splitmix64(&seed);
    if (!(rng->s0 | rng->s1))
        rng->s1 = 1;
}

/* xorshift128+: fast, and plenty for choosing sample points. */
static uint64_t next_u64(hs_rng_t *rng)
{
    uint64_t a = rng->s0, b = rng->s1;
    rng->s0 = b;
    a ^= a << 23;
    rng->s1 = a ^ b ^ (a >> 17) ^ (b >> 26);
    return rng->s1 + b;
}

uint64_t hs_sampler_next_interval(hs_rng_t *rng, uint64_t rate)
{
    if (rate <= 1)
        return 0;
    /* u uniform in (0, 1]: 53 random bits, never 0 so log(u) is finite. */
    double u = (double)((next_u64(rng) >> 11) + 1) * 0x1.0p-53;
    double bytes = -log(u) * (double)rate;
    if (bytes < 1.0)
        return 1;
    if (bytes > 0x1.0p62)
        return (uint64_t)1 << 62;
    return (uint64_t)bytes;
}

double hs_sampler_weight(uint64_t size, uint64_t rate)
{
    if (rate <= 1)
        return 1.0;
    if (size == 0)
        size = 1;
    /* -expm1 keeps precision when size << rate, where 1-exp() would cancel. */
    return 1.0 / -expm1(-(double)size / (double)rate);
}
