/* threads.c - per-thread bookkeeping: attaching a thread (RNG, countdown,
 * call-count block), the pthread_create hook with its creation stack, the
 * thread-exit destructor, and the lock-free queue of thread events that the
 * flusher drains. Never takes a lock on a path malloc can reach. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "capture.h"
#include "hs_format.h"
#include "state.h"
#include "tables.h"

static pthread_key_t exit_key;
static _Atomic(hs_thread_block_t *) blocks; /* registry, push-only list */
static _Atomic uint64_t attach_seq;

/* ---- thread events: a bounded MPMC ring (Vyukov), single consumer ------- */
#define EVENT_SLOTS 4096
typedef struct {
    _Atomic uint64_t seq;
    hs_thread_event_t ev;
} event_cell_t;
static event_cell_t events[EVENT_SLOTS];
static _Atomic uint64_t event_head, event_tail;

static void event_push(const hs_thread_event_t *ev)
{
    uint64_t pos = atomic_load_explicit(&event_tail, memory_order_relaxed);
    for (;;) {
        event_cell_t *c = &events[pos % EVENT_SLOTS];
        /* acquire: the consumer's release store made the slot free */
        uint64_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
        int64_t dif = (int64_t)(seq - pos);
        if (dif == 0) {
            if (atomic_compare_exchange_weak_explicit(&event_tail, &pos, pos + 1, memory_order_relaxed,
                                                      memory_order_relaxed)) {
                c->ev = *ev;
                atomic_store_explicit(&c->seq, pos + 1, memory_order_release); /* publish ev */
                return;
            }
        } else if (dif < 0) {
            hs_lose_sample("thread event queue full");
            return;
        } else {
            pos = atomic_load_explicit(&event_tail, memory_order_relaxed);
        }
    }
}

int hs_thread_event_pop(hs_thread_event_t *ev)
{
    uint64_t pos = atomic_load_explicit(&event_head, memory_order_relaxed);
    event_cell_t *c = &events[pos % EVENT_SLOTS];
    if (atomic_load_explicit(&c->seq, memory_order_acquire) != pos + 1)
        return 0;
    *ev = c->ev;
    atomic_store_explicit(&c->seq, pos + EVENT_SLOTS, memory_order_release); /* slot free again */
    atomic_store_explicit(&event_head, pos + 1, memory_order_relaxed);
    return 1;
}

pid_t hs_gettid(void) { return (pid_t)syscall(SYS_gettid); }

static void on_thread_exit(void *value)
{
    (void)value;
    hs_tls_t *t = &hs_tls;
    hs_thread_event_t ev = {.mono_ns = hs_now_mono_ns(), .event = HS_THREAD_EXITED, .tid = t->tid};
    event_push(&ev);
    /* The block stays this thread's until the kernel reports the thread gone
     * (it may still free memory in later TLS destructors); see claim_block. */
    atomic_store_explicit(&t->block->state, HS_BLOCK_EXITED, memory_order_release);
}

int hs_threads_init(void)
{
    for (uint64_t i = 0; i < EVENT_SLOTS; i++)
        atomic_store_explicit(&events[i].seq, i, memory_order_relaxed);
    return pthread_key_create(&exit_key, on_thread_exit);
}

/* A block is reusable once its thread has exited and no longer exists:
 * tgkill(pid, tid, 0) fails with ESRCH. A tid reused by a live thread of ours
 * simply keeps the old block unclaimed (conservative). */
static hs_thread_block_t *claim_block(uint32_t tid)
{
    pid_t pid = getpid();
    for (hs_thread_block_t *b = atomic_load_explicit(&blocks, memory_order_acquire); b; b = b->next) {
        uint32_t st = atomic_load_explicit(&b->state, memory_order_acquire);
        if (st != HS_BLOCK_EXITED)
            continue;
        uint32_t old_tid = atomic_load_explicit(&b->tid, memory_order_relaxed);
        if (!(syscall(SYS_tgkill, pid, old_tid, 0) == -1 && errno == ESRCH))
            continue;
        if (atomic_compare_exchange_strong_explicit(&b->state, &st, HS_BLOCK_ALIVE, memory_order_acq_rel,
                                                    memory_order_relaxed)) {
            atomic_store_explicit(&b->tid, tid, memory_order_relaxed);
            return b;
        }
    }
    /* Cache-line aligned so that two threads' counters never share a line. */
    char *raw = hs_arena_alloc(sizeof(hs_thread_block_t) + 48);
    if (!raw)
        return NULL;
    hs_thread_block_t *b = (hs_thread_block_t *)(((uintptr_t)raw + 63) & ~(uintptr_t)63);
    atomic_store_explicit(&b->state, HS_BLOCK_ALIVE, memory_order_relaxed);
    atomic_store_explicit(&b->tid, tid, memory_order_relaxed);
    hs_thread_block_t *head = atomic_load_explicit(&blocks, memory_order_relaxed);
    do {
        b->next = head;
    } while (!atomic_compare_exchange_weak_explicit(&blocks, &head, b, memory_order_release, memory_order_relaxed));
    return b;
}

