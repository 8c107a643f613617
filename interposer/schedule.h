/* schedule.h - when snapshots are written: by the program's own threads, at
 * safe points, one at a time (see schedule.c). */
#ifndef HS_SCHEDULE_H
#define HS_SCHEDULE_H

/* At load, after the tables: the fork marker, the snapshot stack and the
 * first due time (1 s, or the interval if shorter). */
void hs_schedule_init(void);
/* Marks a snapshot with the given reason (enum hs_snapshot_reason) as due.
 * Async-signal-safe: one atomic or; the next safe point writes it. */
void hs_schedule_request(int reason);
/* A point the program's thread passes (a sampled allocation, a thread
 * start): writes what is due if no other thread is writing. Never waits,
 * never allocates. Call with the re-entrancy guard held. */
void hs_schedule_safe_point(void);
/* Before the program unloads an object: writes the stacks recorded since
 * the last snapshot (with the mappings they were recorded under). */
void hs_schedule_before_unload(void);
/* The final snapshot and END record, once, from the exiting thread. */
void hs_schedule_final(void);
/* pthread_atfork's parent and child handlers (lifecycle.c registers them). */
void hs_schedule_atfork_parent(void);
void hs_schedule_atfork_child(void);

#endif
