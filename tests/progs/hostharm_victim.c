/* hostharm_victim - a victim for tests/integration/hostharm.sh: ordinary but
 * hostile programs that a preloaded heapscope must not crash, hang or
 * miscount.
 * usage: hostharm_victim MODE [ARG]
 *   smallstack      a thread with a 16 KiB stack, 4 KiB of it in use, creates
 *                   four threads (16 KiB stacks too) and allocates; they
 *                   allocate and are joined.
 *   altstack        a SIGUSR1 handler on an 8 KiB sigaltstack calls malloc and
 *                   free (a few calls deep); raise() 2000 times from main,
 *                   never while main is inside malloc.
 *   coro            four makecontext() coroutines on 8 KiB stacks allocate a
 *                   few calls deep and swapcontext() with main, 500 rounds.
 *   bighandler      a SIGPROF handler (no sigaltstack) that uses 96 KiB of
 *                   stack fires every 200 us of CPU while main makes 400,000
 *                   malloc/free pairs: under the library it often lands in a
 *                   sampled allocation's slow path, on heapscope's own stack.
 *   sigexit MS      four threads (main too) malloc/free varied sizes (up to
 *                   256 KiB, so arena locks are taken) until a SIGALRM after MS
 *                   milliseconds, whose handler calls exit(0).
 *   forkcount       2,000,000 malloc/free pairs, then fork(); the child makes
 *                   1000 allocations over ~0.5 s and returns from main; the
 *                   parent waits and prints "parent P child C status ok".
 *   threads N       N short-lived threads, 100 at a time, each allocating and
 *                   joined; prints "threads N".
 *   frag SECONDS    2,000,000 small blocks (136..168 B: chunks too big for
 *                   fastbins, so they stay apart in the regular bins), every
 *                   other one freed (~1M free chunks that cannot coalesce),
 *                   then malloc+free pairs for SECONDS; prints "worst_ns W
 *                   pairs N" (the slowest single pair).
 * Each mode but sigexit and frag prints a deterministic line and exits 0. */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#define SMALL_STACK 16384
#define ALT_STACK 8192
#define CORO_STACK 8192

static volatile uint64_t sink; /* keeps checksums alive */

static void die(const char *what)
{
    fprintf(stderr, "hostharm_victim: %s\n", what);
    exit(99);
}

/* Allocates, touches and frees (or keeps in *keep) a block, DEPTH calls deep;
 * returns a checksum. Small frames, as code that runs on small stacks has. */
__attribute__((noinline)) static uint64_t nested_alloc(int depth, size_t size, void **keep)
{
    if (depth > 0)
        return nested_alloc(depth - 1, size + 8, keep) + (uint64_t)depth;
    unsigned char *p = malloc(size);
    if (!p)
        die("out of memory");
    memset(p, (int)(size & 0x7f), size);
    uint64_t sum = p[0] + p[size / 2] + p[size - 1];
    if (keep) {
        free(*keep);
        *keep = p;
    } else {
        free(p);
    }
    return sum;
}

/* ---- smallstack ---- */

static void *small_leaf(void *arg)
{
    uintptr_t id = (uintptr_t)arg;
    uint64_t sum = 0;
    void *keep = NULL;
    for (int i = 0; i < 200; i++)
        sum += nested_alloc(i % 4, 16 + (size_t)((i * 53 + id) % 900), (i % 5 == 0) ? &keep : NULL);
    void *r = calloc(3, 24);
    if (!r)
        die("out of memory");
    r = realloc(r, 200);
    free(r);
    free(keep);
    return (void *)(uintptr_t)sum;
}

/* Uses 4 KiB of its stack (a work buffer, as real thread code has), then
 * creates the four leaves and allocates from that depth. Without heapscope
 * this works up to a ~8 KiB buffer here (glibc 2.36, x86-64), so 4 KiB leaves
 * ~4 KiB for an interposer's pthread_create and malloc. */
