/* test_wrappers.c - detection of allocation wrappers nobody listed
 * (analyzer/wrappers.c) over synthetic stacks: each rule of wrappers.h
 * accepts the wrapper it should and refuses the function that breaks it, a
 * wrapper of a wrapper is found in the next round, --keep-frames wins,
 * code without symbols takes part by its call-frame range (not by its
 * bare pc), and the list the reports print. */
#include <check.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "hs_frames.h"
#include "run_suite.h"
#include "wrappers.h"

static hs_frame_filter_t *filter(const char *keep)
{
    char err[256];
    hs_frame_filter_t *f = hs_frame_filter_new(1, NULL, NULL, keep, "--keep-frames", err, sizeof(err));
    ck_assert_msg(f != NULL, "%s", err);
    return f;
}

/* A stack from names, leaf first, one physical frame each; "name@line"
 * gives the frame's line (default 10), "?name" an unsymbolized one named by
 * its pc, "~name" an unsymbolized one named by its call-frame range
 * ("prog+0x1200": no file, no line; its pc is 0x1000 + its depth). */
typedef struct {
    hs_site_frame_t f[16];
    char names[16][64];
    size_t n;
} fake_stack_t;

static void make(fake_stack_t *s, hs_frame_filter_t *filter_, ...)
{
    va_list ap;
    va_start(ap, filter_);
    s->n = 0;
    for (const char *name; (name = va_arg(ap, const char *)) != NULL;) {
        int symbolized = name[0] != '?' && name[0] != '~', ranged = name[0] == '~';
        if (!symbolized)
            name++;
        const char *at = strchr(name, '@');
        size_t len = at ? (size_t)(at - name) : strlen(name);
        memcpy(s->names[s->n], name, len);
        s->names[s->n][len] = '\0';
        uint32_t line = at ? (uint32_t)atoi(at + 1) : 10;
        s->f[s->n] = (hs_site_frame_t){s->names[s->n],
                                       "/src/app.c",
                                       line,
                                       (uint32_t)s->n,
                                       0x1000 + s->n,
                                       1,
                                       (uint8_t)symbolized,
                                       1,
                                       (uint8_t)hs_frame_classify(filter_, s->names[s->n]),
                                       (uint8_t)ranged};
        if (!symbolized) {
            s->f[s->n].file = NULL;
            s->f[s->n].line = 0;
        }
        s->n++;
    }
    va_end(ap);
}

/* One round over the stacks; returns the detected names joined by ','. */
static const char *round_of(hs_frame_filter_t *f, fake_stack_t *stacks, size_t n, const uint64_t *samples, char *out,
                            size_t len)
{
    hs_wrapper_scan_t *w = hs_wrapper_scan_new();
    ck_assert_ptr_nonnull(w);
    for (size_t i = 0; i < n; i++) {
        /* reclassify: an earlier round may have added wrappers */
        for (size_t k = 0; k < stacks[i].n; k++)
            stacks[i].f[k].cls = (uint8_t)hs_frame_classify(f, stacks[i].f[k].function);
        ck_assert_int_eq(hs_wrapper_scan_stack(w, stacks[i].f, stacks[i].n, samples ? samples[i] : 1), 0);
    }
    size_t before = hs_frame_filter_wrapper_count(f);
    ck_assert_int_ge(hs_wrapper_scan_finish(w, HS_WRAPPERS_MIN_CALLERS, f), 0);
    hs_wrapper_scan_free(w);
    out[0] = '\0';
    for (size_t i = before; i < hs_frame_filter_wrapper_count(f); i++) {
        if (out[0])
            strncat(out, ",", len - strlen(out) - 1);
        strncat(out, hs_frame_filter_wrapper_at(f, i), len - strlen(out) - 1);
    }
    return out;
}

START_TEST(a_wrapper_with_callers_is_found)
{
    hs_frame_filter_t *f = filter(NULL);
    fake_stack_t s[5];
    make(&s[0], f, "app_alloc", "remember_session", "main", NULL);
    make(&s[1], f, "app_alloc", "parse_header", "main", NULL);
    make(&s[2], f, "app_alloc", "build_reply", "serve", "main", NULL);
    make(&s[3], f, "app_alloc", "queue_event", "main", NULL);
    /* a listed allocator beneath it does not matter */
    make(&s[4], f, "strdup", "app_alloc", "parse_header", "main", NULL);
    char out[256];
    ck_assert_str_eq(round_of(f, s, 5, NULL, out, sizeof(out)), "app_alloc");
    hs_frame_filter_free(f);
}
END_TEST

