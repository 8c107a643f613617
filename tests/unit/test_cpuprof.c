/* test_cpuprof.c - the SIGPROF machinery of the live CPU profile and thread
 * dump (interposer/cpuprof.c), driven directly, without the server: SIGPROF
 * is taken only over the default action; samples land in the function that
 * burns the CPU, on a thread found by a rescan too; the handler keeps errno;
 * stop leaves no timer behind; a late timer signal is ignored and a foreign
 * SIGPROF still kills as the default action would; a dump gets the stack of
 * a thread blocked in read(2) without breaking its read, and reports a
 * thread that blocks SIGPROF within the bound; one profile and one dump at a
 * time; a fork child can profile again. Each test runs in its own process
 * (Check's default). */
#include <errno.h>
#include <libunwind.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "capture.h"
#include "cpuprof.h"
#include "procfs.h"
#include "run_suite.h"

static uint64_t now_ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static atomic_int stop_burning;
static atomic_int errno_broken;
static volatile double sink;

/* Burns until told to stop, with errno set to a value a handler that does
 * not restore it would break (getpid and the like leave errno alone). */
static __attribute__((noinline)) void burn(void)
{
    double x = sink;
    while (!atomic_load(&stop_burning)) {
        errno = 4242;
        for (int i = 0; i < 10000; i++)
            x = x * 1.0000001 + 1e-9;
        if (errno != 4242)
            atomic_store(&errno_broken, 1);
    }
    sink = x;
}

static void *burner(void *arg)
{
    (void)arg;
    burn();
    return NULL;
}

/* Is pc inside fn? (its extent from the unwind tables: function order in
 * .text is the compiler's choice) */
static int in_function(void (*fn)(void), uintptr_t pc)
{
    unw_proc_info_t pi;
    if (unw_get_proc_info_by_ip(unw_local_addr_space, (unw_word_t)(uintptr_t)fn, &pi, NULL) != 0)
        return 0;
    return pc >= pi.start_ip && pc < pi.end_ip;
}

static int in_burn(uintptr_t pc) { return in_function(burn, pc); }

typedef struct {
    size_t records, samples, in_burn, exact_leaf;
} tally_t;

static void count_sample(const hs_cpuprof_sample_t *s, void *ctx)
{
    tally_t *t = ctx;
    t->records++;
    t->samples += s->weight;
    if (s->flags & HS_CPUPROF_SAMPLE_EXACT_LEAF)
        t->exact_leaf++;
    for (uint32_t i = 0; i < s->depth; i++)
        if (in_burn(s->pc[i])) {
            t->in_burn += s->weight;
            break;
        }
}

/* Lines of /proc/self/timers that deliver SIGPROF: our timers. */
static int sigprof_timers(void)
{
    FILE *f = fopen("/proc/self/timers", "r");
    if (!f)
        return -1;
    char line[256];
    int n = 0;
    while (fgets(line, sizeof(line), f))
        if (!strncmp(line, "signal: 27/", 11))
            n++;
    fclose(f);
    return n;
}

static void setup(void) { hs_capture_init(); }

static void on_prof_of_the_program(int sig) { (void)sig; }

/* The state letter of /proc/self/task/TID/stat, '?' when unreadable. */
static char thread_state(uint32_t tid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/self/task/%u/stat", tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return '?';
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')');
    return p && p[1] == ' ' ? p[2] : '?';
}

START_TEST(test_refuses_a_program_handler_and_sig_ign)
{
    char why[512];
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPROF, &sa, NULL);
    ck_assert_int_eq(hs_cpuprof_claim_signal(why, sizeof(why)), -1);
    ck_assert_msg(strstr(why, "SIG_IGN"), "reason: %s", why);
    sa.sa_handler = on_prof_of_the_program;
    sigaction(SIGPROF, &sa, NULL);
    ck_assert_int_eq(hs_cpuprof_claim_signal(why, sizeof(why)), -1);
    ck_assert_msg(strstr(why, "handles SIGPROF itself"), "reason: %s", why);
    ck_assert(!hs_cpuprof_signal_is_ours());
    struct sigaction now;
    sigaction(SIGPROF, NULL, &now);
    ck_assert(now.sa_handler == on_prof_of_the_program); /* untouched */
    sa.sa_handler = SIG_DFL;
    sigaction(SIGPROF, &sa, NULL);
    ck_assert_int_eq(hs_cpuprof_claim_signal(why, sizeof(why)), 0);
    ck_assert(hs_cpuprof_signal_is_ours());
    sigaction(SIGPROF, NULL, &now);
    ck_assert(now.sa_flags & SA_RESTART);
    ck_assert_int_eq(hs_cpuprof_claim_signal(why, sizeof(why)), 0); /* again: still ours */
}
END_TEST

