/* symbolize.h - offline symbolization of recorded addresses with
 * elfutils libdwfl: function names, file:line and inline chains, checked
 * against the build-id recorded at run time. Used by the analyzer (reports,
 * pprof); never by the interposer. Not thread-safe: one symbolizer per thread. */
#ifndef HS_SYMBOLIZE_H
#define HS_SYMBOLIZE_H

#include <stdint.h>

typedef struct hs_symbolizer hs_symbolizer_t;

/* One source position. Strings are interned: equal strings are the same
 * pointer, valid until hs_symbolizer_free. */
typedef struct {
    const char *function; /* demangled DWARF name, else the ELF symbol; never NULL */
    const char *file;     /* absolute source path when known, else NULL */
    uint32_t line;        /* 0 when unknown */
} hs_sym_line_t;

/* Most lines one lookup yields (an inline chain deeper than this is cut at
 * its outer end). */
#define HS_SYMBOLIZE_MAX_LINES 64

hs_symbolizer_t *hs_symbolizer_new(void); /* NULL on OOM */
void hs_symbolizer_free(hs_symbolizer_t *s);

/* Warnings ("heapscope: warning: PATH: build-id differs from the recorded
 * one; its frames stay unsymbolized"), one per file and problem, without a
 * trailing newline. The default writes them to stderr. warn NULL restores
 * the default. */
void hs_symbolizer_set_warn(hs_symbolizer_t *s, void (*warn)(void *ctx, const char *msg), void *ctx);

/* pc: an address inside a call instruction (return address - 1) of a process
 * that had the ELF file `path` loaded with `load_bias` (runtime address = ELF
 * vaddr + load_bias). build_id (NULL or length 0: unchecked) is the one
 * recorded at run time; a file on disk with another build-id symbolizes
 * nothing. Fills out[0..max) innermost first: inlined callees first, the
 * function that physically contains pc last (pprof's Location.line order).
 * Returns the number of lines filled, or 0 when nothing is known (pseudo
 * paths such as "[vdso]" or "linux-vdso.so.1" stay silent; a missing or
 * unreadable file warns once). Results are cached per (file, pc). */
int hs_symbolizer_lookup(hs_symbolizer_t *s, const char *path, const uint8_t *build_id, uint32_t build_id_len,
                         uint64_t load_bias, uint64_t pc, hs_sym_line_t *out, int max);

/* Lookups answered so far from the cache / by libdwfl (for tests and stats). */
void hs_symbolizer_counts(const hs_symbolizer_t *s, uint64_t *cache_hits, uint64_t *resolved);

/* The function holding pc as the file's call-frame information knows it:
 * [*start, *end) of the FDE covering pc, in ELF addresses (runtime address
 * - load_bias). It names code that has no symbol (a static function of a
 * binary stripped to .dynsym: git's xmalloc, CPython's _PyObject_Malloc),
 * since strip keeps .eh_frame. Arguments as for hs_symbolizer_lookup.
 * Returns 1, or 0 when no FDE covers pc (hand-written assembly, a pc
 * outside the code) or the file is unreadable or not the recorded one.
 * The file's FDEs are read once; answers are cached per (file, pc) beside
 * the lookup's. */
int hs_symbolizer_function_range(hs_symbolizer_t *s, const char *path, const uint8_t *build_id, uint32_t build_id_len,
                                 uint64_t load_bias, uint64_t pc, uint64_t *start, uint64_t *end);

/* Range answers so far from the cache / from the FDE table (for tests). */
void hs_symbolizer_range_counts(const hs_symbolizer_t *s, uint64_t *cache_hits, uint64_t *resolved);

#endif
