/* test_symbolize.c - hs_symbolize against shared objects built here with
 * known lines: an inline chain (innermost first, call-site lines), a plain
 * call site, the ELF-symbol fallback, separate debug info through
 * .gnu_debuglink, build-id checks, hostile paths, caching and speed, and
 * the function ranges of a stripped copy's call-frame information. The
 * objects are compiled once in main() with the system compiler, dlopen'ed,
 * and their load bias and build-id read back through dl_iterate_phdr. */
#include <check.h>
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <gelf.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "symbolize.h"

/* Line numbers below are the test's expectations: keep them in step. */
static const char lib_source[] = "#include <stdlib.h>\n"                                                   /* 1 */
                                 "static void *volatile sink;\n"                                           /* 2 */
                                 "static void *last_ra;\n"                                                 /* 3 */
                                 "__attribute__((noinline)) static void leaf(int n)\n"                     /* 4 */
                                 "{\n"                                                                     /* 5 */
                                 "    last_ra = __builtin_return_address(0);\n"                            /* 6 */
                                 "    sink = malloc((size_t)n);\n"                                         /* 7 */
                                 "    free(sink);\n"                                                       /* 8 */
                                 "}\n"                                                                     /* 9 */
                                 "static inline __attribute__((always_inline)) int hs_sym_inner(int n)\n"  /* 10 */
                                 "{\n"                                                                     /* 11 */
                                 "    leaf(n + 1);\n"                                                      /* 12 */
                                 "    return n * 3;\n"                                                     /* 13 */
                                 "}\n"                                                                     /* 14 */
                                 "static inline __attribute__((always_inline)) int hs_sym_middle(int n)\n" /* 15 */
                                 "{\n"                                                                     /* 16 */
                                 "    int r = hs_sym_inner(n * 2);\n"                                      /* 17 */
                                 "    return r + 1;\n"                                                     /* 18 */
                                 "}\n"                                                                     /* 19 */
                                 "int hs_sym_outer(int n)\n"                                               /* 20 */
                                 "{\n"                                                                     /* 21 */
                                 "    int r = hs_sym_middle(n);\n"                                         /* 22 */
                                 "    return r + 5;\n"                                                     /* 23 */
                                 "}\n"                                                                     /* 24 */
                                 "int hs_sym_plain(int n)\n"                                               /* 25 */
                                 "{\n"                                                                     /* 26 */
                                 "    leaf(n);\n"                                                          /* 27 */
                                 "    return n + 7;\n"                                                     /* 28 */
                                 "}\n"                                                                     /* 29 */
                                 "void *hs_sym_ra(void) { return last_ra; }\n"                             /* 30 */
                                 "static void *volatile probe;\n"                                          /* 31 */
                                 "__attribute__((noinline)) static void *where(void)\n"                    /* 32 */
                                 "{\n"                                                                     /* 33 */
                                 "    return __builtin_return_address(0);\n"                               /* 34 */
                                 "}\n"                                                                     /* 35 */
                                 "__attribute__((noinline)) static void *hs_sym_hidden(void)\n"            /* 36 */
                                 "{\n"                                                                     /* 37 */
                                 "    probe = where();\n"                                                  /* 38 */
                                 "    return probe;\n"                                                     /* 39 */
                                 "}\n"                                                                     /* 40 */
                                 "void *hs_sym_hidden_pc(void) { return hs_sym_hidden(); }\n";             /* 41 */

/* C++: names come demangled and qualified, from inside a namespace. */
static const char cxx_source[] = "static void *last_ra;\n"                                                      /* 1 */
                                 "extern \"C\" void *hs_sym_ra(void) { return last_ra; }\n"                     /* 2 */
                                 "namespace hs {\n"                                                             /* 3 */
                                 "struct Box {\n"                                                               /* 4 */
                                 "    __attribute__((noinline)) static void leaf(int n);\n"                     /* 5 */
                                 "    __attribute__((noinline)) int fill(int n);\n"                             /* 6 */
                                 "};\n"                                                                         /* 7 */
                                 "void Box::leaf(int n) { last_ra = __builtin_return_address(0); (void)n; }\n"  /* 8 */
                                 "int Box::fill(int n)\n"                                                       /* 9 */
                                 "{\n"                                                                          /* 10 */
                                 "    leaf(n);\n"                                                               /* 11 */
                                 "    return n + 1;\n"                                                          /* 12 */
                                 "}\n"                                                                          /* 13 */
                                 "}\n"                                                                          /* 14 */
                                 "extern \"C\" int hs_sym_outer(int n) { hs::Box b; return b.fill(n) + 2; }\n"; /* 15 */

