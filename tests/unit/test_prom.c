/* test_prom.c - the Prometheus text-format writer (common/hs_prom.c) and the
 * process_* metrics (common/hs_prom_process.c): escaping, name validation,
 * one HELP/TYPE group per family, exact integers, shortest round-trip
 * floats, whole lines or nothing when the buffer is small, and /proc
 * figures that make sense for this very process. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hs_prom.h"
#include "run_suite.h"

static char buf[8192];
static hs_prom_writer_t w;

static void fresh(void) { hs_prom_writer_init(&w, buf, sizeof(buf)); }

static const char *f64(double x)
{
    static char text[32];
    ck_assert_uint_gt(hs_prom_format_f64(x, text, sizeof(text)), 0);
    return text;
}

START_TEST(names_follow_the_spec)
{
    ck_assert(hs_prom_is_metric_name("process_open_fds"));
    ck_assert(hs_prom_is_metric_name("_x"));
    ck_assert(hs_prom_is_metric_name(":recording:rule"));
    ck_assert(hs_prom_is_metric_name("a9"));
    ck_assert(!hs_prom_is_metric_name(""));
    ck_assert(!hs_prom_is_metric_name("9a"));
    ck_assert(!hs_prom_is_metric_name("a-b"));
    ck_assert(!hs_prom_is_metric_name("a b"));
    ck_assert(!hs_prom_is_metric_name("é"));
    ck_assert(!hs_prom_is_metric_name(NULL));
    ck_assert(hs_prom_is_label_name("function"));
    ck_assert(hs_prom_is_label_name("_f1"));
    ck_assert(!hs_prom_is_label_name("a:b")); /* colons only in metric names */
    ck_assert(!hs_prom_is_label_name("__name__"));
    ck_assert(!hs_prom_is_label_name("1a"));
    char longest[HS_PROM_NAME_MAX + 2];
    memset(longest, 'a', sizeof(longest));
    longest[HS_PROM_NAME_MAX] = '\0';
    ck_assert(hs_prom_is_metric_name(longest));
    longest[HS_PROM_NAME_MAX] = 'a';
    longest[HS_PROM_NAME_MAX + 1] = '\0';
    ck_assert(!hs_prom_is_metric_name(longest));
}
END_TEST

START_TEST(invalid_names_are_refused_not_written)
{
    fresh();
    ck_assert_int_eq(hs_prom_family(&w, "bad-name", HS_PROM_GAUGE, "h"), -1);
    ck_assert_int_eq(hs_prom_family(&w, "x", (hs_prom_type_t)7, "h"), -1);
    ck_assert_int_eq(hs_prom_sample_u64(&w, "x", NULL, 0, 1), -1); /* no family yet */
    ck_assert_int_eq(hs_prom_family(&w, "x", HS_PROM_GAUGE, "h"), 0);
    size_t len = w.len;
    hs_prom_label_t bad[] = {{"a-b", "v"}};
    hs_prom_label_t reserved[] = {{"__name__", "v"}};
    hs_prom_label_t twice[] = {{"a", "1"}, {"a", "2"}};
    hs_prom_label_t not_utf8[] = {{"a", "\xff"}};
    hs_prom_label_t overlong[] = {{"a", "\xc0\xaf"}};
    hs_prom_label_t surrogate[] = {{"a", "\xed\xa0\x80"}};
    hs_prom_label_t no_value[] = {{"a", NULL}};
    ck_assert_int_eq(hs_prom_sample_u64(&w, "x", bad, 1, 1), -1);
    ck_assert_int_eq(hs_prom_sample_u64(&w, "x", reserved, 1, 1), -1);
    ck_assert_int_eq(hs_prom_sample_u64(&w, "x", twice, 2, 1), -1);
    ck_assert_int_eq(hs_prom_sample_u64(&w, "x", not_utf8, 1, 1), -1);
    ck_assert_int_eq(hs_prom_sample_u64(&w, "x", overlong, 1, 1), -1);
    ck_assert_int_eq(hs_prom_sample_u64(&w, "x", surrogate, 1, 1), -1);
    ck_assert_int_eq(hs_prom_sample_u64(&w, "x", no_value, 1, 1), -1);
    ck_assert_int_eq(hs_prom_sample_u64(&w, "y", NULL, 0, 1), -1); /* not the current family */
    ck_assert_int_eq(hs_prom_sample_f64(&w, "x", bad, 1, 1.5), -1);
    ck_assert_int_eq(hs_prom_family(&w, "z", HS_PROM_GAUGE, "\xfe"), -1);
    ck_assert_uint_eq(w.len, len);
    ck_assert_int_eq(w.overflow, 0);
}
END_TEST

