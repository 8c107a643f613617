/* log.c - the interposer's only way to talk: formats into a stack buffer and
 * write(2)s one line. Never allocates (plain %s/%d/%lu/%x formats only, which
 * glibc's vsnprintf serves without malloc) and never uses stdio, whose locks
 * the host may hold. Descriptor 2 is written only while it is still the
 * stderr the program started with: a daemon closes its stderr and its next
 * open(2) (a data file, a socket) lands on number 2, and a line of ours there
 * would corrupt the program's data. Then lines go to HEAPSCOPE_LOG, or
 * nowhere. A leaf: it is told the log file's name (hs_log_set_file) rather
 * than reading the configuration, so that the configuration can log. */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The identity of descriptor 2 at load. init_state: 0 not yet, 1 being
 * recorded, 2 recorded (release: a thread that sees 2 sees the fields). */
static _Atomic int init_state;
static int stderr_was_open;
static dev_t stderr_dev, stderr_rdev;
static ino_t stderr_ino;
static mode_t stderr_type;
/* HEAPSCOPE_LOG (hs_log_set_file); NULL or "" for none. */
static const char *log_file;

void hs_log_set_file(const char *path) { log_file = path; }

void hs_log_init(void)
{
    int expected = 0;
    if (!atomic_compare_exchange_strong(&init_state, &expected, 1))
        return; /* recorded already (at load): keep that identity */
    struct stat st;
    if (fstat(STDERR_FILENO, &st) == 0) {
        stderr_was_open = 1;
        stderr_dev = st.st_dev;
        stderr_ino = st.st_ino;
        stderr_rdev = st.st_rdev;
        stderr_type = st.st_mode & S_IFMT;
    }
    atomic_store_explicit(&init_state, 2, memory_order_release);
}

int hs_log_stderr_is_programs(void)
{
    int saved_errno = errno;
    if (atomic_load_explicit(&init_state, memory_order_acquire) != 2)
        hs_log_init();
    int ours = 0;
    if (atomic_load_explicit(&init_state, memory_order_acquire) != 2) {
        ours = 1; /* another thread is recording it this instant: as before the check existed */
    } else if (stderr_was_open) {
        /* Device and inode name the open file (a tty, pipe or file); the
         * type and rdev tell a character device from a reused inode number
         * on another file system's device node. */
        struct stat st;
        ours = fstat(STDERR_FILENO, &st) == 0 && st.st_dev == stderr_dev && st.st_ino == stderr_ino &&
               st.st_rdev == stderr_rdev && (st.st_mode & S_IFMT) == stderr_type;
    }
    errno = saved_errno;
    return ours;
}

/* Appends one line to HEAPSCOPE_LOG: opened for this line only (never
 * through a link, 0600), so that the file may be rotated and nothing of ours
 * stays open in the host. Returns 0, or -1 when unset or not openable. */
static int append_to_log_file(const char *buf, size_t len)
{
    if (!log_file || !log_file[0])
        return -1;
    int f = open(log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (f < 0)
        return -1;
    ssize_t w = write(f, buf, len);
    (void)w; /* a full disk loses the line; nothing better to do */
    close(f);
    return 0;
}

static void emit(int file_first, const char *fmt, va_list ap)
{
    /* 1100: the live leak warning is up to 1024 characters. */
    char buf[1100];
    int saved_errno = errno;
    static const char prefix[] = "heapscope: ";
    size_t plen = sizeof(prefix) - 1;
    memcpy(buf, prefix, plen);
    int n = vsnprintf(buf + plen, sizeof(buf) - plen - 1, fmt, ap);
    if (n < 0)
        n = 0;
    size_t room = sizeof(buf) - plen - 2; /* vsnprintf's NUL's place becomes the newline */
    size_t len = plen + ((size_t)n <= room ? (size_t)n : room);
    buf[len++] = '\n';
    if (file_first && append_to_log_file(buf, len) == 0) {
        errno = saved_errno;
        return;
    }
    if (hs_log_stderr_is_programs()) {
        ssize_t w = write(STDERR_FILENO, buf, len);
        (void)w; /* nothing useful to do if stderr is gone */
    } else if (!file_first) {
        append_to_log_file(buf, len);
    }
    errno = saved_errno;
}

void hs_log(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit(0, fmt, ap);
    va_end(ap);
}

void hs_log_finding(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit(1, fmt, ap);
    va_end(ap);
}