static char dir[64];
static char lib_dwarf[128], lib_nodwarf[128], lib_cxx[128], lib_split[128], not_elf[128], truncated[128], fifo[128];
static char lib_stripped[128], lib_nocfi[128];

typedef struct {
    int count;
    char last[4400];
} warnings_t;

static void count_warning(void *ctx, const char *msg)
{
    warnings_t *w = ctx;
    w->count++;
    snprintf(w->last, sizeof w->last, "%s", msg);
}

static hs_symbolizer_t *new_symbolizer(warnings_t *w)
{
    memset(w, 0, sizeof(*w));
    hs_symbolizer_t *s = hs_symbolizer_new();
    ck_assert_ptr_nonnull(s);
    hs_symbolizer_set_warn(s, count_warning, w);
    return s;
}

/* What a recorder sees of a loaded object: load bias and build-id. */
typedef struct {
    const char *path;
    uint64_t bias;
    uint8_t id[64];
    uint32_t id_len;
    int found;
} loaded_t;

static int find_loaded(struct dl_phdr_info *info, size_t size, void *ctx)
{
    (void)size;
    loaded_t *l = ctx;
    if (strcmp(info->dlpi_name, l->path) != 0)
        return 0;
    l->found = 1;
    l->bias = info->dlpi_addr;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE)
            continue;
        const uint8_t *p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr), *end = p + ph->p_memsz;
        while (p + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
            const uint8_t *name = p + sizeof(*nh), *desc = name + ((nh->n_namesz + 3) & ~3u);
            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && memcmp(name, "GNU", 4) == 0 &&
                nh->n_descsz <= sizeof(l->id)) {
                memcpy(l->id, desc, nh->n_descsz);
                l->id_len = nh->n_descsz;
            }
            p = desc + ((nh->n_descsz + 3) & ~3u);
        }
    }
    return 1;
}

typedef int (*entry_fn)(int);

/* dlopens path, calls `entry` and returns the pc of its call into leaf(). */
static uint64_t call_site_pc(const char *path, const char *entry, loaded_t *l)
{
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    ck_assert_msg(h != NULL, "dlopen %s: %s", path, dlerror());
    entry_fn fn = (entry_fn)dlsym(h, entry);
    void *(*ra)(void) = (void *(*)(void))dlsym(h, "hs_sym_ra");
    ck_assert_ptr_nonnull(fn);
    ck_assert_ptr_nonnull(ra);
    fn(3);
    memset(l, 0, sizeof(*l));
    l->path = path;
    dl_iterate_phdr(find_loaded, l);
    ck_assert(l->found);
    return (uint64_t)(uintptr_t)ra() - 1; /* inside the call instruction, as recorded */
}

static const char *base_name(const char *p)
{
    const char *slash = p ? strrchr(p, '/') : NULL;
    return slash ? slash + 1 : p;
}

static void check_source(const hs_sym_line_t *l, const char *function, const char *file, uint32_t line)
{
    ck_assert_str_eq(l->function, function);
    ck_assert_ptr_nonnull(l->file);
    ck_assert_msg(l->file[0] == '/', "relative source path %s", l->file);
    ck_assert_str_eq(base_name(l->file), file);
    ck_assert_uint_eq(l->line, line);
}

static void check_line(const hs_sym_line_t *l, const char *function, uint32_t line)
{
    check_source(l, function, "symtest.c", line);
}

static void check_inline_chain(const char *path)
{
    warnings_t w;
    hs_symbolizer_t *s = new_symbolizer(&w);
    loaded_t l;
    uint64_t pc = call_site_pc(path, "hs_sym_outer", &l);
    hs_sym_line_t out[8];
    int n = hs_symbolizer_lookup(s, path, l.id, l.id_len, l.bias, pc, out, 8);
    ck_assert_int_eq(n, 3);
    check_line(&out[0], "hs_sym_inner", 12);
    check_line(&out[1], "hs_sym_middle", 17);
    check_line(&out[2], "hs_sym_outer", 22);
    ck_assert_int_eq(w.count, 0);
    /* A short buffer gets the innermost lines. */
    n = hs_symbolizer_lookup(s, path, l.id, l.id_len, l.bias, pc, out, 1);
    ck_assert_int_eq(n, 1);
    check_line(&out[0], "hs_sym_inner", 12);
    hs_symbolizer_free(s);
}

