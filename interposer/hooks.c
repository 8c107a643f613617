/* hooks.c - the exported allocator entry points. Mechanical by design:
 * count -> countdown -> forward; only a sampled allocation or a free that
 * hits the filter leaves the fast path. Budget of the unsampled path:
 * malloc = TLS countdown compare/subtract + one counter store + tail call;
 * free = one counter store + one filter byte probe + tail call.
 * Nothing here may take a lock, make a syscall or allocate on the fast path. */
#include <dlfcn.h>
#include <malloc.h>
#include <stdlib.h>
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "capture.h"
#include "heapstats.h"
#include "hs_format.h"
#include "log.h"
#include "snapshot.h"
#include "state.h"
#include "tables.h"

__thread hs_tls_t hs_tls __attribute__((tls_model("initial-exec"))) = {.block = &hs_block_unattached};
hs_thread_block_t hs_block_unattached;
_Atomic uint64_t hs_lost_samples;
static _Atomic int loss_logged;

void hs_lose_sample(const char *why)
{
    atomic_fetch_add_explicit(&hs_lost_samples, 1, memory_order_relaxed);
    if (!atomic_exchange_explicit(&loss_logged, 1, memory_order_relaxed))
        hs_log("dropping samples (%s); the dump counts them in lost_samples, the program runs on", why);
}

/* ---- bootstrap ------------------------------------------------------------
 * Until dlsym has found the next allocator, hs_real points at the boot_*
 * functions below. dlsym itself allocates (its error buffer), which lands
 * back here: while a thread is resolving, requests are served from a static
 * arena. Its blocks are pinned in the free filter so that free() and
 * realloc() take the slow path, recognise them and never hand them on. */
#define BOOT_ARENA_SIZE (64 * 1024)
static _Alignas(64) char boot_arena[BOOT_ARENA_SIZE];
static _Atomic size_t boot_used;
static _Atomic int resolved; /* 0 no, 1 in progress, 2 done */

static int boot_owns(const void *p)
{
    return (uintptr_t)p - (uintptr_t)boot_arena < BOOT_ARENA_SIZE;
}

static void *boot_alloc(size_t size, size_t align)
{
    if (align < 16)
        align = 16;
    if (size > BOOT_ARENA_SIZE || align > 4096)
        return NULL;
    size_t need = size + align + 16;
    size_t off = atomic_fetch_add(&boot_used, need);
    if (off + need > BOOT_ARENA_SIZE)
        return NULL;
    uintptr_t base = (uintptr_t)boot_arena + off + 16;
    uintptr_t p = (base + align - 1) & ~(uintptr_t)(align - 1);
    ((size_t *)p)[-1] = size; /* for realloc and malloc_usable_size */
    hs_filter_pin((void *)p);
    return (void *)p; /* static storage: already zero, never reused */
}

static size_t boot_size(const void *p) { return ((const size_t *)p)[-1]; }

static void *boot_malloc(size_t n);
static void boot_free(void *p);
static void *boot_calloc(size_t a, size_t b);
static void *boot_realloc(void *p, size_t n);
static int boot_posix_memalign(void **pp, size_t align, size_t n);
static void *boot_aligned_alloc(size_t align, size_t n);
static void *boot_memalign(size_t align, size_t n);
static void *boot_valloc(size_t n);
static void *boot_pvalloc(size_t n);
static size_t boot_usable_size(void *p);
static int boot_pthread_create(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);

hs_real_fns_t hs_real = {
    boot_malloc,  boot_free,   boot_calloc,      boot_realloc,        boot_posix_memalign,
    boot_aligned_alloc, boot_memalign, boot_valloc, boot_pvalloc, boot_usable_size, boot_pthread_create,
};

#define RESOLVE(field, name)                                                                          \
    do {                                                                                              \
        void *sym = dlsym(RTLD_NEXT, name);                                                           \
        if (sym)                                                                                      \
            memcpy(&next.field, &sym, sizeof(sym));                                                   \
    } while (0)

/* An optional entry point counts only when it is the allocator's own, in the
 * same object as the malloc found: RTLD_NEXT walks on past an allocator that
 * lacks one (jemalloc 5.3 has no pvalloc) to glibc's, whose block comes from
 * glibc's heap and crashes jemalloc's free. Absent ones are composed below. */
