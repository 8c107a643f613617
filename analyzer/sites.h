/* sites.h - from stacks to call sites a person recognises: the first frame
 * (inline frames included) that lies in the program's own code rather than
 * in libc, libstdc++, the dynamic loader, system headers or heapscope, named
 * by function, file and line. Stacks with the same site are grouped. */
#ifndef HS_SITES_H
#define HS_SITES_H

#include <stdint.h>

#include "symbolize.h"
#include "model.h"

typedef struct {
    const char *function; /* never NULL: "?" or "module+0xoffset" when unknown */
    const char *file;     /* NULL when unknown */
    uint32_t line;
    uint32_t frame; /* index of the stack frame the site is in */
} hs_site_t;

/* Resolves the site of a stack (sym may be NULL: no symbolization). Strings
 * stay valid as long as the symbolizer (or, unsymbolized, until the next
 * call: copy them). */
void hs_site_of_stack(hs_symbolizer_t *sym, const hs_model_stack_t *s, hs_site_t *out);
/* The function of one frame (innermost line), e.g. for pthread_create's caller. */
void hs_site_of_frame(hs_symbolizer_t *sym, const hs_model_stack_t *s, uint32_t frame, hs_site_t *out);
/* Symbolizes an address of the process (a thread's start routine). */
const char *hs_site_function_at(hs_symbolizer_t *sym, const hs_model_t *m, uint64_t addr, char *buf, size_t len);

#endif
