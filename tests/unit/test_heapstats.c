/* test_heapstats.c - heapstats.c against the real allocators: each of
 * jemalloc, tcmalloc and mimalloc (Debian's packages, scripts/deps.sh) is
 * dlopen'ed RTLD_LOCAL, so that it serves only the blocks this test asks of
 * it, and handed to hs_heapstats_init_with as the allocator behind malloc.
 * A 64 MiB block must show in its figures and leave them when freed; figures
 * that take the allocator's locks must not be read with may_lock 0; and a
 * statistics call from another object than malloc's must never be used. */
#include <check.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "heapstats.h"
#include "run_suite.h"

#define LIBDIR "/usr/lib/x86_64-linux-gnu/"
#define MiB (1024u * 1024u)
#define BIG (64 * MiB)
#define UNTOUCHED 0x5a5a5a5a5a5a5a5aull

static void *lookup_handle(void *handle, const char *name) { return dlsym(handle, name); }
static void *lookup_default(void *ctx, const char *name)
{
    (void)ctx;
    return dlsym(RTLD_DEFAULT, name);
}

typedef struct {
    void *handle;
    void *(*malloc)(size_t);
    void (*free)(void *);
} allocator_t;

/* The allocator in LIBDIR/name, loaded privately; fails the test when the
 * package is missing. */
static allocator_t open_allocator(const char *name)
{
    allocator_t a;
    char path[256];
    snprintf(path, sizeof(path), LIBDIR "%s", name);
    a.handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    ck_assert_msg(a.handle != NULL, "%s: %s (install it with scripts/deps.sh)", path, dlerror());
    void *m = dlsym(a.handle, "malloc"), *f = dlsym(a.handle, "free");
    ck_assert(m && f);
    memcpy(&a.malloc, &m, sizeof(m));
    memcpy(&a.free, &f, sizeof(f));
    return a;
}

static int init_for(const allocator_t *a)
{
    return hs_heapstats_init_with((const void *)a->malloc, lookup_handle, a->handle);
}

/* Takes BIG bytes from the allocator, touched so that they are resident. */
static void *hold_big(const allocator_t *a)
{
    void *p = a->malloc(BIG);
    ck_assert(p != NULL);
    memset(p, 0x77, BIG);
    return p;
}

/* The exact figures of an allocator that counts bytes in use: BIG shows,
 * and leaves when freed; reserved is never below in use; may_lock 0 reads
 * nothing (these calls take the allocator's locks); errno is untouched. */
static void check_exact_figures(const char *lib, int source)
{
    allocator_t a = open_allocator(lib);
    ck_assert_int_eq(init_for(&a), source);
    ck_assert_int_eq(hs_heapstats_allocator(), source);
    uint64_t before = 0, reserved = 0;
    ck_assert_int_eq(hs_heapstats_read(&before, &reserved, 1), source);
    ck_assert_uint_ge(reserved, before);

    void *p = hold_big(&a);
    uint64_t in_use = 0;
    errno = 4242;
    ck_assert_int_eq(hs_heapstats_read(&in_use, &reserved, 1), source);
    ck_assert_int_eq(errno, 4242);
    ck_assert_msg(in_use >= before + BIG && in_use < before + BIG + 4 * MiB,
                  "%s: in use %llu with 64 MiB held (%llu before)", lib, (unsigned long long)in_use,
                  (unsigned long long)before);
    ck_assert_msg(reserved >= in_use, "%s: reserved %llu < in use %llu", lib, (unsigned long long)reserved,
                  (unsigned long long)in_use);

    uint64_t u = UNTOUCHED, r = UNTOUCHED;
    ck_assert_int_eq(hs_heapstats_read(&u, &r, 0), HS_HEAP_SOURCE_SAMPLED);
    ck_assert_uint_eq(u, UNTOUCHED);
    ck_assert_uint_eq(r, UNTOUCHED);

    a.free(p);
    ck_assert_int_eq(hs_heapstats_read(&in_use, &reserved, 1), source);
    ck_assert_msg(in_use < before + 4 * MiB, "%s: in use %llu after the free (%llu before)", lib,
                  (unsigned long long)in_use, (unsigned long long)before);
}

START_TEST(jemalloc_counts_a_held_block_and_its_free)
{
    check_exact_figures("libjemalloc.so.2", HS_HEAP_SOURCE_JEMALLOC);
}
END_TEST

START_TEST(tcmalloc_counts_a_held_block_and_its_free)
{
    check_exact_figures("libtcmalloc_minimal.so.4", HS_HEAP_SOURCE_TCMALLOC);
}
END_TEST

/* mimalloc counts committed memory only (lock-free, so also with may_lock
 * 0); in use is left to the sampled estimate. */
START_TEST(mimalloc_gives_committed_bytes_lock_free)
{
    allocator_t a = open_allocator("libmimalloc.so.2");
    ck_assert_int_eq(init_for(&a), HS_HEAP_SOURCE_MIMALLOC);
    void *p = hold_big(&a);
    for (int may_lock = 0; may_lock <= 1; may_lock++) {
        uint64_t in_use = 0, reserved = 0;
        errno = 4242;
        ck_assert_int_eq(hs_heapstats_read(&in_use, &reserved, may_lock), HS_HEAP_SOURCE_MIMALLOC);
        ck_assert_int_eq(errno, 4242);
        ck_assert_uint_eq(in_use, HS_HEAPSTATS_UNKNOWN);
        ck_assert_msg(reserved >= BIG, "mimalloc: committed %llu with 64 MiB held", (unsigned long long)reserved);
    }
    a.free(p);
}
END_TEST

