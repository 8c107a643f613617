/* cmd_report.c - `heapscope report DUMP...`: reads its flags, runs the leak
 * analysis of each dump (analysis.c: the two passes, the verdict, suspects,
 * threads, at exit, recommendations) and prints them as text or JSON
 * (report_print.c). Exits HS_EXIT_LEAK_FOUND with --fail-on-leak when a
 * dump leaks. It decides nothing itself. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "analysis.h"
#include "cli.h"
#include "hs_options.h"
#include "symbolize.h"
#include "input.h"
#include "report_group.h"
#include "report_print.h"

void hs_cmd_report_usage(FILE *out)
{
    fprintf(out, "usage: heapscope report DUMP... [--window SECONDS] [--threshold BYTES] [--json] [--fail-on-leak]\n"
                 "                        [--drop-frames REGEX] [--keep-frames REGEX]\n"
                 "\n"
                 "Answers: is the program leaking, how fast, where, and what to do. A leak is sustained\n"
                 "growth of the sampled in-use estimate inside the window (Theil-Sen slope, Mann-Kendall\n"
                 "trend test, rising lower envelope, growth continuing into the second half, growth above\n"
                 "sampling noise and above the threshold); warm-up plateaus, sawtooth, spikes and churn are\n"
                 "not leaks. Suspects are call sites whose own in-use bytes grow the same way.\n"
                 "\n"
                 "A call site is the caller of the allocator and of allocation wrappers (zmalloc, ngx_alloc,\n"
                 "os::malloc, ...: docs/frames.md), and of the wrappers found in the dump (a function that\n"
                 "allocates from one line for several callers), named \"caller (file:line) via wrapper\".\n"
                 "\n"
                 "Several dumps (a server and its forked workers) are grouped by process tree (a dump whose\n"
                 "parent pid is another's pid is its child): one line per process, parent first, then children\n"
                 "by pid, a total per group; unrelated programs are groups of their own. Then each report.\n"
                 "\n"
                 "  --window SECONDS   analyse the last SECONDS of the run (default 300, or the whole run\n"
                 "                     when shorter). The run ends at the last snapshot before exit:\n"
                 "                     the exit snapshot comes after the program's teardown, and only\n"
                 "                     the at-exit list uses it\n"
                 "  --threshold BYTES  minimum growth over the window (K/M/G suffixes). Default: 10 MiB for a\n"
                 "                     300 s window, scaled by window/300 s for shorter ones, and at most 5%%\n"
                 "                     of the peak heap in use, but never below 64 KiB\n"
                 "  --json             print a JSON object; with several dumps, one object with the group view\n"
                 "                     (\"groups\", \"processes\") and each dump's report in a \"dumps\" array\n"
                 "  --fail-on-leak     exit 3 when a leak (heap or threads) is found\n"
                 "  --no-symbolize     name frames by module+offset only\n" HS_SITES_FRAMES_USAGE HS_INPUT_USAGE "\n"
                 "exit status: 0 when the report was printed, 3 instead with --fail-on-leak when a dump leaks;\n"
                 "1 and 2 as for every command (heapscope --help).\n");
}

/* The size grammar of the settings (common/hs_options.c): 10M, 1.5GiB, 4096. */
static int parse_bytes(const char *s, double *out)
{
    uint64_t v;
    if (hs_opt_parse_size(s, &v))
        return -1;
    *out = (double)v;
    return 0;
}

static void quiet_warn(void *ctx, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "heapscope: warning: %s\n", msg);
}

