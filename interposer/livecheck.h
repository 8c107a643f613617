/* livecheck.h - the live leak detector run after each snapshot. */
#ifndef HS_LIVECHECK_H
#define HS_LIVECHECK_H

#include <stdint.h>

#include "hs_codec.h"

/* Adds this snapshot's sampled in-use estimate (and the cumulative estimate
 * of bytes freed, for the turnover in the noise model) to the recent series and, when
 * the series shows a leak (common/hs_leak.c, HEAPSCOPE_LEAK_WINDOW and
 * HEAPSCOPE_LEAK_THRESHOLD) and none was reported within the last window,
 * appends a LEAK record to enc and logs one line (stderr or HEAPSCOPE_LOG).
 * Only with the snapshot lock held. */
void hs_livecheck_after_snapshot(hs_enc_t *enc, uint32_t file_gen, double est_inuse, double est_freed);

#endif
