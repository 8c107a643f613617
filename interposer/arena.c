/* arena.c - metadata memory for the interposer: a lock-free bump allocator
 * over 1 MiB mmap chunks plus direct mappings for the big tables. It must
 * never call malloc (it serves code that runs inside malloc) and never take a
 * lock (a thread may be interrupted anywhere, including by fork). */
#include "arena.h"

#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>

#define HS_ARENA_CHUNK (1u << 20)

typedef struct hs_chunk {
    _Atomic size_t used;
    size_t cap;
} hs_chunk_t;

static _Atomic(hs_chunk_t *) current_chunk;
static _Atomic size_t mapped_bytes;

void *hs_map(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    atomic_fetch_add_explicit(&mapped_bytes, size, memory_order_relaxed);
    return p;
}

void hs_map_prefer_huge(void *p, size_t size)
{
#ifdef MADV_HUGEPAGE
    (void)madvise(p, size, MADV_HUGEPAGE); /* advice: no THP, no harm */
#else
    (void)p;
    (void)size;
#endif
}

void hs_unmap(void *p, size_t size)
{
    if (p && munmap(p, size) == 0)
        atomic_fetch_sub_explicit(&mapped_bytes, size, memory_order_relaxed);
}

size_t hs_arena_mapped_bytes(void) { return atomic_load_explicit(&mapped_bytes, memory_order_relaxed); }

void *hs_arena_alloc(size_t size)
{
    size = (size + 15) & ~(size_t)15;
    for (;;) {
        /* acquire: pairs with the release CAS below so the chunk header is seen initialised */
        hs_chunk_t *c = atomic_load_explicit(&current_chunk, memory_order_acquire);
        if (c) {
            size_t off = atomic_fetch_add_explicit(&c->used, size, memory_order_relaxed);
            if (off + size <= c->cap)
                return (char *)c + off;
        }
        /* The current chunk is exhausted (its tail is abandoned): map a new one. */
        size_t cap = HS_ARENA_CHUNK;
        while (cap < size + 64)
            cap *= 2;
        hs_chunk_t *fresh = hs_map(cap);
        if (!fresh)
            return NULL;
        fresh->cap = cap;
        atomic_store_explicit(&fresh->used, 64, memory_order_relaxed);
        if (!atomic_compare_exchange_strong_explicit(&current_chunk, &c, fresh, memory_order_release,
                                                     memory_order_acquire))
            hs_unmap(fresh, cap); /* another thread installed one first: use that */
    }
}
