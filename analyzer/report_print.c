/* report_print.c - prints an analysis (analysis.h) as `heapscope report`'s
 * text report or JSON object. Decides nothing: every number and list comes
 * from analysis.c; this file only words and escapes them (textout.h for
 * JSON strings, hs_text.h for byte counts). */
#include "report_print.h"

#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hs_alert.h"
#include "hs_report_json.h"
#include "hs_text.h"
#include "textout.h"
#include "wrappers.h"

/* Frames of a suspect's stack that are named. */
#define HS_REPORT_STACK_NAMES 16
/* Detected allocation wrappers the JSON lists. */
#define HS_REPORT_WRAPPERS 64

static const char *bytes(double x, char *buf, size_t len) { return hs_text_bytes(x, HS_TEXT_BYTES_TENTHS, buf, len); }

/* "+1.2 MiB/s", "-3.0 KiB/s" or "0 B/s" (never "-0 B/s"). */
static const char *signed_rate(double x, char *buf, size_t len)
{
    char n[32];
    if (!(fabs(x) >= 0.5))
        snprintf(buf, len, "0 B/s");
    else
        snprintf(buf, len, "%s%s/s", x > 0 ? "+" : "", bytes(x, n, sizeof(n)));
    return buf;
}

/* "9.9 to 10.3 MiB/s", or "998.0 KiB/s to 1.1 MiB/s" across units. */
static const char *rate_range(double lo, double hi, char *buf, size_t len)
{
    char l[32], h[32];
    bytes(lo, l, sizeof(l));
    bytes(hi, h, sizeof(h));
    const char *lu = strchr(l, ' '), *hu = strchr(h, ' ');
    if (lu && hu && strcmp(lu, hu) == 0)
        snprintf(buf, len, "%.*s to %s/s", (int)(lu - l), l, h);
    else
        snprintf(buf, len, "%s/s to %s/s", l, h);
    return buf;
}

static void print_stack_names(FILE *out, const hs_analysis_t *r, const hs_model_stack_t *s)
{
    uint32_t n = s ? (s->depth < HS_REPORT_STACK_NAMES ? s->depth : HS_REPORT_STACK_NAMES) : 0;
    for (uint32_t f = 0; f < n; f++) {
        hs_site_t w;
        hs_site_of_frame(r->sym, s, f, &w);
        fprintf(out, "%s%s", f ? " <- " : "", w.function);
    }
}

static void file_sink(void *ctx, const char *bytes, size_t n) { fwrite(bytes, 1, n, ctx); }

/* Where the judged window ends when the dump ended at exit (analysis.h,
 * njudged): at the last snapshot before the exit snapshot (and before any
 * snapshot taken while the teardown freed the heap), or at the exit
 * snapshot itself in a run too short to leave it out. */
static void print_window_end(FILE *out, const hs_analysis_t *r)
{
    const hs_analysis_point_t *last = &r->proc[r->nproc - 1];
    size_t left_out = r->nproc - r->njudged;
    if (left_out == 1)
        fprintf(out,
                "  window: %.1f to %.1f s, ending at the last snapshot before exit: the exit snapshot (%.1f s) "
                "follows the program's teardown, if any, and is not judged (\"at exit\" below is)\n",
                r->t0, r->t1, last->t);
    else if (left_out > 1)
        fprintf(out,
                "  window: %.1f to %.1f s, ending at the last snapshot before the teardown: the exit snapshot "
                "(%.1f s) and the %zu before it from %.1f s on, where the heap falls to it, are not judged "
                "(\"at exit\" below is)\n",
                r->t0, r->t1, last->t, left_out - 1, r->proc[r->njudged].t);
    else if (r->exit_judged)
        fprintf(out,
                "  window: %.1f to %.1f s, ending with the exit snapshot, after the program's teardown: without it "
                "fewer than %d snapshots remain\n",
                r->t0, r->t1, HS_LEAK_MIN_POINTS);
}

/* Fills the shared JSON verdict (common/hs_report_json.h, the shape the live
 * /debug/heapscope/leaks serves too) from the analysis and writes it. */
