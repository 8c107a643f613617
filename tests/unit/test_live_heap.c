/* test_live_heap.c - the live heap endpoints called directly (live_heap.c,
 * live_symbols.c, gzip.c), after recording stacks whose frames lie in this
 * binary: the gzip is valid (zlib inflates it, CRC checked), the profile
 * decodes with Go's four sample types and exact values at weight 1, the
 * leaf address is the return address - 1 and is named, alloc_* never
 * decrease between two answers and the addresses stay, ?seconds=N answers
 * the delta through resume (and cancel frees it), bad parameters are 400,
 * ?debug=1 is Go's text, /symbol follows Go's protocol and /threadcreate
 * counts a live thread by its creation stack. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "clock.h"
#include "config.h"
#include "gzip.h"
#include "live.h"
#include "live_pprof.h"
#include "real.h"
#include "run_suite.h"
#include "tables.h"
#include "threads.h"

#define RATE 1

__attribute__((noinline)) static int site_alpha(int x) { return x * 7 + 3; }
__attribute__((noinline)) static int site_beta(int x) { return x * 5 + 1; }
__attribute__((noinline)) static int caller_main(int x) { return x - 2; }

/* A "return address" inside each function (past its first byte). */
static uintptr_t ret_in(int (*fn)(int)) { return (uintptr_t)fn + 2; }

static void setup(void)
{
    static int tables_ready;
    hs_cfg.sample_rate = RATE;
    hs_cfg.max_depth = 64;
    if (!tables_ready) {
        ck_assert_int_eq(hs_tables_init(RATE), 0);
        tables_ready = 1;
    }
    hs_tables_reset_for_tests();
    ck_assert_int_eq(site_alpha(1) + site_beta(1) + caller_main(3), 17);
}

static hs_stack_t *record(int (*leaf)(int), uint64_t size, int count)
{
    uintptr_t frames[2] = {ret_in(leaf), ret_in(caller_main)};
    hs_stack_t *s = hs_stack_intern(frames, 2);
    ck_assert_ptr_nonnull(s);
    for (int i = 0; i < count; i++)
        hs_stack_add_alloc(s, size, 1.0);
    return s;
}

/* ---- requests ------------------------------------------------------------- */

typedef struct {
    hs_http_request_t http;
    hs_live_req_t req;
    hs_live_resp_t resp;
} call_t;

static call_t *call(hs_live_handler_t handler, const char *method, const char *target, const char *body)
{
    call_t *c = calloc(1, sizeof(*c));
    char head[512];
    snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n", method, target,
             body ? strlen(body) : 0);
    ck_assert_int_eq(hs_http_parse_request(head, strlen(head), &c->http), HS_HTTP_PARSE_OK);
    c->req.http = &c->http;
    c->req.body = body;
    c->req.body_len = body ? strlen(body) : 0;
    c->resp.status = 200;
    c->resp.content_type = "text/plain; charset=utf-8";
    handler(&c->req, &c->resp);
    return c;
}

static void call_free(call_t *c)
{
    hs_lbuf_free(&c->resp.body);
    free(c);
}

static char *body_text(call_t *c)
{
    char *t = malloc(c->resp.body.len + 1);
    memcpy(t, c->resp.body.data, c->resp.body.len);
    t[c->resp.body.len] = 0;
    return t;
}

/* ---- a small profile.proto reader ----------------------------------------- */

#define MAX_ITEMS 4096

typedef struct {
    uint64_t locs[64];
    size_t n_locs;
    int64_t values[8];
    size_t n_values;
} sample_t;

typedef struct {
    char *strings[MAX_ITEMS];
    size_t n_strings;
    int64_t sample_types[8][2];
    size_t n_sample_types;
    sample_t samples[MAX_ITEMS];
    size_t n_samples;
    uint64_t loc_id[MAX_ITEMS], loc_addr[MAX_ITEMS], loc_func[MAX_ITEMS], loc_mapping[MAX_ITEMS];
    size_t n_locs;
    uint64_t func_id[MAX_ITEMS], func_name[MAX_ITEMS];
    size_t n_funcs;
    uint64_t map_filename[64], map_build_id[64];
    size_t n_maps;
    int64_t period, default_sample_type, drop_frames, keep_frames;
    int64_t period_type[2];
} profile_t;

