/* stackhash.h - the hash of a captured stack, from its outermost frame to
 * its innermost, so that a walk that copies the deep part of the last one
 * (unwind.c) continues that part's hash instead of hashing every frame
 * again; tables.c interns stacks by it. */
#ifndef HS_STACKHASH_H
#define HS_STACKHASH_H

#include <stdint.h>

#define HS_STACK_HASH_SEED 0xcbf29ce484222325ull

static inline uint64_t hs_stack_hash_step(uint64_t h, uintptr_t pc)
{
    h ^= pc;
    h *= 0x100000001b3ull;
    return h ^ (h >> 29);
}

/* Never 0 (0 means "no hash" to the callers). */
static inline uint64_t hs_stack_hash_finish(uint64_t h, uint32_t depth)
{
    h = hs_stack_hash_step(h, depth);
    return h ? h : 1;
}

#endif
