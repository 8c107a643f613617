/* conformance.c - exercises every entry point libheapscope.so interposes at
 * its edge cases and prints one line per check with the observable result
 * (NULL or not, errno, alignment, usable size, preserved content), never a
 * raw pointer, so that runs with and without the interposer can be diffed.
 * Usage: conformance [--skip-glibc-only] [ROUNDS]. ROUNDS > 1 repeats the
 * whole suite silently first, so that at a sampling rate the checked calls
 * also meet sampled blocks; the printed round is always the last one.
 * --skip-glibc-only leaves out pvalloc and reallocarray, which jemalloc 5.3
 * does not define: under a jemalloc preload they reach glibc's versions,
 * which hand glibc chunks to jemalloc's free (a crash even without us). */
#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Called through volatile pointers so that gcc can neither fold, elide nor
 * warn about the calls (sizes like SIZE_MAX - 4096 are the point here). */
static void *(*volatile p_malloc)(size_t) = malloc;
static void (*volatile p_free)(void *) = free;
static void *(*volatile p_calloc)(size_t, size_t) = calloc;
static void *(*volatile p_realloc)(void *, size_t) = realloc;
static void *(*volatile p_reallocarray)(void *, size_t, size_t) = reallocarray;
static int (*volatile p_posix_memalign)(void **, size_t, size_t) = posix_memalign;
static void *(*volatile p_aligned_alloc)(size_t, size_t) = aligned_alloc;
static void *(*volatile p_memalign)(size_t, size_t) = memalign;
static void *(*volatile p_valloc)(size_t) = valloc;
static void *(*volatile p_pvalloc)(size_t) = pvalloc;
static size_t (*volatile p_usable)(void *) = malloc_usable_size;

#define SENTINEL_ERRNO 4242 /* no real errno value; "untouched" means still this */