static uint64_t varint(const uint8_t **p, const uint8_t *end)
{
    uint64_t v = 0;
    for (int shift = 0; *p < end && shift < 64; shift += 7) {
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    ck_abort_msg("bad varint");
    return 0;
}

typedef void (*field_fn)(void *ctx, int field, int wire, uint64_t v, const uint8_t *data, size_t len);

static void walk(const uint8_t *p, size_t n, field_fn fn, void *ctx)
{
    const uint8_t *end = p + n;
    while (p < end) {
        uint64_t key = varint(&p, end);
        int field = (int)(key >> 3), wire = (int)(key & 7);
        if (wire == 0) {
            fn(ctx, field, wire, varint(&p, end), NULL, 0);
        } else if (wire == 2) {
            uint64_t len = varint(&p, end);
            ck_assert(len <= (uint64_t)(end - p));
            fn(ctx, field, wire, 0, p, (size_t)len);
            p += len;
        } else {
            ck_abort_msg("unexpected wire type %d", wire);
        }
    }
}

/* Repeated scalars: packed (wire 2) or one by one (wire 0). */
static void scalars(int wire, uint64_t v, const uint8_t *data, size_t len, uint64_t *out, size_t *n, size_t max)
{
    if (wire == 0) {
        ck_assert(*n < max);
        out[(*n)++] = v;
        return;
    }
    const uint8_t *p = data, *end = data + len;
    while (p < end) {
        ck_assert(*n < max);
        out[(*n)++] = varint(&p, end);
    }
}

static void on_sample(void *ctx, int field, int wire, uint64_t v, const uint8_t *data, size_t len)
{
    sample_t *s = ctx;
    if (field == 1)
        scalars(wire, v, data, len, s->locs, &s->n_locs, 64);
    else if (field == 2)
        scalars(wire, v, data, len, (uint64_t *)s->values, &s->n_values, 8);
}

static void on_value_type(void *ctx, int field, int wire, uint64_t v, const uint8_t *data, size_t len)
{
    (void)wire, (void)data, (void)len;
    int64_t *vt = ctx;
    if (field == 1 || field == 2)
        vt[field - 1] = (int64_t)v;
}

typedef struct {
    profile_t *p;
    size_t at;
} item_t;

static void on_line(void *ctx, int field, int wire, uint64_t v, const uint8_t *data, size_t len)
{
    (void)wire, (void)data, (void)len;
    item_t *it = ctx;
    if (field == 1)
        it->p->loc_func[it->at] = v;
}

static void on_location(void *ctx, int field, int wire, uint64_t v, const uint8_t *data, size_t len)
{
    item_t *it = ctx;
    if (field == 1)
        it->p->loc_id[it->at] = v;
    else if (field == 2)
        it->p->loc_mapping[it->at] = v;
    else if (field == 3)
        it->p->loc_addr[it->at] = v;
    else if (field == 4 && wire == 2)
        walk(data, len, on_line, it);
}

static void on_function(void *ctx, int field, int wire, uint64_t v, const uint8_t *data, size_t len)
{
    (void)wire, (void)data, (void)len;
    item_t *it = ctx;
    if (field == 1)
        it->p->func_id[it->at] = v;
    else if (field == 2)
        it->p->func_name[it->at] = v;
}

static void on_mapping(void *ctx, int field, int wire, uint64_t v, const uint8_t *data, size_t len)
{
    (void)wire, (void)data, (void)len;
    item_t *it = ctx;
    if (field == 5)
        it->p->map_filename[it->at] = v;
    else if (field == 6)
        it->p->map_build_id[it->at] = v;
}

static void on_profile(void *ctx, int field, int wire, uint64_t v, const uint8_t *data, size_t len)
{
    profile_t *p = ctx;
    item_t it = {p, 0};
    switch (field) {
    case 1: walk(data, len, on_value_type, p->sample_types[p->n_sample_types++]); break;
    case 2: walk(data, len, on_sample, &p->samples[p->n_samples++]); break;
    case 3:
        it.at = p->n_maps++;
        walk(data, len, on_mapping, &it);
        break;
    case 4:
        it.at = p->n_locs++;
        walk(data, len, on_location, &it);
        break;
    case 5:
        it.at = p->n_funcs++;
        walk(data, len, on_function, &it);
        break;
    case 6:
        p->strings[p->n_strings] = calloc(1, len + 1);
        memcpy(p->strings[p->n_strings++], data, len);
        break;
    case 11: walk(data, len, on_value_type, p->period_type); break;
    case 12: p->period = (int64_t)v; break;
    case 14: p->default_sample_type = (int64_t)v; break;
    case 7: p->drop_frames = (int64_t)v; break;
    case 8: p->keep_frames = (int64_t)v; break;
    default: (void)wire; break;
    }
}

/* Inflates a gzip body (zlib checks the CRC and length). */
static uint8_t *gunzip(const char *in, size_t n, size_t *out_len)
{
    ck_assert_uint_ge(n, 18);
    ck_assert_uint_eq((uint8_t)in[0], 0x1f);
    ck_assert_uint_eq((uint8_t)in[1], 0x8b);
    size_t cap = 1 << 20;
    uint8_t *out = malloc(cap);
    z_stream z = {0};
    ck_assert_int_eq(inflateInit2(&z, 16 + 15), Z_OK);
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)n;
    int rc;
    do {
        if (z.total_out == cap) {
            cap *= 2;
            out = realloc(out, cap);
        }
        z.next_out = out + z.total_out;
        z.avail_out = (uInt)(cap - z.total_out);
        rc = inflate(&z, Z_FINISH);
    } while (rc == Z_BUF_ERROR && z.avail_out == 0);
    ck_assert_msg(rc == Z_STREAM_END, "inflate: %d %s", rc, z.msg ? z.msg : "");
    ck_assert_uint_eq(z.avail_in, 0);
    *out_len = z.total_out;
    inflateEnd(&z);
    return out;
}

