/* cmd_plot.c - `heapscope plot DUMP -o FILE.svg`: a self-contained SVG
 * timeline of heap in use and RSS (left axis, bytes) and live threads (right
 * axis) with dashed markers at fork, signal and exit snapshots. It streams
 * the dump through the model (model.h) into a fixed number of min/max
 * buckets, so memory stays bounded however long the dump is and every
 * extreme survives decimation. Nothing is written for a corrupt dump. When
 * the leak analysis (analysis.h) finds a leak in the process series, its
 * trend line and the point of detection are drawn too (draw_trend,
 * draw_markers). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "args.h"
#include "cli.h"
#include "textout.h"
#include "hs_leak.h"
#include "input.h"
#include "model.h"

enum { SERIES_HEAP, SERIES_RSS, SERIES_THREADS, SERIES_COUNT };

/* At most this many buckets; a full set is halved by merging neighbours, and
 * each bucket is drawn as its minimum and its maximum in time order, so a
 * line has at most 2 * PLOT_BUCKETS points (about 2 per horizontal pixel). */
#define PLOT_BUCKETS 512
/* Markers past this many are counted but not drawn (a signal every second
 * for a day would otherwise paint the plot solid). */
#define PLOT_MARKERS_MAX 200

#define SVG_WIDTH 960
#define SVG_HEIGHT 540
#define PLOT_LEFT 92.0
#define PLOT_RIGHT 68.0 /* margin right of the plot area, for the threads axis */
#define PLOT_TOP 78.0
#define PLOT_BOTTOM 62.0

typedef struct {
    double min_v[SERIES_COUNT], min_t[SERIES_COUNT];
    double max_v[SERIES_COUNT], max_t[SERIES_COUNT];
} bucket_t;

typedef struct {
    double offset_s;
    uint32_t reason;
} marker_t;

typedef struct {
    bucket_t buckets[PLOT_BUCKETS];
    size_t bucket_count;
    uint64_t per_bucket; /* snapshots per bucket: 1, 2, 4, ... */
    uint64_t in_last;    /* snapshots in the last bucket */
    uint64_t snapshots;
    double t_min, t_max;
    uint64_t max[SERIES_COUNT]; /* exact maxima, for the data attributes */
    marker_t markers[PLOT_MARKERS_MAX];
    size_t marker_count;
    uint64_t markers_seen[HS_REASON_MAX + 1];
    double leak_detected_at; /* seconds since start, or -1: where the report first calls it a leak */
} plot_data_t;

/* The plot area and the scales of its three axes. */
typedef struct {
    double left, top, width, height;
    double t_end;  /* seconds at the right edge (the left edge is 0) */
    double t_unit; /* seconds per x-axis unit: 1, 60, 3600 or 86400 */
    const char *t_unit_name;
    double bytes_top; /* bytes at the top edge */
    double threads_top;
} plot_frame_t;

/* A straight line y = a + b * t in bytes, t in seconds since the start,
 * drawn from t0 to t1 (the leak detector's fit). */
typedef struct {
    double a, b, t0, t1;
    const char *label;
} plot_trend_t;

void hs_cmd_plot_usage(FILE *out)
{
    fprintf(out, "usage: heapscope plot DUMP -o FILE.svg\n"
                 "\n"
                 "Draws DUMP's timeline as a self-contained SVG: heap in use and RSS (left\n"
                 "axis, bytes) and live threads (right axis) against the time since the\n"
                 "process started, with dashed markers at fork, signal and exit snapshots.\n"
                 "Long dumps are decimated to at most 1024 points per line, keeping every\n"
                 "bucket's minimum and maximum. The root <svg> element carries the plotted\n"
                 "figures as data-snapshots, data-max-heap-in-use, data-max-rss,\n"
                 "data-max-live-threads (also in <desc>).\n"
                 "\n"
                 "  -o, --output FILE  where to write the SVG; '-' is stdout\n"
                 "\n"
                 "A truncated tail is a warning on stderr (exit 0, the complete snapshots are\n"
                 "drawn); a corrupt dump writes nothing and prints one error line (exit 2).\n" HS_INPUT_USAGE);
}

/* ---- collecting ---- */

