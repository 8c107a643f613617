/* test_template.c - the dump path template (common/hs_template.c), which
 * the library uses to name the dump and `heapscope record` to print that
 * name: every conversion, the literal leftovers, and the size limit. */
#include <check.h>
#include <string.h>

#include "hs_template.h"
#include "run_suite.h"

static const hs_template_vars_t vars = {4242, "demo", 1700000000};

static const char *expand(const char *tmpl, char *out, size_t cap)
{
    ck_assert_int_eq(hs_template_expand(tmpl, &vars, out, cap), 0);
    return out;
}

START_TEST(every_conversion_expands)
{
    char out[256];
    ck_assert_str_eq(expand("heapscope.%e.%p.hsd", out, sizeof(out)), "heapscope.demo.4242.hsd");
    ck_assert_str_eq(expand("/d/%t-%p", out, sizeof(out)), "/d/1700000000-4242");
    ck_assert_str_eq(expand("100%%.%p", out, sizeof(out)), "100%.4242");
    ck_assert_str_eq(expand("plain", out, sizeof(out)), "plain");
    ck_assert_str_eq(expand("", out, sizeof(out)), "");
    hs_template_vars_t zero = {0, "", 0};
    ck_assert_int_eq(hs_template_expand("%p.%e.%t", &zero, out, sizeof(out)), 0);
    ck_assert_str_eq(out, "0..0");
    hs_template_vars_t max = {4294967295u, "x", 18446744073709551615ull};
    ck_assert_int_eq(hs_template_expand("%p %t", &max, out, sizeof(out)), 0);
    ck_assert_str_eq(out, "4294967295 18446744073709551615");
}
END_TEST

START_TEST(unknown_conversions_and_a_final_percent_stay_literal)
{
    char out[64];
    ck_assert_str_eq(expand("a%xb%", out, sizeof(out)), "a%xb%");
    ck_assert_str_eq(expand("%%p", out, sizeof(out)), "%p");
}
END_TEST

START_TEST(an_expansion_that_does_not_fit_is_refused)
{
    char out[12];
    ck_assert_int_eq(hs_template_expand("x.%p.hsd", &vars, out, 10), -1); /* 10 characters and the NUL */
    ck_assert_int_eq(hs_template_expand("x.%p.hsd", &vars, out, 11), 0);
    ck_assert_str_eq(out, "x.4242.hsd");
    ck_assert_int_eq(hs_template_expand("x", &vars, out, 0), -1);
}
END_TEST

START_TEST(uses_sees_conversions_not_escaped_percents)
{
    ck_assert(hs_template_uses("a.%t.hsd", 't'));
    ck_assert(!hs_template_uses("a.%%t.hsd", 't'));
    ck_assert(hs_template_uses("%%%p", 'p'));
    ck_assert(!hs_template_uses("%e", 'p'));
    ck_assert(!hs_template_uses("t%", 't'));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("template");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, every_conversion_expands);
    tcase_add_test(tc, unknown_conversions_and_a_final_percent_stay_literal);
    tcase_add_test(tc, an_expansion_that_does_not_fit_is_refused);
    tcase_add_test(tc, uses_sees_conversions_not_escaped_percents);
    suite_add_tcase(s, tc);
    return hs_run_suite(s);
}
