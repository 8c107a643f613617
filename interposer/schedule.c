/* schedule.c - decides when a snapshot is written, and by whom; what goes
 * into it is snapshot.c's.
 *
 * There is no thread of ours (a resident thread changes the host: glibc's
 * single-thread fast path, unshare(CLONE_NEWUSER), RLIMIT_NPROC, a process
 * whose last thread calls pthread_exit never ending). A snapshot is written
 * by one of the program's own threads at a point it already passes through
 * (a sampled allocation, a thread start, fork, dlclose, exit) once one is
 * due: the interval has passed (1 s, 2 s, 4 s ... up to HEAPSCOPE_INTERVAL,
 * so a short run that dies without exit() still leaves data) or a signal or
 * fork asked for one. One thread at a time: the lock is a word holding the
 * writer's tid, taken with one CAS and never waited for on those paths (try
 * and skip). The work runs on the process's snapshot stack (altstack.c) with
 * asynchronous signals and cancellation held off; nothing here waits for a
 * lock the program can hold, so exit() from a signal handler that
 * interrupted malloc still writes its final snapshot. It also tells a fork
 * child (with or without our atfork handlers) from a vfork child, and starts
 * the child's own dump. Called by record.c (safe points) and lifecycle.c
 * (fork, exit, signal, dlclose); never allocates. */
#include "schedule.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "altstack.h"
#include "arena.h"
#include "clock.h"
#include "config.h"
#include "framefilter.h"
#include "hs_format.h"
#include "identity.h"
#include "log.h"
#include "loss.h"
#include "pprof_files.h"
#include "snapshot.h"
#include "tables.h"
#include "threads.h"
#include "writer.h"

/* take_pending_reason: nothing requested. */
#define NO_REASON 0
/* The first snapshot comes this soon, then the stretch doubles up to the interval. */
#define FIRST_STEP_NS HS_NS_PER_SEC
/* Snapshots one safe point writes at most (each a distinct reason). */
#define MAX_SNAPSHOTS_PER_SAFE_POINT 5
/* A lock held by a thread that no longer exists is taken over only once the
 * interval snapshot is this late (or a fork child has no dump yet). */
#define STEAL_WHEN_OVERDUE_NS (5 * HS_NS_PER_SEC)
/* FORK_PARENT snapshots at most this often: shells fork thousands of times. */
#define FORK_SNAPSHOT_EVERY_NS HS_NS_PER_SEC
/* How long dlclose and exit wait for another thread's snapshot, in 1 ms naps. */
#define UNLOAD_WAIT_MS 1000
#define EXIT_WAIT_MS 2000
#define FORK_MARKER_SIZE 4096

/* The snapshot lock: 0 when free, else the tid of the thread writing. A
 * word rather than a mutex so that a fork child (whose copy may name a
 * parent thread that does not exist there) and the exit path (which may have
 * interrupted its own thread's snapshot) can tell whose it is. */
static _Atomic uint32_t lock_owner;
static _Atomic uint32_t pending;               /* bit (1 << reason) per requested snapshot */
static _Atomic uint64_t due_ns;                /* monotonic time of the next interval snapshot */
static uint64_t step_ns;                       /* the current stretch: 1 s, 2 s ... up to the interval */
static _Atomic int finished;                   /* the final snapshot is written: no more */
static uint32_t stacks_at_last;                /* hs_stack_count() when the last snapshot was written */
static _Atomic uint64_t last_fork_snapshot_ns; /* rate limit for FORK_PARENT snapshots */
static void *snapshot_stack;                   /* top of the snapshot stack, mapped at load */
/* One page the kernel wipes in a fork child (MADV_WIPEONFORK): 1 in the
 * process that loaded us, 0 in a child that has not yet started its own
 * dump. It tells a fork child whose atfork handlers never ran (_Fork, a raw
 * fork or clone) from a vfork child, which shares our memory (the page still
 * says 1 there) and must touch nothing. NULL where the kernel lacks it. */
static _Atomic uint8_t *fork_marker;

static uint32_t my_tid(void)
{
    uint32_t tid = hs_tls.tid;
    return tid ? tid : (uint32_t)hs_threads_gettid();
}

static int tid_exists(uint32_t tid) { return !(syscall(SYS_tgkill, getpid(), (pid_t)tid, 0) == -1 && errno == ESRCH); }

static int lock_try(uint32_t me)
{
    uint32_t cur = 0;
    /* acquire: the previous holder's writes (encoder, per-stack file state) */
    return atomic_compare_exchange_strong_explicit(&lock_owner, &cur, me, memory_order_acquire, memory_order_relaxed);
}

/* Takes over a lock whose holder is no thread of this process: a fork child
 * inherits the word of whichever parent thread was writing, and a thread can
 * end inside a snapshot (pthread_exit from a handler that interrupted it). */
static int lock_steal_from_dead(uint32_t me)
{
    uint32_t cur = atomic_load_explicit(&lock_owner, memory_order_relaxed);
    if (cur == 0 || cur == me || tid_exists(cur))
        return 0;
    return atomic_compare_exchange_strong_explicit(&lock_owner, &cur, me, memory_order_acquire, memory_order_relaxed);
}

