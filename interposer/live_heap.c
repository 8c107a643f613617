/* live_heap.c - the live service's heap endpoints, shaped like Go's
 * net/http/pprof: /debug/pprof/heap and /allocs (gzipped pprof with Go's
 * four sample types, cumulative since start; ?seconds=N for the delta over
 * the next N seconds; ?debug=1 Go's legacy text), /threadcreate (live
 * threads by creation stack) and /symbol (Go's symbol protocol). It reads
 * the lock-free stack table and thread sites; names come from
 * live_symbols.c. Runs on the server thread, except hs_live_heap_profile,
 * which pprof_files.c also calls on the snapshot stack: nothing here may
 * wait for a lock or keep memory past its return. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "config.h"
#include "framefilter.h"
#include "hs_format.h"
#include "identity.h"
#include "live.h"
#include "live_pprof.h"
#include "tables.h"
#include "threads.h"

/* ?seconds=N: Go allows up to the server's write timeout; ours is 60 s
 * after the answer is ready, and a scraper asks for its interval (10-15 s). */
#define MAX_DELTA_SECONDS 300
#define NAME_LEN 512

typedef struct {
    double alloc_objects, alloc_bytes, free_objects, free_bytes;
} counts_t;

static counts_t load_counts(hs_stack_t *s)
{
    return (counts_t){hs_stack_load_f64(&s->est_alloc_objects), hs_stack_load_f64(&s->est_alloc_bytes),
                      hs_stack_load_f64(&s->est_free_objects), hs_stack_load_f64(&s->est_free_bytes)};
}

static int64_t to_i64(double v) { return (int64_t)llround(v); }

/* The four values Go's heap profile has: since start (base NULL), or the
 * change since base. In use never reads below zero since start (frees of
 * blocks sampled before a fork child's reset, rounding). */
static void heap_values(const counts_t *now, const counts_t *base, int64_t v[4])
{
    counts_t b = base ? *base : (counts_t){0, 0, 0, 0};
    double inuse_objects = (now->alloc_objects - now->free_objects) - (b.alloc_objects - b.free_objects);
    double inuse_bytes = (now->alloc_bytes - now->free_bytes) - (b.alloc_bytes - b.free_bytes);
    if (!base) {
        inuse_objects = inuse_objects < 0 ? 0 : inuse_objects;
        inuse_bytes = inuse_bytes < 0 ? 0 : inuse_bytes;
    }
    v[0] = to_i64(now->alloc_objects - b.alloc_objects);
    v[1] = to_i64(now->alloc_bytes - b.alloc_bytes);
    v[2] = to_i64(inuse_objects);
    v[3] = to_i64(inuse_bytes);
}

static void heap_comments(hs_pprof_t *p)
{
    char line[1400];
    snprintf(line, sizeof(line), "heapscope live: %s pid %u; sample rate %" PRIu64 " bytes", hs_identity.exe,
             hs_identity.pid, hs_cfg.sample_rate);
    hs_pprof_comment(p, line);
}

/* Builds the heap profile into out, gzipped. base: the counters at the
 * start of a ?seconds=N window (n_base stacks; NULL: since start). */
