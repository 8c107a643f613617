/* clock.c - the interposer's clocks: monotonic time for everything it
 * schedules and stamps, its coarse twin for "is anything due?" on every
 * sample, realtime for what a user reads as a date. Each is one vDSO
 * clock_gettime: callable from any slow path, a signal handler or
 * the exit path. Must never allocate or take a lock. A leaf: it calls nothing
 * of ours, and every module that stamps time calls it. */
#include "clock.h"

#include <time.h>

static uint64_t now_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * HS_NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

uint64_t hs_now_mono_ns(void) { return now_ns(CLOCK_MONOTONIC); }

uint64_t hs_now_coarse_ns(void) { return now_ns(CLOCK_MONOTONIC_COARSE); }

uint64_t hs_now_real_ns(void) { return now_ns(CLOCK_REALTIME); }
