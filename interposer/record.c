/* record.c - the slow paths behind the entry points: what happens when a
 * thread's countdown reaches an allocation (attach a new thread, draw the
 * next countdown, capture the stack, record the block, pass the safe point),
 * when a free or realloc meets an address the filter flags (the sampled
 * block's free is counted before the real call releases it), and when a
 * thread is created (its creation stack). Called only by the entry
 * points (preload/); it calls down into threads, capture, tables, the
 * sampler and the scheduler, never back up. The capture and the safe point
 * run on the thread's own sampling stack (altstack.c) with the re-entrancy
 * guard held, so the host's stack carries only the hook's frame and the
 * switch. No lock, no malloc; a full table or missing memory drops the
 * sample and counts it (loss.c). Every frame between the hook and
 * unw_backtrace is walked by libunwind on each sample: the helpers here are
 * inlined into the function that runs on the private stack. */
#include "record.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "arena.h"
#include "capture.h"
#include "config.h"
#include "hs_format.h"
#include "lifecycle.h"
#include "loss.h"
#include "real.h"
#include "sampler.h"
#include "schedule.h"
#include "tables.h"
#include "threads.h"

/* The thread's walk cache lets the walker copy the unchanged deep part of
 * the stack; when the whole stack is the last one's, so is its entry. */
static inline __attribute__((always_inline)) hs_stack_t *capture_and_intern(const hs_walk_args_t *from)
{
    uintptr_t frames[HS_MAX_DEPTH_LIMIT];
    hs_thread_block_t *b = hs_tls.block;
    if (__builtin_expect(!b->walk, 0))
        b->walk = hs_map(sizeof(hs_walk_cache_t));
    int same = 0;
    uint64_t hash = 0;
    uint32_t depth = hs_capture_stack(frames, hs_cfg.max_depth, b->walk, &same, &hash, from);
    if (same && b->last_stack)
        return b->last_stack;
    hs_stack_t *s = hash ? hs_stack_intern_hashed(frames, depth, hash) : hs_stack_intern(frames, depth);
    b->last_stack = s;
    return s;
}

static int is_ready(void) { return atomic_load_explicit(&hs_state, memory_order_acquire) == HS_STATE_READY; }

/* ---- a sampled allocation --------------------------------------------------- */

static inline __attribute__((always_inline)) void record_alloc(void *p, size_t size, const hs_walk_args_t *from)
{
    hs_stack_t *s = capture_and_intern(from);
    if (!s) {
        hs_loss_count("stack table full or out of memory");
    } else if (hs_live_insert(p, s->id, size) != 0) {
        hs_loss_count("live-block table full");
    } else {
        hs_filter_add(p);
        hs_stack_add_alloc(s, size, hs_sampler_weight(size, hs_cfg.sample_rate));
    }
}

typedef struct {
    void *p;
    size_t size;
    hs_walk_args_t from; /* this function's frame on the host's stack */
} sample_job_t;

/* On the sampling stack: the first frame libunwind walks back from. */
static void sample_on_own_stack(void *arg)
{
    sample_job_t *job = arg;
    record_alloc(job->p, job->size, &job->from);
    /* Then what is due: the heap as it is now, this block included (a
     * realloc'd block's old record is already gone, its new one in). */
    hs_schedule_safe_point();
}

