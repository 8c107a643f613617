/* cmd_info.c - `heapscope info [--stacks] DUMP`: streams a dump once through
 * hs_reader, checks the rules that span records (stack ids defined once and
 * before use, snapshot order), and prints the header, counts, the last
 * snapshot, an integrity verdict and optionally every stack's last row.
 * It must never print a partial report for a corrupt file: output is
 * produced only after the whole file has been read. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uthash.h>

#include "args.h"
#include "cli.h"
#include "hs_reader.h"
#include "input.h"

typedef struct {
    uint64_t start, end, load_bias;
    char *path; /* NUL-terminated copy; may be "" */
    uint8_t build_id[HS_BUILD_ID_MAX];
    uint32_t build_id_len;
} mapping_t;

/* One MAPPINGS record: the loaded objects from then until the next one. */
typedef struct {
    mapping_t *entries;
    uint32_t count;
} mapping_set_t;

typedef struct {
    uint32_t id;
    uint32_t depth;
    uint64_t *frames;
    size_t mapping_set; /* index+1 of the set current when the stack was written; 0 = none */
    int has_row;
    uint64_t row_snapshot; /* index+1 of the snapshot that last gave a row */
    hs_snapshot_row_t row;
    UT_hash_handle hh;
} stack_entry_t;

/* The last counts of one THREAD_SITES entry (creation stack, start routine). */
typedef struct {
    struct site_key {
        uint64_t start_routine;
        uint32_t stack_id, pad;
    } key;
    uint64_t started, exited;
    UT_hash_handle hh;
} thread_site_entry_t;

typedef struct {
    const char *path;
    hs_header_rec_t header; /* strings point into the copies below */
    char *exe_path, *cmdline, *hostname;
    uint64_t counts[HS_REC_TYPE_MAX + 1];
    uint64_t records;
    mapping_set_t *sets;
    size_t set_count;
    stack_entry_t *stacks;
    uint64_t stack_count, stacks_with_rows;
    uint64_t threads_started, threads_exited; /* THREAD records */
    thread_site_entry_t *thread_sites;
    uint64_t sites_started, sites_exited; /* sums of the sites' latest counts: exact */
    uint64_t snapshots;
    uint64_t first_monotonic_ns;
    uint32_t first_seq;
    hs_snapshot_rec_t last; /* rows pointer is stale: only the scalar fields are kept */
} info_t;

void hs_cmd_info_usage(FILE *out)
{
    fprintf(out,
            "usage: heapscope info [--stacks] DUMP\n"
            "\n"
            "Prints the dump's header, record counts, snapshot span, the last snapshot's\n"
            "process stats and an integrity verdict (line 'integrity: ...'). A truncated\n"
            "tail (the writer was killed mid-write) is a warning: exit 0. A corrupt record\n"
            "is an error on stderr naming the record and byte offset: exit 2.\n"
            "\n"
            "  --stacks  then, for every stack with a row at the last snapshot:\n"
            "    stack ID allocs N alloc_bytes N frees N free_bytes N est_alloc_objects F\n"
            "          est_alloc_bytes F est_inuse_objects F est_inuse_bytes F\n"
            "      frame I 0xADDR MAPPING_PATH|? 0xADDR_MINUS_LOAD_BIAS|0\n"
            "    (one line each; frame 0 is the allocation site, addresses are return addresses)\n" HS_INPUT_USAGE);
}

static char *copy_str(hs_str_t s)
{
    char *c = malloc(s.len + 1);
    if (c) {
        if (s.len)
            memcpy(c, s.ptr, s.len);
        c[s.len] = '\0';
    }
    return c;
}

/* Control bytes and whitespace would break the one-line-per-item output that
 * scripts parse, so they are written as \xNN. */
static void put_escaped(FILE *out, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c == 0x7f || c == '\\')
            fprintf(out, "\\x%02x", c);
        else
            fputc(c, out);
    }
}

/* Arguments are NUL-separated; a final NUL (as in /proc/self/cmdline) ends
 * the last argument rather than starting an empty one. */
static void put_cmdline(FILE *out, const char *s, size_t n)
{
    if (n > 0 && s[n - 1] == '\0')
        n--;
    size_t arg = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '\0') {
            if (arg > 0 || i > 0)
                fputc(' ', out);
            put_escaped(out, s + arg, i - arg);
            arg = i + 1;
        }
    }
}

