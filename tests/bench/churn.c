/* churn: a multi-threaded malloc/free churn benchmark, the workload behind `make bench`.
 * Each thread keeps a working set of live blocks in a slot array and replaces them at
 * random (mostly small sizes, some calloc and realloc, rare 64 KiB+ blocks); a fraction of
 * blocks is handed to another thread through an atomic mailbox and freed there, as servers
 * do. Deterministic per thread (fixed PRNG seeds), so callgrind instruction counts repeat.
 * It only measures; tests/bench/run.sh runs it under each configuration and compares. */
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

/* Slots per thread's mailbox: receivers drain one slot per operation, so a handed-over
 * block lives at most MAILBOX_SLOTS of the receiver's operations. */
#define MAILBOX_SLOTS 256

typedef struct {
    /* acq_rel exchanges: the sender's writes to a block happen-before the receiver's free. */
    _Atomic(void *) slot[MAILBOX_SLOTS];
} __attribute__((aligned(64))) mailbox_t;

typedef struct {
    int index;
    uint64_t rng;
    void **slots;
    unsigned long long mallocs, callocs, reallocs, frees, handed_over;
    char pad[64];
} worker_t;

static int thread_count = 2;
static long ops_per_thread = 2000000;
static int working_set = 1024;     /* live blocks per thread */
static int cross_per_mille = 125;  /* frees handed to another thread */
static int calloc_per_mille = 125; /* allocations made with calloc */
static int realloc_per_mille = 60; /* replacements done with realloc */
static mailbox_t *mailboxes;
static pthread_barrier_t start_barrier;

