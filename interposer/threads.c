/* threads.c - per-thread bookkeeping: owns the hot path's TLS (hs_tls) and
 * the call-count blocks, attaching a thread (RNG, countdown, block), the new
 * thread's trampoline, the thread-exit destructor, the lock-free queue of
 * thread events and the exact start/exit counters by creation site that the
 * snapshot writer drains. Never takes a lock on a path malloc can reach.
 * Neighbours: the entry points (preload/) and record.c attach threads and
 * start them; snapshot.c drains the events and sites (THREAD and
 * THREAD_SITES bytes come from encode.c). It never calls the sampled path or
 * the scheduler. */
#include "threads.h"

#include <errno.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "arena.h"
#include "clock.h"
#include "config.h"
#include "hs_format.h"
#include "loss.h"
#include "real.h"
#include "tables.h"

#define CACHE_LINE 64
_Static_assert(sizeof(hs_thread_block_t) == CACHE_LINE, "a thread's counters fill one cache line");

__thread hs_tls_t hs_tls __attribute__((tls_model("initial-exec"))) = {.block = &hs_block_unattached};
hs_thread_block_t hs_block_unattached;

static pthread_key_t exit_key;
static _Atomic(hs_thread_block_t *) blocks; /* registry, push-only list */
static _Atomic uint64_t attach_seq;

/* ---- thread events: a bounded MPMC ring (Vyukov), single consumer -------
 * Each event carries a tid and a time. Churn of more than EVENT_SLOTS
 * events between two snapshots does not fit: the events that find the ring
 * full are not recorded individually, and nothing is lost by it, because
 * the site counters below count every start and exit. */
#define EVENT_SLOTS 4096
/* A cell's sequence number is stored relative to its index (stored = seq -
 * index), so that the ring's initial state (seq = index) is all zeros: the
 * 160 KiB are never written at load, and a short process does not fault in
 * 40 pages it never uses. */
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
        uint64_t index = pos % EVENT_SLOTS;
        event_cell_t *c = &events[index];
        /* acquire: the consumer's release store made the slot free */
        uint64_t seq = atomic_load_explicit(&c->seq, memory_order_acquire) + index;
        int64_t dif = (int64_t)(seq - pos);
        if (dif == 0) {
            if (atomic_compare_exchange_weak_explicit(&event_tail, &pos, pos + 1, memory_order_relaxed,
                                                      memory_order_relaxed)) {
                c->ev = *ev;
                atomic_store_explicit(&c->seq, pos + 1 - index, memory_order_release); /* publish ev */
                return;
            }
        } else if (dif < 0) {
            return; /* full: the site counters still count it (see above) */
        } else {
            pos = atomic_load_explicit(&event_tail, memory_order_relaxed);
        }
    }
}

int hs_threads_pop_event(hs_thread_event_t *ev)
{
    uint64_t pos = atomic_load_explicit(&event_head, memory_order_relaxed);
    uint64_t index = pos % EVENT_SLOTS;
    event_cell_t *c = &events[index];
    if (atomic_load_explicit(&c->seq, memory_order_acquire) + index != pos + 1)
        return 0;
    *ev = c->ev;
    atomic_store_explicit(&c->seq, pos + EVENT_SLOTS - index, memory_order_release); /* slot free again */
    atomic_store_explicit(&event_head, pos + 1, memory_order_relaxed);
    return 1;
}

/* Empties the ring (only this thread alive): the cells ever used back to 0. */
static void events_reset(void)
{
    uint64_t used = atomic_load_explicit(&event_tail, memory_order_relaxed);
    for (uint64_t i = 0; i < EVENT_SLOTS && i < used; i++)
        atomic_store_explicit(&events[i].seq, 0, memory_order_relaxed);
    atomic_store_explicit(&event_head, 0, memory_order_relaxed);
    atomic_store_explicit(&event_tail, 0, memory_order_relaxed);
}

/* ---- thread sites: exact start and exit counts by creation site ----------
 * A site is (creation stack id, start routine). Entries come from a fixed
 * pool and are published into an open-addressing table with one CAS, as
 * the stack table does (tables.c): no lock, no malloc, bounded probes, never
 * removed. Entry 0 is the overflow site (stack 0, routine 0): a thread whose
 * site finds no room counts there, so the totals stay exact when the table
 * is full. 4096 sites and their table take 352 KiB of address space,
 * touched as used. */
#define SITE_POOL 4096             /* entries, the overflow site included */
#define SITE_SLOTS (2 * SITE_POOL) /* table slots: never more than half full */
#define SITE_PROBES 64

