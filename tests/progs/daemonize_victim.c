/* daemonize_victim.c - a daemon that closes its standard descriptors and
 * opens its own data file, which lands on descriptor 2 (0 and 1 go to
 * /dev/null first). It writes its records there, allocates (at rate 1 every
 * allocation is a sample) and returns from main, so the exit snapshot and
 * any heapscope line come after the program's last byte. The test checks
 * that the data file holds the program's bytes only.
 *   daemonize_victim DATA_FILE */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *volatile keep[256];

static int put(int fd, const char *s)
{
    size_t len = strlen(s);
    return write(fd, s, len) == (ssize_t)len ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    close(0);
    close(1);
    close(2);
    if (open("/dev/null", O_RDONLY) != 0 || open("/dev/null", O_WRONLY) != 1)
        return 3;
    int data = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (data != 2)
        return 4;
    if (put(data, "record 1\n"))
        return 5;
    for (int i = 0; i < 256; i++) {
        keep[i] = malloc(64 + (size_t)i * 16);
        if (!keep[i])
            return 6;
        memset(keep[i], i, 64);
    }
    for (int i = 0; i < 128; i++)
        free(keep[i]);
    return put(data, "record 2\n") ? 7 : 0;
}
