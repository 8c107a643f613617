/* snapshot.c - what goes into one snapshot, gathered from the tables and
 * the process and handed to the writer in a single write: the HEADER of a
 * new file, MAPPINGS when dlopen/dlclose changed the loaded objects (with
 * their build-ids), a STACK record for every stack about to be named, the
 * queued THREAD events, THREAD_SITES, one SNAPSHOT record with the process
 * figures (heap, RSS and threads from /proc) and a row per stack that
 * changed, the live leak check's LEAK, and END at exit. It owns the per-file
 * state (snapshot sequence, which mappings and stacks the file has); the
 * bytes are encode.c's, the decision when is schedule.c's, which calls it
 * with the snapshot lock held, on the snapshot stack. Never calls malloc
 * (the buffer is mmap'd), reads only lock-free tables and cheap figures, and
 * takes no lock the program can hold (never mallinfo2; the allocator's
 * statistics only when may_lock). */
#include "snapshot.h"

#include <fcntl.h>
#include <link.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "alerts.h"
#include "clock.h"
#include "config.h"
#include "encode.h"
#include "heapstats.h"
#include "hs_format.h"
#include "identity.h"
#include "livecheck.h"
#include "loss.h"
#include "objects.h"
#include "procfs.h"
#include "tables.h"
#include "threads.h"
#include "writer.h"

static uint32_t snapshot_seq;   /* per file */
static int first_is_fork_child; /* this process is a fork child with no snapshot yet */
static uint32_t mappings_gen;   /* file generation the mappings were written to */
static unsigned long long mappings_adds, mappings_subs;
static hs_enc_t enc;                                /* reused between snapshots; mmap-backed */
static uint64_t last_stats[HS_SNAPSHOT_STAT_COUNT]; /* the latest SNAPSHOT's, for the health thresholds */
/* Snapshots handed to the writer (relaxed: /metrics reads it on its own). */
static _Atomic uint64_t snapshots_written;

/* ---- mappings ------------------------------------------------------------- */
static int encode_object(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    hs_encode_list_t *list = data;
    const char *name = info->dlpi_name;
    if (!name || !name[0])
        name = hs_identity.exe; /* the main program */
    uint8_t build_id[HS_BUILD_ID_MAX];
    int build_id_len = -1;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        if (build_id_len < 0)
            build_id_len = hs_objects_build_id(info, build_id);
        hs_encode_mapping(&enc, list,
                          &(hs_encode_mapping_t){.start = info->dlpi_addr + ph->p_vaddr,
                                                 .end = info->dlpi_addr + ph->p_vaddr + ph->p_memsz,
                                                 .file_offset = ph->p_offset,
                                                 .load_bias = info->dlpi_addr,
                                                 .build_id = build_id,
                                                 .build_id_len = (uint32_t)build_id_len,
                                                 .path = name});
    }
    return 0;
}

static int read_load_counts(struct dl_phdr_info *info, size_t size, void *data)
{
    unsigned long long *counts = data;
    if (size < offsetof(struct dl_phdr_info, dlpi_subs) + sizeof(info->dlpi_subs))
        return 1;
    counts[0] = info->dlpi_adds;
    counts[1] = info->dlpi_subs;
    return 1; /* the counters are global: one object is enough */
}

/* MAPPINGS when the file is new or dlopen/dlclose changed the loaded set. */
static void add_mappings_if_changed(uint32_t gen)
{
    unsigned long long counts[2] = {0, 0};
    dl_iterate_phdr(read_load_counts, counts);
    if (mappings_gen == gen && counts[0] == mappings_adds && counts[1] == mappings_subs)
        return;
    mappings_gen = gen;
    mappings_adds = counts[0];
    mappings_subs = counts[1];
    hs_encode_list_t list;
    hs_encode_mappings_begin(&enc, &list, hs_now_mono_ns());
    dl_iterate_phdr(encode_object, &list);
    hs_encode_mappings_end(&enc, &list);
}

/* ---- stacks ---------------------------------------------------------------- */
static void sync_stack_gen(hs_stack_t *s, uint32_t gen)
{
    if (s->file_gen != gen) {
        s->file_gen = gen;
        s->written = 0;
        s->last_allocs = s->last_frees = 0;
    }
}

static void add_stack(hs_stack_t *s, uint32_t gen)
{
    sync_stack_gen(s, gen);
    if (s->written)
        return;
    s->written = 1;
    hs_encode_stack(&enc, s->id, s->frames, s->depth);
}

