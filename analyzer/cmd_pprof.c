/* cmd_pprof.c - `heapscope pprof DUMP...`: turns the state of one or more
 * dumps at a chosen snapshot (optionally minus an earlier one) into a
 * gzipped profile.proto heap profile shaped like Go's, symbolized offline.
 * Streams each dump once; memory is bounded by stacks and locations, not by
 * the dump's length. Never writes a partial profile for a corrupt input. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uthash.h>

#include "args.h"
#include "cli.h"
#include "hs_pprof.h"
#include "symbolize.h"
#include "input.h"
#include "model.h"
#include "sites.h"
#include "when.h"
#include "wrappers.h"

#define MAX_LINES 32

void hs_cmd_pprof_usage(FILE *out)
{
    fprintf(out, "usage: heapscope pprof DUMP... [-o FILE] [--at WHEN] [--base WHEN] [--sample-type TYPE]\n"
                 "                       [--no-symbolize] [--drop-frames REGEX] [--keep-frames REGEX]\n"
                 "\n"
                 "Writes a gzipped pprof heap profile (open it with `go tool pprof FILE`). Several dumps (a\n"
                 "server and its forked workers) are merged; each sample carries a `pid` label.\n"
                 "\n"
                 "  -o, --output FILE    output file (default heap.pb.gz; - for stdout)\n"
                 "  --at WHEN            the snapshot to show: last (default), first, a snapshot number\n"
                 "                       (seq, as `heapscope stats` lists them) or a time since start (90s, 5m, 2h)\n"
                 "  --base WHEN          subtract the state at WHEN: the profile shows what grew in between\n"
                 "  --sample-type TYPE   default view: inuse_space (default), inuse_objects, alloc_space,\n"
                 "                       alloc_objects\n"
                 "  --no-symbolize       leave symbolization to pprof (it reads the binaries itself)\n"
                 "\n"
                 "The profile's drop_frames holds the allocator and wrapper table (docs/frames.md), the\n"
                 "wrappers found in the dumps and --drop-frames; its keep_frames --keep-frames: pprof then\n"
                 "shows the callers of zmalloc or ngx_alloc as leaves, as heapscope report blames them.\n"
                 "\n" HS_SITES_FRAMES_USAGE HS_INPUT_USAGE);
}

/* A row-state copy of one dump at one point in time. */
typedef struct {
    hs_when_t when;
    int found, finished;
    hs_model_snapshot_t snap;
    hs_snapshot_row_t *rows; /* by stack index */
    size_t nrows;
} point_t;

typedef struct {
    hs_input_t *input; /* read once: --at and --base come from the same pass */
    hs_model_t *model;
    point_t at, base;
    int has_base;
    size_t index;
} dump_t;

typedef struct {
    struct {
        size_t dump;
        uint64_t addr;
    } key;
    uint64_t id;
    UT_hash_handle hh;
} loc_entry_t;

typedef struct {
    const hs_model_mapping_t *mapping;
    uint64_t id;
    UT_hash_handle hh;
} map_entry_t;

typedef struct {
    hs_pprof_t *p;
    hs_symbolizer_t *sym;
    loc_entry_t *locs;
    map_entry_t *maps;
    int symbolize;
} build_t;

static int grow_rows(point_t *pt, size_t n)
{
    if (n <= pt->nrows)
        return 0;
    hs_snapshot_row_t *rows = realloc(pt->rows, n * sizeof(*rows));
    if (!rows)
        return -1;
    memset(rows + pt->nrows, 0, (n - pt->nrows) * sizeof(*rows));
    pt->rows = rows;
    pt->nrows = n;
    return 0;
}

/* Brings the copy up to this snapshot if the snapshot is at or before the
 * point's target; marks the point finished once a snapshot is past it. */
static int update_point(point_t *pt, hs_model_t *m, const hs_model_snapshot_t *snap, int first)
{
    if (pt->finished)
        return 0;
    if (!hs_when_includes(&pt->when, snap, first)) {
        pt->finished = 1;
        return 0;
    }
    size_t n = hs_model_stack_count(m);
    if (grow_rows(pt, n))
        return -1;
    const uint32_t *changed;
    size_t nchanged = hs_model_changed(m, &changed);
    for (size_t c = 0; c < nchanged; c++)
        pt->rows[changed[c]] = hs_model_stack_at(m, changed[c])->row;
    pt->found = 1;
    pt->snap = *snap;
    if (hs_when_is_exact(&pt->when, snap))
        pt->finished = 1;
    return 0;
}

