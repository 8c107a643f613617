/* tables.c - lock-free tables shared by every allocating thread and the
 * snapshot writer (see tables.h). Rules: no mutex, no malloc (memory comes from
 * arena.c), every probe loop bounded, and an insert that finds no room fails
 * (the caller counts a lost sample) rather than waiting or growing. */
#include "tables.h"

#include <string.h>

#include "arena.h"
#include "stackhash.h"

_Atomic uint8_t hs_filter[1u << HS_FILTER_BITS];

void hs_filter_add(const void *p)
{
    _Atomic uint8_t *c = &hs_filter[hs_filter_index(p)];
    uint8_t v = atomic_load_explicit(c, memory_order_relaxed);
    /* Saturating: at 255 the slot stays a hit forever (never a false negative). */
    while (v != HS_FILTER_SATURATED &&
           !atomic_compare_exchange_weak_explicit(c, &v, (uint8_t)(v + 1), memory_order_relaxed, memory_order_relaxed))
        ;
}

void hs_filter_remove(const void *p)
{
    _Atomic uint8_t *c = &hs_filter[hs_filter_index(p)];
    uint8_t v = atomic_load_explicit(c, memory_order_relaxed);
    while (v != HS_FILTER_SATURATED && v != 0 &&
           !atomic_compare_exchange_weak_explicit(c, &v, (uint8_t)(v - 1), memory_order_relaxed, memory_order_relaxed))
        ;
}

void hs_filter_pin(const void *p)
{
    atomic_store_explicit(&hs_filter[hs_filter_index(p)], HS_FILTER_SATURATED, memory_order_relaxed);
}

/* ---- live blocks ---------------------------------------------------------
 * Slot key: 0 empty, 1 tombstone, else the block address. An address is only
 * inserted by the thread that got it from malloc and only removed by the
 * thread freeing it, after the program handed it over, so the same key never
 * races with itself. Tombstones are reused by inserts but never turned back
 * into empties, so a lookup may stop at the first empty slot.
 *
 * A big table (rate 1: 4M slots, 64 MiB) has two levels: a near one of
 * 512K slots (8 MiB, mostly in the last-level cache) probed at most 8 slots
 * deep, and the big one behind it for what finds no room near. Inserts and
 * lookups probe the same slots of the near level, so a block is found where
 * it was put; a program with fewer live samples than the near level holds
 * never touches the big one (a random slot of 64 MiB was a cache miss on
 * every malloc and free: a fifth of a CPython run's time). */
#define LIVE_EMPTY 0
#define LIVE_TOMBSTONE 1
#define LIVE_PROBES 64
#define LIVE_NEAR_SLOTS ((size_t)1 << 19)
#define LIVE_NEAR_PROBES 8

typedef struct {
    _Atomic uintptr_t key;
    _Atomic uint64_t value; /* size << 24 | stack id */
} live_slot_t;

typedef struct {
    live_slot_t *slots;
    size_t mask;
    int probes;
} live_level_t;

static live_level_t live_lv[2];
static int live_levels;

#define STACK_SLOT_BITS 18
#define STACK_PROBES 128
static _Atomic(hs_stack_t *) *stack_slots; /* hash -> stack */
static _Atomic(hs_stack_t *) *stack_by_id; /* id -> stack */
static _Atomic uint32_t stack_next_id = 1;

int hs_tables_init(uint64_t sample_rate)
{
    /* Room for the samples of a 16 GiB live heap at twice that many slots;
     * 1 MiB at the default rate, 64 MiB in exact mode (rate 1). */
    uint64_t want = ((uint64_t)16 << 30) / (sample_rate ? sample_rate : 1) * 2;
    size_t slots = 1u << 14;
    while (slots < want && slots < (1u << 22))
        slots <<= 1;
    live_levels = slots > LIVE_NEAR_SLOTS ? 2 : 1;
    for (int l = 0; l < live_levels; l++) {
        size_t n = live_levels == 2 && l == 0 ? LIVE_NEAR_SLOTS : slots;
        live_lv[l].slots = hs_map(n * sizeof(live_slot_t));
        if (!live_lv[l].slots)
            return -1;
        live_lv[l].mask = n - 1;
        live_lv[l].probes = live_levels == 2 && l == 0 ? LIVE_NEAR_PROBES : LIVE_PROBES;
    }
    /* The near level is touched at random all over: huge pages where the
     * kernel offers them (fewer TLB misses). Not the big one: a program
     * that spills into it would fault in (and have the kernel compact
     * memory for) 2 MiB at a time, which took a fifth of a CPython run
     * with 460K live objects; its 4 KiB pages are faulted in as used. */
    if (live_levels == 2)
        hs_map_prefer_huge(live_lv[0].slots, (live_lv[0].mask + 1) * sizeof(live_slot_t));
    stack_slots = hs_map(sizeof(*stack_slots) << STACK_SLOT_BITS);
    stack_by_id = hs_map(sizeof(*stack_by_id) * HS_STACK_MAX_IDS);
    if (!stack_slots || !stack_by_id)
        return -1;
    hs_filter_pin(NULL); /* free(NULL) leaves the fast path without its own test */
    return 0;
}