START_TEST(inline_chain_innermost_first_with_call_lines) { check_inline_chain(lib_dwarf); }
END_TEST

START_TEST(separate_debug_info_through_debuglink) { check_inline_chain(lib_split); }
END_TEST

START_TEST(plain_call_site_line)
{
    warnings_t w;
    hs_symbolizer_t *s = new_symbolizer(&w);
    loaded_t l;
    uint64_t pc = call_site_pc(lib_dwarf, "hs_sym_plain", &l);
    hs_sym_line_t out[8];
    ck_assert_int_eq(hs_symbolizer_lookup(s, lib_dwarf, NULL, 0, l.bias, pc, out, 8), 1);
    check_line(&out[0], "hs_sym_plain", 27);
    hs_symbolizer_free(s);
}
END_TEST

START_TEST(cxx_names_are_demangled)
{
    warnings_t w;
    hs_symbolizer_t *s = new_symbolizer(&w);
    loaded_t l;
    uint64_t pc = call_site_pc(lib_cxx, "hs_sym_outer", &l);
    hs_sym_line_t out[8];
    ck_assert_int_eq(hs_symbolizer_lookup(s, lib_cxx, l.id, l.id_len, l.bias, pc, out, 8), 1);
    check_source(&out[0], "hs::Box::fill(int)", "symtest_cxx.cc", 11);
    hs_symbolizer_free(s);
}
END_TEST

START_TEST(elf_symbols_without_dwarf)
{
    warnings_t w;
    hs_symbolizer_t *s = new_symbolizer(&w);
    loaded_t l;
    uint64_t pc = call_site_pc(lib_nodwarf, "hs_sym_outer", &l);
    hs_sym_line_t out[8];
    ck_assert_int_eq(hs_symbolizer_lookup(s, lib_nodwarf, l.id, l.id_len, l.bias, pc, out, 8), 1);
    ck_assert_str_eq(out[0].function, "hs_sym_outer");
    ck_assert_ptr_null(out[0].file);
    ck_assert_uint_eq(out[0].line, 0);
    ck_assert_int_eq(w.count, 0);
    hs_symbolizer_free(s);
}
END_TEST

START_TEST(wrong_build_id_symbolizes_nothing_and_warns_once)
{
    warnings_t w;
    hs_symbolizer_t *s = new_symbolizer(&w);
    loaded_t l;
    uint64_t pc = call_site_pc(lib_dwarf, "hs_sym_outer", &l);
    ck_assert_uint_ge(l.id_len, 8);
    uint8_t wrong[64];
    memcpy(wrong, l.id, l.id_len);
    wrong[0] ^= 0xff;
    hs_sym_line_t out[8];
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(hs_symbolizer_lookup(s, lib_dwarf, wrong, l.id_len, l.bias, pc, out, 8), 0);
    ck_assert_int_eq(w.count, 1);
    ck_assert_msg(strstr(w.last, "build-id differs from the recorded one") != NULL, "%s", w.last);
    ck_assert_msg(strstr(w.last, lib_dwarf) != NULL, "%s", w.last);
    /* The right id still works, and a shorter one is just as wrong. */
    ck_assert_int_eq(hs_symbolizer_lookup(s, lib_dwarf, l.id, l.id_len, l.bias, pc, out, 8), 3);
    ck_assert_int_eq(hs_symbolizer_lookup(s, lib_dwarf, l.id, 4, l.bias, pc, out, 8), 0);
    ck_assert_int_eq(w.count, 2);
    hs_symbolizer_free(s);
}
END_TEST

START_TEST(missing_file_warns_once)
{
    warnings_t w;
    hs_symbolizer_t *s = new_symbolizer(&w);
    hs_sym_line_t out[8];
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(
            hs_symbolizer_lookup(s, "/nonexistent/libgone.so", NULL, 0, 0x1000, 0x1234 + (uint64_t)i, out, 8), 0);
    ck_assert_int_eq(w.count, 1);
    ck_assert_msg(strstr(w.last, "heapscope: warning: /nonexistent/libgone.so: cannot open") == w.last, "%s", w.last);
    /* " (deleted)" names the same file. */
    ck_assert_int_eq(hs_symbolizer_lookup(s, "/nonexistent/libgone.so (deleted)", NULL, 0, 0, 1, out, 8), 0);
    ck_assert_int_eq(w.count, 1);
    hs_symbolizer_free(s);
}
END_TEST

