/* cmd_stats.c - `heapscope stats DUMP [--csv | --json]`: one row per snapshot
 * (process stats, call rates, the sampled in-use estimate) as an aligned
 * table, CSV or JSON. It streams the dump through the model (model.h) and
 * keeps one small row per snapshot, so nothing is printed for a corrupt
 * dump: a partial table would look like a complete one. Its neighbour
 * cmd_plot.c draws the same figures; both read the model, not each other. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "hs_alert.h"
#include "cli.h"
#include "hs_text.h"
#include "input.h"
#include "textout.h"
#include "model.h"
#include "sites.h"
#include "symbolize.h"
#include "wrappers.h"
#include <uthash.h>

/* Call sites listed after the table (and in the JSON's "top_sites"). */
#define STATS_TOP_SITES 10

typedef enum { FORMAT_TABLE, FORMAT_CSV, FORMAT_JSON } stats_format_t;

typedef struct {
    uint32_t seq, reason;
    double offset_s;
    uint64_t heap_in_use, heap_reserved, rss, live_threads;
    uint64_t alloc_calls, free_calls, lost_samples, heap_source;
    double alloc_calls_per_s, free_calls_per_s;
    double est_inuse_bytes; /* sum over stacks of est_alloc_bytes - est_free_bytes */
} stats_row_t;

typedef struct {
    stats_row_t *rows;
    size_t count, capacity;
    /* The running sampled in-use total: contribution[i] is what stack i
     * (model order, which is append-only) adds to est_inuse_bytes. */
    double *contribution;
    size_t contribution_capacity;
    double est_inuse_bytes;
    hs_model_alert_t *alerts; /* ALERT records, in file order */
    size_t nalerts, alerts_capacity;
    int alerts_oom;
    /* The call sites holding the most at the last snapshot (sites.h). */
    hs_frame_filter_t *frames; /* with the wrappers detected in the dump */
    struct top_site *sites;    /* uthash by key */
    struct top_site **top;     /* the first ntop, largest first */
    size_t ntop;
} stats_t;

/* One call site's sampled estimates at the last snapshot, its stacks summed. */
typedef struct top_site {
    UT_hash_handle hh;
    hs_site_t where;
    double inuse_bytes, inuse_objects, alloc_bytes, alloc_objects;
    char key[];
} top_site_t;

void hs_cmd_stats_usage(FILE *out)
{
    fprintf(out, "usage: heapscope stats [--csv | --json] [--drop-frames REGEX] [--keep-frames REGEX]\n"
                 "                       [--no-symbolize] DUMP\n"
                 "\n"
                 "Prints one row per snapshot of DUMP: time since the process started, the\n"
                 "snapshot's reason, heap in use and reserved (the allocator's own figures, or\n"
                 "the sampled estimate: heap_source says which; reserved 0 = unknown), RSS, live\n"
                 "threads, allocation and free calls per second since the previous snapshot\n"
                 "(since the start, or the fork, for the first), the in-use bytes estimated\n"
                 "from the samples, and the samples lost so far. The default is an aligned table with KiB/MiB sizes;\n"
                 "--csv and --json give raw numbers (bytes, seconds, calls per second).\n"
                 "\n"
                 "  --csv   a header line, then one line per snapshot with the columns\n"
                 "          seq,offset_s,reason,heap_in_use,heap_reserved,rss,live_threads,\n"
                 "          alloc_calls,free_calls,alloc_calls_per_s,free_calls_per_s,\n"
                 "          est_inuse_bytes,lost_samples,heap_source (sampled, jemalloc,\n"
                 "          tcmalloc or mimalloc)\n"
                 "  --json  {\"file\", \"pid\", \"program\", \"sample_rate\", \"truncated\",\n"
                 "          \"snapshots\": [{the CSV columns as keys}], \"alerts\": [{\"offset_s\",\n"
                 "          \"kind\", \"event\", \"value\", \"threshold\"}]}\n"
                 "\n"
                 "Health alerts (HEAPSCOPE_ALERT_*) the dump recorded follow the table, one line\n"
                 "each, and are the JSON's \"alerts\"; the CSV has no room for them.\n"
                 "\n"
                 "Then, after a blank line, the allocation wrappers found in the dump and the ten call\n"
                 "sites holding the most at the last snapshot (sampled estimates: in use, objects,\n"
                 "allocated over the run), named as heapscope report names them (\"caller (file:line)\n"
                 "via wrapper\"); the JSON's \"wrappers_detected\" and \"top_sites\": [{\"function\",\n"
                 "\"file\", \"line\", \"via\", \"inuse_bytes\", \"inuse_objects\", \"alloc_bytes\",\n"
                 "\"alloc_objects\"}].\n"
                 "\n" HS_SITES_FRAMES_USAGE "  --no-symbolize       name frames by module+offset only\n"
                 "\n"
                 "A truncated tail is a warning on stderr (exit 0, the complete snapshots are\n"
                 "printed); a corrupt dump prints nothing but one error line (exit 2).\n" HS_INPUT_USAGE);
}

