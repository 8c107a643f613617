/* when.c - parsing and matching of snapshot points (see when.h). Pure
 * functions: no I/O, no allocation. */
#include "when.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int hs_when_parse(const char *text, hs_when_t *out)
{
    if (strcmp(text, "last") == 0) {
        *out = (hs_when_t){HS_WHEN_LAST, 0, 0};
        return 0;
    }
    if (strcmp(text, "first") == 0) {
        *out = (hs_when_t){HS_WHEN_FIRST, 0, 0};
        return 0;
    }
    if (!text[0] || !(text[0] >= '0' && text[0] <= '9'))
        return -1;
    char *end;
    size_t digits = strspn(text, "0123456789");
    if (text[digits] == '\0') {
        unsigned long v = strtoul(text, &end, 10);
        if (*end || v > UINT32_MAX)
            return -1;
        *out = (hs_when_t){HS_WHEN_SEQ, (uint32_t)v, 0};
        return 0;
    }
    double v = strtod(text, &end);
    double unit = 0;
    if (strcmp(end, "s") == 0)
        unit = 1;
    else if (strcmp(end, "m") == 0)
        unit = 60;
    else if (strcmp(end, "h") == 0)
        unit = 3600;
    else if (strcmp(end, "ms") == 0)
        unit = 0.001;
    if (!unit || end == text || !(v >= 0) || v > 1e9)
        return -1;
    *out = (hs_when_t){HS_WHEN_TIME, 0, v * unit};
    return 0;
}

int hs_when_includes(const hs_when_t *w, const hs_model_snapshot_t *snap, int is_first)
{
    switch (w->kind) {
    case HS_WHEN_LAST: return 1;
    case HS_WHEN_FIRST: return is_first;
    case HS_WHEN_SEQ: return snap->seq <= w->seq;
    case HS_WHEN_TIME: return snap->offset_s <= w->seconds + 1e-9;
    }
    return 0;
}

int hs_when_is_exact(const hs_when_t *w, const hs_model_snapshot_t *snap)
{
    return w->kind == HS_WHEN_FIRST || (w->kind == HS_WHEN_SEQ && snap->seq == w->seq);
}

int hs_when_matched(const hs_when_t *w, const hs_model_snapshot_t *snap)
{
    return w->kind != HS_WHEN_SEQ || snap->seq == w->seq;
}

const char *hs_when_describe(const hs_when_t *w, char *buf, size_t len)
{
    switch (w->kind) {
    case HS_WHEN_LAST: snprintf(buf, len, "last"); break;
    case HS_WHEN_FIRST: snprintf(buf, len, "first"); break;
    case HS_WHEN_SEQ: snprintf(buf, len, "snapshot %u", w->seq); break;
    case HS_WHEN_TIME: snprintf(buf, len, "%gs", w->seconds); break;
    }
    return buf;
}
