/* stress.c - many threads doing mixed allocation calls with cross-thread
 * frees through a shared slot array, a fork() from one worker in the middle
 * (the child allocates, frees inherited blocks and leaves through exit()),
 * and the main thread calling exit() while the workers still allocate.
 * Every block carries a header (its size and a tag) that is verified before
 * it is freed or after it is reallocated, so heap corruption aborts.
 * Usage: stress [THREADS [OPS_PER_THREAD]]  (defaults 8 and 1000000).
 * Prints "parent PID child PID status S" and exits 0 when all went well. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SHARED_SLOTS 4096
#define LOCAL_SLOTS 64
#define MAX_THREADS 64
#define TAG 0x6865617073636f70ull /* "heapscop" */

typedef struct {
    uint64_t size, tag;
} block_header_t;

static _Atomic(block_header_t *) shared[SHARED_SLOTS];
static long ops_per_thread;
static atomic_int workers_done; /* workers that finished their counted ops */
static atomic_int fork_state;   /* 0 not yet, 1 child reaped ok, 2 child failed */
static atomic_int child_pid;

static void die(const char *msg)
{
    char buf[160];
    int n = snprintf(buf, sizeof buf, "stress[%d]: %s\n", (int)getpid(), msg);
    if (write(2, buf, (size_t)n) < 0) {
        /* nothing left to report to */
    }
    abort();
}

static uint64_t next_random(uint64_t *s)
{
    /* xorshift64*: cheap, no shared state, no allocation */
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 2685821657736338717ull;
}

static size_t pick_size(uint64_t *rng)
{
    uint64_t r = next_random(rng);
    unsigned kind = (unsigned)(r % 100);
    r >>= 8;
    if (kind < 90)
        return sizeof(block_header_t) + 1 + (size_t)(r % 512); /* small */
    if (kind < 99)
        return 1024 + (size_t)(r % (64 * 1024));     /* medium */
    return 128 * 1024 + (size_t)(r % (1024 * 1024)); /* large: mmap'd by glibc */
}

static block_header_t *stamp(void *p, size_t size)
{
    if (!p)
        die("allocation returned NULL");
    block_header_t *h = p;
    h->size = size;
    h->tag = TAG ^ size;
    ((unsigned char *)p)[size - 1] = (unsigned char)size;
    return h;
}

static void verify(const block_header_t *h)
{
    if (h->tag != (TAG ^ h->size) || ((const unsigned char *)h)[h->size - 1] != (unsigned char)h->size)
        die("block header corrupted");
}

static void release(block_header_t *h)
{
    if (h) {
        verify(h);
        free(h);
    }
}

/* One mixed operation on the thread's local slots or the shared array. */
static void one_op(uint64_t *rng, block_header_t **local)
{
    uint64_t r = next_random(rng);
    unsigned what = (unsigned)(r % 100);
    unsigned i = (unsigned)(r >> 8) % LOCAL_SLOTS;
    size_t n = pick_size(rng);
    void *p;

    if (what < 30) {
        release(local[i]);
        local[i] = stamp(malloc(n), n);
    } else if (what < 40) {
        release(local[i]);
        p = calloc(1, n);
        if (p && ((unsigned char *)p)[n / 2] != 0)
            die("calloc memory not zeroed");
        local[i] = stamp(p, n);
    } else if (what < 55) {
        if (local[i])
            verify(local[i]);
        block_header_t *old = local[i];
        size_t keep = old ? old->size : 0;
        p = realloc(old, n);
        if (!p)
            die("realloc returned NULL");
        if (keep && ((block_header_t *)p)->tag != (TAG ^ keep))
            die("realloc lost the block content");
        local[i] = stamp(p, n);
    } else if (what < 60) {
        release(local[i]);
        size_t align = (size_t)16 << ((r >> 20) % 9); /* 16 .. 4096 */
        int rc = posix_memalign(&p, align, n);
        if (rc != 0 || ((uintptr_t)p & (align - 1)) != 0)
            die("posix_memalign failed or misaligned");
        local[i] = stamp(p, n);
    } else if (what < 80) {
        /* Publish a new block, free whatever another thread left there. */
        unsigned s = (unsigned)(r >> 24) % SHARED_SLOTS;
        block_header_t *mine = stamp(malloc(n), n);
        release(atomic_exchange_explicit(&shared[s], mine, memory_order_acq_rel));
    } else {
        release(local[i]);
        local[i] = NULL;
    }
}

static void child_after_fork(uint64_t *rng)
{
    /* Only this thread exists now. Allocate on our own, then free every
     * block inherited through the shared array (allocated by other
     * threads of the parent before the fork). */
    block_header_t *local[LOCAL_SLOTS] = {0};
    for (int k = 0; k < 20000; k++)
        one_op(rng, local);
    for (int s = 0; s < SHARED_SLOTS; s++)
        release(atomic_exchange(&shared[s], NULL));
    for (int k = 0; k < LOCAL_SLOTS; k++)
        release(local[k]);
    exit(0);
}

static void fork_in_middle(uint64_t *rng)
{
    pid_t pid = fork();
    if (pid < 0)
        die("fork failed");
    if (pid == 0)
        child_after_fork(rng);
    atomic_store(&child_pid, (int)pid);
    int status;
    pid_t w;
    do
        w = waitpid(pid, &status, 0);
    while (w < 0 && errno == EINTR);
    int ok = w == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    atomic_store(&fork_state, ok ? 1 : 2);
}

static void *worker(void *arg)
{
    long id = (long)arg;
    uint64_t rng = 0x9e3779b97f4a7c15ull * (uint64_t)(id + 1);
    block_header_t *local[LOCAL_SLOTS] = {0};
    for (long k = 0; k < ops_per_thread; k++) {
        if (id == 0 && k == ops_per_thread / 2)
            fork_in_middle(&rng);
        one_op(&rng, local);
    }
    atomic_fetch_add(&workers_done, 1);
    for (;;) /* keep allocating until the main thread's exit() ends us */
        one_op(&rng, local);
    return NULL;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 8;
    ops_per_thread = argc > 2 ? atol(argv[2]) : 1000000;
    if (threads < 1 || threads > MAX_THREADS || ops_per_thread < 2) {
        fprintf(stderr, "usage: stress [THREADS(1..64) [OPS_PER_THREAD(>=2)]]\n");
        return 2;
    }
    for (long id = 0; id < threads; id++) {
        pthread_t t;
        if (pthread_create(&t, NULL, worker, (void *)id) != 0)
            die("pthread_create failed");
        pthread_detach(t);
    }
    /* Poll (bounded by the caller's timeout) until every worker has done
     * its counted operations and the forked child has been reaped. */
    const struct timespec tick = {0, 1000000};
    while (atomic_load(&workers_done) < threads || atomic_load(&fork_state) == 0)
        nanosleep(&tick, NULL);
    int ok = atomic_load(&fork_state) == 1;
    printf("parent %d child %d status %s\n", (int)getpid(), atomic_load(&child_pid), ok ? "ok" : "failed");
    fflush(stdout);
    exit(ok ? 0 : 1); /* the workers are still allocating */
}