#define RESOLVE_OWN(field, name)                                                                      \
    do {                                                                                              \
        RESOLVE(field, name);                                                                         \
        if (next.field && !hs_heapstats_is_same_object((const void *)next.field, (const void *)next.malloc)) \
            next.field = NULL;                                                                        \
    } while (0)

void hs_resolve_real(void)
{
    int expected = 0;
    if (!atomic_compare_exchange_strong(&resolved, &expected, 1)) {
        /* Another thread is resolving: wait for it (bounded: dlsym does not block on us). */
        while (atomic_load(&resolved) != 2)
            sched_yield();
        return;
    }
    hs_tls.resolving = 1;
    hs_real_fns_t next = {0};
    RESOLVE(malloc, "malloc");
    RESOLVE(free, "free");
    RESOLVE(calloc, "calloc");
    RESOLVE(realloc, "realloc");
    RESOLVE(posix_memalign, "posix_memalign");
    RESOLVE_OWN(aligned_alloc, "aligned_alloc");
    RESOLVE(memalign, "memalign");
    RESOLVE_OWN(valloc, "valloc");
    RESOLVE_OWN(pvalloc, "pvalloc");
    RESOLVE_OWN(malloc_usable_size, "malloc_usable_size");
    RESOLVE(pthread_create, "pthread_create");
    hs_tls.resolving = 0;
    if (!next.malloc || !next.free || !next.calloc || !next.realloc || !next.memalign ||
        !next.posix_memalign || !next.pthread_create) {
        static const char msg[] = "heapscope: fatal: cannot find the next allocator with dlsym\n";
        ssize_t w = write(2, msg, sizeof(msg) - 1);
        (void)w;
        _exit(127); /* an impossible state: there is no allocator to forward to */
    }
    /* Optional in some allocators: compose them from memalign like glibc
     * 2.36 does (valloc and pvalloc: in their entry points). */
    if (!next.aligned_alloc)
        next.aligned_alloc = next.memalign;
    if (!next.malloc_usable_size)
        next.malloc_usable_size = boot_usable_size;
    hs_real = next;
    atomic_store(&resolved, 2);
}

static int boot_serving(void) { return hs_tls.resolving || atomic_load(&resolved) == 1; }

static void *boot_malloc(size_t n)
{
    if (boot_serving())
        return boot_alloc(n, 16);
    hs_resolve_real();
    return hs_real.malloc(n);
}

static void boot_free(void *p)
{
    if (boot_owns(p) || !p)
        return;
    hs_resolve_real();
    hs_real.free(p);
}

static void *boot_calloc(size_t a, size_t b)
{
    size_t n;
    if (boot_serving())
        return __builtin_mul_overflow(a, b, &n) ? NULL : boot_alloc(n, 16);
    hs_resolve_real();
    return hs_real.calloc(a, b);
}

static void *boot_realloc(void *p, size_t n)
{
    if (boot_serving()) {
        void *q = boot_alloc(n, 16);
        if (q && p)
            memcpy(q, p, boot_size(p) < n ? boot_size(p) : n);
        return q;
    }
    hs_resolve_real();
    return hs_real.realloc(p, n);
}

static int boot_posix_memalign(void **pp, size_t align, size_t n)
{
    if (boot_serving()) {
        void *q = boot_alloc(n, align);
        if (!q)
            return ENOMEM;
        *pp = q;
        return 0;
    }
    hs_resolve_real();
    return hs_real.posix_memalign(pp, align, n);
}

static void *boot_aligned_alloc(size_t align, size_t n)
{
    if (boot_serving())
        return boot_alloc(n, align);
    hs_resolve_real();
    return hs_real.aligned_alloc(align, n);
}

static void *boot_memalign(size_t align, size_t n)
{
    if (boot_serving())
        return boot_alloc(n, align);
    hs_resolve_real();
    return hs_real.memalign(align, n);
}

static void *boot_valloc(size_t n)
{
    if (boot_serving())
        return boot_alloc(n, 4096);
    hs_resolve_real();
    return hs_real.valloc ? hs_real.valloc(n) : hs_real.memalign((size_t)sysconf(_SC_PAGESIZE), n);
}

/* pvalloc for an allocator without its own (jemalloc), composed from its
 * memalign exactly as glibc 2.36 does, rounding included (the mask
 * -(page - 1) keeps bit 0: pvalloc(2) asks for 4097 bytes, two pages), and
 * with glibc's ENOMEM, which jemalloc's memalign does not set. *rounded is
 * the size asked of memalign. */
