/* live_metrics.c - owns three endpoints of the live service: /metrics
 * (Prometheus text format 0.0.4), /debug/heapscope/health and
 * /debug/heapscope/leaks. Runs on the server thread, which is untracked
 * (malloc is fine here and never recorded). It decides nothing: it reads
 * what other modules publish without locks (the tables, the live leak
 * detector's view, livecheck.h; the alerts' atomics, alerts.h; the thread
 * counters) and words it through common/hs_prom.h and common/hs_report_json.h
 * (the JSON writer `heapscope report --json` uses, so the two shapes cannot
 * drift). Never called from the allocation hooks or the snapshot writer. */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alerts.h"
#include "clock.h"
#include "config.h"
#include "heapstats.h"
#include "hs_leak.h"
#include "hs_prom.h"
#include "hs_report_json.h"
#include "hs_text.h"
#include "identity.h"
#include "live.h"
#include "livecheck.h"
#include "loss.h"
#include "procfs.h"
#include "sitename.h"
#include "snapshot.h"
#include "tables.h"
#include "threads.h"
#include "writer.h"

#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define JSON_CONTENT_TYPE "application/json"
/* The exposition is built in one buffer, doubled until it fits. */
#define METRICS_FIRST_CAP (64 * 1024)
#define METRICS_MAX_CAP (16 * 1024 * 1024)

static const char *const kind_names[HS_ALERT_KIND_MAX + 1] = {
    [HS_ALERT_HEAP] = "heap", [HS_ALERT_RSS] = "rss", [HS_ALERT_THREADS] = "threads", [HS_ALERT_GROWTH] = "growth"};

static const char *kind_name(uint32_t kind) { return kind >= 1 && kind <= HS_ALERT_KIND_MAX ? kind_names[kind] : "?"; }

/* ---- figures of this moment ------------------------------------------------- */

/* The sampled in-use estimate over every stack, and the stack count. */
static double sampled_inuse(uint32_t *nstacks)
{
    uint32_t n = hs_stack_count();
    double sum = 0;
    for (uint32_t id = 1; id <= n; id++) {
        hs_stack_t *s = hs_stack_by_id(id);
        if (s)
            sum += hs_stack_load_f64(&s->est_alloc_bytes) - hs_stack_load_f64(&s->est_free_bytes);
    }
    *nstacks = n;
    return sum > 0 ? sum : 0;
}

typedef struct {
    double heap_in_use, heap_reserved; /* reserved < 0: unknown */
    int heap_source;
    double sampled;
    uint32_t stacks;
} heap_figures_t;

/* The allocator's own figures (may_lock = 1: this thread holds none of
 * its locks; jemalloc's mallctl and tcmalloc's property calls are
 * thread-safe and take only their own locks), else the sampled estimate,
 * exactly as a snapshot takes them (snapshot.c). */
static void heap_figures(heap_figures_t *h)
{
    uint64_t in_use = 0, reserved = 0;
    h->sampled = sampled_inuse(&h->stacks);
    h->heap_source = hs_heapstats_read(&in_use, &reserved, 1);
    h->heap_reserved = h->heap_source == HS_HEAP_SOURCE_SAMPLED ? -1 : (double)reserved;
    h->heap_in_use =
        h->heap_source == HS_HEAP_SOURCE_SAMPLED || in_use == HS_HEAPSTATS_UNKNOWN ? round(h->sampled) : (double)in_use;
}

/* ---- sites: the stacks that grew most, grouped by what can be named --------- */

typedef struct {
    char function[300];
    char file[512];
    char via[256]; /* the wrapper its fastest-growing stack came through, "" none (sitename.h) */
    double growth, inuse, objects, base_inuse, freed;
    uint64_t live_samples;
    uint32_t top_stack_id; /* the member that grew most */
} site_t;

/* Groups the view's growing stacks by (function, object): in-process there
 * is no source line, so two stacks allocating in one function are one
 * series (Prometheus rejects two samples with the same labels). Returns the
 * count, fastest-growing first; at most max. */
