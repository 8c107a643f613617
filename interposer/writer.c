/* writer.c - owns the dump file descriptor: expands the path template,
 * creates the file on the first write (so short-lived processes that _exit
 * leave nothing behind), falls back to $TMPDIR or /tmp, and appends records.
 * Called only with the flusher's mutex held. Never allocates with malloc, and
 * never lets a failure reach the host: it logs once and stops writing. */
#include "writer.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "config.h"
#include "hs_format.h"
#include "log.h"
#include "state.h"

static int fd = -1;     /* -1 before creation, or while the host has taken our number */
static int created;     /* the file exists (fd may still be -1: reopen pending) */
static int failed;
/* Bytes that could not be written yet because the host had closed our
 * descriptor and no new one could be had (EMFILE/ENFILE): written, in order,
 * before the next append. Appends are the only writes, so the file stays a
 * well-formed sequence of records. Bounded: past the cap we give up. */
#define BACKLOG_MAX (64u << 20)
static uint8_t *backlog;
static size_t backlog_len, backlog_cap;
static dev_t file_dev; /* identity of our dump, to notice a descriptor the host closed */
static ino_t file_ino;
static uint32_t generation = 1;
static char path[HS_PATH_MAX + 64];

int hs_writer_is_open(void) { return created; }
int hs_writer_has_failed(void) { return failed; }
uint32_t hs_writer_generation(void) { return generation; }
const char *hs_writer_path(void) { return path; }

uint8_t *hs_writer_grow(uint8_t *old, size_t old_len, size_t new_cap)
{
    /* The mapping size sits in a 64-byte header in front of the buffer. */
    uint8_t *m = hs_map(new_cap + 64);
    if (!m)
        return NULL;
    *(size_t *)m = new_cap + 64;
    if (old) {
        memcpy(m + 64, old, old_len);
        hs_unmap(old - 64, *(size_t *)(old - 64));
    }
    return m + 64;
}

static int append_str(char *out, size_t cap, size_t *len, const char *s)
{
    size_t n = strlen(s);
    if (*len + n >= cap)
        return -1;
    memcpy(out + *len, s, n);
    *len += n;
    return 0;
}

int hs_writer_expand(const char *tmpl, const hs_identity_t *id, char *out, size_t cap)
{
    size_t len = 0;
    char num[32];
    for (const char *p = tmpl; *p; p++) {
        const char *piece = NULL;
        if (*p == '%' && p[1]) {
            p++;
            switch (*p) {
            case 'p':
                snprintf(num, sizeof(num), "%u", id->pid);
                piece = num;
                break;
            case 't':
                snprintf(num, sizeof(num), "%llu", (unsigned long long)(id->start_real_ns / 1000000000ull));
                piece = num;
                break;
            case 'e':
                piece = id->program;
                break;
            case '%':
                piece = "%";
                break;
            default:
                num[0] = '%';
                num[1] = *p;
                num[2] = 0;
                piece = num;
                break;
            }
        } else {
            num[0] = *p;
            num[1] = 0;
            piece = num;
        }
        if (append_str(out, cap, &len, piece))
            return -1;
    }
    out[len] = 0;
    return 0;
}

static int write_all(int f, const void *buf, size_t len, size_t *done);
static void write_failed(int err);

/* Moves a descriptor we just opened to a number >= 512 at once, before the
 * file is visible or written: programs assume the low numbers are theirs
 * (dup2 onto 3, socket activation, "close all, then open"), and a daemon that
 * sees our file appear may start closing descriptors at any moment. */
int hs_fd_to_high(int f)
{
    if (f < 0)
        return f;
    int high = fcntl(f, F_DUPFD_CLOEXEC, 512);
    if (high < 0)
        return f; /* no room up there (RLIMIT_NOFILE <= 512): keep it */
    close(f);
    return high;
}

static int try_create(const char *candidate)
{
    return hs_fd_to_high(open(candidate, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_APPEND | O_CLOEXEC, 0600));
}

