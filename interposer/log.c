/* log.c - the interposer's only way to talk: formats into a stack buffer and
 * write(2)s to stderr. Never allocates (plain %s/%d/%lu/%x formats only, which
 * glibc's vsnprintf serves without malloc) and never uses stdio, whose locks
 * the host may hold. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void hs_log(const char *fmt, ...)
{
    char buf[512];
    int saved_errno = errno;
    size_t prefix = strlen("heapscope: ");
    memcpy(buf, "heapscope: ", prefix);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + prefix, sizeof(buf) - prefix - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    size_t len = prefix + ((size_t)n < sizeof(buf) - prefix - 1 ? (size_t)n : sizeof(buf) - prefix - 2);
    buf[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, buf, len);
    (void)w; /* nothing useful to do if stderr is gone */
    errno = saved_errno;
}
