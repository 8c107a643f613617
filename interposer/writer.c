/* writer.c - owns the dump file descriptor: expands the path template,
 * creates the file on the first write (so short-lived processes that _exit
 * leave nothing behind), falls back to $TMPDIR or /tmp, and appends records.
 * Where the dump goes is fixed when the library loads (hs_writer_prepare: the
 * directory stays open), so chdir, daemon() and chroot do not move it. Only
 * the process that owns the file writes it: a child made without the atfork
 * handlers (_Fork, a raw clone, vfork) is refused and its parent's file and
 * this module's memory are left untouched. Called by one thread at a time
 * (the snapshot lock): snapshot.c hands it bytes encoded by encode.c; it
 * never encodes a record itself. Its descriptors go high (fd.c). Never
 * allocates with malloc, and never lets a failure reach the host: it logs
 * once and stops writing. */
#include "writer.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "clock.h"
#include "config.h"
#include "fd.h"
#include "hs_template.h"
#include "log.h"

/* A path we build: up to PATH_MAX, plus a name suffix. */
#define NAME_CAP (PATH_MAX + 64)
/* name, name.1 .. name.9, then name.<ns>-<n>: a clock in nanoseconds read at
 * each try, so the names of runs that share a pid (a container's PID 1) never
 * run out; bounded only so that a directory full of planted names cannot
 * keep us busy. */
#define NUMBERED_NAMES 10
#define NAME_TRIES (NUMBERED_NAMES + 1000)
/* hs_writer_grow's buffers keep their mapping's size in front of them; 64
 * bytes keep the buffer cache-line aligned. */
#define GROW_HEADER 64

static int fd = -1; /* -1 before creation, or while the host has taken our number */
static int created; /* the file exists (fd may still be -1: reopen pending) */
static int failed;
/* The process this state belongs to (0: not known yet). Every write first
 * checks getpid() against it: a child created without our atfork handlers
 * shares the parent's descriptor (and, with CLONE_VM, this very memory), and
 * its snapshot and END in the parent's file would make the analyzer reject
 * the whole dump. Such a child gets -1 and changes nothing here. */
static pid_t owner;
/* Bytes that could not be written yet because the host had closed our
 * descriptor and no new one could be had (EMFILE/ENFILE): written, in order,
 * before the next append. Appends are the only writes, so the file stays a
 * well-formed sequence of records. Bounded: past the cap we give up. */
#define BACKLOG_MAX (64u << 20)
#define BACKLOG_FIRST (64u * 1024) /* then doubled */
static uint8_t *backlog;
static size_t backlog_len, backlog_cap;
static dev_t file_dev; /* identity of our dump, to notice a descriptor the host closed */
static ino_t file_ino;
static uint32_t generation = 1;
static char path[NAME_CAP];
static size_t path_base;   /* where the file name starts in path */
static int path_in_dir_fd; /* the dump was created through dir_fd: reopen it there */

/* Set at load by hs_writer_prepare. load_template is HEAPSCOPE_OUTPUT made absolute
 * against the working directory at load ('%' of the directory escaped), so
 * that a later chdir or daemon() does not move the dump. load_dir is its
 * directory expanded for the loading process, held open as dir_fd (O_PATH,
 * >= 512, close-on-exec): creation goes through it, so a chroot (or a
 * renamed parent) does not lose the dump either. A fork child whose
 * directory expands the same (no %p/%t in it) uses it too; otherwise, or
 * when the host closed it, the absolute path is used. */
static int prepared;
static char load_template[NAME_CAP];
static char load_dir[NAME_CAP];
static int dir_fd = -1;
static dev_t dir_dev;
static ino_t dir_ino;
/* Scratch for one creation; one writer at a time, and a sampling thread's
 * stack may be small. */
static char scratch_name[NAME_CAP], scratch_dir[NAME_CAP], scratch_alt[NAME_CAP], scratch_chosen[NAME_CAP];

int hs_writer_is_open(void) { return created; }
int hs_writer_has_failed(void) { return failed; }
uint32_t hs_writer_generation(void) { return generation; }
const char *hs_writer_path(void) { return path; }