/* Is the name taken by something that is neither a file nor a link (a
 * device such as /dev/full, a directory)? Then do not litter its directory
 * with name.1: the caller falls back to $TMPDIR. */
static int taken_by_non_file(const char *name)
{
    struct stat st;
    return lstat(name, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode);
}

static void candidate_name(const char *name, int i, char *chosen, size_t cap)
{
    if (i == 0)
        snprintf(chosen, cap, "%s", name);
    else
        snprintf(chosen, cap, "%s.%d", name, i);
}

/* Tries name, then name.1 .. name.9 when it exists (a stale dump of an
 * earlier process with the same pid, or a symlink planted at the path:
 * O_EXCL refuses both, and we never write through a link). */
static int create_with_suffixes(const char *name, char *chosen, size_t cap)
{
    for (int i = 0; i < 10; i++) {
        candidate_name(name, i, chosen, cap);
        int f = try_create(chosen);
        if (f >= 0 || errno != EEXIST)
            return f;
        if (taken_by_non_file(chosen)) {
            errno = ENOTSUP;
            return -1;
        }
    }
    errno = EEXIST;
    return -1;
}

/* The dump appears with its first snapshot already in it: written to an
 * unnamed O_TMPFILE in the target directory, then linked to its name (which,
 * like O_EXCL, never replaces or follows anything there). A process that
 * execs or _exits in between leaves nothing behind instead of an empty file.
 * Returns the descriptor (first bytes written, *werr = 0 or the write's
 * errno), -1 with errno EACCES/EROFS/ENOENT.. (try another directory), or -2
 * when this filesystem or /proc cannot do it (use create_with_suffixes). */
static int create_linked(const char *name, char *chosen, size_t cap, const void *first, size_t len, int *werr)
{
    char dir[HS_PATH_MAX + 16];
    const char *slash = strrchr(name, '/');
    if (!slash)
        snprintf(dir, sizeof(dir), ".");
    else if (slash == name)
        snprintf(dir, sizeof(dir), "/");
    else
        snprintf(dir, sizeof(dir), "%.*s", (int)(slash - name), name);
    int f = hs_fd_to_high(open(dir, O_TMPFILE | O_WRONLY | O_APPEND | O_CLOEXEC, 0600));
    if (f < 0)
        return errno == EISDIR || errno == EOPNOTSUPP || errno == EINVAL ? -2 : -1;
    size_t done;
    *werr = write_all(f, first, len, &done);
    char proc[64];
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", f);
    for (int i = 0; i < 10; i++) {
        candidate_name(name, i, chosen, cap);
        if (linkat(AT_FDCWD, proc, AT_FDCWD, chosen, AT_SYMLINK_FOLLOW) == 0)
            return f;
        int e = errno;
        if (e == EEXIST && !taken_by_non_file(chosen))
            continue;
        close(f);
        if (e == EEXIST) {
            errno = ENOTSUP;
            return -1;
        }
        errno = e;
        return e == EACCES || e == EROFS || e == EPERM ? -1 : -2;
    }
    close(f);
    errno = EEXIST;
    return -1;
}

/* One directory: linked tmpfile if possible, else O_EXCL creation (whose
 * first bytes the caller writes). *written says which. */
static int create_in(const char *name, char *chosen, size_t cap, const void *first, size_t len, int *written,
                     int *werr)
{
    *written = 0;
    int f = create_linked(name, chosen, cap, first, len, werr);
    if (f >= 0) {
        *written = 1;
        return f;
    }
    if (f == -1)
        return -1;
    return create_with_suffixes(name, chosen, cap);
}

