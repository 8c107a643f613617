/* symbolize.c - turns (file, load bias, pc) into function, file:line and
 * inline chains with elfutils libdwfl, offline: one Dwfl per ELF file,
 * opened on first use and reported at its own link-time addresses; and a
 * pc no symbol names into its function's range from the file's call-frame
 * information (cfi.c, read once per file). It must never crash or stall
 * on what a dump names (missing files, directories, FIFOs, non-ELF data,
 * "[vdso]", pcs outside the file) and never symbolize a file whose
 * build-id differs from the recorded one. Memory grows only with
 * the files and pcs asked about. Neighbours: the analyzer's model (mappings)
 * and the pprof encoder (Location.line order, innermost first). */
#include "symbolize.h"

#include <dlfcn.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfi.h"

/* ---------------------------------------------------------------------------
 * String map: owned NUL-terminated keys -> uint32 value, open addressing.
 * Used to intern every string handed out (so equal names share a pointer,
 * which the pprof string table likes) and to find a file record by path. */

typedef struct {
    char **keys;
    uint64_t *hashes;
    uint32_t *values;
    size_t cap, count; /* cap is 0 or a power of two */
} strmap_t;

static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static int strmap_grow(strmap_t *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    char **keys = calloc(cap, sizeof(*keys));
    uint64_t *hashes = calloc(cap, sizeof(*hashes));
    uint32_t *values = calloc(cap, sizeof(*values));
    if (!keys || !hashes || !values) {
        free(keys);
        free(hashes);
        free(values);
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i])
            continue;
        size_t j = m->hashes[i] & (cap - 1);
        while (keys[j])
            j = (j + 1) & (cap - 1);
        keys[j] = m->keys[i];
        hashes[j] = m->hashes[i];
        values[j] = m->values[i];
    }
    free(m->keys);
    free(m->hashes);
    free(m->values);
    m->keys = keys;
    m->hashes = hashes;
    m->values = values;
    m->cap = cap;
    return 0;
}

/* Finds str[0..len) or inserts it with value `fresh`. Returns the owned key
 * (NULL on OOM) and its value in *value. */
static const char *strmap_intern(strmap_t *m, const char *str, size_t len, uint32_t fresh, uint32_t *value)
{
    uint64_t h = hash_bytes(str, len);
    if (m->cap) {
        for (size_t j = h & (m->cap - 1); m->keys[j]; j = (j + 1) & (m->cap - 1)) {
            if (m->hashes[j] == h && strncmp(m->keys[j], str, len) == 0 && m->keys[j][len] == '\0') {
                if (value)
                    *value = m->values[j];
                return m->keys[j];
            }
        }
    }
    if ((m->count + 1) * 2 > m->cap && strmap_grow(m) != 0)
        return NULL;
    char *key = malloc(len + 1);
    if (!key)
        return NULL;
    memcpy(key, str, len);
    key[len] = '\0';
    size_t j = h & (m->cap - 1);
    while (m->keys[j])
        j = (j + 1) & (m->cap - 1);
    m->keys[j] = key;
    m->hashes[j] = h;
    m->values[j] = fresh;
    m->count++;
    if (value)
        *value = fresh;
    return key;
}

static void strmap_free(strmap_t *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->keys[i]);
    free(m->keys);
    free(m->hashes);
    free(m->values);
}

/* ---------------------------------------------------------------------------
 * Files and the result cache. */

enum { FILE_UNOPENED, FILE_READY, FILE_FAILED };

/* A build-id some mapping recorded for this file, and whether it matched. */
typedef struct recorded_id {
    struct recorded_id *next;
    int matches;
    uint32_t len;
    uint8_t bytes[];
} recorded_id_t;

