/* test_alerts.c - the health thresholds (interposer/alerts.c): the
 * hysteresis rule alone, then a run of snapshots' figures through
 * hs_alerts_after_snapshot: which events it raises, the ALERT records it
 * encodes (read back by common/hs_reader.c), the one log line per event,
 * the counters /metrics shows, and the reader's checks of the record. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "alerts.h"
#include "config.h"
#include "encode.h"
#include "hs_reader.h"
#include "run_suite.h"

static uint8_t *grow(uint8_t *old, size_t old_len, size_t new_cap)
{
    (void)old_len;
    return realloc(old, new_cap);
}

START_TEST(step_has_hysteresis)
{
    /* threshold 100: raised at >= 100, recovered only below 90 */
    static const struct {
        double value;
        int event, raised;
    } steps[] = {
        {50, 0, 0},
        {99.9, 0, 0},
        {100, HS_ALERT_RAISED, 1},
        {150, 0, 1},
        {95, 0, 1},
        {90, 0, 1},
        {89.9, HS_ALERT_RECOVERED, 0},
        {95, 0, 0},
        {99, 0, 0},
        {1e9, HS_ALERT_RAISED, 1},
        {0, HS_ALERT_RECOVERED, 0},
    };
    int raised = 0;
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        ck_assert_msg(hs_alerts_step(&raised, steps[i].value, 100) == steps[i].event, "step %zu (value %g)", i,
                      steps[i].value);
        ck_assert_int_eq(raised, steps[i].raised);
    }
    /* Off: never raised, and a raised one is cleared silently. */
    ck_assert_int_eq(hs_alerts_step(&raised, 1e12, 0), 0);
    ck_assert_int_eq(raised, 0);
    raised = 1;
    ck_assert_int_eq(hs_alerts_step(&raised, 0, 0), 0);
    ck_assert_int_eq(raised, 0);
}
END_TEST

/* Decodes every ALERT record of enc (after its HEADER-less start). */
static size_t read_alerts(const hs_enc_t *enc, hs_alert_rec_t *out, size_t max)
{
    /* A reader needs the preamble and a HEADER first. */
    hs_enc_t full;
    hs_enc_init(&full, grow);
    hs_identity_t id = {.pid = 1};
    hs_config_t cfg = {.sample_rate = 1, .max_depth = 8, .interval_ms = 1000};
    hs_encode_header(&full, &id, &cfg);
    int fd = memfd_create("dump", 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, full.buf, full.len), (ssize_t)full.len);
    ck_assert_int_eq(write(fd, enc->buf, enc->len), (ssize_t)enc->len);
    free(full.buf);
    lseek(fd, 0, SEEK_SET);
    hs_reader_t *r;
    hs_read_error_t err;
    ck_assert_int_eq(hs_reader_open_fd(fd, &r, &err), HS_READ_OK);
    size_t n = 0;
    hs_record_t rec;
    while (hs_reader_next(r, &rec) == HS_READ_OK) {
        if (rec.type != HS_REC_ALERT)
            continue;
        ck_assert_uint_lt(n, max);
        ck_assert_int_eq(hs_reader_decode_alert(&rec, &out[n], &err), 0);
        n++;
    }
    ck_assert_int_eq(hs_reader_error(r)->status, HS_READ_END);
    hs_reader_close(r);
    close(fd);
    return n;
}

/* The lines hs_log wrote: stderr is a memfd from the start of the test. */
static int log_fd = -1;
static void capture_log(void)
{
    log_fd = memfd_create("log", 0);
    ck_assert_int_ge(log_fd, 0);
    ck_assert_int_eq(dup2(log_fd, 2), 2);
}

static char *log_text(void)
{
    static char buf[8192];
    ssize_t n = pread(log_fd, buf, sizeof(buf) - 1, 0);
    buf[n > 0 ? n : 0] = 0;
    return buf;
}

