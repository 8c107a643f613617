/* depth.c - what one sampled allocation costs at a given stack depth.
 *
 *   depth [-d DEPTH] [-n PAIRS] [-s SITES]
 *
 * Recurses DEPTH frames (default 32; noinline functions that are not tail
 * calls, so each is a real frame the unwinder walks), then makes PAIRS
 * malloc+free pairs (default 100000) of 16-512 bytes from SITES distinct
 * call sites at the bottom (default 4, picked by a fixed PRNG), and prints
 * "depth d=D pairs=N". Run under heapscope with HEAPSCOPE_SAMPLE_RATE=1 and
 * `valgrind --tool=callgrind` at two PAIRS counts: the difference of the
 * instruction counts over the difference of the pairs is the cost of one
 * sampled malloc+free at that depth (tests/bench/compare.sh, run.sh). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned long pairs = 100000;
static int sites = 4;
static volatile unsigned long sink;

static unsigned rng_state = 12345;
static unsigned next_rand(void)
{
    rng_state = rng_state * 1103515245u + 12345u;
    return rng_state >> 8;
}

#define SITE(k)                                                \
    __attribute__((noinline)) static void site##k(size_t size) \
    {                                                          \
        char *p = malloc(size);                                \
        if (p)                                                 \
            p[0] = (char)k;                                    \
        sink += (unsigned long)(p != NULL);                    \
        free(p);                                               \
        __asm__ volatile("" ::: "memory");                     \
    }
SITE(0)
SITE(1)
SITE(2)
SITE(3)
SITE(4)
SITE(5)
SITE(6)
SITE(7)
static void (*const site_fn[8])(size_t) = {site0, site1, site2, site3, site4, site5, site6, site7};

__attribute__((noinline)) static void bottom(void)
{
    for (unsigned long i = 0; i < pairs; i++) {
        unsigned r = next_rand();
        site_fn[r % (unsigned)sites](16 + (r >> 4) % 497);
    }
}

__attribute__((noinline)) static void descend(int left)
{
    if (left <= 0)
        bottom();
    else
        descend(left - 1);
    __asm__ volatile("" ::: "memory"); /* not a tail call: the frame stays */
}

int main(int argc, char **argv)
{
    int depth = 32;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-d"))
            depth = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-n"))
            pairs = strtoul(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "-s"))
            sites = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "usage: depth [-d DEPTH] [-n PAIRS] [-s SITES]\n");
            return 2;
        }
    }
    if (depth < 0 || sites < 1 || sites > 8) {
        fprintf(stderr, "depth: -d must be >= 0 and -s in 1..8\n");
        return 2;
    }
    /* main, descend x depth, bottom, site: depth + 3 frames of the program
     * (plus libc's start frames). */
    descend(depth);
    printf("depth d=%d pairs=%lu\n", depth, pairs);
    return 0;
}