static profile_t *decode(call_t *c)
{
    size_t n;
    uint8_t *raw = gunzip(c->resp.body.data, c->resp.body.len, &n);
    profile_t *p = calloc(1, sizeof(*p));
    walk(raw, n, on_profile, p);
    free(raw);
    ck_assert_uint_ge(p->n_strings, 1);
    ck_assert_str_eq(p->strings[0], "");
    return p;
}

static void profile_free(profile_t *p)
{
    for (size_t i = 0; i < p->n_strings; i++)
        free(p->strings[i]);
    free(p);
}

static const char *str(const profile_t *p, int64_t i)
{
    ck_assert(i >= 0 && (size_t)i < p->n_strings);
    return p->strings[i];
}

static size_t loc_index(const profile_t *p, uint64_t id)
{
    for (size_t i = 0; i < p->n_locs; i++)
        if (p->loc_id[i] == id)
            return i;
    ck_abort_msg("location %llu does not resolve", (unsigned long long)id);
    return 0;
}

static const char *func_name(const profile_t *p, uint64_t id)
{
    for (size_t i = 0; i < p->n_funcs; i++)
        if (p->func_id[i] == id)
            return str(p, (int64_t)p->func_name[i]);
    ck_abort_msg("function %llu does not resolve", (unsigned long long)id);
    return NULL;
}

/* The sample whose leaf location has this address, or NULL. */
static const sample_t *sample_at(const profile_t *p, uint64_t leaf_address)
{
    for (size_t i = 0; i < p->n_samples; i++)
        if (p->samples[i].n_locs && p->loc_addr[loc_index(p, p->samples[i].locs[0])] == leaf_address)
            return &p->samples[i];
    return NULL;
}

