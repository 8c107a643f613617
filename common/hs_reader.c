/* hs_reader.c - reads dump files written by the interposer: preamble and
 * record framing (lengths, checksums, record order) and exact decoding of
 * each record type. It must never trust a length before checking it, never
 * read past a buffer, and never allocate more than the largest record it
 * has actually received (a torn or hostile length must not cost 64 MiB).
 * Built on hs_codec's bounds-checked decoder; the analyzer commands use it. */
#include "hs_reader.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

/* First read size; also the floor of the buffer capacity. */
#define READ_CHUNK (64 * 1024)

struct hs_reader {
    int fd;
    int owns_fd;
    int copy_fd; /* -1, or where every byte read is also written (hs_reader_open_fd_copy) */
    uint8_t *buf;
    size_t cap;
    size_t start, end;   /* buf[start..end) is unconsumed file data */
    uint64_t buf_offset; /* file offset of buf[start] */
    size_t pending;      /* bytes of the record last returned, consumed on the next call */
    int eof;
    int saw_end;
    uint64_t records;
    hs_read_error_t err; /* sticky once err.status != HS_READ_OK */
};

static const char *const type_names[] = {
    [HS_REC_HEADER] = "HEADER", [HS_REC_MAPPINGS] = "MAPPINGS",
    [HS_REC_STACK] = "STACK",   [HS_REC_SNAPSHOT] = "SNAPSHOT",
    [HS_REC_THREAD] = "THREAD", [HS_REC_END] = "END",
    [HS_REC_LEAK] = "LEAK",     [HS_REC_THREAD_SITES] = "THREAD_SITES",
    [HS_REC_ALERT] = "ALERT",
};
/* "SNAPSHOT record" etc.: err->subject must outlive the reader. */
static const char *const type_subjects[] = {
    [HS_REC_HEADER] = "HEADER record", [HS_REC_MAPPINGS] = "MAPPINGS record",
    [HS_REC_STACK] = "STACK record",   [HS_REC_SNAPSHOT] = "SNAPSHOT record",
    [HS_REC_THREAD] = "THREAD record", [HS_REC_END] = "END record",
    [HS_REC_LEAK] = "LEAK record",     [HS_REC_THREAD_SITES] = "THREAD_SITES record",
    [HS_REC_ALERT] = "ALERT record",
};
static const char *const reason_names[] = {
    [HS_REASON_INTERVAL] = "interval",     [HS_REASON_EXIT] = "exit",     [HS_REASON_FORK_PARENT] = "fork-parent",
    [HS_REASON_FORK_CHILD] = "fork-child", [HS_REASON_SIGNAL] = "signal", [HS_REASON_DLCLOSE] = "dlclose",
};
static const char *const stat_names[HS_SNAPSHOT_STAT_COUNT] = {
    [HS_STAT_HEAP_IN_USE] = "heap_in_use",
    [HS_STAT_HEAP_RESERVED] = "heap_reserved",
    [HS_STAT_RSS] = "rss",
    [HS_STAT_LIVE_THREADS] = "live_threads",
    [HS_STAT_ALLOC_CALLS] = "alloc_calls",
    [HS_STAT_FREE_CALLS] = "free_calls",
    [HS_STAT_SAMPLED_ALLOCS] = "sampled_allocs",
    [HS_STAT_SAMPLED_ALLOC_BYTES] = "sampled_alloc_bytes",
    [HS_STAT_SAMPLED_FREES] = "sampled_frees",
    [HS_STAT_SAMPLED_FREE_BYTES] = "sampled_free_bytes",
    [HS_STAT_LOST_SAMPLES] = "lost_samples",
    [HS_STAT_LIVE_SAMPLES] = "live_samples",
    [HS_STAT_STACKS] = "stacks",
    [HS_STAT_HEAP_SOURCE] = "heap_source",
};

const char *hs_reader_type_name(uint32_t type)
{
    return type >= 1 && type <= HS_REC_TYPE_MAX ? type_names[type] : NULL;
}

const char *hs_reader_reason_name(uint32_t reason)
{
    return reason >= 1 && reason <= HS_REASON_MAX ? reason_names[reason] : "?";
}

const char *hs_reader_heap_source_name(uint64_t source)
{
    static const char *const names[] = {
        [HS_HEAP_SOURCE_SAMPLED] = "sampled",
        [HS_HEAP_SOURCE_JEMALLOC] = "jemalloc",
        [HS_HEAP_SOURCE_TCMALLOC] = "tcmalloc",
        [HS_HEAP_SOURCE_MIMALLOC] = "mimalloc",
    };
    return source <= HS_HEAP_SOURCE_MAX ? names[source] : "unknown";
}

const char *hs_reader_stat_name(uint32_t stat) { return stat < HS_SNAPSHOT_STAT_COUNT ? stat_names[stat] : "?"; }

