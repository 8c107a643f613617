/* cmd_report.c - `heapscope report DUMP...`: is it leaking, how fast, where,
 * and what to do. Two passes over each dump: the first collects the process
 * series (sampled in-use estimate, heap, RSS, threads) and thread events, the
 * second, now that the window is known, the in-use series of every call site
 * inside it (at most HS_LEAK_MAX_POINTS points). The statistics live in
 * common/hs_leak.c; this file groups, ranks, explains and prints. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "cli.h"
#include "textout.h"
#include "hs_leak.h"
#include "hs_symbolize.h"
#include "input.h"
#include "model.h"
#include "sites.h"

#define MAX_SUSPECTS 10
#define MAX_AT_EXIT 10
#define MAX_STACK_NAMES 16

void hs_cmd_report_usage(FILE *out)
{
    fprintf(out,
            "usage: heapscope report DUMP... [--window SECONDS] [--threshold BYTES] [--json] [--fail-on-leak]\n"
            "\n"
            "Answers: is the program leaking, how fast, where, and what to do. A leak is sustained\n"
            "growth of the sampled in-use estimate inside the window (Theil-Sen slope, Mann-Kendall\n"
            "trend test, rising lower envelope, growth continuing into the second half, growth above\n"
            "sampling noise and above the threshold); warm-up plateaus, sawtooth, spikes and churn are\n"
            "not leaks. Suspects are call sites whose own in-use bytes grow the same way.\n"
            "\n"
            "  --window SECONDS   analyse the last SECONDS of the run (default 300, or the whole run\n"
            "                     when shorter)\n"
            "  --threshold BYTES  minimum growth over the window (K/M/G suffixes). Default: 10 MiB for a\n"
            "                     300 s window, scaled by window/300 s for shorter ones, and at most 5%%\n"
            "                     of the peak heap in use, but never below 64 KiB\n"
            "  --json             print a JSON object (one per dump in a \"dumps\" array when several)\n"
            "  --fail-on-leak     exit 3 when a leak (heap or threads) is found\n"
            "  --no-symbolize     name frames by module+offset only\n" HS_INPUT_USAGE);
}

typedef struct {
    double t;
    uint32_t seq, reason;
    double est_inuse;
    double est_freed; /* cumulative estimated bytes freed: for the growth's sampling noise */
    uint64_t heap_in_use, heap_reserved, rss, threads, alloc_calls;
} proc_point_t;

typedef struct site {
    char *key;
    hs_site_t where;          /* strings owned by the symbolizer or copied into key */
    char *function_copy;
    const hs_model_stack_t *top_stack; /* the member stack holding the most at the end */
    double top_stack_inuse;
    hs_point_t *pts;
    size_t npts;
    double inuse_bytes, inuse_objects, alloc_objects, alloc_bytes, free_objects, free_bytes;
    double inuse_start, free_start; /* at the first point of the window */
    uint64_t live_samples, sampled_allocs, sampled_frees;
    double first_inuse_objects;
    int first_set;
    hs_leak_result_t leak;
    UT_hash_handle hh;
} site_t;

typedef struct thread_site {
    char *function, *start_routine, *file;
    uint32_t line;
    uint64_t started, exited;
    long live;
    hs_point_t *pts;
    size_t npts, cap;
    hs_leak_result_t leak;
    double detected_at; /* time to detection, or -1 */
    struct thread_site *next;
} thread_site_t;

typedef struct tid_entry {
    uint32_t tid;
    thread_site_t *site;
    UT_hash_handle hh;
} tid_entry_t;

/* The last counts of one THREAD_SITES entry. Several entries (creation
 * stacks, routines) can name one thread_site_t: each moves it by its own
 * change, so the site holds the sum of its entries' latest counts. */
typedef struct site_counts {
    struct site_counts_key {
        uint64_t start_routine;
        uint32_t stack_id, pad;
    } key;
    uint64_t started, exited;
    thread_site_t *site;
    UT_hash_handle hh;
} site_counts_t;

typedef struct {
    const char *path;
    hs_input_t *input; /* read twice (pass1, pass2): a pipe is spooled */
    hs_symbolizer_t *sym;
    const hs_model_header_t *header;
    hs_model_t *model;
    proc_point_t *proc;
    size_t nproc, proc_cap;
    thread_site_t *tsites;
    tid_entry_t *tids;
    site_counts_t *site_counts; /* uthash by (creation stack id, start routine) */
    int have_thread_sites;      /* a THREAD_SITES record was read: counts come from those */
    site_t *sites;        /* uthash by key */
    site_t **stack_site;  /* by stack index */
    size_t stack_site_len;
    double window_s, t0, t1, threshold;
    int user_threshold;
    hs_leak_result_t leak;
    double detected_at;
    int leak_detected, threads_leak;
    site_t *suspects[MAX_SUSPECTS];
    size_t nsuspects;
    site_t *at_exit[MAX_AT_EXIT];
    size_t nat_exit;
    int ended_at_exit;
    char *recs[16];
    size_t nrecs;
    double *scratch;
    size_t scratch_len;
} report_t;

/* ---- helpers --------------------------------------------------------------- */
static void add_rec(report_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_rec(report_t *r, const char *fmt, ...)
{
    if (r->nrecs >= sizeof(r->recs) / sizeof(r->recs[0]))
        return;
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) >= 0)
        r->recs[r->nrecs++] = s;
    va_end(ap);
}