void hs_thread_attach(hs_tls_t *t)
{
    int saved_errno = errno;
    uint32_t saved_in_hook = t->in_hook; /* attach may run nested in another guarded section */
    t->in_hook = 1;
    t->attached = HS_THREAD_TRACKED; /* first: allocations below must not re-enter attach */
    t->tid = (uint32_t)hs_gettid();
    uint64_t n = atomic_fetch_add_explicit(&attach_seq, 1, memory_order_relaxed);
    /* A fixed HEAPSCOPE_SEED gives the same sample points run after run for
     * the same order of thread starts (tests); otherwise time and address. */
    uint64_t seed = hs_cfg.seed ? hs_cfg.seed + n * 0x9E3779B97F4A7C15ull
                                : hs_now_mono_ns() ^ ((uint64_t)t->tid << 32) ^ (uintptr_t)t;
    hs_sampler_seed(&t->rng, seed);
    t->countdown = hs_sampler_next_interval(&t->rng, hs_cfg.sample_rate);
    hs_thread_block_t *b = claim_block(t->tid);
    if (b) {
        /* Calls counted before attaching went to the shared unattached block;
         * from now on they are this thread's own. */
        t->block = b;
    } else {
        t->block = &t->own;
        hs_lose_sample("out of memory for a thread's counters");
    }
    pthread_setspecific(exit_key, (void *)1); /* runs on_thread_exit when it ends */
    t->in_hook = saved_in_hook;
    errno = saved_errno;
}

void hs_thread_mark_internal(void)
{
    hs_tls_t *t = &hs_tls;
    t->attached = HS_THREAD_UNTRACKED;
    t->countdown = UINT64_MAX;
    t->block = &t->own;
    t->in_hook = 1; /* permanently: nothing this thread allocates is the program's */
}

void hs_threads_sum_calls(uint64_t *allocs, uint64_t *frees)
{
    uint64_t a = atomic_load_explicit(&hs_block_unattached.allocs, memory_order_relaxed);
    uint64_t f = atomic_load_explicit(&hs_block_unattached.frees, memory_order_relaxed);
    for (hs_thread_block_t *b = atomic_load_explicit(&blocks, memory_order_acquire); b; b = b->next) {
        a += atomic_load_explicit(&b->allocs, memory_order_relaxed);
        f += atomic_load_explicit(&b->frees, memory_order_relaxed);
    }
    *allocs = a;
    *frees = f;
}

void hs_threads_after_fork_child(void)
{
    /* Only the forking thread survives. The others' blocks keep their counts
     * (the child inherits the totals) and become reusable. Queued thread
     * events are the parent's (its dump records them) and a push that was
     * half done in another thread would stall the queue: start it empty. */
    for (uint64_t i = 0; i < EVENT_SLOTS; i++)
        atomic_store_explicit(&events[i].seq, i, memory_order_relaxed);
    atomic_store_explicit(&event_head, 0, memory_order_relaxed);
    atomic_store_explicit(&event_tail, 0, memory_order_relaxed);
    hs_tls_t *t = &hs_tls;
    t->tid = (uint32_t)hs_gettid();
    for (hs_thread_block_t *b = atomic_load_explicit(&blocks, memory_order_acquire); b; b = b->next) {
        if (b == t->block)
            atomic_store_explicit(&b->tid, t->tid, memory_order_relaxed);
        else if (atomic_load_explicit(&b->state, memory_order_relaxed) == HS_BLOCK_ALIVE)
            atomic_store_explicit(&b->state, HS_BLOCK_EXITED, memory_order_relaxed);
    }
}

/* ---- pthread_create ---------------------------------------------------------
 * The new thread runs a trampoline that records its start (tid, creator,
 * creation stack, start routine) and then the program's routine. The
 * argument block comes from the real allocator (not recorded) and is freed
 * by the new thread. The exit is recorded by the exit_key destructor, which
 * also covers pthread_exit. */
typedef struct {
    void *(*fn)(void *);
    void *arg;
    uint32_t parent_tid, stack_id;
} start_args_t;

static void *thread_trampoline(void *raw)
{
    start_args_t a = *(start_args_t *)raw;
    hs_real.free(raw);
    hs_tls_t *t = &hs_tls;
    if (t->attached == HS_THREAD_NEW)
        hs_thread_attach(t);
    hs_thread_event_t ev = {.mono_ns = hs_now_mono_ns(),
                            .start_routine = (uintptr_t)a.fn,
                            .event = HS_THREAD_STARTED,
                            .tid = t->tid,
                            .parent_tid = a.parent_tid,
                            .stack_id = a.stack_id};
    event_push(&ev);
    return a.fn(a.arg);
}

HS_EXPORT int pthread_create(pthread_t *th, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
    hs_tls_t *t = &hs_tls;
    if (atomic_load_explicit(&hs_state, memory_order_acquire) != HS_STATE_READY || t->in_hook ||
        t->attached == HS_THREAD_UNTRACKED)
        return hs_real.pthread_create(th, attr, fn, arg);
    start_args_t *a = hs_real.malloc(sizeof(*a));
    if (!a)
        return hs_real.pthread_create(th, attr, fn, arg);
    if (t->attached == HS_THREAD_NEW)
        hs_thread_attach(t);
    int saved_errno = errno;
    t->in_hook = 1;
    a->fn = fn;
    a->arg = arg;
    a->parent_tid = t->tid;
    a->stack_id = hs_record_stack_id();
    t->in_hook = 0;
    errno = saved_errno;
    int rc = hs_real.pthread_create(th, attr, thread_trampoline, a);
    if (rc != 0)
        hs_real.free(a);
    return rc;
}
