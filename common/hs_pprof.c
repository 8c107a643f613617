/* hs_pprof.c - owns the profile.proto wire encoding (field numbers in
 * common/profile.proto and ../shared/PPROF.md). Repeated Profile members are
 * encoded into per-kind byte buffers the moment they are added, already
 * framed with their Profile tag, so serializing is concatenation: the whole
 * profile never exists twice in memory. Only the string table and the few
 * scalar fields are encoded at the end. Neighbours: the analyzer's pprof
 * command and the interposer's live service (on its own thread, where
 * malloc is safe) feed it; nothing here knows about dumps. No zlib here: the
 * CLI's gzip sink is hs_pprof_gz.c, so the library links this file alone. */
#include "hs_pprof.h"
#include "hs_pprof_emit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Field numbers; see common/profile.proto. */
enum {
    PROFILE_SAMPLE_TYPE = 1,
    PROFILE_SAMPLE = 2,
    PROFILE_MAPPING = 3,
    PROFILE_LOCATION = 4,
    PROFILE_FUNCTION = 5,
    PROFILE_STRING_TABLE = 6,
    PROFILE_DROP_FRAMES = 7,
    PROFILE_KEEP_FRAMES = 8,
    PROFILE_TIME_NANOS = 9,
    PROFILE_DURATION_NANOS = 10,
    PROFILE_PERIOD_TYPE = 11,
    PROFILE_PERIOD = 12,
    PROFILE_COMMENT = 13,
    PROFILE_DEFAULT_SAMPLE_TYPE = 14,
    VALUE_TYPE_TYPE = 1,
    VALUE_TYPE_UNIT = 2,
    SAMPLE_LOCATION_ID = 1,
    SAMPLE_VALUE = 2,
    SAMPLE_LABEL = 3,
    LABEL_KEY = 1,
    LABEL_STR = 2,
    LABEL_NUM = 3,
    LABEL_NUM_UNIT = 4,
    MAPPING_ID = 1,
    MAPPING_MEMORY_START = 2,
    MAPPING_MEMORY_LIMIT = 3,
    MAPPING_FILE_OFFSET = 4,
    MAPPING_FILENAME = 5,
    MAPPING_BUILD_ID = 6,
    MAPPING_HAS_FUNCTIONS = 7,
    MAPPING_HAS_FILENAMES = 8,
    MAPPING_HAS_LINE_NUMBERS = 9,
    MAPPING_HAS_INLINE_FRAMES = 10,
    LOCATION_ID = 1,
    LOCATION_MAPPING_ID = 2,
    LOCATION_ADDRESS = 3,
    LOCATION_LINE = 4,
    LINE_FUNCTION_ID = 1,
    LINE_LINE = 2,
    FUNCTION_ID = 1,
    FUNCTION_NAME = 2,
    FUNCTION_SYSTEM_NAME = 3,
    FUNCTION_FILENAME = 4,
    FUNCTION_START_LINE = 5,
};

enum { WIRE_VARINT = 0, WIRE_LEN = 2 };

/* A growable byte buffer. failed is sticky until the buffer is reset, so a
 * run of appends needs one check at the end. */
typedef struct {
    uint8_t *data;
    size_t len, cap;
    int failed;
} buf_t;

typedef struct {
    int64_t name, system_name, filename, start_line;
} function_key_t;

struct hs_pprof {
    char **strings; /* the string table; strings[0] = "" */
    size_t n_strings, strings_cap;
    uint32_t *string_slots; /* open addressing: 0 = empty, else index + 1 */
    size_t string_slots_cap;

    int64_t (*sample_types)[2]; /* type, unit */
    size_t n_sample_types, sample_types_cap;
    int64_t period_type[2], period, time_nanos, duration_nanos, default_sample_type;
    int64_t drop_frames, keep_frames; /* string indices, 0 = unset */
    int has_period_type;
    int64_t *comments;
    size_t n_comments, comments_cap;

