/* test_tables.c - the lock-free tables on their own and with threads
 * hammering them: the free filter never forgets a live address, the live
 * table matches blocks freed by other threads, stacks are deduplicated
 * exactly once under contention, and counters add up. */
#include <check.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "tables.h"
#include "run_suite.h"

static void setup(void)
{
    static int mapped;
    if (!mapped) {
        ck_assert_int_eq(hs_tables_init(524288), 0);
        mapped = 1;
    }
    hs_tables_reset_for_tests();
}

static void *fake_addr(uint64_t i) { return (void *)(uintptr_t)(0x7f0000001000ull + i * 48); }

START_TEST(live_insert_find_remove)
{
    uint32_t id;
    uint64_t size;
    ck_assert_int_eq(hs_live_insert(fake_addr(1), 7, 100), 0);
    ck_assert_int_eq(hs_live_insert(fake_addr(2), 8, 1ull << 33), 0);
    ck_assert_int_eq(hs_live_remove(fake_addr(3), &id, &size), 0);
    ck_assert_int_eq(hs_live_remove(fake_addr(2), &id, &size), 1);
    ck_assert_uint_eq(id, 8);
    ck_assert_uint_eq(size, 1ull << 33);
    ck_assert_int_eq(hs_live_remove(fake_addr(2), &id, &size), 0);
    ck_assert_int_eq(hs_live_remove(fake_addr(1), &id, &size), 1);
    ck_assert_uint_eq(id, 7);
    ck_assert_uint_eq(size, 100);
    /* Sizes beyond the 40-bit field are clamped, not wrapped. */
    ck_assert_int_eq(hs_live_insert(fake_addr(4), 1, UINT64_MAX), 0);
    ck_assert_int_eq(hs_live_remove(fake_addr(4), &id, &size), 1);
    ck_assert_uint_eq(size, HS_LIVE_MAX_SIZE);
}
END_TEST

START_TEST(live_table_reuses_tombstones_and_reports_full)
{
    uint32_t id;
    uint64_t size;
    /* Churn far more blocks than the table holds: tombstones get reused. */
    size_t cap = hs_live_capacity();
    for (uint64_t round = 0; round < 8; round++)
        for (uint64_t i = 0; i < cap / 2; i++) {
            void *p = fake_addr(round * cap + i);
            ck_assert_int_eq(hs_live_insert(p, 1, i), 0);
            ck_assert_int_eq(hs_live_remove(p, &id, &size), 1);
            ck_assert_uint_eq(size, i);
        }
    /* Filling it completely: inserts fail (a lost sample), never hang. */
    uint64_t ok = 0, failed = 0;
    for (uint64_t i = 0; i < cap + 1000; i++) {
        if (hs_live_insert(fake_addr(1000000000 + i), 1, 1) == 0)
            ok++;
        else
            failed++;
    }
    ck_assert_uint_gt(failed, 0);
    ck_assert_uint_le(ok, cap);
    ck_assert_uint_gt(ok, cap / 2);
}
END_TEST

START_TEST(filter_has_no_false_negatives)
{
    for (uint64_t i = 0; i < 100000; i++)
        hs_filter_add(fake_addr(i));
    for (uint64_t i = 0; i < 100000; i++)
        ck_assert(hs_filter_might_contain(fake_addr(i)));
    for (uint64_t i = 0; i < 100000; i += 2)
        hs_filter_remove(fake_addr(i));
    for (uint64_t i = 1; i < 100000; i += 2)
        ck_assert(hs_filter_might_contain(fake_addr(i)));
    for (uint64_t i = 1; i < 100000; i += 2)
        hs_filter_remove(fake_addr(i));
    /* All removed: the filter is empty again except NULL's pinned slot. */
    uint64_t hits = 0;
    for (uint64_t i = 0; i < 100000; i++)
        hits += (uint64_t)hs_filter_might_contain(fake_addr(i));
    ck_assert_uint_le(hits, 2);
    ck_assert(hs_filter_might_contain(NULL));
    /* Saturation: 300 blocks on one slot, then 299 removed: still a hit. */
    void *p = fake_addr(5);
    for (int i = 0; i < 300; i++)
        hs_filter_add(p);
    for (int i = 0; i < 299; i++)
        hs_filter_remove(p);
    ck_assert(hs_filter_might_contain(p));
}
END_TEST

