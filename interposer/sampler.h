/* sampler.h - Poisson sampling by bytes (as Go's runtime and jemalloc). */
#ifndef HS_SAMPLER_H
#define HS_SAMPLER_H

#include <stdint.h>

typedef struct hs_rng {
    uint64_t s0, s1;
} hs_rng_t;

void hs_sampler_seed(hs_rng_t *rng, uint64_t seed);
/* Bytes until the next sample: an exponential draw with mean `rate`, at least
 * 1; 0 when rate is 1 (every allocation is sampled). */
uint64_t hs_sampler_next_interval(hs_rng_t *rng, uint64_t rate);
/* How many objects one sampled object of `size` bytes stands for:
 * 1/(1-exp(-size/rate)); bytes are size times that. Exactly 1 at rate 1. */
double hs_sampler_weight(uint64_t size, uint64_t rate);

#endif
