/* cpuprof.h - the SIGPROF machinery behind the live CPU profile and the
 * thread-stack dump (see cpuprof.c): who owns SIGPROF, per-thread CPU
 * timers, the lock-free ring the signal handler writes samples into, and
 * the slots threads unwind themselves into when asked for their stack. The
 * HTTP side (live_cpu.c) turns what comes out into profiles. */
#ifndef HS_CPUPROF_H
#define HS_CPUPROF_H

#include <stddef.h>
#include <stdint.h>

#define HS_CPUPROF_HZ 100
#define HS_CPUPROF_PERIOD_NS (1000000000ull / HS_CPUPROF_HZ)
/* Frames kept per sample (Go keeps 64 too). */
#define HS_CPUPROF_MAX_DEPTH 64
/* Threads that can have a CPU timer in one profile (a thread that exits
 * gives its timer back; its slot is kept) and threads one dump can reach. */
#define HS_CPUPROF_MAX_TIMED 16384
#define HS_CPUPROF_MAX_DUMPED 2048

/* ---- SIGPROF ownership ------------------------------------------------------ */

/* Makes SIGPROF's handler ours, if it is not already: only when the program
 * leaves SIGPROF at its default action. Returns 0, or -1 with a one-line
 * reason in why when the program handles or ignores SIGPROF itself (the
 * caller answers 409). Once installed, the handler stays (a no-op when idle):
 * a timer signal can then never meet the default action, which kills. */
int hs_cpuprof_claim_signal(char *why, size_t len);
/* Is our handler still SIGPROF's? (the program may install its own later) */
int hs_cpuprof_signal_is_ours(void);

/* ---- the CPU profile ---------------------------------------------------------- */

enum {
    HS_CPUPROF_SAMPLE_EXACT_LEAF = 1, /* pc[0] is the interrupted PC, not a return address */
    HS_CPUPROF_SAMPLE_NOT_UNWOUND = 2 /* inside heapscope's own sampling or unwinding: pc[0] only */
};

typedef struct {
    uint32_t weight; /* 1 + timer overruns */
    uint32_t flags;  /* HS_CPUPROF_SAMPLE_* */
    uint32_t tid;
    uint32_t depth;
    uintptr_t pc[HS_CPUPROF_MAX_DEPTH]; /* innermost first */
} hs_cpuprof_sample_t;

typedef struct {
    uint64_t samples;       /* weights taken */
    uint64_t dropped;       /* weights lost: the ring was full */
    uint64_t not_unwound;   /* weights recorded with the PC only */
    uint32_t threads_timed; /* timers started */
    uint32_t timer_errors;  /* threads that could not get a timer (table full, timer_create failed) */
} hs_cpuprof_stats_t;

/* Starts a profile: the ring (mapped on first use), then a 100 Hz timer on
 * the CPU clock of every thread but `exclude`, each delivering SIGPROF to
 * its own thread; threads started from now on through our pthread_create
 * start theirs. Call hs_cpuprof_claim_signal first. Returns 0, or -1 with
 * errno EBUSY (a profile is running: one at a time) or ENOMEM. */
int hs_cpuprof_start(uint32_t exclude);
/* While running: timers for threads that appeared since (started without
 * our trampoline), and back from threads that are gone. */
void hs_cpuprof_rescan(void);
/* Hands every sample published so far to fn (the ring's one consumer).
 * Returns how many. */
size_t hs_cpuprof_drain(void (*fn)(const hs_cpuprof_sample_t *s, void *ctx), void *ctx);
/* Stops every timer; samples already in the ring stay until drained. Any
 * thread; idempotent. */
void hs_cpuprof_stop(void);
/* After the last drain: the next profile may start. */
void hs_cpuprof_release(void);
void hs_cpuprof_stats(hs_cpuprof_stats_t *out);
/* At exit: stops the timers. In a fork child (told apart by its pid: POSIX
 * timers are not inherited, and the child has one thread): forgets the
 * parent's profile and dump so that the child can run its own. Any thread. */
void hs_cpuprof_abort(void);

/* ---- the thread dump ---------------------------------------------------------- */

enum {
    HS_CPUPROF_DUMP_ANSWERED = 1, /* pc[0..depth) filled, pc[0] the interrupted PC */
    HS_CPUPROF_DUMP_NO_ANSWER,    /* did not run its handler in time (SIGPROF blocked, stopped, ...) */
    HS_CPUPROF_DUMP_UNWINDING,    /* started answering but had not finished in time */
    HS_CPUPROF_DUMP_GONE          /* exited before it could be asked */
};

typedef struct {
    uint32_t tid;
    int result; /* HS_CPUPROF_DUMP_* */
    uint32_t flags, depth;
    uintptr_t pc[HS_CPUPROF_MAX_DEPTH];
} hs_cpuprof_stack_t;

/* Asks each thread of tids[0..n) (n <= HS_CPUPROF_MAX_DUMPED) for its
 * stack: each gets a SIGPROF it recognises as ours and unwinds itself into
 * a slot. A tid of 0 is not asked (its answer is GONE). Returns 0, or -1 with errno EBUSY (a dump is running) or ENOMEM. */
int hs_cpuprof_dump_begin(const uint32_t *tids, size_t n);
/* Returns how many threads are still to answer; with resend, asks those
 * again (a standard signal sent while another SIGPROF is pending for the
 * thread merges with it; the handler answers on either, but a resend also
 * covers a request that raced with the thread unblocking). */
size_t hs_cpuprof_dump_poll(int resend);
/* Ends the dump: out[i] is tids[i]'s answer, or why there is none. */
void hs_cpuprof_dump_end(hs_cpuprof_stack_t *out, size_t n);

#endif
