/* live_server.c - the live service (HEAPSCOPE_HTTP): the listening socket,
 * the server thread and its poll loop, connections, authentication and
 * routing to the handlers of live.h. The endpoints' contents are the
 * handlers' business (live_heap.c, live_cpu.c, live_metrics.c).
 *
 * The one thread the library starts, and only when asked. It is untracked
 * (its allocations go to the real allocator and are never recorded), blocks
 * every signal (the program's signals go to the program's threads, and no
 * signal can be left pending on it: sends use MSG_NOSIGNAL), and never keeps
 * the process alive: when every other thread has ended it calls exit(0), as
 * glibc's last thread does. It also passes a safe point about once a second,
 * so an idle program still gets its snapshots and live leak check.
 *
 * Bounds: a request head of HS_HTTP_MAX_HEAD bytes, a body of
 * HS_HTTP_MAX_BODY, MAX_CONNS connections at once (more are answered 429 and
 * closed), READ_TIMEOUT for a whole request, WRITE_TIMEOUT for a whole
 * answer. One request per connection (Connection: close). Descriptors live
 * at HS_FD_HIGH or above with close-on-exec, like the dump; a descriptor the
 * program closed under us (closefrom) is noticed by its inode and never used
 * again. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "fd.h"
#include "framefilter.h"
#include "hs_template.h"
#include "identity.h"
#include "live.h"
#include "log.h"
#include "procfs.h"
#include "real.h"
#include "schedule.h"
#include "threads.h"

#define MAX_CONNS 16
#define MAX_REFUSED_PER_TURN 64
#define READ_TIMEOUT_NS (10 * HS_NS_PER_SEC)
#define WRITE_TIMEOUT_NS (60 * HS_NS_PER_SEC)
#define TICK_MS 200                             /* the last-thread check */
#define SAFE_POINT_EVERY_NS (1 * HS_NS_PER_SEC) /* snapshots of an idle program */
#define CHILD_BIND_TRIES 50                     /* a fork child's single address: 5 s */
#define SERVER_STACK_SIZE (1u << 20)

/* ---- the address ------------------------------------------------------------ */

typedef struct {
    int family; /* AF_INET, AF_INET6, AF_UNIX */
    unsigned port_lo, port_hi;
    struct in_addr v4;
    struct in6_addr v6;
    char unix_template[HS_PATH_MAX]; /* unix: path as written (%p expands) */
    int loopback;
} address_t;

static int parse_port(const char *s, size_t len, unsigned *out)
{
    if (len == 0 || len > 5)
        return -1;
    unsigned v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > 65535)
        return -1;
    *out = v;
    return 0;
}

/* "HOST:PORT", "HOST:LO-HI", "[V6]:PORT", "unix:PATH". Fills *a and returns
 * 0, or -1 with why set. HOST is a numeric address, "localhost", or empty
 * (every interface). */
