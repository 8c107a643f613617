/* program_name.h - the name a report gives a process: the one the user ran
 * (argv[0]), not the executable a symlink points to (Debian's redis-server
 * is a symlink to redis-check-rdb). Used by model.c for the header's
 * `program`. */
#ifndef HS_PROGRAM_NAME_H
#define HS_PROGRAM_NAME_H

#include <stddef.h>

/* Writes into out (cap >= 2) the basename of argv[0], the first
 * NUL-terminated word of cmdline (cmdline_len bytes, the HEADER's
 * NUL-separated arguments): cut at a process title's ": " ("nginx: worker
 * process") and at the first blank after the last '/' ("redis-server
 * *:6379"), a login shell's leading '-' dropped. When that leaves nothing,
 * or a byte that is not printable, the basename of exe is used instead
 * ("?" when exe is empty too). Returns out. */
char *hs_program_name(const char *cmdline, size_t cmdline_len, const char *exe, char *out, size_t cap);

#endif
