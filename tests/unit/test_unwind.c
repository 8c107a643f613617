/* test_unwind.c - heapscope's own stack walker (interposer/unwind.c) gives
 * the same return addresses as libunwind's unw_backtrace on the frames a
 * program has: deep recursion (rsp-based CFA), alloca and frame-pointer
 * functions (rbp-based CFA), libc callbacks (qsort), a thread's bottom
 * (clone's undefined return address), the skip range, a private stack
 * switch, after the cache is forgotten; and it gives up (-1, so the caller
 * uses libunwind) inside a signal handler, whose frame it does not model. */
#include <alloca.h>
#include <libunwind.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "altstack.h"
#include "run_suite.h"
#include "stackhash.h"
#include "unwind.h"

#define MAXF 200

typedef struct {
    uintptr_t ours[MAXF];
    void *theirs[MAXF];
    int n_ours, n_theirs;
} walk_t;

/* Both walks from the same function: their first entries are return
 * addresses into it (different calls), the rest must match. */
static uintptr_t skip_lo, skip_hi;

static __attribute__((noinline)) void walk_both(walk_t *w)
{
    w->n_ours = hs_unwind(w->ours, MAXF, skip_lo, skip_hi);
    w->n_theirs = unw_backtrace(w->theirs, MAXF);
    __asm__ volatile("" ::: "memory");
}

static void check_same(const walk_t *w, int min_depth)
{
    ck_assert_int_ge(w->n_ours, min_depth);
    ck_assert_int_eq(w->n_ours, w->n_theirs);
    for (int i = 1; i < w->n_ours; i++)
        ck_assert_msg(w->ours[i] == (uintptr_t)w->theirs[i], "frame %d: ours %#lx, libunwind %#lx", i,
                      (unsigned long)w->ours[i], (unsigned long)(uintptr_t)w->theirs[i]);
}

static __attribute__((noinline)) void recurse(walk_t *w, int left)
{
    if (left == 0)
        walk_both(w);
    else
        recurse(w, left - 1);
    __asm__ volatile("" ::: "memory"); /* not a tail call */
}

START_TEST(test_deep_recursion_matches_libunwind)
{
    walk_t w;
    recurse(&w, 100);
    check_same(&w, 100);
    hs_unwind_forget(); /* a new epoch: every rule is computed again */
    recurse(&w, 20);
    check_same(&w, 20);
}
END_TEST

/* alloca makes GCC keep rbp as the frame pointer: an rbp-based CFA. */
static __attribute__((noinline)) void with_alloca(walk_t *w, int n, int left)
{
    volatile char *buf = alloca((size_t)n);
    buf[0] = (char)left;
    if (left == 0)
        walk_both(w);
    else
        with_alloca(w, n + 16, left - 1);
    __asm__ volatile("" ::: "memory");
}

static __attribute__((noinline, optimize("no-omit-frame-pointer"))) void with_fp(walk_t *w, int left)
{
    if (left == 0)
        with_alloca(w, 32, 3);
    else
        with_fp(w, left - 1);
    __asm__ volatile("" ::: "memory");
}

START_TEST(test_frame_pointer_frames_match)
{
    walk_t w;
    with_fp(&w, 5);
    check_same(&w, 10);
}
END_TEST

/* A frame of more than 1 MiB ends the walk (a frame pointer that is not
 * one must not send a read beyond the stack): what is there is libunwind's. */
START_TEST(test_huge_frame_ends_the_walk)
{
    walk_t w;
    with_alloca(&w, 2 << 20, 1);
    ck_assert_int_ge(w.n_ours, 2);
    ck_assert_int_lt(w.n_ours, w.n_theirs);
    for (int i = 1; i < w.n_ours; i++)
        ck_assert(w.ours[i] == (uintptr_t)w.theirs[i]);
}
END_TEST

static walk_t *sort_walk;
static int sort_calls;
static int compare(const void *a, const void *b)
{
    if (sort_calls++ == 3)
        walk_both(sort_walk);
    return *(const int *)a - *(const int *)b;
}

START_TEST(test_through_libc_callbacks)
{
    walk_t w;
    int v[64];
    for (int i = 0; i < 64; i++)
        v[i] = (i * 37) % 64;
    sort_walk = &w;
    sort_calls = 0;
    qsort(v, 64, sizeof(v[0]), compare);
    check_same(&w, 4);
}
END_TEST

static void *thread_main(void *arg)
{
    recurse(arg, 7);
    return NULL;
}

