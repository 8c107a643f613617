/* pprof_files.h - periodic heap profile files (HEAPSCOPE_PPROF_DIR, see
 * pprof_files.c). */
#ifndef HS_PPROF_FILES_H
#define HS_PPROF_FILES_H

#include <stdint.h>

/* Is a profile file due at now (monotonic ns)? 0 at once when
 * HEAPSCOPE_PPROF_DIR is unset. A relaxed load or two: schedule.c asks on
 * every safe point. */
int hs_pprof_files_is_due(uint64_t now_ns);

/* Writes heap.<prog>.<pid>.<n>.pb.gz into HEAPSCOPE_PPROF_DIR (a temporary
 * name, then renamed; mode 0600) and removes this process's file n - KEEP.
 * Builds the profile with malloc: call only at a safe point where malloc is
 * safe and unrecorded (the snapshot lock held, on the snapshot stack with
 * in_hook set), never at exit, in a signal handler or a fork handler. */
void hs_pprof_files_write(uint64_t now_ns);

#endif
