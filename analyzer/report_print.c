/* report_print.c - prints an analysis (analysis.h) as `heapscope report`'s
 * text report or JSON object. Decides nothing: every number and list comes
 * from analysis.c; this file only words and escapes them (textout.h for
 * JSON strings, hs_text.h for byte counts). */
#include "report_print.h"

#include <inttypes.h>
#include <math.h>
#include <stdint.h>

#include "hs_text.h"
#include "textout.h"

/* Frames of a suspect's stack that are named. */
#define HS_REPORT_STACK_NAMES 16

static const char *bytes(double x, char *buf, size_t len) { return hs_text_bytes(x, HS_TEXT_BYTES_TENTHS, buf, len); }

static void json_num(FILE *out, double v)
{
    if (isfinite(v))
        fprintf(out, "%.12g", v);
    else
        fprintf(out, "null");
}

static void print_stack_names(FILE *out, const hs_analysis_t *r, const hs_model_stack_t *s, int json)
{
    uint32_t n = s ? (s->depth < HS_REPORT_STACK_NAMES ? s->depth : HS_REPORT_STACK_NAMES) : 0;
    for (uint32_t f = 0; f < n; f++) {
        hs_site_t w;
        hs_site_of_frame(r->sym, s, f, &w);
        if (json) {
            if (f)
                fputc(',', out);
            hs_put_json_string(out, w.function);
        } else {
            fprintf(out, "%s%s", f ? " <- " : "", w.function);
        }
    }
}