static int parse_address(const char *text, address_t *a, const char **why)
{
    memset(a, 0, sizeof(*a));
    if (strncmp(text, "unix:", 5) == 0) {
        const char *path = text + 5;
        if (!path[0] || strlen(path) >= sizeof(a->unix_template)) {
            *why = "a unix socket path is empty or too long";
            return -1;
        }
        a->family = AF_UNIX;
        strcpy(a->unix_template, path);
        a->loopback = 1;
        return 0;
    }
    const char *colon = strrchr(text, ':');
    if (!colon) {
        *why = "no port (HOST:PORT)";
        return -1;
    }
    const char *ports = colon + 1, *dash = strchr(ports, '-');
    size_t lo_len = dash ? (size_t)(dash - ports) : strlen(ports);
    if (parse_port(ports, lo_len, &a->port_lo) != 0 ||
        (dash ? parse_port(dash + 1, strlen(dash + 1), &a->port_hi) : (a->port_hi = a->port_lo, 0)) != 0 ||
        a->port_hi < a->port_lo || (dash && a->port_lo == 0)) {
        *why = "the port is not a number from 0 to 65535, or a range LO-HI";
        return -1;
    }
    char host[64];
    size_t host_len = (size_t)(colon - text);
    if (host_len >= sizeof(host)) {
        *why = "the host is too long";
        return -1;
    }
    memcpy(host, text, host_len);
    host[host_len] = 0;
    if (host[0] == '[') {
        if (host_len < 2 || host[host_len - 1] != ']') {
            *why = "an IPv6 address must be written [ADDR]:PORT";
            return -1;
        }
        host[host_len - 1] = 0;
        a->family = AF_INET6;
        if (inet_pton(AF_INET6, host + 1, &a->v6) != 1) {
            *why = "not a numeric IPv6 address";
            return -1;
        }
        a->loopback = IN6_IS_ADDR_LOOPBACK(&a->v6);
        return 0;
    }
    a->family = AF_INET;
    if (strcmp(host, "localhost") == 0)
        strcpy(host, "127.0.0.1");
    if (!host[0] || strcmp(host, "*") == 0) {
        a->v4.s_addr = htonl(INADDR_ANY);
    } else if (inet_pton(AF_INET, host, &a->v4) != 1) {
        *why = "not a numeric IPv4 address (names are not looked up)";
        return -1;
    }
    a->loopback = (ntohl(a->v4.s_addr) >> 24) == 127;
    return 0;
}

/* ---- server state ----------------------------------------------------------- */

enum { CONN_FREE, CONN_READ, CONN_WAIT, CONN_WRITE };

typedef struct {
    int state;
    int fd;
    ino_t ino;
    uint64_t deadline_ns;
    char *in; /* request head and body */
    size_t in_len, in_cap;
    hs_http_request_t *req;
    hs_live_resp_t resp;
    char head[768];
    size_t head_len, out_off;
    int head_only;
} conn_t;

static address_t addr;
static char bound_name[HS_PATH_MAX + 64]; /* for log lines */
static char unix_path[HS_PATH_MAX];       /* the socket file we created, to unlink at exit */
static uint32_t unix_path_pid;
static _Atomic int listen_fd = -1;
static ino_t listen_ino;
static _Atomic uint32_t server_tid;
static _Atomic int running;
static conn_t conns[MAX_CONNS];
/* The descriptors the server holds, for a fork child to close: each slot
 * is set once the descriptor is ours (high, close-on-exec) and cleared
 * before it is closed. */
static _Atomic int held_fds[MAX_CONNS];
static int child_bind_tries; /* > 0: a fork child waiting for its parent's address */

uint32_t hs_live_server_tid(void) { return atomic_load_explicit(&server_tid, memory_order_acquire); }
int hs_live_running(void) { return atomic_load_explicit(&running, memory_order_acquire); }

static ino_t inode_of(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) ? st.st_ino : 0;
}

/* Is fd still the socket we opened? (the program may have closed it and
 * reused the number: then it is not ours to touch) */
static int still_ours(int fd, ino_t ino) { return fd >= 0 && ino && inode_of(fd) == ino; }

static void expand_unix_path(char *out, size_t cap)
{
    hs_template_vars_t vars = {.pid = (uint32_t)getpid(),
                               .program = hs_identity.program,
                               .start_seconds = hs_identity.start_real_ns / HS_NS_PER_SEC};
    if (hs_template_expand(addr.unix_template, &vars, out, cap) != 0)
        out[0] = 0;
}

/* Binds and listens on port (inet) or the unix path. Returns the high
 * descriptor, or -1 with errno. */
