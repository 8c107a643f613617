/* wrappers.c - detects allocation wrappers in a dump's stacks (the rules are
 * in wrappers.h, their reasons in docs/frames.md). It only adds names to the
 * frame filter (common/hs_frames.h); sites.c then blames the callers and
 * cmd_pprof.c writes the names into pprof's drop_frames. It never decides a
 * site itself and prints nothing. */
#include "wrappers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

typedef struct caller {
    UT_hash_handle hh;
    uint64_t samples;
    char name[];
} caller_t;

typedef struct candidate {
    UT_hash_handle hh;
    int bad;        /* seen somewhere it is not the allocating frame (rule a) */
    int many_sites; /* allocates from more than one call site (rule b) */
    int has_site;
    const char *file; /* the call site: file and line, or pc without a line table */
    uint32_t line;
    uint64_t pc;
    uint64_t samples; /* sampled allocations through F */
    caller_t *callers;
    char name[];
} candidate_t;

struct hs_wrapper_scan {
    candidate_t *candidates; /* uthash by name */
};

hs_wrapper_scan_t *hs_wrapper_scan_new(void) { return calloc(1, sizeof(hs_wrapper_scan_t)); }

void hs_wrapper_scan_free(hs_wrapper_scan_t *w)
{
    if (!w)
        return;
    candidate_t *c, *ctmp;
    HASH_ITER(hh, w->candidates, c, ctmp)
    {
        caller_t *k, *ktmp;
        HASH_ITER(hh, c->callers, k, ktmp)
        {
            HASH_DEL(c->callers, k);
            free(k);
        }
        HASH_DEL(w->candidates, c);
        free(c);
    }
    free(w);
}

static candidate_t *candidate(hs_wrapper_scan_t *w, const char *name)
{
    candidate_t *c;
    HASH_FIND_STR(w->candidates, name, c);
    if (c)
        return c;
    size_t len = strlen(name);
    if (!(c = calloc(1, sizeof(*c) + len + 1)))
        return NULL;
    memcpy(c->name, name, len + 1);
    HASH_ADD_STR(w->candidates, name, c);
    return c;
}

/* Whether a frame's name stands for one function: a symbol, or the range
 * the call-frame information gives an unsymbolized pc. A bare pc is not:
 * one function would count once per call instruction. */
static int names_a_function(const hs_site_frame_t *f) { return f->symbolized || f->ranged; }

static int same_site(const candidate_t *c, const hs_site_frame_t *f)
{
    if (c->file && f->file && c->line && f->line)
        return c->line == f->line && strcmp(c->file, f->file) == 0;
    return !c->file && !f->file && c->pc == f->pc;
}

int hs_wrapper_scan_stack(hs_wrapper_scan_t *w, const hs_site_frame_t *f, size_t n, uint64_t samples)
{
    if (!samples)
        samples = 1;
    size_t first = 0; /* the allocating frame: the first that is not dropped */
    while (first < n && f[first].cls != HS_FRAME_KEEP)
        first++;
    for (size_t k = first; k < n; k++) {
        if (f[k].cls != HS_FRAME_KEEP || !names_a_function(&f[k]))
            continue;
        candidate_t *c = candidate(w, f[k].function);
        if (!c)
            return -1;
        if (k != first) {
            c->bad = 1; /* F calls something else that allocates */
            continue;
        }
        if (!c->has_site) {
            c->has_site = 1;
            c->file = f[k].line ? f[k].file : NULL;
            c->line = f[k].line;
            c->pc = f[k].pc;
        } else if (!same_site(c, &f[k])) {
            c->many_sites = 1;
        }
        c->samples += samples;
        /* Callers count by function: by name, or by range for code without
         * symbols; a bare pc is not counted. */
        if (k + 1 < n && names_a_function(&f[k + 1])) {
            caller_t *caller;
            HASH_FIND_STR(c->callers, f[k + 1].function, caller);
            if (!caller) {
                size_t len = strlen(f[k + 1].function);
                if (!(caller = calloc(1, sizeof(*caller) + len + 1)))
                    return -1;
                memcpy(caller->name, f[k + 1].function, len + 1);
                HASH_ADD_STR(c->callers, name, caller);
            }
            caller->samples += samples;
        }
    }
    return 0;
}

