/* writer_paths_victim.c - process shapes that move away from where the dump
 * was asked for, or fork behind the library's back, for
 * tests/integration/writer_paths.sh. Every mode allocates before and after
 * its move (each allocation a sample at HEAPSCOPE_SAMPLE_RATE=1) and ends by
 * returning from main, so the exit snapshot writes the dump.
 *   writer_paths_victim plain            print "pid N", return
 *   writer_paths_victim chdir DIR        chdir(DIR), print "pid N", return
 *   writer_paths_victim closeall DIR     close every descriptor above 2 (as
 *                                        daemons do), then as chdir
 *   writer_paths_victim daemon MARKER    daemon(0, 1): the child (cwd /)
 *                                        prints "pid N", writes its pid to
 *                                        MARKER (an absolute path), returns
 *   writer_paths_victim chroot DIR       chroot(DIR) (root only; exit 9 if
 *                                        refused), print "pid N", return
 *   writer_paths_victim rawfork HOW PRE  fork with _Fork() (HOW=_Fork) or the
 *                                        raw system call (HOW=syscall), so no
 *                                        atfork handler runs; the child
 *                                        allocates and exit()s, the parent
 *                                        waits, allocates and prints "parent P
 *                                        child C status S". Unless PRE is -,
 *                                        PRE<pid>.hsd is the parent's dump:
 *                                        before forking, the parent asks for
 *                                        a snapshot (SIGUSR2, HEAPSCOPE_SIGNAL)
 *                                        and waits (at most 10 s) until the
 *                                        dump holds it. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void *volatile keep[512];

static void allocate_some(int round)
{
    for (int i = 0; i < 64; i++) {
        int k = (round * 64 + i) % 512;
        free(keep[k]);
        keep[k] = malloc(48 + (size_t)(i * 131) % 3000);
        if (!keep[k])
            _exit(3);
        memset(keep[k], i, 48);
    }
}

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static long long size_of(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* Asks for a snapshot and allocates (a snapshot may be taken at a sampled
 * allocation) until the dump holds it. */
static int snapshot_written(const char *dump)
{
    raise(SIGUSR2);
    for (int i = 0; i < 1000; i++) {
        allocate_some(i);
        if (size_of(dump) > 0)
            return 1;
        nap_ms(10);
    }
    return 0;
}

static pid_t fork_without_handlers(const char *how)
{
    if (strcmp(how, "_Fork") == 0)
        return _Fork();
#ifdef SYS_fork
    return (pid_t)syscall(SYS_fork);
#else
    return (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
#endif
}

static int rawfork(const char *how, const char *prefix)
{
    char dump[4096];
    snprintf(dump, sizeof(dump), "%s%d.hsd", prefix, (int)getpid());
    if (strcmp(prefix, "-") != 0 && !snapshot_written(dump)) {
        fprintf(stderr, "writer_paths_victim: %s never got its first snapshot\n", dump);
        return 4;
    }
    fflush(stdout);
    pid_t child = fork_without_handlers(how);
    if (child < 0) {
        perror("fork");
        return 5;
    }
    if (child == 0) {
        for (int r = 0; r < 8; r++)
            allocate_some(r);
        exit(0); /* atexit handlers run: the library's exit snapshot among them */
    }
    int status = 0;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR)
        ;
    for (int r = 0; r < 8; r++)
        allocate_some(r);
    printf("parent %d child %d status %s\n", (int)getpid(), (int)child,
           WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "ok" : "bad");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    const char *mode = argv[1];
    allocate_some(0);
    if ((strcmp(mode, "chdir") == 0 || strcmp(mode, "closeall") == 0) && argc == 3) {
        if (strcmp(mode, "closeall") == 0)
            closefrom(3);
        if (chdir(argv[2]) != 0) {
            perror("chdir");
            return 6;
        }
    } else if (strcmp(mode, "daemon") == 0 && argc == 3) {
        if (daemon(0, 1) != 0) {
            perror("daemon");
            return 7;
        }
        char tmp[4096];
        snprintf(tmp, sizeof(tmp), "%s.tmp", argv[2]);
        int f = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0644);
        if (f < 0)
            return 8;
        dprintf(f, "%d\n", (int)getpid());
        if (close(f) != 0 || rename(tmp, argv[2]) != 0) /* the marker appears whole */
            return 8;
    } else if (strcmp(mode, "chroot") == 0 && argc == 3) {
        if (chroot(argv[2]) != 0 || chdir("/") != 0)
            return 9;
    } else if (strcmp(mode, "rawfork") == 0 && argc == 4) {
        return rawfork(argv[2], argv[3]);
    } else if (strcmp(mode, "plain") != 0) {
        fprintf(stderr, "writer_paths_victim: unknown mode %s\n", mode);
        return 2;
    }
    for (int r = 1; r < 8; r++)
        allocate_some(r);
    printf("pid %d\n", (int)getpid());
    return 0;
}