/* ---- tests ---------------------------------------------------------------- */

START_TEST(heap_profile_has_gos_shape_and_exact_values)
{
    hs_stack_t *a = record(site_alpha, 100, 10);
    record(site_beta, 4096, 3);
    hs_stack_add_free(a, 100, 1.0);
    hs_stack_add_free(a, 100, 1.0);
    call_t *c = call(hs_live_heap, "GET", "/debug/pprof/heap?gc=1", NULL);
    ck_assert_int_eq(c->resp.status, 200);
    ck_assert_str_eq(c->resp.content_type, "application/octet-stream");
    ck_assert_ptr_nonnull(c->resp.disposition);
    ck_assert_ptr_null(c->resp.resume);
    profile_t *p = decode(c);
    static const char *types[4][2] = {
        {"alloc_objects", "count"}, {"alloc_space", "bytes"}, {"inuse_objects", "count"}, {"inuse_space", "bytes"}};
    ck_assert_uint_eq(p->n_sample_types, 4);
    for (int i = 0; i < 4; i++) {
        ck_assert_str_eq(str(p, p->sample_types[i][0]), types[i][0]);
        ck_assert_str_eq(str(p, p->sample_types[i][1]), types[i][1]);
    }
    ck_assert_str_eq(str(p, p->period_type[0]), "space");
    ck_assert_str_eq(str(p, p->period_type[1]), "bytes");
    ck_assert_int_eq(p->period, RATE);
    ck_assert_int_eq(p->default_sample_type, 0); /* heap: readers pick inuse_space */
    /* drop_frames: the frame filter's expression (framefilter.c), so pprof
     * cuts stacks at allocators and wrappers; nothing kept on purpose. */
    ck_assert_msg(p->drop_frames > 0 && strstr(str(p, p->drop_frames), "malloc") &&
                      strstr(str(p, p->drop_frames), "xmalloc"),
                  "drop_frames %lld", (long long)p->drop_frames);
    ck_assert_int_eq(p->keep_frames, 0);
    /* Every frame is a return address: the location is one byte before. */
    const sample_t *sa = sample_at(p, ret_in(site_alpha) - 1), *sb = sample_at(p, ret_in(site_beta) - 1);
    ck_assert_ptr_nonnull(sa);
    ck_assert_ptr_nonnull(sb);
    ck_assert_uint_eq(sa->n_values, 4);
    ck_assert_int_eq(sa->values[0], 10);
    ck_assert_int_eq(sa->values[1], 1000);
    ck_assert_int_eq(sa->values[2], 8);
    ck_assert_int_eq(sa->values[3], 800);
    ck_assert_int_eq(sb->values[1], 3 * 4096);
    ck_assert_int_eq(sb->values[3], 3 * 4096);
    ck_assert_uint_eq(sa->n_locs, 2);
    size_t leaf = loc_index(p, sa->locs[0]), caller = loc_index(p, sa->locs[1]);
    ck_assert_str_eq(func_name(p, p->loc_func[leaf]), "site_alpha");
    ck_assert_str_eq(func_name(p, p->loc_func[caller]), "caller_main");
    ck_assert_uint_eq(p->loc_addr[caller], ret_in(caller_main) - 1);
    /* the mapping names this binary and carries its build-id */
    ck_assert_uint_ne(p->loc_mapping[leaf], 0);
    ck_assert_uint_ge(p->n_maps, 1);
    int found = 0;
    for (size_t i = 0; i < p->n_maps; i++)
        if (strstr(str(p, (int64_t)p->map_filename[i]), "test_live_heap"))
            found = strlen(str(p, (int64_t)p->map_build_id[i])) >= 16;
    ck_assert_msg(found, "no mapping with this binary's path and build-id");
    profile_free(p);
    call_free(c);
}
END_TEST

