/* heapstats.c - owns two facts about the allocator below us: which one
 * serves malloc, and its own heap figures for each snapshot. It must never
 * call mallinfo/mallinfo2/malloc_info/malloc_stats (scripts/audit-lib.sh
 * checks), never allocate, and never wait on a lock the caller may hold.
 * Neighbours: real.c asks it whether an entry point is the allocator's own;
 * snapshot.c calls hs_heapstats_read at safe points and at exit.
 *
 * Why these calls, what they cost and which locks they take (measured on
 * this project's 2-core machines, Debian 12 packages; sources read at the
 * same versions):
 *
 * glibc 2.36: none. mallinfo2 walks every free chunk of every arena under
 *   that arena's mutex: 150 ms on a heap with 1M free chunks, the program's
 *   allocations waiting meanwhile; and exit() from a signal handler that
 *   interrupted malloc deadlocks on the lock its own thread holds. glibc
 *   keeps no running totals (it has no cheaper call), so over glibc the
 *   caller always uses its sampled estimate.
 *
 * jemalloc 5.3 (libjemalloc2; redis-server links it): mallctl("epoch")
 *   refreshes the stats under ctl_mtx, merging for every initialized arena
 *   its counters under the arena's tcache_ql_mtx, mtx and each bin shard's
 *   lock (ctl.c ctl_refresh -> arena_stats_merge): cost grows with arenas x
 *   size classes, never with the number of blocks. 13-300 us here (9
 *   arenas, 1 to 200 threads); a 64-core host has up to 257 arenas, a few
 *   ms. Then "stats.allocated" (bytes in the program's blocks, size-class
 *   rounded) and "stats.resident" (pages the allocator holds: active,
 *   metadata and unused dirty ones, the memory a user sees it keep; "mapped"
 *   leaves dirty pages out) are read under ctl_mtx. Without the epoch the
 *   figures are those of the last refresh, stale by the whole run. Every
 *   one of these locks can be held by a program thread inside jemalloc, and
 *   by the thread itself when exit() runs in a signal handler that
 *   interrupted malloc or mallctl (redis calls mallctl("epoch") from its
 *   cron), and jemalloc's prefork handler takes them all: may_lock only.
 *   Nothing here allocates through malloc (ctl's arrays come from jemalloc's
 *   base allocator; the merge buffer is on the stack).
 *
 * gperftools 2.10 (libtcmalloc-minimal4, libgoogle-perftools4):
 *   MallocExtension_GetNumericProperty("generic.current_allocated_bytes")
 *   runs ExtractStats: the spinlock of each central free list three times
 *   (length, tc_length, OverheadBytes: ~90 size classes), then pageheap_lock
 *   while it walks the list of thread caches (O(threads)). 2.5-4 us for the
 *   two properties we read, 1 to 200 threads. "generic.total_physical_bytes"
 *   (system bytes + metadata - unmapped: what tcmalloc holds backed) is the
 *   reserved figure; "generic.heap_size" on versions without it. The
 *   subtraction behind current_allocated_bytes reads counters at slightly
 *   different moments and can wrap: a figure above the reserved one is
 *   rejected. Spinlocks a program thread may hold: may_lock only.
 *
 * mimalloc 2.0.9 (libmimalloc2.0): mi_process_info reads
 *   _mi_stats_main.committed with relaxed atomic loads (every OS-level
 *   commit and decommit lands there directly, os.c) plus getrusage and
 *   clock_gettime: no lock, no allocation, 1 us; safe at exit and in a signal
 *   handler. It is the only global figure: bytes in use ("malloc", "normal",
 *   "huge") are counted only when built with MI_STAT > 0 (release builds,
 *   Debian's included, have MI_STAT 0), and then per thread, merged into the
 *   main statistics only when a thread ends. So reserved = committed and
 *   in_use = HS_HEAPSTATS_UNKNOWN. Committed is not resident: mimalloc
 *   commits 32 MiB segments eagerly (97 KiB held showed 32 MiB committed).
 *
 * Rejected: parsing malloc_stats_print / MallocExtension_GetStats text
 * (formats into buffers we would have to parse per snapshot, same locks);
 * mimalloc's mi_stats_merge (merges only the calling thread's counters). */
#include "heapstats.h"

#include <dlfcn.h>
#include <link.h>
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

typedef int (*mallctl_fn)(const char *, void *, size_t *, void *, size_t);
typedef int (*numeric_property_fn)(const char *, size_t *);
typedef void (*process_info_fn)(size_t *, size_t *, size_t *, size_t *, size_t *, size_t *, size_t *, size_t *);

/* Written once by init before the library turns READY (whose release store
 * publishes them); read by any thread after. The allocator is an atomic so
 * that a test seam re-running init is still race-free. */
static _Atomic int allocator = HS_HEAP_SOURCE_SAMPLED;
static mallctl_fn je_mallctl;
static numeric_property_fn tc_property;
static const char *tc_reserved_property;
static process_info_fn mi_info;

typedef struct {
    uintptr_t addr;
    const struct dl_phdr_info *found; /* stays valid only inside the walk */
    uintptr_t base;
    int seen;
} object_of_t;

static int find_object(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    object_of_t *q = data;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && q->addr >= lo && q->addr - lo < ph->p_memsz) {
            q->base = info->dlpi_addr;
            q->seen = 1;
            return 1;
        }
    }
    return 0;
}

/* The load base of the object whose segments contain addr (0 if none).
 * Not dladdr: it also searches the object's symbol table for the nearest
 * symbol, 700k instructions for our seven look-ups at load, two thirds of
 * the whole cost of running /bin/true under the library. */