static void bucket_start(bucket_t *b, double t, const double v[SERIES_COUNT])
{
    for (int s = 0; s < SERIES_COUNT; s++) {
        b->min_v[s] = b->max_v[s] = v[s];
        b->min_t[s] = b->max_t[s] = t;
    }
}

static void bucket_add(bucket_t *b, double t, const double v[SERIES_COUNT])
{
    for (int s = 0; s < SERIES_COUNT; s++) {
        if (v[s] < b->min_v[s]) {
            b->min_v[s] = v[s];
            b->min_t[s] = t;
        }
        if (v[s] > b->max_v[s]) {
            b->max_v[s] = v[s];
            b->max_t[s] = t;
        }
    }
}

static void bucket_merge(bucket_t *into, const bucket_t *b)
{
    for (int s = 0; s < SERIES_COUNT; s++) {
        if (b->min_v[s] < into->min_v[s]) {
            into->min_v[s] = b->min_v[s];
            into->min_t[s] = b->min_t[s];
        }
        if (b->max_v[s] > into->max_v[s]) {
            into->max_v[s] = b->max_v[s];
            into->max_t[s] = b->max_t[s];
        }
    }
}

static void plot_add(plot_data_t *d, const hs_model_snapshot_t *snap)
{
    uint64_t raw[SERIES_COUNT] = {snap->stats[HS_STAT_HEAP_IN_USE], snap->stats[HS_STAT_RSS],
                                  snap->stats[HS_STAT_LIVE_THREADS]};
    double v[SERIES_COUNT];
    for (int s = 0; s < SERIES_COUNT; s++) {
        v[s] = (double)raw[s];
        if (raw[s] > d->max[s])
            d->max[s] = raw[s];
    }
    double t = snap->offset_s;
    if (d->snapshots == 0 || t < d->t_min)
        d->t_min = t;
    if (d->snapshots == 0 || t > d->t_max)
        d->t_max = t;
    d->snapshots++;

    if (d->bucket_count > 0 && d->in_last < d->per_bucket) {
        bucket_add(&d->buckets[d->bucket_count - 1], t, v);
        d->in_last++;
    } else {
        if (d->bucket_count == PLOT_BUCKETS) {
            /* Full (PLOT_BUCKETS is even, every bucket holds per_bucket):
             * halve the resolution by merging neighbours. */
            for (size_t i = 0; i < PLOT_BUCKETS / 2; i++) {
                d->buckets[i] = d->buckets[2 * i];
                bucket_merge(&d->buckets[i], &d->buckets[2 * i + 1]);
            }
            d->bucket_count = PLOT_BUCKETS / 2;
            d->per_bucket *= 2;
        }
        bucket_start(&d->buckets[d->bucket_count++], t, v);
        d->in_last = 1;
    }

    uint32_t r = snap->reason;
    if (r == HS_REASON_FORK_PARENT || r == HS_REASON_FORK_CHILD || r == HS_REASON_SIGNAL || r == HS_REASON_EXIT) {
        d->markers_seen[r]++;
        if (d->marker_count < PLOT_MARKERS_MAX)
            d->markers[d->marker_count++] = (marker_t){t, r};
    }
}

/* ---- scales ---- */

/* The 1, 2, 5 x 10^k step nearest above raw (raw > 0). */
static double nice_step(double raw)
{
    double magnitude = pow(10, floor(log10(raw)));
    double f = raw / magnitude;
    double nice = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
    return nice * magnitude;
}

/* Decimals that print every multiple of step exactly (step from nice_step). */
static int step_decimals(double step)
{
    int d = (int)-floor(log10(step) + 1e-9);
    return d < 0 ? 0 : d > 6 ? 6 : d;
}

static const char *const byte_units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};

/* The binary unit that keeps max's figures at or above 1 (B for max < 1 KiB). */
static int bytes_unit_of(double max)
{
    int u = 0;
    while (max >= 1024 && u + 1 < (int)(sizeof(byte_units) / sizeof(byte_units[0]))) {
        max /= 1024;
        u++;
    }
    return u;
}

/* Axis scale for a maximum (in the axis unit): ~5 nice ticks from 0 to a
 * top at or above max; a zero or flat range still gets a usable axis. */
