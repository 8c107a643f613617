/* sitename.c - owns naming a recorded stack's site inside the process:
 * which frame is the program's (not libc's, libstdc++'s, the loader's or
 * ours) and what its function is called, from the object's own symbol table
 * (static functions too, elfsym.c) or else dladdr (exported symbols only).
 * The offline report adds source lines and inline frames; in-process there
 * are none. Never allocates; never called from the allocation hooks (dladdr
 * takes the loader's lock). Used by livecheck.c and live_metrics.c. */
#include "sitename.h"

#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <string.h>

#include "elfsym.h"

static int is_library(const char *path)
{
    return !path || strstr(path, "/libc.so") || strstr(path, "/libstdc++") || strstr(path, "libheapscope") ||
           strstr(path, "/ld-linux");
}

/* pc: an address inside the instruction (return address - 1). */
static int name_pc(uintptr_t pc, int skip_libraries, hs_sitename_t *out)
{
    Dl_info info;
    struct link_map *lm = NULL;
    if (!dladdr1((void *)pc, &info, (void **)&lm, RTLD_DL_LINKMAP) || (skip_libraries && is_library(info.dli_fname)))
        return -1;
    snprintf(out->object, sizeof(out->object), "%s", info.dli_fname ? info.dli_fname : "");
    out->offset = pc - (uintptr_t)info.dli_fbase;
    const char *file = lm && lm->l_name && lm->l_name[0] ? lm->l_name : "/proc/self/exe";
    out->function[0] = 0;
    if (!(lm && hs_elfsym_name(file, (uint64_t)(pc - lm->l_addr), out->function, sizeof(out->function)) == 0) &&
        info.dli_sname)
        snprintf(out->function, sizeof(out->function), "%s", info.dli_sname);
    return 0;
}

int hs_sitename_of_stack(const hs_stack_t *s, hs_sitename_t *out)
{
    for (int pass = 0; pass < 2; pass++)
        for (uint32_t f = 0; f < s->depth; f++)
            if (name_pc(s->frames[f] - 1, pass == 0, out) == 0) {
                out->frame = f;
                return 0;
            }
    return -1;
}

int hs_sitename_of_frame(uintptr_t return_address, hs_sitename_t *out)
{
    out->frame = 0;
    return name_pc(return_address - 1, 0, out);
}

const char *hs_sitename_format(const hs_sitename_t *n, char *buf, size_t len)
{
    const char *obj = strrchr(n->object, '/');
    obj = obj ? obj + 1 : n->object[0] ? n->object : "?";
    if (n->function[0])
        snprintf(buf, len, "%s (%s+0x%lx)", n->function, obj, (unsigned long)n->offset);
    else
        snprintf(buf, len, "%s+0x%lx", obj, (unsigned long)n->offset);
    return buf;
}