const char *hs_reader_alert_kind_name(uint32_t kind)
{
    switch (kind) {
    case HS_ALERT_HEAP: return "heap";
    case HS_ALERT_RSS: return "rss";
    case HS_ALERT_THREADS: return "threads";
    case HS_ALERT_GROWTH: return "growth";
    default: return "?";
    }
}

const char *hs_reader_alert_event_name(uint32_t event)
{
    switch (event) {
    case HS_ALERT_RAISED: return "raised";
    case HS_ALERT_RECOVERED: return "recovered";
    default: return "?";
    }
}

const char *hs_reader_thread_event_name(uint32_t event)
{
    switch (event) {
    case HS_THREAD_STARTED: return "started";
    case HS_THREAD_EXITED: return "exited";
    default: return "?";
    }
}

static const char *subject_of(uint32_t type)
{
    return type >= 1 && type <= HS_REC_TYPE_MAX ? type_subjects[type] : "record";
}

static void verror(hs_read_error_t *err, hs_read_status_t status, uint64_t offset, uint64_t records,
                   const char *subject, const char *fmt, va_list ap)
{
    err->status = status;
    err->offset = offset;
    err->records = records;
    err->subject = subject;
    err->errno_value = 0;
    vsnprintf(err->why, sizeof(err->why), fmt, ap);
}

static hs_read_status_t fail(hs_reader_t *r, hs_read_status_t status, uint64_t offset, const char *subject,
                             const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static hs_read_status_t fail(hs_reader_t *r, hs_read_status_t status, uint64_t offset, const char *subject,
                             const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verror(&r->err, status, offset, r->records, subject, fmt, ap);
    va_end(ap);
    return status;
}

void hs_reader_set_corrupt(hs_read_error_t *err, const hs_record_t *rec, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verror(err, HS_READ_CORRUPT, rec->offset, rec->index, subject_of(rec->type), fmt, ap);
    va_end(ap);
}

const char *hs_reader_format_error(const hs_read_error_t *err, char *buf, size_t size)
{
    unsigned long long off = (unsigned long long)err->offset;
    unsigned long long n = (unsigned long long)err->records;
    switch (err->status) {
    case HS_READ_OK: snprintf(buf, size, "ok"); break;
    case HS_READ_END: snprintf(buf, size, "end of file at byte offset %llu after %llu complete records", off, n); break;
    case HS_READ_TRUNCATED:
        if (err->subject && strcmp(err->subject, "file preamble") == 0)
            snprintf(buf, size, "%s", err->why);
        else
            snprintf(buf, size, "truncated tail at byte offset %llu after %llu complete records", off, n);
        break;
    case HS_READ_CORRUPT:
        snprintf(buf, size, "corrupt %s at byte offset %llu: %s", err->subject ? err->subject : "record", off,
                 err->why);
        break;
    case HS_READ_IO: snprintf(buf, size, "%s", err->why); break;
    }
    return buf;
}

/* ---- framing ---- */

/* Writes the n bytes just read (they start at the file offset right after
 * the unconsumed data) to r->copy_fd; -1 with r->err set on failure. */
static int copy_out(hs_reader_t *r, const uint8_t *p, size_t n)
{
    uint64_t at = r->buf_offset + (r->end - r->start);
    while (n > 0) {
        ssize_t put = write(r->copy_fd, p, n);
        if (put < 0 && errno == EINTR)
            continue;
        if (put <= 0) {
            int e = put < 0 ? errno : EIO;
            fail(r, HS_READ_IO, at, "file", "cannot copy the data at byte offset %llu to the spool file: %s",
                 (unsigned long long)at, strerror(e));
            r->err.errno_value = e;
            return -1;
        }
        p += put;
        n -= (size_t)put;
        at += (uint64_t)put;
    }
    return 0;
}

/* Makes at least n unconsumed bytes available, or fewer only at EOF (0 =
 * enough, 1 = EOF came first, -1 = read error with r->err set). The buffer
 * grows only when it is full of bytes actually read, so a hostile length
 * costs at most twice the data that really follows it. */
static int fill(hs_reader_t *r, size_t n)
{
    while (r->end - r->start < n) {
        if (r->eof)
            return 1;
        if (r->end == r->cap) {
            if (r->start > 0) {
                memmove(r->buf, r->buf + r->start, r->end - r->start);
                r->end -= r->start;
                r->start = 0;
            } else {
                size_t cap = r->cap ? r->cap * 2 : READ_CHUNK;
                if (cap > n)
                    cap = n > READ_CHUNK ? n : READ_CHUNK;
                uint8_t *nbuf = realloc(r->buf, cap);
                if (!nbuf) {
                    fail(r, HS_READ_IO, r->buf_offset, "file", "out of memory for a %zu-byte record", n);
                    r->err.errno_value = ENOMEM;
                    return -1;
                }
                r->buf = nbuf;
                r->cap = cap;
            }
            continue;
        }
        ssize_t got = read(r->fd, r->buf + r->end, r->cap - r->end);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                /* An inherited stdin may be non-blocking: wait as read(2) would. */
                struct pollfd pfd = {.fd = r->fd, .events = POLLIN};
                if (poll(&pfd, 1, -1) >= 0 || errno == EINTR)
                    continue;
            }
            int e = errno;
            fail(r, HS_READ_IO, r->buf_offset + (r->end - r->start), "file", "read error at byte offset %llu: %s",
                 (unsigned long long)(r->buf_offset + (r->end - r->start)), strerror(e));
            r->err.errno_value = e;
            return -1;
        }
        if (got == 0)
            r->eof = 1;
        if (r->copy_fd >= 0 && copy_out(r, r->buf + r->end, (size_t)got))
            return -1;
        r->end += (size_t)got;
    }
    return 0;
}