static int bind_one(unsigned port, char *name, size_t name_cap)
{
    int fd = socket(addr.family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    fd = hs_fd_to_high(fd);
    int one = 1;
    if (addr.family != AF_UNIX)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    int rc;
    if (addr.family == AF_INET) {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr = addr.v4};
        rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    } else if (addr.family == AF_INET6) {
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
        struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port), .sin6_addr = addr.v6};
        rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    } else {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        char path[HS_PATH_MAX];
        expand_unix_path(path, sizeof(path));
        if (!path[0] || strlen(path) >= sizeof(sa.sun_path)) {
            close(fd);
            errno = ENAMETOOLONG;
            return -1;
        }
        strcpy(sa.sun_path, path);
        rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
        if (rc != 0 && errno == EADDRINUSE) {
            /* A socket file nobody listens on (a previous process with this
             * pid) is stale: replace it. One that answers is left alone. */
            int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) != 0 && errno == ECONNREFUSED) {
                struct stat st;
                if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode) && unlink(path) == 0)
                    rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
            }
            if (probe >= 0)
                close(probe);
            if (rc != 0)
                errno = EADDRINUSE;
        }
        if (rc == 0) {
            chmod(path, 0600);
            strcpy(unix_path, path);
            unix_path_pid = (uint32_t)getpid();
            snprintf(name, name_cap, "unix:%s", path);
        }
    }
    if (rc != 0 || listen(fd, 64) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    if (addr.family != AF_UNIX) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        char ip[INET6_ADDRSTRLEN] = "?";
        unsigned real_port = port;
        if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
            if (ss.ss_family == AF_INET) {
                struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
                inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
                real_port = ntohs(s4->sin_port);
            } else {
                struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
                inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
                real_port = ntohs(s6->sin6_port);
            }
        }
        snprintf(name, name_cap, addr.family == AF_INET6 ? "http://[%s]:%u" : "http://%s:%u", ip, real_port);
    }
    return fd;
}

/* Binds the first free port of the range (or the one address). Returns the
 * descriptor or -1; *err is the last bind's errno. */
static int bind_address(int *err)
{
    *err = 0;
    if (addr.family == AF_UNIX) {
        int fd = bind_one(0, bound_name, sizeof(bound_name));
        *err = fd < 0 ? errno : 0;
        return fd;
    }
    for (unsigned port = addr.port_lo; port <= addr.port_hi; port++) {
        int fd = bind_one(port, bound_name, sizeof(bound_name));
        if (fd >= 0)
            return fd;
        *err = errno;
        if (errno != EADDRINUSE && errno != EACCES)
            break;
    }
    return -1;
}

static void set_listener(int fd)
{
    listen_ino = fd >= 0 ? inode_of(fd) : 0;
    atomic_store_explicit(&listen_fd, fd, memory_order_release);
}

/* ---- connections ------------------------------------------------------------ */

static void hold(int fd)
{
    for (int i = 0; i < MAX_CONNS; i++) {
        int expected = -1;
        if (atomic_compare_exchange_strong(&held_fds[i], &expected, fd))
            return;
    }
}

static void unhold(int fd)
{
    for (int i = 0; i < MAX_CONNS; i++) {
        int expected = fd;
        if (atomic_compare_exchange_strong(&held_fds[i], &expected, -1))
            return;
    }
}

static void conn_close(conn_t *c)
{
    if (c->resp.resume)
        c->resp.resume(&c->resp, 1);
    if (c->fd >= 0) {
        unhold(c->fd);
        if (still_ours(c->fd, c->ino))
            close(c->fd);
    }
    hs_lbuf_free(&c->resp.body);
    free(c->in);
    free(c->req);
    memset(c, 0, sizeof(*c));
    c->fd = -1;
    c->state = CONN_FREE;
}

/* The answer's head; the body is resp.body. */
static void conn_respond(conn_t *c, uint64_t now)
{
    hs_live_resp_t *r = &c->resp;
    if (r->body.oom) {
        hs_lbuf_free(&r->body);
        hs_live_error(r, 503, "out of memory building the answer");
    }
    int n = hs_http_format_response_head(c->head, sizeof(c->head), r->status, r->content_type, r->body.len);
    if (n < 0) {
        hs_lbuf_free(&r->body);
        hs_live_error(r, 500, "internal error: bad response head");
        n = hs_http_format_response_head(c->head, sizeof(c->head), r->status, r->content_type, r->body.len);
    }
    if (n > 2 && r->disposition) {
        int m = snprintf(c->head + n - 2, sizeof(c->head) - (size_t)n + 2, "Content-Disposition: %s\r\n\r\n",
                         r->disposition);
        if (m > 0 && (size_t)m < sizeof(c->head) - (size_t)n + 2)
            n += m - 2;
        else
            memcpy(c->head + n - 2, "\r\n", 3);
    }
    c->head_len = n > 0 ? (size_t)n : 0;
    c->out_off = 0;
    c->state = CONN_WRITE;
    c->deadline_ns = now + WRITE_TIMEOUT_NS;
}