static size_t group_sites(const hs_livecheck_view_t *v, site_t *out, size_t max)
{
    size_t n = 0;
    for (uint32_t i = 0; i < v->nsites && n < max; i++) {
        const hs_livecheck_site_t *ls = &v->sites[i];
        hs_stack_t *s = hs_stack_by_id(ls->stack_id);
        hs_sitename_t name;
        char function[300];
        if (!s || hs_sitename_of_stack(s, &name))
            continue;
        if (name.function[0]) {
            snprintf(function, sizeof(function), "%s", name.function);
        } else {
            const char *base = strrchr(name.object, '/');
            snprintf(function, sizeof(function), "%.200s+0x%lx", base ? base + 1 : name.object,
                     (unsigned long)name.offset);
        }
        size_t k = 0;
        while (k < n && !(strcmp(out[k].function, function) == 0 && strcmp(out[k].file, name.object) == 0))
            k++;
        if (k == n) {
            memset(&out[n], 0, sizeof(out[n]));
            snprintf(out[n].function, sizeof(out[n].function), "%s", function);
            snprintf(out[n].file, sizeof(out[n].file), "%s", name.object);
            memcpy(out[n].via, name.via, sizeof(out[n].via));
            out[n].top_stack_id = ls->stack_id;
            n++;
        }
        out[k].growth += ls->growth_bytes;
        out[k].inuse += ls->inuse_bytes;
        out[k].objects += ls->inuse_objects;
        out[k].base_inuse += ls->base_inuse_bytes;
        out[k].freed += ls->freed_since_base;
        out[k].live_samples += ls->live_samples;
    }
    return n; /* the view is sorted by growth and groups only add up: still fastest first, near enough */
}

/* ---- /metrics ------------------------------------------------------------------ */

static void family_u64(hs_prom_writer_t *w, const char *name, hs_prom_type_t type, const char *help, uint64_t v)
{
    hs_prom_family(w, name, type, help);
    hs_prom_sample_u64(w, name, NULL, 0, v);
}

static void family_f64(hs_prom_writer_t *w, const char *name, hs_prom_type_t type, const char *help, double v)
{
    hs_prom_family(w, name, type, help);
    hs_prom_sample_f64(w, name, NULL, 0, v);
}