static int build_heap(hs_lbuf_t *out, int for_allocs, const counts_t *base, uint32_t n_base, uint64_t duration_ns)
{
    hs_pprof_t *p = hs_pprof_new();
    hs_live_syms_t *syms = p ? hs_live_syms_open(p) : NULL;
    int rc = -1;
    if (!syms)
        goto out;
    hs_pprof_sample_type(p, "alloc_objects", "count");
    hs_pprof_sample_type(p, "alloc_space", "bytes");
    hs_pprof_sample_type(p, "inuse_objects", "count");
    hs_pprof_sample_type(p, "inuse_space", "bytes");
    hs_pprof_period(p, "space", "bytes", (int64_t)hs_cfg.sample_rate);
    hs_pprof_time(p, (int64_t)hs_now_real_ns(), (int64_t)duration_ns);
    if (for_allocs)
        hs_pprof_default_sample_type(p, "alloc_space");
    /* pprof cuts each stack at the first allocator or wrapper frame from
     * the root (framefilter.c), so the leaves are the call sites. */
    hs_pprof_set_drop_frames(p, hs_framefilter_pprof_drop(), NULL);
    heap_comments(p);
    uint64_t ids[HS_MAX_DEPTH_LIMIT];
    uint32_t n = hs_stack_count();
    for (uint32_t id = 1; id <= n; id++) {
        hs_stack_t *s = hs_stack_by_id(id);
        if (!s)
            continue;
        counts_t now = load_counts(s);
        int64_t v[4];
        heap_values(&now, base ? (id <= n_base ? &base[id - 1] : &(counts_t){0, 0, 0, 0}) : NULL, v);
        if (!v[0] && !v[1] && !v[2] && !v[3])
            continue;
        uint32_t depth = s->depth < HS_MAX_DEPTH_LIMIT ? s->depth : HS_MAX_DEPTH_LIMIT;
        for (uint32_t f = 0; f < depth; f++)
            if (!(ids[f] = hs_live_syms_location(syms, s->frames[f], 1)))
                goto out;
        /* Go labels each sample with its object size; a stack here holds
         * many samples, so the label is their mean size (stable while the
         * stack's sizes are). */
        uint64_t count = atomic_load_explicit(&s->allocs, memory_order_relaxed);
        uint64_t bytes = atomic_load_explicit(&s->alloc_bytes, memory_order_relaxed);
        hs_pprof_label_t label = {"bytes", NULL, count ? (int64_t)(bytes / count) : 0, "bytes"};
        if (hs_pprof_sample(p, ids, depth, v, 4, &label, 1) != 0)
            goto out;
    }
    rc = hs_live_pprof_finish(p, out);
out:
    hs_live_syms_close(syms);
    hs_pprof_free(p);
    return rc;
}

int hs_live_heap_profile(hs_lbuf_t *out, int for_allocs) { return build_heap(out, for_allocs, NULL, 0, 0); }

/* ---- Go's legacy text form (?debug=1) ------------------------------------- */

static void text_stack(hs_lbuf_t *b, hs_live_syms_t *syms, const uintptr_t *frames, uint32_t depth)
{
    hs_lbuf_puts(b, " @");
    for (uint32_t f = 0; f < depth; f++)
        hs_lbuf_printf(b, " %#" PRIxPTR, frames[f]);
    hs_lbuf_puts(b, "\n");
    char name[NAME_LEN];
    for (uint32_t f = 0; f < depth; f++) {
        uintptr_t pc = frames[f] ? frames[f] - 1 : 0;
        hs_live_syms_name(syms, pc, name, sizeof(name));
        hs_lbuf_printf(b, "#\t%#" PRIxPTR "\t%s\n", pc, name);
    }
    hs_lbuf_puts(b, "\n");
}

static void heap_text(hs_live_resp_t *resp)
{
    hs_live_syms_t *syms = hs_live_syms_open(NULL);
    if (!syms) {
        hs_live_error(resp, 503, "out of memory");
        return;
    }
    hs_lbuf_t *b = &resp->body;
    uint32_t n = hs_stack_count();
    int64_t total[4] = {0, 0, 0, 0};
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1)
            hs_lbuf_printf(b, "heap profile: %" PRId64 ": %" PRId64 " [%" PRId64 ": %" PRId64 "] @ heap/%" PRIu64 "\n",
                           total[2], total[3], total[0], total[1], 2 * hs_cfg.sample_rate);
        for (uint32_t id = 1; id <= n; id++) {
            hs_stack_t *s = hs_stack_by_id(id);
            if (!s)
                continue;
            counts_t now = load_counts(s);
            int64_t v[4];
            heap_values(&now, NULL, v);
            if (!v[0] && !v[1] && !v[2] && !v[3])
                continue;
            if (pass == 0) {
                for (int i = 0; i < 4; i++)
                    total[i] += v[i];
                continue;
            }
            hs_lbuf_printf(b, "%" PRId64 ": %" PRId64 " [%" PRId64 ": %" PRId64 "]", v[2], v[3], v[0], v[1]);
            text_stack(b, syms, s->frames, s->depth < HS_MAX_DEPTH_LIMIT ? s->depth : HS_MAX_DEPTH_LIMIT);
        }
    }
    hs_lbuf_printf(b, "\n# heapscope: sample rate %" PRIu64 " bytes; values are unbiased estimates\n",
                   hs_cfg.sample_rate);
    hs_live_syms_close(syms);
}

/* ---- /heap and /allocs ---------------------------------------------------- */