static void on_alert(void *ctx, const hs_model_alert_t *a)
{
    stats_t *s = ctx;
    if (s->nalerts == s->alerts_capacity) {
        size_t cap = s->alerts_capacity ? s->alerts_capacity * 2 : 16;
        hs_model_alert_t *grown = realloc(s->alerts, cap * sizeof(*grown));
        if (!grown) {
            s->alerts_oom = 1;
            return;
        }
        s->alerts = grown;
        s->alerts_capacity = cap;
    }
    s->alerts[s->nalerts++] = *a;
}

static int stats_push(stats_t *s, const stats_row_t *row)
{
    if (s->count == s->capacity) {
        size_t cap = s->capacity ? s->capacity * 2 : 256;
        stats_row_t *rows = realloc(s->rows, cap * sizeof(*rows));
        if (!rows)
            return -1;
        s->rows = rows;
        s->capacity = cap;
    }
    s->rows[s->count++] = *row;
    return 0;
}

/* Brings the running total up to date with the snapshot just applied. Only
 * rows the snapshot carried change: the walk is over those
 * (hs_model_changed, in the order of the stacks), and a snapshot without
 * rows costs nothing. */
static int stats_update_inuse(stats_t *s, const hs_model_t *m)
{
    size_t n = hs_model_stack_count(m);
    if (n > s->contribution_capacity) {
        size_t cap = s->contribution_capacity ? s->contribution_capacity : 64;
        while (cap < n)
            cap *= 2;
        double *c = realloc(s->contribution, cap * sizeof(*c));
        if (!c)
            return -1;
        memset(c + s->contribution_capacity, 0, (cap - s->contribution_capacity) * sizeof(*c));
        s->contribution = c;
        s->contribution_capacity = cap;
    }
    const uint32_t *changed;
    size_t nchanged = hs_model_changed(m, &changed);
    for (size_t c = 0; c < nchanged; c++) {
        size_t i = changed[c];
        const hs_model_stack_t *st = hs_model_stack_at(m, i);
        double now = st->row.est_alloc_bytes - st->row.est_free_bytes;
        s->est_inuse_bytes += now - s->contribution[i];
        s->contribution[i] = now;
    }
    return 0;
}

/* Calls per second over dt; 0 when time did not advance or the counter went
 * back (it never should: both are cumulative and exact). */
static double rate_of(uint64_t now, uint64_t before, double dt)
{
    if (dt <= 0 || now < before)
        return 0;
    return (double)(now - before) / dt;
}