typedef struct {
    uint64_t start_routine;
    uint32_t stack_id;
    _Atomic uint32_t published; /* 1 once in the table: the key above is complete */
    _Atomic uint64_t started, exited;
    /* The snapshot writer's, under its lock: what file file_gen has. */
    uint32_t file_gen;
    uint32_t dirty; /* changed in this call of hs_threads_encode_sites */
    uint64_t written_started, written_exited;
    uint64_t take_started, take_exited; /* values read by that call's first pass */
} thread_site_t;

static thread_site_t *sites;                 /* SITE_POOL entries (hs_map) */
static _Atomic(thread_site_t *) *site_slots; /* SITE_SLOTS */
static _Atomic uint32_t site_next = 1;       /* pool entries handed out so far */

static int is_site(const thread_site_t *s, uint32_t stack_id, uint64_t routine)
{
    return s->stack_id == stack_id && s->start_routine == routine;
}

/* Index of the site's entry; 0 (the overflow site) when there is no room. */
static uint32_t site_index(uint32_t stack_id, uint64_t routine)
{
    if (!sites || (stack_id == 0 && routine == 0))
        return 0;
    /* Both halves spread over all 64 bits before the high bits are taken:
     * one routine with thousands of consecutive stack ids must not share a
     * few home slots (the probe bound would send them to the overflow). */
    uint64_t h = (routine ^ (uint64_t)stack_id * 0x9E3779B97F4A7C15ull) * 0xC2B2AE3D27D4EB4Full;
    size_t i = (size_t)((h ^ h >> 29) >> 32) & (SITE_SLOTS - 1);
    thread_site_t *mine = NULL;
    for (int probe = 0; probe < SITE_PROBES; probe++, i = (i + 1) & (SITE_SLOTS - 1)) {
        /* acquire: pairs with the release CAS that published the entry's key */
        thread_site_t *s = atomic_load_explicit(&site_slots[i], memory_order_acquire);
        if (s) {
            if (is_site(s, stack_id, routine))
                return (uint32_t)(s - sites);
            continue;
        }
        if (!mine) {
            /* Checked first so that a full pool never wraps the counter. */
            if (atomic_load_explicit(&site_next, memory_order_relaxed) >= SITE_POOL)
                return 0;
            uint32_t n = atomic_fetch_add_explicit(&site_next, 1, memory_order_relaxed);
            if (n >= SITE_POOL)
                return 0;
            mine = &sites[n];
            mine->stack_id = stack_id;
            mine->start_routine = routine;
        }
        if (atomic_compare_exchange_strong_explicit(&site_slots[i], &s, mine, memory_order_release,
                                                    memory_order_acquire)) {
            /* release: the snapshot writer reads the key after seeing this */
            atomic_store_explicit(&mine->published, 1, memory_order_release);
            return (uint32_t)(mine - sites);
        }
        /* Lost the slot; the winner may be the same site. Our entry then
         * stays unpublished: a hole the writer skips. */
        if (is_site(s, stack_id, routine))
            return (uint32_t)(s - sites);
    }
    return 0;
}

void hs_threads_encode_sites(hs_enc_t *enc, uint32_t file_gen, void (*need_stack)(uint32_t stack_id, void *ctx),
                             void *ctx)
{
    if (!sites)
        return;
    uint32_t n = atomic_load_explicit(&site_next, memory_order_relaxed);
    if (n > SITE_POOL)
        n = SITE_POOL;
    /* Pass 1: which sites changed, with their STACK records first. The
     * values read here are the ones written, so a count that moves in
     * between waits for the next snapshot rather than naming a stack the
     * file lacks. */
    uint32_t changed = 0;
    for (uint32_t i = 0; i < n; i++) {
        thread_site_t *s = &sites[i];
        s->dirty = 0;
        if (!atomic_load_explicit(&s->published, memory_order_acquire))
            continue;
        if (s->file_gen != file_gen) { /* a new file (a fork child's) gets every site again */
            s->file_gen = file_gen;
            s->written_started = s->written_exited = 0;
        }
        /* exited first, acquire: pairs with the release increment in
         * on_thread_exit, so every exit read has its start read too
         * (started >= exited in every entry). */
        uint64_t exited = atomic_load_explicit(&s->exited, memory_order_acquire);
        uint64_t started = atomic_load_explicit(&s->started, memory_order_relaxed);
        if (started == s->written_started && exited == s->written_exited)
            continue;
        /* A stack interned by another thread a moment ago may not be
         * reachable by id yet: that site waits for the next snapshot. */
        if (s->stack_id && !hs_stack_by_id(s->stack_id))
            continue;
        if (s->stack_id)
            need_stack(s->stack_id, ctx);
        s->take_started = started;
        s->take_exited = exited;
        s->dirty = 1;
        changed++;
    }
    if (!changed)
        return;
    hs_encode_list_t list;
    hs_encode_thread_sites_begin(enc, &list, hs_now_mono_ns());
    for (uint32_t i = 0; i < n; i++) {
        thread_site_t *s = &sites[i];
        if (!s->dirty)
            continue;
        hs_encode_thread_site(enc, &list,
                              &(hs_encode_thread_site_t){.stack_id = s->stack_id,
                                                         .start_routine = s->start_routine,
                                                         .started = s->take_started,
                                                         .exited = s->take_exited});
        s->written_started = s->take_started;
        s->written_exited = s->take_exited;
    }
    hs_encode_thread_sites_end(enc, &list);
}

