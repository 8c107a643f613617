/* test_pprof.c - the profile.proto encoder (common/hs_pprof.c): varints at
 * their edges, string and function dedup, id validation, Go's packing rule,
 * and whole profiles read back by a small protobuf decoder written here from
 * the schema (so a wrong field number or wire type in the encoder shows up as
 * a wrong value, not as a matching mistake), plus the gzip stream inflating
 * to exactly the serialized bytes. */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "hs_pprof.h"
#include "run_suite.h"

/* ---- a minimal protobuf reader ---- */

typedef struct {
    const uint8_t *p;
    size_t len, off;
    int err;
} pb_t;

static uint64_t pb_varint(pb_t *d)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (d->off >= d->len) {
            d->err = 1;
            return 0;
        }
        uint8_t b = d->p[d->off++];
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    d->err = 1;
    return 0;
}

/* Reads the next field: 1 with *field, *wire and either *v (varint) or *sub
 * (length-delimited) set; 0 at the end; -1 on malformed input. */
static int pb_next(pb_t *d, int *field, int *wire, uint64_t *v, pb_t *sub)
{
    if (d->off == d->len)
        return 0;
    uint64_t tag = pb_varint(d);
    *field = (int)(tag >> 3);
    *wire = (int)(tag & 7);
    if (*wire == 0) {
        *v = pb_varint(d);
    } else if (*wire == 2) {
        uint64_t n = pb_varint(d);
        if (d->err || n > d->len - d->off)
            return -1;
        sub->p = d->p + d->off;
        sub->len = (size_t)n;
        sub->off = 0;
        sub->err = 0;
        d->off += (size_t)n;
    } else {
        return -1;
    }
    return d->err || *field == 0 ? -1 : 1;
}

/* A repeated scalar in either form; appends to out (capacity cap). */
static void pb_repeated(int wire, uint64_t v, pb_t *sub, uint64_t *out, size_t *n, size_t cap)
{
    if (wire == 0) {
        ck_assert_uint_lt(*n, cap);
        out[(*n)++] = v;
        return;
    }
    while (sub->off < sub->len) {
        ck_assert_uint_lt(*n, cap);
        out[(*n)++] = pb_varint(sub);
    }
    ck_assert(!sub->err);
}

typedef struct {
    int64_t key, str, num, num_unit;
} dlabel_t;
typedef struct {
    uint64_t loc[64];
    size_t n_loc;
    uint64_t val[8];
    size_t n_val;
    dlabel_t label[4];
    size_t n_label;
} dsample_t;
typedef struct {
    uint64_t id, start, limit, offset;
    int64_t filename, build_id;
    int has[4];
} dmapping_t;
typedef struct {
    uint64_t function_id;
    int64_t line;
} dline_t;
typedef struct {
    uint64_t id, mapping_id, address;
    dline_t line[4];
    size_t n_line;
} dlocation_t;
typedef struct {
    uint64_t id;
    int64_t name, system_name, filename, start_line;
} dfunction_t;

#define DCAP 20010
#define DSTRINGS 40000
typedef struct {
    int64_t sample_type[8][2];
    size_t n_sample_type;
    dsample_t *sample;
    size_t n_sample;
    dmapping_t mapping[8];
    size_t n_mapping;
    dlocation_t *location;
    size_t n_location;
    dfunction_t *function;
    size_t n_function;
    char **string;
    size_t n_string;
    int64_t time_nanos, duration_nanos, period, default_sample_type;
    int64_t drop_frames, keep_frames;
    int64_t period_type[2];
    int has_period_type;
    uint64_t comment[8];
    size_t n_comment;
} dprofile_t;

static void decode_value_type(pb_t *m, int64_t out[2])
{
    int f, w;
    uint64_t v;
    pb_t sub;
    int rc;
    while ((rc = pb_next(m, &f, &w, &v, &sub)) == 1) {
        ck_assert_int_eq(w, 0);
        ck_assert(f == 1 || f == 2);
        out[f - 1] = (int64_t)v;
    }
    ck_assert_int_eq(rc, 0);
}

static void decode_sample(pb_t *m, dsample_t *s)
{
    int f, w, rc;
    uint64_t v;
    pb_t sub;
    memset(s, 0, sizeof(*s));
    while ((rc = pb_next(m, &f, &w, &v, &sub)) == 1) {
        if (f == 1) {
            pb_repeated(w, v, &sub, s->loc, &s->n_loc, 64);
        } else if (f == 2) {
            pb_repeated(w, v, &sub, s->val, &s->n_val, 8);
        } else {
            ck_assert_int_eq(f, 3);
            ck_assert_int_eq(w, 2);
            ck_assert_uint_lt(s->n_label, 4);
            dlabel_t *l = &s->label[s->n_label++];
            int lf, lw;
            uint64_t lv;
            pb_t lsub;
            while ((rc = pb_next(&sub, &lf, &lw, &lv, &lsub)) == 1) {
                ck_assert_int_eq(lw, 0);
                int64_t *fields[] = {&l->key, &l->str, &l->num, &l->num_unit};
                ck_assert(lf >= 1 && lf <= 4);
                *fields[lf - 1] = (int64_t)lv;
            }
            ck_assert_int_eq(rc, 0);
        }
    }
    ck_assert_int_eq(rc, 0);
}

