/* leak_realloc_buffer.c - leak corpus: an append-only buffer grown with
 * realloc() that never shrinks. append_audit_record() adds ~100 B records,
 * 2,048 a second, to an in-memory audit log nobody truncates, growing it by
 * 64 KiB steps: ~200 KiB/s of growth at one realloc() call site. Usage:
 * leak_realloc_buffer [SECONDS] (default 20). Prints the capacity reached
 * and its growth rate (ground truth for scripts/leakeval.sh). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define GROWTH_STEP (64 * 1024)
#define RECORDS_PER_SECOND 2048
#define CHURN_PER_SECOND 3000

static char *audit_log;
static size_t audit_used, audit_capacity;
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

__attribute__((noinline)) static void append_audit_record(unsigned n)
{
    char record[128];
    int len = snprintf(record, sizeof(record),
                       "%010u user=%05u action=update object=/accounts/%08u/settings "
                       "result=ok latency_us=%04u\n",
                       n, n % 50000, n * 2654435761u % 100000000, n % 9973);
    if (audit_used + (size_t)len > audit_capacity) {
        audit_capacity += GROWTH_STEP;
        audit_log = realloc(audit_log, audit_capacity); /* LEAK: leak_realloc_buffer */
    }
    memcpy(audit_log + audit_used, record, (size_t)len);
    audit_used += (size_t)len;
}

__attribute__((noinline)) static void serialize_event(unsigned n)
{
    size_t size = 128 + (n * 40503u) % 4096;
    char *buf = malloc(size);
    memset(buf, (int)(n & 0xff), size);
    sink = buf;
    free(buf);
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 20.0;
    double start = now(), elapsed = 0;
    uint64_t records = 0, churn = 0;
    while ((elapsed = now() - start) < seconds) {
        for (; records < (uint64_t)(elapsed * RECORDS_PER_SECOND); records++)
            append_audit_record((unsigned)records);
        for (; churn < (uint64_t)(elapsed * CHURN_PER_SECOND); churn++)
            serialize_event((unsigned)churn);
        pause_step();
    }
    /* The capacity follows the bytes used within one 64 KiB step, so the
     * rate of growth is that of the bytes appended. */
    printf("leak_realloc_buffer: %llu records, %zu B used, buffer grown to %zu B by "
           "append_audit_record; leaked_bytes=%zu seconds=%.2f leak_rate=%.0f\n",
           (unsigned long long)records, audit_used, audit_capacity, audit_capacity, elapsed,
           (double)audit_used / elapsed);
    return 0;
}
