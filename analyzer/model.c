/* model.c - streams one dump into the analyzer's model (see model.h): the
 * header, mapping sets, stacks with their frames' mappings, and each stack's
 * latest cumulative row. It checks the rules that span records (stacks
 * defined once and before use, snapshot order) and never holds more than the
 * program's state: records are consumed as they are read. */
#include "model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "program_name.h"

typedef struct stack_entry {
    hs_model_stack_t s;
    uint32_t index; /* in definition order: m->stacks[index] == &s */
    UT_hash_handle hh;
} stack_entry_t;

typedef struct {
    hs_model_mapping_t *entries;
    uint32_t count;
} mapping_set_t;

/* Stack entries come from chunks, not one malloc each: a snapshot updates
 * rows all over the table, and entries packed together (frames elsewhere)
 * stay in cache; scattered among their frames they did not. Entries never
 * move (the hash and m->stacks point at them). */
#define ENTRY_CHUNK 256
typedef struct entry_chunk {
    struct entry_chunk *next;
    size_t used;
    stack_entry_t entries[ENTRY_CHUNK];
} entry_chunk_t;

struct hs_model {
    char *path;
    hs_reader_t *reader;
    hs_model_header_t header;
    mapping_set_t *sets;
    size_t set_count;
    const hs_model_mapping_t **all_mappings;
    size_t mapping_count;
    stack_entry_t *by_id;  /* uthash: every stack */
    entry_chunk_t *chunks; /* where the entries live, newest first */
    stack_entry_t **dense; /* by id, for the small ids the interposer hands out */
    size_t dense_cap;
    hs_model_stack_t **stacks; /* definition order */
    size_t stack_count, stack_cap;
    uint64_t snapshots;
    uint32_t last_seq;
    uint32_t *changed; /* indexes of the stacks the last snapshot's rows carried */
    size_t changed_count, changed_cap;
    int done;
    char failure[512]; /* the error of a failed hs_model_next: repeated afterwards */
    char warning[512];
    hs_model_thread_cb thread_cb;
    void *thread_ctx;
    hs_model_thread_site_cb thread_site_cb;
    void *thread_site_ctx;
    hs_model_alert_cb alert_cb;
    void *alert_ctx;
};

static char *copy_str(hs_str_t s)
{
    char *c = malloc(s.len + 1);
    if (c) {
        memcpy(c, s.ptr, s.len);
        c[s.len] = 0;
    }
    return c;
}

static void set_err(const hs_model_t *m, const hs_read_error_t *e, char *err, size_t errlen)
{
    char buf[400];
    snprintf(err, errlen, "%s: %s", m->path, hs_reader_format_error(e, buf, sizeof(buf)));
}

static int oom(hs_read_error_t *e)
{
    e->status = HS_READ_IO;
    e->errno_value = ENOMEM;
    snprintf(e->why, sizeof(e->why), "out of memory");
    return -1;
}

static int add_header(hs_model_t *m, const hs_header_rec_t *h, hs_read_error_t *e)
{
    hs_model_header_t *mh = &m->header;
    mh->pid = h->pid;
    mh->ppid = h->ppid;
    mh->start_realtime_ns = h->start_realtime_ns;
    mh->start_monotonic_ns = h->start_monotonic_ns;
    mh->sample_rate = h->sample_rate;
    mh->max_depth = h->max_depth;
    mh->interval_ms = h->interval_ms;
    mh->exe = copy_str(h->exe_path);
    mh->hostname = copy_str(h->hostname);
    mh->cmdline = copy_str(h->cmdline);
    if (!mh->exe || !mh->hostname || !mh->cmdline)
        return oom(e);
    for (size_t i = 0; i < h->cmdline.len; i++)
        if (mh->cmdline[i] == 0)
            mh->cmdline[i] = ' ';
    /* The name the user ran (argv[0]), not a symlink's target (program_name.h). */
    char name[256];
    mh->program = strdup(hs_program_name(h->cmdline.ptr, h->cmdline.len, mh->exe, name, sizeof(name)));
    return mh->program ? 0 : oom(e);
}

