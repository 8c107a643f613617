/* live.h - the live service (HEAPSCOPE_HTTP): the server (live_server.c)
 * and the handlers it routes requests to. Every function here runs on the
 * server thread (the one thread the library starts, and only when asked),
 * unless it says otherwise. That thread is never tracked: its allocations
 * go straight to the real allocator and are never recorded as the
 * program's, so handlers may call malloc, free and snprintf freely, and
 * must free what they allocate before they return (or in resume). */
#ifndef HS_LIVE_H
#define HS_LIVE_H

#include <stddef.h>
#include <stdint.h>

#include "http_request.h"

/* ---- response bodies ------------------------------------------------------ */

/* A growable byte buffer from the real allocator. After a failed growth oom
 * is set, later appends are dropped, and the server answers 503. */
typedef struct {
    char *data;
    size_t len, cap;
    int oom;
} hs_lbuf_t;

void hs_lbuf_put(hs_lbuf_t *b, const void *p, size_t n);
void hs_lbuf_puts(hs_lbuf_t *b, const char *s);
void hs_lbuf_printf(hs_lbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Makes room for n more bytes and returns where they go (len unchanged), or
 * NULL (oom set). */
char *hs_lbuf_reserve(hs_lbuf_t *b, size_t n);
void hs_lbuf_free(hs_lbuf_t *b);

/* ---- requests and responses ----------------------------------------------- */

typedef struct {
    const hs_http_request_t *http; /* method, decoded path, query */
    const char *body;              /* a POST's body, complete; NULL otherwise */
    size_t body_len;
} hs_live_req_t;

typedef struct hs_live_resp {
    int status;               /* 200 unless the handler sets another */
    const char *content_type; /* a static string; text/plain; charset=utf-8 unless set */
    const char *disposition;  /* a static Content-Disposition value, or NULL */
    hs_lbuf_t body;
    /* A handler that needs time (a CPU profile, ?seconds=N) sets resume,
     * state and resume_at_ns (CLOCK_MONOTONIC, hs_now_mono_ns) and returns
     * without a body. The server keeps the connection waiting and calls
     * resume(resp, 0) once that time has come, or resume(resp, 1) when the
     * client went away or the process is ending, so the state is released
     * (its answer is then dropped). resume may set resume_at_ns again to
     * wait more; it clears resume (sets it NULL) when the answer is ready. */
    void (*resume)(struct hs_live_resp *resp, int cancel);
    void *state;
    uint64_t resume_at_ns;
} hs_live_resp_t;

typedef void (*hs_live_handler_t)(const hs_live_req_t *req, hs_live_resp_t *resp);

/* Sets status and a one-line text/plain body ("message\n"), dropping any
 * body written so far. */
void hs_live_error(hs_live_resp_t *resp, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- handlers, by module -------------------------------------------------- */

/* live_server.c: GET /debug/pprof/ (an HTML index like Go's). */
void hs_live_index(const hs_live_req_t *req, hs_live_resp_t *resp);

/* live_heap.c: /debug/pprof/heap, /debug/pprof/allocs (?seconds=N, ?gc=1,
 * ?debug=1), /debug/pprof/threadcreate, /debug/pprof/symbol (GET, POST). */
void hs_live_heap(const hs_live_req_t *req, hs_live_resp_t *resp);
void hs_live_allocs(const hs_live_req_t *req, hs_live_resp_t *resp);
void hs_live_threadcreate(const hs_live_req_t *req, hs_live_resp_t *resp);
void hs_live_symbol(const hs_live_req_t *req, hs_live_resp_t *resp);

/* live_cpu.c: /debug/pprof/profile?seconds=N and /debug/pprof/goroutine
 * (?debug=1, ?debug=2). */
void hs_live_cpu_profile(const hs_live_req_t *req, hs_live_resp_t *resp);
void hs_live_goroutine(const hs_live_req_t *req, hs_live_resp_t *resp);
/* Called by the server when the process forks (in the child) or ends, so a
 * profile in progress stops its timers. Any thread. */
void hs_live_cpu_abort(void);

/* live_metrics.c: /metrics, /debug/heapscope/health, /debug/heapscope/leaks. */
void hs_live_metrics(const hs_live_req_t *req, hs_live_resp_t *resp);
void hs_live_health(const hs_live_req_t *req, hs_live_resp_t *resp);
void hs_live_leaks(const hs_live_req_t *req, hs_live_resp_t *resp);

/* ---- the server ----------------------------------------------------------- */

/* At load (lifecycle.c), when HEAPSCOPE_HTTP is set: binds the address and
 * starts the server thread. A bind failure is one warning line; the program
 * runs on without the service. */
void hs_live_start(void);
/* In a fork child (lifecycle.c's atfork child handler): the parent's
 * sockets are closed; with a port range or a unix path holding %p the
 * child binds its own and starts its own server thread. */
void hs_live_after_fork_child(void);
/* At exit: a unix socket file this process created is removed. */
void hs_live_at_exit(void);
/* The server thread's kernel id, 0 when there is none. Any thread. */
uint32_t hs_live_server_tid(void);
/* Is the service serving? (the demo and tests read the bound address from
 * the log line) */
int hs_live_running(void);

#endif
