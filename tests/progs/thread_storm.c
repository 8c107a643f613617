/* thread_storm.c - victim for tests/integration/threadsites.sh: more thread
 * starts and exits between two snapshots than the interposer's event ring
 * holds. 30 sleepers from start_sleepers() block on a pipe nobody writes
 * (exit() ends them), then spawn_a() and spawn_b() each create and join
 * 5,000 short-lived threads in batches of 50. Each site calls
 * pthread_create itself, so each is its own creation site. With "fork", a
 * child then creates and joins 10 threads in spawn_a() and exits: its dump
 * counts from the fork. With "sites", instead: TOTAL threads one after the
 * other, each created under its own call path (descend() through branch0()
 * and branch1(), the bits of its number), so each has its own creation
 * stack: more sites than the interposer's table holds. Usage: thread_storm
 * [TOTAL [fork|sites]] (short-lived threads, default 10000, even). Prints
 * what it created. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define BATCH 50
#define SLEEPERS 30

static int never_written[2];
static volatile unsigned long work_sink;

static void *short_task(void *arg)
{
    work_sink += (unsigned long)(size_t)arg;
    return NULL;
}

static void *sleeper_main(void *arg)
{
    (void)arg;
    char c;
    /* Blocks until the process exits: nobody writes the pipe. */
    while (read(never_written[0], &c, 1) != 0)
        ;
    return NULL;
}

static void die_unless_created(int rc)
{
    if (rc != 0) {
        fprintf(stderr, "thread_storm: pthread_create failed (%d)\n", rc);
        exit(1);
    }
}

__attribute__((noinline)) static void start_sleepers(void)
{
    for (int i = 0; i < SLEEPERS; i++) {
        pthread_t th;
        die_unless_created(pthread_create(&th, NULL, sleeper_main, NULL));
        pthread_detach(th);
    }
}

__attribute__((noinline)) static void spawn_a(int n)
{
    pthread_t th[BATCH];
    for (int i = 0; i < n; i++)
        die_unless_created(pthread_create(&th[i], NULL, short_task, (void *)(size_t)i));
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
}

__attribute__((noinline)) static void spawn_b(int n)
{
    pthread_t th[BATCH];
    for (int i = 0; i < n; i++)
        die_unless_created(pthread_create(&th[i], NULL, short_task, (void *)(size_t)(i + 1)));
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
}

#define PATH_BITS 13 /* 8192 distinct call paths */
static void descend(unsigned path, int level);

__attribute__((noinline)) static void branch0(unsigned path, int level)
{
    descend(path, level);
    work_sink += 1; /* no tail call: the frame stays on the stack */
}

__attribute__((noinline)) static void branch1(unsigned path, int level)
{
    descend(path, level);
    work_sink += 2;
}

__attribute__((noinline)) static void descend(unsigned path, int level)
{
    if (level == 0) {
        pthread_t th;
        die_unless_created(pthread_create(&th, NULL, short_task, NULL));
        pthread_join(th, NULL);
        return;
    }
    if (path & 1)
        branch1(path >> 1, level - 1);
    else
        branch0(path >> 1, level - 1);
    work_sink += 3;
}

int main(int argc, char **argv)
{
    int total = argc > 1 ? atoi(argv[1]) : 10000;
    if (total < 0 || total % 2) {
        fprintf(stderr, "usage: thread_storm [TOTAL] (an even number)\n");
        return 2;
    }
    if (argc > 2 && strcmp(argv[2], "sites") == 0) {
        if (total > (1 << PATH_BITS)) {
            fprintf(stderr, "thread_storm: at most %d distinct sites\n", 1 << PATH_BITS);
            return 2;
        }
        for (int i = 0; i < total; i++)
            descend((unsigned)i, PATH_BITS);
        printf("thread_storm: %d threads from %d call paths\n", total, total);
        return 0;
    }
    if (pipe(never_written) != 0) {
        perror("pipe");
        return 1;
    }
    start_sleepers();
    for (int done = 0; done < total / 2; done += BATCH) {
        int n = total / 2 - done < BATCH ? total / 2 - done : BATCH;
        spawn_a(n);
        spawn_b(n);
    }
    printf("thread_storm: %d short-lived threads joined, %d sleepers alive\n", total, SLEEPERS);
    if (argc > 2 && strcmp(argv[2], "fork") == 0) {
        fflush(stdout);
        pid_t child = fork();
        if (child < 0) {
            perror("fork");
            return 1;
        }
        if (child == 0) {
            spawn_a(10);
            printf("thread_storm: child %d joined 10 threads\n", (int)getpid());
            exit(0);
        }
        int status;
        if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "thread_storm: the child failed\n");
            return 1;
        }
    }
    return 0;
}
