/* elfsym.h - function names from an ELF file's own symbol tables. */
#ifndef HS_ELFSYM_H
#define HS_ELFSYM_H

#include <stddef.h>
#include <stdint.h>

/* Writes the name of the function whose [value, value + size) in path's
 * .symtab (or .dynsym) holds vaddr (an address as the file's symbols count
 * it: the runtime address minus the object's load bias). Returns 0, or -1
 * when the file cannot be read, is not a 64-bit ELF or has no such symbol.
 * Never allocates; bounds-checks everything it reads from the file. */
int hs_elfsym_name(const char *path, uint64_t vaddr, char *out, size_t len);
/* The same, and *offset = vaddr - the symbol's value (the "+0x..." of a
 * frame in a stack dump). */
int hs_elfsym_name_offset(const char *path, uint64_t vaddr, char *out, size_t len, uint64_t *offset);

#endif