uint8_t *hs_writer_grow(uint8_t *old, size_t old_len, size_t new_cap)
{
    /* The mapping's size sits in a header in front of the buffer. */
    uint8_t *m = hs_map(new_cap + GROW_HEADER);
    if (!m)
        return NULL;
    *(size_t *)m = new_cap + GROW_HEADER;
    if (old) {
        memcpy(m + GROW_HEADER, old, old_len);
        hs_unmap(old - GROW_HEADER, *(size_t *)(old - GROW_HEADER));
    }
    return m + GROW_HEADER;
}

int hs_writer_expand(const char *tmpl, const hs_identity_t *id, char *out, size_t cap)
{
    hs_template_vars_t vars = {id->pid, id->program, id->start_real_ns / 1000000000ull};
    return hs_template_expand(tmpl, &vars, out, cap);
}

static int write_all(int f, const void *buf, size_t len, size_t *done);
static void write_failed(int err);

/* Is the calling process the one this state belongs to? */
static int caller_owns(void) { return owner == 0 || owner == getpid(); }

int hs_writer_owned_by_caller(void) { return caller_owns(); }

/* Is dir_fd still the directory we opened at load? A daemon closes every
 * descriptor and may reuse the number: then forget it (it is not ours to
 * close) and use the absolute path. */
static int dir_fd_is_ours(void)
{
    struct stat st;
    if (dir_fd >= 0 && fstat(dir_fd, &st) == 0 && S_ISDIR(st.st_mode) && st.st_dev == dir_dev && st.st_ino == dir_ino)
        return 1;
    dir_fd = -1;
    return 0;
}

/* Splits name into its directory (".", "/" or the part before the last '/')
 * and returns where the file name starts. -1 when the directory does not fit. */
static int split_name(const char *name, char *dir, size_t cap, const char **base)
{
    const char *slash = strrchr(name, '/');
    int n;
    if (!slash)
        n = snprintf(dir, cap, ".");
    else if (slash == name)
        n = snprintf(dir, cap, "/");
    else
        n = snprintf(dir, cap, "%.*s", (int)(slash - name), name);
    *base = slash ? slash + 1 : name;
    return n >= 0 && (size_t)n < cap ? 0 : -1;
}

void hs_writer_prepare(const hs_identity_t *id)
{
    if (prepared)
        return;
    prepared = 1;
    owner = getpid();
    size_t len = strlen(hs_cfg.output);
    int relative = hs_cfg.output[0] != '/';
    static char cwd[PATH_MAX];
    snprintf(load_template, sizeof(load_template), "%s", hs_cfg.output);
    if (relative && getcwd(cwd, sizeof(cwd)) && cwd[0] == '/') {
        /* cwd + '/' + template, each '%' of cwd doubled so it stays literal. */
        size_t t = 0;
        const char *c = cwd;
        for (; *c && t + 2 < sizeof(load_template); c++) {
            if (*c == '%')
                load_template[t++] = '%';
            load_template[t++] = *c;
        }
        if (t > 1 || load_template[0] != '/')
            load_template[t++] = '/'; /* not after "/" itself */
        if (!*c && t + len < sizeof(load_template))
            memcpy(load_template + t, hs_cfg.output, len + 1);
        else /* no room for the directory's name: stays relative, dir_fd still pins it */
            snprintf(load_template, sizeof(load_template), "%s", hs_cfg.output);
    }
    const char *base;
    if (hs_writer_expand(load_template, id, scratch_name, sizeof(scratch_name)) ||
        split_name(scratch_name, load_dir, sizeof(load_dir), &base)) {
        load_dir[0] = 0; /* hs_writer_open reports it */
        return;
    }
    /* Missing or unsearchable now: creation then goes by path (the program
     * may make the directory later) or falls back to $TMPDIR. */
    int d = hs_fd_to_high(open(load_dir, O_PATH | O_DIRECTORY | O_CLOEXEC));
    struct stat st;
    if (d >= 0 && fstat(d, &st) == 0) {
        dir_fd = d;
        dir_dev = st.st_dev;
        dir_ino = st.st_ino;
    } else if (d >= 0) {
        close(d);
    }
}

