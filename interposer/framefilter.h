/* framefilter.h - the process's frame filter: common/hs_frames.h's table of
 * allocator and allocation-wrapper functions plus HEAPSCOPE_DROP_FRAMES,
 * compiled once per process, for naming live sites (sitename.c) and for the
 * live heap profiles' drop_frames (live_heap.c). See framefilter.c. */
#ifndef HS_FRAMEFILTER_H
#define HS_FRAMEFILTER_H

/* The class (hs_frame_class_t) of a function as an object's symbol table
 * names it; NULL or "" is HS_FRAME_KEEP. Compiles the filter on first use.
 * Returns -1 when it cannot tell now: this thread may not allocate
 * (hs_framefilter_forbid_alloc; regcomp and regexec use malloc) or the
 * filter could not be built (out of memory). Any thread that may allocate,
 * with the re-entrancy guard set; never from the allocation hooks or a
 * signal handler. */
int hs_framefilter_classify(const char *function);

/* The expression for a pprof profile's drop_frames (hs_frame_filter_pprof_drop
 * of the filter), or NULL when there is none now (as above). Valid while
 * the process lives; a fork child gets its own. */
const char *hs_framefilter_pprof_drop(void);

/* Forbids (1) or allows (0, the default) this thread's use of the filter
 * where the program's allocator may be locked: the snapshot written in a
 * fork handler or at exit (schedule.c). Returns the previous setting. */
int hs_framefilter_forbid_alloc(int forbid);

/* With HEAPSCOPE_DROP_FRAMES set, compiles the filter now if this process
 * has not yet, so a bad expression is reported early (the server thread at
 * its start, each snapshot at a safe point until then). */
void hs_framefilter_warm(void);

#endif
