/* writer.h - the dump file: lazy creation from the template, append-only writes. */
#ifndef HS_WRITER_H
#define HS_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "identity.h"

/* At load, after the configuration and identity (lifecycle.c):
 * fixes where dumps go. A relative HEAPSCOPE_OUTPUT is made absolute against
 * the working directory now, and the directory (expanded for this process) is
 * held open, so that chdir, daemon() or chroot before the first snapshot do
 * not move or lose the dump. Without it, the first hs_writer_open does this
 * with the directory of that moment. */
void hs_writer_prepare(const hs_identity_t *id);
/* Expands a %p/%e/%t/%% template. Returns 0, or -1 when it does not fit. */
int hs_writer_expand(const char *tmpl, const hs_identity_t *id, char *out, size_t cap);
/* Is a dump file open (or has creating it failed for good)? */
int hs_writer_is_open(void);
int hs_writer_has_failed(void);
/* Creates the dump with its first bytes (preamble, HEADER and the first
 * snapshot: encode.c), mode 0600, never through a link, falling
 * back to $TMPDIR or /tmp. Where the filesystem allows, the file is written
 * unnamed (O_TMPFILE) and linked to its name afterwards, so it never exists
 * empty. A taken name gets .1 .. .9, then .<nanoseconds>-<n>. Returns 0 or -1
 * (logged once); -1 without a trace when the caller is not the owner (see
 * hs_writer_owned_by_caller) or id is not the calling process's. */
int hs_writer_open(const hs_identity_t *id, const void *first, size_t len);
/* Appends bytes with write(2); a failure is logged once and ends writing.
 * Refused (-1, nothing touched) for a caller that does not own the file.
 * SIGXFSZ is blocked around the write so RLIMIT_FSIZE cannot kill the host.
 * If the host closed our descriptor, the dump is reopened by path; when no
 * descriptor is free (EMFILE), the bytes wait in a bounded backlog and are
 * written, in order, before the next append. */
int hs_writer_append(const void *buf, size_t len);
/* Bytes waiting for a descriptor (0 normally). */
size_t hs_writer_backlog(void);
/* Stops writing for good (the dump would become inconsistent). */
void hs_writer_give_up(void);
/* Does the writer's state belong to the calling process? 0 in a child made
 * without our atfork handlers (_Fork, raw fork or clone, vfork): it must
 * never write into the parent's file, and with CLONE_VM it shares this
 * memory, so open/append/give_up refuse and change nothing. A real child
 * calls hs_writer_reset_after_fork to own a fresh state. */
int hs_writer_owned_by_caller(void);
/* After fork in the child: forget the parent's file (closing our copy) and
 * take ownership; the next hs_writer_open expands the template with the
 * child's identity, in the directory fixed at load. Not for a CLONE_VM child. */
void hs_writer_reset_after_fork(void);
/* Generation of the current file: bumps each time a new file is started. */
uint32_t hs_writer_generation(void);
const char *hs_writer_path(void);
/* Grow function for an hs_enc_t (codec) that uses mmap (never the host's malloc). */
uint8_t *hs_writer_grow(uint8_t *old, size_t old_len, size_t new_cap);

#endif