static int by_start(const void *a, const void *b)
{
    const hs_model_mapping_t *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

static int add_mappings(hs_model_t *m, const hs_mappings_rec_t *rec, hs_read_error_t *e)
{
    mapping_set_t *sets = realloc(m->sets, (m->set_count + 1) * sizeof(*sets));
    if (!sets)
        return oom(e);
    m->sets = sets;
    mapping_set_t *set = &sets[m->set_count];
    set->count = 0;
    set->entries = calloc(rec->count ? rec->count : 1, sizeof(hs_model_mapping_t));
    const hs_model_mapping_t **all = realloc(m->all_mappings, (m->mapping_count + rec->count + 1) * sizeof(*all));
    if (all)
        m->all_mappings = all;
    if (!set->entries || !all) {
        free(set->entries);
        return oom(e);
    }
    m->set_count++;
    hs_mapping_iter_t it;
    hs_mapping_t src;
    hs_reader_mapping_iter_init(&it, rec);
    while (hs_reader_mapping_iter_next(&it, &src)) {
        hs_model_mapping_t *dst = &set->entries[set->count];
        dst->start = src.start;
        dst->end = src.end;
        dst->file_offset = src.file_offset;
        dst->load_bias = src.load_bias;
        dst->build_id_len = src.build_id_len;
        memcpy(dst->build_id, src.build_id, src.build_id_len);
        dst->set_index = (uint32_t)(m->set_count - 1);
        dst->path = copy_str(src.path);
        if (!dst->path)
            return oom(e);
        /* The kernel's name for a replaced file; the file itself is meant. */
        size_t n = strlen(dst->path);
        if (n > 10 && strcmp(dst->path + n - 10, " (deleted)") == 0)
            dst->path[n - 10] = 0;
        set->count++;
    }
    qsort(set->entries, set->count, sizeof(*set->entries), by_start);
    for (uint32_t i = 0; i < set->count; i++)
        m->all_mappings[m->mapping_count++] = &set->entries[i];
    return 0;
}

/* Sets are sorted by start (see add_mappings): binary search for the last
 * entry starting at or below addr. */
static const hs_model_mapping_t *find_in_set(const mapping_set_t *set, uint64_t addr)
{
    size_t lo = 0, hi = set->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (set->entries[mid].start <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return NULL;
    const hs_model_mapping_t *e = &set->entries[lo - 1];
    return addr < e->end ? e : NULL;
}

/* The set in force when the stack was written, then older ones (a writer
 * always writes MAPPINGS before the stacks that need them). Bounded: a
 * hostile file with thousands of sets must not make each frame cost them all. */
#define MAX_SETS_SEARCHED 64
static const hs_model_mapping_t *find_mapping(const hs_model_t *m, uint64_t addr)
{
    for (size_t i = m->set_count, n = 0; i > 0 && n < MAX_SETS_SEARCHED; i--, n++) {
        const hs_model_mapping_t *found = find_in_set(&m->sets[i - 1], addr);
        if (found)
            return found;
    }
    return NULL;
}

/* Stack ids are handed out densely from 1, and a snapshot row names one by
 * id: a 24-hour dump does millions of look-ups, so small ids index an array
 * and the hash serves the rest. The array stays within a few times the
 * stack count, so a hostile file with huge ids cannot make it big. */
static stack_entry_t *find_stack(const hs_model_t *m, uint32_t id)
{
    if (id < m->dense_cap)
        return m->dense[id];
    stack_entry_t *entry;
    HASH_FIND(hh, m->by_id, &id, sizeof(id), entry);
    return entry;
}

static void index_stack(hs_model_t *m, stack_entry_t *entry)
{
    HASH_ADD(hh, m->by_id, s.id, sizeof(entry->s.id), entry);
    uint32_t id = entry->s.id;
    if (id >= m->dense_cap && id < 4 * (uint64_t)m->stack_count + 4096) {
        size_t cap = m->dense_cap ? m->dense_cap : 1024;
        while (cap <= id)
            cap *= 2;
        stack_entry_t **grown = realloc(m->dense, cap * sizeof(*grown));
        if (!grown)
            return; /* the hash still has it */
        memset(grown + m->dense_cap, 0, (cap - m->dense_cap) * sizeof(*grown));
        /* ids between the old and the new end that only the hash has */
        for (size_t i = m->dense_cap; i < cap; i++) {
            uint32_t k = (uint32_t)i;
            HASH_FIND(hh, m->by_id, &k, sizeof(k), grown[i]);
        }
        m->dense = grown;
        m->dense_cap = cap;
    } else if (id < m->dense_cap) {
        m->dense[id] = entry;
    }
}

static int add_stack(hs_model_t *m, const hs_record_t *rec, const hs_stack_rec_t *st, hs_read_error_t *e)
{
    stack_entry_t *entry = find_stack(m, st->stack_id);
    if (entry) {
        hs_reader_set_corrupt(e, rec, "stack id %u is defined a second time", st->stack_id);
        return -1;
    }
    if (m->stack_count == m->stack_cap) {
        size_t cap = m->stack_cap ? m->stack_cap * 2 : 256;
        hs_model_stack_t **grown = realloc(m->stacks, cap * sizeof(*grown));
        if (!grown)
            return oom(e);
        m->stacks = grown;
        m->stack_cap = cap;
    }
    if (!m->chunks || m->chunks->used == ENTRY_CHUNK) {
        entry_chunk_t *chunk = malloc(sizeof(*chunk));
        if (!chunk)
            return oom(e);
        chunk->next = m->chunks;
        chunk->used = 0;
        m->chunks = chunk;
    }
    size_t depth = st->depth ? st->depth : 1;
    uint64_t *frames = malloc(depth * sizeof(uint64_t));
    const hs_model_mapping_t **maps = calloc(depth, sizeof(*maps));
    if (!frames || !maps) {
        free(frames);
        free(maps);
        return oom(e);
    }
    entry = &m->chunks->entries[m->chunks->used++];
    memset(entry, 0, sizeof(*entry));
    hs_model_stack_t *s = &entry->s;
    s->id = st->stack_id;
    s->depth = st->depth;
    s->frames = frames;
    s->frame_mapping = maps;
    entry->index = (uint32_t)m->stack_count;
    for (uint32_t i = 0; i < st->depth; i++) {
        frames[i] = hs_reader_stack_frame(st, i);
        maps[i] = find_mapping(m, frames[i]);
    }
    m->stacks[m->stack_count++] = s;
    index_stack(m, entry);
    return 0;
}

static int by_index(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int apply_snapshot(hs_model_t *m, const hs_record_t *rec, const hs_snapshot_rec_t *snap,
                          hs_model_snapshot_t *out, hs_read_error_t *e)
{
    if (m->snapshots > 0 && snap->seq <= m->last_seq) {
        hs_reader_set_corrupt(e, rec, "seq %u does not follow the previous snapshot's seq %u", snap->seq, m->last_seq);
        return -1;
    }
    if (snap->row_count > m->changed_cap) {
        uint32_t *grown = realloc(m->changed, snap->row_count * sizeof(*grown));
        if (!grown)
            return oom(e);
        m->changed = grown;
        m->changed_cap = snap->row_count;
    }
    m->changed_count = 0;
    int unsorted = 0;
    for (uint32_t i = 0; i < snap->row_count; i++) {
        hs_snapshot_row_t row;
        hs_reader_snapshot_row(snap, i, &row);
        stack_entry_t *entry = find_stack(m, row.stack_id);
        if (!entry) {
            hs_reader_set_corrupt(e, rec, "row %u names stack id %u, which no earlier STACK record defines", i,
                                  row.stack_id);
            return -1;
        }
        hs_model_stack_t *s = &entry->s;
        /* seq strictly increases, so only this snapshot can have set it. */
        if (s->has_row && s->last_changed_seq == snap->seq) {
            hs_reader_set_corrupt(e, rec, "row %u repeats stack id %u", i, row.stack_id);
            return -1;
        }
        s->row = row;
        s->has_row = 1;
        s->last_changed_seq = snap->seq;
        if (m->changed_count && entry->index < m->changed[m->changed_count - 1])
            unsorted = 1;
        m->changed[m->changed_count++] = entry->index;
    }
    /* Definition order, as a walk over every stack meets them: sums over
     * the changed stacks then add in the same order (the same rounding). */
    if (unsorted)
        qsort(m->changed, m->changed_count, sizeof(*m->changed), by_index);
    m->snapshots++;
    m->last_seq = snap->seq;
    out->seq = snap->seq;
    out->reason = snap->reason;
    out->monotonic_ns = snap->monotonic_ns;
    out->realtime_ns = snap->realtime_ns;
    out->offset_s = snap->monotonic_ns >= m->header.start_monotonic_ns
                        ? (double)(snap->monotonic_ns - m->header.start_monotonic_ns) / 1e9
                        : 0.0;
    memcpy(out->stats, snap->stats, sizeof(out->stats));
    out->row_count = snap->row_count;
    return 0;
}

static int apply_thread(hs_model_t *m, const hs_record_t *rec, const hs_thread_rec_t *t, hs_read_error_t *e)
{
    const hs_model_stack_t *creation = NULL;
    if (t->creation_stack_id) {
        stack_entry_t *entry = find_stack(m, t->creation_stack_id);
        if (!entry) {
            hs_reader_set_corrupt(e, rec, "creation_stack_id %u is not defined by an earlier STACK record",
                                  t->creation_stack_id);
            return -1;
        }
        creation = &entry->s;
    }
    if (m->thread_cb) {
        hs_model_thread_t mt = {t->monotonic_ns, t->event, t->tid, t->parent_tid, creation, t->start_routine};
        m->thread_cb(m->thread_ctx, &mt);
    }
    return 0;
}

static int apply_thread_sites(hs_model_t *m, const hs_record_t *rec, const hs_thread_sites_rec_t *ts,
                              hs_read_error_t *e)
{
    for (uint32_t i = 0; i < ts->count; i++) {
        hs_thread_site_t site;
        hs_reader_thread_site(ts, i, &site);
        if (site.creation_stack_id && !find_stack(m, site.creation_stack_id)) {
            hs_reader_set_corrupt(e, rec, "entry %u: creation_stack_id %u is not defined by an earlier STACK record", i,
                                  site.creation_stack_id);
            return -1;
        }
    }
    for (uint32_t i = 0; m->thread_site_cb && i < ts->count; i++) {
        hs_thread_site_t site;
        hs_reader_thread_site(ts, i, &site);
        stack_entry_t *entry = site.creation_stack_id ? find_stack(m, site.creation_stack_id) : NULL;
        hs_model_thread_site_t ms = {ts->monotonic_ns, entry ? &entry->s : NULL, site.start_routine, site.started,
                                     site.exited};
        m->thread_site_cb(m->thread_site_ctx, &ms);
    }
    return 0;
}

static void apply_alert(hs_model_t *m, const hs_alert_rec_t *a)
{
    if (!m->alert_cb)
        return;
    hs_model_alert_t ma = {
        .monotonic_ns = a->monotonic_ns,
        .offset_s = a->monotonic_ns >= m->header.start_monotonic_ns
                        ? (double)(a->monotonic_ns - m->header.start_monotonic_ns) / 1e9
                        : 0.0,
        .kind = a->kind,
        .event = a->event,
        .value = a->value,
        .threshold = a->threshold,
    };
    m->alert_cb(m->alert_ctx, &ma);
}

/* Reads records until a SNAPSHOT has been applied (1), the data ends (0),
 * or something is wrong (-1). */
static int advance(hs_model_t *m, hs_model_snapshot_t *snap, hs_read_error_t *e, int stop_after_header)
{
    if (m->done)
        return 0;
    for (;;) {
        hs_record_t rec;
        hs_read_status_t st = hs_reader_next(m->reader, &rec);
        if (st == HS_READ_END || st == HS_READ_TRUNCATED) {
            if (st == HS_READ_TRUNCATED) {
                char buf[400];
                snprintf(m->warning, sizeof(m->warning), "%s: %s", m->path,
                         hs_reader_format_error(hs_reader_error(m->reader), buf, sizeof(buf)));
            }
            m->done = 1;
            return 0;
        }
        if (st != HS_READ_OK) {
            *e = *hs_reader_error(m->reader);
            return -1;
        }
        hs_decoded_t d;
        if (hs_reader_decode(&rec, &d, e))
            return -1;
        int rc = 0;
        switch (rec.type) {
        case HS_REC_HEADER:
            rc = add_header(m, &d.u.header, e);
            if (rc == 0 && stop_after_header)
                return 2;
            break;
        case HS_REC_MAPPINGS: rc = add_mappings(m, &d.u.mappings, e); break;
        case HS_REC_STACK: rc = add_stack(m, &rec, &d.u.stack, e); break;
        case HS_REC_THREAD: rc = apply_thread(m, &rec, &d.u.thread, e); break;
        case HS_REC_THREAD_SITES: rc = apply_thread_sites(m, &rec, &d.u.thread_sites, e); break;
        case HS_REC_SNAPSHOT: return apply_snapshot(m, &rec, &d.u.snapshot, snap, e) ? -1 : 1;
        case HS_REC_ALERT: apply_alert(m, &d.u.alert); break;
        default: break;
        }
        if (rc)
            return -1;
    }
}

/* fd < 0: open path; else read fd, with path as its name. */
static int model_open(const char *path, int fd, hs_model_t **out, char *err, size_t errlen)
{
    *out = NULL;
    hs_model_t *m = calloc(1, sizeof(*m));
    if (!m || !(m->path = strdup(path))) {
        free(m);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    hs_read_error_t e;
    hs_read_status_t st = fd < 0 ? hs_reader_open(path, &m->reader, &e) : hs_reader_open_fd(fd, &m->reader, &e);
    if (st != HS_READ_OK) {
        set_err(m, &e, err, errlen);
        hs_model_close(m);
        return -1;
    }
    /* The reader guarantees HEADER comes first: read just that. */
    hs_model_snapshot_t unused;
    int rc = advance(m, &unused, &e, 1);
    if (rc < 0) {
        set_err(m, &e, err, errlen);
        hs_model_close(m);
        return -1;
    }
    if (!m->header.exe) {
        snprintf(err, errlen, "%s: no HEADER record", path);
        hs_model_close(m);
        return -1;
    }
    *out = m;
    return 0;
}

int hs_model_open(const char *path, hs_model_t **out, char *err, size_t errlen)
{
    return model_open(path, -1, out, err, errlen);
}

int hs_model_open_fd(const char *name, int fd, hs_model_t **out, char *err, size_t errlen)
{
    if (fd < 0) {
        *out = NULL;
        snprintf(err, errlen, "%s: no file descriptor", name);
        return -1;
    }
    return model_open(name, fd, out, err, errlen);
}

int hs_model_next(hs_model_t *m, hs_model_snapshot_t *snap, char *err, size_t errlen)
{
    if (m->failure[0]) {
        snprintf(err, errlen, "%s", m->failure);
        return -1;
    }
    hs_read_error_t e;
    int rc = advance(m, snap, &e, 0);
    if (rc < 0) {
        set_err(m, &e, err, errlen);
        snprintf(m->failure, sizeof(m->failure), "%s", err);
    }
    return rc;
}

void hs_model_close(hs_model_t *m)
{
    if (!m)
        return;
    if (m->reader)
        hs_reader_close(m->reader);
    stack_entry_t *entry, *tmp;
    HASH_ITER(hh, m->by_id, entry, tmp)
    {
        HASH_DEL(m->by_id, entry);
        free(entry->s.frames);
        free(entry->s.frame_mapping);
    }
    while (m->chunks) {
        entry_chunk_t *next = m->chunks->next;
        free(m->chunks);
        m->chunks = next;
    }
    for (size_t i = 0; i < m->set_count; i++) {
        for (uint32_t j = 0; j < m->sets[i].count; j++)
            free(m->sets[i].entries[j].path);
        free(m->sets[i].entries);
    }
    free(m->dense);
    free(m->changed);
    free(m->sets);
    free(m->all_mappings);
    free(m->stacks);
    free(m->header.exe);
    free(m->header.hostname);
    free(m->header.cmdline);
    free(m->header.program);
    free(m->path);
    free(m);
}

const char *hs_model_path(const hs_model_t *m) { return m->path; }
const hs_model_header_t *hs_model_header(const hs_model_t *m) { return &m->header; }
void hs_model_set_thread_cb(hs_model_t *m, hs_model_thread_cb cb, void *ctx)
{
    m->thread_cb = cb;
    m->thread_ctx = ctx;
}
void hs_model_set_alert_cb(hs_model_t *m, hs_model_alert_cb cb, void *ctx)
{
    m->alert_cb = cb;
    m->alert_ctx = ctx;
}

void hs_model_set_thread_site_cb(hs_model_t *m, hs_model_thread_site_cb cb, void *ctx)
{
    m->thread_site_cb = cb;
    m->thread_site_ctx = ctx;
}
const char *hs_model_warning(const hs_model_t *m) { return m->warning[0] ? m->warning : NULL; }
int hs_model_saw_end(const hs_model_t *m) { return hs_reader_saw_end(m->reader); }
size_t hs_model_stack_count(const hs_model_t *m) { return m->stack_count; }
size_t hs_model_changed(const hs_model_t *m, const uint32_t **indexes)
{
    *indexes = m->changed;
    return m->changed_count;
}
hs_model_stack_t *hs_model_stack_at(const hs_model_t *m, size_t i) { return i < m->stack_count ? m->stacks[i] : NULL; }
hs_model_stack_t *hs_model_stack_by_id(const hs_model_t *m, uint32_t id)
{
    stack_entry_t *entry = find_stack(m, id);
    return entry ? &entry->s : NULL;
}
size_t hs_model_mapping_count(const hs_model_t *m) { return m->mapping_count; }
const hs_model_mapping_t *hs_model_mapping_at(const hs_model_t *m, size_t i)
{
    return i < m->mapping_count ? m->all_mappings[i] : NULL;
}
