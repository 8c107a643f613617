/* snapshot.c - when a snapshot is taken, and the snapshot itself: new
 * mappings, new stacks, thread events, then one SNAPSHOT record with the
 * process figures and a row per stack that changed.
 *
 * There is no thread of ours (a resident thread changes the host: glibc's
 * single-thread fast path, unshare(CLONE_NEWUSER), RLIMIT_NPROC, a process
 * whose last thread calls pthread_exit never ending). A snapshot is written
 * by one of the program's own threads at a point it already passes through
 * (a sampled allocation, a thread start, fork, exit) once one is due: the
 * interval has passed (1 s, 2 s, 4 s ... up to HEAPSCOPE_INTERVAL, so a short
 * run that dies without exit() still leaves data) or a signal or fork asked
 * for one. One thread at a time: the lock is a word holding the writer's
 * tid, taken with one CAS and never waited for on those paths (try and
 * skip). The work runs on the process's snapshot stack (altstack.c), never
 * calls malloc, and reads only lock-free tables and cheap figures; nothing
 * in it waits for a lock the program can hold, so exit() from a signal
 * handler that interrupted malloc still writes its final snapshot. */
#include "snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "altstack.h"
#include "arena.h"
#include "heapstats.h"
#include "hs_format.h"
#include "livecheck.h"
#include "log.h"
#include "state.h"
#include "tables.h"

hs_identity_t hs_identity;

/* The snapshot lock: 0 when free, else the tid of the thread writing. A
 * word rather than a mutex so that a fork child (whose copy may name a
 * parent thread that does not exist there) and the exit path (which may have
 * interrupted its own thread's snapshot) can tell whose it is. */
static _Atomic uint32_t lock_owner;
static _Atomic uint32_t pending;       /* bit (1 << reason) per requested snapshot */
static _Atomic uint64_t due_ns;        /* monotonic time of the next interval snapshot */
static uint64_t step_ns;               /* the current stretch: 1 s, 2 s ... up to the interval */
static _Atomic int finished;           /* the final snapshot is written: no more */
static uint32_t snapshot_seq;          /* per file */
static uint32_t stacks_at_last;        /* hs_stack_count() when the last snapshot was written */
static int first_is_fork_child;        /* this process is a fork child with no snapshot yet */
static _Atomic uint64_t last_fork_snapshot_ns; /* rate limit for FORK_PARENT snapshots */
static uint32_t mappings_gen;          /* file generation the mappings were written to */
static unsigned long long mappings_adds, mappings_subs;
static hs_enc_t enc;                   /* reused between snapshots; mmap-backed */
static void *snapshot_stack;           /* top of the snapshot stack, mapped at load */
/* One page the kernel wipes in a fork child (MADV_WIPEONFORK): 1 in the
 * process that loaded us, 0 in a child that has not yet started its own
 * dump. It tells a fork child whose atfork handlers never ran (_Fork, a raw
 * fork or clone) from a vfork child, which shares our memory (the page still
 * says 1 there) and must touch nothing. NULL where the kernel lacks it. */
static _Atomic uint8_t *fork_marker;

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

/* For hs_threads_encode_sites: a creation stack's STACK record goes before
 * the THREAD_SITES record that names it. ctx is the file generation. */
static void encode_creation_stack(uint32_t stack_id, void *ctx)
{
    hs_stack_t *s = hs_stack_by_id(stack_id);
    if (s)
        encode_stack(s, *(const uint32_t *)ctx);
}

/* ---- the snapshot ------------------------------------------------------------ */
static double encode_snapshot(int reason, uint32_t gen, int may_lock, double *est_freed_out)
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
    /* Exact counts by creation site: the events above stop at the queue's size. */
    hs_threads_encode_sites(&enc, gen, encode_creation_stack, &gen);

    /* Never mallinfo2(): it walks every free chunk under the arena lock
     * (150 ms on a fragmented heap, stalling the program) and deadlocks an
     * exit() made from a signal handler that interrupted malloc. The
     * allocator's own cheap figures where it has them (heapstats.c), else
     * the sampled estimate summed below. */
    uint64_t heap_in_use = 0, heap_reserved = 0;
    int heap_source = hs_heapstats_read(&heap_in_use, &heap_reserved, may_lock);
    stats[HS_STAT_HEAP_SOURCE] = (uint64_t)heap_source;
    stats[HS_STAT_RSS] = read_proc_field("/proc/self/statm", 1) * (uint64_t)sysconf(_SC_PAGESIZE);
    uint64_t threads = read_proc_field("/proc/self/stat", 20);
    stats[HS_STAT_LIVE_THREADS] = threads;
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
    if (heap_source == HS_HEAP_SOURCE_SAMPLED)
        heap_reserved = 0; /* not known without walking the heap */
    /* mimalloc (as Debian builds it) knows only what it committed. */
    if (heap_source == HS_HEAP_SOURCE_SAMPLED || heap_in_use == HS_HEAPSTATS_UNKNOWN)
        heap_in_use = est_inuse > 0 ? (uint64_t)(est_inuse + 0.5) : 0;
    stats[HS_STAT_HEAP_IN_USE] = heap_in_use;
    stats[HS_STAT_HEAP_RESERVED] = heap_reserved;
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

