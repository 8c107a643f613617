/* test_reader.c - Check suite for common/hs_codec.c and common/hs_reader.c:
 * codec primitives and crc32, a writer/reader round trip of every record
 * type, every truncation and every single-byte corruption of a small dump,
 * hostile lengths and counts, bad preambles, record order, partial reads,
 * the copy a spooling reader makes.
 * Dumps are built with hs_codec's encoder (as the interposer writes them)
 * and fed to the reader through memfds and pipes; nothing touches disk. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <zlib.h>
#include <unistd.h>

#include "hs_codec.h"
#include "hs_format.h"
#include "hs_reader.h"

static uint8_t *grow(uint8_t *old, size_t old_len, size_t new_cap)
{
    (void)old_len;
    return realloc(old, new_cap);
}

/* ---- building dumps ---- */

#define MAX_RECS 64

typedef struct {
    hs_enc_t enc;
    size_t nrec;
    size_t rec_start[MAX_RECS]; /* offset of each record */
    size_t rec_end[MAX_RECS];   /* offset just past it */
    size_t open_at;
} dump_t;

static void dump_init(dump_t *d, int preamble)
{
    memset(d, 0, sizeof(*d));
    hs_enc_init(&d->enc, grow);
    if (preamble)
        hs_enc_preamble(&d->enc);
}

static void rec_begin(dump_t *d, uint32_t type) { d->open_at = hs_enc_record_begin(&d->enc, type); }

static void rec_end(dump_t *d)
{
    hs_enc_record_end(&d->enc, d->open_at);
    ck_assert_uint_lt(d->nrec, MAX_RECS);
    d->rec_start[d->nrec] = d->open_at;
    d->rec_end[d->nrec] = d->enc.len;
    d->nrec++;
}

static void dump_free(dump_t *d) { free(d->enc.buf); }

static const char CMDLINE[] = "prog\0-x\0arg two\0";

static void add_header(dump_t *d)
{
    rec_begin(d, HS_REC_HEADER);
    hs_enc_u32(&d->enc, 1234);
    hs_enc_u32(&d->enc, 1);
    hs_enc_u64(&d->enc, 1700000000000000000ull);
    hs_enc_u64(&d->enc, 42);
    hs_enc_u64(&d->enc, 524288);
    hs_enc_u32(&d->enc, 64);
    hs_enc_u32(&d->enc, 30000);
    hs_enc_str(&d->enc, "/bin/prog", 9);
    hs_enc_str(&d->enc, CMDLINE, sizeof(CMDLINE) - 1);
    hs_enc_str(&d->enc, "host", 4);
    rec_end(d);
}

static void enc_mapping(hs_enc_t *e, uint64_t start, uint64_t end, uint32_t build_id_len, const char *path)
{
    hs_enc_u64(e, start);
    hs_enc_u64(e, end);
    hs_enc_u64(e, 0x1000);
    hs_enc_u64(e, start - 0x1000);
    hs_enc_u32(e, build_id_len);
    for (uint32_t i = 0; i < build_id_len; i++)
        hs_enc_u8(e, (uint8_t)(0xa0 + i));
    hs_enc_str(e, path, strlen(path));
}

static void add_mappings(dump_t *d)
{
    rec_begin(d, HS_REC_MAPPINGS);
    hs_enc_u64(&d->enc, 77);
    hs_enc_u32(&d->enc, 2);
    enc_mapping(&d->enc, 0x400000, 0x401000, 20, "/bin/prog");
    enc_mapping(&d->enc, 0x7f0000000000, 0x7f0000200000, 0, "/lib/libc.so.6");
    rec_end(d);
}

static void add_stack(dump_t *d, uint32_t id, uint32_t depth)
{
    rec_begin(d, HS_REC_STACK);
    hs_enc_u32(&d->enc, id);
    hs_enc_u32(&d->enc, depth);
    for (uint32_t i = 0; i < depth; i++)
        hs_enc_u64(&d->enc, 0x400000 + 16 * (uint64_t)id + i);
    rec_end(d);
}

static void enc_row(hs_enc_t *e, uint32_t id, uint64_t base, double est)
{
    hs_enc_u32(e, id);
    hs_enc_u32(e, 0);
    hs_enc_u64(e, base);
    hs_enc_u64(e, base * 100);
    hs_enc_u64(e, base / 2);
    hs_enc_u64(e, base * 50);
    hs_enc_f64(e, est);
    hs_enc_f64(e, est * 100);
    hs_enc_f64(e, est / 2);
    hs_enc_f64(e, est * 50);
}

static void add_snapshot(dump_t *d, uint32_t seq, uint32_t rows)
{
    rec_begin(d, HS_REC_SNAPSHOT);
    hs_enc_u64(&d->enc, 1000 + seq);
    hs_enc_u64(&d->enc, 2000 + seq);
    hs_enc_u32(&d->enc, seq);
    hs_enc_u32(&d->enc, HS_REASON_INTERVAL);
    for (uint64_t i = 0; i < HS_SNAPSHOT_STAT_COUNT; i++)
        hs_enc_u64(&d->enc, 10 * i + seq);
    hs_enc_u32(&d->enc, rows);
    for (uint32_t i = 0; i < rows; i++)
        enc_row(&d->enc, i + 1, 10 * (seq + 1) + i, 1.5 * (seq + 1) + i);
    rec_end(d);
}

static void add_thread(dump_t *d, uint32_t event)
{
    rec_begin(d, HS_REC_THREAD);
    hs_enc_u64(&d->enc, 555);
    hs_enc_u32(&d->enc, event);
    hs_enc_u32(&d->enc, 1235);
    hs_enc_u32(&d->enc, 1234);
    hs_enc_u32(&d->enc, 1);
    hs_enc_u64(&d->enc, 0x400abc);
    rec_end(d);
}

static void enc_thread_site(hs_enc_t *e, uint32_t stack_id, uint64_t routine, uint64_t started, uint64_t exited)
{
    hs_enc_u32(e, stack_id);
    hs_enc_u32(e, 0);
    hs_enc_u64(e, routine);
    hs_enc_u64(e, started);
    hs_enc_u64(e, exited);
}

/* A creation site and the overflow site (stack 0, routine 0). */
static void add_thread_sites(dump_t *d)
{
    rec_begin(d, HS_REC_THREAD_SITES);
    hs_enc_u64(&d->enc, 777);
    hs_enc_u32(&d->enc, 2);
    enc_thread_site(&d->enc, 1, 0x400abc, 10030, 10000);
    enc_thread_site(&d->enc, 0, 0, 5, 5);
    rec_end(d);
}

static void add_end(dump_t *d)
{
    rec_begin(d, HS_REC_END);
    hs_enc_u64(&d->enc, 999);
    hs_enc_u32(&d->enc, HS_REASON_EXIT);
    rec_end(d);
}

/* The small valid dump the exhaustive tests cut and corrupt. */
static void build_small(dump_t *d)
{
    dump_init(d, 1);
    add_header(d);
    add_mappings(d);
    add_stack(d, 1, 3);
    add_stack(d, 2, 1);
    add_thread(d, HS_THREAD_STARTED);
    add_snapshot(d, 0, 1);
    add_snapshot(d, 1, 2);
    add_thread(d, HS_THREAD_EXITED);
    add_thread_sites(d);
    add_end(d);
    ck_assert(!d->enc.failed);
}

/* ---- reading ---- */