static const char *site_location(const hs_site_t *w, char *buf, size_t len)
{
    if (w->file && w->line)
        snprintf(buf, len, "%s:%u", w->file, w->line);
    else if (w->file)
        snprintf(buf, len, "%s", w->file);
    else
        snprintf(buf, len, "?");
    return buf;
}

/* ---- pass 1: process series and threads ------------------------------------ */
static thread_site_t *thread_site_for(report_t *r, const hs_model_stack_t *creation_stack, uint64_t start_routine)
{
    hs_site_t w;
    char start[300];
    if (creation_stack)
        hs_site_of_stack(r->sym, creation_stack, &w);
    else
        w = (hs_site_t){"?", NULL, 0, 0};
    if (!creation_stack && !start_routine)
        snprintf(start, sizeof(start), "(sites beyond the interposer's table)");
    else
        hs_site_function_at(r->sym, r->model, start_routine, start, sizeof(start));
    for (thread_site_t *ts = r->tsites; ts; ts = ts->next)
        if (strcmp(ts->function, w.function) == 0 && strcmp(ts->start_routine, start) == 0)
            return ts;
    thread_site_t *ts = calloc(1, sizeof(*ts));
    if (!ts)
        return NULL;
    ts->function = strdup(w.function);
    ts->start_routine = strdup(start);
    ts->file = w.file ? strdup(w.file) : NULL;
    ts->line = w.line;
    ts->next = r->tsites;
    r->tsites = ts;
    return ts;
}

/* THREAD records count starts and exits only in dumps without THREAD_SITES
 * records (a busy process's THREAD records are incomplete). */
static void on_thread(void *ctx, const hs_model_thread_t *t)
{
    report_t *r = ctx;
    if (r->have_thread_sites)
        return;
    tid_entry_t *e;
    HASH_FIND(hh, r->tids, &t->tid, sizeof(t->tid), e);
    if (t->event == HS_THREAD_STARTED) {
        thread_site_t *ts = thread_site_for(r, t->creation_stack, t->start_routine);
        if (!ts)
            return;
        ts->started++;
        ts->live++;
        if (!e) {
            e = calloc(1, sizeof(*e));
            if (!e)
                return;
            e->tid = t->tid;
            HASH_ADD(hh, r->tids, tid, sizeof(e->tid), e);
        }
        e->site = ts;
    } else if (e && e->site) {
        e->site->exited++;
        e->site->live--;
        e->site = NULL;
    }
}

/* Exact, cumulative counts by creation site. A snapshot's THREAD_SITES
 * record comes before its SNAPSHOT record, so the live series sampled there
 * is up to date. */
static void on_thread_site(void *ctx, const hs_model_thread_site_t *s)
{
    report_t *r = ctx;
    if (!r->have_thread_sites) {
        /* The counts restart from the sites: what this snapshot's THREAD
         * records counted so far is in them already. */
        r->have_thread_sites = 1;
        for (thread_site_t *ts = r->tsites; ts; ts = ts->next) {
            ts->started = ts->exited = 0;
            ts->live = 0;
        }
    }
    struct site_counts_key key = {s->start_routine, s->creation_stack ? s->creation_stack->id : 0, 0};
    site_counts_t *c;
    HASH_FIND(hh, r->site_counts, &key, sizeof(key), c);
    if (!c) {
        thread_site_t *ts = thread_site_for(r, s->creation_stack, s->start_routine);
        if (!ts || !(c = calloc(1, sizeof(*c))))
            return;
        c->key = key;
        c->site = ts;
        HASH_ADD(hh, r->site_counts, key, sizeof(c->key), c);
    }
    thread_site_t *ts = c->site;
    ts->started += s->started - c->started;
    ts->exited += s->exited - c->exited;
    ts->live = (long)(ts->started - ts->exited);
    c->started = s->started;
    c->exited = s->exited;
}

