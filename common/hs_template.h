/* hs_template.h - the dump path template (HEAPSCOPE_OUTPUT, `record -o`):
 * one expansion for the library, which names the file, and for the CLI,
 * which tells the user that name before it starts the program. */
#ifndef HS_TEMPLATE_H
#define HS_TEMPLATE_H

#include <stddef.h>
#include <stdint.h>

/* What the conversions stand for: %p pid, %e program (argv[0]'s basename,
 * as the library sees it at load), %t start time in whole seconds since the
 * epoch, %% a percent sign. Any other %X, and a '%' at the end, stay as
 * written. */
typedef struct {
    uint32_t pid;
    const char *program;
    uint64_t start_seconds;
} hs_template_vars_t;

/* Writes the expansion of tmpl, NUL-terminated, into out. Returns 0, or -1
 * when it does not fit in cap bytes (out then holds a cut prefix). Never
 * allocates and calls no libc function that could: the library calls it
 * from the dump writer. */
int hs_template_expand(const char *tmpl, const hs_template_vars_t *vars, char *out, size_t cap);

/* Does tmpl use the conversion %c (c = 'p', 'e' or 't'; "%%t" is not %t)? */
int hs_template_uses(const char *tmpl, char c);

#endif