/* Try i of base: base, base.1 .. base.9, then base.<ns>-<i>. -1 when it does
 * not fit (errno ENAMETOOLONG). */
static int candidate_name(const char *base, int i, char *chosen, size_t cap)
{
    int n;
    if (i == 0)
        n = snprintf(chosen, cap, "%s", base);
    else if (i < NUMBERED_NAMES)
        n = snprintf(chosen, cap, "%s.%d", base, i);
    else
        n = snprintf(chosen, cap, "%s.%llu-%d", base, (unsigned long long)hs_now_real_ns(), i - NUMBERED_NAMES + 1);
    if (n < 0 || (size_t)n >= cap) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return 0;
}

/* Is the name taken by something that is neither a file nor a link (a
 * device such as /dev/full, a directory)? Then do not litter its directory
 * with name.1: the caller falls back to $TMPDIR. */
static int taken_by_non_file(int dir, const char *name)
{
    struct stat st;
    return fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode);
}

/* Tries the names of candidate_name while they exist (a stale dump of an
 * earlier process with the same pid, or a symlink planted at the path:
 * O_EXCL refuses both, and we never write through a link). */
static int create_with_suffixes(int dir, const char *base, char *chosen, size_t cap)
{
    for (int i = 0; i < NAME_TRIES; i++) {
        if (candidate_name(base, i, chosen, cap))
            return -1;
        int f =
            hs_fd_to_high(openat(dir, chosen, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_APPEND | O_CLOEXEC, 0600));
        if (f >= 0 || errno != EEXIST)
            return f;
        if (taken_by_non_file(dir, chosen)) {
            errno = ENOTSUP;
            return -1;
        }
    }
    errno = EEXIST;
    return -1;
}

/* Gives the unnamed file f the name `name` in dir: linkat with AT_EMPTY_PATH
 * (needs CAP_DAC_READ_SEARCH, and works in a chroot without /proc), else
 * through /proc/self/fd. 0, or -1 with errno (ENOENT: neither way works). */
static int link_unnamed(int f, int dir, const char *name)
{
    static int empty_path_refused; /* learnt once: no CAP_DAC_READ_SEARCH */
    if (!empty_path_refused) {
        if (linkat(f, "", dir, name, AT_EMPTY_PATH) == 0)
            return 0;
        if (errno != ENOENT)
            return -1;
    }
    char proc[64];
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", f);
    if (linkat(AT_FDCWD, proc, dir, name, AT_SYMLINK_FOLLOW) == 0) {
        empty_path_refused = 1;
        return 0;
    }
    return -1;
}

/* The dump appears with its first snapshot already in it: written to an
 * unnamed O_TMPFILE in the target directory, then linked to its name (which,
 * like O_EXCL, never replaces or follows anything there). A process that
 * execs or _exits in between leaves nothing behind instead of an empty file.
 * Returns the descriptor (first bytes written, *werr = 0 or the write's
 * errno), -1 with errno EACCES/EROFS/ENOENT.. (try another directory), or -2
 * when this filesystem or the kernel cannot do it (use create_with_suffixes). */