static int quiet;
static int skip_glibc_only;

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void out(const char *fmt, ...)
{
    if (quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
}

static const char *errname(int e)
{
    switch (e) {
    case 0: return "0";
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

static const char *nul(const void *p) { return p ? "ptr" : "NULL"; }

static int is_aligned(const void *p, size_t a) { return a && ((uintptr_t)p % a) == 0; }

static void fill(void *p, size_t n, unsigned seed)
{
    unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        c[i] = (unsigned char)(seed + i * 7u);
}

static int check_fill(const void *p, size_t n, unsigned seed)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        if (c[i] != (unsigned char)(seed + i * 7u))
            return 0;
    return 1;
}

static int all_zero(const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        if (c[i])
            return 0;
    return 1;
}

/* Prints the common facts about a successful allocation of n bytes. */
static void report_block(const char *name, void *p, int err, size_t n, size_t align)
{
    if (!p) {
        out("%s: ret=NULL errno=%s\n", name, errname(err));
        return;
    }
    size_t u = p_usable(p);
    out("%s: ret=ptr errno=%s usable>=req=%d aligned%zu=%d\n", name, errname(err), u >= n, align, is_aligned(p, align));
    fill(p, n, 0x5a); /* the whole request must be writable */
}

static void check_malloc(void)
{
    void *p;
    errno = SENTINEL_ERRNO;
    p = p_malloc(0);
    report_block("malloc(0)", p, errno, 0, 16);
    p_free(p);

    static const size_t sizes[] = {1, 7, 16, 24, 100, 1000, 4096, 65536, 200000, 4 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "malloc(%zu)", sizes[i]);
        errno = SENTINEL_ERRNO;
        p = p_malloc(sizes[i]);
        report_block(name, p, errno, sizes[i], 16);
        errno = SENTINEL_ERRNO;
        p_free(p);
        out("free(%s): errno=%s\n", name, errname(errno));
    }

    errno = SENTINEL_ERRNO;
    p_free(NULL);
    out("free(NULL): errno=%s\n", errname(errno));
    out("malloc_usable_size(NULL)=%zu\n", p_usable(NULL));

    /* Many small blocks, so that at any rate some are sampled: errno must
     * stay untouched on success and every block must keep its content. */
    enum { N = 2000 };
    static void *v[N];
    int bad_errno = 0, bad_content = 0, null = 0;
    for (int i = 0; i < N; i++) {
        size_t n = 1 + (size_t)(i * 37) % 3000;
        errno = SENTINEL_ERRNO;
        v[i] = p_malloc(n);
        if (errno != SENTINEL_ERRNO)
            bad_errno++;
        if (!v[i]) {
            null++;
            continue;
        }
        fill(v[i], n, (unsigned)i);
    }
    for (int i = 0; i < N; i++) {
        size_t n = 1 + (size_t)(i * 37) % 3000;
        if (v[i] && !check_fill(v[i], n, (unsigned)i))
            bad_content++;
        errno = SENTINEL_ERRNO;
        p_free(v[i]);
        if (errno != SENTINEL_ERRNO)
            bad_errno++;
    }
    out("malloc x%d: null=%d errno_changed=%d content_lost=%d\n", N, null, bad_errno, bad_content);
}

static void check_calloc(void)
{
    void *p;
    errno = SENTINEL_ERRNO;
    p = p_calloc(0, 0);
    report_block("calloc(0,0)", p, errno, 0, 16);
    p_free(p);
    errno = SENTINEL_ERRNO;
    p = p_calloc(0, 16);
    report_block("calloc(0,16)", p, errno, 0, 16);
    p_free(p);
    errno = SENTINEL_ERRNO;
    p = p_calloc(16, 0);
    report_block("calloc(16,0)", p, errno, 0, 16);
    p_free(p);

    errno = SENTINEL_ERRNO;
    p = p_calloc(SIZE_MAX / 2 + 1, 4);
    out("calloc(SIZE_MAX/2+1,4): ret=%s errno=%s\n", nul(p), errname(errno));
    p_free(p);
    errno = SENTINEL_ERRNO;
    p = p_calloc(4, SIZE_MAX / 2 + 1);
    out("calloc(4,SIZE_MAX/2+1): ret=%s errno=%s\n", nul(p), errname(errno));
    p_free(p);
    errno = SENTINEL_ERRNO;
    p = p_calloc(SIZE_MAX, SIZE_MAX);
    out("calloc(SIZE_MAX,SIZE_MAX): ret=%s errno=%s\n", nul(p), errname(errno));
    p_free(p);

    /* Zeroing after reuse: dirty a block, free it, calloc the same size
     * (small: recycled from the free lists; large: mmap'd or recycled). */
    static const size_t sizes[] = {24, 100, 1024, 5000, 100000, 300000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        int zero = 1, ok = 1;
        for (int round = 0; round < 50; round++) {
            void *d = p_malloc(n);
            if (!d) {
                ok = 0;
                break;
            }
            memset(d, 0xA5, n);
            p_free(d);
            errno = SENTINEL_ERRNO;
            void *c = p_calloc(1, n);
            if (!c || errno != SENTINEL_ERRNO) {
                ok = 0;
                p_free(c);
                break;
            }
            if (!all_zero(c, n))
                zero = 0;
            memset(c, 0xA5, n);
            p_free(c);
        }
        out("calloc(1,%zu) after dirty free x50: ok=%d zeroed=%d\n", n, ok, zero);
    }
    errno = SENTINEL_ERRNO;
    p = p_calloc(1000, 8);
    out("calloc(1000,8): ret=%s errno=%s zeroed=%d usable>=req=%d\n", nul(p), errname(errno), p ? all_zero(p, 8000) : 0,
        p ? p_usable(p) >= 8000 : 0);
    p_free(p);
}

static void check_realloc(void)
{
    void *p, *q;
    errno = SENTINEL_ERRNO;
    p = p_realloc(NULL, 100);
    report_block("realloc(NULL,100)", p, errno, 100, 16);
    p_free(p);

    errno = SENTINEL_ERRNO;
    p = p_realloc(NULL, 0);
    report_block("realloc(NULL,0)", p, errno, 0, 16);
    p_free(p);

    p = p_malloc(100);
    fill(p, 100, 1);
    errno = SENTINEL_ERRNO;
    q = p_realloc(p, 0); /* glibc: frees p and returns NULL */
    out("realloc(p,0): ret=%s errno=%s\n", nul(q), errname(errno));
    p_free(q);

    /* Shrink and grow across the small, large and mmap thresholds. */
    static const size_t steps[] = {64, 16, 1, 200, 4000, 130000, 1 << 20, 3 << 20, 500, 70000, 8, 1 << 22, 32};
    size_t have = 64;
    p = p_malloc(have);
    fill(p, have, 9);
    for (size_t i = 1; i < sizeof steps / sizeof steps[0]; i++) {
        size_t n = steps[i];
        errno = SENTINEL_ERRNO;
        q = p_realloc(p, n);
        int err = errno;
        if (!q) {
            out("realloc(%zu->%zu): ret=NULL errno=%s\n", have, n, errname(err));
            break;
        }
        size_t keep = have < n ? have : n;
        out("realloc(%zu->%zu): ret=ptr errno=%s preserved=%d usable>=req=%d aligned16=%d\n", have, n, errname(err),
            check_fill(q, keep, 9), p_usable(q) >= n, is_aligned(q, 16));
        fill(q, n, 9);
        p = q;
        have = n;
    }
    p_free(p);

    /* A chain of realloc growth in small steps (the common vector pattern). */
    p = NULL;
    int preserved = 1;
    for (size_t n = 8; n <= 40000; n += 8 + n / 4) {
        q = p_realloc(p, n);
        if (!q) {
            preserved = 0;
            break;
        }
        if (p && !check_fill(q, have, 3))
            preserved = 0;
        fill(q, n, 3);
        p = q;
        have = n;
    }
    out("realloc growth chain: preserved=%d\n", preserved);
    p_free(p);

    /* Huge request: NULL + ENOMEM, the old block intact and still owned. */
    p = p_malloc(256);
    fill(p, 256, 77);
    errno = SENTINEL_ERRNO;
    q = p_realloc(p, SIZE_MAX - 4096);
    out("realloc(p,SIZE_MAX-4096): ret=%s errno=%s old_intact=%d\n", nul(q), errname(errno), check_fill(p, 256, 77));
    errno = SENTINEL_ERRNO;
    q = p_realloc(p, (size_t)PTRDIFF_MAX + 1);
    out("realloc(p,PTRDIFF_MAX+1): ret=%s errno=%s old_intact=%d\n", nul(q), errname(errno), check_fill(p, 256, 77));
    p_free(p);

    /* realloc of a block that came from memalign keeps its content. */
    p = p_memalign(4096, 3000);
    fill(p, 3000, 5);
    q = p_realloc(p, 9000);
    out("realloc(memalign(4096,3000),9000): ret=%s preserved=%d\n", nul(q), q ? check_fill(q, 3000, 5) : 0);
    p_free(q);
}

static void check_reallocarray(void)
{
    void *p, *q;
    if (skip_glibc_only) {
        out("reallocarray: skipped\n");
        return;
    }
    errno = SENTINEL_ERRNO;
    p = p_reallocarray(NULL, 10, 10);
    report_block("reallocarray(NULL,10,10)", p, errno, 100, 16);
    fill(p, 100, 4);
    errno = SENTINEL_ERRNO;
    q = p_reallocarray(p, 100, 100);
    out("reallocarray(p,100,100): ret=%s errno=%s preserved=%d usable>=req=%d\n", nul(q), errname(errno),
        q ? check_fill(q, 100, 4) : 0, q ? p_usable(q) >= 10000 : 0);
    if (q)
        p = q;
    errno = SENTINEL_ERRNO;
    q = p_reallocarray(p, SIZE_MAX / 2 + 1, 4);
    out("reallocarray(p,SIZE_MAX/2+1,4): ret=%s errno=%s old_intact=%d\n", nul(q), errname(errno),
        check_fill(p, 100, 4));
    errno = SENTINEL_ERRNO;
    q = p_reallocarray(NULL, SIZE_MAX / 2 + 1, 4);
    out("reallocarray(NULL,SIZE_MAX/2+1,4): ret=%s errno=%s\n", nul(q), errname(errno));
    errno = SENTINEL_ERRNO;
    q = p_reallocarray(p, 0, 0); /* same as realloc(p, 0): frees */
    out("reallocarray(p,0,0): ret=%s errno=%s\n", nul(q), errname(errno));
    p_free(q);
}

static void check_posix_memalign(void)
{
    static const size_t bad[] = {0, 3, sizeof(void *) / 2, sizeof(void *) + 1, 24, 4097};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        void *p = &p; /* must stay untouched on failure */
        void *const before = p;
        errno = SENTINEL_ERRNO;
        int r = p_posix_memalign(&p, bad[i], 64);
        out("posix_memalign(align=%zu,64): rc=%s errno=%s memptr_untouched=%d\n", bad[i], errname(r), errname(errno),
            p == before);
        if (r == 0)
            p_free(p);
    }
    for (size_t a = sizeof(void *); a <= (1u << 20); a *= 2) {
        static const size_t sizes[] = {0, 1, 100, 5000, 1 << 20};
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            void *p = NULL;
            errno = SENTINEL_ERRNO;
            int r = p_posix_memalign(&p, a, sizes[i]);
            int err = errno;
            char name[80];
            snprintf(name, sizeof name, "posix_memalign(align=%zu,%zu)", a, sizes[i]);
            if (r) {
                out("%s: rc=%s errno=%s\n", name, errname(r), errname(err));
                continue;
            }
            out("%s: rc=0 errno=%s nonnull=%d usable>=req=%d aligned=%d\n", name, errname(err), p != NULL,
                p ? p_usable(p) >= sizes[i] : 0, is_aligned(p, a));
            if (p)
                fill(p, sizes[i], 2);
            p_free(p);
        }
    }
    void *p = &p;
    void *const before = p;
    errno = SENTINEL_ERRNO;
    int r = p_posix_memalign(&p, 64, SIZE_MAX - 4096);
    out("posix_memalign(64,SIZE_MAX-4096): rc=%s errno=%s memptr_untouched=%d\n", errname(r), errname(errno),
        p == before);
    p = &p;
    errno = SENTINEL_ERRNO;
    r = p_posix_memalign(&p, 64, (size_t)PTRDIFF_MAX + 1);
    out("posix_memalign(64,PTRDIFF_MAX+1): rc=%s errno=%s memptr_untouched=%d\n", errname(r), errname(errno),
        p == before);
}

