/* live_wrapped.c - leaks through allocation wrappers, as real servers do
 * (redis zmalloc, nginx ngx_alloc), for tests/integration/live_wrappers.sh:
 * leak_via_xmalloc() keeps blocks from xmalloc (a name in heapscope's
 * wrapper table), leak_via_app() keeps blocks from app_alloc (a name it
 * does not know: HEAPSCOPE_DROP_FRAMES=app_alloc makes it a wrapper). The
 * live site must be the caller, shown "via" the wrapper.
 * Usage: live_wrapped x|app|both SECONDS. x leaks 1 MiB/s through xmalloc,
 * app 1 MiB/s through app_alloc, both 1 MiB/s and 0.5 MiB/s; every 1 ms a
 * step. Prints "done" and exits 0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct node {
    struct node *next;
};
static struct node *kept;

/* The checks after each malloc keep the compiler from making it a tail
 * call: the wrapper's own frame must be on the stack, as it is in real
 * programs whose wrappers do work after the call. */
__attribute__((noinline)) void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p) {
        fprintf(stderr, "xmalloc: out of memory\n");
        exit(1);
    }
    return p;
}

__attribute__((noinline)) void *app_alloc(size_t n)
{
    void *p = malloc(n);
    if (!p)
        abort();
    memset(p, 0, n);
    return p;
}

__attribute__((noinline)) void leak_via_xmalloc(size_t n)
{
    struct node *b = xmalloc(n);
    b->next = kept;
    kept = b;
}

__attribute__((noinline)) void leak_via_app(size_t n)
{
    struct node *b = app_alloc(n);
    b->next = kept;
    kept = b;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "x") && strcmp(argv[1], "app") && strcmp(argv[1], "both"))) {
        fprintf(stderr, "usage: live_wrapped x|app|both SECONDS\n");
        return 2;
    }
    int x = strcmp(argv[1], "app") != 0, app = strcmp(argv[1], "x") != 0;
    double end = now() + atof(argv[2]);
    struct timespec step = {0, 1000 * 1000};
    while (now() < end) {
        if (x)
            leak_via_xmalloc(1024);
        if (app)
            leak_via_app(x ? 512 : 1024);
        nanosleep(&step, NULL);
    }
    printf("done\n");
    return 0;
}