#define SMALL_PAD 4096
__attribute__((noinline)) static uint64_t small_parent_work(void)
{
    volatile unsigned char buf[SMALL_PAD];
    const size_t pad = sizeof buf;
    pthread_attr_t attr;
    pthread_t t[4];
    uint64_t sum = 0;
    for (size_t i = 0; i < pad; i++)
        buf[i] = (unsigned char)i;
    if (pthread_attr_init(&attr) != 0 || pthread_attr_setstacksize(&attr, SMALL_STACK) != 0)
        die("pthread_attr_setstacksize(16384) failed");
    for (int i = 0; i < 100; i++)
        sum += nested_alloc(i % 3, 32 + (size_t)i * 7, NULL);
    for (uintptr_t i = 0; i < 4; i++)
        if (pthread_create(&t[i], &attr, small_leaf, (void *)i) != 0)
            die("pthread_create (16 KiB stack, from a 16 KiB-stack thread) failed");
    for (int i = 0; i < 4; i++) {
        void *r;
        if (pthread_join(t[i], &r) != 0)
            die("pthread_join failed");
        sum += (uint64_t)(uintptr_t)r;
    }
    pthread_attr_destroy(&attr);
    return sum + buf[pad - 1];
}

static void *small_parent(void *arg)
{
    (void)arg;
    return (void *)(uintptr_t)small_parent_work();
}

static int mode_smallstack(void)
{
    pthread_attr_t attr;
    pthread_t t;
    void *r;
    if (pthread_attr_init(&attr) != 0 || pthread_attr_setstacksize(&attr, SMALL_STACK) != 0)
        die("pthread_attr_setstacksize(16384) failed");
    if (pthread_create(&t, &attr, small_parent, NULL) != 0)
        die("pthread_create (16 KiB stack) failed");
    if (pthread_join(t, &r) != 0)
        die("pthread_join failed");
    printf("smallstack sum %llu\n", (unsigned long long)(uintptr_t)r);
    return 0;
}

/* ---- altstack ---- */

static volatile sig_atomic_t handled;
static volatile uint64_t handler_sum;

static void on_usr1(int sig)
{
    (void)sig;
    handler_sum += nested_alloc(handled % 4, 24 + (size_t)(handled % 700), NULL);
    handled++;
}

static int mode_altstack(void)
{
    /* 8 KiB, unless the kernel's signal frame needs more than ~2 KiB of it
     * (AT_MINSIGSTKSZ; large with AVX-512/AMX), then that plus 6 KiB. */
    size_t size = ALT_STACK;
    unsigned long min = getauxval(AT_MINSIGSTKSZ);
    if (min > 2048 && min + 6144 > size)
        size = min + 6144;
    stack_t ss = {.ss_sp = malloc(size), .ss_size = size, .ss_flags = 0};
    if (!ss.ss_sp || sigaltstack(&ss, NULL) != 0)
        die("sigaltstack failed");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sa.sa_flags = SA_ONSTACK | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGUSR1, &sa, NULL) != 0)
        die("sigaction failed");
    uint64_t sum = 0;
    for (int i = 0; i < 2000; i++) {
        sum += nested_alloc(i % 2, 40 + (size_t)(i % 300), NULL);
        raise(SIGUSR1);
    }
    printf("altstack handled %d sum %llu\n", (int)handled, (unsigned long long)(sum + handler_sum));
    return 0;
}

/* ---- coro ---- */

#define NCORO 4
static ucontext_t main_ctx, coro_ctx[NCORO];
static uint64_t coro_sum[NCORO];
static int coro_done[NCORO];

static void coro_body(int id)
{
    void *keep = NULL;
    for (int i = 0; i < 500; i++) {
        coro_sum[id] +=
            nested_alloc((i + id) % 4, 16 + (size_t)((i * 31 + id * 7) % 1500), (i % 7 == 0) ? &keep : NULL);
        if (swapcontext(&coro_ctx[id], &main_ctx) != 0)
            die("swapcontext failed");
    }
    free(keep);
    coro_done[id] = 1;
}