static int mem_fd(const void *p, size_t n)
{
    int fd = memfd_create("dump", MFD_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    if (n)
        ck_assert_int_eq(write(fd, p, n), (ssize_t)n);
    ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
    return fd;
}

typedef struct {
    hs_read_status_t open_status;
    hs_read_status_t final;
    hs_read_error_t err;
    size_t ok;                /* records returned */
    size_t offsets[MAX_RECS]; /* their offsets */
    size_t totals[MAX_RECS];  /* their framed lengths */
    int decode_failures;
    int saw_end;
    size_t capacity;
} result_t;

/* Reads every record of buf and decodes each one. */
static void read_all(const uint8_t *buf, size_t len, result_t *res)
{
    memset(res, 0, sizeof(*res));
    int fd = mem_fd(buf, len);
    hs_reader_t *r;
    res->open_status = hs_reader_open_fd(fd, &r, &res->err);
    if (res->open_status != HS_READ_OK) {
        ck_assert_ptr_null(r);
        res->final = res->open_status;
        close(fd);
        return;
    }
    hs_record_t rec;
    hs_read_status_t st;
    while ((st = hs_reader_next(r, &rec)) == HS_READ_OK) {
        ck_assert_uint_lt(res->ok, MAX_RECS);
        ck_assert_uint_eq(rec.index, res->ok);
        res->offsets[res->ok] = rec.offset;
        res->totals[res->ok] = HS_RECORD_HEAD_LEN + rec.len + HS_RECORD_TAIL_LEN;
        ck_assert_uint_eq(hs_reader_offset(r), rec.offset + res->totals[res->ok]);
        hs_decoded_t dec;
        hs_read_error_t derr;
        if (hs_reader_decode(&rec, &dec, &derr) != 0)
            res->decode_failures++;
        res->ok++;
    }
    res->final = st;
    res->err = *hs_reader_error(r);
    ck_assert_int_eq(res->err.status, st);
    ck_assert_int_eq(hs_reader_next(r, &rec), st); /* sticky */
    res->saw_end = hs_reader_saw_end(r);
    res->capacity = hs_reader_buffer_capacity(r);
    hs_reader_close(r);
    close(fd);
}

static hs_record_t one_record(const dump_t *d, size_t i)
{
    hs_record_t rec;
    rec.type = hs_load_u32(d->enc.buf + d->rec_start[i]);
    rec.len = hs_load_u32(d->enc.buf + d->rec_start[i] + 4);
    rec.payload = d->enc.buf + d->rec_start[i] + HS_RECORD_HEAD_LEN;
    rec.offset = d->rec_start[i];
    rec.index = i;
    return rec;
}

/* ---- codec ---- */

START_TEST(test_crc32_check_value)
{
    ck_assert_uint_eq(hs_crc32(0, "123456789", 9), 0xCBF43926u);
    ck_assert_uint_eq(hs_crc32(0, "", 0), 0);
    ck_assert_uint_eq(hs_crc32(hs_crc32(0, "1234", 4), "56789", 5), 0xCBF43926u);
    ck_assert_uint_ne(hs_crc32(0, "123456780", 9), 0xCBF43926u);
}
END_TEST

/* The sliced CRC (16 bytes and up) equals zlib's at every length from 0 to
 * 300, every alignment and chained calls. */
START_TEST(test_crc32_matches_zlib)
{
    static unsigned char buf[512];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof(buf); i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (unsigned char)(x >> 16);
    }
    for (size_t off = 0; off < 8; off++)
        for (size_t n = 0; n <= 300; n++) {
            uint32_t want = (uint32_t)crc32(0, buf + off, (uInt)n);
            ck_assert_uint_eq(hs_crc32(0, buf + off, n), want);
            size_t half = n / 3;
            ck_assert_uint_eq(hs_crc32(hs_crc32(0, buf + off, half), buf + off + half, n - half), want);
        }
}
END_TEST

START_TEST(test_codec_roundtrip)
{
    hs_enc_t e;
    hs_enc_init(&e, grow);
    hs_enc_u8(&e, 0xfe);
    hs_enc_u32(&e, 0xdeadbeef);
    hs_enc_u64(&e, 0x0123456789abcdefull);
    hs_enc_f64(&e, -2.5);
    hs_enc_str(&e, "hello", 5);
    hs_enc_bytes(&e, "xyz", 3);
    ck_assert(!e.failed);
    ck_assert_uint_eq(e.len, 1 + 4 + 8 + 8 + 4 + 5 + 3);
    /* little-endian on the wire */
    ck_assert_uint_eq(e.buf[1], 0xef);
    ck_assert_uint_eq(e.buf[4], 0xde);

    hs_dec_t d;
    hs_dec_init(&d, e.buf, e.len);
    ck_assert_uint_eq(hs_dec_u8(&d), 0xfe);
    ck_assert_uint_eq(hs_dec_u32(&d), 0xdeadbeef);
    ck_assert_uint_eq(hs_dec_u64(&d), 0x0123456789abcdefull);
    ck_assert(hs_dec_f64(&d) == -2.5);
    size_t n;
    const char *s = hs_dec_str(&d, &n);
    ck_assert_uint_eq(n, 5);
    ck_assert(memcmp(s, "hello", 5) == 0);
    ck_assert(memcmp(hs_dec_bytes(&d, 3), "xyz", 3) == 0);
    ck_assert_uint_eq(hs_dec_remaining(&d), 0);
    ck_assert_int_eq(d.err, 0);
    /* Reading past the end fails, returns zero and stays failed. */
    ck_assert_uint_eq(hs_dec_u32(&d), 0);
    ck_assert_int_eq(d.err, 1);
    hs_dec_init(&d, e.buf, e.len);
    ck_assert_ptr_null(hs_dec_bytes(&d, e.len + 1));
    ck_assert_uint_eq(hs_dec_u8(&d), 0);
    ck_assert_int_eq(d.err, 1);
    /* A string whose length overruns the buffer. */
    uint8_t bad[6] = {0xff, 0xff, 0xff, 0xff, 'a', 'b'};
    hs_dec_init(&d, bad, sizeof(bad));
    ck_assert_ptr_null(hs_dec_str(&d, &n));
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(d.err, 1);

    /* Record framing: length patched, checksum over head and payload. */
    hs_enc_t r;
    hs_enc_init(&r, grow);
    size_t at = hs_enc_record_begin(&r, HS_REC_END);
    hs_enc_u64(&r, 7);
    hs_enc_u32(&r, 2);
    hs_enc_record_end(&r, at);
    ck_assert_uint_eq(r.len, 8 + 12 + 4);
    ck_assert_uint_eq(hs_load_u32(r.buf), HS_REC_END);
    ck_assert_uint_eq(hs_load_u32(r.buf + 4), 12);
    ck_assert_uint_eq(hs_load_u32(r.buf + 20), hs_crc32(0, r.buf, 20));
    free(r.buf);
    free(e.buf);
}
END_TEST

/* ---- round trip ---- */

