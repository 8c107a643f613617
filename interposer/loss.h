/* loss.h - the count of samples heapscope dropped (see loss.c). */
#ifndef HS_LOSS_H
#define HS_LOSS_H

#include <stdint.h>

/* Counts a sample (or event) dropped for `why`; the first loss of the
 * process is logged, later ones only counted. */
void hs_loss_count(const char *why);
/* Samples dropped so far: lost_samples in each snapshot. */
uint64_t hs_loss_total(void);

#endif