static int read_dump(dump_t *d, char *err, size_t errlen)
{
    hs_model_snapshot_t snap;
    int first = 1, rc;
    while ((rc = hs_model_next(d->model, &snap, err, errlen)) == 1) {
        if (update_point(&d->at, d->model, &snap, first) ||
            (d->has_base && update_point(&d->base, d->model, &snap, first))) {
            snprintf(err, errlen, "%s: out of memory", hs_model_path(d->model));
            return -1;
        }
        first = 0;
        if (d->at.finished && (!d->has_base || d->base.finished))
            break;
    }
    if (rc < 0)
        return -1;
    const char *warning = hs_model_warning(d->model);
    if (warning)
        fprintf(stderr, "heapscope: warning: %s; using the snapshots before it\n", warning);
    char what[64];
    if (!d->at.found || !hs_when_matched(&d->at.when, &d->at.snap)) {
        snprintf(err, errlen, "%s: no snapshot matches --at %s", hs_model_path(d->model),
                 hs_when_describe(&d->at.when, what, sizeof(what)));
        return -1;
    }
    if (d->has_base && (!d->base.found || !hs_when_matched(&d->base.when, &d->base.snap))) {
        snprintf(err, errlen, "%s: no snapshot matches --base %s", hs_model_path(d->model),
                 hs_when_describe(&d->base.when, what, sizeof(what)));
        return -1;
    }
    if (d->has_base && d->base.snap.seq > d->at.snap.seq) {
        snprintf(err, errlen, "%s: --base (snapshot %u) comes after --at (snapshot %u)", hs_model_path(d->model),
                 d->base.snap.seq, d->at.snap.seq);
        return -1;
    }
    return 0;
}

static void hex_build_id(const hs_model_mapping_t *m, char *out)
{
    for (uint32_t i = 0; i < m->build_id_len; i++)
        sprintf(out + 2 * i, "%02x", m->build_id[i]);
    out[2 * m->build_id_len] = 0;
}

static uint64_t mapping_id(build_t *b, const hs_model_mapping_t *m)
{
    map_entry_t *e;
    HASH_FIND_PTR(b->maps, &m, e);
    if (e)
        return e->id;
    char build_id[2 * HS_BUILD_ID_MAX + 1];
    hex_build_id(m, build_id);
    uint64_t id = hs_pprof_mapping(b->p, m->start, m->end, m->file_offset, m->path, build_id, b->symbolize,
                                   b->symbolize, b->symbolize, b->symbolize);
    e = calloc(1, sizeof(*e));
    if (!e || !id) {
        free(e);
        return 0;
    }
    e->mapping = m;
    e->id = id;
    HASH_ADD_PTR(b->maps, mapping, e);
    return id;
}

static uint64_t location_id(build_t *b, size_t dump, const hs_model_stack_t *s, uint32_t frame)
{
    loc_entry_t probe, *e;
    memset(&probe, 0, sizeof(probe));
    probe.key.dump = dump;
    probe.key.addr = s->frames[frame];
    HASH_FIND(hh, b->locs, &probe.key, sizeof(probe.key), e);
    if (e)
        return e->id;
    /* Every frame of an allocation stack is a return address: the call
     * instruction (and its file:line) is the byte before it. */
    uint64_t pc = s->frames[frame] ? s->frames[frame] - 1 : 0;
    const hs_model_mapping_t *m = s->frame_mapping[frame];
    uint64_t map_id = m ? mapping_id(b, m) : 0;
    hs_pprof_line_t lines[MAX_LINES];
    size_t n = 0;
    if (b->symbolize) {
        hs_sym_line_t sym[MAX_LINES];
        int got =
            m ? hs_symbolizer_lookup(b->sym, m->path, m->build_id, m->build_id_len, m->load_bias, pc, sym, MAX_LINES)
              : 0;
        for (int i = 0; i < got; i++) {
            lines[n].function_id =
                hs_pprof_function(b->p, sym[i].function, sym[i].function, sym[i].file ? sym[i].file : "", 0);
            lines[n].line = sym[i].line;
            n++;
        }
        if (n == 0) {
            /* Unknown binary or symbol: the frame is named as the report
             * names it (sites.c): module+0xSTART of its function's range,
             * so that a detected wrapper without a symbol is in
             * drop_frames under this name, else module+0xoffset. */
            char name[128];
            hs_site_unnamed_function(b->sym, s, frame, name, sizeof(name));
            lines[0].function_id = hs_pprof_function(b->p, name, name, "", 0);
            lines[0].line = 0;
            n = 1;
        }
    }
    uint64_t id = hs_pprof_location(b->p, map_id, pc, lines, n);
    e = calloc(1, sizeof(*e));
    if (!e || !id) {
        free(e);
        return 0;
    }
    e->key = probe.key;
    e->id = id;
    HASH_ADD(hh, b->locs, key, sizeof(e->key), e);
    return id;
}

