/* altstack.c - runs heapscope's slow paths on stacks of its own. A sampled
 * allocation needs ~10 KiB of stack (libunwind, the stack buffer) and a
 * snapshot ~16 KiB; the host may call malloc from a 16 KiB thread, a signal
 * handler on an 8 KiB sigaltstack or a makecontext coroutine, where that much
 * is not there. So the host's stack only carries the hook's frame and the
 * switch (a few hundred bytes); the rest runs on a private stack: one per
 * thread block (recycled with the block) for sampling, one per process for
 * the snapshot writer (used only by the snapshot lock's holder).
 * Never allocates with malloc; a stack that cannot be mapped drops the
 * sample (counted), never the host. */
#include "altstack.h"

#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>

#include "arena.h"

#if defined(__x86_64__)
/* hs_call_on_stack(arg, fn, top): fn(arg) with %rsp = top (16-byte aligned).
 * A standard %rbp frame, described in CFI, so that libunwind, gdb and perf
 * unwind from the private stack back into the host's: the stack a sample
 * records is the host's, seen through this frame. */
__asm__(".text\n"
        ".p2align 4\n"
        ".globl hs_call_on_stack\n"
        ".hidden hs_call_on_stack\n"
        ".type hs_call_on_stack, @function\n"
        "hs_call_on_stack:\n"
        ".cfi_startproc\n"
        "pushq %rbp\n"
        ".cfi_def_cfa_offset 16\n"
        ".cfi_offset %rbp, -16\n"
        "movq %rsp, %rbp\n"
        ".cfi_def_cfa_register %rbp\n"
        "movq %rdx, %rsp\n"
        "callq *%rsi\n"
        "movq %rbp, %rsp\n"
        "popq %rbp\n"
        ".cfi_def_cfa %rsp, 8\n"
        "ret\n"
        ".cfi_endproc\n"
        ".size hs_call_on_stack, .-hs_call_on_stack\n");
#endif

#define GUARD 4096

void *hs_altstack_map(size_t size)
{
    uint8_t *m = hs_map(size + GUARD);
    if (!m)
        return NULL;
    /* An overflow faults in the guard page instead of running into whatever
     * the kernel mapped below. */
    mprotect(m, GUARD, PROT_NONE);
    return m + GUARD + size; /* the top: stacks grow down */
}