static void axis_scale(double max, double min_step, double *step, double *top)
{
    if (!(max > 0))
        max = min_step;
    double s = nice_step(max / 5);
    if (s < min_step)
        s = min_step;
    *step = s;
    *top = ceil(max / s - 1e-9) * s;
    if (*top <= 0)
        *top = s;
}

static double x_of(const plot_frame_t *f, double t) { return f->left + t / f->t_end * f->width; }
static double y_of_bytes(const plot_frame_t *f, double v) { return f->top + f->height - v / f->bytes_top * f->height; }
static double y_of_threads(const plot_frame_t *f, double v)
{
    return f->top + f->height - v / f->threads_top * f->height;
}

/* ---- writing ---- */

static void draw_series(FILE *out, const plot_frame_t *f, const plot_data_t *d, int s, const char *cls)
{
    if (d->bucket_count == 0)
        return;
    fprintf(out, "<polyline class=\"%s\" clip-path=\"url(#plot-area)\" points=\"", cls);
    for (size_t i = 0; i < d->bucket_count; i++) {
        const bucket_t *b = &d->buckets[i];
        /* Minimum and maximum in the order they happened; one point when
         * they are the same snapshot. */
        double t1 = b->min_t[s], v1 = b->min_v[s], t2 = b->max_t[s], v2 = b->max_v[s];
        if (t2 < t1) {
            double tt = t1, vv = v1;
            t1 = t2, v1 = v2, t2 = tt, v2 = vv;
        }
        int n = t1 == t2 && v1 == v2 ? 1 : 2;
        for (int k = 0; k < n; k++) {
            double t = k ? t2 : t1, v = k ? v2 : v1;
            double y = s == SERIES_THREADS ? y_of_threads(f, v) : y_of_bytes(f, v);
            fprintf(out, "%s%.2f,%.2f", i || k ? " " : "", x_of(f, t), y);
        }
    }
    fputs("\"/>\n", out);
    if (d->snapshots == 1) {
        /* A single snapshot is a point, which a polyline does not show. */
        const bucket_t *b = &d->buckets[0];
        double y = s == SERIES_THREADS ? y_of_threads(f, b->max_v[s]) : y_of_bytes(f, b->max_v[s]);
        fprintf(out, "<circle class=\"%s-dot\" cx=\"%.2f\" cy=\"%.2f\" r=\"3\"/>\n", cls, x_of(f, b->max_t[s]), y);
    }
}

/* The leak trend: a line from (t0, a + b t0) to (t1, a + b t1),
 * clipped to the plot area. NULL draws nothing. */
static void draw_trend(FILE *out, const plot_frame_t *f, const plot_trend_t *trend)
{
    if (!trend)
        return;
    fprintf(out,
            "<line class=\"trend\" clip-path=\"url(#plot-area)\" x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n",
            x_of(f, trend->t0), y_of_bytes(f, trend->a + trend->b * trend->t0), x_of(f, trend->t1),
            y_of_bytes(f, trend->a + trend->b * trend->t1));
    if (trend->label) {
        fprintf(out, "<text class=\"trend-label\" x=\"%.2f\" y=\"%.2f\" text-anchor=\"end\">", x_of(f, trend->t1) - 4,
                y_of_bytes(f, trend->a + trend->b * trend->t1) - 6);
        hs_put_xml_text(out, trend->label);
        fputs("</text>\n", out);
    }
}

static const char *marker_class(uint32_t reason)
{
    return reason == HS_REASON_SIGNAL ? "signal" : reason == HS_REASON_EXIT ? "exit" : "fork";
}