static int64_t to_i64(double v) { return (int64_t)llround(v); }

static int add_samples(build_t *b, dump_t *d, char *err, size_t errlen)
{
    const hs_model_header_t *h = hs_model_header(d->model);
    uint64_t ids[HS_MAX_DEPTH_LIMIT];
    for (size_t i = 0; i < d->at.nrows; i++) {
        const hs_model_stack_t *s = hs_model_stack_at(d->model, i);
        hs_snapshot_row_t at = d->at.rows[i], base = {0};
        if (d->has_base && i < d->base.nrows)
            base = d->base.rows[i];
        double alloc_objects = at.est_alloc_objects - base.est_alloc_objects;
        double alloc_bytes = at.est_alloc_bytes - base.est_alloc_bytes;
        double inuse_objects =
            (at.est_alloc_objects - at.est_free_objects) - (base.est_alloc_objects - base.est_free_objects);
        double inuse_bytes = (at.est_alloc_bytes - at.est_free_bytes) - (base.est_alloc_bytes - base.est_free_bytes);
        int64_t values[4] = {to_i64(alloc_objects), to_i64(alloc_bytes), to_i64(inuse_objects), to_i64(inuse_bytes)};
        if (!values[0] && !values[1] && !values[2] && !values[3])
            continue;
        uint32_t depth = 0;
        for (uint32_t f = 0; f < s->depth; f++) {
            /* heapscope's own frames are nobody's call site (sites.c leaves them out too) */
            if (s->frame_mapping[f] && strstr(s->frame_mapping[f]->path, "libheapscope"))
                continue;
            if (!(ids[depth++] = location_id(b, d->index, s, f))) {
                snprintf(err, errlen, "out of memory building the profile");
                return -1;
            }
        }
        /* Go labels each sample with the object size; a stack here
         * aggregates its samples, so the label is their mean size. */
        uint64_t count = at.alloc_count - base.alloc_count, bytes = at.alloc_bytes - base.alloc_bytes;
        if (!count) {
            count = at.alloc_count;
            bytes = at.alloc_bytes;
        }
        hs_pprof_label_t labels[2] = {
            {"bytes", NULL, count ? (int64_t)(bytes / count) : 0, "bytes"},
            {"pid", NULL, (int64_t)h->pid, NULL},
        };
        if (hs_pprof_sample(b->p, ids, depth, values, 4, labels, 2)) {
            snprintf(err, errlen, "building the profile: %s", hs_pprof_error(b->p));
            return -1;
        }
    }
    return 0;
}

static void add_comments(build_t *b, const dump_t *d)
{
    const hs_model_header_t *h = hs_model_header(d->model);
    char line[1200], when[64];
    time_t t = (time_t)(d->at.snap.realtime_ns / 1000000000ull);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(line, sizeof(line), "heapscope: %s pid %u (parent %u) on %s", h->exe, h->pid, h->ppid, h->hostname);
    hs_pprof_comment(b->p, line);
    snprintf(line, sizeof(line), "command line: %.1000s", h->cmdline);
    hs_pprof_comment(b->p, line);
    snprintf(line, sizeof(line), "at snapshot %u (%s, +%.1f s, %s); sample rate %" PRIu64 " bytes", d->at.snap.seq,
             hs_reader_reason_name(d->at.snap.reason), d->at.snap.offset_s, when, h->sample_rate);
    hs_pprof_comment(b->p, line);
    if (d->has_base) {
        snprintf(line, sizeof(line), "minus base snapshot %u (+%.1f s): values are the growth in between",
                 d->base.snap.seq, d->base.snap.offset_s);
        hs_pprof_comment(b->p, line);
    }
}

/* drop_frames and keep_frames: the filter's expressions once the wrappers
 * of every dump are learnt, so pprof cuts the stacks where the reports do.
 * Without symbols there are no names to learn from. */
