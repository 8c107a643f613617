/* fd.c - the one rule for every descriptor the interposer opens (the dump,
 * its directory, libunwind's validation pipe): it moves to a high number at
 * once, before the file is visible or written. Programs assume the low
 * numbers are theirs (dup2 onto 3, socket activation, "close all, then
 * open"), and a daemon that sees our file appear may start closing
 * descriptors at any moment. Never allocates; a leaf used by the writer and
 * the unwind guard. */
#include "fd.h"

#include <fcntl.h>
#include <unistd.h>

int hs_fd_to_high(int f)
{
    if (f < 0)
        return f;
    int high = fcntl(f, F_DUPFD_CLOEXEC, HS_FD_HIGH);
    if (high < 0)
        return f; /* no room up there (RLIMIT_NOFILE <= HS_FD_HIGH): keep it */
    close(f);
    return high;
}