START_TEST(help_and_type_once_per_family)
{
    fresh();
    ck_assert_int_eq(hs_prom_family(&w, "a_total", HS_PROM_COUNTER, "Calls.\nSecond \\ line \"quoted\"."), 0);
    ck_assert_int_eq(hs_prom_sample_u64(&w, "a_total", NULL, 0, 3), 0);
    ck_assert_int_eq(hs_prom_family(&w, "a_total", HS_PROM_COUNTER, "again"), -1);
    ck_assert_int_eq(hs_prom_family(&w, "b", HS_PROM_GAUGE, NULL), 0);
    ck_assert_int_eq(hs_prom_family(&w, "a_total", HS_PROM_COUNTER, "again"), -1); /* not only the last */
    ck_assert_int_eq(hs_prom_family(&w, "a", HS_PROM_UNTYPED, "prefix of a_total"), 0);
    ck_assert_int_eq(hs_prom_sample_u64(&w, "a", NULL, 0, 1), 0);
    ck_assert_str_eq(buf, "# HELP a_total Calls.\\nSecond \\\\ line \"quoted\".\n"
                          "# TYPE a_total counter\n"
                          "a_total 3\n"
                          "# TYPE b gauge\n"
                          "# HELP a prefix of a_total\n"
                          "# TYPE a untyped\n"
                          "a 1\n");
}
END_TEST

START_TEST(label_values_are_escaped)
{
    fresh();
    hs_prom_label_t labels[] = {
        {"function", "operator new(unsigned long)"},
        {"file", "C:\\src\\\"x\".c"},
        {"note", "two\nlines, ünïcödé ✓"},
    };
    ck_assert_int_eq(hs_prom_family(&w, "site_bytes", HS_PROM_GAUGE, "Bytes."), 0);
    ck_assert_int_eq(hs_prom_sample_u64(&w, "site_bytes", labels, 3, 42), 0);
    ck_assert_int_eq(hs_prom_sample_u64(&w, "site_bytes", labels, 1, 7), 0);
    hs_prom_label_t empty[] = {{"function", ""}};
    ck_assert_int_eq(hs_prom_sample_u64(&w, "site_bytes", empty, 1, 0), 0);
    ck_assert_str_eq(buf, "# HELP site_bytes Bytes.\n"
                          "# TYPE site_bytes gauge\n"
                          "site_bytes{function=\"operator new(unsigned long)\",file=\"C:\\\\src\\\\\\\"x\\\".c\","
                          "note=\"two\\nlines, ünïcödé ✓\"} 42\n"
                          "site_bytes{function=\"operator new(unsigned long)\"} 7\n"
                          "site_bytes{function=\"\"} 0\n");
}
END_TEST

START_TEST(integers_are_exact)
{
    fresh();
    ck_assert_int_eq(hs_prom_family(&w, "n", HS_PROM_GAUGE, NULL), 0);
    ck_assert_int_eq(hs_prom_sample_u64(&w, "n", NULL, 0, 0), 0);
    ck_assert_int_eq(hs_prom_sample_u64(&w, "n", NULL, 0, 9007199254740993ull), 0); /* 2^53 + 1 */
    ck_assert_int_eq(hs_prom_sample_u64(&w, "n", NULL, 0, UINT64_MAX), 0);
    ck_assert_str_eq(buf, "# TYPE n gauge\nn 0\nn 9007199254740993\nn 18446744073709551615\n");
}
END_TEST