static void conn_error(conn_t *c, int status, const char *msg, uint64_t now)
{
    hs_live_error(&c->resp, status, "%s", msg);
    conn_respond(c, now);
}

typedef struct {
    const char *path;
    hs_live_handler_t handler;
    int post; /* POST allowed */
} route_t;

static void serve_cmdline(const hs_live_req_t *req, hs_live_resp_t *resp);

static const route_t routes[] = {
    {"/debug/pprof/", hs_live_index, 0},
    {"/debug/pprof", hs_live_index, 0},
    {"/debug/pprof/heap", hs_live_heap, 0},
    {"/debug/pprof/allocs", hs_live_allocs, 0},
    {"/debug/pprof/profile", hs_live_cpu_profile, 0},
    {"/debug/pprof/threadcreate", hs_live_threadcreate, 0},
    {"/debug/pprof/goroutine", hs_live_goroutine, 0},
    {"/debug/pprof/symbol", hs_live_symbol, 1},
    {"/debug/pprof/cmdline", serve_cmdline, 0},
    {"/metrics", hs_live_metrics, 0},
    {"/debug/heapscope/leaks", hs_live_leaks, 0},
    {"/debug/heapscope/health", hs_live_health, 0},
};

static void dispatch(conn_t *c, uint64_t now)
{
    const hs_http_request_t *h = c->req;
    if (hs_cfg.http_token[0]) {
        if (!h->bearer_token ||
            !hs_http_token_equal(h->bearer_token, h->bearer_token_len, hs_cfg.http_token, strlen(hs_cfg.http_token))) {
            conn_error(c, 401, h->has_authorization ? "bad token" : "Authorization: Bearer <token> required", now);
            return;
        }
    }
    const route_t *route = NULL;
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        if (strcmp(h->path, routes[i].path) == 0)
            route = &routes[i];
    if (!route) {
        conn_error(c, 404, "unknown path", now);
        return;
    }
    if (h->method == HS_HTTP_POST && !route->post) {
        conn_error(c, 405, "method not allowed", now);
        return;
    }
    c->head_only = h->method == HS_HTTP_HEAD;
    hs_live_req_t req = {.http = h,
                         .body = h->method == HS_HTTP_POST ? c->in + h->head_len : NULL,
                         .body_len = h->method == HS_HTTP_POST ? h->content_length : 0};
    c->resp.status = 200;
    c->resp.content_type = "text/plain; charset=utf-8";
    route->handler(&req, &c->resp);
    if (c->resp.resume) {
        c->state = CONN_WAIT;
        c->deadline_ns = c->resp.resume_at_ns;
        return;
    }
    conn_respond(c, now);
}

