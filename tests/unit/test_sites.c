/* test_sites.c - the site rule (analyzer/sites.c, hs_site_choose): pprof's
 * drop_frames cut, the preference for the program's own code, the wrapper
 * named by "via", and, over thousands of random stacks, the same leaf as a
 * line-by-line port of pprof's Prune (profile/prune.go), the oracle. Also the
 * names: "function (file:line) via wrapper" and module+offset without lines. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs_frames.h"
#include "run_suite.h"
#include "sites.h"

enum { K = HS_FRAME_KEEP, A = HS_FRAME_ALLOCATOR, W = HS_FRAME_WRAPPER };

/* A logical frame: name, physical frame, class, own code. */
static hs_site_frame_t lf(const char *name, uint32_t frame, int cls, int own)
{
    return (hs_site_frame_t){name, NULL, 0, frame, 0x1000 + frame, 0, 1, (uint8_t)own, (uint8_t)cls, 0};
}

/* Marks each physical frame's last line as its outermost. */
static void finish(hs_site_frame_t *f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        f[i].outermost = i + 1 == n || f[i + 1].frame != f[i].frame;
}

static hs_site_choice_t choose(hs_site_frame_t *f, size_t n)
{
    finish(f, n);
    hs_site_choice_t c;
    hs_site_choose(f, n, &c);
    return c;
}

START_TEST(wrapper_chain_is_cut_at_the_outermost)
{
    /* redis: ztrymalloc_usable <- zmalloc_usable <- createStringObject <- main */
    hs_site_frame_t f[] = {lf("ztrymalloc_usable", 0, W, 1), lf("zmalloc_usable", 1, W, 1),
                           lf("createStringObject", 2, K, 1), lf("main", 3, K, 1)};
    hs_site_choice_t c = choose(f, 4);
    ck_assert_int_eq(c.leaf, 2);
    ck_assert_int_eq(c.site, 2);
    ck_assert_int_eq(c.via, 1);
}
END_TEST

START_TEST(allocator_frames_give_no_via)
{
    /* operator new <- user_fn <- main: the site called the allocator */
    hs_site_frame_t f[] = {lf("operator new", 0, A, 0), lf("user_fn", 1, K, 1), lf("main", 2, K, 1)};
    hs_site_choice_t c = choose(f, 3);
    ck_assert_int_eq(c.site, 1);
    ck_assert_int_eq(c.via, -1);
    /* a wrapper reached through operator new is still the one named */
    hs_site_frame_t g[] = {lf("operator new", 0, A, 0), lf("pool_get", 1, W, 1), lf("user_fn", 2, K, 1)};
    c = choose(g, 3);
    ck_assert_int_eq(c.site, 2);
    ck_assert_int_eq(c.via, 1);
}
END_TEST

START_TEST(inlined_wrapper_trims_the_location)
{
    /* one physical frame: zmalloc inlined into createObject */
    hs_site_frame_t f[] = {lf("zmalloc", 0, W, 1), lf("createObject", 0, K, 1), lf("main", 1, K, 1)};
    hs_site_choice_t c = choose(f, 3);
    ck_assert_int_eq(c.leaf, 1);
    ck_assert_int_eq(c.site, 1);
    ck_assert_int_eq(c.via, 0);
    /* the wrapper is the location's outermost line: the whole location goes */
    hs_site_frame_t g[] = {lf("helper", 0, K, 1), lf("xmalloc", 0, W, 1), lf("caller", 1, K, 1), lf("main", 2, K, 1)};
    c = choose(g, 4);
    ck_assert_int_eq(c.leaf, 2);
    ck_assert_int_eq(c.site, 2);
    ck_assert_int_eq(c.via, 1);
    /* a single location, trimmed but not cut (no user location above it) */
    hs_site_frame_t h[] = {lf("xmalloc", 0, W, 1), lf("f", 0, K, 1)};
    c = choose(h, 2);
    ck_assert_int_eq(c.leaf, 1);
    ck_assert_int_eq(c.site, 1);
    ck_assert_int_eq(c.via, 0);
}
END_TEST

START_TEST(everything_dropped_keeps_the_stack)
{
    hs_site_frame_t f[] = {lf("xmalloc", 0, W, 1), lf("xstrdup", 1, W, 1), lf("g_malloc", 2, W, 0)};
    hs_site_choice_t c = choose(f, 3);
    ck_assert_int_eq(c.leaf, 0);
    ck_assert_int_eq(c.site, 0);
    ck_assert_int_eq(c.via, -1);
    /* nothing cut and the leaf dropped: the first frame pprof still shows
     * that is not dropped (not a line it trimmed from its location) */
    hs_site_frame_t t[] = {lf("xmalloc", 0, W, 1), lf("trimmed", 1, K, 1), lf("pool_get", 1, W, 1),
                           lf("outer", 1, K, 1)};
    c = choose(t, 4);
    ck_assert_int_eq(c.leaf, 0);
    ck_assert_int_eq(c.site, 3);
    /* dropped frames at the root, before any user frame, are not a cut */
    hs_site_frame_t g[] = {lf("work", 0, K, 1), lf("pool_run", 1, W, 1)};
    c = choose(g, 2);
    ck_assert_int_eq(c.leaf, 0);
    ck_assert_int_eq(c.site, 0);
}
END_TEST

