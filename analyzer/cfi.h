/* cfi.h - function ranges from an ELF file's call-frame information.
 * Every function a compiler emits with unwind tables (the default on x86-64
 * and arm64 Linux, so every function of a Debian binary) has one FDE in
 * .eh_frame giving [start, end) of its code, and strip keeps .eh_frame: a
 * pc that no symbol names still belongs to a known function. symbolize.c
 * uses this to give unsymbolized frames a function identity
 * (docs/frames.md, "Code without symbols").
 *
 * libdw's dwarf_cfi_addrframe + dwarf_frame_info give the range of one row
 * of the unwind table (it ends at the next DW_CFA_advance_loc), not the
 * FDE's, and libdw has no public FDE lookup: the FDEs are read here with
 * dwarf_next_cfi, once per file, into a table sorted by start. */
#ifndef HS_CFI_H
#define HS_CFI_H

#include <gelf.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hs_cfi_ranges hs_cfi_ranges_t;

/* Reads the FDEs of elf's .eh_frame, or of its .debug_frame when it has no
 * .eh_frame. Addresses are the file's ELF virtual addresses. NULL when the
 * file has neither section, none of its FDEs can be read, or on OOM; a
 * malformed entry ends the reading (the FDEs read so far are kept). */
hs_cfi_ranges_t *hs_cfi_ranges_new(Elf *elf);
void hs_cfi_ranges_free(hs_cfi_ranges_t *r);

/* The FDE holding vaddr: 1 with [*start, *end), or 0. O(log n). */
int hs_cfi_ranges_find(const hs_cfi_ranges_t *r, uint64_t vaddr, uint64_t *start, uint64_t *end);

/* How many FDEs were read (for tests and stats). */
size_t hs_cfi_ranges_count(const hs_cfi_ranges_t *r);

#endif