/* Reads what is there; answers once the request is whole. */
static void conn_read(conn_t *c, uint64_t now)
{
    for (;;) {
        if (c->in_len == c->in_cap) {
            /* Only a body makes the buffer grow past the head's bound. */
            size_t want = c->in_cap ? c->in_cap * 2 : HS_HTTP_MAX_HEAD;
            if (c->in_cap >= HS_HTTP_MAX_HEAD + HS_HTTP_MAX_BODY || !c->req || !c->req->head_len) {
                if (c->in_cap >= HS_HTTP_MAX_HEAD) {
                    conn_error(c, 431, "request head too large", now);
                    return;
                }
            }
            if (want > HS_HTTP_MAX_HEAD + HS_HTTP_MAX_BODY)
                want = HS_HTTP_MAX_HEAD + HS_HTTP_MAX_BODY;
            char *in = realloc(c->in, want);
            if (!in) {
                conn_error(c, 503, "out of memory", now);
                return;
            }
            c->in = in;
            c->in_cap = want;
        }
        ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            conn_close(c); /* the client went away before asking */
            return;
        }
        c->in_len += (size_t)n;
        if (!c->req || !c->req->head_len) {
            if (!c->req && !(c->req = calloc(1, sizeof(*c->req)))) {
                conn_error(c, 503, "out of memory", now);
                return;
            }
            hs_http_parse_result_t r = hs_http_parse_request(c->in, c->in_len, c->req);
            if (r == HS_HTTP_PARSE_ERROR) {
                conn_error(c, c->req->status, c->req->error ? c->req->error : "bad request", now);
                return;
            }
            if (r == HS_HTTP_PARSE_NEED_MORE) {
                c->req->head_len = 0;
                if (c->in_len >= HS_HTTP_MAX_HEAD) {
                    conn_error(c, 431, "request head too large", now);
                    return;
                }
                continue;
            }
        }
        size_t whole = c->req->head_len + (c->req->method == HS_HTTP_POST ? c->req->content_length : 0);
        if (c->in_len >= whole) {
            dispatch(c, now);
            return;
        }
    }
}

/* Writes what the socket takes; closes once everything is out. */
static void conn_write(conn_t *c)
{
    size_t body_len = c->head_only ? 0 : c->resp.body.len;
    for (;;) {
        size_t total = c->head_len + body_len;
        if (c->out_off >= total) {
            shutdown(c->fd, SHUT_WR);
            conn_close(c);
            return;
        }
        struct iovec iov[2];
        int n_iov = 0;
        if (c->out_off < c->head_len)
            iov[n_iov++] = (struct iovec){c->head + c->out_off, c->head_len - c->out_off};
        size_t body_off = c->out_off > c->head_len ? c->out_off - c->head_len : 0;
        if (body_len > body_off)
            iov[n_iov++] = (struct iovec){c->resp.body.data + body_off, body_len - body_off};
        struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)n_iov};
        ssize_t n = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n < 0) {
            conn_close(c); /* the client went away mid-answer */
            return;
        }
        c->out_off += (size_t)n;
    }
}

/* Over the connection limit: a short 429 (best effort, never waits) and close. */
static void refuse(int fd)
{
    char head[256];
    static const char body[] = "too many connections\n";
    int n = hs_http_format_response_head(head, sizeof(head), 429, NULL, sizeof(body) - 1);
    if (n > 0) {
        struct iovec iov[2] = {{head, (size_t)n}, {(void *)body, sizeof(body) - 1}};
        struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
        (void)!sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    close(fd);
}

static void accept_new(uint64_t now)
{
    int lfd = atomic_load_explicit(&listen_fd, memory_order_relaxed);
    for (int turns = 0; turns < MAX_CONNS + MAX_REFUSED_PER_TURN; turns++) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN, or a transient error (EMFILE): the next turn tries again */
        fd = hs_fd_to_high(fd);
        conn_t *c = NULL;
        for (int i = 0; i < MAX_CONNS && !c; i++)
            if (conns[i].state == CONN_FREE)
                c = &conns[i];
        if (!c) {
            refuse(fd);
            continue;
        }
        memset(c, 0, sizeof(*c));
        c->fd = fd;
        c->ino = inode_of(fd);
        c->state = CONN_READ;
        c->deadline_ns = now + READ_TIMEOUT_NS;
        hold(fd);
    }
}

/* ---- the server thread --------------------------------------------------------- */

/* Is every thread but this one gone (ended, or a zombie main thread that
 * called pthread_exit)? Reads /proc/self/stat's thread count first (one read),
 * and only when that is small scans the tasks. */