static void put_time(FILE *out, uint64_t realtime_ns)
{
    time_t secs = (time_t)(realtime_ns / 1000000000u);
    struct tm tm;
    char buf[64];
    if (!gmtime_r(&secs, &tm) || !strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm)) {
        fprintf(out, "(invalid: %" PRIu64 " ns)", realtime_ns);
        return;
    }
    fprintf(out, "%s.%03uZ", buf, (unsigned)(realtime_ns % 1000000000u / 1000000u));
}

static void info_free(info_t *info)
{
    free(info->exe_path);
    free(info->cmdline);
    free(info->hostname);
    for (size_t i = 0; i < info->set_count; i++) {
        for (uint32_t j = 0; j < info->sets[i].count; j++)
            free(info->sets[i].entries[j].path);
        free(info->sets[i].entries);
    }
    free(info->sets);
    stack_entry_t *s, *tmp;
    HASH_ITER(hh, info->stacks, s, tmp)
    {
        HASH_DEL(info->stacks, s);
        free(s->frames);
        free(s);
    }
    thread_site_entry_t *e, *etmp;
    HASH_ITER(hh, info->thread_sites, e, etmp)
    {
        HASH_DEL(info->thread_sites, e);
        free(e);
    }
}

static int oom(hs_read_error_t *err)
{
    err->status = HS_READ_IO;
    err->errno_value = ENOMEM;
    snprintf(err->why, sizeof(err->why), "out of memory");
    return -1;
}

static int add_mappings(info_t *info, const hs_mappings_rec_t *m, hs_read_error_t *err)
{
    mapping_set_t *sets = realloc(info->sets, (info->set_count + 1) * sizeof(*sets));
    if (!sets)
        return oom(err);
    info->sets = sets;
    mapping_set_t *set = &sets[info->set_count++];
    set->count = 0;
    set->entries = calloc(m->count ? m->count : 1, sizeof(mapping_t));
    if (!set->entries)
        return oom(err);
    hs_mapping_iter_t it;
    hs_mapping_t e;
    hs_reader_mapping_iter_init(&it, m);
    while (hs_reader_mapping_iter_next(&it, &e)) {
        mapping_t *dst = &set->entries[set->count];
        dst->start = e.start;
        dst->end = e.end;
        dst->load_bias = e.load_bias;
        dst->build_id_len = e.build_id_len;
        memcpy(dst->build_id, e.build_id, e.build_id_len);
        dst->path = copy_str(e.path);
        if (!dst->path)
            return oom(err);
        set->count++;
    }
    return 0;
}

static int add_stack(info_t *info, const hs_record_t *rec, const hs_stack_rec_t *st, hs_read_error_t *err)
{
    stack_entry_t *s;
    HASH_FIND(hh, info->stacks, &st->stack_id, sizeof(st->stack_id), s);
    if (s) {
        hs_reader_set_corrupt(err, rec, "stack id %u is defined a second time", st->stack_id);
        return -1;
    }
    s = calloc(1, sizeof(*s));
    if (!s)
        return oom(err);
    s->id = st->stack_id;
    s->depth = st->depth;
    s->mapping_set = info->set_count;
    s->frames = malloc((st->depth ? st->depth : 1) * sizeof(uint64_t));
    if (!s->frames) {
        free(s);
        return oom(err);
    }
    for (uint32_t i = 0; i < st->depth; i++)
        s->frames[i] = hs_reader_stack_frame(st, i);
    HASH_ADD(hh, info->stacks, id, sizeof(s->id), s);
    info->stack_count++;
    return 0;
}

static int add_snapshot(info_t *info, const hs_record_t *rec, const hs_snapshot_rec_t *snap, hs_read_error_t *err)
{
    if (info->snapshots > 0 && snap->seq <= info->last.seq) {
        hs_reader_set_corrupt(err, rec, "seq %u does not follow the previous snapshot's seq %u", snap->seq,
                              info->last.seq);
        return -1;
    }
    uint64_t index = info->snapshots + 1;
    for (uint32_t i = 0; i < snap->row_count; i++) {
        hs_snapshot_row_t row;
        hs_reader_snapshot_row(snap, i, &row);
        stack_entry_t *s;
        HASH_FIND(hh, info->stacks, &row.stack_id, sizeof(row.stack_id), s);
        if (!s) {
            hs_reader_set_corrupt(err, rec, "row %u names stack id %u, which no earlier STACK record defines", i,
                                  row.stack_id);
            return -1;
        }
        if (s->row_snapshot == index) {
            hs_reader_set_corrupt(err, rec, "row %u repeats stack id %u", i, row.stack_id);
            return -1;
        }
        if (!s->has_row)
            info->stacks_with_rows++;
        s->has_row = 1;
        s->row_snapshot = index;
        s->row = row;
    }
    if (info->snapshots == 0) {
        info->first_monotonic_ns = snap->monotonic_ns;
        info->first_seq = snap->seq;
    }
    info->snapshots++;
    info->last = *snap;
    info->last.rows = NULL;
    return 0;
}

