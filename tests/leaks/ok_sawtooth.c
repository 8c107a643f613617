/* ok_sawtooth.c - non-leak corpus: a sawtooth. build_batch() accumulates
 * 32 KiB blocks up to 50 MiB over 3.5 s, holds them 0.5 s, flush_batch()
 * frees them all, and after 0.5 s idle the next batch starts: a 4.5 s cycle
 * whose low points never rise. encode_row() churns temporaries throughout.
 * Usage: ok_sawtooth [SECONDS] (default 20). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BLOCK_SIZE (32 * 1024)
#define BATCH_BLOCKS 1600 /* 50 MiB */
#define GROW_SECONDS 3.5
#define HOLD_SECONDS 0.5
#define IDLE_SECONDS 0.5
#define ROWS_PER_SECOND 4000

static char *batch[BATCH_BLOCKS];
static unsigned batch_blocks;
static void *volatile sink;

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

__attribute__((noinline)) static void build_batch(unsigned upto)
{
    for (; batch_blocks < upto && batch_blocks < BATCH_BLOCKS; batch_blocks++) {
        batch[batch_blocks] = malloc(BLOCK_SIZE);
        memset(batch[batch_blocks], (int)(batch_blocks & 0xff), BLOCK_SIZE);
    }
}

__attribute__((noinline)) static void flush_batch(void)
{
    for (unsigned i = 0; i < batch_blocks; i++)
        free(batch[i]);
    batch_blocks = 0;
}

__attribute__((noinline)) static void encode_row(unsigned n)
{
    size_t size = 96 + (n * 2654435761u) % 2048;
    char *row = malloc(size);
    memset(row, (int)(n & 0xff), size);
    sink = row;
    free(row);
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 20.0;
    const double cycle = GROW_SECONDS + HOLD_SECONDS + IDLE_SECONDS;
    double start = now(), elapsed = 0;
    uint64_t rows = 0, flushed = 0;
    unsigned peak = 0;
    while ((elapsed = now() - start) < seconds) {
        uint64_t cycle_no = (uint64_t)(elapsed / cycle);
        double phase = elapsed - (double)cycle_no * cycle;
        if (flushed < cycle_no) { /* a cycle ended while we slept: finish it */
            flush_batch();
            flushed = cycle_no;
        }
        if (phase < GROW_SECONDS)
            build_batch((unsigned)(phase / GROW_SECONDS * BATCH_BLOCKS) + 1);
        else if (phase < GROW_SECONDS + HOLD_SECONDS)
            build_batch(BATCH_BLOCKS);
        else
            flush_batch();
        peak = batch_blocks > peak ? batch_blocks : peak;
        for (; rows < (uint64_t)(elapsed * ROWS_PER_SECOND); rows++)
            encode_row((unsigned)rows);
        pause_step();
    }
    printf("ok_sawtooth: %.1f cycles of build_batch up to %u KiB then flush_batch; "
           "leaked_bytes=0 seconds=%.2f leak_rate=0\n",
           elapsed / cycle, peak * (BLOCK_SIZE / 1024), elapsed);
    return 0; /* the last batch is left as it is, like a process killed mid-cycle */
}
