/* latency: the worst single malloc+free pair a program sees, the figure a
 * snapshot taken in the program's own thread adds to. Two heaps:
 *   latency churn SECONDS       a small working set replaced at random
 *   latency fragmented SECONDS  2M blocks of 136-168 B, every other one freed
 *                               (~1M free chunks that cannot merge, above the
 *                               fastbin sizes whose consolidation would stall
 *                               the program by itself: what made mallinfo2
 *                               take 150 ms)
 * then malloc+free pairs for SECONDS, timing each pair. Prints
 * "pairs=N max_us=X p999_us=Y" (p99.9 from a log2 histogram, upper bound).
 * Run by tests/bench/run.sh with and without heapscope. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void *volatile sink;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t next_random(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "churn") && strcmp(argv[1], "fragmented"))) {
        fprintf(stderr, "usage: latency churn|fragmented SECONDS\n");
        return 2;
    }
    double seconds = atof(argv[2]);
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    size_t nblocks = strcmp(argv[1], "fragmented") == 0 ? 2000000 : 4096;
    void **blocks = calloc(nblocks, sizeof(void *));
    if (!blocks)
        return 1;
    for (size_t i = 0; i < nblocks; i++)
        blocks[i] = malloc(136 + next_random(&rng) % 33);
    if (nblocks > 4096)
        for (size_t i = 0; i < nblocks; i += 2) {
            free(blocks[i]);
            blocks[i] = NULL;
        }
    uint64_t hist[64] = {0}, worst = 0, pairs = 0;
    uint64_t end = now_ns() + (uint64_t)(seconds * 1e9);
    size_t slot = 1;
    while (now_ns() < end) {
        for (int k = 0; k < 256; k++) {
            size_t size = 16 + next_random(&rng) % 2048;
            uint64_t t0 = now_ns();
            void *p = malloc(size);
            sink = p;
            slot = (slot + 2 * (next_random(&rng) % 64) + 2) % nblocks;
            void *old = blocks[slot | 1];
            blocks[slot | 1] = p;
            free(old);
            uint64_t dt = now_ns() - t0;
            worst = dt > worst ? dt : worst;
            hist[dt ? 63 - __builtin_clzll(dt) : 0]++;
            pairs++;
        }
    }
    uint64_t seen = 0, p999 = 0;
    for (int b = 0; b < 64; b++) {
        seen += hist[b];
        if (seen >= pairs - pairs / 1000) {
            p999 = 2ull << b;
            break;
        }
    }
    printf("pairs=%llu max_us=%.1f p999_us=%.1f\n", (unsigned long long)pairs, worst / 1e3, p999 / 1e3);
    return 0;
}