static int add_thread(info_t *info, const hs_record_t *rec, const hs_thread_rec_t *t, hs_read_error_t *err)
{
    if (t->creation_stack_id != 0) {
        stack_entry_t *s;
        HASH_FIND(hh, info->stacks, &t->creation_stack_id, sizeof(t->creation_stack_id), s);
        if (!s) {
            hs_reader_set_corrupt(err, rec, "creation_stack_id %u is not defined by an earlier STACK record",
                                  t->creation_stack_id);
            return -1;
        }
    }
    if (t->event == HS_THREAD_STARTED)
        info->threads_started++;
    else
        info->threads_exited++;
    return 0;
}

/* Entries are cumulative: the totals move by each entry's change. */
static int add_thread_sites(info_t *info, const hs_record_t *rec, const hs_thread_sites_rec_t *ts, hs_read_error_t *err)
{
    for (uint32_t i = 0; i < ts->count; i++) {
        hs_thread_site_t site;
        hs_reader_thread_site(ts, i, &site);
        if (site.creation_stack_id != 0) {
            stack_entry_t *s;
            HASH_FIND(hh, info->stacks, &site.creation_stack_id, sizeof(site.creation_stack_id), s);
            if (!s) {
                hs_reader_set_corrupt(err, rec,
                                      "entry %u: creation_stack_id %u is not defined by an earlier STACK record", i,
                                      site.creation_stack_id);
                return -1;
            }
        }
        struct site_key key = {site.start_routine, site.creation_stack_id, 0};
        thread_site_entry_t *e;
        HASH_FIND(hh, info->thread_sites, &key, sizeof(key), e);
        if (!e) {
            e = calloc(1, sizeof(*e));
            if (!e)
                return oom(err);
            e->key = key;
            HASH_ADD(hh, info->thread_sites, key, sizeof(e->key), e);
        }
        info->sites_started += site.started - e->started;
        info->sites_exited += site.exited - e->exited;
        e->started = site.started;
        e->exited = site.exited;
    }
    return 0;
}

static int add_record(info_t *info, const hs_record_t *rec, hs_read_error_t *err)
{
    hs_decoded_t d;
    if (hs_reader_decode(rec, &d, err))
        return -1;
    info->counts[rec->type]++;
    info->records++;
    switch (rec->type) {
    case HS_REC_HEADER:
        info->header = d.u.header;
        info->exe_path = copy_str(d.u.header.exe_path);
        info->cmdline = copy_str(d.u.header.cmdline);
        info->hostname = copy_str(d.u.header.hostname);
        if (!info->exe_path || !info->cmdline || !info->hostname)
            return oom(err);
        info->header.exe_path.ptr = info->exe_path;
        info->header.cmdline.ptr = info->cmdline;
        info->header.hostname.ptr = info->hostname;
        return 0;
    case HS_REC_MAPPINGS: return add_mappings(info, &d.u.mappings, err);
    case HS_REC_STACK: return add_stack(info, rec, &d.u.stack, err);
    case HS_REC_SNAPSHOT: return add_snapshot(info, rec, &d.u.snapshot, err);
    case HS_REC_THREAD: return add_thread(info, rec, &d.u.thread, err);
    case HS_REC_THREAD_SITES: return add_thread_sites(info, rec, &d.u.thread_sites, err);
    default: return 0;
    }
}

static const mapping_t *find_in_set(const mapping_set_t *set, uint64_t addr)
{
    for (uint32_t i = 0; i < set->count; i++)
        if (addr >= set->entries[i].start && addr < set->entries[i].end)
            return &set->entries[i];
    return NULL;
}

/* The set current when the stack was written is the right one; a library
 * unloaded since then still resolves through it. Failing that (a writer that
 * emitted the stack before its MAPPINGS), older sets, then newer ones. */
static const mapping_t *find_mapping(const info_t *info, const stack_entry_t *s, uint64_t addr)
{
    for (size_t i = s->mapping_set; i > 0; i--) {
        const mapping_t *m = find_in_set(&info->sets[i - 1], addr);
        if (m)
            return m;
    }
    for (size_t i = s->mapping_set; i < info->set_count; i++) {
        const mapping_t *m = find_in_set(&info->sets[i], addr);
        if (m)
            return m;
    }
    return NULL;
}