void hs_writer_encode_header(hs_enc_t *enc, const hs_identity_t *id)
{
    hs_enc_preamble(enc);
    size_t rec = hs_enc_record_begin(enc, HS_REC_HEADER);
    hs_enc_u32(enc, id->pid);
    hs_enc_u32(enc, id->ppid);
    hs_enc_u64(enc, id->start_real_ns);
    hs_enc_u64(enc, id->start_mono_ns);
    hs_enc_u64(enc, hs_cfg.sample_rate);
    hs_enc_u32(enc, hs_cfg.max_depth);
    hs_enc_u32(enc, (uint32_t)hs_cfg.interval_ms);
    hs_enc_str(enc, id->exe, strlen(id->exe));
    hs_enc_str(enc, id->cmdline, id->cmdline_len);
    hs_enc_str(enc, id->host, strlen(id->host));
    hs_enc_record_end(enc, rec);
}

int hs_writer_open(const hs_identity_t *id, const void *first, size_t len)
{
    if (created)
        return 0;
    if (failed)
        return -1;
    char name[HS_PATH_MAX + 16];
    if (hs_writer_expand(hs_cfg.output, id, name, sizeof(name))) {
        hs_log("cannot expand HEAPSCOPE_OUTPUT='%s': too long; not recording", hs_cfg.output);
        failed = 1;
        return -1;
    }
    int written = 0, werr = 0;
    int f = create_in(name, path, sizeof(path), first, len, &written, &werr);
    int first_errno = errno;
    if (f < 0 && first_errno != EEXIST) {
        /* The directory is not writable (or missing): same name in $TMPDIR or /tmp. */
        const char *base = strrchr(name, '/');
        base = base ? base + 1 : name;
        char alt[HS_PATH_MAX + 16];
        const char *dirs[2] = {hs_cfg.tmpdir, "/tmp"};
        for (int i = 0; i < 2 && f < 0; i++) {
            if (i == 1 && strcmp(dirs[0], "/tmp") == 0)
                break;
            if ((size_t)snprintf(alt, sizeof(alt), "%s/%s", dirs[i], base) >= sizeof(alt))
                continue;
            f = create_in(alt, path, sizeof(path), first, len, &written, &werr);
        }
        if (f >= 0)
            hs_log("cannot create %s (%s); writing the dump to %s instead", name, strerror(first_errno), path);
    }
    if (f < 0) {
        hs_log("cannot create a dump file for %s (%s); not recording, the program runs on", name,
               strerror(first_errno));
        failed = 1;
        return -1;
    }
    struct stat st;
    if (fstat(f, &st) == 0) {
        file_dev = st.st_dev;
        file_ino = st.st_ino;
    }
    fd = f;
    created = 1;
    generation++;
    if (hs_cfg.verbose)
        hs_log("pid %u writing %s", id->pid, path);
    if (!written)
        return hs_writer_append(first, len);
    if (werr) {
        write_failed(werr);
        return -1;
    }
    return 0;
}

/* Daemons close every descriptor, and the number may then be reused for the
 * host's own file or socket: writing our bytes there would corrupt its data.
 * Before each append, check that fd is still our dump; if not, never touch
 * it again (it is not ours to close) and reopen the dump by its path.
 * Returns 0 (fd is ours), 1 (no descriptor to be had right now: try again at
 * the next append) or -1 (the file is gone: stop). */
static int ensure_our_fd(void)
{
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0 && st.st_dev == file_dev && st.st_ino == file_ino)
        return 0;
    fd = -1;
    int f = hs_fd_to_high(open(path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC));
    if (f < 0 && (errno == EMFILE || errno == ENFILE || errno == ENOMEM || errno == EINTR))
        return 1;
    if (f >= 0 && fstat(f, &st) == 0 && st.st_dev == file_dev && st.st_ino == file_ino) {
        fd = f;
        return 0;
    }
    if (f >= 0)
        close(f);
    hs_log("the dump descriptor of %s was closed by the program and the file is gone; recording stops", path);
    failed = 1;
    return -1;
}

/* write(2) until done; returns 0 or the errno, *done the bytes written. A
 * write past RLIMIT_FSIZE raises SIGXFSZ, whose default action kills the
 * process: it is blocked around the write and the one we caused is swallowed. */
