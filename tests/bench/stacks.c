/* stacks.c - a process holding blocks from many distinct call stacks, for
 * the live service's benchmark: serving a heap profile of 10,000 stacks.
 *
 *   stacks [-n STACKS]   allocates one 64-byte block at the end of each of
 *                        STACKS distinct paths (default 10000) through a
 *                        binary recursion of two functions, keeps them, prints
 *                        "ready N" and waits for stdin to close.
 * Run it with HEAPSCOPE_SAMPLE_RATE=1 so every block is a sample. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void **kept;
static size_t nkept;

static void branch(unsigned path, int depth);

__attribute__((noinline)) static void left(unsigned path, int depth)
{
    branch(path, depth);
    __asm__ volatile("" ::: "memory"); /* not a tail call: the frame stays */
}

__attribute__((noinline)) static void right(unsigned path, int depth)
{
    branch(path, depth);
    __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) static void branch(unsigned path, int depth)
{
    if (depth == 0) {
        kept[nkept++] = malloc(64);
        return;
    }
    if (path & 1)
        right(path >> 1, depth - 1);
    else
        left(path >> 1, depth - 1);
    __asm__ volatile("" ::: "memory");
}

int main(int argc, char **argv)
{
    unsigned n = 10000;
    if (argc > 2 && strcmp(argv[1], "-n") == 0)
        n = (unsigned)strtoul(argv[2], NULL, 10);
    int depth = 1;
    while ((1u << depth) < n)
        depth++;
    kept = calloc(n, sizeof(*kept));
    if (!kept)
        return 1;
    for (unsigned path = 0; path < n; path++)
        branch(path, depth);
    printf("ready %zu\n", nkept);
    fflush(stdout);
    char buf[64];
    while (read(0, buf, sizeof(buf)) > 0) {
    }
    for (size_t i = 0; i < nkept; i++)
        free(kept[i]);
    free(kept);
    return 0;
}
