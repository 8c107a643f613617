/* procfs.c - reads single figures from /proc files into a stack buffer:
 * the snapshot's RSS and thread count, /metrics' thread count, the live
 * server's last-thread check. A leaf: open, read, close; no malloc, no
 * stdio, safe in the snapshot writer. */
#include "procfs.h"

#include <fcntl.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PROC_LINE_MAX 1024
/* Counting in a stat file resumes after the command's ')' at field 3. */
#define STAT_FIELD_AFTER_COMM 3

/* Reads file into buf (NUL-terminated); returns where field `field` starts
 * (counted as hs_proc_field counts), or NULL. */
static const char *field_start(const char *file, char *buf, size_t cap, int field)
{
    int f = open(file, O_RDONLY | O_CLOEXEC);
    if (f < 0)
        return NULL;
    ssize_t n = read(f, buf, cap - 1);
    close(f);
    if (n <= 0)
        return NULL;
    buf[n] = 0;
    const char *p = buf;
    size_t len = strlen(file);
    if (len >= 5 && strcmp(file + len - 5, "/stat") == 0) {
        p = strrchr(buf, ')');
        if (!p || p[1] != ' ' || field < STAT_FIELD_AFTER_COMM)
            return NULL;
        p += 2;
        field -= STAT_FIELD_AFTER_COMM;
    }
    for (int i = 0; i < field && *p; i++) {
        while (*p && *p != ' ')
            p++;
        while (*p == ' ')
            p++;
    }
    return p;
}

uint64_t hs_proc_field(const char *file, int field)
{
    char buf[PROC_LINE_MAX];
    const char *p = field_start(file, buf, sizeof(buf), field);
    uint64_t v = 0;
    while (p && *p >= '0' && *p <= '9')
        v = v * 10 + (uint64_t)(*p++ - '0');
    return v;
}

char hs_proc_state(const char *stat_file)
{
    char buf[PROC_LINE_MAX];
    const char *p = field_start(stat_file, buf, sizeof(buf), 3);
    return p ? *p : 0;
}

struct linux_dirent64_hdr {
    uint64_t ino;
    int64_t off;
    unsigned short reclen;
    unsigned char type;
    char name[];
};

long hs_proc_tasks(uint32_t *out, size_t max, uint32_t exclude)
{
    int fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    long count = 0;
    char buf[4096] __attribute__((aligned(8)));
    for (;;) {
        long n = syscall(SYS_getdents64, fd, buf, sizeof(buf));
        if (n <= 0)
            break;
        for (long off = 0; off < n;) {
            const struct linux_dirent64_hdr *d = (const void *)(buf + off);
            off += d->reclen;
            uint32_t tid = 0;
            const char *p = d->name;
            if (*p < '0' || *p > '9')
                continue;
            for (; *p >= '0' && *p <= '9'; p++)
                tid = tid * 10 + (uint32_t)(*p - '0');
            if (*p || tid == 0 || tid == exclude)
                continue;
            if ((size_t)count < max)
                out[count] = tid;
            count++;
        }
    }
    close(fd);
    return count;
}
