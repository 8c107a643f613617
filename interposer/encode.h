/* encode.h - the bytes of every record the library writes, one encoder per
 * record type in the order of enum hs_record_type (common/hs_format.h): the
 * mirror of common/hs_reader.c's decoders. See encode.c. */
#ifndef HS_ENCODE_H
#define HS_ENCODE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "hs_codec.h"
#include "hs_format.h"
#include "identity.h"

/* A record whose entry count is known only at its end (MAPPINGS, SNAPSHOT,
 * THREAD_SITES): *_begin writes the count as 0, each entry counts itself,
 * *_end patches the count in and closes the record. */
typedef struct {
    size_t record;   /* hs_enc_record_begin's offset */
    size_t count_at; /* where the u32 count sits */
    size_t stats_at; /* SNAPSHOT only: where its stats sit */
    uint32_t count;
} hs_encode_list_t;

/* The file preamble and the HEADER record. */
void hs_encode_header(hs_enc_t *enc, const hs_identity_t *id, const hs_config_t *cfg);

/* MAPPINGS: one entry per executable segment. */
typedef struct {
    uint64_t start, end, file_offset, load_bias;
    const uint8_t *build_id;
    uint32_t build_id_len; /* <= HS_BUILD_ID_MAX */
    const char *path;
} hs_encode_mapping_t;
void hs_encode_mappings_begin(hs_enc_t *enc, hs_encode_list_t *list, uint64_t mono_ns);
void hs_encode_mapping(hs_enc_t *enc, hs_encode_list_t *list, const hs_encode_mapping_t *m);
void hs_encode_mappings_end(hs_enc_t *enc, hs_encode_list_t *list);

/* STACK: frames innermost first, depth <= HS_MAX_DEPTH_LIMIT. */
void hs_encode_stack(hs_enc_t *enc, uint32_t stack_id, const uintptr_t *frames, uint32_t depth);

/* SNAPSHOT: the head now, one row per changed stack, and the process figures
 * at the end (they sum the rows). */
typedef struct {
    uint32_t stack_id;
    uint64_t alloc_count, alloc_bytes, free_count, free_bytes;
    double est_alloc_objects, est_alloc_bytes, est_free_objects, est_free_bytes;
} hs_encode_row_t;
void hs_encode_snapshot_begin(hs_enc_t *enc, hs_encode_list_t *rows, uint64_t mono_ns, uint64_t real_ns, uint32_t seq,
                              uint32_t reason);
void hs_encode_snapshot_row(hs_enc_t *enc, hs_encode_list_t *rows, const hs_encode_row_t *row);
void hs_encode_snapshot_end(hs_enc_t *enc, hs_encode_list_t *rows, const uint64_t stats[HS_SNAPSHOT_STAT_COUNT]);

/* THREAD. Field order is the event queue's (threads.c): 32 bytes. */
typedef struct {
    uint64_t mono_ns;
    uint64_t start_routine;
    uint32_t event; /* enum hs_thread_event */
    uint32_t tid, parent_tid, stack_id;
} hs_encode_thread_t;
void hs_encode_thread(hs_enc_t *enc, const hs_encode_thread_t *ev);

/* END: the reason of the last snapshot. */
void hs_encode_end(hs_enc_t *enc, uint64_t mono_ns, uint32_t reason);

/* LEAK: the live leak detector's finding and the line it logged. */
typedef struct {
    uint64_t mono_ns;
    double rate_bytes_per_sec, growth_bytes, window_seconds, confidence;
    uint32_t top_stack_id; /* 0 = none */
    const char *message;
} hs_encode_leak_t;
void hs_encode_leak(hs_enc_t *enc, const hs_encode_leak_t *leak);

/* THREAD_SITES: one entry per creation site whose counts changed. */
typedef struct {
    uint32_t stack_id;
    uint64_t start_routine, started, exited;
} hs_encode_thread_site_t;
void hs_encode_thread_sites_begin(hs_enc_t *enc, hs_encode_list_t *list, uint64_t mono_ns);
void hs_encode_thread_site(hs_enc_t *enc, hs_encode_list_t *list, const hs_encode_thread_site_t *site);
void hs_encode_thread_sites_end(hs_enc_t *enc, hs_encode_list_t *list);

/* ALERT: a health threshold crossed (alerts.c), 32 bytes. */
typedef struct {
    uint64_t mono_ns;
    uint32_t kind;  /* enum hs_alert_kind */
    uint32_t event; /* enum hs_alert_event */
    double value;
    uint64_t threshold; /* >= 1 */
} hs_encode_alert_t;
void hs_encode_alert(hs_enc_t *enc, const hs_encode_alert_t *alert);

#endif