static void decode_mapping(pb_t *m, dmapping_t *d)
{
    int f, w, rc;
    uint64_t v;
    pb_t sub;
    memset(d, 0, sizeof(*d));
    while ((rc = pb_next(m, &f, &w, &v, &sub)) == 1) {
        ck_assert_int_eq(w, 0);
        switch (f) {
        case 1: d->id = v; break;
        case 2: d->start = v; break;
        case 3: d->limit = v; break;
        case 4: d->offset = v; break;
        case 5: d->filename = (int64_t)v; break;
        case 6: d->build_id = (int64_t)v; break;
        case 7:
        case 8:
        case 9:
        case 10:
            ck_assert_uint_eq(v, 1); /* false is omitted */
            d->has[f - 7] = 1;
            break;
        default: ck_abort_msg("mapping field %d", f);
        }
    }
    ck_assert_int_eq(rc, 0);
}

static void decode_location(pb_t *m, dlocation_t *d)
{
    int f, w, rc;
    uint64_t v;
    pb_t sub;
    memset(d, 0, sizeof(*d));
    while ((rc = pb_next(m, &f, &w, &v, &sub)) == 1) {
        if (f == 4) {
            ck_assert_int_eq(w, 2);
            ck_assert_uint_lt(d->n_line, 4);
            dline_t *l = &d->line[d->n_line++];
            int lf, lw;
            uint64_t lv;
            pb_t lsub;
            while ((rc = pb_next(&sub, &lf, &lw, &lv, &lsub)) == 1) {
                ck_assert_int_eq(lw, 0);
                if (lf == 1)
                    l->function_id = lv;
                else if (lf == 2)
                    l->line = (int64_t)lv;
                else
                    ck_abort_msg("line field %d", lf);
            }
            ck_assert_int_eq(rc, 0);
            continue;
        }
        ck_assert_int_eq(w, 0);
        if (f == 1)
            d->id = v;
        else if (f == 2)
            d->mapping_id = v;
        else if (f == 3)
            d->address = v;
        else
            ck_abort_msg("location field %d", f);
    }
    ck_assert_int_eq(rc, 0);
}

static void decode_function(pb_t *m, dfunction_t *d)
{
    int f, w, rc;
    uint64_t v;
    pb_t sub;
    memset(d, 0, sizeof(*d));
    while ((rc = pb_next(m, &f, &w, &v, &sub)) == 1) {
        ck_assert_int_eq(w, 0);
        ck_assert(f >= 1 && f <= 5);
        if (f == 1)
            d->id = v;
        else
            (&d->name)[f - 2] = (int64_t)v;
    }
    ck_assert_int_eq(rc, 0);
}

static dprofile_t *decode_profile(const uint8_t *buf, size_t len)
{
    dprofile_t *d = calloc(1, sizeof(*d));
    d->sample = calloc(DCAP, sizeof(*d->sample));
    d->location = calloc(DCAP, sizeof(*d->location));
    d->function = calloc(DCAP, sizeof(*d->function));
    d->string = calloc(DSTRINGS, sizeof(*d->string));
    ck_assert(d->sample && d->location && d->function && d->string);
    pb_t m = {buf, len, 0, 0}, sub;
    int f, w, rc;
    uint64_t v;
    while ((rc = pb_next(&m, &f, &w, &v, &sub)) == 1) {
        switch (f) {
        case 1:
            ck_assert_uint_lt(d->n_sample_type, 8);
            decode_value_type(&sub, d->sample_type[d->n_sample_type++]);
            break;
        case 2:
            ck_assert_uint_lt(d->n_sample, DCAP);
            decode_sample(&sub, &d->sample[d->n_sample++]);
            break;
        case 3:
            ck_assert_uint_lt(d->n_mapping, 8);
            decode_mapping(&sub, &d->mapping[d->n_mapping++]);
            break;
        case 4:
            ck_assert_uint_lt(d->n_location, DCAP);
            decode_location(&sub, &d->location[d->n_location++]);
            break;
        case 5:
            ck_assert_uint_lt(d->n_function, DCAP);
            decode_function(&sub, &d->function[d->n_function++]);
            break;
        case 6:
            ck_assert_int_eq(w, 2);
            ck_assert_uint_lt(d->n_string, DSTRINGS);
            d->string[d->n_string++] = strndup((const char *)sub.p, sub.len);
            break;
        case 7: d->drop_frames = (int64_t)v; break;
        case 8: d->keep_frames = (int64_t)v; break;
        case 9: d->time_nanos = (int64_t)v; break;
        case 10: d->duration_nanos = (int64_t)v; break;
        case 11:
            d->has_period_type = 1;
            decode_value_type(&sub, d->period_type);
            break;
        case 12: d->period = (int64_t)v; break;
        case 13: pb_repeated(w, v, &sub, d->comment, &d->n_comment, 8); break;
        case 14: d->default_sample_type = (int64_t)v; break;
        default: ck_abort_msg("profile field %d", f);
        }
    }
    ck_assert_int_eq(rc, 0);
    return d;
}

