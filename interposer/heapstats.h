/* heapstats.h - which allocator serves malloc, and its own cheap heap
 * figures for each snapshot (never glibc's mallinfo2: it walks the heap
 * under the arena lock). The sources are enum hs_heap_source (hs_format.h). */
#ifndef HS_HEAPSTATS_H
#define HS_HEAPSTATS_H

#include <stdint.h>

#include "hs_format.h"

/* *in_use when the allocator cannot tell: use the sampled estimate. */
#define HS_HEAPSTATS_UNKNOWN UINT64_MAX

/* At load, after hs_real_resolve, before READY (a failed dlsym allocates
 * its error message: the hooks must forward). Finds the statistics call of
 * the allocator that serves malloc, if it has one we use. */
void hs_heapstats_init(void);

/* The heap figures of this moment. Returns the source, and then *reserved
 * holds the bytes the allocator holds from the kernel and *in_use the bytes
 * the program's live blocks take, or HS_HEAPSTATS_UNKNOWN when the allocator
 * does not count them (mimalloc): use the sampled estimate for it. Returns
 * HS_HEAP_SOURCE_SAMPLED, leaving both untouched, when the caller must use
 * its sampled estimate for both: always over glibc, and over jemalloc and
 * tcmalloc when may_lock is 0. may_lock = 1 only where the calling thread
 * holds none of the allocator's locks (a safe point after the real malloc
 * returned); 0 at exit, in a signal handler, and in a fork
 * handler (jemalloc's prefork handler may already hold every one of its
 * locks). Never allocates, never changes errno; up to ~0.3 ms (jemalloc). */
int hs_heapstats_read(uint64_t *in_use, uint64_t *reserved, int may_lock);

/* The allocator hs_heapstats_init found (HS_HEAP_SOURCE_SAMPLED: glibc or
 * one whose statistics we do not use), for a log line. */
int hs_heapstats_allocator(void);

/* "sampled", "jemalloc", "tcmalloc", "mimalloc"; "unknown" otherwise. */
const char *hs_heapstats_source_name(int source);

/* Are a and b (functions or data) in the same loaded object? The rule for
 * every optional entry point and statistics call: only the allocator's own
 * counts, never a same-named symbol of a library further down the search
 * order (glibc's pvalloc on a jemalloc heap). 0 when either is unknown. */
int hs_heapstats_is_same_object(const void *a, const void *b);

/* The test seam behind hs_heapstats_init: lookup(ctx, name) finds a symbol
 * (the library passes dlsym(RTLD_NEXT, name)); malloc_fn is the malloc that
 * serves the program. Returns what hs_heapstats_allocator will say. */
typedef void *(*hs_heapstats_lookup_t)(void *ctx, const char *name);
int hs_heapstats_init_with(const void *malloc_fn, hs_heapstats_lookup_t lookup, void *ctx);

#endif
