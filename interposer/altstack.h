/* altstack.h - private stacks for the slow paths (see altstack.c). */
#ifndef HS_ALTSTACK_H
#define HS_ALTSTACK_H

#include <stddef.h>

/* Per-thread sampling stack and the process's snapshot stack. */
#define HS_ALTSTACK_SAMPLE_SIZE (64u * 1024)
#define HS_ALTSTACK_SNAPSHOT_SIZE (256u * 1024)

/* Maps a stack of `size` bytes under a guard page; returns its top, or NULL. */
void *hs_altstack_map(size_t size);
/* Calls fn(arg) on the stack whose top is `top`. Returns 0, or -1 (nothing
 * called) when top is NULL. */
int hs_altstack_call(void *top, void (*fn)(void *), void *arg);

#endif
