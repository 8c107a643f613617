/* test_sitename.c - the live site rule (interposer/sitename.c) and the
 * process's frame filter (interposer/framefilter.c): pprof's drop_frames
 * rule on synthetic frame classes (wrappers cut from the root, the runtime
 * preference among what is left, stacks that start or consist of dropped
 * frames), then real stacks of this binary through a listed wrapper
 * (xmalloc) and an unlisted one (app_alloc, then listed with
 * HEAPSCOPE_DROP_FRAMES), a bad expression (one warning, the table alone),
 * a thread forbidden to allocate (cache only), the warning's format, and
 * the small C++ demangler that lets the filter match mangled symbols.
 * Each test runs in its own process (Check), so each compiles its filter. */
#include <check.h>
#include <execinfo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "demangle.h"
#include "framefilter.h"
#include "hs_frames.h"
#include "run_suite.h"
#include "sitename.h"

/* ---- the rule on synthetic frames ---- */

enum { K = HS_FRAME_KEEP, A = HS_FRAME_ALLOCATOR, W = HS_FRAME_WRAPPER };
#define PROG(c)   \
    {             \
        (c), 1, 0 \
    } /* the program's code */
#define LIBC(c)   \
    {             \
        (c), 1, 1 \
    } /* the C or C++ runtime */
#define NOWHERE             \
    {                       \
        HS_FRAME_KEEP, 0, 0 \
    } /* in no loaded object (JIT code, a bad frame) */

static void expect(const hs_siteframe_t *frames, uint32_t depth, int site, int via, const char *what)
{
    int v = -2, s = hs_sitename_pick(frames, depth, &v);
    ck_assert_msg(s == site && v == via, "%s: site %d via %d, expected %d via %d", what, s, v, site, via);
}

START_TEST(the_rule_on_synthetic_frames)
{
    /* leaf first: caller <- main <- __libc_start_call_main <- __libc_start_main <- _start */
    hs_siteframe_t plain[] = {PROG(K), PROG(K), LIBC(K), LIBC(K), PROG(K)};
    expect(plain, 5, 0, -1, "no wrapper");
    hs_siteframe_t wrapped[] = {PROG(W), PROG(K), PROG(K), LIBC(K), LIBC(K), PROG(K)};
    expect(wrapped, 6, 1, 0, "xmalloc <- caller");
    hs_siteframe_t chain[] = {PROG(W), PROG(W), PROG(K), PROG(K)};
    expect(chain, 4, 2, 1, "xmalloc <- app_alloc <- caller: the outermost wrapper is shown");
    hs_siteframe_t strdup_chain[] = {LIBC(A), PROG(W), PROG(K)};
    expect(strdup_chain, 3, 2, 1, "strdup <- xstrdup <- caller");
    hs_siteframe_t allocator[] = {LIBC(A), PROG(K), PROG(K)};
    expect(allocator, 3, 1, -1, "operator new <- caller: no wrapper to show");
    hs_siteframe_t callback[] = {PROG(K), PROG(W), PROG(K), PROG(K)};
    expect(callback, 4, 2, 1, "a dropped frame rootward of kept ones cuts there (pprof)");
    hs_siteframe_t starts_dropped[] = {PROG(K), PROG(W), PROG(W)};
    expect(starts_dropped, 3, 0, -1, "dropped frames at the root are passed over");
    hs_siteframe_t all_dropped[] = {PROG(W), PROG(W)};
    expect(all_dropped, 2, 0, -1, "nothing kept: nothing cut");
    hs_siteframe_t through_libc[] = {PROG(W), LIBC(K), PROG(K), PROG(K)};
    expect(through_libc, 4, 2, 0, "the program's code before the runtime's");
    hs_siteframe_t only_libraries[] = {PROG(W), LIBC(K), LIBC(K)};
    expect(only_libraries, 3, 1, 0, "all left is runtime: the first of it");
    hs_siteframe_t unknown[] = {PROG(W), NOWHERE, PROG(K)};
    expect(unknown, 3, 2, 0, "a frame in no object is not a site");
    hs_siteframe_t nothing_left[] = {PROG(W), NOWHERE, NOWHERE};
    expect(nothing_left, 3, 0, -1, "nothing left in an object: the whole stack");
    hs_siteframe_t nowhere[] = {NOWHERE, NOWHERE};
    expect(nowhere, 2, -1, -1, "no frame in an object");
    expect(NULL, 0, -1, -1, "empty");
}
END_TEST

/* ---- real stacks of this binary ---- */

static hs_stack_t *captured;
static volatile int sink;

/* Stands for malloc: what heapscope's hook records is the stack of its
 * caller, frame 0 being the return address into it. */