static int mode_coro(void)
{
    for (int id = 0; id < NCORO; id++) {
        if (getcontext(&coro_ctx[id]) != 0)
            die("getcontext failed");
        coro_ctx[id].uc_stack.ss_sp = malloc(CORO_STACK);
        coro_ctx[id].uc_stack.ss_size = CORO_STACK;
        coro_ctx[id].uc_link = &main_ctx;
        if (!coro_ctx[id].uc_stack.ss_sp)
            die("out of memory");
        makecontext(&coro_ctx[id], (void (*)(void))coro_body, 1, id);
    }
    for (int round = 0;; round++) {
        int live = 0;
        for (int id = 0; id < NCORO; id++) {
            if (coro_done[id])
                continue;
            live++;
            if (swapcontext(&main_ctx, &coro_ctx[id]) != 0)
                die("swapcontext failed");
        }
        if (!live)
            break;
        if (round > 1000)
            die("coroutines did not finish");
    }
    uint64_t sum = 0;
    for (int id = 0; id < NCORO; id++) {
        sum += coro_sum[id];
        free(coro_ctx[id].uc_stack.ss_sp);
    }
    printf("coro sum %llu\n", (unsigned long long)sum);
    return 0;
}

/* ---- sigexit ---- */

static void on_alarm(int sig)
{
    (void)sig;
    exit(0);
}

static void *churn_forever(void *arg)
{
    unsigned x = (unsigned)(uintptr_t)arg * 2654435761u + 1;
    void *slots[64] = {0};
    for (;;) {
        x = x * 1103515245u + 12345u;
        unsigned k = (x >> 8) % 64;
        size_t size;
        switch ((x >> 16) % 8) {
        case 0: size = 64 * 1024 + (x >> 20) % (192 * 1024); break; /* mmap or top of heap */
        case 1:
        case 2: size = 1100 + (x >> 20) % 8000; break; /* past tcache: arena lock */
        default: size = 16 + (x >> 20) % 500; break;
        }
        free(slots[k]);
        slots[k] = malloc(size);
        if (slots[k])
            ((volatile char *)slots[k])[0] = 1;
    }
    return NULL;
}

static int mode_sigexit(int ms)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGALRM, &sa, NULL) != 0)
        die("sigaction failed");
    pthread_t t;
    for (uintptr_t i = 1; i <= 3; i++)
        if (pthread_create(&t, NULL, churn_forever, (void *)i) != 0)
            die("pthread_create failed");
    struct itimerval it = {.it_value = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000}};
    if (setitimer(ITIMER_REAL, &it, NULL) != 0)
        die("setitimer failed");
    churn_forever((void *)0);
    return 1;
}

/* ---- forkcount ---- */

static int mode_forkcount(void)
{
    uint64_t sum = 0;
    for (int i = 0; i < 2000000; i++) {
        char *p = malloc(16 + (size_t)(i % 200));
        if (!p)
            die("out of memory");
        p[0] = (char)i;
        sum += (unsigned char)p[0];
        free(p);
    }
    fflush(stdout);
    pid_t child = fork();
    if (child < 0)
        die("fork failed");
    if (child == 0) {
        void *keep[10] = {0};
        for (int i = 0; i < 1000; i++) {
            char *p = malloc(32 + (size_t)(i % 100));
            if (!p)
                die("out of memory");
            p[0] = (char)i;
            if (i % 100 == 0)
                keep[i / 100] = p;
            else
                free(p);
            struct timespec ts = {0, 500000};
            nanosleep(&ts, NULL);
        }
        for (int i = 0; i < 10; i++)
            free(keep[i]);
        return 0;
    }
    int status;
    if (waitpid(child, &status, 0) != child)
        die("waitpid failed");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        die("child failed");
    sink = sum;
    printf("parent %d child %d status ok\n", (int)getpid(), (int)child);
    return 0;
}

/* ---- threads ---- */

static void *short_thread(void *arg)
{
    uintptr_t i = (uintptr_t)arg;
    char *p = malloc(32 + i % 256);
    if (!p)
        die("out of memory");
    p[0] = (char)i;
    free(p);
    return NULL;
}

