/* hs_plug_b.c - a plugin for dlreuse_victim: loaded, used, unloaded. Its
 * twin (hs_plug_a.c / hs_plug_b.c) has the same size and layout, so the
 * loader tends to map it where this one was. */
#include <stdlib.h>
#include <string.h>

__attribute__((noinline)) void *plug_b_make(size_t size)
{
    char *p = malloc(size);
    if (p)
        memset(p, 'b', size);
    return p;
}

void *plug_make(size_t size) { return plug_b_make(size); }
