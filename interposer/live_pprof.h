/* live_pprof.h - building pprof profiles inside the process for the live
 * service (live_heap.c, live_cpu.c) and the periodic profile files
 * (pprof_files.c): locations named from the loaded objects' own symbol
 * tables, mappings with file names and build-ids, and the gzipped bytes.
 * Uses malloc: call it only where malloc is safe and unrecorded (the server
 * thread, or the snapshot stack with in_hook set), never from a signal
 * handler or the allocation hooks. */
#ifndef HS_LIVE_PPROF_H
#define HS_LIVE_PPROF_H

#include <stddef.h>
#include <stdint.h>

#include "hs_pprof.h"
#include "live.h"

/* The loaded objects (dl_iterate_phdr: path, executable segments, load bias,
 * build-id) at the time of the call, plus the locations and mappings already
 * added to one profile. */
typedef struct hs_live_syms hs_live_syms_t;

/* Snapshots the loaded objects. p is the profile locations go to (NULL when
 * only names are wanted: hs_live_syms_name). Returns NULL when out of
 * memory. */
hs_live_syms_t *hs_live_syms_open(hs_pprof_t *p);
void hs_live_syms_close(hs_live_syms_t *s);

/* Adds (once per distinct address) the location of a stack frame to the
 * profile given to hs_live_syms_open, with its mapping (added once, with
 * filename, file offset and build-id) and its function (named from the
 * object's symbol table, or "object+0xoffset" when it has no symbol for
 * it). is_return_address: the frame is a caller's return address (every
 * frame of a stack walk except the interrupted PC of a signal context): the
 * location's address is then addr - 1, inside the call instruction, as the
 * offline `heapscope pprof` writes it, so file:line is the call site.
 * Returns the location id (>= 1), or 0 when out of memory. */
uint64_t hs_live_syms_location(hs_live_syms_t *s, uintptr_t addr, int is_return_address);

/* Names the function holding addr (taken as is: no adjustment) from the
 * object's symbol table; writes "object+0xoffset" when the object has no
 * symbol for it. Returns 0, or -1 when addr is in no loaded object (out then
 * holds "0x..."). Names are cached (bounded, shared across profiles). */
int hs_live_syms_name(hs_live_syms_t *s, uintptr_t addr, char *out, size_t len);

/* Serializes p, gzipped, into out (appending), and frees nothing. Returns 0,
 * or -1 when out of memory (out->oom is then set too). */
int hs_live_pprof_finish(hs_pprof_t *p, hs_lbuf_t *out);

/* The heap profile of /debug/pprof/heap (for_allocs 0) or /allocs (1),
 * cumulative since start, gzipped, appended to out (live_heap.c). Also
 * called by pprof_files.c on the snapshot stack. 0, or -1 out of memory. */
int hs_live_heap_profile(hs_lbuf_t *out, int for_allocs);

#endif