static void consume(hs_reader_t *r, size_t n)
{
    r->start += n;
    r->buf_offset += n;
    if (r->start == r->end)
        r->start = r->end = 0;
}

/* Is the short file a prefix of a valid preamble? Then it is a torn write,
 * otherwise it is not a heapscope dump at all. */
static hs_read_status_t check_preamble(hs_reader_t *r)
{
    size_t have = r->end - r->start;
    const uint8_t *p = r->buf + r->start;
    uint8_t want[HS_PREAMBLE_LEN];
    memcpy(want, HS_MAGIC, HS_MAGIC_LEN);
    const uint32_t version = HS_FORMAT_VERSION;
    for (int i = 0; i < 4; i++) {
        want[HS_MAGIC_LEN + i] = (uint8_t)(version >> (8 * i));
        want[HS_MAGIC_LEN + 4 + i] = 0;
    }
    size_t n = have < HS_PREAMBLE_LEN ? have : HS_PREAMBLE_LEN;
    if (memcmp(p, want, n < HS_MAGIC_LEN ? n : HS_MAGIC_LEN) != 0)
        return fail(r, HS_READ_CORRUPT, 0, "file preamble", "bad magic (not a heapscope dump)");
    if (have >= HS_MAGIC_LEN + 4) {
        uint32_t v = hs_load_u32(p + HS_MAGIC_LEN);
        if (v != HS_FORMAT_VERSION)
            return fail(r, HS_READ_CORRUPT, HS_MAGIC_LEN, "file preamble",
                        "unsupported format version %u (this heapscope reads version %u)", v,
                        (unsigned)HS_FORMAT_VERSION);
    } else if (n > HS_MAGIC_LEN && memcmp(p + HS_MAGIC_LEN, want + HS_MAGIC_LEN, n - HS_MAGIC_LEN) != 0) {
        return fail(r, HS_READ_CORRUPT, HS_MAGIC_LEN, "file preamble",
                    "unsupported format version (the file ends inside the version field)");
    }
    if (have >= HS_PREAMBLE_LEN) {
        uint32_t flags = hs_load_u32(p + HS_MAGIC_LEN + 4);
        if (flags != 0)
            return fail(r, HS_READ_CORRUPT, HS_MAGIC_LEN + 4, "file preamble", "unknown flags 0x%x (must be 0)", flags);
        consume(r, HS_PREAMBLE_LEN);
        return HS_READ_OK;
    }
    if (n > HS_MAGIC_LEN + 4 && memcmp(p + HS_MAGIC_LEN + 4, want + HS_MAGIC_LEN + 4, n - HS_MAGIC_LEN - 4) != 0)
        return fail(r, HS_READ_CORRUPT, HS_MAGIC_LEN + 4, "file preamble", "unknown flags (must be 0)");
    if (have == 0)
        return fail(r, HS_READ_TRUNCATED, 0, "file preamble", "empty file (no heapscope preamble)");
    return fail(r, HS_READ_TRUNCATED, 0, "file preamble",
                "truncated file preamble (the file ends after %zu of its %d bytes)", have, HS_PREAMBLE_LEN);
}

hs_read_status_t hs_reader_open_fd(int fd, hs_reader_t **out, hs_read_error_t *err)
{
    return hs_reader_open_fd_copy(fd, -1, out, err);
}

hs_read_status_t hs_reader_open_fd_copy(int fd, int copy_fd, hs_reader_t **out, hs_read_error_t *err)
{
    *out = NULL;
    memset(err, 0, sizeof(*err));
    hs_reader_t *r = calloc(1, sizeof(*r));
    if (!r) {
        err->status = HS_READ_IO;
        err->errno_value = ENOMEM;
        snprintf(err->why, sizeof(err->why), "out of memory");
        return HS_READ_IO;
    }
    r->fd = fd;
    r->copy_fd = copy_fd;
    hs_read_status_t st = HS_READ_OK;
    int got = fill(r, HS_PREAMBLE_LEN);
    if (got < 0)
        st = r->err.status;
    else
        st = check_preamble(r);
    if (st != HS_READ_OK) {
        *err = r->err;
        free(r->buf);
        free(r);
        return st;
    }
    *out = r;
    return HS_READ_OK;
}

