/* nothread_victim - a victim for tests/integration/nothread.sh: a preloaded
 * heapscope must not add a thread of its own to its host.
 * usage: nothread_victim MODE
 *   mainexit  the main thread starts a worker and calls pthread_exit(); the
 *             worker allocates for ~0.3 s and returns. glibc then ends the
 *             process with exit(0) (atexit handlers run) because the worker
 *             was its last thread. Prints "worker done", then "atexit ran"
 *             from an atexit handler.
 *   tasks     allocates (small and large blocks, some kept, from a worker
 *             thread that is joined too), then prints "tasks N", N being the
 *             number of entries in /proc/self/task (1 without heapscope). */
#include <dirent.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void *kept[64];
static volatile uint64_t sink; /* keeps the checksums alive */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A mix of small and large blocks (the large ones cross the default sample
 * rate); returns a checksum so that nothing is optimised away. */
static uint64_t churn(unsigned rounds)
{
    uint64_t sum = 0;
    for (unsigned i = 0; i < rounds; i++) {
        size_t size = (i % 97 == 0) ? (size_t)1 << 20 : 16 + (i * 37) % 2000;
        unsigned char *p = malloc(size);
        if (!p) {
            fprintf(stderr, "nothread_victim: out of memory\n");
            exit(99);
        }
        p[0] = (unsigned char)i;
        p[size - 1] = (unsigned char)(i >> 8);
        sum += p[0] + p[size - 1];
        if (i % 1000 == 0 && i / 1000 < sizeof kept / sizeof kept[0])
            kept[i / 1000] = p;
        else
            free(p);
    }
    return sum;
}

static void at_exit(void) { printf("atexit ran\n"); }

static void *worker(void *arg)
{
    double until = now() + 0.3;
    (void)arg;
    uint64_t sum = 0;
    do
        sum += churn(2000);
    while (now() < until);
    sink = sum;
    printf("worker done\n");
    return NULL;
}

static void *small_worker(void *arg)
{
    (void)arg;
    churn(5000);
    return NULL;
}

static int count_tasks(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d) {
        perror("nothread_victim: /proc/self/task");
        exit(98);
    }
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: nothread_victim mainexit|tasks\n");
        return 2;
    }
    if (strcmp(argv[1], "mainexit") == 0) {
        pthread_t t;
        atexit(at_exit);
        churn(1000);
        if (pthread_create(&t, NULL, worker, NULL) != 0) {
            fprintf(stderr, "nothread_victim: pthread_create failed\n");
            return 97;
        }
        pthread_exit(NULL);
    }
    if (strcmp(argv[1], "tasks") == 0) {
        pthread_t t;
        sink = churn(20000);
        if (pthread_create(&t, NULL, small_worker, NULL) != 0 || pthread_join(t, NULL) != 0) {
            fprintf(stderr, "nothread_victim: pthread_create/join failed\n");
            return 97;
        }
        churn(20000);
        printf("tasks %d\n", count_tasks());
        return 0;
    }
    fprintf(stderr, "nothread_victim: unknown mode %s\n", argv[1]);
    return 2;
}
