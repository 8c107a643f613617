/* test_writer.c - the dump writer against a host that takes its descriptor:
 * the dump's number is reused for the host's file (which must never receive
 * a byte), no descriptor is free to reopen the dump (EMFILE: the bytes wait,
 * in order, and land once one is), and the dump is deleted (recording stops).
 * Each case runs in its own forked process (Check's default), so the
 * writer's static state and the descriptor table start clean. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "state.h"
#include "writer.h"
#include "run_suite.h"

static char dir[] = "/tmp/hs_writer_XXXXXX";
static char dump[sizeof(dir) + 16];
static hs_identity_t id;

static void setup(void)
{
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(hs_cfg.output, sizeof(hs_cfg.output), "%s/w.hsd", dir);
    snprintf(hs_cfg.tmpdir, sizeof(hs_cfg.tmpdir), "%s", dir);
    snprintf(dump, sizeof(dump), "%s/w.hsd", dir);
    id.pid = (uint32_t)getpid();
    snprintf(id.program, sizeof(id.program), "test_writer");
}

static void teardown(void)
{
    char cmd[sizeof(dir) + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* The file's whole content as a string (the tests write short text). */
static const char *content(const char *path)
{
    static char buf[256];
    int f = open(path, O_RDONLY);
    ck_assert_int_ge(f, 0);
    ssize_t n = read(f, buf, sizeof(buf) - 1);
    ck_assert_int_ge(n, 0);
    buf[n] = 0;
    close(f);
    return buf;
}

/* The descriptor the writer holds: the one whose file is the dump. */
static int writer_fd(void)
{
    struct stat want, st;
    ck_assert_int_eq(stat(dump, &want), 0);
    for (int f = 3; f < 4096; f++)
        if (fstat(f, &st) == 0 && st.st_dev == want.st_dev && st.st_ino == want.st_ino)
            return f;
    ck_abort_msg("no descriptor holds the dump");
    return -1;
}

/* The host's own file, dup2'd over the writer's descriptor. */
static int take_writer_fd(void)
{
    char user[sizeof(dir) + 16];
    snprintf(user, sizeof(user), "%s/user.txt", dir);
    int u = open(user, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(u, 0);
    int w = writer_fd();
    ck_assert_int_eq(dup2(u, w), w);
    return u;
}

static off_t size_of_fd(int f)
{
    struct stat st;
    ck_assert_int_eq(fstat(f, &st), 0);
    return st.st_size;
}

START_TEST(opens_on_a_high_descriptor)
{
    ck_assert_int_eq(hs_writer_open(&id, "AAAA", 4), 0);
    ck_assert_str_eq(content(dump), "AAAA");
    ck_assert_int_ge(writer_fd(), 512);
    ck_assert_int_eq(hs_writer_append("BB", 2), 0);
    ck_assert_str_eq(content(dump), "AAAABB");
}
END_TEST

START_TEST(reopens_by_path_when_the_host_reuses_the_number)
{
    ck_assert_int_eq(hs_writer_open(&id, "AAAA", 4), 0);
    int u = take_writer_fd();
    ck_assert_int_eq(hs_writer_append("BBBB", 4), 0);
    ck_assert_str_eq(content(dump), "AAAABBBB");
    ck_assert_int_eq(size_of_fd(u), 0);
    ck_assert_int_eq(hs_writer_has_failed(), 0);
}
END_TEST

START_TEST(waits_for_a_free_descriptor_and_keeps_the_order)
{
    struct rlimit old, low;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
    if (old.rlim_max != RLIM_INFINITY && old.rlim_max < 600)
        return; /* cannot make room for the writer's high descriptor */
    low = old;
    low.rlim_cur = 600;
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    ck_assert_int_eq(hs_writer_open(&id, "AAAA", 4), 0);
    int u = take_writer_fd();
    /* Fill every free descriptor, as a server at its connection limit does. */
    int fillers[600], n = 0;
    for (int f; (f = dup(u)) >= 0;)
        fillers[n++] = f;
    ck_assert_int_gt(n, 0);
    ck_assert_int_eq(hs_writer_append("BBBB", 4), 0);
    ck_assert_int_eq(hs_writer_append("CCCC", 4), 0);
    ck_assert_uint_eq(hs_writer_backlog(), 8);
    ck_assert_int_eq(hs_writer_has_failed(), 0);
    ck_assert_int_eq(size_of_fd(u), 0);
    while (n > 0)
        close(fillers[--n]);
    ck_assert_int_eq(hs_writer_append("DDDD", 4), 0);
    ck_assert_uint_eq(hs_writer_backlog(), 0);
    ck_assert_str_eq(content(dump), "AAAABBBBCCCCDDDD");
    ck_assert_int_eq(size_of_fd(u), 0);
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
}
END_TEST

START_TEST(stops_when_the_dump_is_deleted)
{
    ck_assert_int_eq(hs_writer_open(&id, "AAAA", 4), 0);
    int u = take_writer_fd();
    ck_assert_int_eq(unlink(dump), 0);
    ck_assert_int_eq(hs_writer_append("BBBB", 4), -1);
    ck_assert_int_eq(hs_writer_has_failed(), 1);
    ck_assert_int_eq(hs_writer_append("CCCC", 4), -1);
    ck_assert_int_eq(size_of_fd(u), 0);
}
END_TEST

START_TEST(a_forked_child_starts_its_own_file)
{
    ck_assert_int_eq(hs_writer_open(&id, "AAAA", 4), 0);
    hs_writer_reset_after_fork();
    ck_assert_int_eq(hs_writer_is_open(), 0);
    ck_assert_int_eq(hs_writer_append("XX", 2), -1); /* nothing to append to yet */
    ck_assert_int_eq(hs_writer_open(&id, "CHILD", 5), 0);
    ck_assert_str_eq(content(dump), "AAAA");
    ck_assert_str_eq(content(hs_writer_path()), "CHILD");
    ck_assert_str_ne(hs_writer_path(), dump);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("writer");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, opens_on_a_high_descriptor);
    tcase_add_test(tc, reopens_by_path_when_the_host_reuses_the_number);
    tcase_add_test(tc, waits_for_a_free_descriptor_and_keeps_the_order);
    tcase_add_test(tc, stops_when_the_dump_is_deleted);
    tcase_add_test(tc, a_forked_child_starts_its_own_file);
    suite_add_tcase(s, tc);
    return hs_run_suite(s);
}
