/* hs_reader.h - streaming reader of heapscope dump files (see hs_format.h and
 * common/FORMAT.md). Two layers:
 *   1. framing: hs_reader_open / hs_reader_next hand out one checksummed
 *      record at a time; memory stays bounded by the largest record.
 *   2. decoding: hs_reader_decode_* turn a record's payload into plain structs
 *      and reject anything that does not match the layout exactly.
 * Nothing here allocates in proportion to the file: decoded structs point
 * into the current record's buffer, valid until the next hs_reader_next. */
#ifndef HS_READER_H
#define HS_READER_H

#include <stddef.h>
#include <stdint.h>

#include "hs_codec.h"
#include "hs_format.h"

typedef enum {
    HS_READ_OK = 0,    /* a complete, checksummed record (or a valid preamble) */
    HS_READ_END,       /* clean end of file at a record boundary */
    HS_READ_TRUNCATED, /* the file ends inside the preamble or a record (torn tail) */
    HS_READ_CORRUPT,   /* bytes that no correct writer produces */
    HS_READ_IO,        /* open(2)/read(2) failed; errno_value says why */
} hs_read_status_t;

/* Why reading stopped. offset is the byte offset in the file the problem is
 * reported at: the start of the bad or torn record (or the preamble field). */
typedef struct {
    hs_read_status_t status;
    uint64_t offset;
    uint64_t records;    /* complete records read before the problem */
    const char *subject; /* "SNAPSHOT record", "record", "file preamble" */
    int errno_value;     /* HS_READ_IO only */
    char why[192];
} hs_read_error_t;

/* One framed record. payload is valid until the next hs_reader_next or
 * hs_reader_close on the reader that returned it. */
typedef struct {
    uint32_t type;
    uint32_t len; /* payload length */
    const uint8_t *payload;
    uint64_t offset; /* file offset of the record's first (type) byte */
    uint64_t index;  /* 0 for the HEADER record */
} hs_record_t;

typedef struct hs_reader hs_reader_t;

/* Opens path (or reads an already open fd, which the reader does not close)
 * and validates the 16-byte preamble. On anything but HS_READ_OK, *out is
 * NULL and err says why (an empty file is HS_READ_TRUNCATED at offset 0). */
hs_read_status_t hs_reader_open(const char *path, hs_reader_t **out, hs_read_error_t *err);
hs_read_status_t hs_reader_open_fd(int fd, hs_reader_t **out, hs_read_error_t *err);
/* Like hs_reader_open_fd, and every byte read from fd is also written to
 * copy_fd as it arrives, so that a pipe can be read once and the copy read
 * again (the analyzer spools non-seekable dumps this way). The copy holds
 * exactly what was read: every record returned, a torn tail, and past a
 * problem at most one buffer's worth (bounded by the record-size cap), never
 * more: infinite input such as /dev/zero stops at its first bad bytes. A
 * failed write is HS_READ_IO. */
hs_read_status_t hs_reader_open_fd_copy(int fd, int copy_fd, hs_reader_t **out, hs_read_error_t *err);
/* Next record. Once a call returns anything but HS_READ_OK, every later call
 * returns the same status. Framing rules: the first record is HEADER and no
 * other is; nothing follows END; payload_len <= HS_RECORD_MAX_PAYLOAD. */
hs_read_status_t hs_reader_next(hs_reader_t *r, hs_record_t *rec);
const hs_read_error_t *hs_reader_error(const hs_reader_t *r);
uint64_t hs_reader_records(const hs_reader_t *r);       /* complete records so far */
uint64_t hs_reader_offset(const hs_reader_t *r);        /* end of the last complete record */
int hs_reader_saw_end(const hs_reader_t *r);            /* the END record was read */
size_t hs_reader_buffer_capacity(const hs_reader_t *r); /* bytes held; for tests and stats */
void hs_reader_close(hs_reader_t *r);

/* "corrupt SNAPSHOT record at byte offset 123: why" / "truncated tail at byte
 * offset N after K complete records" / ...; returns buf. */
const char *hs_reader_format_error(const hs_read_error_t *err, char *buf, size_t size);
/* Fills err as HS_READ_CORRUPT for rec: decoders use it, and so can callers
 * that find cross-record inconsistencies (a row naming an unknown stack). */
