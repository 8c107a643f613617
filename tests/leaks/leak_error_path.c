/* leak_error_path.c - leak corpus: a request handler that leaks its buffer
 * only on an error path. handle_request() allocates a 16 KiB buffer for each
 * of 1,000 requests a second and frees it, except when validation fails (1%
 * of requests, at random), where an early return forgets it: ~160 KiB/s
 * leaked from a site that allocates 16 MB/s. Usage: leak_error_path
 * [SECONDS] (default 20). Prints the bytes leaked and the leak rate. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REQUEST_BUFFER (16 * 1024)
#define REQUESTS_PER_SECOND 1000

static void *volatile sink; /* keeps the compiler from eliding malloc/free pairs */
static uint64_t rng = 0xd1b54a32d192ed03u;

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

/* Fails for 1% of requests, at random (a fixed seed: the same run each time). */
__attribute__((noinline)) static int checksum_is_valid(const char *buf)
{
    return buf[0] == 'P' && next_random() % 100 != 0;
}

__attribute__((noinline)) static char *encode_response(unsigned n)
{
    char *out = malloc(256);
    snprintf(out, 256, "{\"id\":%u,\"status\":\"ok\"}", n);
    return out;
}

/* Returns the bytes it leaked: 0, or the request buffer on the error path. */
__attribute__((noinline)) static size_t handle_request(unsigned n)
{
    char *buf = malloc(REQUEST_BUFFER); /* LEAK: leak_error_path */
    memset(buf, 'P', REQUEST_BUFFER);
    if (!checksum_is_valid(buf)) {
        sink = buf;
        return REQUEST_BUFFER; /* the bug: this early return forgets free(buf) */
    }
    char *response = encode_response(n);
    sink = response;
    free(response);
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 20.0;
    double start = now(), elapsed = 0;
    uint64_t leaked = 0, requests = 0, errors = 0;
    while ((elapsed = now() - start) < seconds) {
        while (requests < (uint64_t)(elapsed * REQUESTS_PER_SECOND)) {
            size_t lost = handle_request((unsigned)requests++);
            leaked += lost;
            errors += lost != 0;
        }
        pause_step();
    }
    printf("leak_error_path: %llu requests, %llu took the error path in handle_request; "
           "leaked_bytes=%llu seconds=%.2f leak_rate=%.0f\n",
           (unsigned long long)requests, (unsigned long long)errors, (unsigned long long)leaked, elapsed,
           (double)leaked / elapsed);
    return 0;
}
