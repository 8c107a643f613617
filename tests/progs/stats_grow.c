/* stats_grow.c - a process with a known heap shape for
 * tests/integration/stats_plot.sh: it grows its heap in STEPS steps of
 * STEP_KIB KiB (4 KiB blocks, touched so RSS grows too), NAP_MS ms apart;
 * halfway it raises SIGUSR2 once (run it with HEAPSCOPE_SIGNAL=SIGUSR2, or
 * the signal ends it) and forks once (the child allocates for ~300 ms and
 * exits). Every block is still held when it returns from main.
 *   stats_grow STEPS STEP_KIB NAP_MS
 * prints "pid P", then "child C status ok" and "held N bytes". */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BLOCK 4096

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p) {
        fprintf(stderr, "stats_grow: malloc failed\n");
        exit(3);
    }
    memset(p, 0x5a, n);
    return p;
}

static int fork_once(void)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        perror("stats_grow: fork");
        return -1;
    }
    if (pid == 0) {
        for (int i = 0; i < 30; i++) {
            free(xmalloc(BLOCK * (size_t)(1 + i % 8)));
            nap_ms(10);
        }
        exit(0);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "stats_grow: child %d failed\n", (int)pid);
        return -1;
    }
    printf("child %d status ok\n", (int)pid);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: stats_grow STEPS STEP_KIB NAP_MS\n");
        return 2;
    }
    long steps = atol(argv[1]), step_kib = atol(argv[2]), nap = atol(argv[3]);
    if (steps < 1 || step_kib < 4 || nap < 0) {
        fprintf(stderr, "stats_grow: bad arguments\n");
        return 2;
    }
    printf("pid %d\n", (int)getpid());
    fflush(stdout);
    size_t per_step = (size_t)step_kib * 1024 / BLOCK;
    void **blocks = calloc((size_t)steps * per_step, sizeof(void *));
    if (!blocks)
        return 3;
    size_t n = 0;
    for (long s = 0; s < steps; s++) {
        for (size_t i = 0; i < per_step; i++)
            blocks[n++] = xmalloc(BLOCK);
        if (s == steps / 2) {
            raise(SIGUSR2);
            if (fork_once())
                return 3;
        }
        nap_ms(nap);
    }
    /* Still held at exit, so the exit snapshot shows the whole growth. */
    printf("held %zu bytes\n", n * BLOCK);
    return blocks[0] ? 0 : 3;
}