static int mode_threads(int n)
{
    pthread_t t[100];
    int made = 0;
    while (made < n) {
        int batch = n - made < 100 ? n - made : 100;
        for (int i = 0; i < batch; i++)
            if (pthread_create(&t[i], NULL, short_thread, (void *)(uintptr_t)(made + i)) != 0)
                die("pthread_create failed");
        for (int i = 0; i < batch; i++)
            if (pthread_join(t[i], NULL) != 0)
                die("pthread_join failed");
        made += batch;
    }
    printf("threads %d\n", made);
    return 0;
}

/* ---- frag ---- */

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int mode_frag(double seconds)
{
    enum { N = 2000000 };
    void **blocks = malloc(N * sizeof *blocks);
    if (!blocks)
        die("out of memory");
    for (int i = 0; i < N; i++)
        if (!(blocks[i] = malloc(136 + (i % 3) * 16)))
            die("out of memory");
    for (int i = 0; i < N; i += 2)
        free(blocks[i]);
    /* Untimed warm-up: the first calls sort the unsorted bin, 10,000 chunks
     * a call, with or without heapscope. */
    for (int i = 0; i < 1000; i++)
        free(malloc(48 + (size_t)(i % 64) * 8));
    int64_t end = now_ns() + (int64_t)(seconds * 1e9), worst = 0;
    long pairs = 0;
    for (int64_t t0 = now_ns(); t0 < end; t0 = now_ns()) {
        void *p = malloc(48 + (size_t)(pairs % 64) * 8);
        if (!p)
            die("out of memory");
        ((volatile char *)p)[0] = 1;
        free(p);
        int64_t d = now_ns() - t0;
        if (d > worst)
            worst = d;
        pairs++;
    }
    for (int i = 1; i < N; i += 2)
        free(blocks[i]);
    free(blocks);
    printf("worst_ns %lld pairs %ld\n", (long long)worst, pairs);
    return 0;
}

/* ---- bighandler ---- */
static volatile sig_atomic_t big_handled;
static void *volatile big_sink;

static void on_prof(int sig)
{
    (void)sig;
    volatile char big[96 * 1024]; /* a handler that needs a real stack */
    for (size_t i = 0; i < sizeof(big); i += 512)
        big[i] = (char)i;
    big_handled = big_handled + 1;
}

static int mode_bighandler(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_prof;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGPROF, &sa, NULL) != 0)
        return 3;
    struct itimerval every = {{0, 200}, {0, 200}};
    if (setitimer(ITIMER_PROF, &every, NULL) != 0)
        return 3;
    for (int i = 0; i < 400000; i++) {
        big_sink = malloc(16 + (size_t)(i % 512));
        free(big_sink);
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_PROF, &off, NULL);
    /* How often the handler ran depends on the speed of the loop (under
     * heapscope at rate 1 it ran thousands of times): not printed. */
    printf("bighandler done\n");
    return 0;
}

int main(int argc, char **argv)
{
    const char *m = argc > 1 ? argv[1] : "";
    if (strcmp(m, "bighandler") == 0)
        return mode_bighandler();
    if (strcmp(m, "smallstack") == 0)
        return mode_smallstack();
    if (strcmp(m, "altstack") == 0)
        return mode_altstack();
    if (strcmp(m, "coro") == 0)
        return mode_coro();
    if (strcmp(m, "sigexit") == 0 && argc == 3)
        return mode_sigexit(atoi(argv[2]));
    if (strcmp(m, "forkcount") == 0)
        return mode_forkcount();
    if (strcmp(m, "threads") == 0 && argc == 3)
        return mode_threads(atoi(argv[2]));
    if (strcmp(m, "frag") == 0 && argc == 3)
        return mode_frag(atof(argv[2]));
    fprintf(stderr, "usage: hostharm_victim smallstack|altstack|coro|sigexit MS|forkcount|threads N|frag SECONDS\n");
    return 2;
}