typedef struct {
    const char *path; /* interned, " (deleted)" stripped */
    int state;
    Dwfl *dwfl;
    Dwfl_Module *mod;
    Dwarf_Addr bias;               /* Dwfl address = ELF vaddr + bias */
    Dwarf_Addr low, high;          /* the module's Dwfl address range */
    const unsigned char *build_id; /* owned by dwfl */
    int build_id_len;
    recorded_id_t *recorded;
    int cfi_read;         /* cfi below is read (NULL: the file has no usable FDEs) */
    hs_cfi_ranges_t *cfi; /* its functions' ranges, read on the first range asked for */
} sym_file_t;

/* One cached answer: lines[first .. first+count) of the symbolizer, and
 * the function range of an address those lines do not name. */
#define RANGE_UNASKED 0u
#define RANGE_NONE UINT32_MAX
typedef struct {
    uint64_t vaddr;
    uint64_t range_start; /* the FDE holding vaddr, when range_length says there is one */
    uint32_t file;        /* index + 1; 0 = empty slot */
    uint32_t count;
    uint32_t first;
    uint32_t range_length; /* RANGE_UNASKED, RANGE_NONE (no FDE) or the FDE's length */
} cache_slot_t;

typedef char *(*demangle_fn)(const char *mangled, char *out, size_t *len, int *status);

struct hs_symbolizer {
    void (*warn)(void *ctx, const char *msg);
    void *warn_ctx;
    strmap_t strings;
    strmap_t paths; /* path -> index into files */
    sym_file_t *files;
    uint32_t file_count, file_cap;
    cache_slot_t *cache;
    size_t cache_cap, cache_count;
    hs_sym_line_t *lines;
    size_t line_count, line_cap;
    void *libstdcxx; /* dlopen handle for __cxa_demangle, loaded on the first "_Z" name */
    demangle_fn demangle;
    int demangle_tried;
    uint64_t hits, resolved;
    uint64_t range_hits, range_resolved;
};

static char *debuginfo_path; /* NULL: libdwfl's default ":.debug:/usr/lib/debug" */
static const Dwfl_Callbacks offline_callbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
    .debuginfo_path = &debuginfo_path,
};

static void warn_stderr(void *ctx, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "%s\n", msg);
}

static void warnf(hs_symbolizer_t *s, const char *path, const char *what, const char *detail)
{
    char msg[4096 + 256];
    snprintf(msg, sizeof msg, "heapscope: warning: %s: %s%s%s%s; its frames stay unsymbolized", path, what,
             detail ? " (" : "", detail ? detail : "", detail ? ")" : "");
    s->warn(s->warn_ctx, msg);
}

hs_symbolizer_t *hs_symbolizer_new(void)
{
    hs_symbolizer_t *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->warn = warn_stderr;
    return s;
}

void hs_symbolizer_free(hs_symbolizer_t *s)
{
    if (!s)
        return;
    for (uint32_t i = 0; i < s->file_count; i++) {
        if (s->files[i].dwfl)
            dwfl_end(s->files[i].dwfl);
        hs_cfi_ranges_free(s->files[i].cfi);
        for (recorded_id_t *r = s->files[i].recorded, *next; r; r = next) {
            next = r->next;
            free(r);
        }
    }
    free(s->files);
    free(s->cache);
    free(s->lines);
    strmap_free(&s->strings);
    strmap_free(&s->paths);
    if (s->libstdcxx)
        dlclose(s->libstdcxx);
    free(s);
}

void hs_symbolizer_set_warn(hs_symbolizer_t *s, void (*warn)(void *ctx, const char *msg), void *ctx)
{
    s->warn = warn ? warn : warn_stderr;
    s->warn_ctx = warn ? ctx : NULL;
}

void hs_symbolizer_counts(const hs_symbolizer_t *s, uint64_t *cache_hits, uint64_t *resolved)
{
    if (cache_hits)
        *cache_hits = s->hits;
    if (resolved)
        *resolved = s->resolved;
}

static const char *intern(hs_symbolizer_t *s, const char *str)
{
    return str ? strmap_intern(&s->strings, str, strlen(str), 0, NULL) : NULL;
}