static void dprofile_free(dprofile_t *d)
{
    for (size_t i = 0; i < d->n_string; i++)
        free(d->string[i]);
    free(d->string);
    free(d->sample);
    free(d->location);
    free(d->function);
    free(d);
}

static const char *str_at(const dprofile_t *d, int64_t i)
{
    ck_assert(i >= 0 && (size_t)i < d->n_string);
    return d->string[i];
}

static dprofile_t *round_trip(hs_pprof_t *p)
{
    uint8_t *buf;
    size_t len;
    ck_assert_int_eq(hs_pprof_serialize(p, &buf, &len), 0);
    dprofile_t *d = decode_profile(buf, len);
    free(buf);
    return d;
}

/* ---- tests ---- */

START_TEST(varints_at_their_edges)
{
    static const struct {
        uint64_t v;
        size_t n;
        uint8_t bytes[10];
    } cases[] = {
        {0, 1, {0x00}},
        {1, 1, {0x01}},
        {127, 1, {0x7f}},
        {128, 2, {0x80, 0x01}},
        {300, 2, {0xac, 0x02}},
        {16383, 2, {0xff, 0x7f}},
        {16384, 3, {0x80, 0x80, 0x01}},
        {UINT32_MAX, 5, {0xff, 0xff, 0xff, 0xff, 0x0f}},
        {(uint64_t)1 << 63, 10, {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}},
        {UINT64_MAX, 10, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t out[12];
        memset(out, 0xee, sizeof(out));
        size_t n = hs_pprof_put_varint(out, cases[i].v);
        ck_assert_msg(n == cases[i].n, "%llu: %zu bytes", (unsigned long long)cases[i].v, n);
        ck_assert_mem_eq(out, cases[i].bytes, n);
        ck_assert_uint_eq(out[n], 0xee);
    }
    /* int64 -1 is the 10-byte two's complement, as protobuf's int64. */
    uint8_t out[10];
    ck_assert_uint_eq(hs_pprof_put_varint(out, (uint64_t)(int64_t)-1), 10);
    ck_assert_uint_eq(hs_pprof_put_varint(out, (uint64_t)INT64_MIN), 10);
    /* Every power of two and its neighbours decode back. */
    for (int b = 0; b < 64; b++) {
        for (int delta = -1; delta <= 1; delta++) {
            uint64_t v = ((uint64_t)1 << b) + (uint64_t)(int64_t)delta;
            size_t n = hs_pprof_put_varint(out, v);
            pb_t d = {out, n, 0, 0};
            ck_assert_uint_eq(pb_varint(&d), v);
            ck_assert(!d.err && d.off == n);
        }
    }
}
END_TEST

START_TEST(strings_are_interned_once)
{
    hs_pprof_t *p = hs_pprof_new();
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(hs_pprof_string(p, ""), 0);
    ck_assert_int_eq(hs_pprof_string(p, NULL), 0);
    ck_assert_int_eq(hs_pprof_string(p, "alloc_space"), 1);
    ck_assert_int_eq(hs_pprof_string(p, "bytes"), 2);
    ck_assert_int_eq(hs_pprof_string(p, "alloc_space"), 1);
    /* Enough to rehash several times; indices stay stable. */
    char name[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof(name), "fn_%d", i);
        ck_assert_int_eq(hs_pprof_string(p, name), 3 + i);
    }
    for (int i = 4999; i >= 0; i--) {
        snprintf(name, sizeof(name), "fn_%d", i);
        ck_assert_int_eq(hs_pprof_string(p, name), 3 + i);
    }
    ck_assert_int_eq(hs_pprof_string(p, "bytes"), 2);
    dprofile_t *d = round_trip(p);
    ck_assert_uint_eq(d->n_string, 5003);
    ck_assert_str_eq(d->string[0], "");
    ck_assert_str_eq(d->string[1], "alloc_space");
    ck_assert_str_eq(d->string[5002], "fn_4999");
    dprofile_free(d);
    hs_pprof_free(p);
}
END_TEST

