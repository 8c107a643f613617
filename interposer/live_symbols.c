/* live_symbols.c - names addresses in-process for the live profiles and the
 * symbol endpoint (live_pprof.h): a snapshot of the loaded objects'
 * executable segments (dl_iterate_phdr, with paths and build-ids), each
 * profile's locations and mappings added once per address, and one bounded
 * cache of function names shared by every profile. Names come from the
 * objects' own symbol tables (elfsym.c, which maps the file per look-up: the
 * cache makes a second scrape of the same stacks cost no file access).
 * Uses malloc: the server thread and the snapshot stack only. Neighbours:
 * live_heap.c, live_cpu.c and pprof_files.c call it; gzip.c compresses. */
#include "live_pprof.h"

#include <inttypes.h>
#include <link.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "elfsym.h"
#include "gzip.h"
#include "hs_format.h"
#include "identity.h"
#include "objects.h"

#define NAME_MAX_LEN 1024
/* The name cache: at most NAME_SLOTS / 2 names and NAME_POOL bytes of them
 * (768 KiB in all, with the slots); when either fills it starts over
 * empty. A program with more distinct frames than that pays file look-ups
 * again, never memory. */
#define NAME_SLOTS 16384u
#define NAME_POOL (512u << 10)

typedef struct {
    uintptr_t start, end; /* an executable segment, runtime addresses */
    uint64_t file_offset;
    uintptr_t bias; /* the object's load bias: symbol value = address - bias */
    uint32_t object;
    uint64_t mapping_id; /* in the profile; 0 until a location needs it */
} segment_t;

typedef struct {
    char *path;
    char build_id[2 * HS_BUILD_ID_MAX + 1];
} object_t;

typedef struct {
    uint64_t address, id; /* id 0: empty slot */
} location_slot_t;

struct hs_live_syms {
    hs_pprof_t *p;
    segment_t *segments;
    size_t n_segments, segments_cap;
    object_t *objects;
    size_t n_objects, objects_cap;
    location_slot_t *locations;
    size_t n_locations, locations_cap; /* cap: a power of two */
    unsigned long long load_count;     /* dlpi_adds + dlpi_subs when opened */
    int oom;
};

/* ---- the name cache ------------------------------------------------------- */

typedef struct {
    uintptr_t address;
    uint32_t offset; /* in pool */
    uint32_t len;    /* 0: empty slot */
} name_slot_t;

static struct {
    /* Taken with one test-and-set and never waited for: a caller that finds
     * it taken (the server thread and a program thread writing a profile
     * file at once) looks the name up without the cache. A fork child whose
     * parent held it at the fork looks names up uncached from then on. */
    atomic_flag busy;
    name_slot_t *slots;
    char *pool;
    size_t used, n_names;
    unsigned long long load_count; /* the names hold for this set of loaded objects */
} names = {ATOMIC_FLAG_INIT, NULL, NULL, 0, 0, 0};

static size_t slot_of(uintptr_t a) { return (size_t)((a * 0x9E3779B97F4A7C15ull) >> 40) & (NAME_SLOTS - 1); }

static void names_clear(void)
{
    memset(names.slots, 0, NAME_SLOTS * sizeof(name_slot_t));
    names.used = names.n_names = 0;
}

/* With the cache held: copies the cached name of a to out; 1 if found. */
static int names_find(uintptr_t a, char *out, size_t len)
{
    for (size_t i = slot_of(a);; i = (i + 1) & (NAME_SLOTS - 1)) {
        const name_slot_t *s = &names.slots[i];
        if (!s->len)
            return 0;
        if (s->address == a) {
            size_t n = s->len - 1 < len ? s->len - 1 : len - 1;
            memcpy(out, names.pool + s->offset, n);
            out[n] = 0;
            return 1;
        }
    }
}

static void names_add(uintptr_t a, const char *name)
{
    size_t n = strlen(name) + 1;
    if (names.n_names >= NAME_SLOTS / 2 || names.used + n > NAME_POOL)
        names_clear();
    size_t i = slot_of(a);
    while (names.slots[i].len)
        i = (i + 1) & (NAME_SLOTS - 1);
    memcpy(names.pool + names.used, name, n);
    names.slots[i] = (name_slot_t){a, (uint32_t)names.used, (uint32_t)n};
    names.used += n;
    names.n_names++;
}

/* 1 with the cache held and valid for load_count, 0 when it is busy or
 * cannot be had (no memory): then the caller goes without. */