/* C++ names through libstdc++'s demangler, found at run time so that the CLI
 * stays a C program; without it mangled names fall back to DW_AT_name. */
static const char *demangled(hs_symbolizer_t *s, const char *mangled)
{
    if (strncmp(mangled, "_Z", 2) != 0)
        return NULL;
    if (!s->demangle_tried) {
        s->demangle_tried = 1;
        s->libstdcxx = dlopen("libstdc++.so.6", RTLD_LAZY | RTLD_LOCAL);
        if (s->libstdcxx)
            s->demangle = (demangle_fn)dlsym(s->libstdcxx, "__cxa_demangle");
    }
    if (!s->demangle)
        return NULL;
    int status = -1;
    char *out = s->demangle(mangled, NULL, NULL, &status);
    const char *name = status == 0 && out ? intern(s, out) : NULL;
    free(out);
    return name;
}

static const char *symbol_name(hs_symbolizer_t *s, const char *raw)
{
    if (!raw || !*raw)
        return NULL;
    const char *d = demangled(s, raw);
    return d ? d : intern(s, raw);
}

static const char *die_name(hs_symbolizer_t *s, Dwarf_Die *die)
{
    Dwarf_Attribute attr;
    const char *linkage = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_linkage_name, &attr));
    if (!linkage)
        linkage = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr));
    if (linkage) {
        const char *d = demangled(s, linkage);
        if (d)
            return d;
    }
    const char *name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_name, &attr));
    if (name)
        return intern(s, name);
    return linkage ? intern(s, linkage) : NULL;
}

/* libdw already joins relative names with the directory table (whose entry 0
 * is DW_AT_comp_dir); this covers producers that leave them relative. */
static const char *source_path(hs_symbolizer_t *s, Dwarf_Die *cu, const char *file)
{
    if (!file || !*file)
        return NULL;
    Dwarf_Attribute attr;
    const char *dir = file[0] == '/' || !cu ? NULL : dwarf_formstring(dwarf_attr(cu, DW_AT_comp_dir, &attr));
    if (!dir || dir[0] != '/')
        return intern(s, file);
    size_t dl = strlen(dir), fl = strlen(file);
    char *joined = malloc(dl + fl + 2);
    if (!joined)
        return NULL;
    memcpy(joined, dir, dl);
    joined[dl] = '/';
    memcpy(joined + dl + 1, file, fl + 1);
    const char *out = intern(s, joined);
    free(joined);
    return out;
}

static int is_pseudo_path(const char *path)
{
    return path[0] == '\0' || path[0] == '[' || strcmp(path, "linux-vdso.so.1") == 0 ||
           strcmp(path, "linux-vdso64.so.1") == 0 || strcmp(path, "linux-gate.so.1") == 0 ||
           strncmp(path, "anon_inode:", 11) == 0;
}

/* Opens f->path as a Dwfl module at its link-time addresses. O_NONBLOCK and
 * the S_ISREG check keep a FIFO or device named by a dump from stalling us. */
static void file_open(hs_symbolizer_t *s, sym_file_t *f)
{
    f->state = FILE_FAILED;
    int fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        warnf(s, f->path, "cannot open", strerror(errno));
        return;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        warnf(s, f->path, "not a regular file", NULL);
        return;
    }
    f->dwfl = dwfl_begin(&offline_callbacks);
    if (!f->dwfl) {
        close(fd);
        warnf(s, f->path, "cannot start libdwfl", dwfl_errmsg(-1));
        return;
    }
    dwfl_report_begin(f->dwfl);
    const char *base = strrchr(f->path, '/');
    /* On success libdwfl owns fd (closed by dwfl_end); on failure we do. */
    f->mod = dwfl_report_elf(f->dwfl, base ? base + 1 : f->path, f->path, fd, 0, true);
    if (!f->mod) {
        close(fd);
        warnf(s, f->path, "not a usable ELF file", dwfl_errmsg(-1));
        return;
    }
    dwfl_report_end(f->dwfl, NULL, NULL);
    if (!dwfl_module_getelf(f->mod, &f->bias)) {
        warnf(s, f->path, "not a usable ELF file", dwfl_errmsg(-1));
        return;
    }
    dwfl_module_info(f->mod, NULL, &f->low, &f->high, NULL, NULL, NULL, NULL);
    GElf_Addr id_vaddr;
    f->build_id_len = dwfl_module_build_id(f->mod, &f->build_id, &id_vaddr);
    if (f->build_id_len < 0)
        f->build_id_len = 0;
    f->state = FILE_READY;
}