/* The whole exposition into w; returns -1 when it overflowed. */
static int write_metrics(hs_prom_writer_t *w, const hs_livecheck_view_t *v, int have_view, const site_t *sites,
                         size_t nsites)
{
    hs_prom_process_metrics(w);

    char pid[16];
    snprintf(pid, sizeof(pid), "%u", hs_identity.pid);
    hs_prom_label_t info[] = {{"pid", pid}, {"program", hs_identity.program}};
    hs_prom_family(w, "heapscope_info", HS_PROM_GAUGE,
                   "Always 1: the process heapscope is loaded into (pid, program).");
    hs_prom_sample_u64(w, "heapscope_info", info, 2, 1);

    heap_figures_t h;
    heap_figures(&h);
    hs_prom_label_t source[] = {{"source", hs_heapstats_source_name(h.heap_source)}};
    hs_prom_family(w, "heapscope_heap_inuse_bytes", HS_PROM_GAUGE,
                   "Bytes in the program's live heap blocks: the allocator's own figure (source jemalloc or "
                   "tcmalloc), else the sampled estimate (source sampled: glibc, mimalloc).");
    hs_prom_sample_f64(w, "heapscope_heap_inuse_bytes", source, 1, h.heap_in_use);
    if (h.heap_reserved >= 0) {
        hs_prom_family(w, "heapscope_heap_reserved_bytes", HS_PROM_GAUGE,
                       "Bytes the allocator holds from the kernel (jemalloc resident, tcmalloc physical, mimalloc "
                       "committed); absent over glibc, which has no cheap figure.");
        hs_prom_sample_f64(w, "heapscope_heap_reserved_bytes", source, 1, h.heap_reserved);
    }
    family_f64(w, "heapscope_sampled_inuse_bytes", HS_PROM_GAUGE,
               "Unbiased estimate of the bytes in live blocks, from the sampled allocations "
               "(HEAPSCOPE_SAMPLE_RATE; exact at rate 1).",
               round(h.sampled));

    uint64_t allocs = 0, frees = 0;
    hs_threads_sum_calls(&allocs, &frees);
    family_u64(w, "heapscope_allocations_total", HS_PROM_COUNTER,
               "Allocation calls (malloc, calloc, realloc, the memalign family), exact.", allocs);
    family_u64(w, "heapscope_frees_total", HS_PROM_COUNTER, "Free calls (free, realloc of a block), exact.", frees);
    family_u64(w, "heapscope_threads", HS_PROM_GAUGE, "Live threads of the process (/proc/self/stat).",
               hs_proc_threads());
    uint64_t started = 0, exited = 0;
    hs_threads_site_totals(&started, &exited);
    family_u64(w, "heapscope_threads_created_total", HS_PROM_COUNTER,
               "Threads started through pthread_create since the library loaded (exact).", started);
    family_u64(w, "heapscope_stacks", HS_PROM_GAUGE, "Distinct allocation stacks recorded.", h.stacks);
    family_u64(w, "heapscope_lost_samples_total", HS_PROM_COUNTER,
               "Samples heapscope dropped rather than harm the program (tables full, no memory).", hs_loss_total());
    family_u64(w, "heapscope_snapshots_total", HS_PROM_COUNTER, "Snapshots written to the dump.",
               hs_snapshot_written_total());

    int judged = have_view && v->process.rule != HS_LEAK_RULE_TOO_FEW_POINTS;
    family_u64(w, "heapscope_leak", HS_PROM_GAUGE,
               "1 when the live leak detector's verdict at the last snapshot is a leak (the rules of heapscope "
               "report, over HEAPSCOPE_LEAK_WINDOW), else 0.",
               have_view && v->leak_detected ? 1 : 0);
    family_f64(w, "heapscope_leak_rate_bytes_per_second", HS_PROM_GAUGE,
               "Rate of the growth the live leak verdict blames: the sampled in-use growth of the stacks that "
               "pass the blame rule, since the detector's baseline (one to two HEAPSCOPE_LEAK_WINDOWs back), "
               "over the time since it; 0 while the verdict is no leak (heapscope_heap_trend_bytes_per_second "
               "is the whole heap's trend).",
               have_view && isfinite(v->rate.rate) ? v->rate.rate : 0);
    family_f64(w, "heapscope_leak_growth_bytes", HS_PROM_GAUGE,
               "Growth the live leak verdict blames: the blamed stacks' sampled in-use growth since the "
               "detector's baseline; 0 while the verdict is no leak.",
               have_view && isfinite(v->rate_growth_bytes) ? v->rate_growth_bytes : 0);
    family_f64(w, "heapscope_heap_trend_bytes_per_second", HS_PROM_GAUGE,
               "Theil-Sen slope of the whole sampled in-use estimate over the leak window, leak or not "
               "(sawtooth, plateaus and churn included; 0 until the window has enough snapshots).",
               judged && isfinite(v->process.slope) ? v->process.slope : 0);

    hs_prom_family(w, "heapscope_alerts_active", HS_PROM_GAUGE,
                   "1 while a health threshold (HEAPSCOPE_ALERT_*) is crossed; it clears below 90% of it.");
    for (uint32_t k = 1; k <= HS_ALERT_KIND_MAX; k++) {
        hs_prom_label_t kind[] = {{"kind", kind_names[k]}};
        hs_prom_sample_u64(w, "heapscope_alerts_active", kind, 1, (uint64_t)hs_alerts_is_raised(k));
    }
    hs_prom_family(w, "heapscope_alerts_fired_total", HS_PROM_COUNTER,
                   "Health alerts raised (HEAPSCOPE_ALERT_*), by kind.");
    for (uint32_t k = 1; k <= HS_ALERT_KIND_MAX; k++) {
        hs_prom_label_t kind[] = {{"kind", kind_names[k]}};
        hs_prom_sample_u64(w, "heapscope_alerts_fired_total", kind, 1, hs_alerts_fired(k));
    }

    hs_prom_family(w, "heapscope_site_growth_bytes", HS_PROM_GAUGE,
                   "Growth of the sampled in-use bytes of the fastest-growing allocation sites "
                   "(HEAPSCOPE_METRICS_SITES) over one to two HEAPSCOPE_LEAK_WINDOWs (since the live leak detector's "
                   "baseline before the current). function from the object's symbol table, file is the loaded object "
                   "(no source file in-process), line is always 0: heapscope report adds file:line.");
    for (size_t i = 0; i < nsites; i++) {
        hs_prom_label_t labels[] = {{"function", sites[i].function}, {"file", sites[i].file}, {"line", "0"}};
        hs_prom_sample_f64(w, "heapscope_site_growth_bytes", labels, 3, round(sites[i].growth));
    }
    return w->overflow ? -1 : 0;
}

