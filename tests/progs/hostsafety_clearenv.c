/* hostsafety_clearenv - a victim for tests/integration/hostsafety.sh that
 * behaves like an nginx master: it wipes its environment with clearenv(),
 * then forks a worker that allocates (and keeps part of it until exit).
 * Settings an interposer read at load must survive in the worker.
 * The worker prints its checksum; the master then prints the worker's pid
 * (so the test can find its dump) and exit status. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
    if (clearenv() != 0)
        return 90;
    if (getenv("HEAPSCOPE_SAMPLE_RATE") || getenv("LD_PRELOAD"))
        return 91;
    fflush(stdout);
    pid_t child = fork();
    if (child < 0)
        return 92;
    if (child == 0) {
        static void *keep[4000];
        unsigned long sum = 0;
        for (int i = 0; i < 4000; i++) {
            char *p = malloc((size_t)(100 + i % 900));
            if (!p)
                _exit(99);
            memset(p, i & 0xff, 100);
            sum += (unsigned char)p[i % 100];
            if (i % 2)
                keep[i] = p;
            else
                free(p);
        }
        printf("worker sum=%lu\n", sum);
        for (int i = 0; i < 4000; i++)
            free(keep[i]);
        exit(0); /* exit, not _exit: the worker's at-exit snapshot runs */
    }
    int status = 0;
    if (waitpid(child, &status, 0) != child)
        return 93;
    printf("worker pid=%d status=%d\n", (int)child, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
