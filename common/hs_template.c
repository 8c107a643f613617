/* hs_template.c - expands the dump path template (%p %e %t %%). Shared by
 * interposer/writer.c, which creates the file, and analyzer/cmd_record.c,
 * which prints its name, so the two can never disagree about a name. Runs
 * inside the library's writer: no malloc, no stdio, no locale. */
#include "hs_template.h"

#include <string.h>

static int append(char *out, size_t cap, size_t *len, const char *s, size_t n)
{
    if (*len + n >= cap)
        return -1;
    memcpy(out + *len, s, n);
    *len += n;
    return 0;
}

/* Decimal digits of v into buf (at least 21 bytes); returns the count. */
static size_t format_decimal(uint64_t v, char *buf)
{
    char rev[20];
    size_t n = 0;
    do {
        rev[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        buf[i] = rev[n - 1 - i];
    return n;
}

int hs_template_expand(const char *tmpl, const hs_template_vars_t *vars, char *out, size_t cap)
{
    size_t len = 0;
    char num[24];
    if (cap == 0)
        return -1;
    out[0] = 0;
    for (const char *p = tmpl; *p; p++) {
        const char *piece = p;
        size_t n = 1;
        if (*p == '%' && p[1]) {
            p++;
            switch (*p) {
            case 'p':
                n = format_decimal(vars->pid, num);
                piece = num;
                break;
            case 't':
                n = format_decimal(vars->start_seconds, num);
                piece = num;
                break;
            case 'e':
                piece = vars->program;
                n = strlen(piece);
                break;
            case '%': piece = p; break;
            default: /* unknown conversion: kept as written */
                piece = p - 1;
                n = 2;
                break;
            }
        }
        if (append(out, cap, &len, piece, n)) {
            out[len] = 0;
            return -1;
        }
    }
    out[len] = 0;
    return 0;
}

int hs_template_uses(const char *tmpl, char c)
{
    for (const char *p = tmpl; *p; p++) {
        if (*p != '%' || !p[1])
            continue;
        p++;
        if (*p == c)
            return 1;
    }
    return 0;
}