START_TEST(first_dropped_frame_from_the_root_cuts)
{
    /* pprof cuts beneath the first dropped frame counted from the root,
     * even when user code lies beneath it */
    hs_site_frame_t f[] = {lf("leaf_user", 0, K, 1), lf("xmalloc", 1, W, 1), lf("caller", 2, K, 1),
                           lf("main", 3, K, 1)};
    hs_site_choice_t c = choose(f, 4);
    ck_assert_int_eq(c.leaf, 2);
    ck_assert_int_eq(c.site, 2);
    ck_assert_int_eq(c.via, 1);
}
END_TEST

START_TEST(own_code_is_preferred_and_system_is_the_fallback)
{
    /* libstdc++: operator new <- _M_realloc_insert (a system header) <- user_fn */
    hs_site_frame_t f[] = {lf("operator new", 0, A, 0), lf("_M_realloc_insert", 1, K, 0), lf("user_fn", 2, K, 1),
                           lf("main", 3, K, 1)};
    hs_site_choice_t c = choose(f, 4);
    ck_assert_int_eq(c.leaf, 1);
    ck_assert_int_eq(c.site, 2);
    ck_assert_int_eq(c.via, -1); /* the site called _M_realloc_insert, no wrapper */
    /* java: everything in /usr/lib: the first frame not dropped, not frame 0 */
    hs_site_frame_t g[] = {lf("os::malloc", 0, W, 0), lf("AllocateHeap", 1, W, 0), lf("Arena::grow", 2, K, 0),
                           lf("JavaThread::run", 3, K, 0)};
    c = choose(g, 4);
    ck_assert_int_eq(c.leaf, 2);
    ck_assert_int_eq(c.site, 2);
    ck_assert_int_eq(c.via, 1);
    /* a dropped frame above the leaf is never preferred */
    hs_site_frame_t h[] = {lf("g_malloc", 0, W, 0), lf("g_hash_table_insert", 1, K, 0), lf("xstrdup", 2, W, 1),
                           lf("main", 3, K, 1)};
    c = choose(h, 4);
    ck_assert_int_eq(c.leaf, 3);
    ck_assert_int_eq(c.site, 3);
    ck_assert_int_eq(c.via, 2);
}
END_TEST

START_TEST(empty_stack)
{
    hs_site_choice_t c;
    hs_site_choose(NULL, 0, &c);
    ck_assert_int_eq(c.leaf, -1);
    ck_assert_int_eq(c.site, -1);
    ck_assert_int_eq(c.via, -1);
}
END_TEST

/* ---- the oracle: prune.go, line by line ------------------------------------ */

#define MAXLOC 8
#define MAXLINE 3

typedef struct {
    int nlines;
    int dropped[MAXLINE]; /* per line, innermost first */
    int first;            /* index of its first line in the logical frames */
} loc_t;

/* Returns the index (into the logical frames) of the leaf pprof shows. */
static int prune_leaf(loc_t *locs, int nlocs)
{
    int prune[MAXLOC] = {0}, beneath[MAXLOC] = {0}, start[MAXLOC];
    for (int l = 0; l < nlocs; l++) {
        start[l] = 0;
        int i;
        for (i = locs[l].nlines - 1; i >= 0; i--)
            if (locs[l].dropped[i])
                break;
        if (i >= 0) {
            beneath[l] = 1;
            if (i == locs[l].nlines - 1)
                prune[l] = 1;
            else
                start[l] = i + 1; /* loc.Line = loc.Line[i+1:] */
        }
    }
    int first_loc = 0, found_user = 0;
    for (int i = nlocs - 1; i >= 0; i--) {
        if (!prune[i] && !beneath[i]) {
            found_user = 1;
            continue;
        }
        if (!found_user)
            continue;
        if (prune[i]) {
            first_loc = i + 1;
            break;
        }
        if (beneath[i]) {
            first_loc = i;
            break;
        }
    }
    return locs[first_loc].first + start[first_loc];
}

