/* test_text.c - the one byte formatter (common/hs_text.c): its figures are
 * printf's ("%.1f" rounds ties to even on the exact binary value) though it
 * never calls printf, both styles, it never overruns a small buffer, and
 * neither it nor the JSON number writer ever prints "-0". */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "hs_report_json.h"
#include "hs_text.h"
#include "run_suite.h"

static const char *bytes(double x, hs_text_bytes_style_t style)
{
    static char buf[64];
    return hs_text_bytes(x, style, buf, sizeof(buf));
}

START_TEST(tenths_are_one_decimal_above_bytes)
{
    ck_assert_str_eq(bytes(0, HS_TEXT_BYTES_TENTHS), "0 B");
    ck_assert_str_eq(bytes(512, HS_TEXT_BYTES_TENTHS), "512 B");
    ck_assert_str_eq(bytes(1023, HS_TEXT_BYTES_TENTHS), "1023 B");
    ck_assert_str_eq(bytes(1024, HS_TEXT_BYTES_TENTHS), "1.0 KiB");
    ck_assert_str_eq(bytes(65536, HS_TEXT_BYTES_TENTHS), "64.0 KiB");
    ck_assert_str_eq(bytes(10.7 * 1048576, HS_TEXT_BYTES_TENTHS), "10.7 MiB");
    ck_assert_str_eq(bytes(-3.25 * 1048576, HS_TEXT_BYTES_TENTHS), "-3.2 MiB"); /* a tie: to even */
    ck_assert_str_eq(bytes(1280, HS_TEXT_BYTES_TENTHS), "1.2 KiB");             /* 1.25 KiB: to even */
    ck_assert_str_eq(bytes(1382.4, HS_TEXT_BYTES_TENTHS), "1.4 KiB");           /* 1.35 KiB, not a tie in binary */
    ck_assert_str_eq(bytes(8.0 * 1152921504606846976.0, HS_TEXT_BYTES_TENTHS), "8.0 EiB");
    ck_assert_str_eq(bytes(-0.3, HS_TEXT_BYTES_TENTHS), "0 B"); /* never "-0" */
}
END_TEST

START_TEST(short_style_keeps_two_or_three_digits)
{
    ck_assert_str_eq(bytes(512, HS_TEXT_BYTES_SHORT), "512 B");
    ck_assert_str_eq(bytes(4.2 * 1024, HS_TEXT_BYTES_SHORT), "4.2 KiB");
    ck_assert_str_eq(bytes(9.94 * 1024, HS_TEXT_BYTES_SHORT), "9.9 KiB");
    ck_assert_str_eq(bytes(9.96 * 1024, HS_TEXT_BYTES_SHORT), "10 KiB");
    ck_assert_str_eq(bytes(42.4 * 1048576, HS_TEXT_BYTES_SHORT), "42 MiB");
    ck_assert_str_eq(bytes(-300 * 1024, HS_TEXT_BYTES_SHORT), "-300 KiB");
}
END_TEST

/* The analyzer's tables printed with snprintf("%.1f") before: every figure
 * must come out the same, ties and all. */
START_TEST(tenths_match_printf)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    uint64_t x = 88172645463325252ull;
    char want[64];
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift64 */
        double v;
        switch (i % 3) {
        case 0: v = (double)(x >> 11) / 9007199254740992.0 * pow(2, (double)(x % 64)); break;
        case 1: v = (double)(x % 100000000); break;
        default: v = (double)(x % 1000000) * 1024 / 20; break; /* multiples of 0.05 KiB: many ties */
        }
        double a = v;
        size_t u = 0;
        while (a >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
            a /= 1024;
            u++;
        }
        snprintf(want, sizeof(want), "%.*f %s", u == 0 ? 0 : 1, a, units[u]);
        ck_assert_str_eq(bytes(v, HS_TEXT_BYTES_TENTHS), want);
    }
}
END_TEST