START_TEST(test_roundtrip_every_type)
{
    dump_t d;
    build_small(&d);
    int fd = mem_fd(d.enc.buf, d.enc.len);
    hs_reader_t *r;
    hs_read_error_t err;
    ck_assert_int_eq(hs_reader_open_fd(fd, &r, &err), HS_READ_OK);
    hs_record_t rec;
    hs_read_error_t derr;

    ck_assert_int_eq(hs_reader_next(r, &rec), HS_READ_OK);
    ck_assert_uint_eq(rec.offset, HS_PREAMBLE_LEN);
    hs_header_rec_t h;
    ck_assert_int_eq(hs_reader_decode_header(&rec, &h, &derr), 0);
    ck_assert_uint_eq(h.pid, 1234);
    ck_assert_uint_eq(h.ppid, 1);
    ck_assert_uint_eq(h.start_realtime_ns, 1700000000000000000ull);
    ck_assert_uint_eq(h.start_monotonic_ns, 42);
    ck_assert_uint_eq(h.sample_rate, 524288);
    ck_assert_uint_eq(h.max_depth, 64);
    ck_assert_uint_eq(h.interval_ms, 30000);
    ck_assert_uint_eq(h.exe_path.len, 9);
    ck_assert(memcmp(h.exe_path.ptr, "/bin/prog", 9) == 0);
    ck_assert_uint_eq(h.cmdline.len, sizeof(CMDLINE) - 1);
    ck_assert(memcmp(h.cmdline.ptr, CMDLINE, sizeof(CMDLINE) - 1) == 0);
    ck_assert(h.hostname.len == 4 && memcmp(h.hostname.ptr, "host", 4) == 0);

    ck_assert_int_eq(hs_reader_next(r, &rec), HS_READ_OK);
    hs_mappings_rec_t m;
    ck_assert_int_eq(hs_reader_decode_mappings(&rec, &m, &derr), 0);
    ck_assert_uint_eq(m.monotonic_ns, 77);
    ck_assert_uint_eq(m.count, 2);
    hs_mapping_iter_t it;
    hs_mapping_t e;
    hs_reader_mapping_iter_init(&it, &m);
    ck_assert(hs_reader_mapping_iter_next(&it, &e));
    ck_assert_uint_eq(e.start, 0x400000);
    ck_assert_uint_eq(e.end, 0x401000);
    ck_assert_uint_eq(e.file_offset, 0x1000);
    ck_assert_uint_eq(e.load_bias, 0x3ff000);
    ck_assert_uint_eq(e.build_id_len, 20);
    ck_assert_uint_eq(e.build_id[0], 0xa0);
    ck_assert_uint_eq(e.build_id[19], 0xa0 + 19);
    ck_assert(e.path.len == 9 && memcmp(e.path.ptr, "/bin/prog", 9) == 0);
    ck_assert(hs_reader_mapping_iter_next(&it, &e));
    ck_assert_uint_eq(e.start, 0x7f0000000000);
    ck_assert_uint_eq(e.build_id_len, 0);
    ck_assert(e.path.len == 14 && memcmp(e.path.ptr, "/lib/libc.so.6", 14) == 0);
    ck_assert(!hs_reader_mapping_iter_next(&it, &e));

    ck_assert_int_eq(hs_reader_next(r, &rec), HS_READ_OK);
    hs_stack_rec_t s;
    ck_assert_int_eq(hs_reader_decode_stack(&rec, &s, &derr), 0);
    ck_assert_uint_eq(s.stack_id, 1);
    ck_assert_uint_eq(s.depth, 3);
    ck_assert_uint_eq(hs_reader_stack_frame(&s, 0), 0x400010);
    ck_assert_uint_eq(hs_reader_stack_frame(&s, 2), 0x400012);
    ck_assert_int_eq(hs_reader_next(r, &rec), HS_READ_OK);
    ck_assert_int_eq(hs_reader_decode_stack(&rec, &s, &derr), 0);
    ck_assert_uint_eq(s.stack_id, 2);
    ck_assert_uint_eq(s.depth, 1);

    ck_assert_int_eq(hs_reader_next(r, &rec), HS_READ_OK);
    hs_thread_rec_t t;
    ck_assert_int_eq(hs_reader_decode_thread(&rec, &t, &derr), 0);
    ck_assert_uint_eq(t.monotonic_ns, 555);
    ck_assert_uint_eq(t.event, HS_THREAD_STARTED);
    ck_assert_uint_eq(t.tid, 1235);
    ck_assert_uint_eq(t.parent_tid, 1234);
    ck_assert_uint_eq(t.creation_stack_id, 1);
    ck_assert_uint_eq(t.start_routine, 0x400abc);

    ck_assert_int_eq(hs_reader_next(r, &rec), HS_READ_OK);
    hs_snapshot_rec_t sn;
    ck_assert_int_eq(hs_reader_decode_snapshot(&rec, &sn, &derr), 0);
    ck_assert_uint_eq(sn.seq, 0);
    ck_assert_uint_eq(sn.row_count, 1);
    ck_assert_int_eq(hs_reader_next(r, &rec), HS_READ_OK);
    hs_decoded_t any;
    ck_assert_int_eq(hs_reader_decode(&rec, &any, &derr), 0);
    ck_assert_uint_eq(any.type, HS_REC_SNAPSHOT);
    sn = any.u.snapshot;
    ck_assert_uint_eq(sn.monotonic_ns, 1001);
    ck_assert_uint_eq(sn.realtime_ns, 2001);
    ck_assert_uint_eq(sn.seq, 1);
    ck_assert_uint_eq(sn.reason, HS_REASON_INTERVAL);
    for (uint32_t i = 0; i < HS_SNAPSHOT_STAT_COUNT; i++)
        ck_assert_uint_eq(sn.stats[i], 10 * i + 1);
    ck_assert_uint_eq(sn.row_count, 2);
    hs_snapshot_row_t row;
    hs_reader_snapshot_row(&sn, 1, &row);
    ck_assert_uint_eq(row.stack_id, 2);
    ck_assert_uint_eq(row.alloc_count, 21);
    ck_assert_uint_eq(row.alloc_bytes, 2100);
    ck_assert_uint_eq(row.free_count, 10);
    ck_assert_uint_eq(row.free_bytes, 1050);
    ck_assert(row.est_alloc_objects == 4.0);
    ck_assert(row.est_alloc_bytes == 400.0);
    ck_assert(row.est_free_objects == 2.0);
    ck_assert(row.est_free_bytes == 200.0);

    ck_assert_int_eq(hs_reader_next(r, &rec), HS_READ_OK);
    ck_assert_int_eq(hs_reader_decode_thread(&rec, &t, &derr), 0);
    ck_assert_uint_eq(t.event, HS_THREAD_EXITED);

    ck_assert_int_eq(hs_reader_next(r, &rec), HS_READ_OK);
    ck_assert_int_eq(hs_reader_decode(&rec, &any, &derr), 0);
    ck_assert_uint_eq(any.type, HS_REC_THREAD_SITES);
    ck_assert_str_eq(hs_reader_type_name(rec.type), "THREAD_SITES");
    hs_thread_sites_rec_t ts = any.u.thread_sites;
    ck_assert_uint_eq(ts.monotonic_ns, 777);
    ck_assert_uint_eq(ts.count, 2);
    hs_thread_site_t site;
    hs_reader_thread_site(&ts, 0, &site);
    ck_assert_uint_eq(site.creation_stack_id, 1);
    ck_assert_uint_eq(site.start_routine, 0x400abc);
    ck_assert_uint_eq(site.started, 10030);
    ck_assert_uint_eq(site.exited, 10000);
    hs_reader_thread_site(&ts, 1, &site);
    ck_assert_uint_eq(site.creation_stack_id, 0);
    ck_assert_uint_eq(site.start_routine, 0);
    ck_assert_uint_eq(site.started, 5);
    ck_assert_uint_eq(site.exited, 5);

    ck_assert_int_eq(hs_reader_next(r, &rec), HS_READ_OK);
    hs_end_rec_t end;
    ck_assert_int_eq(hs_reader_decode_end(&rec, &end, &derr), 0);
    ck_assert_uint_eq(end.monotonic_ns, 999);
    ck_assert_uint_eq(end.reason, HS_REASON_EXIT);
    ck_assert(hs_reader_saw_end(r));

    ck_assert_int_eq(hs_reader_next(r, &rec), HS_READ_END);
    ck_assert_uint_eq(hs_reader_records(r), d.nrec);
    ck_assert_uint_eq(hs_reader_error(r)->offset, d.enc.len);
    hs_reader_close(r);
    close(fd);
    dump_free(&d);
}
END_TEST

/* A record of one type handed to another type's decoder is an error. */
START_TEST(test_decode_wrong_type)
{
    dump_t d;
    build_small(&d);
    hs_record_t rec = one_record(&d, 2); /* STACK */
    hs_header_rec_t h;
    hs_read_error_t err;
    ck_assert_int_eq(hs_reader_decode_header(&rec, &h, &err), -1);
    ck_assert_int_eq(err.status, HS_READ_CORRUPT);
    ck_assert_str_eq(err.subject, "STACK record");
    dump_free(&d);
}
END_TEST

