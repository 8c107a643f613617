/* seqlock.h - one writer publishes a small struct that other threads copy
 * without taking a lock: the snapshot lock's holder publishes the live leak
 * verdict and the alert history (livecheck.c, alerts.c), the live server
 * thread copies them (live_metrics.c). A mutex would let a reader stall the
 * snapshot writer, and a fork while the server held it would leave it locked
 * in the child. The data lives in relaxed atomic words, so a copy that races
 * a write is never undefined behaviour, only discarded and retried (Boehm,
 * "Can seqlocks get along with programming language memory models?", 2012). */
#ifndef HS_SEQLOCK_H
#define HS_SEQLOCK_H

#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Words of storage for n bytes. */
#define HS_SEQLOCK_WORDS(n) (((n) + 7) / 8)

/* The single writer (under the snapshot lock): an odd sequence while the
 * words change. The release fence orders the odd store before the data;
 * the release store of the even one orders the data before it. */
static inline void hs_seqlock_write(_Atomic uint32_t *seq, _Atomic uint64_t *words, const void *src, size_t n)
{
    uint32_t s = atomic_load_explicit(seq, memory_order_relaxed);
    atomic_store_explicit(seq, s + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    for (size_t i = 0; i < HS_SEQLOCK_WORDS(n); i++) {
        uint64_t w = 0;
        memcpy(&w, (const char *)src + 8 * i, n - 8 * i < 8 ? n - 8 * i : 8);
        atomic_store_explicit(&words[i], w, memory_order_relaxed);
    }
    atomic_store_explicit(seq, s + 2, memory_order_release);
}

/* Any thread: copies a consistent version into dst. Returns 0, or -1 when
 * nothing was published yet (sequence 0) or no consistent copy came in
 * 1,000 tries (a writer that died mid-write: never in practice). The
 * acquire fence orders the data loads before the second sequence load. */
static inline int hs_seqlock_read(_Atomic uint32_t *seq, _Atomic uint64_t *words, void *dst, size_t n)
{
    for (int tries = 0; tries < 1000; tries++) {
        uint32_t s0 = atomic_load_explicit(seq, memory_order_acquire);
        if (s0 == 0)
            return -1;
        if (s0 & 1) {
            sched_yield();
            continue;
        }
        for (size_t i = 0; i < HS_SEQLOCK_WORDS(n); i++) {
            uint64_t w = atomic_load_explicit(&words[i], memory_order_relaxed);
            memcpy((char *)dst + 8 * i, &w, n - 8 * i < 8 ? n - 8 * i : 8);
        }
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(seq, memory_order_relaxed) == s0)
            return 0;
    }
    return -1;
}

#endif