/* For hs_threads_encode_sites: a creation stack's STACK record goes before
 * the THREAD_SITES record that names it. ctx is the file generation. */
static void add_creation_stack(uint32_t stack_id, void *ctx)
{
    hs_stack_t *s = hs_stack_by_id(stack_id);
    if (s)
        add_stack(s, *(const uint32_t *)ctx);
}

/* ---- the snapshot ------------------------------------------------------------ */
static double add_snapshot(int reason, uint32_t gen, int may_lock, double *est_freed_out)
{
    uint64_t stats[HS_SNAPSHOT_STAT_COUNT] = {0};
    uint32_t nstacks = hs_stack_count();

    /* Pass 1: STACK records for stacks about to appear in rows. */
    for (uint32_t id = 1; id <= nstacks; id++) {
        hs_stack_t *s = hs_stack_by_id(id);
        if (!s)
            continue;
        sync_stack_gen(s, gen);
        uint64_t a = atomic_load_explicit(&s->allocs, memory_order_acquire);
        uint64_t f = atomic_load_explicit(&s->frees, memory_order_acquire);
        if (a != s->last_allocs || f != s->last_frees)
            add_stack(s, gen);
    }
    /* Thread events, with the creation stacks they name. */
    hs_thread_event_t ev;
    while (hs_threads_pop_event(&ev)) {
        hs_stack_t *s = hs_stack_by_id(ev.stack_id);
        if (s)
            add_stack(s, gen);
        else
            ev.stack_id = 0;
        hs_encode_thread(&enc, &ev);
    }
    /* Exact counts by creation site: the events above stop at the queue's size. */
    hs_threads_encode_sites(&enc, gen, add_creation_stack, &gen);

    /* Never mallinfo2(): it walks every free chunk under the arena lock
     * (150 ms on a fragmented heap, stalling the program) and deadlocks an
     * exit() made from a signal handler that interrupted malloc. The
     * allocator's own cheap figures where it has them (heapstats.c), else
     * the sampled estimate summed below. */
    uint64_t heap_in_use = 0, heap_reserved = 0;
    int heap_source = hs_heapstats_read(&heap_in_use, &heap_reserved, may_lock);
    stats[HS_STAT_HEAP_SOURCE] = (uint64_t)heap_source;
    stats[HS_STAT_RSS] = hs_proc_field("/proc/self/statm", HS_PROC_STATM_RESIDENT) * (uint64_t)sysconf(_SC_PAGESIZE);
    stats[HS_STAT_LIVE_THREADS] = hs_proc_threads();
    hs_threads_sum_calls(&stats[HS_STAT_ALLOC_CALLS], &stats[HS_STAT_FREE_CALLS]);
    stats[HS_STAT_LOST_SAMPLES] = hs_loss_total();
    stats[HS_STAT_STACKS] = nstacks;

    hs_encode_list_t rows;
    hs_encode_snapshot_begin(&enc, &rows, hs_now_mono_ns(), hs_now_real_ns(), snapshot_seq++, (uint32_t)reason);
    double est_inuse = 0, est_freed = 0; /* sampled estimates, for the live leak check */
    /* Pass 2: rows. A stack whose counters moved after pass 1 and that has
     * no STACK record yet waits for the next snapshot. */
    for (uint32_t id = 1; id <= nstacks; id++) {
        hs_stack_t *s = hs_stack_by_id(id);
        if (!s)
            continue;
        sync_stack_gen(s, gen);
        /* Statements, not an initializer list: the counts are read (acquire)
         * before their bytes, in this order. */
        hs_encode_row_t row = {.stack_id = id};
        row.alloc_count = atomic_load_explicit(&s->allocs, memory_order_acquire);
        row.free_count = atomic_load_explicit(&s->frees, memory_order_acquire);
        row.alloc_bytes = atomic_load_explicit(&s->alloc_bytes, memory_order_relaxed);
        row.free_bytes = atomic_load_explicit(&s->free_bytes, memory_order_relaxed);
        stats[HS_STAT_SAMPLED_ALLOCS] += row.alloc_count;
        stats[HS_STAT_SAMPLED_ALLOC_BYTES] += row.alloc_bytes;
        stats[HS_STAT_SAMPLED_FREES] += row.free_count;
        stats[HS_STAT_SAMPLED_FREE_BYTES] += row.free_bytes;
        double freed = hs_stack_load_f64(&s->est_free_bytes);
        est_inuse += hs_stack_load_f64(&s->est_alloc_bytes) - freed;
        est_freed += freed;
        if (!s->written || (row.alloc_count == s->last_allocs && row.free_count == s->last_frees))
            continue;
        s->last_allocs = row.alloc_count;
        s->last_frees = row.free_count;
        row.est_alloc_objects = hs_stack_load_f64(&s->est_alloc_objects);
        row.est_alloc_bytes = hs_stack_load_f64(&s->est_alloc_bytes);
        row.est_free_objects = hs_stack_load_f64(&s->est_free_objects);
        row.est_free_bytes = hs_stack_load_f64(&s->est_free_bytes);
        hs_encode_snapshot_row(&enc, &rows, &row);
    }
    stats[HS_STAT_LIVE_SAMPLES] = stats[HS_STAT_SAMPLED_ALLOCS] - stats[HS_STAT_SAMPLED_FREES];
    if (heap_source == HS_HEAP_SOURCE_SAMPLED)
        heap_reserved = 0; /* not known without walking the heap */
    /* mimalloc (as Debian builds it) knows only what it committed. */
    if (heap_source == HS_HEAP_SOURCE_SAMPLED || heap_in_use == HS_HEAPSTATS_UNKNOWN)
        heap_in_use = est_inuse > 0 ? (uint64_t)(est_inuse + 0.5) : 0;
    stats[HS_STAT_HEAP_IN_USE] = heap_in_use;
    stats[HS_STAT_HEAP_RESERVED] = heap_reserved;
    hs_encode_snapshot_end(&enc, &rows, stats);
    memcpy(last_stats, stats, sizeof(last_stats));
    *est_freed_out = est_freed;
    return est_inuse;
}