/* ---- torn and damaged files ---- */

START_TEST(test_truncated_at_every_offset)
{
    dump_t d;
    build_small(&d);
    for (size_t cut = 0; cut <= d.enc.len; cut++) {
        result_t res;
        read_all(d.enc.buf, cut, &res);
        ck_assert_int_eq(res.decode_failures, 0);
        if (cut < HS_PREAMBLE_LEN) {
            ck_assert_int_eq(res.open_status, HS_READ_TRUNCATED);
            ck_assert_uint_eq(res.err.offset, 0);
            continue;
        }
        size_t boundary = res.ok ? d.rec_end[res.ok - 1] : HS_PREAMBLE_LEN;
        for (size_t i = 0; i < res.ok; i++)
            ck_assert_uint_eq(res.offsets[i], d.rec_start[i]);
        if (res.final == HS_READ_END) {
            ck_assert_uint_eq(cut, boundary); /* a clean end only at a record boundary */
            ck_assert_int_eq(res.saw_end, cut == d.enc.len);
        } else {
            ck_assert_msg(res.final == HS_READ_TRUNCATED, "cut %zu: status %d", cut, res.final);
            ck_assert_uint_eq(res.err.offset, boundary);
            ck_assert_uint_eq(res.err.records, res.ok);
            ck_assert_uint_lt(res.err.offset, cut);
            ck_assert_uint_lt(cut, d.rec_end[res.ok]);
            ck_assert(!res.saw_end);
        }
    }
    dump_free(&d);
}
END_TEST

START_TEST(test_corrupt_every_byte)
{
    static const uint8_t flips[] = {0x01, 0x80, 0xff};
    dump_t d;
    build_small(&d);
    uint8_t *copy = malloc(d.enc.len);
    ck_assert_ptr_nonnull(copy);
    for (size_t at = 0; at < d.enc.len; at++) {
        for (size_t f = 0; f < sizeof(flips); f++) {
            memcpy(copy, d.enc.buf, d.enc.len);
            copy[at] ^= flips[f];
            result_t res;
            read_all(copy, d.enc.len, &res);
            if (res.open_status != HS_READ_OK) {
                ck_assert_int_eq(res.open_status, HS_READ_CORRUPT);
                ck_assert_uint_lt(at, HS_PREAMBLE_LEN);
                continue;
            }
            ck_assert_uint_ge(at, HS_PREAMBLE_LEN);
            ck_assert_msg(res.final == HS_READ_CORRUPT || res.final == HS_READ_TRUNCATED,
                          "byte %zu ^ 0x%02x: status %d", at, flips[f], res.final);
            /* Every accepted record is byte-identical to the original one:
             * the changed byte is never inside an accepted record. */
            for (size_t i = 0; i < res.ok; i++) {
                ck_assert_uint_eq(res.offsets[i], d.rec_start[i]);
                ck_assert_uint_eq(res.totals[i], d.rec_end[i] - d.rec_start[i]);
                ck_assert_msg(at < d.rec_start[i] || at >= d.rec_end[i], "byte %zu accepted in record %zu", at, i);
            }
            ck_assert_int_eq(res.decode_failures, 0);
            /* ... and every record before the damaged one was returned. */
            size_t damaged = 0;
            while (d.rec_end[damaged] <= at)
                damaged++;
            ck_assert_uint_eq(res.ok, damaged);
            ck_assert_uint_eq(res.err.offset, d.rec_start[damaged]);
        }
    }
    free(copy);
    dump_free(&d);
}
END_TEST

/* A record head with the given type and length, and no valid data behind it. */
static void add_raw_head(dump_t *d, uint32_t type, uint32_t len)
{
    hs_enc_u32(&d->enc, type);
    hs_enc_u32(&d->enc, len);
}

START_TEST(test_huge_declared_lengths)
{
    static const uint32_t lens[] = {0xffffffffu, HS_RECORD_MAX_PAYLOAD + 1};
    for (size_t i = 0; i < 2; i++) {
        dump_t d;
        dump_init(&d, 1);
        add_header(&d);
        add_raw_head(&d, HS_REC_SNAPSHOT, lens[i]);
        result_t res;
        read_all(d.enc.buf, d.enc.len, &res);
        ck_assert_int_eq(res.final, HS_READ_CORRUPT);
        ck_assert_uint_eq(res.ok, 1);
        ck_assert_uint_eq(res.err.offset, d.rec_end[0]);
        ck_assert_str_eq(res.err.subject, "SNAPSHOT record");
        ck_assert_ptr_nonnull(strstr(res.err.why, "exceeds"));
        dump_free(&d);
    }
    /* The largest allowed length with 1 MiB behind it: a torn tail, and the
     * reader must not have reserved 64 MiB for data that never came. */
    dump_t d;
    dump_init(&d, 1);
    add_header(&d);
    add_raw_head(&d, HS_REC_MAPPINGS, HS_RECORD_MAX_PAYLOAD);
    uint8_t *junk = calloc(1, 1 << 20);
    hs_enc_bytes(&d.enc, junk, 1 << 20);
    free(junk);
    result_t res;
    read_all(d.enc.buf, d.enc.len, &res);
    ck_assert_int_eq(res.final, HS_READ_TRUNCATED);
    ck_assert_uint_eq(res.ok, 1);
    ck_assert_uint_eq(res.err.offset, d.rec_end[0]);
    ck_assert_uint_le(res.capacity, 4u << 20);
    dump_free(&d);
}
END_TEST

/* Many records bigger than the first read: exercises buffer growth and the
 * compaction of partially consumed data. */
START_TEST(test_large_records)
{
    dump_t d;
    dump_init(&d, 1);
    add_header(&d);
    for (int r = 0; r < 5; r++) {
        rec_begin(&d, HS_REC_MAPPINGS);
        hs_enc_u64(&d.enc, (uint64_t)r);
        uint32_t n = 3000 + 1000 * (uint32_t)r;
        hs_enc_u32(&d.enc, n);
        for (uint32_t i = 0; i < n; i++)
            enc_mapping(&d.enc, 0x10000 * (uint64_t)(i + 1), 0x10000 * (uint64_t)(i + 1) + 0x1000, 8, "/lib/x.so");
        rec_end(&d);
        add_stack(&d, (uint32_t)r + 1, HS_MAX_DEPTH_LIMIT);
    }
    add_end(&d);
    result_t res;
    read_all(d.enc.buf, d.enc.len, &res);
    ck_assert_int_eq(res.final, HS_READ_END);
    ck_assert_uint_eq(res.ok, d.nrec);
    ck_assert_int_eq(res.decode_failures, 0);
    /* bounded by (about twice) the largest record, not the file */
    size_t largest = 0;
    for (size_t i = 0; i < d.nrec; i++)
        if (d.rec_end[i] - d.rec_start[i] > largest)
            largest = d.rec_end[i] - d.rec_start[i];
    ck_assert_uint_le(res.capacity, 2 * largest + 65536);
    ck_assert_uint_lt(res.capacity, d.enc.len);
    dump_free(&d);
}
END_TEST

