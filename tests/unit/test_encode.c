/* test_encode.c - every record the library writes (interposer/encode.c)
 * read back by the analyzer's reader (common/hs_reader.c): the bytes of one
 * side are the contract of the other. The counts and figures patched in at a
 * record's end (MAPPINGS, SNAPSHOT, THREAD_SITES) come back as written, and
 * a patch on a failed encoder touches nothing. The thread module is linked
 * as it is (no preload layer in unit tests): a thread start run through its
 * trampoline comes back as a THREAD event and a THREAD_SITES entry. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "encode.h"
#include "hs_reader.h"
#include "real.h"
#include "threads.h"
#include "run_suite.h"

static uint8_t *grow(uint8_t *old, size_t old_len, size_t new_cap)
{
    (void)old_len;
    return realloc(old, new_cap);
}

static uint8_t *refuse(uint8_t *old, size_t old_len, size_t new_cap)
{
    (void)old;
    (void)old_len;
    (void)new_cap;
    return NULL;
}

static hs_identity_t id;
static hs_config_t cfg;
static hs_enc_t enc;

static void setup(void)
{
    memset(&id, 0, sizeof(id));
    id.pid = 4242;
    id.ppid = 1;
    id.start_real_ns = 1700000000123456789ull;
    id.start_mono_ns = 987654321;
    strcpy(id.exe, "/usr/bin/victim");
    memcpy(id.cmdline, "victim\0--flag", 13);
    id.cmdline_len = 13;
    strcpy(id.host, "box");
    memset(&cfg, 0, sizeof(cfg));
    cfg.sample_rate = 524288;
    cfg.max_depth = 64;
    cfg.interval_ms = 30000;
    hs_enc_init(&enc, grow);
    hs_encode_header(&enc, &id, &cfg);
}

static void teardown(void) { free(enc.buf); }

/* The reader over what enc holds, past the HEADER record. */
static hs_reader_t *reader(void)
{
    int fd = memfd_create("dump", 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, enc.buf, enc.len), (ssize_t)enc.len);
    ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
    hs_reader_t *r;
    hs_read_error_t err;
    ck_assert_int_eq(hs_reader_open_fd(fd, &r, &err), HS_READ_OK);
    hs_record_t rec;
    ck_assert_int_eq(hs_reader_next(r, &rec), HS_READ_OK);
    ck_assert_uint_eq(rec.type, HS_REC_HEADER);
    return r; /* the descriptor stays open for the test process's life */
}

static hs_record_t next(hs_reader_t *r, uint32_t type)
{
    hs_record_t rec;
    ck_assert_int_eq(hs_reader_next(r, &rec), HS_READ_OK);
    ck_assert_uint_eq(rec.type, type);
    return rec;
}

static int str_is(hs_str_t s, const char *want, size_t len) { return s.len == len && memcmp(s.ptr, want, len) == 0; }

START_TEST(header_round_trip)
{
    int fd = memfd_create("dump", 0);
    ck_assert_int_eq(write(fd, enc.buf, enc.len), (ssize_t)enc.len);
    lseek(fd, 0, SEEK_SET);
    hs_reader_t *r;
    hs_read_error_t err;
    ck_assert_int_eq(hs_reader_open_fd(fd, &r, &err), HS_READ_OK);
    hs_record_t rec = next(r, HS_REC_HEADER);
    hs_header_rec_t h;
    ck_assert_int_eq(hs_reader_decode_header(&rec, &h, &err), 0);
    ck_assert_uint_eq(h.pid, 4242);
    ck_assert_uint_eq(h.ppid, 1);
    ck_assert_uint_eq(h.start_realtime_ns, id.start_real_ns);
    ck_assert_uint_eq(h.start_monotonic_ns, id.start_mono_ns);
    ck_assert_uint_eq(h.sample_rate, 524288);
    ck_assert_uint_eq(h.max_depth, 64);
    ck_assert_uint_eq(h.interval_ms, 30000);
    ck_assert(str_is(h.exe_path, "/usr/bin/victim", 15));
    ck_assert(str_is(h.cmdline, "victim\0--flag", 13));
    ck_assert(str_is(h.hostname, "box", 3));
    hs_reader_close(r);
    close(fd);
}
END_TEST

