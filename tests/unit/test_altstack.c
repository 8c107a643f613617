/* test_altstack.c - the private stacks the interposer's slow paths run on:
 * the call lands on the given stack, arguments and results pass through,
 * the guard page is there, and libunwind walks from the private stack back
 * into the caller's frames (the CFI of the switch), which is what makes a
 * sampled stack the host's. */
#include <libunwind.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "altstack.h"
#include "run_suite.h"

typedef struct {
    uintptr_t local_address;
    void *frames[64];
    int depth;
    int value;
} probe_t;

static void on_private_stack(void *arg)
{
    probe_t *p = arg;
    int here = 0;
    p->local_address = (uintptr_t)&here;
    p->value *= 3;
    p->depth = unw_backtrace(p->frames, 64);
}

/* noinline: its return address must show up in the walk from the private stack. */
static __attribute__((noinline)) int call_from_here(void *top, probe_t *p)
{
    int rc = hs_altstack_call(top, on_private_stack, p);
    __asm__ volatile("" ::: "memory"); /* keep the frame: no tail call */
    return rc;
}

START_TEST(test_runs_on_the_private_stack)
{
    void *top = hs_altstack_map(HS_ALTSTACK_SAMPLE_SIZE);
    ck_assert_ptr_nonnull(top);
    probe_t p = {.value = 14};
    ck_assert_int_eq(call_from_here(top, &p), 0);
    ck_assert_int_eq(p.value, 42);
    uintptr_t hi = (uintptr_t)top, lo = hi - HS_ALTSTACK_SAMPLE_SIZE;
    ck_assert_msg(p.local_address >= lo && p.local_address < hi, "local at %#lx, stack %#lx-%#lx",
                  (unsigned long)p.local_address, (unsigned long)lo, (unsigned long)hi);
}
END_TEST

START_TEST(test_no_stack_calls_nothing)
{
    probe_t p = {.value = 14};
    ck_assert_int_eq(hs_altstack_call(NULL, on_private_stack, &p), -1);
    ck_assert_int_eq(p.value, 14);
}
END_TEST

START_TEST(test_libunwind_walks_back_to_the_caller)
{
    void *top = hs_altstack_map(HS_ALTSTACK_SAMPLE_SIZE);
    probe_t p = {.value = 1};
    ck_assert_int_eq(call_from_here(top, &p), 0);
    ck_assert_int_ge(p.depth, 4);
    /* Some frame is this test's own code, on the ordinary stack: the walk
     * crossed the switch. call_from_here's return address lies within this
     * function's code, a few hundred bytes after its start at most. */
    uintptr_t self = (uintptr_t)(void *)test_libunwind_walks_back_to_the_caller_fn;
    int crossed = 0;
    for (int i = 0; i < p.depth; i++) {
        uintptr_t pc = (uintptr_t)p.frames[i];
        if (pc > self && pc < self + 4096)
            crossed = 1;
    }
    ck_assert_msg(crossed, "no frame of the caller in a %d-frame walk from the private stack", p.depth);
}
END_TEST

static sigjmp_buf fault_jump;
static void on_fault(int sig)
{
    (void)sig;
    siglongjmp(fault_jump, 1);
}

START_TEST(test_guard_page_below)
{
    void *top = hs_altstack_map(HS_ALTSTACK_SAMPLE_SIZE);
    volatile char *below = (char *)top - HS_ALTSTACK_SAMPLE_SIZE - 1;
    struct sigaction sa, old;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_fault;
    sigaction(SIGSEGV, &sa, &old);
    int faulted = 0;
    if (sigsetjmp(fault_jump, 1) == 0)
        *below = 1;
    else
        faulted = 1;
    sigaction(SIGSEGV, &old, NULL);
    ck_assert_msg(faulted, "writing just below the stack did not fault");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("altstack");
    TCase *tc = tcase_create("altstack");
    tcase_add_test(tc, test_runs_on_the_private_stack);
    tcase_add_test(tc, test_no_stack_calls_nothing);
    tcase_add_test(tc, test_libunwind_walks_back_to_the_caller);
    tcase_add_test(tc, test_guard_page_below);
    suite_add_tcase(s, tc);
    return hs_run_suite(s);
}
