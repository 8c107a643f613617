/* demo_leaky_server.c - the program `make demo` runs under heapscope: a toy
 * request server with two worker threads. Each request allocates a parse
 * buffer (freed), a response (freed by the other thread, as servers do), and
 * a session entry that is put in a cache nobody ever evicts: the leak. Like
 * every real server it allocates through its own wrapper (xmalloc, which
 * dies on out of memory), so the report must name xmalloc's callers. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RESPONSES 64

typedef struct session {
    struct session *next;
    char id[32];
    char payload[200];
} session_t;

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static session_t *session_cache; /* grows forever */
static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static char *responses[RESPONSES];
static double run_seconds = 3.0;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((noinline)) static void *xmalloc(size_t size)
{
    void *p = malloc(size);
    if (!p) {
        fputs("demo server: out of memory\n", stderr);
        abort();
    }
    return p;
}

__attribute__((noinline)) static char *parse_request(unsigned n)
{
    char *buf = xmalloc(4096);
    snprintf(buf, 4096, "GET /item/%u HTTP/1.1", n);
    return buf;
}

__attribute__((noinline)) static void remember_session(unsigned n)
{
    session_t *s = xmalloc(sizeof(*s)); /* the leak: the cache is never trimmed */
    snprintf(s->id, sizeof(s->id), "session-%u", n);
    memset(s->payload, (int)(n & 0xff), sizeof(s->payload));
    pthread_mutex_lock(&cache_lock);
    s->next = session_cache;
    session_cache = s;
    pthread_mutex_unlock(&cache_lock);
}

__attribute__((noinline)) static char *build_response(const char *req)
{
    size_t len = 512 + strlen(req);
    char *r = xmalloc(len);
    snprintf(r, len, "200 OK for %s", req);
    return r;
}

static void *worker(void *arg)
{
    unsigned id = (unsigned)(size_t)arg, n = 0;
    double end = now() + run_seconds;
    while (now() < end) {
        for (int i = 0; i < 200; i++, n++) {
            char *req = parse_request(n);
            char *resp = build_response(req);
            free(req);
            if (n % 4 == 0)
                remember_session(id << 24 | n);
            /* Hand the response to the other worker's slot; free what was there. */
            pthread_mutex_lock(&queue_lock);
            char *old = responses[(n + id) % RESPONSES];
            responses[(n + id) % RESPONSES] = resp;
            pthread_mutex_unlock(&queue_lock);
            free(old);
        }
        struct timespec pause = {0, 2 * 1000 * 1000}; /* pacing, like a server between bursts */
        nanosleep(&pause, NULL);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        run_seconds = atof(argv[1]);
    pthread_t th[2];
    for (size_t i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, worker, (void *)i);
    for (size_t i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    size_t sessions = 0;
    for (session_t *s = session_cache; s; s = s->next)
        sessions++;
    printf("demo server: served its requests, %zu sessions still cached (%zu KiB)\n", sessions,
           sessions * sizeof(session_t) / 1024);
    for (int i = 0; i < RESPONSES; i++)
        free(responses[i]);
    return 0;
}
