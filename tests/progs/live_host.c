/* live_host.c - a program for the live server's tests (live_server.sh).
 *
 *   live_host serve      allocates and checks its own work until stdin reaches
 *                        EOF, then prints "work ok N" (N deterministic) and
 *                        exits 0
 *   live_host exit CODE  as serve, then exit(CODE)
 *   live_host lastthread main starts a worker that waits for stdin's EOF,
 *                        then calls pthread_exit: the process must end with
 *                        status 0 once the worker returns
 *   live_host fork N     forks N children that serve like "serve" (each prints
 *                        "child PID ready"), waits for them, exits 0
 *   live_host daemon     forks; the parent exits at once (as daemon() does),
 *                        the child prints "child PID ready" and serves
 *   live_host exec       once stdin is at EOF, execs /bin/sh -c 'ls -l
 *                        /proc/self/fd' (the listener must not be inherited)
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <unistd.h>

/* Builds and checks lists of blocks until stdin closes: the work whose result
 * must not change under the live service. Returns a checksum. */
static uint64_t work_until_eof(void)
{
    uint64_t sum = 0, rounds = 0;
    char buf[64];
    for (;;) {
        enum { N = 256 };
        char *blocks[N];
        for (int i = 0; i < N; i++) {
            size_t size = 16 + (size_t)(i * 37 % 4000);
            blocks[i] = malloc(size);
            if (!blocks[i])
                abort();
            memset(blocks[i], (int)(i & 0xff), size);
        }
        for (int i = 0; i < N; i++) {
            size_t size = 16 + (size_t)(i * 37 % 4000);
            if ((unsigned char)blocks[i][size - 1] != (unsigned char)(i & 0xff))
                abort();
            sum += (unsigned char)blocks[i][size / 2];
            free(blocks[i]);
        }
        rounds++;
        /* stdin: a pipe the test closes; poll it without blocking the work */
        fd_set fds;
        FD_ZERO(&fds);
        FD_SET(0, &fds);
        struct timeval tv = {0, 20000};
        if (select(1, &fds, NULL, NULL, &tv) > 0) {
            ssize_t n = read(0, buf, sizeof(buf));
            if (n <= 0)
                break;
        }
    }
    return sum / rounds; /* the same every run: the work is deterministic */
}

static void *worker(void *arg)
{
    (void)arg;
    uint64_t v = work_until_eof();
    printf("work ok %llu\n", (unsigned long long)v);
    fflush(stdout);
    return NULL;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "serve";
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (strcmp(mode, "serve") == 0 || strcmp(mode, "exit") == 0) {
        printf("ready %d\n", (int)getpid());
        uint64_t v = work_until_eof();
        printf("work ok %llu\n", (unsigned long long)v);
        return strcmp(mode, "exit") == 0 && argc > 2 ? atoi(argv[2]) : 0;
    }
    if (strcmp(mode, "lastthread") == 0) {
        pthread_t th;
        if (pthread_create(&th, NULL, worker, NULL) != 0)
            return 2;
        printf("ready %d\n", (int)getpid());
        pthread_exit(NULL);
    }
    if (strcmp(mode, "fork") == 0) {
        int n = argc > 2 ? atoi(argv[2]) : 2;
        printf("ready %d\n", (int)getpid());
        for (int i = 0; i < n; i++) {
            pid_t pid = fork();
            if (pid < 0)
                return 2;
            if (pid == 0) {
                printf("child %d ready\n", (int)getpid());
                uint64_t v = work_until_eof();
                printf("work ok %llu\n", (unsigned long long)v);
                _exit(0);
            }
        }
        uint64_t v = work_until_eof();
        printf("work ok %llu\n", (unsigned long long)v);
        int status, bad = 0;
        while (wait(&status) > 0)
            bad |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
        return bad;
    }
    if (strcmp(mode, "daemon") == 0) {
        pid_t pid = fork();
        if (pid < 0)
            return 2;
        if (pid > 0)
            _exit(0);
        printf("child %d ready\n", (int)getpid());
        uint64_t v = work_until_eof();
        printf("work ok %llu\n", (unsigned long long)v);
        return 0;
    }
    if (strcmp(mode, "exec") == 0) {
        printf("ready %d\n", (int)getpid());
        work_until_eof();
        execl("/bin/sh", "sh", "-c", "ls -l /proc/self/fd", (char *)NULL);
        return 127;
    }
    fprintf(stderr, "usage: live_host serve|exit CODE|lastthread|fork N|daemon|exec\n");
    return 2;
}