static void fill_row(stats_row_t *row, const hs_model_snapshot_t *snap, const stats_row_t *prev, double inuse)
{
    memset(row, 0, sizeof(*row));
    row->seq = snap->seq;
    row->reason = snap->reason;
    row->offset_s = snap->offset_s;
    row->heap_in_use = snap->stats[HS_STAT_HEAP_IN_USE];
    row->heap_reserved = snap->stats[HS_STAT_HEAP_RESERVED];
    row->rss = snap->stats[HS_STAT_RSS];
    row->live_threads = snap->stats[HS_STAT_LIVE_THREADS];
    row->alloc_calls = snap->stats[HS_STAT_ALLOC_CALLS];
    row->free_calls = snap->stats[HS_STAT_FREE_CALLS];
    row->lost_samples = snap->stats[HS_STAT_LOST_SAMPLES];
    row->heap_source = snap->stats[HS_STAT_HEAP_SOURCE];
    /* A forked child's counters and offsets both start at the fork, so its
     * first row's rates are its own since then. */
    double dt = prev ? snap->offset_s - prev->offset_s : snap->offset_s;
    row->alloc_calls_per_s = rate_of(row->alloc_calls, prev ? prev->alloc_calls : 0, dt);
    row->free_calls_per_s = rate_of(row->free_calls, prev ? prev->free_calls : 0, dt);
    /* The estimate is a sum of differences of large floats: a few ulps of
     * noise must not show as "-0" or as a negative heap. */
    row->est_inuse_bytes = inuse > 0.5 ? inuse : 0;
}

/* ---- top sites ---------------------------------------------------------- */

static void put_printable(FILE *out, const char *s);

static int by_inuse(const void *x, const void *y)
{
    const top_site_t *p = *(const top_site_t *const *)x, *q = *(const top_site_t *const *)y;
    if (p->inuse_bytes != q->inuse_bytes)
        return p->inuse_bytes < q->inuse_bytes ? 1 : -1;
    if (p->alloc_bytes != q->alloc_bytes)
        return p->alloc_bytes < q->alloc_bytes ? 1 : -1;
    return strcmp(p->key, q->key);
}

/* Estimates are differences of sums: noise below half a unit is 0. */
static double not_negative(double x) { return x > 0.5 ? x : 0; }

static void quiet(void *ctx, const char *msg)
{
    (void)ctx;
    (void)msg; /* stats is about figures: an unsymbolized site is named module+offset */
}

/* Groups every stack's last row by call site, after learning the dump's
 * allocation wrappers. 0, or -1 on OOM. */
static int stats_sites(stats_t *s, hs_model_t *m, hs_symbolizer_t *sym)
{
    hs_site_finder_t *sf = hs_site_finder_new(sym, s->frames);
    if (!sf || hs_wrappers_detect(sf, s->frames, &m, 1) < 0) {
        hs_site_finder_free(sf);
        return -1;
    }
    int rc = 0;
    size_t n = hs_model_stack_count(m), count = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const hs_model_stack_t *st = hs_model_stack_at(m, i);
        if (!st->has_row)
            continue;
        hs_site_t w;
        hs_site_find(sf, st, &w);
        char key[1300];
        snprintf(key, sizeof(key), "%s\t%s\t%u\t%" PRIx64, w.function, w.file ? w.file : "", w.line,
                 w.file ? 0 : w.offset);
        top_site_t *t;
        HASH_FIND_STR(s->sites, key, t);
        if (!t) {
            size_t len = strlen(key);
            if (!(t = calloc(1, sizeof(*t) + len + 1))) {
                rc = -1;
                break;
            }
            memcpy(t->key, key, len + 1);
            /* The finder's strings die with it: keep copies. */
            t->where = w;
            t->where.function = strdup(w.function);
            t->where.file = w.file ? strdup(w.file) : NULL;
            t->where.via = w.via ? strdup(w.via) : NULL;
            t->where.module = w.module ? strdup(w.module) : NULL;
            HASH_ADD_STR(s->sites, key, t);
            count++;
            if (!t->where.function || (w.file && !t->where.file) || (w.via && !t->where.via) ||
                (w.module && !t->where.module))
                rc = -1;
        }
        t->inuse_bytes += st->row.est_alloc_bytes - st->row.est_free_bytes;
        t->inuse_objects += st->row.est_alloc_objects - st->row.est_free_objects;
        t->alloc_bytes += st->row.est_alloc_bytes;
        t->alloc_objects += st->row.est_alloc_objects;
    }
    hs_site_finder_free(sf);
    if (rc)
        return rc;
    if (!(s->top = calloc(count ? count : 1, sizeof(*s->top))))
        return -1;
    top_site_t *t, *tmp;
    HASH_ITER(hh, s->sites, t, tmp)
    {
        t->inuse_bytes = not_negative(t->inuse_bytes);
        t->inuse_objects = not_negative(t->inuse_objects);
        s->top[s->ntop++] = t;
    }
    qsort(s->top, s->ntop, sizeof(*s->top), by_inuse);
    if (s->ntop > STATS_TOP_SITES)
        s->ntop = STATS_TOP_SITES;
    return 0;
}

