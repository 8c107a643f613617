/* state.h - what the interposer's modules share: the next allocator's entry
 * points, the lifecycle state, the configuration and the per-thread state
 * that the malloc hot path touches. */
#ifndef HS_STATE_H
#define HS_STATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "altstack.h"
#include "config.h"
#include "sampler.h"

#define HS_EXPORT __attribute__((visibility("default")))
#define HS_LIKELY(x) __builtin_expect(!!(x), 1)
#define HS_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* The allocator below us (glibc's, or jemalloc's when the program links it).
 * valloc and pvalloc are NULL when that allocator has none of its own (the
 * hooks compose them from its memalign); see hs_resolve_real. */
typedef struct hs_real_fns {
    void *(*malloc)(size_t);
    void (*free)(void *);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    int (*posix_memalign)(void **, size_t, size_t);
    void *(*aligned_alloc)(size_t, size_t);
    void *(*memalign)(size_t, size_t);
    void *(*valloc)(size_t);
    void *(*pvalloc)(size_t);
    size_t (*malloc_usable_size)(void *);
    int (*pthread_create)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
} hs_real_fns_t;
extern hs_real_fns_t hs_real;

/* Lifecycle: UNINIT -> INITIALIZING -> READY, or -> DISABLED (pass-through).
 * Until READY, hooks forward without touching tracking state. */
enum { HS_STATE_UNINIT, HS_STATE_INITIALIZING, HS_STATE_READY, HS_STATE_DISABLED };
extern _Atomic int hs_state;
extern hs_config_t hs_cfg;
extern _Atomic uint64_t hs_lost_samples;
/* Counts a sample (or event) dropped for `why`; the first loss of the
 * process is logged, later ones only counted (lost_samples in each snapshot). */
void hs_lose_sample(const char *why);

/* Exact call counters of one thread. Lives in the arena (never freed) so the
 * flusher may read it while the thread exits; recycled once the thread is
 * gone. Only its owner writes the counters (relaxed load + store, no lock
 * prefix on the hot path); the flusher reads them. 64 bytes: one cache line. */
typedef struct hs_thread_block {
    _Atomic uint64_t allocs;
    _Atomic uint64_t frees;
    _Atomic uint32_t state; /* HS_BLOCK_* */
    _Atomic uint32_t tid;
    struct hs_thread_block *next; /* registry list, push-only */
    void *stack_top;              /* the thread's sampling stack (altstack.c), mapped on first use */
    char pad[24];
} hs_thread_block_t;
enum { HS_BLOCK_ALIVE = 1, HS_BLOCK_EXITED = 2 };

/* Per-thread state, initial-exec TLS. `countdown` and `block` are the whole
 * hot path; a new thread starts with countdown 0 (first allocation takes the
 * slow path and attaches) and block = &hs_block_unattached. */
typedef struct hs_tls {
    uint64_t countdown;        /* bytes until the next sample */
    hs_thread_block_t *block;  /* where this thread's call counts go */
    uint32_t in_hook;          /* re-entrancy guard: our own allocations are not recorded */
    uint32_t attached;         /* HS_THREAD_* */
    uint32_t tid;
    uint32_t resolving;        /* inside dlsym during bootstrap */
    uint32_t thread_site;      /* threads.c: 1 + index of the creation site it counts in; 0 = none */
    hs_rng_t rng;
    hs_thread_block_t own;     /* counts of internal or pass-through threads, never summed */
} hs_tls_t;
enum { HS_THREAD_NEW = 0, HS_THREAD_TRACKED = 1, HS_THREAD_UNTRACKED = 2 };
extern __thread hs_tls_t hs_tls __attribute__((tls_model("initial-exec")));
extern hs_thread_block_t hs_block_unattached;

static inline void hs_count(_Atomic uint64_t *c)
{
    /* Single writer, so no locked add is needed. On x86-64 one unlocked
     * `addq` to memory is a single instruction whose 8-byte store other
     * threads see whole (the flusher reads with relaxed loads); elsewhere a
     * relaxed load and store. Two instructions saved on every malloc/free. */
#if defined(__x86_64__)
    __asm__ volatile("addq $1, %0" : "+m"(*(uint64_t *)c));
#else
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1, memory_order_relaxed);
#endif
}

/* hooks.c */
void hs_resolve_real(void);
/* threads.c */
int hs_threads_init(void);
void hs_thread_attach(hs_tls_t *t);
void hs_threads_sum_calls(uint64_t *allocs, uint64_t *frees);
void hs_threads_after_fork_child(void);
typedef struct hs_thread_note {
    uint64_t mono_ns;
    uint64_t start_routine;
    uint32_t event, tid, parent_tid, stack_id;
} hs_thread_event_t;
int hs_thread_event_pop(hs_thread_event_t *ev);
/* Appends one THREAD_SITES record with every creation site whose counters
 * changed since the last call for file generation file_gen (all sites with
 * counts when file_gen is new), after need_stack(id, ctx) for each creation
 * stack it names, so the caller writes that STACK record first. Writes
 * nothing when no site changed. Snapshot writer only (under its lock). */
struct hs_enc;
void hs_threads_encode_sites(struct hs_enc *enc, uint32_t file_gen, void (*need_stack)(uint32_t stack_id, void *ctx),
                             void *ctx);
/* lifecycle.c */
uint64_t hs_now_mono_ns(void);
uint64_t hs_now_real_ns(void);
pid_t hs_gettid(void);
/* Runs fn(arg) on the calling (tracked) thread's sampling stack, mapped on
 * first use and kept with its block (a block is recycled only once its
 * thread no longer exists). Call with in_hook set, so a signal handler that
 * samples cannot reuse a stack already in use. 0, or -1 when no stack could
 * be had. Inline: no extra frame for libunwind to walk per sample. */
static inline int hs_thread_run_on_own_stack(hs_tls_t *t, void (*fn)(void *), void *arg)
{
    hs_thread_block_t *b = t->block;
    if (HS_UNLIKELY(!b->stack_top))
        b->stack_top = hs_altstack_map(HS_ALTSTACK_SAMPLE_SIZE);
    return hs_altstack_call(b->stack_top, fn, arg);
}
uint32_t hs_record_stack_id(void);

#endif