/* Everything is encoded first and the file is created (on the first
 * snapshot) just before the single write, so an exec or _exit in between
 * cannot leave an empty file and the snapshot lands whole or not at all. */
void hs_snapshot_write(int reason, int with_end, int may_lock)
{
    if (hs_writer_has_failed())
        return;
    int new_file = !hs_writer_is_open();
    uint32_t gen = hs_writer_generation() + (new_file ? 1 : 0); /* opening bumps it */
    if (new_file)
        snapshot_seq = 0;
    if (first_is_fork_child && reason != HS_REASON_EXIT)
        reason = HS_REASON_FORK_CHILD; /* the child's first snapshot: what it inherited */
    first_is_fork_child = 0;
    if (!enc.grow)
        hs_enc_init(&enc, hs_writer_grow);
    enc.len = 0;
    enc.failed = 0;
    if (new_file)
        hs_encode_header(&enc, &hs_identity, &hs_cfg);
    add_mappings_if_changed(gen);
    double est_freed = 0;
    double est_inuse = add_snapshot(reason, gen, may_lock, &est_freed);
    hs_livecheck_after_snapshot(&enc, gen, est_inuse, est_freed);
    hs_alerts_figures_t figures = {.heap_in_use = last_stats[HS_STAT_HEAP_IN_USE],
                                   .rss = last_stats[HS_STAT_RSS],
                                   .threads = last_stats[HS_STAT_LIVE_THREADS]};
    figures.growth_known = hs_livecheck_rate(&figures.growth_bytes_per_sec);
    hs_alerts_after_snapshot(&enc, gen, &figures);
    if (with_end)
        hs_encode_end(&enc, hs_now_mono_ns(), (uint32_t)reason);
    if (enc.failed) {
        /* Out of memory for the buffer. The stacks above count as written,
         * so later snapshots would name stacks the file lacks: stop here. */
        hs_loss_count("out of memory for a snapshot");
        hs_writer_give_up();
        return;
    }
    if (new_file)
        hs_writer_open(&hs_identity, enc.buf, enc.len);
    else
        hs_writer_append(enc.buf, enc.len);
    atomic_fetch_add_explicit(&snapshots_written, 1, memory_order_relaxed);
}

uint64_t hs_snapshot_written_total(void) { return atomic_load_explicit(&snapshots_written, memory_order_relaxed); }

void hs_snapshot_reset_after_fork(void)
{
    /* The parent may have been growing the buffer when it forked: start over
     * with a fresh one rather than trust a half-updated pointer. */
    enc = (hs_enc_t){0};
    first_is_fork_child = 1;
}