START_TEST(test_thread_bottom_ends_the_walk)
{
    walk_t w;
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, thread_main, &w), 0);
    pthread_join(th, NULL);
    check_same(&w, 9);
}
END_TEST

/* The skip range drops frames (ours, in the interposer) but the walk goes
 * on through them. */
START_TEST(test_skip_range)
{
    walk_t w;
    recurse(&w, 5);
    check_same(&w, 6);
    uintptr_t r = w.ours[2]; /* the return address of recurse's own call */
    ck_assert(w.ours[3] == r && w.ours[4] == r);
    skip_lo = r;
    skip_hi = r + 1;
    recurse(&w, 5);
    skip_lo = skip_hi = 0;
    int j = 1;
    for (int i = 1; i < w.n_theirs; i++) {
        if ((uintptr_t)w.theirs[i] == r)
            continue;
        ck_assert_int_lt(j, w.n_ours);
        ck_assert(w.ours[j] == (uintptr_t)w.theirs[i]);
        j++;
    }
    ck_assert_int_eq(j, w.n_ours);
}
END_TEST

/* A walk that starts on a private stack comes back into the caller's frames
 * through hs_call_on_stack when its range is skipped (as the interposer's
 * own code is). */
static walk_t *alt_walk;
static void on_alt(void *arg)
{
    (void)arg;
    walk_both(alt_walk);
}

START_TEST(test_private_stack_switch)
{
    walk_t w;
    alt_walk = &w;
    void *top = hs_altstack_map(64 * 1024);
    ck_assert_ptr_nonnull(top);
    ck_assert_int_eq(hs_altstack_call(top, on_alt, NULL), 0);
    /* Without a skip range the switch frame may stop the walk (a frame
     * below its callee is not trusted); what it gives is libunwind's. */
    ck_assert_int_ge(w.n_ours, 2);
    ck_assert_int_le(w.n_ours, w.n_theirs);
    for (int i = 1; i < w.n_ours; i++)
        ck_assert(w.ours[i] == (uintptr_t)w.theirs[i]);
}
END_TEST

static volatile int handler_result = -2;
static void on_signal(int sig)
{
    (void)sig;
    uintptr_t f[MAXF];
    handler_result = hs_unwind(f, MAXF, 0, 0);
}

START_TEST(test_signal_frame_falls_back)
{
    hs_unwind_stats_t before, after;
    hs_unwind_stats(&before);
    signal(SIGUSR1, on_signal);
    raise(SIGUSR1);
    hs_unwind_stats(&after);
    ck_assert_int_eq(handler_result, -1);
    ck_assert_uint_eq(after.fallbacks, before.fallbacks + 1);
}
END_TEST

START_TEST(test_truncates_at_max)
{
    uintptr_t f[5];
    ck_assert_int_eq(hs_unwind(f, 5, 0, 0), 5);
    ck_assert_int_eq(hs_unwind(f, 0, 0, 0), 0);
}
END_TEST

/* The walk cache: a second walk from a different leaf joins the first one's
 * deep part and copies it; the result is what libunwind sees. */
static hs_walk_cache_t *cache_under_test;
static int same_flag;
static uint32_t walk_max = MAXF;
static int hashes_checked;
static __attribute__((noinline)) void walk_cached(walk_t *w)
{
    uint64_t hash;
    w->n_ours = hs_unwind_cached(w->ours, walk_max, 0, 0, cache_under_test, &same_flag, &hash);
    /* The hash the walk carried is the hash of what it wrote. */
    if (hash) {
        uint64_t h = HS_STACK_HASH_SEED;
        for (int i = w->n_ours; i-- > 0;)
            h = hs_stack_hash_step(h, w->ours[i]);
        ck_assert_uint_eq(hash, hs_stack_hash_finish(h, (uint32_t)w->n_ours));
        hashes_checked++;
    }
    w->n_theirs = unw_backtrace(w->theirs, MAXF);
    __asm__ volatile("" ::: "memory");
}
static __attribute__((noinline)) void leaf_a(walk_t *w)
{
    walk_cached(w);
    __asm__ volatile("" ::: "memory");
}
static __attribute__((noinline)) void leaf_b(walk_t *w)
{
    walk_cached(w);
    __asm__ volatile("" ::: "memory");
}
static __attribute__((noinline)) void cached_recurse(walk_t *w, int left, int which)
{
    if (left == 0) {
        if (which)
            leaf_b(w);
        else
            leaf_a(w);
    } else {
        cached_recurse(w, left - 1, which);
    }
    __asm__ volatile("" ::: "memory");
}

