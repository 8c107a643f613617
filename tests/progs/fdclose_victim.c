/* fdclose_victim.c - behaves like a daemon that closes every descriptor as
 * soon as the dump appears and then fills every number up to its limit with
 * its own file: the dump's descriptor number is reused by the program, and
 * for a while no descriptor is free to reopen the dump (EMFILE, like a server
 * at its connection limit). Asks for snapshots (HEAPSCOPE_SIGNAL=SIGUSR2)
 * before, while full, and after freeing a few numbers; the library writes a
 * requested snapshot at the program's next sampled allocation, so each
 * request is followed by allocations until it lands (bounded), and then the
 * program writes its own data.
 * Usage: fdclose_victim DUMP_PATH USER_FILE */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The blocks escape through here, so the compiler cannot drop the malloc/free pairs. */
void *volatile held[2];
void *volatile sink;

/* Allocations large enough to be sampled at any test rate: a requested
 * snapshot is written at the next sampled allocation. */
static void allocate_a_little(void)
{
    for (int i = 0; i < 8; i++) {
        sink = malloc(64 << 10);
        free(sink);
    }
}

static long long size_of(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

static int snapshot(const char *dump)
{
    long long before = size_of(dump);
    if (before < 0)
        before = 0; /* created but not yet written is not a snapshot */
    raise(SIGUSR2);
    for (int i = 0; i < 10000; i++) {
        allocate_a_little();
        if (size_of(dump) > before)
            return 0;
        struct timespec ms = {0, 1000 * 1000};
        nanosleep(&ms, NULL);
    }
    return 1;
}

/* Asks for a snapshot while no descriptor is free: it is attempted at the
 * next sampled allocation, in this thread, and has to wait in the backlog. */
static void snapshot_attempt(void)
{
    raise(SIGUSR2);
    allocate_a_little();
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    held[0] = malloc(1 << 20);
    if (snapshot(argv[1]))
        return 3;
    for (int f = 3; f < 4096; f++)
        close(f);
    int user = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (user < 0)
        return 4;
    /* Every descriptor up to the limit (at most 1024) is now the program's file. */
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) != 0)
        return 4;
    if (lim.rlim_cur > 1024) {
        lim.rlim_cur = 1024;
        if (setrlimit(RLIMIT_NOFILE, &lim) != 0)
            return 4;
    }
    int top = (int)lim.rlim_cur;
    for (int f = 3; f < top; f++)
        if (f != user && dup2(user, f) != f)
            return 4;
    held[1] = malloc(2 << 20);
    snapshot_attempt(); /* no descriptor free: this snapshot has to wait */
    for (int f = top - 8; f < top; f++)
        close(f);
    if (snapshot(argv[1]))
        return 5;
    const char msg[] = "user data\n";
    ssize_t w = write(user, msg, sizeof(msg) - 1);
    if (w != (ssize_t)sizeof(msg) - 1) {
        fprintf(stderr, "write to own file returned %zd: %s\n", w, strerror(errno));
        return 6;
    }
    free(held[0]);
    free(held[1]);
    puts("ok");
    return 0;
}
