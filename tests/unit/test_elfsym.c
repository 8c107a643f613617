/* test_elfsym.c - function names from an ELF file's own symbol table: a
 * static function of this test binary is found by address; files that are
 * not ELF, truncated or with corrupt section headers give -1, never a crash. */
#include <check.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "elfsym.h"
#include "run_suite.h"

__attribute__((noinline)) static int a_static_function(int x) { return x * 3 + 1; }

/* The address as this binary's symbols count it. */
static uint64_t file_vaddr(const void *p)
{
    Dl_info info;
    struct link_map *lm = NULL;
    ck_assert(dladdr1(p, &info, (void **)&lm, RTLD_DL_LINKMAP));
    ck_assert_ptr_nonnull(lm);
    return (uint64_t)((uintptr_t)p - lm->l_addr);
}

static char *self_copy(const char *name, long keep, long flip_at)
{
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/hs_elfsym_%s_%d", name, (int)getpid());
    FILE *in = fopen("/proc/self/exe", "rb");
    FILE *out = fopen(path, "wb");
    ck_assert(in && out);
    int c;
    long i = 0;
    while ((keep < 0 || i < keep) && (c = fgetc(in)) != EOF) {
        fputc(i == flip_at ? c ^ 0xff : c, out);
        i++;
    }
    fclose(in);
    fclose(out);
    return path;
}

START_TEST(finds_a_static_function)
{
    char name[64];
    uint64_t at = file_vaddr((const void *)(uintptr_t)&a_static_function);
    ck_assert_int_eq(hs_elfsym_name("/proc/self/exe", at, name, sizeof(name)), 0);
    ck_assert_str_eq(name, "a_static_function");
    /* an address inside it, not only its first byte */
    ck_assert_int_eq(hs_elfsym_name("/proc/self/exe", at + 1, name, sizeof(name)), 0);
    ck_assert_str_eq(name, "a_static_function");
    /* a short buffer gets a truncated, terminated name */
    char small[5];
    ck_assert_int_eq(hs_elfsym_name("/proc/self/exe", at, small, sizeof(small)), 0);
    ck_assert_str_eq(small, "a_st");
    ck_assert_int_eq(a_static_function(1), 4);
}
END_TEST

START_TEST(unknown_addresses_and_bad_files_give_minus_one)
{
    char name[64];
    ck_assert_int_eq(hs_elfsym_name("/proc/self/exe", 0, name, sizeof(name)), -1);
    ck_assert_int_eq(hs_elfsym_name("/nonexistent/file", 0x1000, name, sizeof(name)), -1);
    ck_assert_int_eq(hs_elfsym_name("/etc/hostname", 0x1000, name, sizeof(name)), -1);
    ck_assert_int_eq(hs_elfsym_name("/tmp", 0x1000, name, sizeof(name)), -1);
    uint64_t at = file_vaddr((const void *)(uintptr_t)&a_static_function);
    char *truncated = self_copy("trunc", 200, -1);
    ck_assert_int_eq(hs_elfsym_name(truncated, at, name, sizeof(name)), -1);
    unlink(truncated);
    /* e_shoff's top byte flipped: section headers far past the end */
    char *corrupt = self_copy("shoff", -1, 0x28 + 7);
    ck_assert_int_eq(hs_elfsym_name(corrupt, at, name, sizeof(name)), -1);
    unlink(corrupt);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("elfsym");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, finds_a_static_function);
    tcase_add_test(tc, unknown_addresses_and_bad_files_give_minus_one);
    suite_add_tcase(s, tc);
    return hs_run_suite(s);
}
