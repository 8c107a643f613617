/* hs_report_json.h - the JSON of a leak verdict, written in one place for
 * both of its readers: `heapscope report --json` (analyzer/report_print.c
 * fills it from a dump's analysis) and the live service's
 * /debug/heapscope/leaks (interposer/live_metrics.c fills it from the live
 * leak detector), so the two shapes cannot drift apart. The caller fills a
 * plain struct; this file decides key names, order, number formats and
 * string escaping, and writes through a sink (a FILE, a growable buffer).
 * No malloc and no stdio streams; numbers go through snprintf("%.12g"),
 * which the library calls only on its untracked server thread. */
#ifndef HS_REPORT_JSON_H
#define HS_REPORT_JSON_H

#include <stddef.h>
#include <stdint.h>

/* Frames of a suspect's stack that are named. */
#define HS_REPORT_JSON_STACK 16

/* Receives n bytes of output. */
typedef void (*hs_json_sink_t)(void *ctx, const char *bytes, size_t n);

/* A call site whose in-use bytes grow. Numbers that are not finite print as
 * null (the live service uses NaN for what it cannot know). */
typedef struct {
    const char *function, *file; /* file NULL or "" when unknown */
    uint32_t line;               /* 0 when unknown */
    const char *via;             /* the allocation wrapper the site called (docs/frames.md); NULL: null */
    double rate_bytes_per_sec, growth_bytes, confidence;
    double live_objects, inuse_bytes; /* rounded on output */
    uint64_t samples;
    const char *reason;
    const char *stack[HS_REPORT_JSON_STACK]; /* function names, innermost first */
    size_t nstack;
} hs_report_json_suspect_t;

/* Threads by creation site; rate and confidence only for suspects. */
typedef struct {
    const char *function, *file, *start_routine;
    uint32_t line;
    long live_threads;
    uint64_t created, exited;
    double rate_per_sec, confidence;
} hs_report_json_thread_site_t;

typedef struct {
    const char *function, *file;
    uint32_t line;
    const char *via;       /* as a suspect's */
    double bytes, objects; /* rounded on output */
} hs_report_json_at_exit_t;

/* One ALERT event (a health threshold crossed or recovered). */
typedef struct {
    const char *kind;  /* "heap", "rss", "threads", "growth" */
    const char *event; /* "raised", "recovered" */
    double at_seconds; /* since the process started */
    double value;
    uint64_t threshold;
} hs_report_json_alert_t;

typedef struct {
    const char *file, *program;
    uint32_t pid;
    double span_seconds;
    size_t snapshots;
    uint64_t sample_rate, final_heap_bytes;
    double final_estimated_inuse_bytes;
    struct {
        int detected;
        /* The headline (common/hs_leak.h): the growth and rate of what the
         * verdict blames, 0 when it blames nothing, with the rate's ~95%
         * interval and the sites (stacks, live) summed. The whole heap's
         * trend beside it: heap_rate (Theil-Sen slope of the sampled in-use
         * estimate over the window) and heap_growth (that times the span). */
        double growth_bytes, rate_bytes_per_sec, rate_lo_bytes_per_sec, rate_hi_bytes_per_sec;
        uint64_t rate_sites;
        double heap_rate_bytes_per_sec, heap_growth_bytes;
        double window_seconds, threshold_bytes, confidence;
        /* When the judged window ends, seconds since the process started
         * (the report: the last snapshot before exit when the exit snapshot
         * is left out as teardown; NaN: null). */
        double window_end_seconds;
        double mann_kendall_p, second_half_growth_bytes, second_half_expected_bytes, noise_floor_bytes;
        double detected_at_seconds; /* < 0: null */
        const char *reason;
    } leak;
    const hs_report_json_suspect_t *suspects;
    size_t nsuspects;
    struct {
        int leak_detected;
        uint64_t live, created, exited;
        const hs_report_json_thread_site_t *suspects;
        size_t nsuspects;
        double detected_at_seconds; /* < 0: null */
        const hs_report_json_thread_site_t *sites;
        size_t nsites;
    } threads;
    const hs_report_json_at_exit_t *at_exit;
    size_t nat_exit;
    /* "wrappers_detected": allocation wrappers learnt from the stacks
     * (analyzer/wrappers.h); an empty array when none or not looked for. */
    const char *const *wrappers;
    size_t nwrappers;
    const char *const *recommendations;
    size_t nrecommendations;
    const hs_report_json_alert_t *alerts;
    size_t nalerts;
} hs_report_json_t;

/* Writes r as one JSON object, no newline after it. */
void hs_report_json_write(const hs_report_json_t *r, hs_json_sink_t put, void *ctx);

/* A quoted JSON string (NULL as ""): '"' and '\\' escaped, control bytes
 * as \u00XX, invalid UTF-8 as \ufffd. */
void hs_json_put_string(hs_json_sink_t put, void *ctx, const char *s);
/* A number as "%.12g", or null when it is not finite. */
void hs_json_put_number(hs_json_sink_t put, void *ctx, double v);
/* Length of the valid UTF-8 sequence starting at p (1..4), or 0 when the
 * bytes there are not UTF-8 (overlong forms, surrogates, > U+10FFFF). */
size_t hs_json_utf8_len(const unsigned char *p);

#endif