typedef struct {
    int for_allocs;
    uint32_t n;
    uint64_t start_ns;
    counts_t base[];
} delta_t;

static void delta_resume(hs_live_resp_t *resp, int cancel)
{
    delta_t *d = resp->state;
    resp->resume = NULL;
    resp->state = NULL;
    if (!cancel) {
        resp->content_type = "application/octet-stream";
        resp->disposition =
            d->for_allocs ? "attachment; filename=\"allocs-delta\"" : "attachment; filename=\"heap-delta\"";
        if (build_heap(&resp->body, d->for_allocs, d->base, d->n, hs_now_mono_ns() - d->start_ns) != 0)
            hs_live_error(resp, 503, "out of memory building the profile");
    }
    free(d);
}

static void serve_heap(const hs_live_req_t *req, hs_live_resp_t *resp, int for_allocs)
{
    unsigned long seconds = 0, debug = 0;
    int has_seconds = hs_http_query_uint(req->http, "seconds", MAX_DELTA_SECONDS, &seconds);
    int has_debug = hs_http_query_uint(req->http, "debug", 2, &debug);
    if (has_seconds < 0 || (has_seconds > 0 && seconds == 0)) {
        hs_live_error(resp, 400, "invalid value for \"seconds\": a whole number from 1 to %d", MAX_DELTA_SECONDS);
        return;
    }
    if (has_debug < 0) {
        hs_live_error(resp, 400, "invalid value for \"debug\": 0, 1 or 2");
        return;
    }
    /* ?gc=1 asks Go for a collection first: nothing to do here. */
    if (has_seconds > 0 && debug) {
        hs_live_error(resp, 400, "seconds and debug params are incompatible");
        return;
    }
    if (debug) {
        heap_text(resp);
        return;
    }
    if (has_seconds > 0) {
        uint32_t n = hs_stack_count();
        delta_t *d = malloc(sizeof(*d) + (size_t)n * sizeof(counts_t));
        if (!d) {
            hs_live_error(resp, 503, "out of memory");
            return;
        }
        d->for_allocs = for_allocs;
        d->n = n;
        d->start_ns = hs_now_mono_ns();
        for (uint32_t id = 1; id <= n; id++) {
            hs_stack_t *s = hs_stack_by_id(id);
            d->base[id - 1] = s ? load_counts(s) : (counts_t){0, 0, 0, 0};
        }
        resp->state = d;
        resp->resume = delta_resume;
        resp->resume_at_ns = d->start_ns + (uint64_t)seconds * HS_NS_PER_SEC;
        return;
    }
    resp->content_type = "application/octet-stream";
    resp->disposition = for_allocs ? "attachment; filename=\"allocs\"" : "attachment; filename=\"heap\"";
    if (build_heap(&resp->body, for_allocs, NULL, 0, 0) != 0)
        hs_live_error(resp, 503, "out of memory building the profile");
}

void hs_live_heap(const hs_live_req_t *req, hs_live_resp_t *resp) { serve_heap(req, resp, 0); }

void hs_live_allocs(const hs_live_req_t *req, hs_live_resp_t *resp) { serve_heap(req, resp, 1); }

/* ---- /threadcreate -------------------------------------------------------- */

typedef struct {
    hs_pprof_t *p;
    hs_live_syms_t *syms;
    hs_lbuf_t *text; /* ?debug=1 */
    uint64_t total;
    int failed;
} threads_build_t;

static void add_thread_site(uint32_t stack_id, uint64_t start_routine, uint64_t live, void *ctx)
{
    threads_build_t *t = ctx;
    hs_stack_t *s = stack_id ? hs_stack_by_id(stack_id) : NULL;
    uint32_t depth = s ? (s->depth < HS_MAX_DEPTH_LIMIT ? s->depth : HS_MAX_DEPTH_LIMIT) : 0;
    char routine[NAME_LEN] = "";
    if (start_routine)
        hs_live_syms_name(t->syms, (uintptr_t)start_routine, routine, sizeof(routine));
    t->total += live;
    if (t->text) {
        hs_lbuf_printf(t->text, "%" PRIu64, live);
        if (s)
            text_stack(t->text, t->syms, s->frames, depth);
        else
            hs_lbuf_puts(t->text, " @\n\n");
        return;
    }
    uint64_t ids[HS_MAX_DEPTH_LIMIT];
    for (uint32_t f = 0; f < depth; f++)
        if (!(ids[f] = hs_live_syms_location(t->syms, s->frames[f], 1))) {
            t->failed = 1;
            return;
        }
    int64_t v = (int64_t)live;
    /* The start routine names the thread's kind; stable across scrapes. */
    hs_pprof_label_t label = {"start_routine", routine[0] ? routine : NULL, 0, NULL};
    if (hs_pprof_sample(t->p, ids, depth, &v, 1, &label, routine[0] ? 1 : 0) != 0)
        t->failed = 1;
}

