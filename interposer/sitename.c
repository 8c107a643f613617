/* sitename.c - owns naming a recorded stack's site inside the process:
 * which frame is the program's call site (pprof's drop_frames rule with the
 * process's frame filter, framefilter.c, so a wrapper such as zmalloc or
 * ngx_alloc is shown beside its caller rather than blamed; among what is
 * left, not libc's, libstdc++'s, the loader's or ours) and what its function
 * is called, from the object's own symbol table (static functions too,
 * elfsym.c) or else dladdr (exported symbols only). The offline report adds
 * source lines and inline frames; in-process there are none. Allocates
 * nothing itself (the filter does, unless forbidden); never called from the
 * allocation hooks (dladdr takes the loader's lock). Used by livecheck.c and
 * live_metrics.c. */
#include "sitename.h"

#include <dlfcn.h>
#include <link.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "arena.h"
#include "demangle.h"
#include "elfsym.h"
#include "framefilter.h"
#include "hs_format.h"
#include "hs_frames.h"
#include "identity.h"

static int is_library(const char *path)
{
    return !path || strstr(path, "/libc.so") || strstr(path, "/libstdc++") || strstr(path, "libheapscope") ||
           strstr(path, "/ld-linux");
}

/* pc: an address inside the instruction (return address - 1). known: its
 * function's name when the cache has it (no file is read), else NULL.
 * *sized (optional): 1 when the name is a symbol whose extent holds pc;
 * dladdr's fallback is only the nearest exported symbol below it, which in
 * a stripped library is often another function (a static one after strdup
 * would be called strdup). */
static int name_pc(uintptr_t pc, const char *known, hs_sitename_t *out, int *sized)
{
    Dl_info info;
    struct link_map *lm = NULL;
    if (!dladdr1((void *)pc, &info, (void **)&lm, RTLD_DL_LINKMAP))
        return -1;
    /* The executable's name as dladdr has it is argv[0], which servers
     * rewrite (redis: "redis-server *:6379"): its path from load instead. */
    const char *object = info.dli_fname ? info.dli_fname : "";
    if (lm && (!lm->l_name || !lm->l_name[0]) && hs_identity.exe[0])
        object = hs_identity.exe;
    size_t len = strnlen(object, sizeof(out->object) - 1);
    memcpy(out->object, object, len);
    out->object[len] = 0;
    out->offset = pc - (uintptr_t)info.dli_fbase;
    out->function[0] = 0;
    out->via[0] = 0;
    if (known) {
        snprintf(out->function, sizeof(out->function), "%s", known);
        return 0;
    }
    const char *file = lm && lm->l_name && lm->l_name[0] ? lm->l_name : "/proc/self/exe";
    int from_symtab =
        lm && hs_elfsym_name(file, (uint64_t)(pc - lm->l_addr), out->function, sizeof(out->function)) == 0;
    if (!from_symtab && info.dli_sname)
        snprintf(out->function, sizeof(out->function), "%s", info.dli_sname);
    if (sized)
        *sized = from_symtab;
    return 0;
}

/* ---- the rule --------------------------------------------------------------- */

int hs_sitename_pick(const hs_siteframe_t *frames, uint32_t depth, int *via)
{
    /* pprof's Profile.Prune: from the root, frames the filter drops are
     * passed over until one it keeps (a stack that starts in dropped
     * frames is not cut away whole); after that the first dropped frame
     * cuts, and it and everything leafward go. */
    int cut = -1, found_kept = 0;
    for (int f = (int)depth - 1; f >= 0; f--) {
        if (frames[f].cls == HS_FRAME_KEEP)
            found_kept = 1;
        else if (found_kept) {
            cut = f;
            break;
        }
    }
    *via = cut >= 0 && frames[cut].cls == HS_FRAME_WRAPPER ? cut : -1;
    /* Among the frames left: the program's own code first, else the first
     * in any object (a program that lives in shared libraries); with none
     * in an object, the same over the whole stack. */
    for (uint32_t from = (uint32_t)(cut + 1);; from = 0) {
        for (uint32_t f = from; f < depth; f++)
            if (frames[f].in_object && !frames[f].runtime)
                return (int)f;
        for (uint32_t f = from; f < depth; f++)
            if (frames[f].in_object)
                return (int)f;
        if (from == 0)
            break;
        *via = -1;
    }
    return -1;
}

