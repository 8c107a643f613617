/* hs_report_json.c - writes a leak verdict as JSON (hs_report_json.h): the
 * one home of the keys, their order and their number and string formats,
 * for `heapscope report --json` and the live /debug/heapscope/leaks. It
 * decides nothing about leaks (common/hs_leak.c does) and allocates
 * nothing; output goes through the caller's sink. */
#include "hs_report_json.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static void put(hs_json_sink_t sink, void *ctx, const char *s) { sink(ctx, s, strlen(s)); }

static void putf_u64(hs_json_sink_t sink, void *ctx, uint64_t v)
{
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%" PRIu64, v);
    sink(ctx, buf, (size_t)n);
}

size_t hs_json_utf8_len(const unsigned char *p)
{
    unsigned char c = p[0];
    if (c < 0x80)
        return 1;
    size_t len = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 && c < 0xf0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
    size_t k = 1;
    while (len && k < len && (p[k] & 0xc0) == 0x80)
        k++;
    int valid = len && k == len && !(c == 0xe0 && p[1] < 0xa0) && !(c == 0xed && p[1] >= 0xa0) &&
                !(c == 0xf0 && p[1] < 0x90) && !(c == 0xf4 && p[1] >= 0x90);
    return valid ? len : 0;
}

void hs_json_put_string(hs_json_sink_t sink, void *ctx, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    sink(ctx, "\"", 1);
    while (*p) {
        unsigned char c = *p;
        size_t len;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            sink(ctx, esc, 2);
            p++;
        } else if (c < 0x20 || c == 0x7f) {
            char esc[8];
            int n = snprintf(esc, sizeof(esc), "\\u%04x", c);
            sink(ctx, esc, (size_t)n);
            p++;
        } else if ((len = hs_json_utf8_len(p)) > 0) {
            /* A run of plain bytes at once. */
            const unsigned char *run = p;
            p += len;
            while (*p && *p != '"' && *p != '\\' && *p >= 0x20 && *p != 0x7f && (len = hs_json_utf8_len(p)) > 0)
                p += len;
            sink(ctx, (const char *)run, (size_t)(p - run));
        } else {
            put(sink, ctx, "\\ufffd");
            p++;
        }
    }
    sink(ctx, "\"", 1);
}

void hs_json_put_number(hs_json_sink_t sink, void *ctx, double v)
{
    if (!isfinite(v)) {
        put(sink, ctx, "null");
        return;
    }
    char buf[40];
    int n = snprintf(buf, sizeof(buf), "%.12g", v == 0 ? 0.0 : v); /* never "-0" */
    sink(ctx, buf, (size_t)n);
}

/* ,"key": */
static void key(hs_json_sink_t sink, void *ctx, const char *k)
{
    put(sink, ctx, ",\"");
    put(sink, ctx, k);
    put(sink, ctx, "\":");
}

/* ,"name":["a","b",...] */
static void strings(hs_json_sink_t sink, void *ctx, const char *name, const char *const *v, size_t n)
{
    key(sink, ctx, name);
    put(sink, ctx, "[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            put(sink, ctx, ",");
        hs_json_put_string(sink, ctx, v[i]);
    }
    put(sink, ctx, "]");
}

static void where(hs_json_sink_t sink, void *ctx, const char *function, const char *file, uint32_t line)
{
    put(sink, ctx, "{\"function\":");
    hs_json_put_string(sink, ctx, function);
    key(sink, ctx, "file");
    hs_json_put_string(sink, ctx, file);
    key(sink, ctx, "line");
    putf_u64(sink, ctx, line);
}

/* ,"via":"zmalloc_usable" or ,"via":null */
static void via(hs_json_sink_t sink, void *ctx, const char *wrapper)
{
    key(sink, ctx, "via");
    if (wrapper)
        hs_json_put_string(sink, ctx, wrapper);
    else
        put(sink, ctx, "null");
}

