/* cpuprof.c - SIGPROF for the live service: owns our SIGPROF handler, the
 * per-thread CPU timers of a CPU profile, the ring of samples the handler
 * fills and the slots threads unwind themselves into for a thread dump.
 * Everything the handler touches is preallocated (mmap) and lock-free; the
 * handler never allocates, never takes a lock, keeps errno, and never
 * unwinds a thread that was interrupted inside our own sampling or libunwind
 * (it records the PC alone). It never takes SIGPROF from the program: the
 * handler is installed only over the default action, and then stays (see
 * hs_cpuprof_claim_signal). Neighbours: live_cpu.c (the HTTP side) calls
 * it; it reads threads.c's TLS and capture.c's unwinding mark, and hooks
 * threads.c's trampoline. */
#include "cpuprof.h"
#include "procfs.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libunwind.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "arena.h"
#include "capture.h"
#include "threads.h"

/* What our own signals carry: a timer's sigev_value, a dump request's
 * si_value. A SIGPROF without one of them is not ours (see foreign()). */
#define TIMER_COOKIE 0x48535450 /* "HSTP" */
#define DUMP_COOKIE 0x48534454  /* "HSDT" */

/* ---- ownership of SIGPROF ------------------------------------------------------- */

static void on_sigprof(int sig, siginfo_t *si, void *ucv);

static int is_ours(const struct sigaction *sa) { return (sa->sa_flags & SA_SIGINFO) && sa->sa_sigaction == on_sigprof; }
static int is_default(const struct sigaction *sa) { return !(sa->sa_flags & SA_SIGINFO) && sa->sa_handler == SIG_DFL; }

static void describe(const struct sigaction *sa, char *why, size_t len)
{
    if (!(sa->sa_flags & SA_SIGINFO) && sa->sa_handler == SIG_IGN) {
        snprintf(why, len, "the program ignores SIGPROF (SIG_IGN); heapscope does not take the signal over");
        return;
    }
    void *fn = (sa->sa_flags & SA_SIGINFO) ? (void *)(uintptr_t)sa->sa_sigaction : (void *)(uintptr_t)sa->sa_handler;
    Dl_info info;
    int known = dladdr(fn, &info) != 0;
    const char *where = known && info.dli_fname ? info.dli_fname : "?";
    const char *name = known && info.dli_sname ? info.dli_sname : "";
    snprintf(why, len,
             "the program handles SIGPROF itself (handler %p%s%s in %s: a profiler of its own?); heapscope does not "
             "take the signal over",
             fn, *name ? " " : "", name, where);
}

/* Installed only over SIG_DFL, and never uninstalled. The alternative,
 * restoring SIG_DFL after a profile, needs proof that no timer signal is
 * still pending on any thread: a thread with SIGPROF blocked keeps one
 * pending until it unblocks, and SIGPROF's default action kills the
 * process. Kept, the handler ignores our late signals and gives every
 * foreign SIGPROF the default action (foreign()), so the program sees the
 * same behaviour as before, except that sigaction(SIGPROF) now reports a
 * handler. A program that installs its own later simply replaces ours;
 * each request checks again (hs_cpuprof_signal_is_ours). */
int hs_cpuprof_claim_signal(char *why, size_t len)
{
    struct sigaction cur;
    if (sigaction(SIGPROF, NULL, &cur) != 0) {
        snprintf(why, len, "cannot read SIGPROF's disposition");
        return -1;
    }
    if (is_ours(&cur))
        return 0;
    if (!is_default(&cur)) {
        describe(&cur, why, len);
        return -1;
    }
    struct sigaction sa, prev;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_sigprof;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGPROF, &sa, &prev) != 0) {
        snprintf(why, len, "cannot install a SIGPROF handler");
        return -1;
    }
    if (!is_default(&prev) && !is_ours(&prev)) {
        /* The program installed its own between our look and our install. */
        sigaction(SIGPROF, &prev, NULL);
        describe(&prev, why, len);
        return -1;
    }
    return 0;
}