void hs_live_threadcreate(const hs_live_req_t *req, hs_live_resp_t *resp)
{
    unsigned long debug = 0;
    if (hs_http_query_uint(req->http, "debug", 2, &debug) < 0) {
        hs_live_error(resp, 400, "invalid value for \"debug\": 0, 1 or 2");
        return;
    }
    threads_build_t t = {0};
    if (debug) {
        hs_lbuf_t body = {0};
        t.text = &body;
        if (!(t.syms = hs_live_syms_open(NULL))) {
            hs_live_error(resp, 503, "out of memory");
            return;
        }
        hs_threads_each_live_site(add_thread_site, &t);
        hs_lbuf_printf(&resp->body, "threadcreate profile: total %" PRIu64 "\n", t.total);
        if (body.len)
            hs_lbuf_put(&resp->body, body.data, body.len);
        if (body.oom)
            resp->body.oom = 1;
        hs_lbuf_free(&body);
        hs_live_syms_close(t.syms);
        return;
    }
    if (!(t.p = hs_pprof_new()) || !(t.syms = hs_live_syms_open(t.p))) {
        hs_pprof_free(t.p);
        hs_live_error(resp, 503, "out of memory");
        return;
    }
    hs_pprof_sample_type(t.p, "threadcreate", "count");
    hs_pprof_period(t.p, "threadcreate", "count", 1);
    hs_pprof_time(t.p, (int64_t)hs_now_real_ns(), 0);
    hs_pprof_comment(t.p, "heapscope live: threads started by pthread_create and still running, by creation stack");
    hs_threads_each_live_site(add_thread_site, &t);
    resp->content_type = "application/octet-stream";
    resp->disposition = "attachment; filename=\"threadcreate\"";
    if (t.failed || hs_live_pprof_finish(t.p, &resp->body) != 0)
        hs_live_error(resp, 503, "out of memory building the profile");
    hs_live_syms_close(t.syms);
    hs_pprof_free(t.p);
}

/* ---- /symbol -------------------------------------------------------------- */

/* Go's protocol (net/http/pprof.Symbol): "num_symbols: 1" (pprof only asks
 * whether it is non-zero), then for each address of the POST body (or the
 * GET query), separated by '+', a line "0xADDR name" when it is known. The
 * address is named as given: pprof sends its locations' addresses, which
 * already point into the call instruction. */
void hs_live_symbol(const hs_live_req_t *req, hs_live_resp_t *resp)
{
    const char *in = req->body;
    size_t len = req->body_len;
    if (req->http->method != HS_HTTP_POST) {
        in = req->http->raw_query;
        len = in ? req->http->raw_query_len : 0;
    }
    hs_lbuf_puts(&resp->body, "num_symbols: 1\n");
    if (!in || !len)
        return;
    hs_live_syms_t *syms = hs_live_syms_open(NULL);
    if (!syms) {
        hs_live_error(resp, 503, "out of memory");
        return;
    }
    char word[32], name[NAME_LEN];
    size_t i = 0;
    while (i < len) {
        size_t w = 0;
        while (i < len && in[i] != '+') {
            if (w < sizeof(word) - 1)
                word[w++] = in[i];
            i++;
        }
        i++; /* the '+' */
        word[w] = 0;
        char *end;
        unsigned long long pc = strtoull(word, &end, 0);
        if (pc == 0 || *end || w == sizeof(word) - 1)
            continue; /* as Go: what does not parse is skipped */
        if (hs_live_syms_name(syms, (uintptr_t)pc, name, sizeof(name)) == 0)
            hs_lbuf_printf(&resp->body, "%#llx %s\n", pc, name);
    }
    hs_live_syms_close(syms);
}
