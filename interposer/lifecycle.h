/* lifecycle.h - the library's state machine (see lifecycle.c). */
#ifndef HS_LIFECYCLE_H
#define HS_LIFECYCLE_H

/* UNINIT -> INITIALIZING -> READY, or -> DISABLED (pass-through for good).
 * Until READY, hooks forward without touching tracking state. Written only
 * here; everyone else reads it (acquire). */
enum { HS_STATE_UNINIT, HS_STATE_INITIALIZING, HS_STATE_READY, HS_STATE_DISABLED };
extern _Atomic int hs_state __attribute__((visibility("hidden")));

/* The library's constructor (preload/process.c) runs, in this order:
 *   hs_lifecycle_begin     the real allocator, the configuration, the
 *                          identity, the tables
 *   (it finds the next pipe2 and read: before the first unwind)
 *   hs_lifecycle_prepare   stack capture, the dump's directory, the
 *                          allocator's statistics, the scheduler
 *   (it finds the next dlclose: the last of our dl calls, so that the
 *   program's dlerror() is clear; the failed look-ups of other allocators'
 *   statistics calls in prepare set it)
 *   hs_lifecycle_start     fork and exit handlers, the signal, then READY.
 * begin returns 1 when the process is to be recorded (the state is then
 * INITIALIZING and the rest must follow); 0 when it stays a pass-through
 * (DISABLED) or another call got there first. */
int hs_lifecycle_begin(void);
void hs_lifecycle_prepare(void);
void hs_lifecycle_start(void);
/* At exit (atexit, and the library's destructor): the final snapshot, once. */
void hs_lifecycle_at_exit(void);

#endif