START_TEST(mappings_count_is_patched)
{
    static const uint8_t build_id[] = {0xde, 0xad, 0xbe, 0xef};
    hs_encode_list_t list;
    hs_encode_mappings_begin(&enc, &list, 77);
    for (uint64_t i = 0; i < 3; i++)
        hs_encode_mapping(&enc, &list,
                          &(hs_encode_mapping_t){.start = 0x1000 * (i + 1),
                                                 .end = 0x1000 * (i + 1) + 0x800,
                                                 .file_offset = i,
                                                 .load_bias = 0x1000 * i,
                                                 .build_id = build_id,
                                                 .build_id_len = i == 1 ? 0 : sizeof(build_id),
                                                 .path = i == 2 ? "/lib/libx.so" : "/usr/bin/victim"});
    hs_encode_mappings_end(&enc, &list);
    hs_reader_t *r = reader();
    hs_record_t rec = next(r, HS_REC_MAPPINGS);
    hs_mappings_rec_t m;
    hs_read_error_t err;
    ck_assert_int_eq(hs_reader_decode_mappings(&rec, &m, &err), 0);
    ck_assert_uint_eq(m.monotonic_ns, 77);
    ck_assert_uint_eq(m.count, 3);
    hs_mapping_iter_t it;
    hs_mapping_t e;
    hs_reader_mapping_iter_init(&it, &m);
    for (uint64_t i = 0; i < 3; i++) {
        ck_assert(hs_reader_mapping_iter_next(&it, &e));
        ck_assert_uint_eq(e.start, 0x1000 * (i + 1));
        ck_assert_uint_eq(e.end, 0x1000 * (i + 1) + 0x800);
        ck_assert_uint_eq(e.file_offset, i);
        ck_assert_uint_eq(e.load_bias, 0x1000 * i);
        ck_assert_uint_eq(e.build_id_len, i == 1 ? 0 : 4);
        ck_assert(i == 2 ? str_is(e.path, "/lib/libx.so", 12) : str_is(e.path, "/usr/bin/victim", 15));
    }
    ck_assert(!hs_reader_mapping_iter_next(&it, &e));
    hs_reader_close(r);
}
END_TEST

