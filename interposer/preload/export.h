/* export.h - for the files of preload/ alone: the mark of a symbol the
 * dynamic linker binds to us, and the hot path's branch hint. A file that
 * needs HS_EXPORT belongs in preload/ (the unit tests link everything else). */
#ifndef HS_EXPORT_H
#define HS_EXPORT_H

#define HS_EXPORT __attribute__((visibility("default")))
#define HS_LIKELY(x) __builtin_expect(!!(x), 1)

#endif
