/* main.c - the heapscope command line: picks the command, prints --help with
 * the exit codes. It owns no logic of its own; each command lives in its
 * cmd_*.c file. It must never exit 0 on an unknown command or flag. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "hs_format.h"
#include "input.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    void (*usage)(FILE *out);
    const char *synopsis, *summary;
} command_t;

/* One line per command: the dispatcher, `help COMMAND` and --help read it. */
static const command_t commands[] = {
    {"record", hs_cmd_record, hs_cmd_record_usage, "record [OPTIONS] [--] CMD [ARGS...]",
     "run CMD with libheapscope.so preloaded; it writes a dump (.hsd)"},
    {"info", hs_cmd_info, hs_cmd_info_usage, "info [--stacks] DUMP",
     "header, record counts, last snapshot and integrity of a dump"},
    {"report", hs_cmd_report, hs_cmd_report_usage, "report DUMP... [--window S] [--threshold B] [--json]",
     "leak report: verdict, rate, suspects by call site, threads, at exit, recommendations"},
    {"pprof", hs_cmd_pprof, hs_cmd_pprof_usage, "pprof DUMP... [-o FILE] [--at WHEN] [--base WHEN]",
     "gzipped pprof heap profile (go tool pprof), optionally the growth between two points"},
    {"stats", hs_cmd_stats, hs_cmd_stats_usage, "stats [--csv | --json] DUMP",
     "one row per snapshot: heap, RSS, threads, call rates, sampled in-use (table, CSV, JSON)"},
    {"plot", hs_cmd_plot, hs_cmd_plot_usage, "plot DUMP -o FILE.svg",
     "SVG timeline of heap in use, RSS and live threads with fork/signal/exit markers"},
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static const command_t *find_command(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: heapscope COMMAND [ARGS...]\n"
                 "\n"
                 "heapscope finds memory leaks and memory hogs in unmodified Linux programs.\n"
                 "\n"
                 "commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-44s %s\n", commands[i].synopsis, commands[i].summary);
    fprintf(out, "  %-44s %s\n", "help [COMMAND]", "this text, or the options of one command");
    fprintf(out,
            "\n"
            "DUMP is a dump file, or - for stdin (given once at most; not a terminal). Pipes,\n"
            "process substitution <(...) and FIFOs work too: report and plot read a dump twice\n"
            "and first copy such input into an unlinked file in $TMPDIR (or /tmp). A FIFO or a\n"
            "device must deliver its first bytes within %d s; a pipe is read until its writer\n"
            "closes it.\n"
            "\n"
            "Options may come before or after the DUMPs (heapscope pprof x.hsd -o heap.pb.gz), as\n"
            "--name VALUE or --name=VALUE, -o FILE or -oFILE; -- ends the options (heapscope info\n"
            "-- -x.hsd). record is the exception: its options come before CMD, and CMD and every\n"
            "argument after it are passed to CMD untouched. -h or --help after any command prints\n"
            "its options.\n"
            "\n"
            "exit status:\n"
            "  0    success (also for a dump with a truncated tail, reported as a warning)\n"
            "  1    failure of the environment: libheapscope.so not found, out of memory, read error,\n"
            "       no room for the copy of a piped dump\n"
            "  2    usage error or bad input: unknown command or flag, invalid value, missing,\n"
            "       unreadable, empty or corrupt dump, a FIFO nobody writes to (one line on stderr\n"
            "       names the file and byte offset)\n"
            "  3    report --fail-on-leak: a leak (heap or threads) was found\n"
            "  record exits with CMD's own status; 126 if CMD cannot be executed, 127 if it is not found.\n"
            "\n"
            "dump format version: %d\n",
            HS_INPUT_WAIT_SECONDS, HS_FORMAT_VERSION);
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
            return HS_EXIT_OK;
        }
        const command_t *c = find_command(topic);
        if (!c) {
            fprintf(stderr, "heapscope: no help for unknown command '%s' (see heapscope --help)\n", topic);
            return HS_EXIT_BAD_INPUT;
        }
        c->usage(stdout);
        return HS_EXIT_OK;
    }
    const command_t *c = find_command(cmd);
    if (c)
        return c->run(argc - 1, argv + 1);
    fprintf(stderr, "heapscope: unknown command '%s' (see heapscope --help)\n", cmd);
    return HS_EXIT_BAD_INPUT;
}
