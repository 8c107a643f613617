/* analysis.c - owns the leak analysis of a dump (analysis.h): is it leaking,
 * how fast, where, and what to do. Two passes over the dump: the first
 * collects the process series (sampled in-use estimate, heap, RSS, threads)
 * and thread events, the second, now that the window is known, the in-use
 * series of every call site inside it (at most HS_LEAK_MAX_POINTS points).
 * The statistics and the blame rule live in common/hs_leak.c; this file
 * groups stacks into sites, ranks and explains. It never prints a report
 * (report_print.c does). */
#include "analysis.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "hs_text.h"
#include "wrappers.h"

/* A call site with what only this file needs: its series and hash links.
 * pub comes first: the suspects and at_exit lists point at it. */
typedef struct site {
    hs_analysis_site_t pub;
    char *key;
    char *function_copy;
    double top_stack_inuse;
    hs_point_t *pts;
    size_t npts;
    double inuse_start, free_start; /* at the first point of the window */
    int first_set;
    UT_hash_handle hh;
} site_t;

typedef hs_analysis_thread_site_t thread_site_t;

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

struct hs_analysis_state {
    hs_input_t *input; /* read twice (pass1, pass2): a pipe is spooled */
    hs_model_t *model;
    hs_analysis_point_t *proc;
    size_t proc_cap;
    thread_site_t *tsites;
    tid_entry_t *tids;
    site_counts_t *site_counts; /* uthash by (creation stack id, start routine) */
    int have_thread_sites;      /* a THREAD_SITES record was read: counts come from those */
    site_t *sites;              /* uthash by key */
    site_t **stack_site;        /* by stack index */
    size_t stack_site_len;
    int has_threshold;
    int ended_at_exit;
    double *scratch;
    size_t scratch_len;
    hs_analysis_alert_t *alerts;
    size_t alerts_cap;
    hs_site_finder_t *finder; /* sites by a->frames (sites.h) */
};

typedef struct hs_analysis_state state_t;

/* ---- helpers --------------------------------------------------------------- */
static void add_rec(hs_analysis_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_rec(hs_analysis_t *a, const char *fmt, ...)
{
    if (a->nrecommendations >= HS_ANALYSIS_MAX_RECOMMENDATIONS)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) >= 0)
        a->recommendations[a->nrecommendations++] = s;
    va_end(ap);
}

const char *hs_analysis_site_location(const hs_site_t *w, char *buf, size_t len)
{
    return hs_site_location(w, buf, len);
}

static const char *bytes(double x, char *buf, size_t len) { return hs_text_bytes(x, HS_TEXT_BYTES_TENTHS, buf, len); }

/* A count for "%.0f": estimates are differences of sums, and a few ulps of
 * noise below zero must not print as "-0". */
static double not_negative(double x) { return x > 0 ? x : 0; }

/* ---- pass 1: process series and threads ------------------------------------ */
static thread_site_t *thread_site_for(hs_analysis_t *a, const hs_model_stack_t *creation_stack, uint64_t start_routine)
{
    state_t *st = a->state;
    hs_site_t w;
    char start[300];
    if (creation_stack)
        hs_site_find(st->finder, creation_stack, &w);
    else
        w = (hs_site_t){"?", NULL, 0, 0, NULL, NULL, 0};
    if (!creation_stack && !start_routine)
        snprintf(start, sizeof(start), "(sites beyond the interposer's table)");
    else
        hs_site_function_at(a->sym, st->model, start_routine, start, sizeof(start));
    for (thread_site_t *ts = st->tsites; ts; ts = ts->next)
        if (strcmp(ts->function, w.function) == 0 && strcmp(ts->start_routine, start) == 0)
            return ts;
    thread_site_t *ts = calloc(1, sizeof(*ts));
    if (!ts)
        return NULL;
    ts->function = strdup(w.function);
    ts->start_routine = strdup(start);
    ts->file = w.file ? strdup(w.file) : NULL;
    ts->line = w.line;
    ts->next = st->tsites;
    st->tsites = ts;
    a->thread_sites = ts;
    return ts;
}

/* THREAD records count starts and exits only in dumps without THREAD_SITES
 * records (a busy process's THREAD records are incomplete). */