static int pprof_frames(build_t *b, hs_frame_filter_t *filter, dump_t *dumps, size_t ndumps)
{
    if (b->sym) {
        hs_model_t **models = calloc(ndumps, sizeof(*models));
        hs_site_finder_t *sf = hs_site_finder_new(b->sym, filter);
        int rc = !models || !sf;
        for (size_t i = 0; !rc && i < ndumps; i++)
            models[i] = dumps[i].model;
        if (!rc && hs_wrappers_detect(sf, filter, models, ndumps) < 0)
            rc = 1;
        hs_site_finder_free(sf);
        free(models);
        if (rc)
            return -1;
    }
    hs_pprof_set_drop_frames(b->p, hs_frame_filter_pprof_drop(filter), hs_frame_filter_pprof_keep(filter));
    return 0;
}

static void warn_once(void *ctx, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "heapscope: warning: %s\n", msg);
}

/* Returns HS_ARGS_END with the dumps in *dumps, HS_ARGS_HELP, or
 * HS_ARGS_ERROR after one line on stderr. */
static int parse_args(int argc, char **argv, const char **out, hs_when_t *at, hs_when_t *base, int *has_base,
                      const char **sample_type, int *symbolize, const char **frames[2], char ***dumps, int *ndumps)
{
    enum { OPT_OUTPUT = 1, OPT_AT, OPT_BASE, OPT_SAMPLE_TYPE, OPT_NO_SYMBOLIZE, OPT_DROP, OPT_KEEP };
    static const hs_arg_option_t options[] = {
        {OPT_OUTPUT, 'o', "output", 1},
        {OPT_AT, 0, "at", 1},
        {OPT_BASE, 0, "base", 1},
        {OPT_SAMPLE_TYPE, 0, "sample-type", 1},
        {OPT_NO_SYMBOLIZE, 0, "no-symbolize", 0},
        {OPT_DROP, 0, "drop-frames", 1},
        {OPT_KEEP, 0, "keep-frames", 1},
        {0, 0, NULL, 0},
    };
    hs_args_t args;
    const char *value;
    int opt;
    hs_args_init(&args, "pprof", options, HS_ARGS_PERMUTE, argc, argv);
    while ((opt = hs_args_next(&args, &value)) > 0) {
        switch (opt) {
        case OPT_OUTPUT: *out = value; break;
        case OPT_AT:
        case OPT_BASE:
            if (hs_when_parse(value, opt == OPT_AT ? at : base)) {
                fprintf(stderr,
                        "heapscope: pprof: --%s '%s' is not last, first, a snapshot number or a time like 90s\n",
                        opt == OPT_AT ? "at" : "base", value);
                return HS_ARGS_ERROR;
            }
            if (opt == OPT_BASE)
                *has_base = 1;
            break;
        case OPT_SAMPLE_TYPE:
            if (strcmp(value, "inuse_space") && strcmp(value, "inuse_objects") && strcmp(value, "alloc_space") &&
                strcmp(value, "alloc_objects")) {
                fprintf(stderr,
                        "heapscope: pprof: --sample-type '%s' is not one of inuse_space, inuse_objects, "
                        "alloc_space, alloc_objects\n",
                        value);
                return HS_ARGS_ERROR;
            }
            *sample_type = value;
            break;
        case OPT_NO_SYMBOLIZE: *symbolize = 0; break;
        case OPT_DROP: *frames[0] = value; break;
        case OPT_KEEP: *frames[1] = value; break;
        }
    }
    if (opt != HS_ARGS_END)
        return opt;
    if (hs_args_some_dumps(&args, "heapscope pprof DUMP... [-o FILE] [--at WHEN] [--base WHEN]"))
        return HS_ARGS_ERROR;
    *dumps = hs_args_operands(&args, ndumps);
    return HS_ARGS_END;
}