void *hs_record_sample_point(void *p, size_t size)
{
    hs_tls_t *t = &hs_tls;
    int saved_errno = errno; /* the host sees errno exactly as the allocator left it */
    if (t->attached == HS_THREAD_NEW) {
        int state = atomic_load_explicit(&hs_state, memory_order_acquire);
        if (state < HS_STATE_READY)
            goto out; /* too early: stay NEW, countdown 0, try again next time */
        if (state == HS_STATE_DISABLED) {
            /* Pass-through for good: never come back here, count privately. */
            t->attached = HS_THREAD_UNTRACKED;
            t->block = &t->own;
            t->countdown = UINT64_MAX;
            goto out;
        }
        hs_threads_attach(t);
        if (t->countdown > size) {
            t->countdown -= size;
            goto out;
        }
    }
    if (t->attached != HS_THREAD_TRACKED) {
        t->countdown = UINT64_MAX;
        goto out;
    }
    t->countdown = hs_sampler_next_interval(&t->rng, hs_cfg.sample_rate);
    if (t->in_hook || !p)
        goto out; /* an allocation made by heapscope itself (libunwind): not the program's */
    t->in_hook = 1;
    hs_live_prefetch(p);
    sample_job_t job = {.p = p, .size = size};
    /* The walk starts here, not on the private stack: the frames of the
     * switch are not walked on every sample. */
    hs_unwind_mark(&job.from);
    if (hs_threads_run_on_own_stack(t, sample_on_own_stack, &job) != 0)
        hs_loss_count("no memory for a sampling stack");
    t->in_hook = 0;
out:
    errno = saved_errno;
    return p;
}

/* ---- frees and reallocs of flagged blocks ------------------------------------ */

/* If p is a sampled block: its record goes and its free is counted. */
static void forget(void *p)
{
    uint32_t stack_id;
    uint64_t size;
    if (!is_ready() || !hs_live_remove(p, &stack_id, &size))
        return;
    hs_filter_remove(p);
    hs_stack_t *s = hs_stack_by_id(stack_id);
    if (s)
        hs_stack_add_free(s, size, hs_sampler_weight(size, hs_cfg.sample_rate));
}

void hs_record_free(void *p)
{
    if (!p) {
        /* free(NULL) reaches here through the pinned filter slot of address 0;
         * it is not a call that frees anything, so take back its count. */
        hs_thread_block_t *b = hs_tls.block;
        atomic_store_explicit(&b->frees, atomic_load_explicit(&b->frees, memory_order_relaxed) - 1,
                              memory_order_relaxed);
        return;
    }
    if (hs_real_is_boot_block(p))
        return;
    forget(p);
    hs_real.free(p); /* a tail call: forget's locals are gone by now */
}

void *hs_record_realloc(void *p, size_t size)
{
    if (p && hs_real_is_boot_block(p)) {
        /* Move a bootstrap block into the real heap; the old one stays put. */
        void *q = hs_real.malloc(size);
        if (q) {
            size_t old = hs_real_boot_block_size(p);
            memcpy(q, p, old < size ? old : size);
        }
        return hs_record_sample_point(q, size);
    }
    uint32_t stack_id = 0;
    uint64_t old_size = 0;
    int sampled = 0;
    if (p && is_ready() && hs_live_remove(p, &stack_id, &old_size)) {
        sampled = 1;
        hs_filter_remove(p);
    }
    void *q = hs_real.realloc(p, size);
    if (sampled) {
        if (!q && size != 0) {
            /* Failed: p is still the program's block. Put its record back. */
            if (hs_live_insert(p, stack_id, old_size) == 0)
                hs_filter_add(p);
        } else {
            hs_stack_t *s = hs_stack_by_id(stack_id);
            if (s)
                hs_stack_add_free(s, old_size, hs_sampler_weight(old_size, hs_cfg.sample_rate));
        }
    }
    if (!q)
        return NULL;
    hs_tls_t *t = &hs_tls;
    if (t->countdown > size) {
        t->countdown -= size;
        return q;
    }
    return hs_record_sample_point(q, size);
}

/* ---- thread creation --------------------------------------------------------- */

static void creation_on_own_stack(void *arg)
{
    hs_stack_t *s = capture_and_intern(NULL);
    *(uint32_t *)arg = s ? s->id : 0;
    hs_schedule_safe_point(); /* a point the program passes: write what is due */
}

uint32_t hs_record_creation_stack(hs_tls_t *t)
{
    /* On the thread's sampling stack: a thread with a 16 KiB stack may
     * create threads. */
    uint32_t stack_id = 0;
    if (hs_threads_run_on_own_stack(t, creation_on_own_stack, &stack_id) != 0)
        hs_loss_count("no memory for a sampling stack");
    return stack_id;
}
