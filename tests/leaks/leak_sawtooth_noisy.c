/* leak_sawtooth_noisy.c - leak corpus: a 256 KiB/s leak under a large
 * sawtooth and a churning plateau (issue 10). retain_session_log() keeps
 * 16 KiB blocks that nobody frees, 16 a second. Beside it, as a batch
 * server does: fill_batch() grows a batch buffer to 48 MiB in 64 KiB chunks
 * over 3.2 s and flush_batch() frees it all 0.3 s later (a 3.5 s cycle, so
 * a 15 s window ends at a different phase in every run); replace_entry()
 * keeps a 16 MiB table of 0.5-3.5 KiB entries flat while replacing 4,000 of
 * them a second; parse_line() churns temporaries. The heap's own trend over
 * a window is dominated by where the sawtooth stands at its ends; the leak
 * is the only sustained growth. Usage: leak_sawtooth_noisy [SECONDS]
 * (default 20). Prints the bytes it leaked and the leak rate it achieved.
 * Ground truth for scripts/leakeval.sh (tests/leaks/cases.txt). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LEAK_BLOCK (16 * 1024)
#define LEAKS_PER_SECOND 16 /* 256 KiB/s */
#define CHUNK_SIZE (64 * 1024)
#define BATCH_CHUNKS 768 /* 48 MiB */
#define GROW_SECONDS 3.2
#define HOLD_SECONDS 0.3
#define TABLE_ENTRIES 8192 /* ~16 MiB of 0.5-3.5 KiB entries */
#define REPLACEMENTS_PER_SECOND 4000
#define LINES_PER_SECOND 6000 /* temporaries of 64 B..2 KiB */

static char *batch[BATCH_CHUNKS];
static unsigned batch_chunks;
static char *table[TABLE_ENTRIES];
static void *volatile sink; /* keeps the compiler from eliding malloc/free pairs */
static uint64_t rng = 0x2545f4914f6cdd1du;

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

__attribute__((noinline)) static void retain_session_log(unsigned n)
{
    char *block = malloc(LEAK_BLOCK); /* LEAK: leak_sawtooth_noisy */
    memset(block, (int)(n & 0xff), LEAK_BLOCK);
    sink = block; /* the only reference, overwritten by the next one */
}

__attribute__((noinline)) static void fill_batch(unsigned upto)
{
    for (; batch_chunks < upto && batch_chunks < BATCH_CHUNKS; batch_chunks++) {
        batch[batch_chunks] = malloc(CHUNK_SIZE);
        memset(batch[batch_chunks], (int)(batch_chunks & 0xff), CHUNK_SIZE);
    }
}

__attribute__((noinline)) static void flush_batch(void)
{
    for (unsigned i = 0; i < batch_chunks; i++)
        free(batch[i]);
    batch_chunks = 0;
}

__attribute__((noinline)) static void replace_entry(unsigned slot)
{
    size_t size = 512 + next_random() % 3072;
    free(table[slot]);
    table[slot] = malloc(size);
    memset(table[slot], (int)(slot & 0xff), size);
}

__attribute__((noinline)) static void parse_line(unsigned n)
{
    size_t size = 64 + next_random() % 1984;
    char *line = malloc(size);
    memset(line, (int)(n & 0xff), size);
    sink = line;
    free(line);
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 20.0;
    const double cycle = GROW_SECONDS + HOLD_SECONDS;
    for (unsigned i = 0; i < TABLE_ENTRIES; i++)
        replace_entry(i);
    double start = now(), elapsed = 0;
    uint64_t leaked = 0, leaks = 0, replaced = 0, lines = 0, flushed = 0;
    while ((elapsed = now() - start) < seconds) {
        uint64_t cycle_no = (uint64_t)(elapsed / cycle);
        double phase = elapsed - (double)cycle_no * cycle;
        if (flushed < cycle_no) { /* a cycle ended while we slept: finish it */
            flush_batch();
            flushed = cycle_no;
        }
        if (phase < GROW_SECONDS)
            fill_batch((unsigned)(phase / GROW_SECONDS * BATCH_CHUNKS) + 1);
        else
            fill_batch(BATCH_CHUNKS);
        while (leaks < (uint64_t)(elapsed * LEAKS_PER_SECOND)) {
            retain_session_log((unsigned)leaks++);
            leaked += LEAK_BLOCK;
        }
        for (; replaced < (uint64_t)(elapsed * REPLACEMENTS_PER_SECOND); replaced++)
            replace_entry(next_random() % TABLE_ENTRIES);
        for (; lines < (uint64_t)(elapsed * LINES_PER_SECOND); lines++)
            parse_line((unsigned)lines);
        pause_step();
    }
    printf("leak_sawtooth_noisy: leaked %llu blocks of 16 KiB at retain_session_log beside a %.1f-cycle "
           "sawtooth to 48 MiB; leaked_bytes=%llu seconds=%.2f leak_rate=%.0f\n",
           (unsigned long long)leaks, elapsed / cycle, (unsigned long long)leaked, elapsed, (double)leaked / elapsed);
    return 0; /* the table and the last batch stay allocated, like a process killed mid-cycle */
}