/* glibc has no cheap figures: always the sampled estimate, nothing written. */
START_TEST(glibc_is_always_sampled)
{
    void *m = dlsym(RTLD_DEFAULT, "malloc"); /* glibc's, or ASan's in make asan */
    ck_assert_int_eq(hs_heapstats_init_with(m, lookup_default, NULL), HS_HEAP_SOURCE_SAMPLED);
    for (int may_lock = 0; may_lock <= 1; may_lock++) {
        uint64_t u = UNTOUCHED, r = UNTOUCHED;
        ck_assert_int_eq(hs_heapstats_read(&u, &r, may_lock), HS_HEAP_SOURCE_SAMPLED);
        ck_assert_uint_eq(u, UNTOUCHED);
        ck_assert_uint_eq(r, UNTOUCHED);
    }
    /* The library's own entry: RTLD_NEXT from this program is glibc too. */
    hs_heapstats_init();
    ck_assert_int_eq(hs_heapstats_allocator(), HS_HEAP_SOURCE_SAMPLED);
}
END_TEST

/* The program's malloc is glibc's, but a jemalloc is loaded too (as when a
 * plugin links it): its mallctl describes a heap malloc does not use. */
START_TEST(stats_of_another_object_are_never_used)
{
    allocator_t je = open_allocator("libjemalloc.so.2");
    void *glibc_malloc = dlsym(RTLD_DEFAULT, "malloc");
    ck_assert_int_eq(hs_heapstats_init_with(glibc_malloc, lookup_handle, je.handle), HS_HEAP_SOURCE_SAMPLED);
    uint64_t u = UNTOUCHED, r = UNTOUCHED;
    ck_assert_int_eq(hs_heapstats_read(&u, &r, 1), HS_HEAP_SOURCE_SAMPLED);
    ck_assert_uint_eq(u, UNTOUCHED);
}
END_TEST

START_TEST(same_object_compares_the_loaded_objects)
{
    allocator_t je = open_allocator("libjemalloc.so.2");
    void *glibc_malloc = dlsym(RTLD_DEFAULT, "malloc"), *glibc_free = dlsym(RTLD_DEFAULT, "free");
    ck_assert(hs_heapstats_is_same_object(glibc_malloc, glibc_free));
    ck_assert(hs_heapstats_is_same_object((const void *)je.malloc, dlsym(je.handle, "mallctl")));
    ck_assert(!hs_heapstats_is_same_object(glibc_malloc, (const void *)je.malloc));
    /* jemalloc has no pvalloc: the one found through its handle is glibc's. */
    void *pv = dlsym(je.handle, "pvalloc");
    ck_assert(pv != NULL);
    ck_assert(!hs_heapstats_is_same_object((const void *)je.malloc, pv));
    ck_assert(!hs_heapstats_is_same_object(NULL, glibc_malloc));
    ck_assert(!hs_heapstats_is_same_object(glibc_malloc, NULL));
}
END_TEST

START_TEST(source_names)
{
    ck_assert_str_eq(hs_heapstats_source_name(HS_HEAP_SOURCE_SAMPLED), "sampled");
    ck_assert_str_eq(hs_heapstats_source_name(HS_HEAP_SOURCE_JEMALLOC), "jemalloc");
    ck_assert_str_eq(hs_heapstats_source_name(HS_HEAP_SOURCE_TCMALLOC), "tcmalloc");
    ck_assert_str_eq(hs_heapstats_source_name(HS_HEAP_SOURCE_MIMALLOC), "mimalloc");
    ck_assert_str_eq(hs_heapstats_source_name(HS_HEAP_SOURCE_MAX + 1), "unknown");
    ck_assert_str_eq(hs_heapstats_source_name(-1), "unknown");
}
END_TEST

/* make asan: tcmalloc's constructor keeps its MallocExtension in a static
 * that LeakSanitizer cannot see once the library is loaded privately. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:libtcmalloc_minimal.so\n"; }

/* jemalloc's thread-local data is initial-exec: dlopen can place it only in
 * the static TLS surplus glibc keeps for that (512 bytes unless tuned), which
 * this program's own libraries already use. Re-run once with a larger one. */
static void ensure_static_tls_room(char **argv)
{
    const char *tunables = getenv("GLIBC_TUNABLES");
    if (tunables && strstr(tunables, "glibc.rtld.optional_static_tls="))
        return;
    char value[1024];
    snprintf(value, sizeof(value), "%s%sglibc.rtld.optional_static_tls=1048576", tunables ? tunables : "",
             tunables ? ":" : "");
    setenv("GLIBC_TUNABLES", value, 1);
    execv("/proc/self/exe", argv);
}

int main(int argc, char **argv)
{
    (void)argc;
    ensure_static_tls_room(argv);
    Suite *s = suite_create("heapstats");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, jemalloc_counts_a_held_block_and_its_free);
    tcase_add_test(tc, tcmalloc_counts_a_held_block_and_its_free);
    tcase_add_test(tc, mimalloc_gives_committed_bytes_lock_free);
    tcase_add_test(tc, glibc_is_always_sampled);
    tcase_add_test(tc, stats_of_another_object_are_never_used);
    tcase_add_test(tc, same_object_compares_the_loaded_objects);
    tcase_add_test(tc, source_names);
    suite_add_tcase(s, tc);
    return hs_run_suite(s);
}
