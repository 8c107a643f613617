/* hs_pprof_emit.h - internal to the pprof encoder: hs_pprof.c streams the
 * serialized Profile to a writer, so that the CLI's gzip sink lives in its
 * own file (hs_pprof_gz.c, zlib) and the interposer links the encoder
 * without zlib (its gzip is interposer/gzip.c). Not for other callers: use
 * hs_pprof_serialize or hs_pprof_write_gz. */
#ifndef HS_PPROF_EMIT_H
#define HS_PPROF_EMIT_H

#include <stddef.h>

#include "hs_pprof.h"

/* Takes the next n bytes of the serialized profile; 0, or -1 with errno. */
typedef int (*hs_pprof_writer_t)(void *ctx, const void *data, size_t n);

/* Streams the Profile message to write(ctx, ...) in order. Returns 0, or -1
 * with errno (the writer's, or ENOMEM/EINVAL for an unusable profile). */
int hs_pprof_emit(hs_pprof_t *p, hs_pprof_writer_t write, void *ctx);

/* The profile's first fatal error (it cannot be serialized), or NULL. */
const char *hs_pprof_fatal_error(const hs_pprof_t *p);

#endif
