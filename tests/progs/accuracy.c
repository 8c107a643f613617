/* accuracy.c - a known heap for checking heapscope's estimates: 64 MiB held
 * at hold_big (65536 x 1 KiB), 16 MiB held at hold_small (2048 x 8 KiB),
 * and 1 GiB of temporary allocations (262144 x 4 KiB, each freed at once)
 * at churn_temp. Usage: accuracy [SCALE_PERCENT] (100 = the sizes above).
 * With HEAPSCOPE_SIGNAL=SIGUSR2 and a dump path as 2nd argument it also
 * takes a snapshot after holding the small set (before the big one) and
 * waits until it is written, so --base/--at can be checked. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

void *volatile snapshot_sink; /* keeps the compiler from dropping the malloc/free pair */

static void *held[65536 + 2048];
static size_t nheld;

__attribute__((noinline)) static void hold_big(size_t n)
{
    for (size_t i = 0; i < n; i++) {
        held[nheld] = malloc(1024); /* site: hold_big */
        memset(held[nheld++], 1, 1024);
    }
}

__attribute__((noinline)) static void hold_small(size_t n)
{
    for (size_t i = 0; i < n; i++) {
        held[nheld] = malloc(8192); /* site: hold_small */
        memset(held[nheld++], 2, 64);
    }
}

__attribute__((noinline)) static unsigned churn_temp(size_t n)
{
    unsigned sum = 0;
    for (size_t i = 0; i < n; i++) {
        volatile unsigned char *p = malloc(4096); /* site: churn_temp */
        p[i % 4096] = (unsigned char)i;
        sum += p[i % 4096];
        free((void *)p);
    }
    return sum;
}

static long long size_of(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : 0;
}

static int snapshot(const char *dump)
{
    long long before = size_of(dump);
    raise(SIGUSR2);
    for (int i = 0; i < 10000; i++) {
        /* The snapshot is written at the next sampled allocation. */
        snapshot_sink = malloc(1 << 20);
        free(snapshot_sink);
        if (size_of(dump) > before)
            return 0;
        struct timespec ms = {0, 1000 * 1000};
        nanosleep(&ms, NULL);
    }
    return 1;
}

int main(int argc, char **argv)
{
    size_t scale = argc > 1 ? (size_t)atoi(argv[1]) : 100;
    hold_small(2048 * scale / 100);
    if (argc > 2 && snapshot(argv[2]))
        return 3;
    hold_big(65536 * scale / 100);
    unsigned sum = churn_temp(262144 * scale / 100);
    printf("held %zu blocks, churn checksum %u\n", nheld, sum);
    return 0;
}