START_TEST(test_bad_preamble)
{
    dump_t d;
    build_small(&d);
    uint8_t *copy = malloc(d.enc.len);
    result_t res;

    memcpy(copy, d.enc.buf, d.enc.len);
    copy[0] = 'X';
    read_all(copy, d.enc.len, &res);
    ck_assert_int_eq(res.open_status, HS_READ_CORRUPT);
    ck_assert_uint_eq(res.err.offset, 0);
    ck_assert_ptr_nonnull(strstr(res.err.why, "magic"));

    memcpy(copy, d.enc.buf, d.enc.len);
    copy[HS_MAGIC_LEN] = HS_FORMAT_VERSION + 1;
    read_all(copy, d.enc.len, &res);
    ck_assert_int_eq(res.open_status, HS_READ_CORRUPT);
    ck_assert_uint_eq(res.err.offset, HS_MAGIC_LEN);
    ck_assert_ptr_nonnull(strstr(res.err.why, "unsupported format version"));

    memcpy(copy, d.enc.buf, d.enc.len);
    copy[HS_MAGIC_LEN + 4] = 1;
    read_all(copy, d.enc.len, &res);
    ck_assert_int_eq(res.open_status, HS_READ_CORRUPT);
    ck_assert_uint_eq(res.err.offset, HS_MAGIC_LEN + 4);

    read_all(d.enc.buf, 0, &res);
    ck_assert_int_eq(res.open_status, HS_READ_TRUNCATED);
    read_all((const uint8_t *)"HSD", 3, &res);
    ck_assert_int_eq(res.open_status, HS_READ_TRUNCATED);
    read_all((const uint8_t *)"ELF", 3, &res);
    ck_assert_int_eq(res.open_status, HS_READ_CORRUPT);
    read_all((const uint8_t *)"HSDUMP\r\n\7", 9, &res); /* ends inside a wrong version */
    ck_assert_int_eq(res.open_status, HS_READ_CORRUPT);

    /* Not a dump at all: a text file longer than the preamble. */
    static const char text[] = "#!/bin/sh\necho this is not a dump\n";
    read_all((const uint8_t *)text, sizeof(text) - 1, &res);
    ck_assert_int_eq(res.open_status, HS_READ_CORRUPT);
    char msg[256];
    ck_assert_str_eq(hs_reader_format_error(&res.err, msg, sizeof(msg)),
                     "corrupt file preamble at byte offset 0: bad magic (not a heapscope dump)");
    free(copy);
    dump_free(&d);
}
END_TEST

START_TEST(test_record_order)
{
    result_t res;
    dump_t d;

    dump_init(&d, 1); /* first record is not HEADER */
    add_stack(&d, 1, 1);
    read_all(d.enc.buf, d.enc.len, &res);
    ck_assert_int_eq(res.final, HS_READ_CORRUPT);
    ck_assert_uint_eq(res.err.offset, HS_PREAMBLE_LEN);
    ck_assert_str_eq(res.err.subject, "STACK record");
    dump_free(&d);

    dump_init(&d, 1); /* a second HEADER */
    add_header(&d);
    add_header(&d);
    read_all(d.enc.buf, d.enc.len, &res);
    ck_assert_int_eq(res.final, HS_READ_CORRUPT);
    ck_assert_uint_eq(res.ok, 1);
    ck_assert_uint_eq(res.err.offset, d.rec_start[1]);
    dump_free(&d);

    dump_init(&d, 1); /* a valid record after END */
    add_header(&d);
    add_end(&d);
    add_thread(&d, HS_THREAD_EXITED);
    read_all(d.enc.buf, d.enc.len, &res);
    ck_assert_int_eq(res.final, HS_READ_CORRUPT);
    ck_assert_uint_eq(res.ok, 2);
    ck_assert_uint_eq(res.err.offset, d.rec_start[2]);
    read_all(d.enc.buf, d.rec_start[2] + 3, &res); /* a few bytes after END */
    ck_assert_int_eq(res.final, HS_READ_CORRUPT);
    dump_free(&d);

    static const uint32_t bad_types[] = {0, HS_REC_TYPE_MAX + 1, 0xffffffffu};
    for (size_t i = 0; i < 3; i++) {
        dump_init(&d, 1);
        add_header(&d);
        rec_begin(&d, bad_types[i]);
        hs_enc_u32(&d.enc, 0);
        rec_end(&d);
        read_all(d.enc.buf, d.enc.len, &res);
        ck_assert_int_eq(res.final, HS_READ_CORRUPT);
        ck_assert_uint_eq(res.err.offset, d.rec_start[1]);
        ck_assert_ptr_nonnull(strstr(res.err.why, "unknown record type"));
        dump_free(&d);
    }
}
END_TEST

/* ---- payload validation ---- */

/* Wraps one payload-building step into a single framed record and decodes it. */
typedef void (*payload_fn)(hs_enc_t *e);

static int decode_one(uint32_t type, payload_fn fn, hs_read_error_t *err)
{
    dump_t d;
    dump_init(&d, 0);
    rec_begin(&d, type);
    fn(&d.enc);
    rec_end(&d);
    hs_record_t rec = one_record(&d, 0);
    hs_decoded_t out;
    memset(err, 0, sizeof(*err));
    int rc = hs_reader_decode(&rec, &out, err);
    if (rc != 0) {
        ck_assert_int_eq(err->status, HS_READ_CORRUPT);
        ck_assert_uint_eq(err->offset, 0);
    }
    dump_free(&d);
    return rc;
}

static void header_fields(hs_enc_t *e, uint64_t rate, uint32_t depth)
{
    hs_enc_u32(e, 1);
    hs_enc_u32(e, 1);
    hs_enc_u64(e, 1);
    hs_enc_u64(e, 1);
    hs_enc_u64(e, rate);
    hs_enc_u32(e, depth);
    hs_enc_u32(e, 1000);
}
static void hdr_ok(hs_enc_t *e)
{
    header_fields(e, 1, 256);
    hs_enc_str(e, "", 0);
    hs_enc_str(e, "a", 1);
    hs_enc_str(e, "h", 1);
}
static void hdr_short(hs_enc_t *e)
{
    header_fields(e, 1, 1);
    hs_enc_str(e, "", 0);
    hs_enc_str(e, "a", 1);
    hs_enc_u32(e, 1); /* hostname length without its byte */
}
static void hdr_trailing(hs_enc_t *e)
{
    hdr_ok(e);
    hs_enc_u8(e, 0);
}
static void hdr_rate0(hs_enc_t *e)
{
    header_fields(e, 0, 64);
    hs_enc_str(e, "", 0);
    hs_enc_str(e, "", 0);
    hs_enc_str(e, "", 0);
}
static void hdr_depth0(hs_enc_t *e)
{
    header_fields(e, 1, 0);
    hs_enc_str(e, "", 0);
    hs_enc_str(e, "", 0);
    hs_enc_str(e, "", 0);
}
static void hdr_depth257(hs_enc_t *e)
{
    header_fields(e, 1, HS_MAX_DEPTH_LIMIT + 1);
    hs_enc_str(e, "", 0);
    hs_enc_str(e, "", 0);
    hs_enc_str(e, "", 0);
}
static void hdr_str_overrun(hs_enc_t *e)
{
    header_fields(e, 1, 64);
    hs_enc_u32(e, 1000);
    hs_enc_bytes(e, "abc", 3);
}

static void map_ok(hs_enc_t *e)
{
    hs_enc_u64(e, 1);
    hs_enc_u32(e, 2);
    enc_mapping(e, 0x2000, 0x3000, HS_BUILD_ID_MAX, "a");
    enc_mapping(e, 0x3000, 0x4000, 0, "");
}
static void map_empty(hs_enc_t *e)
{
    hs_enc_u64(e, 1);
    hs_enc_u32(e, 0);
}
static void map_huge_count(hs_enc_t *e)
{
    hs_enc_u64(e, 1);
    hs_enc_u32(e, 0xffffffffu);
    enc_mapping(e, 0x2000, 0x3000, 0, "a");
}
static void map_build_id_65(hs_enc_t *e)
{
    hs_enc_u64(e, 1);
    hs_enc_u32(e, 1);
    enc_mapping(e, 0x2000, 0x3000, HS_BUILD_ID_MAX + 1, "a");
}
static void map_empty_range(hs_enc_t *e)
{
    hs_enc_u64(e, 1);
    hs_enc_u32(e, 1);
    enc_mapping(e, 0x3000, 0x3000, 0, "a");
}
static void map_missing_entry(hs_enc_t *e)
{
    hs_enc_u64(e, 1);
    hs_enc_u32(e, 2);
    enc_mapping(e, 0x2000, 0x3000, 8, "a long enough path to look like one more entry");
}
static void map_trailing(hs_enc_t *e)
{
    map_ok(e);
    hs_enc_u32(e, 0);
}

