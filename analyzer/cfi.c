/* cfi.c - reads the FDEs of an ELF file's .eh_frame (or .debug_frame) into
 * a table of function ranges sorted by start (see cfi.h). It owns the
 * decoding of the pointer encodings a CIE's augmentation names; libdw's
 * dwarf_next_cfi splits the section into entries. It must never read past
 * a section, whatever the file says: every read is bounded, and an entry
 * it cannot decode is skipped (an FDE) or ends the reading (a malformed
 * entry). Its one user is symbolize.c, which caches the table per file. */
#include "cfi.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint64_t start, end;
} range_t;

struct hs_cfi_ranges {
    range_t *ranges; /* sorted by start */
    size_t count;
};

/* What decoding one section needs. */
typedef struct {
    const uint8_t *base, *limit; /* the section's bytes */
    uint64_t addr;               /* its ELF address (DW_EH_PE_pcrel is relative to a field's address) */
    unsigned address_size;       /* 4 or 8 */
    int big_endian;
} section_t;

/* A CIE: its section offset and the encoding of its FDEs' pc_begin. */
typedef struct {
    uint64_t offset;
    int encoding; /* DW_EH_PE_*, or -1: an augmentation we cannot read */
} cie_t;

static int read_fixed(const section_t *s, const uint8_t **p, unsigned size, uint64_t *out)
{
    if (size > (size_t)(s->limit - *p))
        return -1;
    uint64_t v = 0;
    for (unsigned i = 0; i < size; i++)
        v |= (uint64_t)(*p)[s->big_endian ? size - 1 - i : i] << (8 * i);
    *p += size;
    *out = v;
    return 0;
}

static int read_leb(const section_t *s, const uint8_t **p, int is_signed, uint64_t *out)
{
    uint64_t v = 0;
    unsigned shift = 0;
    for (;;) {
        if (*p >= s->limit)
            return -1;
        uint8_t byte = *(*p)++;
        if (shift < 64)
            v |= (uint64_t)(byte & 0x7f) << shift;
        shift += 7;
        if (!(byte & 0x80)) {
            if (is_signed && shift < 64 && (byte & 0x40))
                v |= ~(uint64_t)0 << shift;
            break;
        }
    }
    *out = v;
    return 0;
}

/* The value part of an encoded pointer (its low nibble), sign-extended for
 * the sdata forms. */
static int read_format(const section_t *s, const uint8_t **p, int encoding, uint64_t *out)
{
    uint64_t v;
    switch (encoding & 0x0f) {
    case DW_EH_PE_absptr: return read_fixed(s, p, s->address_size, out);
    case DW_EH_PE_uleb128: return read_leb(s, p, 0, out);
    case DW_EH_PE_sleb128: return read_leb(s, p, 1, out);
    case DW_EH_PE_udata2: return read_fixed(s, p, 2, out);
    case DW_EH_PE_udata4: return read_fixed(s, p, 4, out);
    case DW_EH_PE_udata8: return read_fixed(s, p, 8, out);
    case DW_EH_PE_sdata2:
        if (read_fixed(s, p, 2, &v))
            return -1;
        *out = (uint64_t)(int64_t)(int16_t)v;
        return 0;
    case DW_EH_PE_sdata4:
        if (read_fixed(s, p, 4, &v))
            return -1;
        *out = (uint64_t)(int64_t)(int32_t)v;
        return 0;
    case DW_EH_PE_sdata8: return read_fixed(s, p, 8, out);
    default: return -1;
    }
}

/* An FDE's pc_begin: absolute or relative to its own field; the other
 * applications (textrel, datarel, funcrel, aligned, indirect) do not occur
 * in FDEs of Linux objects and are refused. */
static int read_address(const section_t *s, const uint8_t **p, int encoding, uint64_t *out)
{
    uint64_t field = s->addr + (uint64_t)(*p - s->base);
    if (read_format(s, p, encoding, out))
        return -1;
    switch (encoding & 0xf0) {
    case DW_EH_PE_absptr: break;
    case DW_EH_PE_pcrel: *out += field; break;
    default: return -1;
    }
    if (s->address_size == 4)
        *out &= 0xffffffffu;
    return 0;
}

/* The FDE encoding from a CIE's augmentation ("zR", "zPLR", "zPLRS", ""):
 * 'R' gives it; 'P' (the personality routine) and 'L' (the LSDA encoding)
 * are skipped over; without 'R' it is DW_EH_PE_absptr. */
static int fde_encoding(const section_t *s, const Dwarf_CIE *cie)
{
    const char *aug = cie->augmentation;
    if (!aug || aug[0] == '\0' || (aug[0] == 'e' && aug[1] == 'h' && aug[2] == '\0'))
        return DW_EH_PE_absptr;
    if (aug[0] != 'z' || !cie->augmentation_data)
        return -1;
    section_t data = *s;
    data.limit = cie->augmentation_data + cie->augmentation_data_size;
    const uint8_t *p = cie->augmentation_data;
    int encoding = DW_EH_PE_absptr;
    for (const char *c = aug + 1; *c; c++) {
        uint64_t skipped;
        switch (*c) {
        case 'R':
            if (p >= data.limit)
                return -1;
            encoding = *p++;
            break;
        case 'P': {
            if (p >= data.limit)
                return -1;
            int personality = *p++;
            if (read_format(&data, &p, personality, &skipped))
                return -1;
            break;
        }
        case 'L':
            if (p >= data.limit)
                return -1;
            p++;
            break;
        case 'S': /* a signal frame */
        case 'B': /* arm64 pointer authentication with the B key */
        case 'G': /* arm64 memory tagging */ break;
        default: /* unknown: 'z' sized the data, but 'R' may lie beyond what we understand */
            return strchr(c, 'R') ? -1 : encoding;
        }
    }
    return encoding;
}

