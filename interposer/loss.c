/* loss.c - what heapscope gave up rather than harm the host: a full table,
 * no memory for a thread's counters or a private stack, a snapshot that
 * could not be built. Each is counted (the dump's lost_samples) and the
 * first one is logged; the program runs on. Lock-free, never allocates.
 * Below every module that can lose a sample (record, threads, the
 * scheduler) and the snapshot that reports the total; calls only log.c. */
#include "loss.h"

#include <stdatomic.h>

#include "log.h"

static _Atomic uint64_t lost;
static _Atomic int logged;

void hs_loss_count(const char *why)
{
    atomic_fetch_add_explicit(&lost, 1, memory_order_relaxed);
    if (!atomic_exchange_explicit(&logged, 1, memory_order_relaxed))
        hs_log("dropping samples (%s); the dump counts them in lost_samples, the program runs on", why);
}

uint64_t hs_loss_total(void) { return atomic_load_explicit(&lost, memory_order_relaxed); }
