/* leak_steady.c - leak corpus: a steady 1 MiB/s leak in one function.
 * remember_upload() keeps 64 KiB blocks that nobody frees, 16 a second;
 * decode_chunk() and format_reply() churn short-lived buffers beside it, as
 * a server does. Usage: leak_steady [SECONDS] (default 20). Prints the bytes
 * it leaked and the leak rate it achieved. Ground truth for
 * scripts/leakeval.sh (tests/leaks/cases.txt). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LEAK_BLOCK (64 * 1024)
#define LEAKS_PER_SECOND 16
#define CHURN_PER_SECOND 8000 /* temporary blocks of 256 B..4 KiB: ~17 MB/s */

static void *volatile sink; /* keeps the compiler from eliding malloc/free pairs */
static uint64_t rng = 0x9e3779b97f4a7c15u;

static unsigned next_random(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng >> 32);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Pacing, not synchronisation: the workload advances in 5 ms steps. */
static void pause_step(void)
{
    struct timespec step = {0, 5 * 1000 * 1000};
    nanosleep(&step, NULL);
}

__attribute__((noinline)) static void remember_upload(unsigned n)
{
    char *block = malloc(LEAK_BLOCK); /* LEAK: leak_steady */
    memset(block, (int)(n & 0xff), LEAK_BLOCK);
    sink = block; /* the only reference, overwritten by the next one */
}

__attribute__((noinline)) static void decode_chunk(unsigned n)
{
    size_t size = 256 + next_random() % 3840;
    char *buf = malloc(size);
    memset(buf, (int)(n & 0xff), size);
    sink = buf;
    free(buf);
}

__attribute__((noinline)) static void format_reply(unsigned n)
{
    char *reply = malloc(512);
    snprintf(reply, 512, "HTTP/1.1 200 OK\r\nX-Request: %u\r\n\r\n", n);
    sink = reply;
    free(reply);
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 20.0;
    double start = now(), elapsed = 0;
    uint64_t leaked = 0, leaks = 0, churn = 0;
    while ((elapsed = now() - start) < seconds) {
        while (leaks < (uint64_t)(elapsed * LEAKS_PER_SECOND)) {
            remember_upload((unsigned)leaks++);
            leaked += LEAK_BLOCK;
        }
        for (; churn < (uint64_t)(elapsed * CHURN_PER_SECOND); churn++) {
            decode_chunk((unsigned)churn);
            if (churn % 4 == 0)
                format_reply((unsigned)churn);
        }
        pause_step();
    }
    printf("leak_steady: leaked %llu blocks of 64 KiB at remember_upload; leaked_bytes=%llu "
           "seconds=%.2f leak_rate=%.0f\n",
           (unsigned long long)leaks, (unsigned long long)leaked, elapsed, (double)leaked / elapsed);
    return 0;
}