static int names_take(unsigned long long load_count)
{
    if (atomic_flag_test_and_set_explicit(&names.busy, memory_order_acquire))
        return 0;
    if (!names.slots) {
        names.slots = calloc(NAME_SLOTS, sizeof(name_slot_t));
        names.pool = malloc(NAME_POOL);
        if (!names.slots || !names.pool) {
            free(names.slots);
            free(names.pool);
            names.slots = NULL;
            names.pool = NULL;
            atomic_flag_clear_explicit(&names.busy, memory_order_release);
            return 0;
        }
        names.load_count = load_count;
    }
    /* An object loaded or unloaded since: an address may now be another's. */
    if (names.load_count != load_count) {
        names_clear();
        names.load_count = load_count;
    }
    return 1;
}

static void names_give(void) { atomic_flag_clear_explicit(&names.busy, memory_order_release); }

/* ---- the loaded objects --------------------------------------------------- */

static char *copy_string(const char *s)
{
    size_t n = strlen(s) + 1;
    char *c = malloc(n);
    if (c)
        memcpy(c, s, n);
    return c;
}

/* The main program's path: as read at load, else now. */
static void main_program_path(char *out, size_t len)
{
    if (hs_identity.exe[0]) {
        snprintf(out, len, "%s", hs_identity.exe);
        return;
    }
    ssize_t n = readlink("/proc/self/exe", out, len - 1);
    out[n > 0 ? n : 0] = 0;
    static const char deleted[] = " (deleted)";
    size_t l = strlen(out), d = sizeof(deleted) - 1;
    if (l > d && strcmp(out + l - d, deleted) == 0)
        out[l - d] = 0;
}

static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap * 2 : 16;
    while (n < need)
        n *= 2;
    void *a = realloc(*arr, n * elem);
    if (!a)
        return -1;
    *arr = a;
    *cap = n;
    return 0;
}

static int add_object(struct dl_phdr_info *info, size_t size, void *data)
{
    hs_live_syms_t *s = data;
    if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof(info->dlpi_subs))
        s->load_count = info->dlpi_adds + info->dlpi_subs;
    int has_exec = 0;
    for (int i = 0; i < info->dlpi_phnum; i++)
        if (info->dlpi_phdr[i].p_type == PT_LOAD && (info->dlpi_phdr[i].p_flags & PF_X))
            has_exec = 1;
    if (!has_exec)
        return 0;
    if (grow((void **)&s->objects, &s->objects_cap, s->n_objects + 1, sizeof(object_t))) {
        s->oom = 1;
        return 1;
    }
    char exe[1024];
    const char *name = info->dlpi_name;
    if (!name || !name[0]) {
        main_program_path(exe, sizeof(exe));
        name = exe;
    }
    object_t *o = &s->objects[s->n_objects];
    if (!(o->path = copy_string(name))) {
        s->oom = 1;
        return 1;
    }
    uint8_t id[HS_BUILD_ID_MAX];
    int id_len = hs_objects_build_id(info, id);
    for (int i = 0; i < id_len; i++)
        snprintf(o->build_id + 2 * i, 3, "%02x", id[i]);
    o->build_id[2 * id_len] = 0;
    s->n_objects++;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        if (grow((void **)&s->segments, &s->segments_cap, s->n_segments + 1, sizeof(segment_t))) {
            s->oom = 1;
            return 1;
        }
        s->segments[s->n_segments++] = (segment_t){.start = info->dlpi_addr + ph->p_vaddr,
                                                   .end = info->dlpi_addr + ph->p_vaddr + ph->p_memsz,
                                                   .file_offset = ph->p_offset,
                                                   .bias = info->dlpi_addr,
                                                   .object = (uint32_t)(s->n_objects - 1)};
    }
    return 0;
}

static uint64_t mapping_of(hs_live_syms_t *s, segment_t *seg);

hs_live_syms_t *hs_live_syms_open(hs_pprof_t *p)
{
    hs_live_syms_t *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->p = p;
    dl_iterate_phdr(add_object, s);
    if (s->oom) {
        hs_live_syms_close(s);
        return NULL;
    }
    /* By start address, for the binary search (insertion sort: tens of
     * segments, and qsort is not ours to call, see scripts/audit-lib.sh). */
    for (size_t i = 1; i < s->n_segments; i++) {
        segment_t v = s->segments[i];
        size_t j = i;
        for (; j > 0 && s->segments[j - 1].start > v.start; j--)
            s->segments[j] = s->segments[j - 1];
        s->segments[j] = v;
    }
    /* The main program's mapping first, as Go's profiles have it: pprof
     * names the profile (its "File:") after the first mapping. */
    for (size_t i = 0; s->p && i < s->n_segments; i++) {
        if (s->segments[i].object == 0) {
            mapping_of(s, &s->segments[i]);
            break;
        }
    }
    return s;
}