static int write_all(int f, const void *buf, size_t len, size_t *done)
{
    sigset_t xfsz, old;
    sigemptyset(&xfsz);
    sigaddset(&xfsz, SIGXFSZ);
    pthread_sigmask(SIG_BLOCK, &xfsz, &old);
    const char *p = buf;
    int err = 0;
    *done = 0;
    while (len > 0) {
        ssize_t w = write(f, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            err = w < 0 ? errno : ENOSPC;
            break;
        }
        p += w;
        len -= (size_t)w;
        *done += (size_t)w;
    }
    if (err == EFBIG) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&xfsz, NULL, &zero) == SIGXFSZ)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return err;
}

static void write_failed(int err)
{
    hs_log("writing %s failed (%s); recording stops, the program runs on", path, strerror(err));
    failed = 1;
}

/* Keeps bytes for the next append. Returns 0, or -1 (over the cap or out of
 * memory: recording stops, as later snapshots would name missing stacks). */
static int defer(const void *buf, size_t len)
{
    if (backlog_len + len > BACKLOG_MAX) {
        hs_log("the dump %s has had no descriptor for %lu MiB of snapshots; recording stops", path,
               (unsigned long)(BACKLOG_MAX >> 20));
        failed = 1;
        return -1;
    }
    if (backlog_len + len > backlog_cap) {
        size_t cap = backlog_cap ? backlog_cap : 64 * 1024;
        while (cap < backlog_len + len)
            cap *= 2;
        uint8_t *grown = hs_writer_grow(backlog, backlog_len, cap);
        if (!grown) {
            write_failed(ENOMEM);
            return -1;
        }
        backlog = grown;
        backlog_cap = cap;
    }
    memcpy(backlog + backlog_len, buf, len);
    backlog_len += len;
    return 0;
}

/* Writes buf; what the host's closing of our descriptor (EBADF) kept from
 * being written goes to the backlog. Returns 0 or -1 (failed for good). */
static int write_or_defer(const uint8_t *buf, size_t len)
{
    size_t done = 0;
    int err = fd >= 0 ? write_all(fd, buf, len, &done) : EBADF;
    if (err == EBADF)
        return defer(buf + done, len - done);
    if (err) {
        write_failed(err);
        return -1;
    }
    return 0;
}

size_t hs_writer_backlog(void) { return backlog_len; }

int hs_writer_append(const void *buf, size_t len)
{
    if (!created || failed)
        return -1;
    int r = ensure_our_fd();
    if (r < 0)
        return -1;
    if (r > 0) {
        if (hs_cfg.verbose && !backlog_len)
            hs_log("no descriptor free to reopen %s; snapshots wait for one", path);
        return defer(buf, len);
    }
    if (backlog_len) {
        size_t pending = backlog_len;
        backlog_len = 0;
        /* Write the backlog from its own buffer; on EBADF the unwritten tail
         * is moved to the front of it again (memmove: same buffer). */
        size_t done = 0;
        int err = write_all(fd, backlog, pending, &done);
        if (err == EBADF) {
            memmove(backlog, backlog + done, pending - done);
            backlog_len = pending - done;
            return defer(buf, len);
        }
        if (err) {
            write_failed(err);
            return -1;
        }
    }
    return write_or_defer(buf, len);
}

void hs_writer_give_up(void) { failed = 1; }

void hs_writer_reset_after_fork(void)
{
    struct stat st;
    /* Close the child's copy of the parent's dump, but only if that number
     * is still the dump: the host may have reused it. */
    if (fd >= 0 && fstat(fd, &st) == 0 && st.st_dev == file_dev && st.st_ino == file_ino)
        close(fd);
    fd = -1;
    created = 0;
    failed = 0;
    backlog_len = 0; /* the parent's bytes: it writes them itself */
    path[0] = 0;
}
