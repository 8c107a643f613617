/* cpu_burn.c - a CPU-bound program for the live CPU profile's tests
 * (live_cpu.sh, tests/bench/cpuprof_overhead.sh).
 *
 *   cpu_burn [--masked]  thread "burn_three" runs f_three, thread "burn_one"
 *                        runs f_one, in rounds of 30 ms and 10 ms of each
 *                        thread's own CPU time (CLOCK_THREAD_CPUTIME_ID),
 *                        meeting at a barrier after each round: the CPU time
 *                        splits 3:1 between the two functions whatever the
 *                        scheduler does (a thread that waits at the barrier
 *                        burns nothing). The main thread waits in read(2)
 *                        on stdin (a thread blocked in a syscall); at EOF
 *                        everything stops and it prints "rounds N" and exits
 *                        0. --masked adds a thread "masked" that blocks
 *                        SIGPROF and waits on a condition variable: it can
 *                        never answer a thread dump.
 *   cpu_burn --work N    reads one line from stdin, then runs N million
 *                        iterations of f_three's loop on the main thread and
 *                        prints "cpu_ns C wall_ns W" (the process's CPU time
 *                        and the elapsed time of the work).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define UNIT_NS 10000000ll /* 10 ms of a thread's CPU time */
#define SPIN 20000         /* iterations between two looks at the clock (~30 us) */

static volatile double sink;
static atomic_int stop;
static int done; /* stop as both burners saw it at the same barrier */
static pthread_barrier_t round_end, round_decided;
static pthread_mutex_t masked_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t masked_cond = PTHREAD_COND_INITIALIZER;

static long long clock_ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

/* Each function has its own loop, so a sample in the loop is in it. */
__attribute__((noinline)) void f_three(void)
{
    long long end = clock_ns(CLOCK_THREAD_CPUTIME_ID) + 3 * UNIT_NS;
    double x = sink;
    do {
        for (int i = 0; i < SPIN; i++)
            x = x * 1.0000001 + 1e-9;
    } while (clock_ns(CLOCK_THREAD_CPUTIME_ID) < end);
    sink = x;
}

__attribute__((noinline)) void f_one(void)
{
    long long end = clock_ns(CLOCK_THREAD_CPUTIME_ID) + UNIT_NS;
    double x = sink;
    do {
        for (int i = 0; i < SPIN; i++)
            x = x * 1.0000001 + 1e-9;
    } while (clock_ns(CLOCK_THREAD_CPUTIME_ID) < end);
    sink = x;
}

/* The end of a round: both burners decide together whether to go on. */
static int round_over(void)
{
    if (pthread_barrier_wait(&round_end) == PTHREAD_BARRIER_SERIAL_THREAD)
        done = atomic_load(&stop);
    pthread_barrier_wait(&round_decided);
    return done;
}

static long rounds;

static void *burn_three(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "burn_three");
    do {
        f_three();
        rounds++;
    } while (!round_over());
    return NULL;
}

static void *burn_one(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "burn_one");
    do
        f_one();
    while (!round_over());
    return NULL;
}

__attribute__((noinline)) void masked_wait(void)
{
    pthread_mutex_lock(&masked_lock);
    while (!atomic_load(&stop))
        pthread_cond_wait(&masked_cond, &masked_lock);
    pthread_mutex_unlock(&masked_lock);
}

static void *masked(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "masked");
    sigset_t prof;
    sigemptyset(&prof);
    sigaddset(&prof, SIGPROF);
    pthread_sigmask(SIG_BLOCK, &prof, NULL);
    masked_wait();
    return NULL;
}

/* Blocked in read(2) until stdin's EOF (interrupted reads are retried). */
__attribute__((noinline)) void wait_for_eof(void)
{
    char buf[256];
    for (;;) {
        ssize_t n = read(0, buf, sizeof(buf));
        if (n == 0 || (n < 0 && errno != EINTR))
            return;
    }
}

static int work(long millions)
{
    char line[64];
    if (!fgets(line, sizeof(line), stdin))
        return 1;
    long long wall0 = clock_ns(CLOCK_MONOTONIC);
    double x = 0;
    for (long m = 0; m < millions; m++)
        for (int i = 0; i < 1000000; i++)
            x = x * 1.0000001 + 1e-9;
    sink = x;
    long long wall = clock_ns(CLOCK_MONOTONIC) - wall0;
    printf("cpu_ns %lld wall_ns %lld\n", clock_ns(CLOCK_PROCESS_CPUTIME_ID), wall);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--work"))
        return work(atol(argv[2]));
    int with_masked = argc == 2 && !strcmp(argv[1], "--masked");
    if (argc > 1 && !with_masked) {
        fprintf(stderr, "usage: cpu_burn [--masked] | --work MILLIONS\n");
        return 2;
    }
    pthread_barrier_init(&round_end, NULL, 2);
    pthread_barrier_init(&round_decided, NULL, 2);
    pthread_t a, b, m;
    if (pthread_create(&a, NULL, burn_three, NULL) || pthread_create(&b, NULL, burn_one, NULL) ||
        (with_masked && pthread_create(&m, NULL, masked, NULL)))
        return 1;
    wait_for_eof();
    atomic_store(&stop, 1);
    pthread_mutex_lock(&masked_lock);
    pthread_cond_broadcast(&masked_cond);
    pthread_mutex_unlock(&masked_lock);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    if (with_masked)
        pthread_join(m, NULL);
    printf("rounds %ld\n", rounds);
    return 0;
}
