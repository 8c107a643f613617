/* snapshot.h - when snapshots are written (by the program's own threads, at
 * safe points) and what goes into them. See snapshot.c. */
#ifndef HS_SNAPSHOT_H
#define HS_SNAPSHOT_H

#include "writer.h"

extern hs_identity_t hs_identity;

/* At load, after the tables: the fork marker, the snapshot stack and the
 * first due time (1 s, or the interval if shorter). */
void hs_snapshot_init(void);
/* Marks a snapshot with the given reason as due. Async-signal-safe: one
 * atomic or; the next safe point writes it. */
void hs_snapshot_request(int reason);
/* A point the program's thread passes (a sampled allocation, a thread
 * start): writes what is due if no other thread is writing. Never waits,
 * never allocates. Call with the re-entrancy guard held. */
void hs_snapshot_safe_point(void);
/* Before the program unloads an object: writes the stacks recorded since
 * the last snapshot (with the mappings they were recorded under). */
void hs_snapshot_before_unload(void);
/* The final snapshot and END record, once, from the exiting thread. */
void hs_snapshot_final(void);
void hs_snapshot_atfork_parent(void);
void hs_snapshot_atfork_child(void);

#endif