START_TEST(allocs_never_decrease_and_addresses_stay)
{
    hs_stack_t *a = record(site_alpha, 64, 5);
    call_t *c1 = call(hs_live_allocs, "GET", "/debug/pprof/allocs", NULL);
    for (int i = 0; i < 5; i++)
        hs_stack_add_free(a, 64, 1.0);
    record(site_alpha, 64, 2);
    record(site_beta, 32, 1);
    call_t *c2 = call(hs_live_allocs, "GET", "/debug/pprof/allocs", NULL);
    profile_t *p1 = decode(c1), *p2 = decode(c2);
    ck_assert_str_eq(str(p1, p1->default_sample_type), "alloc_space");
    const sample_t *s1 = sample_at(p1, ret_in(site_alpha) - 1), *s2 = sample_at(p2, ret_in(site_alpha) - 1);
    ck_assert_ptr_nonnull(s1);
    ck_assert_ptr_nonnull(s2);
    ck_assert_int_eq(s1->values[0], 5);
    ck_assert_int_eq(s2->values[0], 7);
    ck_assert_int_eq(s2->values[1], 7 * 64);
    ck_assert_int_eq(s2->values[2], 2); /* 7 allocated, 5 freed */
    for (size_t i = 0; i < p1->n_samples; i++) {
        const sample_t *x = &p1->samples[i];
        const sample_t *y = sample_at(p2, p1->loc_addr[loc_index(p1, x->locs[0])]);
        ck_assert_ptr_nonnull(y);
        ck_assert_uint_eq(x->n_locs, y->n_locs);
        for (size_t f = 0; f < x->n_locs; f++)
            ck_assert_uint_eq(p1->loc_addr[loc_index(p1, x->locs[f])], p2->loc_addr[loc_index(p2, y->locs[f])]);
        ck_assert_int_le(x->values[0], y->values[0]);
        ck_assert_int_le(x->values[1], y->values[1]);
    }
    profile_free(p1);
    profile_free(p2);
    call_free(c1);
    call_free(c2);
}
END_TEST

START_TEST(seconds_gives_the_delta_through_resume)
{
    record(site_alpha, 100, 10);
    uint64_t before = hs_now_mono_ns();
    call_t *c = call(hs_live_heap, "GET", "/debug/pprof/heap?seconds=2", NULL);
    ck_assert_ptr_nonnull(c->resp.resume);
    ck_assert_uint_eq(c->resp.body.len, 0);
    ck_assert_uint_ge(c->resp.resume_at_ns, before + 2 * HS_NS_PER_SEC);
    ck_assert_uint_le(c->resp.resume_at_ns, hs_now_mono_ns() + 2 * HS_NS_PER_SEC);
    record(site_alpha, 100, 4);
    record(site_beta, 50, 2); /* a stack new since the start */
    c->resp.resume(&c->resp, 0);
    ck_assert_ptr_null(c->resp.resume);
    ck_assert_int_eq(c->resp.status, 200);
    profile_t *p = decode(c);
    const sample_t *sa = sample_at(p, ret_in(site_alpha) - 1), *sb = sample_at(p, ret_in(site_beta) - 1);
    ck_assert_ptr_nonnull(sa);
    ck_assert_ptr_nonnull(sb);
    ck_assert_int_eq(sa->values[0], 4);
    ck_assert_int_eq(sa->values[1], 400);
    ck_assert_int_eq(sb->values[0], 2);
    profile_free(p);
    call_free(c);
    /* A client that goes away: resume(cancel) frees the state, no answer. */
    c = call(hs_live_allocs, "GET", "/debug/pprof/allocs?seconds=1", NULL);
    ck_assert_ptr_nonnull(c->resp.resume);
    c->resp.resume(&c->resp, 1);
    ck_assert_ptr_null(c->resp.resume);
    ck_assert_ptr_null(c->resp.state);
    call_free(c);
}
END_TEST