void hs_live_metrics(const hs_live_req_t *req, hs_live_resp_t *resp)
{
    (void)req;
    hs_livecheck_view_t *v = malloc(sizeof(*v));
    size_t max_sites = hs_cfg.metrics_sites < HS_LIVECHECK_SITES ? hs_cfg.metrics_sites : HS_LIVECHECK_SITES;
    site_t *sites = calloc(max_sites ? max_sites : 1, sizeof(*sites));
    if (!v || !sites) {
        free(v);
        free(sites);
        hs_live_error(resp, 503, "out of memory");
        return;
    }
    int have_view = hs_livecheck_read(v) == 0;
    size_t nsites = have_view ? group_sites(v, sites, max_sites) : 0;
    for (size_t cap = METRICS_FIRST_CAP; cap <= METRICS_MAX_CAP; cap *= 2) {
        char *buf = hs_lbuf_reserve(&resp->body, cap);
        if (!buf)
            break;
        hs_prom_writer_t w;
        hs_prom_writer_init(&w, buf, cap);
        if (write_metrics(&w, v, have_view, sites, nsites) == 0) {
            resp->body.len = w.len;
            resp->status = 200;
            resp->content_type = PROM_CONTENT_TYPE;
            free(v);
            free(sites);
            return;
        }
    }
    free(v);
    free(sites);
    hs_live_error(resp, 503, "the metrics did not fit in %d bytes", METRICS_MAX_CAP);
}

/* ---- /debug/heapscope/health ------------------------------------------------ */

static void lbuf_sink(void *ctx, const char *bytes, size_t n) { hs_lbuf_put(ctx, bytes, n); }

void hs_live_health(const hs_live_req_t *req, hs_live_resp_t *resp)
{
    (void)req;
    hs_lbuf_t *b = &resp->body;
    resp->content_type = JSON_CONTENT_TYPE;
    int active = 0;
    for (uint32_t k = 1; k <= HS_ALERT_KIND_MAX; k++)
        active += hs_alerts_is_raised(k);
    if (!active) {
        resp->status = 200;
        hs_lbuf_puts(b, "{\"status\":\"ok\"}\n");
        return;
    }
    resp->status = 503;
    hs_lbuf_puts(b, "{\"status\":\"unhealthy\",\"alerts\":[");
    int first = 1;
    for (uint32_t k = 1; k <= HS_ALERT_KIND_MAX; k++) {
        if (!hs_alerts_is_raised(k))
            continue;
        char text[256];
        hs_lbuf_printf(b, "%s{\"kind\":\"%s\",\"variable\":\"%s\",\"value\":", first ? "" : ",", kind_names[k],
                       hs_alert_variable(k));
        hs_json_put_number(lbuf_sink, b, hs_alerts_last_value(k));
        hs_lbuf_printf(b, ",\"threshold\":%llu,\"message\":", (unsigned long long)hs_alerts_threshold(k));
        hs_json_put_string(
            lbuf_sink, b,
            hs_alert_describe(k, HS_ALERT_RAISED, hs_alerts_last_value(k), hs_alerts_threshold(k), text, sizeof(text)));
        hs_lbuf_puts(b, "}");
        first = 0;
    }
    hs_lbuf_puts(b, "]}\n");
}

