/* hs_format.h - the dump file contract shared by libheapscope.so (writer) and
 * the heapscope CLI (reader). Byte layout is documented in common/FORMAT.md;
 * every change that breaks an older reader bumps HS_FORMAT_VERSION.
 * All integers are little-endian; f64 is IEEE-754 binary64, little-endian. */
#ifndef HS_FORMAT_H
#define HS_FORMAT_H

#include <stdint.h>

/* File preamble: 8 magic bytes, u32 version, u32 flags (0). 16 bytes. */
#define HS_MAGIC "HSDUMP\r\n"
#define HS_MAGIC_LEN 8
#define HS_PREAMBLE_LEN 16
#define HS_FORMAT_VERSION 2

/* Every record: u32 type, u32 payload_len, payload, u32 crc32 (zlib/IEEE
 * polynomial) over type, payload_len and payload. Each record is appended
 * with one write(2) so a crash leaves at most one torn record at the tail. */
#define HS_RECORD_HEAD_LEN 8
#define HS_RECORD_TAIL_LEN 4
/* No record is larger than this; a reader treats a bigger length as corrupt. */
#define HS_RECORD_MAX_PAYLOAD (64u * 1024 * 1024)

enum hs_record_type {
    /* u32 pid, u32 ppid, u64 start_realtime_ns, u64 start_monotonic_ns,
     * u64 sample_rate, u32 max_depth, u32 interval_ms,
     * str exe_path, str cmdline (arguments separated by NUL), str hostname.
     * str = u32 length + bytes (no terminator). Always the first record. */
    HS_REC_HEADER = 1,
    /* u64 monotonic_ns, u32 count, then count entries of
     * u64 start, u64 end, u64 file_offset, u64 load_bias,
     * u32 build_id_len (<= 64), build_id bytes, str path.
     * Executable segments only. Replaces the previous MAPPINGS set. */
    HS_REC_MAPPINGS = 2,
    /* u32 stack_id (>= 1), u32 depth (<= HS_MAX_DEPTH_LIMIT),
     * depth x u64 return addresses, innermost (allocation site) first.
     * Each stack id is written once per file, before any record uses it. */
    HS_REC_STACK = 3,
    /* u64 monotonic_ns, u64 realtime_ns, u32 seq (0,1,2..), u32 reason
     * (enum hs_snapshot_reason), then HS_SNAPSHOT_STAT_COUNT x u64 stats
     * (enum hs_snapshot_stat order), then u32 row_count and row_count rows of
     * u32 stack_id, u32 reserved(0),
     * u64 alloc_count, u64 alloc_bytes, u64 free_count, u64 free_bytes
     *     (sampled, raw, cumulative since the process started),
     * f64 est_alloc_objects, f64 est_alloc_bytes, f64 est_free_objects,
     * f64 est_free_bytes (unbiased estimates of the true totals, cumulative).
     * A row appears only when its stack's counters changed since the
     * previous snapshot in this file; absent stacks keep their last row. */
    HS_REC_SNAPSHOT = 4,
    /* u64 monotonic_ns, u32 event (enum hs_thread_event), u32 tid,
     * u32 parent_tid, u32 creation_stack_id (0 = unknown),
     * u64 start_routine (address, 0 = unknown). */
    HS_REC_THREAD = 5,
    /* u64 monotonic_ns, u32 reason (enum hs_snapshot_reason of the last
     * snapshot). Written once, last, on a clean exit. */
    HS_REC_END = 6,
    /* The interposer's live leak detector fired (HEAPSCOPE_LEAK_WINDOW):
     * u64 monotonic_ns, f64 rate_bytes_per_sec, f64 growth_bytes,
     * f64 window_seconds, f64 confidence, u32 top_stack_id (0 = none),
     * u32 reserved (0), str message (the line it logged). Added before the
     * first release, so still format version 1. */
    HS_REC_LEAK = 7,
    /* Exact thread starts and exits by creation site (version 2):
     * u64 monotonic_ns, u32 count, then count entries of
     * u32 creation_stack_id (0 = unknown), u32 reserved (0),
     * u64 start_routine (0 with stack 0: the overflow site that counts the
     * threads of every site the interposer had no room for),
     * u64 started, u64 exited (cumulative since the process, or the fork
     * child, started; exited <= started). An entry appears only when its
     * counts changed since the previous THREAD_SITES record in this file.
     * THREAD records beyond the interposer's queue are not written; these
     * counts are complete. */
    HS_REC_THREAD_SITES = 8,
    /* A health threshold crossed (HEAPSCOPE_ALERT_*), written right after
     * the SNAPSHOT whose figures crossed it: u64 monotonic_ns,
     * u32 kind (enum hs_alert_kind), u32 event (enum hs_alert_event),
     * f64 value (the figure then), u64 threshold (as configured, >= 1).
     * Exactly 32 bytes. Only written when a threshold is set, so dumps
     * without HEAPSCOPE_ALERT_* are unchanged (still version 2; a reader
     * that predates the type rejects it as an unknown record). */
    HS_REC_ALERT = 9,
};
#define HS_REC_TYPE_MAX 9
#define HS_ALERT_LEN (8 + 4 + 4 + 8 + 8)

