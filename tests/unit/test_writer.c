/* test_writer.c - the dump writer against a host that takes its descriptor:
 * the dump's number is reused for the host's file (which must never receive
 * a byte), no descriptor is free to reopen the dump (EMFILE: the bytes wait,
 * in order, and land once one is), and the dump is deleted (recording stops).
 * Also: a child made without the fork handlers (raw fork, vfork) never
 * writes the parent's file nor changes the writer's memory; names never run
 * out; the directory is fixed at load (chdir, chroot, a directory descriptor
 * the host takes over, '%' in the working directory, %p in the directory).
 * Each case runs in its own forked process (Check's default), so the
 * writer's static state and the descriptor table start clean. */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
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

/* Entries in a directory (".", ".." excluded). */
static int entries(const char *path)
{
    DIR *d = opendir(path);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

/* Makes dir/name (name may hold a '/'), its path in out. */
static void make_dir(const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", dir, name);
    ck_assert_int_eq(mkdir(out, 0700), 0);
}

/* _Fork(), a raw clone: the child shares the parent's descriptor and
 * inherits the writer's state without hs_writer_reset_after_fork. */
START_TEST(a_child_without_the_fork_handlers_never_writes)
{
    ck_assert_int_eq(hs_writer_open(&id, "AAAA", 4), 0);
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        int ok =
            hs_writer_owned_by_caller() == 0 && hs_writer_append("XX", 2) == -1 && hs_writer_open(&id, "YY", 2) == -1;
        hs_writer_give_up();
        _exit(ok ? 0 : 1);
    }
    int status;
    ck_assert_int_eq(waitpid(child, &status, 0), child);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_str_eq(content(dump), "AAAA");
    ck_assert_int_eq(hs_writer_owned_by_caller(), 1);
    ck_assert_int_eq(hs_writer_append("BB", 2), 0);
    ck_assert_str_eq(content(dump), "AAAABB");
    ck_assert_int_eq(entries(dir), 1);
}
END_TEST

/* A child whose parent had no file yet must not create one under the
 * parent's identity (its pid in the name and in the header). */
START_TEST(a_child_without_the_fork_handlers_creates_nothing)
{
    hs_writer_prepare(&id);
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0)
        _exit(hs_writer_open(&id, "YY", 2) == -1 && !hs_writer_is_open() ? 0 : 1);
    int status;
    ck_assert_int_eq(waitpid(child, &status, 0), child);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_int_eq(entries(dir), 0);
    ck_assert_int_eq(hs_writer_open(&id, "AAAA", 4), 0);
    ck_assert_str_eq(content(dump), "AAAA");
}
END_TEST

/* vfork (CLONE_VM): the child runs on the parent's memory, so a refusal
 * that set `failed` or moved the backlog would break the parent. */
START_TEST(a_vfork_child_changes_nothing)
{
    ck_assert_int_eq(hs_writer_open(&id, "AAAA", 4), 0);
    volatile int child_ok = 0;
    pid_t child = vfork();
    if (child == 0) {
        child_ok = hs_writer_append("XX", 2) == -1 && hs_writer_open(&id, "YY", 2) == -1;
        hs_writer_give_up();
        _exit(0);
    }
    ck_assert_int_ge(child, 0);
    int status;
    ck_assert_int_eq(waitpid(child, &status, 0), child);
    ck_assert_int_eq(child_ok, 1);
    ck_assert_int_eq(hs_writer_has_failed(), 0);
    ck_assert_int_eq(hs_writer_is_open(), 1);
    ck_assert_uint_eq(hs_writer_backlog(), 0);
    ck_assert_str_eq(content(dump), "AAAA");
    ck_assert_int_eq(hs_writer_append("BB", 2), 0);
    ck_assert_str_eq(content(dump), "AAAABB");
}
END_TEST

/* A container's program is PID 1 on every run: its dump name is always
 * taken. name, name.1 .. name.9, then unique names, as many as asked. */