/* ---- what is known of a frame, cached by address -------------------------- */

/* Naming a frame maps its object's file and scans its symbol table (~25 us;
 * matching the name costs ~1 us more), and the rule needs every frame from
 * the root to the cut, so each return address is looked up once: a table of
 * (address, what the rule needs, its function's name in a pool) in memory
 * mapped on first use, the table at most half full, started over when it
 * or the pool fills or when an object is loaded or unloaded (an address may
 * then lie in another function). Taken with one CAS and never waited for: a
 * thread that finds it busy (the server thread and the snapshot writer at
 * once) goes without it. The word holds the taker's pid, so a fork child
 * takes over a table its parent held at the fork, and empties it. */
#define CACHE_SLOTS 8192u        /* 16 bytes each: 128 KiB */
#define CACHE_NAMES (128u << 10) /* bytes of function names */

typedef struct {
    uintptr_t address; /* a return address; 0: empty */
    hs_siteframe_t frame;
    uint8_t unused;
    uint32_t name; /* 1 + its function's name's offset in the pool; 0: none */
} cache_slot_t;

static struct {
    _Atomic int holder; /* pid of the taker, 0 free */
    cache_slot_t *slots;
    char *names;
    uint32_t used, names_used;
    unsigned long long load_count;
} cache;

static int count_loads(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    *(unsigned long long *)arg = info->dlpi_adds + info->dlpi_subs;
    return 1; /* the first object says it */
}

static void cache_clear(void)
{
    memset(cache.slots, 0, CACHE_SLOTS * sizeof(cache_slot_t));
    cache.used = cache.names_used = 0;
}

static int cache_take(void)
{
    int me = (int)getpid(), seen = atomic_load_explicit(&cache.holder, memory_order_relaxed);
    do {
        if (seen == me)
            return 0; /* another thread of this process has it */
    } while (
        !atomic_compare_exchange_weak_explicit(&cache.holder, &seen, me, memory_order_acquire, memory_order_relaxed));
    unsigned long long loads = 0;
    dl_iterate_phdr(count_loads, &loads);
    if (!cache.slots) {
        uint8_t *m = hs_map(CACHE_SLOTS * sizeof(cache_slot_t) + CACHE_NAMES);
        if (!m) {
            atomic_store_explicit(&cache.holder, 0, memory_order_release);
            return 0;
        }
        cache.slots = (cache_slot_t *)(void *)m;
        cache.names = (char *)m + CACHE_SLOTS * sizeof(cache_slot_t);
        cache.load_count = loads;
    }
    if (seen != 0 || loads != cache.load_count) { /* a parent's, half updated; or stale */
        cache_clear();
        cache.load_count = loads;
    }
    return 1;
}

static void cache_release(void) { atomic_store_explicit(&cache.holder, 0, memory_order_release); }

static size_t slot_of(uintptr_t a) { return (size_t)((a * 0x9E3779B97F4A7C15ull) >> 40) & (CACHE_SLOTS - 1); }

static const cache_slot_t *cache_find(uintptr_t a)
{
    for (size_t i = slot_of(a);; i = (i + 1) & (CACHE_SLOTS - 1)) {
        if (!cache.slots[i].address)
            return NULL;
        if (cache.slots[i].address == a)
            return &cache.slots[i];
    }
}

static const char *cache_name(const cache_slot_t *slot)
{
    return slot && slot->name ? cache.names + slot->name - 1 : NULL;
}

