/* test_program_name.c - the name a report gives a process
 * (analyzer/program_name.c): argv[0]'s basename, the name the user ran, over
 * a symlink's target; a process title or a rewritten argv cut to the
 * program; the executable's basename when argv[0] says nothing usable. */
#include <check.h>
#include <string.h>

#include "program_name.h"
#include "run_suite.h"

/* name(cmdline as a C string with '|' for the NULs, exe) */
static const char *name(const char *args, const char *exe)
{
    static char out[64];
    char cmd[256];
    size_t len = strlen(args);
    memcpy(cmd, args, len);
    for (size_t i = 0; i < len; i++)
        if (cmd[i] == '|')
            cmd[i] = 0;
    return hs_program_name(cmd, len, exe, out, sizeof(out));
}

START_TEST(argv0_names_the_program_not_the_symlink_target)
{
    ck_assert_str_eq(name("/usr/bin/redis-server|--port|0", "/usr/bin/redis-check-rdb"), "redis-server");
    ck_assert_str_eq(name("redis-server", "/usr/bin/redis-check-rdb"), "redis-server");
    ck_assert_str_eq(name("./pool-server|1", "/x/prefork"), "pool-server");
    ck_assert_str_eq(name("python3|x.py", "/usr/bin/python3.11"), "python3");
}
END_TEST

START_TEST(titles_and_rewritten_argv_are_cut_to_the_program)
{
    ck_assert_str_eq(name("nginx: worker process", "/usr/sbin/nginx"), "nginx");
    ck_assert_str_eq(name("nginx: master process /usr/sbin/nginx -c /etc/nginx.conf", "/usr/sbin/nginx"), "nginx");
    ck_assert_str_eq(name("/usr/bin/redis-server *:6379", "/usr/bin/redis-check-rdb"), "redis-server");
    ck_assert_str_eq(name("-bash", "/usr/bin/bash"), "bash");
    ck_assert_str_eq(name("postgres: checkpointer", "/usr/lib/postgresql/15/bin/postgres"), "postgres");
}
END_TEST

START_TEST(an_unusable_argv0_falls_back_to_the_executable)
{
    ck_assert_str_eq(name("", "/usr/sbin/nginx"), "nginx");
    ck_assert_str_eq(name("|x", "/usr/sbin/nginx"), "nginx");
    ck_assert_str_eq(name("/usr/bin/", "/usr/bin/env"), "env");
    ck_assert_str_eq(name("a\tb", "/bin/x"), "a");
    ck_assert_str_eq(name("\x01weird", "/bin/x"), "x");
    ck_assert_str_eq(name("-", "/bin/sh"), "sh");
    ck_assert_str_eq(name("", ""), "?");
    char out[64];
    ck_assert_str_eq(hs_program_name(NULL, 0, "/bin/true", out, sizeof(out)), "true");
    ck_assert_str_eq(hs_program_name(NULL, 0, NULL, out, sizeof(out)), "?");
}
END_TEST

START_TEST(a_long_name_is_cut_to_the_buffer)
{
    char out[4];
    ck_assert_str_eq(hs_program_name("abcdef", 6, "", out, sizeof(out)), "abc");
    /* cmdline_len bounds the read: no NUL needed at its end. */
    ck_assert_str_eq(hs_program_name("abcdef", 2, "", out, sizeof(out)), "ab");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("program_name");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, argv0_names_the_program_not_the_symlink_target);
    tcase_add_test(tc, titles_and_rewritten_argv_are_cut_to_the_program);
    tcase_add_test(tc, an_unusable_argv0_falls_back_to_the_executable);
    tcase_add_test(tc, a_long_name_is_cut_to_the_buffer);
    suite_add_tcase(s, tc);
    return hs_run_suite(s);
}