START_TEST(snapshots_raise_and_recover_each_kind)
{
    capture_log();
    hs_alerts_reset_for_tests();
    hs_cfg.alert_heap = 100 << 20;
    hs_cfg.alert_rss = 0; /* off: never judged */
    hs_cfg.alert_threads = 10;
    hs_cfg.alert_growth = 1 << 20;
    hs_enc_t enc;
    hs_enc_init(&enc, grow);
    static const hs_alerts_figures_t run[] = {
        {.heap_in_use = 50 << 20, .rss = 1ull << 40, .threads = 2}, /* nothing */
        {.heap_in_use = 120 << 20,
         .threads = 12,
         .growth_bytes_per_sec = 2 << 20, /* heap, threads, growth */
         .growth_known = 1},
        {.heap_in_use = 95 << 20, .threads = 9, .growth_known = 0},                            /* all stay raised */
        {.heap_in_use = 85 << 20, .threads = 9, .growth_bytes_per_sec = 0, .growth_known = 1}, /* heap, growth */
        {.heap_in_use = 85 << 20, .threads = 8},                                               /* threads */
        {.heap_in_use = 101 << 20, .threads = 8},                                              /* heap again */
    };
    for (size_t i = 0; i < sizeof(run) / sizeof(run[0]); i++) {
        hs_alerts_after_snapshot(&enc, 1, &run[i]);
        if (i == 2) {
            ck_assert(hs_alerts_is_raised(HS_ALERT_HEAP));
            ck_assert(hs_alerts_is_raised(HS_ALERT_THREADS));
            ck_assert(hs_alerts_is_raised(HS_ALERT_GROWTH));
            ck_assert(!hs_alerts_is_raised(HS_ALERT_RSS));
            ck_assert(fabs(hs_alerts_last_value(HS_ALERT_HEAP) - (95 << 20)) < 1);
        }
    }
    hs_alert_rec_t a[16];
    size_t n = read_alerts(&enc, a, 16);
    static const struct {
        uint32_t kind, event;
        double value;
        uint64_t threshold;
    } want[] = {
        {HS_ALERT_HEAP, HS_ALERT_RAISED, 120 << 20, 100 << 20},
        {HS_ALERT_THREADS, HS_ALERT_RAISED, 12, 10},
        {HS_ALERT_GROWTH, HS_ALERT_RAISED, 2 << 20, 1 << 20},
        {HS_ALERT_HEAP, HS_ALERT_RECOVERED, 85 << 20, 100 << 20},
        {HS_ALERT_GROWTH, HS_ALERT_RECOVERED, 0, 1 << 20},
        {HS_ALERT_THREADS, HS_ALERT_RECOVERED, 8, 10},
        {HS_ALERT_HEAP, HS_ALERT_RAISED, 101 << 20, 100 << 20},
    };
    ck_assert_uint_eq(n, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < n; i++) {
        ck_assert_uint_eq(a[i].kind, want[i].kind);
        ck_assert_uint_eq(a[i].event, want[i].event);
        ck_assert(a[i].value == want[i].value);
        ck_assert_uint_eq(a[i].threshold, want[i].threshold);
    }
    ck_assert_uint_eq(hs_alerts_fired(HS_ALERT_HEAP), 2);
    ck_assert_uint_eq(hs_alerts_fired(HS_ALERT_THREADS), 1);
    ck_assert_uint_eq(hs_alerts_fired(HS_ALERT_GROWTH), 1);
    ck_assert_uint_eq(hs_alerts_fired(HS_ALERT_RSS), 0);
    hs_alert_event_t h[HS_ALERT_HISTORY];
    ck_assert_uint_eq(hs_alerts_history(h), n);
    ck_assert_uint_eq(h[n - 1].kind, HS_ALERT_HEAP);
    ck_assert_uint_eq(h[n - 1].event, HS_ALERT_RAISED);
    /* Exactly one line per event, in this wording. */
    ck_assert_str_eq(log_text(), "heapscope: alert: heap in use 120.0 MiB >= HEAPSCOPE_ALERT_HEAP 100.0 MiB\n"
                                 "heapscope: alert: live threads 12 >= HEAPSCOPE_ALERT_THREADS 10\n"
                                 "heapscope: alert: leak rate 2.0 MiB/s >= HEAPSCOPE_ALERT_GROWTH 1.0 MiB/s\n"
                                 "heapscope: alert recovered: heap in use 85.0 MiB < 90% of HEAPSCOPE_ALERT_HEAP "
                                 "100.0 MiB\n"
                                 "heapscope: alert recovered: leak rate 0 B/s < 90% of HEAPSCOPE_ALERT_GROWTH "
                                 "1.0 MiB/s\n"
                                 "heapscope: alert recovered: live threads 8 < 90% of HEAPSCOPE_ALERT_THREADS 10\n"
                                 "heapscope: alert: heap in use 101.0 MiB >= HEAPSCOPE_ALERT_HEAP 100.0 MiB\n");
    /* A new dump (a fork child's) starts clear: still above, raised again. */
    enc.len = 0;
    hs_alerts_after_snapshot(&enc, 2, &run[5]);
    ck_assert_uint_eq(read_alerts(&enc, a, 16), 1);
    ck_assert_uint_eq(hs_alerts_fired(HS_ALERT_HEAP), 1);
    free(enc.buf);
}
END_TEST

