/* hs_pprof.h - a streaming builder for google/pprof's profile.proto (the
 * schema is common/profile.proto; the facts are ../shared/PPROF.md). Each
 * mapping, function, location and sample is encoded as it is added, so the
 * builder holds about one output's worth of bytes; hs_pprof_write_gz then
 * streams those bytes through zlib to a descriptor (hs_pprof_gz.c, CLI
 * only). It uses malloc: the interposer builds profiles only where malloc
 * is safe and unrecorded (the live service's thread, the snapshot stack)
 * and compresses them itself (interposer/gzip.c), never with zlib.
 *
 * Ids are assigned 1, 2, 3, ... in call order; a reference to an id not yet
 * handed out is refused, so every id in the output resolves. Strings are
 * interned on the fly (NULL means ""). */
#ifndef HS_PPROF_H
#define HS_PPROF_H

#include <stddef.h>
#include <stdint.h>

typedef struct hs_pprof hs_pprof_t;

typedef struct {
    uint64_t function_id;
    int64_t line;
} hs_pprof_line_t;

/* A sample label: key, plus str for a string label or num (with an optional
 * num_unit such as "bytes") for a numeric one. NULL strings and a zero num
 * are omitted, as proto3 omits defaults. */
typedef struct {
    const char *key;
    const char *str;
    int64_t num;
    const char *num_unit;
} hs_pprof_label_t;

/* Returns NULL when out of memory. string_table[0] is "". */
hs_pprof_t *hs_pprof_new(void);
void hs_pprof_free(hs_pprof_t *p);

/* Interns s (NULL = ""); returns its string_table index, or -1 when out of memory. */
int64_t hs_pprof_string(hs_pprof_t *p, const char *s);

/* Appends a sample type; call once per value column, in order, before any
 * hs_pprof_sample. */
void hs_pprof_sample_type(hs_pprof_t *p, const char *type, const char *unit);
void hs_pprof_period(hs_pprof_t *p, const char *type, const char *unit, int64_t period);
void hs_pprof_time(hs_pprof_t *p, int64_t time_nanos, int64_t duration_nanos);
/* Optional: the type readers show by default (unset: the last sample type). */
void hs_pprof_default_sample_type(hs_pprof_t *p, const char *type);
void hs_pprof_comment(hs_pprof_t *p, const char *text);
/* Optional: the Profile's drop_frames and keep_frames (fields 7 and 8).
 * pprof anchors each ("^(" + expr + ")$", RE2 syntax), matches it against
 * every frame's function name and, from the root of each sample, cuts the
 * stack at the first dropped frame after the first kept one, so samples
 * end at the caller of an allocation wrapper (common/hs_frames.h's
 * hs_frame_filter_pprof_drop and _keep give the expressions). NULL or ""
 * leaves a field unset; a later call replaces an earlier one. */
void hs_pprof_set_drop_frames(hs_pprof_t *p, const char *drop, const char *keep);

/* Returns the new mapping's id (>= 1), or 0 on failure. No dedup: the caller
 * adds each mapping once. */
uint64_t hs_pprof_mapping(hs_pprof_t *p, uint64_t start, uint64_t limit, uint64_t offset, const char *filename,
                          const char *build_id, int has_functions, int has_filenames, int has_line_numbers,
                          int has_inline_frames);
/* Returns the id of the function with these four fields, adding it when new;
 * 0 on failure. */
uint64_t hs_pprof_function(hs_pprof_t *p, const char *name, const char *system_name, const char *filename,
                           int64_t start_line);
/* lines: innermost first; with inlining the last one is the outermost caller.
 * mapping_id 0 means "no mapping". Returns the new location's id (>= 1), or 0
 * when a mapping or function id does not resolve or memory runs out. No
 * dedup: the caller caches locations by address. */
uint64_t hs_pprof_location(hs_pprof_t *p, uint64_t mapping_id, uint64_t address, const hs_pprof_line_t *lines,
                           size_t n_lines);
/* location_ids: leaf first. values: one per sample type, already scaled.
 * Returns 0, or -1 with errno = EINVAL (value count differs from the number
 * of sample types, a location id does not resolve, a label has no key) or
 * ENOMEM; hs_pprof_error says which. A refused sample is not added and the
 * profile stays usable. */
int hs_pprof_sample(hs_pprof_t *p, const uint64_t *location_ids, size_t n_locations, const int64_t *values,
                    size_t n_values, const hs_pprof_label_t *labels, size_t n_labels);

/* Why the last call failed, or NULL when none has: the first error that made
 * the profile unusable (out of memory, a sample type added after samples;
 * serializing then fails too) or else the reason the latest refused sample
 * or location was refused (the profile stays usable). */
const char *hs_pprof_error(const hs_pprof_t *p);

/* Serializes the Profile message, gzipped (gzip header), to fd. Returns 0, or
 * -1 with errno set and a one-line message in err. */
int hs_pprof_write_gz(hs_pprof_t *p, int fd, char *err, size_t errlen);
/* The raw, uncompressed Profile message in a malloc'd buffer (for tests and
 * for callers that compress themselves). Returns 0 or -1 with errno. */
int hs_pprof_serialize(hs_pprof_t *p, uint8_t **out, size_t *len);

/* Protobuf base-128 varint of v into out (at least 10 bytes); returns the
 * number of bytes written. Negative int64 values take 10 bytes. */
size_t hs_pprof_put_varint(uint8_t *out, uint64_t v);

#endif
