/* ok_churn.c - non-leak corpus: heavy churn of short-lived allocations.
 * process_packet() allocates ~500 MB/s in blocks of 64 B..4 KiB; most are
 * freed at once and one in four is parked in a 2,048-slot ring, freeing the
 * block it displaces, so the live set stays flat (~4 MB) while the
 * allocator turns over its whole size ~100 times a second. Usage: ok_churn
 * [SECONDS] (default 20). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BYTES_PER_SECOND (500.0 * 1000 * 1000)
#define RING_SLOTS 2048

static char *ring[RING_SLOTS];
static void *volatile sink;
static uint64_t rng = 0x8cb92ba72f3d8dd7u;

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

/* Returns the bytes it allocated. */
__attribute__((noinline)) static size_t process_packet(unsigned n)
{
    size_t size = 64 + next_random() % 4032;
    char *packet = malloc(size);
    memset(packet, (int)(n & 0xff), size);
    if (n % 4 == 0) { /* kept a little while: reassembly */
        unsigned slot = next_random() % RING_SLOTS;
        free(ring[slot]);
        ring[slot] = packet;
    } else {
        sink = packet;
        free(packet);
    }
    return size;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 20.0;
    double start = now(), elapsed = 0;
    uint64_t bytes = 0, packets = 0;
    while ((elapsed = now() - start) < seconds) {
        while ((double)bytes < elapsed * BYTES_PER_SECOND)
            bytes += process_packet((unsigned)packets++);
        pause_step();
    }
    printf("ok_churn: process_packet allocated %llu blocks, %.0f MB/s; leaked_bytes=0 "
           "seconds=%.2f leak_rate=0\n",
           (unsigned long long)packets, (double)bytes / elapsed / 1e6, elapsed);
    return 0; /* the ring is still allocated: the exit snapshot shows the flat live set */
}