static void draw_markers(FILE *out, const plot_frame_t *f, const plot_data_t *d)
{
    if (d->leak_detected_at >= 0) {
        double x = x_of(f, d->leak_detected_at);
        fprintf(out,
                "<g class=\"marker marker-leak\" data-reason=\"leak-detected\" data-offset-s=\"%.6f\">"
                "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>"
                "<text transform=\"translate(%.2f,%.2f) rotate(90)\">leak detected</text></g>\n",
                d->leak_detected_at, x, f->top, x, f->top + f->height, x + 3, f->top + 4);
    }
    /* Markers closer than a label's height (a signal and the fork it
     * triggered) stack their labels downwards instead of overprinting. */
    double last_x = -1e9;
    int stacked = 0;
    for (size_t i = 0; i < d->marker_count; i++) {
        const marker_t *mk = &d->markers[i];
        const char *name = hs_reader_reason_name(mk->reason);
        double x = x_of(f, mk->offset_s);
        stacked = fabs(x - last_x) < 12 ? stacked + 1 : 0;
        last_x = x;
        double label_y = f->top + 4 + (stacked % 4) * 80;
        fprintf(out,
                "<g class=\"marker marker-%s\" data-reason=\"%s\" data-offset-s=\"%.6f\">"
                "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>",
                marker_class(mk->reason), name, mk->offset_s, x, f->top, x, f->top + f->height);
        /* Vertical label beside the line, on the side with more room. */
        if (x > f->left + f->width / 2)
            fprintf(out, "<text transform=\"translate(%.2f,%.2f) rotate(-90)\" text-anchor=\"end\">%s</text>", x - 3,
                    label_y, name);
        else
            fprintf(out, "<text transform=\"translate(%.2f,%.2f) rotate(90)\">%s</text>", x + 3, label_y, name);
        fputs("</g>\n", out);
    }
}

