/* live_buf.c - the live service's response bodies: a growable buffer from
 * the real allocator (the server thread is untracked: nothing it allocates
 * is recorded as the program's) and the one-line error answer. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "live.h"

char *hs_lbuf_reserve(hs_lbuf_t *b, size_t n)
{
    if (b->oom)
        return NULL;
    if (n > SIZE_MAX / 2 - b->len) {
        b->oom = 1;
        return NULL;
    }
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d) {
            b->oom = 1;
            return NULL;
        }
        b->data = d;
        b->cap = cap;
    }
    return b->data + b->len;
}

void hs_lbuf_put(hs_lbuf_t *b, const void *p, size_t n)
{
    char *dst = hs_lbuf_reserve(b, n);
    if (!dst)
        return;
    memcpy(dst, p, n);
    b->len += n;
}

void hs_lbuf_puts(hs_lbuf_t *b, const char *s) { hs_lbuf_put(b, s, strlen(s)); }

static void lbuf_vprintf(hs_lbuf_t *b, const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    char small[256];
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    if (n < 0) {
        va_end(again);
        return;
    }
    if ((size_t)n < sizeof(small)) {
        hs_lbuf_put(b, small, (size_t)n);
    } else {
        char *dst = hs_lbuf_reserve(b, (size_t)n + 1);
        if (dst) {
            vsnprintf(dst, (size_t)n + 1, fmt, again);
            b->len += (size_t)n;
        }
    }
    va_end(again);
}

void hs_lbuf_printf(hs_lbuf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    lbuf_vprintf(b, fmt, ap);
    va_end(ap);
}

void hs_lbuf_free(hs_lbuf_t *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

void hs_live_error(hs_live_resp_t *resp, int status, const char *fmt, ...)
{
    resp->status = status;
    resp->content_type = "text/plain; charset=utf-8";
    resp->disposition = NULL;
    resp->body.len = 0;
    resp->body.oom = 0;
    va_list ap;
    va_start(ap, fmt);
    lbuf_vprintf(&resp->body, fmt, ap);
    va_end(ap);
    hs_lbuf_puts(&resp->body, "\n");
}