static int create_linked(int dir, const char *base, char *chosen, size_t cap, const void *first, size_t len, int *werr)
{
    int f = hs_fd_to_high(openat(dir, ".", O_TMPFILE | O_WRONLY | O_APPEND | O_CLOEXEC, 0600));
    if (f < 0)
        return errno == EISDIR || errno == EOPNOTSUPP || errno == EINVAL ? -2 : -1;
    size_t done;
    *werr = write_all(f, first, len, &done);
    for (int i = 0; i < NAME_TRIES; i++) {
        if (candidate_name(base, i, chosen, cap)) {
            close(f);
            return -1;
        }
        if (link_unnamed(f, dir, chosen) == 0)
            return f;
        int e = errno;
        if (e == EEXIST && !taken_by_non_file(dir, chosen))
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
static int create_in(int dir, const char *base, char *chosen, size_t cap, const void *first, size_t len, int *written,
                     int *werr)
{
    *written = 0;
    int f = create_linked(dir, base, chosen, cap, first, len, werr);
    if (f >= 0) {
        *written = 1;
        return f;
    }
    if (f == -1)
        return -1;
    return create_with_suffixes(dir, base, chosen, cap);
}

/* Creates name (a directory part and a file name): through dir_fd when its
 * directory is the one opened at load, else through the directory opened
 * now. On success path holds the name chosen. */
static int create_at(const char *name, const void *first, size_t len, int *written, int *werr)
{
    const char *base;
    if (split_name(name, scratch_dir, sizeof(scratch_dir), &base)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int via_dir_fd = prepared && strcmp(scratch_dir, load_dir) == 0 && dir_fd_is_ours();
    int dir = via_dir_fd ? dir_fd : hs_fd_to_high(open(scratch_dir, O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (dir < 0)
        return -1;
    int f = create_in(dir, base, scratch_chosen, sizeof(scratch_chosen), first, len, written, werr);
    int e = errno;
    if (!via_dir_fd)
        close(dir);
    if (f < 0) {
        errno = e;
        return -1;
    }
    size_t prefix = (size_t)(base - name);
    if (prefix + strlen(scratch_chosen) >= sizeof(path)) {
        /* Cannot happen (both fit in NAME_CAP) but never leave path cut short. */
        prefix = 0;
    }
    memcpy(path, name, prefix);
    snprintf(path + prefix, sizeof(path) - prefix, "%s", scratch_chosen);
    path_base = prefix;
    path_in_dir_fd = via_dir_fd;
    return f;
}

int hs_writer_open(const hs_identity_t *id, const void *first, size_t len)
{
    /* A child that inherited this state without hs_writer_reset_after_fork,
     * or an identity that is not the caller's (its header would name another
     * process): refuse, changing nothing (a vfork child shares this memory). */
    if (!caller_owns() || (pid_t)id->pid != getpid())
        return -1;
    if (created)
        return 0;
    if (failed)
        return -1;
    if (!prepared)
        hs_writer_prepare(id); /* not called at load: relative to the directory now */
    char *name = scratch_name;
    if (hs_writer_expand(load_template, id, name, sizeof(scratch_name))) {
        hs_log("cannot expand HEAPSCOPE_OUTPUT='%s': too long; not recording", hs_cfg.output);
        failed = 1;
        return -1;
    }
    int written = 0, werr = 0;
    int f = create_at(name, first, len, &written, &werr);
    int first_errno = errno;
    if (f < 0 && first_errno != EEXIST) {
        /* The directory is not writable (or missing): same name in $TMPDIR or /tmp. */
        const char *base = strrchr(name, '/');
        base = base ? base + 1 : name;
        char *alt = scratch_alt;
        const char *dirs[2] = {hs_cfg.tmpdir, "/tmp"};
        for (int i = 0; i < 2 && f < 0; i++) {
            if (i == 1 && strcmp(dirs[0], "/tmp") == 0)
                break;
            if ((size_t)snprintf(alt, sizeof(scratch_alt), "%s/%s", dirs[i], base) >= sizeof(scratch_alt))
                continue;
            f = create_at(alt, first, len, &written, &werr);
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
    owner = getpid();
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
    int flags = O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC;
    int f =
        hs_fd_to_high(path_in_dir_fd && dir_fd_is_ours() ? openat(dir_fd, path + path_base, flags) : open(path, flags));
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
        size_t cap = backlog_cap ? backlog_cap : BACKLOG_FIRST;
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
    if (!created || failed || !caller_owns())
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

void hs_writer_give_up(void)
{
    if (caller_owns())
        failed = 1;
}

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
    /* The child's own file: its next open expands the template with its own
     * identity, in the directory fixed at load (dir_fd is inherited). */
    owner = getpid();
}