static void lock_release(void)
{
    /* release: the next holder sees everything written under the lock */
    atomic_store_explicit(&lock_owner, 0, memory_order_release);
}

/* Waits up to max_ms, in 1 ms naps, for the lock. 1 when taken; 0 when the
 * time ran out or this very thread holds it (a signal handler that
 * interrupted our own snapshot: waiting would never end). */
static int lock_wait(uint32_t me, int max_ms)
{
    for (int waited_ms = 0;; waited_ms++) {
        if (lock_try(me) || lock_steal_from_dead(me))
            return 1;
        if (waited_ms >= max_ms || atomic_load_explicit(&lock_owner, memory_order_relaxed) == me)
            return 0;
        struct timespec ms = {0, (long)HS_NS_PER_MS};
        nanosleep(&ms, NULL);
    }
}

static int fork_marker_wiped(void)
{
    return fork_marker && atomic_load_explicit(fork_marker, memory_order_relaxed) == 0;
}

static void schedule_first(uint64_t now)
{
    uint64_t interval = hs_cfg.interval_ms * HS_NS_PER_MS;
    step_ns = interval < FIRST_STEP_NS ? interval : FIRST_STEP_NS;
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
    hs_snapshot_reset_after_fork();
    hs_identity_renew_after_fork(&hs_identity);
    schedule_first(hs_identity.start_mono_ns);
    /* No snapshot now: most children exec or _exit at once, and the file is
     * created only by the first due or exit snapshot. */
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
        return NO_REASON;
    /* One snapshot per distinct reason (a signal and a fork in the same
     * instant are two events); the others stay pending. */
    static const int order[] = {HS_REASON_FORK_CHILD, HS_REASON_FORK_PARENT, HS_REASON_SIGNAL, HS_REASON_INTERVAL};
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
    hs_snapshot_write(job->reason, job->with_end, job->may_lock);
    stacks_at_last = nstacks;
    hs_framefilter_warm(); /* HEAPSCOPE_DROP_FRAMES's warning, early; nothing when forbidden */
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

/* Runs fn(arg) (a snapshot, a profile file) on the snapshot stack. Caller
 * holds the lock, with asynchronous signals blocked. The host's
 * cancellation is held off too: write() is a cancellation point, and a
 * thread cancelled there would leave the lock held. */
static void on_snapshot_stack(void (*fn)(void *), void *arg)
{
    int cancel_state;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
    hs_tls.in_hook++;
    if (hs_altstack_call(snapshot_stack, fn, arg) != 0)
        hs_loss_count("no stack for the snapshot writer");
    hs_tls.in_hook--;
    pthread_setcancelstate(cancel_state, NULL);
}

/* Writes one snapshot on the snapshot stack. */
static void write_on_own_stack(int reason, int with_end, int may_lock)
{
    snapshot_job_t job = {reason, with_end, may_lock};
    on_snapshot_stack(run_job, &job);
}

/* Everything due, with the lock held. */
static void write_due_locked(uint64_t now)
{
    if (check_process_locked() != SAME_PROCESS)
        return;
    for (int turns = 0; turns < MAX_SNAPSHOTS_PER_SAFE_POINT && !atomic_load(&finished); turns++) {
        int reason = take_pending_reason();
        if (reason == NO_REASON && now >= atomic_load_explicit(&due_ns, memory_order_relaxed)) {
            reason = HS_REASON_INTERVAL;
            uint64_t interval = hs_cfg.interval_ms * HS_NS_PER_MS;
            /* From now, not from the old due time: a process that was
             * stopped (or did not allocate) for a while does not burst. */
            atomic_store_explicit(&due_ns, now + step_ns, memory_order_relaxed);
            step_ns = step_ns * 2 < interval ? step_ns * 2 : interval;
        }
        if (reason == NO_REASON)
            break;
        write_on_own_stack(reason, 0, 1);
    }
}

void hs_schedule_request(int reason)
{
    /* One atomic or: async-signal-safe. The snapshot itself is written by
     * the next thread that passes a safe point. */
    atomic_fetch_or_explicit(&pending, 1u << reason, memory_order_relaxed);
}

static void files_job(void *arg) { hs_pprof_files_write(*(const uint64_t *)arg); }

/* The periodic profile file (pprof_files.c), with the lock held, on the
 * snapshot stack like a snapshot. It builds the profile with the real
 * allocator (in_hook set: unrecorded), so only the program's safe points
 * write it: never exit, fork handlers or signal paths. */
static void write_files_locked(uint64_t now)
{
    if (check_process_locked() != SAME_PROCESS || !hs_pprof_files_is_due(now))
        return;
    on_snapshot_stack(files_job, &now);
}

/* may_write_files: 0 from the fork handler (malloc is not safe there). */
static void safe_point(int may_write_files)
{
    /* Every sample passes here (every allocation at rate 1): the coarse
     * clock decides, a snapshot may start up to one tick late. */
    uint64_t coarse = hs_now_coarse_ns();
    if (!atomic_load_explicit(&pending, memory_order_relaxed) &&
        coarse < atomic_load_explicit(&due_ns, memory_order_relaxed) && !fork_marker_wiped() &&
        !(may_write_files && hs_pprof_files_is_due(coarse)))
        return;
    uint64_t now = hs_now_mono_ns();
    if (atomic_load_explicit(&finished, memory_order_relaxed))
        return;
    uint32_t me = my_tid();
    if (atomic_load_explicit(&lock_owner, memory_order_relaxed) != 0) {
        /* Busy: skip, someone is writing. Only a holder that cannot finish
         * (gone from this process) is taken over; checked only when a fork
         * child has no dump of its own yet or the snapshot is well overdue
         * (late wraps around to a huge value while not yet due). */
        uint64_t late = now - atomic_load_explicit(&due_ns, memory_order_relaxed);
        if (!(fork_marker_wiped() || (late < (1ull << 63) && late > STEAL_WHEN_OVERDUE_NS)))
            return;
    }
    sigset_t old;
    block_async_signals(&old);
    if (lock_try(me) || lock_steal_from_dead(me)) {
        /* In the fork handler the allocator may still be locked (jemalloc's
         * own handlers run beside ours): the live leak warning names its
         * site without the frame filter's regexec there. */
        int forbade = hs_framefilter_forbid_alloc(!may_write_files);
        write_due_locked(now);
        if (may_write_files && !atomic_load(&finished))
            write_files_locked(now);
        hs_framefilter_forbid_alloc(forbade);
        lock_release();
    }
    restore_signals(&old);
}

void hs_schedule_safe_point(void) { safe_point(1); }

/* Before dlclose: a stack is symbolized with the MAPPINGS record in force
 * when its STACK record is written, so stacks recorded while the object was
 * loaded must be written before it goes (a library loaded later at the same
 * address would otherwise be blamed for them). Only when stacks are new
 * since the last snapshot; waits (bounded) for a writer in progress, since
 * dlclose is no allocation path and that writer never waits for the program. */
void hs_schedule_before_unload(void)
{
    if (hs_stack_count() == stacks_at_last || atomic_load(&finished))
        return;
    uint32_t me = my_tid();
    sigset_t old;
    block_async_signals(&old);
    if (!lock_wait(me, UNLOAD_WAIT_MS)) {
        restore_signals(&old);
        return;
    }
    if (check_process_locked() == SAME_PROCESS && hs_stack_count() != stacks_at_last && !atomic_load(&finished))
        write_on_own_stack(HS_REASON_DLCLOSE, 0, 1);
    lock_release();
    restore_signals(&old);
}

void hs_schedule_init(void)
{
    uint8_t *page = hs_map(FORK_MARKER_SIZE);
    if (page && madvise(page, FORK_MARKER_SIZE, MADV_WIPEONFORK) == 0) {
        fork_marker = (_Atomic uint8_t *)page;
        atomic_store_explicit(fork_marker, 1, memory_order_relaxed);
    }
    snapshot_stack = hs_altstack_map(HS_ALTSTACK_SNAPSHOT_SIZE);
    schedule_first(hs_now_mono_ns());
}

void hs_schedule_final(void)
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
    sigset_t old;
    block_async_signals(&old);
    if (!lock_wait(me, EXIT_WAIT_MS)) {
        restore_signals(&old);
        hs_log("final snapshot skipped: the dump writer is busy");
        return;
    }
    if (check_process_locked() == SAME_PROCESS) {
        /* may_lock 0: exit() may run in a signal handler that interrupted
         * the allocator, so no allocator statistics that take its locks,
         * and no malloc for the frame filter either. */
        int forbade = hs_framefilter_forbid_alloc(1);
        write_on_own_stack(HS_REASON_EXIT, 1, 0);
        hs_framefilter_forbid_alloc(forbade);
        if (hs_writer_backlog())
            hs_log("%lu bytes of snapshots were never written to %s: the program left no descriptor free",
                   (unsigned long)hs_writer_backlog(), hs_writer_path());
    }
    lock_release();
    restore_signals(&old);
}

void hs_schedule_atfork_parent(void)
{
    /* A shell forks thousands of times: at most one fork snapshot a second,
     * written here and now if no other thread is writing (else it waits for
     * the next safe point). */
    uint64_t now = hs_now_mono_ns();
    if (now - atomic_load(&last_fork_snapshot_ns) < FORK_SNAPSHOT_EVERY_NS)
        return;
    atomic_store(&last_fork_snapshot_ns, now);
    hs_schedule_request(HS_REASON_FORK_PARENT);
    safe_point(0);
}

void hs_schedule_atfork_child(void)
{
    /* Only this thread exists: whoever held the lock in the parent does not. */
    atomic_store_explicit(&lock_owner, 0, memory_order_relaxed);
    if (atomic_load(&finished))
        return; /* forked during exit: nothing more to record */
    become_fork_child();
}