int hs_cmd_pprof(int argc, char **argv)
{
    const char *out_path = "heap.pb.gz", *sample_type = NULL;
    hs_when_t at = {HS_WHEN_LAST, 0, 0}, base = {HS_WHEN_LAST, 0, 0};
    int has_base = 0, symbolize = 1;
    const char *drop = NULL, *keep = NULL, **frames[2] = {&drop, &keep};
    char **operands;
    int noperands;
    int parsed = parse_args(argc, argv, &out_path, &at, &base, &has_base, &sample_type, &symbolize, frames, &operands,
                            &noperands);
    if (parsed == HS_ARGS_HELP) {
        hs_cmd_pprof_usage(stdout);
        return HS_EXIT_OK;
    }
    if (parsed != HS_ARGS_END)
        return HS_EXIT_BAD_INPUT;
    hs_frame_filter_t *filter = hs_sites_filter("pprof", drop, keep);
    if (!filter)
        return HS_EXIT_BAD_INPUT;
    size_t ndumps = (size_t)noperands;
    dump_t *dumps = calloc(ndumps, sizeof(*dumps));
    build_t b = {0};
    int status = HS_EXIT_FAILURE;
    char err[700] = "";
    if (!dumps || !(b.p = hs_pprof_new()) || (symbolize && !(b.sym = hs_symbolizer_new()))) {
        fprintf(stderr, "heapscope: pprof: out of memory\n");
        goto out;
    }
    b.symbolize = symbolize;
    if (b.sym)
        hs_symbolizer_set_warn(b.sym, warn_once, NULL);
    for (size_t i = 0; i < ndumps; i++) {
        dump_t *d = &dumps[i];
        d->index = i;
        d->at.when = at;
        d->base.when = base;
        d->has_base = has_base;
        int open_rc = hs_input_open(operands[i], HS_INPUT_ONCE, &d->input, err, sizeof(err));
        if (open_rc == 0 && (hs_input_model(d->input, &d->model, err, sizeof(err)) || read_dump(d, err, sizeof(err))))
            open_rc = HS_EXIT_BAD_INPUT;
        if (open_rc) {
            fprintf(stderr, "heapscope: %s\n", err);
            status = open_rc;
            goto out;
        }
    }
    hs_pprof_sample_type(b.p, "alloc_objects", "count");
    hs_pprof_sample_type(b.p, "alloc_space", "bytes");
    hs_pprof_sample_type(b.p, "inuse_objects", "count");
    hs_pprof_sample_type(b.p, "inuse_space", "bytes");
    hs_pprof_period(b.p, "space", "bytes", (int64_t)hs_model_header(dumps[0].model)->sample_rate);
    if (sample_type)
        hs_pprof_default_sample_type(b.p, sample_type);
    if (pprof_frames(&b, filter, dumps, ndumps)) {
        fprintf(stderr, "heapscope: pprof: out of memory\n");
        goto out;
    }
    const dump_t *d0 = &dumps[0];
    uint64_t start_ns = d0->has_base ? d0->base.snap.monotonic_ns : hs_model_header(d0->model)->start_monotonic_ns;
    hs_pprof_time(b.p, (int64_t)d0->at.snap.realtime_ns,
                  d0->at.snap.monotonic_ns > start_ns ? (int64_t)(d0->at.snap.monotonic_ns - start_ns) : 0);
    for (size_t i = 0; i < ndumps; i++) {
        add_comments(&b, &dumps[i]);
        if (add_samples(&b, &dumps[i], err, sizeof(err))) {
            fprintf(stderr, "heapscope: pprof: %s\n", err);
            goto out;
        }
    }
    int fd =
        strcmp(out_path, "-") == 0 ? STDOUT_FILENO : open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(stderr, "heapscope: pprof: cannot create %s: %s\n", out_path, strerror(errno));
        goto out;
    }
    int wrc = hs_pprof_write_gz(b.p, fd, err, sizeof(err));
    if (fd != STDOUT_FILENO && close(fd) != 0 && wrc == 0) {
        snprintf(err, sizeof(err), "%s", strerror(errno));
        wrc = -1;
    }
    if (wrc) {
        fprintf(stderr, "heapscope: pprof: writing %s failed: %s\n", out_path, err);
        goto out;
    }
    if (fd != STDOUT_FILENO)
        fprintf(stderr, "heapscope: wrote %s (%zu dump%s, snapshot %u%s)\n", out_path, ndumps, ndumps > 1 ? "s" : "",
                dumps[0].at.snap.seq, has_base ? ", growth since the base" : "");
    status = HS_EXIT_OK;
out:
    for (size_t i = 0; dumps && i < ndumps; i++) {
        hs_model_close(dumps[i].model);
        hs_input_close(dumps[i].input);
        free(dumps[i].at.rows);
        free(dumps[i].base.rows);
    }
    free(dumps);
    loc_entry_t *le, *ltmp;
    HASH_ITER(hh, b.locs, le, ltmp)
    {
        HASH_DEL(b.locs, le);
        free(le);
    }
    map_entry_t *me, *mtmp;
    HASH_ITER(hh, b.maps, me, mtmp)
    {
        HASH_DEL(b.maps, me);
        free(me);
    }
    if (b.sym)
        hs_symbolizer_free(b.sym);
    if (b.p)
        hs_pprof_free(b.p);
    hs_frame_filter_free(filter);
    return status;
}