static void *compose_pvalloc(size_t size, size_t *rounded)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    if (__builtin_add_overflow(size, page - 1, rounded)) {
        *rounded = size;
        errno = ENOMEM;
        return NULL;
    }
    *rounded &= -(page - 1);
    void *p = hs_real.memalign(page, *rounded);
    if (!p)
        errno = ENOMEM;
    return p;
}

static void *boot_pvalloc(size_t n)
{
    size_t rounded;
    if (boot_serving())
        return __builtin_add_overflow(n, 4095, &rounded) ? NULL : boot_alloc(rounded & ~(size_t)4095, 4096);
    hs_resolve_real();
    return hs_real.pvalloc ? hs_real.pvalloc(n) : compose_pvalloc(n, &rounded);
}

static size_t boot_usable_size(void *p) { return p && boot_owns(p) ? boot_size(p) : 0; }

static int boot_pthread_create(pthread_t *th, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
    hs_resolve_real();
    return hs_real.pthread_create(th, attr, fn, arg);
}

/* ---- sampling slow path ----------------------------------------------------
 * Runs on the thread's own sampling stack (altstack.c) with the re-entrancy
 * guard held: the host's stack only carries sample_point's frame. */

uint32_t hs_record_stack_id(void)
{
    uintptr_t frames[HS_MAX_DEPTH_LIMIT + 8];
    uint32_t depth = hs_capture_stack(frames, hs_cfg.max_depth);
    hs_stack_t *s = hs_stack_intern(frames, depth);
    return s ? s->id : 0;
}

/* Inlined into sample_on_own_stack: one frame fewer to unwind per sample. */
static inline __attribute__((always_inline)) void record_alloc(void *p, size_t size)
{
    uintptr_t frames[HS_MAX_DEPTH_LIMIT + 8];
    uint32_t depth = hs_capture_stack(frames, hs_cfg.max_depth);
    hs_stack_t *s = hs_stack_intern(frames, depth);
    if (!s) {
        hs_lose_sample("stack table full or out of memory");
    } else if (hs_live_insert(p, s->id, size) != 0) {
        hs_lose_sample("live-block table full");
    } else {
        hs_filter_add(p);
        hs_stack_add_alloc(s, size, hs_sampler_weight(size, hs_cfg.sample_rate));
    }
}

typedef struct {
    void *p;
    size_t size;
} sample_job_t;

static void sample_on_own_stack(void *arg)
{
    sample_job_t *job = arg;
    record_alloc(job->p, job->size);
    /* Then what is due: the heap as it is now, this block included (a
     * realloc'd block's old record is already gone, its new one in). */
    hs_snapshot_safe_point();
}

/* The countdown reached an allocation of `size` bytes that returned p.
 * Decides whether it is sampled, draws the next countdown, records. */
static __attribute__((noinline, cold)) void *sample_point(void *p, size_t size)
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
        hs_thread_attach(t);
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
    sample_job_t job = {p, size};
    if (hs_thread_run_on_own_stack(t, sample_on_own_stack, &job) != 0)
        hs_lose_sample("no memory for a sampling stack");
    t->in_hook = 0;
out:
    errno = saved_errno;
    return p;
}

/* A free (or realloc) of an address the filter flagged: if it is a sampled
 * block, account the free on its stack. Runs before the block is released,
 * so the address cannot be handed out and sampled again meanwhile. */
static int forget(void *p)
{
    uint32_t stack_id;
    uint64_t size;
    if (atomic_load_explicit(&hs_state, memory_order_acquire) != HS_STATE_READY ||
        !hs_live_remove(p, &stack_id, &size))
        return 0;
    hs_filter_remove(p);
    hs_stack_t *s = hs_stack_by_id(stack_id);
    if (s)
        hs_stack_add_free(s, size, hs_sampler_weight(size, hs_cfg.sample_rate));
    return 1;
}

static __attribute__((noinline, cold)) void free_slow(void *p)
{
    if (!p) {
        /* free(NULL) reaches here through the pinned filter slot of address 0;
         * it is not a call that frees anything, so take back its count. */
        hs_thread_block_t *b = hs_tls.block;
        atomic_store_explicit(&b->frees, atomic_load_explicit(&b->frees, memory_order_relaxed) - 1,
                              memory_order_relaxed);
        return;
    }
    if (boot_owns(p))
        return;
    forget(p);
    hs_real.free(p);
}

/* ---- exported entry points -------------------------------------------------- */