    /* Encoded Profile members, each framed with its Profile tag and length. */
    buf_t samples, mappings, locations, functions;
    buf_t scratch; /* the message being encoded */
    uint64_t n_samples, n_mappings, n_locations, n_functions;

    function_key_t *function_keys; /* function id - 1 -> key */
    size_t function_keys_cap;
    uint32_t *function_slots; /* open addressing: 0 = empty, else id */
    size_t function_slots_cap;

    const char *error;   /* first fatal error, sticky */
    int error_errno;     /* what serializing reports for it */
    const char *refusal; /* why the last refused call was refused */
};

/* ---- growth helpers ---- */

/* Ensures *arr has room for need elements of size elem; doubles capacity. */
static int array_reserve(void *arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : 16;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2)
            return -1;
        ncap *= 2;
    }
    if (ncap > SIZE_MAX / elem)
        return -1;
    void *n = realloc(*(void **)arr, ncap * elem);
    if (!n)
        return -1;
    *(void **)arr = n;
    *cap = ncap;
    return 0;
}

static int buf_reserve(buf_t *b, size_t extra)
{
    if (b->failed)
        return -1;
    if (extra > SIZE_MAX - b->len || array_reserve(&b->data, &b->cap, b->len + extra, 1) != 0) {
        b->failed = 1;
        return -1;
    }
    return 0;
}

static void buf_append(buf_t *b, const void *data, size_t n)
{
    if (n == 0 || buf_reserve(b, n) != 0)
        return;
    memcpy(b->data + b->len, data, n);
    b->len += n;
}

static void buf_reset(buf_t *b)
{
    b->len = 0;
    b->failed = 0;
}

/* ---- wire encoding ---- */

