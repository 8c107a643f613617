/* real.h - the allocator below us and the bootstrap that serves dlsym's own
 * allocations until it is found (see real.c). */
#ifndef HS_REAL_H
#define HS_REAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* The allocator below us (glibc's, or jemalloc's when the program links it).
 * valloc and pvalloc are NULL when that allocator has none of its own (the
 * hooks compose them from its memalign); see hs_real_resolve. */
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
/* Starts out at the bootstrap functions; hs_real_resolve fills it in.
 * Hidden: the hooks' tail calls load the pointer straight from it. */
extern hs_real_fns_t hs_real __attribute__((visibility("hidden")));

/* Finds the next allocator with dlsym(RTLD_NEXT); another thread doing it
 * meanwhile is waited for. Exits the process (127) when there is none: an
 * impossible state, with nothing to forward to. */
void hs_real_resolve(void);

/* pvalloc for an allocator without its own (jemalloc), composed from its
 * memalign exactly as glibc 2.36 does, rounding and ENOMEM included.
 * *rounded is the size asked of memalign. */
void *hs_real_compose_pvalloc(size_t size, size_t *rounded);

/* The bootstrap arena: blocks handed out while dlsym runs. Their filter slots
 * are pinned, so free and realloc reach the slow path and must recognise them
 * (they are never handed to the real allocator). */
#define HS_REAL_BOOT_ARENA_SIZE (64 * 1024)
extern char hs_real_boot_arena[HS_REAL_BOOT_ARENA_SIZE] __attribute__((visibility("hidden")));

static inline int hs_real_is_boot_block(const void *p)
{
    return (uintptr_t)p - (uintptr_t)hs_real_boot_arena < HS_REAL_BOOT_ARENA_SIZE;
}

/* The size a bootstrap block was asked with (for realloc and malloc_usable_size). */
static inline size_t hs_real_boot_block_size(const void *p) { return ((const size_t *)p)[-1]; }

#endif