static void on_thread(void *ctx, const hs_model_thread_t *t)
{
    hs_analysis_t *a = ctx;
    state_t *st = a->state;
    if (st->have_thread_sites)
        return;
    tid_entry_t *e;
    HASH_FIND(hh, st->tids, &t->tid, sizeof(t->tid), e);
    if (t->event == HS_THREAD_STARTED) {
        thread_site_t *ts = thread_site_for(a, t->creation_stack, t->start_routine);
        if (!ts)
            return;
        ts->started++;
        ts->live++;
        if (!e) {
            e = calloc(1, sizeof(*e));
            if (!e)
                return;
            e->tid = t->tid;
            HASH_ADD(hh, st->tids, tid, sizeof(e->tid), e);
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
    hs_analysis_t *a = ctx;
    state_t *st = a->state;
    if (!st->have_thread_sites) {
        /* The counts restart from the sites: what this snapshot's THREAD
         * records counted so far is in them already. */
        st->have_thread_sites = 1;
        for (thread_site_t *ts = st->tsites; ts; ts = ts->next) {
            ts->started = ts->exited = 0;
            ts->live = 0;
        }
    }
    struct site_counts_key key = {s->start_routine, s->creation_stack ? s->creation_stack->id : 0, 0};
    site_counts_t *c;
    HASH_FIND(hh, st->site_counts, &key, sizeof(key), c);
    if (!c) {
        thread_site_t *ts = thread_site_for(a, s->creation_stack, s->start_routine);
        if (!ts || !(c = calloc(1, sizeof(*c))))
            return;
        c->key = key;
        c->site = ts;
        HASH_ADD(hh, st->site_counts, key, sizeof(c->key), c);
    }
    thread_site_t *ts = c->site;
    ts->started += s->started - c->started;
    ts->exited += s->exited - c->exited;
    ts->live = (long)(ts->started - ts->exited);
    c->started = s->started;
    c->exited = s->exited;
}

static void on_alert(void *ctx, const hs_model_alert_t *al)
{
    hs_analysis_t *a = ctx;
    state_t *st = a->state;
    if (a->nalerts == st->alerts_cap) {
        size_t cap = st->alerts_cap ? st->alerts_cap * 2 : 16;
        hs_analysis_alert_t *grown = realloc(st->alerts, cap * sizeof(*grown));
        if (!grown)
            return; /* the report lists the alerts it had room for */
        st->alerts = grown;
        st->alerts_cap = cap;
        a->alerts = grown;
    }
    st->alerts[a->nalerts++] = (hs_analysis_alert_t){al->offset_s, al->kind, al->event, al->value, al->threshold};
}

static int pass1(hs_analysis_t *a, int warn, char *err, size_t errlen)
{
    state_t *st = a->state;
    if (hs_input_model(st->input, &st->model, err, errlen))
        return -1;
    a->header = hs_model_header(st->model);
    hs_model_set_thread_cb(st->model, on_thread, a);
    hs_model_set_thread_site_cb(st->model, on_thread_site, a);
    hs_model_set_alert_cb(st->model, on_alert, a);
    hs_model_snapshot_t snap;
    int rc;
    double est = 0, freed = 0;
    double *last = NULL, *last_freed = NULL; /* each stack's current contribution to est, freed */
    size_t last_len = 0;
    while ((rc = hs_model_next(st->model, &snap, err, errlen)) == 1) {
        size_t n = hs_model_stack_count(st->model);
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
        const uint32_t *changed;
        size_t nchanged = hs_model_changed(st->model, &changed);
        for (size_t c = 0; c < nchanged; c++) {
            size_t i = changed[c];
            const hs_model_stack_t *s = hs_model_stack_at(st->model, i);
            double v = s->row.est_alloc_bytes - s->row.est_free_bytes;
            est += v - last[i];
            last[i] = v;
            freed += s->row.est_free_bytes - last_freed[i];
            last_freed[i] = s->row.est_free_bytes;
        }
        if (a->nproc == st->proc_cap) {
            size_t cap = st->proc_cap ? st->proc_cap * 2 : 256;
            hs_analysis_point_t *grown = realloc(st->proc, cap * sizeof(*grown));
            if (!grown)
                goto oom;
            st->proc = grown;
            st->proc_cap = cap;
            a->proc = grown;
        }
        hs_analysis_point_t *p = &st->proc[a->nproc++];
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
        for (thread_site_t *ts = st->tsites; ts; ts = ts->next) {
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
    if (warn && hs_model_warning(st->model))
        fprintf(stderr, "heapscope: warning: %s; using the snapshots before it\n", hs_model_warning(st->model));
    if (a->nproc == 0) {
        snprintf(err, errlen, "%s: no snapshot in the dump: nothing to report", a->path);
        return -1;
    }
    return 0;
oom:
    free(last);
    free(last_freed);
    snprintf(err, errlen, "%s: out of memory", a->path);
    return -1;
}

/* ---- pass 2: call-site series inside the window ------------------------------ */
static site_t *site_for_stack(hs_analysis_t *a, size_t index)
{
    state_t *st = a->state;
    if (index >= st->stack_site_len) {
        size_t len = hs_model_stack_count(st->model) + 64;
        site_t **grown = realloc(st->stack_site, len * sizeof(*grown));
        if (!grown)
            return NULL;
        memset(grown + st->stack_site_len, 0, (len - st->stack_site_len) * sizeof(*grown));
        st->stack_site = grown;
        st->stack_site_len = len;
    }
    if (st->stack_site[index])
        return st->stack_site[index];
    const hs_model_stack_t *s = hs_model_stack_at(st->model, index);
    hs_site_t w;
    hs_site_find(st->finder, s, &w);
    /* A call site: file and line, or the offset in a binary without a line table. */
    char key[1200];
    snprintf(key, sizeof(key), "%s\t%s\t%u\t%" PRIx64, w.function, w.file ? w.file : "", w.line, w.file ? 0 : w.offset);
    site_t *site;
    HASH_FIND_STR(st->sites, key, site);
    if (!site) {
        site = calloc(1, sizeof(*site));
        if (!site || !(site->key = strdup(key)) || !(site->function_copy = strdup(w.function))) {
            free(site);
            return NULL;
        }
        site->pub.where = w;
        site->pub.where.function = site->function_copy;
        HASH_ADD_KEYPTR(hh, st->sites, site->key, strlen(site->key), site);
    }
    st->stack_site[index] = site;
    return site;
}

static int pass2(hs_analysis_t *a, size_t first_index, size_t stride, char *err, size_t errlen)
{
    state_t *st = a->state;
    hs_model_close(st->model);
    st->model = NULL;
    st->stack_site_len = 0;
    free(st->stack_site);
    st->stack_site = NULL;
    if (hs_input_model(st->input, &st->model, err, errlen))
        return -1;
    a->header = hs_model_header(st->model); /* the first model, and its header, are gone */
    size_t end = a->njudged;
    size_t cap = (end - first_index) / stride + 2;
    hs_model_snapshot_t snap;
    size_t index = 0;
    int rc;
    while ((rc = hs_model_next(st->model, &snap, err, errlen)) == 1) {
        size_t i = index++;
        /* The dump's last snapshot, when the verdicts leave it out (a
         * teardown): only the at-exit figures come from it. */
        int tail = i >= end;
        if (tail ? i != a->nproc - 1 : i < first_index || ((i - first_index) % stride != 0 && i != end - 1))
            continue;
        site_t *site, *tmp;
        HASH_ITER(hh, st->sites, site, tmp)
        {
            hs_analysis_site_t *p = &site->pub;
            p->exit_inuse_bytes = p->exit_inuse_objects = 0;
            if (tail)
                continue;
            p->inuse_bytes = p->inuse_objects = p->alloc_objects = p->alloc_bytes = 0;
            p->free_objects = p->free_bytes = 0;
            p->live_samples = p->sampled_allocs = p->sampled_frees = 0;
            site->top_stack_inuse = -1;
        }
        size_t n = hs_model_stack_count(st->model);
        for (size_t k = 0; k < n; k++) {
            const hs_model_stack_t *s = hs_model_stack_at(st->model, k);
            if (!s->has_row)
                continue;
            site = site_for_stack(a, k);
            if (!site) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            hs_analysis_site_t *p = &site->pub;
            double inuse = s->row.est_alloc_bytes - s->row.est_free_bytes;
            p->exit_inuse_bytes += inuse;
            p->exit_inuse_objects += s->row.est_alloc_objects - s->row.est_free_objects;
            if (tail)
                continue;
            p->inuse_bytes += inuse;
            p->inuse_objects += s->row.est_alloc_objects - s->row.est_free_objects;
            p->alloc_objects += s->row.est_alloc_objects;
            p->alloc_bytes += s->row.est_alloc_bytes;
            p->free_objects += s->row.est_free_objects;
            p->free_bytes += s->row.est_free_bytes;
            p->sampled_allocs += s->row.alloc_count;
            p->sampled_frees += s->row.free_count;
            p->live_samples += s->row.alloc_count - s->row.free_count;
            if (inuse > site->top_stack_inuse) {
                site->top_stack_inuse = inuse;
                p->top_stack = s;
            }
        }
        st->ended_at_exit = snap.reason == HS_REASON_EXIT;
        if (tail)
            continue;
        HASH_ITER(hh, st->sites, site, tmp)
        {
            if (!site->pts && !(site->pts = calloc(cap, sizeof(hs_point_t)))) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            if (site->npts < cap)
                site->pts[site->npts++] = (hs_point_t){snap.offset_s, site->pub.inuse_bytes};
            if (!site->first_set) {
                site->first_set = 1;
                site->pub.first_inuse_objects = site->pub.inuse_objects;
                site->inuse_start = site->pub.inuse_bytes;
                site->free_start = site->pub.free_bytes;
            }
        }
    }
    return rc < 0 ? -1 : 0;
}

/* ---- the verdict -------------------------------------------------------------- */
static int by_rate(const void *x, const void *y)
{
    const hs_analysis_site_t *p = *(const hs_analysis_site_t *const *)x, *q = *(const hs_analysis_site_t *const *)y;
    return p->leak.slope < q->leak.slope ? 1 : p->leak.slope > q->leak.slope ? -1 : 0;
}

static int by_exit_inuse(const void *x, const void *y)
{
    const hs_analysis_site_t *p = *(const hs_analysis_site_t *const *)x, *q = *(const hs_analysis_site_t *const *)y;
    return p->exit_inuse_bytes < q->exit_inuse_bytes ? 1 : p->exit_inuse_bytes > q->exit_inuse_bytes ? -1 : 0;
}

/* ---- the end of the run: what the verdicts judge ------------------------------ */
/* Points of proc[0..n) inside the window that ends at proc[n - 1]. */
static size_t points_in_window(const hs_analysis_point_t *proc, size_t n, double window_s)
{
    size_t k = 0;
    while (k < n && proc[n - 1 - k].t >= proc[n - 1].t - window_s)
        k++;
    return k;
}

/* The window that ends at proc[n - 1]: its start (t0), the index of its
 * first point, the threshold over it (--threshold, or 10 MiB per 300 s
 * scaled to the window, at most 5% of the peak, at least 64 KiB) and the
 * sampling noise of its points (pts[0..n) filled from proc). */
typedef struct {
    double t0, t1, threshold, noise;
    size_t first;
} window_t;

static window_t window_ending(const hs_analysis_t *a, size_t n, hs_point_t *pts)
{
    const hs_analysis_point_t *proc = a->proc, *last = &proc[n - 1];
    window_t w = {.t0 = last->t - a->window_s, .t1 = last->t, .threshold = a->threshold};
    if (w.t0 < proc[0].t)
        w.t0 = proc[0].t;
    double used = w.t1 - w.t0;
    double peak = 0;
    for (size_t i = 0; i < n; i++) {
        double v = proc[i].est_inuse > (double)proc[i].heap_in_use ? proc[i].est_inuse : (double)proc[i].heap_in_use;
        if (v > peak)
            peak = v;
    }
    if (!a->state->has_threshold) {
        /* 10 MiB per 300 s window, scaled for shorter windows; a small
         * program's leak counts once it is 5% of its peak heap; 64 KiB floor. */
        double t = 10.0 * 1048576 * (used < 300 ? used / 300 : 1);
        if (t > 0.05 * peak)
            t = 0.05 * peak;
        w.threshold = t < 65536 ? 65536 : t;
    }
    while (w.first < n && proc[w.first].t < w.t0)
        w.first++;
    /* The process verdict is on the sampled in-use estimate (it sees every
     * allocator, jemalloc included); noise from the sample rate. */
    for (size_t i = 0; i < n; i++)
        pts[i] = (hs_point_t){proc[i].t, proc[i].est_inuse};
    const hs_analysis_point_t *start = &proc[w.first];
    double turnover = hs_leak_turnover(last->est_freed - start->est_freed, start->est_inuse);
    w.noise = hs_leak_sampling_noise(pts, n, a->window_s, (double)a->header->sample_rate, turnover);
    return w;
}

/* Sets a->njudged and a->exit_judged (analysis.h): the running program,
 * without its teardown. The EXIT snapshot is taken by the interposer's
 * atexit handler, after the program's own teardown (CPython's finalization,
 * atexit handlers, pools freed at shutdown), so a leak that the program
 * frees before it exits ends its series with a fall back to the start ("the
 * lower envelope is flat", no leak). Left out, as long as
 * HS_LEAK_MIN_POINTS points remain in the window:
 *   - the EXIT snapshot, always: a teardown can be partial, or free one
 *     call site's leak in a heap that hardly moves, and a program that
 *     tears nothing down loses one point of many;
 *   - before it, each snapshot taken during the teardown: one whose sampled
 *     in-use fell from the snapshot before it by more than tol (the largest
 *     of the leak threshold, the sampling noise floor of the window that
 *     ends at exit and three samples' weight) while the exit is not above
 *     it by more than tol: the heap falls from there to the exit. A teardown that
 *     outlasts the rest of an interval gets a snapshot of its own, an
 *     INTERVAL (or DLCLOSE, when plugins are unloaded at shutdown) one: the
 *     reason cannot tell it from the running program's; its fall can.
 * A run too short for that is judged on every snapshot it has
 * (exit_judged). docs/leak-detection.md, "The end of the run". */
static void judged_end(hs_analysis_t *a, double tol)
{
    const hs_analysis_point_t *proc = a->proc;
    size_t n = a->nproc;
    a->njudged = n;
    a->exit_judged = 0;
    if (proc[n - 1].reason != HS_REASON_EXIT)
        return;
    double at_exit = proc[n - 1].est_inuse;
    size_t end = n - 1;
    while (end >= 2 && proc[end - 2].est_inuse - proc[end - 1].est_inuse > tol &&
           at_exit <= proc[end - 1].est_inuse + tol)
        end--;
    while (end < n && points_in_window(proc, end, a->window_s) < HS_LEAK_MIN_POINTS)
        end++;
    a->njudged = end;
    a->exit_judged = end == n;
}

/* Window, threshold and the verdict on the process series (pass 1 data). */
static int process_verdict(hs_analysis_t *a, size_t *first_out, size_t *stride_out, char *err, size_t errlen)
{
    state_t *st = a->state;
    a->window_s = a->window_s > 0 ? a->window_s : 300;
    st->scratch_len = hs_leak_scratch_needed(a->nproc > HS_LEAK_MAX_POINTS ? a->nproc : HS_LEAK_MAX_POINTS);
    st->scratch = malloc(st->scratch_len * sizeof(double));
    hs_point_t *pts = malloc(a->nproc * sizeof(*pts));
    if (!st->scratch || !pts) {
        free(pts);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    window_t w = window_ending(a, a->nproc, pts);
    /* A fall that counts as teardown: above the threshold, the noise floor
     * and three samples' weight (a sampled block weighs at least about the
     * rate: one sample of a small heap coming and going is no teardown). */
    double tol = w.threshold;
    if (tol < HS_LEAK_NOISE_SIGMAS * w.noise * sqrt(2.0))
        tol = HS_LEAK_NOISE_SIGMAS * w.noise * sqrt(2.0);
    if (tol < HS_LEAK_NOISE_SIGMAS * (double)a->header->sample_rate)
        tol = HS_LEAK_NOISE_SIGMAS * (double)a->header->sample_rate;
    judged_end(a, tol);
    size_t n = a->njudged;
    if (n != a->nproc)
        w = window_ending(a, n, pts);
    a->t0 = w.t0;
    a->t1 = w.t1;
    a->threshold = w.threshold;
    size_t stride = (n - w.first) / HS_LEAK_MAX_POINTS + 1;
    hs_leak_params_t params = {.window_s = a->window_s, .threshold_bytes = a->threshold, .noise_bytes = w.noise};
    hs_leak_analyze(pts, n, &params, st->scratch, st->scratch_len, &a->leak);
    /* Time to detection: the first prefix, at least half a window long, on
     * which the same rules (and the same window) call it a leak. */
    hs_leak_params_t from_start = {.window_s = a->window_s,
                                   .min_span_s = (a->t1 - a->t0) / 2,
                                   .threshold_bytes = a->threshold,
                                   .noise_bytes = w.noise};
    a->detected_at = a->leak.leaking ? hs_leak_first_detection(pts, n, &from_start, st->scratch, st->scratch_len) : -1;
    free(pts);
    *first_out = w.first;
    *stride_out = stride;
    return 0;
}

/* One site's in-use series over the whole run up to the window's end (pass
 * 2 keeps the window's only), for the time to detection of a leak the blame alone called: one
 * more pass over the dump, summing the site's stacks by index (pass 2's
 * stack_site; indexes follow the order of definition, the same in every
 * pass). Starting the pass ends pass 2's reader, which is done; its stacks
 * stay readable. NULL when the pass fails (no detection time then). */
static hs_point_t *whole_site_series(hs_analysis_t *a, const site_t *site, size_t *n)
{
    state_t *st = a->state;
    hs_model_t *m = NULL;
    char err[512];
    hs_point_t *pts = malloc(a->njudged * sizeof(*pts));
    if (!pts || hs_input_model(st->input, &m, err, sizeof(err))) {
        free(pts);
        return NULL;
    }
    hs_model_snapshot_t snap;
    size_t k = 0;
    while (k < a->njudged && hs_model_next(m, &snap, err, sizeof(err)) == 1) {
        double v = 0;
        size_t stacks = hs_model_stack_count(m);
        for (size_t i = 0; i < stacks && i < st->stack_site_len; i++) {
            const hs_model_stack_t *s = hs_model_stack_at(m, i);
            if (st->stack_site[i] == site && s->has_row)
                v += s->row.est_alloc_bytes - s->row.est_free_bytes;
        }
        pts[k++] = (hs_point_t){snap.offset_s, v};
    }
    hs_model_close(m);
    *n = k;
    return pts;
}

/* Why the verdict: the process series' reason when it agrees with the
 * verdict. It does not when the blame alone called it a leak (sites together
 * over the threshold, the fastest sure of its trend) while the whole heap's
 * series did not (its reason begins "not a leak" under a LEAK verdict), or
 * when the heap's series passed but no site is to blame. */
static void explain(hs_analysis_t *a)
{
    const char *heap = a->leak.reason;
    if (a->leak_detected == a->leak.leaking) {
        snprintf(a->why, sizeof(a->why), "%s", heap);
        return;
    }
    if (!a->leak_detected) { /* the heap's series passed, but no site carries it */
        snprintf(a->why, sizeof(a->why),
                 "no call site grew above its threshold and sampling noise, so nothing is blamed; the whole heap: %s",
                 heap);
        return;
    }
    if (strncmp(heap, "not a leak: ", 12) == 0)
        heap += 12;
    int len = (int)strlen(heap);
    if (len > 0 && heap[len - 1] == '.')
        len--;
    char g[32], r[32];
    double sure = a->nsuspects ? a->suspects[0]->leak.confidence : 0;
    if (a->rate.sites == 1)
        snprintf(a->why, sizeof(a->why),
                 "a call site grew %s at %s/s, above its threshold and sampling noise and %.2f sure of its trend; "
                 "the whole heap alone does not show it (%.*s).",
                 bytes(a->growth, g, sizeof(g)), bytes(a->rate.rate, r, sizeof(r)), sure, len, heap);
    else
        snprintf(a->why, sizeof(a->why),
                 "%zu call sites grew %s together at %s/s, each above its threshold and sampling noise, the fastest "
                 "%.2f sure of its trend; the whole heap alone does not show it (%.*s).",
                 a->rate.sites, bytes(a->growth, g, sizeof(g)), bytes(a->rate.rate, r, sizeof(r)), sure, len, heap);
}

/* Suspects and at-exit sites: each site's own series, by the shared blame
 * rule (hs_leak_site_params, hs_leak_is_blamed). */
static void judge_sites(hs_analysis_t *a)
{
    state_t *st = a->state;
    const hs_analysis_site_t **suspects = a->suspects, **at_exit = a->at_exit;
    double suspect_growth = 0;
    hs_leak_rate_t rate = {0};
    site_t *site, *tmp;
    HASH_ITER(hh, st->sites, site, tmp)
    {
        hs_analysis_site_t *p = &site->pub;
        /* At exit: the dump's last snapshot, the teardown included. */
        if (st->ended_at_exit && p->exit_inuse_bytes > 0) {
            if (a->nat_exit < HS_ANALYSIS_MAX_AT_EXIT) {
                at_exit[a->nat_exit++] = p;
            } else {
                qsort(at_exit, a->nat_exit, sizeof(at_exit[0]), by_exit_inuse);
                if (p->exit_inuse_bytes > at_exit[HS_ANALYSIS_MAX_AT_EXIT - 1]->exit_inuse_bytes)
                    at_exit[HS_ANALYSIS_MAX_AT_EXIT - 1] = p;
            }
        }
        if (site->npts < 2)
            continue;
        double turnover = hs_leak_turnover(p->free_bytes - site->free_start, site->inuse_start);
        hs_leak_params_t sp = hs_leak_site_params(site->pts, site->npts, a->window_s, a->threshold,
                                                  (double)a->header->sample_rate, turnover);
        hs_leak_analyze(site->pts, site->npts, &sp, st->scratch, st->scratch_len, &p->leak);
        if (p->leak.leaking) {
            suspect_growth += p->leak.growth;
            double mean_block = p->inuse_objects >= 1 ? p->inuse_bytes / p->inuse_objects : 0;
            hs_leak_rate_add_site(
                &rate, &p->leak,
                hs_leak_growth_stderr(p->leak.growth, turnover, (double)a->header->sample_rate, mean_block));
        }
        if (p->leak.leaking && a->nsuspects < HS_ANALYSIS_MAX_SUSPECTS) {
            suspects[a->nsuspects++] = p;
        } else if (p->leak.leaking) {
            qsort(suspects, a->nsuspects, sizeof(suspects[0]), by_rate);
            if (p->leak.slope > suspects[HS_ANALYSIS_MAX_SUSPECTS - 1]->leak.slope)
                suspects[HS_ANALYSIS_MAX_SUSPECTS - 1] = p;
        }
    }
    qsort(suspects, a->nsuspects, sizeof(suspects[0]), by_rate);
    qsort(at_exit, a->nat_exit, sizeof(at_exit[0]), by_exit_inuse);
    a->leak_detected = hs_leak_is_blamed(a->leak.leaking, a->nsuspects, suspect_growth,
                                         a->nsuspects ? suspects[0]->leak.confidence : 0, a->threshold);
    if (!a->leak.leaking && !a->leak_detected)
        a->nsuspects = 0;
    /* The headline is what is blamed: every site that passed its own test,
     * when the verdict blames them; nothing otherwise. */
    if (a->leak_detected) {
        a->rate = rate;
        a->growth = suspect_growth;
    }
    /* Blamed without the process series (hs_leak_is_blamed's second way):
     * the time to detection is when the fastest suspect's own series, over
     * the whole run as the process's is, first passed its test with the
     * same parameters, at least half a window in. */
    if (a->leak_detected && !a->leak.leaking && a->nsuspects) {
        const site_t *top = (const site_t *)suspects[0]; /* pub comes first */
        double turnover = hs_leak_turnover(top->pub.free_bytes - top->free_start, top->inuse_start);
        hs_leak_params_t sp = hs_leak_site_params(top->pts, top->npts, a->window_s, a->threshold,
                                                  (double)a->header->sample_rate, turnover);
        sp.min_span_s = (a->t1 - a->t0) / 2;
        size_t n = 0;
        hs_point_t *whole = whole_site_series(a, top, &n);
        if (whole)
            a->detected_at = hs_leak_first_detection(whole, n, &sp, st->scratch, st->scratch_len);
        free(whole);
    }
    explain(a);
}

static void judge_threads(hs_analysis_t *a)
{
    state_t *st = a->state;
    /* A site has a point at every snapshot since its first: its last
     * (nproc - njudged) points are the teardown the verdicts leave out
     * (threads joined at shutdown). */
    size_t left_out = a->nproc - a->njudged;
    for (thread_site_t *ts = st->tsites; ts; ts = ts->next) {
        size_t n = ts->npts > left_out ? ts->npts - left_out : 0;
        hs_leak_params_t tp = {.window_s = a->window_s, .threshold_bytes = 3, .noise_bytes = 0};
        hs_leak_analyze(ts->pts, n, &tp, st->scratch, st->scratch_len, &ts->leak);
        ts->detected_at = -1;
        if (ts->leak.leaking) {
            a->threads_leak = 1;
            tp.min_span_s = (a->t1 - a->t0) / 2;
            ts->detected_at = hs_leak_first_detection(ts->pts, n, &tp, st->scratch, st->scratch_len);
        }
    }
}

/* ---- recommendations ------------------------------------------------------------ */
static void recommend(hs_analysis_t *a)
{
    state_t *st = a->state;
    char where[1300], x[32], y[32];
    for (size_t i = 0; i < a->nsuspects; i++) {
        const hs_analysis_site_t *s = a->suspects[i];
        hs_site_describe(&s->where, where, sizeof(where));
        double objects_growth = s->inuse_objects - s->first_inuse_objects;
        if (s->inuse_objects < 4 || objects_growth < 0.05 * (s->inuse_objects > 1 ? s->inuse_objects : 1)) {
            add_rec(a,
                    "%s keeps %.0f live block(s) that grow by %s/s: a buffer grown with realloc that never "
                    "shrinks; cap it, shrink it when drained, or reset it.",
                    where, not_negative(s->inuse_objects), bytes(s->leak.slope, x, sizeof(x)));
        } else if (s->sampled_frees == 0) {
            add_rec(a,
                    "Nothing allocated at %s is ever freed, and it grows by %s/s (%.0f objects live): an "
                    "unbounded cache, list or map; bound it or evict entries.",
                    where, bytes(s->leak.slope, x, sizeof(x)), not_negative(s->inuse_objects));
        } else {
            double kept = s->alloc_objects > 0 ? 100.0 * s->inuse_objects / s->alloc_objects : 0;
            if (kept > 50.0)
                add_rec(a,
                        "%s keeps %.1f%% of what it allocates and frees the rest (%s/s): a cache, list or map "
                        "that only some paths clean up; bound it or evict entries.",
                        where, kept, bytes(s->leak.slope, x, sizeof(x)));
            else
                add_rec(a,
                        "%s frees most of what it allocates but keeps %.1f%% (%s/s): look for a missing free "
                        "on an error or early-return path, or an object handed to another thread that never "
                        "frees it.",
                        where, not_negative(kept), bytes(s->leak.slope, x, sizeof(x)));
        }
    }
    for (thread_site_t *ts = st->tsites; ts; ts = ts->next) {
        if (!ts->leak.leaking)
            continue;
        add_rec(a,
                "Threads created in %s (start routine %s) keep piling up (%ld live, +%.2f/s): they are never "
                "joined and never exit; join them, or detach them and make them return.",
                ts->function, ts->start_routine, ts->live, ts->leak.slope);
    }
    /* The running heap: a teardown frees what it uses, not what it reserves. */
    const hs_analysis_point_t *last = &a->proc[a->njudged - 1];
    if (last->heap_reserved > 2 * last->heap_in_use && last->heap_reserved - last->heap_in_use > (64u << 20))
        add_rec(a,
                "The heap reserves %s but uses %s: fragmentation. Try malloc_trim(0) after peaks, fewer arenas "
                "(MALLOC_ARENA_MAX=2) or another allocator.",
                bytes((double)last->heap_reserved, x, sizeof(x)), bytes((double)last->heap_in_use, y, sizeof(y)));
    /* Very frequent temporary allocations: the site with the most allocations
     * per second whose blocks are almost all freed. */
    const hs_analysis_site_t *busiest = NULL;
    site_t *site, *tmp;
    HASH_ITER(hh, st->sites, site, tmp)
    {
        const hs_analysis_site_t *s = &site->pub;
        if (s->alloc_objects > 0 && s->inuse_objects < 0.01 * s->alloc_objects &&
            (!busiest || s->alloc_objects > busiest->alloc_objects))
            busiest = s;
    }
    double span = last->t > 0 ? last->t : 1;
    if (busiest && busiest->alloc_objects / span > 10000) {
        hs_site_describe(&busiest->where, where, sizeof(where));
        add_rec(a,
                "%s makes %.0f short-lived allocations per second (%s/s): reuse a buffer or use a pool "
                "there to cut allocator time.",
                where, busiest->alloc_objects / span, bytes(busiest->alloc_bytes / span, x, sizeof(x)));
    }
    if (!a->leak_detected && !a->threads_leak)
        add_rec(a, "No sustained growth: %s", a->leak.reason);
}

/* ---- allocation wrappers ---------------------------------------------------------- */
/* After pass 1, before any site is found: every stack of the dump is in
 * the model, and sites found later blame the detected wrappers' callers. */
static int detect_wrappers(hs_analysis_t *a, char *err, size_t errlen)
{
    if (hs_wrappers_detect(a->state->finder, a->frames, &a->state->model, 1) < 0) {
        snprintf(err, errlen, "%s: out of memory", a->path);
        return -1;
    }
    return 0;
}

/* ---- entry points ---------------------------------------------------------------- */
static int start(hs_analysis_t *a, hs_input_t *in, hs_symbolizer_t *sym, const hs_analysis_options_t *opt, char *err,
                 size_t errlen)
{
    memset(a, 0, sizeof(*a));
    a->path = hs_input_name(in);
    a->sym = sym;
    a->window_s = opt->window_s;
    a->threshold = opt->threshold;
    a->detected_at = -1;
    if (!(a->state = calloc(1, sizeof(*a->state)))) {
        snprintf(err, errlen, "%s: out of memory", a->path);
        return -1;
    }
    a->state->input = in;
    a->state->has_threshold = opt->has_threshold;
    a->frames =
        hs_frame_filter_new(1, opt->drop_frames, "--drop-frames", opt->keep_frames, "--keep-frames", err, errlen);
    if (!a->frames || !(a->state->finder = hs_site_finder_new(sym, a->frames))) {
        if (a->frames)
            snprintf(err, errlen, "%s: out of memory", a->path);
        return -1;
    }
    return 0;
}

int hs_analysis_run(hs_analysis_t *a, hs_input_t *in, hs_symbolizer_t *sym, const hs_analysis_options_t *opt, char *err,
                    size_t errlen)
{
    size_t first_index, stride;
    if (start(a, in, sym, opt, err, errlen) || pass1(a, 1, err, errlen) ||
        process_verdict(a, &first_index, &stride, err, errlen) || detect_wrappers(a, err, errlen) ||
        pass2(a, first_index, stride, err, errlen))
        return -1;
    judge_sites(a);
    judge_threads(a);
    recommend(a);
    return 0;
}

int hs_analysis_leak_trend(hs_input_t *in, double window_s, hs_leak_result_t *out, double *detected_at, char *err,
                           size_t errlen)
{
    hs_analysis_t a;
    hs_analysis_options_t opt = {.window_s = window_s};
    size_t first, stride;
    int rc = start(&a, in, NULL, &opt, err, errlen) || pass1(&a, 0, err, errlen) ||
                     process_verdict(&a, &first, &stride, err, errlen)
                 ? -1
                 : 0;
    if (rc == 0) {
        *out = a.leak;
        *detected_at = a.detected_at;
    }
    hs_analysis_free(&a);
    return rc;
}

void hs_analysis_free(hs_analysis_t *a)
{
    state_t *st = a->state;
    for (size_t i = 0; i < a->nrecommendations; i++)
        free(a->recommendations[i]);
    a->nrecommendations = 0;
    if (!st)
        return;
    hs_model_close(st->model);
    free(st->proc);
    free(st->stack_site);
    free(st->scratch);
    free(st->alerts);
    site_t *s, *tmp;
    HASH_ITER(hh, st->sites, s, tmp)
    {
        HASH_DEL(st->sites, s);
        free(s->key);
        free(s->function_copy);
        free(s->pts);
        free(s);
    }
    tid_entry_t *e, *etmp;
    HASH_ITER(hh, st->tids, e, etmp)
    {
        HASH_DEL(st->tids, e);
        free(e);
    }
    site_counts_t *c, *ctmp;
    HASH_ITER(hh, st->site_counts, c, ctmp)
    {
        HASH_DEL(st->site_counts, c);
        free(c);
    }
    while (st->tsites) {
        thread_site_t *next = st->tsites->next;
        free(st->tsites->function);
        free(st->tsites->start_routine);
        free(st->tsites->file);
        free(st->tsites->pts);
        free(st->tsites);
        st->tsites = next;
    }
    hs_site_finder_free(st->finder);
    hs_frame_filter_free(a->frames);
    free(st);
    memset(a, 0, sizeof(*a));
}