static void stats_sites_free(stats_t *s)
{
    top_site_t *t, *tmp;
    HASH_ITER(hh, s->sites, t, tmp)
    {
        HASH_DEL(s->sites, t);
        free((char *)t->where.function);
        free((char *)t->where.file);
        free((char *)t->where.via);
        free((char *)t->where.module);
        free(t);
    }
    free(s->top);
    hs_frame_filter_free(s->frames);
}

static void print_sites_table(FILE *out, const stats_t *s)
{
    char names[600], b1[32], b2[32], where[1400];
    fputc('\n', out);
    if (hs_frame_filter_wrapper_count(s->frames))
        fprintf(out, "allocation wrappers detected: %s (--keep-frames to keep them)\n",
                hs_wrappers_list(s->frames, names, sizeof(names)));
    fprintf(out, "top sites (sampled estimates at the last snapshot, most in use first):\n");
    fprintf(out, "%12s  %10s  %12s  %s\n", "in use", "objects", "allocated", "site");
    for (size_t i = 0; i < s->ntop; i++) {
        const top_site_t *t = s->top[i];
        fprintf(out, "%12s  %10.0f  %12s  ", hs_text_bytes(t->inuse_bytes, HS_TEXT_BYTES_TENTHS, b1, sizeof(b1)),
                t->inuse_objects, hs_text_bytes(t->alloc_bytes, HS_TEXT_BYTES_TENTHS, b2, sizeof(b2)));
        put_printable(out, hs_site_describe(&t->where, where, sizeof(where)));
        fputc('\n', out);
    }
    if (!s->ntop)
        fprintf(out, "  (no sampled allocation)\n");
}

static void print_sites_json(FILE *out, const stats_t *s)
{
    fputs(",\n \"wrappers_detected\": [", out);
    for (size_t i = 0; i < hs_frame_filter_wrapper_count(s->frames); i++) {
        fputs(i ? ", " : "", out);
        hs_put_json_string(out, hs_frame_filter_wrapper_at(s->frames, i));
    }
    fputs("],\n \"top_sites\": [", out);
    for (size_t i = 0; i < s->ntop; i++) {
        const top_site_t *t = s->top[i];
        fputs(i ? ",\n  {\"function\": " : "\n  {\"function\": ", out);
        hs_put_json_string(out, t->where.function);
        fputs(", \"file\": ", out);
        if (t->where.file)
            hs_put_json_string(out, t->where.file);
        else
            fputs("null", out);
        fprintf(out, ", \"line\": %u, \"via\": ", t->where.line);
        if (t->where.via)
            hs_put_json_string(out, t->where.via);
        else
            fputs("null", out);
        fprintf(out,
                ", \"inuse_bytes\": %.0f, \"inuse_objects\": %.0f, \"alloc_bytes\": %.0f, \"alloc_objects\": %.0f}",
                t->inuse_bytes, t->inuse_objects, t->alloc_bytes, t->alloc_objects);
    }
    fputs(s->ntop ? "\n ]" : "]", out);
}