static void check_aligned_alloc(void)
{
    static const size_t aligns[] = {0, 1, 2, 3, 4, 8, 16, 24, 64, 100, 4096, 65536, 1 << 20};
    static const size_t sizes[] = {0, 1, 64, 100, 4096};
    for (size_t i = 0; i < sizeof aligns / sizeof aligns[0]; i++)
        for (size_t j = 0; j < sizeof sizes / sizeof sizes[0]; j++) {
            size_t a = aligns[i], n = sizes[j];
            errno = SENTINEL_ERRNO;
            void *p = p_aligned_alloc(a, n);
            int err = errno;
            /* Report alignment against the next power of two >= a, the
             * strongest guarantee any implementation could give. */
            size_t pow2 = 1;
            while (pow2 < a)
                pow2 *= 2;
            out("aligned_alloc(%zu,%zu): ret=%s errno=%s", a, n, nul(p), errname(err));
            if (p)
                out(" usable>=req=%d aligned%zu=%d", p_usable(p) >= n, pow2, is_aligned(p, pow2));
            out("\n");
            if (p)
                fill(p, n, 6);
            p_free(p);
        }
}

static void check_memalign_family(void)
{
    static const size_t aligns[] = {1, 3, 8, 16, 48, 64, 4096, 1 << 20};
    for (size_t i = 0; i < sizeof aligns / sizeof aligns[0]; i++) {
        size_t a = aligns[i], pow2 = 1;
        while (pow2 < a)
            pow2 *= 2;
        char name[64];
        snprintf(name, sizeof name, "memalign(%zu,777)", a);
        errno = SENTINEL_ERRNO;
        void *p = p_memalign(a, 777);
        report_block(name, p, errno, 777, pow2);
        p_free(p);
    }
    errno = SENTINEL_ERRNO;
    void *p = p_memalign(64, 0);
    report_block("memalign(64,0)", p, errno, 0, 64);
    p_free(p);

    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    static const size_t sizes[] = {0, 1, 100, 4096, 4097, 100000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        char name[64];
        snprintf(name, sizeof name, "valloc(%zu)", n);
        errno = SENTINEL_ERRNO;
        p = p_valloc(n);
        report_block(name, p, errno, n, page);
        p_free(p);

        /* pvalloc rounds the size up to a whole number of pages. */
        if (skip_glibc_only)
            continue;
        size_t rounded = (n + page - 1) / page * page;
        snprintf(name, sizeof name, "pvalloc(%zu) [rounded %zu]", n, rounded);
        errno = SENTINEL_ERRNO;
        p = p_pvalloc(n);
        report_block(name, p, errno, rounded, page);
        p_free(p);
    }
}

