/* many_blocks.c - holds N small blocks live at once, then frees them: at
 * HEAPSCOPE_SAMPLE_RATE=1 this overfills the live-block table on purpose.
 * Usage: many_blocks N. Prints a checksum of the blocks' contents. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000;
    unsigned long **blocks = malloc((size_t)n * sizeof(*blocks));
    if (!blocks)
        return 1;
    for (long i = 0; i < n; i++) {
        blocks[i] = malloc(sizeof(unsigned long));
        if (!blocks[i])
            return 1;
        *blocks[i] = (unsigned long)i * 2654435761u;
    }
    unsigned long sum = 0;
    for (long i = 0; i < n; i++) {
        sum += *blocks[i];
        free(blocks[i]);
    }
    free(blocks);
    printf("%ld blocks, checksum %lu\n", n, sum);
    return 0;
}
