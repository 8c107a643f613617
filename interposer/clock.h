/* clock.h - the interposer's two clocks (see clock.c). */
#ifndef HS_CLOCK_H
#define HS_CLOCK_H

#include <stdint.h>

#define HS_NS_PER_MS 1000000ull
#define HS_NS_PER_SEC 1000000000ull

/* CLOCK_MONOTONIC in nanoseconds: due times, event times, record times. */
uint64_t hs_now_mono_ns(void);
/* CLOCK_MONOTONIC_COARSE: the same clock as of the last tick (1-4 ms
 * behind), read without the TSC: a third of the cost. For due checks. */
uint64_t hs_now_coarse_ns(void);
/* CLOCK_REALTIME in nanoseconds: the start time and each snapshot's wall time. */
uint64_t hs_now_real_ns(void);

#endif