START_TEST(floats_are_shortest_round_trip)
{
    ck_assert_str_eq(f64(0.5), "0.5");
    ck_assert_str_eq(f64(1e-9), "1e-09");
    ck_assert_str_eq(f64(1e20), "1e+20");
    ck_assert_str_eq(f64(NAN), "NaN");
    ck_assert_str_eq(f64(INFINITY), "+Inf");
    ck_assert_str_eq(f64(-INFINITY), "-Inf");
    ck_assert_str_eq(f64(0.0), "0");
    ck_assert_str_eq(f64(-0.0), "0");
    ck_assert_str_eq(f64(1), "1");
    ck_assert_str_eq(f64(-1.25), "-1.25");
    ck_assert_str_eq(f64(0.1), "0.1");
    ck_assert_str_eq(f64(0.1 + 0.2), "0.30000000000000004");
    ck_assert_str_eq(f64(100000), "100000"); /* Go's 'g': %e from exponent 6 */
    ck_assert_str_eq(f64(1234567), "1.234567e+06");
    ck_assert_str_eq(f64(0.0001), "0.0001");
    ck_assert_str_eq(f64(0.00001234), "1.234e-05");
    ck_assert_str_eq(f64(1.7976931348623157e308), "1.7976931348623157e+308");
    ck_assert_str_eq(f64(5e-324), "5e-324");
    ck_assert_str_eq(f64(2.2250738585072014e-308), "2.2250738585072014e-308");
    ck_assert_str_eq(f64(9007199254740993.0), "9.007199254740992e+15");
    ck_assert_str_eq(f64(1713456789.25), "1.71345678925e+09");
}
END_TEST

/* Every output reads back (strtod, the test's side only) as the same
 * double, and no shorter precision of printf's %.*e would. */
START_TEST(random_floats_round_trip_and_are_shortest)
{
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift64 */
        double v;
        if (i % 2) {
            memcpy(&v, &x, sizeof(v)); /* any bit pattern */
            if (!isfinite(v))
                continue;
        } else {
            v = (double)(x % 100000000) / 1000.0;
        }
        const char *text = f64(v);
        double back = strtod(text, NULL);
        ck_assert_msg(memcmp(&back, &v, sizeof(v)) == 0 || (v == 0 && back == 0), "%.17g printed as %s", v, text);
        if (v == 0)
            continue;
        /* leading and trailing zeros of the fixed form are not significant */
        char shorter[64];
        for (int p = 1; p < 17; p++) {
            snprintf(shorter, sizeof(shorter), "%.*e", p - 1, v);
            if (strtod(shorter, NULL) == v) {
                const char *t = text[0] == '-' ? text + 1 : text;
                int sig = 0, seen = 0, trailing = 0;
                for (; *t && *t != 'e'; t++) {
                    if (*t == '.')
                        continue;
                    if (*t != '0')
                        seen = 1;
                    if (seen) {
                        sig++;
                        trailing = *t == '0' ? trailing + 1 : 0;
                    }
                }
                ck_assert_msg(sig - trailing <= p, "%s has %d digits where %s has %d", text, sig - trailing, shorter,
                              p);
                break;
            }
        }
    }
}
END_TEST

START_TEST(float_samples)
{
    fresh();
    ck_assert_int_eq(hs_prom_family(&w, "f", HS_PROM_GAUGE, NULL), 0);
    double values[] = {0.5, 1e-9, 1e20, NAN, INFINITY, -INFINITY};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
        ck_assert_int_eq(hs_prom_sample_f64(&w, "f", NULL, 0, values[i]), 0);
    ck_assert_str_eq(buf, "# TYPE f gauge\nf 0.5\nf 1e-09\nf 1e+20\nf NaN\nf +Inf\nf -Inf\n");
}
END_TEST

/* Every cap from 0 up: nothing is written past cap (the guard bytes stay),
 * the text is always whole lines, and overflow stays set once set. */
START_TEST(small_buffers_overflow_cleanly)
{
    char full[512];
    hs_prom_writer_t big;
    hs_prom_label_t labels[] = {{"k", "v\"\\\n"}};
    hs_prom_writer_init(&big, full, sizeof(full));
    ck_assert_int_eq(hs_prom_family(&big, "m_total", HS_PROM_COUNTER, "Help."), 0);
    ck_assert_int_eq(hs_prom_sample_u64(&big, "m_total", labels, 1, UINT64_MAX), 0);
    ck_assert_int_eq(hs_prom_family(&big, "g", HS_PROM_GAUGE, "Gauge."), 0);
    ck_assert_int_eq(hs_prom_sample_f64(&big, "g", NULL, 0, 0.25), 0);
    for (size_t cap = 0; cap <= big.len + 1; cap++) {
        char small[600];
        memset(small, 0x5a, sizeof(small));
        hs_prom_writer_t s;
        hs_prom_writer_init(&s, small, cap);
        int rc = hs_prom_family(&s, "m_total", HS_PROM_COUNTER, "Help.");
        rc |= hs_prom_sample_u64(&s, "m_total", labels, 1, UINT64_MAX);
        rc |= hs_prom_family(&s, "g", HS_PROM_GAUGE, "Gauge.");
        rc |= hs_prom_sample_f64(&s, "g", NULL, 0, 0.25);
        for (size_t i = cap; i < sizeof(small); i++)
            ck_assert_int_eq(small[i], 0x5a);
        if (cap > big.len) {
            ck_assert_int_eq(rc, 0);
            ck_assert_int_eq(s.overflow, 0);
            ck_assert_str_eq(small, full);
            continue;
        }
        ck_assert_int_eq(rc, -1);
        ck_assert_int_eq(s.overflow, 1);
        ck_assert_uint_lt(s.len, cap > 0 ? cap : 1);
        if (cap) {
            ck_assert_uint_eq(strlen(small), s.len);
            ck_assert(strncmp(small, full, s.len) == 0);
            ck_assert(s.len == 0 || small[s.len - 1] == '\n');
        }
    }
}
END_TEST