void hs_report_print_json(FILE *out, const hs_analysis_t *r)
{
    const hs_analysis_point_t *last = &r->proc[r->nproc - 1];
    hs_report_json_suspect_t suspects[HS_ANALYSIS_MAX_SUSPECTS];
    hs_report_json_at_exit_t at_exit[HS_ANALYSIS_MAX_AT_EXIT];
    size_t nsites = 0, nthread_suspects = 0;
    for (const hs_analysis_thread_site_t *ts = r->thread_sites; ts; ts = ts->next)
        nsites++;
    hs_report_json_thread_site_t *sites = calloc(nsites ? nsites : 1, sizeof(*sites));
    hs_report_json_thread_site_t *thread_suspects = calloc(nsites ? nsites : 1, sizeof(*thread_suspects));
    if (!sites || !thread_suspects) {
        free(sites);
        free(thread_suspects);
        fprintf(stderr, "heapscope: report: out of memory\n");
        return;
    }
    hs_report_json_t j = {
        .file = r->path,
        .program = r->header->exe,
        .pid = r->header->pid,
        .span_seconds = last->t,
        .snapshots = r->nproc,
        .sample_rate = r->header->sample_rate,
        .final_heap_bytes = last->heap_in_use,
        .final_estimated_inuse_bytes = last->est_inuse,
        .leak = {.detected = r->leak_detected,
                 .growth_bytes = r->growth,
                 .rate_bytes_per_sec = r->rate.rate,
                 .rate_lo_bytes_per_sec = r->rate.lo,
                 .rate_hi_bytes_per_sec = r->rate.hi,
                 .rate_sites = r->rate.sites,
                 .heap_rate_bytes_per_sec = r->leak.slope,
                 .heap_growth_bytes = r->leak.growth,
                 .window_seconds = r->t1 - r->t0,
                 .window_end_seconds = r->t1,
                 .threshold_bytes = r->threshold,
                 .confidence = r->leak.confidence,
                 .mann_kendall_p = r->leak.mk_p,
                 .second_half_growth_bytes = r->leak.late_growth,
                 .second_half_expected_bytes = r->leak.late_expected,
                 .noise_floor_bytes = r->leak.noise_floor,
                 .detected_at_seconds = r->detected_at,
                 .reason = r->why},
        .suspects = suspects,
        .nsuspects = r->nsuspects,
        .at_exit = at_exit,
        .nat_exit = r->nat_exit,
        .recommendations = (const char *const *)r->recommendations,
        .nrecommendations = r->nrecommendations,
    };
    hs_report_json_alert_t *alerts = calloc(r->nalerts ? r->nalerts : 1, sizeof(*alerts));
    if (!alerts) {
        free(sites);
        free(thread_suspects);
        fprintf(stderr, "heapscope: report: out of memory\n");
        return;
    }
    for (size_t i = 0; i < r->nalerts; i++)
        alerts[i] = (hs_report_json_alert_t){.kind = hs_reader_alert_kind_name(r->alerts[i].kind),
                                             .event = hs_reader_alert_event_name(r->alerts[i].event),
                                             .at_seconds = r->alerts[i].t,
                                             .value = r->alerts[i].value,
                                             .threshold = r->alerts[i].threshold};
    j.alerts = alerts;
    j.nalerts = r->nalerts;
    for (size_t i = 0; i < r->nsuspects; i++) {
        const hs_analysis_site_t *s = r->suspects[i];
        hs_report_json_suspect_t *o = &suspects[i];
        *o = (hs_report_json_suspect_t){.function = s->where.function,
                                        .file = s->where.file,
                                        .line = s->where.line,
                                        .via = s->where.via,
                                        .rate_bytes_per_sec = s->leak.slope,
                                        .growth_bytes = s->leak.growth,
                                        .confidence = s->leak.confidence,
                                        .live_objects = s->inuse_objects,
                                        .inuse_bytes = s->inuse_bytes,
                                        .samples = s->live_samples,
                                        .reason = s->leak.reason};
        uint32_t n = s->top_stack ? s->top_stack->depth : 0;
        for (uint32_t f = 0; f < n && f < HS_REPORT_JSON_STACK; f++) {
            hs_site_t w;
            hs_site_of_frame(r->sym, s->top_stack, f, &w);
            /* Copied: an unsymbolized name lives in a buffer the next call reuses. */
            char *name = strdup(w.function);
            if (name)
                o->stack[o->nstack++] = name;
        }
    }
    double first_thread_detection = -1;
    nsites = 0;
    for (const hs_analysis_thread_site_t *ts = r->thread_sites; ts; ts = ts->next) {
        hs_report_json_thread_site_t t = {.function = ts->function,
                                          .file = ts->file,
                                          .start_routine = ts->start_routine,
                                          .line = ts->line,
                                          .live_threads = ts->live,
                                          .created = ts->started,
                                          .exited = ts->exited,
                                          .rate_per_sec = ts->leak.slope,
                                          .confidence = ts->leak.confidence};
        j.threads.created += ts->started;
        j.threads.exited += ts->exited;
        sites[nsites++] = t;
        if (!ts->leak.leaking)
            continue;
        thread_suspects[nthread_suspects++] = t;
        if (ts->detected_at >= 0 && (first_thread_detection < 0 || ts->detected_at < first_thread_detection))
            first_thread_detection = ts->detected_at;
    }
    j.threads.leak_detected = r->threads_leak;
    j.threads.live = last->threads;
    j.threads.suspects = thread_suspects;
    j.threads.nsuspects = nthread_suspects;
    j.threads.detected_at_seconds = first_thread_detection;
    j.threads.sites = sites;
    j.threads.nsites = nsites;
    for (size_t i = 0; i < r->nat_exit; i++) {
        const hs_analysis_site_t *s = r->at_exit[i];
        at_exit[i] = (hs_report_json_at_exit_t){.function = s->where.function,
                                                .file = s->where.file,
                                                .line = s->where.line,
                                                .via = s->where.via,
                                                .bytes = s->exit_inuse_bytes,
                                                .objects = s->exit_inuse_objects};
    }
    const char *wrappers[HS_REPORT_WRAPPERS];
    for (size_t i = 0; i < hs_frame_filter_wrapper_count(r->frames) && j.nwrappers < HS_REPORT_WRAPPERS; i++)
        wrappers[j.nwrappers++] = hs_frame_filter_wrapper_at(r->frames, i);
    j.wrappers = wrappers;
    hs_report_json_write(&j, file_sink, out);
    for (size_t i = 0; i < r->nsuspects; i++)
        for (size_t f = 0; f < suspects[i].nstack; f++)
            free((char *)suspects[i].stack[f]);
    free(alerts);
    free(sites);
    free(thread_suspects);
}