/* "1023 B", "1.5 KiB", "12.0 MiB", ... up to EiB (u64 bytes never go further). */
static void print_csv(FILE *out, const stats_t *s)
{
    fputs("seq,offset_s,reason,heap_in_use,heap_reserved,rss,live_threads,alloc_calls,free_calls,"
          "alloc_calls_per_s,free_calls_per_s,est_inuse_bytes,lost_samples,heap_source\n",
          out);
    for (size_t i = 0; i < s->count; i++) {
        const stats_row_t *r = &s->rows[i];
        fprintf(out, "%u,%.6f,%s,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",", r->seq,
                r->offset_s, hs_reader_reason_name(r->reason), r->heap_in_use, r->heap_reserved, r->rss,
                r->live_threads, r->alloc_calls, r->free_calls);
        fprintf(out, "%.3f,%.3f,", r->alloc_calls_per_s, r->free_calls_per_s);
        fprintf(out, "%.0f,%" PRIu64 ",%s\n", r->est_inuse_bytes, r->lost_samples,
                hs_reader_heap_source_name(r->heap_source));
    }
}

/* Keys (all numbers raw: bytes, seconds, calls per second):
 *   file         the DUMP argument
 *   pid          the recorded process's pid (header)
 *   program      its executable's basename (header)
 *   sample_rate  mean bytes between samples (header)
 *   truncated    true when the dump ends in a torn record (the rows stop before it)
 *   snapshots    one object per snapshot, in file order:
 *     seq, offset_s (seconds since the process started), reason ("interval",
 *     "exit", "fork-parent", "fork-child", "signal", "dlclose"), heap_in_use,
 *     heap_reserved, rss, live_threads, alloc_calls, free_calls (cumulative,
 *     exact), alloc_calls_per_s, free_calls_per_s (since the previous
 *     snapshot; the first since the start or the fork), est_inuse_bytes
 *     (in-use bytes estimated from the samples), lost_samples (cumulative),
 *     heap_source (where heap_in_use/heap_reserved come from) */
static void print_json(FILE *out, const char *path, const hs_model_header_t *h, int truncated, const stats_t *s)
{
    fputs("{\"file\": ", out);
    hs_put_json_string(out, path);
    fprintf(out, ", \"pid\": %u, \"program\": ", h->pid);
    hs_put_json_string(out, h->program ? h->program : "");
    fprintf(out, ", \"sample_rate\": %" PRIu64 ", \"truncated\": %s,\n \"snapshots\": [", h->sample_rate,
            truncated ? "true" : "false");
    for (size_t i = 0; i < s->count; i++) {
        const stats_row_t *r = &s->rows[i];
        fprintf(out,
                "%s\n  {\"seq\": %u, \"offset_s\": %.6f, \"reason\": \"%s\", \"heap_in_use\": %" PRIu64
                ", \"heap_reserved\": %" PRIu64 ", \"rss\": %" PRIu64 ", \"live_threads\": %" PRIu64
                ", \"alloc_calls\": %" PRIu64 ", \"free_calls\": %" PRIu64 ", ",
                i ? "," : "", r->seq, r->offset_s, hs_reader_reason_name(r->reason), r->heap_in_use, r->heap_reserved,
                r->rss, r->live_threads, r->alloc_calls, r->free_calls);
        fprintf(out, "\"alloc_calls_per_s\": %.3f, \"free_calls_per_s\": %.3f", r->alloc_calls_per_s,
                r->free_calls_per_s);
        fprintf(out, ", \"est_inuse_bytes\": %.0f, \"lost_samples\": %" PRIu64 ", \"heap_source\": \"%s\"}",
                r->est_inuse_bytes, r->lost_samples, hs_reader_heap_source_name(r->heap_source));
    }
    fputs(s->count ? "\n ],\n \"alerts\": [" : "],\n \"alerts\": [", out);
    for (size_t i = 0; i < s->nalerts; i++) {
        const hs_model_alert_t *a = &s->alerts[i];
        fprintf(
            out,
            "%s\n  {\"offset_s\": %.6f, \"kind\": \"%s\", \"event\": \"%s\", \"value\": %.17g, \"threshold\": %" PRIu64
            "}",
            i ? "," : "", a->offset_s, hs_reader_alert_kind_name(a->kind), hs_reader_alert_event_name(a->event),
            a->value, a->threshold);
    }
    fputs(s->nalerts ? "\n ]" : "]", out);
    print_sites_json(out, s);
    fputs("}\n", out);
}

