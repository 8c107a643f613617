/* unwind.h - heapscope's own stack walker (x86_64): return addresses from
 * the .eh_frame call-frame information of the loaded objects, one cached
 * rule per return address. libunwind's unw_backtrace spends ~70
 * instructions a frame; a cached frame here costs ~20. Anything the walker
 * does not handle (signal frames, DWARF expressions, a CFA in another
 * register) makes it give up so that the caller falls back to libunwind. */
#ifndef HS_UNWIND_H
#define HS_UNWIND_H

#include <stddef.h>
#include <stdint.h>

/* Walks the caller's stack: writes up to max return addresses, innermost
 * first (the first is the return address into the caller), skipping those
 * in [skip_lo, skip_hi) (heapscope's own code, whose frames may also switch
 * stacks). Returns the depth, or -1 when a frame needs libunwind. A pc that
 * lies in no loaded object (JIT code) ends the walk: libunwind would guess
 * there. No lock, no malloc, async-signal-safe. */
static inline int hs_unwind(uintptr_t *out, uint32_t max, uintptr_t skip_lo, uintptr_t skip_hi);

/* A thread's memory of its last walk: each step's frame state and the stack
 * words it read. When a new walk reaches a frame with the same stack
 * pointer, pc and rbp as a step of the last one, and every word the last
 * walk read from there on still holds what it read, the rest of the walk
 * is the same: it is copied instead of walked (the deep part of a stack
 * rarely changes between two samples). Owned by one thread at a time;
 * stale contents are harmless (they are checked as above). */
#define HS_WALK_STEPS 128
typedef struct {
    uint64_t epoch;
    uint32_t n;      /* steps kept; 0: nothing to reuse */
    uint32_t by_max; /* the walk stopped at max frames, not at the stack's end */
    uint32_t depth;  /* the frames it wrote */
    uint32_t max;    /* the max it was asked for */
    uint32_t reused; /* steps the last walk copied (tests, diagnostics) */
    /* Step e, counted from the deep end (0: the last step walked): */
    uintptr_t pc[HS_WALK_STEPS], sp[HS_WALK_STEPS], rbp[HS_WALK_STEPS]; /* the frame's state */
    uintptr_t ra_addr[HS_WALK_STEPS], ra_val[HS_WALK_STEPS];            /* the word read for the caller's pc */
    uintptr_t rbp_addr[HS_WALK_STEPS], rbp_val[HS_WALK_STEPS];          /* and for its rbp (addr 0: none) */
    uint32_t outs[HS_WALK_STEPS];                                       /* frames written from this step to step 0 */
    uint64_t hash[HS_WALK_STEPS];   /* stackhash.h's hash of those, from step 0 up */
    uint8_t out[HS_WALK_STEPS];     /* this step's pc was written */
    uint8_t rbp_cfa[HS_WALK_STEPS]; /* its CFA came from rbp */
    uint8_t rbp_dep[HS_WALK_STEPS]; /* the walk from here reads the rbp it starts with */
} hs_walk_cache_t;

/* The walk's arguments; pc, sp and rbp (first: the entry stub fills them)
 * are the caller's frame. */
typedef struct {
    uintptr_t pc, sp, rbp;
    uintptr_t *out;
    uint32_t max;
    int same;
    uintptr_t skip_lo, skip_hi;
    hs_walk_cache_t *wc;
    uint64_t hash; /* out: the frames' hash (stackhash.h), 0 when not known */
} hs_walk_args_t;
/* Starts the walk at its caller's frame (an assembly stub). */
int hs_unwind_from_caller(hs_walk_args_t *a);
/* Stores its caller's frame (pc, sp, rbp) in a and returns: a later
 * hs_unwind_walk(a), while that caller has not returned, starts there. The
 * interposer marks the frame before it switches to its private stack, so
 * that its own frames on that stack are not walked on every sample. */
void hs_unwind_mark(hs_walk_args_t *a);
/* The walk from a->pc, a->sp, a->rbp (see hs_unwind_cached for the rest). */
int hs_unwind_walk(hs_walk_args_t *a);

/* hs_unwind with a thread's walk cache (NULL: none). *same is set to 1 when
 * the frames written are exactly the last walk's (the caller may reuse what
 * it made of them), else 0; *hash to their hash (stackhash.h) or 0. Inline,
 * so that the walk starts in the caller. */
static inline __attribute__((always_inline)) int hs_unwind_cached(uintptr_t *out, uint32_t max, uintptr_t skip_lo,
                                                                  uintptr_t skip_hi, hs_walk_cache_t *wc, int *same,
                                                                  uint64_t *hash)
{
    hs_walk_args_t a = {0, 0, 0, out, max, 0, skip_lo, skip_hi, wc, 0};
    int n = hs_unwind_from_caller(&a);
    if (same)
        *same = a.same;
    if (hash)
        *hash = a.hash;
    return n;
}

static inline __attribute__((always_inline)) int hs_unwind(uintptr_t *out, uint32_t max, uintptr_t skip_lo,
                                                           uintptr_t skip_hi)
{
    return hs_unwind_cached(out, max, skip_lo, skip_hi, NULL, NULL, NULL);
}

/* Maps the rule cache (256 KiB of address space, touched as it fills). */
void hs_unwind_init(void);

/* Forget every cached rule: code was unloaded (dlclose) and other code may
 * be mapped where it was. */
void hs_unwind_forget(void);

/* Counters for tests and diagnostics: walks left to libunwind. */
typedef struct {
    uint64_t fallbacks;
} hs_unwind_stats_t;
void hs_unwind_stats(hs_unwind_stats_t *out);

#endif