HS_EXPORT void *malloc(size_t size)
{
    hs_tls_t *t = &hs_tls;
    hs_count(&t->block->allocs);
    if (HS_LIKELY(t->countdown > size)) {
        t->countdown -= size;
        return hs_real.malloc(size);
    }
    return sample_point(hs_real.malloc(size), size);
}

HS_EXPORT void free(void *p)
{
    hs_count(&hs_tls.block->frees);
    if (HS_LIKELY(!hs_filter_might_contain(p))) {
        hs_real.free(p);
        return;
    }
    free_slow(p);
}

HS_EXPORT void *calloc(size_t count, size_t size)
{
    hs_tls_t *t = &hs_tls;
    size_t total;
    if (__builtin_mul_overflow(count, size, &total))
        total = SIZE_MAX; /* the allocator below fails it with ENOMEM */
    hs_count(&t->block->allocs);
    if (HS_LIKELY(t->countdown > total)) {
        t->countdown -= total;
        return hs_real.calloc(count, size);
    }
    return sample_point(hs_real.calloc(count, size), total);
}

static __attribute__((noinline)) void *realloc_slow(void *p, size_t size)
{
    if (p && boot_owns(p)) {
        /* Move a bootstrap block into the real heap; the old one stays put. */
        void *q = hs_real.malloc(size);
        if (q)
            memcpy(q, p, boot_size(p) < size ? boot_size(p) : size);
        return sample_point(q, size);
    }
    uint32_t stack_id = 0;
    uint64_t old_size = 0;
    int sampled = 0;
    if (p && atomic_load_explicit(&hs_state, memory_order_acquire) == HS_STATE_READY &&
        hs_live_remove(p, &stack_id, &old_size)) {
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
    return sample_point(q, size);
}

HS_EXPORT void *realloc(void *p, size_t size)
{
    hs_tls_t *t = &hs_tls;
    hs_count(&t->block->allocs);
    if (p)
        hs_count(&t->block->frees); /* the old block is released (or moved) */
    if (HS_LIKELY(t->countdown > size && (!p || !hs_filter_might_contain(p)))) {
        t->countdown -= size;
        return hs_real.realloc(p, size);
    }
    return realloc_slow(p, size);
}

HS_EXPORT void *reallocarray(void *p, size_t count, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(count, size, &total)) {
        errno = ENOMEM; /* as glibc: overflow is ENOMEM and p is untouched */
        return NULL;
    }
    return realloc(p, total);
}

/* The memalign family is rare: count, forward, then the common sample check. */
static void *after_alloc(void *p, size_t size)
{
    hs_tls_t *t = &hs_tls;
    hs_count(&t->block->allocs);
    if (HS_LIKELY(t->countdown > size)) {
        t->countdown -= size;
        return p;
    }
    return sample_point(p, size);
}

HS_EXPORT int posix_memalign(void **pp, size_t align, size_t size)
{
    void *p = NULL;
    int rc = hs_real.posix_memalign(&p, align, size);
    after_alloc(rc == 0 ? p : NULL, size);
    if (rc == 0)
        *pp = p; /* written only on success, as glibc does */
    return rc;
}

HS_EXPORT void *aligned_alloc(size_t align, size_t size)
{
    return after_alloc(hs_real.aligned_alloc(align, size), size);
}

HS_EXPORT void *memalign(size_t align, size_t size)
{
    return after_alloc(hs_real.memalign(align, size), size);
}

HS_EXPORT void *valloc(size_t size)
{
    void *p = hs_real.valloc ? hs_real.valloc(size) : hs_real.memalign((size_t)sysconf(_SC_PAGESIZE), size);
    return after_alloc(p, size);
}

HS_EXPORT void *pvalloc(size_t size)
{
    size_t rounded;
    if (hs_real.pvalloc) {
        /* The allocator's own (glibc, tcmalloc, mimalloc): its rounding, its
         * errno. Sampled as the whole pages the program may use. */
        size_t page = (size_t)sysconf(_SC_PAGESIZE);
        if (size == 0 || __builtin_add_overflow(size, page - 1, &rounded))
            rounded = page;
        else
            rounded &= ~(page - 1);
        return after_alloc(hs_real.pvalloc(size), rounded);
    }
    void *p = compose_pvalloc(size, &rounded);
    return after_alloc(p, rounded);
}

HS_EXPORT size_t malloc_usable_size(void *p)
{
    if (p && boot_owns(p))
        return boot_size(p);
    return hs_real.malloc_usable_size(p);
}