int hs_cmd_report(int argc, char **argv)
{
    enum { OPT_WINDOW = 1, OPT_THRESHOLD, OPT_JSON, OPT_FAIL_ON_LEAK, OPT_NO_SYMBOLIZE, OPT_DROP, OPT_KEEP };
    static const hs_arg_option_t options[] = {
        {OPT_WINDOW, 0, "window", 1},
        {OPT_THRESHOLD, 0, "threshold", 1},
        {OPT_JSON, 0, "json", 0},
        {OPT_FAIL_ON_LEAK, 0, "fail-on-leak", 0},
        {OPT_NO_SYMBOLIZE, 0, "no-symbolize", 0},
        {OPT_DROP, 0, "drop-frames", 1},
        {OPT_KEEP, 0, "keep-frames", 1},
        {0, 0, NULL, 0},
    };
    const char *drop_frames = NULL, *keep_frames = NULL;
    double window = 0, threshold = 0;
    int json = 0, fail_on_leak = 0, symbolize = 1, have_threshold = 0, opt;
    const char *value;
    hs_args_t args;
    hs_args_init(&args, "report", options, HS_ARGS_PERMUTE, argc, argv);
    while ((opt = hs_args_next(&args, &value)) > 0) {
        char *end;
        switch (opt) {
        case OPT_WINDOW:
            window = strtod(value, &end);
            if (end == value || *end || !(window > 0) || !isfinite(window)) {
                fprintf(stderr, "heapscope: report: --window '%s' is not a positive number of seconds\n", value);
                return HS_EXIT_BAD_INPUT;
            }
            break;
        case OPT_THRESHOLD:
            if (parse_bytes(value, &threshold)) {
                fprintf(stderr, "heapscope: report: --threshold '%s' is not a size (bytes, K/M/G suffixes)\n", value);
                return HS_EXIT_BAD_INPUT;
            }
            have_threshold = 1;
            break;
        case OPT_JSON: json = 1; break;
        case OPT_FAIL_ON_LEAK: fail_on_leak = 1; break;
        case OPT_NO_SYMBOLIZE: symbolize = 0; break;
        case OPT_DROP:
        case OPT_KEEP: {
            *(opt == OPT_DROP ? &drop_frames : &keep_frames) = value;
            hs_frame_filter_t *check =
                hs_sites_filter("report", opt == OPT_DROP ? value : NULL, opt == OPT_KEEP ? value : NULL);
            if (!check)
                return HS_EXIT_BAD_INPUT;
            hs_frame_filter_free(check);
            break;
        }
        }
    }
    if (opt == HS_ARGS_HELP) {
        hs_cmd_report_usage(stdout);
        return HS_EXIT_OK;
    }
    if (opt == HS_ARGS_ERROR ||
        hs_args_some_dumps(&args, "heapscope report DUMP... [--window S] [--threshold B] [--json]"))
        return HS_EXIT_BAD_INPUT;
    int ndumps, any_leak = 0;
    char **dumps = hs_args_operands(&args, &ndumps);
    hs_symbolizer_t *sym = symbolize ? hs_symbolizer_new() : NULL;
    if (sym)
        hs_symbolizer_set_warn(sym, quiet_warn, NULL);
    hs_analysis_t *reports = calloc((size_t)ndumps, sizeof(*reports));
    hs_input_t **inputs = calloc((size_t)ndumps, sizeof(*inputs));
    if (!reports || !inputs || (symbolize && !sym)) {
        fprintf(stderr, "heapscope: report: out of memory\n");
        free(reports);
        free(inputs);
        if (sym)
            hs_symbolizer_free(sym);
        return HS_EXIT_FAILURE;
    }
    hs_analysis_options_t analysis = {.window_s = window,
                                      .threshold = threshold,
                                      .has_threshold = have_threshold,
                                      .drop_frames = drop_frames,
                                      .keep_frames = keep_frames};
    int status = HS_EXIT_OK;
    char err[800];
    for (int i = 0; i < ndumps; i++) {
        int open_rc = hs_input_open(dumps[i], HS_INPUT_REREAD, &inputs[i], err, sizeof(err));
        if (open_rc) {
            fprintf(stderr, "heapscope: %s\n", err);
            status = open_rc;
            break;
        }
        if (hs_analysis_run(&reports[i], inputs[i], sym, &analysis, err, sizeof(err))) {
            fprintf(stderr, "heapscope: %s\n", err);
            status = HS_EXIT_BAD_INPUT;
            break;
        }
        any_leak |= reports[i].leak_detected || reports[i].threads_leak;
    }
    hs_report_groups_t groups = {0};
    if (status == HS_EXIT_OK && ndumps > 1 && hs_report_groups_build(&groups, reports, (size_t)ndumps)) {
        fprintf(stderr, "heapscope: report: out of memory\n");
        status = HS_EXIT_FAILURE;
    }
    if (status == HS_EXIT_OK) {
        /* Several dumps: the group view first (report_group.h); the JSON's
         * "dumps" stay in argument order, the text's details follow the
         * group view's order. */
        if (json && ndumps > 1) {
            printf("{");
            hs_report_groups_print_json(stdout, &groups, reports);
            printf(",\"dumps\":[");
        } else if (ndumps > 1) {
            hs_report_groups_print_text(stdout, &groups, reports);
        }
        for (int i = 0; i < ndumps; i++) {
            if (json) {
                if (i)
                    printf(",");
                hs_report_print_json(stdout, &reports[i]);
            } else {
                if (i || ndumps > 1)
                    printf("\n");
                hs_report_print_text(stdout, &reports[ndumps > 1 ? groups.members[i].dump : (size_t)i]);
            }
        }
        if (json)
            printf(ndumps > 1 ? "]}\n" : "\n");
        if (fail_on_leak && any_leak)
            status = HS_EXIT_LEAK_FOUND;
    }
    hs_report_groups_free(&groups);
    for (int i = 0; i < ndumps; i++) {
        hs_analysis_free(&reports[i]);
        hs_input_close(inputs[i]);
    }
    free(reports);
    free(inputs);
    if (sym)
        hs_symbolizer_free(sym);
    return status;
}