/* Finds "name value\n" in the exposition and returns the value. */
static double sample_value(const char *text, const char *name)
{
    char key[160];
    snprintf(key, sizeof(key), "\n%s ", name);
    const char *p = strstr(text, key);
    ck_assert_msg(p != NULL, "%s missing in:\n%s", name, text);
    return strtod(p + strlen(key), NULL);
}

START_TEST(process_metrics_are_sane)
{
    fresh();
    ck_assert_int_eq(hs_prom_process_metrics(&w), 0);
    static const char *const families[] = {
        "process_cpu_seconds_total",
        "process_open_fds",
        "process_max_fds",
        "process_virtual_memory_bytes",
        "process_resident_memory_bytes",
        "process_start_time_seconds",
    };
    for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
        char type[160];
        snprintf(type, sizeof(type), "# TYPE %s ", families[i]);
        ck_assert_msg(strstr(buf, type) != NULL, "%s has no TYPE in:\n%s", families[i], buf);
    }
    double rss = sample_value(buf, "process_resident_memory_bytes");
    double vsize = sample_value(buf, "process_virtual_memory_bytes");
    double fds = sample_value(buf, "process_open_fds");
    double max_fds = sample_value(buf, "process_max_fds");
    double cpu = sample_value(buf, "process_cpu_seconds_total");
    double start = sample_value(buf, "process_start_time_seconds");
    ck_assert(rss > 0);
    ck_assert(vsize >= rss);
    ck_assert(fds >= 3);
    ck_assert(max_fds >= fds);
    ck_assert(cpu >= 0 && cpu < 3600);
    double now = (double)time(NULL);
    ck_assert_msg(start <= now + 1 && start > now - 86400, "start %f, now %f", start, now);
}
END_TEST

START_TEST(process_metrics_count_a_new_descriptor)
{
    fresh();
    ck_assert_int_eq(hs_prom_process_metrics(&w), 0);
    double before = sample_value(buf, "process_open_fds");
    FILE *f = fopen("/dev/null", "r");
    ck_assert_ptr_nonnull(f);
    fresh();
    ck_assert_int_eq(hs_prom_process_metrics(&w), 0);
    ck_assert(sample_value(buf, "process_open_fds") == before + 1);
    fclose(f);
}
END_TEST

START_TEST(process_metrics_report_overflow)
{
    char small[100];
    hs_prom_writer_t s;
    hs_prom_writer_init(&s, small, sizeof(small));
    ck_assert_int_eq(hs_prom_process_metrics(&s), -1);
    ck_assert_int_eq(s.overflow, 1);
    ck_assert(s.len == 0 || small[s.len - 1] == '\n');
}
END_TEST

int main(void)
{
    Suite *s = suite_create("prom");
    TCase *tc = tcase_create("prom");
    tcase_add_test(tc, names_follow_the_spec);
    tcase_add_test(tc, invalid_names_are_refused_not_written);
    tcase_add_test(tc, help_and_type_once_per_family);
    tcase_add_test(tc, label_values_are_escaped);
    tcase_add_test(tc, integers_are_exact);
    tcase_add_test(tc, floats_are_shortest_round_trip);
    tcase_add_test(tc, random_floats_round_trip_and_are_shortest);
    tcase_add_test(tc, float_samples);
    tcase_add_test(tc, small_buffers_overflow_cleanly);
    tcase_add_test(tc, process_metrics_are_sane);
    tcase_add_test(tc, process_metrics_count_a_new_descriptor);
    tcase_add_test(tc, process_metrics_report_overflow);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return hs_run_suite(s);
}
