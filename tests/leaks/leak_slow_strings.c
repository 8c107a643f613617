/* leak_slow_strings.c - leak corpus: a slow leak of small strings, 10 KiB/s.
 * intern_user_agent() strdup()s a 40..100 byte string per request into a
 * table it then forgets; tokenize_header() and render_log_line() churn
 * short-lived buffers of similar sizes at ~50 times the leak's byte rate.
 * Usage: leak_slow_strings [SECONDS] (default 20). Prints the bytes leaked
 * and the leak rate achieved (ground truth for scripts/leakeval.sh). */
#define _GNU_SOURCE /* asprintf */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LEAK_BYTES_PER_SECOND 10240
#define CHURN_PER_SECOND 4000 /* temporaries of 32..224 B: ~0.5 MB/s */

static void *volatile sink; /* keeps the compiler from eliding malloc/free pairs */
static uint64_t rng = 0x2545f4914f6cdd1du;

static unsigned next_random(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng >> 32);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Pacing, not synchronisation: the workload advances in 5 ms steps. */
static void pause_step(void)
{
    struct timespec step = {0, 5 * 1000 * 1000};
    nanosleep(&step, NULL);
}

/* Returns the bytes it leaked: strlen + 1 of a 40..100 byte string. */
__attribute__((noinline)) static size_t intern_user_agent(unsigned n)
{
    char text[128];
    int len = 39 + (int)(next_random() % 61); /* 39..99 characters */
    int used = snprintf(text, sizeof(text), "Mozilla/5.0 (client %u) ", n);
    for (int i = used; i < len; i++)
        text[i] = (char)('a' + (n + (unsigned)i) % 26);
    text[len] = '\0';
    char *copy = strdup(text); /* LEAK: leak_slow_strings */
    sink = copy;               /* the table that held it is gone: nothing frees it */
    return (size_t)len + 1;
}

__attribute__((noinline)) static void tokenize_header(unsigned n)
{
    size_t size = 32 + next_random() % 192;
    char *token = malloc(size);
    memset(token, (int)('A' + n % 26), size - 1);
    token[size - 1] = '\0';
    sink = token;
    free(token);
}

__attribute__((noinline)) static void render_log_line(unsigned n)
{
    char *line = NULL;
    if (asprintf(&line, "GET /static/%u.css 200 %u bytes", n, n * 7u) < 0)
        return;
    sink = line;
    free(line);
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 20.0;
    double start = now(), elapsed = 0;
    uint64_t leaked = 0, strings = 0, churn = 0;
    while ((elapsed = now() - start) < seconds) {
        while (leaked < (uint64_t)(elapsed * LEAK_BYTES_PER_SECOND))
            leaked += intern_user_agent((unsigned)strings++);
        for (; churn < (uint64_t)(elapsed * CHURN_PER_SECOND); churn++) {
            tokenize_header((unsigned)churn);
            render_log_line((unsigned)churn);
        }
        pause_step();
    }
    printf("leak_slow_strings: leaked %llu strings (mean %.1f B) at intern_user_agent; "
           "leaked_bytes=%llu seconds=%.2f leak_rate=%.0f\n",
           (unsigned long long)strings, strings ? (double)leaked / (double)strings : 0.0, (unsigned long long)leaked,
           elapsed, (double)leaked / elapsed);
    return 0;
}