int hs_cpuprof_signal_is_ours(void)
{
    struct sigaction cur;
    return sigaction(SIGPROF, NULL, &cur) == 0 && is_ours(&cur);
}

/* A SIGPROF that is not ours reached our handler, which we installed over
 * the default action: give it that action (terminate), as it would have had
 * without us. The signal is blocked while its handler runs, so the re-sent
 * one is delivered, and kills, when this handler returns. */
static void foreign(void)
{
    struct sigaction cur;
    if (sigaction(SIGPROF, NULL, &cur) != 0 || !is_ours(&cur))
        return; /* the program installed its own meanwhile: its business */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(SIGPROF, &dfl, NULL);
    syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGPROF);
}

/* ---- threads --------------------------------------------------------------------- */

static uint32_t gettid_now(void) { return (uint32_t)syscall(SYS_gettid); }

/* ---- unwinding in the handler ------------------------------------------------------ */

typedef struct {
    ucontext_t *uc;
    uintptr_t *pc;
    uint32_t max, depth;
} unwind_job_t;

/* From the interrupted context: pc[0] is the interrupted PC, the rest are
 * return addresses. libunwind's local unwinding with per-thread caches
 * (capture.c sets the policy) takes no lock. */
static void unwind_context(void *arg)
{
    unwind_job_t *job = arg;
    unw_cursor_t cursor;
    job->depth = 0;
    if (unw_init_local2(&cursor, (unw_context_t *)job->uc, UNW_INIT_SIGNAL_FRAME) < 0)
        return;
    do {
        unw_word_t ip;
        if (unw_get_reg(&cursor, UNW_REG_IP, &ip) < 0 || ip == 0)
            break;
        job->pc[job->depth++] = (uintptr_t)ip;
    } while (job->depth < job->max && unw_step(&cursor) > 0);
}

