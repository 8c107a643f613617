/* framefilter.c - owns the process's one compiled frame filter
 * (common/hs_frames.c: the default allocator and wrapper table plus
 * HEAPSCOPE_DROP_FRAMES), built on first use and then shared, read-only, by
 * the live server thread and the snapshot lock's holder (glibc's regexec is
 * MT-safe on a shared expression). regcomp and regexec call malloc: only
 * threads that may allocate use it, with the re-entrancy guard set, never
 * the allocation hooks, a signal handler, a fork handler or the exit
 * snapshot (hs_framefilter_forbid_alloc). Neighbours: sitename.c classifies
 * frames with it, live_heap.c puts its expression in drop_frames. */
#include "framefilter.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "config.h"
#include "demangle.h"
#include "hs_frames.h"
#include "log.h"

typedef struct {
    pid_t pid; /* the process that built it */
    hs_frame_filter_t *filter;
    const char *pprof_drop; /* owned by filter; NULL when out of memory */
} compiled_t;

/* Published with a release CAS, read with acquire loads. A fork child does
 * not use its parent's: a thread of the parent may have been inside
 * regexec, which holds a lock inside the expression, when it forked. The
 * child builds its own and leaves the parent's copy unfreed (a few tens of
 * KiB, once per child that names a site). */
static _Atomic(compiled_t *) current;
/* The bad-expression warning is given once per program: a fork child
 * inherits it set. */
static atomic_int warned;
/* Per thread: 1 while the program's allocator may be locked. */
static __thread int forbidden;

static void destroy(compiled_t *c)
{
    if (!c)
        return;
    hs_frame_filter_free(c->filter);
    free(c);
}

static compiled_t *build(pid_t pid)
{
    compiled_t *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    char err[320];
    const char *drop = hs_cfg.drop_frames;
    c->filter = hs_frame_filter_new(1, drop, "HEAPSCOPE_DROP_FRAMES", NULL, NULL, err, sizeof(err));
    if (!c->filter && drop[0]) {
        if (!atomic_exchange(&warned, 1))
            hs_log("warning: %s; using the default allocator and wrapper table alone", err);
        c->filter = hs_frame_filter_new(1, NULL, NULL, NULL, NULL, err, sizeof(err));
    }
    if (!c->filter) {
        free(c);
        return NULL;
    }
    c->pprof_drop = hs_frame_filter_pprof_drop(c->filter); /* built now: read-only once published */
    c->pid = pid;
    return c;
}

/* This process's filter, built when it has none; NULL when this thread may
 * not allocate or memory ran out. Two threads building at once both
 * compile; the first to publish wins and the other frees its own. */
static compiled_t *get(void)
{
    if (forbidden)
        return NULL;
    pid_t me = getpid();
    compiled_t *c = atomic_load_explicit(&current, memory_order_acquire);
    if (c && c->pid == me)
        return c;
    compiled_t *fresh = build(me);
    if (!fresh)
        return NULL;
    if (atomic_compare_exchange_strong_explicit(&current, &c, fresh, memory_order_acq_rel, memory_order_acquire))
        return fresh;
    destroy(fresh);
    return c && c->pid == me ? c : NULL;
}

int hs_framefilter_classify(const char *function)
{
    if (!function || !*function)
        return HS_FRAME_KEEP;
    compiled_t *c = get();
    if (!c)
        return -1;
    /* Symbol tables hold C++ names mangled; the table and the user's
     * expression are written as pprof shows them, demangled. */
    char plain[512];
    if (hs_demangle_simple(function, plain, sizeof(plain)) == 0)
        function = plain;
    return (int)hs_frame_classify(c->filter, function);
}

const char *hs_framefilter_pprof_drop(void)
{
    compiled_t *c = get();
    return c ? c->pprof_drop : NULL;
}

int hs_framefilter_forbid_alloc(int forbid)
{
    int was = forbidden;
    forbidden = forbid;
    return was;
}

void hs_framefilter_warm(void)
{
    /* Only until a filter exists: a fork child inherits its parent's (and
     * its warning) and builds its own when it first names a site. */
    if (hs_cfg.drop_frames[0] && !forbidden && !atomic_load_explicit(&current, memory_order_acquire))
        get();
}