static int object_base(const void *addr, uintptr_t *base)
{
    object_of_t q = {.addr = (uintptr_t)addr};
    dl_iterate_phdr(find_object, &q);
    *base = q.base;
    return q.seen;
}

int hs_heapstats_is_same_object(const void *a, const void *b)
{
    uintptr_t ba, bb;
    if (!a || !b || !object_base(a, &ba) || !object_base(b, &bb))
        return 0;
    return ba == bb;
}

/* The allocator's own `name`, or NULL when the symbol found belongs to
 * another object (or is absent). */
static void *own_symbol(const void *malloc_fn, hs_heapstats_lookup_t lookup, void *ctx, const char *name)
{
    void *sym = lookup(ctx, name);
    return sym && hs_heapstats_is_same_object(sym, malloc_fn) ? sym : NULL;
}

static int read_jemalloc(uint64_t *in_use, uint64_t *reserved)
{
    uint64_t epoch = 1;
    size_t len = sizeof(epoch);
    if (je_mallctl("epoch", &epoch, &len, &epoch, sizeof(epoch)) != 0)
        return -1;
    size_t allocated = 0, resident = 0;
    len = sizeof(size_t);
    if (je_mallctl("stats.allocated", &allocated, &len, NULL, 0) != 0)
        return -1;
    len = sizeof(size_t);
    if (je_mallctl("stats.resident", &resident, &len, NULL, 0) != 0)
        return -1;
    *in_use = allocated;
    *reserved = resident;
    return 0;
}

static int read_tcmalloc(uint64_t *in_use, uint64_t *reserved)
{
    size_t allocated = 0, held = 0;
    if (!tc_property("generic.current_allocated_bytes", &allocated) || !tc_property(tc_reserved_property, &held) ||
        allocated > held)
        return -1;
    *in_use = allocated;
    *reserved = held;
    return 0;
}

static void read_mimalloc(uint64_t *in_use, uint64_t *reserved)
{
    size_t committed = 0;
    mi_info(NULL, NULL, NULL, NULL, NULL, &committed, NULL, NULL);
    *in_use = HS_HEAPSTATS_UNKNOWN;
    *reserved = committed;
}

int hs_heapstats_init_with(const void *malloc_fn, hs_heapstats_lookup_t lookup, void *ctx)
{
    int found = HS_HEAP_SOURCE_SAMPLED;
    je_mallctl = NULL;
    tc_property = NULL;
    mi_info = NULL;
    void *sym;
    uint64_t in_use, reserved;
    /* jemalloc built with a prefix (je_) serves je_malloc, not malloc, so
     * its je_mallctl passes the same-object test only in builds that export
     * both names. */
    if ((sym = own_symbol(malloc_fn, lookup, ctx, "mallctl")) ||
        (sym = own_symbol(malloc_fn, lookup, ctx, "je_mallctl"))) {
        memcpy(&je_mallctl, &sym, sizeof(sym));
        /* A build without stats (--disable-stats) answers ENOENT. */
        if (read_jemalloc(&in_use, &reserved) == 0)
            found = HS_HEAP_SOURCE_JEMALLOC;
    } else if ((sym = own_symbol(malloc_fn, lookup, ctx, "MallocExtension_GetNumericProperty"))) {
        memcpy(&tc_property, &sym, sizeof(sym));
        size_t v;
        tc_reserved_property =
            tc_property("generic.total_physical_bytes", &v) ? "generic.total_physical_bytes" : "generic.heap_size";
        if (read_tcmalloc(&in_use, &reserved) == 0)
            found = HS_HEAP_SOURCE_TCMALLOC;
    } else if ((sym = own_symbol(malloc_fn, lookup, ctx, "mi_process_info"))) {
        memcpy(&mi_info, &sym, sizeof(sym));
        found = HS_HEAP_SOURCE_MIMALLOC;
    }
    atomic_store_explicit(&allocator, found, memory_order_release);
    return found;
}

static void *lookup_next(void *ctx, const char *name)
{
    (void)ctx;
    return dlsym(RTLD_NEXT, name);
}

void hs_heapstats_init(void)
{
    /* From this library RTLD_NEXT finds what hs_real_resolve found: the
     * malloc that serves the program. */
    int saved_errno = errno;
    hs_heapstats_init_with(dlsym(RTLD_NEXT, "malloc"), lookup_next, NULL);
    errno = saved_errno;
}

int hs_heapstats_allocator(void) { return atomic_load_explicit(&allocator, memory_order_acquire); }

int hs_heapstats_read(uint64_t *in_use, uint64_t *reserved, int may_lock)
{
    int source = atomic_load_explicit(&allocator, memory_order_acquire);
    int saved_errno = errno;
    switch (source) {
    case HS_HEAP_SOURCE_JEMALLOC:
        if (!may_lock || read_jemalloc(in_use, reserved) != 0)
            source = HS_HEAP_SOURCE_SAMPLED;
        break;
    case HS_HEAP_SOURCE_TCMALLOC:
        if (!may_lock || read_tcmalloc(in_use, reserved) != 0)
            source = HS_HEAP_SOURCE_SAMPLED;
        break;
    case HS_HEAP_SOURCE_MIMALLOC:
        read_mimalloc(in_use, reserved); /* lock-free: also with may_lock 0 */
        break;
    default: source = HS_HEAP_SOURCE_SAMPLED;
    }
    errno = saved_errno;
    return source;
}

const char *hs_heapstats_source_name(int source)
{
    switch (source) {
    case HS_HEAP_SOURCE_SAMPLED: return "sampled";
    case HS_HEAP_SOURCE_JEMALLOC: return "jemalloc";
    case HS_HEAP_SOURCE_TCMALLOC: return "tcmalloc";
    case HS_HEAP_SOURCE_MIMALLOC: return "mimalloc";
    default: return "unknown";
    }
}
