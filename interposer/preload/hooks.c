/* hooks.c - the exported allocator entry points. Mechanical by design:
 * count -> countdown -> forward; only an allocation the countdown reaches
 * or a free (or realloc) of an address the filter flags leaves the fast
 * path, by a tail call into record.c. Budget of the
 * unsampled path: malloc = TLS countdown compare/subtract + one counter
 * store + tail call; free = one counter store + one filter byte probe + tail
 * call. Nothing here may take a lock, make a syscall or allocate on the fast
 * path. The allocator below (and the bootstrap that stands in for it while
 * dlsym runs) is real.c's; the per-thread state threads.c's; the filter
 * tables.c's. */
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <stdint.h>
#include <unistd.h>

#include "export.h"
#include "real.h"
#include "record.h"
#include "tables.h"
#include "threads.h"

HS_EXPORT void *malloc(size_t size)
{
    hs_tls_t *t = &hs_tls;
    hs_threads_count(&t->block->allocs);
    if (HS_LIKELY(t->countdown > size)) {
        t->countdown -= size;
        return hs_real.malloc(size);
    }
    return hs_record_sample_point(hs_real.malloc(size), size);
}

HS_EXPORT void free(void *p)
{
    hs_threads_count(&hs_tls.block->frees);
    if (HS_LIKELY(!hs_filter_might_contain(p))) {
        hs_real.free(p);
        return;
    }
    hs_record_free(p);
}

HS_EXPORT void *calloc(size_t count, size_t size)
{
    hs_tls_t *t = &hs_tls;
    size_t total;
    if (__builtin_mul_overflow(count, size, &total))
        total = SIZE_MAX; /* the allocator below fails it with ENOMEM */
    hs_threads_count(&t->block->allocs);
    if (HS_LIKELY(t->countdown > total)) {
        t->countdown -= total;
        return hs_real.calloc(count, size);
    }
    return hs_record_sample_point(hs_real.calloc(count, size), total);
}

HS_EXPORT void *realloc(void *p, size_t size)
{
    hs_tls_t *t = &hs_tls;
    hs_threads_count(&t->block->allocs);
    if (p)
        hs_threads_count(&t->block->frees); /* the old block is released (or moved) */
    if (HS_LIKELY(t->countdown > size && (!p || !hs_filter_might_contain(p)))) {
        t->countdown -= size;
        return hs_real.realloc(p, size);
    }
    return hs_record_realloc(p, size);
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
    hs_threads_count(&t->block->allocs);
    if (HS_LIKELY(t->countdown > size)) {
        t->countdown -= size;
        return p;
    }
    return hs_record_sample_point(p, size);
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

HS_EXPORT void *memalign(size_t align, size_t size) { return after_alloc(hs_real.memalign(align, size), size); }

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
    void *p = hs_real_compose_pvalloc(size, &rounded);
    return after_alloc(p, rounded);
}

HS_EXPORT size_t malloc_usable_size(void *p)
{
    if (p && hs_real_is_boot_block(p))
        return hs_real_boot_block_size(p);
    return hs_real.malloc_usable_size(p);
}