size_t hs_pprof_put_varint(uint8_t *out, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        out[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

static size_t varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static void put_varint(buf_t *b, uint64_t v)
{
    uint8_t tmp[10];
    buf_append(b, tmp, hs_pprof_put_varint(tmp, v));
}

static void put_tag(buf_t *b, int field, int wire) { put_varint(b, (uint64_t)field << 3 | (uint64_t)wire); }

static void put_uint(buf_t *b, int field, uint64_t v)
{
    put_tag(b, field, WIRE_VARINT);
    put_varint(b, v);
}

/* proto3 scalars at their default (0) are omitted, as Go's encoder does. */
static void put_uint_opt(buf_t *b, int field, uint64_t v)
{
    if (v != 0)
        put_uint(b, field, v);
}

static void put_int_opt(buf_t *b, int field, int64_t v) { put_uint_opt(b, field, (uint64_t)v); }

static void put_len_prefixed(buf_t *b, int field, const void *data, size_t n)
{
    put_tag(b, field, WIRE_LEN);
    put_varint(b, n);
    buf_append(b, data, n);
}

/* Repeated varints, packed when there are more than two (Go's rule: a packed
 * pair costs as much as two tagged values). int64 values are passed as their
 * uint64 bit patterns, which is what the wire carries. */
static void put_repeated(buf_t *b, int field, const uint64_t *v, size_t n)
{
    if (n <= 2) {
        for (size_t i = 0; i < n; i++)
            put_uint(b, field, v[i]);
        return;
    }
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += varint_size(v[i]);
    put_tag(b, field, WIRE_LEN);
    put_varint(b, bytes);
    for (size_t i = 0; i < n; i++)
        put_varint(b, v[i]);
}

/* Appends the message in p->scratch to dst framed as Profile field `field`.
 * All or nothing: on failure dst is unchanged. */
static int commit_scratch(hs_pprof_t *p, buf_t *dst, int field)
{
    if (p->scratch.failed)
        return -1;
    uint8_t head[20];
    size_t h = hs_pprof_put_varint(head, (uint64_t)field << 3 | WIRE_LEN);
    h += hs_pprof_put_varint(head + h, p->scratch.len);
    if (buf_reserve(dst, h + p->scratch.len) != 0) {
        dst->failed = 0; /* nothing was written: dst stays valid */
        return -1;
    }
    memcpy(dst->data + dst->len, head, h);
    memcpy(dst->data + dst->len + h, p->scratch.data, p->scratch.len);
    dst->len += h + p->scratch.len;
    return 0;
}

/* A call refused for bad arguments: the profile stays usable. */
static int refuse(hs_pprof_t *p, const char *why)
{
    p->refusal = why;
    errno = EINVAL;
    return -1;
}

static void set_error(hs_pprof_t *p, const char *msg, int err)
{
    if (!p->error) {
        p->error = msg;
        p->error_errno = err;
    }
}

/* ---- string table ---- */

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)s[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h;
}

/* Rebuilds an open-addressing table of ids (1-based) at twice the size. */
static int slots_grow(uint32_t **slots, size_t *cap, uint64_t (*hash_of)(const hs_pprof_t *, uint32_t),
                      const hs_pprof_t *p)
{
    size_t ncap = *cap ? *cap * 2 : 64;
    uint32_t *n = calloc(ncap, sizeof(*n));
    if (!n)
        return -1;
    for (size_t i = 0; i < *cap; i++) {
        uint32_t id = (*slots)[i];
        if (!id)
            continue;
        size_t j = (size_t)hash_of(p, id) & (ncap - 1);
        while (n[j])
            j = (j + 1) & (ncap - 1);
        n[j] = id;
    }
    free(*slots);
    *slots = n;
    *cap = ncap;
    return 0;
}

static uint64_t string_hash_of(const hs_pprof_t *p, uint32_t id)
{
    const char *s = p->strings[id - 1];
    return hash_bytes(s, strlen(s));
}

int64_t hs_pprof_string(hs_pprof_t *p, const char *s)
{
    if (!s || !*s)
        return 0;
    /* Keep the load factor under 1/2 so probe runs stay short. */
    if ((p->n_strings + 1) * 2 > p->string_slots_cap &&
        slots_grow(&p->string_slots, &p->string_slots_cap, string_hash_of, p) != 0)
        goto oom;
    size_t n = strlen(s), mask = p->string_slots_cap - 1;
    size_t j = (size_t)hash_bytes(s, n) & mask;
    for (; p->string_slots[j]; j = (j + 1) & mask) {
        uint32_t id = p->string_slots[j];
        if (strcmp(p->strings[id - 1], s) == 0)
            return (int64_t)id - 1;
    }
    if (p->n_strings >= UINT32_MAX - 1 || array_reserve(&p->strings, &p->strings_cap, p->n_strings + 1, sizeof(char *)))
        goto oom;
    char *copy = malloc(n + 1);
    if (!copy)
        goto oom;
    memcpy(copy, s, n + 1);
    p->strings[p->n_strings++] = copy;
    p->string_slots[j] = (uint32_t)p->n_strings;
    return (int64_t)p->n_strings - 1;
oom:
    set_error(p, "out of memory", ENOMEM);
    return -1;
}

/* hs_pprof_string for fields whose failure is recorded in p->error. */
static uint64_t intern(hs_pprof_t *p, const char *s)
{
    int64_t i = hs_pprof_string(p, s);
    return i < 0 ? 0 : (uint64_t)i;
}

/* ---- lifecycle and scalar fields ---- */

hs_pprof_t *hs_pprof_new(void)
{
    hs_pprof_t *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->strings = malloc(16 * sizeof(char *));
    char *empty = calloc(1, 1);
    if (!p->strings || !empty) {
        free(p->strings);
        free(empty);
        free(p);
        return NULL;
    }
    p->strings_cap = 16;
    p->strings[0] = empty; /* never in the hash: "" is answered before lookup */
    p->n_strings = 1;
    return p;
}

void hs_pprof_free(hs_pprof_t *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_strings; i++)
        free(p->strings[i]);
    free(p->strings);
    free(p->string_slots);
    free(p->sample_types);
    free(p->comments);
    free(p->samples.data);
    free(p->mappings.data);
    free(p->locations.data);
    free(p->functions.data);
    free(p->scratch.data);
    free(p->function_keys);
    free(p->function_slots);
    free(p);
}

