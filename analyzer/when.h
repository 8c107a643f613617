/* when.h - a point in a dump named on the command line: "last", "first", a
 * snapshot number (its seq) or a time since the process started ("90s",
 * "5m", "2h", "1.5h"). Used by --at / --base and later commands. */
#ifndef HS_WHEN_H
#define HS_WHEN_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

typedef enum { HS_WHEN_LAST, HS_WHEN_FIRST, HS_WHEN_SEQ, HS_WHEN_TIME } hs_when_kind_t;

typedef struct {
    hs_when_kind_t kind;
    uint32_t seq;   /* HS_WHEN_SEQ */
    double seconds; /* HS_WHEN_TIME */
} hs_when_t;

/* 0, or -1 when text names no point. */
int hs_when_parse(const char *text, hs_when_t *out);
/* Is this snapshot at or before the point? Snapshots come in order, so the
 * state at the point is that of the last snapshot included. */
int hs_when_includes(const hs_when_t *w, const hs_model_snapshot_t *snap, int is_first);
/* Is this snapshot exactly the point (so later ones need not be read)? */
int hs_when_is_exact(const hs_when_t *w, const hs_model_snapshot_t *snap);
/* Does the last included snapshot satisfy the point? (a snapshot number must exist) */
int hs_when_matched(const hs_when_t *w, const hs_model_snapshot_t *snap);
const char *hs_when_describe(const hs_when_t *w, char *buf, size_t len);

#endif
