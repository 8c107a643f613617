/* alerts.c - owns the health thresholds (HEAPSCOPE_ALERT_HEAP, _RSS,
 * _THREADS, _GROWTH): after each snapshot, the snapshot lock's holder
 * compares that snapshot's figures (and the live leak detector's rate) with
 * each threshold that is set. A crossing logs one line, appends an ALERT
 * record, counts in the fired counters and shows in /metrics and
 * /debug/heapscope/health (live_metrics.c reads the atomics and the
 * history below). Hysteresis: raised at value >= threshold, recovered only
 * below HS_ALERT_RECOVER_PERCENT (90%) of it. Never allocates, takes no
 * lock, uses no floating-point printf (hs_text formats the figures). Its
 * neighbours: snapshot.c calls it, livecheck.c supplies the growth rate. */
#include "alerts.h"

#include <stdatomic.h>
#include <string.h>

#include "clock.h"
#include "config.h"
#include "encode.h"
#include "hs_alert.h"
#include "identity.h"
#include "log.h"
#include "seqlock.h"

/* Per kind, index = enum hs_alert_kind. Written only by the snapshot
 * lock's holder; read by the server thread one figure at a time (relaxed:
 * a scrape may see the raised flag a moment before the fired count, never
 * a torn value). */
static _Atomic int raised[HS_ALERT_KIND_MAX + 1];
static _Atomic uint64_t fired[HS_ALERT_KIND_MAX + 1];
static _Atomic uint64_t last_value_bits[HS_ALERT_KIND_MAX + 1];
static uint32_t alerts_gen; /* file generation the states belong to */

/* The latest events, for /debug/heapscope/leaks, published with a seqlock. */
typedef struct {
    uint32_t count; /* events ever; the ring holds the last HS_ALERT_HISTORY */
    hs_alert_event_t ring[HS_ALERT_HISTORY];
} history_t;
static history_t history; /* the writer's own copy */
static _Atomic uint32_t history_seq;
static _Atomic uint64_t history_words[HS_SEQLOCK_WORDS(sizeof(history_t))];

static void clear_states(void);

int hs_alerts_step(int *is_raised, double value, uint64_t threshold)
{
    if (!threshold) {
        *is_raised = 0;
        return 0;
    }
    if (!*is_raised && value >= (double)threshold) {
        *is_raised = 1;
        return HS_ALERT_RAISED;
    }
    if (*is_raised && value < (double)threshold * HS_ALERT_RECOVER_PERCENT / 100.0) {
        *is_raised = 0;
        return HS_ALERT_RECOVERED;
    }
    return 0;
}

uint64_t hs_alerts_threshold(uint32_t kind)
{
    switch (kind) {
    case HS_ALERT_HEAP: return hs_cfg.alert_heap;
    case HS_ALERT_RSS: return hs_cfg.alert_rss;
    case HS_ALERT_THREADS: return hs_cfg.alert_threads;
    case HS_ALERT_GROWTH: return hs_cfg.alert_growth;
    default: return 0;
    }
}

/* "heapscope: alert: heap in use 120.0 MiB >= HEAPSCOPE_ALERT_HEAP 100.0 MiB"
 * "heapscope: alert recovered: heap in use 85.0 MiB < 90% of HEAPSCOPE_ALERT_HEAP 100.0 MiB" */
static void log_event(uint32_t kind, uint32_t event, double value, uint64_t threshold)
{
    char buf[256];
    hs_log("%s: %s", event == HS_ALERT_RAISED ? "alert" : "alert recovered",
           hs_alert_describe(kind, event, value, threshold, buf, sizeof(buf)));
}

static double load_f64(_Atomic uint64_t *bits)
{
    uint64_t b = atomic_load_explicit(bits, memory_order_relaxed);
    double v;
    memcpy(&v, &b, sizeof(v));
    return v;
}

static void store_f64(_Atomic uint64_t *bits, double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof(b));
    atomic_store_explicit(bits, b, memory_order_relaxed);
}

