/* hostsafety_alloc - a victim for tests/integration/hostsafety.sh: allocates
 * from many distinct call stacks (recursion depth 1..MAXDEPTH) so that a dump
 * at rate 1 is several KiB, prints a deterministic checksum of its work and
 * exits with the status given on the command line.
 * usage: hostsafety_alloc ROUNDS EXIT_STATUS */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXDEPTH 48

static void *kept[MAXDEPTH * 64];
static size_t nkept;

/* Not a tail call: the addition after the recursive call keeps every level
 * on the stack, so each depth is a distinct allocation stack. */
__attribute__((noinline)) static uint64_t descend(int depth, size_t size, uint64_t seed)
{
    if (depth == 0) {
        unsigned char *p = malloc(size);
        if (!p) {
            fprintf(stderr, "hostsafety_alloc: out of memory\n");
            exit(99);
        }
        memset(p, (int)(seed & 0xff), size);
        uint64_t sum = 0;
        for (size_t i = 0; i < size; i += 7)
            sum = sum * 31 + p[i];
        if (seed % 3 == 0 && nkept < sizeof kept / sizeof kept[0])
            kept[nkept++] = p; /* some blocks stay live until exit */
        else
            free(p);
        return sum;
    }
    return descend(depth - 1, size, seed) + (uint64_t)depth;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: hostsafety_alloc ROUNDS EXIT_STATUS\n");
        return 64;
    }
    int rounds = atoi(argv[1]);
    int status = atoi(argv[2]);
    uint64_t checksum = 0;
    for (int r = 0; r < rounds; r++)
        for (int d = 1; d <= MAXDEPTH; d++)
            checksum =
                checksum * 1099511628211ull ^ descend(d, (size_t)(16 + d * 40 + r % 5), (uint64_t)(r * MAXDEPTH + d));
    /* realloc chains and calloc, for good measure */
    char *s = NULL;
    size_t len = 0;
    for (int i = 0; i < 200; i++) {
        char *t = realloc(s, len + 33);
        if (!t)
            return 98;
        s = t;
        len += (size_t)snprintf(s + len, 33, "%d,", i);
    }
    int *z = calloc(1000, sizeof *z);
    if (!z)
        return 97;
    for (int i = 0; i < 1000; i++)
        checksum += (uint64_t)z[i] + (uint64_t)(unsigned char)s[i % len];
    free(z);
    free(s);
    for (size_t i = 0; i < nkept; i++)
        free(kept[i]);
    printf("rounds=%d kept=%zu checksum=%016llx\n", rounds, nkept, (unsigned long long)checksum);
    return status;
}