void hs_threads_each_live_site(void (*fn)(uint32_t stack_id, uint64_t start_routine, uint64_t live, void *ctx),
                               void *ctx)
{
    if (!sites)
        return;
    uint32_t n = atomic_load_explicit(&site_next, memory_order_relaxed);
    for (uint32_t i = 0; i < n && i < SITE_POOL; i++) {
        thread_site_t *s = &sites[i];
        if (!atomic_load_explicit(&s->published, memory_order_acquire))
            continue;
        /* exited first (acquire, as hs_threads_encode_sites): started >= exited */
        uint64_t exited = atomic_load_explicit(&s->exited, memory_order_acquire);
        uint64_t started = atomic_load_explicit(&s->started, memory_order_relaxed);
        if (started > exited)
            fn(s->stack_id, s->start_routine, started - exited, ctx);
    }
}

pid_t hs_threads_gettid(void) { return (pid_t)syscall(SYS_gettid); }

static void on_thread_exit(void *value)
{
    (void)value;
    hs_tls_t *t = &hs_tls;
    if (t->thread_site) {
        /* release: a snapshot that reads this exit (acquire) also reads
         * this thread's start, counted before it in hs_threads_trampoline. */
        atomic_fetch_add_explicit(&sites[t->thread_site - 1].exited, 1, memory_order_release);
        t->thread_site = 0;
    }
    hs_thread_event_t ev = {.mono_ns = hs_now_mono_ns(), .event = HS_THREAD_EXITED, .tid = t->tid};
    event_push(&ev);
    /* The block stays this thread's until the kernel reports the thread gone
     * (it may still free memory in later TLS destructors); see claim_block. */
    atomic_store_explicit(&t->block->state, HS_BLOCK_EXITED, memory_order_release);
}

int hs_threads_init(void)
{
    sites = hs_map(SITE_POOL * sizeof(thread_site_t));
    site_slots = hs_map(SITE_SLOTS * sizeof(*site_slots));
    if (!sites || !site_slots)
        return -1;
    atomic_store_explicit(&sites[0].published, 1, memory_order_relaxed); /* the overflow site */
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
    /* Cache-line aligned so that two threads' counters never share a line
     * (the arena aligns to 16 bytes). */
    char *raw = hs_arena_alloc(sizeof(hs_thread_block_t) + CACHE_LINE - 16);
    if (!raw)
        return NULL;
    hs_thread_block_t *b = (hs_thread_block_t *)(((uintptr_t)raw + CACHE_LINE - 1) & ~(uintptr_t)(CACHE_LINE - 1));
    atomic_store_explicit(&b->state, HS_BLOCK_ALIVE, memory_order_relaxed);
    atomic_store_explicit(&b->tid, tid, memory_order_relaxed);
    hs_thread_block_t *head = atomic_load_explicit(&blocks, memory_order_relaxed);
    do {
        b->next = head;
    } while (!atomic_compare_exchange_weak_explicit(&blocks, &head, b, memory_order_release, memory_order_relaxed));
    return b;
}