START_TEST(nothing_set_nothing_written)
{
    hs_alerts_reset_for_tests();
    hs_cfg.alert_heap = hs_cfg.alert_rss = hs_cfg.alert_threads = hs_cfg.alert_growth = 0;
    hs_enc_t enc;
    hs_enc_init(&enc, grow);
    hs_alerts_after_snapshot(&enc, 1, &(hs_alerts_figures_t){.heap_in_use = UINT64_MAX / 2, .threads = 1000});
    ck_assert_uint_eq(enc.len, 0);
    ck_assert(!hs_alerts_is_raised(HS_ALERT_HEAP));
    free(enc.buf);
}
END_TEST

/* One ALERT record with a field changed: the reader says corrupt. */
static int decode_with(uint32_t kind, uint32_t event, double value, uint64_t threshold)
{
    hs_enc_t enc;
    hs_enc_init(&enc, grow);
    hs_encode_alert(&enc, &(hs_encode_alert_t){1, kind, event, value, threshold});
    hs_record_t rec = {.type = HS_REC_ALERT,
                       .len = (uint32_t)(enc.len - HS_RECORD_HEAD_LEN - HS_RECORD_TAIL_LEN),
                       .payload = enc.buf + HS_RECORD_HEAD_LEN};
    ck_assert_uint_eq(rec.len, HS_ALERT_LEN);
    hs_alert_rec_t a;
    hs_read_error_t err;
    int rc = hs_reader_decode_alert(&rec, &a, &err);
    free(enc.buf);
    return rc;
}

START_TEST(reader_checks_alert_fields)
{
    ck_assert_int_eq(decode_with(HS_ALERT_RSS, HS_ALERT_RECOVERED, 1.5, 7), 0);
    ck_assert_int_eq(decode_with(0, HS_ALERT_RAISED, 1, 1), -1);
    ck_assert_int_eq(decode_with(HS_ALERT_KIND_MAX + 1, HS_ALERT_RAISED, 1, 1), -1);
    ck_assert_int_eq(decode_with(HS_ALERT_HEAP, 3, 1, 1), -1);
    ck_assert_int_eq(decode_with(HS_ALERT_HEAP, HS_ALERT_RAISED, NAN, 1), -1);
    ck_assert_int_eq(decode_with(HS_ALERT_HEAP, HS_ALERT_RAISED, 1, 0), -1);
    ck_assert_str_eq(hs_reader_type_name(HS_REC_ALERT), "ALERT");
    ck_assert_str_eq(hs_reader_alert_kind_name(HS_ALERT_GROWTH), "growth");
    ck_assert_str_eq(hs_reader_alert_event_name(HS_ALERT_RECOVERED), "recovered");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("alerts");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, step_has_hysteresis);
    tcase_add_test(tc, snapshots_raise_and_recover_each_kind);
    tcase_add_test(tc, nothing_set_nothing_written);
    tcase_add_test(tc, reader_checks_alert_fields);
    suite_add_tcase(s, tc);
    return hs_run_suite(s);
}