START_TEST(test_walk_cache_reuses_the_deep_part)
{
    static hs_walk_cache_t wc; /* zeroed: nothing to reuse */
    cache_under_test = &wc;
    /* One call site for every walk, so that only the leaf end differs. */
    static const struct {
        int depth, which, min_reused, same;
    } walks[] = {
        {40, 0, 0, 0},  /* nothing cached yet */
        {40, 1, 40, 0}, /* another leaf: the 40 frames below it are copied */
        {40, 1, 40, 1}, /* the same stack again */
        {45, 1, 40, 0}, /* deeper: the old walk is the new one's deep part */
        {30, 0, 30, 0}, /* shallower */
        {-1, 0, 0, 0},  /* forget: a new epoch, nothing is trusted */
        {30, 0, 0, 0},  {30, 0, 30, 1},
    };
    for (size_t i = 0; i < sizeof(walks) / sizeof(walks[0]); i++) {
        if (walks[i].depth < 0) {
            hs_unwind_forget();
            continue;
        }
        walk_t w;
        cached_recurse(&w, walks[i].depth, walks[i].which);
        check_same(&w, walks[i].depth);
        ck_assert_msg(wc.reused >= (uint32_t)walks[i].min_reused, "walk %zu reused %u", i, wc.reused);
        if (walks[i].min_reused == 0)
            ck_assert_uint_le(wc.reused, 8);
        ck_assert_int_eq(same_flag, walks[i].same);
    }
    ck_assert_int_ge(hashes_checked, 6);
}
END_TEST

/* A walk cut at max frames is reused only where it has the frames needed:
 * a shallower leaf needs deeper frames than the cut walk has. */
START_TEST(test_walk_cache_after_a_truncated_walk)
{
    static hs_walk_cache_t wc;
    cache_under_test = &wc;
    walk_max = 20;
    static const int depth[] = {30, 30, 25, 12, 40, 30};
    for (size_t i = 0; i < sizeof(depth) / sizeof(depth[0]); i++) {
        walk_t w;
        cached_recurse(&w, depth[i], (int)i % 2);
        ck_assert_int_eq(w.n_ours, 20);
        for (int f = 1; f < 20; f++)
            ck_assert_msg(w.ours[f] == (uintptr_t)w.theirs[f], "walk %zu frame %d", i, f);
    }
    walk_max = MAXF;
}
END_TEST

/* A walk from a frame noted earlier (hs_unwind_mark) by a caller that is
 * still running: what libunwind sees from that caller on, whatever ran
 * below it since (here: deeper calls on the same stack). */
static hs_walk_args_t marked;
static __attribute__((noinline)) void walk_from_mark(walk_t *w, int left)
{
    if (left > 0) {
        walk_from_mark(w, left - 1);
    } else {
        hs_walk_args_t a = marked;
        a.out = w->ours;
        a.max = MAXF;
        w->n_ours = hs_unwind_walk(&a);
    }
    __asm__ volatile("" ::: "memory");
}
static __attribute__((noinline)) void mark_then_go_deeper(walk_t *w)
{
    hs_unwind_mark(&marked);
    walk_from_mark(w, 6);
    w->n_theirs = unw_backtrace(w->theirs, MAXF);
    __asm__ volatile("" ::: "memory");
}

START_TEST(test_walk_from_a_marked_frame)
{
    walk_t w;
    mark_then_go_deeper(&w);
    /* Both start in mark_then_go_deeper (at different calls): the rest is
     * the same frames. */
    check_same(&w, 3);
}
END_TEST

static Suite *unwind_suite(void)
{
    Suite *s = suite_create("unwind");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_deep_recursion_matches_libunwind);
    tcase_add_test(tc, test_frame_pointer_frames_match);
    tcase_add_test(tc, test_huge_frame_ends_the_walk);
    tcase_add_test(tc, test_through_libc_callbacks);
    tcase_add_test(tc, test_thread_bottom_ends_the_walk);
    tcase_add_test(tc, test_skip_range);
    tcase_add_test(tc, test_private_stack_switch);
    tcase_add_test(tc, test_signal_frame_falls_back);
    tcase_add_test(tc, test_truncates_at_max);
    tcase_add_test(tc, test_walk_cache_reuses_the_deep_part);
    tcase_add_test(tc, test_walk_cache_after_a_truncated_walk);
    tcase_add_test(tc, test_walk_from_a_marked_frame);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    hs_unwind_init();
    return hs_run_suite(unwind_suite());
}