START_TEST(stacks_are_deduplicated)
{
    uintptr_t a[3] = {0x1000, 0x2000, 0x3000}, b[3] = {0x1000, 0x2000, 0x3001};
    hs_stack_t *sa = hs_stack_intern(a, 3), *sb = hs_stack_intern(b, 3);
    ck_assert_ptr_nonnull(sa);
    ck_assert_ptr_nonnull(sb);
    ck_assert_ptr_ne(sa, sb);
    ck_assert_ptr_eq(hs_stack_intern(a, 3), sa);
    ck_assert_ptr_ne(hs_stack_intern(a, 2), sa); /* a prefix is another stack */
    ck_assert_ptr_eq(hs_stack_by_id(sa->id), sa);
    ck_assert_ptr_nonnull(hs_stack_intern(a, 0)); /* an empty (failed) walk is a stack too */
    hs_stack_add_alloc(sa, 100, 2.5);
    hs_stack_add_free(sa, 100, 2.5);
    ck_assert_uint_eq(atomic_load(&sa->allocs), 1);
    ck_assert_uint_eq(atomic_load(&sa->free_bytes), 100);
    ck_assert(hs_stack_load_f64(&sa->est_alloc_bytes) == 250.0);
}
END_TEST

/* ---- threads ---------------------------------------------------------------- */
#define THREADS 4
#define PER_THREAD 100000
#define SHARED_STACKS 500

typedef struct {
    int index;
    _Atomic(void *) *handoff; /* blocks inserted by one thread, removed by the next */
    uint64_t removed, lost;
} worker_t;

static _Atomic(void *) slots[THREADS][1024];

static void *hammer(void *arg)
{
    worker_t *w = arg;
    uint32_t id;
    uint64_t size;
    for (uint64_t i = 0; i < PER_THREAD; i++) {
        /* Stacks shared by all threads: the same frames must map to one entry. */
        uintptr_t frames[2] = {0x400000 + i % SHARED_STACKS, 0x500000};
        hs_stack_t *s = hs_stack_intern(frames, 2);
        ck_assert_ptr_nonnull(s);
        hs_stack_add_alloc(s, 8, 1.0);
        /* Unique address per (thread, i); publish it for the next thread. */
        void *p = fake_addr(((uint64_t)w->index << 32) + i + 1);
        if (hs_live_insert(p, s->id, 8) != 0) {
            w->lost++;
            continue;
        }
        hs_filter_add(p);
        void *old = atomic_exchange(&slots[w->index][i % 1024], p);
        if (old) {
            /* Our own older block, unless the neighbour took it already. */
            ck_assert(hs_filter_might_contain(old));
            ck_assert_int_eq(hs_live_remove(old, &id, &size), 1);
            hs_filter_remove(old);
            w->removed++;
        }
        void *theirs = atomic_exchange(&slots[(w->index + 1) % THREADS][(i * 7) % 1024], NULL);
        if (theirs) {
            ck_assert(hs_filter_might_contain(theirs));
            ck_assert_int_eq(hs_live_remove(theirs, &id, &size), 1);
            ck_assert_uint_eq(size, 8);
            hs_filter_remove(theirs);
            w->removed++;
        }
    }
    return NULL;
}