/* Control bytes from a dump or argv must not reach the terminal. */
static void put_printable(FILE *out, const char *s)
{
    for (; *s; s++)
        fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, out);
}

static void print_table(FILE *out, const char *path, const hs_model_header_t *h, const stats_t *s)
{
    char b1[32], b2[32], b3[32], b4[32];
    put_printable(out, path);
    fprintf(out, ": pid %u, program ", h->pid);
    put_printable(out, h->program ? h->program : "?");
    fprintf(out, ", sample rate %" PRIu64 " bytes, %zu snapshots\n", h->sample_rate, s->count);
    fprintf(out, "%12s  %-11s  %11s  %13s  %11s  %7s  %12s  %12s  %14s  %12s\n", "time (s)", "reason", "heap in use",
            "heap reserved", "RSS", "threads", "allocs/s", "frees/s", "sampled in use", "lost samples");
    for (size_t i = 0; i < s->count; i++) {
        const stats_row_t *r = &s->rows[i];
        char allocs[32], frees[32];
        snprintf(allocs, sizeof(allocs), "%.0f", r->alloc_calls_per_s);
        snprintf(frees, sizeof(frees), "%.0f", r->free_calls_per_s);
        fprintf(out, "%12.3f  %-11s  %11s  %13s  %11s  %7" PRIu64 "  %12s  %12s  %14s  %12" PRIu64 "\n", r->offset_s,
                hs_reader_reason_name(r->reason),
                hs_text_bytes((double)r->heap_in_use, HS_TEXT_BYTES_TENTHS, b1, sizeof(b1)),
                hs_text_bytes((double)r->heap_reserved, HS_TEXT_BYTES_TENTHS, b2, sizeof(b2)),
                hs_text_bytes((double)r->rss, HS_TEXT_BYTES_TENTHS, b3, sizeof(b3)), r->live_threads, allocs, frees,
                hs_text_bytes(r->est_inuse_bytes, HS_TEXT_BYTES_TENTHS, b4, sizeof(b4)), r->lost_samples);
    }
    /* Only when the dump has ALERT records: a table without them is exactly
     * a header, the column line and one row per snapshot. */
    if (s->nalerts)
        fprintf(out, "alerts (health thresholds, HEAPSCOPE_ALERT_*):\n");
    for (size_t i = 0; i < s->nalerts; i++) {
        const hs_model_alert_t *a = &s->alerts[i];
        char line[256];
        fprintf(out, "%12.3f  %-11s  %s\n", a->offset_s, hs_reader_alert_event_name(a->event),
                hs_alert_describe(a->kind, a->event, a->value, a->threshold, line, sizeof(line)));
    }
}