void hs_reader_set_corrupt(hs_read_error_t *err, const hs_record_t *rec, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Names for messages and reports; NULL (or "?") when out of range. */
const char *hs_reader_type_name(uint32_t type);
const char *hs_reader_reason_name(uint32_t reason);      /* "interval", "exit", ... */
const char *hs_reader_stat_name(uint32_t stat);          /* "heap_in_use", ... */
const char *hs_reader_heap_source_name(uint64_t source); /* "sampled", "jemalloc", ... */
const char *hs_reader_thread_event_name(uint32_t event); /* "started", "exited" */
const char *hs_reader_alert_kind_name(uint32_t kind);    /* "heap", "rss", "threads", "growth" */
const char *hs_reader_alert_event_name(uint32_t event);  /* "raised", "recovered" */

/* ---- decoded records. Strings and arrays point into the record payload. ---- */

typedef struct {
    const char *ptr; /* not NUL-terminated; may contain NULs (cmdline) */
    size_t len;
} hs_str_t;

typedef struct {
    uint32_t pid, ppid;
    uint64_t start_realtime_ns, start_monotonic_ns;
    uint64_t sample_rate; /* >= 1 */
    uint32_t max_depth;   /* 1..HS_MAX_DEPTH_LIMIT */
    uint32_t interval_ms;
    hs_str_t exe_path, cmdline, hostname;
} hs_header_rec_t;

typedef struct {
    uint64_t start, end; /* start < end */
    uint64_t file_offset, load_bias;
    uint32_t build_id_len; /* <= HS_BUILD_ID_MAX */
    const uint8_t *build_id;
    hs_str_t path;
} hs_mapping_t;

typedef struct {
    uint64_t monotonic_ns;
    uint32_t count;
    const uint8_t *entries; /* count validated entries; walk with hs_reader_mapping_iter_* */
    size_t entries_len;
} hs_mappings_rec_t;

typedef struct {
    hs_dec_t dec;
    uint32_t left;
} hs_mapping_iter_t;

typedef struct {
    uint32_t stack_id;     /* >= 1 */
    uint32_t depth;        /* <= HS_MAX_DEPTH_LIMIT */
    const uint8_t *frames; /* depth little-endian u64s; hs_reader_stack_frame */
} hs_stack_rec_t;

typedef struct {
    uint32_t stack_id; /* >= 1 */
    uint64_t alloc_count, alloc_bytes, free_count, free_bytes;
    double est_alloc_objects, est_alloc_bytes, est_free_objects, est_free_bytes;
} hs_snapshot_row_t;

typedef struct {
    uint64_t monotonic_ns, realtime_ns;
    uint32_t seq, reason;
    uint64_t stats[HS_SNAPSHOT_STAT_COUNT];
    uint32_t row_count;
    const uint8_t *rows; /* row_count x HS_ROW_LEN validated bytes */
} hs_snapshot_rec_t;

typedef struct {
    uint64_t monotonic_ns;
    uint32_t event; /* enum hs_thread_event */
    uint32_t tid, parent_tid;
    uint32_t creation_stack_id; /* 0 = unknown */
    uint64_t start_routine;
} hs_thread_rec_t;

typedef struct {
    uint64_t monotonic_ns;
    uint32_t reason;
} hs_end_rec_t;

typedef struct {
    uint64_t monotonic_ns;
    double rate_bytes_per_sec, growth_bytes, window_seconds, confidence;
    uint32_t top_stack_id; /* 0 = none */
    hs_str_t message;
} hs_leak_rec_t;

/* One entry of a THREAD_SITES record: cumulative counts of one creation
 * site, started >= exited. creation_stack_id 0 with start_routine 0 is the
 * overflow site; creation_stack_id 0 otherwise is an unknown stack. */
typedef struct {
    uint32_t creation_stack_id;
    uint64_t start_routine;
    uint64_t started, exited;
} hs_thread_site_t;

typedef struct {
    uint64_t monotonic_ns;
    uint32_t count;
    const uint8_t *entries; /* count x HS_THREAD_SITE_LEN validated bytes; hs_reader_thread_site */
} hs_thread_sites_rec_t;

typedef struct {
    uint64_t monotonic_ns;
    uint32_t kind;      /* enum hs_alert_kind */
    uint32_t event;     /* enum hs_alert_event */
    double value;       /* finite */
    uint64_t threshold; /* >= 1 */
} hs_alert_rec_t;

typedef struct {
    uint32_t type; /* selects the union member */
    union {
        hs_header_rec_t header;
        hs_mappings_rec_t mappings;
        hs_stack_rec_t stack;
        hs_snapshot_rec_t snapshot;
        hs_thread_rec_t thread;
        hs_end_rec_t end;
        hs_leak_rec_t leak;
        hs_thread_sites_rec_t thread_sites;
        hs_alert_rec_t alert;
    } u;
} hs_decoded_t;

/* Each returns 0, or -1 with err set to HS_READ_CORRUPT naming rec. A record
 * of another type is an error, not a crash. */
int hs_reader_decode_header(const hs_record_t *rec, hs_header_rec_t *out, hs_read_error_t *err);
int hs_reader_decode_mappings(const hs_record_t *rec, hs_mappings_rec_t *out, hs_read_error_t *err);
int hs_reader_decode_stack(const hs_record_t *rec, hs_stack_rec_t *out, hs_read_error_t *err);
int hs_reader_decode_snapshot(const hs_record_t *rec, hs_snapshot_rec_t *out, hs_read_error_t *err);
int hs_reader_decode_thread(const hs_record_t *rec, hs_thread_rec_t *out, hs_read_error_t *err);
int hs_reader_decode_end(const hs_record_t *rec, hs_end_rec_t *out, hs_read_error_t *err);
int hs_reader_decode_leak(const hs_record_t *rec, hs_leak_rec_t *out, hs_read_error_t *err);
/* Checks the entry count against the payload, reserved fields and exited <=
 * started; whether the stack ids are defined is the caller's (cross-record). */
int hs_reader_decode_thread_sites(const hs_record_t *rec, hs_thread_sites_rec_t *out, hs_read_error_t *err);
int hs_reader_decode_alert(const hs_record_t *rec, hs_alert_rec_t *out, hs_read_error_t *err);
/* Dispatches on rec->type. */
int hs_reader_decode(const hs_record_t *rec, hs_decoded_t *out, hs_read_error_t *err);

/* Accessors over validated arrays; they cannot fail. */
void hs_reader_mapping_iter_init(hs_mapping_iter_t *it, const hs_mappings_rec_t *m);
int hs_reader_mapping_iter_next(hs_mapping_iter_t *it, hs_mapping_t *out); /* 1 = *out filled, 0 = done */
uint64_t hs_reader_stack_frame(const hs_stack_rec_t *s, uint32_t i);
void hs_reader_snapshot_row(const hs_snapshot_rec_t *s, uint32_t i, hs_snapshot_row_t *out);
void hs_reader_thread_site(const hs_thread_sites_rec_t *s, uint32_t i, hs_thread_site_t *out);

#endif
