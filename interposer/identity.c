/* identity.c - owns hs_identity: the pid, parent, start times, program,
 * executable, command line and host that the HEADER record, the dump's name
 * (%p, %e, %t) and the live leak warning give. Read once at load (servers
 * such as redis rewrite their argv area later, nginx its workers'
 * environment) and renewed in a fork child. Never allocates and never uses
 * stdio: it runs in the constructor, before the allocator may be usable.
 * Called by lifecycle.c (load), schedule.c (fork child); read by snapshot.c
 * and livecheck.c. */
#include "identity.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"

hs_identity_t hs_identity;

extern char *program_invocation_short_name;

static size_t read_file(const char *file, char *buf, size_t cap)
{
    int f = open(file, O_RDONLY | O_CLOEXEC);
    if (f < 0)
        return 0;
    size_t len = 0;
    while (len < cap) {
        ssize_t n = read(f, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(f);
    return len;
}

void hs_identity_load(hs_identity_t *id)
{
    id->pid = (uint32_t)getpid();
    id->ppid = (uint32_t)getppid();
    id->start_real_ns = hs_now_real_ns();
    id->start_mono_ns = hs_now_mono_ns();
    ssize_t n = readlink("/proc/self/exe", id->exe, sizeof(id->exe) - 1);
    id->exe[n > 0 ? n : 0] = 0;
    /* Read now: servers such as redis rewrite their argv area later. */
    id->cmdline_len = read_file("/proc/self/cmdline", id->cmdline, sizeof(id->cmdline));
    while (id->cmdline_len > 0 && id->cmdline[id->cmdline_len - 1] == 0)
        id->cmdline_len--;
    const char *prog = program_invocation_short_name;
    if (!prog || !prog[0]) {
        prog = strrchr(id->exe, '/');
        prog = prog ? prog + 1 : "unknown";
    }
    strncpy(id->program, prog, sizeof(id->program) - 1);
    struct utsname u;
    if (uname(&u) == 0)
        strncpy(id->host, u.nodename, sizeof(id->host) - 1);
}

void hs_identity_renew_after_fork(hs_identity_t *id)
{
    id->ppid = id->pid;
    id->pid = (uint32_t)getpid();
    id->start_real_ns = hs_now_real_ns();
    id->start_mono_ns = hs_now_mono_ns();
}

int hs_identity_is_selected(const hs_identity_t *id, const char *only)
{
    const char *exe_base = strrchr(id->exe, '/');
    exe_base = exe_base ? exe_base + 1 : id->exe;
    return hs_config_name_matches(only, id->program) || hs_config_name_matches(only, exe_base);
}