/* Whether the file on disk is the one recorded; warns once per (file, id). */
static int build_id_matches(hs_symbolizer_t *s, sym_file_t *f, const uint8_t *id, uint32_t len)
{
    if (!id || len == 0)
        return 1;
    for (recorded_id_t *r = f->recorded; r; r = r->next)
        if (r->len == len && memcmp(r->bytes, id, len) == 0)
            return r->matches;
    int matches = f->build_id_len == (int)len && memcmp(f->build_id, id, len) == 0;
    recorded_id_t *r = malloc(sizeof(*r) + len);
    if (r) {
        r->matches = matches;
        r->len = len;
        memcpy(r->bytes, id, len);
        r->next = f->recorded;
        f->recorded = r;
    }
    if (!matches)
        warnf(s, f->path,
              f->build_id_len ? "build-id differs from the recorded one" : "has no build-id but one was recorded",
              NULL);
    return matches;
}

static sym_file_t *file_for(hs_symbolizer_t *s, const char *path, uint32_t *index)
{
    size_t len = strlen(path);
    static const char deleted[] = " (deleted)";
    if (len > sizeof(deleted) - 1 && strcmp(path + len - (sizeof(deleted) - 1), deleted) == 0)
        len -= sizeof(deleted) - 1;
    if (s->file_count == s->file_cap) {
        uint32_t cap = s->file_cap ? s->file_cap * 2 : 16;
        sym_file_t *files = realloc(s->files, cap * sizeof(*files));
        if (!files)
            return NULL;
        s->files = files;
        s->file_cap = cap;
    }
    uint32_t i;
    const char *key = strmap_intern(&s->paths, path, len, s->file_count, &i);
    if (!key)
        return NULL;
    if (i == s->file_count) {
        memset(&s->files[i], 0, sizeof(s->files[i]));
        s->files[i].path = key;
        s->file_count++;
    }
    *index = i;
    return &s->files[i];
}

/* ---------------------------------------------------------------------------
 * The lookup proper. */

/* The ELF symbol covering addr, if it is code: a pc that lands in data
 * (a bogus frame) must not be named after a table. */
static const char *elf_function(hs_symbolizer_t *s, sym_file_t *f, Dwarf_Addr addr)
{
    GElf_Off off;
    GElf_Sym sym;
    const char *raw = dwfl_module_addrinfo(f->mod, addr, &off, &sym, NULL, NULL, NULL);
    int type = raw ? GELF_ST_TYPE(sym.st_info) : STT_NOTYPE;
    if (type != STT_FUNC && type != STT_GNU_IFUNC && type != STT_NOTYPE)
        return NULL;
    return symbol_name(s, raw);
}

/* The DIEs containing a pc, outermost first, found by descending from the
 * CU only into children that contain it (dwarf_getscopes would also walk the
 * whole CU of each inline's abstract origin: 4x slower on libc). Namespaces
 * and modules carry no pc ranges, so those are searched through. */
#define MAX_SCOPES 128
#define MAX_NESTING 256

typedef struct {
    Dwarf_Die dies[MAX_SCOPES];
    int count;
} scope_chain_t;