static uintptr_t interrupted_pc(const ucontext_t *uc)
{
#if defined(__x86_64__)
    return (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
#else
    (void)uc;
    return 0;
#endif
}

/* Fills pc[] with the interrupted thread's stack; returns the depth and sets
 * *flags. A thread interrupted inside our sampling (in_hook) or inside
 * libunwind for us must not enter libunwind again (its per-thread cache and
 * validation pipe are mid-use): its PC alone is recorded, so the CPU time
 * still counts, in the function it was spent in. */
static uint32_t fill_stack(ucontext_t *uc, uintptr_t *pc, uint32_t max, uint32_t *flags)
{
    hs_tls_t *t = &hs_tls;
    *flags = HS_CPUPROF_SAMPLE_EXACT_LEAF;
    if (t->in_hook || hs_capture_unwinding) {
        *flags |= HS_CPUPROF_SAMPLE_NOT_UNWOUND;
        pc[0] = interrupted_pc(uc);
        return 1;
    }
    /* in_hook: a malloc from a host handler that interrupts us is not
     * sampled (it would unwind on the same cache); hs_capture_unwinding:
     * libunwind's validation pipe is guarded (preload/unwind_guard.c). */
    t->in_hook++;
    hs_capture_unwinding = 1;
    unwind_job_t job = {.uc = uc, .pc = pc, .max = max, .depth = 0};
    /* A tracked thread has a sampling stack of its own (libunwind needs a
     * few KiB; the host's thread may be small); the others unwind here. */
    if (t->attached != HS_THREAD_TRACKED || t->block == &hs_block_unattached ||
        hs_threads_run_on_own_stack(t, unwind_context, &job) != 0)
        unwind_context(&job);
    hs_capture_unwinding = 0;
    t->in_hook--;
    if (job.depth == 0) {
        *flags |= HS_CPUPROF_SAMPLE_NOT_UNWOUND;
        pc[0] = interrupted_pc(uc);
        return 1;
    }
    return job.depth;
}

/* ---- the sample ring: bounded MPSC (Vyukov), producers in the handler --------------
 * A cell's sequence number is stored relative to its index, so the initial
 * state is all zeros (fresh mmap). Producers claim a cell with one CAS on
 * head and publish it with a release store; the one consumer (the server
 * thread) reads published cells in order. A full ring drops the sample
 * (counted). Each sample carries the profile's generation, so one that a
 * late handler publishes after its profile ended is skipped by the next. */
#define RING_SLOTS 4096u
typedef struct {
    _Atomic uint64_t seq;
    uint32_t gen, pad;
    hs_cpuprof_sample_t s;
} ring_cell_t;

static _Atomic(ring_cell_t *) ring;
static _Atomic uint64_t ring_head;
static uint64_t ring_tail; /* the consumer's */

static ring_cell_t *ring_claim(ring_cell_t *r, uint64_t *pos_out)
{
    uint64_t pos = atomic_load_explicit(&ring_head, memory_order_relaxed);
    for (;;) {
        uint64_t index = pos % RING_SLOTS;
        /* acquire: the consumer's release store freed the cell */
        uint64_t seq = atomic_load_explicit(&r[index].seq, memory_order_acquire) + index;
        int64_t dif = (int64_t)(seq - pos);
        if (dif == 0) {
            if (atomic_compare_exchange_weak_explicit(&ring_head, &pos, pos + 1, memory_order_relaxed,
                                                      memory_order_relaxed)) {
                *pos_out = pos;
                return &r[index];
            }
        } else if (dif < 0) {
            return NULL; /* full */
        } else {
            pos = atomic_load_explicit(&ring_head, memory_order_relaxed);
        }
    }
}

/* ---- the CPU profile's state ---------------------------------------------------------- */

/* The timers, by thread: open addressing on tid (claimed with one CAS, so a
 * thread that starts its own timer in the trampoline and the server's scan
 * of /proc never give it two). */
enum { T_FREE, T_CREATING, T_ARMED, T_DELETING, T_DONE };
typedef struct {
    _Atomic uint32_t tid;
    _Atomic uint32_t state;
    int32_t timer_id;
    uint32_t pad;
} timer_slot_t;

static timer_slot_t *timers;
static _Atomic int busy;     /* a profile holds the machinery (start .. release) */
static _Atomic int active;   /* timers may run and samples are taken */
static _Atomic int creators; /* threads between their look at `active` and arming their timer */
static _Atomic uint32_t gen;
static _Atomic uint64_t st_samples, st_dropped, st_not_unwound;
static _Atomic uint32_t st_timed, st_timer_errors;
static uint32_t excluded; /* the server thread */
static pid_t profile_pid;
static _Atomic pid_t owner_pid;                /* the process that last used the machinery */
static uint32_t tid_buf[HS_CPUPROF_MAX_TIMED]; /* the server thread's scans */

static void take_sample(const siginfo_t *si, ucontext_t *uc)
{
    uint32_t g = atomic_load_explicit(&gen, memory_order_acquire);
    ring_cell_t *r = atomic_load_explicit(&ring, memory_order_acquire);
    if (!atomic_load_explicit(&active, memory_order_acquire) || !r)
        return; /* a late signal of an ended profile */
    uint32_t weight = 1 + (si->si_overrun > 0 ? (uint32_t)si->si_overrun : 0);
    uint64_t pos;
    ring_cell_t *c = ring_claim(r, &pos);
    if (!c) {
        atomic_fetch_add_explicit(&st_dropped, weight, memory_order_relaxed);
        return;
    }
    c->gen = g;
    c->s.weight = weight;
    c->s.tid = hs_tls.tid;
    c->s.depth = fill_stack(uc, c->s.pc, HS_CPUPROF_MAX_DEPTH, &c->s.flags);
    atomic_fetch_add_explicit(&st_samples, weight, memory_order_relaxed);
    if (c->s.flags & HS_CPUPROF_SAMPLE_NOT_UNWOUND)
        atomic_fetch_add_explicit(&st_not_unwound, weight, memory_order_relaxed);
    /* release: the sample's bytes before the consumer sees the cell ready */
    atomic_store_explicit(&c->seq, pos + 1 - pos % RING_SLOTS, memory_order_release);
}

static timer_slot_t *timer_slot(uint32_t tid)
{
    uint32_t i = (uint32_t)((tid * 2654435761u) % HS_CPUPROF_MAX_TIMED);
    for (uint32_t probes = 0; probes < HS_CPUPROF_MAX_TIMED; probes++, i = (i + 1) % HS_CPUPROF_MAX_TIMED) {
        uint32_t cur = atomic_load_explicit(&timers[i].tid, memory_order_acquire);
        if (cur == tid)
            return &timers[i];
        if (cur == 0) {
            if (atomic_compare_exchange_strong_explicit(&timers[i].tid, &cur, tid, memory_order_acq_rel,
                                                        memory_order_acquire) ||
                cur == tid)
                return &timers[i];
        }
    }
    return NULL;
}

static void timer_delete_slot(timer_slot_t *s)
{
    uint32_t armed = T_ARMED;
    if (atomic_compare_exchange_strong(&s->state, &armed, T_DELETING)) {
        syscall(SYS_timer_delete, s->timer_id);
        atomic_store(&s->state, T_DONE);
    }
}

/* The first expiry, uniform in (0, period]: with a full period first, a
 * thread that lives less than 10 ms of CPU would never be sampled (a pool
 * of short-lived workers would vanish from the profile); at random, each
 * thread's expected samples are its CPU time / period (Go does the same). */
static long first_expiry_ns(uint32_t tid)
{
    static _Atomic uint64_t seed = 0x9E3779B97F4A7C15ull;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t x = atomic_fetch_add_explicit(&seed, 0x9E3779B97F4A7C15ull, memory_order_relaxed) ^
                 ((uint64_t)ts.tv_nsec << 17) ^ tid;
    x ^= x >> 33; /* a splitmix64 finalizer */
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return 1 + (long)(x % HS_CPUPROF_PERIOD_NS);
}

/* A CPU timer on thread tid's clock, SIGPROF to that thread, every 10 ms of
 * its CPU time. Raw syscalls: the kernel's timer id, no librt. */
static int timer_start(uint32_t tid, int32_t *id)
{
    struct sigevent sev;
    memset(&sev, 0, sizeof(sev));
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = SIGPROF;
    sev.sigev_value.sival_int = TIMER_COOKIE;
    sev._sigev_un._tid = (pid_t)tid;
    /* The kernel's MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED): ~tid << 3 | 4 | 2. */
    clockid_t clock = (clockid_t)((~tid << 3) | 6u);
    int kid;
    if (syscall(SYS_timer_create, clock, &sev, &kid) != 0)
        return -1;
    struct itimerspec its = {.it_interval = {0, (long)HS_CPUPROF_PERIOD_NS}, .it_value = {0, first_expiry_ns(tid)}};
    if (syscall(SYS_timer_settime, kid, 0, &its, NULL) != 0) {
        syscall(SYS_timer_delete, kid);
        return -1;
    }
    *id = kid;
    return 0;
}

/* Gives thread tid a timer unless it has one. The `creators` count and the
 * seq_cst order make stop and the creators meet: either stop sees the
 * creator counted (and waits for it), or the creator sees `active` clear
 * (and makes nothing); a timer armed as stop walks the table is deleted by
 * whichever of the two gets its slot first (timer_delete_slot's CAS). */
static void ensure_timer(uint32_t tid)
{
    atomic_fetch_add(&creators, 1);
    if (!atomic_load(&active))
        goto out;
    timer_slot_t *s = timer_slot(tid);
    if (!s) {
        atomic_fetch_add_explicit(&st_timer_errors, 1, memory_order_relaxed);
        goto out;
    }
    uint32_t st = atomic_load(&s->state);
    /* T_DONE: the thread that had the slot exited and its id was reused. */
    if ((st != T_FREE && st != T_DONE) || !atomic_compare_exchange_strong(&s->state, &st, T_CREATING))
        goto out;
    int32_t id;
    if (timer_start(tid, &id) != 0) {
        /* ESRCH/EINVAL: the thread is gone; anything else counts */
        if (errno != ESRCH && errno != EINVAL)
            atomic_fetch_add_explicit(&st_timer_errors, 1, memory_order_relaxed);
        atomic_store(&s->state, T_DONE);
        goto out;
    }
    s->timer_id = id;
    atomic_store(&s->state, T_ARMED);
    atomic_fetch_add_explicit(&st_timed, 1, memory_order_relaxed);
    if (!atomic_load(&active))
        timer_delete_slot(s);
out:
    atomic_fetch_sub(&creators, 1);
}

/* threads.c's trampoline: a thread started during a profile times itself. */
static void on_thread_start(void)
{
    if (atomic_load_explicit(&active, memory_order_relaxed))
        ensure_timer(gettid_now());
}

/* Zeroes a private anonymous mapping by giving its pages back (no RSS kept). */
static void zero_pages(void *p, size_t size)
{
    if (madvise(p, size, MADV_DONTNEED) != 0)
        memset(p, 0, size);
}

static void pause_briefly(void)
{
    struct timespec ts = {0, 50000};
    nanosleep(&ts, NULL);
}

/* Waits (at most ~100 ms) until no thread is between its look at `active`
 * and its timer. Returns 0, or -1 when one still is. */
static int wait_creators(void)
{
    for (int i = 0; i < 2000; i++) {
        if (atomic_load(&creators) == 0)
            return 0;
        pause_briefly();
    }
    return -1;
}

int hs_cpuprof_start(uint32_t exclude)
{
    int expected = 0;
    if (!atomic_compare_exchange_strong(&busy, &expected, 1)) {
        errno = EBUSY;
        return -1;
    }
    if (!atomic_load_explicit(&ring, memory_order_acquire)) {
        ring_cell_t *r = hs_map(sizeof(ring_cell_t) * RING_SLOTS);
        if (r)
            atomic_store_explicit(&ring, r, memory_order_release);
    }
    if (!timers)
        timers = hs_map(sizeof(timer_slot_t) * HS_CPUPROF_MAX_TIMED);
    if (!atomic_load(&ring) || !timers) {
        atomic_store(&busy, 0);
        errno = ENOMEM;
        return -1;
    }
    if (wait_creators() != 0) {
        atomic_store(&busy, 0);
        errno = EBUSY;
        return -1;
    }
    /* No creator runs (active is clear): the table is ours to reset. */
    zero_pages(timers, sizeof(timer_slot_t) * HS_CPUPROF_MAX_TIMED);
    atomic_store(&st_samples, 0);
    atomic_store(&st_dropped, 0);
    atomic_store(&st_not_unwound, 0);
    atomic_store(&st_timed, 0);
    atomic_store(&st_timer_errors, 0);
    excluded = exclude;
    profile_pid = getpid();
    atomic_store(&owner_pid, profile_pid);
    atomic_fetch_add_explicit(&gen, 1, memory_order_release);
    atomic_store_explicit(&hs_threads_start_hook, on_thread_start, memory_order_release);
    atomic_store(&active, 1);
    hs_cpuprof_rescan();
    return 0;
}

void hs_cpuprof_rescan(void)
{
    if (!atomic_load(&active))
        return;
    long n = hs_proc_tasks(tid_buf, HS_CPUPROF_MAX_TIMED, excluded);
    for (long i = 0; i < n && i < (long)HS_CPUPROF_MAX_TIMED; i++)
        ensure_timer(tid_buf[i]);
    /* Timers of threads that exited: each is a kernel object holding a
     * preallocated signal (counted in RLIMIT_SIGPENDING) until deleted. */
    for (uint32_t i = 0; i < HS_CPUPROF_MAX_TIMED; i++) {
        timer_slot_t *s = &timers[i];
        if (atomic_load_explicit(&s->state, memory_order_relaxed) != T_ARMED)
            continue;
        uint32_t tid = atomic_load_explicit(&s->tid, memory_order_relaxed);
        if (syscall(SYS_tgkill, profile_pid, tid, 0) != 0 && errno == ESRCH)
            timer_delete_slot(s);
    }
}

size_t hs_cpuprof_drain(void (*fn)(const hs_cpuprof_sample_t *s, void *ctx), void *ctx)
{
    ring_cell_t *r = atomic_load_explicit(&ring, memory_order_acquire);
    if (!r)
        return 0;
    uint32_t g = atomic_load_explicit(&gen, memory_order_relaxed);
    size_t n = 0;
    for (;;) {
        uint64_t pos = ring_tail, index = pos % RING_SLOTS;
        ring_cell_t *c = &r[index];
        /* acquire: pairs with the producer's publishing store */
        if (atomic_load_explicit(&c->seq, memory_order_acquire) + index != pos + 1)
            break;
        if (c->gen == g && fn) {
            fn(&c->s, ctx);
            n++;
        }
        /* release: done reading before a producer may reuse the cell */
        atomic_store_explicit(&c->seq, pos + RING_SLOTS - index, memory_order_release);
        ring_tail = pos + 1;
    }
    return n;
}

void hs_cpuprof_stop(void)
{
    if (!timers)
        return;
    atomic_store(&active, 0);
    wait_creators(); /* a late one deletes its own timer (ensure_timer) */
    for (uint32_t i = 0; i < HS_CPUPROF_MAX_TIMED; i++)
        if (atomic_load_explicit(&timers[i].state, memory_order_relaxed) != T_FREE)
            timer_delete_slot(&timers[i]);
}

void hs_cpuprof_release(void) { atomic_store(&busy, 0); }

void hs_cpuprof_stats(hs_cpuprof_stats_t *out)
{
    out->samples = atomic_load_explicit(&st_samples, memory_order_relaxed);
    out->dropped = atomic_load_explicit(&st_dropped, memory_order_relaxed);
    out->not_unwound = atomic_load_explicit(&st_not_unwound, memory_order_relaxed);
    out->threads_timed = atomic_load_explicit(&st_timed, memory_order_relaxed);
    out->timer_errors = atomic_load_explicit(&st_timer_errors, memory_order_relaxed);
}

/* ---- the thread dump ------------------------------------------------------------------
 * Slot state: gen << 2 | phase. A thread answers only a request of the
 * current generation (CAS REQUESTED -> WRITING), so a late signal of an
 * earlier dump writes nothing. */
enum { D_REQUESTED = 0, D_WRITING = 1, D_DONE = 2, D_CLOSED = 3 };
typedef struct {
    _Atomic uint32_t tid;
    _Atomic uint64_t state;
    uint32_t flags, depth;
    uintptr_t pc[HS_CPUPROF_MAX_DEPTH];
} dump_slot_t;

static dump_slot_t *dump_slots;
static _Atomic int dump_busy, dump_active;
static _Atomic uint64_t dump_gen;
static _Atomic uint32_t dump_n;
static unsigned char dump_gone[HS_CPUPROF_MAX_DUMPED];

static void answer_dump(ucontext_t *uc)
{
    uint64_t g = atomic_load_explicit(&dump_gen, memory_order_acquire);
    uint32_t n = atomic_load_explicit(&dump_n, memory_order_acquire);
    dump_slot_t *slots = dump_slots;
    if (!slots)
        return;
    uint32_t me = gettid_now();
    for (uint32_t i = 0; i < n; i++) {
        if (atomic_load_explicit(&slots[i].tid, memory_order_relaxed) != me)
            continue;
        uint64_t expected = g << 2 | D_REQUESTED;
        if (!atomic_compare_exchange_strong(&slots[i].state, &expected, g << 2 | D_WRITING))
            return;
        slots[i].depth = fill_stack(uc, slots[i].pc, HS_CPUPROF_MAX_DEPTH, &slots[i].flags);
        /* release: the stack before the server sees DONE */
        atomic_store_explicit(&slots[i].state, g << 2 | D_DONE, memory_order_release);
        return;
    }
}

static int ask(uint32_t tid)
{
    siginfo_t info;
    memset(&info, 0, sizeof(info));
    info.si_signo = SIGPROF;
    info.si_code = SI_QUEUE;
    info.si_pid = getpid();
    info.si_uid = getuid();
    info.si_value.sival_int = DUMP_COOKIE;
    return (int)syscall(SYS_rt_tgsigqueueinfo, getpid(), tid, SIGPROF, &info);
}

int hs_cpuprof_dump_begin(const uint32_t *tids, size_t n)
{
    int expected = 0;
    if (!atomic_compare_exchange_strong(&dump_busy, &expected, 1)) {
        errno = EBUSY;
        return -1;
    }
    if (!dump_slots)
        dump_slots = hs_map(sizeof(dump_slot_t) * HS_CPUPROF_MAX_DUMPED);
    if (!dump_slots) {
        atomic_store(&dump_busy, 0);
        errno = ENOMEM;
        return -1;
    }
    if (n > HS_CPUPROF_MAX_DUMPED)
        n = HS_CPUPROF_MAX_DUMPED;
    /* A thread of the last dump that was still unwinding at its end owns its
     * slot until it is done: wait a little, else refuse. */
    uint32_t last = atomic_load(&dump_n);
    for (uint32_t i = 0; i < last; i++) {
        int tries = 0;
        while ((atomic_load(&dump_slots[i].state) & 3) == D_WRITING && tries++ < 2000)
            pause_briefly();
        if ((atomic_load(&dump_slots[i].state) & 3) == D_WRITING) {
            atomic_store(&dump_busy, 0);
            errno = EBUSY;
            return -1;
        }
    }
    atomic_store(&owner_pid, getpid());
    uint64_t g = atomic_load(&dump_gen) + 1;
    for (size_t i = 0; i < n; i++) {
        atomic_store_explicit(&dump_slots[i].tid, tids[i], memory_order_relaxed);
        atomic_store_explicit(&dump_slots[i].state, g << 2 | D_REQUESTED, memory_order_relaxed);
        dump_slots[i].depth = 0;
        dump_gone[i] = 0;
    }
    atomic_store(&dump_n, (uint32_t)n);
    atomic_store(&dump_gen, g); /* seq_cst: the slots before a handler can see the generation */
    atomic_store(&dump_active, 1);
    for (size_t i = 0; i < n; i++)
        if (tids[i] == 0 || (ask(tids[i]) != 0 && errno == ESRCH))
            dump_gone[i] = 1;
    return 0;
}

size_t hs_cpuprof_dump_poll(int resend)
{
    uint64_t g = atomic_load(&dump_gen);
    uint32_t n = atomic_load(&dump_n);
    size_t waiting = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (dump_gone[i])
            continue;
        uint64_t st = atomic_load_explicit(&dump_slots[i].state, memory_order_acquire);
        if (st == (g << 2 | D_DONE))
            continue;
        waiting++;
        if (resend && st == (g << 2 | D_REQUESTED) && ask(atomic_load(&dump_slots[i].tid)) != 0 && errno == ESRCH)
            dump_gone[i] = 1;
    }
    return waiting;
}