static int by_name(const void *x, const void *y)
{
    return strcmp((*(candidate_t *const *)x)->name, (*(candidate_t *const *)y)->name);
}

int hs_wrapper_scan_finish(hs_wrapper_scan_t *w, unsigned min_callers, hs_frame_filter_t *frames)
{
    size_t n = HASH_COUNT(w->candidates), found = 0;
    candidate_t **hits = calloc(n ? n : 1, sizeof(*hits));
    if (!hits)
        return -1;
    candidate_t *c, *ctmp;
    HASH_ITER(hh, w->candidates, c, ctmp)
    {
        if (c->bad || c->many_sites || !c->has_site)
            continue;
        unsigned callers = 0;
        caller_t *k, *ktmp;
        HASH_ITER(hh, c->callers, k, ktmp)
        {
            if ((double)k->samples >= HS_WRAPPERS_MIN_SHARE * (double)c->samples)
                callers++;
        }
        /* --keep-frames has the last word: a kept function is no wrapper. */
        if (callers >= min_callers && !hs_frame_filter_keeps(frames, c->name))
            hits[found++] = c;
    }
    qsort(hits, found, sizeof(*hits), by_name);
    int rc = 0;
    for (size_t i = 0; i < found && rc == 0; i++)
        rc = hs_frame_filter_add_wrapper(frames, hits[i]->name);
    free(hits);
    return rc ? -1 : (int)found;
}

int hs_wrappers_detect(hs_site_finder_t *sf, hs_frame_filter_t *frames, hs_model_t *const *models, size_t nmodels)
{
    int total = 0;
    for (int round = 0; round < HS_WRAPPERS_ROUNDS; round++) {
        hs_wrapper_scan_t *w = hs_wrapper_scan_new();
        if (!w)
            return -1;
        for (size_t mi = 0; mi < nmodels; mi++) {
            size_t count = hs_model_stack_count(models[mi]);
            for (size_t i = 0; i < count; i++) {
                const hs_model_stack_t *s = hs_model_stack_at(models[mi], i);
                /* Allocation stacks only: a thread's creation stack (no
                 * row) ends at pthread_create's caller, and that caller
                 * would pass for an allocating frame. */
                if (!s->has_row || s->row.alloc_count == 0)
                    continue;
                const hs_site_frame_t *f;
                size_t n = hs_site_frames(sf, s, &f);
                if (n && hs_wrapper_scan_stack(w, f, n, s->row.alloc_count)) {
                    hs_wrapper_scan_free(w);
                    return -1;
                }
            }
        }
        /* A name already added (detected, or given by the user) is dropped
         * now, so it cannot come back; finish adds only new ones. */
        size_t before = hs_frame_filter_wrapper_count(frames);
        int found = hs_wrapper_scan_finish(w, HS_WRAPPERS_MIN_CALLERS, frames);
        hs_wrapper_scan_free(w);
        if (found < 0)
            return -1;
        size_t added = hs_frame_filter_wrapper_count(frames) - before;
        hs_site_finder_reclassify(sf);
        total += (int)added;
        if (added == 0)
            break;
    }
    return total;
}

const char *hs_wrappers_list(const hs_frame_filter_t *frames, char *buf, size_t len)
{
    size_t used = 0;
    if (!len)
        return buf;
    buf[0] = '\0';
    for (size_t i = 0; i < hs_frame_filter_wrapper_count(frames); i++) {
        const char *name = hs_frame_filter_wrapper_at(frames, i);
        size_t need = strlen(name) + (i ? 2 : 0);
        if (used + need + 5 > len) { /* room for ", ..." and the NUL */
            if (used + 6 <= len)
                memcpy(buf + used, ", ...", 6);
            break;
        }
        used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "", name);
    }
    return buf;
}
