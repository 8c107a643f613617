/* threads.h - per-thread state: the hot path's TLS, the call-count blocks,
 * attaching a thread, its start and exit, and the events and per-site
 * counters the snapshot writes (see threads.c). */
#ifndef HS_THREADS_H
#define HS_THREADS_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "altstack.h"
#include "encode.h"
#include "sampler.h"

/* Exact call counters of one thread. Lives in the arena (never freed) so the
 * snapshot writer may read it while the thread exits; recycled once the
 * thread is gone. Only its owner writes the counters (hs_threads_count: no
 * lock prefix on the hot path); the writer reads them. 64 bytes: one cache
 * line. */
typedef struct hs_thread_block {
    _Atomic uint64_t allocs;
    _Atomic uint64_t frees;
    _Atomic uint32_t state; /* HS_BLOCK_* */
    _Atomic uint32_t tid;
    struct hs_thread_block *next; /* registry list, push-only */
    void *stack_top;              /* the thread's sampling stack (altstack.c), mapped on first use */
    void *walk;                   /* its stack walker's cache (unwind.h), mapped on first use */
    void *last_stack;             /* what its last walk interned to (record.c) */
    char pad[8];
} hs_thread_block_t;
enum { HS_BLOCK_ALIVE = 1, HS_BLOCK_EXITED = 2 };

/* Per-thread state, initial-exec TLS. `countdown` and `block` are the whole
 * hot path; a new thread starts with countdown 0 (its first allocation takes
 * the slow path and attaches) and block = &hs_block_unattached. */
typedef struct hs_tls {
    uint64_t countdown;       /* bytes until the next sample */
    hs_thread_block_t *block; /* where this thread's call counts go */
    uint32_t in_hook;         /* re-entrancy guard: our own allocations are not recorded */
    uint32_t attached;        /* HS_THREAD_* */
    uint32_t tid;
    uint32_t thread_site; /* 1 + index of the creation site it counts in; 0 = none */
    hs_rng_t rng;
    hs_thread_block_t own; /* counts of internal or pass-through threads, never summed */
} hs_tls_t;
enum { HS_THREAD_NEW = 0, HS_THREAD_TRACKED = 1, HS_THREAD_UNTRACKED = 2 };
extern __thread hs_tls_t hs_tls __attribute__((tls_model("initial-exec")));
/* Where threads that have not attached yet count their calls. */
extern hs_thread_block_t hs_block_unattached;

static inline void hs_threads_count(_Atomic uint64_t *c)
{
    /* Single writer, so no locked add is needed. On x86-64 one unlocked
     * `addq` to memory is a single instruction whose 8-byte store other
     * threads see whole (the snapshot writer reads with relaxed loads);
     * elsewhere a relaxed load and store. Two instructions saved on every
     * malloc/free. */
#if defined(__x86_64__)
    __asm__ volatile("addq $1, %0" : "+m"(*(uint64_t *)c));
#else
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1, memory_order_relaxed);
#endif
}

/* Runs fn(arg) on the calling (tracked) thread's sampling stack, mapped on
 * first use and kept with its block (a block is recycled only once its
 * thread no longer exists). Call with in_hook set, so a signal handler that
 * samples cannot reuse a stack already in use. 0, or -1 when no stack could
 * be had. Inline: no extra frame for libunwind to walk per sample. */
static inline int hs_threads_run_on_own_stack(hs_tls_t *t, void (*fn)(void *), void *arg)
{
    hs_thread_block_t *b = t->block;
    if (__builtin_expect(!b->stack_top, 0))
        b->stack_top = hs_altstack_map(HS_ALTSTACK_SAMPLE_SIZE);
    return hs_altstack_call(b->stack_top, fn, arg);
}

/* The calling thread's kernel id. */
pid_t hs_threads_gettid(void);
/* At load: the site table and the thread-exit key. 0, or -1 without memory. */
int hs_threads_init(void);
/* Attaches the calling thread: tid, RNG seed, first countdown, its own
 * call-count block (a loss is counted when there is no memory for one: it
 * then counts privately) and the exit destructor. Keeps errno and in_hook. */
void hs_threads_attach(hs_tls_t *t);
/* Exact allocation and free calls of every thread so far. */
void hs_threads_sum_calls(uint64_t *allocs, uint64_t *frees);
/* Threads started and exited so far through our pthread_create, summed over
 * every creation site (exact; the main thread and threads started before
 * the library loaded are not in them). Any thread. */
void hs_threads_site_totals(uint64_t *started, uint64_t *exited);
/* In a fork child, with only the calling thread alive: counts and events
 * restart at the fork, other threads' blocks become reusable. */
void hs_threads_after_fork_child(void);

/* A thread start or exit waiting for the next snapshot: its THREAD record. */
typedef hs_encode_thread_t hs_thread_event_t;
/* Takes the oldest queued event (the snapshot writer only). 1, or 0 when empty. */
int hs_threads_pop_event(hs_thread_event_t *ev);
/* Appends one THREAD_SITES record with every creation site whose counters
 * changed since the last call for file generation file_gen (all sites with
 * counts when file_gen is new), after need_stack(id, ctx) for each creation
 * stack it names, so the caller writes that STACK record first. Writes
 * nothing when no site changed. Snapshot writer only (under its lock). */
void hs_threads_encode_sites(hs_enc_t *enc, uint32_t file_gen, void (*need_stack)(uint32_t stack_id, void *ctx),
                             void *ctx);

/* Calls fn for every creation site that has live threads (started - exited
 * > 0): its creation stack id (0 when unknown), start routine and live
 * count. Any thread (the live service's threadcreate profile); lock-free
 * reads, so a start or exit in between shows in the next call. */
void hs_threads_each_live_site(void (*fn)(uint32_t stack_id, uint64_t start_routine, uint64_t live, void *ctx),
                               void *ctx);

/* What pthread_create hands the new thread (from the real allocator; the new
 * thread frees it): the program's routine and where it was created. */
typedef struct hs_thread_start {
    void *(*fn)(void *);
    void *arg;
    uint32_t parent_tid, stack_id;
    uint32_t site; /* 1 + index of its thread site (hs_threads_site) */
} hs_thread_start_t;
/* 1 + the index of the site (creation stack, start routine) the new thread
 * counts in; the overflow site's when the table has no room. */
uint32_t hs_threads_site(uint32_t stack_id, uint64_t start_routine);
/* The new thread's first function: attaches it, counts its start in its
 * site, queues a STARTED event, then runs the program's routine. */
void *hs_threads_trampoline(void *start);
/* When set, every thread started through our pthread_create calls it just
 * before the program's routine (cpuprof.c: a thread started during a CPU
 * profile starts its own CPU timer). One load per thread start, never on
 * the allocation path. */
extern _Atomic(void (*)(void)) hs_threads_start_hook;

#endif
