/* lifecycle.c - the init state machine (UNINIT -> INITIALIZING -> READY or
 * DISABLED), configuration at load, fork handlers, the signal trigger and
 * the final snapshot at exit. Everything that happens once per process (or
 * once per fork) lives here; the hot path only reads hs_state. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "capture.h"
#include "hs_format.h"
#include "heapstats.h"
#include "log.h"
#include "snapshot.h"
#include "state.h"
#include "tables.h"

_Atomic int hs_state = HS_STATE_UNINIT;

extern char **environ;
extern char *program_invocation_short_name;

uint64_t hs_now_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t hs_now_real_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

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

static void load_identity(hs_identity_t *id)
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

static int program_selected(const hs_identity_t *id)
{
    const char *exe_base = strrchr(id->exe, '/');
    exe_base = exe_base ? exe_base + 1 : id->exe;
    return hs_config_name_matches(hs_cfg.only, id->program) || hs_config_name_matches(hs_cfg.only, exe_base);
}

/* HEAPSCOPE_FOLLOW_EXEC=0: remove our library from LD_PRELOAD in place, so
 * exec'd children start without it. Editing the existing string avoids
 * setenv's allocation and keeps the variable's position in environ. */
static void strip_ld_preload(void)
{
    for (char **e = environ; e && *e; e++) {
        if (strncmp(*e, "LD_PRELOAD=", 11) != 0)
            continue;
        char *list = *e + 11, *out = list;
        for (char *p = list; *p;) {
            while (*p == ' ' || *p == ':')
                p++;
            char *tok = p;
            while (*p && *p != ' ' && *p != ':')
                p++;
            size_t len = (size_t)(p - tok);
            if (!len)
                break;
            const char *base = tok;
            for (char *q = tok; q < p; q++)
                if (*q == '/')
                    base = q + 1;
            if (strncmp(base, "libheapscope", 12) == 0)
                continue;
            if (out != list)
                *out++ = ' ';
            memmove(out, tok, len);
            out += len;
        }
        *out = 0;
    }
}

static void on_signal(int sig)
{
    (void)sig;
    hs_snapshot_request(HS_REASON_SIGNAL); /* one atomic or: async-signal-safe */
}

static void at_exit(void)
{
    if (atomic_load(&hs_state) == HS_STATE_READY)
        hs_snapshot_final();
}

/* fork: the parent writes a FORK snapshot (at most one a second); the child
 * starts its own dump with its own counts. No prepare handler: the lock and
 * the encoder a child might inherit mid-snapshot are reset in the child. */
static void fork_parent(void) { hs_snapshot_atfork_parent(); }
static void fork_child(void) { hs_snapshot_atfork_child(); }

/* dlclose: the stacks recorded while the object was loaded are written
 * first, with the mappings they belong to (snapshot.c). */
static int (*next_dlclose)(void *);

HS_EXPORT int dlclose(void *handle)
{
    if (!next_dlclose)
        next_dlclose = (int (*)(void *))dlsym(RTLD_NEXT, "dlclose");
    if (!next_dlclose)
        return -1; /* impossible: libc has one */
    hs_tls_t *t = &hs_tls;
    if (atomic_load_explicit(&hs_state, memory_order_acquire) == HS_STATE_READY && !t->in_hook &&
        t->attached != HS_THREAD_UNTRACKED) {
        t->in_hook++;
        hs_snapshot_before_unload();
        t->in_hook--;
    }
    return next_dlclose(handle);
}

static void disable(void) { atomic_store_explicit(&hs_state, HS_STATE_DISABLED, memory_order_release); }

__attribute__((constructor)) static void hs_init(void)
{
    int expected = HS_STATE_UNINIT;
    if (!atomic_compare_exchange_strong(&hs_state, &expected, HS_STATE_INITIALIZING))
        return;
    hs_log_init(); /* first: descriptor 2 as it is at load is the program's stderr */
    hs_resolve_real();
    hs_config_load(&hs_cfg);
    if (hs_cfg.verbose)
        hs_config_print(&hs_cfg);
    if (!hs_cfg.follow_exec)
        strip_ld_preload();
    load_identity(&hs_identity);
    if (hs_cfg.disable || !program_selected(&hs_identity))
        return disable();
    if (hs_tables_init(hs_cfg.sample_rate) || hs_threads_init()) {
        hs_log("cannot set up the tables (out of memory?); running as a pass-through");
        return disable();
    }
    hs_capture_init();
    hs_writer_prepare(&hs_identity); /* the dump's directory, fixed at load */
    hs_heapstats_init();
    hs_snapshot_init();
    next_dlclose = (int (*)(void *))dlsym(RTLD_NEXT, "dlclose");
    pthread_atfork(NULL, fork_parent, fork_child);
    atexit(at_exit);
    if (hs_cfg.signal) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sa.sa_flags = SA_RESTART;
        sigemptyset(&sa.sa_mask);
        sigaction(hs_cfg.signal, &sa, NULL);
    }
    /* release: a thread that sees READY sees the tables and config above */
    atomic_store_explicit(&hs_state, HS_STATE_READY, memory_order_release);
}

__attribute__((destructor)) static void hs_fini(void) { at_exit(); }