START_TEST(hostile_paths_and_pcs_do_not_crash)
{
    warnings_t w;
    hs_symbolizer_t *s = new_symbolizer(&w);
    hs_sym_line_t out[8];
    const char *silent[] = {"", "[vdso]", "[heap]", "linux-vdso.so.1", "[stack]"};
    for (size_t i = 0; i < sizeof(silent) / sizeof(silent[0]); i++)
        ck_assert_int_eq(hs_symbolizer_lookup(s, silent[i], NULL, 0, 0, 0x1000, out, 8), 0);
    ck_assert_int_eq(w.count, 0);
    const char *bad[] = {not_elf, truncated, dir, "/dev/null", fifo, "/proc/self/mem"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        for (int k = 0; k < 2; k++)
            ck_assert_int_eq(hs_symbolizer_lookup(s, bad[i], NULL, 0, 0, 0x1000, out, 8), 0);
        ck_assert_int_eq(w.count, (int)i + 1);
    }
    ck_assert_int_eq(hs_symbolizer_lookup(s, NULL, NULL, 0, 0, 0, out, 8), 0);
    ck_assert_int_eq(hs_symbolizer_lookup(s, lib_dwarf, NULL, 0, 0, 0x1000, out, 0), 0);
    /* pcs outside the file, including ones below the load bias. */
    loaded_t l;
    uint64_t pc = call_site_pc(lib_dwarf, "hs_sym_outer", &l);
    ck_assert_int_eq(hs_symbolizer_lookup(s, lib_dwarf, NULL, 0, l.bias, l.bias + 0x7fffffffull, out, 8), 0);
    ck_assert_int_eq(hs_symbolizer_lookup(s, lib_dwarf, NULL, 0, l.bias, 0, out, 8), 0);
    ck_assert_int_eq(hs_symbolizer_lookup(s, lib_dwarf, NULL, 0, l.bias, UINT64_MAX, out, 8), 0);
    ck_assert_int_eq(hs_symbolizer_lookup(s, lib_dwarf, NULL, 0, l.bias, pc, out, 8), 3);
    hs_symbolizer_free(s);
    hs_symbolizer_free(NULL);
}
END_TEST

START_TEST(cache_returns_identical_pointers)
{
    warnings_t w;
    hs_symbolizer_t *s = new_symbolizer(&w);
    loaded_t l;
    uint64_t pc = call_site_pc(lib_dwarf, "hs_sym_outer", &l);
    hs_sym_line_t a[8], b[8];
    ck_assert_int_eq(hs_symbolizer_lookup(s, lib_dwarf, l.id, l.id_len, l.bias, pc, a, 8), 3);
    /* Same file, another load bias, same ELF address: the same entry. */
    ck_assert_int_eq(hs_symbolizer_lookup(s, lib_dwarf, l.id, l.id_len, 0x10000000, pc - l.bias + 0x10000000, b, 8), 3);
    uint64_t hits, resolved;
    hs_symbolizer_counts(s, &hits, &resolved);
    ck_assert_uint_eq(hits, 1);
    ck_assert_uint_eq(resolved, 1);
    for (int i = 0; i < 3; i++) {
        ck_assert_ptr_eq(a[i].function, b[i].function);
        ck_assert_ptr_eq(a[i].file, b[i].file);
        ck_assert_uint_eq(a[i].line, b[i].line);
    }
    /* Interned: one pointer for the one source file. */
    ck_assert_ptr_eq(a[0].file, a[2].file);
    hs_symbolizer_free(s);
}
END_TEST

static int find_libc(struct dl_phdr_info *info, size_t size, void *ctx)
{
    (void)size;
    loaded_t *l = ctx;
    if (!strstr(info->dlpi_name, "/libc.so.6"))
        return 0;
    l->path = info->dlpi_name;
    l->bias = info->dlpi_addr;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
            memcpy(l->id, &ph->p_vaddr, sizeof(ph->p_vaddr)); /* text start */
            memcpy(l->id + 8, &ph->p_memsz, sizeof(ph->p_memsz));
            l->found = 1;
        }
    }
    return l->found;
}

