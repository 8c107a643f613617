/* leak_threads.c - leak corpus: a thread leak. start_watcher() creates a
 * watcher thread every 0.2 s; each blocks forever on a condition nobody
 * signals and is never joined or detached. The stacks are mmap'd by glibc,
 * so the heap barely grows: the signal is the live threads by creation
 * site. Beside it, handle_event() churns small buffers. Usage: leak_threads
 * [SECONDS] (default 20). Prints the threads leaked and their rate. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define THREADS_PER_SECOND 5
#define EVENTS_PER_SECOND 2000

static pthread_mutex_t never_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t never_signalled = PTHREAD_COND_INITIALIZER;
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

/* Waits for a shutdown that never comes; exit() ends it with the process. */
static void *watcher_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&never_lock);
    for (;;)
        pthread_cond_wait(&never_signalled, &never_lock);
    return NULL;
}

__attribute__((noinline)) static int start_watcher(void)
{
    pthread_t watcher;                                         /* dropped: nobody can join it */
    return pthread_create(&watcher, NULL, watcher_main, NULL); /* LEAK: leak_threads */
}

__attribute__((noinline)) static void handle_event(unsigned n)
{
    size_t size = 64 + (n * 2654435761u) % 2048;
    char *event = malloc(size);
    memset(event, (int)(n & 0xff), size);
    sink = event;
    free(event);
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 20.0;
    double start = now(), elapsed = 0;
    uint64_t threads = 0, events = 0;
    while ((elapsed = now() - start) < seconds) {
        while (threads < (uint64_t)(elapsed * THREADS_PER_SECOND) + 1) {
            if (start_watcher() != 0) {
                perror("pthread_create");
                return 1;
            }
            threads++;
        }
        for (; events < (uint64_t)(elapsed * EVENTS_PER_SECOND); events++)
            handle_event((unsigned)events);
        pause_step();
    }
    printf("leak_threads: start_watcher created %llu threads, none joined; leaked_threads=%llu "
           "seconds=%.2f thread_rate=%.2f leak_rate=0\n",
           (unsigned long long)threads, (unsigned long long)threads, elapsed, (double)threads / elapsed);
    return 0;
}
