/* live_victim.c - a long-running program with known allocation sites and
 * threads, for the live service's heap endpoints (tests/integration/
 * live_heap.sh). It stays up until killed and takes commands on stdin.
 *
 * At start:
 *   live_site_keep     1000 x malloc(1000)   all kept live
 *   live_site_churn     500 x malloc(4096)   all freed
 *   live_site_spawn       2 threads, created here, blocked for ever
 * Then prints "ready" and reads lines:
 *   grow     live_site_grow 200 x malloc(2048), kept live; prints "grown N"
 *            (N: how many grow commands so far)
 *   tick     starts a thread (live_site_ticker) that mallocs and frees 64
 *            bytes (live_site_tick) every 10 ms, so that safe points keep
 *            coming (periodic profile files without the HTTP server);
 *            prints "ticking"
 *   pid      prints the pid */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline, noclone))
#define BARRIER() __asm__ volatile("" ::: "memory")

static void *volatile sink;
static int block_pipe[2];

NOINLINE static void touch(void *p, size_t n)
{
    if (!p) {
        fprintf(stderr, "live_victim: allocation failed\n");
        exit(3);
    }
    memset(p, 0x5a, n);
}

NOINLINE void live_site_keep(void **out, int n)
{
    for (int i = 0; i < n; i++) {
        out[i] = malloc(1000);
        touch(out[i], 1000);
    }
    BARRIER();
}

NOINLINE void live_site_churn(int n)
{
    for (int i = 0; i < n; i++) {
        void *p = malloc(4096);
        touch(p, 4096);
        sink = p;
        free(p);
    }
    BARRIER();
}

NOINLINE void live_site_grow(void **out, int n)
{
    for (int i = 0; i < n; i++) {
        out[i] = malloc(2048);
        touch(out[i], 2048);
    }
    BARRIER();
}

NOINLINE void live_site_tick(void)
{
    void *p = malloc(64);
    touch(p, 64);
    sink = p;
    free(p);
    BARRIER();
}

static void *blocked_thread(void *arg)
{
    (void)arg;
    char c;
    while (read(block_pipe[0], &c, 1) != 0) {
    }
    return NULL;
}

static void *ticker(void *arg)
{
    (void)arg;
    struct timespec ms10 = {0, 10 * 1000 * 1000};
    for (;;) {
        live_site_tick();
        nanosleep(&ms10, NULL);
    }
    return NULL;
}

NOINLINE void live_site_spawn(pthread_t *t, int n)
{
    for (int i = 0; i < n; i++)
        if (pthread_create(&t[i], NULL, blocked_thread, NULL) != 0) {
            fprintf(stderr, "live_victim: pthread_create failed\n");
            exit(3);
        }
    BARRIER();
}

int main(void)
{
    static void *keep[1000], *grown[64][200];
    static pthread_t blocked[2], tick_thread;
    if (pipe(block_pipe) != 0)
        return 3;
    live_site_keep(keep, 1000);
    live_site_churn(500);
    live_site_spawn(blocked, 2);
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("ready\n");
    char line[64];
    int grows = 0, ticking = 0;
    while (fgets(line, sizeof(line), stdin)) {
        if (strncmp(line, "grow", 4) == 0 && grows < 64) {
            live_site_grow(grown[grows], 200);
            printf("grown %d\n", ++grows);
        } else if (strncmp(line, "tick", 4) == 0) {
            if (!ticking && pthread_create(&tick_thread, NULL, ticker, NULL) == 0)
                ticking = 1;
            printf("ticking\n");
        } else if (strncmp(line, "pid", 3) == 0) {
            printf("%d\n", (int)getpid());
        }
    }
    /* stdin closed: stay up until killed, as a server would. */
    for (;;)
        pause();
}