START_TEST(libc_lookups_are_fast)
{
    warnings_t w;
    hs_symbolizer_t *s = new_symbolizer(&w);
    loaded_t l;
    memset(&l, 0, sizeof(l));
    dl_iterate_phdr(find_libc, &l);
    ck_assert(l.found);
    uint64_t text, size;
    memcpy(&text, l.id, 8);
    memcpy(&size, l.id + 8, 8);
    enum { DISTINCT = 1000, LOOKUPS = 100000 };
    uint64_t step = size / DISTINCT;
    struct timespec t0, t1, t2;
    hs_sym_line_t out[HS_SYMBOLIZE_MAX_LINES];
    /* Opening libc (and inflating its compressed debug sections, when
     * libc6-dbg is installed) is paid once per analyzer run: timed apart. */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    hs_symbolizer_lookup(s, l.path, NULL, 0, l.bias, l.bias + text + step / 2, out, HS_SYMBOLIZE_MAX_LINES);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    int named = 0;
    for (int i = 0; i < LOOKUPS; i++) {
        uint64_t pc = l.bias + text + (uint64_t)(i % DISTINCT) * step + 1;
        named += hs_symbolizer_lookup(s, l.path, NULL, 0, l.bias, pc, out, HS_SYMBOLIZE_MAX_LINES) > 0;
    }
    clock_gettime(CLOCK_MONOTONIC, &t2);
    double open_secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    double secs = (double)(t2.tv_sec - t1.tv_sec) + (double)(t2.tv_nsec - t1.tv_nsec) / 1e9;
    uint64_t hits, resolved;
    hs_symbolizer_counts(s, &hits, &resolved);
    printf("symbolize: opening libc %.3f s; %d lookups of %d libc pcs %.3f s (%llu resolved, %llu cached, %d named)\n",
           open_secs, LOOKUPS, DISTINCT, secs, (unsigned long long)resolved, (unsigned long long)hits, named);
    ck_assert_uint_eq(resolved, DISTINCT + 1);
    ck_assert_int_ge(named, LOOKUPS / 2);
    ck_assert_msg(secs < 1.0, "%.3f s", secs);
    /* libc's own malloc (not a sanitizer's), by address. */
    void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    ck_assert_ptr_nonnull(libc);
    uint64_t malloc_pc = (uint64_t)(uintptr_t)dlsym(libc, "malloc") + 4;
    dlclose(libc);
    ck_assert_int_ge(hs_symbolizer_lookup(s, l.path, NULL, 0, l.bias, malloc_pc, out, HS_SYMBOLIZE_MAX_LINES), 1);
    ck_assert_msg(strstr(out[0].function, "malloc") != NULL, "%s", out[0].function);
    ck_assert_int_eq(w.count, 0);
    hs_symbolizer_free(s);
}
END_TEST

/* [start, end) of the .symtab function whose name starts with `name`. */
static int symtab_range(const char *path, const char *name, uint64_t *start, uint64_t *end)
{
    elf_version(EV_CURRENT);
    int fd = open(path, O_RDONLY);
    Elf *elf = fd >= 0 ? elf_begin(fd, ELF_C_READ, NULL) : NULL;
    int found = 0;
    for (Elf_Scn *scn = elf ? elf_nextscn(elf, NULL) : NULL; scn && !found; scn = elf_nextscn(elf, scn)) {
        GElf_Shdr sh;
        if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB || !sh.sh_entsize)
            continue;
        Elf_Data *data = elf_getdata(scn, NULL);
        for (size_t k = 0; data && k < sh.sh_size / sh.sh_entsize && !found; k++) {
            GElf_Sym sym;
            const char *n = gelf_getsym(data, (int)k, &sym) ? elf_strptr(elf, sh.sh_link, sym.st_name) : NULL;
            if (n && GELF_ST_TYPE(sym.st_info) == STT_FUNC && strncmp(n, name, strlen(name)) == 0) {
                *start = sym.st_value;
                *end = sym.st_value + sym.st_size;
                found = 1;
            }
        }
    }
    if (elf)
        elf_end(elf);
    if (fd >= 0)
        close(fd);
    return found;
}

