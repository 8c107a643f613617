/* record.h - the sampled slow path behind the entry points (see record.c). */
#ifndef HS_RECORD_H
#define HS_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "threads.h"

/* The countdown reached an allocation of `size` bytes that returned p (NULL
 * when it failed). Attaches a new thread, draws the next countdown and, for
 * a tracked thread's own allocation, records the block with its stack and
 * passes the safe point. Keeps errno. Returns p, so the hooks tail-call it.
 * Cold: the hooks' unsampled path stays straight-line. */
void *hs_record_sample_point(void *p, size_t size) __attribute__((cold));

/* free(p) of an address the filter flagged: a sampled block, a neighbour in
 * its granule, a bootstrap block (never released) or NULL (its slot is
 * pinned; the call's count is taken back). A sampled block's free is counted
 * on its stack before the real free releases it, so the address cannot be
 * handed out and sampled again meanwhile. Cold, as the filter makes it. */
void hs_record_free(void *p) __attribute__((cold));

/* realloc(p, size) that left the fast path (the countdown reached size, or
 * the filter flagged p). A sampled block's record is taken out before the
 * real realloc (another thread may get the address the moment it returns)
 * and put back if it failed; the new block may be sampled. A bootstrap
 * block moves into the real heap. Returns realloc's result. */
void *hs_record_realloc(void *p, size_t size);

/* pthread_create of a tracked thread, with in_hook set: captures the creation
 * stack on the thread's sampling stack and passes the safe point. Returns
 * the stack's id, or 0 when it could not be recorded (a full stack table; no
 * sampling stack, which counts as a loss). */
uint32_t hs_record_creation_stack(hs_tls_t *t);

#endif