static int only_thread_left(uint32_t me)
{
    uint64_t threads = hs_proc_threads();
    if (threads > 2 || threads == 0)
        return 0;
    /* Two: this one and possibly the main thread as a zombie. */
    uint32_t tids[2];
    long n = hs_proc_tasks(tids, 2, me);
    if (n < 0 || n > 2)
        return 0;
    for (long i = 0; i < n; i++) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/self/task/%u/stat", tids[i]);
        char state = hs_proc_state(path); /* 0: gone meanwhile */
        if (state && state != 'Z' && state != 'X')
            return 0;
    }
    return 1;
}

static int next_timeout_ms(uint64_t now)
{
    uint64_t soonest = now + (uint64_t)TICK_MS * HS_NS_PER_MS;
    for (int i = 0; i < MAX_CONNS; i++)
        if (conns[i].state != CONN_FREE && conns[i].deadline_ns < soonest)
            soonest = conns[i].deadline_ns;
    return soonest <= now ? 0 : (int)((soonest - now + HS_NS_PER_MS - 1) / HS_NS_PER_MS);
}

static void serve_turn(uint64_t now)
{
    struct pollfd pfd[MAX_CONNS + 1];
    conn_t *who[MAX_CONNS + 1];
    nfds_t n = 0;
    int lfd = atomic_load_explicit(&listen_fd, memory_order_relaxed);
    if (lfd >= 0) {
        pfd[n] = (struct pollfd){.fd = lfd, .events = POLLIN};
        who[n++] = NULL;
    }
    for (int i = 0; i < MAX_CONNS; i++) {
        conn_t *c = &conns[i];
        if (c->state == CONN_FREE)
            continue;
        short ev = c->state == CONN_READ ? POLLIN : c->state == CONN_WRITE ? POLLOUT : POLLRDHUP;
        pfd[n] = (struct pollfd){.fd = c->fd, .events = ev};
        who[n++] = c;
    }
    int ready = poll(pfd, n, next_timeout_ms(now));
    now = hs_now_mono_ns();
    if (ready < 0)
        return;
    for (nfds_t i = 0; i < n; i++) {
        conn_t *c = who[i];
        if (!c) {
            if (pfd[i].revents & POLLIN)
                accept_new(now);
            continue;
        }
        if (c->state == CONN_FREE || !pfd[i].revents)
            continue;
        if (!still_ours(c->fd, c->ino)) {
            c->fd = -1; /* closed under us: never touch that number again */
            conn_close(c);
            continue;
        }
        if (c->state == CONN_WAIT) {
            if (pfd[i].revents & (POLLRDHUP | POLLHUP | POLLERR))
                conn_close(c); /* the client gave up waiting */
        } else if (c->state == CONN_READ) {
            conn_read(c, now);
        } else if (c->state == CONN_WRITE) {
            if (pfd[i].revents & (POLLERR | POLLHUP))
                conn_close(c);
            else
                conn_write(c);
        }
    }
    /* Deadlines: a late request or answer is dropped; a waiting handler resumes. */
    for (int i = 0; i < MAX_CONNS; i++) {
        conn_t *c = &conns[i];
        if (c->state == CONN_FREE || now < c->deadline_ns)
            continue;
        if (c->state == CONN_WAIT) {
            c->resp.resume(&c->resp, 0);
            if (c->resp.resume) {
                c->deadline_ns = c->resp.resume_at_ns;
            } else {
                conn_respond(c, now);
                conn_write(c);
            }
        } else if (c->state == CONN_READ && c->in_len > 0) {
            conn_error(c, 408, "request timeout", now);
            conn_write(c);
        } else {
            conn_close(c);
        }
    }
}

/* The listener was closed under us by the program (closefrom): bind again. */
static void check_listener(void)
{
    int lfd = atomic_load_explicit(&listen_fd, memory_order_relaxed);
    if (lfd >= 0 && still_ours(lfd, listen_ino))
        return;
    if (lfd >= 0) {
        set_listener(-1);
        unhold(lfd);
        hs_log("warning: the live service's socket was closed by the program; binding again");
    }
    int err, fd = bind_address(&err);
    if (fd >= 0) {
        set_listener(fd);
        hold(fd);
        hs_log("live service on %s/ (pid %d)", bound_name, (int)getpid());
        child_bind_tries = 0;
    }
}

