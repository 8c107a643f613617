/* flusher.h - the background thread that turns the tables into snapshots. */
#ifndef HS_FLUSHER_H
#define HS_FLUSHER_H

#include "writer.h"

extern hs_identity_t hs_identity;

/* Starts the flusher thread (all signals blocked, untracked). */
void hs_flusher_start(void);
/* Asks for a snapshot with the given reason. Async-signal-safe. */
void hs_flusher_request(int reason);
/* The final snapshot and END record, once, from the exiting thread. */
void hs_flusher_final(void);
void hs_flusher_atfork_prepare(void);
void hs_flusher_atfork_parent(void);
void hs_flusher_atfork_child(void);

#endif