void hs_cpuprof_dump_end(hs_cpuprof_stack_t *out, size_t n)
{
    uint64_t g = atomic_load(&dump_gen);
    uint32_t have = atomic_load(&dump_n);
    atomic_store(&dump_active, 0);
    for (size_t i = 0; i < n; i++) {
        hs_cpuprof_stack_t *o = &out[i];
        memset(o, 0, sizeof(*o));
        if (i >= have) {
            o->result = HS_CPUPROF_DUMP_NO_ANSWER;
            continue;
        }
        dump_slot_t *s = &dump_slots[i];
        o->tid = atomic_load_explicit(&s->tid, memory_order_relaxed);
        if (dump_gone[i]) {
            o->result = HS_CPUPROF_DUMP_GONE;
            continue;
        }
        uint64_t requested = g << 2 | D_REQUESTED;
        if (atomic_compare_exchange_strong(&s->state, &requested, g << 2 | D_CLOSED)) {
            o->result = HS_CPUPROF_DUMP_NO_ANSWER;
            continue;
        }
        /* Writing: it runs its handler now, give it a moment. */
        for (int tries = 0; (atomic_load(&s->state) & 3) == D_WRITING && tries < 400; tries++)
            pause_briefly();
        if (atomic_load_explicit(&s->state, memory_order_acquire) != (g << 2 | D_DONE)) {
            o->result = HS_CPUPROF_DUMP_UNWINDING;
            continue;
        }
        o->result = HS_CPUPROF_DUMP_ANSWERED;
        o->flags = s->flags;
        o->depth = s->depth;
        memcpy(o->pc, s->pc, sizeof(uintptr_t) * s->depth);
    }
    atomic_store(&dump_busy, 0);
}