static void *server_main(void *arg)
{
    (void)arg;
    hs_tls_t *t = &hs_tls;
    t->attached = HS_THREAD_UNTRACKED; /* never recorded: our own work */
    t->block = &t->own;
    t->countdown = UINT64_MAX;
    t->in_hook = 1;
    uint32_t me = (uint32_t)hs_threads_gettid();
    atomic_store_explicit(&server_tid, me, memory_order_release);
    pthread_setname_np(pthread_self(), "heapscope-http");
    hs_framefilter_warm(); /* a bad HEAPSCOPE_DROP_FRAMES is reported at start */
    uint64_t next_safe_point = hs_now_mono_ns() + SAFE_POINT_EVERY_NS;
    for (;;) {
        if (atomic_load_explicit(&listen_fd, memory_order_relaxed) < 0 && child_bind_tries > 0) {
            child_bind_tries--;
            check_listener();
            if (atomic_load_explicit(&listen_fd, memory_order_relaxed) < 0 && child_bind_tries == 0)
                break; /* the parent kept the address: this child serves nothing */
        } else {
            check_listener();
        }
        uint64_t now = hs_now_mono_ns();
        serve_turn(now);
        if (only_thread_left(me))
            exit(0); /* as glibc's last thread does */
        now = hs_now_mono_ns();
        if (now >= next_safe_point) {
            hs_schedule_safe_point();
            next_safe_point = now + SAFE_POINT_EVERY_NS;
        }
    }
    atomic_store_explicit(&server_tid, 0, memory_order_release);
    atomic_store_explicit(&running, 0, memory_order_release);
    return NULL;
}

static int start_thread(void)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, SERVER_STACK_SIZE);
    /* Every signal blocked from its first instruction: the program's
     * signals go to the program's threads. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t th;
    int rc = hs_real.pthread_create(&th, &attr, server_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (rc == 0)
        atomic_store_explicit(&running, 1, memory_order_release);
    return rc;
}

void hs_live_start(void)
{
    for (int i = 0; i < MAX_CONNS; i++) {
        atomic_store(&held_fds[i], -1);
        conns[i].fd = -1;
    }
    const char *why = NULL;
    if (parse_address(hs_cfg.http, &addr, &why) != 0) {
        hs_log("warning: HEAPSCOPE_HTTP='%.200s' is not valid: %s; the live service is off", hs_cfg.http, why);
        return;
    }
    if (!addr.loopback && !hs_cfg.http_token[0]) {
        hs_log("warning: HEAPSCOPE_HTTP='%.200s' is not a loopback address: set HEAPSCOPE_HTTP_TOKEN to serve it; "
               "the live service is off",
               hs_cfg.http);
        return;
    }
    int err, fd = bind_address(&err);
    if (fd < 0) {
        hs_log("warning: the live service cannot listen on %.200s: %s; the program runs on without it", hs_cfg.http,
               strerror(err));
        return;
    }
    set_listener(fd);
    hold(fd);
    if (start_thread() != 0) {
        hs_log("warning: cannot start the live service's thread; the program runs on without it");
        unhold(fd);
        close(fd);
        set_listener(-1);
        return;
    }
    hs_log("live service on %s/ (pid %d)", bound_name, (int)getpid());
}

void hs_live_after_fork_child(void)
{
    if (!hs_cfg.http[0] || addr.family == 0)
        return;
    /* The parent's server thread does not exist here; its descriptors do. */
    for (int i = 0; i < MAX_CONNS; i++) {
        int fd = atomic_exchange(&held_fds[i], -1);
        if (fd >= HS_FD_HIGH && inode_of(fd))
            close(fd);
    }
    atomic_store(&listen_fd, -1);
    listen_ino = 0;
    atomic_store(&server_tid, 0);
    atomic_store(&running, 0);
    unix_path[0] = 0;
    memset(conns, 0, sizeof(conns)); /* the parent's in-flight state is not ours */
    for (int i = 0; i < MAX_CONNS; i++)
        conns[i].fd = -1;
    hs_live_cpu_abort();
    int own_address = addr.family == AF_UNIX ? hs_template_uses(addr.unix_template, 'p') : addr.port_hi > addr.port_lo;
    if (addr.family == AF_UNIX && !own_address)
        return; /* one path: the parent's */
    int err, fd = bind_address(&err);
    if (fd >= 0) {
        set_listener(fd);
        hold(fd);
    } else if (own_address) {
        return; /* every port of the range is taken: this child serves nothing */
    } else {
        /* The parent holds the one address. A daemonizing parent exits at
         * once: try for a few seconds, then give up quietly. */
        child_bind_tries = CHILD_BIND_TRIES;
    }
    if (start_thread() != 0)
        return;
    if (fd >= 0)
        hs_log("live service on %s/ (pid %d)", bound_name, (int)getpid());
}

