/* alert_victim.c - crosses and recovers each health threshold on cue, for
 * tests/integration/live_metrics.sh. Reads one line from stdin before each
 * step (so the test checks the live endpoints between steps without
 * sleeping) and prints "at STEP" once the step is done and a snapshot has
 * judged it: every step ends by raising HEAPSCOPE_SIGNAL (SIGUSR2 here) and
 * allocating, which is a safe point at sample rate 1, so the snapshot (and
 * its alerts) is written before "at" is printed. Steps:
 *   heap-up 24 MiB in 1 MiB blocks        heap-down  freed
 *   rss-up  256 MiB of touched mmap        rss-down   unmapped
 *   threads-up 8 threads waiting           threads-down  joined
 *   growth-up  4 MiB/s for 3 s, a snapshot every 0.1 s
 *   growth-down  freed, then snapshots every 0.1 s until 3 s passed
 * Run with HEAPSCOPE_SAMPLE_RATE=1 HEAPSCOPE_SIGNAL=USR2. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MIB (1024 * 1024)
#define THREADS 8

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int release_threads;

static void *waiter(void *arg)
{
    pthread_mutex_lock(&lock);
    while (!release_threads)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
    return arg;
}

/* A snapshot now: the signal marks one due, the sampled allocation that
 * follows writes it. */
static void snapshot(void)
{
    raise(SIGUSR2);
    volatile char *p = malloc(64);
    p[0] = 1;
    free((void *)p);
}

static void step(const char *name)
{
    snapshot();
    printf("at %s\n", name);
    fflush(stdout);
    char line[64];
    if (!fgets(line, sizeof(line), stdin))
        exit(0);
}

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int main(void)
{
    static void *blocks[64];
    step("start");

    for (int i = 0; i < 24; i++)
        memset(blocks[i] = malloc(MIB), 1, MIB);
    step("heap-up");
    for (int i = 0; i < 24; i++)
        free(blocks[i]);
    step("heap-down");

    size_t len = 256u * MIB;
    char *big = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (big == MAP_FAILED)
        return 1;
    memset(big, 1, len);
    step("rss-up");
    munmap(big, len);
    step("rss-down");

    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, waiter, NULL);
    step("threads-up");
    pthread_mutex_lock(&lock);
    release_threads = 1;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    step("threads-down");

    /* 4 MiB/s: 400 KiB every 0.1 s for 3 s (12 MiB, under the heap threshold). */
    int n = 0;
    for (int i = 0; i < 30; i++) {
        memset(blocks[n++] = malloc(400 * 1024), 1, 400 * 1024);
        pause_ms(100);
        snapshot();
    }
    step("growth-up");
    for (int i = 0; i < n; i++)
        free(blocks[i]);
    for (int i = 0; i < 30; i++) {
        pause_ms(100);
        snapshot();
    }
    step("growth-down");
    return 0;
}