/* ---- the handler ------------------------------------------------------------------------ */

static void on_sigprof(int sig, siginfo_t *si, void *ucv)
{
    (void)sig;
    int saved_errno = errno;
    ucontext_t *uc = ucv;
    int dump = atomic_load_explicit(&dump_active, memory_order_acquire);
    if (si->si_code == SI_TIMER && si->si_value.sival_int == TIMER_COOKIE) {
        take_sample(si, uc);
    } else if (si->si_code == SI_QUEUE && si->si_value.sival_int == DUMP_COOKIE && si->si_pid == getpid()) {
        /* answered below */
    } else {
        foreign();
        errno = saved_errno;
        return;
    }
    /* Any of our signals answers a pending dump request: a request sent
     * while a timer's SIGPROF was pending merged with it. */
    if (dump)
        answer_dump(uc);
    errno = saved_errno;
}

static void after_fork_child(void)
{
    /* One thread here, and none of the parent's timers (POSIX timers are
     * not inherited): forget the parent's profile and dump. A cell a parent
     * thread had claimed but not published would stop the consumer for
     * good: start the ring over. */
    atomic_store(&active, 0);
    atomic_store(&creators, 0);
    ring_cell_t *r = atomic_load(&ring);
    if (r)
        zero_pages(r, sizeof(ring_cell_t) * RING_SLOTS);
    atomic_store(&ring_head, 0);
    ring_tail = 0;
    if (timers)
        zero_pages(timers, sizeof(timer_slot_t) * HS_CPUPROF_MAX_TIMED);
    atomic_store(&busy, 0);
    atomic_store(&dump_active, 0);
    if (dump_slots)
        zero_pages(dump_slots, sizeof(dump_slot_t) * HS_CPUPROF_MAX_DUMPED);
    atomic_store(&dump_n, 0);
    atomic_store(&dump_busy, 0);
}

void hs_cpuprof_abort(void)
{
    pid_t me = getpid(), owner = atomic_load(&owner_pid);
    if (owner == 0)
        return; /* never used */
    if (owner != me) {
        after_fork_child();
        atomic_store(&owner_pid, me);
        return;
    }
    hs_cpuprof_stop();
}