START_TEST(stripped_code_has_function_ranges)
{
    warnings_t w;
    hs_symbolizer_t *s = new_symbolizer(&w);
    /* A pc inside the static hs_sym_hidden, in a copy stripped of .symtab
     * (strip --strip-all keeps .dynsym and .eh_frame). */
    void *h = dlopen(lib_stripped, RTLD_NOW | RTLD_LOCAL);
    ck_assert_msg(h != NULL, "dlopen %s: %s", lib_stripped, dlerror());
    void *(*hidden_pc)(void) = (void *(*)(void))dlsym(h, "hs_sym_hidden_pc");
    ck_assert_ptr_nonnull(hidden_pc);
    uint64_t pc = (uint64_t)(uintptr_t)hidden_pc() - 1;
    loaded_t l;
    memset(&l, 0, sizeof(l));
    l.path = lib_stripped;
    dl_iterate_phdr(find_loaded, &l);
    ck_assert(l.found);
    hs_sym_line_t out[8];
    ck_assert_int_eq(hs_symbolizer_lookup(s, lib_stripped, l.id, l.id_len, l.bias, pc, out, 8), 0);
    /* Its range is the function's, as the unstripped copy's .symtab has it. */
    uint64_t want_start, want_end, start = 0, end = 0;
    ck_assert(symtab_range(lib_nodwarf, "hs_sym_hidden", &want_start, &want_end));
    ck_assert_int_eq(hs_symbolizer_function_range(s, lib_stripped, l.id, l.id_len, l.bias, pc, &start, &end), 1);
    ck_assert_msg(start == want_start && end == want_end, "[%#llx, %#llx) want [%#llx, %#llx)",
                  (unsigned long long)start, (unsigned long long)end, (unsigned long long)want_start,
                  (unsigned long long)want_end);
    ck_assert(pc - l.bias >= start && pc - l.bias < end);
    /* Cached per (file, pc), beside the lookup's answer; another pc of the
     * same function finds the same range. */
    uint64_t hits, resolved, s2, e2;
    ck_assert_int_eq(hs_symbolizer_function_range(s, lib_stripped, l.id, l.id_len, l.bias, pc, &s2, &e2), 1);
    hs_symbolizer_range_counts(s, &hits, &resolved);
    ck_assert_uint_eq(hits, 1);
    ck_assert_uint_eq(resolved, 1);
    ck_assert_int_eq(hs_symbolizer_function_range(s, lib_stripped, l.id, l.id_len, l.bias, l.bias + start, &s2, &e2),
                     1);
    ck_assert(s2 == start && e2 == end);
    /* Not code: the ELF header, past the end, a pseudo path, a wrong build-id. */
    ck_assert_int_eq(hs_symbolizer_function_range(s, lib_stripped, l.id, l.id_len, l.bias, l.bias + 0x10, &s2, &e2), 0);
    ck_assert_int_eq(
        hs_symbolizer_function_range(s, lib_stripped, l.id, l.id_len, l.bias, l.bias + 0x7fffffffull, &s2, &e2), 0);
    ck_assert_int_eq(hs_symbolizer_function_range(s, "[vdso]", NULL, 0, 0, 0x1000, &s2, &e2), 0);
    uint8_t other[20] = {1, 2, 3};
    ck_assert_int_eq(hs_symbolizer_function_range(s, lib_stripped, other, sizeof(other), l.bias, pc, &s2, &e2), 0);
    ck_assert_int_eq(w.count, 1); /* the build-id, once */
    /* Code built without unwind tables has no FDE: no range (its frames
     * keep their bare pc as a name). */
    void *hn = dlopen(lib_nocfi, RTLD_NOW | RTLD_LOCAL);
    ck_assert_msg(hn != NULL, "dlopen %s: %s", lib_nocfi, dlerror());
    void *(*nocfi_pc)(void) = (void *(*)(void))dlsym(hn, "hs_sym_hidden_pc");
    ck_assert_ptr_nonnull(nocfi_pc);
    uint64_t pc2 = (uint64_t)(uintptr_t)nocfi_pc() - 1;
    loaded_t l2;
    memset(&l2, 0, sizeof(l2));
    l2.path = lib_nocfi;
    dl_iterate_phdr(find_loaded, &l2);
    ck_assert(l2.found);
    ck_assert_int_eq(hs_symbolizer_lookup(s, lib_nocfi, l2.id, l2.id_len, l2.bias, pc2, out, 8), 0);
    ck_assert_int_eq(hs_symbolizer_function_range(s, lib_nocfi, l2.id, l2.id_len, l2.bias, pc2, &s2, &e2), 0);
    /* Hostile files: no crash, no range. */
    const char *bad[] = {not_elf, truncated, dir, fifo};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_int_eq(hs_symbolizer_function_range(s, bad[i], NULL, 0, 0, 0x1000, &s2, &e2), 0);
    hs_symbolizer_free(s);
}
END_TEST

