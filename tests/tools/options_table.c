/* options_table.c - prints common/hs_options.c's table as the first three
 * cells of README.md's settings table, one option a line, tab-separated:
 * `VARIABLE`, `--flag` (empty without one), `default` (an empty default as
 * what it means, unquoted: stderr). tests/integration/options.sh compares
 * them with README.md. Exits 1 when an option has no one-line doc. */
#include <stdio.h>

#include "hs_options.h"

int main(void)
{
    int rc = 0;
    for (int i = 0; i < HS_OPT_COUNT; i++) {
        const hs_option_t *o = &hs_options[i];
        if (!o->doc || !o->doc[0]) {
            fprintf(stderr, "%s has no doc in common/hs_options.c\n", o->env);
            rc = 1;
        }
        const char *q = o->def[0] ? "`" : "";
        printf("`%s`\t%s%s%s\t%s%s%s\n", o->env, o->flag ? "`" : "", o->flag ? o->flag : "", o->flag ? "`" : "", q,
               hs_opt_default_shown(o), q);
    }
    return rc;
}
