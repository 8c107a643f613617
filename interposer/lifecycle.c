/* lifecycle.c - the init state machine (UNINIT -> INITIALIZING -> READY or
 * DISABLED; hs_state), configuration at load, the fork handlers, the signal
 * trigger and the final snapshot at exit. Everything that happens once per
 * process (or once per fork) is sequenced here; the hot path only reads
 * hs_state. It exports nothing and has no constructor of its own: the
 * library's constructor and destructor (preload/process.c) call it, so the
 * unit tests can link it. Calls down into every module it sets up, and
 * nothing calls back into it. */
#include "lifecycle.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "config.h"
#include "heapstats.h"
#include "hs_format.h"
#include "identity.h"
#include "live.h"
#include "log.h"
#include "real.h"
#include "schedule.h"
#include "tables.h"
#include "threads.h"
#include "writer.h"

_Atomic int hs_state = HS_STATE_UNINIT;

extern char **environ;

/* HEAPSCOPE_FOLLOW_EXEC=0: remove our library from LD_PRELOAD in place, so
 * exec'd children start without it. Editing the existing string avoids
 * setenv's allocation and keeps the variable's position in environ. */
static void strip_ld_preload(void)
{
    static const char var[] = "LD_PRELOAD=", ours[] = "libheapscope";
    const size_t var_len = sizeof(var) - 1, ours_len = sizeof(ours) - 1;
    for (char **e = environ; e && *e; e++) {
        if (strncmp(*e, var, var_len) != 0)
            continue;
        char *list = *e + var_len, *out = list;
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
            if (strncmp(base, ours, ours_len) == 0)
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
    hs_schedule_request(HS_REASON_SIGNAL); /* one atomic or: async-signal-safe */
}

void hs_lifecycle_at_exit(void)
{
    if (atomic_load(&hs_state) == HS_STATE_READY) {
        hs_schedule_final();
        hs_live_at_exit();
    }
}

/* fork: the parent writes a FORK snapshot (at most one a second); the child
 * starts its own dump with its own counts. No prepare handler: the lock and
 * the encoder a child might inherit mid-snapshot are reset in the child. */
static void fork_parent(void) { hs_schedule_atfork_parent(); }
static void fork_child(void)
{
    hs_schedule_atfork_child();
    hs_live_after_fork_child();
}

static int disable(void)
{
    atomic_store_explicit(&hs_state, HS_STATE_DISABLED, memory_order_release);
    return 0;
}

int hs_lifecycle_begin(void)
{
    int expected = HS_STATE_UNINIT;
    if (!atomic_compare_exchange_strong(&hs_state, &expected, HS_STATE_INITIALIZING))
        return 0;
    hs_log_init();               /* first: descriptor 2 as it is at load is the program's stderr */
    hs_log_set_file(hs_cfg.log); /* HEAPSCOPE_LOG, as soon as the configuration has it */
    hs_real_resolve();
    hs_config_load(&hs_cfg);
    if (hs_cfg.verbose)
        hs_config_print(&hs_cfg);
    if (!hs_cfg.follow_exec)
        strip_ld_preload();
    hs_identity_load(&hs_identity);
    if (hs_cfg.disable || !hs_identity_is_selected(&hs_identity, hs_cfg.only))
        return disable();
    if (hs_tables_init(hs_cfg.sample_rate) || hs_threads_init()) {
        hs_log("cannot set up the tables (out of memory?); running as a pass-through");
        return disable();
    }
    return 1;
}

void hs_lifecycle_prepare(void)
{
    hs_capture_init();
    hs_writer_prepare(&hs_identity); /* the dump's directory, fixed at load */
    hs_heapstats_init();
    hs_schedule_init();
}

void hs_lifecycle_start(void)
{
    pthread_atfork(NULL, fork_parent, fork_child);
    atexit(hs_lifecycle_at_exit);
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
    if (hs_cfg.http[0])
        hs_live_start(); /* the one thread we start, and only when asked */
}