static void cache_add(uintptr_t a, const hs_siteframe_t *frame, const char *function)
{
    size_t n = function[0] ? strlen(function) + 1 : 0;
    if (!a || n > CACHE_NAMES / 64)
        return;
    if (cache.used >= CACHE_SLOTS / 2 || cache.names_used + n > CACHE_NAMES)
        cache_clear();
    size_t i = slot_of(a);
    while (cache.slots[i].address)
        i = (i + 1) & (CACHE_SLOTS - 1);
    cache.slots[i] = (cache_slot_t){a, *frame, 0, n ? cache.names_used + 1 : 0};
    memcpy(cache.names + cache.names_used, function, n);
    cache.names_used += (uint32_t)n;
    cache.used++;
}

static hs_siteframe_t frame_of(uintptr_t return_address, int cached)
{
    hs_siteframe_t frame = {HS_FRAME_KEEP, 0, 0};
    const cache_slot_t *slot = cached ? cache_find(return_address) : NULL;
    if (slot)
        return slot->frame;
    hs_sitename_t n;
    int known = 1, sized = 0;
    if (name_pc(return_address - 1, NULL, &n, &sized) == 0) {
        int cls = hs_framefilter_classify(sized ? n.function : NULL);
        known = cls >= 0; /* not now: counted as kept, and not cached */
        frame = (hs_siteframe_t){(uint8_t)(known ? cls : HS_FRAME_KEEP), 1, (uint8_t)(is_library(n.object) != 0)};
    } else {
        n.function[0] = 0;
    }
    if (cached && known)
        cache_add(return_address, &frame, n.function);
    return frame;
}

/* One frame named, its function from the cache when it has it. */
static int name_frame(uintptr_t return_address, int cached, hs_sitename_t *out)
{
    return name_pc(return_address - 1, cached ? cache_name(cache_find(return_address)) : NULL, out, NULL);
}

/* ---- naming ----------------------------------------------------------------- */

int hs_sitename_of_stack(const hs_stack_t *s, hs_sitename_t *out)
{
    hs_siteframe_t frames[HS_MAX_DEPTH_LIMIT] = {{0, 0, 0}}; /* all set below; cppcheck cannot tell */
    uint32_t depth = s->depth < HS_MAX_DEPTH_LIMIT ? s->depth : HS_MAX_DEPTH_LIMIT;
    int cached = cache_take(), rc = -1;
    for (uint32_t f = 0; f < depth; f++)
        frames[f] = frame_of(s->frames[f], cached);
    int via, site = hs_sitename_pick(frames, depth, &via);
    hs_sitename_t wrapper;
    if (site >= 0 && name_frame(s->frames[site], cached, out) == 0) {
        out->frame = (uint32_t)site;
        rc = 0;
        if (via >= 0 && name_frame(s->frames[via], cached, &wrapper) == 0 && wrapper.function[0]) {
            char plain[256];
            int demangled = hs_demangle_simple(wrapper.function, plain, sizeof(plain)) == 0;
            hs_frame_simplify(demangled ? plain : wrapper.function, 1, out->via, sizeof(out->via));
        }
    }
    if (cached)
        cache_release();
    return rc;
}

int hs_sitename_of_frame(uintptr_t return_address, hs_sitename_t *out)
{
    out->frame = 0;
    return name_pc(return_address - 1, NULL, out, NULL);
}

const char *hs_sitename_format(const hs_sitename_t *n, char *buf, size_t len)
{
    const char *obj = strrchr(n->object, '/');
    obj = obj ? obj + 1 : n->object[0] ? n->object : "?";
    int w;
    if (n->function[0])
        w = snprintf(buf, len, "%s (%s+0x%lx)", n->function, obj, (unsigned long)n->offset);
    else
        w = snprintf(buf, len, "%s+0x%lx", obj, (unsigned long)n->offset);
    if (n->via[0] && w >= 0 && (size_t)w < len)
        snprintf(buf + w, len - (size_t)w, " via %s", n->via);
    return buf;
}
