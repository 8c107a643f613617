/* wrappers.h - learns the allocation wrappers nobody listed (an
 * application's own app_alloc, new_node, pool_get) from the stacks of a
 * dump, so that reports blame their callers as they blame zmalloc's.
 *
 * A function F is a wrapper when, over every allocation stack of the dump
 * (one with sampled allocations; not a thread's creation stack):
 *   (a) F is the allocating frame wherever it appears: the first frame
 *       that is not dropped, counting from the leaf, with only dropped
 *       frames (allocators, listed or detected wrappers) beneath it, and
 *       F appears nowhere else in any stack;
 *   (b) it allocates from one call site (one file:line, or one return
 *       address when the binary has no line table);
 *   (c) at least HS_WRAPPERS_MIN_CALLERS distinct functions call it;
 *   (d) it allocates for all of them: at least that many callers each
 *       account for HS_WRAPPERS_MIN_SHARE of F's sampled allocations.
 * A function is a symbol's name or, for code without symbols, the range
 * of its FDE ("git+0x2896c0", hs_site_frame_t.ranged): F and its callers
 * may be either; a frame named by its bare pc is neither.
 * Found wrappers are dropped and the stacks scanned again, so a wrapper of
 * a wrapper is found in the next round (at most HS_WRAPPERS_ROUNDS).
 * docs/frames.md gives the reasons for the numbers and the measured
 * false-positive rate. */
#ifndef HS_WRAPPERS_H
#define HS_WRAPPERS_H

#include <stddef.h>
#include <stdint.h>

#include "hs_frames.h"
#include "model.h"
#include "sites.h"

#define HS_WRAPPERS_MIN_CALLERS 3
#define HS_WRAPPERS_MIN_SHARE 0.01
#define HS_WRAPPERS_ROUNDS 3

/* One round over stacks given as classified logical frames (sites.h): pure,
 * for the unit tests and for hs_wrappers_detect. */
typedef struct hs_wrapper_scan hs_wrapper_scan_t;

hs_wrapper_scan_t *hs_wrapper_scan_new(void); /* NULL on OOM */
void hs_wrapper_scan_free(hs_wrapper_scan_t *w);
/* f[0..n), leaf first, with cls filled; samples: the stack's sampled
 * allocations (its weight for rule d; 0 counts as 1). 0, or -1 on OOM. */
int hs_wrapper_scan_stack(hs_wrapper_scan_t *w, const hs_site_frame_t *f, size_t n, uint64_t samples);
/* Adds every function that meets the rules to frames, in name order.
 * Returns how many were added, or -1 on OOM. */
int hs_wrapper_scan_finish(hs_wrapper_scan_t *w, unsigned min_callers, hs_frame_filter_t *frames);

/* Runs the rounds over every stack of the models, adding what it finds to
 * frames (which sf classifies with). Returns the number of wrappers added,
 * or -1 on OOM. */
int hs_wrappers_detect(hs_site_finder_t *sf, hs_frame_filter_t *frames, hs_model_t *const *models, size_t nmodels);

/* "app_alloc, pool_get" of the detected wrappers into buf ("" when none). */
const char *hs_wrappers_list(const hs_frame_filter_t *frames, char *buf, size_t len);

#endif