static void thread_site(hs_json_sink_t sink, void *ctx, const hs_report_json_thread_site_t *t, int suspect)
{
    char buf[32];
    where(sink, ctx, t->function, t->file, t->line);
    key(sink, ctx, "start_routine");
    hs_json_put_string(sink, ctx, t->start_routine);
    key(sink, ctx, "live_threads");
    int n = snprintf(buf, sizeof(buf), "%ld", t->live_threads);
    sink(ctx, buf, (size_t)n);
    key(sink, ctx, "created");
    putf_u64(sink, ctx, t->created);
    key(sink, ctx, "exited");
    putf_u64(sink, ctx, t->exited);
    if (suspect) {
        key(sink, ctx, "rate_per_sec");
        hs_json_put_number(sink, ctx, t->rate_per_sec);
        key(sink, ctx, "confidence");
        hs_json_put_number(sink, ctx, t->confidence);
    }
    put(sink, ctx, "}");
}

static void at_or_null(hs_json_sink_t sink, void *ctx, double t)
{
    if (t >= 0)
        hs_json_put_number(sink, ctx, t);
    else
        put(sink, ctx, "null");
}

void hs_report_json_write(const hs_report_json_t *r, hs_json_sink_t sink, void *ctx)
{
    put(sink, ctx, "{\"file\":");
    hs_json_put_string(sink, ctx, r->file);
    key(sink, ctx, "program");
    hs_json_put_string(sink, ctx, r->program);
    key(sink, ctx, "pid");
    putf_u64(sink, ctx, r->pid);
    key(sink, ctx, "span_seconds");
    hs_json_put_number(sink, ctx, r->span_seconds);
    key(sink, ctx, "snapshots");
    putf_u64(sink, ctx, r->snapshots);
    key(sink, ctx, "sample_rate");
    putf_u64(sink, ctx, r->sample_rate);
    key(sink, ctx, "final_heap_bytes");
    putf_u64(sink, ctx, r->final_heap_bytes);
    key(sink, ctx, "final_estimated_inuse_bytes");
    hs_json_put_number(sink, ctx, r->final_estimated_inuse_bytes);

    key(sink, ctx, "leak");
    put(sink, ctx, r->leak.detected ? "{\"detected\":true" : "{\"detected\":false");
    key(sink, ctx, "growth_bytes");
    hs_json_put_number(sink, ctx, r->leak.growth_bytes);
    key(sink, ctx, "rate_bytes_per_sec");
    hs_json_put_number(sink, ctx, r->leak.rate_bytes_per_sec);
    key(sink, ctx, "rate_lo_bytes_per_sec");
    hs_json_put_number(sink, ctx, r->leak.rate_lo_bytes_per_sec);
    key(sink, ctx, "rate_hi_bytes_per_sec");
    hs_json_put_number(sink, ctx, r->leak.rate_hi_bytes_per_sec);
    key(sink, ctx, "rate_sites");
    putf_u64(sink, ctx, r->leak.rate_sites);
    key(sink, ctx, "heap_rate_bytes_per_sec");
    hs_json_put_number(sink, ctx, r->leak.heap_rate_bytes_per_sec);
    key(sink, ctx, "heap_growth_bytes");
    hs_json_put_number(sink, ctx, r->leak.heap_growth_bytes);
    key(sink, ctx, "window_seconds");
    hs_json_put_number(sink, ctx, r->leak.window_seconds);
    key(sink, ctx, "window_end_seconds");
    hs_json_put_number(sink, ctx, r->leak.window_end_seconds);
    key(sink, ctx, "threshold_bytes");
    hs_json_put_number(sink, ctx, r->leak.threshold_bytes);
    key(sink, ctx, "confidence");
    hs_json_put_number(sink, ctx, r->leak.confidence);
    key(sink, ctx, "mann_kendall_p");
    hs_json_put_number(sink, ctx, r->leak.mann_kendall_p);
    key(sink, ctx, "second_half_growth_bytes");
    hs_json_put_number(sink, ctx, r->leak.second_half_growth_bytes);
    key(sink, ctx, "second_half_expected_bytes");
    hs_json_put_number(sink, ctx, r->leak.second_half_expected_bytes);
    key(sink, ctx, "noise_floor_bytes");
    hs_json_put_number(sink, ctx, r->leak.noise_floor_bytes);
    key(sink, ctx, "detected_at_seconds");
    at_or_null(sink, ctx, r->leak.detected_at_seconds);
    key(sink, ctx, "reason");
    hs_json_put_string(sink, ctx, r->leak.reason);
    put(sink, ctx, "}");

    key(sink, ctx, "suspects");
    put(sink, ctx, "[");
    for (size_t i = 0; i < r->nsuspects; i++) {
        const hs_report_json_suspect_t *s = &r->suspects[i];
        if (i)
            put(sink, ctx, ",");
        where(sink, ctx, s->function, s->file, s->line);
        via(sink, ctx, s->via);
        key(sink, ctx, "rate_bytes_per_sec");
        hs_json_put_number(sink, ctx, s->rate_bytes_per_sec);
        key(sink, ctx, "growth_bytes");
        hs_json_put_number(sink, ctx, s->growth_bytes);
        key(sink, ctx, "confidence");
        hs_json_put_number(sink, ctx, s->confidence);
        key(sink, ctx, "live_objects");
        hs_json_put_number(sink, ctx, round(s->live_objects));
        key(sink, ctx, "inuse_bytes");
        hs_json_put_number(sink, ctx, round(s->inuse_bytes));
        key(sink, ctx, "samples");
        putf_u64(sink, ctx, s->samples);
        key(sink, ctx, "reason");
        hs_json_put_string(sink, ctx, s->reason);
        key(sink, ctx, "stack");
        put(sink, ctx, "[");
        for (size_t f = 0; f < s->nstack && f < HS_REPORT_JSON_STACK; f++) {
            if (f)
                put(sink, ctx, ",");
            hs_json_put_string(sink, ctx, s->stack[f]);
        }
        put(sink, ctx, "]}");
    }
    put(sink, ctx, "]");

    key(sink, ctx, "threads");
    put(sink, ctx, r->threads.leak_detected ? "{\"leak_detected\":true" : "{\"leak_detected\":false");
    key(sink, ctx, "live");
    putf_u64(sink, ctx, r->threads.live);
    key(sink, ctx, "created");
    putf_u64(sink, ctx, r->threads.created);
    key(sink, ctx, "exited");
    putf_u64(sink, ctx, r->threads.exited);
    key(sink, ctx, "suspects");
    put(sink, ctx, "[");
    for (size_t i = 0; i < r->threads.nsuspects; i++) {
        if (i)
            put(sink, ctx, ",");
        thread_site(sink, ctx, &r->threads.suspects[i], 1);
    }
    put(sink, ctx, "]");
    key(sink, ctx, "detected_at_seconds");
    at_or_null(sink, ctx, r->threads.detected_at_seconds);
    key(sink, ctx, "sites");
    put(sink, ctx, "[");
    for (size_t i = 0; i < r->threads.nsites; i++) {
        if (i)
            put(sink, ctx, ",");
        thread_site(sink, ctx, &r->threads.sites[i], 0);
    }
    put(sink, ctx, "]}");

    key(sink, ctx, "at_exit");
    put(sink, ctx, "[");
    for (size_t i = 0; i < r->nat_exit; i++) {
        const hs_report_json_at_exit_t *a = &r->at_exit[i];
        if (i)
            put(sink, ctx, ",");
        where(sink, ctx, a->function, a->file, a->line);
        via(sink, ctx, a->via);
        key(sink, ctx, "bytes");
        hs_json_put_number(sink, ctx, round(a->bytes));
        key(sink, ctx, "objects");
        hs_json_put_number(sink, ctx, round(a->objects));
        put(sink, ctx, "}");
    }
    put(sink, ctx, "]");

    strings(sink, ctx, "wrappers_detected", r->wrappers, r->nwrappers);

    strings(sink, ctx, "recommendations", r->recommendations, r->nrecommendations);

    key(sink, ctx, "alerts");
    put(sink, ctx, "[");
    for (size_t i = 0; i < r->nalerts; i++) {
        const hs_report_json_alert_t *a = &r->alerts[i];
        put(sink, ctx, i ? ",{\"kind\":" : "{\"kind\":");
        hs_json_put_string(sink, ctx, a->kind);
        key(sink, ctx, "event");
        hs_json_put_string(sink, ctx, a->event);
        key(sink, ctx, "at_seconds");
        hs_json_put_number(sink, ctx, a->at_seconds);
        key(sink, ctx, "value");
        hs_json_put_number(sink, ctx, a->value);
        key(sink, ctx, "threshold");
        putf_u64(sink, ctx, a->threshold);
        put(sink, ctx, "}");
    }
    put(sink, ctx, "]}");
}