static int pass1(report_t *r, char *err, size_t errlen)
{
    if (hs_input_model(r->input, &r->model, err, errlen))
        return -1;
    r->header = hs_model_header(r->model);
    hs_model_set_thread_cb(r->model, on_thread, r);
    hs_model_set_thread_site_cb(r->model, on_thread_site, r);
    hs_model_snapshot_t snap;
    int rc;
    double est = 0, freed = 0;
    double *last = NULL, *last_freed = NULL; /* each stack's current contribution to est, freed */
    size_t last_len = 0;
    while ((rc = hs_model_next(r->model, &snap, err, errlen)) == 1) {
        size_t n = hs_model_stack_count(r->model);
        if (n > last_len) {
            double *grown = realloc(last, n * sizeof(*grown));
            if (!grown)
                goto oom;
            last = grown;
            double *grown_freed = realloc(last_freed, n * sizeof(*grown_freed));
            if (!grown_freed)
                goto oom;
            last_freed = grown_freed;
            memset(last + last_len, 0, (n - last_len) * sizeof(*last));
            memset(last_freed + last_len, 0, (n - last_len) * sizeof(*last_freed));
            last_len = n;
        }
        for (size_t i = 0; i < n; i++) {
            const hs_model_stack_t *s = hs_model_stack_at(r->model, i);
            if (s->has_row && s->last_changed_seq == snap.seq) {
                double v = s->row.est_alloc_bytes - s->row.est_free_bytes;
                est += v - last[i];
                last[i] = v;
                freed += s->row.est_free_bytes - last_freed[i];
                last_freed[i] = s->row.est_free_bytes;
            }
        }
        if (r->nproc == r->proc_cap) {
            size_t cap = r->proc_cap ? r->proc_cap * 2 : 256;
            proc_point_t *grown = realloc(r->proc, cap * sizeof(*grown));
            if (!grown)
                goto oom;
            r->proc = grown;
            r->proc_cap = cap;
        }
        proc_point_t *p = &r->proc[r->nproc++];
        p->t = snap.offset_s;
        p->seq = snap.seq;
        p->reason = snap.reason;
        p->est_inuse = est;
        p->est_freed = freed;
        p->heap_in_use = snap.stats[HS_STAT_HEAP_IN_USE];
        p->heap_reserved = snap.stats[HS_STAT_HEAP_RESERVED];
        p->rss = snap.stats[HS_STAT_RSS];
        p->threads = snap.stats[HS_STAT_LIVE_THREADS];
        p->alloc_calls = snap.stats[HS_STAT_ALLOC_CALLS];
        for (thread_site_t *ts = r->tsites; ts; ts = ts->next) {
            if (ts->npts == ts->cap) {
                size_t cap = ts->cap ? ts->cap * 2 : 64;
                hs_point_t *grown = realloc(ts->pts, cap * sizeof(*grown));
                if (!grown)
                    goto oom;
                ts->pts = grown;
                ts->cap = cap;
            }
            ts->pts[ts->npts++] = (hs_point_t){snap.offset_s, (double)ts->live};
        }
    }
    free(last);
    free(last_freed);
    if (rc < 0)
        return -1;
    if (hs_model_warning(r->model))
        fprintf(stderr, "heapscope: warning: %s; using the snapshots before it\n", hs_model_warning(r->model));
    if (r->nproc == 0) {
        snprintf(err, errlen, "%s: no snapshot in the dump: nothing to report", r->path);
        return -1;
    }
    return 0;
oom:
    free(last);
    free(last_freed);
    snprintf(err, errlen, "%s: out of memory", r->path);
    return -1;
}

/* ---- pass 2: call-site series inside the window ------------------------------ */
static site_t *site_for_stack(report_t *r, size_t index)
{
    if (index >= r->stack_site_len) {
        size_t len = hs_model_stack_count(r->model) + 64;
        site_t **grown = realloc(r->stack_site, len * sizeof(*grown));
        if (!grown)
            return NULL;
        memset(grown + r->stack_site_len, 0, (len - r->stack_site_len) * sizeof(*grown));
        r->stack_site = grown;
        r->stack_site_len = len;
    }
    if (r->stack_site[index])
        return r->stack_site[index];
    const hs_model_stack_t *s = hs_model_stack_at(r->model, index);
    hs_site_t w;
    hs_site_of_stack(r->sym, s, &w);
    char key[1200];
    snprintf(key, sizeof(key), "%s\t%s\t%u", w.function, w.file ? w.file : "", w.line);
    site_t *site;
    HASH_FIND_STR(r->sites, key, site);
    if (!site) {
        site = calloc(1, sizeof(*site));
        if (!site || !(site->key = strdup(key)) || !(site->function_copy = strdup(w.function))) {
            free(site);
            return NULL;
        }
        site->where = w;
        site->where.function = site->function_copy;
        HASH_ADD_KEYPTR(hh, r->sites, site->key, strlen(site->key), site);
    }
    r->stack_site[index] = site;
    return site;
}

static int pass2(report_t *r, size_t first_index, size_t stride, char *err, size_t errlen)
{
    hs_model_close(r->model);
    r->model = NULL;
    r->stack_site_len = 0;
    free(r->stack_site);
    r->stack_site = NULL;
    if (hs_input_model(r->input, &r->model, err, errlen))
        return -1;
    r->header = hs_model_header(r->model); /* the first model, and its header, are gone */
    size_t cap = (r->nproc - first_index) / stride + 2;
    hs_model_snapshot_t snap;
    size_t index = 0;
    int rc;
    while ((rc = hs_model_next(r->model, &snap, err, errlen)) == 1) {
        size_t i = index++;
        if (i < first_index || ((i - first_index) % stride != 0 && i != r->nproc - 1))
            continue;
        site_t *site, *tmp;
        HASH_ITER(hh, r->sites, site, tmp)
        {
            site->inuse_bytes = site->inuse_objects = site->alloc_objects = site->alloc_bytes = 0;
            site->free_objects = site->free_bytes = 0;
            site->live_samples = site->sampled_allocs = site->sampled_frees = 0;
            site->top_stack_inuse = -1;
        }
        size_t n = hs_model_stack_count(r->model);
        for (size_t k = 0; k < n; k++) {
            const hs_model_stack_t *s = hs_model_stack_at(r->model, k);
            if (!s->has_row)
                continue;
            site = site_for_stack(r, k);
            if (!site) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            double inuse = s->row.est_alloc_bytes - s->row.est_free_bytes;
            site->inuse_bytes += inuse;
            site->inuse_objects += s->row.est_alloc_objects - s->row.est_free_objects;
            site->alloc_objects += s->row.est_alloc_objects;
            site->alloc_bytes += s->row.est_alloc_bytes;
            site->free_objects += s->row.est_free_objects;
            site->free_bytes += s->row.est_free_bytes;
            site->sampled_allocs += s->row.alloc_count;
            site->sampled_frees += s->row.free_count;
            site->live_samples += s->row.alloc_count - s->row.free_count;
            if (inuse > site->top_stack_inuse) {
                site->top_stack_inuse = inuse;
                site->top_stack = s;
            }
        }
        HASH_ITER(hh, r->sites, site, tmp)
        {
            if (!site->pts && !(site->pts = calloc(cap, sizeof(hs_point_t)))) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            if (site->npts < cap)
                site->pts[site->npts++] = (hs_point_t){snap.offset_s, site->inuse_bytes};
            if (!site->first_set) {
                site->first_set = 1;
                site->first_inuse_objects = site->inuse_objects;
                site->inuse_start = site->inuse_bytes;
                site->free_start = site->free_bytes;
            }
        }
        r->ended_at_exit = snap.reason == HS_REASON_EXIT;
    }
    return rc < 0 ? -1 : 0;
}