void hs_pprof_sample_type(hs_pprof_t *p, const char *type, const char *unit)
{
    if (p->n_samples) {
        set_error(p, "sample type added after samples", EINVAL);
        return;
    }
    if (array_reserve(&p->sample_types, &p->sample_types_cap, p->n_sample_types + 1, sizeof(*p->sample_types))) {
        set_error(p, "out of memory", ENOMEM);
        return;
    }
    p->sample_types[p->n_sample_types][0] = (int64_t)intern(p, type);
    p->sample_types[p->n_sample_types][1] = (int64_t)intern(p, unit);
    p->n_sample_types++;
}

void hs_pprof_period(hs_pprof_t *p, const char *type, const char *unit, int64_t period)
{
    p->period_type[0] = (int64_t)intern(p, type);
    p->period_type[1] = (int64_t)intern(p, unit);
    p->has_period_type = 1;
    p->period = period;
}

void hs_pprof_time(hs_pprof_t *p, int64_t time_nanos, int64_t duration_nanos)
{
    p->time_nanos = time_nanos;
    p->duration_nanos = duration_nanos;
}

void hs_pprof_default_sample_type(hs_pprof_t *p, const char *type)
{
    p->default_sample_type = (int64_t)intern(p, type);
}

void hs_pprof_comment(hs_pprof_t *p, const char *text)
{
    if (array_reserve(&p->comments, &p->comments_cap, p->n_comments + 1, sizeof(*p->comments))) {
        set_error(p, "out of memory", ENOMEM);
        return;
    }
    p->comments[p->n_comments++] = (int64_t)intern(p, text);
}

void hs_pprof_set_drop_frames(hs_pprof_t *p, const char *drop, const char *keep)
{
    p->drop_frames = (int64_t)intern(p, drop);
    p->keep_frames = (int64_t)intern(p, keep);
}

const char *hs_pprof_error(const hs_pprof_t *p) { return p->error ? p->error : p->refusal; }

/* ---- mappings, functions, locations, samples ---- */

uint64_t hs_pprof_mapping(hs_pprof_t *p, uint64_t start, uint64_t limit, uint64_t offset, const char *filename,
                          const char *build_id, int has_functions, int has_filenames, int has_line_numbers,
                          int has_inline_frames)
{
    int64_t file = hs_pprof_string(p, filename), id = hs_pprof_string(p, build_id);
    if (file < 0 || id < 0)
        return 0;
    buf_t *b = &p->scratch;
    buf_reset(b);
    put_uint(b, MAPPING_ID, p->n_mappings + 1);
    put_uint_opt(b, MAPPING_MEMORY_START, start);
    put_uint_opt(b, MAPPING_MEMORY_LIMIT, limit);
    put_uint_opt(b, MAPPING_FILE_OFFSET, offset);
    put_int_opt(b, MAPPING_FILENAME, file);
    put_int_opt(b, MAPPING_BUILD_ID, id);
    put_uint_opt(b, MAPPING_HAS_FUNCTIONS, has_functions != 0);
    put_uint_opt(b, MAPPING_HAS_FILENAMES, has_filenames != 0);
    put_uint_opt(b, MAPPING_HAS_LINE_NUMBERS, has_line_numbers != 0);
    put_uint_opt(b, MAPPING_HAS_INLINE_FRAMES, has_inline_frames != 0);
    if (commit_scratch(p, &p->mappings, PROFILE_MAPPING) != 0) {
        set_error(p, "out of memory", ENOMEM);
        return 0;
    }
    return ++p->n_mappings;
}