START_TEST(fixed_matches_printf_and_says_what_it_cannot_print)
{
    char got[64], want[64];
    const double values[] = {0, 0.5, 1.5, 2.5, 0.125, 0.375, 1e-7, 123456.789, 0.05, 0.15, 0.25, 2.675, 9.995};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
        for (int d = 0; d < 4; d++) {
            hs_text_t o = hs_text_on(got, sizeof(got));
            hs_text_put_fixed(&o, values[i], d);
            snprintf(want, sizeof(want), "%.*f", d, values[i]);
            ck_assert_str_eq(got, want);
        }
    hs_text_t o = hs_text_on(got, sizeof(got));
    hs_text_put_fixed(&o, NAN, 1);
    hs_text_put_char(&o, ' ');
    hs_text_put_fixed(&o, -INFINITY, 1);
    hs_text_put_char(&o, ' ');
    hs_text_put_fixed(&o, 1e30, 0);
    hs_text_put_char(&o, ' ');
    hs_text_put_fixed(&o, -1e-9, 2);
    ck_assert_str_eq(got, "? ? huge 0.00");
}
END_TEST

START_TEST(a_small_buffer_is_cut_and_terminated)
{
    char buf[8];
    memset(buf, 'x', sizeof(buf));
    ck_assert_str_eq(hs_text_bytes(10.7 * 1048576, HS_TEXT_BYTES_TENTHS, buf, 6), "10.7 ");
    ck_assert_int_eq(buf[6], 'x');
    hs_text_t o = hs_text_on(buf, 1);
    hs_text_put_str(&o, "abc");
    ck_assert_str_eq(buf, "");
    o = hs_text_on(buf, 0); /* nothing may be written at all */
    hs_text_put_uint(&o, 12345);
    ck_assert_int_eq(o.len, 0);
}
END_TEST

/* Nothing heapscope prints may read "-0": not a byte count ("-0 B",
 * "-0.0 KiB"), not a JSON number (a rounded estimate of -0.3 objects). */
static void to_buf(void *ctx, const char *b, size_t n) { strncat(ctx, b, n); }

START_TEST(never_minus_zero)
{
    static const double tiny[] = {-0.0, -1e-300, -1e-9, -0.2, -0.49, -0.5};
    for (size_t i = 0; i < sizeof(tiny) / sizeof(tiny[0]); i++) {
        ck_assert_str_eq(bytes(tiny[i], HS_TEXT_BYTES_TENTHS), "0 B");
        ck_assert_str_eq(bytes(tiny[i], HS_TEXT_BYTES_SHORT), "0 B");
        char json[64] = "";
        hs_json_put_number(to_buf, json, round(tiny[i]));
        ck_assert_msg(strcmp(json, "0") == 0 || strcmp(json, "-1") == 0, "%g gives %s", tiny[i], json);
        json[0] = '\0';
        hs_json_put_number(to_buf, json, tiny[i] * 1e-300);
        ck_assert_msg(json[0] != '-' || json[1] != '0', "%g gives %s", tiny[i] * 1e-300, json);
    }
    /* just under a unit boundary, negative: a unit's worth, never -0.0 */
    for (double x = -2048; x < 0; x += 0.37) {
        const char *t = bytes(x, HS_TEXT_BYTES_TENTHS), *u = bytes(x, HS_TEXT_BYTES_SHORT);
        ck_assert_msg(strncmp(t, "-0", 2) != 0 && strncmp(u, "-0", 2) != 0, "%g: %s, %s", x, t, u);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("text");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, tenths_are_one_decimal_above_bytes);
    tcase_add_test(tc, short_style_keeps_two_or_three_digits);
    tcase_add_test(tc, tenths_match_printf);
    tcase_add_test(tc, fixed_matches_printf_and_says_what_it_cannot_print);
    tcase_add_test(tc, a_small_buffer_is_cut_and_terminated);
    tcase_add_test(tc, never_minus_zero);
    suite_add_tcase(s, tc);
    return hs_run_suite(s);
}
