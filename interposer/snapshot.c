/* flusher.c - the background thread and the snapshot it writes: new
 * mappings, new stacks, thread events, then one SNAPSHOT record with the
 * process figures and a row per stack that changed. Everything a snapshot
 * needs is read from lock-free tables; the only lock is `write_lock`, which
 * orders snapshot writers (flusher, exit path, fork) and is never taken by
 * malloc or free. The flusher's own allocations are never recorded. */
#include "flusher.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <linux/futex.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "hs_format.h"
#include "livecheck.h"
#include "log.h"
#include "state.h"
#include "tables.h"

hs_identity_t hs_identity;

static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic uint32_t wake_seq;      /* futex word: bumped by every request */
static _Atomic uint32_t pending;       /* bit (1 << reason) per requested snapshot */
static _Atomic int finished;           /* the final snapshot is written: no more */
static _Atomic int flusher_running;
static uint32_t snapshot_seq;          /* per file */
static int first_is_fork_child;        /* this process is a fork child with no snapshot yet */
static _Atomic uint64_t last_fork_snapshot_ns; /* rate limit for FORK_PARENT snapshots */
static uint32_t mappings_gen;          /* file generation the mappings were written to */
static unsigned long long mappings_adds, mappings_subs;
static hs_enc_t enc;                   /* reused between snapshots; mmap-backed */

static long futex(_Atomic uint32_t *addr, int op, uint32_t val, const struct timespec *ts)
{
    return syscall(SYS_futex, addr, op, val, ts, NULL, 0);
}

void hs_flusher_request(int reason)
{
    atomic_fetch_or_explicit(&pending, 1u << reason, memory_order_relaxed);
    /* release: the flusher that sees the new seq also sees the pending bit */
    atomic_fetch_add_explicit(&wake_seq, 1, memory_order_release);
    futex(&wake_seq, FUTEX_WAKE_PRIVATE, 1, NULL);
}

/* ---- process figures ------------------------------------------------------ */
static uint64_t read_proc_field(const char *file, int field)
{
    char buf[1024];
    int f = open(file, O_RDONLY | O_CLOEXEC);
    if (f < 0)
        return 0;
    ssize_t n = read(f, buf, sizeof(buf) - 1);
    close(f);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    char *p = buf;
    if (strcmp(file, "/proc/self/stat") == 0) {
        /* Field 2 (comm) may contain spaces: count from after its ')'. */
        p = strrchr(buf, ')');
        if (!p)
            return 0;
        p += 2;
        field -= 3;
    }
    for (int i = 0; i < field && *p; i++) {
        while (*p && *p != ' ')
            p++;
        while (*p == ' ')
            p++;
    }
    uint64_t v = 0;
    while (*p >= '0' && *p <= '9')
        v = v * 10 + (uint64_t)(*p++ - '0');
    return v;
}

/* ---- mappings ------------------------------------------------------------- */
static int note_build_id(const struct dl_phdr_info *info, uint8_t *out)
{
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE)
            continue;
        const uint8_t *p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr), *end = p + ph->p_memsz;
        while (p + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
            const uint8_t *name = p + sizeof(*nh);
            const uint8_t *desc = name + ((nh->n_namesz + 3) & ~3u);
            const uint8_t *next = desc + ((nh->n_descsz + 3) & ~3u);
            if (next > end)
                break;
            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && memcmp(name, "GNU", 4) == 0 &&
                nh->n_descsz <= HS_BUILD_ID_MAX) {
                memcpy(out, desc, nh->n_descsz);
                return (int)nh->n_descsz;
            }
            p = next;
        }
    }
    return 0;
}

typedef struct {
    hs_enc_t *enc;
    uint32_t count;
} map_ctx_t;

