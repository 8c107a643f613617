/* hs_alert.c - words a health alert (hs_alert.h) the same way in the
 * interposer's log line, `heapscope report` and `heapscope stats`. Decides
 * nothing: when an alert is raised or recovers is interposer/alerts.c's. */
#include "hs_alert.h"

#include "hs_format.h"
#include "hs_text.h"

const char *hs_alert_variable(uint32_t kind)
{
    switch (kind) {
    case HS_ALERT_HEAP: return "HEAPSCOPE_ALERT_HEAP";
    case HS_ALERT_RSS: return "HEAPSCOPE_ALERT_RSS";
    case HS_ALERT_THREADS: return "HEAPSCOPE_ALERT_THREADS";
    case HS_ALERT_GROWTH: return "HEAPSCOPE_ALERT_GROWTH";
    default: return "?";
    }
}

static const char *figure_name(uint32_t kind)
{
    switch (kind) {
    case HS_ALERT_HEAP: return "heap in use";
    case HS_ALERT_RSS: return "resident memory";
    case HS_ALERT_THREADS: return "live threads";
    case HS_ALERT_GROWTH: return "leak rate";
    default: return "?";
    }
}

/* "120.0 MiB", "12", "1.5 MiB/s" */
static void put_figure(hs_text_t *o, uint32_t kind, double v)
{
    if (kind == HS_ALERT_THREADS) {
        hs_text_put_uint(o, v > 0 ? (uint64_t)v : 0);
        return;
    }
    hs_text_put_bytes(o, v, HS_TEXT_BYTES_TENTHS);
    if (kind == HS_ALERT_GROWTH)
        hs_text_put_str(o, "/s");
}

const char *hs_alert_describe(uint32_t kind, uint32_t event, double value, uint64_t threshold, char *buf, size_t len)
{
    hs_text_t o = hs_text_on(buf, len);
    hs_text_put_str(&o, figure_name(kind));
    hs_text_put_char(&o, ' ');
    put_figure(&o, kind, value);
    if (event == HS_ALERT_RECOVERED) {
        hs_text_put_str(&o, " < ");
        hs_text_put_uint(&o, HS_ALERT_RECOVER_PERCENT);
        hs_text_put_str(&o, "% of ");
    } else {
        hs_text_put_str(&o, " >= ");
    }
    hs_text_put_str(&o, hs_alert_variable(kind));
    hs_text_put_char(&o, ' ');
    put_figure(&o, kind, (double)threshold);
    return buf;
}