void hs_threads_attach(hs_tls_t *t)
{
    int saved_errno = errno;
    uint32_t saved_in_hook = t->in_hook; /* attach may run nested in another guarded section */
    t->in_hook = 1;
    t->attached = HS_THREAD_TRACKED; /* first: allocations below must not re-enter attach */
    t->tid = (uint32_t)hs_threads_gettid();
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
        hs_loss_count("out of memory for a thread's counters");
    }
    pthread_setspecific(exit_key, (void *)1); /* runs on_thread_exit when it ends */
    t->in_hook = saved_in_hook;
    errno = saved_errno;
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
    /* Only the forking thread survives. The others' blocks become reusable. Queued thread
     * events are the parent's (its dump records them) and a push that was
     * half done in another thread would stall the queue: start it empty. */
    events_reset();
    /* The child's call counts start at the fork: inherited totals would
     * read as millions of calls a second in its first snapshot. */
    atomic_store_explicit(&hs_block_unattached.allocs, 0, memory_order_relaxed);
    atomic_store_explicit(&hs_block_unattached.frees, 0, memory_order_relaxed);
    hs_tls_t *t = &hs_tls;
    t->tid = (uint32_t)hs_threads_gettid();
    /* Site counts restart too: the child's dump counts from the fork. Its
     * one thread is alive, so if it came from pthread_create it counts as
     * started in its site (its exit will be counted there). An entry that
     * another thread had put in the table but not yet marked published
     * would never be written: mark it here (only this thread runs). */
    uint32_t n = atomic_load_explicit(&site_next, memory_order_relaxed);
    for (uint32_t i = 0; sites && i < n && i < SITE_POOL; i++) {
        atomic_store_explicit(&sites[i].started, 0, memory_order_relaxed);
        atomic_store_explicit(&sites[i].exited, 0, memory_order_relaxed);
    }
    for (uint32_t i = 0; site_slots && i < SITE_SLOTS; i++) {
        thread_site_t *s = atomic_load_explicit(&site_slots[i], memory_order_relaxed);
        if (s)
            atomic_store_explicit(&s->published, 1, memory_order_relaxed);
    }
    if (sites && t->thread_site)
        atomic_store_explicit(&sites[t->thread_site - 1].started, 1, memory_order_relaxed);
    for (hs_thread_block_t *b = atomic_load_explicit(&blocks, memory_order_acquire); b; b = b->next) {
        atomic_store_explicit(&b->allocs, 0, memory_order_relaxed);
        atomic_store_explicit(&b->frees, 0, memory_order_relaxed);
        if (b == t->block)
            atomic_store_explicit(&b->tid, t->tid, memory_order_relaxed);
        else if (atomic_load_explicit(&b->state, memory_order_relaxed) == HS_BLOCK_ALIVE)
            atomic_store_explicit(&b->state, HS_BLOCK_EXITED, memory_order_relaxed);
    }
}

/* ---- thread start ----------------------------------------------------------
 * pthread_create (preload/process.c) starts the new thread here, with the
 * argument block it got from the real allocator (not recorded); the new
 * thread records its start (tid, creator, creation stack, start routine),
 * frees the block and runs the program's routine. The exit is recorded by
 * the exit_key destructor, which also covers pthread_exit. */
uint32_t hs_threads_site(uint32_t stack_id, uint64_t start_routine) { return 1 + site_index(stack_id, start_routine); }

_Atomic(void (*)(void)) hs_threads_start_hook;

void *hs_threads_trampoline(void *start)
{
    hs_thread_start_t a = *(hs_thread_start_t *)start;
    hs_real.free(start);
    hs_tls_t *t = &hs_tls;
    if (t->attached == HS_THREAD_NEW)
        hs_threads_attach(t);
    if (sites) {
        /* relaxed: on_thread_exit's release increment orders it for readers */
        atomic_fetch_add_explicit(&sites[a.site - 1].started, 1, memory_order_relaxed);
        t->thread_site = a.site;
    }
    hs_thread_event_t ev = {.mono_ns = hs_now_mono_ns(),
                            .start_routine = (uintptr_t)a.fn,
                            .event = HS_THREAD_STARTED,
                            .tid = t->tid,
                            .parent_tid = a.parent_tid,
                            .stack_id = a.stack_id};
    event_push(&ev);
    /* acquire: the hook's module set up what it reads before publishing it */
    void (*hook)(void) = atomic_load_explicit(&hs_threads_start_hook, memory_order_acquire);
    if (hook)
        hook();
    return a.fn(a.arg);
}

void hs_threads_site_totals(uint64_t *started, uint64_t *exited)
{
    *started = *exited = 0;
    if (!sites)
        return;
    uint32_t n = atomic_load_explicit(&site_next, memory_order_acquire);
    if (n > SITE_POOL)
        n = SITE_POOL;
    for (uint32_t i = 0; i < n; i++) {
        thread_site_t *s = &sites[i];
        if (!atomic_load_explicit(&s->published, memory_order_acquire))
            continue;
        *exited += atomic_load_explicit(&s->exited, memory_order_acquire); /* first: see hs_threads_encode_sites */
        *started += atomic_load_explicit(&s->started, memory_order_relaxed);
    }
}