__attribute__((noinline)) static void *fake_malloc(size_t n)
{
    void *b[64];
    int depth = backtrace(b, 64), from = 0;
    /* From the return address into our caller on (a sanitizer's backtrace
     * interceptor adds frames of its own before it). */
    while (from < depth && b[from] != __builtin_return_address(0))
        from++;
    ck_assert_int_gt(depth - from, 3);
    captured = calloc(1, sizeof(*captured) + 64 * sizeof(uintptr_t));
    captured->depth = (uint32_t)(depth - from);
    for (int i = from; i < depth; i++)
        captured->frames[i - from] = (uintptr_t)b[i];
    sink++;
    return malloc(n);
}

/* The names matter: xmalloc is in the default table, app_alloc is not.
 * The stores after each call keep the compiler from making it a tail call
 * (the caller's frame would then be missing). */
__attribute__((noinline)) void *xmalloc(size_t n);
__attribute__((noinline)) void *app_alloc(size_t n);
__attribute__((noinline)) void *leaky_caller(int through_app);

void *xmalloc(size_t n)
{
    void *p = fake_malloc(n);
    sink++;
    return p;
}

void *app_alloc(size_t n)
{
    void *p = fake_malloc(n);
    sink++;
    return p;
}

void *leaky_caller(int through_app)
{
    void *p = through_app ? app_alloc(16) : xmalloc(16);
    sink++;
    return p;
}

static hs_stack_t *stack_through(int through_app)
{
    free(leaky_caller(through_app));
    hs_stack_t *s = captured;
    captured = NULL;
    return s;
}

static void expect_site(hs_stack_t *s, const char *function, const char *via)
{
    hs_sitename_t n;
    ck_assert_int_eq(hs_sitename_of_stack(s, &n), 0);
    ck_assert_str_eq(n.function, function);
    ck_assert_str_eq(n.via, via);
    ck_assert_msg(strstr(n.object, "test_sitename") != NULL, "%s", n.object);
}

START_TEST(a_listed_wrapper_names_its_caller)
{
    hs_stack_t *x = stack_through(0), *app = stack_through(1);
    expect_site(x, "leaky_caller", "xmalloc");
    expect_site(app, "app_alloc", ""); /* not listed: it is the site */
    hs_sitename_t n;
    ck_assert_int_eq(hs_sitename_of_stack(x, &n), 0);
    ck_assert_uint_eq(n.frame, 1);
    char line[1400], want[64];
    hs_sitename_format(&n, line, sizeof(line));
    snprintf(want, sizeof(want), "leaky_caller (test_sitename+0x%lx) via xmalloc", (unsigned long)n.offset);
    ck_assert_str_eq(line, want);
    /* A frame alone is named as a frame. */
    ck_assert_int_eq(hs_sitename_of_frame(x->frames[0], &n), 0);
    ck_assert_str_eq(n.function, "xmalloc");
    ck_assert_str_eq(n.via, "");
    /* drop_frames for the live heap profiles: the table's expression. */
    const char *drop = hs_framefilter_pprof_drop();
    ck_assert_ptr_nonnull(drop);
    ck_assert_msg(strstr(drop, "xmalloc") != NULL && strstr(drop, "app_alloc") == NULL, "%s", drop);
    free(x);
    free(app);
}
END_TEST

START_TEST(drop_frames_adds_a_wrapper)
{
    snprintf(hs_cfg.drop_frames, sizeof(hs_cfg.drop_frames), "app_alloc|other_pool_.*");
    hs_stack_t *x = stack_through(0), *app = stack_through(1);
    expect_site(app, "leaky_caller", "app_alloc");
    expect_site(x, "leaky_caller", "xmalloc");
    ck_assert_ptr_nonnull(strstr(hs_framefilter_pprof_drop(), "app_alloc|other_pool_.*"));
    free(x);
    free(app);
}
END_TEST

START_TEST(a_bad_expression_warns_once_and_keeps_the_table)
{
    char path[64];
    snprintf(path, sizeof(path), "/tmp/hs_test_sitename_%d.err", (int)getpid());
    fflush(stderr);
    ck_assert_ptr_nonnull(freopen(path, "w", stderr));
    snprintf(hs_cfg.drop_frames, sizeof(hs_cfg.drop_frames), "app_alloc(");
    hs_stack_t *x = stack_through(0), *app = stack_through(1);
    hs_framefilter_warm();
    expect_site(x, "leaky_caller", "xmalloc");
    expect_site(app, "app_alloc", "");
    hs_framefilter_warm();
    fflush(stderr);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char line[512];
    int lines = 0;
    while (fgets(line, sizeof(line), f)) {
        lines++;
        ck_assert_msg(strstr(line, "heapscope: warning: HEAPSCOPE_DROP_FRAMES 'app_alloc(' is not a regular "
                                   "expression") == line &&
                          strstr(line, "; using the default allocator and wrapper table alone"),
                      "%s", line);
    }
    fclose(f);
    unlink(path);
    ck_assert_int_eq(lines, 1);
    free(x);
    free(app);
}
END_TEST

