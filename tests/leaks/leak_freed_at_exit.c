/* leak_freed_at_exit.c - leak corpus: a leak that a clean shutdown frees.
 * register_session() adds a 4 KiB record to a session registry that is
 * never trimmed while the service runs, 64 a second (256 KiB/s): the leak.
 * Beside it, an 8 MiB routing table loaded at start and churned
 * temporaries. At the end the program shuts down cleanly, as CPython's
 * finalization, nginx's pools or sqlite3's close do: main() frees the
 * registry and an atexit handler frees the table, so the heap at exit (the
 * interposer's exit snapshot comes after both) is below where it started.
 * The report must still call the running program a leak.
 * Usage: leak_freed_at_exit [SECONDS] (default 20). Prints the bytes it
 * leaked and the leak rate it achieved (the registry's growth while running,
 * all of it freed at exit). Ground truth for scripts/leakeval.sh
 * (tests/leaks/cases.txt). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SESSION_SIZE 4096
#define SESSIONS_PER_SECOND 64 /* 256 KiB/s */
#define ROUTE_SIZE 1024
#define ROUTES 8192 /* 8 MiB, loaded at start, freed at exit */
#define CHURN_PER_SECOND 4000

struct session {
    struct session *next;
    char data[SESSION_SIZE - sizeof(struct session *)];
};

static struct session *registry; /* grows for the whole run, freed at shutdown */
static char *routes[ROUTES];
static void *volatile sink;
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

__attribute__((noinline)) static void load_routes(void)
{
    for (unsigned i = 0; i < ROUTES; i++) {
        routes[i] = malloc(ROUTE_SIZE);
        memset(routes[i], (int)(i & 0xff), ROUTE_SIZE);
    }
}

/* The atexit half of the teardown: registered after the interposer's own
 * handler, so it runs before the exit snapshot. */
static void free_routes(void)
{
    for (unsigned i = 0; i < ROUTES; i++) {
        free(routes[i]);
        routes[i] = NULL;
    }
}

__attribute__((noinline)) static void register_session(unsigned n)
{
    struct session *s = malloc(sizeof(*s)); /* LEAK: leak_freed_at_exit */
    memset(s->data, (int)(n & 0xff), sizeof(s->data));
    s->next = registry;
    registry = s;
}

__attribute__((noinline)) static void handle_request(unsigned n)
{
    size_t size = 256 + next_random() % 3840;
    char *buf = malloc(size);
    memcpy(buf, routes[n % ROUTES], size < ROUTE_SIZE ? size : ROUTE_SIZE);
    sink = buf;
    free(buf);
}

/* main()'s half of the teardown: every session goes. */
__attribute__((noinline)) static uint64_t shutdown_service(void)
{
    uint64_t freed = 0;
    while (registry) {
        struct session *next = registry->next;
        free(registry);
        freed += sizeof(struct session);
        registry = next;
    }
    return freed;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 20.0;
    load_routes();
    atexit(free_routes);
    double start = now(), elapsed = 0;
    uint64_t leaked = 0, leaks = 0, churn = 0;
    while ((elapsed = now() - start) < seconds) {
        while (leaks < (uint64_t)(elapsed * SESSIONS_PER_SECOND)) {
            register_session((unsigned)leaks++);
            leaked += sizeof(struct session);
        }
        for (; churn < (uint64_t)(elapsed * CHURN_PER_SECOND); churn++)
            handle_request((unsigned)churn);
        pause_step();
    }
    uint64_t freed = shutdown_service();
    printf("leak_freed_at_exit: %llu sessions of 4 KiB kept at register_session, all freed at exit; "
           "leaked_bytes=%llu seconds=%.2f leak_rate=%.0f freed_at_exit_bytes=%llu\n",
           (unsigned long long)leaks, (unsigned long long)leaked, elapsed, (double)leaked / elapsed,
           (unsigned long long)freed);
    return 0;
}
