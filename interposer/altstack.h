/* altstack.h - private stacks for the slow paths (see altstack.c). */
#ifndef HS_ALTSTACK_H
#define HS_ALTSTACK_H

#include <stddef.h>
#include <stdint.h>

/* Per-thread sampling stack and the process's snapshot stack. */
/* The sampling stack needs ~12 KiB of its own, but a host signal handler
 * that interrupts an unwind runs on it too (without a sigaltstack), so it
 * gets room for one: address space only, pages are touched as used. */
#define HS_ALTSTACK_SAMPLE_SIZE (256u * 1024)
#define HS_ALTSTACK_SNAPSHOT_SIZE (256u * 1024)

/* Maps a stack of `size` bytes under a guard page; returns its top, or NULL. */
void *hs_altstack_map(size_t size);
#if defined(__x86_64__)
/* altstack.c's assembly: fn(arg) with the stack pointer at top (16-byte aligned). */
void hs_call_on_stack(void *arg, void (*fn)(void *), void *top);
#endif

/* Calls fn(arg) on the stack whose top is `top`. Returns 0, or -1 (nothing
 * called) when top is NULL. Inline: every frame between the hook and the
 * unwinder is one more frame libunwind walks on each sample. */
static inline int hs_altstack_call(void *top, void (*fn)(void *), void *arg)
{
    if (!top)
        return -1;
#if defined(__x86_64__)
    hs_call_on_stack(arg, fn, (void *)((uintptr_t)top & ~(uintptr_t)15));
#else
    fn(arg); /* no switch on this architecture: the host's stack it is */
#endif
    return 0;
}

#endif
