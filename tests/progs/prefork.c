/* prefork.c - a preforking server in miniature: the parent forks WORKERS
 * workers, each of which churns short-lived request buffers for SECONDS;
 * worker number LEAKER (1-based; 0 = none) also keeps 64 KiB blocks nobody
 * frees, 32 a second (2 MiB/s). The parent churns a little while it waits
 * for them and exits 0 when every worker exited 0. It prints one line per
 * worker, "worker N pid P", and "parent pid P" (tests/integration/groups.sh).
 *   prefork WORKERS SECONDS LEAKER */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LEAK_BLOCK (64 * 1024)
#define LEAKS_PER_SECOND 32

static void *volatile sink; /* keeps the compiler from eliding malloc/free pairs */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void pause_step(void)
{
    struct timespec step = {0, 5 * 1000 * 1000};
    nanosleep(&step, NULL);
}

__attribute__((noinline)) static void keep_session(unsigned n)
{
    char *block = malloc(LEAK_BLOCK); /* LEAK: prefork */
    if (block)
        memset(block, (int)(n & 0xff), LEAK_BLOCK);
    sink = block; /* the only reference, overwritten by the next one */
}

__attribute__((noinline)) static void handle_request(unsigned n)
{
    size_t size = 256 + (n * 2654435761u) % 3840;
    char *buf = malloc(size);
    if (buf)
        memset(buf, (int)(n & 0xff), size);
    sink = buf;
    free(buf);
}

static int worker(double seconds, int leaks)
{
    double start = now(), leaked = 0;
    unsigned n = 0;
    while (now() - start < seconds) {
        for (int i = 0; i < 40; i++)
            handle_request(n++);
        if (leaks)
            for (double due = (now() - start) * LEAKS_PER_SECOND; leaked < due; leaked++)
                keep_session(n);
        pause_step();
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 4)
        return 2;
    int workers = atoi(argv[1]), leaker = atoi(argv[3]);
    double seconds = atof(argv[2]);
    if (workers < 1 || workers > 64 || !(seconds > 0))
        return 2;
    pid_t pids[64];
    printf("parent pid %d\n", (int)getpid());
    fflush(stdout);
    for (int i = 0; i < workers; i++) {
        pids[i] = fork();
        if (pids[i] < 0)
            return 3;
        if (pids[i] == 0)
            exit(worker(seconds, i + 1 == leaker)); /* stdout was flushed: nothing twice */
        printf("worker %d pid %d\n", i + 1, (int)pids[i]);
        fflush(stdout);
    }
    int left = workers, status = 0;
    unsigned n = 0;
    while (left > 0) {
        int st;
        pid_t p = waitpid(-1, &st, WNOHANG);
        if (p < 0)
            return 4;
        if (p > 0) {
            left--;
            if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
                status = 5;
            continue;
        }
        for (int i = 0; i < 4; i++)
            handle_request(n++);
        pause_step();
    }
    return status;
}