void hs_report_print_text(FILE *out, const hs_analysis_t *r)
{
    const hs_analysis_point_t *last = &r->proc[r->nproc - 1];
    char a[32], b[32], c[32], where[1400];
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
    /* The headline is the blamed sites' rate (analysis.h); the whole heap's
     * trend follows on its own line, labelled, never as the leak's rate. */
    char range[80], trend[40];
    if (r->leak_detected) {
        fprintf(out, "\nverdict: LEAK - growing %s/s (95%% %s), +%s over the last %.1f s (threshold %s)\n",
                bytes(r->rate.rate, a, sizeof(a)), rate_range(r->rate.lo, r->rate.hi, range, sizeof(range)),
                bytes(r->growth, b, sizeof(b)), r->t1 - r->t0, bytes(r->threshold, c, sizeof(c)));
        fprintf(out, "  heap trend: %s (the whole sampled heap: the leak plus all that rises and falls beside it)\n",
                signed_rate(r->leak.slope, trend, sizeof(trend)));
    } else {
        fprintf(out, "\nverdict: no heap leak over the last %.1f s (threshold %s)\n", r->t1 - r->t0,
                bytes(r->threshold, c, sizeof(c)));
        fprintf(out, "  heap trend: %s (the whole sampled heap), not a leak rate: no call site is blamed\n",
                signed_rate(r->leak.slope, trend, sizeof(trend)));
    }
    fprintf(out, "  why: %s\n", r->why);
    print_window_end(out, r);
    if (r->detected_at >= 0)
        fprintf(out, "  detected %.1f s after the start\n", r->detected_at);
    if (hs_frame_filter_wrapper_count(r->frames)) {
        char names[600];
        fprintf(out, "\nallocation wrappers detected: %s (--keep-frames to keep them)\n",
                hs_wrappers_list(r->frames, names, sizeof(names)));
    }
    if (r->nsuspects) {
        fprintf(out, "\nsuspects (call sites with sustained growth, fastest first):\n");
        fprintf(out, "  %12s %11s %12s %8s %5s  %s\n", "rate", "growth", "live objs", "samples", "conf", "site");
        for (size_t i = 0; i < r->nsuspects; i++) {
            const hs_analysis_site_t *s = r->suspects[i];
            char rate[40];
            snprintf(rate, sizeof(rate), "%s/s", bytes(s->leak.slope, a, sizeof(a)));
            fprintf(out, "  %12s %11s %12.0f %8" PRIu64 " %5.2f  %s\n", rate, bytes(s->leak.growth, b, sizeof(b)),
                    s->inuse_objects > 0 ? s->inuse_objects : 0, s->live_samples, s->leak.confidence,
                    hs_site_describe(&s->where, where, sizeof(where)));
            fprintf(out, "      stack: ");
            print_stack_names(out, r, s->top_stack);
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
            fprintf(out, "  %11s %10.0f objects  %s\n", bytes(s->exit_inuse_bytes, a, sizeof(a)),
                    s->exit_inuse_objects > 0 ? s->exit_inuse_objects : 0,
                    hs_site_describe(&s->where, where, sizeof(where)));
        }
    }
    if (r->nalerts) {
        fprintf(out, "\nalerts (health thresholds, HEAPSCOPE_ALERT_*):\n");
        for (size_t i = 0; i < r->nalerts; i++)
            fprintf(out, "  %8.1f s  %-9s  %s\n", r->alerts[i].t, hs_reader_alert_event_name(r->alerts[i].event),
                    hs_alert_describe(r->alerts[i].kind, r->alerts[i].event, r->alerts[i].value, r->alerts[i].threshold,
                                      where, sizeof(where)));
    }
    if (r->nrecommendations) {
        fprintf(out, "\nrecommendations:\n");
        for (size_t i = 0; i < r->nrecommendations; i++)
            fprintf(out, "  - %s\n", r->recommendations[i]);
    }
}