static void stack_fields(hs_enc_t *e, uint32_t id, uint32_t depth, uint32_t frames)
{
    hs_enc_u32(e, id);
    hs_enc_u32(e, depth);
    for (uint32_t i = 0; i < frames; i++)
        hs_enc_u64(e, i);
}
static void stack_ok0(hs_enc_t *e) { stack_fields(e, 1, 0, 0); }
static void stack_ok256(hs_enc_t *e) { stack_fields(e, 9, HS_MAX_DEPTH_LIMIT, HS_MAX_DEPTH_LIMIT); }
static void stack_id0(hs_enc_t *e) { stack_fields(e, 0, 1, 1); }
static void stack_depth257(hs_enc_t *e) { stack_fields(e, 1, HS_MAX_DEPTH_LIMIT + 1, HS_MAX_DEPTH_LIMIT + 1); }
static void stack_short(hs_enc_t *e) { stack_fields(e, 1, 3, 2); }
static void stack_trailing(hs_enc_t *e) { stack_fields(e, 1, 2, 3); }
static void stack_no_depth(hs_enc_t *e) { hs_enc_u32(e, 1); }

static void snap_head(hs_enc_t *e, uint32_t reason, uint32_t rows)
{
    hs_enc_u64(e, 1);
    hs_enc_u64(e, 2);
    hs_enc_u32(e, 0);
    hs_enc_u32(e, reason);
    for (int i = 0; i < HS_SNAPSHOT_STAT_COUNT; i++)
        hs_enc_u64(e, 0);
    hs_enc_u32(e, rows);
}
static void snap_ok(hs_enc_t *e)
{
    snap_head(e, HS_REASON_SIGNAL, 2);
    enc_row(e, 1, 1, 1.0);
    enc_row(e, 2, 0, 0.0);
}
static void snap_no_rows(hs_enc_t *e) { snap_head(e, HS_REASON_FORK_CHILD, 0); }
static void snap_reason0(hs_enc_t *e) { snap_head(e, 0, 0); }
static void snap_reason6(hs_enc_t *e) { snap_head(e, HS_REASON_MAX + 1, 0); }
static void snap_rows_short(hs_enc_t *e)
{
    snap_head(e, HS_REASON_EXIT, 2);
    enc_row(e, 1, 1, 1.0);
}
static void snap_rows_long(hs_enc_t *e)
{
    snap_head(e, HS_REASON_EXIT, 1);
    enc_row(e, 1, 1, 1.0);
    hs_enc_u8(e, 0);
}
static void snap_rows_huge(hs_enc_t *e)
{
    snap_head(e, HS_REASON_EXIT, 0xffffffffu);
    enc_row(e, 1, 1, 1.0);
}
static void snap_row_id0(hs_enc_t *e)
{
    snap_head(e, HS_REASON_EXIT, 1);
    enc_row(e, 0, 1, 1.0);
}
static void snap_row_reserved(hs_enc_t *e)
{
    snap_head(e, HS_REASON_EXIT, 1);
    hs_enc_u32(e, 1);
    hs_enc_u32(e, 5);
    for (int i = 0; i < 8; i++)
        hs_enc_u64(e, 0);
}
static void snap_row_nan(hs_enc_t *e)
{
    snap_head(e, HS_REASON_EXIT, 1);
    enc_row(e, 1, 1, NAN);
}
static void snap_row_negative(hs_enc_t *e)
{
    snap_head(e, HS_REASON_EXIT, 1);
    enc_row(e, 1, 1, -1.0);
}
static void snap_row_inf(hs_enc_t *e)
{
    snap_head(e, HS_REASON_EXIT, 1);
    enc_row(e, 1, 1, INFINITY);
}
static void snap_short_stats(hs_enc_t *e)
{
    hs_enc_u64(e, 1);
    hs_enc_u64(e, 2);
    hs_enc_u32(e, 0);
    hs_enc_u32(e, 1);
    hs_enc_u64(e, 0);
}

static void thread_fields(hs_enc_t *e, uint32_t event)
{
    hs_enc_u64(e, 1);
    hs_enc_u32(e, event);
    hs_enc_u32(e, 2);
    hs_enc_u32(e, 1);
    hs_enc_u32(e, 0);
    hs_enc_u64(e, 0);
}
static void thread_ok(hs_enc_t *e) { thread_fields(e, HS_THREAD_EXITED); }
static void thread_event0(hs_enc_t *e) { thread_fields(e, 0); }
static void thread_event3(hs_enc_t *e) { thread_fields(e, 3); }
static void thread_trailing(hs_enc_t *e)
{
    thread_fields(e, HS_THREAD_STARTED);
    hs_enc_u8(e, 1);
}
static void thread_short(hs_enc_t *e)
{
    hs_enc_u64(e, 1);
    hs_enc_u32(e, HS_THREAD_STARTED);
    hs_enc_u32(e, 2);
    hs_enc_u32(e, 1);
    hs_enc_u32(e, 0);
    hs_enc_u32(e, 0); /* start_routine cut to 4 bytes */
}

static void sites_head(hs_enc_t *e, uint32_t count)
{
    hs_enc_u64(e, 1);
    hs_enc_u32(e, count);
}
static void sites_ok(hs_enc_t *e)
{
    sites_head(e, 3);
    enc_thread_site(e, 1, 0x401000, 7, 7);
    enc_thread_site(e, 0, 0x401000, 2, 0); /* creation stack unknown */
    enc_thread_site(e, 0, 0, 1, 1);        /* overflow site */
}
static void sites_empty(hs_enc_t *e) { sites_head(e, 0); }
static void sites_count_short(hs_enc_t *e)
{
    sites_head(e, 2);
    enc_thread_site(e, 1, 0x401000, 1, 0);
}
static void sites_count_long(hs_enc_t *e)
{
    sites_head(e, 1);
    enc_thread_site(e, 1, 0x401000, 1, 0);
    enc_thread_site(e, 2, 0x401000, 1, 0);
}
static void sites_count_huge(hs_enc_t *e)
{
    sites_head(e, 0xffffffffu);
    enc_thread_site(e, 1, 0x401000, 1, 0);
}
static void sites_count_overflows(hs_enc_t *e) /* count x 32 wraps to 0 in 32 bits */ { sites_head(e, 0x08000000u); }
static void sites_trailing(hs_enc_t *e)
{
    sites_ok(e);
    hs_enc_u8(e, 0);
}
static void sites_reserved(hs_enc_t *e)
{
    sites_head(e, 1);
    hs_enc_u32(e, 1);
    hs_enc_u32(e, 9);
    hs_enc_u64(e, 0x401000);
    hs_enc_u64(e, 1);
    hs_enc_u64(e, 0);
}
static void sites_more_exited(hs_enc_t *e)
{
    sites_head(e, 2);
    enc_thread_site(e, 1, 0x401000, 3, 3);
    enc_thread_site(e, 2, 0x401000, 3, 4);
}
static void sites_no_count(hs_enc_t *e) { hs_enc_u64(e, 1); }

