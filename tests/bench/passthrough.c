/* libpassthrough.so: the floor any malloc interposer pays, for tests/bench/run.sh.
 * Exports the same allocation entry points as libheapscope.so and forwards each one to the
 * next definition found with dlsym(RTLD_NEXT); it records nothing. While dlsym itself runs,
 * allocations come from a static bootstrap arena whose pointers are never handed to the
 * real allocator (free ignores them, realloc copies out of them). */
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

/* dlsym allocates at most a few hundred bytes (its error buffer); 64 KiB is plenty. */
#define BOOTSTRAP_BYTES 65536
#define BOOTSTRAP_HEADER 16

static alignas(4096) unsigned char bootstrap_arena[BOOTSTRAP_BYTES];
static atomic_size_t bootstrap_used;

static void *(*real_malloc)(size_t);
static void (*real_free)(void *);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void *(*real_reallocarray)(void *, size_t, size_t);
static int (*real_posix_memalign)(void **, size_t, size_t);
static void *(*real_aligned_alloc)(size_t, size_t);
static void *(*real_memalign)(size_t, size_t);
static void *(*real_valloc)(size_t);
static void *(*real_pvalloc)(size_t);
static size_t (*real_malloc_usable_size)(void *);

/* Set while resolve_real() runs: allocations dlsym makes meanwhile go to the arena. The
 * first call happens from the constructor, before the program has threads. */
static int resolving;

/* Bump allocation; each block starts with a 16-byte header holding its size, so that
 * realloc and malloc_usable_size can answer for arena pointers. Never freed. */
static void *bootstrap_alloc(size_t size, size_t alignment)
{
    if (alignment < BOOTSTRAP_HEADER)
        alignment = BOOTSTRAP_HEADER;
    if (size > BOOTSTRAP_BYTES || (alignment & (alignment - 1)) != 0 || alignment > 4096)
        return NULL;
    size_t old = atomic_load_explicit(&bootstrap_used, memory_order_relaxed);
    size_t start, end;
    do {
        start = (old + BOOTSTRAP_HEADER + alignment - 1) & ~(alignment - 1);
        end = start + size;
        if (end > BOOTSTRAP_BYTES)
            return NULL;
    } while (
        !atomic_compare_exchange_weak_explicit(&bootstrap_used, &old, end, memory_order_relaxed, memory_order_relaxed));
    memcpy(bootstrap_arena + start - sizeof(size_t), &size, sizeof(size_t));
    return bootstrap_arena + start; /* static storage: already zero, good for calloc */
}

static inline int is_bootstrap(const void *p)
{
    return (const unsigned char *)p >= bootstrap_arena && (const unsigned char *)p < bootstrap_arena + BOOTSTRAP_BYTES;
}

static size_t bootstrap_size(const void *p)
{
    size_t size;
    memcpy(&size, (const unsigned char *)p - sizeof(size_t), sizeof(size_t));
    return size;
}

static void resolve_real(void)
{
    resolving = 1;
    real_malloc = dlsym(RTLD_NEXT, "malloc");
    real_free = dlsym(RTLD_NEXT, "free");
    real_calloc = dlsym(RTLD_NEXT, "calloc");
    real_realloc = dlsym(RTLD_NEXT, "realloc");
    real_reallocarray = dlsym(RTLD_NEXT, "reallocarray");
    real_posix_memalign = dlsym(RTLD_NEXT, "posix_memalign");
    real_aligned_alloc = dlsym(RTLD_NEXT, "aligned_alloc");
    real_memalign = dlsym(RTLD_NEXT, "memalign");
    real_valloc = dlsym(RTLD_NEXT, "valloc");
    real_pvalloc = dlsym(RTLD_NEXT, "pvalloc");
    real_malloc_usable_size = dlsym(RTLD_NEXT, "malloc_usable_size");
    resolving = 0;
    if (!real_malloc || !real_free || !real_calloc || !real_realloc) {
        static const char msg[] = "libpassthrough: dlsym(RTLD_NEXT) failed\n";
        (void)!write(2, msg, sizeof msg - 1);
        _exit(127);
    }
}

__attribute__((constructor)) static void passthrough_init(void)
{
    if (!real_malloc)
        resolve_real();
}

/* The fast path of every hook: one predictable branch, one indirect call. */
#define ENSURE_REAL(fallback)         \
    do {                              \
        if (UNLIKELY(!real_malloc)) { \
            if (resolving)            \
                return fallback;      \
            resolve_real();           \
        }                             \
    } while (0)

EXPORT void *malloc(size_t size)
{
    ENSURE_REAL(bootstrap_alloc(size, 16));
    return real_malloc(size);
}

EXPORT void free(void *p)
{
    if (UNLIKELY(is_bootstrap(p)))
        return;
    ENSURE_REAL((void)0);
    real_free(p);
}

EXPORT void *calloc(size_t count, size_t size)
{
    size_t total;
    if (UNLIKELY(!real_malloc && resolving)) {
        if (__builtin_mul_overflow(count, size, &total))
            return NULL;
        return bootstrap_alloc(total, 16);
    }
    ENSURE_REAL(NULL);
    return real_calloc(count, size);
}

EXPORT void *realloc(void *p, size_t size)
{
    if (UNLIKELY(is_bootstrap(p))) {
        void *fresh = malloc(size);
        if (fresh) {
            size_t old = bootstrap_size(p);
            memcpy(fresh, p, old < size ? old : size);
        }
        return fresh;
    }
    ENSURE_REAL(p ? NULL : bootstrap_alloc(size, 16));
    return real_realloc(p, size);
}

EXPORT void *reallocarray(void *p, size_t count, size_t size)
{
    size_t total;
    if (UNLIKELY(is_bootstrap(p) || !real_reallocarray)) {
        if (__builtin_mul_overflow(count, size, &total)) {
            errno = ENOMEM;
            return NULL;
        }
        return realloc(p, total);
    }
    return real_reallocarray(p, count, size);
}

EXPORT int posix_memalign(void **out, size_t alignment, size_t size)
{
    if (UNLIKELY(!real_malloc && resolving)) {
        void *p = bootstrap_alloc(size, alignment);
        if (!p)
            return ENOMEM;
        *out = p;
        return 0;
    }
    ENSURE_REAL(ENOMEM);
    return real_posix_memalign(out, alignment, size);
}

EXPORT void *aligned_alloc(size_t alignment, size_t size)
{
    ENSURE_REAL(bootstrap_alloc(size, alignment));
    return real_aligned_alloc(alignment, size);
}

EXPORT void *memalign(size_t alignment, size_t size)
{
    ENSURE_REAL(bootstrap_alloc(size, alignment));
    return real_memalign(alignment, size);
}

EXPORT void *valloc(size_t size)
{
    ENSURE_REAL(bootstrap_alloc(size, 4096));
    return real_valloc(size);
}

EXPORT void *pvalloc(size_t size)
{
    ENSURE_REAL(bootstrap_alloc((size + 4095) & ~(size_t)4095, 4096));
    return real_pvalloc(size);
}

EXPORT size_t malloc_usable_size(void *p)
{
    if (UNLIKELY(is_bootstrap(p)))
        return bootstrap_size(p);
    ENSURE_REAL(0);
    return real_malloc_usable_size(p);
}
