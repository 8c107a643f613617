/* unwind_guard.h - libunwind's validation pipe, kept off the host's
 * descriptors (see unwind_guard.c). */
#ifndef HS_UNWIND_GUARD_H
#define HS_UNWIND_GUARD_H

/* At load, before the first unwind (hs_capture_init): finds the next pipe2
 * and read. Until then (and if there is none) the system calls themselves. */
void hs_unwind_guard_init(void);

#endif