START_TEST(two_callers_are_not_enough)
{
    hs_frame_filter_t *f = filter(NULL);
    fake_stack_t s[3];
    make(&s[0], f, "helper", "a", "main", NULL);
    make(&s[1], f, "helper", "b", "main", NULL);
    make(&s[2], f, "helper", "b", "other", NULL); /* b again: still two callers */
    char out[256];
    ck_assert_str_eq(round_of(f, s, 3, NULL, out, sizeof(out)), "");
    /* unsymbolized callers are not counted: their names are addresses */
    make(&s[2], f, "helper", "?prog+0x1234", "main", NULL);
    ck_assert_str_eq(round_of(f, s, 3, NULL, out, sizeof(out)), "");
    hs_frame_filter_free(f);
}
END_TEST

START_TEST(two_call_sites_are_no_wrapper)
{
    hs_frame_filter_t *f = filter(NULL);
    fake_stack_t s[3];
    make(&s[0], f, "make_pair@20", "a", NULL);
    make(&s[1], f, "make_pair@21", "b", NULL);
    make(&s[2], f, "make_pair@20", "c", NULL);
    char out[256];
    ck_assert_str_eq(round_of(f, s, 3, NULL, out, sizeof(out)), "");
    hs_frame_filter_free(f);
}
END_TEST

START_TEST(calling_something_else_that_allocates_is_no_wrapper)
{
    hs_frame_filter_t *f = filter(NULL);
    fake_stack_t s[4];
    make(&s[0], f, "node_new", "a", NULL);
    make(&s[1], f, "node_new", "b", NULL);
    make(&s[2], f, "node_new", "c", NULL);
    /* node_new deeper in a stack, above another allocating function */
    make(&s[3], f, "list_grow", "node_new", "d", NULL);
    char out[256];
    ck_assert_str_eq(round_of(f, s, 4, NULL, out, sizeof(out)), "");
    /* recursion too: F above itself */
    make(&s[3], f, "node_new", "node_new", "d", NULL);
    ck_assert_str_eq(round_of(f, s, 4, NULL, out, sizeof(out)), "");
    /* without that stack it is one */
    ck_assert_str_eq(round_of(f, s, 3, NULL, out, sizeof(out)), "node_new");
    hs_frame_filter_free(f);
}
END_TEST

START_TEST(callers_must_share_the_allocations)
{
    hs_frame_filter_t *f = filter(NULL);
    fake_stack_t s[3];
    make(&s[0], f, "get_buf", "hot_path", NULL);
    make(&s[1], f, "get_buf", "init_a", NULL);
    make(&s[2], f, "get_buf", "init_b", NULL);
    uint64_t rare[3] = {10000, 1, 1}, shared[3] = {10000, 200, 150};
    char out[256];
    ck_assert_str_eq(round_of(f, s, 3, rare, out, sizeof(out)), "");
    ck_assert_str_eq(round_of(f, s, 3, shared, out, sizeof(out)), "get_buf");
    hs_frame_filter_free(f);
}
END_TEST

START_TEST(a_wrapper_of_a_wrapper_in_the_next_round)
{
    hs_frame_filter_t *f = filter(NULL);
    fake_stack_t s[7];
    make(&s[0], f, "app_alloc", "a", NULL);
    make(&s[1], f, "app_alloc", "b", NULL);
    make(&s[2], f, "app_alloc", "c", NULL);
    make(&s[3], f, "app_alloc", "app_strdup", "tag_request", NULL);
    make(&s[4], f, "app_alloc", "app_strdup", "name_peer", NULL);
    make(&s[5], f, "app_alloc", "app_strdup", "copy_path", NULL);
    /* a listed wrapper's caller is not a candidate's caller */
    make(&s[6], f, "xmalloc", "log_line", NULL);
    char out[256];
    ck_assert_str_eq(round_of(f, s, 7, NULL, out, sizeof(out)), "app_alloc");
    ck_assert_str_eq(round_of(f, s, 7, NULL, out, sizeof(out)), "app_strdup");
    ck_assert_str_eq(round_of(f, s, 7, NULL, out, sizeof(out)), "");
    char list[64];
    ck_assert_str_eq(hs_wrappers_list(f, list, sizeof(list)), "app_alloc, app_strdup");
    ck_assert_str_eq(hs_wrappers_list(f, list, 16), "app_alloc, ...");
    ck_assert_str_eq(hs_wrappers_list(f, list, 1), "");
    hs_frame_filter_free(f);
}
END_TEST

START_TEST(keep_frames_wins)
{
    hs_frame_filter_t *f = filter("app_.*");
    fake_stack_t s[3];
    make(&s[0], f, "app_alloc", "a", NULL);
    make(&s[1], f, "app_alloc", "b", NULL);
    make(&s[2], f, "app_alloc", "c", NULL);
    char out[256];
    ck_assert_str_eq(round_of(f, s, 3, NULL, out, sizeof(out)), "");
    ck_assert_uint_eq(hs_frame_filter_wrapper_count(f), 0);
    hs_frame_filter_free(f);
}
END_TEST