/* xorshift64*: cheap and good enough to pick sizes; not the thing being measured. */
static inline uint64_t next_random(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* 85 % 16-256 B, 14.9 % 257 B-4 KiB, 1 in 1024 64-192 KiB (crosses glibc's default
 * mmap threshold sometimes, as real large buffers do). */
static inline size_t pick_size(uint64_t *rng)
{
    uint64_t r = next_random(rng);
    unsigned bucket = (unsigned)(r % 1024);
    uint64_t v = r >> 20;
    if (bucket < 870)
        return 16 + v % 241;
    if (bucket < 1023)
        return 257 + v % (4096 - 257 + 1);
    return 65536 + v % (131072 + 1);
}

static inline void touch(void *p, size_t size)
{
    /* Write both ends so the allocation is used, cheaply. */
    volatile char *c = p;
    c[0] = 1;
    c[size - 1] = 2;
}

static void *run_worker(void *arg)
{
    worker_t *w = arg;
    mailbox_t *mine = &mailboxes[w->index];
    pthread_barrier_wait(&start_barrier);
    for (long i = 0; i < ops_per_thread; i++) {
        /* Receive: free what another thread handed us (cross-thread free). */
        void *received = atomic_exchange_explicit(&mine->slot[i % MAILBOX_SLOTS], NULL, memory_order_acq_rel);
        if (received) {
            free(received);
            w->frees++;
        }
        uint64_t r = next_random(&w->rng);
        int s = (int)(r % (uint64_t)working_set);
        unsigned dice = (unsigned)((r >> 32) % 1000);
        size_t size = pick_size(&w->rng);
        void *old = w->slots[s];
        if (old && dice < (unsigned)realloc_per_mille) {
            void *p = realloc(old, size);
            if (!p)
                abort();
            w->reallocs++;
            w->slots[s] = p;
            touch(p, size);
            continue;
        }
        if (old) {
            if (dice >= 1000u - (unsigned)cross_per_mille) {
                int target = (int)((w->index + 1 + (int)((r >> 16) % (uint64_t)thread_count)) % thread_count);
                void *prev = atomic_exchange_explicit(&mailboxes[target].slot[(r >> 40) % MAILBOX_SLOTS], old,
                                                      memory_order_acq_rel);
                w->handed_over++;
                if (prev) {
                    free(prev);
                    w->frees++;
                }
            } else {
                free(old);
                w->frees++;
            }
        }
        void *p;
        if (dice < (unsigned)(realloc_per_mille + calloc_per_mille)) {
            p = calloc(1, size);
            w->callocs++;
        } else {
            p = malloc(size);
            w->mallocs++;
        }
        if (!p)
            abort();
        touch(p, size);
        w->slots[s] = p;
    }
    return NULL;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU time of the whole process (all threads, the interposer's included). On a shared VM
 * wall time also counts time stolen by other guests; CPU time mostly does not. */
static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec * 1e-6;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: churn [-t threads] [-n ops-per-thread] [-w working-set] [-x cross-per-mille]\n"
            "  -t N  worker threads (default 2)\n"
            "  -n N  operations per thread (default 2000000; small for callgrind, e.g. 20000)\n"
            "  -w N  live blocks per thread (default 1024)\n"
            "  -x N  per mille of frees handed to another thread (default 125)\n"
            "Prints one line of key=value: ops_per_sec (wall), ops_per_cpu_sec, pairs (allocation calls, each freed\n"
            "once), maxrss_kib (getrusage of this process, interposer included).\n");
}

static long parse_positive(const char *text, char flag)
{
    char *end;
    long v = strtol(text, &end, 10);
    if (*text == '\0' || *end != '\0' || v <= 0) {
        fprintf(stderr, "churn: -%c wants a positive integer, got '%s'\n", flag, text);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    int opt;
    while ((opt = getopt(argc, argv, "t:n:w:x:h")) != -1) {
        switch (opt) {
        case 't': thread_count = (int)parse_positive(optarg, 't'); break;
        case 'n': ops_per_thread = parse_positive(optarg, 'n'); break;
        case 'w': working_set = (int)parse_positive(optarg, 'w'); break;
        case 'x':
            cross_per_mille = atoi(optarg);
            if (cross_per_mille < 0 || cross_per_mille > 1000 - realloc_per_mille - calloc_per_mille) {
                fprintf(stderr, "churn: -x must be 0..%d\n", 1000 - realloc_per_mille - calloc_per_mille);
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }

    mailboxes = aligned_alloc(64, sizeof(mailbox_t) * (size_t)thread_count);
    worker_t *workers = calloc((size_t)thread_count, sizeof(worker_t));
    pthread_t *threads = calloc((size_t)thread_count, sizeof(pthread_t));
    if (!mailboxes || !workers || !threads)
        return 1;
    for (int t = 0; t < thread_count; t++) {
        for (int k = 0; k < MAILBOX_SLOTS; k++)
            atomic_init(&mailboxes[t].slot[k], NULL);
        workers[t].index = t;
        workers[t].rng = 0x9E3779B97F4A7C15ULL * (uint64_t)(t + 1) ^ 0xD1B54A32D192ED03ULL;
        workers[t].slots = calloc((size_t)working_set, sizeof(void *));
        if (!workers[t].slots)
            return 1;
    }
    pthread_barrier_init(&start_barrier, NULL, (unsigned)thread_count + 1);
    for (int t = 0; t < thread_count; t++) {
        if (pthread_create(&threads[t], NULL, run_worker, &workers[t]) != 0) {
            fprintf(stderr, "churn: pthread_create failed\n");
            return 1;
        }
    }
    pthread_barrier_wait(&start_barrier);
    double start = now_seconds(), cpu_start = cpu_seconds();
    for (int t = 0; t < thread_count; t++)
        pthread_join(threads[t], NULL);
    double seconds = now_seconds() - start, cpu = cpu_seconds() - cpu_start;

    /* Untimed cleanup: every block is freed exactly once, so frees == mallocs + callocs. */
    unsigned long long mallocs = 0, callocs = 0, reallocs = 0, frees = 0, handed = 0;
    for (int t = 0; t < thread_count; t++) {
        worker_t *w = &workers[t];
        for (int k = 0; k < MAILBOX_SLOTS; k++) {
            void *p = atomic_exchange(&mailboxes[t].slot[k], NULL);
            if (p) {
                free(p);
                w->frees++;
            }
        }
        for (int s = 0; s < working_set; s++) {
            if (w->slots[s]) {
                free(w->slots[s]);
                w->frees++;
            }
        }
        mallocs += w->mallocs;
        callocs += w->callocs;
        reallocs += w->reallocs;
        frees += w->frees;
        handed += w->handed_over;
        free(w->slots);
    }
    struct rusage usage_now;
    getrusage(RUSAGE_SELF, &usage_now);
    long long total_ops = (long long)ops_per_thread * thread_count;
    /* A realloc counts as one pair: the interposer sees a free and an allocation. */
    unsigned long long pairs = mallocs + callocs + reallocs;
    printf("churn threads=%d ops=%lld pairs=%llu mallocs=%llu callocs=%llu reallocs=%llu "
           "frees=%llu handed_over=%llu seconds=%.4f cpu_seconds=%.4f ops_per_sec=%.0f "
           "ops_per_cpu_sec=%.0f maxrss_kib=%ld\n",
           thread_count, total_ops, pairs, mallocs, callocs, reallocs, frees, handed, seconds, cpu,
           (double)total_ops / seconds, (double)total_ops / cpu, usage_now.ru_maxrss);
    free(threads);
    free(workers);
    free(mailboxes);
    pthread_barrier_destroy(&start_barrier);
    return 0;
}