static uint64_t function_hash(const function_key_t *k)
{
    uint64_t h = mix(0, (uint64_t)k->name);
    h = mix(h, (uint64_t)k->system_name);
    h = mix(h, (uint64_t)k->filename);
    return mix(h, (uint64_t)k->start_line) * 0x9e3779b97f4a7c15ull;
}

static uint64_t function_hash_of(const hs_pprof_t *p, uint32_t id) { return function_hash(&p->function_keys[id - 1]); }

uint64_t hs_pprof_function(hs_pprof_t *p, const char *name, const char *system_name, const char *filename,
                           int64_t start_line)
{
    int64_t n = hs_pprof_string(p, name), s = hs_pprof_string(p, system_name), f = hs_pprof_string(p, filename);
    if (n < 0 || s < 0 || f < 0)
        return 0;
    function_key_t key = {n, s, f, start_line};
    if ((p->n_functions + 1) * 2 > p->function_slots_cap &&
        slots_grow(&p->function_slots, &p->function_slots_cap, function_hash_of, p) != 0)
        goto oom;
    size_t mask = p->function_slots_cap - 1, j = (size_t)function_hash(&key) & mask;
    for (; p->function_slots[j]; j = (j + 1) & mask) {
        uint32_t id = p->function_slots[j];
        if (memcmp(&p->function_keys[id - 1], &key, sizeof(key)) == 0)
            return id;
    }
    if (p->n_functions >= UINT32_MAX - 1 ||
        array_reserve(&p->function_keys, &p->function_keys_cap, p->n_functions + 1, sizeof(key)))
        goto oom;
    buf_t *b = &p->scratch;
    buf_reset(b);
    put_uint(b, FUNCTION_ID, p->n_functions + 1);
    put_int_opt(b, FUNCTION_NAME, n);
    put_int_opt(b, FUNCTION_SYSTEM_NAME, s);
    put_int_opt(b, FUNCTION_FILENAME, f);
    put_int_opt(b, FUNCTION_START_LINE, start_line);
    if (commit_scratch(p, &p->functions, PROFILE_FUNCTION) != 0)
        goto oom;
    p->function_keys[p->n_functions++] = key;
    p->function_slots[j] = (uint32_t)p->n_functions;
    return p->n_functions;
oom:
    set_error(p, "out of memory", ENOMEM);
    return 0;
}

uint64_t hs_pprof_location(hs_pprof_t *p, uint64_t mapping_id, uint64_t address, const hs_pprof_line_t *lines,
                           size_t n_lines)
{
    if (mapping_id > p->n_mappings) {
        refuse(p, "location: mapping id does not resolve");
        return 0;
    }
    for (size_t i = 0; i < n_lines; i++) {
        if (lines[i].function_id == 0 || lines[i].function_id > p->n_functions) {
            refuse(p, "location: function id does not resolve");
            return 0;
        }
    }
    buf_t *b = &p->scratch;
    buf_reset(b);
    put_uint(b, LOCATION_ID, p->n_locations + 1);
    put_uint_opt(b, LOCATION_MAPPING_ID, mapping_id);
    put_uint_opt(b, LOCATION_ADDRESS, address);
    for (size_t i = 0; i < n_lines; i++) {
        uint8_t line[24]; /* two tagged varints: at most 2 * (1 + 10) bytes */
        size_t len = 0;
        if (lines[i].function_id) {
            line[len++] = LINE_FUNCTION_ID << 3 | WIRE_VARINT;
            len += hs_pprof_put_varint(line + len, lines[i].function_id);
        }
        if (lines[i].line) {
            line[len++] = LINE_LINE << 3 | WIRE_VARINT;
            len += hs_pprof_put_varint(line + len, (uint64_t)lines[i].line);
        }
        put_len_prefixed(b, LOCATION_LINE, line, len);
    }
    if (commit_scratch(p, &p->locations, PROFILE_LOCATION) != 0) {
        set_error(p, "out of memory", ENOMEM);
        errno = ENOMEM;
        return 0;
    }
    return ++p->n_locations;
}