static void draw_axes(FILE *out, const plot_frame_t *f, double bytes_step, int bytes_unit, double threads_step,
                      double t_step)
{
    double bottom = f->top + f->height, right = f->left + f->width;
    double unit = pow(1024, bytes_unit);
    int dec = step_decimals(bytes_step / unit);
    fputs("<g class=\"grid\">\n", out);
    for (int i = 0;; i++) {
        double v = i * bytes_step;
        if (v > f->bytes_top * (1 + 1e-9))
            break;
        double y = y_of_bytes(f, v);
        fprintf(out, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", f->left, y, right, y);
    }
    fputs("</g>\n<g class=\"axis\">\n", out);
    fprintf(out, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", f->left, f->top, f->left, bottom);
    fprintf(out, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", right, f->top, right, bottom);
    fprintf(out, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", f->left, bottom, right, bottom);
    /* left: bytes */
    for (int i = 0;; i++) {
        double v = i * bytes_step;
        if (v > f->bytes_top * (1 + 1e-9))
            break;
        double y = y_of_bytes(f, v);
        fprintf(out, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>", f->left - 5, y, f->left, y);
        fprintf(out, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"end\">%.*f %s</text>\n", f->left - 8, y + 4, dec,
                v / unit, byte_units[bytes_unit]);
    }
    /* right: threads */
    for (int i = 0;; i++) {
        double v = i * threads_step;
        if (v > f->threads_top * (1 + 1e-9))
            break;
        double y = y_of_threads(f, v);
        fprintf(out, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>", right, y, right + 5, y);
        fprintf(out, "<text x=\"%.2f\" y=\"%.2f\">%.0f</text>\n", right + 8, y + 4, v);
    }
    /* bottom: time */
    int tdec = step_decimals(t_step);
    for (int i = 0;; i++) {
        double v = i * t_step;
        if (v * f->t_unit > f->t_end * (1 + 1e-9))
            break;
        double x = x_of(f, v * f->t_unit);
        fprintf(out, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>", x, bottom, x, bottom + 5);
        fprintf(out, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">%.*f</text>\n", x, bottom + 19, tdec, v);
    }
    fprintf(out,
            "<text class=\"axis-title\" x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">time since start (%s)</text>\n",
            f->left + f->width / 2, bottom + 44, f->t_unit_name);
    fprintf(out,
            "<text class=\"axis-title\" transform=\"translate(%.2f,%.2f) rotate(-90)\" text-anchor=\"middle\">"
            "heap in use, RSS (bytes, %s)</text>\n",
            18.0, f->top + f->height / 2, byte_units[bytes_unit]);
    fprintf(out,
            "<text class=\"axis-title\" transform=\"translate(%.2f,%.2f) rotate(90)\" text-anchor=\"middle\">"
            "live threads</text>\n",
            (double)SVG_WIDTH - 16, f->top + f->height / 2);
    fputs("</g>\n", out);
}

static void draw_legend(FILE *out, const plot_data_t *d)
{
    static const struct {
        const char *cls, *label;
    } items[] = {{"heap", "heap in use"}, {"rss", "RSS"}, {"threads", "live threads (right axis)"}};
    double x = PLOT_LEFT, y = 54;
    fputs("<g class=\"legend\">\n", out);
    for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++) {
        fprintf(out, "<line class=\"%s\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", items[i].cls, x, y - 4,
                x + 24, y - 4);
        fprintf(out, "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n", x + 30, y, items[i].label);
        x += 30 + 6.5 * (double)strlen(items[i].label) + 22;
    }
    static const uint32_t kinds[] = {HS_REASON_FORK_PARENT, HS_REASON_SIGNAL, HS_REASON_EXIT};
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        uint64_t n =
            d->markers_seen[kinds[i]] + (kinds[i] == HS_REASON_FORK_PARENT ? d->markers_seen[HS_REASON_FORK_CHILD] : 0);
        if (n == 0)
            continue;
        const char *cls = marker_class(kinds[i]);
        fprintf(out, "<g class=\"marker marker-%s\"><line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/></g>", cls,
                x, y - 4, x + 24, y - 4);
        fprintf(out, "<text x=\"%.1f\" y=\"%.1f\">%s (%" PRIu64 ")</text>\n", x + 30, y, cls, n);
        x += 30 + 6.5 * ((double)strlen(cls) + 5) + 22;
    }
    fputs("</g>\n", out);
}

static void render(FILE *out, const hs_model_header_t *h, const plot_data_t *d, const plot_trend_t *trend)
{
    plot_frame_t f = {.left = PLOT_LEFT,
                      .top = PLOT_TOP,
                      .width = SVG_WIDTH - PLOT_LEFT - PLOT_RIGHT,
                      .height = SVG_HEIGHT - PLOT_TOP - PLOT_BOTTOM};
    /* x: from the process start to the last snapshot, in s, min, h or days. */
    double span = d->snapshots && d->t_max > 0 ? d->t_max : 0;
    if (span < 120) {
        f.t_unit = 1, f.t_unit_name = "s";
    } else if (span < 2 * 3600) {
        f.t_unit = 60, f.t_unit_name = "min";
    } else if (span < 2 * 86400) {
        f.t_unit = 3600, f.t_unit_name = "h";
    } else {
        f.t_unit = 86400, f.t_unit_name = "days";
    }
    double t_step, t_top;
    axis_scale(span / f.t_unit, 1e-3, &t_step, &t_top);
    f.t_end = t_top * f.t_unit;

    double bytes_max = (double)(d->max[SERIES_HEAP] > d->max[SERIES_RSS] ? d->max[SERIES_HEAP] : d->max[SERIES_RSS]);
    int bytes_unit = bytes_unit_of(bytes_max);
    double unit = pow(1024, bytes_unit);
    double bytes_step, bytes_top;
    /* Some headroom, so that no maximum runs along the frame. */
    axis_scale(bytes_max * 1.04 / unit, bytes_unit ? 0.1 : 1, &bytes_step, &bytes_top);
    f.bytes_top = bytes_top * unit;
    bytes_step *= unit;
    double threads_step;
    axis_scale((double)d->max[SERIES_THREADS] * 1.2, 1, &threads_step, &f.threads_top);

    fprintf(out,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\""
            " data-snapshots=\"%" PRIu64 "\" data-max-heap-in-use=\"%" PRIu64 "\" data-max-rss=\"%" PRIu64
            "\" data-max-live-threads=\"%" PRIu64 "\" data-span-s=\"%.6f\" data-points=\"%zu\" data-markers=\"%" PRIu64
            "\">\n",
            SVG_WIDTH, SVG_HEIGHT, SVG_WIDTH, SVG_HEIGHT, d->snapshots, d->max[SERIES_HEAP], d->max[SERIES_RSS],
            d->max[SERIES_THREADS], span, d->bucket_count,
            d->markers_seen[HS_REASON_FORK_PARENT] + d->markers_seen[HS_REASON_FORK_CHILD] +
                d->markers_seen[HS_REASON_SIGNAL] + d->markers_seen[HS_REASON_EXIT]);
    fputs("<title>heapscope timeline: ", out);
    hs_put_xml_text(out, h->program ? h->program : "?");
    fprintf(out, " (pid %u)</title>\n", h->pid);
    fprintf(out,
            "<desc>%" PRIu64 " snapshots over %.3f s; max heap in use %" PRIu64 " bytes; max RSS %" PRIu64
            " bytes; max live threads %" PRIu64 "</desc>\n",
            d->snapshots, span, d->max[SERIES_HEAP], d->max[SERIES_RSS], d->max[SERIES_THREADS]);
    fputs("<style>\n"
          "text { font-family: DejaVu Sans, Helvetica, Arial, sans-serif; font-size: 12px; fill: #222; }\n"
          ".title { font-size: 16px; font-weight: bold; }\n"
          ".axis-title { font-size: 12px; fill: #444; }\n"
          ".axis line { stroke: #444; stroke-width: 1; }\n"
          ".grid line { stroke: #e4e4e4; stroke-width: 1; }\n"
          "polyline, .legend line { fill: none; stroke-width: 2; stroke-linejoin: round; }\n"
          ".heap { stroke: #1f77b4; } .rss { stroke: #ff7f0e; } .threads { stroke: #2ca02c; stroke-width: 1.5; }\n"
          ".heap-dot { fill: #1f77b4; } .rss-dot { fill: #ff7f0e; } .threads-dot { fill: #2ca02c; }\n"
          ".marker line { stroke-width: 1.2; stroke-dasharray: 5 4; }\n"
          ".marker text { font-size: 10px; }\n"
          ".marker-fork line { stroke: #9467bd; } .marker-fork text { fill: #9467bd; }\n"
          ".marker-signal line { stroke: #d62728; } .marker-signal text { fill: #d62728; }\n"
          ".marker-exit line { stroke: #555; } .marker-exit text { fill: #555; }\n"
          ".marker-leak line { stroke: #d62728; stroke-dasharray: 2 2; }\n"
          ".trend { stroke: #d62728; stroke-width: 1.5; stroke-dasharray: 8 3 2 3; }\n"
          ".note { font-size: 14px; fill: #888; }\n"
          "</style>\n",
          out);
    fprintf(out, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", SVG_WIDTH, SVG_HEIGHT);
    fprintf(out,
            "<defs><clipPath id=\"plot-area\"><rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\"/>"
            "</clipPath></defs>\n",
            f.left - 2, f.top - 2, f.width + 4, f.height + 4);
    fprintf(out, "<text class=\"title\" x=\"%.1f\" y=\"26\">heapscope: ", PLOT_LEFT);
    hs_put_xml_text(out, h->program ? h->program : "?");
    fprintf(out, " (pid %u) — %" PRIu64 " snapshot%s</text>\n", h->pid, d->snapshots, d->snapshots == 1 ? "" : "s");
    draw_legend(out, d);
    draw_axes(out, &f, bytes_step, bytes_unit, threads_step, t_step);
    if (d->snapshots == 0)
        fprintf(out, "<text class=\"note\" x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">no snapshots</text>\n",
                f.left + f.width / 2, f.top + f.height / 2);
    draw_markers(out, &f, d);
    draw_series(out, &f, d, SERIES_THREADS, "threads");
    draw_series(out, &f, d, SERIES_RSS, "rss");
    draw_series(out, &f, d, SERIES_HEAP, "heap");
    draw_trend(out, &f, trend);
    uint64_t all_markers = d->markers_seen[HS_REASON_FORK_PARENT] + d->markers_seen[HS_REASON_FORK_CHILD] +
                           d->markers_seen[HS_REASON_SIGNAL] + d->markers_seen[HS_REASON_EXIT];
    if (all_markers > d->marker_count)
        fprintf(out,
                "<text class=\"note\" x=\"%.2f\" y=\"%.2f\" text-anchor=\"end\">%" PRIu64
                " later markers not drawn</text>\n",
                f.left + f.width - 4, f.top + 16, all_markers - d->marker_count);
    fputs("</svg>\n", out);
}

int hs_cmd_plot(int argc, char **argv)
{
    static const hs_arg_option_t options[] = {{'o', 'o', "output", 1}, {0, 0, NULL, 0}};
    const char *path = NULL, *output = NULL, *value;
    hs_args_t args;
    int opt;
    hs_args_init(&args, "plot", options, HS_ARGS_PERMUTE, argc, argv);
    while ((opt = hs_args_next(&args, &value)) > 0) { /* the only option: -o */
        if (output) {
            fprintf(stderr, "heapscope: plot: -o given twice ('%s' and '%s')\n", output, value);
            return HS_EXIT_BAD_INPUT;
        }
        if (!*value) {
            fprintf(stderr, "heapscope: plot: -o '': must not be empty\n");
            return HS_EXIT_BAD_INPUT;
        }
        output = value;
    }
    if (opt == HS_ARGS_HELP) {
        hs_cmd_plot_usage(stdout);
        return HS_EXIT_OK;
    }
    if (opt == HS_ARGS_ERROR || hs_args_one_dump(&args, "heapscope plot DUMP -o FILE.svg", &path))
        return HS_EXIT_BAD_INPUT;
    if (!output) {
        fprintf(stderr, "heapscope: plot: missing -o FILE.svg (or -o - for stdout)\n");
        return HS_EXIT_BAD_INPUT;
    }

    /* Two passes (the series here, the leak trend in analysis.c): a pipe
     * is spooled once. */
    char err[512];
    hs_model_t *m = NULL;
    hs_input_t *in = NULL;
    int open_rc = hs_input_open(path, HS_INPUT_REREAD, &in, err, sizeof(err));
    if (open_rc == 0 && hs_input_model(in, &m, err, sizeof(err)))
        open_rc = HS_EXIT_BAD_INPUT;
    if (open_rc) {
        fprintf(stderr, "heapscope: %s\n", err);
        hs_input_close(in);
        return open_rc;
    }
    plot_data_t *d = calloc(1, sizeof(*d));
    if (!d) {
        fprintf(stderr, "heapscope: plot: out of memory\n");
        hs_model_close(m);
        hs_input_close(in);
        return HS_EXIT_FAILURE;
    }
    d->per_bucket = 1;
    d->leak_detected_at = -1;
    hs_model_snapshot_t snap;
    int got;
    while ((got = hs_model_next(m, &snap, err, sizeof(err))) == 1)
        plot_add(d, &snap);
    int rc = HS_EXIT_OK;
    if (got < 0) {
        fprintf(stderr, "heapscope: %s\n", err);
        rc = HS_EXIT_BAD_INPUT;
        goto out;
    }
    const char *warning = hs_model_warning(m);
    if (warning)
        fprintf(stderr, "heapscope: warning: %s\n", warning);

    int to_stdout = strcmp(output, "-") == 0;
    FILE *f = to_stdout ? stdout : fopen(output, "w");
    if (!f) {
        fprintf(stderr, "heapscope: plot: cannot create '%s': %m\n", output);
        rc = HS_EXIT_FAILURE;
        goto out;
    }
    /* The leak trend: the analysis' verdict on the process series of the
     * same dump (as the report's, before blame); drawn only when it found a
     * leak, from the start of its window to its end (the last snapshot
     * before exit: the teardown is not judged, analysis.h). Its pass ends this one:
     * m has been read to the end and only its header (copied strings) is
     * used below. A truncated tail was reported above, once. */
    hs_leak_result_t leak;
    double detected_at = -1;
    plot_trend_t trend, *trend_p = NULL;
    char label[160], leak_err[512];
    if (hs_analysis_leak_trend(in, 0, &leak, &detected_at, leak_err, sizeof(leak_err)) == 0 && leak.leaking) {
        char rate[48];
        snprintf(rate, sizeof(rate), "%.0f KiB/s", leak.slope / 1024);
        snprintf(label, sizeof(label), "leak trend (sampled estimate): +%s", rate);
        trend = (plot_trend_t){leak.intercept, leak.slope, leak.t0, leak.t1, label};
        trend_p = &trend;
        d->leak_detected_at = detected_at;
    }
    render(f, hs_model_header(m), d, trend_p);
    int write_failed = fflush(f) != 0 || ferror(f);
    if (!to_stdout && fclose(f) != 0)
        write_failed = 1;
    if (write_failed) {
        fprintf(stderr, "heapscope: plot: cannot write '%s'\n", to_stdout ? "stdout" : output);
        rc = HS_EXIT_FAILURE;
    }
out:
    free(d);
    hs_model_close(m);
    hs_input_close(in);
    return rc;
}
