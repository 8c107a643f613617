/* program_name.c - see program_name.h: argv[0]'s basename when it is
 * sensible, else the executable's. */
#include "program_name.h"

#include <string.h>

static void put(char *out, size_t cap, const char *s, size_t len)
{
    if (len >= cap)
        len = cap - 1;
    memcpy(out, s, len);
    out[len] = 0;
}

char *hs_program_name(const char *cmdline, size_t cmdline_len, const char *exe, char *out, size_t cap)
{
    const char *s = cmdline ? cmdline : "";
    size_t len = cmdline ? strnlen(cmdline, cmdline_len) : 0;
    /* A process title ("nginx: master process /usr/sbin/nginx"). */
    for (size_t i = 0; i + 1 < len; i++)
        if (s[i] == ':' && s[i + 1] == ' ') {
            len = i;
            break;
        }
    for (size_t i = len; i > 0; i--)
        if (s[i - 1] == '/') {
            s += i;
            len -= i;
            break;
        }
    for (size_t i = 0; i < len; i++)
        if (s[i] == ' ' || s[i] == '\t') {
            len = i;
            break;
        }
    while (len && s[0] == '-') {
        s++;
        len--;
    }
    int ok = len > 0;
    for (size_t i = 0; i < len && ok; i++)
        ok = (unsigned char)s[i] >= 0x20 && s[i] != 0x7f;
    if (ok) {
        put(out, cap, s, len);
        return out;
    }
    const char *e = exe ? exe : "";
    const char *base = strrchr(e, '/');
    base = base ? base + 1 : e;
    if (*base)
        put(out, cap, base, strlen(base));
    else
        put(out, cap, "?", 1);
    return out;
}