void hs_tables_reset_for_tests(void)
{
    for (int l = 0; l < live_levels; l++)
        memset(live_lv[l].slots, 0, (live_lv[l].mask + 1) * sizeof(live_slot_t));
    memset((void *)stack_slots, 0, sizeof(*stack_slots) << STACK_SLOT_BITS);
    memset((void *)stack_by_id, 0, sizeof(*stack_by_id) * HS_STACK_MAX_IDS);
    memset((void *)hs_filter, 0, sizeof(hs_filter));
    atomic_store(&stack_next_id, 1);
    hs_filter_pin(NULL);
}

size_t hs_live_capacity(void)
{
    size_t n = 0;
    for (int l = 0; l < live_levels; l++)
        n += live_lv[l].mask + 1;
    return n;
}

static size_t live_hash(const void *p)
{
    uint64_t h = (uintptr_t)p * 0xC2B2AE3D27D4EB4Full;
    return (size_t)(h >> 32 ^ h);
}

void hs_live_prefetch(const void *p) { __builtin_prefetch(&live_lv[0].slots[live_hash(p) & live_lv[0].mask], 1, 3); }

static int level_insert(const live_level_t *lv, size_t h, const void *p, uint64_t value)
{
    size_t i = h & lv->mask;
    for (int probe = 0; probe < lv->probes; probe++, i = (i + 1) & lv->mask) {
        uintptr_t k = atomic_load_explicit(&lv->slots[i].key, memory_order_relaxed);
        if (k != LIVE_EMPTY && k != LIVE_TOMBSTONE)
            continue;
        /* The value is written after the key is claimed; nobody reads it
         * before the program frees p, which happens after we return p. */
        if (atomic_compare_exchange_strong_explicit(&lv->slots[i].key, &k, (uintptr_t)p, memory_order_relaxed,
                                                    memory_order_relaxed)) {
            atomic_store_explicit(&lv->slots[i].value, value, memory_order_relaxed);
            return 0;
        }
    }
    return -1;
}

static int level_remove(const live_level_t *lv, size_t h, const void *p, uint64_t *value)
{
    size_t i = h & lv->mask;
    for (int probe = 0; probe < lv->probes; probe++, i = (i + 1) & lv->mask) {
        uintptr_t k = atomic_load_explicit(&lv->slots[i].key, memory_order_relaxed);
        if (k == LIVE_EMPTY)
            return 0;
        if (k != (uintptr_t)p)
            continue;
        *value = atomic_load_explicit(&lv->slots[i].value, memory_order_relaxed);
        atomic_store_explicit(&lv->slots[i].key, LIVE_TOMBSTONE, memory_order_relaxed);
        return 1;
    }
    return 0;
}

int hs_live_insert(const void *p, uint32_t stack_id, uint64_t size)
{
    if (size > HS_LIVE_MAX_SIZE)
        size = HS_LIVE_MAX_SIZE;
    size_t h = live_hash(p);
    for (int l = 0; l < live_levels; l++)
        if (level_insert(&live_lv[l], h, p, size << 24 | stack_id) == 0)
            return 0;
    return -1;
}

int hs_live_remove(const void *p, uint32_t *stack_id, uint64_t *size)
{
    size_t h = live_hash(p);
    uint64_t v;
    for (int l = 0; l < live_levels; l++) {
        if (level_remove(&live_lv[l], h, p, &v)) {
            *stack_id = (uint32_t)(v & 0xffffff);
            *size = v >> 24;
            return 1;
        }
    }
    return 0;
}