START_TEST(names_never_run_out)
{
    char taken[sizeof(dump) + 8];
    for (int i = 0; i < 10; i++) {
        if (i == 0)
            snprintf(taken, sizeof(taken), "%s", dump);
        else
            snprintf(taken, sizeof(taken), "%s.%d", dump, i);
        int f = open(taken, O_WRONLY | O_CREAT | O_EXCL, 0600);
        ck_assert_int_ge(f, 0);
        close(f);
    }
    char seen[5][sizeof(dump) + 64];
    for (int run = 0; run < 5; run++) {
        ck_assert_int_eq(hs_writer_open(&id, "AAAA", 4), 0);
        const char *p = hs_writer_path();
        ck_assert_int_eq(strncmp(p, dump, strlen(dump)), 0);
        ck_assert_int_eq(p[strlen(dump)], '.');
        ck_assert_str_eq(content(p), "AAAA");
        for (int k = 0; k < run; k++)
            ck_assert_str_ne(seen[k], p);
        snprintf(seen[run], sizeof(seen[run]), "%s", p);
        hs_writer_reset_after_fork(); /* forget it: the next open is a new run */
    }
    ck_assert_int_eq(entries(dir), 15);
}
END_TEST

START_TEST(a_relative_path_is_fixed_at_load)
{
    char home[sizeof(dir) + 16], sub[sizeof(dir) + 32], away[sizeof(dir) + 16], away_sub[sizeof(dir) + 32];
    make_dir("home", home, sizeof(home));
    make_dir("home/out", sub, sizeof(sub));
    make_dir("away", away, sizeof(away));
    make_dir("away/out", away_sub, sizeof(away_sub));
    snprintf(hs_cfg.output, sizeof(hs_cfg.output), "out/w.%%p.hsd");
    ck_assert_int_eq(chdir(home), 0);
    hs_writer_prepare(&id);
    ck_assert_int_eq(chdir(away), 0);
    ck_assert_int_eq(hs_writer_open(&id, "AAAA", 4), 0);
    char want[sizeof(dir) + 64];
    snprintf(want, sizeof(want), "%s/w.%u.hsd", sub, id.pid);
    ck_assert_str_eq(hs_writer_path(), want);
    ck_assert_str_eq(content(want), "AAAA");
    ck_assert_int_eq(entries(away_sub), 0);
    ck_assert_int_eq(hs_writer_append("BB", 2), 0);
    ck_assert_str_eq(content(want), "AAAABB");
}
END_TEST

START_TEST(a_percent_in_the_working_directory_stays_literal)
{
    char odd[sizeof(dir) + 16];
    make_dir("x%p%e", odd, sizeof(odd));
    snprintf(hs_cfg.output, sizeof(hs_cfg.output), "w.hsd");
    ck_assert_int_eq(chdir(odd), 0);
    hs_writer_prepare(&id);
    ck_assert_int_eq(chdir("/"), 0);
    ck_assert_int_eq(hs_writer_open(&id, "AAAA", 4), 0);
    char want[sizeof(dir) + 32];
    snprintf(want, sizeof(want), "%s/w.hsd", odd);
    ck_assert_str_eq(hs_writer_path(), want);
    ck_assert_str_eq(content(want), "AAAA");
}
END_TEST

/* The host closes every descriptor and reuses the number of our directory
 * for a directory of its own: the dump goes by the absolute path, never
 * into the host's directory. */
START_TEST(a_directory_descriptor_taken_by_the_host_is_not_used)
{
    char mine[sizeof(dir) + 16], theirs[sizeof(dir) + 16];
    make_dir("mine", mine, sizeof(mine));
    make_dir("theirs", theirs, sizeof(theirs));
    snprintf(hs_cfg.output, sizeof(hs_cfg.output), "%s/w.hsd", mine);
    hs_writer_prepare(&id);
    struct stat want, st;
    ck_assert_int_eq(stat(mine, &want), 0);
    int held = -1;
    for (int f = 3; f < 4096 && held < 0; f++)
        if (fstat(f, &st) == 0 && st.st_dev == want.st_dev && st.st_ino == want.st_ino)
            held = f;
    ck_assert_int_ge(held, 512);
    int t = open(theirs, O_PATH | O_DIRECTORY);
    ck_assert_int_ge(t, 0);
    ck_assert_int_eq(dup2(t, held), held);
    ck_assert_int_eq(hs_writer_open(&id, "AAAA", 4), 0);
    char in_mine[sizeof(mine) + 8];
    snprintf(in_mine, sizeof(in_mine), "%s/w.hsd", mine);
    ck_assert_str_eq(content(in_mine), "AAAA");
    ck_assert_int_eq(entries(theirs), 0);
    /* ... and it is left open: the number is the host's now. */
    ck_assert_int_eq(fstat(held, &st), 0);
}
END_TEST

