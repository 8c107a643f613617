/* allocators_victim.c - for tests/integration/allocators.sh, run over
 * glibc, jemalloc, tcmalloc and mimalloc with and without libheapscope.so.
 *   allocators_victim aligned [--skip-pvalloc]
 *     the page- and alignment-taking entry points at their edges, one line
 *     each with the observable result including the exact usable size (so
 *     that a block served by another entry point of the allocator than the
 *     program called shows), every block written whole, grown with realloc
 *     and freed; "done" at the end. --skip-pvalloc for allocators without a
 *     pvalloc of their own (jemalloc), whose plain preload would hand glibc's
 *     pvalloc block to jemalloc's free.
 *   allocators_victim hold MIB
 *     takes MIB MiB in one block (touched), raises SIGUSR2 when a handler
 *     listens (HEAPSCOPE_SIGNAL=SIGUSR2: a snapshot is due), creates and joins a
 *     thread (a point where heapscope writes what is due, with no sampled
 *     allocation needed), prints "held N" and returns with the block held. */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Through volatile pointers: gcc may neither fold nor warn about the calls. */
static void *(*volatile p_realloc)(void *, size_t) = realloc;
static int (*volatile p_posix_memalign)(void **, size_t, size_t) = posix_memalign;
static void *(*volatile p_aligned_alloc)(size_t, size_t) = aligned_alloc;
static void *(*volatile p_memalign)(size_t, size_t) = memalign;
static void *(*volatile p_valloc)(size_t) = valloc;
static void *(*volatile p_pvalloc)(size_t) = pvalloc;
static size_t (*volatile p_usable)(void *) = malloc_usable_size;

#define SENTINEL_ERRNO 4242

static const char *errname(int e)
{
    switch (e) {
    case SENTINEL_ERRNO: return "untouched";
    case ENOMEM: return "ENOMEM";
    case EINVAL: return "EINVAL";
    default: {
        static char buf[32];
        snprintf(buf, sizeof buf, "errno%d", e);
        return buf;
    }
    }
}

/* One line for a block asked with `want` bytes usable at `align`; the block
 * is written over its whole usable size (an allocator's own checks catch a
 * block that is smaller than it says), grown, checked and freed. */
static void report(const char *name, void *p, int err, size_t want, size_t align)
{
    if (!p) {
        printf("%s: ret=NULL errno=%s\n", name, errname(err));
        return;
    }
    size_t u = p_usable(p);
    memset(p, 0xa5, u);
    printf("%s: ret=ptr errno=%s aligned%zu=%d usable>=want=%d usable=%zu", name, errname(err), align,
           (uintptr_t)p % align == 0, u >= want, u);
    unsigned char *q = p_realloc(p, u + 5000);
    int kept = q != NULL;
    for (size_t i = 0; q && i < u; i++)
        kept &= q[i] == 0xa5;
    printf(" grown_kept=%d\n", kept);
    free(q ? q : p);
}

static void check_aligned(int skip_pvalloc)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    char name[96];
    void *p;
    static const size_t sizes[] = {0, 1, 2, 100, 4095, 4096, 4097, 100000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        snprintf(name, sizeof name, "valloc(%zu)", n);
        errno = SENTINEL_ERRNO;
        p = p_valloc(n);
        report(name, p, errno, n, page);
        if (skip_pvalloc)
            continue;
        size_t pages = (n + page - 1) / page * page; /* glibc's pvalloc(0) is not a page */
        snprintf(name, sizeof name, "pvalloc(%zu) [%zu]", n, pages);
        errno = SENTINEL_ERRNO;
        p = p_pvalloc(n);
        report(name, p, errno, pages, page);
    }
    static const struct {
        size_t align, n;
    } al[] = {{16, 1}, {64, 100}, {256, 512}, {4096, 5000}, {65536, 70000}};
    for (size_t i = 0; i < sizeof al / sizeof al[0]; i++) {
        snprintf(name, sizeof name, "memalign(%zu,%zu)", al[i].align, al[i].n);
        errno = SENTINEL_ERRNO;
        p = p_memalign(al[i].align, al[i].n);
        report(name, p, errno, al[i].n, al[i].align);
        snprintf(name, sizeof name, "aligned_alloc(%zu,%zu)", al[i].align, al[i].n);
        errno = SENTINEL_ERRNO;
        p = p_aligned_alloc(al[i].align, al[i].n);
        report(name, p, errno, al[i].n, al[i].align);
        snprintf(name, sizeof name, "posix_memalign(%zu,%zu)", al[i].align, al[i].n);
        errno = SENTINEL_ERRNO;
        p = NULL;
        int rc = p_posix_memalign(&p, al[i].align, al[i].n);
        if (rc != 0)
            printf("%s: rc=%s\n", name, errname(rc));
        else
            report(name, p, errno, al[i].n, al[i].align);
    }
    static const struct {
        const char *name;
        size_t n;
    } huge[] = {{"SIZE_MAX", SIZE_MAX}, {"SIZE_MAX-4096", SIZE_MAX - 4096}, {"PTRDIFF_MAX+1", (size_t)PTRDIFF_MAX + 1}};
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        snprintf(name, sizeof name, "valloc(%s)", huge[i].name);
        errno = SENTINEL_ERRNO;
        p = p_valloc(huge[i].n);
        report(name, p, errno, 0, page);
        if (skip_pvalloc)
            continue;
        snprintf(name, sizeof name, "pvalloc(%s)", huge[i].name);
        errno = SENTINEL_ERRNO;
        p = p_pvalloc(huge[i].n);
        report(name, p, errno, 0, page);
    }
    printf("done\n");
}

static void *idle(void *arg) { return arg; }

static int hold(long mib)
{
    size_t n = (size_t)mib << 20;
    char *big = malloc(n);
    if (!big) {
        fprintf(stderr, "allocators_victim: malloc(%ld MiB) failed\n", mib);
        return 3;
    }
    memset(big, 0x3c, n);
    struct sigaction sa;
    if (sigaction(SIGUSR2, NULL, &sa) == 0 && sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN)
        raise(SIGUSR2); /* only when heapscope listens: it would end the program */
    pthread_t t;
    if (pthread_create(&t, NULL, idle, NULL) != 0 || pthread_join(t, NULL) != 0) {
        fprintf(stderr, "allocators_victim: no thread\n");
        return 3;
    }
    printf("held %zu\n", n);
    return big[n - 1] == 0x3c ? 0 : 4; /* held to the end */
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "aligned") == 0) {
        /* The allocator's own first-call work (mimalloc 2.0 leaves errno
         * ENOENT behind it) happens here, not in the first checked call. */
        printf("allocators_victim aligned\n");
        free(malloc(1));
        check_aligned(argc >= 3 && strcmp(argv[2], "--skip-pvalloc") == 0);
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "hold") == 0 && atol(argv[2]) > 0)
        return hold(atol(argv[2]));
    fprintf(stderr, "usage: allocators_victim aligned [--skip-pvalloc] | hold MIB\n");
    return 2;
}