static int by_id(const stack_entry_t *a, const stack_entry_t *b) { return a->id < b->id ? -1 : a->id > b->id; }

static void print_stacks(FILE *out, info_t *info)
{
    HASH_SORT(info->stacks, by_id);
    for (stack_entry_t *s = info->stacks; s; s = s->hh.next) {
        if (!s->has_row)
            continue;
        const hs_snapshot_row_t *r = &s->row;
        fprintf(out,
                "stack %u allocs %" PRIu64 " alloc_bytes %" PRIu64 " frees %" PRIu64 " free_bytes %" PRIu64
                " est_alloc_objects %.0f est_alloc_bytes %.0f est_inuse_objects %.0f est_inuse_bytes %.0f\n",
                s->id, r->alloc_count, r->alloc_bytes, r->free_count, r->free_bytes, r->est_alloc_objects,
                r->est_alloc_bytes, r->est_alloc_objects - r->est_free_objects, r->est_alloc_bytes - r->est_free_bytes);
        for (uint32_t i = 0; i < s->depth; i++) {
            uint64_t addr = s->frames[i];
            const mapping_t *m = find_mapping(info, s, addr);
            fprintf(out, "  frame %u 0x%" PRIx64 " ", i, addr);
            if (!m)
                fputc('?', out);
            else if (!m->path[0])
                fputs("[unnamed]", out);
            else
                put_escaped(out, m->path, strlen(m->path));
            fprintf(out, " 0x%" PRIx64 "\n", m ? addr - m->load_bias : 0);
        }
    }
}

static void print_info(FILE *out, const info_t *info)
{
    const hs_header_rec_t *h = &info->header;
    fprintf(out, "file: %s\n", info->path);
    fprintf(out, "format version: %d\n", HS_FORMAT_VERSION);
    fprintf(out, "pid: %u\nppid: %u\n", h->pid, h->ppid);
    fputs("program: ", out);
    put_escaped(out, h->exe_path.ptr, h->exe_path.len);
    fputs("\ncommand line:", out);
    put_cmdline(out, h->cmdline.ptr, h->cmdline.len);
    fputs("\nhostname: ", out);
    put_escaped(out, h->hostname.ptr, h->hostname.len);
    fputs("\nstart time: ", out);
    put_time(out, h->start_realtime_ns);
    fprintf(out, "\nsample rate: %" PRIu64 " bytes\n", h->sample_rate);
    fprintf(out, "max depth: %u\n", h->max_depth);
    fprintf(out, "interval: %u.%03u s\n", h->interval_ms / 1000, h->interval_ms % 1000);
    fprintf(out, "records: %" PRIu64 " (", info->records);
    for (uint32_t t = 1; t <= HS_REC_TYPE_MAX; t++)
        if (t <= HS_REC_END || info->counts[t]) /* optional records only when present */
            fprintf(out, "%s%s %" PRIu64, t > 1 ? ", " : "", hs_reader_type_name(t), info->counts[t]);
    fputs(")\n", out);
    fprintf(out, "mappings: %u objects in the last set\n", info->set_count ? info->sets[info->set_count - 1].count : 0);
    if (info->set_count) {
        const mapping_set_t *set = &info->sets[info->set_count - 1];
        for (uint32_t i = 0; i < set->count; i++) {
            const mapping_t *m = &set->entries[i];
            fprintf(out, "  0x%" PRIx64 "-0x%" PRIx64 " ", m->start, m->end);
            put_escaped(out, m->path[0] ? m->path : "[unnamed]", strlen(m->path[0] ? m->path : "[unnamed]"));
            fprintf(out, " build-id ");
            for (uint32_t b = 0; b < m->build_id_len; b++)
                fprintf(out, "%02x", m->build_id[b]);
            fprintf(out, "%s\n", m->build_id_len ? "" : "none");
        }
    }
    fprintf(out, "stack ids: %" PRIu64 " defined, %" PRIu64 " with rows\n", info->stack_count, info->stacks_with_rows);
    /* THREAD_SITES counts are exact; THREAD records stop at the writer's queue. */
    int exact = info->counts[HS_REC_THREAD_SITES] > 0;
    fprintf(out, "threads: %" PRIu64 " started, %" PRIu64 " exited\n",
            exact ? info->sites_started : info->threads_started, exact ? info->sites_exited : info->threads_exited);
    if (info->snapshots == 0) {
        fputs("snapshots: 0\nlast snapshot: none\n", out);
        return;
    }
    const hs_snapshot_rec_t *last = &info->last;
    /* Signed: a writer bug that goes back in time must show, not wrap. */
    double span = ((double)last->monotonic_ns - (double)info->first_monotonic_ns) / 1e9;
    fprintf(out, "snapshots: %" PRIu64 " (seq %u..%u), span %.3f s\n", info->snapshots, info->first_seq, last->seq,
            span);
    fprintf(out, "last snapshot: seq %u, reason %s, time ", last->seq, hs_reader_reason_name(last->reason));
    put_time(out, last->realtime_ns);
    fputc('\n', out);
    for (uint32_t i = 0; i < HS_SNAPSHOT_STAT_COUNT; i++)
        fprintf(out, "  %s: %" PRIu64 "\n", hs_reader_stat_name(i), last->stats[i]);
}

