/* ok_exit_cache.c - non-leak corpus: a cache freed only by the OS at exit.
 * load_geo_table() fills a 20 MiB lookup table (20,480 entries of 1 KiB)
 * during the first second, as a program reading a data file at start-up
 * does; it is used for the whole run and still allocated when main()
 * returns. The at-exit view should list it; it is not a growth leak.
 * Usage: ok_exit_cache [SECONDS] (default 20). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ENTRY_SIZE 1024
#define ENTRIES 20480
#define LOAD_SECONDS 1.0
#define QUERIES_PER_SECOND 5000

static char *geo_table[ENTRIES]; /* never freed: the process exit releases it */
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

__attribute__((noinline)) static void load_geo_table(unsigned from, unsigned to)
{
    for (unsigned i = from; i < to; i++) {
        geo_table[i] = malloc(ENTRY_SIZE); /* AT-EXIT: ok_exit_cache */
        memset(geo_table[i], (int)(i & 0xff), ENTRY_SIZE);
    }
}

__attribute__((noinline)) static void answer_query(unsigned n)
{
    size_t size = 200 + (n * 2654435761u) % 1800;
    char *answer = malloc(size);
    memcpy(answer, geo_table[n % ENTRIES] ? geo_table[n % ENTRIES] : "", 1);
    memset(answer + 1, 'a', size - 1);
    sink = answer;
    free(answer);
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 20.0;
    double start = now(), elapsed = 0;
    unsigned loaded = 0;
    uint64_t queries = 0;
    while ((elapsed = now() - start) < seconds) {
        if (loaded < ENTRIES) {
            unsigned due = elapsed >= LOAD_SECONDS ? ENTRIES : (unsigned)(elapsed / LOAD_SECONDS * ENTRIES);
            load_geo_table(loaded, due);
            loaded = due;
        }
        for (; queries < (uint64_t)(elapsed * QUERIES_PER_SECOND); queries++)
            answer_query((unsigned)queries);
        pause_step();
    }
    printf("ok_exit_cache: load_geo_table holds %u KiB until exit; leaked_bytes=0 "
           "seconds=%.2f leak_rate=0 at_exit_bytes=%u\n",
           loaded * (ENTRY_SIZE / 1024), elapsed, loaded * ENTRY_SIZE);
    return 0;
}