/* What an ALERT watches; the figure compared with its threshold. */
enum hs_alert_kind {
    HS_ALERT_HEAP = 1,    /* the snapshot's heap_in_use, bytes (HEAPSCOPE_ALERT_HEAP) */
    HS_ALERT_RSS = 2,     /* the snapshot's rss, bytes (HEAPSCOPE_ALERT_RSS) */
    HS_ALERT_THREADS = 3, /* the snapshot's live_threads (HEAPSCOPE_ALERT_THREADS) */
    HS_ALERT_GROWTH = 4,  /* the live leak detector's rate, bytes/s (HEAPSCOPE_ALERT_GROWTH) */
};
#define HS_ALERT_KIND_MAX 4

enum hs_alert_event {
    HS_ALERT_RAISED = 1,    /* value >= threshold while the alert was clear */
    HS_ALERT_RECOVERED = 2, /* value < 90% of the threshold while it was raised */
};
#define HS_THREAD_SITE_LEN (4 + 4 + 3 * 8)

enum hs_snapshot_reason {
    HS_REASON_INTERVAL = 1,
    HS_REASON_EXIT = 2,
    HS_REASON_FORK_PARENT = 3, /* taken in the parent when it forked */
    HS_REASON_FORK_CHILD = 4,  /* first snapshot of a forked child: what it inherited */
    HS_REASON_SIGNAL = 5,
    HS_REASON_DLCLOSE = 6, /* before dlclose: stacks recorded while the object was loaded (version 2) */
};
#define HS_REASON_MAX 6

enum hs_snapshot_stat {
    HS_STAT_HEAP_IN_USE = 0, /* bytes, from HS_STAT_HEAP_SOURCE */
    HS_STAT_HEAP_RESERVED,   /* bytes the allocator holds from the kernel; 0 = unknown */
    HS_STAT_RSS,             /* bytes, /proc/self/statm */
    HS_STAT_LIVE_THREADS,    /* threads of the process (/proc/self/stat) */
    HS_STAT_ALLOC_CALLS,     /* exact, cumulative: malloc/calloc/realloc/memalign family */
    HS_STAT_FREE_CALLS,      /* exact, cumulative: free and realloc of a non-NULL pointer */
    HS_STAT_SAMPLED_ALLOCS,  /* cumulative */
    HS_STAT_SAMPLED_ALLOC_BYTES,
    HS_STAT_SAMPLED_FREES,
    HS_STAT_SAMPLED_FREE_BYTES,
    HS_STAT_LOST_SAMPLES, /* samples dropped for any reason (tables full, no memory, re-entry) */
    HS_STAT_LIVE_SAMPLES, /* sampled blocks not yet freed */
    HS_STAT_STACKS,       /* distinct stacks in the stack table */
    HS_STAT_HEAP_SOURCE,  /* where the heap figures come from: enum hs_heap_source (version 2) */
    HS_SNAPSHOT_STAT_COUNT
};

/* HS_STAT_HEAP_SOURCE: the allocator's own statistics, or the sampled
 * estimate (sum of the rows' est_alloc_bytes - est_free_bytes; exact at rate
 * 1) where the allocator has no cheap lock-free figure (glibc: mallinfo2
 * walks the heap under the arena lock) or at exit (no allocator locks). */
enum hs_heap_source {
    HS_HEAP_SOURCE_SAMPLED = 0,
    HS_HEAP_SOURCE_JEMALLOC = 1,
    HS_HEAP_SOURCE_TCMALLOC = 2,
    HS_HEAP_SOURCE_MIMALLOC = 3,
};
#define HS_HEAP_SOURCE_MAX 3

enum hs_thread_event {
    HS_THREAD_STARTED = 1, /* the new thread began running its start routine */
    HS_THREAD_EXITED = 2,
};

#define HS_MAX_DEPTH_LIMIT 256
#define HS_BUILD_ID_MAX 64
#define HS_ROW_LEN (8 + 4 * 8 + 4 * 8)

#endif
