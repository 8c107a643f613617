/* capture.c - turns "here" into a list of return addresses. Runs only on
 * sampled allocations and thread creations (record.c), with the
 * re-entrancy guard held (libunwind may call malloc while it builds its
 * caches). unwind.c walks most stacks; libunwind takes those it cannot. Must not take locks of its own. It marks the time spent inside
 * libunwind (hs_capture_unwinding), so that preload/unwind_guard.c can tell
 * libunwind's calls to pipe2 and read from the program's; it calls nothing
 * of ours. */
#include "capture.h"

#include <link.h>
#include <libunwind.h>

#include "hs_format.h"
#include "unwind.h"

/* Extra frames asked of libunwind: our own (hook, sampler, this function)
 * sit on top, and max frames of the program must remain after skipping them. */
#define OWN_FRAMES 8

__thread int hs_capture_unwinding __attribute__((tls_model("initial-exec")));

static uintptr_t own_lo, own_hi;

static int find_own(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    uintptr_t addr = (uintptr_t)data;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
        if (addr >= lo && addr < hi) {
            own_lo = lo;
            own_hi = hi;
            return 1;
        }
    }
    return 0;
}

void hs_capture_init(void)
{
    dl_iterate_phdr(find_own, (void *)(uintptr_t)&hs_capture_init);
    hs_unwind_init();
    /* libunwind may make its validation pipe now: ours to guard. */
    hs_capture_unwinding = 1;
    unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
    hs_capture_unwinding = 0;
}

int hs_capture_is_own(uintptr_t addr) { return addr >= own_lo && addr < own_hi; }

uint32_t hs_capture_stack(uintptr_t *out, uint32_t max, hs_walk_cache_t *wc, int *same, uint64_t *hash,
                          const hs_walk_args_t *from)
{
    void *raw[HS_MAX_DEPTH_LIMIT + OWN_FRAMES];
    if (max > HS_MAX_DEPTH_LIMIT)
        max = HS_MAX_DEPTH_LIMIT;
    /* Our own walker first; libunwind for the frames it leaves to it. */
    int fast;
    if (from && from->pc) {
        hs_walk_args_t a = {from->pc, from->sp, from->rbp, out, max, 0, own_lo, own_hi, wc, 0};
        fast = hs_unwind_walk(&a);
        *same = a.same;
        *hash = a.hash;
    } else {
        fast = hs_unwind_cached(out, max, own_lo, own_hi, wc, same, hash);
    }
    if (fast >= 0)
        return (uint32_t)fast;
    hs_capture_unwinding = 1;
    int n = unw_backtrace(raw, (int)max + OWN_FRAMES);
    hs_capture_unwinding = 0;
    uint32_t depth = 0;
    for (int i = 0; i < n && depth < max; i++) {
        uintptr_t pc = (uintptr_t)raw[i];
        if (pc && !hs_capture_is_own(pc))
            out[depth++] = pc;
    }
    return depth;
}