static void end_ok(hs_enc_t *e)
{
    hs_enc_u64(e, 1);
    hs_enc_u32(e, HS_REASON_SIGNAL);
}
static void end_reason0(hs_enc_t *e)
{
    hs_enc_u64(e, 1);
    hs_enc_u32(e, 0);
}
static void end_reason6(hs_enc_t *e)
{
    hs_enc_u64(e, 1);
    hs_enc_u32(e, HS_REASON_MAX + 1);
}
static void end_trailing(hs_enc_t *e)
{
    end_ok(e);
    hs_enc_u32(e, 0);
}
static void end_empty(hs_enc_t *e) { (void)e; }

static const struct {
    const char *name;
    uint32_t type;
    payload_fn fn;
    int valid;
    const char *why; /* a word the error must contain */
} payload_cases[] = {
    {"header ok", HS_REC_HEADER, hdr_ok, 1, NULL},
    {"header short", HS_REC_HEADER, hdr_short, 0, "hostname"},
    {"header trailing", HS_REC_HEADER, hdr_trailing, 0, "trailing"},
    {"header rate 0", HS_REC_HEADER, hdr_rate0, 0, "sample_rate"},
    {"header depth 0", HS_REC_HEADER, hdr_depth0, 0, "max_depth"},
    {"header depth 257", HS_REC_HEADER, hdr_depth257, 0, "max_depth"},
    {"header string overrun", HS_REC_HEADER, hdr_str_overrun, 0, "exe_path"},
    {"mappings ok", HS_REC_MAPPINGS, map_ok, 1, NULL},
    {"mappings empty", HS_REC_MAPPINGS, map_empty, 1, NULL},
    {"mappings huge count", HS_REC_MAPPINGS, map_huge_count, 0, "count"},
    {"mappings build id 65", HS_REC_MAPPINGS, map_build_id_65, 0, "build_id_len"},
    {"mappings empty range", HS_REC_MAPPINGS, map_empty_range, 0, "start"},
    {"mappings missing entry", HS_REC_MAPPINGS, map_missing_entry, 0, "ends inside"},
    {"mappings trailing", HS_REC_MAPPINGS, map_trailing, 0, "trailing"},
    {"stack depth 0", HS_REC_STACK, stack_ok0, 1, NULL},
    {"stack depth 256", HS_REC_STACK, stack_ok256, 1, NULL},
    {"stack id 0", HS_REC_STACK, stack_id0, 0, "stack_id"},
    {"stack depth 257", HS_REC_STACK, stack_depth257, 0, "depth"},
    {"stack short", HS_REC_STACK, stack_short, 0, "return addresses"},
    {"stack trailing", HS_REC_STACK, stack_trailing, 0, "trailing"},
    {"stack no depth", HS_REC_STACK, stack_no_depth, 0, "depth"},
    {"snapshot ok", HS_REC_SNAPSHOT, snap_ok, 1, NULL},
    {"snapshot no rows", HS_REC_SNAPSHOT, snap_no_rows, 1, NULL},
    {"snapshot reason 0", HS_REC_SNAPSHOT, snap_reason0, 0, "reason"},
    {"snapshot reason 6", HS_REC_SNAPSHOT, snap_reason6, 0, "reason"},
    {"snapshot rows short", HS_REC_SNAPSHOT, snap_rows_short, 0, "row_count"},
    {"snapshot rows long", HS_REC_SNAPSHOT, snap_rows_long, 0, "row_count"},
    {"snapshot rows huge", HS_REC_SNAPSHOT, snap_rows_huge, 0, "row_count"},
    {"snapshot row id 0", HS_REC_SNAPSHOT, snap_row_id0, 0, "stack_id"},
    {"snapshot row reserved", HS_REC_SNAPSHOT, snap_row_reserved, 0, "reserved"},
    {"snapshot row nan", HS_REC_SNAPSHOT, snap_row_nan, 0, "estimate"},
    {"snapshot row negative", HS_REC_SNAPSHOT, snap_row_negative, 0, "estimate"},
    {"snapshot row inf", HS_REC_SNAPSHOT, snap_row_inf, 0, "estimate"},
    {"snapshot short stats", HS_REC_SNAPSHOT, snap_short_stats, 0, "stats"},
    {"thread ok", HS_REC_THREAD, thread_ok, 1, NULL},
    {"thread event 0", HS_REC_THREAD, thread_event0, 0, "event"},
    {"thread event 3", HS_REC_THREAD, thread_event3, 0, "event"},
    {"thread trailing", HS_REC_THREAD, thread_trailing, 0, "trailing"},
    {"thread short", HS_REC_THREAD, thread_short, 0, "start_routine"},
    {"thread sites ok", HS_REC_THREAD_SITES, sites_ok, 1, NULL},
    {"thread sites empty", HS_REC_THREAD_SITES, sites_empty, 1, NULL},
    {"thread sites count short", HS_REC_THREAD_SITES, sites_count_short, 0, "count 2"},
    {"thread sites count long", HS_REC_THREAD_SITES, sites_count_long, 0, "count 1"},
    {"thread sites count huge", HS_REC_THREAD_SITES, sites_count_huge, 0, "count 4294967295"},
    {"thread sites count overflows", HS_REC_THREAD_SITES, sites_count_overflows, 0, "count 134217728"},
    {"thread sites trailing", HS_REC_THREAD_SITES, sites_trailing, 0, "count 3"},
    {"thread sites reserved", HS_REC_THREAD_SITES, sites_reserved, 0, "reserved"},
    {"thread sites exited > started", HS_REC_THREAD_SITES, sites_more_exited, 0, "entry 1"},
    {"thread sites no count", HS_REC_THREAD_SITES, sites_no_count, 0, "count"},
    {"end ok", HS_REC_END, end_ok, 1, NULL},
    {"end reason 0", HS_REC_END, end_reason0, 0, "reason"},
    {"end reason 6", HS_REC_END, end_reason6, 0, "reason"},
    {"end trailing", HS_REC_END, end_trailing, 0, "trailing"},
    {"end empty", HS_REC_END, end_empty, 0, "monotonic_ns"},
};

START_TEST(test_payload_validation)
{
    size_t i = (size_t)_i;
    hs_read_error_t err;
    int rc = decode_one(payload_cases[i].type, payload_cases[i].fn, &err);
    if (payload_cases[i].valid) {
        ck_assert_msg(rc == 0, "%s: rejected: %s", payload_cases[i].name, err.why);
        return;
    }
    ck_assert_msg(rc == -1, "%s: accepted", payload_cases[i].name);
    char want_subject[32];
    snprintf(want_subject, sizeof(want_subject), "%s record", hs_reader_type_name(payload_cases[i].type));
    ck_assert_str_eq(err.subject, want_subject);
    ck_assert_msg(strstr(err.why, payload_cases[i].why) != NULL, "%s: '%s' lacks '%s'", payload_cases[i].name, err.why,
                  payload_cases[i].why);
}
END_TEST

/* ---- sources ---- */

/* A pipe delivering the dump one byte per write: every read is partial. */
/* Reads fd to its end through a copying reader; returns the final status
 * and leaves the copy's bytes in *copy (malloc'd) and *copy_len. */
static hs_read_status_t read_copying(int fd, uint8_t **copy, size_t *copy_len, hs_read_error_t *err)
{
    int out = memfd_create("copy", MFD_CLOEXEC);
    ck_assert_int_ge(out, 0);
    hs_reader_t *r;
    hs_read_status_t st = hs_reader_open_fd_copy(fd, out, &r, err);
    if (st == HS_READ_OK) {
        hs_record_t rec;
        while ((st = hs_reader_next(r, &rec)) == HS_READ_OK)
            ;
        *err = *hs_reader_error(r);
        hs_reader_close(r);
    }
    off_t n = lseek(out, 0, SEEK_END);
    ck_assert_int_ge(n, 0);
    *copy_len = (size_t)n;
    *copy = malloc(*copy_len + 1);
    ck_assert_ptr_nonnull(*copy);
    ck_assert_int_eq(pread(out, *copy, *copy_len, 0), (ssize_t)*copy_len);
    close(out);
    return st;
}