static void judge(hs_enc_t *enc, uint32_t kind, double value, uint64_t mono_ns)
{
    uint64_t threshold = hs_alerts_threshold(kind);
    if (!threshold)
        return;
    store_f64(&last_value_bits[kind], value);
    int is_raised = atomic_load_explicit(&raised[kind], memory_order_relaxed);
    int event = hs_alerts_step(&is_raised, value, threshold);
    if (!event)
        return;
    if (event == HS_ALERT_RAISED)
        atomic_fetch_add_explicit(&fired[kind], 1, memory_order_relaxed);
    atomic_store_explicit(&raised[kind], is_raised, memory_order_relaxed);
    log_event(kind, (uint32_t)event, value, threshold);
    hs_encode_alert(
        enc, &(hs_encode_alert_t){
                 .mono_ns = mono_ns, .kind = kind, .event = (uint32_t)event, .value = value, .threshold = threshold});
    double t_s = mono_ns > hs_identity.start_mono_ns ? (double)(mono_ns - hs_identity.start_mono_ns) / 1e9 : 0;
    history.ring[history.count % HS_ALERT_HISTORY] =
        (hs_alert_event_t){.t_s = t_s, .kind = kind, .event = (uint32_t)event, .value = value, .threshold = threshold};
    history.count++;
    hs_seqlock_write(&history_seq, history_words, &history, sizeof(history));
}

void hs_alerts_after_snapshot(hs_enc_t *enc, uint32_t file_gen, const hs_alerts_figures_t *f)
{
    if (!hs_cfg.alert_heap && !hs_cfg.alert_rss && !hs_cfg.alert_threads && !hs_cfg.alert_growth)
        return;
    if (alerts_gen != file_gen) {
        /* A new dump (a fork child's): its alerts start clear, so that a
         * figure still above its threshold is raised (and recorded) in it. */
        clear_states();
        alerts_gen = file_gen;
    }
    uint64_t now = hs_now_mono_ns();
    judge(enc, HS_ALERT_HEAP, (double)f->heap_in_use, now);
    judge(enc, HS_ALERT_RSS, (double)f->rss, now);
    judge(enc, HS_ALERT_THREADS, (double)f->threads, now);
    if (f->growth_known)
        judge(enc, HS_ALERT_GROWTH, f->growth_bytes_per_sec, now);
}

int hs_alerts_is_raised(uint32_t kind)
{
    return kind >= 1 && kind <= HS_ALERT_KIND_MAX && atomic_load_explicit(&raised[kind], memory_order_relaxed);
}

uint64_t hs_alerts_fired(uint32_t kind)
{
    return kind >= 1 && kind <= HS_ALERT_KIND_MAX ? atomic_load_explicit(&fired[kind], memory_order_relaxed) : 0;
}

double hs_alerts_last_value(uint32_t kind)
{
    return kind >= 1 && kind <= HS_ALERT_KIND_MAX ? load_f64(&last_value_bits[kind]) : 0;
}

uint32_t hs_alerts_history(hs_alert_event_t *out)
{
    history_t h;
    if (hs_seqlock_read(&history_seq, history_words, &h, sizeof(h)))
        return 0;
    uint32_t n = h.count < HS_ALERT_HISTORY ? h.count : HS_ALERT_HISTORY;
    for (uint32_t i = 0; i < n; i++)
        out[i] = h.ring[(h.count - n + i) % HS_ALERT_HISTORY];
    return n;
}

static void clear_states(void)
{
    for (uint32_t k = 0; k <= HS_ALERT_KIND_MAX; k++) {
        atomic_store_explicit(&raised[k], 0, memory_order_relaxed);
        atomic_store_explicit(&fired[k], 0, memory_order_relaxed);
        atomic_store_explicit(&last_value_bits[k], 0, memory_order_relaxed);
    }
    memset(&history, 0, sizeof(history));
    hs_seqlock_write(&history_seq, history_words, &history, sizeof(history));
}

void hs_alerts_reset_for_tests(void)
{
    clear_states();
    alerts_gen = 0;
}