static int find_scopes(Dwarf_Die *parent, Dwarf_Addr pc, scope_chain_t *chain, int nesting)
{
    Dwarf_Die child;
    if (chain->count == MAX_SCOPES || nesting > MAX_NESTING || dwarf_child(parent, &child) != 0)
        return 0;
    do {
        int tag = dwarf_tag(&child);
        switch (tag) {
        case DW_TAG_subprogram:
        case DW_TAG_inlined_subroutine:
        case DW_TAG_entry_point:
        case DW_TAG_lexical_block:
        case DW_TAG_try_block:
        case DW_TAG_catch_block:
        case DW_TAG_with_stmt:
        case DW_TAG_namespace:
        case DW_TAG_module:
            if (dwarf_haspc(&child, pc) > 0) {
                chain->dies[chain->count++] = child;
                find_scopes(&child, pc, chain, nesting + 1);
                return 1;
            }
            if ((tag == DW_TAG_namespace || tag == DW_TAG_module || tag == DW_TAG_lexical_block) &&
                !dwarf_hasattr(&child, DW_AT_low_pc) && !dwarf_hasattr(&child, DW_AT_ranges) &&
                find_scopes(&child, pc, chain, nesting + 1))
                return 1;
            break;
        default: break;
        }
    } while (dwarf_siblingof(&child, &child) == 0);
    return 0;
}

/* Fills lines[] for Dwfl address addr; returns the count. Like
 * eu-addr2line -i: walking out from the innermost scope, each inlined
 * instance names a line, and its DW_AT_call_file/line is where its caller
 * stands; the subprogram that physically holds addr ends the chain. */
static int describe(hs_symbolizer_t *s, sym_file_t *f, Dwarf_Addr addr, hs_sym_line_t *lines, int max)
{
    Dwarf_Addr cu_bias = 0;
    Dwarf_Die *cudie = dwfl_module_addrdie(f->mod, addr, &cu_bias);
    const char *file = NULL;
    uint32_t line = 0;
    Dwfl_Line *dl = dwfl_module_getsrc(f->mod, addr);
    if (dl) {
        Dwarf_Addr line_addr;
        int lineno = 0, col;
        Dwarf_Word mtime, length;
        file = source_path(s, cudie, dwfl_lineinfo(dl, &line_addr, &lineno, &col, &mtime, &length));
        line = lineno > 0 ? (uint32_t)lineno : 0;
    }
    int n = 0, reached_subprogram = 0;
    scope_chain_t chain; /* 4 KiB */
    chain.count = 0;
    if (cudie)
        find_scopes(cudie, addr - cu_bias, &chain, 0);
    for (int i = chain.count - 1; i >= 0 && n < max; i--) {
        Dwarf_Die *die = &chain.dies[i];
        int tag = dwarf_tag(die);
        if (tag != DW_TAG_inlined_subroutine && tag != DW_TAG_subprogram && tag != DW_TAG_entry_point)
            continue;
        const char *name = die_name(s, die);
        if (!name && tag != DW_TAG_inlined_subroutine)
            name = elf_function(s, f, addr);
        lines[n].function = name ? name : intern(s, "??");
        lines[n].file = file;
        lines[n].line = line;
        if (!lines[n].function)
            break; /* OOM */
        n++;
        if (tag != DW_TAG_inlined_subroutine) {
            reached_subprogram = 1;
            break;
        }
        /* The caller's position is where this instance was inlined. */
        Dwarf_Die cu;
        Dwarf_Files *files = NULL;
        size_t nfiles = 0;
        Dwarf_Attribute attr;
        Dwarf_Word value;
        file = NULL;
        line = 0;
        if (dwarf_formudata(dwarf_attr(die, DW_AT_call_file, &attr), &value) == 0 &&
            dwarf_diecu(die, &cu, NULL, NULL) && dwarf_getsrcfiles(&cu, &files, &nfiles) == 0 && value < nfiles)
            file = source_path(s, &cu, dwarf_filesrc(files, value, NULL, NULL));
        if (dwarf_formudata(dwarf_attr(die, DW_AT_call_line, &attr), &value) == 0 && value <= UINT32_MAX)
            line = (uint32_t)value;
    }
    if (!reached_subprogram && n < max) {
        /* No DWARF here (stripped file, assembly) or a chain without its
         * subprogram: the ELF symbol table names the physical function. */
        const char *name = elf_function(s, f, addr);
        if (name) {
            lines[n].function = name;
            lines[n].file = file;
            lines[n].line = line;
            n++;
        }
    }
    return n;
}

