/* hs_alert.h - the words of a health alert (HEAPSCOPE_ALERT_*), one
 * sentence for the interposer's log line and the analyzer's report and
 * stats: "heap in use 120.0 MiB >= HEAPSCOPE_ALERT_HEAP 100.0 MiB". Safe in
 * the interposer (hs_text: no malloc, no stdio, no float printf). */
#ifndef HS_ALERT_H
#define HS_ALERT_H

#include <stddef.h>
#include <stdint.h>

/* An alert raised at value >= threshold recovers only once the value falls
 * below this percentage of the threshold. */
#define HS_ALERT_RECOVER_PERCENT 90

/* "HEAPSCOPE_ALERT_HEAP", ... for an enum hs_alert_kind; "?" otherwise. */
const char *hs_alert_variable(uint32_t kind);

/* The sentence for an event (enum hs_alert_event), NUL-terminated in buf
 * (cut to fit); returns buf:
 *   raised:    "heap in use 120.0 MiB >= HEAPSCOPE_ALERT_HEAP 100.0 MiB"
 *   recovered: "heap in use 85.0 MiB < 90% of HEAPSCOPE_ALERT_HEAP 100.0 MiB"
 * Threads are counts ("live threads 12"), growth is bytes per second
 * ("leak rate 1.5 MiB/s"). */
const char *hs_alert_describe(uint32_t kind, uint32_t event, double value, uint64_t threshold, char *buf, size_t len);

#endif
