/* hs_prom_process.c - owns the standard process_* metrics that every
 * Prometheus client library exports (hs_prom_process_metrics in hs_prom.h),
 * read from /proc the way client_golang's procfs reads them. Must never
 * allocate or use stdio: files are read with open/read into stack buffers
 * and /proc/self/fd is counted with the getdents64 syscall, because
 * opendir() mallocs its DIR. Writes through hs_prom.c. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "hs_prom.h"

#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Reads the start of path into buf (NUL-terminated); returns its length or
 * -1. /proc/self/stat is one line well under 1 KiB. */
static ssize_t read_start(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = 0;
    while (len + 1 < cap) {
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    return (ssize_t)len;
}

/* The unsigned decimal at *p (after spaces), advancing *p; 0 when there is
 * none. */
static uint64_t parse_u64(const char **p)
{
    const char *s = *p;
    while (*s == ' ')
        s++;
    uint64_t v = 0;
    while (*s >= '0' && *s <= '9')
        v = v * 10 + (uint64_t)(*s++ - '0');
    *p = s;
    return v;
}

/* /proc/self/stat's fields from state (field 3) on, counted after the last
 * ')' because the command name (field 2) may hold spaces and parentheses. */
typedef struct {
    uint64_t utime, stime, starttime, vsize, rss; /* fields 14, 15, 22, 23, 24 */
} stat_t;

static int read_self_stat(stat_t *st)
{
    char buf[1024];
    if (read_start("/proc/self/stat", buf, sizeof(buf)) <= 0)
        return -1;
    const char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ' || !p[2])
        return -1;
    p += 3; /* past ") " and the state letter */
    uint64_t field[25] = {0};
    for (int i = 4; i <= 24; i++) {
        if (*p++ != ' ')
            return -1;
        if (*p == '-') /* priority and nice may be; none of ours are */
            p++;
        field[i] = parse_u64(&p);
    }
    st->utime = field[14];
    st->stime = field[15];
    st->starttime = field[22];
    st->vsize = field[23];
    st->rss = field[24];
    return 0;
}

/* The boot time from /proc/stat's "btime" line. The file grows with the
 * CPU count and its "intr" line can run to tens of KiB, so it is scanned in
 * chunks keeping only each line's first bytes. */
static int read_boot_time(uint64_t *btime)
{
    int fd = open("/proc/stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char chunk[4096], line[64];
    size_t line_len = 0;
    int found = -1;
    ssize_t n;
    while (found < 0 && (n = read(fd, chunk, sizeof(chunk))) > 0) {
        for (ssize_t i = 0; i < n && found < 0; i++) {
            if (chunk[i] != '\n') {
                if (line_len + 1 < sizeof(line))
                    line[line_len++] = chunk[i];
                continue;
            }
            line[line_len] = '\0';
            if (strncmp(line, "btime ", 6) == 0) {
                const char *p = line + 6;
                *btime = parse_u64(&p);
                found = 0;
            }
            line_len = 0;
        }
    }
    close(fd);
    return found;
}

/* Entries in /proc/self/fd other than ".", ".." and the descriptor this
 * count itself holds open; -1 when it cannot be listed. */
static int64_t count_open_fds(void)
{
    int fd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    /* struct linux_dirent64: d_ino 8, d_off 8, d_reclen 2, d_type 1, name */
    _Alignas(8) char buf[4096];
    int64_t count = 0;
    long n;
    while ((n = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0) {
        for (long at = 0; at < n;) {
            unsigned short reclen;
            memcpy(&reclen, buf + at + 16, sizeof(reclen));
            const char *name = buf + at + 19;
            if (strcmp(name, ".") != 0 && strcmp(name, "..") != 0)
                count++;
            at += reclen;
        }
    }
    close(fd);
    if (n < 0)
        return -1;
    return count - 1;
}

int hs_prom_process_metrics(hs_prom_writer_t *w)
{
    long ticks = sysconf(_SC_CLK_TCK);
    long page = sysconf(_SC_PAGESIZE);
    stat_t st;
    int have_stat = read_self_stat(&st) == 0 && ticks > 0 && page > 0;

    if (have_stat && hs_prom_family(w, "process_cpu_seconds_total", HS_PROM_COUNTER,
                                    "Total user and system CPU time spent in seconds.") == 0)
        hs_prom_sample_f64(w, "process_cpu_seconds_total", NULL, 0, (double)(st.utime + st.stime) / (double)ticks);

    int64_t fds = count_open_fds();
    if (fds >= 0 && hs_prom_family(w, "process_open_fds", HS_PROM_GAUGE, "Number of open file descriptors.") == 0)
        hs_prom_sample_u64(w, "process_open_fds", NULL, 0, (uint64_t)fds);

    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 &&
        hs_prom_family(w, "process_max_fds", HS_PROM_GAUGE, "Maximum number of open file descriptors.") == 0) {
        if (lim.rlim_cur == RLIM_INFINITY)
            hs_prom_sample_f64(w, "process_max_fds", NULL, 0, INFINITY);
        else
            hs_prom_sample_u64(w, "process_max_fds", NULL, 0, (uint64_t)lim.rlim_cur);
    }

    if (have_stat &&
        hs_prom_family(w, "process_virtual_memory_bytes", HS_PROM_GAUGE, "Virtual memory size in bytes.") == 0)
        hs_prom_sample_u64(w, "process_virtual_memory_bytes", NULL, 0, st.vsize);

    if (have_stat &&
        hs_prom_family(w, "process_resident_memory_bytes", HS_PROM_GAUGE, "Resident memory size in bytes.") == 0)
        hs_prom_sample_u64(w, "process_resident_memory_bytes", NULL, 0, st.rss * (uint64_t)page);

    uint64_t btime;
    if (have_stat && read_boot_time(&btime) == 0 &&
        hs_prom_family(w, "process_start_time_seconds", HS_PROM_GAUGE,
                       "Start time of the process since unix epoch in seconds.") == 0)
        hs_prom_sample_f64(w, "process_start_time_seconds", NULL, 0,
                           (double)btime + (double)st.starttime / (double)ticks);

    return w->overflow ? -1 : 0;
}
