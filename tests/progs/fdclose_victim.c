/* fdclose_victim.c - behaves like a daemon that closes every descriptor and
 * then fills the low numbers with its own file: the dump's descriptor number
 * is reused by the program. Asks for snapshots (HEAPSCOPE_SIGNAL=SIGUSR2)
 * before and after, waiting (bounded) for each to land in the dump, and then
 * writes its own data. Usage: fdclose_victim DUMP_PATH USER_FILE */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    void *keep = malloc(1 << 20);
    if (snapshot(argv[1]))
        return 3;
    for (int f = 3; f < 4096; f++)
        close(f);
    int user = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (user < 0)
        return 4;
    /* Every descriptor up to 1023 is now the program's file. */
    for (int f = 3; f < 1024; f++)
        if (f != user)
            dup2(user, f);
    void *more = malloc(2 << 20);
    if (snapshot(argv[1]))
        return 5;
    const char msg[] = "user data\n";
    if (write(user, msg, sizeof(msg) - 1) != (ssize_t)sizeof(msg) - 1)
        return 6;
    free(keep);
    free(more);
    puts("ok");
    return 0;
}
