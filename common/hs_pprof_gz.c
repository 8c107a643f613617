/* hs_pprof_gz.c - the CLI's gzip sink for the pprof encoder: streams the
 * serialized profile (hs_pprof_emit) through zlib to a descriptor. Kept out
 * of hs_pprof.c so that the interposer links the encoder without zlib (a
 * library loaded into every host must not pull libz in at start); the
 * interposer compresses with its own interposer/gzip.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "hs_pprof.h"
#include "hs_pprof_emit.h"

typedef struct {
    z_stream z;
    int fd;
    uint8_t out[1 << 16];
    const char *what; /* for the error message: "write" or "deflate" */
} gz_sink_t;

static int write_all(int fd, const uint8_t *data, size_t n)
{
    while (n) {
        ssize_t w = write(fd, data, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = EIO;
            return -1;
        }
        data += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Runs deflate over the input already set up in s->z with `flush`, writing
 * each full output buffer to the descriptor. */
static int deflate_run(gz_sink_t *s, int flush)
{
    for (;;) {
        s->z.next_out = s->out;
        s->z.avail_out = sizeof(s->out);
        int zrc = deflate(&s->z, flush);
        if (zrc == Z_STREAM_ERROR) {
            s->what = "deflate";
            errno = EIO;
            return -1;
        }
        size_t have = sizeof(s->out) - s->z.avail_out;
        if (have && write_all(s->fd, s->out, have) != 0) {
            s->what = "write";
            return -1;
        }
        if (flush == Z_FINISH ? zrc == Z_STREAM_END : s->z.avail_out != 0)
            return 0;
    }
}

static int gz_write(void *ctx, const void *data, size_t n)
{
    gz_sink_t *s = ctx;
    const uint8_t *d = data;
    while (n) {
        uInt chunk = n > (1u << 30) ? (1u << 30) : (uInt)n;
        s->z.next_in = (Bytef *)(uintptr_t)d; /* zlib's API is not const-correct */
        s->z.avail_in = chunk;
        if (deflate_run(s, Z_NO_FLUSH) != 0)
            return -1;
        d += chunk;
        n -= chunk;
    }
    return 0;
}

int hs_pprof_write_gz(hs_pprof_t *p, int fd, char *err, size_t errlen)
{
    gz_sink_t *s = calloc(1, sizeof(*s));
    if (!s || deflateInit2(&s->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16 /* gzip header */, 8,
                           Z_DEFAULT_STRATEGY) != Z_OK) {
        free(s);
        snprintf(err, errlen, "pprof: cannot start zlib: out of memory");
        errno = ENOMEM;
        return -1;
    }
    s->fd = fd;
    int rc = hs_pprof_emit(p, gz_write, s);
    if (rc == 0)
        rc = deflate_run(s, Z_FINISH);
    if (rc != 0) {
        int saved = errno;
        if (hs_pprof_fatal_error(p))
            snprintf(err, errlen, "pprof: profile unusable: %s", hs_pprof_fatal_error(p));
        else if (s->what)
            snprintf(err, errlen, "pprof: %s: %s", s->what, strerror(saved));
        else
            snprintf(err, errlen, "pprof: encoding: %s", strerror(saved));
        errno = saved;
    }
    deflateEnd(&s->z);
    free(s);
    return rc;
}