int hs_pprof_sample(hs_pprof_t *p, const uint64_t *location_ids, size_t n_locations, const int64_t *values,
                    size_t n_values, const hs_pprof_label_t *labels, size_t n_labels)
{
    if (n_values != p->n_sample_types)
        return refuse(p, "sample: value count differs from the number of sample types");
    for (size_t i = 0; i < n_locations; i++)
        if (location_ids[i] == 0 || location_ids[i] > p->n_locations)
            return refuse(p, "sample: location id does not resolve");
    for (size_t i = 0; i < n_labels; i++)
        if (!labels[i].key || !*labels[i].key)
            return refuse(p, "sample: label without a key");
    buf_t *b = &p->scratch;
    buf_reset(b);
    put_repeated(b, SAMPLE_LOCATION_ID, location_ids, n_locations);
    /* int64_t and uint64_t may alias (C11 6.5p7); the wire carries the bit pattern. */
    put_repeated(b, SAMPLE_VALUE, (const uint64_t *)values, n_values);
    for (size_t i = 0; i < n_labels; i++) {
        int64_t key = hs_pprof_string(p, labels[i].key), str = hs_pprof_string(p, labels[i].str),
                unit = hs_pprof_string(p, labels[i].num_unit);
        if (key < 0 || str < 0 || unit < 0) {
            errno = ENOMEM;
            return -1;
        }
        uint8_t label[48]; /* four tagged varints: at most 4 * (1 + 10) bytes */
        size_t len = 0;
        label[len++] = LABEL_KEY << 3 | WIRE_VARINT;
        len += hs_pprof_put_varint(label + len, (uint64_t)key);
        if (str) {
            label[len++] = LABEL_STR << 3 | WIRE_VARINT;
            len += hs_pprof_put_varint(label + len, (uint64_t)str);
        }
        if (labels[i].num) {
            label[len++] = LABEL_NUM << 3 | WIRE_VARINT;
            len += hs_pprof_put_varint(label + len, (uint64_t)labels[i].num);
        }
        if (unit) {
            label[len++] = LABEL_NUM_UNIT << 3 | WIRE_VARINT;
            len += hs_pprof_put_varint(label + len, (uint64_t)unit);
        }
        put_len_prefixed(b, SAMPLE_LABEL, label, len);
    }
    if (commit_scratch(p, &p->samples, PROFILE_SAMPLE) != 0) {
        set_error(p, "out of memory", ENOMEM);
        errno = ENOMEM;
        return -1;
    }
    p->n_samples++;
    return 0;
}

/* ---- serialization ---- */

const char *hs_pprof_fatal_error(const hs_pprof_t *p) { return p->error; }

/* Where serialized bytes go: the caller's writer, or a memory buffer. */
typedef struct sink {
    hs_pprof_writer_t write;
    void *ctx;
    buf_t mem;
} sink_t;

static int sink_write(sink_t *s, const void *data, size_t n) { return s->write(s->ctx, data, n); }

/* Emits a small message built in p->scratch, framed as Profile field `field`. */
static int emit_scratch(hs_pprof_t *p, sink_t *s, int field)
{
    if (p->scratch.failed)
        return -1;
    uint8_t head[20];
    size_t h = hs_pprof_put_varint(head, (uint64_t)field << 3 | WIRE_LEN);
    h += hs_pprof_put_varint(head + h, p->scratch.len);
    if (sink_write(s, head, h) != 0)
        return -1;
    return sink_write(s, p->scratch.data, p->scratch.len);
}