START_TEST(bad_parameters_are_400_and_debug_is_text)
{
    record(site_alpha, 100, 3);
    static const char *bad[] = {"/debug/pprof/heap?seconds=0", "/debug/pprof/heap?seconds=301",
                                "/debug/pprof/heap?seconds=x", "/debug/pprof/heap?seconds=2&debug=1",
                                "/debug/pprof/heap?debug=9"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        call_t *c = call(hs_live_heap, "GET", bad[i], NULL);
        ck_assert_msg(c->resp.status == 400, "%s: %d", bad[i], c->resp.status);
        ck_assert_ptr_null(c->resp.resume);
        call_free(c);
    }
    call_t *c = call(hs_live_heap, "GET", "/debug/pprof/heap?debug=1", NULL);
    ck_assert_int_eq(c->resp.status, 200);
    char *t = body_text(c);
    static const char head[] = "heap profile: 3: 300 [3: 300] @ heap/2\n";
    ck_assert_msg(strncmp(t, head, strlen(head)) == 0, "%s", t);
    ck_assert_ptr_nonnull(strstr(t, "\tsite_alpha\n"));
    free(t);
    call_free(c);
}
END_TEST

START_TEST(symbol_follows_gos_protocol)
{
    call_t *c = call(hs_live_symbol, "GET", "/debug/pprof/symbol", NULL);
    char *t = body_text(c);
    ck_assert_str_eq(t, "num_symbols: 1\n");
    free(t);
    call_free(c);
    char body[128], want[128];
    snprintf(body, sizeof(body), "%#lx+junk+0+%#lx", (unsigned long)ret_in(site_alpha),
             (unsigned long)ret_in(site_beta));
    c = call(hs_live_symbol, "POST", "/debug/pprof/symbol", body);
    t = body_text(c);
    snprintf(want, sizeof(want), "num_symbols: 1\n%#lx site_alpha\n%#lx site_beta\n", (unsigned long)ret_in(site_alpha),
             (unsigned long)ret_in(site_beta));
    ck_assert_str_eq(t, want);
    free(t);
    call_free(c);
    /* GET with the addresses in the query; an address in no object is left out */
    char target[128];
    snprintf(target, sizeof(target), "/debug/pprof/symbol?%#lx+0x10", (unsigned long)ret_in(caller_main));
    c = call(hs_live_symbol, "GET", target, NULL);
    t = body_text(c);
    snprintf(want, sizeof(want), "num_symbols: 1\n%#lx caller_main\n", (unsigned long)ret_in(caller_main));
    ck_assert_str_eq(t, want);
    free(t);
    call_free(c);
}
END_TEST

static int hold[2];
static void *blocked(void *arg)
{
    char ch;
    while (read(hold[0], &ch, 1) > 0) {
    }
    return arg;
}

START_TEST(threadcreate_counts_live_threads_by_creation_stack)
{
    hs_real_resolve();
    ck_assert_int_eq(hs_threads_init(), 0);
    ck_assert_int_eq(pipe(hold), 0);
    uintptr_t frames[2] = {ret_in(site_beta), ret_in(caller_main)};
    hs_stack_t *s = hs_stack_intern(frames, 2);
    pthread_t t[2];
    for (int i = 0; i < 2; i++) {
        hs_thread_start_t *a = hs_real.malloc(sizeof(*a));
        *a = (hs_thread_start_t){blocked, NULL, 1, s->id, hs_threads_site(s->id, (uint64_t)(uintptr_t)blocked)};
        ck_assert_int_eq(pthread_create(&t[i], NULL, hs_threads_trampoline, a), 0);
    }
    /* the trampoline counts the start on the new thread: poll for it */
    profile_t *p = NULL;
    for (uint64_t deadline = hs_now_mono_ns() + 5 * HS_NS_PER_SEC; hs_now_mono_ns() < deadline;) {
        call_t *c = call(hs_live_threadcreate, "GET", "/debug/pprof/threadcreate", NULL);
        ck_assert_int_eq(c->resp.status, 200);
        if (p)
            profile_free(p);
        p = decode(c);
        call_free(c);
        if (p->n_samples == 1 && p->samples[0].values[0] == 2)
            break;
        usleep(1000);
    }
    ck_assert_uint_eq(p->n_sample_types, 1);
    ck_assert_str_eq(str(p, p->sample_types[0][0]), "threadcreate");
    ck_assert_str_eq(str(p, p->period_type[0]), "threadcreate");
    ck_assert_uint_eq(p->n_samples, 1);
    ck_assert_int_eq(p->samples[0].values[0], 2);
    ck_assert_str_eq(func_name(p, p->loc_func[loc_index(p, p->samples[0].locs[0])]), "site_beta");
    profile_free(p);
    call_t *c = call(hs_live_threadcreate, "GET", "/debug/pprof/threadcreate?debug=1", NULL);
    char *text = body_text(c);
    static const char head[] = "threadcreate profile: total 2\n2 @ ";
    ck_assert_msg(strncmp(text, head, strlen(head)) == 0, "%s", text);
    free(text);
    call_free(c);
    close(hold[1]);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
}
END_TEST

