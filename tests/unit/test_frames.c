/* test_frames.c - the allocator and wrapper table (common/hs_frames.c): the
 * names of issue 10 are dropped as the right class, the program's own names
 * are kept, pprof's name simplification, the user's drop and keep
 * expressions, detected wrappers, and the expression pprof gets. */
#include <check.h>
#include <regex.h>
#include <stdio.h>
#include <string.h>

#include "hs_frames.h"
#include "run_suite.h"

static hs_frame_filter_t *defaults(void)
{
    char err[256];
    hs_frame_filter_t *f = hs_frame_filter_new(1, NULL, NULL, NULL, NULL, err, sizeof(err));
    ck_assert_msg(f != NULL, "%s", err);
    return f;
}

START_TEST(allocators_are_allocators)
{
    hs_frame_filter_t *f = defaults();
    static const char *const names[] = {
        "malloc",
        "calloc",
        "realloc",
        "posix_memalign",
        "aligned_alloc",
        "__libc_malloc",
        "_int_malloc",
        "strdup",
        "__strdup",
        "operator new(unsigned long)",
        "operator new[](unsigned long)",
        "operator new(unsigned long, std::nothrow_t const&)",
        "__gnu_cxx::new_allocator<int>::allocate(unsigned long, void const*)",
        "std::allocator<std::_Rb_tree_node<std::pair<int const, int> > >::allocate(unsigned long)",
        "std::__new_allocator<char>::allocate",
        "je_malloc",
        "tc_malloc",
        "tc_newarray",
        "mi_malloc",
        "mi_heap_malloc_small",
        "realloc.part.0"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        ck_assert_msg(hs_frame_classify(f, names[i]) == HS_FRAME_ALLOCATOR, "%s", names[i]);
    hs_frame_filter_free(f);
}
END_TEST

START_TEST(wrappers_are_wrappers)
{
    hs_frame_filter_t *f = defaults();
    static const char *const names[] = {"xmalloc",
                                        "xcalloc",
                                        "xrealloc",
                                        "xstrdup",
                                        "g_malloc",
                                        "g_malloc0",
                                        "g_malloc_n",
                                        "g_try_malloc",
                                        "g_realloc",
                                        "g_slice_alloc",
                                        "g_slice_alloc0",
                                        "zmalloc",
                                        "zmalloc_usable",
                                        "ztrymalloc_usable",
                                        "ztrymalloc_usable.constprop.0",
                                        "zcalloc",
                                        "zrealloc_usable",
                                        "ngx_alloc",
                                        "ngx_calloc",
                                        "ngx_memalign",
                                        "ngx_palloc",
                                        "ngx_palloc_small",
                                        "ngx_pnalloc",
                                        "ngx_pcalloc",
                                        "ngx_alloc.part.0",
                                        "PyMem_Malloc",
                                        "PyMem_RawMalloc",
                                        "_PyMem_RawMalloc",
                                        "PyObject_Malloc",
                                        "PyObject_Calloc",
                                        "PyObject_Realloc",
                                        "_PyObject_Malloc",
                                        "_PyObject_GC_Alloc",
                                        "os::malloc(unsigned long, MEMFLAGS, NativeCallStack const&)",
                                        "os::realloc",
                                        "sqlite3Malloc",
                                        "sqlite3MallocZero",
                                        "sqlite3DbMallocRaw",
                                        "sqlite3DbMallocZero",
                                        "CRYPTO_malloc",
                                        "CRYPTO_zalloc",
                                        "CRYPTO_realloc",
                                        "OPENSSL_zalloc",
                                        "apr_palloc",
                                        "apr_pcalloc",
                                        "uv__malloc",
                                        "node::UncheckedMalloc<char>(unsigned long)"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        ck_assert_msg(hs_frame_classify(f, names[i]) == HS_FRAME_WRAPPER, "%s", names[i]);
    hs_frame_filter_free(f);
}
END_TEST

START_TEST(own_code_is_kept)
{
    hs_frame_filter_t *f = defaults();
    static const char *const names[] = {"main",
                                        "createStringObject",
                                        "ngx_http_process_request",
                                        "remember_upload",
                                        "xmalloc_buffer",
                                        "my_malloc_stats",
                                        "PyDict_SetItem",
                                        "os::javaTimeMillis",
                                        "sqlite3VdbeExec",
                                        "mi_open",
                                        "tc_init",
                                        "std::vector<int, std::allocator<int> >::push_back(int const&)",
                                        "g_hash_table_insert",
                                        "zipmapSet",
                                        "(anonymous namespace)::Cache::put(int)",
                                        "",
                                        NULL};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        ck_assert_msg(hs_frame_classify(f, names[i]) == HS_FRAME_KEEP, "%s", names[i] ? names[i] : "NULL");
    /* The roots of every stack: one dropped there cuts the whole stack away
     * (pprof's rule, and the live site's). */
    static const char *const roots[] = {
        "__libc_start_main", "__libc_start_call_main", "__libc_start_main_impl", "_start", "start_thread", "__clone3"};
    for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++)
        ck_assert_msg(hs_frame_classify(f, roots[i]) == HS_FRAME_KEEP, "%s", roots[i]);
    hs_frame_filter_free(f);
}
END_TEST

START_TEST(simplify_is_pprofs)
{
    char out[128];
    ck_assert_str_eq(hs_frame_simplify("os::malloc(unsigned long)", 0, out, sizeof(out)), "os::malloc");
    ck_assert_str_eq(hs_frame_simplify("(anonymous namespace)::f(int)", 0, out, sizeof(out)),
                     "(anonymous namespace)::f");
    ck_assert_str_eq(hs_frame_simplify("Foo::operator()(int) const", 0, out, sizeof(out)), "Foo::operator()");
    ck_assert_str_eq(hs_frame_simplify(".main", 0, out, sizeof(out)), "main");
    ck_assert_str_eq(hs_frame_simplify("zmalloc.part.0", 0, out, sizeof(out)), "zmalloc.part.0");
    ck_assert_str_eq(hs_frame_simplify("zmalloc.part.0", 1, out, sizeof(out)), "zmalloc");
    ck_assert_str_eq(hs_frame_simplify("f.constprop.0.isra.0", 1, out, sizeof(out)), "f");
    ck_assert_str_eq(hs_frame_simplify("f.cold", 1, out, sizeof(out)), "f");
    ck_assert_str_eq(hs_frame_simplify("f.partial", 1, out, sizeof(out)), "f.partial");
    ck_assert_str_eq(hs_frame_simplify("abcdef", 0, out, 4), "abc");
}
END_TEST

START_TEST(user_drop_and_keep)
{
    char err[256];
    hs_frame_filter_t *f =
        hs_frame_filter_new(1, "my_alloc|pool_.*", "--drop-frames", "zmalloc", "--keep-frames", err, sizeof(err));
    ck_assert_msg(f != NULL, "%s", err);
    ck_assert_int_eq(hs_frame_classify(f, "my_alloc"), HS_FRAME_WRAPPER);
    ck_assert_int_eq(hs_frame_classify(f, "pool_get"), HS_FRAME_WRAPPER);
    ck_assert_int_eq(hs_frame_classify(f, "my_alloc_stats"), HS_FRAME_KEEP); /* anchored */
    ck_assert_int_eq(hs_frame_classify(f, "zmalloc"), HS_FRAME_KEEP);        /* kept */
    ck_assert_int_eq(hs_frame_classify(f, "zcalloc"), HS_FRAME_WRAPPER);
    ck_assert_int_eq(hs_frame_classify(f, "zmalloc.part.0"), HS_FRAME_KEEP);
    ck_assert_int_eq(hs_frame_filter_keeps(f, "zmalloc(unsigned long)"), 1);
    ck_assert_int_eq(hs_frame_filter_keeps(f, "zcalloc"), 0);
    /* pprof sees the clone suffix that classify strips: keep accepts it too */
    const char *keep = hs_frame_filter_pprof_keep(f);
    ck_assert_ptr_nonnull(keep);
    ck_assert_msg(strncmp(keep, "(zmalloc)", 9) == 0, "%s", keep);
    char anchored[512];
    snprintf(anchored, sizeof(anchored), "^(%s)$", keep);
    regex_t re;
    ck_assert_int_eq(regcomp(&re, anchored, REG_EXTENDED | REG_NOSUB), 0);
    ck_assert_int_eq(regexec(&re, "zmalloc", 0, NULL, 0), 0);
    ck_assert_int_eq(regexec(&re, "zmalloc.part.0", 0, NULL, 0), 0);
    ck_assert_int_ne(regexec(&re, "zmalloc_usable", 0, NULL, 0), 0);
    regfree(&re);
    hs_frame_filter_free(f);

    f = hs_frame_filter_new(0, NULL, NULL, NULL, NULL, err, sizeof(err));
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(hs_frame_classify(f, "malloc"), HS_FRAME_KEEP);
    ck_assert_ptr_null(hs_frame_filter_pprof_drop(f));
    ck_assert_ptr_null(hs_frame_filter_pprof_keep(f));
    hs_frame_filter_free(f);

    f = hs_frame_filter_new(1, "x(", "--drop-frames", NULL, NULL, err, sizeof(err));
    ck_assert_ptr_null(f);
    ck_assert_msg(strstr(err, "--drop-frames 'x(' is not a regular expression") == err, "%s", err);
    ck_assert_ptr_null(strchr(err, '\n'));
}
END_TEST

START_TEST(detected_wrappers_and_the_pprof_expression)
{
    hs_frame_filter_t *f = defaults();
    ck_assert_int_eq(hs_frame_classify(f, "new_node"), HS_FRAME_KEEP);
    ck_assert_int_eq(hs_frame_filter_add_wrapper(f, "new_node(int)"), 0);
    ck_assert_int_eq(hs_frame_filter_add_wrapper(f, "a.b*c"), 0);
    ck_assert_int_eq(hs_frame_filter_add_wrapper(f, "new_node"), 0); /* once */
    ck_assert_uint_eq(hs_frame_filter_wrapper_count(f), 2);
    ck_assert_str_eq(hs_frame_filter_wrapper_at(f, 0), "new_node");
    ck_assert_int_eq(hs_frame_classify(f, "new_node.part.0"), HS_FRAME_WRAPPER);
    ck_assert_int_eq(hs_frame_classify(f, "new_nodes"), HS_FRAME_KEEP);

    /* the expression pprof anchors itself: compile it the same way and
     * check it drops what the filter drops, and no more */
    const char *expr = hs_frame_filter_pprof_drop(f);
    ck_assert_ptr_nonnull(expr);
    char anchored[8192];
    snprintf(anchored, sizeof(anchored), "^(%s)$", expr);
    regex_t re;
    ck_assert_int_eq(regcomp(&re, anchored, REG_EXTENDED | REG_NOSUB), 0);
    static const struct {
        const char *name;
        int dropped;
    } cases[] = {
        {"malloc", 1}, {"zmalloc_usable", 1}, {"ngx_alloc.part.0", 1},   {"new_node", 1},       {"a.b*c", 1},
        {"axb*c", 0},  {"main", 0},           {"createStringObject", 0}, {"operator new[]", 1}, {"os::malloc", 1}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        ck_assert_msg((regexec(&re, cases[i].name, 0, NULL, 0) == 0) == cases[i].dropped, "%s", cases[i].name);
    regfree(&re);
    hs_frame_filter_free(f);
}
END_TEST

START_TEST(every_rule_compiles_alone)
{
    for (size_t i = 0; i < hs_frame_rule_count; i++) {
        char anchored[1024];
        snprintf(anchored, sizeof(anchored), "^(%s)$", hs_frame_rules[i].pattern);
        regex_t re;
        ck_assert_msg(regcomp(&re, anchored, REG_EXTENDED | REG_NOSUB) == 0, "%s", hs_frame_rules[i].pattern);
        regfree(&re);
        ck_assert_ptr_nonnull(hs_frame_rules[i].origin);
    }
}
END_TEST

/* docs/frames.md's table is hs_frame_rules, row for row ('|' escaped as
 * "\|" inside the code span). Run from the source tree, as run-tests.sh
 * does. */
START_TEST(the_documented_table_is_the_table)
{
    FILE *doc = fopen("docs/frames.md", "r");
    ck_assert_msg(doc != NULL, "docs/frames.md not found: run from the source tree");
    static char text[1 << 16];
    size_t len = fread(text, 1, sizeof(text) - 1, doc);
    fclose(doc);
    text[len] = '\0';
    size_t rows = 0;
    for (const char *p = text; (p = strstr(p, "` | ")) != NULL; p++)
        rows += strncmp(p, "` | allocator |\n", 15) == 0 || strncmp(p, "` | wrapper |\n", 13) == 0;
    for (size_t i = 0; i < hs_frame_rule_count; i++) {
        char row[2048];
        int n = snprintf(row, sizeof(row), "\n| %s | `", hs_frame_rules[i].origin);
        for (const char *c = hs_frame_rules[i].pattern; *c && n < (int)sizeof(row) - 40; c++) {
            if (*c == '|')
                row[n++] = '\\';
            row[n++] = *c;
        }
        snprintf(row + n, sizeof(row) - (size_t)n, "` | %s |\n",
                 hs_frame_rules[i].cls == HS_FRAME_ALLOCATOR ? "allocator" : "wrapper");
        ck_assert_msg(strstr(text, row) != NULL, "docs/frames.md lacks the row%s", row);
    }
    ck_assert_uint_eq(rows, hs_frame_rule_count);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("frames");
    TCase *tc = tcase_create("frames");
    tcase_add_test(tc, allocators_are_allocators);
    tcase_add_test(tc, wrappers_are_wrappers);
    tcase_add_test(tc, own_code_is_kept);
    tcase_add_test(tc, simplify_is_pprofs);
    tcase_add_test(tc, user_drop_and_keep);
    tcase_add_test(tc, detected_wrappers_and_the_pprof_expression);
    tcase_add_test(tc, every_rule_compiles_alone);
    tcase_add_test(tc, the_documented_table_is_the_table);
    suite_add_tcase(s, tc);
    return hs_run_suite(s);
}