static void check_huge(void)
{
    static const struct {
        const char *name;
        size_t n;
    } huge[] = {{"SIZE_MAX-4096", SIZE_MAX - 4096}, {"PTRDIFF_MAX+1", (size_t)PTRDIFF_MAX + 1}, {"SIZE_MAX", SIZE_MAX}};
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        const char *nm = huge[i].name;
        size_t n = huge[i].n;
        void *p;
        errno = SENTINEL_ERRNO;
        p = p_malloc(n);
        out("malloc(%s): ret=%s errno=%s\n", nm, nul(p), errname(errno));
        p_free(p);
        errno = SENTINEL_ERRNO;
        p = p_calloc(1, n);
        out("calloc(1,%s): ret=%s errno=%s\n", nm, nul(p), errname(errno));
        p_free(p);
        errno = SENTINEL_ERRNO;
        p = p_realloc(NULL, n);
        out("realloc(NULL,%s): ret=%s errno=%s\n", nm, nul(p), errname(errno));
        p_free(p);
        errno = SENTINEL_ERRNO;
        p = p_memalign(64, n);
        out("memalign(64,%s): ret=%s errno=%s\n", nm, nul(p), errname(errno));
        p_free(p);
        errno = SENTINEL_ERRNO;
        p = p_aligned_alloc(64, n);
        out("aligned_alloc(64,%s): ret=%s errno=%s\n", nm, nul(p), errname(errno));
        p_free(p);
        errno = SENTINEL_ERRNO;
        p = p_valloc(n);
        out("valloc(%s): ret=%s errno=%s\n", nm, nul(p), errname(errno));
        p_free(p);
        if (skip_glibc_only)
            continue;
        errno = SENTINEL_ERRNO;
        p = p_pvalloc(n);
        out("pvalloc(%s): ret=%s errno=%s\n", nm, nul(p), errname(errno));
        p_free(p);
    }
}