/* Builds and appends one snapshot. Caller holds the snapshot lock. Everything is
 * encoded first and the file is created (on the first snapshot) just before
 * the single write, so an exec or _exit in between cannot leave an empty
 * file and the snapshot lands whole or not at all. */
static void write_snapshot_locked(int reason, int with_end, int may_lock)
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
    double est_inuse = encode_snapshot(reason, gen, may_lock, &est_freed);
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


/* ---- when ------------------------------------------------------------------ */

static uint32_t my_tid(void)
{
    uint32_t tid = hs_tls.tid;
    return tid ? tid : (uint32_t)hs_gettid();
}

static int tid_exists(uint32_t tid)
{
    return !(syscall(SYS_tgkill, getpid(), (pid_t)tid, 0) == -1 && errno == ESRCH);
}

static int lock_try(uint32_t me)
{
    uint32_t cur = 0;
    /* acquire: the previous holder's writes (encoder, per-stack file state) */
    return atomic_compare_exchange_strong_explicit(&lock_owner, &cur, me, memory_order_acquire,
                                                   memory_order_relaxed);
}

/* Takes over a lock whose holder is no thread of this process: a fork child
 * inherits the word of whichever parent thread was writing, and a thread can
 * end inside a snapshot (pthread_exit from a handler that interrupted it). */
static int lock_steal_from_dead(uint32_t me)
{
    uint32_t cur = atomic_load_explicit(&lock_owner, memory_order_relaxed);
    if (cur == 0 || cur == me || tid_exists(cur))
        return 0;
    return atomic_compare_exchange_strong_explicit(&lock_owner, &cur, me, memory_order_acquire,
                                                   memory_order_relaxed);
}

static void lock_release(void)
{
    /* release: the next holder sees everything written under the lock */
    atomic_store_explicit(&lock_owner, 0, memory_order_release);
}

static int fork_marker_wiped(void)
{
    return fork_marker && atomic_load_explicit(fork_marker, memory_order_relaxed) == 0;
}

static void schedule_first(uint64_t now)
{
    uint64_t interval = hs_cfg.interval_ms * 1000000ull;
    step_ns = interval < 1000000000ull ? interval : 1000000000ull;
    atomic_store_explicit(&due_ns, now + step_ns, memory_order_relaxed);
}

/* The state a fork child must not keep: the parent's file, requests, queued
 * thread events and call counts (the child's start at the fork). Runs with
 * only this thread alive (atfork child) or under the lock (a child whose
 * atfork handlers never ran). */
static void become_fork_child(void)
{
    hs_threads_after_fork_child();
    hs_writer_reset_after_fork();
    atomic_store(&pending, 0);
    /* The parent may have been growing the buffer when it forked: start over
     * with a fresh one rather than trust a half-updated pointer. */
    enc = (hs_enc_t){0};
    hs_identity.ppid = hs_identity.pid;
    hs_identity.pid = (uint32_t)getpid();
    hs_identity.start_real_ns = hs_now_real_ns();
    hs_identity.start_mono_ns = hs_now_mono_ns();
    schedule_first(hs_identity.start_mono_ns);
    /* No snapshot now: most children exec or _exit at once, and the file is
     * created only by the first due or exit snapshot. */
    first_is_fork_child = 1;
    if (fork_marker)
        atomic_store_explicit(fork_marker, 1, memory_order_relaxed);
}

enum { SAME_PROCESS, SHARED_MEMORY_CHILD };

/* Under the lock, before writing: is this still the process whose dump we
 * write? A child of _Fork() or a raw fork starts its own dump here; a vfork
 * child (or a clone sharing our memory) must touch nothing. */
