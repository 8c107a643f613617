/* victim_sites.c - allocates from distinct, known call sites with known
 * counts and sizes, so that tests/integration/sites.sh can check the
 * per-site totals heapscope records (exact at rate 1, within sampling error
 * otherwise). Usage: victim_sites SCALE. Every count below is multiplied by
 * SCALE; SCALE 0 runs the same threads and prints the same lines but makes
 * no site allocations, so its alloc/free call stats are the baseline (libc
 * start-up, thread creation) to subtract.
 *
 * Per unit of SCALE (sizes are the requested sizes):
 *   alloc_site_a         1000 x malloc(100)            all kept live
 *   alloc_site_b          500 x malloc(4096)           250 freed by another thread
 *   alloc_site_calloc     300 x calloc(10, 64) = 640   all freed (main thread)
 *   alloc_site_realloc      1 chain of 200 reallocs: realloc(p, 64*i), i=1..200,
 *                          starting from NULL; the last block is kept live
 *                          (199 reallocs of a non-NULL pointer free the old one)
 *   alloc_site_posix_memalign 100 x posix_memalign(64, 200) 50 freed (main thread)
 *   alloc_site_thread     400 x malloc(256) in a second thread; 200 freed by main
 *   alloc_site_aligned_alloc, alloc_site_memalign, alloc_site_valloc,
 *   alloc_site_reallocarray   10 x 128 B each (aligned_alloc(64, 128),
 *                          memalign(64, 128), valloc(128),
 *                          reallocarray(NULL, 16, 8)), all kept live
 * Call counts (interposed calls made by the sites and their frees):
 *   alloc calls 2540, free calls 250 + 300 + 199 + 50 + 200 = 999
 *   (realloc of a non-NULL pointer counts as an alloc and a free call). */
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define NOINLINE __attribute__((noinline, noclone))
/* Keeps gcc from turning the last call into a tail call or merging sites. */
#define BARRIER() __asm__ volatile("" ::: "memory")

static long scale;
static void **site_a, **site_b, **site_c, **site_m, **site_t, **site_r, **site_family;

/* Holding arrays come from mmap so they are no allocation calls of ours. */
static void **slots(size_t n)
{
    void *p = mmap(NULL, (n ? n : 1) * sizeof(void *), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        exit(3);
    }
    return p;
}

NOINLINE static void touch(void *p, size_t n)
{
    if (!p) {
        fprintf(stderr, "victim_sites: allocation failed\n");
        exit(3);
    }
    memset(p, 0x5a, n);
}

NOINLINE void alloc_site_a(void)
{
    for (long i = 0; i < 1000 * scale; i++) {
        site_a[i] = malloc(100);
        touch(site_a[i], 100);
    }
    BARRIER();
}

NOINLINE void alloc_site_b(void)
{
    for (long i = 0; i < 500 * scale; i++) {
        site_b[i] = malloc(4096);
        touch(site_b[i], 4096);
    }
    BARRIER();
}

NOINLINE void alloc_site_calloc(void)
{
    for (long i = 0; i < 300 * scale; i++) {
        site_c[i] = calloc(10, 64);
        touch(site_c[i], 640);
    }
    BARRIER();
}

NOINLINE void alloc_site_realloc(void)
{
    for (long c = 0; c < scale; c++) {
        void *p = NULL;
        for (size_t i = 1; i <= 200; i++) {
            p = realloc(p, 64 * i);
            touch(p, 64 * i);
        }
        site_r[c] = p;
    }
    BARRIER();
}

NOINLINE void alloc_site_posix_memalign(void)
{
    for (long i = 0; i < 100 * scale; i++) {
        if (posix_memalign(&site_m[i], 64, 200) != 0)
            site_m[i] = NULL;
        touch(site_m[i], 200);
    }
    BARRIER();
}

/* The rarer entry points, one function each so that a wrong frame 0 shows
 * which hook failed to skip its own frames. */
NOINLINE void alloc_site_aligned_alloc(void)
{
    for (long i = 0; i < 10 * scale; i++) {
        site_family[i] = aligned_alloc(64, 128);
        touch(site_family[i], 128);
    }
    BARRIER();
}

NOINLINE void alloc_site_memalign(void)
{
    for (long i = 0; i < 10 * scale; i++) {
        site_family[10 * scale + i] = memalign(64, 128);
        touch(site_family[10 * scale + i], 128);
    }
    BARRIER();
}

NOINLINE void alloc_site_valloc(void)
{
    for (long i = 0; i < 10 * scale; i++) {
        site_family[20 * scale + i] = valloc(128);
        touch(site_family[20 * scale + i], 128);
    }
    BARRIER();
}

NOINLINE void alloc_site_reallocarray(void)
{
    for (long i = 0; i < 10 * scale; i++) {
        site_family[30 * scale + i] = reallocarray(NULL, 16, 8);
        touch(site_family[30 * scale + i], 128);
    }
    BARRIER();
}

NOINLINE void alloc_site_thread(void)
{
    for (long i = 0; i < 400 * scale; i++) {
        site_t[i] = malloc(256);
        touch(site_t[i], 256);
    }
    BARRIER();
}

static void *thread_allocator(void *arg)
{
    (void)arg;
    alloc_site_thread();
    return NULL;
}

/* Frees half of site_b's blocks, which the main thread allocated. */
static void *thread_freer(void *arg)
{
    (void)arg;
    for (long i = 0; i < 250 * scale; i++)
        free(site_b[2 * i]);
    return NULL;
}

static void run_thread(void *(*fn)(void *))
{
    pthread_t t;
    if (pthread_create(&t, NULL, fn, NULL) != 0 || pthread_join(t, NULL) != 0) {
        fprintf(stderr, "victim_sites: thread failed\n");
        exit(3);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: victim_sites SCALE\n");
        return 2;
    }
    scale = strtol(argv[1], NULL, 10);
    if (scale < 0 || scale > 1000) {
        fprintf(stderr, "victim_sites: SCALE must be 0..1000\n");
        return 2;
    }
    site_a = slots(1000 * scale);
    site_b = slots(500 * scale);
    site_c = slots(300 * scale);
    site_m = slots(100 * scale);
    site_t = slots(400 * scale);
    site_r = slots(scale);
    site_family = slots(40 * scale);

    alloc_site_a();
    alloc_site_b();
    alloc_site_calloc();
    alloc_site_realloc();
    alloc_site_posix_memalign();
    alloc_site_aligned_alloc();
    alloc_site_memalign();
    alloc_site_valloc();
    alloc_site_reallocarray();
    run_thread(thread_allocator);
    run_thread(thread_freer);

    for (long i = 0; i < 300 * scale; i++)
        free(site_c[i]);
    for (long i = 0; i < 50 * scale; i++)
        free(site_m[2 * i]);
    for (long i = 0; i < 200 * scale; i++)
        free(site_t[2 * i]);

    printf("victim_sites scale %ld done\n", scale);
    return 0;
}
