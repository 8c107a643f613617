/* ok_warmup_plateau.c - non-leak corpus: warm-up, then a plateau. For the
 * first 30% of the run load_cache_entry() fills a 24 MiB cache (12,288
 * entries of 2 KiB); afterwards it keeps replacing entries (2,000 a second,
 * each old entry freed) so the live set stays flat while handle_lookup()
 * churns temporaries. Growth that stops is not a leak. Usage:
 * ok_warmup_plateau [SECONDS] (default 20). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ENTRY_SIZE 2048
#define ENTRIES 12288
#define WARMUP_FRACTION 0.3
#define REPLACEMENTS_PER_SECOND 2000
#define LOOKUPS_PER_SECOND 4000

static char *cache[ENTRIES];
static void *volatile sink;
static uint64_t rng = 0xbf58476d1ce4e5b9u;

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

__attribute__((noinline)) static void load_cache_entry(unsigned slot, unsigned version)
{
    char *entry = malloc(ENTRY_SIZE);
    memset(entry, (int)(version & 0xff), ENTRY_SIZE);
    free(cache[slot]); /* the entry it replaces, if any */
    cache[slot] = entry;
}

__attribute__((noinline)) static void handle_lookup(unsigned n)
{
    size_t size = 128 + next_random() % 4096;
    char *reply = malloc(size);
    memcpy(reply, cache[n % ENTRIES] ? cache[n % ENTRIES] : "", 1);
    memset(reply + 1, 'r', size - 1);
    sink = reply;
    free(reply);
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 20.0;
    double warmup = seconds * WARMUP_FRACTION;
    double start = now(), elapsed = 0, filled_at = 0;
    uint64_t loaded = 0, replaced = 0, lookups = 0;
    while ((elapsed = now() - start) < seconds) {
        if (loaded < ENTRIES) {
            uint64_t due = (uint64_t)(elapsed / warmup * ENTRIES);
            for (; loaded < ENTRIES && loaded < due; loaded++)
                load_cache_entry((unsigned)loaded, 0);
            if (loaded == ENTRIES)
                filled_at = elapsed;
        } else {
            uint64_t due = (uint64_t)((elapsed - filled_at) * REPLACEMENTS_PER_SECOND);
            for (; replaced < due; replaced++)
                load_cache_entry(next_random() % ENTRIES, (unsigned)replaced + 1);
        }
        for (; lookups < (uint64_t)(elapsed * LOOKUPS_PER_SECOND); lookups++)
            handle_lookup((unsigned)lookups);
        pause_step();
    }
    printf("ok_warmup_plateau: load_cache_entry filled %d entries (%d KiB) by %.1f s, then "
           "replaced %llu; leaked_bytes=0 seconds=%.2f leak_rate=0\n",
           ENTRIES, ENTRIES * ENTRY_SIZE / 1024, filled_at, (unsigned long long)replaced, elapsed);
    return 0; /* the cache is still allocated: the exit snapshot shows the plateau */
}