void hs_live_at_exit(void)
{
    if (unix_path[0] && unix_path_pid == (uint32_t)getpid())
        unlink(unix_path);
}

/* ---- pages served here ---------------------------------------------------------- */

static void serve_cmdline(const hs_live_req_t *req, hs_live_resp_t *resp)
{
    (void)req;
    /* Go: the arguments joined by NUL bytes. */
    size_t len = hs_identity.cmdline_len;
    while (len && hs_identity.cmdline[len - 1] == 0)
        len--;
    hs_lbuf_put(&resp->body, hs_identity.cmdline, len);
}

void hs_live_index(const hs_live_req_t *req, hs_live_resp_t *resp)
{
    (void)req;
    static const struct {
        const char *name, *href, *doc;
    } profiles[] = {
        {"allocs", "allocs", "A sampling of all past memory allocations (cumulative since start)."},
        {"cmdline", "cmdline", "The command line of the program."},
        {"goroutine", "goroutine?debug=2", "Stack traces of all current threads (the C counterpart of goroutines)."},
        {"heap", "heap", "A sampling of memory allocations of live objects."},
        {"profile", "profile?seconds=30",
         "CPU profile of the whole process. Specify the duration in the seconds GET parameter."},
        {"symbol", "symbol", "Go's symbol protocol: POST addresses, get function names."},
        {"threadcreate", "threadcreate", "Stack traces that led to the creation of the live threads."},
    };
    resp->content_type = "text/html; charset=utf-8";
    hs_lbuf_t *b = &resp->body;
    hs_lbuf_printf(b,
                   "<html>\n<head>\n<title>/debug/pprof/</title>\n</head>\n<body>\n"
                   "<p>/debug/pprof/ of %s (pid %d), served by heapscope</p>\n"
                   "<p>Types of profiles available:</p>\n<table>\n<thead><td>Count</td><td>Profile</td></thead>\n",
                   hs_identity.program[0] ? hs_identity.program : "?", (int)getpid());
    for (size_t i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++)
        hs_lbuf_printf(b, "<tr><td></td><td><a href='%s'>%s</a></td></tr>\n", profiles[i].href, profiles[i].name);
    hs_lbuf_puts(b, "</table>\n<a href=\"goroutine?debug=2\">full thread stack dump</a>\n<br>\n"
                    "<p>Also: <a href=\"/metrics\">/metrics</a> (Prometheus), "
                    "<a href=\"/debug/heapscope/leaks\">/debug/heapscope/leaks</a> (leak verdict, JSON), "
                    "<a href=\"/debug/heapscope/health\">/debug/heapscope/health</a>.</p>\n<ul>\n");
    for (size_t i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++)
        hs_lbuf_printf(b, "<li><div class=profile-name>%s: </div> %s</li>\n", profiles[i].name, profiles[i].doc);
    hs_lbuf_puts(b, "</ul>\n</body>\n</html>\n");
}
