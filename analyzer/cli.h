/* cli.h - what the heapscope command modules share: exit codes and the
 * entry point of each command (argv[0] is the command name). */
#ifndef HS_CLI_H
#define HS_CLI_H

#include <stddef.h>
#include <stdio.h>

/* Documented in `heapscope --help`; integration tests rely on them. */
enum hs_exit {
    HS_EXIT_OK = 0,
    HS_EXIT_FAILURE = 1,       /* environment or internal: library not found, out of memory, read error */
    HS_EXIT_BAD_INPUT = 2,     /* usage error, invalid flag value, missing/unreadable/corrupt dump */
    HS_EXIT_LEAK_FOUND = 3,    /* report --fail-on-leak: a leak (heap or threads) was found */
    HS_EXIT_CANNOT_EXEC = 126, /* record: CMD exists but could not be executed (as sh/env do) */
    HS_EXIT_NOT_FOUND = 127,   /* record: CMD not found */
};

int hs_cmd_record(int argc, char **argv);
int hs_cmd_info(int argc, char **argv);
void hs_cmd_record_usage(FILE *out);
void hs_cmd_info_usage(FILE *out);
int hs_cmd_pprof(int argc, char **argv);
int hs_cmd_report(int argc, char **argv);
void hs_cmd_report_usage(FILE *out);
void hs_cmd_pprof_usage(FILE *out);
int hs_cmd_stats(int argc, char **argv);
void hs_cmd_stats_usage(FILE *out);
int hs_cmd_plot(int argc, char **argv);
void hs_cmd_plot_usage(FILE *out);

#endif
