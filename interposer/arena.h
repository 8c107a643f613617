/* arena.h - the interposer's own memory: mmap only, never the host's malloc. */
#ifndef HS_ARENA_H
#define HS_ARENA_H

#include <stddef.h>

/* Zeroed, 16-byte aligned, never freed. Lock-free. NULL when mmap fails. */
void *hs_arena_alloc(size_t size);
/* Large zeroed mappings for tables (MAP_NORESERVE: pages cost RSS only once
 * touched). NULL on failure. */
void *hs_map(size_t size);
void hs_unmap(void *p, size_t size);
/* Asks for transparent huge pages over a large hs_map'd table that is
 * accessed at random (fewer TLB misses). Best effort. */
void hs_map_prefer_huge(void *p, size_t size);
/* Bytes obtained from the kernel by the arena and hs_map, for diagnostics. */
size_t hs_arena_mapped_bytes(void);

#endif
