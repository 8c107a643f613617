/* wrapped.c - an application that allocates through wrappers of its own, the
 * way real servers do (redis zmalloc, nginx ngx_alloc), for
 * tests/integration/wrappers.sh and docs/frames.md:
 *
 *   app_alloc    its own wrapper, listed in no table: called from five
 *                functions, one of which leaks (remember_session); the
 *                analyzer must detect it and blame the callers
 *   app_strdup   a wrapper of that wrapper (three callers): found in the
 *                second round of detection
 *   xmalloc      a wrapper the default table lists (git's name): two callers
 *
 * Per second: remember_session keeps 200 x 2 KiB (the leak, 400 KiB/s);
 * parse_header makes 12,000 short-lived 64 B blocks; build_reply 100 x 1 KiB
 * and queue_event 1,000 x 128 B (a ring of 64) are freed; load_config keeps
 * 20 x 512 B from the start (still allocated at exit, not growth);
 * tag_request, name_peer and copy_path each app_strdup 600 strings, freed;
 * log_line and store_name xmalloc 600 x 200 B (freed) and 600 x 64 B (a ring).
 * At the start, start_reaper, start_flusher and start_pinger each create a
 * thread through spawn(): a creation stack (pthread_create's caller) is no
 * allocation stack, and spawn must not pass for a wrapper.
 * Usage: wrapped [SECONDS] (default 3). Prints "wrapped: done". */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NOINLINE __attribute__((noinline, noclone))
/* Keeps gcc from turning the wrapper calls into tail calls or merging sites. */
#define BARRIER() __asm__ volatile("" ::: "memory")
#define RING 64

static void *volatile sink;
static void *sessions; /* a list nobody trims: the leak */
static void *config[20];
static void *events[RING], *names[RING];
static unsigned long step_no;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

NOINLINE void *app_alloc(size_t n)
{
    void *p = malloc(n);
    if (!p) {
        fprintf(stderr, "wrapped: out of memory\n");
        exit(3);
    }
    memset(p, 0, n);
    BARRIER();
    return p;
}

NOINLINE char *app_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = app_alloc(n);
    memcpy(p, s, n);
    BARRIER();
    return p;
}

NOINLINE void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p)
        abort();
    BARRIER();
    return p;
}

NOINLINE void remember_session(unsigned long id)
{
    void **s = app_alloc(2048); /* LEAK: wrapped */
    s[0] = sessions;
    s[1] = (void *)id;
    sessions = s;
    BARRIER();
}

NOINLINE void parse_header(void)
{
    char *h = app_alloc(64);
    snprintf(h, 64, "X-Step: %lu", step_no);
    sink = h;
    free(h);
    BARRIER();
}

NOINLINE void build_reply(void)
{
    char *r = app_alloc(1024);
    sink = r;
    free(r);
    BARRIER();
}

NOINLINE void queue_event(unsigned long i)
{
    free(events[i % RING]);
    events[i % RING] = app_alloc(128);
    BARRIER();
}

NOINLINE void load_config(void)
{
    for (int i = 0; i < 20; i++)
        config[i] = app_alloc(512);
    BARRIER();
}

NOINLINE void tag_request(void)
{
    char *t = app_strdup("request-tag-0123456789abcdefghijklmnopqrstuvwxyz-0123456789abcdefghijklmnopqrstuvwxyz");
    sink = t;
    free(t);
    BARRIER();
}

NOINLINE void name_peer(void)
{
    char *t = app_strdup("peer-name-0123456789abcdefghijklmnopqrstuvwxyz-0123456789abcdefghijklmnopqrstuvwxyz");
    sink = t;
    free(t);
    BARRIER();
}

NOINLINE void copy_path(void)
{
    char *t = app_strdup("/srv/www/0123456789abcdefghijklmnopqrstuvwxyz/0123456789abcdefghijklmnopqrstuvwxyz.html");
    sink = t;
    free(t);
    BARRIER();
}

NOINLINE void log_line(void)
{
    char *l = xmalloc(200);
    snprintf(l, 200, "step %lu", step_no);
    sink = l;
    free(l);
    BARRIER();
}

NOINLINE void store_name(unsigned long i)
{
    free(names[i % RING]);
    names[i % RING] = xmalloc(64);
    BARRIER();
}

static void *idle(void *arg) { return arg; }

NOINLINE void spawn(void)
{
    pthread_t t;
    if (pthread_create(&t, NULL, idle, NULL) == 0)
        pthread_join(t, NULL);
    BARRIER();
}

NOINLINE void start_reaper(void)
{
    spawn();
    BARRIER();
}

NOINLINE void start_flusher(void)
{
    spawn();
    BARRIER();
}

NOINLINE void start_pinger(void)
{
    spawn();
    BARRIER();
}

/* One 5 ms step's work (200 steps a second). */
static void step(void)
{
    unsigned long i = step_no++;
    remember_session(i);
    for (int k = 0; k < 60; k++)
        parse_header();
    if (i % 2 == 0)
        build_reply();
    for (int k = 0; k < 5; k++)
        queue_event(i * 5 + (unsigned long)k);
    for (int k = 0; k < 3; k++) {
        tag_request();
        name_peer();
        copy_path();
        log_line();
        store_name(i * 3 + (unsigned long)k);
    }
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 3;
    load_config();
    start_reaper();
    start_flusher();
    start_pinger();
    double start = now(), done = 0;
    while (now() - start < seconds) {
        /* Work is scheduled by elapsed time, so rates hold on a slow machine. */
        double due = (now() - start) * 200;
        while (done < due) {
            step();
            done += 1;
        }
        struct timespec pause = {0, 5000000};
        nanosleep(&pause, NULL);
    }
    printf("wrapped: done (%lu steps)\n", step_no);
    return 0;
}
