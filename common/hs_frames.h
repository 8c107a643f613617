/* hs_frames.h - which stack frames belong to the allocator or to an
 * allocation wrapper, so that a report blames the wrapper's caller.
 *
 * Every real server wraps malloc (redis zmalloc, nginx ngx_alloc, CPython
 * PyMem_*, HotSpot os::malloc, git xmalloc, glib g_malloc): a report that
 * names the wrapper tells the user nothing. One table of anchored regular
 * expressions (hs_frame_rules, documented in docs/frames.md) names the
 * allocators' own entry points and the widespread application wrappers; a
 * filter adds the user's --drop-frames / HEAPSCOPE_DROP_FRAMES, takes away
 * --keep-frames, and learns wrappers the analyzer detects in a dump.
 *
 * Names are matched as pprof matches its drop_frames: the function name
 * without its argument list (simplified as pprof's simplifyFunc does), and
 * here also without GCC's clone suffixes (".part.0", ".isra.0",
 * ".constprop.0", ".cold"), the whole name against each expression. The
 * expressions are POSIX extended regular expressions (regcomp) that RE2,
 * and so `go tool pprof`, reads the same way: the pprof output carries the
 * same expression in its drop_frames field.
 *
 * Used by the analyzer and, at safe points only, by the interposer (regcomp
 * and regexec allocate: call with the re-entrancy guard set). */
#ifndef HS_FRAMES_H
#define HS_FRAMES_H

#include <stddef.h>

typedef enum {
    HS_FRAME_KEEP = 0,      /* the program's own code: a call site */
    HS_FRAME_ALLOCATOR = 1, /* an allocator's entry point (malloc, operator new, je_*, ...) */
    HS_FRAME_WRAPPER = 2,   /* an application's allocation wrapper (zmalloc, ngx_alloc, ...), a
                             * user's --drop-frames, or a detected wrapper */
} hs_frame_class_t;

typedef struct {
    const char *pattern; /* anchored: it must match the whole simplified name */
    const char *origin;  /* "glibc", "redis", ... (for the documentation) */
    hs_frame_class_t cls;
} hs_frame_rule_t;

/* The default table. */
extern const hs_frame_rule_t hs_frame_rules[];
extern const size_t hs_frame_rule_count;

typedef struct hs_frame_filter hs_frame_filter_t;

/* A filter: the default table when defaults is non-zero, plus drop (NULL or
 * "": nothing more), minus keep (NULL or "": nothing kept). A frame matching
 * keep is never dropped. Returns NULL with one line in err ("--drop-frames
 * 'x(': unmatched parenthesis") when an expression does not compile or on
 * out of memory. what names the source in that message ("--drop-frames",
 * "HEAPSCOPE_DROP_FRAMES"); the keep expression's source is what_keep. */
hs_frame_filter_t *hs_frame_filter_new(int defaults, const char *drop, const char *what_drop, const char *keep,
                                       const char *what_keep, char *err, size_t errlen);
void hs_frame_filter_free(hs_frame_filter_t *f);

/* Adds a wrapper found in the data (an exact function name, simplified as
 * below). Returns 0, or -1 on out of memory. Names matching keep are
 * accepted and stay kept. */
int hs_frame_filter_add_wrapper(hs_frame_filter_t *f, const char *function);
/* Detected wrappers so far, in the order added. */
size_t hs_frame_filter_wrapper_count(const hs_frame_filter_t *f);
const char *hs_frame_filter_wrapper_at(const hs_frame_filter_t *f, size_t i);

/* Whether the keep expression (--keep-frames) matches the name. */
int hs_frame_filter_keeps(const hs_frame_filter_t *f, const char *function);

/* The class of a function name (as a symbolizer gives it: demangled, with
 * or without its argument list). NULL and "" are HS_FRAME_KEEP. */
hs_frame_class_t hs_frame_classify(const hs_frame_filter_t *f, const char *function);

/* The expressions for a pprof Profile's drop_frames and keep_frames
 * fields: pprof anchors them itself ("^(" + expr + ")$"). NULL when the
 * filter drops (keeps) nothing. Valid until the filter changes. Both
 * accept GCC's clone suffixes after the name, since pprof sees them
 * ("zmalloc.part.0") where hs_frame_classify strips them. */
const char *hs_frame_filter_pprof_drop(hs_frame_filter_t *f);
const char *hs_frame_filter_pprof_keep(const hs_frame_filter_t *f);

/* The name pprof's drop_frames is matched against: the argument list cut at
 * the first "(" that is not part of "(anonymous namespace)" or
 * "operator()", a leading '.' removed; with strip_clones, GCC's clone
 * suffixes too. Writes into out (always NUL-terminated); returns out. */
char *hs_frame_simplify(const char *function, int strip_clones, char *out, size_t len);

#endif
