/* tables.h - the interposer's shared lock-free tables:
 *   filter  - "might this address be a sampled block?" (no false negatives),
 *             probed by every free; 1 MiB of saturating u8 counters.
 *   live    - sampled block address -> (stack id, size); open addressing.
 *   stacks  - deduplicated stacks with their sampled counters.
 * Any thread may insert or remove; nothing here takes a lock or calls malloc. */
#ifndef HS_TABLES_H
#define HS_TABLES_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define HS_FILTER_BITS 20
#define HS_FILTER_SATURATED 255
extern _Atomic uint8_t hs_filter[1u << HS_FILTER_BITS];

/* The index is the address's 256-byte granule modulo 256 MiB: two
 * instructions, and a program freeing blocks near each other probes the
 * same few filter lines (one line covers 16 KiB of heap), which stay in L1.
 * A multiplicative hash spread probes over the whole 1 MiB and missed L1 on
 * 95% of frees in the churn benchmark; 16-byte granules still missed on 72%.
 * Cost: the neighbours of a sampled block within its granule also take the
 * slow path, about 256 B / sample rate of frees (0.05% at the default). */
#define HS_FILTER_GRANULE_SHIFT 8
static inline size_t hs_filter_index(const void *p)
{
    return (size_t)(((uintptr_t)p >> HS_FILTER_GRANULE_SHIFT) & ((1u << HS_FILTER_BITS) - 1));
}

/* relaxed: an address is added before the block is handed to the program,
 * and the program's own hand-off of the pointer to the freeing thread orders
 * that store before this load. */
static inline int hs_filter_might_contain(const void *p)
{
    return atomic_load_explicit(&hs_filter[hs_filter_index(p)], memory_order_relaxed) != 0;
}
void hs_filter_add(const void *p);
void hs_filter_remove(const void *p);
/* Makes the address's slot a permanent hit (bootstrap blocks, NULL). */
void hs_filter_pin(const void *p);

/* Sizes the live table for the sample rate and maps the tables.
 * Returns 0, or -1 when the kernel refused the memory. */
int hs_tables_init(uint64_t sample_rate);
/* Resets the tables to empty (unit tests only). */
void hs_tables_reset_for_tests(void);

#define HS_LIVE_MAX_SIZE ((1ull << 40) - 1) /* sizes above are recorded as this */
/* Records a sampled block. 0 on success, -1 when its probe window is full. */
int hs_live_insert(const void *p, uint32_t stack_id, uint64_t size);
/* Starts loading p's home slot, so that the insert after a stack walk does
 * not wait for memory (the table is 64 MiB at rate 1: every slot a miss). */
void hs_live_prefetch(const void *p);
/* Removes a sampled block; returns 1 and its record if it was there. */
int hs_live_remove(const void *p, uint32_t *stack_id, uint64_t *size);
size_t hs_live_capacity(void);

typedef struct hs_stack {
    uint64_t hash;
    uint32_t id, depth;
    /* Sampled counters, any thread, relaxed: the snapshot writer only needs each
     * value eventually, never a consistent cut across them. */
    _Atomic uint64_t allocs, alloc_bytes, frees, free_bytes;
    /* Unbiased estimates as IEEE doubles in u64 bits, updated by CAS. */
    _Atomic uint64_t est_alloc_objects, est_alloc_bytes, est_free_objects, est_free_bytes;
    /* Owned by the snapshot writer (snapshot.c): what the current dump file
     * has of this stack. */
    uint32_t file_gen; /* file generation the two fields below refer to */
    uint32_t written;  /* STACK record written to that file */
    uint64_t last_allocs, last_frees;
    uintptr_t frames[];
} hs_stack_t;

#define HS_STACK_MAX_IDS (1u << 17)
/* Finds or adds the stack; NULL when the table is full or memory ran out. */
hs_stack_t *hs_stack_intern(const uintptr_t *frames, uint32_t depth);
/* The same with the frames' hash already known (stackhash.h): the stack
 * walker continues the hash of the part it copied from its last walk. */
hs_stack_t *hs_stack_intern_hashed(const uintptr_t *frames, uint32_t depth, uint64_t hash);
void hs_stack_add_alloc(hs_stack_t *s, uint64_t size, double weight);
void hs_stack_add_free(hs_stack_t *s, uint64_t size, double weight);
/* Highest id handed out so far (ids are 1..count, possibly with holes). */
uint32_t hs_stack_count(void);
/* NULL for holes and ids not yet published. */
hs_stack_t *hs_stack_by_id(uint32_t id);
double hs_stack_load_f64(_Atomic uint64_t *bits);

#endif