START_TEST(threads_insert_and_free_each_others_blocks)
{
    pthread_t th[THREADS];
    worker_t w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker_t){.index = i};
        ck_assert_int_eq(pthread_create(&th[i], NULL, hammer, &w[i]), 0);
    }
    uint64_t removed = 0, lost = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        removed += w[i].removed;
        lost += w[i].lost;
    }
    /* What is left in the slots is exactly what the table still holds. */
    uint32_t id;
    uint64_t size, left = 0;
    for (int t = 0; t < THREADS; t++)
        for (int i = 0; i < 1024; i++) {
            void *p = atomic_exchange(&slots[t][i], NULL);
            if (p) {
                ck_assert_int_eq(hs_live_remove(p, &id, &size), 1);
                left++;
            }
        }
    ck_assert_uint_eq(lost, 0);
    ck_assert_uint_eq(removed + left, (uint64_t)THREADS * PER_THREAD);
    /* Every shared stack exists once, with every thread's counts on it. */
    uint64_t total = 0, entries = 0;
    for (uint32_t i = 1; i <= hs_stack_count(); i++) {
        hs_stack_t *s = hs_stack_by_id(i);
        if (!s)
            continue;
        entries++;
        total += atomic_load(&s->allocs);
        ck_assert_uint_eq(atomic_load(&s->allocs), (uint64_t)THREADS * PER_THREAD / SHARED_STACKS);
        ck_assert(hs_stack_load_f64(&s->est_alloc_bytes) == 8.0 * (double)atomic_load(&s->allocs));
    }
    ck_assert_uint_eq(entries, SHARED_STACKS);
    ck_assert_uint_eq(total, (uint64_t)THREADS * PER_THREAD);
}
END_TEST

/* At rate 1 the table has a near level (512K slots, 8 probes) in front of
 * the big one: blocks that find no room near go to the big one, and every
 * block is found again, wherever it went. */
START_TEST(live_table_two_levels_at_rate_1)
{
    ck_assert_int_eq(hs_tables_init(1), 0);
    ck_assert_uint_eq(hs_live_capacity(), ((size_t)1 << 19) + ((size_t)1 << 22));
    enum { N = 600000 }; /* more than the near level holds */
    for (uint64_t i = 0; i < N; i++)
        ck_assert_int_eq(hs_live_insert(fake_addr(i), (uint32_t)(i & 0xffff) + 1, i), 0);
    uint32_t id;
    uint64_t size;
    ck_assert_int_eq(hs_live_remove(fake_addr(N + 5), &id, &size), 0);
    for (uint64_t i = 0; i < N; i += 2) {
        ck_assert_int_eq(hs_live_remove(fake_addr(i), &id, &size), 1);
        ck_assert_uint_eq(id, (uint32_t)(i & 0xffff) + 1);
        ck_assert_uint_eq(size, i);
    }
    /* Churn through the tombstones, then everything left is still there. */
    for (uint64_t i = 0; i < (uint64_t)N; i++) {
        void *p = fake_addr(2 * (uint64_t)N + i);
        ck_assert_int_eq(hs_live_insert(p, 9, 1), 0);
        ck_assert_int_eq(hs_live_remove(p, &id, &size), 1);
    }
    for (uint64_t i = 1; i < N; i += 2) {
        ck_assert_int_eq(hs_live_remove(fake_addr(i), &id, &size), 1);
        ck_assert_uint_eq(size, i);
        ck_assert_int_eq(hs_live_remove(fake_addr(i), &id, &size), 0);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tables");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, live_insert_find_remove);
    tcase_add_test(tc, live_table_reuses_tombstones_and_reports_full);
    tcase_add_test(tc, filter_has_no_false_negatives);
    tcase_add_test(tc, stacks_are_deduplicated);
    tcase_add_test(tc, threads_insert_and_free_each_others_blocks);
    suite_add_tcase(s, tc);
    TCase *big = tcase_create("rate 1");
    tcase_set_timeout(big, 120);
    tcase_add_test(big, live_table_two_levels_at_rate_1);
    suite_add_tcase(s, big);
    return hs_run_suite(s);
}