START_TEST(an_empty_profile_has_only_the_empty_string)
{
    hs_pprof_t *p = hs_pprof_new();
    uint8_t *buf;
    size_t len;
    ck_assert_int_eq(hs_pprof_serialize(p, &buf, &len), 0);
    /* string_table[0] = "": tag 6 length-delimited (0x32), length 0. */
    ck_assert_uint_eq(len, 2);
    ck_assert_uint_eq(buf[0], 0x32);
    ck_assert_uint_eq(buf[1], 0x00);
    free(buf);
    hs_pprof_free(p);
}
END_TEST

/* The Go heap shape, small: the same builder calls the analyzer makes. */
static hs_pprof_t *small_heap_profile(void)
{
    hs_pprof_t *p = hs_pprof_new();
    hs_pprof_sample_type(p, "alloc_objects", "count");
    hs_pprof_sample_type(p, "alloc_space", "bytes");
    hs_pprof_sample_type(p, "inuse_objects", "count");
    hs_pprof_sample_type(p, "inuse_space", "bytes");
    hs_pprof_period(p, "space", "bytes", 524288);
    hs_pprof_time(p, 1700000000123456789, 3000000000);
    hs_pprof_comment(p, "heapscope test");
    uint64_t exe =
        hs_pprof_mapping(p, 0x555555554000, 0x555555556000, 0x1000, "/usr/bin/demo", "abcdef0123", 1, 1, 1, 1);
    uint64_t libc = hs_pprof_mapping(p, 0x7ffff7c28000, 0x7ffff7dbd000, 0x28000, "/lib/libc.so.6", NULL, 0, 0, 0, 0);
    ck_assert_uint_eq(exe, 1);
    ck_assert_uint_eq(libc, 2);
    uint64_t f_leaf = hs_pprof_function(p, "remember_session", "remember_session", "/src/demo.c", 39);
    uint64_t f_inl = hs_pprof_function(p, "build_response", NULL, "/src/demo.c", 50);
    uint64_t f_main = hs_pprof_function(p, "worker", "worker", "/src/demo.c", 58);
    ck_assert_uint_eq(hs_pprof_function(p, "remember_session", "remember_session", "/src/demo.c", 39), f_leaf);
    ck_assert_uint_eq(hs_pprof_function(p, "remember_session", "remember_session", "/src/demo.c", 40), 4);
    hs_pprof_line_t l1[] = {{f_leaf, 41}};
    hs_pprof_line_t l2[] = {{f_inl, 53}, {f_main, 65}}; /* build_response inlined into worker */
    uint64_t loc1 = hs_pprof_location(p, exe, 0x555555555233, l1, 1);
    uint64_t loc2 = hs_pprof_location(p, exe, 0x555555555300, l2, 2);
    uint64_t loc3 = hs_pprof_location(p, libc, 0x7ffff7c94ac1, NULL, 0);
    ck_assert_uint_eq(loc1, 1);
    ck_assert_uint_eq(loc2, 2);
    ck_assert_uint_eq(loc3, 3);
    uint64_t stack1[] = {loc1, loc2, loc3};
    int64_t v1[] = {4000, 960000, 3000, 720000};
    hs_pprof_label_t lab1[] = {{"bytes", NULL, 240, NULL}};
    ck_assert_int_eq(hs_pprof_sample(p, stack1, 3, v1, 4, lab1, 1), 0);
    uint64_t stack2[] = {loc2, loc3};
    int64_t v2[] = {1, -2, 0, 1};
    hs_pprof_label_t lab2[] = {{"bytes", NULL, 536, "bytes"}, {"thread", "worker-1", 0, NULL}};
    ck_assert_int_eq(hs_pprof_sample(p, stack2, 2, v2, 4, lab2, 2), 0);
    return p;
}