/* The analyzer spools pipes with hs_reader_open_fd_copy: the copy must hold
 * exactly the dump (or its torn tail), and stop soon after bad data. */
START_TEST(test_copy_fd)
{
    dump_t d;
    build_small(&d);
    uint8_t *copy;
    size_t len;
    hs_read_error_t err;

    int fd = mem_fd(d.enc.buf, d.enc.len);
    ck_assert_int_eq(read_copying(fd, &copy, &len, &err), HS_READ_END);
    ck_assert_uint_eq(len, d.enc.len);
    ck_assert(memcmp(copy, d.enc.buf, len) == 0);
    close(fd);
    free(copy);

    size_t torn = d.enc.len - 5;
    fd = mem_fd(d.enc.buf, torn);
    ck_assert_int_eq(read_copying(fd, &copy, &len, &err), HS_READ_TRUNCATED);
    ck_assert_uint_eq(len, torn);
    ck_assert(memcmp(copy, d.enc.buf, len) == 0);
    uint64_t torn_at = err.offset;
    result_t res;
    read_all(copy, len, &res); /* the copy reads as the original did */
    ck_assert_int_eq(res.final, HS_READ_TRUNCATED);
    ck_assert_uint_eq(res.err.offset, torn_at);
    close(fd);
    free(copy);

    /* A dump followed by 4 MiB of zeros: the copy stops one buffer in. */
    size_t tail = 4u << 20;
    uint8_t *padded = calloc(1, d.enc.len + tail);
    ck_assert_ptr_nonnull(padded);
    memcpy(padded, d.enc.buf, d.enc.len);
    fd = mem_fd(padded, d.enc.len + tail);
    ck_assert_int_eq(read_copying(fd, &copy, &len, &err), HS_READ_CORRUPT);
    ck_assert(strstr(err.why, "after the END record") != NULL);
    ck_assert_uint_le(len, d.enc.len + 2 * 64 * 1024);
    close(fd);
    free(copy);

    /* Zeros from the start: no preamble, and only the first read copied. */
    fd = mem_fd(padded + d.enc.len, tail);
    ck_assert_int_eq(read_copying(fd, &copy, &len, &err), HS_READ_CORRUPT);
    ck_assert(strstr(err.why, "bad magic") != NULL);
    ck_assert_uint_le(len, 64 * 1024);
    close(fd);
    free(copy);
    free(padded);

    /* A copy that cannot be written is a read error naming the offset. */
    fd = mem_fd(d.enc.buf, d.enc.len);
    int readonly = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(readonly, 0);
    hs_reader_t *r;
    ck_assert_int_eq(hs_reader_open_fd_copy(fd, readonly, &r, &err), HS_READ_IO);
    ck_assert_ptr_null(r);
    ck_assert(strstr(err.why, "byte offset 0") != NULL && strstr(err.why, "spool") != NULL);
    close(readonly);
    close(fd);
    dump_free(&d);
}
END_TEST

START_TEST(test_pipe_partial_reads)
{
    dump_t d;
    build_small(&d);
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(p[0]);
        for (size_t i = 0; i < d.enc.len; i++)
            if (write(p[1], d.enc.buf + i, 1) != 1)
                _exit(1);
        _exit(0);
    }
    close(p[1]);
    hs_reader_t *r;
    hs_read_error_t err;
    ck_assert_int_eq(hs_reader_open_fd(p[0], &r, &err), HS_READ_OK);
    hs_record_t rec;
    size_t n = 0;
    while (hs_reader_next(r, &rec) == HS_READ_OK) {
        ck_assert_uint_eq(rec.offset, d.rec_start[n]);
        ck_assert(memcmp(rec.payload, d.enc.buf + d.rec_start[n] + HS_RECORD_HEAD_LEN, rec.len) == 0);
        n++;
    }
    ck_assert_int_eq(hs_reader_error(r)->status, HS_READ_END);
    ck_assert_uint_eq(n, d.nrec);
    hs_reader_close(r);
    close(p[0]);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    dump_free(&d);
}
END_TEST

START_TEST(test_open_errors)
{
    hs_reader_t *r;
    hs_read_error_t err;
    ck_assert_int_eq(hs_reader_open("/nonexistent/dir/x.hsd", &r, &err), HS_READ_IO);
    ck_assert_ptr_null(r);
    ck_assert_int_eq(err.errno_value, ENOENT);
    ck_assert_int_eq(hs_reader_open("/", &r, &err), HS_READ_IO); /* a directory: read fails */
    ck_assert_ptr_null(r);
    ck_assert_int_eq(err.errno_value, EISDIR);
}
END_TEST

START_TEST(test_error_messages)
{
    dump_t d;
    build_small(&d);
    char msg[256];
    result_t res;
    read_all(d.enc.buf, d.rec_end[3] + 5, &res);
    ck_assert_str_eq(hs_reader_format_error(&res.err, msg, sizeof(msg)),
                     "truncated tail at byte offset 328 after 4 complete records");
    ck_assert_uint_eq(d.rec_end[3], 328); /* keeps the literal above honest */

    uint8_t *copy = malloc(d.enc.len);
    memcpy(copy, d.enc.buf, d.enc.len);
    copy[d.rec_start[5] + 20] ^= 1;
    read_all(copy, d.enc.len, &res);
    hs_reader_format_error(&res.err, msg, sizeof(msg));
    ck_assert_msg(strncmp(msg, "corrupt SNAPSHOT record at byte offset 372: checksum mismatch", 61) == 0, "%s", msg);
    ck_assert_uint_eq(d.rec_start[5], 372);

    hs_record_t rec = one_record(&d, 2);
    hs_read_error_t err;
    hs_reader_set_corrupt(&err, &rec, "row %d names stack id %d", 1, 9);
    ck_assert_str_eq(hs_reader_format_error(&err, msg, sizeof(msg)),
                     "corrupt STACK record at byte offset 256: row 1 names stack id 9");
    ck_assert_str_eq(hs_reader_stat_name(HS_STAT_LIVE_SAMPLES), "live_samples");
    ck_assert_str_eq(hs_reader_reason_name(HS_REASON_FORK_CHILD), "fork-child");
    ck_assert_ptr_null(hs_reader_type_name(0));
    free(copy);
    dump_free(&d);
}
END_TEST

static Suite *reader_suite(void)
{
    Suite *s = suite_create("reader");
    TCase *codec = tcase_create("codec");
    tcase_add_test(codec, test_crc32_check_value);
    tcase_add_test(codec, test_crc32_matches_zlib);
    tcase_add_test(codec, test_codec_roundtrip);
    suite_add_tcase(s, codec);

    TCase *rt = tcase_create("roundtrip");
    tcase_add_test(rt, test_roundtrip_every_type);
    tcase_add_test(rt, test_decode_wrong_type);
    tcase_add_loop_test(rt, test_payload_validation, 0, (int)(sizeof(payload_cases) / sizeof(payload_cases[0])));
    suite_add_tcase(s, rt);

    TCase *bad = tcase_create("damaged");
    tcase_set_timeout(bad, 120);
    tcase_add_test(bad, test_truncated_at_every_offset);
    tcase_add_test(bad, test_corrupt_every_byte);
    tcase_add_test(bad, test_huge_declared_lengths);
    tcase_add_test(bad, test_large_records);
    tcase_add_test(bad, test_bad_preamble);
    tcase_add_test(bad, test_record_order);
    suite_add_tcase(s, bad);

    TCase *src = tcase_create("sources");
    tcase_add_test(src, test_pipe_partial_reads);
    tcase_add_test(src, test_copy_fd);
    tcase_add_test(src, test_open_errors);
    tcase_add_test(src, test_error_messages);
    suite_add_tcase(s, src);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(reader_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
