/* real.c - owns the table of the allocator below us (hs_real) and the
 * bootstrap that stands in for it until dlsym has found it. Until then
 * hs_real points at the boot_* functions below. dlsym itself allocates (its
 * error buffer), which lands back in our hooks: while a thread is resolving,
 * requests are served from a static arena, whose blocks are pinned in the
 * free filter so that free() and realloc() take the slow path, recognise
 * them and never hand them on. Every block must come from the allocator that
 * frees it, so an optional entry point counts only when it is that
 * allocator's own. Exports nothing: the entry points (preload/hooks.c) and
 * the thread start call through hs_real; tables.c pins the bootstrap blocks,
 * heapstats.c tells which object a symbol lies in. No malloc, no lock; the
 * only wait is for another thread's dlsym. */
#include "real.h"

#include <dlfcn.h>
#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "heapstats.h"
#include "tables.h"

/* Blocks up to this alignment are served; dlsym asks for 16 at most. */
#define BOOT_MIN_ALIGN 16
#define BOOT_MAX_ALIGN 4096
/* Each block is preceded by its size (boot_block_size) within this room. */
#define BOOT_HEADER 16
/* The page the bootstrap's valloc and pvalloc round to (no sysconf yet). */
#define BOOT_PAGE 4096

_Alignas(64) char hs_real_boot_arena[HS_REAL_BOOT_ARENA_SIZE];
static _Atomic size_t boot_used;
static _Atomic int resolved; /* 0 no, 1 in progress, 2 done */
/* This thread is inside dlsym, resolving: its allocations are the bootstrap's. */
static __thread int resolving __attribute__((tls_model("initial-exec")));

static void *boot_alloc(size_t size, size_t align)
{
    if (align < BOOT_MIN_ALIGN)
        align = BOOT_MIN_ALIGN;
    if (size > HS_REAL_BOOT_ARENA_SIZE || align > BOOT_MAX_ALIGN)
        return NULL;
    size_t need = size + align + BOOT_HEADER;
    size_t off = atomic_fetch_add(&boot_used, need);
    if (off + need > HS_REAL_BOOT_ARENA_SIZE)
        return NULL;
    uintptr_t base = (uintptr_t)hs_real_boot_arena + off + BOOT_HEADER;
    uintptr_t p = (base + align - 1) & ~(uintptr_t)(align - 1);
    ((size_t *)p)[-1] = size; /* for realloc and malloc_usable_size */
    hs_filter_pin((void *)p);
    return (void *)p; /* static storage: already zero, never reused */
}

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
    boot_malloc,   boot_free,   boot_calloc,  boot_realloc,     boot_posix_memalign, boot_aligned_alloc,
    boot_memalign, boot_valloc, boot_pvalloc, boot_usable_size, boot_pthread_create,
};

#define RESOLVE(field, name)                        \
    do {                                            \
        void *sym = dlsym(RTLD_NEXT, name);         \
        if (sym)                                    \
            memcpy(&next.field, &sym, sizeof(sym)); \
    } while (0)

/* An optional entry point counts only when it is the allocator's own, in the
 * same object as the malloc found: RTLD_NEXT walks on past an allocator that
 * lacks one (jemalloc 5.3 has no pvalloc) to glibc's, whose block comes from
 * glibc's heap and crashes jemalloc's free. Absent ones are composed below. */
#define RESOLVE_OWN(field, name)                                                                             \
    do {                                                                                                     \
        RESOLVE(field, name);                                                                                \
        if (next.field && !hs_heapstats_is_same_object((const void *)next.field, (const void *)next.malloc)) \
            next.field = NULL;                                                                               \
    } while (0)

void hs_real_resolve(void)
{
    int expected = 0;
    if (!atomic_compare_exchange_strong(&resolved, &expected, 1)) {
        /* Another thread is resolving: wait for it (bounded: dlsym does not block on us). */
        while (atomic_load(&resolved) != 2)
            sched_yield();
        return;
    }
    resolving = 1;
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
    resolving = 0;
    if (!next.malloc || !next.free || !next.calloc || !next.realloc || !next.memalign || !next.posix_memalign ||
        !next.pthread_create) {
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

static int boot_serving(void) { return resolving || atomic_load(&resolved) == 1; }

static void *boot_malloc(size_t n)
{
    if (boot_serving())
        return boot_alloc(n, BOOT_MIN_ALIGN);
    hs_real_resolve();
    return hs_real.malloc(n);
}

static void boot_free(void *p)
{
    if (hs_real_is_boot_block(p) || !p)
        return;
    hs_real_resolve();
    hs_real.free(p);
}

static void *boot_calloc(size_t a, size_t b)
{
    size_t n;
    if (boot_serving())
        return __builtin_mul_overflow(a, b, &n) ? NULL : boot_alloc(n, BOOT_MIN_ALIGN);
    hs_real_resolve();
    return hs_real.calloc(a, b);
}

static void *boot_realloc(void *p, size_t n)
{
    if (boot_serving()) {
        void *q = boot_alloc(n, BOOT_MIN_ALIGN);
        if (q && p) {
            size_t old = hs_real_boot_block_size(p);
            memcpy(q, p, old < n ? old : n);
        }
        return q;
    }
    hs_real_resolve();
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
    hs_real_resolve();
    return hs_real.posix_memalign(pp, align, n);
}

static void *boot_aligned_alloc(size_t align, size_t n)
{
    if (boot_serving())
        return boot_alloc(n, align);
    hs_real_resolve();
    return hs_real.aligned_alloc(align, n);
}

static void *boot_memalign(size_t align, size_t n)
{
    if (boot_serving())
        return boot_alloc(n, align);
    hs_real_resolve();
    return hs_real.memalign(align, n);
}

static void *boot_valloc(size_t n)
{
    if (boot_serving())
        return boot_alloc(n, BOOT_PAGE);
    hs_real_resolve();
    return hs_real.valloc ? hs_real.valloc(n) : hs_real.memalign((size_t)sysconf(_SC_PAGESIZE), n);
}

/* The mask -(page - 1) keeps bit 0, as glibc's does: pvalloc(2) asks for
 * 4097 bytes, two pages. And glibc's ENOMEM, which jemalloc's memalign does
 * not set. */
void *hs_real_compose_pvalloc(size_t size, size_t *rounded)
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
        return __builtin_add_overflow(n, BOOT_PAGE - 1, &rounded)
                   ? NULL
                   : boot_alloc(rounded & ~(size_t)(BOOT_PAGE - 1), BOOT_PAGE);
    hs_real_resolve();
    return hs_real.pvalloc ? hs_real.pvalloc(n) : hs_real_compose_pvalloc(n, &rounded);
}

static size_t boot_usable_size(void *p) { return p && hs_real_is_boot_block(p) ? hs_real_boot_block_size(p) : 0; }

static int boot_pthread_create(pthread_t *th, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
    hs_real_resolve();
    return hs_real.pthread_create(th, attr, fn, arg);
}
