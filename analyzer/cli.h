/* cli.h - what the heapscope command modules share: exit codes and the
 * entry point of each command (argv[0] is the command name). */
#ifndef HS_CLI_H
#define HS_CLI_H

#include <stddef.h>
#include <stdio.h>

/* Documented in `heapscope --help`; integration tests rely on them. */
enum hs_exit {
    HS_EXIT_OK = 0,
    HS_EXIT_FAILURE = 1, /* environment or internal: library not found, out of memory, read error */
    HS_EXIT_BAD_INPUT = 2, /* usage error, invalid flag value, missing/unreadable/corrupt dump */
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
struct hs_leak_result;
struct hs_input;
/* The report's verdict on a dump's process series (for plot's trend line),
 * read in a new pass over in (analyzer/input.h). */
int hs_report_leak_trend(struct hs_input *in, double window_s, struct hs_leak_result *out, double *detected_at,
                         char *err, size_t errlen);
void hs_cmd_pprof_usage(FILE *out);
int hs_cmd_stats(int argc, char **argv);
void hs_cmd_stats_usage(FILE *out);
int hs_cmd_plot(int argc, char **argv);
void hs_cmd_plot_usage(FILE *out);

/* The last branches of a one-DUMP command's argument loop, shared so that
 * every command words its refusals alike: arg is an unknown option (unless
 * after "--"), a second DUMP, or the DUMP, stored in *path. Returns 0, or
 * HS_EXIT_BAD_INPUT after one line on stderr. */
int hs_cli_dump_operand(const char *cmd, const char *arg, int only_operands, const char **path);
/* After the loop: HS_EXIT_BAD_INPUT with "missing DUMP (synopsis)" when no
 * DUMP was given, else 0. */
int hs_cli_need_dump(const char *cmd, const char *path, const char *synopsis);

#endif
