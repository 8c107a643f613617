/* input.c - opens the DUMP operands of every analyzer command (see input.h):
 * `-`, regular files, pipes, FIFOs, devices. It owns the two hazards of
 * non-seekable input: a second pass (solved by spooling through the reader
 * into an unlinked temporary file, so the copy stops where the dump does)
 * and a FIFO without a writer (opened non-blocking, then a bounded wait for
 * its first bytes). It never parses records itself: common/hs_reader.c does,
 * and analyzer/model.c builds on the fd handed out here.
 * Rejected: holding a piped dump in memory (a day-long dump is gigabytes);
 * a raw copy into the spool (`cat x.hsd /dev/zero |` would fill the disk);
 * a timeout on every pipe (a writer that first asks for a password, as ssh
 * does, is slow but present: only a FIFO or a device can have no writer). */
#include "input.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "hs_reader.h"

struct hs_input {
    char *name;   /* the operand as given: messages and reports name it */
    int fd;       /* the file, stdin, the stream, or the spool file */
    int owns_fd;  /* not for stdin */
    int seekable; /* a regular file or the spool: every pass rewinds to start */
    off_t start;  /* where the dump begins in fd (stdin may not be at 0) */
    unsigned passes;
};

const char *hs_input_name(const hs_input_t *in) { return in->name; }

/* An anonymous pipe lives on pipefs; a named FIFO on the file system that
 * holds its name. Only the FIFO can lack a writer. */
static int is_anonymous_pipe(int fd, const struct stat *st)
{
    struct statfs fs;
    return S_ISFIFO(st->st_mode) && fstatfs(fd, &fs) == 0 && fs.f_type == PIPEFS_MAGIC;
}

/* A FIFO opened with O_NONBLOCK and no writer reports nothing to poll(2)
 * (Linux raises POLLHUP only after a writer came and went), so this waits
 * for a writer's first bytes, or its leaving (POLLHUP: read(2) then says
 * EOF and the reader calls the input empty), for HS_INPUT_WAIT_SECONDS. */
static int wait_for_data(const hs_input_t *in, const char *kind, char *err, size_t errlen)
{
    struct timespec now, deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += HS_INPUT_WAIT_SECONDS;
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        long long left_ms =
            (long long)(deadline.tv_sec - now.tv_sec) * 1000 + (deadline.tv_nsec - now.tv_nsec) / 1000000;
        struct pollfd pfd = {.fd = in->fd, .events = POLLIN};
        int n = left_ms > 0 ? poll(&pfd, 1, (int)left_ms) : 0;
        if (n > 0)
            return 0;
        if (n == 0) {
            snprintf(err, errlen, "%s: no data within %d s: nothing is writing to this %s", in->name,
                     HS_INPUT_WAIT_SECONDS, kind);
            return -1;
        }
        if (errno != EINTR) {
            snprintf(err, errlen, "%s: cannot wait for data: %s", in->name, strerror(errno));
            return -1;
        }
    }
}

/* An unlinked file in $TMPDIR (or /tmp): O_TMPFILE where the file system
 * supports it, else mkstemp and an immediate unlink. Either way the data
 * goes away with the process, however it ends. */
static int open_spool_file(const hs_input_t *in, char *err, size_t errlen)
{
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir)
        dir = "/tmp";
    int fd = open(dir, O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0)
        return fd;
    char path[4096];
    if (snprintf(path, sizeof(path), "%s/heapscope-spool.XXXXXX", dir) >= (int)sizeof(path)) {
        snprintf(err, errlen, "%s: cannot spool the input: TMPDIR is too long", in->name);
        return -1;
    }
    fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot create a temporary file in %s to hold the input: %s", in->name, dir,
                 strerror(errno));
        return -1;
    }
    unlink(path);
    return fd;
}

/* Copies the stream into a spool file through the reader, so the copy ends
 * with the dump: at END, at a torn tail, or at the first corrupt record (an
 * error now, as the command's own pass would report it). Infinite input
 * (/dev/zero, a dump followed by garbage) costs at most one buffer. */
static int spool(hs_input_t *in, char *err, size_t errlen)
{
    int tmp = open_spool_file(in, err, errlen);
    if (tmp < 0)
        return HS_EXIT_FAILURE;
    hs_reader_t *r = NULL;
    hs_read_error_t e;
    hs_read_status_t st = hs_reader_open_fd_copy(in->fd, tmp, &r, &e);
    if (st == HS_READ_OK) {
        hs_record_t rec;
        while ((st = hs_reader_next(r, &rec)) == HS_READ_OK)
            ;
        e = *hs_reader_error(r);
        hs_reader_close(r);
        if (st == HS_READ_END || st == HS_READ_TRUNCATED)
            st = HS_READ_OK; /* a torn tail is the passes' warning to give */
    }
    if (st != HS_READ_OK) {
        char why[400];
        snprintf(err, errlen, "%s: %s", in->name, hs_reader_format_error(&e, why, sizeof(why)));
        close(tmp);
        return st == HS_READ_IO ? HS_EXIT_FAILURE : HS_EXIT_BAD_INPUT;
    }
    if (in->owns_fd)
        close(in->fd);
    in->fd = tmp;
    in->owns_fd = 1;
    in->seekable = 1;
    in->start = 0;
    return 0;
}