/* ---- stacks ------------------------------------------------------------ */
static uint64_t hash_frames(const uintptr_t *frames, uint32_t depth)
{
    uint64_t h = HS_STACK_HASH_SEED;
    for (uint32_t i = depth; i-- > 0;)
        h = hs_stack_hash_step(h, frames[i]);
    return hs_stack_hash_finish(h, depth);
}

static int same_stack(const hs_stack_t *s, uint64_t hash, const uintptr_t *frames, uint32_t depth)
{
    return s->hash == hash && s->depth == depth && memcmp(s->frames, frames, depth * sizeof(*frames)) == 0;
}

hs_stack_t *hs_stack_intern(const uintptr_t *frames, uint32_t depth)
{
    return hs_stack_intern_hashed(frames, depth, hash_frames(frames, depth));
}

hs_stack_t *hs_stack_intern_hashed(const uintptr_t *frames, uint32_t depth, uint64_t hash)
{
    size_t mask = ((size_t)1 << STACK_SLOT_BITS) - 1;
    size_t i = (size_t)(hash >> 20) & mask;
    hs_stack_t *mine = NULL;
    for (int probe = 0; probe < STACK_PROBES; probe++, i = (i + 1) & mask) {
        /* acquire: pairs with the release CAS that published the entry */
        hs_stack_t *s = atomic_load_explicit(&stack_slots[i], memory_order_acquire);
        if (s) {
            if (same_stack(s, hash, frames, depth))
                return s;
            continue;
        }
        if (!mine) {
            uint32_t id = atomic_fetch_add_explicit(&stack_next_id, 1, memory_order_relaxed);
            if (id >= HS_STACK_MAX_IDS)
                return NULL;
            mine = hs_arena_alloc(sizeof(hs_stack_t) + depth * sizeof(uintptr_t));
            if (!mine)
                return NULL;
            mine->hash = hash;
            mine->id = id;
            mine->depth = depth;
            memcpy(mine->frames, frames, depth * sizeof(uintptr_t));
        }
        if (atomic_compare_exchange_strong_explicit(&stack_slots[i], &s, mine, memory_order_release,
                                                    memory_order_acquire)) {
            atomic_store_explicit(&stack_by_id[mine->id], mine, memory_order_release);
            return mine;
        }
        /* Lost the race for this slot; the winner may be the same stack. Our
         * unpublished entry (and its id) is wasted if so: a hole in the ids. */
        if (same_stack(s, hash, frames, depth))
            return s;
    }
    return NULL;
}

static void add_f64(_Atomic uint64_t *bits, double v)
{
    uint64_t old = atomic_load_explicit(bits, memory_order_relaxed), upd;
    do {
        double d;
        memcpy(&d, &old, sizeof(d));
        d += v;
        memcpy(&upd, &d, sizeof(upd));
    } while (!atomic_compare_exchange_weak_explicit(bits, &old, upd, memory_order_relaxed, memory_order_relaxed));
}

double hs_stack_load_f64(_Atomic uint64_t *bits)
{
    uint64_t b = atomic_load_explicit(bits, memory_order_relaxed);
    double d;
    memcpy(&d, &b, sizeof(d));
    return d;
}

void hs_stack_add_alloc(hs_stack_t *s, uint64_t size, double weight)
{
    atomic_fetch_add_explicit(&s->alloc_bytes, size, memory_order_relaxed);
    add_f64(&s->est_alloc_objects, weight);
    add_f64(&s->est_alloc_bytes, weight * (double)size);
    /* release: the snapshot writer reads `allocs` first to detect change, then the
     * rest; publishing the count last means a seen count has its bytes. */
    atomic_fetch_add_explicit(&s->allocs, 1, memory_order_release);
}

void hs_stack_add_free(hs_stack_t *s, uint64_t size, double weight)
{
    atomic_fetch_add_explicit(&s->free_bytes, size, memory_order_relaxed);
    add_f64(&s->est_free_objects, weight);
    add_f64(&s->est_free_bytes, weight * (double)size);
    atomic_fetch_add_explicit(&s->frees, 1, memory_order_release);
}

uint32_t hs_stack_count(void)
{
    uint32_t n = atomic_load_explicit(&stack_next_id, memory_order_relaxed);
    return n > HS_STACK_MAX_IDS ? HS_STACK_MAX_IDS - 1 : n - 1;
}

hs_stack_t *hs_stack_by_id(uint32_t id)
{
    if (id == 0 || id >= HS_STACK_MAX_IDS)
        return NULL;
    return atomic_load_explicit(&stack_by_id[id], memory_order_acquire);
}