START_TEST(a_small_profile_round_trips)
{
    hs_pprof_t *p = small_heap_profile();
    ck_assert_ptr_null(hs_pprof_error(p));
    dprofile_t *d = round_trip(p);

    ck_assert_str_eq(d->string[0], "");
    static const char *types[][2] = {
        {"alloc_objects", "count"}, {"alloc_space", "bytes"}, {"inuse_objects", "count"}, {"inuse_space", "bytes"}};
    ck_assert_uint_eq(d->n_sample_type, 4);
    for (size_t i = 0; i < 4; i++) {
        ck_assert_str_eq(str_at(d, d->sample_type[i][0]), types[i][0]);
        ck_assert_str_eq(str_at(d, d->sample_type[i][1]), types[i][1]);
    }
    ck_assert(d->has_period_type);
    ck_assert_str_eq(str_at(d, d->period_type[0]), "space");
    ck_assert_str_eq(str_at(d, d->period_type[1]), "bytes");
    ck_assert_int_eq(d->period, 524288);
    ck_assert_int_eq(d->time_nanos, 1700000000123456789);
    ck_assert_int_eq(d->duration_nanos, 3000000000);
    ck_assert_int_eq(d->default_sample_type, 0);
    ck_assert_uint_eq(d->n_comment, 1);
    ck_assert_str_eq(str_at(d, (int64_t)d->comment[0]), "heapscope test");

    ck_assert_uint_eq(d->n_mapping, 2);
    const dmapping_t *m = &d->mapping[0];
    ck_assert_uint_eq(m->id, 1);
    ck_assert_uint_eq(m->start, 0x555555554000);
    ck_assert_uint_eq(m->limit, 0x555555556000);
    ck_assert_uint_eq(m->offset, 0x1000);
    ck_assert_str_eq(str_at(d, m->filename), "/usr/bin/demo");
    ck_assert_str_eq(str_at(d, m->build_id), "abcdef0123");
    ck_assert(m->has[0] && m->has[1] && m->has[2] && m->has[3]);
    m = &d->mapping[1];
    ck_assert_uint_eq(m->id, 2);
    ck_assert_uint_eq(m->offset, 0x28000);
    ck_assert_str_eq(str_at(d, m->filename), "/lib/libc.so.6");
    ck_assert_int_eq(m->build_id, 0);
    ck_assert(!m->has[0] && !m->has[1] && !m->has[2] && !m->has[3]);

    ck_assert_uint_eq(d->n_function, 4);
    ck_assert_uint_eq(d->function[0].id, 1);
    ck_assert_str_eq(str_at(d, d->function[0].name), "remember_session");
    ck_assert_str_eq(str_at(d, d->function[0].system_name), "remember_session");
    ck_assert_str_eq(str_at(d, d->function[0].filename), "/src/demo.c");
    ck_assert_int_eq(d->function[0].start_line, 39);
    ck_assert_str_eq(str_at(d, d->function[1].name), "build_response");
    ck_assert_int_eq(d->function[1].system_name, 0);
    ck_assert_uint_eq(d->function[3].id, 4);
    ck_assert_int_eq(d->function[3].start_line, 40);

    ck_assert_uint_eq(d->n_location, 3);
    const dlocation_t *l = &d->location[1];
    ck_assert_uint_eq(l->id, 2);
    ck_assert_uint_eq(l->mapping_id, 1);
    ck_assert_uint_eq(l->address, 0x555555555300);
    ck_assert_uint_eq(l->n_line, 2);
    ck_assert_uint_eq(l->line[0].function_id, 2);
    ck_assert_int_eq(l->line[0].line, 53);
    ck_assert_uint_eq(l->line[1].function_id, 3);
    ck_assert_int_eq(l->line[1].line, 65);
    ck_assert_uint_eq(d->location[2].mapping_id, 2);
    ck_assert_uint_eq(d->location[2].address, 0x7ffff7c94ac1);
    ck_assert_uint_eq(d->location[2].n_line, 0);

    ck_assert_uint_eq(d->n_sample, 2);
    const dsample_t *s = &d->sample[0];
    ck_assert_uint_eq(s->n_loc, 3);
    ck_assert_uint_eq(s->loc[0], 1);
    ck_assert_uint_eq(s->loc[2], 3);
    ck_assert_uint_eq(s->n_val, 4);
    ck_assert_uint_eq(s->val[1], 960000);
    ck_assert_uint_eq(s->val[3], 720000);
    ck_assert_uint_eq(s->n_label, 1);
    ck_assert_str_eq(str_at(d, s->label[0].key), "bytes");
    ck_assert_int_eq(s->label[0].str, 0);
    ck_assert_int_eq(s->label[0].num, 240);
    s = &d->sample[1];
    ck_assert_uint_eq(s->n_loc, 2);
    ck_assert_int_eq((int64_t)s->val[1], -2);
    ck_assert_uint_eq(s->val[2], 0); /* zeros inside a repeated field are kept */
    ck_assert_uint_eq(s->n_label, 2);
    ck_assert_str_eq(str_at(d, s->label[0].num_unit), "bytes");
    ck_assert_str_eq(str_at(d, s->label[1].key), "thread");
    ck_assert_str_eq(str_at(d, s->label[1].str), "worker-1");
    ck_assert_int_eq(s->label[1].num, 0);

    /* Every string is stored once. */
    for (size_t i = 0; i < d->n_string; i++)
        for (size_t j = i + 1; j < d->n_string; j++)
            ck_assert_str_ne(d->string[i], d->string[j]);
    dprofile_free(d);
    hs_pprof_free(p);
}
END_TEST

