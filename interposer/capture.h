/* capture.h - stack capture with libunwind (local only). */
#ifndef HS_CAPTURE_H
#define HS_CAPTURE_H

#include <stdint.h>

#include "unwind.h"

/* Finds heapscope's own code range and switches libunwind to per-thread
 * caches (its global cache takes a mutex a fork could leave locked). */
void hs_capture_init(void);
/* Writes up to max return addresses, innermost first, skipping every frame
 * inside libheapscope.so. Returns the depth (0 if the walk failed). wc: the
 * calling thread's walk cache, or NULL; *same is set to 1 when the frames
 * are exactly those of the last capture with wc, *hash to their hash or 0
 * (unwind.h). from: a frame hs_unwind_mark noted in a caller that is still
 * running, where our walker starts (NULL: here); libunwind, if it must
 * take over, walks from here. same and hash must not be NULL. */
uint32_t hs_capture_stack(uintptr_t *out, uint32_t max, hs_walk_cache_t *wc, int *same, uint64_t *hash,
                          const hs_walk_args_t *from);
/* Is addr inside heapscope's own code? */
int hs_capture_is_own(uintptr_t addr);

/* Non-zero while the calling thread is inside libunwind for us: the pipe2
 * and reads of its validation pipe that libunwind makes then are ours to
 * guard (preload/unwind_guard.c). */
extern __thread int hs_capture_unwinding __attribute__((tls_model("initial-exec")));

#endif