static int check_process_locked(void)
{
    uint32_t pid = (uint32_t)getpid();
    if (pid == hs_identity.pid)
        return SAME_PROCESS;
    if (fork_marker_wiped()) {
        become_fork_child();
        return SAME_PROCESS;
    }
    return SHARED_MEMORY_CHILD;
}

static int take_pending_reason(void)
{
    uint32_t bits = atomic_exchange_explicit(&pending, 0, memory_order_acquire);
    if (!bits)
        return 0;
    /* One snapshot per distinct reason (a signal and a fork in the same
     * instant are two events); the others stay pending. */
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

typedef struct {
    int reason, with_end, may_lock;
} snapshot_job_t;

static void run_job(void *arg)
{
    snapshot_job_t *job = arg;
    uint32_t nstacks = hs_stack_count();
    write_snapshot_locked(job->reason, job->with_end, job->may_lock);
    stacks_at_last = nstacks;
}

/* Asynchronous signals are held off while this thread holds the lock (a
 * millisecond or so, like a slow system call): a handler that calls exit()
 * would otherwise find its own thread's snapshot half built and could not
 * write the final one. Signals the snapshot itself could raise (a fault)
 * stay open. */
static void block_async_signals(sigset_t *old)
{
    sigset_t async;
    sigfillset(&async);
    static const int synchronous[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT};
    for (size_t i = 0; i < sizeof(synchronous) / sizeof(synchronous[0]); i++)
        sigdelset(&async, synchronous[i]);
    pthread_sigmask(SIG_BLOCK, &async, old);
}

static void restore_signals(const sigset_t *old) { pthread_sigmask(SIG_SETMASK, old, NULL); }

/* Writes one snapshot on the snapshot stack. Caller holds the lock, with
 * asynchronous signals blocked. The host's cancellation is held off too:
 * write() is a cancellation point, and a thread cancelled there would leave
 * the lock held. */
static void write_on_own_stack(int reason, int with_end, int may_lock)
{
    snapshot_job_t job = {reason, with_end, may_lock};
    int cancel_state;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
    hs_tls.in_hook++;
    if (hs_altstack_call(snapshot_stack, run_job, &job) != 0)
        hs_lose_sample("no stack for the snapshot writer");
    hs_tls.in_hook--;
    pthread_setcancelstate(cancel_state, NULL);
}

/* Everything due, with the lock held. */
static void write_due_locked(uint64_t now)
{
    if (check_process_locked() != SAME_PROCESS)
        return;
    for (int turns = 0; turns < 5 && !atomic_load(&finished); turns++) {
        int reason = take_pending_reason();
        if (!reason && now >= atomic_load_explicit(&due_ns, memory_order_relaxed)) {
            reason = HS_REASON_INTERVAL;
            uint64_t interval = hs_cfg.interval_ms * 1000000ull;
            /* From now, not from the old due time: a process that was
             * stopped (or did not allocate) for a while does not burst. */
            atomic_store_explicit(&due_ns, now + step_ns, memory_order_relaxed);
            step_ns = step_ns * 2 < interval ? step_ns * 2 : interval;
        }
        if (!reason)
            break;
        write_on_own_stack(reason, 0, 1);
    }
}

void hs_snapshot_request(int reason)
{
    /* One atomic or: async-signal-safe. The snapshot itself is written by
     * the next thread that passes a safe point. */
    atomic_fetch_or_explicit(&pending, 1u << reason, memory_order_relaxed);
}

void hs_snapshot_safe_point(void)
{
    uint64_t now = hs_now_mono_ns();
    if (!atomic_load_explicit(&pending, memory_order_relaxed) &&
        now < atomic_load_explicit(&due_ns, memory_order_relaxed) && !fork_marker_wiped())
        return;
    if (atomic_load_explicit(&finished, memory_order_relaxed))
        return;
    uint32_t me = my_tid();
    if (atomic_load_explicit(&lock_owner, memory_order_relaxed) != 0) {
        /* Busy: skip, someone is writing. Only a holder that cannot finish
         * (gone from this process) is taken over; checked only when a fork
         * child has no dump of its own yet or the snapshot is well overdue. */
        uint64_t late = now - atomic_load_explicit(&due_ns, memory_order_relaxed);
        if (!(fork_marker_wiped() || (late < (1ull << 63) && late > 5000000000ull)))
            return;
    }
    sigset_t old;
    block_async_signals(&old);
    if (lock_try(me) || lock_steal_from_dead(me)) {
        write_due_locked(now);
        lock_release();
    }
    restore_signals(&old);
}

/* Before dlclose: a stack is symbolized with the MAPPINGS record in force
 * when its STACK record is written, so stacks recorded while the object was
 * loaded must be written before it goes (a library loaded later at the same
 * address would otherwise be blamed for them). Only when stacks are new
 * since the last snapshot; waits (bounded) for a writer in progress, since
 * dlclose is no allocation path and that writer never waits for the program. */
void hs_snapshot_before_unload(void)
{
    if (hs_stack_count() == stacks_at_last || atomic_load(&finished))
        return;
    uint32_t me = my_tid();
    sigset_t old;
    block_async_signals(&old);
    for (int waited_ms = 0;; waited_ms++) {
        if (lock_try(me) || lock_steal_from_dead(me))
            break;
        if (waited_ms >= 1000 || atomic_load_explicit(&lock_owner, memory_order_relaxed) == me) {
            restore_signals(&old);
            return;
        }
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    if (check_process_locked() == SAME_PROCESS && hs_stack_count() != stacks_at_last &&
        !atomic_load(&finished))
        write_on_own_stack(HS_REASON_DLCLOSE, 0, 1);
    lock_release();
    restore_signals(&old);
}

void hs_snapshot_init(void)
{
    uint8_t *page = hs_map(4096);
    if (page && madvise(page, 4096, MADV_WIPEONFORK) == 0) {
        fork_marker = (_Atomic uint8_t *)page;
        atomic_store_explicit(fork_marker, 1, memory_order_relaxed);
    }
    snapshot_stack = hs_altstack_map(HS_ALTSTACK_SNAPSHOT_SIZE);
    schedule_first(hs_now_mono_ns());
}

void hs_snapshot_final(void)
{
    /* A vfork child calling exit() runs our atexit handler on the parent's
     * memory: it must change nothing, not even `finished`. */
    if ((uint32_t)getpid() != hs_identity.pid && !fork_marker_wiped())
        return;
    if (atomic_exchange(&finished, 1))
        return;
    /* A process that ends before its first snapshot without one sampled
     * allocation (a shell's /bin/true, a build's compiler driver) has
     * nothing to show: no file, unless HEAPSCOPE_EMPTY_DUMPS=1. A fork
     * child whose atfork handlers never ran still counts its parent's
     * stacks here; it gets its own (mostly inherited) dump. */
    if (!hs_cfg.empty_dumps && !hs_writer_is_open() && hs_stack_count() == 0)
        return;
    uint32_t me = my_tid();
    /* Another thread may be writing: wait for it, bounded (its write is
     * ours, never blocked by the program, but a disk can hang). If the
     * holder is this very thread, exit() ran in a signal handler that
     * interrupted our snapshot: the half-built one cannot be finished. */
    int have = 0;
    sigset_t old;
    block_async_signals(&old);
    for (int waited_ms = 0; waited_ms < 2000; waited_ms++) {
        if (lock_try(me) || lock_steal_from_dead(me)) {
            have = 1;
            break;
        }
        if (atomic_load_explicit(&lock_owner, memory_order_relaxed) == me)
            break;
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    if (!have) {
        restore_signals(&old);
        hs_log("final snapshot skipped: the dump writer is busy");
        return;
    }
    if (check_process_locked() == SAME_PROCESS) {
        /* may_lock 0: exit() may run in a signal handler that interrupted
         * the allocator, so no allocator statistics that take its locks. */
        write_on_own_stack(HS_REASON_EXIT, 1, 0);
        if (hs_writer_backlog())
            hs_log("%lu bytes of snapshots were never written to %s: the program left no descriptor free",
                   (unsigned long)hs_writer_backlog(), hs_writer_path());
    }
    lock_release();
    restore_signals(&old);
}

void hs_snapshot_atfork_parent(void)
{
    /* A shell forks thousands of times: at most one fork snapshot a second,
     * written here and now if no other thread is writing (else it waits for
     * the next safe point). */
    uint64_t now = hs_now_mono_ns();
    if (now - atomic_load(&last_fork_snapshot_ns) < 1000000000ull)
        return;
    atomic_store(&last_fork_snapshot_ns, now);
    hs_snapshot_request(HS_REASON_FORK_PARENT);
    hs_snapshot_safe_point();
}

void hs_snapshot_atfork_child(void)
{
    /* Only this thread exists: whoever held the lock in the parent does not. */
    atomic_store_explicit(&lock_owner, 0, memory_order_relaxed);
    if (atomic_load(&finished))
        return; /* forked during exit: nothing more to record */
    become_fork_child();
}
