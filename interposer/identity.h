/* identity.h - who this process is, for the HEADER record, the dump's name
 * and log lines (see identity.c). */
#ifndef HS_IDENTITY_H
#define HS_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

typedef struct hs_identity {
    uint32_t pid, ppid;
    uint64_t start_real_ns, start_mono_ns;
    char program[256];  /* argv[0] basename at load, for %e */
    char exe[1024];     /* /proc/self/exe at load */
    char cmdline[4096]; /* /proc/self/cmdline at load, NUL-separated */
    size_t cmdline_len;
    char host[256];
} hs_identity_t;

/* This process's: loaded at start, renewed in a fork child; written only by
 * the constructor and by the snapshot lock's holder. */
extern hs_identity_t hs_identity;

/* Reads pid, parent, start times, program, executable, command line (now:
 * servers rewrite their argv area later) and host name. Never allocates. */
void hs_identity_load(hs_identity_t *id);
/* A fork child's: its own pid, its parent's, its own start time. */
void hs_identity_renew_after_fork(hs_identity_t *id);
/* Does HEAPSCOPE_ONLY's comma list `only` name this program (by argv[0] or
 * the executable's base name)? An empty list selects every program. */
int hs_identity_is_selected(const hs_identity_t *id, const char *only);

#endif