hs_read_status_t hs_reader_open(const char *path, hs_reader_t **out, hs_read_error_t *err)
{
    *out = NULL;
    memset(err, 0, sizeof(*err));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        err->status = HS_READ_IO;
        err->errno_value = errno;
        err->subject = "file";
        snprintf(err->why, sizeof(err->why), "cannot open: %s", strerror(errno));
        return HS_READ_IO;
    }
    hs_read_status_t st = hs_reader_open_fd(fd, out, err);
    if (st != HS_READ_OK) {
        close(fd);
        return st;
    }
    (*out)->owns_fd = 1;
    return HS_READ_OK;
}

hs_read_status_t hs_reader_next(hs_reader_t *r, hs_record_t *rec)
{
    memset(rec, 0, sizeof(*rec));
    if (r->err.status != HS_READ_OK)
        return r->err.status;
    if (r->pending) {
        consume(r, r->pending);
        r->pending = 0;
    }
    const uint64_t at = r->buf_offset;
    int got = fill(r, HS_RECORD_HEAD_LEN);
    if (got < 0)
        return r->err.status;
    size_t have = r->end - r->start;
    if (r->saw_end && have > 0)
        return fail(r, HS_READ_CORRUPT, at, "file", "%zu%s bytes of data after the END record", have,
                    got ? "" : " or more");
    if (have == 0) {
        r->err.status = HS_READ_END;
        r->err.offset = at;
        r->err.records = r->records;
        r->err.subject = "file";
        return HS_READ_END;
    }
    if (got)
        return fail(r, HS_READ_TRUNCATED, at, "record", "only %zu of the %d record header bytes", have,
                    HS_RECORD_HEAD_LEN);

    const uint8_t *head = r->buf + r->start;
    uint32_t type = hs_load_u32(head);
    uint32_t len = hs_load_u32(head + 4);
    const char *name = hs_reader_type_name(type);
    if (!name)
        return fail(r, HS_READ_CORRUPT, at, "record", "unknown record type %u", type);
    if (len > HS_RECORD_MAX_PAYLOAD)
        return fail(r, HS_READ_CORRUPT, at, subject_of(type), "payload length %u exceeds the limit of %u bytes", len,
                    HS_RECORD_MAX_PAYLOAD);
    if (r->records == 0 && type != HS_REC_HEADER)
        return fail(r, HS_READ_CORRUPT, at, subject_of(type), "the first record must be HEADER, not %s", name);
    if (r->records > 0 && type == HS_REC_HEADER)
        return fail(r, HS_READ_CORRUPT, at, subject_of(type), "a second HEADER record (record #%llu)",
                    (unsigned long long)r->records);

    size_t total = HS_RECORD_HEAD_LEN + (size_t)len + HS_RECORD_TAIL_LEN;
    got = fill(r, total);
    if (got < 0)
        return r->err.status;
    if (got)
        return fail(r, HS_READ_TRUNCATED, at, subject_of(type), "%s record of %zu bytes, %zu present", name, total,
                    r->end - r->start);
    const uint8_t *p = r->buf + r->start; /* fill may have moved the buffer */
    uint32_t stored = hs_load_u32(p + HS_RECORD_HEAD_LEN + len);
    /* zlib's crc32 is the same CRC (hs_crc32 is the interposer's copy,
     * free of dependencies) and several times faster on long dumps. */
    uint32_t computed = (uint32_t)crc32_z(0, p, HS_RECORD_HEAD_LEN + (size_t)len);
    if (stored != computed)
        return fail(r, HS_READ_CORRUPT, at, subject_of(type), "checksum mismatch (stored 0x%08x, computed 0x%08x)",
                    stored, computed);

    rec->type = type;
    rec->len = len;
    rec->payload = p + HS_RECORD_HEAD_LEN;
    rec->offset = at;
    rec->index = r->records;
    r->pending = total;
    r->records++;
    if (type == HS_REC_END)
        r->saw_end = 1;
    return HS_READ_OK;
}

const hs_read_error_t *hs_reader_error(const hs_reader_t *r) { return &r->err; }

uint64_t hs_reader_records(const hs_reader_t *r) { return r->records; }

uint64_t hs_reader_offset(const hs_reader_t *r) { return r->buf_offset + r->pending; }

int hs_reader_saw_end(const hs_reader_t *r) { return r->saw_end; }

size_t hs_reader_buffer_capacity(const hs_reader_t *r) { return r->cap; }

void hs_reader_close(hs_reader_t *r)
{
    if (!r)
        return;
    if (r->owns_fd)
        close(r->fd);
    free(r->buf);
    free(r);
}

/* ---- decoding ---- */

/* hs_dec_t plus the name of the first field that ran past the payload. */
typedef struct {
    hs_dec_t dec;
    const char *short_field;
} pdec_t;