static const cie_t *cie_at(const cie_t *cies, size_t n, uint64_t offset)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cies[mid].offset < offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && cies[lo].offset == offset ? &cies[lo] : NULL;
}

static int grow(void **items, size_t *cap, size_t count, size_t size)
{
    if (count < *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : 256;
    void *grown = realloc(*items, c * size);
    if (!grown)
        return -1;
    *items = grown;
    *cap = c;
    return 0;
}

static int by_start(const void *x, const void *y)
{
    const range_t *a = x, *b = y;
    return a->start < b->start ? -1 : a->start > b->start;
}

/* Two passes over the section: the CIEs (in offset order, as the walk
 * meets them), then the FDEs, each decoded with its CIE's encoding. */
static int read_section(const unsigned char *ident, Elf_Data *data, int eh_frame, const section_t *s, range_t **ranges,
                        size_t *count)
{
    cie_t *cies = NULL;
    size_t ncies = 0, cies_cap = 0, cap = 0;
    for (int pass = 0; pass < 2; pass++) {
        Dwarf_Off off = 0, next;
        Dwarf_CFI_Entry entry;
        while (dwarf_next_cfi(ident, data, eh_frame, off, &next, &entry) == 0) {
            if (dwarf_cfi_cie_p(&entry)) {
                if (pass == 0) {
                    if (grow((void **)&cies, &cies_cap, ncies, sizeof(*cies))) {
                        free(cies);
                        return -1;
                    }
                    cies[ncies++] = (cie_t){off, fde_encoding(s, &entry.cie)};
                }
            } else if (pass == 1) {
                const cie_t *cie = cie_at(cies, ncies, entry.fde.CIE_pointer);
                section_t fde = *s;
                fde.limit = entry.fde.end;
                const uint8_t *p = entry.fde.start;
                uint64_t start, length;
                if (cie && cie->encoding >= 0 && read_address(&fde, &p, cie->encoding, &start) == 0 &&
                    read_format(&fde, &p, cie->encoding & 0x0f, &length) == 0 && length > 0 && start + length > start) {
                    if (grow((void **)ranges, &cap, *count, sizeof(**ranges))) {
                        free(cies);
                        return -1;
                    }
                    (*ranges)[(*count)++] = (range_t){start, start + length};
                }
            }
            if (next <= off)
                break;
            off = next;
        }
    }
    free(cies);
    return 0;
}

/* The named section with its data, or NULL (absent, without file bytes, or
 * compressed: a .debug_frame left compressed is not worth inflating). */
static Elf_Scn *find_section(Elf *elf, size_t shstrndx, const char *name, GElf_Shdr *shdr)
{
    for (Elf_Scn *scn = elf_nextscn(elf, NULL); scn; scn = elf_nextscn(elf, scn)) {
        if (!gelf_getshdr(scn, shdr))
            continue;
        const char *n = elf_strptr(elf, shstrndx, shdr->sh_name);
        if (n && strcmp(n, name) == 0)
            return shdr->sh_type == SHT_NOBITS || (shdr->sh_flags & SHF_COMPRESSED) ? NULL : scn;
    }
    return NULL;
}

hs_cfi_ranges_t *hs_cfi_ranges_new(Elf *elf)
{
    size_t shstrndx, ident_len;
    const char *ident = elf ? elf_getident(elf, &ident_len) : NULL;
    if (!ident || ident_len < EI_NIDENT || elf_getshdrstrndx(elf, &shstrndx) != 0)
        return NULL;
    GElf_Shdr shdr;
    int eh_frame = 1;
    Elf_Scn *scn = find_section(elf, shstrndx, ".eh_frame", &shdr);
    if (!scn) {
        eh_frame = 0;
        scn = find_section(elf, shstrndx, ".debug_frame", &shdr);
    }
    Elf_Data *data = scn ? elf_getdata(scn, NULL) : NULL;
    if (!data || !data->d_buf || data->d_size == 0)
        return NULL;
    section_t s = {data->d_buf, (const uint8_t *)data->d_buf + data->d_size, shdr.sh_addr,
                   ident[EI_CLASS] == ELFCLASS32 ? 4u : 8u, ident[EI_DATA] == ELFDATA2MSB};
    hs_cfi_ranges_t *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    if (read_section((const unsigned char *)ident, data, eh_frame, &s, &r->ranges, &r->count) != 0 || r->count == 0) {
        hs_cfi_ranges_free(r);
        return NULL;
    }
    qsort(r->ranges, r->count, sizeof(*r->ranges), by_start);
    return r;
}

void hs_cfi_ranges_free(hs_cfi_ranges_t *r)
{
    if (!r)
        return;
    free(r->ranges);
    free(r);
}

int hs_cfi_ranges_find(const hs_cfi_ranges_t *r, uint64_t vaddr, uint64_t *start, uint64_t *end)
{
    if (!r)
        return 0;
    size_t lo = 0, hi = r->count; /* the first range starting after vaddr */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->ranges[mid].start <= vaddr)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0 || vaddr >= r->ranges[lo - 1].end)
        return 0;
    *start = r->ranges[lo - 1].start;
    *end = r->ranges[lo - 1].end;
    return 1;
}

size_t hs_cfi_ranges_count(const hs_cfi_ranges_t *r) { return r ? r->count : 0; }