/* The bytes of the first Sample member (tag 0x12) in a serialized profile. */
static size_t first_sample_bytes(hs_pprof_t *p, uint8_t *out, size_t cap)
{
    uint8_t *buf;
    size_t len, n = 0;
    ck_assert_int_eq(hs_pprof_serialize(p, &buf, &len), 0);
    pb_t m = {buf, len, 0, 0}, sub;
    int f, w;
    uint64_t v;
    while (pb_next(&m, &f, &w, &v, &sub) == 1) {
        if (f == 2) {
            ck_assert_uint_le(sub.len, cap);
            memcpy(out, sub.p, sub.len);
            n = sub.len;
            break;
        }
    }
    free(buf);
    return n;
}

START_TEST(repeated_scalars_are_packed_past_two)
{
    hs_pprof_t *p = hs_pprof_new();
    hs_pprof_sample_type(p, "a", "count");
    hs_pprof_sample_type(p, "b", "bytes");
    uint64_t f = hs_pprof_function(p, "f", NULL, NULL, 0);
    hs_pprof_line_t line = {f, 1};
    for (int i = 0; i < 3; i++)
        hs_pprof_location(p, 0, 0x1000 + (uint64_t)i, &line, 1);
    uint64_t two[] = {1, 2};
    int64_t vals[] = {5, 300};
    ck_assert_int_eq(hs_pprof_sample(p, two, 2, vals, 2, NULL, 0), 0);
    uint8_t got[64];
    size_t n = first_sample_bytes(p, got, sizeof(got));
    /* Two of each: unpacked, one tag per value. */
    static const uint8_t unpacked[] = {0x08, 1, 0x08, 2, 0x10, 5, 0x10, 0xac, 0x02};
    ck_assert_uint_eq(n, sizeof(unpacked));
    ck_assert_mem_eq(got, unpacked, n);
    hs_pprof_free(p);

    p = hs_pprof_new();
    hs_pprof_sample_type(p, "a", "count");
    hs_pprof_sample_type(p, "b", "bytes");
    hs_pprof_sample_type(p, "c", "bytes");
    f = hs_pprof_function(p, "f", NULL, NULL, 0);
    for (int i = 0; i < 3; i++)
        hs_pprof_location(p, 0, 0x1000 + (uint64_t)i, &line, 1);
    uint64_t three[] = {3, 1, 2};
    int64_t vals3[] = {5, 300, -1};
    ck_assert_int_eq(hs_pprof_sample(p, three, 3, vals3, 3, NULL, 0), 0);
    n = first_sample_bytes(p, got, sizeof(got));
    /* Three: one length-delimited field each (wire type 2). */
    static const uint8_t packed[] = {0x0a, 3,    3,    1,    2,    0x12, 13,   5,    0xac, 0x02,
                                     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    ck_assert_uint_eq(n, sizeof(packed));
    ck_assert_mem_eq(got, packed, n);
    dprofile_t *d = round_trip(p);
    ck_assert_uint_eq(d->sample[0].n_loc, 3);
    ck_assert_uint_eq(d->sample[0].loc[0], 3);
    ck_assert_int_eq((int64_t)d->sample[0].val[2], -1);
    dprofile_free(d);
    hs_pprof_free(p);
}
END_TEST

START_TEST(references_and_value_counts_are_validated)
{
    hs_pprof_t *p = hs_pprof_new();
    hs_pprof_sample_type(p, "alloc_objects", "count");
    hs_pprof_sample_type(p, "alloc_space", "bytes");
    ck_assert_ptr_null(hs_pprof_error(p));
    uint64_t f = hs_pprof_function(p, "f", NULL, NULL, 0);
    hs_pprof_line_t good = {f, 3}, bad = {f + 1, 3}, zero = {0, 3};
    errno = 0;
    ck_assert_uint_eq(hs_pprof_location(p, 1, 0x10, &good, 1), 0); /* no mapping 1 yet */
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_str_eq(hs_pprof_error(p), "location: mapping id does not resolve");
    ck_assert_uint_eq(hs_pprof_location(p, 0, 0x10, &bad, 1), 0);
    ck_assert_str_eq(hs_pprof_error(p), "location: function id does not resolve");
    ck_assert_uint_eq(hs_pprof_location(p, 0, 0x10, &zero, 1), 0);
    uint64_t loc = hs_pprof_location(p, 0, 0x10, &good, 1);
    ck_assert_uint_eq(loc, 1); /* refused calls used no ids */

    int64_t one[] = {1}, two[] = {1, 64}, three[] = {1, 64, 9};
    uint64_t stack[] = {loc}, dangling[] = {loc, 2}, null_id[] = {0};
    errno = 0;
    ck_assert_int_eq(hs_pprof_sample(p, stack, 1, one, 1, NULL, 0), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_str_eq(hs_pprof_error(p), "sample: value count differs from the number of sample types");
    ck_assert_int_eq(hs_pprof_sample(p, stack, 1, three, 3, NULL, 0), -1);
    ck_assert_int_eq(hs_pprof_sample(p, dangling, 2, two, 2, NULL, 0), -1);
    ck_assert_int_eq(hs_pprof_sample(p, null_id, 1, two, 2, NULL, 0), -1);
    hs_pprof_label_t nokey = {NULL, "x", 0, NULL};
    ck_assert_int_eq(hs_pprof_sample(p, stack, 1, two, 2, &nokey, 1), -1);
    ck_assert_str_eq(hs_pprof_error(p), "sample: label without a key");
    ck_assert_int_eq(hs_pprof_sample(p, stack, 1, two, 2, NULL, 0), 0);
    /* Refusals leave the profile usable. */
    dprofile_t *d = round_trip(p);
    ck_assert_uint_eq(d->n_sample, 1);
    ck_assert_uint_eq(d->n_location, 1);
    dprofile_free(d);

    /* A sample type after samples would misalign every value: fatal. */
    hs_pprof_sample_type(p, "inuse_space", "bytes");
    ck_assert_str_eq(hs_pprof_error(p), "sample type added after samples");
    uint8_t *buf;
    size_t len;
    errno = 0;
    ck_assert_int_eq(hs_pprof_serialize(p, &buf, &len), -1);
    ck_assert_int_eq(errno, EINVAL);
    char err[128] = "";
    ck_assert_int_eq(hs_pprof_write_gz(p, -1, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "sample type added after samples") != NULL, "%s", err);
    hs_pprof_free(p);
}
END_TEST

/* Reads all of fd from offset 0. */
static uint8_t *slurp(int fd, size_t *len)
{
    off_t end = lseek(fd, 0, SEEK_END);
    ck_assert(end >= 0);
    uint8_t *buf = malloc((size_t)end + 1);
    ck_assert_int_eq(pread(fd, buf, (size_t)end, 0), end);
    *len = (size_t)end;
    return buf;
}

static uint8_t *gunzip(const uint8_t *gz, size_t gz_len, size_t *len)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    ck_assert_int_eq(inflateInit2(&z, 15 + 16), Z_OK); /* gzip only, not zlib */
    size_t cap = 1 << 16, n = 0;
    uint8_t *out = malloc(cap);
    z.next_in = (Bytef *)(uintptr_t)gz;
    z.avail_in = (uInt)gz_len;
    int rc;
    do {
        if (n == cap)
            out = realloc(out, cap *= 2);
        z.next_out = out + n;
        z.avail_out = (uInt)(cap - n);
        rc = inflate(&z, Z_NO_FLUSH);
        ck_assert_msg(rc == Z_OK || rc == Z_STREAM_END, "inflate %d", rc);
        n = cap - z.avail_out;
    } while (rc != Z_STREAM_END);
    ck_assert_uint_eq(z.avail_in, 0); /* one member, nothing trailing */
    inflateEnd(&z);
    *len = n;
    return out;
}

START_TEST(gzip_output_inflates_to_the_serialized_bytes)
{
    hs_pprof_t *p = small_heap_profile();
    /* Enough samples that the deflate stream spans several output buffers. */
    char name[40];
    uint64_t prev = 0;
    for (int i = 0; i < 20000; i++) {
        snprintf(name, sizeof(name), "function_%d", i);
        uint64_t f = hs_pprof_function(p, name, name, "/src/gen.c", i);
        hs_pprof_line_t line = {f, i + 1};
        uint64_t loc = hs_pprof_location(p, 1, 0x555555554000 + (uint64_t)i * 16, &line, 1);
        uint64_t stack[] = {loc, prev ? prev : loc, 1};
        int64_t v[] = {i, (int64_t)i * 4096, i / 2, (int64_t)i * 2048};
        hs_pprof_label_t lab = {"bytes", NULL, 4096, NULL};
        ck_assert_int_eq(hs_pprof_sample(p, stack, 3, v, 4, &lab, 1), 0);
        prev = loc;
    }
    uint8_t *raw;
    size_t raw_len;
    ck_assert_int_eq(hs_pprof_serialize(p, &raw, &raw_len), 0);
    ck_assert_uint_gt(raw_len, 1 << 20);

    FILE *tmp = tmpfile();
    ck_assert_ptr_nonnull(tmp);
    char err[128] = "";
    ck_assert_msg(hs_pprof_write_gz(p, fileno(tmp), err, sizeof(err)) == 0, "%s", err);
    size_t gz_len, out_len;
    uint8_t *gz = slurp(fileno(tmp), &gz_len);
    ck_assert_uint_eq(gz[0], 0x1f); /* gzip magic, deflate */
    ck_assert_uint_eq(gz[1], 0x8b);
    ck_assert_uint_eq(gz[2], 8);
    ck_assert_uint_lt(gz_len, raw_len);
    uint8_t *out = gunzip(gz, gz_len, &out_len);
    ck_assert_uint_eq(out_len, raw_len);
    ck_assert(memcmp(out, raw, raw_len) == 0);

    dprofile_t *d = decode_profile(out, out_len);
    ck_assert_uint_eq(d->n_sample, 20002);
    ck_assert_uint_eq(d->n_location, 20003);
    ck_assert_uint_eq(d->n_function, 20004);
    ck_assert_str_eq(str_at(d, d->function[20003].name), "function_19999");
    ck_assert_int_eq(d->function[20003].start_line, 19999);
    ck_assert_uint_eq(d->sample[20001].val[3], (uint64_t)19999 * 2048);
    dprofile_free(d);
    free(out);
    free(gz);
    free(raw);
    fclose(tmp);

    /* A descriptor that cannot be written: -1, errno and a message. */
    errno = 0;
    ck_assert_int_eq(hs_pprof_write_gz(p, -1, err, sizeof(err)), -1);
    ck_assert_int_eq(errno, EBADF);
    ck_assert_msg(strstr(err, "write") != NULL, "%s", err);
    hs_pprof_free(p);
}
END_TEST

START_TEST(default_sample_type_is_written_when_set)
{
    hs_pprof_t *p = hs_pprof_new();
    hs_pprof_sample_type(p, "alloc_objects", "count");
    hs_pprof_sample_type(p, "alloc_space", "bytes");
    hs_pprof_default_sample_type(p, "alloc_space");
    for (int i = 0; i < 3; i++)
        hs_pprof_comment(p, i == 1 ? "second" : "other");
    dprofile_t *d = round_trip(p);
    ck_assert_str_eq(str_at(d, d->default_sample_type), "alloc_space");
    ck_assert_int_eq(d->default_sample_type, d->sample_type[1][0]);
    ck_assert_uint_eq(d->n_comment, 3); /* packed: three values */
    ck_assert_str_eq(str_at(d, (int64_t)d->comment[1]), "second");
    ck_assert_uint_eq(d->comment[0], d->comment[2]);
    dprofile_free(d);
    hs_pprof_free(p);
}
END_TEST

START_TEST(drop_and_keep_frames_are_written_when_set)
{
    hs_pprof_t *p = hs_pprof_new();
    hs_pprof_sample_type(p, "inuse_space", "bytes");
    dprofile_t *d = round_trip(p);
    ck_assert_int_eq(d->drop_frames, 0); /* unset: absent */
    ck_assert_int_eq(d->keep_frames, 0);
    dprofile_free(d);
    hs_pprof_set_drop_frames(p, "(malloc|xmalloc)", NULL);
    d = round_trip(p);
    ck_assert_str_eq(str_at(d, d->drop_frames), "(malloc|xmalloc)");
    ck_assert_int_eq(d->keep_frames, 0);
    dprofile_free(d);
    hs_pprof_set_drop_frames(p, "zmalloc", "zmalloc_keep"); /* replaces */
    d = round_trip(p);
    ck_assert_str_eq(str_at(d, d->drop_frames), "zmalloc");
    ck_assert_str_eq(str_at(d, d->keep_frames), "zmalloc_keep");
    dprofile_free(d);
    hs_pprof_free(p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pprof");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, varints_at_their_edges);
    tcase_add_test(tc, strings_are_interned_once);
    tcase_add_test(tc, an_empty_profile_has_only_the_empty_string);
    tcase_add_test(tc, a_small_profile_round_trips);
    tcase_add_test(tc, repeated_scalars_are_packed_past_two);
    tcase_add_test(tc, references_and_value_counts_are_validated);
    tcase_add_test(tc, gzip_output_inflates_to_the_serialized_bytes);
    tcase_add_test(tc, default_sample_type_is_written_when_set);
    tcase_add_test(tc, drop_and_keep_frames_are_written_when_set);
    suite_add_tcase(s, tc);
    return hs_run_suite(s);
}