static void note(pdec_t *d, const char *field)
{
    if (d->dec.err && !d->short_field)
        d->short_field = field;
}

static uint32_t get_u32(pdec_t *d, const char *field)
{
    uint32_t v = hs_dec_u32(&d->dec);
    note(d, field);
    return v;
}

static uint64_t get_u64(pdec_t *d, const char *field)
{
    uint64_t v = hs_dec_u64(&d->dec);
    note(d, field);
    return v;
}

static hs_str_t get_str(pdec_t *d, const char *field)
{
    hs_str_t s;
    s.ptr = hs_dec_str(&d->dec, &s.len);
    note(d, field);
    return s;
}

static int begin(pdec_t *d, const hs_record_t *rec, uint32_t type, hs_read_error_t *err)
{
    if (rec->type != type) {
        hs_reader_set_corrupt(err, rec, "decoded as %s", type_names[type]);
        return -1;
    }
    hs_dec_init(&d->dec, rec->payload, rec->len);
    d->short_field = NULL;
    return 0;
}

/* The payload must end exactly after the last field: shorter or longer is a
 * writer/reader disagreement, never something to guess around. */
static int finish(pdec_t *d, const hs_record_t *rec, hs_read_error_t *err)
{
    if (d->dec.err) {
        hs_reader_set_corrupt(err, rec, "the %u-byte payload ends inside the %s field", rec->len,
                              d->short_field ? d->short_field : "?");
        return -1;
    }
    if (hs_dec_remaining(&d->dec) != 0) {
        hs_reader_set_corrupt(err, rec, "%zu bytes of trailing data after the last field (at byte offset %llu)",
                              hs_dec_remaining(&d->dec),
                              (unsigned long long)(rec->offset + HS_RECORD_HEAD_LEN + d->dec.off));
        return -1;
    }
    return 0;
}

int hs_reader_decode_header(const hs_record_t *rec, hs_header_rec_t *out, hs_read_error_t *err)
{
    pdec_t d;
    if (begin(&d, rec, HS_REC_HEADER, err))
        return -1;
    out->pid = get_u32(&d, "pid");
    out->ppid = get_u32(&d, "ppid");
    out->start_realtime_ns = get_u64(&d, "start_realtime_ns");
    out->start_monotonic_ns = get_u64(&d, "start_monotonic_ns");
    out->sample_rate = get_u64(&d, "sample_rate");
    out->max_depth = get_u32(&d, "max_depth");
    out->interval_ms = get_u32(&d, "interval_ms");
    out->exe_path = get_str(&d, "exe_path");
    out->cmdline = get_str(&d, "cmdline");
    out->hostname = get_str(&d, "hostname");
    if (finish(&d, rec, err))
        return -1;
    if (out->sample_rate == 0) {
        hs_reader_set_corrupt(err, rec, "sample_rate is 0");
        return -1;
    }
    if (out->max_depth == 0 || out->max_depth > HS_MAX_DEPTH_LIMIT) {
        hs_reader_set_corrupt(err, rec, "max_depth %u is outside 1..%d", out->max_depth, HS_MAX_DEPTH_LIMIT);
        return -1;
    }
    return 0;
}

/* Smallest encoded mapping entry: four u64, build_id_len, path length. */
#define MAPPING_MIN_LEN (4 * 8 + 4 + 4)

/* Decodes one entry; used by validation (checked) and iteration (trusted). */
static int decode_mapping(pdec_t *d, hs_mapping_t *m)
{
    m->start = get_u64(d, "start");
    m->end = get_u64(d, "end");
    m->file_offset = get_u64(d, "file_offset");
    m->load_bias = get_u64(d, "load_bias");
    m->build_id_len = get_u32(d, "build_id_len");
    m->build_id = NULL;
    if (d->dec.err || m->build_id_len > HS_BUILD_ID_MAX)
        return -1;
    m->build_id = hs_dec_bytes(&d->dec, m->build_id_len);
    note(d, "build_id");
    m->path = get_str(d, "path");
    return d->dec.err ? -1 : 0;
}