int hs_cmd_stats(int argc, char **argv)
{
    enum { OPT_CSV = 1, OPT_JSON, OPT_DROP, OPT_KEEP, OPT_NO_SYMBOLIZE };
    static const hs_arg_option_t options[] = {{OPT_CSV, 0, "csv", 0},
                                              {OPT_JSON, 0, "json", 0},
                                              {OPT_DROP, 0, "drop-frames", 1},
                                              {OPT_KEEP, 0, "keep-frames", 1},
                                              {OPT_NO_SYMBOLIZE, 0, "no-symbolize", 0},
                                              {0, 0, NULL, 0}};
    stats_format_t format = FORMAT_TABLE;
    const char *format_flag = NULL, *path = NULL, *value, *drop = NULL, *keep = NULL;
    int symbolize = 1;
    hs_args_t args;
    int opt;
    hs_args_init(&args, "stats", options, HS_ARGS_PERMUTE, argc, argv);
    while ((opt = hs_args_next(&args, &value)) > 0) {
        if (opt == OPT_DROP || opt == OPT_KEEP || opt == OPT_NO_SYMBOLIZE) {
            if (opt == OPT_NO_SYMBOLIZE)
                symbolize = 0;
            else
                *(opt == OPT_DROP ? &drop : &keep) = value;
            continue;
        }
        const char *flag = opt == OPT_CSV ? "--csv" : "--json";
        if (format_flag && strcmp(format_flag, flag) != 0) {
            fprintf(stderr, "heapscope: stats: %s and %s exclude each other\n", format_flag, flag);
            return HS_EXIT_BAD_INPUT;
        }
        format_flag = flag;
        format = opt == OPT_CSV ? FORMAT_CSV : FORMAT_JSON;
    }
    if (opt == HS_ARGS_HELP) {
        hs_cmd_stats_usage(stdout);
        return HS_EXIT_OK;
    }
    if (opt == HS_ARGS_ERROR || hs_args_one_dump(&args, "heapscope stats [--csv | --json] DUMP", &path))
        return HS_EXIT_BAD_INPUT;
    stats_t s;
    memset(&s, 0, sizeof(s));
    if (!(s.frames = hs_sites_filter("stats", drop, keep)))
        return HS_EXIT_BAD_INPUT;

    char err[512];
    hs_model_t *m = NULL;
    hs_input_t *in = NULL;
    int open_rc = hs_input_open(path, HS_INPUT_ONCE, &in, err, sizeof(err));
    if (open_rc == 0 && hs_input_model(in, &m, err, sizeof(err)))
        open_rc = HS_EXIT_BAD_INPUT;
    if (open_rc) {
        fprintf(stderr, "heapscope: %s\n", err);
        hs_input_close(in);
        hs_frame_filter_free(s.frames);
        return open_rc;
    }
    hs_model_set_alert_cb(m, on_alert, &s);
    int rc = HS_EXIT_OK;
    hs_model_snapshot_t snap;
    int got;
    while ((got = hs_model_next(m, &snap, err, sizeof(err))) == 1) {
        stats_row_t row;
        if (stats_update_inuse(&s, m)) {
            got = -2;
            break;
        }
        fill_row(&row, &snap, s.count ? &s.rows[s.count - 1] : NULL, s.est_inuse_bytes);
        if (stats_push(&s, &row)) {
            got = -2;
            break;
        }
    }
    if (got != -1 && s.alerts_oom)
        got = -2;
    /* The CSV has no room for sites: it skips the symbolizing. */
    if (got == 0 && format != FORMAT_CSV) {
        hs_symbolizer_t *sym = symbolize ? hs_symbolizer_new() : NULL;
        if (sym)
            hs_symbolizer_set_warn(sym, quiet, NULL);
        if ((symbolize && !sym) || stats_sites(&s, m, sym))
            got = -2;
        if (sym)
            hs_symbolizer_free(sym);
    }
    if (got == -1) {
        fprintf(stderr, "heapscope: %s\n", err);
        rc = HS_EXIT_BAD_INPUT;
    } else if (got == -2) {
        fprintf(stderr, "heapscope: stats: %s: out of memory after %zu snapshots\n", path, s.count);
        rc = HS_EXIT_FAILURE;
    } else {
        const char *warning = hs_model_warning(m);
        if (warning)
            fprintf(stderr, "heapscope: warning: %s\n", warning);
        const hs_model_header_t *h = hs_model_header(m);
        if (format == FORMAT_CSV)
            print_csv(stdout, &s);
        else if (format == FORMAT_JSON)
            print_json(stdout, path, h, warning != NULL, &s);
        else {
            print_table(stdout, path, h, &s);
            print_sites_table(stdout, &s);
        }
        if (fflush(stdout) != 0 || ferror(stdout)) {
            fprintf(stderr, "heapscope: stats: cannot write to stdout\n");
            rc = HS_EXIT_FAILURE;
        }
    }
    free(s.rows);
    free(s.contribution);
    free(s.alerts);
    stats_sites_free(&s);
    hs_model_close(m);
    hs_input_close(in);
    return rc;
}