START_TEST(gzip_round_trips)
{
    static const size_t sizes[] = {0, 1, 2, 3, 4, 100, 65535, 65536, 70000, 300000};
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        for (int kind = 0; kind < 3; kind++) {
            size_t n = sizes[k];
            uint8_t *in = malloc(n + 1);
            uint64_t x = 88172645463325252ull + k;
            for (size_t i = 0; i < n; i++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                /* random bytes; protobuf-like repetition; long runs */
                in[i] = kind == 0   ? (uint8_t)x
                        : kind == 1 ? (uint8_t)("\x0a\x04\x08\x01\x10\x02"[i % 6] + (x % 7 == 0))
                                    : 'a';
            }
            uint8_t *out = malloc(hs_gzip_bound(n));
            size_t len = hs_gzip(in, n, out);
            ck_assert_uint_le(len, hs_gzip_bound(n));
            size_t got_len;
            uint8_t *got = gunzip((const char *)out, len, &got_len);
            ck_assert_uint_eq(got_len, n);
            ck_assert(n == 0 || memcmp(got, in, n) == 0);
            if (kind == 2 && n >= 65536)
                ck_assert_uint_lt(len, n / 50); /* runs compress */
            ck_assert_uint_eq(hs_gzip_crc32(0, in, n), (uint32_t)crc32(0, in, (uInt)n));
            free(got);
            free(out);
            free(in);
        }
    }
}
END_TEST

START_TEST(names_are_cached_and_unknown_addresses_refused)
{
    hs_live_syms_t *s = hs_live_syms_open(NULL);
    ck_assert_ptr_nonnull(s);
    char a[64], b[64];
    ck_assert_int_eq(hs_live_syms_name(s, ret_in(site_alpha), a, sizeof(a)), 0);
    ck_assert_int_eq(hs_live_syms_name(s, ret_in(site_alpha), b, sizeof(b)), 0);
    ck_assert_str_eq(a, "site_alpha");
    ck_assert_str_eq(b, "site_alpha");
    ck_assert_int_eq(hs_live_syms_name(s, 0x10, a, sizeof(a)), -1);
    ck_assert_str_eq(a, "0x10");
    /* no profile: no locations */
    ck_assert_uint_eq(hs_live_syms_location(s, ret_in(site_alpha), 1), 0);
    hs_live_syms_close(s);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("live_heap");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, heap_profile_has_gos_shape_and_exact_values);
    tcase_add_test(tc, allocs_never_decrease_and_addresses_stay);
    tcase_add_test(tc, seconds_gives_the_delta_through_resume);
    tcase_add_test(tc, bad_parameters_are_400_and_debug_is_text);
    tcase_add_test(tc, symbol_follows_gos_protocol);
    tcase_add_test(tc, threadcreate_counts_live_threads_by_creation_stack);
    tcase_add_test(tc, gzip_round_trips);
    tcase_add_test(tc, names_are_cached_and_unknown_addresses_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return hs_run_suite(suite()); }