/* Classifies the open fd and makes it ready for its first pass. */
static int prepare(hs_input_t *in, int is_stdin, hs_input_mode_t mode, char *err, size_t errlen)
{
    struct stat st;
    if (fstat(in->fd, &st) != 0) {
        snprintf(err, errlen, "%s: cannot %s: %s", in->name, is_stdin ? "read stdin" : "stat", strerror(errno));
        return HS_EXIT_BAD_INPUT;
    }
    if (S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s: is a directory, not a dump", in->name);
        return HS_EXIT_BAD_INPUT;
    }
    if (S_ISREG(st.st_mode)) {
        in->seekable = 1;
        in->start = is_stdin ? lseek(in->fd, 0, SEEK_CUR) : 0;
        if (in->start < 0)
            in->start = 0;
    } else if (is_stdin && isatty(in->fd)) {
        snprintf(err, errlen, "%s: stdin is a terminal; pipe or redirect a dump into it", in->name);
        return HS_EXIT_BAD_INPUT;
    } else if (!is_anonymous_pipe(in->fd, &st) && !S_ISSOCK(st.st_mode)) {
        if (wait_for_data(in, S_ISFIFO(st.st_mode) ? "FIFO" : "device", err, errlen))
            return HS_EXIT_BAD_INPUT;
    }
    /* Opened non-blocking only so that open(2) of a FIFO cannot hang; reads
     * block as usual. stdin's flags belong to whoever shares it: the reader
     * waits through EAGAIN instead. */
    if (in->owns_fd) {
        int flags = fcntl(in->fd, F_GETFL);
        if (flags >= 0 && (flags & O_NONBLOCK))
            (void)fcntl(in->fd, F_SETFL, flags & ~O_NONBLOCK);
    }
    if (!in->seekable && mode == HS_INPUT_REREAD)
        return spool(in, err, errlen);
    return 0;
}

int hs_input_open(const char *operand, hs_input_mode_t mode, hs_input_t **out, char *err, size_t errlen)
{
    *out = NULL;
    hs_input_t *in = calloc(1, sizeof(*in));
    if (!in || !(in->name = strdup(operand))) {
        free(in);
        snprintf(err, errlen, "%s: out of memory", operand);
        return HS_EXIT_FAILURE;
    }
    int is_stdin = strcmp(operand, "-") == 0;
    if (is_stdin) {
        in->fd = STDIN_FILENO;
    } else {
        in->fd = open(operand, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
        if (in->fd < 0) {
            snprintf(err, errlen, "%s: cannot open: %s", operand, strerror(errno));
            hs_input_close(in);
            return HS_EXIT_BAD_INPUT;
        }
        in->owns_fd = 1;
    }
    int rc = prepare(in, is_stdin, mode, err, errlen);
    if (rc) {
        hs_input_close(in);
        return rc;
    }
    *out = in;
    return 0;
}

int hs_input_pass(hs_input_t *in, int *fd, char *err, size_t errlen)
{
    *fd = -1;
    if (!in->seekable) {
        if (in->passes > 0) {
            snprintf(err, errlen, "%s: a pipe can be read only once", in->name);
            return -1;
        }
    } else if (lseek(in->fd, in->start, SEEK_SET) < 0) {
        snprintf(err, errlen, "%s: cannot go back to the start of the dump: %s", in->name, strerror(errno));
        return -1;
    }
    in->passes++;
    *fd = in->fd;
    return 0;
}

int hs_input_model(hs_input_t *in, hs_model_t **out, char *err, size_t errlen)
{
    int fd;
    *out = NULL;
    if (hs_input_pass(in, &fd, err, errlen))
        return -1;
    return hs_model_open_fd(in->name, fd, out, err, errlen);
}

void hs_input_close(hs_input_t *in)
{
    if (!in)
        return;
    if (in->owns_fd && in->fd >= 0)
        close(in->fd);
    free(in->name);
    free(in);
}

int hs_input_check_operands(const char *cmd, char *const *operands, int count)
{
    int stdin_uses = 0;
    for (int i = 0; i < count; i++)
        stdin_uses += strcmp(operands[i], "-") == 0;
    if (stdin_uses <= 1)
        return 0;
    fprintf(stderr, "heapscope: %s: '-' (stdin) is given %d times; stdin can be read only once\n", cmd, stdin_uses);
    return HS_EXIT_BAD_INPUT;
}
