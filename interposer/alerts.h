/* alerts.h - health thresholds (HEAPSCOPE_ALERT_HEAP, _RSS, _THREADS,
 * _GROWTH), judged after each snapshot, with hysteresis (see alerts.c). */
#ifndef HS_ALERTS_H
#define HS_ALERTS_H

#include <stdint.h>

#include "hs_alert.h"
#include "hs_codec.h"
#include "hs_format.h"

/* Hysteresis: HS_ALERT_RECOVER_PERCENT (common/hs_alert.h, 90%): a figure
 * hovering at its threshold would otherwise log a pair of lines at every
 * snapshot. */
/* Alert events kept for /debug/heapscope/leaks (the dump has them all). */
#define HS_ALERT_HISTORY 32

/* The rule, alone (for the unit tests): given whether the alert is raised,
 * the figure and a threshold (0 = off), returns HS_ALERT_RAISED,
 * HS_ALERT_RECOVERED or 0 and updates *raised. A threshold of 0 clears a
 * raised alert silently (never happens at run time: settings are fixed). */
int hs_alerts_step(int *raised, double value, uint64_t threshold);

/* What a snapshot measured. growth_known is 0 while the live leak detector
 * has no rate (HEAPSCOPE_LEAK_WINDOW=0, or too few points): the growth
 * alert then keeps its state. */
typedef struct {
    uint64_t heap_in_use, rss, threads;
    double growth_bytes_per_sec;
    int growth_known;
} hs_alerts_figures_t;

/* After each SNAPSHOT (snapshot lock held): judges every threshold that is
 * set; each crossing logs one line, appends an ALERT record to enc and is
 * published for the live service. A new dump (file_gen changed: a fork
 * child's) starts with every alert clear. Never allocates. */
void hs_alerts_after_snapshot(hs_enc_t *enc, uint32_t file_gen, const hs_alerts_figures_t *f);

/* For the live service, any thread (relaxed atomics: each figure on its
 * own). kind is an enum hs_alert_kind. */
int hs_alerts_is_raised(uint32_t kind);
uint64_t hs_alerts_fired(uint32_t kind);     /* raises so far in this process (or fork child) */
double hs_alerts_last_value(uint32_t kind);  /* the figure at the last snapshot that judged it */
uint64_t hs_alerts_threshold(uint32_t kind); /* the setting; 0 = off */

/* One alert event, as the dump's ALERT record says it. */
typedef struct {
    double t_s; /* seconds since the process (or fork child) started */
    uint32_t kind, event;
    double value;
    uint64_t threshold;
} hs_alert_event_t;

/* The latest events, oldest first, at most HS_ALERT_HISTORY (a consistent
 * copy; any thread). Returns how many were copied. */
uint32_t hs_alerts_history(hs_alert_event_t *out);

/* Unit tests: forget every state. */
void hs_alerts_reset_for_tests(void);

#endif