static uint64_t mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static cache_slot_t *cache_find(hs_symbolizer_t *s, uint32_t file, uint64_t vaddr)
{
    if (!s->cache_cap)
        return NULL;
    for (size_t j = mix(vaddr ^ ((uint64_t)file << 48)) & (s->cache_cap - 1); s->cache[j].file;
         j = (j + 1) & (s->cache_cap - 1))
        if (s->cache[j].file == file && s->cache[j].vaddr == vaddr)
            return &s->cache[j];
    return NULL;
}

static int cache_insert(hs_symbolizer_t *s, uint32_t file, uint64_t vaddr, const hs_sym_line_t *lines, int n)
{
    if ((s->cache_count + 1) * 2 > s->cache_cap) {
        size_t cap = s->cache_cap ? s->cache_cap * 2 : 1024;
        cache_slot_t *slots = calloc(cap, sizeof(*slots));
        if (!slots)
            return -1;
        for (size_t i = 0; i < s->cache_cap; i++) {
            if (!s->cache[i].file)
                continue;
            size_t j = mix(s->cache[i].vaddr ^ ((uint64_t)s->cache[i].file << 48)) & (cap - 1);
            while (slots[j].file)
                j = (j + 1) & (cap - 1);
            slots[j] = s->cache[i];
        }
        free(s->cache);
        s->cache = slots;
        s->cache_cap = cap;
    }
    if (s->line_count + (size_t)n > s->line_cap) {
        size_t cap = s->line_cap ? s->line_cap * 2 : 1024;
        while (cap < s->line_count + (size_t)n)
            cap *= 2;
        hs_sym_line_t *grown = realloc(s->lines, cap * sizeof(*grown));
        if (!grown)
            return -1;
        s->lines = grown;
        s->line_cap = cap;
    }
    if (s->line_count + (size_t)n > UINT32_MAX)
        return -1;
    if (n > 0)
        memcpy(s->lines + s->line_count, lines, (size_t)n * sizeof(*lines));
    size_t j = mix(vaddr ^ ((uint64_t)file << 48)) & (s->cache_cap - 1);
    while (s->cache[j].file)
        j = (j + 1) & (s->cache_cap - 1);
    s->cache[j] = (cache_slot_t){.vaddr = vaddr,
                                 .file = file,
                                 .count = (uint32_t)n,
                                 .first = (uint32_t)s->line_count,
                                 .range_length = RANGE_UNASKED};
    s->line_count += (size_t)n;
    s->cache_count++;
    return 0;
}

static int copy_out(const hs_sym_line_t *lines, int n, hs_sym_line_t *out, int max)
{
    if (n > max)
        n = max;
    if (n > 0) /* lines may be NULL when n is 0 */
        memcpy(out, lines, (size_t)n * sizeof(*out));
    return n;
}

/* The file at path, opened on first use, when it is readable and its
 * build-id is the recorded one; NULL otherwise (warned once per file). */
static sym_file_t *ready_file(hs_symbolizer_t *s, const char *path, const uint8_t *build_id, uint32_t build_id_len,
                              uint32_t *index)
{
    sym_file_t *f = file_for(s, path, index);
    if (!f)
        return NULL;
    if (f->state == FILE_UNOPENED)
        file_open(s, f);
    if (f->state != FILE_READY || !build_id_matches(s, f, build_id, build_id_len))
        return NULL;
    return f;
}

