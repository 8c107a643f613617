/* hostsafety_writer - a victim for tests/integration/hostsafety.sh: writes
 * numbered lines to stdout (allocating a buffer per line) until it has
 * written LINES of them or a write fails. With SIGPIPE at its default it dies
 * from the signal when the reader goes away; with SIGPIPE ignored it reports
 * the EPIPE on stderr and exits 7.
 * usage: hostsafety_writer LINES */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    long lines = argc > 1 ? atol(argv[1]) : 100000;
    for (long i = 0; i < lines; i++) {
        char *buf = malloc(64 + (size_t)(i % 512));
        if (!buf)
            return 99;
        int n = snprintf(buf, 64, "line %ld\n", i);
        ssize_t w = write(STDOUT_FILENO, buf, (size_t)n);
        int err = errno;
        free(buf);
        if (w != n) {
            fprintf(stderr, "hostsafety_writer: write failed: %s\n", strerror(err));
            return 7;
        }
    }
    return 0;
}