static int run(const char *cmd)
{
    int rc = system(cmd);
    if (rc != 0)
        fprintf(stderr, "test_symbolize: failed (%d): %s\n", rc, cmd);
    return rc;
}

/* Builds the fixtures once; forked tests inherit the paths. */
static int build_fixtures(void)
{
    snprintf(dir, sizeof dir, "/tmp/hs_symtest.XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    char src[128], cmd[2048];
    snprintf(src, sizeof src, "%s/symtest.c", dir);
    FILE *f = fopen(src, "w");
    if (!f || fputs(lib_source, f) < 0 || fclose(f) != 0)
        return -1;
    snprintf(src, sizeof src, "%s/symtest_cxx.cc", dir);
    f = fopen(src, "w");
    if (!f || fputs(cxx_source, f) < 0 || fclose(f) != 0)
        return -1;
    snprintf(lib_cxx, sizeof lib_cxx, "%s/libsym_cxx.so", dir);
    snprintf(lib_dwarf, sizeof lib_dwarf, "%s/libsym_dwarf.so", dir);
    snprintf(lib_nodwarf, sizeof lib_nodwarf, "%s/libsym_nodwarf.so", dir);
    snprintf(lib_split, sizeof lib_split, "%s/libsym_split.so", dir);
    snprintf(lib_stripped, sizeof lib_stripped, "%s/libsym_stripped.so", dir);
    snprintf(lib_nocfi, sizeof lib_nocfi, "%s/libsym_nocfi.so", dir);
    snprintf(not_elf, sizeof not_elf, "%s/not_elf.so", dir);
    snprintf(truncated, sizeof truncated, "%s/truncated.so", dir);
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    /* The directory is the cwd so that DW_AT_comp_dir is the absolute dir and
     * the file name relative: the symbolizer must join them. */
    const char *flags = "-O2 -fPIC -shared -fno-optimize-sibling-calls -Wl,--build-id=sha1";
    snprintf(cmd, sizeof cmd,
             "cd %s && cc %s -g -o libsym_dwarf.so symtest.c && cc %s -g0 -o libsym_nodwarf.so symtest.c && "
             "g++ %s -g -o libsym_cxx.so symtest_cxx.cc && "
             "cp libsym_dwarf.so libsym_split.so && objcopy --only-keep-debug libsym_split.so libsym_split.so.debug && "
             "objcopy --strip-debug --add-gnu-debuglink=libsym_split.so.debug libsym_split.so && "
             "cp libsym_nodwarf.so libsym_stripped.so && strip --strip-all libsym_stripped.so && "
             "cc %s -g0 -fno-asynchronous-unwind-tables -fno-unwind-tables -o libsym_nocfi.so symtest.c && "
             "strip --strip-all libsym_nocfi.so && "
             "echo 'not an ELF file' > not_elf.so && head -c 100 libsym_dwarf.so > truncated.so && mkfifo fifo",
             dir, flags, flags, flags, flags);
    return run(cmd);
}

int main(void)
{
    if (build_fixtures() != 0)
        return EXIT_FAILURE;
    Suite *s = suite_create("symbolize");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, inline_chain_innermost_first_with_call_lines);
    tcase_add_test(tc, separate_debug_info_through_debuglink);
    tcase_add_test(tc, plain_call_site_line);
    tcase_add_test(tc, cxx_names_are_demangled);
    tcase_add_test(tc, elf_symbols_without_dwarf);
    tcase_add_test(tc, wrong_build_id_symbolizes_nothing_and_warns_once);
    tcase_add_test(tc, missing_file_warns_once);
    tcase_add_test(tc, hostile_paths_and_pcs_do_not_crash);
    tcase_add_test(tc, cache_returns_identical_pointers);
    tcase_add_test(tc, libc_lookups_are_fast);
    tcase_add_test(tc, stripped_code_has_function_ranges);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    run(cmd);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
