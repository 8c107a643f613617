/* ok_spike.c - non-leak corpus: one large temporary spike. At 40% of the
 * run export_snapshot() allocates and fills 100 MiB (100 blocks of 1 MiB)
 * and frees it 1 s later; otherwise load_session() keeps an 8 MiB session
 * table flat by replacing entries and handle_request() churns temporaries.
 * Usage: ok_spike [SECONDS] (default 20). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SPIKE_BLOCK (1024 * 1024)
#define SPIKE_BLOCKS 100
#define SPIKE_AT 0.4
#define SPIKE_SECONDS 1.0
#define SESSION_SIZE 1024
#define SESSIONS 8192
#define SESSION_REPLACEMENTS_PER_SECOND 1000
#define REQUESTS_PER_SECOND 4000

static char *sessions[SESSIONS];
static char *spike[SPIKE_BLOCKS];
static void *volatile sink;
static uint64_t rng = 0x94d049bb133111ebu;

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

__attribute__((noinline)) static void load_session(unsigned slot, unsigned version)
{
    char *session = malloc(SESSION_SIZE);
    memset(session, (int)(version & 0xff), SESSION_SIZE);
    free(sessions[slot]);
    sessions[slot] = session;
}

__attribute__((noinline)) static void export_snapshot(void)
{
    for (unsigned i = 0; i < SPIKE_BLOCKS; i++) {
        spike[i] = malloc(SPIKE_BLOCK);
        memset(spike[i], (int)i, SPIKE_BLOCK);
    }
}

__attribute__((noinline)) static void finish_export(void)
{
    for (unsigned i = 0; i < SPIKE_BLOCKS; i++) {
        free(spike[i]);
        spike[i] = NULL;
    }
}

__attribute__((noinline)) static void handle_request(unsigned n)
{
    size_t size = 64 + next_random() % 4096;
    char *buf = malloc(size);
    memset(buf, (int)(n & 0xff), size);
    sink = buf;
    free(buf);
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 20.0;
    double start = now(), elapsed = 0, spike_start = -1, spike_end = -1;
    uint64_t replaced = 0, requests = 0;
    for (unsigned i = 0; i < SESSIONS; i++)
        load_session(i, 0);
    while ((elapsed = now() - start) < seconds) {
        if (spike_start < 0 && elapsed >= SPIKE_AT * seconds) {
            export_snapshot();
            spike_start = elapsed;
        } else if (spike_start >= 0 && spike_end < 0 && elapsed >= spike_start + SPIKE_SECONDS) {
            finish_export();
            spike_end = elapsed;
        }
        for (; replaced < (uint64_t)(elapsed * SESSION_REPLACEMENTS_PER_SECOND); replaced++)
            load_session(next_random() % SESSIONS, (unsigned)replaced + 1);
        for (; requests < (uint64_t)(elapsed * REQUESTS_PER_SECOND); requests++)
            handle_request((unsigned)requests);
        pause_step();
    }
    finish_export();
    printf("ok_spike: export_snapshot held %d MiB from %.2f s to %.2f s; "
           "leaked_bytes=0 seconds=%.2f leak_rate=0\n",
           SPIKE_BLOCKS * SPIKE_BLOCK >> 20, spike_start, spike_end, elapsed);
    return 0; /* the session table is still allocated: the exit snapshot shows it */
}
