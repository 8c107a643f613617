/* dlopen_victim.c - loads zlib at run time, lets it allocate, unloads it,
 * asking for a snapshot (HEAPSCOPE_SIGNAL=SIGUSR2) around each step and
 * waiting (bounded) until that snapshot is in its dump file. The dump must
 * show the mappings change twice. Usage: dlopen_victim DUMP_PATH */
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

void *volatile snapshot_sink; /* keeps the compiler from dropping the malloc/free pair */

static long long dump_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* Raise the snapshot signal and wait until the dump grows: at most 10 s. */
static int snapshot(const char *path)
{
    long long before = dump_size(path);
    if (before < 0)
        before = 0; /* created but not yet written is not a snapshot */
    raise(SIGUSR2);
    for (int i = 0; i < 10000; i++) {
        /* The snapshot is written at the next sampled allocation. */
        snapshot_sink = malloc(1 << 20);
        free(snapshot_sink);
        if (dump_size(path) > before)
            return 0;
        struct timespec ms = {0, 1000 * 1000};
        nanosleep(&ms, NULL);
    }
    fprintf(stderr, "dlopen_victim: no snapshot appeared in %s\n", path);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    if (snapshot(argv[1]))
        return 1;
    void *z = dlopen("libz.so.1", RTLD_NOW);
    if (!z) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 1;
    }
    /* deflateInit_ allocates its state through zlib's default zalloc (malloc). */
    typedef struct {
        _Alignas(16) char opaque[112];
    } z_stream_space; /* sizeof(z_stream) on x86-64 */
    int (*deflate_init)(void *, int, const char *, int) =
        (int (*)(void *, int, const char *, int))dlsym(z, "deflateInit_");
    int (*deflate_end)(void *) = (int (*)(void *))dlsym(z, "deflateEnd");
    const char *(*version)(void) = (const char *(*)(void))dlsym(z, "zlibVersion");
    if (!deflate_init || !deflate_end || !version)
        return 1;
    z_stream_space strm;
    memset(&strm, 0, sizeof(strm));
    if (deflate_init(&strm, 6, version(), (int)sizeof(strm)) != 0)
        return 1;
    if (snapshot(argv[1]))
        return 1;
    deflate_end(&strm);
    dlclose(z);
    printf("zlib loaded, used and unloaded\n");
    return 0;
}