int hs_symbolizer_lookup(hs_symbolizer_t *s, const char *path, const uint8_t *build_id, uint32_t build_id_len,
                         uint64_t load_bias, uint64_t pc, hs_sym_line_t *out, int max)
{
    if (!s || !path || !out || max <= 0 || is_pseudo_path(path))
        return 0;
    uint32_t index;
    sym_file_t *f = ready_file(s, path, build_id, build_id_len, &index);
    if (!f)
        return 0;

    uint64_t vaddr = pc - load_bias; /* wraps harmlessly for a bogus pc */
    cache_slot_t *hit = cache_find(s, index + 1, vaddr);
    if (hit) {
        s->hits++;
        return copy_out(s->lines + hit->first, (int)hit->count, out, max);
    }
    s->resolved++;
    hs_sym_line_t lines[HS_SYMBOLIZE_MAX_LINES];
    int n = 0;
    Dwarf_Addr addr = vaddr + f->bias;
    if (addr >= f->low && addr < f->high)
        n = describe(s, f, addr, lines, HS_SYMBOLIZE_MAX_LINES);
    cache_insert(s, index + 1, vaddr, lines, n); /* on OOM just answer uncached */
    return copy_out(lines, n, out, max);
}

/* The FDE holding vaddr, from the file's table (read on first use). */
static uint32_t cfi_range(sym_file_t *f, uint64_t vaddr, uint64_t *start)
{
    if (!f->cfi_read) {
        f->cfi_read = 1;
        Dwarf_Addr bias;
        Elf *elf = dwfl_module_getelf(f->mod, &bias);
        f->cfi = elf ? hs_cfi_ranges_new(elf) : NULL;
    }
    uint64_t end;
    if (!hs_cfi_ranges_find(f->cfi, vaddr, start, &end) || end - *start >= RANGE_NONE)
        return RANGE_NONE;
    return (uint32_t)(end - *start);
}

int hs_symbolizer_function_range(hs_symbolizer_t *s, const char *path, const uint8_t *build_id, uint32_t build_id_len,
                                 uint64_t load_bias, uint64_t pc, uint64_t *start, uint64_t *end)
{
    if (!s || !path || !start || !end || is_pseudo_path(path))
        return 0;
    uint32_t index;
    sym_file_t *f = ready_file(s, path, build_id, build_id_len, &index);
    if (!f)
        return 0;
    uint64_t vaddr = pc - load_bias;
    cache_slot_t *slot = cache_find(s, index + 1, vaddr);
    if (!slot) {
        /* The answer lives in the lookup's slot: make it. */
        hs_sym_line_t lines[HS_SYMBOLIZE_MAX_LINES];
        hs_symbolizer_lookup(s, path, build_id, build_id_len, load_bias, pc, lines, HS_SYMBOLIZE_MAX_LINES);
        slot = cache_find(s, index + 1, vaddr); /* NULL after an OOM: answered uncached */
    }
    uint64_t range_start = 0;
    uint32_t length;
    if (slot && slot->range_length != RANGE_UNASKED) {
        s->range_hits++;
        range_start = slot->range_start;
        length = slot->range_length;
    } else {
        s->range_resolved++;
        length = cfi_range(f, vaddr, &range_start);
        if (slot) {
            slot->range_start = range_start;
            slot->range_length = length;
        }
    }
    if (length == RANGE_NONE)
        return 0;
    *start = range_start;
    *end = range_start + length;
    return 1;
}

void hs_symbolizer_range_counts(const hs_symbolizer_t *s, uint64_t *cache_hits, uint64_t *resolved)
{
    if (cache_hits)
        *cache_hits = s->range_hits;
    if (resolved)
        *resolved = s->range_resolved;
}
