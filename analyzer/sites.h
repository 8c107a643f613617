/* sites.h - from stacks to call sites a person recognises. A stack's
 * allocation is blamed on the first frame that is not an allocator or an
 * allocation wrapper (common/hs_frames.h), found exactly as pprof's
 * drop_frames finds it, so `go tool pprof` shows the same callers; among
 * what remains, the program's own code is preferred over libc, libstdc++,
 * the dynamic loader and system headers. Sites are named by function, file
 * and line, or by module and offset when the binary has no line table; code
 * without symbols by its function's range from .eh_frame.
 * Stacks with the same site are grouped by the callers (analysis.c). The
 * rule is written out in docs/frames.md. */
#ifndef HS_SITES_H
#define HS_SITES_H

#include <stddef.h>
#include <stdint.h>

#include "hs_frames.h"
#include "model.h"
#include "symbolize.h"

typedef struct {
    const char *function; /* never NULL: "?", or as hs_site_frame_t's when no symbol names it */
    const char *file;     /* NULL when unknown */
    uint32_t line;
    uint32_t frame; /* index of the stack frame the site is in */
    /* The allocation wrapper the site called: the outermost HS_FRAME_WRAPPER
     * frame between the site and the allocator (zmalloc_usable for redis's
     * createStringObject), NULL when it called the allocator directly or
     * only through HS_FRAME_ALLOCATOR frames (operator new). */
    const char *via;
    const char *module; /* basename of the object the site's frame is in, NULL when unknown */
    uint64_t offset;    /* the call's pc in that object (ELF address: pc - load bias) */
} hs_site_t;

/* One logical frame: a physical frame's inline chain is expanded into
 * several, innermost first, as pprof's Location.line lists them. */
typedef struct {
    /* Without a symbol: "module+0xSTART", the start of the function's
     * range in the call-frame information (ranged below), else
     * "module+0xoffset", the pc. */
    const char *function;
    const char *file; /* NULL when unknown */
    uint32_t line;
    uint32_t frame;     /* the physical frame (stack index) it belongs to */
    uint64_t pc;        /* that frame's return address - 1 (0 when unknown) */
    uint8_t outermost;  /* the function that physically holds the pc (its chain's last line) */
    uint8_t symbolized; /* function is a real name */
    uint8_t own;        /* the program's own code: neither a system object nor a system header */
    uint8_t cls;        /* hs_frame_class_t, filled by the caller before hs_site_choose */
    /* Not symbolized, but named "module+0xSTART" after the function that
     * holds the pc, from the call-frame information (hs_symbolizer_function_range):
     * one name for every pc of that function, as a symbol would be. */
    uint8_t ranged;
} hs_site_frame_t;

/* What hs_site_choose picks: indexes into the logical frames, -1 for none. */
typedef struct {
    int leaf; /* the first frame pprof keeps after drop_frames (its -top leaf) */
    int site; /* the frame blamed: leaf, or the first own-code frame at or above it */
    int via;  /* the wrapper the site called */
} hs_site_choice_t;

/* The site rule over logical frames f[0..n) (leaf first, cls filled),
 * without symbolizer or dump: pprof's Prune at the granularity of physical
 * frames, then the preference for own code (docs/frames.md). Pure. */
void hs_site_choose(const hs_site_frame_t *f, size_t n, hs_site_choice_t *out);

/* Finds sites with one symbolizer and one frame filter, caching each
 * name's class. Strings it hands out stay valid until it is freed (and
 * the symbolizer and the model outlive it). */
typedef struct hs_site_finder hs_site_finder_t;

/* sym NULL: frames are named module+offset. frames NULL: the default table
 * (hs_frame_rules). The finder does not own the filter; call
 * hs_site_finder_reclassify after adding wrappers to it. NULL on OOM. */
hs_site_finder_t *hs_site_finder_new(hs_symbolizer_t *sym, hs_frame_filter_t *frames);
void hs_site_finder_free(hs_site_finder_t *sf);
void hs_site_finder_reclassify(hs_site_finder_t *sf);
hs_symbolizer_t *hs_site_finder_symbolizer(const hs_site_finder_t *sf);

/* The site of a stack. */
void hs_site_find(hs_site_finder_t *sf, const hs_model_stack_t *s, hs_site_t *out);

/* A stack's logical frames, leaf first, classified; frames of libheapscope
 * itself are left out. Valid until the next call on sf. Returns the count;
 * *out may be NULL when it is 0. */
size_t hs_site_frames(hs_site_finder_t *sf, const hs_model_stack_t *s, const hs_site_frame_t **out);

/* The filter of the commands' --drop-frames and --keep-frames (NULL: not
 * given) over the default table. NULL after one line on stderr
 * ("heapscope: CMD: --drop-frames 'x(' is not a regular expression: ...")
 * when one does not compile: the caller exits HS_EXIT_BAD_INPUT. */
hs_frame_filter_t *hs_sites_filter(const char *cmd, const char *drop, const char *keep);
/* The usage lines of those two flags. */
#define HS_SITES_FRAMES_USAGE                                                                   \
    "  --drop-frames REGEX  also blame the callers of functions matching REGEX (anchored, as\n" \
    "                       pprof's drop_frames), on top of the allocator and wrapper table\n"  \
    "  --keep-frames REGEX  never drop functions matching REGEX ('.*': the raw stacks); see\n"  \
    "                       docs/frames.md\n"

/* The function of one frame (innermost line), e.g. for a stack's listing;
 * "module+0xoffset" (the pc) when no symbol names it. */
void hs_site_of_frame(hs_symbolizer_t *sym, const hs_model_stack_t *s, uint32_t frame, hs_site_t *out);
/* The name sites give a frame no symbol names, for pprof's Function:
 * "module+0xSTART" when sym finds its function's range, else
 * "module+0xoffset" as above. Returns buf. */
const char *hs_site_unnamed_function(hs_symbolizer_t *sym, const hs_model_stack_t *s, uint32_t frame, char *buf,
                                     size_t len);
/* Symbolizes an address of the process (a thread's start routine). */
const char *hs_site_function_at(hs_symbolizer_t *sym, const hs_model_t *m, uint64_t addr, char *buf, size_t len);

/* "file:line", "file", "module+0xoffset" (a binary without line info) or
 * "?"; returns buf. */
const char *hs_site_location(const hs_site_t *w, char *buf, size_t len);
/* "function (location)", with " via WRAPPER" when the site called one:
 * how every report names a site. Returns buf. */
const char *hs_site_describe(const hs_site_t *w, char *buf, size_t len);

#endif
