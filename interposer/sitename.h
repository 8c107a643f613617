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
} hs_sitename_t;

/* The site of a stack: its first frame outside the C and C++ runtimes, the
 * loader and heapscope, or its first frame when every frame is in them.
 * Returns 0, or -1 when no frame lies in a loaded object. Calls dladdr and
 * reads ELF files (elfsym.c): never on the allocation path. */
int hs_sitename_of_stack(const hs_stack_t *s, hs_sitename_t *out);
/* One frame (a return address) named the same way. 0, or -1 as above. */
int hs_sitename_of_frame(uintptr_t return_address, hs_sitename_t *out);
/* "function (object+0xoffset)" or "object+0xoffset" (object's base name),
 * the form of the live leak warning; returns buf. */
const char *hs_sitename_format(const hs_sitename_t *n, char *buf, size_t len);

#endif