/* ---- /debug/heapscope/leaks ----------------------------------------------------- */

/* Names kept for the JSON while it is written (frames of each suspect). */
typedef struct {
    char names[HS_REPORT_JSON_STACK][300];
} stack_names_t;

static size_t name_frames(uint32_t stack_id, stack_names_t *out, const char **ptrs)
{
    hs_stack_t *s = hs_stack_by_id(stack_id);
    size_t n = 0;
    for (uint32_t f = 0; s && f < s->depth && n < HS_REPORT_JSON_STACK; f++) {
        hs_sitename_t name;
        if (hs_sitename_of_frame(s->frames[f], &name))
            snprintf(out->names[n], sizeof(out->names[n]), "0x%lx", (unsigned long)(s->frames[f] - 1));
        else if (name.function[0])
            snprintf(out->names[n], sizeof(out->names[n]), "%s", name.function);
        else
            hs_sitename_format(&name, out->names[n], sizeof(out->names[n]));
        ptrs[n] = out->names[n];
        n++;
    }
    return n;
}

void hs_live_leaks(const hs_live_req_t *req, hs_live_resp_t *resp)
{
    (void)req;
    hs_livecheck_view_t *v = calloc(1, sizeof(*v));
    site_t *sites = calloc(HS_LIVECHECK_SITES, sizeof(*sites));
    hs_report_json_suspect_t *suspects = calloc(HS_LIVECHECK_SITES, sizeof(*suspects));
    stack_names_t *frames = calloc(HS_LIVECHECK_SITES, sizeof(*frames));
    char(*reasons)[200] = calloc(HS_LIVECHECK_SITES, sizeof(*reasons));
    hs_alert_event_t alerts[HS_ALERT_HISTORY];
    hs_report_json_alert_t jalerts[HS_ALERT_HISTORY];
    if (!v || !sites || !suspects || !frames || !reasons) {
        hs_live_error(resp, 503, "out of memory");
        goto out;
    }
    int have_view = hs_livecheck_read(v) == 0;
    double now_s = (double)(hs_now_mono_ns() - hs_identity.start_mono_ns) / 1e9;
    heap_figures_t h;
    heap_figures(&h);
    uint64_t started = 0, exited = 0;
    hs_threads_site_totals(&started, &exited);
    char reason[480];
    if (have_view && v->process.leaking && !v->leak_detected) /* the report's wording (analysis.c) */
        snprintf(reason, sizeof(reason),
                 "no stack grew above its threshold and sampling noise, so nothing is blamed; the whole heap: %s",
                 v->process.reason);
    else if (have_view)
        snprintf(reason, sizeof(reason), "%s", v->process.reason);
    else if (!hs_cfg.leak_window_ms)
        snprintf(reason, sizeof(reason), "the live leak check is off (HEAPSCOPE_LEAK_WINDOW=0)");
    else
        snprintf(reason, sizeof(reason), "no snapshot judged yet");

    hs_report_json_t j = {
        .file = hs_writer_is_open() ? hs_writer_path() : "",
        .program = hs_identity.exe,
        .pid = hs_identity.pid,
        .span_seconds = now_s,
        .snapshots = (size_t)hs_snapshot_written_total(),
        .sample_rate = hs_cfg.sample_rate,
        .final_heap_bytes = (uint64_t)h.heap_in_use,
        .final_estimated_inuse_bytes = have_view ? v->est_inuse_bytes : h.sampled,
        .leak = {.detected = have_view && v->leak_detected,
                 .growth_bytes = have_view ? v->rate_growth_bytes : NAN,
                 .rate_bytes_per_sec = have_view ? v->rate.rate : NAN,
                 .rate_lo_bytes_per_sec = have_view ? v->rate.lo : NAN,
                 .rate_hi_bytes_per_sec = have_view ? v->rate.hi : NAN,
                 .rate_sites = have_view ? v->rate.sites : 0,
                 .heap_rate_bytes_per_sec = have_view ? v->process.slope : NAN,
                 .heap_growth_bytes = have_view ? v->process.growth : NAN,
                 .window_seconds = have_view ? v->process.t1 - v->process.t0 : NAN,
                 .window_end_seconds = have_view ? v->process.t1 : NAN,
                 .threshold_bytes = have_view ? v->threshold_bytes : (double)hs_cfg.leak_threshold,
                 .confidence = have_view ? v->process.confidence : NAN,
                 .mann_kendall_p = have_view ? v->process.mk_p : NAN,
                 .second_half_growth_bytes = have_view ? v->process.late_growth : NAN,
                 .second_half_expected_bytes = have_view ? v->process.late_expected : NAN,
                 .noise_floor_bytes = have_view ? v->process.noise_floor : NAN,
                 .detected_at_seconds = have_view ? v->detected_at_s : -1,
                 .reason = reason},
        .suspects = suspects,
        .threads = {.live = hs_proc_threads(), .created = started, .exited = exited, .detected_at_seconds = -1},
    };
    /* Suspects: as the report lists them only when the process series says
     * leak, the sites whose growth since the baseline passes the report's
     * site rule (hs_leak_site_growth_is_blamable, with their turnover). */
    if (have_view && (v->process.leaking || v->leak_detected)) {
        size_t nsites = group_sites(v, sites, HS_LIVECHECK_SITES);
        double span = v->at_s - v->baseline_s;
        for (size_t i = 0; i < nsites; i++) {
            const site_t *s = &sites[i];
            if (!hs_leak_site_growth_is_blamable(s->growth, hs_leak_turnover(s->freed, s->base_inuse),
                                                 (double)hs_cfg.sample_rate, v->threshold_bytes))
                continue;
            hs_report_json_suspect_t *o = &suspects[j.nsuspects];
            char *why = reasons[j.nsuspects];
            char growth[32];
            snprintf(why, sizeof(reasons[0]),
                     "grew %s in %.0f s since the live detector's baseline, above the site threshold and the "
                     "sampling noise",
                     hs_text_bytes(s->growth, HS_TEXT_BYTES_SHORT, growth, sizeof(growth)), span);
            *o = (hs_report_json_suspect_t){.function = s->function,
                                            .via = s->via[0] ? s->via : NULL,
                                            .file = s->file,
                                            .line = 0,
                                            .rate_bytes_per_sec = span > 0 ? s->growth / span : NAN,
                                            .growth_bytes = s->growth,
                                            .confidence = NAN,
                                            .live_objects = s->objects,
                                            .inuse_bytes = s->inuse,
                                            .samples = s->live_samples,
                                            .reason = why};
            o->nstack = name_frames(s->top_stack_id, &frames[j.nsuspects], o->stack);
            j.nsuspects++;
        }
    }
    char recommendation[600];
    const char *recommendations[1] = {recommendation};
    if (j.leak.detected && j.nsuspects)
        snprintf(recommendation, sizeof(recommendation),
                 "%s (%s) grows fastest: run `heapscope report` on the dump (%s) for its source line, the "
                 "call site's own trend and what to change.",
                 suspects[0].function, suspects[0].file, j.file[0] ? j.file : "written at the next snapshot");
    else
        snprintf(recommendation, sizeof(recommendation), "No sustained growth: %s", reason);
    j.recommendations = recommendations;
    j.nrecommendations = 1;
    uint32_t nalerts = hs_alerts_history(alerts);
    for (uint32_t i = 0; i < nalerts; i++)
        jalerts[i] = (hs_report_json_alert_t){.kind = kind_name(alerts[i].kind),
                                              .event = alerts[i].event == HS_ALERT_RAISED ? "raised" : "recovered",
                                              .at_seconds = alerts[i].t_s,
                                              .value = alerts[i].value,
                                              .threshold = alerts[i].threshold};
    j.alerts = jalerts;
    j.nalerts = nalerts;

    resp->status = 200;
    resp->content_type = JSON_CONTENT_TYPE;
    hs_report_json_write(&j, lbuf_sink, &resp->body);
    hs_lbuf_puts(&resp->body, "\n");
out:
    free(v);
    free(sites);
    free(suspects);
    free(frames);
    free(reasons);
}