/* chroot before the first snapshot: the directory named at load is still
 * where the dump goes (root only; skipped otherwise). The chroot happens in
 * a child so that this case's teardown runs outside the jail. */
START_TEST(a_chroot_does_not_lose_the_dump)
{
    if (geteuid() != 0)
        return;
    char out[sizeof(dir) + 16], jail[sizeof(dir) + 16];
    make_dir("out", out, sizeof(out));
    make_dir("jail", jail, sizeof(jail));
    snprintf(hs_cfg.output, sizeof(hs_cfg.output), "%s/w.%%p.hsd", out);
    snprintf(hs_cfg.tmpdir, sizeof(hs_cfg.tmpdir), "/tmp");
    hs_writer_prepare(&id);
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        hs_writer_reset_after_fork();
        id.pid = (uint32_t)getpid();
        if (chroot(jail) != 0 || chdir("/") != 0)
            _exit(1);
        if (hs_writer_open(&id, "AAAA", 4) != 0 || hs_writer_append("BB", 2) != 0)
            _exit(2);
        _exit(0);
    }
    int status;
    ck_assert_int_eq(waitpid(child, &status, 0), child);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    char want[sizeof(dir) + 64];
    snprintf(want, sizeof(want), "%s/w.%d.hsd", out, (int)child);
    ck_assert_str_eq(content(want), "AAAABB");
    ck_assert_int_eq(entries(jail), 0);
}
END_TEST

/* %p in the directory: a fork child (hs_writer_reset_after_fork, its own
 * identity) writes into the directory of its own pid. */
START_TEST(a_fork_child_expands_the_directory_with_its_pid)
{
    char parent_dir[sizeof(dir) + 16], num[16];
    snprintf(num, sizeof(num), "%u", id.pid);
    make_dir(num, parent_dir, sizeof(parent_dir));
    snprintf(hs_cfg.output, sizeof(hs_cfg.output), "%s/%%p/w.%%p.hsd", dir);
    hs_writer_prepare(&id);
    ck_assert_int_eq(hs_writer_open(&id, "PARENT", 6), 0);
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        hs_writer_reset_after_fork();
        id.pid = (uint32_t)getpid();
        char child_dir[sizeof(dir) + 16];
        snprintf(child_dir, sizeof(child_dir), "%s/%u", dir, id.pid);
        if (mkdir(child_dir, 0700) != 0 || hs_writer_open(&id, "CHILD", 5) != 0)
            _exit(1);
        char want[sizeof(dir) + 64];
        snprintf(want, sizeof(want), "%s/w.%u.hsd", child_dir, id.pid);
        _exit(strcmp(hs_writer_path(), want) == 0 ? 0 : 2);
    }
    int status;
    ck_assert_int_eq(waitpid(child, &status, 0), child);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    char want[sizeof(dir) + 64];
    snprintf(want, sizeof(want), "%s/%d/w.%d.hsd", dir, (int)child, (int)child);
    ck_assert_str_eq(content(want), "CHILD");
    snprintf(want, sizeof(want), "%s/w.%u.hsd", parent_dir, id.pid);
    ck_assert_str_eq(content(want), "PARENT");
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
    tcase_add_test(tc, a_child_without_the_fork_handlers_never_writes);
    tcase_add_test(tc, a_child_without_the_fork_handlers_creates_nothing);
    tcase_add_test(tc, a_vfork_child_changes_nothing);
    tcase_add_test(tc, names_never_run_out);
    tcase_add_test(tc, a_relative_path_is_fixed_at_load);
    tcase_add_test(tc, a_percent_in_the_working_directory_stays_literal);
    tcase_add_test(tc, a_directory_descriptor_taken_by_the_host_is_not_used);
    tcase_add_test(tc, a_chroot_does_not_lose_the_dump);
    tcase_add_test(tc, a_fork_child_expands_the_directory_with_its_pid);
    suite_add_tcase(s, tc);
    return hs_run_suite(s);
}
