/* elfsym.c - names the function around an address from the object's own
 * symbol table (.symtab, which static functions are in; .dynsym when the file
 * is stripped). For the live leak warning (livecheck.c), where dladdr knows only
 * exported symbols. No malloc: the file is mapped read-only for the look-up
 * and every offset in it is checked against its size. */
#include "elfsym.h"

#include <elf.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Is [off, off + len) inside a file of size n? */
static int within(uint64_t off, uint64_t len, uint64_t n) { return off <= n && len <= n - off; }

static int search_table(const uint8_t *f, uint64_t n, const Elf64_Shdr *sym, const Elf64_Shdr *str, uint64_t vaddr,
                        char *out, size_t len, uint64_t *offset)
{
    if (sym->sh_entsize != sizeof(Elf64_Sym) || !within(sym->sh_offset, sym->sh_size, n) ||
        !within(str->sh_offset, str->sh_size, n))
        return -1;
    const Elf64_Sym *syms = (const Elf64_Sym *)(const void *)(f + sym->sh_offset);
    const char *names = (const char *)(f + str->sh_offset);
    uint64_t count = sym->sh_size / sizeof(Elf64_Sym);
    for (uint64_t i = 0; i < count; i++) {
        const Elf64_Sym *s = &syms[i];
        int type = ELF64_ST_TYPE(s->st_info);
        if ((type != STT_FUNC && type != STT_GNU_IFUNC) || s->st_shndx == SHN_UNDEF || s->st_size == 0)
            continue;
        if (vaddr < s->st_value || vaddr - s->st_value >= s->st_size)
            continue;
        if (s->st_name >= str->sh_size)
            return -1;
        size_t max = (size_t)(str->sh_size - s->st_name);
        const char *name = names + s->st_name;
        size_t nlen = strnlen(name, max);
        if (nlen == max || nlen == 0)
            return -1; /* not terminated inside the table */
        if (nlen >= len)
            nlen = len - 1;
        memcpy(out, name, nlen);
        out[nlen] = 0;
        if (offset)
            *offset = vaddr - s->st_value;
        return 0;
    }
    return -1;
}

static int lookup(const uint8_t *f, uint64_t n, uint64_t vaddr, char *out, size_t len, uint64_t *offset)
{
    if (n < sizeof(Elf64_Ehdr) || memcmp(f, ELFMAG, SELFMAG) != 0 || f[EI_CLASS] != ELFCLASS64)
        return -1;
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)(const void *)f;
    if (eh->e_shentsize != sizeof(Elf64_Shdr) || eh->e_shoff % 8 != 0 ||
        !within(eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr), n))
        return -1;
    const Elf64_Shdr *sh = (const Elf64_Shdr *)(const void *)(f + eh->e_shoff);
    /* .symtab first (it has the static functions), then .dynsym. */
    static const uint32_t kinds[2] = {SHT_SYMTAB, SHT_DYNSYM};
    for (int k = 0; k < 2; k++)
        for (uint32_t i = 0; i < eh->e_shnum; i++) {
            if (sh[i].sh_type != kinds[k] || sh[i].sh_link >= eh->e_shnum)
                continue;
            if (search_table(f, n, &sh[i], &sh[sh[i].sh_link], vaddr, out, len, offset) == 0)
                return 0;
        }
    return -1;
}

int hs_elfsym_name(const char *path, uint64_t vaddr, char *out, size_t len)
{
    return hs_elfsym_name_offset(path, vaddr, out, len, NULL);
}

int hs_elfsym_name_offset(const char *path, uint64_t vaddr, char *out, size_t len, uint64_t *offset)
{
    if (!path || !*path || len == 0)
        return -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0) {
        close(fd);
        return -1;
    }
    uint64_t n = (uint64_t)st.st_size;
    void *m = mmap(NULL, (size_t)n, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED)
        return -1;
    int rc = lookup(m, n, vaddr, out, len, offset);
    munmap(m, (size_t)n);
    return rc;
}