START_TEST(no_line_table_compares_addresses)
{
    hs_frame_filter_t *f = filter(NULL);
    fake_stack_t s[3];
    make(&s[0], f, "zz_alloc", "a", NULL);
    make(&s[1], f, "zz_alloc", "b", NULL);
    make(&s[2], f, "zz_alloc", "c", NULL);
    for (int i = 0; i < 3; i++) {
        s[i].f[0].file = NULL;
        s[i].f[0].line = 0;
        s[i].f[0].pc = 0x4000;
    }
    char out[256];
    ck_assert_str_eq(round_of(f, s, 3, NULL, out, sizeof(out)), "zz_alloc");
    hs_frame_filter_free(f);
    f = filter(NULL);
    s[2].f[0].pc = 0x4008; /* a second call instruction */
    ck_assert_str_eq(round_of(f, s, 3, NULL, out, sizeof(out)), "");
    hs_frame_filter_free(f);
}
END_TEST

START_TEST(code_without_symbols_counts_by_range)
{
    hs_frame_filter_t *f = filter(NULL);
    fake_stack_t s[6];
    /* git's xmalloc, stripped: one return address, three callers of which
     * two are unnamed too */
    make(&s[0], f, "~git+0x2896c0", "~git+0x19c590", "main", NULL);
    make(&s[1], f, "~git+0x2896c0", "~git+0x1235b0", "main", NULL);
    make(&s[2], f, "~git+0x2896c0", "cmd_fsck", "main", NULL);
    /* the same caller function from another call instruction: one caller */
    make(&s[3], f, "~git+0x2896c0", "~git+0x19c590", "run", NULL);
    char out[256];
    ck_assert_str_eq(round_of(f, s, 4, NULL, out, sizeof(out)), "git+0x2896c0");
    /* and a wrapper of it, unnamed, in the next round */
    make(&s[0], f, "~git+0x2896c0", "~git+0x24dba0", "~git+0x19c590", NULL);
    make(&s[1], f, "~git+0x2896c0", "~git+0x24dba0", "~git+0x1235b0", NULL);
    make(&s[2], f, "~git+0x2896c0", "~git+0x24dba0", "cmd_fsck", NULL);
    ck_assert_str_eq(round_of(f, s, 3, NULL, out, sizeof(out)), "git+0x24dba0");
    ck_assert_int_eq(hs_frame_classify(f, "git+0x24dba0"), HS_FRAME_WRAPPER);
    hs_frame_filter_free(f);

    /* callers named by their bare pc do not count: one function would
     * count once per call instruction */
    f = filter(NULL);
    make(&s[0], f, "~git+0x2896c0", "?git+0x19c5f1", "main", NULL);
    make(&s[1], f, "~git+0x2896c0", "?git+0x19c612", "main", NULL);
    make(&s[2], f, "~git+0x2896c0", "?git+0x19c640", "main", NULL);
    ck_assert_str_eq(round_of(f, s, 3, NULL, out, sizeof(out)), "");
    /* nor is a function named by its bare pc a candidate */
    make(&s[0], f, "?git+0x289718", "a", NULL);
    make(&s[1], f, "?git+0x289718", "b", NULL);
    make(&s[2], f, "?git+0x289718", "c", NULL);
    ck_assert_str_eq(round_of(f, s, 3, NULL, out, sizeof(out)), "");
    hs_frame_filter_free(f);

    /* a ranged function is held to rule (b) by its return addresses */
    f = filter(NULL);
    make(&s[0], f, "~prog+0x1200", "a", NULL);
    make(&s[1], f, "~prog+0x1200", "b", NULL);
    make(&s[2], f, "~prog+0x1200", "c", NULL);
    s[2].f[0].pc = 0x1040; /* a second call instruction in the range */
    ck_assert_str_eq(round_of(f, s, 3, NULL, out, sizeof(out)), "");
    /* and to rule (a): above something else that allocates */
    s[2].f[0].pc = 0x1000;
    make(&s[3], f, "list_grow", "~prog+0x1200", "d", NULL);
    ck_assert_str_eq(round_of(f, s, 4, NULL, out, sizeof(out)), "");
    ck_assert_str_eq(round_of(f, s, 3, NULL, out, sizeof(out)), "prog+0x1200");
    hs_frame_filter_free(f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("wrappers");
    TCase *tc = tcase_create("wrappers");
    tcase_add_test(tc, a_wrapper_with_callers_is_found);
    tcase_add_test(tc, two_callers_are_not_enough);
    tcase_add_test(tc, two_call_sites_are_no_wrapper);
    tcase_add_test(tc, calling_something_else_that_allocates_is_no_wrapper);
    tcase_add_test(tc, callers_must_share_the_allocations);
    tcase_add_test(tc, a_wrapper_of_a_wrapper_in_the_next_round);
    tcase_add_test(tc, keep_frames_wins);
    tcase_add_test(tc, no_line_table_compares_addresses);
    tcase_add_test(tc, code_without_symbols_counts_by_range);
    suite_add_tcase(s, tc);
    return hs_run_suite(s);
}