START_TEST(snapshot_stats_and_rows_are_patched)
{
    uintptr_t frames[] = {0x401000, 0x402000};
    hs_encode_stack(&enc, 1, frames, 2);
    hs_encode_stack(&enc, 2, frames, 1);
    hs_encode_list_t rows;
    hs_encode_snapshot_begin(&enc, &rows, 100, 200, 3, HS_REASON_SIGNAL);
    hs_encode_snapshot_row(&enc, &rows,
                           &(hs_encode_row_t){.stack_id = 1,
                                              .alloc_count = 10,
                                              .alloc_bytes = 1000,
                                              .free_count = 4,
                                              .free_bytes = 400,
                                              .est_alloc_objects = 10.5,
                                              .est_alloc_bytes = 1050.25,
                                              .est_free_objects = 4.5,
                                              .est_free_bytes = 450.125});
    hs_encode_snapshot_row(&enc, &rows, &(hs_encode_row_t){.stack_id = 2, .alloc_count = 1, .alloc_bytes = 8});
    uint64_t stats[HS_SNAPSHOT_STAT_COUNT];
    for (int i = 0; i < HS_SNAPSHOT_STAT_COUNT; i++)
        stats[i] = 0x0102030405060708ull * (uint64_t)(i + 1);
    stats[HS_STAT_HEAP_SOURCE] = HS_HEAP_SOURCE_SAMPLED;
    hs_encode_snapshot_end(&enc, &rows, stats);

    hs_reader_t *r = reader();
    hs_read_error_t err;
    hs_record_t rec = next(r, HS_REC_STACK);
    hs_stack_rec_t st;
    ck_assert_int_eq(hs_reader_decode_stack(&rec, &st, &err), 0);
    ck_assert_uint_eq(st.stack_id, 1);
    ck_assert_uint_eq(st.depth, 2);
    ck_assert_uint_eq(hs_reader_stack_frame(&st, 1), 0x402000);
    next(r, HS_REC_STACK);
    rec = next(r, HS_REC_SNAPSHOT);
    hs_snapshot_rec_t s;
    ck_assert_int_eq(hs_reader_decode_snapshot(&rec, &s, &err), 0);
    ck_assert_uint_eq(s.monotonic_ns, 100);
    ck_assert_uint_eq(s.realtime_ns, 200);
    ck_assert_uint_eq(s.seq, 3);
    ck_assert_uint_eq(s.reason, HS_REASON_SIGNAL);
    for (int i = 0; i < HS_SNAPSHOT_STAT_COUNT; i++)
        ck_assert_uint_eq(s.stats[i], stats[i]);
    ck_assert_uint_eq(s.row_count, 2);
    hs_snapshot_row_t row;
    hs_reader_snapshot_row(&s, 0, &row);
    ck_assert_uint_eq(row.stack_id, 1);
    ck_assert_uint_eq(row.alloc_count, 10);
    ck_assert_uint_eq(row.alloc_bytes, 1000);
    ck_assert_uint_eq(row.free_count, 4);
    ck_assert_uint_eq(row.free_bytes, 400);
    ck_assert(row.est_alloc_objects == 10.5 && row.est_alloc_bytes == 1050.25);
    ck_assert(row.est_free_objects == 4.5 && row.est_free_bytes == 450.125);
    hs_reader_snapshot_row(&s, 1, &row);
    ck_assert_uint_eq(row.stack_id, 2);
    ck_assert_uint_eq(row.alloc_bytes, 8);
    hs_reader_close(r);
}
END_TEST

START_TEST(leak_and_end_round_trip)
{
    hs_encode_leak(&enc, &(hs_encode_leak_t){.mono_ns = 5,
                                             .rate_bytes_per_sec = 1024.5,
                                             .growth_bytes = 1 << 20,
                                             .window_seconds = 300,
                                             .confidence = 0.75,
                                             .top_stack_id = 0,
                                             .message = "leak suspected"});
    hs_encode_end(&enc, 6, HS_REASON_EXIT);
    hs_reader_t *r = reader();
    hs_read_error_t err;
    hs_record_t rec = next(r, HS_REC_LEAK);
    hs_leak_rec_t l;
    ck_assert_int_eq(hs_reader_decode_leak(&rec, &l, &err), 0);
    ck_assert_uint_eq(l.monotonic_ns, 5);
    ck_assert(l.rate_bytes_per_sec == 1024.5 && l.growth_bytes == 1 << 20);
    ck_assert(l.window_seconds == 300 && l.confidence == 0.75);
    ck_assert_uint_eq(l.top_stack_id, 0);
    ck_assert(str_is(l.message, "leak suspected", 14));
    rec = next(r, HS_REC_END);
    hs_end_rec_t e;
    ck_assert_int_eq(hs_reader_decode_end(&rec, &e, &err), 0);
    ck_assert_uint_eq(e.monotonic_ns, 6);
    ck_assert_uint_eq(e.reason, HS_REASON_EXIT);
    hs_record_t after;
    ck_assert_int_eq(hs_reader_next(r, &after), HS_READ_END);
    hs_reader_close(r);
}
END_TEST

static void *routine(void *arg) { return arg; }

static void no_stack(uint32_t stack_id, void *ctx)
{
    (void)stack_id;
    (void)ctx;
    ck_abort_msg("a site without a creation stack needs no STACK record");
}

