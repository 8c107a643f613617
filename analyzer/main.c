/* main.c - the heapscope command line: picks the command, prints --help with
 * the exit codes. It owns no logic of its own; each command lives in its
 * cmd_*.c file. It must never exit 0 on an unknown command or flag. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "hs_format.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: heapscope COMMAND [ARGS...]\n"
            "\n"
            "heapscope finds memory leaks and memory hogs in unmodified Linux programs.\n"
            "\n"
            "commands:\n"
            "  record [OPTIONS] -- CMD [ARGS...]  run CMD with libheapscope.so preloaded; it writes a dump (.hsd)\n"
            "  info [--stacks] DUMP               header, record counts, last snapshot and integrity of a dump\n"
            "  help [COMMAND]                     this text, or the options of one command\n"
            "\n"
            "exit status:\n"
            "  0    success (info: also for a dump with a truncated tail, reported as a warning)\n"
            "  1    failure of the environment: libheapscope.so not found, out of memory, read error\n"
            "  2    usage error or bad input: unknown command or flag, invalid value,\n"
            "       missing, unreadable or corrupt dump (one line on stderr names the file and byte offset)\n"
            "  record exits with CMD's own status; 126 if CMD cannot be executed, 127 if it is not found.\n"
            "\n"
            "dump format version: %d\n",
            HS_FORMAT_VERSION);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "heapscope: missing command (see heapscope --help)\n");
        return HS_EXIT_BAD_INPUT;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        const char *topic = argc > 2 ? argv[2] : NULL;
        if (!topic || strcmp(cmd, "help") != 0) {
            usage(stdout);
        } else if (strcmp(topic, "record") == 0) {
            hs_cmd_record_usage(stdout);
        } else if (strcmp(topic, "info") == 0) {
            hs_cmd_info_usage(stdout);
        } else {
            fprintf(stderr, "heapscope: no help for unknown command '%s' (see heapscope --help)\n", topic);
            return HS_EXIT_BAD_INPUT;
        }
        return HS_EXIT_OK;
    }
    if (strcmp(cmd, "record") == 0)
        return hs_cmd_record(argc - 1, argv + 1);
    if (strcmp(cmd, "info") == 0)
        return hs_cmd_info(argc - 1, argv + 1);
    fprintf(stderr, "heapscope: unknown command '%s' (see heapscope --help)\n", cmd);
    return HS_EXIT_BAD_INPUT;
}