START_TEST(test_samples_land_in_the_burning_function)
{
    char why[512];
    ck_assert_int_eq(hs_cpuprof_claim_signal(why, sizeof(why)), 0);
    pthread_t early, late;
    ck_assert_int_eq(pthread_create(&early, NULL, burner, NULL), 0);
    ck_assert_int_eq(hs_cpuprof_start(0), 0);
    ck_assert_int_eq(hs_cpuprof_start(0), -1); /* one at a time */
    ck_assert_int_eq(errno, EBUSY);
    /* Started after the profile, not through the trampoline: the rescan
     * gives it its timer. */
    ck_assert_int_eq(pthread_create(&late, NULL, burner, NULL), 0);
    hs_cpuprof_rescan();
    ck_assert_int_ge(sigprof_timers(), 3); /* main, early, late */
    tally_t t = {0};
    uint64_t end = now_ns(CLOCK_MONOTONIC) + 5000000000ull;
    /* 40 samples: 200 ms of CPU at 100 Hz; the burners take ~2 CPUs */
    while (t.in_burn < 40 && now_ns(CLOCK_MONOTONIC) < end) {
        hs_cpuprof_drain(count_sample, &t);
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    hs_cpuprof_stop();
    hs_cpuprof_drain(count_sample, &t);
    hs_cpuprof_stats_t st;
    hs_cpuprof_stats(&st);
    hs_cpuprof_release();
    atomic_store(&stop_burning, 1);
    pthread_join(early, NULL);
    pthread_join(late, NULL);
    ck_assert_msg(t.in_burn >= 40, "%zu of %zu samples in burn()", t.in_burn, t.samples);
    /* The main thread mostly sleeps: nearly every sample is a burner's. */
    ck_assert_msg(t.in_burn * 10 >= t.samples * 9, "%zu of %zu samples in burn()", t.in_burn, t.samples);
    ck_assert_uint_eq(t.exact_leaf, t.records); /* every sample's leaf is the interrupted PC */
    ck_assert_uint_ge(st.threads_timed, 3);
    ck_assert_uint_eq(st.dropped, 0);
    ck_assert_int_eq(atomic_load(&errno_broken), 0);
    ck_assert_int_eq(sigprof_timers(), 0); /* stop deleted every timer */
}
END_TEST

START_TEST(test_late_signal_ignored_foreign_signal_kills)
{
    char why[512];
    ck_assert_int_eq(hs_cpuprof_claim_signal(why, sizeof(why)), 0);
    ck_assert_int_eq(hs_cpuprof_start(0), 0);
    hs_cpuprof_stop();
    hs_cpuprof_release();
    /* A timer signal that was pending when the profile stopped. */
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    si.si_signo = SIGPROF;
    si.si_code = SI_TIMER;
    si.si_value.sival_int = 0x48535450;
    ck_assert_int_eq(syscall(SYS_rt_tgsigqueueinfo, getpid(), syscall(SYS_gettid), SIGPROF, &si), 0);
    ck_assert(hs_cpuprof_signal_is_ours()); /* still alive, still ours */
    /* Anyone else's SIGPROF: the default action, as without us. */
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        kill(getpid(), SIGPROF);
        _exit(0);
    }
    int status;
    ck_assert_int_eq(waitpid(child, &status, 0), child);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGPROF, "status %#x", status);
}
END_TEST

static int pipe_fds[2];
static atomic_int read_result = -2;

static __attribute__((noinline)) void block_in_read(void)
{
    char c;
    ssize_t n = read(pipe_fds[0], &c, 1); /* SA_RESTART: a dump must not break it */
    atomic_store(&read_result, n == 1 ? c : -1);
}

static void *reader(void *arg)
{
    (void)arg;
    block_in_read();
    return NULL;
}

static pthread_mutex_t masked_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t masked_cond = PTHREAD_COND_INITIALIZER;
static int masked_go;

static void *masked(void *arg)
{
    (void)arg;
    sigset_t prof;
    sigemptyset(&prof);
    sigaddset(&prof, SIGPROF);
    pthread_sigmask(SIG_BLOCK, &prof, NULL);
    pthread_mutex_lock(&masked_lock);
    while (!masked_go)
        pthread_cond_wait(&masked_cond, &masked_lock);
    pthread_mutex_unlock(&masked_lock);
    return NULL;
}