/* ---- analysis --------------------------------------------------------------------- */
static int by_rate(const void *a, const void *b)
{
    const site_t *x = *(site_t *const *)a, *y = *(site_t *const *)b;
    return x->leak.slope < y->leak.slope ? 1 : x->leak.slope > y->leak.slope ? -1 : 0;
}

static int by_inuse(const void *a, const void *b)
{
    const site_t *x = *(site_t *const *)a, *y = *(site_t *const *)b;
    return x->inuse_bytes < y->inuse_bytes ? 1 : x->inuse_bytes > y->inuse_bytes ? -1 : 0;
}

/* Window, threshold and the verdict on the process series (pass 1 data). */
static int process_verdict(report_t *r, size_t *first_out, size_t *stride_out, char *err, size_t errlen)
{
    const proc_point_t *last = &r->proc[r->nproc - 1];
    r->window_s = r->window_s > 0 ? r->window_s : 300;
    double t_start = last->t - r->window_s;
    if (t_start < r->proc[0].t)
        t_start = r->proc[0].t;
    r->t0 = t_start;
    r->t1 = last->t;
    double used = r->t1 - r->t0;
    double peak = 0;
    for (size_t i = 0; i < r->nproc; i++) {
        double v = r->proc[i].est_inuse > (double)r->proc[i].heap_in_use ? r->proc[i].est_inuse
                                                                          : (double)r->proc[i].heap_in_use;
        if (v > peak)
            peak = v;
    }
    if (!r->user_threshold) {
        /* 10 MiB per 300 s window, scaled for shorter windows; a small
         * program's leak counts once it is 5% of its peak heap; 64 KiB floor. */
        double t = 10.0 * 1048576 * (used < 300 ? used / 300 : 1);
        if (t > 0.05 * peak)
            t = 0.05 * peak;
        r->threshold = t < 65536 ? 65536 : t;
    }
    size_t first_index = 0;
    while (first_index < r->nproc && r->proc[first_index].t < t_start)
        first_index++;
    size_t in_window = r->nproc - first_index;
    size_t stride = in_window / HS_LEAK_MAX_POINTS + 1;

    r->scratch_len = hs_leak_scratch_needed(r->nproc > HS_LEAK_MAX_POINTS ? r->nproc : HS_LEAK_MAX_POINTS);
    r->scratch = malloc(r->scratch_len * sizeof(double));
    hs_point_t *pts = malloc(r->nproc * sizeof(*pts));
    if (!r->scratch || !pts) {
        free(pts);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* Process verdict on the sampled in-use estimate (it sees every
     * allocator, jemalloc included); noise from the sample rate. */
    for (size_t i = 0; i < r->nproc; i++)
        pts[i] = (hs_point_t){r->proc[i].t, r->proc[i].est_inuse};
    const proc_point_t *start = &r->proc[first_index];
    double turnover = last->est_freed - start->est_freed;
    if (turnover > start->est_inuse)
        turnover = start->est_inuse;
    double noise = hs_leak_sampling_noise(pts, r->nproc, r->window_s, (double)r->header->sample_rate, turnover);
    hs_leak_params_t params = {.window_s = r->window_s, .threshold_bytes = r->threshold, .noise_bytes = noise};
    hs_leak_analyze(pts, r->nproc, &params, r->scratch, r->scratch_len, &r->leak);
    /* Time to detection: the first prefix, at least half a window long, on
     * which the same rules (and the same window) call it a leak. */
    hs_leak_params_t from_start = {.window_s = r->window_s, .min_span_s = (r->t1 - r->t0) / 2,
                                   .threshold_bytes = r->threshold, .noise_bytes = noise};
    r->detected_at = r->leak.leaking ? hs_leak_first_detection(pts, r->nproc, &from_start, r->scratch, r->scratch_len)
                                     : -1;
    free(pts);
    *first_out = first_index;
    *stride_out = stride;
    return 0;
}

static int analyze(report_t *r, char *err, size_t errlen)
{
    size_t first_index, stride;
    if (process_verdict(r, &first_index, &stride, err, errlen))
        return -1;

    if (pass2(r, first_index, stride, err, errlen))
        return -1;
    site_t *site, *tmp;
    double suspect_growth = 0;
    HASH_ITER(hh, r->sites, site, tmp)
    {
        if (site->npts < 2)
            continue;
        double site_turnover = site->free_bytes - site->free_start;
        if (site_turnover > site->inuse_start)
            site_turnover = site->inuse_start;
        hs_leak_params_t sp = {.window_s = r->window_s,
                               .threshold_bytes = r->threshold / 10 > 4096 ? r->threshold / 10 : 4096,
                               .noise_bytes = hs_leak_sampling_noise(site->pts, site->npts, r->window_s,
                                                                     (double)r->header->sample_rate,
                                                                     site_turnover)};
        hs_leak_analyze(site->pts, site->npts, &sp, r->scratch, r->scratch_len, &site->leak);
        if (site->leak.leaking && r->nsuspects < MAX_SUSPECTS) {
            r->suspects[r->nsuspects++] = site;
            suspect_growth += site->leak.growth;
        } else if (site->leak.leaking) {
            qsort(r->suspects, r->nsuspects, sizeof(r->suspects[0]), by_rate);
            if (site->leak.slope > r->suspects[MAX_SUSPECTS - 1]->leak.slope)
                r->suspects[MAX_SUSPECTS - 1] = site;
        }
        if (r->ended_at_exit && site->inuse_bytes > 0) {
            if (r->nat_exit < MAX_AT_EXIT) {
                r->at_exit[r->nat_exit++] = site;
            } else {
                qsort(r->at_exit, r->nat_exit, sizeof(r->at_exit[0]), by_inuse);
                if (site->inuse_bytes > r->at_exit[MAX_AT_EXIT - 1]->inuse_bytes)
                    r->at_exit[MAX_AT_EXIT - 1] = site;
            }
        }
    }
    qsort(r->suspects, r->nsuspects, sizeof(r->suspects[0]), by_rate);
    qsort(r->at_exit, r->nat_exit, sizeof(r->at_exit[0]), by_inuse);
    /* A leak is growth someone can be blamed for: the process series must
     * pass and so must at least one call site's own series (with its own
     * sampling noise), or the sites together must carry the growth. */
    r->leak_detected = (r->leak.leaking && r->nsuspects > 0) ||
                       (r->nsuspects && suspect_growth >= r->threshold && r->suspects[0]->leak.confidence >= 0.95);
    if (!r->leak.leaking)
        r->nsuspects = r->leak_detected ? r->nsuspects : 0;

    for (thread_site_t *ts = r->tsites; ts; ts = ts->next) {
        hs_leak_params_t tp = {.window_s = r->window_s, .threshold_bytes = 3, .noise_bytes = 0};
        hs_leak_analyze(ts->pts, ts->npts, &tp, r->scratch, r->scratch_len, &ts->leak);
        ts->detected_at = -1;
        if (ts->leak.leaking) {
            r->threads_leak = 1;
            tp.min_span_s = (r->t1 - r->t0) / 2;
            ts->detected_at = hs_leak_first_detection(ts->pts, ts->npts, &tp, r->scratch, r->scratch_len);
        }
    }
    return 0;
}

static void recommend(report_t *r)
{
    char where[1100], a[32], b[32];
    for (size_t i = 0; i < r->nsuspects; i++) {
        const site_t *s = r->suspects[i];
        site_location(&s->where, where, sizeof(where));
        double objects_growth = s->inuse_objects - s->first_inuse_objects;
        if (s->inuse_objects < 4 || objects_growth < 0.05 * (s->inuse_objects > 1 ? s->inuse_objects : 1)) {
            add_rec(r, "%s (%s) keeps %.0f live block(s) that grow by %s/s: a buffer grown with realloc that never "
                       "shrinks; cap it, shrink it when drained, or reset it.",
                    s->where.function, where, s->inuse_objects, hs_human_bytes(s->leak.slope, a, sizeof(a)));
        } else if (s->sampled_frees == 0) {
            add_rec(r, "Nothing allocated at %s (%s) is ever freed, and it grows by %s/s (%.0f objects live): an "
                       "unbounded cache, list or map; bound it or evict entries.",
                    s->where.function, where, hs_human_bytes(s->leak.slope, a, sizeof(a)), s->inuse_objects);
        } else {
            double kept = s->alloc_objects > 0 ? 100.0 * s->inuse_objects / s->alloc_objects : 0;
            add_rec(r, "%s (%s) frees most of what it allocates but keeps %.1f%% (%s/s): look for a missing free on "
                       "an error or early-return path, or an object handed to another thread that never frees it.",
                    s->where.function, where, kept, hs_human_bytes(s->leak.slope, a, sizeof(a)));
        }
    }
    for (thread_site_t *ts = r->tsites; ts; ts = ts->next) {
        if (!ts->leak.leaking)
            continue;
        add_rec(r, "Threads created in %s (start routine %s) keep piling up (%ld live, +%.2f/s): they are never "
                   "joined and never exit; join them, or detach them and make them return.",
                ts->function, ts->start_routine, ts->live, ts->leak.slope);
    }
    const proc_point_t *last = &r->proc[r->nproc - 1];
    if (last->heap_reserved > 2 * last->heap_in_use && last->heap_reserved - last->heap_in_use > (64u << 20))
        add_rec(r, "The heap reserves %s but uses %s: fragmentation. Try malloc_trim(0) after peaks, fewer arenas "
                   "(MALLOC_ARENA_MAX=2) or another allocator.",
                hs_human_bytes((double)last->heap_reserved, a, sizeof(a)), hs_human_bytes((double)last->heap_in_use, b, sizeof(b)));
    /* Very frequent temporary allocations: the site with the most allocations
     * per second whose blocks are almost all freed. */
    const site_t *busiest = NULL;
    site_t *s, *tmp;
    HASH_ITER(hh, r->sites, s, tmp)
    {
        if (s->alloc_objects > 0 && s->inuse_objects < 0.01 * s->alloc_objects &&
            (!busiest || s->alloc_objects > busiest->alloc_objects))
            busiest = s;
    }
    double span = last->t > 0 ? last->t : 1;
    if (busiest && busiest->alloc_objects / span > 10000) {
        site_location(&busiest->where, where, sizeof(where));
        add_rec(r, "%s (%s) makes %.0f short-lived allocations per second (%s/s): reuse a buffer or use a pool "
                   "there to cut allocator time.",
                busiest->where.function, where, busiest->alloc_objects / span,
                hs_human_bytes(busiest->alloc_bytes / span, a, sizeof(a)));
    }
    if (!r->leak_detected && !r->threads_leak)
        add_rec(r, "No sustained growth: %s", r->leak.reason);
}

static void json_num(FILE *out, double v)
{
    if (isfinite(v))
        fprintf(out, "%.12g", v);
    else
        fprintf(out, "null");
}

static void print_stack_names(FILE *out, report_t *r, const hs_model_stack_t *s, int json)
{
    uint32_t n = s ? (s->depth < MAX_STACK_NAMES ? s->depth : MAX_STACK_NAMES) : 0;
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

static void print_json(FILE *out, report_t *r)
{
    const proc_point_t *last = &r->proc[r->nproc - 1];
    fprintf(out, "{\"file\":");
    hs_put_json_string(out, r->path);
    fprintf(out, ",\"program\":");
    hs_put_json_string(out, r->header->exe);
    fprintf(out, ",\"pid\":%u,\"span_seconds\":", r->header->pid);
    json_num(out, last->t);
    fprintf(out, ",\"snapshots\":%zu,\"sample_rate\":%" PRIu64 ",\"final_heap_bytes\":%" PRIu64
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
        const site_t *s = r->suspects[i];
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
    for (thread_site_t *ts = r->tsites; ts; ts = ts->next) {
        created += ts->started;
        exited += ts->exited;
    }
    fprintf(out,
            "],\"threads\":{\"leak_detected\":%s,\"live\":%" PRIu64 ",\"created\":%" PRIu64
            ",\"exited\":%" PRIu64 ",\"suspects\":[",
            r->threads_leak ? "true" : "false", last->threads, created, exited);
    int first = 1;
    for (thread_site_t *ts = r->tsites; ts; ts = ts->next) {
        if (!ts->leak.leaking)
            continue;
        fprintf(out, "%s{\"function\":", first ? "" : ",");
        first = 0;
        hs_put_json_string(out, ts->function);
        fprintf(out, ",\"file\":");
        hs_put_json_string(out, ts->file);
        fprintf(out, ",\"line\":%u,\"start_routine\":", ts->line);
        hs_put_json_string(out, ts->start_routine);
        fprintf(out, ",\"live_threads\":%ld,\"created\":%" PRIu64 ",\"exited\":%" PRIu64 ",\"rate_per_sec\":",
                ts->live, ts->started, ts->exited);
        json_num(out, ts->leak.slope);
        fprintf(out, ",\"confidence\":");
        json_num(out, ts->leak.confidence);
        fprintf(out, "}");
    }
    fprintf(out, "],\"detected_at_seconds\":");
    double first_thread_detection = -1;
    for (thread_site_t *ts = r->tsites; ts; ts = ts->next)
        if (ts->leak.leaking && ts->detected_at >= 0 &&
            (first_thread_detection < 0 || ts->detected_at < first_thread_detection))
            first_thread_detection = ts->detected_at;
    if (first_thread_detection >= 0)
        json_num(out, first_thread_detection);
    else
        fprintf(out, "null");
    fprintf(out, ",\"sites\":[");
    for (thread_site_t *ts = r->tsites; ts; ts = ts->next) {
        fprintf(out, "%s{\"function\":", ts == r->tsites ? "" : ",");
        hs_put_json_string(out, ts->function);
        fprintf(out, ",\"file\":");
        hs_put_json_string(out, ts->file);
        fprintf(out, ",\"line\":%u,\"start_routine\":", ts->line);
        hs_put_json_string(out, ts->start_routine);
        fprintf(out, ",\"live_threads\":%ld,\"created\":%" PRIu64 ",\"exited\":%" PRIu64 "}", ts->live,
                ts->started, ts->exited);
    }
    fprintf(out, "]},\"at_exit\":[");
    for (size_t i = 0; i < r->nat_exit; i++) {
        const site_t *s = r->at_exit[i];
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
    for (size_t i = 0; i < r->nrecs; i++) {
        if (i)
            fputc(',', out);
        hs_put_json_string(out, r->recs[i]);
    }
    fprintf(out, "]}");
}

static void print_text(FILE *out, report_t *r)
{
    const proc_point_t *last = &r->proc[r->nproc - 1];
    char a[32], b[32], c[32], where[1100];
    uint64_t peak_heap = 0, peak_rss = 0;
    for (size_t i = 0; i < r->nproc; i++) {
        if (r->proc[i].heap_in_use > peak_heap)
            peak_heap = r->proc[i].heap_in_use;
        if (r->proc[i].rss > peak_rss)
            peak_rss = r->proc[i].rss;
    }
    fprintf(out, "heapscope report: %s (pid %u), %.1f s, %zu snapshots, sample rate %s\n", r->header->program,
            r->header->pid, last->t, r->nproc, hs_human_bytes((double)r->header->sample_rate, a, sizeof(a)));
    fprintf(out, "heap in use: peak %s, final %s; RSS peak %s; sampled in-use estimate %s at the end\n",
            hs_human_bytes((double)peak_heap, a, sizeof(a)), hs_human_bytes((double)last->heap_in_use, b, sizeof(b)),
            hs_human_bytes((double)peak_rss, c, sizeof(c)), hs_human_bytes(last->est_inuse, where, sizeof(where)));
    if (r->leak_detected)
        fprintf(out, "\nverdict: LEAK - growing %s/s, +%s over the last %.1f s (threshold %s)\n",
                hs_human_bytes(r->leak.slope, a, sizeof(a)), hs_human_bytes(r->leak.growth, b, sizeof(b)), r->t1 - r->t0,
                hs_human_bytes(r->threshold, c, sizeof(c)));
    else
        fprintf(out, "\nverdict: no heap leak over the last %.1f s (threshold %s)\n", r->t1 - r->t0,
                hs_human_bytes(r->threshold, c, sizeof(c)));
    fprintf(out, "  why: %s\n", r->leak.reason);
    if (r->detected_at >= 0)
        fprintf(out, "  detected %.1f s after the start\n", r->detected_at);
    if (r->nsuspects) {
        fprintf(out, "\nsuspects (call sites with sustained growth, fastest first):\n");
        fprintf(out, "  %12s %11s %12s %8s %5s  %s\n", "rate", "growth", "live objs", "samples", "conf", "site");
        for (size_t i = 0; i < r->nsuspects; i++) {
            const site_t *s = r->suspects[i];
            char rate[40];
            snprintf(rate, sizeof(rate), "%s/s", hs_human_bytes(s->leak.slope, a, sizeof(a)));
            fprintf(out, "  %12s %11s %12.0f %8" PRIu64 " %5.2f  %s (%s)\n", rate, hs_human_bytes(s->leak.growth, b, sizeof(b)),
                    s->inuse_objects, s->live_samples, s->leak.confidence, s->where.function,
                    site_location(&s->where, where, sizeof(where)));
            fprintf(out, "      stack: ");
            print_stack_names(out, r, s->top_stack, 0);
            fprintf(out, "\n");
        }
    }
    fprintf(out, "\nthreads: %" PRIu64 " live at the end", last->threads);
    int any = 0;
    for (thread_site_t *ts = r->tsites; ts; ts = ts->next) {
        if (!ts->leak.leaking)
            continue;
        if (!any)
            fprintf(out, "; THREAD LEAK:\n");
        any = 1;
        fprintf(out, "  %ld live (+%.2f/s), created in %s, start routine %s (%" PRIu64 " created, %" PRIu64
                     " exited)\n",
                ts->live, ts->leak.slope, ts->function, ts->start_routine, ts->started, ts->exited);
    }
    if (!any)
        fprintf(out, "; no thread leak\n");
    if (r->nat_exit) {
        fprintf(out, "\nat exit (still allocated when the program ended; not growth, e.g. caches the OS frees):\n");
        for (size_t i = 0; i < r->nat_exit && i < 5; i++) {
            const site_t *s = r->at_exit[i];
            fprintf(out, "  %11s %10.0f objects  %s (%s)\n", hs_human_bytes(s->inuse_bytes, a, sizeof(a)), s->inuse_objects,
                    s->where.function, site_location(&s->where, where, sizeof(where)));
        }
    }
    if (r->nrecs) {
        fprintf(out, "\nrecommendations:\n");
        for (size_t i = 0; i < r->nrecs; i++)
            fprintf(out, "  - %s\n", r->recs[i]);
    }
}

static void report_free(report_t *r)
{
    hs_model_close(r->model);
    free(r->proc);
    free(r->stack_site);
    free(r->scratch);
    site_t *s, *tmp;
    HASH_ITER(hh, r->sites, s, tmp)
    {
        HASH_DEL(r->sites, s);
        free(s->key);
        free(s->function_copy);
        free(s->pts);
        free(s);
    }
    tid_entry_t *e, *etmp;
    HASH_ITER(hh, r->tids, e, etmp)
    {
        HASH_DEL(r->tids, e);
        free(e);
    }
    site_counts_t *c, *ctmp;
    HASH_ITER(hh, r->site_counts, c, ctmp)
    {
        HASH_DEL(r->site_counts, c);
        free(c);
    }
    while (r->tsites) {
        thread_site_t *next = r->tsites->next;
        free(r->tsites->function);
        free(r->tsites->start_routine);
        free(r->tsites->file);
        free(r->tsites->pts);
        free(r->tsites);
        r->tsites = next;
    }
    for (size_t i = 0; i < r->nrecs; i++)
        free(r->recs[i]);
}

static int parse_bytes(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    double mult = 1;
    if (*end == 'k' || *end == 'K')
        mult = 1024, end++;
    else if (*end == 'm' || *end == 'M')
        mult = 1048576, end++;
    else if (*end == 'g' || *end == 'G')
        mult = 1073741824, end++;
    if (mult > 1 && (*end == 'i' || *end == 'I'))
        end++;
    if (mult > 1 && (*end == 'b' || *end == 'B'))
        end++;
    if (end == s || *end || !(v >= 0) || !isfinite(v))
        return -1;
    *out = v * mult;
    return 0;
}

static void quiet_warn(void *ctx, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "heapscope: warning: %s\n", msg);
}

int hs_report_leak_trend(hs_input_t *in, double window_s, hs_leak_result_t *out, double *detected_at, char *err,
                         size_t errlen)
{
    report_t r;
    memset(&r, 0, sizeof(r));
    r.path = hs_input_name(in);
    r.input = in;
    r.window_s = window_s;
    size_t first, stride;
    int rc = pass1(&r, err, errlen) || process_verdict(&r, &first, &stride, err, errlen) ? -1 : 0;
    if (rc == 0) {
        *out = r.leak;
        *detected_at = r.detected_at;
    }
    report_free(&r);
    return rc;
}

int hs_cmd_report(int argc, char **argv)
{
    static const struct option opts[] = {
        {"window", required_argument, NULL, 'w'}, {"threshold", required_argument, NULL, 't'},
        {"json", no_argument, NULL, 'j'},         {"fail-on-leak", no_argument, NULL, 'f'},
        {"no-symbolize", no_argument, NULL, 'n'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    double window = 0, threshold = 0;
    int json = 0, fail_on_leak = 0, symbolize = 1, have_threshold = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'w':
            window = strtod(optarg, &end);
            if (end == optarg || *end || !(window > 0) || !isfinite(window)) {
                fprintf(stderr, "heapscope: report: --window '%s' is not a positive number of seconds\n", optarg);
                return HS_EXIT_BAD_INPUT;
            }
            break;
        case 't':
            if (parse_bytes(optarg, &threshold)) {
                fprintf(stderr, "heapscope: report: --threshold '%s' is not a size (bytes, K/M/G suffixes)\n", optarg);
                return HS_EXIT_BAD_INPUT;
            }
            have_threshold = 1;
            break;
        case 'j':
            json = 1;
            break;
        case 'f':
            fail_on_leak = 1;
            break;
        case 'n':
            symbolize = 0;
            break;
        case 'h':
            hs_cmd_report_usage(stdout);
            return HS_EXIT_OK;
        default:
            fprintf(stderr, "heapscope: report: unknown or incomplete option '%s' (see heapscope help report)\n",
                    argv[optind - 1]);
            return HS_EXIT_BAD_INPUT;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "heapscope: report: no dump given (see heapscope help report)\n");
        return HS_EXIT_BAD_INPUT;
    }
    int ndumps = argc - optind, any_leak = 0;
    if (hs_input_check_operands("report", argv + optind, ndumps))
        return HS_EXIT_BAD_INPUT;
    hs_symbolizer_t *sym = symbolize ? hs_symbolizer_new() : NULL;
    if (sym)
        hs_symbolizer_set_warn(sym, quiet_warn, NULL);
    report_t *reports = calloc((size_t)ndumps, sizeof(*reports));
    if (!reports || (symbolize && !sym)) {
        fprintf(stderr, "heapscope: report: out of memory\n");
        free(reports);
        if (sym)
            hs_symbolizer_free(sym);
        return HS_EXIT_FAILURE;
    }
    int status = HS_EXIT_OK;
    char err[800];
    for (int i = 0; i < ndumps; i++) {
        report_t *r = &reports[i];
        r->path = argv[optind + i];
        r->sym = sym;
        r->window_s = window;
        r->threshold = threshold;
        r->user_threshold = have_threshold;
        int open_rc = hs_input_open(r->path, HS_INPUT_REREAD, &r->input, err, sizeof(err));
        if (open_rc) {
            fprintf(stderr, "heapscope: %s\n", err);
            status = open_rc;
            break;
        }
        if (pass1(r, err, sizeof(err)) || analyze(r, err, sizeof(err))) {
            fprintf(stderr, "heapscope: %s\n", err);
            status = HS_EXIT_BAD_INPUT;
            break;
        }
        recommend(r);
        any_leak |= r->leak_detected || r->threads_leak;
    }
    if (status == HS_EXIT_OK) {
        if (json && ndumps > 1)
            printf("{\"dumps\":[");
        for (int i = 0; i < ndumps; i++) {
            if (json) {
                if (i)
                    printf(",");
                print_json(stdout, &reports[i]);
            } else {
                if (i)
                    printf("\n");
                print_text(stdout, &reports[i]);
            }
        }
        if (json)
            printf(ndumps > 1 ? "]}\n" : "\n");
        if (fail_on_leak && any_leak)
            status = 3;
    }
    for (int i = 0; i < ndumps; i++) {
        report_free(&reports[i]);
        hs_input_close(reports[i].input);
    }
    free(reports);
    if (sym)
        hs_symbolizer_free(sym);
    return status;
}
