/* sitename.h - names a stack's allocation site in-process, for the live leak
 * warning (livecheck.c) and the live service (live_metrics.c). */
#ifndef HS_SITENAME_H
#define HS_SITENAME_H

#include <stddef.h>
#include <stdint.h>

#include "tables.h"

typedef struct {
    char function[256]; /* from the object's symbol table, else dladdr; "" when neither knows */
    char object[512];   /* the loaded object's path as the loader has it ("" unknown) */
    uintptr_t offset;   /* the frame's address (return address - 1) minus the object's base */
    uint32_t frame;     /* the stack frame it names */
    char via[256];      /* the allocation wrapper it called ("zmalloc_usable"), "" when none */
} hs_sitename_t;

/* The site of a stack: pprof's drop_frames rule with the process's frame
 * filter (framefilter.c: malloc & co., the known allocation wrappers,
 * HEAPSCOPE_DROP_FRAMES). From the root, after the first frame the filter
 * keeps, the first frame it drops cuts the stack; among the frames rootward
 * of the cut, the first outside the C and C++ runtimes, the loader and
 * heapscope, else the first of them (a program whose code all lies in
 * such libraries). via names the cutting frame when it is a wrapper (not
 * an allocator's own entry point). Returns 0, or -1 when no frame lies in
 * a loaded object. Calls dladdr and reads ELF files (elfsym.c), and
 * compiles and runs regular expressions (malloc) unless this thread is
 * forbidden to allocate: then frames it has not classified before count as
 * kept. Never on the allocation path or in a signal handler. */
int hs_sitename_of_stack(const hs_stack_t *s, hs_sitename_t *out);
/* One frame (a return address) named as a frame: via is "". 0, or -1 as above. */
int hs_sitename_of_frame(uintptr_t return_address, hs_sitename_t *out);
/* "function (object+0xoffset)" or "object+0xoffset" (object's base name),
 * followed by " via wrapper" when there is one: the form of the live leak
 * warning; returns buf. */
const char *hs_sitename_format(const hs_sitename_t *n, char *buf, size_t len);

/* ---- the rule alone, on what is known of each frame (for the tests) ---- */

typedef struct {
    uint8_t cls;       /* hs_frame_class_t */
    uint8_t in_object; /* the address lies in a loaded object */
    uint8_t runtime;   /* in the C or C++ runtime, the loader or heapscope */
} hs_siteframe_t;

/* frames: leaf (0) to root (depth - 1). Returns the site's frame, or -1
 * when none lies in a loaded object; *via is the wrapper's frame or -1. */
int hs_sitename_pick(const hs_siteframe_t *frames, uint32_t depth, int *via);

#endif
