/* unwind_pipe_victim.c - a daemon that closes every descriptor and then
 * fills every number up to 1023 with the two ends of its own pipe, holding
 * data in it. It then allocates from fresh threads, whose stacks libunwind
 * has never seen (so it validates addresses through its own pipe), at
 * HEAPSCOPE_SAMPLE_RATE=1. heapscope must not let libunwind read the host's
 * bytes, write into the host's pipe or close the host's descriptors.
 * Prints "ok" or what went wrong; exit 0 only when everything is intact. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define TOP 1024
static const char data[] = "the host's own bytes";

void *volatile sink;

static void *allocate(void *arg)
{
    (void)arg;
    for (int i = 0; i < 64; i++) {
        sink = malloc(32 + (size_t)i);
        free(sink);
    }
    return NULL;
}

int main(void)
{
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_max < TOP)
        return 2;
    lim.rlim_cur = TOP;
    if (setrlimit(RLIMIT_NOFILE, &lim) != 0)
        return 2;
    allocate(NULL); /* libunwind is set up and has its pipe */
    for (int f = 3; f < 4096; f++)
        close(f);
    int p[2];
    if (pipe(p) != 0)
        return 3;
    if (write(p[1], data, sizeof(data)) != (ssize_t)sizeof(data))
        return 3;
    /* Odd numbers are the read end, even numbers the write end. */
    for (int f = 5; f < TOP; f++)
        if (dup2(f % 2 ? p[0] : p[1], f) != f)
            return 4;
    for (int i = 0; i < 8; i++) {
        pthread_t th;
        if (pthread_create(&th, NULL, allocate, NULL) != 0 || pthread_join(th, NULL) != 0)
            return 5;
    }
    struct stat mine;
    if (fstat(p[0], &mine) != 0)
        return 6;
    for (int f = 3; f < TOP; f++) {
        struct stat st;
        if (fstat(f, &st) != 0 || st.st_ino != mine.st_ino || st.st_dev != mine.st_dev) {
            printf("descriptor %d was closed (or replaced) behind the program's back\n", f);
            return 1;
        }
    }
    char got[sizeof(data) + 16];
    int nb = fcntl(p[0], F_GETFL);
    fcntl(p[0], F_SETFL, nb | O_NONBLOCK);
    ssize_t n = read(p[0], got, sizeof(got));
    if (n != (ssize_t)sizeof(data) || memcmp(got, data, sizeof(data)) != 0) {
        printf("the program's pipe holds %zd bytes instead of its %zu\n", n, sizeof(data));
        return 1;
    }
    for (int f = 5; f < TOP; f++)
        close(f); /* room for heapscope to reopen its dump at exit */
    puts("ok");
    return 0;
}
