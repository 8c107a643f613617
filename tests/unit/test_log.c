/* test_log.c - the interposer's lines go to descriptor 2 only while it is
 * the stderr the program had when the library loaded: a daemon that closed
 * it and opened its own data file (which lands on number 2) must never get a
 * "heapscope: ..." line in its data; those go to HEAPSCOPE_LOG when set, or
 * nowhere. Findings (the live leak warning) go to HEAPSCOPE_LOG first. Each
 * case runs in its own forked process (Check's default), so the identity
 * recorded at "load" (hs_log_init) and descriptor 2 start fresh. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "run_suite.h"

static char dir[] = "/tmp/hs_log_XXXXXX";
static char file_a[sizeof(dir) + 16], file_b[sizeof(dir) + 16], log_file[sizeof(dir) + 16];

static void setup(void)
{
    hs_log_set_file(hs_cfg.log); /* as the library's constructor does */
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(file_a, sizeof(file_a), "%s/a", dir);
    snprintf(file_b, sizeof(file_b), "%s/b", dir);
    snprintf(log_file, sizeof(log_file), "%s/log", dir);
    hs_cfg.log[0] = 0;
}

static void teardown(void)
{
    char cmd[sizeof(dir) + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Puts a fresh file on descriptor 2, as a daemon's open() after close(2) does. */
static void file_on_stderr(const char *path)
{
    int f = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(f, 0);
    if (f != 2) {
        ck_assert_int_eq(dup2(f, 2), 2);
        close(f);
    }
}

static const char *content(const char *path)
{
    static char buf[2048];
    buf[0] = 0;
    int f = open(path, O_RDONLY);
    if (f < 0)
        return buf; /* never created: empty */
    ssize_t n = read(f, buf, sizeof(buf) - 1);
    ck_assert_int_ge(n, 0);
    buf[n] = 0;
    close(f);
    return buf;
}

START_TEST(lines_go_to_the_stderr_of_load)
{
    file_on_stderr(file_a);
    hs_log_init();
    ck_assert_int_eq(hs_log_stderr_is_programs(), 1);
    hs_log("one %d", 1);
    ck_assert_str_eq(content(file_a), "heapscope: one 1\n");
}
END_TEST

START_TEST(a_file_opened_on_descriptor_2_later_gets_nothing)
{
    file_on_stderr(file_a);
    hs_log_init();
    close(2);
    file_on_stderr(file_b);
    ck_assert_int_eq(hs_log_stderr_is_programs(), 0);
    hs_log("two");
    ck_assert_str_eq(content(file_b), "");
    ck_assert_str_eq(content(file_a), "");
}
END_TEST

START_TEST(a_replaced_stderr_sends_lines_to_HEAPSCOPE_LOG)
{
    file_on_stderr(file_a);
    hs_log_init();
    file_on_stderr(file_b);
    snprintf(hs_cfg.log, sizeof(hs_cfg.log), "%s", log_file);
    hs_log("three");
    hs_log("four");
    ck_assert_str_eq(content(file_b), "");
    ck_assert_str_eq(content(log_file), "heapscope: three\nheapscope: four\n");
}
END_TEST

START_TEST(stderr_closed_at_load_is_never_written)
{
    close(2);
    hs_log_init();
    file_on_stderr(file_b);
    hs_log("five");
    ck_assert_str_eq(content(file_b), "");
}
END_TEST

START_TEST(the_identity_is_the_one_at_load)
{
    /* The first line records it when hs_log_init was not called; a later
     * hs_log_init keeps it. */
    file_on_stderr(file_a);
    hs_log("six");
    file_on_stderr(file_b);
    hs_log_init();
    hs_log("seven");
    ck_assert_str_eq(content(file_a), "heapscope: six\n");
    ck_assert_str_eq(content(file_b), "");
}
END_TEST

START_TEST(a_finding_goes_to_HEAPSCOPE_LOG_first)
{
    file_on_stderr(file_a);
    hs_log_init();
    hs_log_finding("leak one");
    ck_assert_str_eq(content(file_a), "heapscope: leak one\n");
    snprintf(hs_cfg.log, sizeof(hs_cfg.log), "%s", log_file);
    hs_log_finding("leak two");
    ck_assert_str_eq(content(log_file), "heapscope: leak two\n");
    ck_assert_str_eq(content(file_a), "heapscope: leak one\n");
    /* HEAPSCOPE_LOG not openable: stderr, still only while it is the program's. */
    snprintf(hs_cfg.log, sizeof(hs_cfg.log), "%s/no/such/dir/log", dir);
    hs_log_finding("leak three");
    ck_assert_str_eq(content(file_a), "heapscope: leak one\nheapscope: leak three\n");
    file_on_stderr(file_b);
    hs_log_finding("leak four");
    ck_assert_str_eq(content(file_b), "");
}
END_TEST

START_TEST(long_lines_are_cut_whole)
{
    file_on_stderr(file_a);
    hs_log_init();
    char big[2000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    hs_log("%s", big);
    const char *c = content(file_a);
    size_t len = strlen(c);
    ck_assert_uint_gt(len, 1000); /* the live leak warning (up to 1024) fits */
    ck_assert_int_eq(c[len - 1], '\n');
    ck_assert_ptr_eq(strchr(c, '\n'), c + len - 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, lines_go_to_the_stderr_of_load);
    tcase_add_test(tc, a_file_opened_on_descriptor_2_later_gets_nothing);
    tcase_add_test(tc, a_replaced_stderr_sends_lines_to_HEAPSCOPE_LOG);
    tcase_add_test(tc, stderr_closed_at_load_is_never_written);
    tcase_add_test(tc, the_identity_is_the_one_at_load);
    tcase_add_test(tc, a_finding_goes_to_HEAPSCOPE_LOG_first);
    tcase_add_test(tc, long_lines_are_cut_whole);
    suite_add_tcase(s, tc);
    return hs_run_suite(s);
}