static int encode_mapping(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    map_ctx_t *ctx = data;
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
            build_id_len = note_build_id(info, build_id);
        hs_enc_u64(ctx->enc, info->dlpi_addr + ph->p_vaddr);
        hs_enc_u64(ctx->enc, info->dlpi_addr + ph->p_vaddr + ph->p_memsz);
        hs_enc_u64(ctx->enc, ph->p_offset);
        hs_enc_u64(ctx->enc, info->dlpi_addr);
        hs_enc_u32(ctx->enc, (uint32_t)build_id_len);
        hs_enc_bytes(ctx->enc, build_id, (size_t)build_id_len);
        hs_enc_str(ctx->enc, name, strlen(name));
        ctx->count++;
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
static void encode_mappings_if_changed(uint32_t gen)
{
    unsigned long long counts[2] = {0, 0};
    dl_iterate_phdr(read_load_counts, counts);
    if (mappings_gen == gen && counts[0] == mappings_adds && counts[1] == mappings_subs)
        return;
    mappings_gen = gen;
    mappings_adds = counts[0];
    mappings_subs = counts[1];
    size_t rec = hs_enc_record_begin(&enc, HS_REC_MAPPINGS);
    hs_enc_u64(&enc, hs_now_mono_ns());
    size_t count_at = enc.len;
    hs_enc_u32(&enc, 0);
    map_ctx_t ctx = {&enc, 0};
    dl_iterate_phdr(encode_mapping, &ctx);
    if (!enc.failed) {
        uint8_t *c = enc.buf + count_at;
        c[0] = (uint8_t)ctx.count;
        c[1] = (uint8_t)(ctx.count >> 8);
        c[2] = (uint8_t)(ctx.count >> 16);
        c[3] = (uint8_t)(ctx.count >> 24);
    }
    hs_enc_record_end(&enc, rec);
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

static void encode_stack(hs_stack_t *s, uint32_t gen)
{
    sync_stack_gen(s, gen);
    if (s->written)
        return;
    s->written = 1;
    size_t rec = hs_enc_record_begin(&enc, HS_REC_STACK);
    hs_enc_u32(&enc, s->id);
    hs_enc_u32(&enc, s->depth);
    for (uint32_t i = 0; i < s->depth; i++)
        hs_enc_u64(&enc, s->frames[i]);
    hs_enc_record_end(&enc, rec);
}

/* ---- the snapshot ------------------------------------------------------------ */
static double encode_snapshot(int reason, uint32_t gen, int flusher_alive, double *est_freed_out)
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
            encode_stack(s, gen);
    }
    /* Thread events, with the creation stacks they name. */
    hs_thread_event_t ev;
    while (hs_thread_event_pop(&ev)) {
        hs_stack_t *s = hs_stack_by_id(ev.stack_id);
        if (s)
            encode_stack(s, gen);
        size_t rec = hs_enc_record_begin(&enc, HS_REC_THREAD);
        hs_enc_u64(&enc, ev.mono_ns);
        hs_enc_u32(&enc, ev.event);
        hs_enc_u32(&enc, ev.tid);
        hs_enc_u32(&enc, ev.parent_tid);
        hs_enc_u32(&enc, s ? ev.stack_id : 0);
        hs_enc_u64(&enc, ev.start_routine);
        hs_enc_record_end(&enc, rec);
    }

    struct mallinfo2 mi = mallinfo2();
    stats[HS_STAT_HEAP_IN_USE] = mi.uordblks + mi.hblkhd;
    stats[HS_STAT_HEAP_RESERVED] = mi.arena + mi.hblkhd;
    stats[HS_STAT_RSS] = read_proc_field("/proc/self/statm", 1) * (uint64_t)sysconf(_SC_PAGESIZE);
    uint64_t threads = read_proc_field("/proc/self/stat", 20);
    stats[HS_STAT_LIVE_THREADS] = threads > 0 && flusher_alive ? threads - 1 : threads;
    hs_threads_sum_calls(&stats[HS_STAT_ALLOC_CALLS], &stats[HS_STAT_FREE_CALLS]);
    stats[HS_STAT_LOST_SAMPLES] = atomic_load_explicit(&hs_lost_samples, memory_order_relaxed);
    stats[HS_STAT_STACKS] = nstacks;

    size_t rec = hs_enc_record_begin(&enc, HS_REC_SNAPSHOT);
    hs_enc_u64(&enc, hs_now_mono_ns());
    hs_enc_u64(&enc, hs_now_real_ns());
    hs_enc_u32(&enc, snapshot_seq++);
    hs_enc_u32(&enc, (uint32_t)reason);
    size_t stats_at = enc.len;
    for (int i = 0; i < HS_SNAPSHOT_STAT_COUNT; i++)
        hs_enc_u64(&enc, 0); /* patched below, once the rows have summed the samples */
    size_t rows_at = enc.len;
    hs_enc_u32(&enc, 0);
    uint32_t rows = 0;
    double est_inuse = 0, est_freed = 0; /* sampled estimates, for the live leak check */
    /* Pass 2: rows. A stack whose counters moved after pass 1 and that has
     * no STACK record yet waits for the next snapshot. */
    for (uint32_t id = 1; id <= nstacks; id++) {
        hs_stack_t *s = hs_stack_by_id(id);
        if (!s)
            continue;
        sync_stack_gen(s, gen);
        uint64_t a = atomic_load_explicit(&s->allocs, memory_order_acquire);
        uint64_t f = atomic_load_explicit(&s->frees, memory_order_acquire);
        uint64_t ab = atomic_load_explicit(&s->alloc_bytes, memory_order_relaxed);
        uint64_t fb = atomic_load_explicit(&s->free_bytes, memory_order_relaxed);
        stats[HS_STAT_SAMPLED_ALLOCS] += a;
        stats[HS_STAT_SAMPLED_ALLOC_BYTES] += ab;
        stats[HS_STAT_SAMPLED_FREES] += f;
        stats[HS_STAT_SAMPLED_FREE_BYTES] += fb;
        double freed = hs_stack_load_f64(&s->est_free_bytes);
        est_inuse += hs_stack_load_f64(&s->est_alloc_bytes) - freed;
        est_freed += freed;
        if (!s->written || (a == s->last_allocs && f == s->last_frees))
            continue;
        s->last_allocs = a;
        s->last_frees = f;
        hs_enc_u32(&enc, id);
        hs_enc_u32(&enc, 0);
        hs_enc_u64(&enc, a);
        hs_enc_u64(&enc, ab);
        hs_enc_u64(&enc, f);
        hs_enc_u64(&enc, fb);
        hs_enc_f64(&enc, hs_stack_load_f64(&s->est_alloc_objects));
        hs_enc_f64(&enc, hs_stack_load_f64(&s->est_alloc_bytes));
        hs_enc_f64(&enc, hs_stack_load_f64(&s->est_free_objects));
        hs_enc_f64(&enc, hs_stack_load_f64(&s->est_free_bytes));
        rows++;
    }
    stats[HS_STAT_LIVE_SAMPLES] = stats[HS_STAT_SAMPLED_ALLOCS] - stats[HS_STAT_SAMPLED_FREES];
    if (!enc.failed) {
        hs_enc_t patch = {.buf = enc.buf + stats_at, .cap = 8 * HS_SNAPSHOT_STAT_COUNT + 4, .grow = NULL};
        for (int i = 0; i < HS_SNAPSHOT_STAT_COUNT; i++)
            hs_enc_u64(&patch, stats[i]);
        hs_enc_u32(&patch, rows);
        (void)rows_at;
    }
    hs_enc_record_end(&enc, rec);
    *est_freed_out = est_freed;
    return est_inuse;
}

