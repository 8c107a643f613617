/* model.h - the analyzer's view of one dump, built by streaming over it:
 * the header, every mapping set, every stack with the mapping each frame
 * belonged to when the stack was recorded, and each stack's cumulative row
 * as of the current snapshot. Memory is bounded by the program's state
 * (stacks, mapping sets, rows), never by the file's length: a caller walks
 * the snapshots one at a time with hs_model_next. */
#ifndef HS_MODEL_H
#define HS_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "hs_format.h"
#include "hs_reader.h"

typedef struct hs_model hs_model_t;

typedef struct hs_model_mapping {
    uint64_t start, end, file_offset, load_bias;
    uint8_t build_id[HS_BUILD_ID_MAX];
    uint32_t build_id_len;
    char *path;         /* NUL-terminated copy; "" for an unnamed mapping */
    uint32_t set_index; /* which MAPPINGS record (0, 1, ...) it came from */
} hs_model_mapping_t;

typedef struct hs_model_stack {
    uint32_t id, depth;
    uint64_t *frames; /* return addresses as recorded, innermost (allocation site) first */
    /* frame_mapping[i]: the mapping frame i lay in, from the set in force when
     * the STACK record was written (older, then newer sets as fallbacks);
     * NULL when no mapping covers it. */
    const hs_model_mapping_t **frame_mapping;
    hs_snapshot_row_t row;     /* cumulative as of the current snapshot; zero until its first row */
    uint32_t last_changed_seq; /* seq of the snapshot that last carried its row */
    int has_row;
} hs_model_stack_t;

typedef struct hs_model_header {
    uint32_t pid, ppid;
    uint64_t start_realtime_ns, start_monotonic_ns;
    uint64_t sample_rate;
    uint32_t max_depth, interval_ms;
    char *exe, *hostname;
    char *cmdline; /* arguments joined with spaces */
    char *program; /* the name the user ran: argv[0]'s basename, else exe's (program_name.h) */
} hs_model_header_t;

typedef struct hs_model_snapshot {
    uint32_t seq, reason;
    uint64_t monotonic_ns, realtime_ns;
    double offset_s; /* seconds since the process (or fork child) started */
    uint64_t stats[HS_SNAPSHOT_STAT_COUNT];
    uint32_t row_count; /* rows this snapshot carried (stacks that changed) */
} hs_model_snapshot_t;

typedef struct hs_model_thread {
    uint64_t monotonic_ns;
    uint32_t event, tid, parent_tid;
    const hs_model_stack_t *creation_stack; /* NULL when unknown */
    uint64_t start_routine;
} hs_model_thread_t;

/* Called for every THREAD record, in file order, during hs_model_next. */
typedef void (*hs_model_thread_cb)(void *ctx, const hs_model_thread_t *t);

/* One entry of a THREAD_SITES record: a creation site's exact counts,
 * cumulative since the process (or fork child) started. The THREAD records
 * of a busy process are incomplete; these are not. */
typedef struct hs_model_thread_site {
    uint64_t monotonic_ns;                  /* of the record */
    const hs_model_stack_t *creation_stack; /* NULL when unknown */
    uint64_t start_routine;                 /* 0 with no creation stack: the overflow site (no room for the site) */
    uint64_t started, exited;               /* started >= exited */
} hs_model_thread_site_t;

/* Called for every entry of every THREAD_SITES record, in file order,
 * during hs_model_next; a record's entries are all checked first. */
typedef void (*hs_model_thread_site_cb)(void *ctx, const hs_model_thread_site_t *s);

/* An ALERT record: a health threshold crossed (raised) or recovered. */
typedef struct hs_model_alert {
    uint64_t monotonic_ns;
    double offset_s; /* seconds since the process (or fork child) started */
    uint32_t kind;   /* enum hs_alert_kind */
    uint32_t event;  /* enum hs_alert_event */
    double value;
    uint64_t threshold;
} hs_model_alert_t;

/* Called for every ALERT record, in file order, during hs_model_next. */
typedef void (*hs_model_alert_cb)(void *ctx, const hs_model_alert_t *a);

/* Opens the dump and reads its HEADER record. Returns 0, or -1
 * with a one-line message in err ("FILE: corrupt SNAPSHOT record at byte
 * offset N: why", "FILE: cannot open: ..."). */
int hs_model_open(const char *path, hs_model_t **out, char *err, size_t errlen);
/* The same over an open fd (not closed by the model), named name in
 * messages: the commands get fd and name from analyzer/input.h, which
 * handles `-`, pipes and FIFOs. */
int hs_model_open_fd(const char *name, int fd, hs_model_t **out, char *err, size_t errlen);
void hs_model_close(hs_model_t *m);
const char *hs_model_path(const hs_model_t *m);
const hs_model_header_t *hs_model_header(const hs_model_t *m);
void hs_model_set_thread_cb(hs_model_t *m, hs_model_thread_cb cb, void *ctx);
void hs_model_set_thread_site_cb(hs_model_t *m, hs_model_thread_site_cb cb, void *ctx);
void hs_model_set_alert_cb(hs_model_t *m, hs_model_alert_cb cb, void *ctx);

/* Applies records up to and including the next SNAPSHOT. Returns 1 with
 * *snap filled, 0 at the end of the data (clean end, or a truncated tail:
 * hs_model_warning then says so), -1 on corruption (message in err). */
int hs_model_next(hs_model_t *m, hs_model_snapshot_t *snap, char *err, size_t errlen);
/* "FILE: truncated tail at byte offset N after K complete records" or NULL. */
const char *hs_model_warning(const hs_model_t *m);
int hs_model_saw_end(const hs_model_t *m);

/* Stacks defined so far, in order of definition. */
size_t hs_model_stack_count(const hs_model_t *m);
hs_model_stack_t *hs_model_stack_at(const hs_model_t *m, size_t i);
/* The stacks whose rows the last snapshot hs_model_next returned carried,
 * as indexes for hs_model_stack_at, ascending (the order of a walk over every
 * stack); valid until the next call to hs_model_next. A walk over them costs
 * the snapshot's rows, not every stack. */
size_t hs_model_changed(const hs_model_t *m, const uint32_t **indexes);
hs_model_stack_t *hs_model_stack_by_id(const hs_model_t *m, uint32_t id);
/* Every mapping of every set so far (for pprof's mapping table). */
size_t hs_model_mapping_count(const hs_model_t *m);
const hs_model_mapping_t *hs_model_mapping_at(const hs_model_t *m, size_t i);

#endif