int hs_reader_decode_mappings(const hs_record_t *rec, hs_mappings_rec_t *out, hs_read_error_t *err)
{
    pdec_t d;
    if (begin(&d, rec, HS_REC_MAPPINGS, err))
        return -1;
    out->monotonic_ns = get_u64(&d, "monotonic_ns");
    out->count = get_u32(&d, "count");
    if (d.dec.err)
        return finish(&d, rec, err);
    /* Checked before the walk so a hostile count costs no time either. */
    if (out->count > hs_dec_remaining(&d.dec) / MAPPING_MIN_LEN) {
        hs_reader_set_corrupt(err, rec, "count %u does not fit in the %zu bytes that follow it", out->count,
                              hs_dec_remaining(&d.dec));
        return -1;
    }
    out->entries = rec->payload + d.dec.off;
    out->entries_len = hs_dec_remaining(&d.dec);
    for (uint32_t i = 0; i < out->count; i++) {
        hs_mapping_t m;
        uint64_t entry_at = rec->offset + HS_RECORD_HEAD_LEN + d.dec.off;
        if (decode_mapping(&d, &m)) {
            if (!d.dec.err) {
                hs_reader_set_corrupt(err, rec, "entry %u (at byte offset %llu): build_id_len %u exceeds %d", i,
                                      (unsigned long long)entry_at, m.build_id_len, HS_BUILD_ID_MAX);
                return -1;
            }
            return finish(&d, rec, err);
        }
        if (m.start >= m.end) {
            hs_reader_set_corrupt(err, rec, "entry %u (at byte offset %llu): start 0x%llx is not below end 0x%llx", i,
                                  (unsigned long long)entry_at, (unsigned long long)m.start, (unsigned long long)m.end);
            return -1;
        }
    }
    return finish(&d, rec, err);
}

void hs_reader_mapping_iter_init(hs_mapping_iter_t *it, const hs_mappings_rec_t *m)
{
    hs_dec_init(&it->dec, m->entries, m->entries_len);
    it->left = m->count;
}

int hs_reader_mapping_iter_next(hs_mapping_iter_t *it, hs_mapping_t *out)
{
    if (it->left == 0)
        return 0;
    pdec_t d = {.dec = it->dec, .short_field = NULL};
    if (decode_mapping(&d, out)) {
        /* Unreachable for a record hs_reader_decode_mappings accepted. */
        it->left = 0;
        return 0;
    }
    it->dec = d.dec;
    it->left--;
    return 1;
}

int hs_reader_decode_stack(const hs_record_t *rec, hs_stack_rec_t *out, hs_read_error_t *err)
{
    pdec_t d;
    if (begin(&d, rec, HS_REC_STACK, err))
        return -1;
    out->stack_id = get_u32(&d, "stack_id");
    out->depth = get_u32(&d, "depth");
    if (d.dec.err)
        return finish(&d, rec, err);
    if (out->stack_id == 0) {
        hs_reader_set_corrupt(err, rec, "stack_id is 0");
        return -1;
    }
    if (out->depth > HS_MAX_DEPTH_LIMIT) {
        hs_reader_set_corrupt(err, rec, "depth %u exceeds the limit of %d", out->depth, HS_MAX_DEPTH_LIMIT);
        return -1;
    }
    out->frames = hs_dec_bytes(&d.dec, (size_t)out->depth * 8);
    note(&d, "return addresses");
    return finish(&d, rec, err);
}

uint64_t hs_reader_stack_frame(const hs_stack_rec_t *s, uint32_t i)
{
    const uint8_t *b = s->frames + (size_t)i * 8;
    return (uint64_t)hs_load_u32(b) | (uint64_t)hs_load_u32(b + 4) << 32;
}

static int is_valid_estimate(double v) { return isfinite(v) && v >= 0; }

int hs_reader_decode_snapshot(const hs_record_t *rec, hs_snapshot_rec_t *out, hs_read_error_t *err)
{
    pdec_t d;
    if (begin(&d, rec, HS_REC_SNAPSHOT, err))
        return -1;
    out->monotonic_ns = get_u64(&d, "monotonic_ns");
    out->realtime_ns = get_u64(&d, "realtime_ns");
    out->seq = get_u32(&d, "seq");
    out->reason = get_u32(&d, "reason");
    for (int i = 0; i < HS_SNAPSHOT_STAT_COUNT; i++)
        out->stats[i] = get_u64(&d, "stats");
    out->row_count = get_u32(&d, "row_count");
    if (d.dec.err)
        return finish(&d, rec, err);
    if (out->reason < 1 || out->reason > HS_REASON_MAX) {
        hs_reader_set_corrupt(err, rec, "reason %u is outside 1..%d", out->reason, HS_REASON_MAX);
        return -1;
    }
    uint64_t need = (uint64_t)out->row_count * HS_ROW_LEN;
    if (need != hs_dec_remaining(&d.dec)) {
        hs_reader_set_corrupt(err, rec, "row_count %u needs %llu bytes of rows, the payload has %zu", out->row_count,
                              (unsigned long long)need, hs_dec_remaining(&d.dec));
        return -1;
    }
    out->rows = rec->payload + d.dec.off;
    for (uint32_t i = 0; i < out->row_count; i++) {
        const uint8_t *row = out->rows + (size_t)i * HS_ROW_LEN;
        unsigned long long row_at =
            (unsigned long long)(rec->offset + HS_RECORD_HEAD_LEN + (size_t)(row - rec->payload));
        hs_snapshot_row_t r;
        hs_reader_snapshot_row(out, i, &r);
        if (r.stack_id == 0) {
            hs_reader_set_corrupt(err, rec, "row %u (at byte offset %llu): stack_id is 0", i, row_at);
            return -1;
        }
        if (hs_load_u32(row + 4) != 0) {
            hs_reader_set_corrupt(err, rec, "row %u (at byte offset %llu): reserved field is 0x%x, not 0", i, row_at,
                                  hs_load_u32(row + 4));
            return -1;
        }
        if (!is_valid_estimate(r.est_alloc_objects) || !is_valid_estimate(r.est_alloc_bytes) ||
            !is_valid_estimate(r.est_free_objects) || !is_valid_estimate(r.est_free_bytes)) {
            hs_reader_set_corrupt(err, rec, "row %u (at byte offset %llu): an estimate is negative or not finite", i,
                                  row_at);
            return -1;
        }
    }
    return 0;
}

