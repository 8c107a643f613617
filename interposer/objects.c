/* objects.c - reads what the loaded objects carry in memory, for the dump's
 * MAPPINGS record (snapshot.c) and the live profiles' mappings
 * (live_symbols.c): today their build-ids. Reads only the object's mapped
 * notes, bounds-checked against the segment; never allocates or locks. */
#include "objects.h"

#include <elf.h>
#include <string.h>

#include "hs_format.h"

int hs_objects_build_id(const struct dl_phdr_info *info, uint8_t *out)
{
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE)
            continue;
        const uint8_t *p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr), *end = p + ph->p_memsz;
        while (p + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
            const uint8_t *name = p + sizeof(*nh);
            const uint8_t *desc = name + ((nh->n_namesz + 3) & ~3u);
            const uint8_t *next = desc + ((nh->n_descsz + 3) & ~3u);
            if (next > end)
                break;
            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == sizeof("GNU") &&
                memcmp(name, "GNU", sizeof("GNU")) == 0 && nh->n_descsz <= HS_BUILD_ID_MAX) {
                memcpy(out, desc, nh->n_descsz);
                return (int)nh->n_descsz;
            }
            p = next;
        }
    }
    return 0;
}