/* Blocks that stay live across the whole run, so the interposer's free
 * filter has to tell sampled from unsampled pointers correctly. */
static void check_long_lived(void)
{
    enum { N = 500 };
    static void *v[N];
    for (int i = 0; i < N; i++) {
        size_t n = 8 + (size_t)i * 13;
        switch (i % 5) {
        case 0: v[i] = p_malloc(n); break;
        case 1: v[i] = p_calloc(1, n); break;
        case 2: v[i] = p_memalign(32, n); break;
        case 3: v[i] = p_realloc(NULL, n); break;
        default:
            if (p_posix_memalign(&v[i], 128, n))
                v[i] = NULL;
        }
        if (v[i])
            fill(v[i], n, (unsigned)i);
    }
    int ok = 1;
    for (int i = 0; i < N; i++) {
        size_t n = 8 + (size_t)i * 13;
        if (!v[i] || !check_fill(v[i], n, (unsigned)i) || p_usable(v[i]) < n)
            ok = 0;
        void *q = p_realloc(v[i], n * 2);
        if (!q || !check_fill(q, n, (unsigned)i))
            ok = 0;
        p_free(q ? q : v[i]);
    }
    out("mixed long-lived x%d then realloc x2: ok=%d\n", N, ok);
}

int main(int argc, char **argv)
{
    int arg = 1;
    if (arg < argc && strcmp(argv[arg], "--skip-glibc-only") == 0) {
        skip_glibc_only = 1;
        arg++;
    }
    int rounds = arg < argc ? atoi(argv[arg]) : 1;
    if (rounds < 1)
        rounds = 1;
    for (int r = 0; r < rounds; r++) {
        quiet = r + 1 < rounds;
        check_malloc();
        check_calloc();
        check_realloc();
        check_reallocarray();
        check_posix_memalign();
        check_aligned_alloc();
        check_memalign_family();
        check_huge();
        check_long_lived();
    }
    printf("done\n");
    return 0;
}