START_TEST(forbidden_to_allocate_uses_what_is_known)
{
    hs_stack_t *x = stack_through(0);
    ck_assert_int_eq(hs_framefilter_forbid_alloc(1), 0);
    ck_assert_int_eq(hs_framefilter_classify("malloc"), -1);
    ck_assert_ptr_null(hs_framefilter_pprof_drop());
    expect_site(x, "xmalloc", ""); /* nothing classified yet: the old rule */
    ck_assert_int_eq(hs_framefilter_forbid_alloc(0), 1);
    expect_site(x, "leaky_caller", "xmalloc"); /* classifies and caches the frames */
    hs_framefilter_forbid_alloc(1);
    expect_site(x, "leaky_caller", "xmalloc"); /* from the cache */
    hs_framefilter_forbid_alloc(0);
    ck_assert_int_eq(hs_framefilter_classify("zmalloc_usable"), HS_FRAME_WRAPPER);
    ck_assert_int_eq(hs_framefilter_classify(""), HS_FRAME_KEEP);
    free(x);
}
END_TEST

START_TEST(simple_cxx_names_are_demangled)
{
    static const char *const cases[][2] = {
        {"_ZN2os6mallocEm8MEMFLAGSRK15NativeCallStack", "os::malloc"},
        {"_Znwm", "operator new"},
        {"_Znam", "operator new[]"},
        {"_ZnwmRKSt9nothrow_t", "operator new"},
        {"_ZdlPv", "operator delete"},
        {"_ZN12_GLOBAL__N_14Pool5allocEm", "(anonymous namespace)::Pool::alloc"},
        {"_ZN4PoolD2Ev", "Pool::~Pool"},
        {"_ZN4PoolC1Ev", "Pool::Pool"},
        {"_ZL3foov", "foo"},
        {"_Z12AllocateHeapm8MEMFLAGSN17AllocFailStrategy13AllocFailEnumE", "AllocateHeap"},
        {"_ZN5Cache3putB5cxx11Ei", "Cache::put"},
        {"_ZNK3Foo3barEv", "Foo::bar"},
        {"_ZN3FooclEi", "Foo::operator()"},
        {"_ZNSt9exceptionD2Ev", "std::exception::~exception"},
        {"_Z3fooi.constprop.0", "foo.constprop.0"},
    };
    char out[256];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_msg(hs_demangle_simple(cases[i][0], out, sizeof(out)) == 0, "%s", cases[i][0]);
        ck_assert_str_eq(out, cases[i][1]);
    }
    /* What it does not read is left alone, never guessed. */
    static const char *const refused[] = {"main",
                                          "_ZNKSt6vectorIiSaIiEE4sizeEv",
                                          "_ZN9__gnu_cxx13new_allocatorIiE8allocateEmPKv",
                                          "_ZZ4mainE1x",
                                          "_ZN3Foo",
                                          "_ZN99Foo",
                                          "_Z",
                                          "_ZN1aS_3fooEv",
                                          "_ZSt4endlIcSt11char_traitsIcEERSt13basic_ostreamIT_T0_ES6_"};
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        strcpy(out, "untouched");
        ck_assert_msg(hs_demangle_simple(refused[i], out, sizeof(out)) == -1, "%s", refused[i]);
        ck_assert_str_eq(out, "untouched");
    }
    ck_assert_int_eq(hs_demangle_simple("_ZN2os6mallocEm", out, 5), -1); /* does not fit */
    /* The filter matches the demangled name: HotSpot's wrapper is one. */
    ck_assert_int_eq(hs_framefilter_classify("_ZN2os6mallocEm8MEMFLAGSRK15NativeCallStack"), HS_FRAME_WRAPPER);
    ck_assert_int_eq(hs_framefilter_classify("_Znwm"), HS_FRAME_ALLOCATOR);
    ck_assert_int_eq(hs_framefilter_classify("_ZN4Pool5allocEm"), HS_FRAME_KEEP);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sitename");
    TCase *tc = tcase_create("sitename");
    tcase_add_test(tc, the_rule_on_synthetic_frames);
    tcase_add_test(tc, a_listed_wrapper_names_its_caller);
    tcase_add_test(tc, drop_frames_adds_a_wrapper);
    tcase_add_test(tc, a_bad_expression_warns_once_and_keeps_the_table);
    tcase_add_test(tc, forbidden_to_allocate_uses_what_is_known);
    tcase_add_test(tc, simple_cxx_names_are_demangled);
    suite_add_tcase(s, tc);
    return hs_run_suite(s);
}