void hs_live_syms_close(hs_live_syms_t *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_objects; i++)
        free(s->objects[i].path);
    free(s->objects);
    free(s->segments);
    free(s->locations);
    free(s);
}

static segment_t *find_segment(hs_live_syms_t *s, uintptr_t a)
{
    size_t lo = 0, hi = s->n_segments;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->segments[mid].end <= a)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < s->n_segments && s->segments[lo].start <= a && a < s->segments[lo].end)
        return &s->segments[lo];
    return NULL;
}

int hs_live_syms_name(hs_live_syms_t *s, uintptr_t addr, char *out, size_t len)
{
    if (len == 0)
        return -1;
    const segment_t *seg = find_segment(s, addr);
    if (!seg) {
        snprintf(out, len, "0x%" PRIxPTR, addr);
        return -1;
    }
    int cached = names_take(s->load_count);
    if (cached && names_find(addr, out, len)) {
        names_give();
        return 0;
    }
    const char *path = s->objects[seg->object].path;
    if (hs_elfsym_name(path, (uint64_t)(addr - seg->bias), out, len) != 0) {
        const char *base = strrchr(path, '/');
        snprintf(out, len, "%s+0x%" PRIxPTR, base ? base + 1 : path, addr - seg->bias);
    }
    if (cached) {
        names_add(addr, out);
        names_give();
    }
    return 0;
}

/* ---- profile locations ---------------------------------------------------- */

static size_t location_slot(const hs_live_syms_t *s, uint64_t a)
{
    size_t i = (size_t)((a * 0x9E3779B97F4A7C15ull) >> 32) & (s->locations_cap - 1);
    while (s->locations[i].id && s->locations[i].address != a)
        i = (i + 1) & (s->locations_cap - 1);
    return i;
}

static int locations_grow(hs_live_syms_t *s)
{
    if ((s->n_locations + 1) * 2 <= s->locations_cap)
        return 0;
    size_t cap = s->locations_cap ? s->locations_cap * 2 : 1024;
    location_slot_t *old = s->locations;
    size_t old_cap = s->locations_cap;
    if (!(s->locations = calloc(cap, sizeof(*s->locations)))) {
        s->locations = old;
        return -1;
    }
    s->locations_cap = cap;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].id)
            s->locations[location_slot(s, old[i].address)] = old[i];
    free(old);
    return 0;
}

static uint64_t mapping_of(hs_live_syms_t *s, segment_t *seg)
{
    if (!seg->mapping_id) {
        const object_t *o = &s->objects[seg->object];
        /* No has_* flags: pprof then reads file:line from the local binary
         * when it has it (build-id checked) and keeps our function names
         * when it has not. */
        seg->mapping_id =
            hs_pprof_mapping(s->p, seg->start, seg->end, seg->file_offset, o->path, o->build_id, 0, 0, 0, 0);
    }
    return seg->mapping_id;
}

uint64_t hs_live_syms_location(hs_live_syms_t *s, uintptr_t addr, int is_return_address)
{
    if (!s->p)
        return 0;
    uint64_t pc = is_return_address && addr ? (uint64_t)addr - 1 : (uint64_t)addr;
    if (s->locations_cap) {
        size_t i = location_slot(s, pc);
        if (s->locations[i].id)
            return s->locations[i].id;
    }
    if (locations_grow(s))
        return 0;
    segment_t *seg = find_segment(s, (uintptr_t)pc);
    uint64_t map_id = seg ? mapping_of(s, seg) : 0;
    if (seg && !map_id)
        return 0;
    char name[NAME_MAX_LEN];
    hs_live_syms_name(s, (uintptr_t)pc, name, sizeof(name));
    hs_pprof_line_t line = {hs_pprof_function(s->p, name, name, NULL, 0), 0};
    if (!line.function_id)
        return 0;
    uint64_t id = hs_pprof_location(s->p, map_id, pc, &line, 1);
    if (!id)
        return 0;
    s->locations[location_slot(s, pc)] = (location_slot_t){pc, id};
    s->n_locations++;
    return id;
}

/* ---- output --------------------------------------------------------------- */

int hs_live_pprof_finish(hs_pprof_t *p, hs_lbuf_t *out)
{
    uint8_t *raw;
    size_t raw_len;
    if (hs_pprof_serialize(p, &raw, &raw_len) != 0) {
        out->oom = 1;
        return -1;
    }
    char *dst = hs_lbuf_reserve(out, hs_gzip_bound(raw_len));
    if (!dst) {
        free(raw);
        return -1;
    }
    out->len += hs_gzip(raw, raw_len, (uint8_t *)dst);
    free(raw);
    return 0;
}