/* Builds and appends one snapshot. Caller holds write_lock. Everything is
 * encoded first and the file is created (on the first snapshot) just before
 * the single write, so an exec or _exit in between cannot leave an empty
 * file and the snapshot lands whole or not at all. */
static void write_snapshot_locked(int reason, int with_end)
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
        hs_writer_encode_header(&enc, &hs_identity);
    encode_mappings_if_changed(gen);
    double est_freed = 0;
    double est_inuse = encode_snapshot(reason, gen, atomic_load(&flusher_running), &est_freed);
    hs_livecheck_after_snapshot(&enc, gen, est_inuse, est_freed);
    if (with_end) {
        size_t rec = hs_enc_record_begin(&enc, HS_REC_END);
        hs_enc_u64(&enc, hs_now_mono_ns());
        hs_enc_u32(&enc, (uint32_t)reason);
        hs_enc_record_end(&enc, rec);
    }
    if (enc.failed) {
        /* Out of memory for the buffer. The stacks above count as written,
         * so later snapshots would name stacks the file lacks: stop here. */
        hs_lose_sample("out of memory for a snapshot");
        hs_writer_give_up();
        return;
    }
    if (new_file)
        hs_writer_open(&hs_identity, enc.buf, enc.len);
    else
        hs_writer_append(enc.buf, enc.len);
}

static int take_pending_reason(void)
{
    uint32_t bits = atomic_exchange_explicit(&pending, 0, memory_order_acquire) & ~1u; /* bit 0: wake only */
    if (!bits)
        return 0;
    /* One snapshot per distinct reason (a signal and a fork in the same
     * instant are two events); the others stay pending for the next turn
     * of the loop, which comes at once. */
    static const int order[] = {HS_REASON_FORK_CHILD, HS_REASON_FORK_PARENT, HS_REASON_SIGNAL,
                                HS_REASON_INTERVAL};
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        uint32_t bit = 1u << order[i];
        if (bits & bit) {
            if (bits & ~bit)
                atomic_fetch_or_explicit(&pending, bits & ~bit, memory_order_relaxed);
            return order[i];
        }
    }
    return HS_REASON_INTERVAL;
}

