/* fdclose_victim.c - behaves like a daemon that closes every descriptor as
 * soon as the dump appears and then fills every number up to its limit with
 * its own file: the dump's descriptor number is reused by the program, and
 * for a while no descriptor is free to reopen the dump (EMFILE, like a server
 * at its connection limit). Asks for snapshots (HEAPSCOPE_SIGNAL=SIGUSR2)
 * before, while full, and after freeing a few numbers, waiting (bounded) for
 * the first and last to land in the dump, and then writes its own data.
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
        if (size_of(dump) > before)
            return 0;
        struct timespec ms = {0, 1000 * 1000};
        nanosleep(&ms, NULL);
    }
    return 1;
}

/* The flusher is the process's only other thread. Its status file is kept
 * open so that it can be read while no descriptor is free. */
static int open_flusher_status(void)
{
    char path[64];
    pid_t self = getpid();
    for (pid_t tid = self + 1; tid < self + 4096; tid++) {
        snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int)tid);
        int f = open(path, O_RDONLY);
        if (f >= 0)
            return f;
    }
    return -1;
}

static long voluntary_switches(int status)
{
    char buf[4096];
    ssize_t n = pread(status, buf, sizeof(buf) - 1, 0);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    const char *p = strstr(buf, "\nvoluntary_ctxt_switches:");
    return p ? atol(p + strlen("\nvoluntary_ctxt_switches:")) : -1;
}

/* Asks for a snapshot and waits (bounded) until the flusher has gone back
 * to sleep after it, whether or not it could write: no descriptor is free. */
static void snapshot_attempt(int status)
{
    long before = voluntary_switches(status);
    raise(SIGUSR2);
    for (int i = 0; i < 10000 && voluntary_switches(status) == before; i++) {
        struct timespec ms = {0, 1000 * 1000};
        nanosleep(&ms, NULL);
    }
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
    int status = open_flusher_status();
    if (user < 0 || status < 0)
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
        if (f != user && f != status && dup2(user, f) != f)
            return 4;
    held[1] = malloc(2 << 20);
    snapshot_attempt(status); /* no descriptor free: this snapshot has to wait */
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
