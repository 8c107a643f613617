/* unwind_guard.c - keeps libunwind from touching the host's descriptors;
 * exports pipe2 and read for that alone. libunwind checks that an address
 * is readable by write(2)ing a byte of it into a pipe it keeps in a static
 * array (mem_validate_pipe in x86_64/Ginit.c), and when a read from that pipe
 * fails it closes both numbers and makes a new pipe. A daemon that closes
 * every descriptor and reuses the numbers would then see libunwind read a
 * byte from its socket, write a byte into its file and close both (libunwind
 * issues #274 and #291, open upstream). So: the pipe2 that libunwind calls
 * while we unwind (capture.c marks that time) lands here; the pipe is moved
 * to high descriptor numbers (fd.c) and we learn where libunwind keeps them
 * (pipe2 fills its array). libunwind reads the pipe before each use, so read
 * is exported too: when it is libunwind's read of its pipe (in an unwind,
 * that number), both numbers must still be that pipe; if the host has taken
 * either one, libunwind gets a fresh pipe written into its array and the
 * host's descriptors are never touched. Every other read and pipe2 goes
 * straight on after a thread-local flag test. Never allocates; never calls
 * the sampled path. */
#include "unwind_guard.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "capture.h"
#include "config.h"
#include "export.h"
#include "fd.h"
#include "log.h"

/* Spins of a thread that waits for another's repair of the pipe (each a
 * sched_yield: microseconds in all). */
#define REPAIR_WAIT_SPINS 100000

static int *unw_pipe; /* libunwind's own array, learned from its pipe2 call */
static dev_t unw_pipe_dev;
static ino_t unw_pipe_ino;

/* The next pipe2, found when the library loads: pipe2 is async-signal-safe
 * and a host may call it from a handler, where dlsym must not run. Until
 * then (and if there is none) the system call itself, which is all glibc's
 * pipe2 is. */
static int (*next_pipe2_fn)(int *, int);

static int next_pipe2(int fds[2], int flags)
{
    if (next_pipe2_fn)
        return next_pipe2_fn(fds, flags);
    return (int)syscall(SYS_pipe2, fds, flags);
}

/* A pipe for libunwind, at high numbers, written into its array. */
static int make_unwind_pipe(int fds[2], int flags)
{
    int p[2];
    if (next_pipe2(p, flags | O_CLOEXEC) != 0)
        return -1;
    p[0] = hs_fd_to_high(p[0]);
    p[1] = hs_fd_to_high(p[1]);
    struct stat st;
    if (fstat(p[0], &st) == 0) {
        unw_pipe_dev = st.st_dev;
        unw_pipe_ino = st.st_ino;
    }
    fds[0] = p[0];
    fds[1] = p[1];
    unw_pipe = fds;
    return 0;
}

HS_EXPORT int pipe2(int fds[2], int flags)
{
    if (!hs_capture_unwinding)
        return next_pipe2(fds, flags);
    return make_unwind_pipe(fds, flags);
}

static int is_unwind_pipe(int f)
{
    struct stat st;
    return f >= 0 && fstat(f, &st) == 0 && S_ISFIFO(st.st_mode) && st.st_dev == unw_pipe_dev &&
           st.st_ino == unw_pipe_ino;
}

static int is_free(int f) { return f < 0 || (fcntl(f, F_GETFD) < 0 && errno == EBADF); }

/* The next read, found when the library loads (syscall until then). */
static ssize_t (*next_read_fn)(int, void *, size_t);

static ssize_t next_read(int f, void *buf, size_t n)
{
    if (next_read_fn)
        return next_read_fn(f, buf, n);
    return syscall(SYS_read, f, buf, n);
}

/* libunwind is about to validate an address: it reads its pipe, and on
 * failure closes both numbers and makes a new pipe; then it writes into the
 * write end. Both numbers must be our pipe, or at least not the host's. */
static ssize_t unwind_pipe_read(void *buf, size_t n)
{
    static _Atomic int repairing;
    for (;;) {
        for (int spins = 0; atomic_load(&repairing) && spins < REPAIR_WAIT_SPINS; spins++)
            sched_yield(); /* another thread is replacing the pipe: microseconds */
        int a = unw_pipe[0], b = unw_pipe[1];
        int a_ours = is_unwind_pipe(a), b_ours = is_unwind_pipe(b);
        if ((a_ours || is_free(a)) && (b_ours || is_free(b)))
            return next_read(a, buf, n); /* ours, or free: libunwind's reopen harms nothing */
        /* The host owns a number libunwind would read, write or close. */
        if (!atomic_exchange(&repairing, 1))
            break;
        /* another thread won the repair: wait for it and look again */
    }
    int a = unw_pipe[0], b = unw_pipe[1];
    if (is_unwind_pipe(a))
        close(a);
    if (is_unwind_pipe(b))
        close(b);
    unw_pipe[0] = unw_pipe[1] = -1;
    ssize_t r;
    if (make_unwind_pipe(unw_pipe, O_CLOEXEC | O_NONBLOCK) == 0) {
        r = next_read(unw_pipe[0], buf, n);
    } else {
        /* No descriptor free: libunwind closes -1 twice, fails to make a
         * pipe and treats this address as unreadable (a shorter stack). */
        static _Atomic int logged;
        if (hs_cfg.verbose && !atomic_exchange(&logged, 1))
            hs_log("no descriptor free for libunwind's pipe: some stacks are cut short");
        errno = EBADF;
        r = -1;
    }
    atomic_store(&repairing, 0);
    return r;
}

/* Exported for libunwind's sake alone: every other read goes straight on. */
HS_EXPORT ssize_t read(int f, void *buf, size_t n)
{
    if (__builtin_expect(hs_capture_unwinding, 0) && unw_pipe && f == unw_pipe[0])
        return unwind_pipe_read(buf, n);
    return next_read(f, buf, n);
}

void hs_unwind_guard_init(void)
{
    next_pipe2_fn = (int (*)(int *, int))dlsym(RTLD_NEXT, "pipe2");
    next_read_fn = (ssize_t(*)(int, void *, size_t))dlsym(RTLD_NEXT, "read");
}
