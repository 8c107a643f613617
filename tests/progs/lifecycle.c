/* lifecycle.c - small process shapes for tests/integration/lifecycle.sh:
 * how a process ends, forks, waits for a signal, runs for a while, or
 * starts threads, so the test can check which dumps and records appear.
 *   lifecycle exit_early        allocate, then _exit(0) (no atexit, no flush)
 *   lifecycle return            allocate, print "pid N", return from main
 *   lifecycle fork MS           fork; the child allocates for MS ms and exit()s;
 *                               prints "parent P child C status S"
 *   lifecycle wait READY GO     allocate, write READY (pid inside), poll for
 *                               the file GO (at most 30 s), then return
 *   lifecycle run MS            allocate for MS ms, then return
 *   lifecycle run_exit MS       allocate for MS ms, then _exit(0) (no exit snapshot)
 *   lifecycle threads           5 threads (one detached), each allocates;
 *                               returns once all five have exited
 * Every mode prints "pid N" first, flushed, so the test knows whose dump
 * to look for. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void *keep[1024];

static void allocate_some(int round)
{
    for (int i = 0; i < 64; i++) {
        int k = (round * 64 + i) % 1024;
        free(keep[k]);
        keep[k] = malloc(32 + (size_t)(i * 97) % 4000);
        if (!keep[k]) {
            fprintf(stderr, "lifecycle: malloc failed\n");
            exit(3);
        }
        memset(keep[k], i, 32);
    }
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static void run_for(double ms)
{
    double end = now_ms() + ms;
    for (int round = 0; now_ms() < end; round++) {
        allocate_some(round);
        nap_ms(5);
    }
}

static int mode_fork(long ms)
{
    allocate_some(0);
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 3;
    }
    if (pid == 0) {
        run_for((double)ms);
        exit(0);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    int ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    printf("parent %d child %d status %s\n", (int)getpid(), (int)pid, ok ? "ok" : "failed");
    return ok ? 0 : 1;
}

static int mode_wait(const char *ready, const char *go)
{
    allocate_some(0);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", ready);
    FILE *f = fopen(tmp, "w");
    if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f) != 0 || rename(tmp, ready)) {
        perror(ready);
        return 3;
    }
    double deadline = now_ms() + 30000;
    struct stat st;
    for (int round = 1; stat(go, &st) != 0; round++) {
        if (now_ms() > deadline) {
            fprintf(stderr, "lifecycle: %s never appeared\n", go);
            return 4;
        }
        allocate_some(round);
        nap_ms(10);
    }
    return 0;
}

static atomic_int threads_running;
static atomic_int detached_tid;

static void *thread_body(void *arg)
{
    long n = (long)arg;
    if (n == 4)
        atomic_store(&detached_tid, (int)gettid());
    for (int round = 0; round < 20; round++) {
        void *p = malloc(100 + (size_t)n * 10);
        if (!p)
            abort();
        memset(p, 1, 100);
        free(p);
    }
    atomic_fetch_sub(&threads_running, 1);
    return NULL;
}

static int task_exists(int tid)
{
    char path[64];
    struct stat st;
    snprintf(path, sizeof path, "/proc/self/task/%d", tid);
    return stat(path, &st) == 0;
}

static int mode_threads(void)
{
    pthread_t t[5];
    atomic_store(&threads_running, 5);
    for (long i = 0; i < 5; i++)
        if (pthread_create(&t[i], NULL, thread_body, (void *)i) != 0) {
            fprintf(stderr, "lifecycle: pthread_create failed\n");
            return 3;
        }
    pthread_detach(t[4]);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    /* The detached thread cannot be joined: poll until the kernel has
     * seen it leave (its /proc task entry is gone), bounded to 10 s. */
    double deadline = now_ms() + 10000;
    while (atomic_load(&threads_running) > 0 || task_exists(atomic_load(&detached_tid))) {
        if (now_ms() > deadline) {
            fprintf(stderr, "lifecycle: detached thread did not exit\n");
            return 4;
        }
        nap_ms(2);
    }
    printf("threads 5 done\n");
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    printf("pid %d\n", (int)getpid());
    fflush(stdout);
    if (strcmp(mode, "exit_early") == 0) {
        allocate_some(0);
        _exit(0);
    }
    if (strcmp(mode, "return") == 0) {
        allocate_some(0);
        return 0;
    }
    if (strcmp(mode, "fork") == 0 && argc == 3)
        return mode_fork(atol(argv[2]));
    if (strcmp(mode, "wait") == 0 && argc == 4)
        return mode_wait(argv[2], argv[3]);
    if (strcmp(mode, "run") == 0 && argc == 3) {
        run_for(atof(argv[2]));
        return 0;
    }
    if (strcmp(mode, "run_exit") == 0 && argc == 3) {
        run_for(atof(argv[2]));
        _exit(0);
    }
    if (strcmp(mode, "threads") == 0)
        return mode_threads();
    fprintf(stderr, "usage: lifecycle exit_early|return|fork MS|wait READY GO|run MS|run_exit MS|threads\n");
    return 2;
}
