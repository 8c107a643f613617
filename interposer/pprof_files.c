/* pprof_files.c - the periodic heap profile files (HEAPSCOPE_PPROF_DIR,
 * HEAPSCOPE_PPROF_INTERVAL, HEAPSCOPE_PPROF_KEEP): every interval the
 * scheduler's safe point writes heap.<prog>.<pid>.<n>.pb.gz, the same
 * profile /debug/pprof/heap serves (live_heap.c), whether or not the live
 * service runs. Written under a temporary name and renamed, so a reader
 * never sees half a file; 0600 like the dump; the descriptor is high and
 * close-on-exec (fd.c). Only this process's own files are removed, by name
 * (n - KEEP): no directory listing. schedule.c calls it with the snapshot
 * lock held, on the snapshot stack, at safe points only (malloc is safe
 * there); never at exit, in a signal handler or a fork handler. */
#include "pprof_files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "fd.h"
#include "identity.h"
#include "live.h"
#include "live_pprof.h"
#include "log.h"

#define NAME_LEN (HS_PATH_MAX + 400)

/* Monotonic time of the next file; 0 until the first check sets it one
 * interval after the process started. relaxed: only the snapshot lock's
 * holder moves it on, and a stale read just asks once more. */
static _Atomic uint64_t due_ns;
/* The lock holder's: files written by this process (pid) so far. */
static uint32_t files_pid, files_written;
static int warned;

int hs_pprof_files_is_due(uint64_t now_ns)
{
    if (!hs_cfg.pprof_dir[0])
        return 0;
    uint64_t due = atomic_load_explicit(&due_ns, memory_order_relaxed);
    if (due == 0) {
        due = hs_identity.start_mono_ns + hs_cfg.pprof_interval_ms * HS_NS_PER_MS;
        atomic_store_explicit(&due_ns, due, memory_order_relaxed);
    }
    return now_ns >= due;
}

static void file_name(char *out, size_t len, const char *prefix, uint32_t n, const char *suffix)
{
    snprintf(out, len, "%s/%sheap.%s.%u.%u.pb.gz%s", hs_cfg.pprof_dir, prefix,
             hs_identity.program[0] ? hs_identity.program : "prog", hs_identity.pid, n, suffix);
}

static int write_all(int fd, const char *data, size_t n)
{
    while (n) {
        ssize_t w = write(fd, data, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        data += w;
        n -= (size_t)w;
    }
    return 0;
}

static void warn_once(const char *what, const char *path)
{
    if (warned)
        return;
    warned = 1;
    hs_log("warning: periodic heap profile %s: %s (%s); further failures are not reported", path, what,
           strerror(errno));
}

void hs_pprof_files_write(uint64_t now_ns)
{
    /* From now, not from the old due time: a process that was stopped does
     * not write a burst of files. */
    atomic_store_explicit(&due_ns, now_ns + hs_cfg.pprof_interval_ms * HS_NS_PER_MS, memory_order_relaxed);
    if (files_pid != hs_identity.pid) { /* a fork child numbers its own files */
        files_pid = hs_identity.pid;
        files_written = 0;
    }
    hs_lbuf_t body = {0};
    if (hs_live_heap_profile(&body, 0) != 0) {
        errno = ENOMEM;
        warn_once("cannot be built", hs_cfg.pprof_dir);
        hs_lbuf_free(&body);
        return;
    }
    uint32_t n = files_written + 1;
    char tmp[NAME_LEN], final[NAME_LEN];
    file_name(tmp, sizeof(tmp), ".", n, ".tmp");
    file_name(final, sizeof(final), "", n, "");
    int fd = hs_fd_to_high(open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (fd < 0) {
        warn_once("cannot be created", tmp);
        hs_lbuf_free(&body);
        return;
    }
    int ok = write_all(fd, body.data, body.len) == 0;
    ok = close(fd) == 0 && ok;
    hs_lbuf_free(&body);
    if (!ok || rename(tmp, final) != 0) {
        warn_once("cannot be written", final);
        unlink(tmp);
        return;
    }
    files_written = n;
    if (n > hs_cfg.pprof_keep) {
        file_name(final, sizeof(final), "", n - hs_cfg.pprof_keep, "");
        unlink(final);
    }
}