static inline uint64_t row_u64(const uint8_t *p)
{
    return (uint64_t)hs_load_u32(p) | (uint64_t)hs_load_u32(p + 4) << 32;
}

static inline double row_f64(const uint8_t *p)
{
    uint64_t bits = row_u64(p);
    double v;
    memcpy(&v, &bits, sizeof(v));
    return v;
}

/* A row is HS_ROW_LEN bytes inside the payload (decode_snapshot checked
 * row_count against it): fixed offsets, no bounds checks. Every snapshot of
 * a long dump goes through here twice (the check, then the model). */
void hs_reader_snapshot_row(const hs_snapshot_rec_t *s, uint32_t i, hs_snapshot_row_t *out)
{
    const uint8_t *p = s->rows + (size_t)i * HS_ROW_LEN;
    out->stack_id = hs_load_u32(p);
    /* p + 4: reserved, checked by the decoder */
    out->alloc_count = row_u64(p + 8);
    out->alloc_bytes = row_u64(p + 16);
    out->free_count = row_u64(p + 24);
    out->free_bytes = row_u64(p + 32);
    out->est_alloc_objects = row_f64(p + 40);
    out->est_alloc_bytes = row_f64(p + 48);
    out->est_free_objects = row_f64(p + 56);
    out->est_free_bytes = row_f64(p + 64);
}

int hs_reader_decode_thread(const hs_record_t *rec, hs_thread_rec_t *out, hs_read_error_t *err)
{
    pdec_t d;
    if (begin(&d, rec, HS_REC_THREAD, err))
        return -1;
    out->monotonic_ns = get_u64(&d, "monotonic_ns");
    out->event = get_u32(&d, "event");
    out->tid = get_u32(&d, "tid");
    out->parent_tid = get_u32(&d, "parent_tid");
    out->creation_stack_id = get_u32(&d, "creation_stack_id");
    out->start_routine = get_u64(&d, "start_routine");
    if (finish(&d, rec, err))
        return -1;
    if (out->event != HS_THREAD_STARTED && out->event != HS_THREAD_EXITED) {
        hs_reader_set_corrupt(err, rec, "unknown thread event %u", out->event);
        return -1;
    }
    return 0;
}

int hs_reader_decode_thread_sites(const hs_record_t *rec, hs_thread_sites_rec_t *out, hs_read_error_t *err)
{
    pdec_t d;
    if (begin(&d, rec, HS_REC_THREAD_SITES, err))
        return -1;
    out->monotonic_ns = get_u64(&d, "monotonic_ns");
    out->count = get_u32(&d, "count");
    if (d.dec.err)
        return finish(&d, rec, err);
    uint64_t need = (uint64_t)out->count * HS_THREAD_SITE_LEN;
    if (need != hs_dec_remaining(&d.dec)) {
        hs_reader_set_corrupt(err, rec, "count %u needs %llu bytes of entries, the payload has %zu", out->count,
                              (unsigned long long)need, hs_dec_remaining(&d.dec));
        return -1;
    }
    out->entries = rec->payload + d.dec.off;
    for (uint32_t i = 0; i < out->count; i++) {
        const uint8_t *entry = out->entries + (size_t)i * HS_THREAD_SITE_LEN;
        unsigned long long entry_at =
            (unsigned long long)(rec->offset + HS_RECORD_HEAD_LEN + (size_t)(entry - rec->payload));
        hs_thread_site_t site;
        hs_reader_thread_site(out, i, &site);
        if (hs_load_u32(entry + 4) != 0) {
            hs_reader_set_corrupt(err, rec, "entry %u (at byte offset %llu): reserved field is 0x%x, not 0", i,
                                  entry_at, hs_load_u32(entry + 4));
            return -1;
        }
        if (site.exited > site.started) {
            hs_reader_set_corrupt(err, rec, "entry %u (at byte offset %llu): %llu threads exited but %llu started", i,
                                  entry_at, (unsigned long long)site.exited, (unsigned long long)site.started);
            return -1;
        }
    }
    return 0;
}