START_TEST(same_leaf_as_prune_go)
{
    unsigned seed = 12345;
    for (int iter = 0; iter < 20000; iter++) {
        loc_t locs[MAXLOC];
        hs_site_frame_t f[MAXLOC * MAXLINE];
        char names[MAXLOC * MAXLINE][8];
        size_t n = 0;
        seed = seed * 1103515245u + 12345u;
        int nlocs = 1 + (int)((seed >> 16) % MAXLOC);
        for (int l = 0; l < nlocs; l++) {
            seed = seed * 1103515245u + 12345u;
            locs[l].nlines = 1 + (int)((seed >> 16) % MAXLINE);
            locs[l].first = (int)n;
            for (int i = 0; i < locs[l].nlines; i++) {
                seed = seed * 1103515245u + 12345u;
                int r = (int)((seed >> 16) % 10);
                int cls = r < 6 ? K : r < 8 ? W : A;
                locs[l].dropped[i] = cls != K;
                snprintf(names[n], sizeof(names[n]), "f%zu", n);
                f[n] = lf(names[n], (uint32_t)l, cls, 1);
                n++;
            }
        }
        finish(f, n);
        hs_site_choice_t c;
        hs_site_choose(f, n, &c);
        ck_assert_msg(c.leaf == prune_leaf(locs, nlocs), "iteration %d: leaf %d, prune.go %d", iter, c.leaf,
                      prune_leaf(locs, nlocs));
        /* every frame is own code: the site is the leaf; when the leaf is
         * dropped (nothing was cut: no location without a dropped line),
         * the first frame not dropped that pprof still shows, if any */
        if (f[c.leaf].cls == K) {
            ck_assert_int_eq(c.site, c.leaf);
        } else if (c.site != c.leaf) {
            ck_assert_int_gt(c.site, c.leaf);
            ck_assert_int_eq(f[c.site].cls, K);
        }
        if (c.via >= 0)
            ck_assert_int_eq(f[c.via].cls, W);
    }
}
END_TEST

/* ---- names -------------------------------------------------------------------- */

START_TEST(site_names)
{
    char buf[256];
    hs_site_t w = {"createStringObject", "/src/object.c", 123, 2, "zmalloc_usable", "redis-server", 0x4a2f0};
    ck_assert_str_eq(hs_site_describe(&w, buf, sizeof(buf)),
                     "createStringObject (/src/object.c:123) via zmalloc_usable");
    w.file = NULL;
    w.line = 0;
    ck_assert_str_eq(hs_site_describe(&w, buf, sizeof(buf)),
                     "createStringObject (redis-server+0x4a2f0) via zmalloc_usable");
    w.via = NULL;
    ck_assert_str_eq(hs_site_describe(&w, buf, sizeof(buf)), "createStringObject (redis-server+0x4a2f0)");
    /* an unsymbolized frame is already named by its offset */
    hs_site_t u = {"redis-server+0x4a2f0", NULL, 0, 0, NULL, "redis-server", 0x4a2f0};
    ck_assert_str_eq(hs_site_describe(&u, buf, sizeof(buf)), "redis-server+0x4a2f0");
    u.via = "ngx_alloc";
    ck_assert_str_eq(hs_site_describe(&u, buf, sizeof(buf)), "redis-server+0x4a2f0 via ngx_alloc");
    ck_assert_str_eq(hs_site_location(&u, buf, sizeof(buf)), "?");
    /* no symbol, but the call-frame information's range: the function's
     * start names it, the call's pc says where (objdump --start-address,
     * addr2line) */
    hs_site_t r = {"git+0x2896c0", NULL, 0, 0, "git+0x289900", "git", 0x289718};
    ck_assert_str_eq(hs_site_describe(&r, buf, sizeof(buf)), "git+0x2896c0 (git+0x289718) via git+0x289900");
    ck_assert_str_eq(hs_site_location(&r, buf, sizeof(buf)), "git+0x289718");
    hs_site_t q = {"?", NULL, 0, 0, NULL, NULL, 0};
    ck_assert_str_eq(hs_site_location(&q, buf, sizeof(buf)), "?");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sites");
    TCase *tc = tcase_create("sites");
    tcase_add_test(tc, wrapper_chain_is_cut_at_the_outermost);
    tcase_add_test(tc, allocator_frames_give_no_via);
    tcase_add_test(tc, inlined_wrapper_trims_the_location);
    tcase_add_test(tc, everything_dropped_keeps_the_stack);
    tcase_add_test(tc, first_dropped_frame_from_the_root_cuts);
    tcase_add_test(tc, own_code_is_preferred_and_system_is_the_fallback);
    tcase_add_test(tc, empty_stack);
    tcase_add_test(tc, same_leaf_as_prune_go);
    tcase_add_test(tc, site_names);
    suite_add_tcase(s, tc);
    return hs_run_suite(s);
}