int hs_cmd_info(int argc, char **argv)
{
    static const hs_arg_option_t options[] = {{'s', 0, "stacks", 0}, {0, 0, NULL, 0}};
    int want_stacks = 0, opt;
    const char *path = NULL, *value;
    hs_args_t args;
    hs_args_init(&args, "info", options, HS_ARGS_PERMUTE, argc, argv);
    while ((opt = hs_args_next(&args, &value)) > 0)
        want_stacks = 1; /* the only option: --stacks */
    if (opt == HS_ARGS_HELP) {
        hs_cmd_info_usage(stdout);
        return HS_EXIT_OK;
    }
    if (opt == HS_ARGS_ERROR || hs_args_one_dump(&args, "heapscope info [--stacks] DUMP", &path))
        return HS_EXIT_BAD_INPUT;

    info_t info;
    memset(&info, 0, sizeof(info));
    info.path = path;
    hs_read_error_t err;
    hs_reader_t *r = NULL;
    hs_input_t *in = NULL;
    char msg[512];
    int fd, rc = hs_input_open(path, HS_INPUT_ONCE, &in, msg, sizeof(msg));
    if (rc == 0 && hs_input_pass(in, &fd, msg, sizeof(msg)))
        rc = HS_EXIT_FAILURE;
    if (rc) {
        fprintf(stderr, "heapscope: %s\n", msg);
        hs_input_close(in);
        return rc;
    }
    hs_read_status_t st = hs_reader_open_fd(fd, &r, &err);
    if (st != HS_READ_OK) {
        fprintf(stderr, "heapscope: %s: %s\n", path, hs_reader_format_error(&err, msg, sizeof(msg)));
        hs_input_close(in);
        return HS_EXIT_BAD_INPUT;
    }
    hs_record_t rec;
    int record_failed = 0;
    while ((st = hs_reader_next(r, &rec)) == HS_READ_OK) {
        if (add_record(&info, &rec, &err)) {
            record_failed = 1;
            st = err.status;
            break;
        }
    }
    if (!record_failed)
        err = *hs_reader_error(r);

    if (st == HS_READ_CORRUPT) {
        fprintf(stderr, "heapscope: %s: %s\n", path, hs_reader_format_error(&err, msg, sizeof(msg)));
        rc = HS_EXIT_BAD_INPUT;
    } else if (st == HS_READ_IO) {
        fprintf(stderr, "heapscope: %s: %s\n", path, hs_reader_format_error(&err, msg, sizeof(msg)));
        rc = HS_EXIT_FAILURE;
    } else if (info.counts[HS_REC_HEADER] == 0) {
        /* Nothing to report without the header: the writer died before it. */
        fprintf(stderr, "heapscope: %s: no complete HEADER record (%s)\n", path,
                hs_reader_format_error(&err, msg, sizeof(msg)));
        rc = HS_EXIT_BAD_INPUT;
    } else {
        print_info(stdout, &info);
        if (st == HS_READ_TRUNCATED)
            printf("integrity: %s\n", hs_reader_format_error(&err, msg, sizeof(msg)));
        else if (hs_reader_saw_end(r))
            printf("integrity: ok (clean exit, END record present)\n");
        else
            printf("integrity: ok, no END record (the process was still running or was killed)\n");
        if (want_stacks)
            print_stacks(stdout, &info);
        if (fflush(stdout) != 0 || ferror(stdout)) {
            fprintf(stderr, "heapscope: info: cannot write the report to stdout\n");
            rc = HS_EXIT_FAILURE;
        }
    }
    hs_reader_close(r);
    hs_input_close(in);
    info_free(&info);
    return rc;
}
