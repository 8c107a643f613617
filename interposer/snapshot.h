/* snapshot.h - what goes into one snapshot, and its single write (see
 * snapshot.c). When one is written is schedule.c's business. */
#ifndef HS_SNAPSHOT_H
#define HS_SNAPSHOT_H

#include <stdint.h>

/* Builds one snapshot (the HEADER first in a new file, MAPPINGS when the
 * loaded objects changed, new STACKs, THREAD events, THREAD_SITES, the
 * SNAPSHOT, a LEAK finding, END when with_end) and hands it to the writer in
 * one write. reason is an enum hs_snapshot_reason; may_lock says whether the
 * allocator's statistics may be read (heapstats.h). Only with the snapshot
 * lock held, on the snapshot stack. */
void hs_snapshot_write(int reason, int with_end, int may_lock);
/* In a fork child: the parent's half-built buffer is dropped and the child's
 * first snapshot says FORK_CHILD (what it inherited). */
void hs_snapshot_reset_after_fork(void);
/* Snapshots written by this process so far (a fork child counts its own
 * from the parent's total at the fork). Any thread. */
uint64_t hs_snapshot_written_total(void);

#endif