static int emit_value_type(hs_pprof_t *p, sink_t *s, int field, const int64_t vt[2])
{
    buf_reset(&p->scratch);
    put_int_opt(&p->scratch, VALUE_TYPE_TYPE, vt[0]);
    put_int_opt(&p->scratch, VALUE_TYPE_UNIT, vt[1]);
    return emit_scratch(p, s, field);
}

/* The Profile in Go's field order: sample types, the pre-encoded members,
 * the string table, then the scalars. */
static int emit_profile(hs_pprof_t *p, sink_t *s)
{
    if (p->error) {
        errno = p->error_errno;
        return -1;
    }
    for (size_t i = 0; i < p->n_sample_types; i++)
        if (emit_value_type(p, s, PROFILE_SAMPLE_TYPE, p->sample_types[i]) != 0)
            return -1;
    const buf_t *members[] = {&p->samples, &p->mappings, &p->locations, &p->functions};
    for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++)
        if (members[i]->len && sink_write(s, members[i]->data, members[i]->len) != 0)
            return -1;
    for (size_t i = 0; i < p->n_strings; i++) {
        size_t n = strlen(p->strings[i]);
        uint8_t head[12];
        size_t h = hs_pprof_put_varint(head, PROFILE_STRING_TABLE << 3 | WIRE_LEN);
        h += hs_pprof_put_varint(head + h, n);
        if (sink_write(s, head, h) != 0 || (n && sink_write(s, p->strings[i], n) != 0))
            return -1;
    }
    buf_reset(&p->scratch);
    put_int_opt(&p->scratch, PROFILE_DROP_FRAMES, p->drop_frames);
    put_int_opt(&p->scratch, PROFILE_KEEP_FRAMES, p->keep_frames);
    put_int_opt(&p->scratch, PROFILE_TIME_NANOS, p->time_nanos);
    put_int_opt(&p->scratch, PROFILE_DURATION_NANOS, p->duration_nanos);
    if (p->scratch.failed || (p->scratch.len && sink_write(s, p->scratch.data, p->scratch.len) != 0))
        return -1;
    if (p->has_period_type && emit_value_type(p, s, PROFILE_PERIOD_TYPE, p->period_type) != 0)
        return -1;
    buf_reset(&p->scratch);
    put_int_opt(&p->scratch, PROFILE_PERIOD, p->period);
    put_repeated(&p->scratch, PROFILE_COMMENT, (const uint64_t *)p->comments, p->n_comments);
    put_int_opt(&p->scratch, PROFILE_DEFAULT_SAMPLE_TYPE, p->default_sample_type);
    if (p->scratch.failed || (p->scratch.len && sink_write(s, p->scratch.data, p->scratch.len) != 0))
        return -1;
    return 0;
}

static int mem_write(void *ctx, const void *data, size_t n)
{
    sink_t *s = ctx;
    buf_append(&s->mem, data, n);
    if (s->mem.failed) {
        errno = ENOMEM;
        return -1;
    }
    return 0;
}

int hs_pprof_serialize(hs_pprof_t *p, uint8_t **out, size_t *len)
{
    sink_t *s = calloc(1, sizeof(*s));
    if (!s) {
        errno = ENOMEM;
        return -1;
    }
    s->write = mem_write;
    s->ctx = s;
    int rc = emit_profile(p, s);
    if (rc == 0) {
        *out = s->mem.data;
        *len = s->mem.len;
        if (!*out && (*out = malloc(1)) == NULL) { /* an empty profile is zero bytes */
            errno = ENOMEM;
            rc = -1;
        }
    } else {
        if (!p->error)
            errno = ENOMEM; /* the only other way a memory sink fails */
        free(s->mem.data);
    }
    free(s);
    return rc;
}

int hs_pprof_emit(hs_pprof_t *p, hs_pprof_writer_t write, void *ctx)
{
    sink_t s = {.write = write, .ctx = ctx};
    int rc = emit_profile(p, &s);
    if (rc != 0 && !p->error && p->scratch.failed)
        errno = ENOMEM;
    return rc;
}