static void *flusher_main(void *arg)
{
    (void)arg;
    hs_thread_mark_internal();
    uint64_t interval = hs_cfg.interval_ms * 1000000ull;
    uint64_t due = hs_now_mono_ns() + interval;
    while (!atomic_load(&finished)) {
        uint32_t seq = atomic_load_explicit(&wake_seq, memory_order_acquire);
        int reason = take_pending_reason();
        uint64_t now = hs_now_mono_ns();
        if (!reason && now >= due) {
            reason = HS_REASON_INTERVAL;
            due += interval;
            if (due <= now)
                due = now + interval; /* we fell behind (suspended?): do not burst */
        }
        if (reason) {
            pthread_mutex_lock(&write_lock);
            if (!atomic_load(&finished))
                write_snapshot_locked(reason, 0);
            pthread_mutex_unlock(&write_lock);
            continue;
        }
        uint64_t wait = due - now;
        struct timespec ts = {(time_t)(wait / 1000000000ull), (long)(wait % 1000000000ull)};
        futex(&wake_seq, FUTEX_WAIT_PRIVATE, seq, &ts);
    }
    atomic_store(&flusher_running, 0);
    return NULL;
}

void hs_flusher_start(void)
{
    pthread_attr_t attr;
    sigset_t all, old;
    pthread_t th;
    sigfillset(&all);
    /* The new thread inherits this mask: no signal of the host's is ever
     * delivered to the flusher (and SIGXFSZ from its writes stays pending). */
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    atomic_store(&flusher_running, 1);
    hs_tls.in_hook++;
    int rc = hs_real.pthread_create(&th, &attr, flusher_main, NULL);
    hs_tls.in_hook--;
    if (rc != 0) {
        atomic_store(&flusher_running, 0);
        hs_log("cannot start the flusher thread (%s); snapshots only at exit", strerror(rc));
    }
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void hs_flusher_final(void)
{
    if (atomic_exchange(&finished, 1))
        return;
    /* Bounded: a writer stuck on a dead disk must not hang the host's exit. */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 2;
    if (pthread_mutex_timedlock(&write_lock, &until) != 0) {
        hs_log("final snapshot skipped: the dump writer is busy");
        return;
    }
    hs_tls.in_hook++;
    write_snapshot_locked(HS_REASON_EXIT, 1);
    hs_tls.in_hook--;
    if (hs_writer_backlog())
        hs_log("%lu bytes of snapshots were never written to %s: the program left no descriptor free",
               (unsigned long)hs_writer_backlog(), hs_writer_path());
    pthread_mutex_unlock(&write_lock);
    hs_flusher_request(0); /* wake the flusher so it sees `finished` and ends */
}

void hs_flusher_atfork_prepare(void)
{
    /* The child must not inherit a half-built snapshot or a held lock. */
    pthread_mutex_lock(&write_lock);
}

void hs_flusher_atfork_parent(void)
{
    pthread_mutex_unlock(&write_lock);
    /* A shell forks thousands of times: at most one fork snapshot a second. */
    uint64_t now = hs_now_mono_ns();
    if (now - last_fork_snapshot_ns >= 1000000000ull) {
        last_fork_snapshot_ns = now;
        hs_flusher_request(HS_REASON_FORK_PARENT);
    }
}

void hs_flusher_atfork_child(void)
{
    pthread_mutex_init(&write_lock, NULL);
    hs_writer_reset_after_fork();
    atomic_store(&pending, 0);
    atomic_store(&flusher_running, 0);
    if (atomic_load(&finished))
        return; /* forked during exit: nothing more to record */
    enc.len = 0;
    hs_identity.ppid = hs_identity.pid;
    hs_identity.pid = (uint32_t)getpid();
    hs_identity.start_real_ns = hs_now_real_ns();
    hs_identity.start_mono_ns = hs_now_mono_ns();
    /* No snapshot now: most children exec or _exit at once, and the file is
     * created only by the first interval or exit snapshot. */
    first_is_fork_child = 1;
    hs_flusher_start();
}