/* A thread start as pthread_create would make it, run in this thread. */
START_TEST(thread_start_becomes_event_and_site)
{
    hs_cfg.sample_rate = 524288;
    ck_assert_int_eq(hs_threads_init(), 0);
    hs_thread_start_t *start = hs_real.malloc(sizeof(*start));
    ck_assert_ptr_nonnull(start);
    *start = (hs_thread_start_t){.fn = routine, .arg = &cfg, .parent_tid = 7, .stack_id = 0};
    start->site = hs_threads_site(0, (uintptr_t)routine);
    ck_assert_uint_ge(start->site, 2); /* 1 is the overflow site */
    ck_assert_ptr_eq(hs_threads_trampoline(start), &cfg);
    ck_assert_uint_eq(hs_tls.attached, HS_THREAD_TRACKED);

    hs_thread_event_t ev;
    ck_assert(hs_threads_pop_event(&ev));
    ck_assert(!hs_threads_pop_event(&(hs_thread_event_t){0}));
    hs_encode_thread(&enc, &ev);
    hs_threads_encode_sites(&enc, 1, no_stack, NULL);
    size_t len = enc.len;
    hs_threads_encode_sites(&enc, 1, no_stack, NULL); /* nothing changed since */
    ck_assert_uint_eq(enc.len, len);

    hs_reader_t *r = reader();
    hs_read_error_t err;
    hs_record_t rec = next(r, HS_REC_THREAD);
    hs_thread_rec_t t;
    ck_assert_int_eq(hs_reader_decode_thread(&rec, &t, &err), 0);
    ck_assert_uint_eq(t.event, HS_THREAD_STARTED);
    ck_assert_uint_eq(t.tid, (uint32_t)hs_threads_gettid());
    ck_assert_uint_eq(t.parent_tid, 7);
    ck_assert_uint_eq(t.start_routine, (uintptr_t)routine);
    rec = next(r, HS_REC_THREAD_SITES);
    hs_thread_sites_rec_t sites;
    ck_assert_int_eq(hs_reader_decode_thread_sites(&rec, &sites, &err), 0);
    ck_assert_uint_eq(sites.count, 1);
    hs_thread_site_t site;
    hs_reader_thread_site(&sites, 0, &site);
    ck_assert_uint_eq(site.creation_stack_id, 0);
    ck_assert_uint_eq(site.start_routine, (uintptr_t)routine);
    ck_assert_uint_eq(site.started, 1);
    ck_assert_uint_eq(site.exited, 0);
    hs_reader_close(r);
}
END_TEST

START_TEST(patch_touches_nothing_it_may_not)
{
    size_t len = enc.len;
    uint8_t last[4];
    memcpy(last, enc.buf + len - 4, 4);
    hs_enc_patch_u32(&enc, len - 2, 0xffffffffu); /* would run past the end */
    hs_enc_patch_u64(&enc, len, 1);
    ck_assert_uint_eq(enc.len, len);
    ck_assert_mem_eq(enc.buf + len - 4, last, 4);
    hs_enc_patch_u32(&enc, len - 4, 0x04030201u);
    ck_assert_uint_eq(enc.buf[len - 4], 1);
    ck_assert_uint_eq(enc.buf[len - 1], 4);

    hs_enc_t failed;
    hs_enc_init(&failed, refuse);
    hs_encode_list_t rows;
    hs_encode_snapshot_begin(&failed, &rows, 1, 2, 0, HS_REASON_INTERVAL);
    uint64_t stats[HS_SNAPSHOT_STAT_COUNT] = {0};
    hs_encode_snapshot_end(&failed, &rows, stats); /* patches into no buffer: nothing happens */
    ck_assert(failed.failed);
    ck_assert_ptr_null(failed.buf);
}
END_TEST

static Suite *encode_suite(void)
{
    Suite *s = suite_create("encode");
    TCase *tc = tcase_create("records");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, header_round_trip);
    tcase_add_test(tc, mappings_count_is_patched);
    tcase_add_test(tc, snapshot_stats_and_rows_are_patched);
    tcase_add_test(tc, leak_and_end_round_trip);
    tcase_add_test(tc, thread_start_becomes_event_and_site);
    tcase_add_test(tc, patch_touches_nothing_it_may_not);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return hs_run_suite(encode_suite()); }