START_TEST(test_dump_reaches_a_blocked_thread_and_bounds_a_masked_one)
{
    char why[512];
    ck_assert_int_eq(hs_cpuprof_claim_signal(why, sizeof(why)), 0);
    ck_assert_int_eq(pipe(pipe_fds), 0);
    pthread_t r, m;
    ck_assert_int_eq(pthread_create(&r, NULL, reader, NULL), 0);
    ck_assert_int_eq(pthread_create(&m, NULL, masked, NULL), 0);
    /* Both asleep before the dump (the reader in read, the other masked). */
    uint32_t tids[16];
    long n;
    uint64_t end = now_ns(CLOCK_MONOTONIC) + 2000000000ull;
    do
        n = hs_proc_tasks(tids, 16, (uint32_t)syscall(SYS_gettid));
    while (n != 2 && now_ns(CLOCK_MONOTONIC) < end);
    ck_assert_int_eq(n, 2);
    /* Both asleep: the reader in read(2), the other in its wait. */
    while ((thread_state(tids[0]) != 'S' || thread_state(tids[1]) != 'S') && now_ns(CLOCK_MONOTONIC) < end)
        sched_yield();
    ck_assert_int_eq(thread_state(tids[0]), 'S');
    ck_assert_int_eq(thread_state(tids[1]), 'S');
    uint64_t t0 = now_ns(CLOCK_MONOTONIC);
    ck_assert_int_eq(hs_cpuprof_dump_begin(tids, 2), 0);
    ck_assert_int_eq(hs_cpuprof_dump_begin(tids, 2), -1); /* one at a time */
    ck_assert_int_eq(errno, EBUSY);
    while (hs_cpuprof_dump_poll(1) > 1 && now_ns(CLOCK_MONOTONIC) - t0 < 1000000000ull) {
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
    hs_cpuprof_stack_t out[2];
    hs_cpuprof_dump_end(out, 2);
    uint64_t took = now_ns(CLOCK_MONOTONIC) - t0;
    ck_assert_msg(took < 1500000000ull, "the dump took %llu ms", (unsigned long long)(took / 1000000));
    int answered = -1, silent = -1;
    for (int i = 0; i < 2; i++) {
        if (out[i].result == HS_CPUPROF_DUMP_ANSWERED)
            answered = i;
        else
            silent = i;
    }
    ck_assert_msg(answered >= 0 && silent >= 0, "results %d %d", out[0].result, out[1].result);
    ck_assert_int_eq(out[silent].result, HS_CPUPROF_DUMP_NO_ANSWER);
    int found = 0;
    for (uint32_t f = 0; f < out[answered].depth; f++)
        found |= in_function(block_in_read, out[answered].pc[f] - (f > 0));
    ck_assert_msg(found, "block_in_read not in the reader's %u frames", out[answered].depth);
    /* The read went on (restarted) and gets its byte. */
    ck_assert_int_eq(atomic_load(&read_result), -2);
    ck_assert_int_eq(write(pipe_fds[1], "x", 1), 1);
    pthread_join(r, NULL);
    ck_assert_int_eq(atomic_load(&read_result), 'x');
    pthread_mutex_lock(&masked_lock);
    masked_go = 1;
    pthread_cond_broadcast(&masked_cond);
    pthread_mutex_unlock(&masked_lock);
    pthread_join(m, NULL);
    /* A second dump may start now. */
    ck_assert_int_eq(hs_cpuprof_dump_begin(tids, 0), 0);
    hs_cpuprof_dump_end(out, 0);
}
END_TEST

START_TEST(test_fork_child_starts_over)
{
    char why[512];
    ck_assert_int_eq(hs_cpuprof_claim_signal(why, sizeof(why)), 0);
    ck_assert_int_eq(hs_cpuprof_start(0), 0);
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        hs_cpuprof_abort(); /* what the server's atfork child handler calls */
        int ok = sigprof_timers() == 0 && hs_cpuprof_start(0) == 0 && sigprof_timers() == 1;
        hs_cpuprof_stop();
        _exit(ok && sigprof_timers() == 0 ? 0 : 1);
    }
    int status;
    ck_assert_int_eq(waitpid(child, &status, 0), child);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %#x", status);
    ck_assert_int_eq(sigprof_timers(), 1); /* the parent's own timer is untouched */
    hs_cpuprof_abort();                    /* at exit: stops */
    ck_assert_int_eq(sigprof_timers(), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cpuprof");
    TCase *tc = tcase_create("cpuprof");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_refuses_a_program_handler_and_sig_ign);
    tcase_add_test(tc, test_samples_land_in_the_burning_function);
    tcase_add_test(tc, test_late_signal_ignored_foreign_signal_kills);
    tcase_add_test(tc, test_dump_reaches_a_blocked_thread_and_bounds_a_masked_one);
    tcase_add_test(tc, test_fork_child_starts_over);
    suite_add_tcase(s, tc);
    return hs_run_suite(s);
}