void hs_reader_thread_site(const hs_thread_sites_rec_t *s, uint32_t i, hs_thread_site_t *out)
{
    hs_dec_t d;
    hs_dec_init(&d, s->entries + (size_t)i * HS_THREAD_SITE_LEN, HS_THREAD_SITE_LEN);
    out->creation_stack_id = hs_dec_u32(&d);
    (void)hs_dec_u32(&d); /* reserved, checked by the decoder */
    out->start_routine = hs_dec_u64(&d);
    out->started = hs_dec_u64(&d);
    out->exited = hs_dec_u64(&d);
}

int hs_reader_decode_end(const hs_record_t *rec, hs_end_rec_t *out, hs_read_error_t *err)
{
    pdec_t d;
    if (begin(&d, rec, HS_REC_END, err))
        return -1;
    out->monotonic_ns = get_u64(&d, "monotonic_ns");
    out->reason = get_u32(&d, "reason");
    if (finish(&d, rec, err))
        return -1;
    if (out->reason < 1 || out->reason > HS_REASON_MAX) {
        hs_reader_set_corrupt(err, rec, "reason %u is outside 1..%d", out->reason, HS_REASON_MAX);
        return -1;
    }
    return 0;
}

static double get_f64(pdec_t *d, const char *field)
{
    uint64_t bits = get_u64(d, field);
    double v;
    memcpy(&v, &bits, sizeof(v));
    return v;
}

int hs_reader_decode_leak(const hs_record_t *rec, hs_leak_rec_t *out, hs_read_error_t *err)
{
    pdec_t d;
    if (begin(&d, rec, HS_REC_LEAK, err))
        return -1;
    out->monotonic_ns = get_u64(&d, "monotonic_ns");
    out->rate_bytes_per_sec = get_f64(&d, "rate_bytes_per_sec");
    out->growth_bytes = get_f64(&d, "growth_bytes");
    out->window_seconds = get_f64(&d, "window_seconds");
    out->confidence = get_f64(&d, "confidence");
    out->top_stack_id = get_u32(&d, "top_stack_id");
    uint32_t reserved = get_u32(&d, "reserved");
    out->message = get_str(&d, "message");
    if (finish(&d, rec, err))
        return -1;
    if (reserved != 0 || !isfinite(out->rate_bytes_per_sec) || !isfinite(out->growth_bytes) ||
        !isfinite(out->window_seconds) || !(out->confidence >= 0 && out->confidence <= 1)) {
        hs_reader_set_corrupt(err, rec, "field out of range (reserved %u, confidence %g)", reserved, out->confidence);
        return -1;
    }
    return 0;
}

int hs_reader_decode_alert(const hs_record_t *rec, hs_alert_rec_t *out, hs_read_error_t *err)
{
    pdec_t d;
    if (begin(&d, rec, HS_REC_ALERT, err))
        return -1;
    out->monotonic_ns = get_u64(&d, "monotonic_ns");
    out->kind = get_u32(&d, "kind");
    out->event = get_u32(&d, "event");
    out->value = get_f64(&d, "value");
    out->threshold = get_u64(&d, "threshold");
    if (finish(&d, rec, err))
        return -1;
    if (out->kind < 1 || out->kind > HS_ALERT_KIND_MAX) {
        hs_reader_set_corrupt(err, rec, "alert kind %u is outside 1..%d", out->kind, HS_ALERT_KIND_MAX);
        return -1;
    }
    if (out->event != HS_ALERT_RAISED && out->event != HS_ALERT_RECOVERED) {
        hs_reader_set_corrupt(err, rec, "unknown alert event %u", out->event);
        return -1;
    }
    if (!isfinite(out->value) || out->threshold == 0) {
        hs_reader_set_corrupt(err, rec, "field out of range (value %g, threshold %llu)", out->value,
                              (unsigned long long)out->threshold);
        return -1;
    }
    return 0;
}

int hs_reader_decode(const hs_record_t *rec, hs_decoded_t *out, hs_read_error_t *err)
{
    out->type = rec->type;
    switch (rec->type) {
    case HS_REC_HEADER: return hs_reader_decode_header(rec, &out->u.header, err);
    case HS_REC_MAPPINGS: return hs_reader_decode_mappings(rec, &out->u.mappings, err);
    case HS_REC_STACK: return hs_reader_decode_stack(rec, &out->u.stack, err);
    case HS_REC_SNAPSHOT: return hs_reader_decode_snapshot(rec, &out->u.snapshot, err);
    case HS_REC_THREAD: return hs_reader_decode_thread(rec, &out->u.thread, err);
    case HS_REC_END: return hs_reader_decode_end(rec, &out->u.end, err);
    case HS_REC_LEAK: return hs_reader_decode_leak(rec, &out->u.leak, err);
    case HS_REC_THREAD_SITES: return hs_reader_decode_thread_sites(rec, &out->u.thread_sites, err);
    case HS_REC_ALERT: return hs_reader_decode_alert(rec, &out->u.alert, err);
    default: hs_reader_set_corrupt(err, rec, "unknown record type %u", rec->type); return -1;
    }
}