void hs_report_print_json(FILE *out, const hs_analysis_t *r)
{
    const hs_analysis_point_t *last = &r->proc[r->nproc - 1];
    fprintf(out, "{\"file\":");
    hs_put_json_string(out, r->path);
    fprintf(out, ",\"program\":");
    hs_put_json_string(out, r->header->exe);
    fprintf(out, ",\"pid\":%u,\"span_seconds\":", r->header->pid);
    json_num(out, last->t);
    fprintf(out,
            ",\"snapshots\":%zu,\"sample_rate\":%" PRIu64 ",\"final_heap_bytes\":%" PRIu64
            ",\"final_estimated_inuse_bytes\":",
            r->nproc, r->header->sample_rate, last->heap_in_use);
    json_num(out, last->est_inuse);
    fprintf(out, ",\"leak\":{\"detected\":%s,\"growth_bytes\":", r->leak_detected ? "true" : "false");
    json_num(out, r->leak.growth);
    fprintf(out, ",\"rate_bytes_per_sec\":");
    json_num(out, r->leak.slope);
    fprintf(out, ",\"window_seconds\":");
    json_num(out, r->t1 - r->t0);
    fprintf(out, ",\"threshold_bytes\":");
    json_num(out, r->threshold);
    fprintf(out, ",\"confidence\":");
    json_num(out, r->leak.confidence);
    fprintf(out, ",\"mann_kendall_p\":");
    json_num(out, r->leak.mk_p);
    fprintf(out, ",\"second_half_growth_bytes\":");
    json_num(out, r->leak.late_growth);
    fprintf(out, ",\"second_half_expected_bytes\":");
    json_num(out, r->leak.late_expected);
    fprintf(out, ",\"noise_floor_bytes\":");
    json_num(out, r->leak.noise_floor);
    fprintf(out, ",\"detected_at_seconds\":");
    if (r->detected_at >= 0)
        json_num(out, r->detected_at);
    else
        fprintf(out, "null");
    fprintf(out, ",\"reason\":");
    hs_put_json_string(out, r->leak.reason);
    fprintf(out, "},\"suspects\":[");
    for (size_t i = 0; i < r->nsuspects; i++) {
        const hs_analysis_site_t *s = r->suspects[i];
        fprintf(out, "%s{\"function\":", i ? "," : "");
        hs_put_json_string(out, s->where.function);
        fprintf(out, ",\"file\":");
        hs_put_json_string(out, s->where.file);
        fprintf(out, ",\"line\":%u,\"rate_bytes_per_sec\":", s->where.line);
        json_num(out, s->leak.slope);
        fprintf(out, ",\"growth_bytes\":");
        json_num(out, s->leak.growth);
        fprintf(out, ",\"confidence\":");
        json_num(out, s->leak.confidence);
        fprintf(out, ",\"live_objects\":");
        json_num(out, round(s->inuse_objects));
        fprintf(out, ",\"inuse_bytes\":");
        json_num(out, round(s->inuse_bytes));
        fprintf(out, ",\"samples\":%" PRIu64 ",\"reason\":", s->live_samples);
        hs_put_json_string(out, s->leak.reason);
        fprintf(out, ",\"stack\":[");
        print_stack_names(out, r, s->top_stack, 1);
        fprintf(out, "]}");
    }
    uint64_t created = 0, exited = 0;
    for (const hs_analysis_thread_site_t *ts = r->thread_sites; ts; ts = ts->next) {
        created += ts->started;
        exited += ts->exited;
    }
    fprintf(out,
            "],\"threads\":{\"leak_detected\":%s,\"live\":%" PRIu64 ",\"created\":%" PRIu64 ",\"exited\":%" PRIu64
            ",\"suspects\":[",
            r->threads_leak ? "true" : "false", last->threads, created, exited);
    int first = 1;
    for (const hs_analysis_thread_site_t *ts = r->thread_sites; ts; ts = ts->next) {
        if (!ts->leak.leaking)
            continue;
        fprintf(out, "%s{\"function\":", first ? "" : ",");
        first = 0;
        hs_put_json_string(out, ts->function);
        fprintf(out, ",\"file\":");
        hs_put_json_string(out, ts->file);
        fprintf(out, ",\"line\":%u,\"start_routine\":", ts->line);
        hs_put_json_string(out, ts->start_routine);
        fprintf(out, ",\"live_threads\":%ld,\"created\":%" PRIu64 ",\"exited\":%" PRIu64 ",\"rate_per_sec\":", ts->live,
                ts->started, ts->exited);
        json_num(out, ts->leak.slope);
        fprintf(out, ",\"confidence\":");
        json_num(out, ts->leak.confidence);
        fprintf(out, "}");
    }
    fprintf(out, "],\"detected_at_seconds\":");
    double first_thread_detection = -1;
    for (const hs_analysis_thread_site_t *ts = r->thread_sites; ts; ts = ts->next)
        if (ts->leak.leaking && ts->detected_at >= 0 &&
            (first_thread_detection < 0 || ts->detected_at < first_thread_detection))
            first_thread_detection = ts->detected_at;
    if (first_thread_detection >= 0)
        json_num(out, first_thread_detection);
    else
        fprintf(out, "null");
    fprintf(out, ",\"sites\":[");
    for (const hs_analysis_thread_site_t *ts = r->thread_sites; ts; ts = ts->next) {
        fprintf(out, "%s{\"function\":", ts == r->thread_sites ? "" : ",");
        hs_put_json_string(out, ts->function);
        fprintf(out, ",\"file\":");
        hs_put_json_string(out, ts->file);
        fprintf(out, ",\"line\":%u,\"start_routine\":", ts->line);
        hs_put_json_string(out, ts->start_routine);
        fprintf(out, ",\"live_threads\":%ld,\"created\":%" PRIu64 ",\"exited\":%" PRIu64 "}", ts->live, ts->started,
                ts->exited);
    }
    fprintf(out, "]},\"at_exit\":[");
    for (size_t i = 0; i < r->nat_exit; i++) {
        const hs_analysis_site_t *s = r->at_exit[i];
        fprintf(out, "%s{\"function\":", i ? "," : "");
        hs_put_json_string(out, s->where.function);
        fprintf(out, ",\"file\":");
        hs_put_json_string(out, s->where.file);
        fprintf(out, ",\"line\":%u,\"bytes\":", s->where.line);
        json_num(out, round(s->inuse_bytes));
        fprintf(out, ",\"objects\":");
        json_num(out, round(s->inuse_objects));
        fprintf(out, "}");
    }
    fprintf(out, "],\"recommendations\":[");
    for (size_t i = 0; i < r->nrecommendations; i++) {
        if (i)
            fputc(',', out);
        hs_put_json_string(out, r->recommendations[i]);
    }
    fprintf(out, "]}");
}

void hs_report_print_text(FILE *out, const hs_analysis_t *r)
{
    const hs_analysis_point_t *last = &r->proc[r->nproc - 1];
    char a[32], b[32], c[32], where[1100];
    uint64_t peak_heap = 0, peak_rss = 0;
    for (size_t i = 0; i < r->nproc; i++) {
        if (r->proc[i].heap_in_use > peak_heap)
            peak_heap = r->proc[i].heap_in_use;
        if (r->proc[i].rss > peak_rss)
            peak_rss = r->proc[i].rss;
    }
    fprintf(out, "heapscope report: %s (pid %u), %.1f s, %zu snapshots, sample rate %s\n", r->header->program,
            r->header->pid, last->t, r->nproc, bytes((double)r->header->sample_rate, a, sizeof(a)));
    fprintf(out, "heap in use: peak %s, final %s; RSS peak %s; sampled in-use estimate %s at the end\n",
            bytes((double)peak_heap, a, sizeof(a)), bytes((double)last->heap_in_use, b, sizeof(b)),
            bytes((double)peak_rss, c, sizeof(c)), bytes(last->est_inuse, where, sizeof(where)));
    if (r->leak_detected)
        fprintf(out, "\nverdict: LEAK - growing %s/s, +%s over the last %.1f s (threshold %s)\n",
                bytes(r->leak.slope, a, sizeof(a)), bytes(r->leak.growth, b, sizeof(b)), r->t1 - r->t0,
                bytes(r->threshold, c, sizeof(c)));
    else
        fprintf(out, "\nverdict: no heap leak over the last %.1f s (threshold %s)\n", r->t1 - r->t0,
                bytes(r->threshold, c, sizeof(c)));
    fprintf(out, "  why: %s\n", r->leak.reason);
    if (r->detected_at >= 0)
        fprintf(out, "  detected %.1f s after the start\n", r->detected_at);
    if (r->nsuspects) {
        fprintf(out, "\nsuspects (call sites with sustained growth, fastest first):\n");
        fprintf(out, "  %12s %11s %12s %8s %5s  %s\n", "rate", "growth", "live objs", "samples", "conf", "site");
        for (size_t i = 0; i < r->nsuspects; i++) {
            const hs_analysis_site_t *s = r->suspects[i];
            char rate[40];
            snprintf(rate, sizeof(rate), "%s/s", bytes(s->leak.slope, a, sizeof(a)));
            fprintf(out, "  %12s %11s %12.0f %8" PRIu64 " %5.2f  %s (%s)\n", rate, bytes(s->leak.growth, b, sizeof(b)),
                    s->inuse_objects, s->live_samples, s->leak.confidence, s->where.function,
                    hs_analysis_site_location(&s->where, where, sizeof(where)));
            fprintf(out, "      stack: ");
            print_stack_names(out, r, s->top_stack, 0);
            fprintf(out, "\n");
        }
    }
    fprintf(out, "\nthreads: %" PRIu64 " live at the end", last->threads);
    int any = 0;
    for (const hs_analysis_thread_site_t *ts = r->thread_sites; ts; ts = ts->next) {
        if (!ts->leak.leaking)
            continue;
        if (!any)
            fprintf(out, "; THREAD LEAK:\n");
        any = 1;
        fprintf(out,
                "  %ld live (+%.2f/s), created in %s, start routine %s (%" PRIu64 " created, %" PRIu64 " exited)\n",
                ts->live, ts->leak.slope, ts->function, ts->start_routine, ts->started, ts->exited);
    }
    if (!any)
        fprintf(out, "; no thread leak\n");
    if (r->nat_exit) {
        fprintf(out, "\nat exit (still allocated when the program ended; not growth, e.g. caches the OS frees):\n");
        for (size_t i = 0; i < r->nat_exit && i < 5; i++) {
            const hs_analysis_site_t *s = r->at_exit[i];
            fprintf(out, "  %11s %10.0f objects  %s (%s)\n", bytes(s->inuse_bytes, a, sizeof(a)), s->inuse_objects,
                    s->where.function, hs_analysis_site_location(&s->where, where, sizeof(where)));
        }
    }
    if (r->nrecommendations) {
        fprintf(out, "\nrecommendations:\n");
        for (size_t i = 0; i < r->nrecommendations; i++)
            fprintf(out, "  - %s\n", r->recommendations[i]);
    }
}
