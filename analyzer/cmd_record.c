/* cmd_record.c - `heapscope record`: validates the flags, maps them 1:1 onto
 * the HEAPSCOPE_* environment variables, prepends libheapscope.so to
 * LD_PRELOAD and execs CMD in place, so CMD's exit status is ours. It must
 * never start CMD with a value it could not validate, and never guess where
 * the library is: only next to the real binary or in the `make install` layout. */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "args.h"
#include "cli.h"
#include "hs_options.h"
#include "record_path.h"

#define DEFAULT_OUTPUT (hs_options[HS_OPT_OUTPUT].def)

/* Generated from common/hs_options.c's table: each flag with its variable,
 * default, meaning and what it accepts; then the settings without a flag. */
void hs_cmd_record_usage(FILE *out)
{
    fprintf(out, "usage: heapscope record [OPTIONS] [--] CMD [ARGS...]\n"
                 "\n"
                 "Runs CMD with libheapscope.so in LD_PRELOAD. Each option sets one environment\n"
                 "variable; unset options keep the variable's current value or the default.\n"
                 "The options end at CMD (or at --): every argument after CMD is CMD's own, even\n"
                 "one that looks like an option here (heapscope record -- prog --rate 5).\n"
                 "Before it starts CMD, record prints the dump's path with CMD's pid and name\n"
                 "filled in (\"heapscope: recording CMD ... to PATH\"), and what it may become\n"
                 "instead if the directory is not writable or the name is taken.\n"
                 "\n");
    for (int id = 0; id < HS_OPT_COUNT; id++) {
        const hs_option_t *o = &hs_options[id];
        if (!o->flag)
            continue;
        char flag[64], want[160];
        snprintf(flag, sizeof(flag), "%s%s %s", id == HS_OPT_OUTPUT ? "-o, " : "", o->flag, o->arg);
        hs_opt_describe(o, want, sizeof(want));
        fprintf(out, "  %-22s  %s, default %s\n        %s\n        %s\n", flag, o->env, hs_opt_default_shown(o), o->doc,
                want);
    }
    fprintf(out, "\nSettings without a flag, taken from the environment as they are:\n");
    for (int id = 0; id < HS_OPT_COUNT; id++) {
        const hs_option_t *o = &hs_options[id];
        if (!o->flag)
            fprintf(out, "  %s, default %s\n        %s\n", o->env, hs_opt_default_shown(o), o->doc);
    }
    fprintf(out, "\n"
                 "Exit status: CMD's own; 126 if CMD cannot be executed, 127 if not found;\n"
                 "1 if libheapscope.so is missing; 2 for a bad option.\n");
}

static int bad_value(const char *flag, const char *value, const char *want)
{
    fprintf(stderr, "heapscope: record: %s '%s': %s\n", flag, value, want);
    return HS_EXIT_BAD_INPUT;
}

static int is_regular_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, R_OK) == 0;
}

/* The library sits next to the real binary (the build/ layout) or in
 * ../lib/heapscope/ (the `make install` layout). /proc/self/exe, not argv[0],
 * so that symlinks and $PATH lookups find the right tree. */
static int find_library(char *out, size_t n)
{
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (len <= 0) {
        fprintf(stderr, "heapscope: record: cannot read /proc/self/exe: %s\n", strerror(errno));
        return -1;
    }
    exe[len] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash) {
        fprintf(stderr, "heapscope: record: /proc/self/exe is not an absolute path: %s\n", exe);
        return -1;
    }
    *slash = '\0';
    char built[PATH_MAX + 32], installed[PATH_MAX + 48];
    snprintf(built, sizeof(built), "%s/libheapscope.so", exe);
    snprintf(installed, sizeof(installed), "%s/../lib/heapscope/libheapscope.so", exe);
    const char *found = is_regular_file(built) ? built : is_regular_file(installed) ? installed : NULL;
    if (!found) {
        fprintf(stderr, "heapscope: record: libheapscope.so not found: neither %s nor %s exists\n", built, installed);
        return -1;
    }
    char real[PATH_MAX];
    if (!realpath(found, real) || strlen(real) >= n) {
        fprintf(stderr, "heapscope: record: cannot resolve %s: %s\n", found, strerror(errno));
        return -1;
    }
    /* The dynamic loader splits LD_PRELOAD at spaces and colons. */
    if (strpbrk(real, ": \t")) {
        fprintf(stderr, "heapscope: record: cannot preload %s: LD_PRELOAD paths must not contain ':' or spaces\n",
                real);
        return -1;
    }
    memcpy(out, real, strlen(real) + 1);
    return 0;
}

static int set_env(const char *name, const char *value)
{
    if (setenv(name, value, 1) != 0) {
        fprintf(stderr, "heapscope: record: cannot set %s: %s\n", name, strerror(errno));
        return -1;
    }
    return 0;
}

int hs_cmd_record(int argc, char **argv)
{
    /* The flags are the table's (common/hs_options.c); -o is --output's
     * short form, as in heaptrack and perf. Options stop at CMD: what
     * follows it is CMD's own. */
    hs_arg_option_t flags[HS_OPT_COUNT + 1] = {{0, 0, NULL, 0}};
    int nflags = 0;
    for (int id = 0; id < HS_OPT_COUNT; id++)
        if (hs_options[id].flag)
            flags[nflags++] = (hs_arg_option_t){id + 1, id == HS_OPT_OUTPUT ? 'o' : 0, hs_options[id].flag + 2, 1};
    const char *given[HS_OPT_COUNT] = {NULL}; /* each flag's value, by option */
    hs_args_t args;
    const char *arg_value;
    int opt, ncmd;
    hs_args_init(&args, "record", flags, HS_ARGS_STOP_AT_OPERAND, argc, argv);
    while ((opt = hs_args_next(&args, &arg_value)) > 0)
        given[opt - 1] = arg_value;
    if (opt == HS_ARGS_HELP) {
        hs_cmd_record_usage(stdout);
        return HS_EXIT_OK;
    }
    if (opt == HS_ARGS_ERROR)
        return HS_EXIT_BAD_INPUT;
    char **cmd = hs_args_operands(&args, &ncmd);
    if (ncmd == 0) {
        fprintf(stderr, "heapscope: record: missing command to run (heapscope record [OPTIONS] [--] CMD [ARGS...])\n");
        return HS_EXIT_BAD_INPUT;
    }

    /* Validate everything before touching the environment: the library would
     * replace a bad value by its default, silently from the user's point of
     * view. Numbers go on in the form the library reads back. */
    char value[HS_OPT_COUNT][32];
    for (int id = 0; id < HS_OPT_COUNT; id++) {
        const hs_option_t *o = &hs_options[id];
        uint64_t v;
        if (!given[id])
            continue;
        if (!*given[id])
            return bad_value(o->flag, given[id], "must not be empty");
        if (hs_opt_parse(o, given[id], &v)) {
            char want[160] = "must be ";
            hs_opt_describe(o, want + 8, sizeof(want) - 8);
            return bad_value(o->flag, given[id], want);
        }
        if (o->kind != HS_KIND_STRING)
            hs_opt_format(o, v, value[id], sizeof(value[id]));
    }

    char lib[PATH_MAX];
    if (find_library(lib, sizeof(lib)))
        return HS_EXIT_FAILURE;
    const char *old = getenv("LD_PRELOAD");
    size_t preload_len = strlen(lib) + (old ? strlen(old) : 0) + 2;
    char *preload = malloc(preload_len);
    if (!preload) {
        fprintf(stderr, "heapscope: record: out of memory\n");
        return HS_EXIT_FAILURE;
    }
    if (old && *old)
        snprintf(preload, preload_len, "%s:%s", lib, old);
    else
        snprintf(preload, preload_len, "%s", lib);

    int failed = 0;
    for (int id = 0; id < HS_OPT_COUNT && !failed; id++)
        if (given[id])
            failed = set_env(hs_options[id].env, hs_options[id].kind == HS_KIND_STRING ? given[id] : value[id]) != 0;
    if (failed || set_env("LD_PRELOAD", preload)) {
        free(preload);
        return HS_EXIT_FAILURE;
    }
    free(preload);

    const char *template = getenv("HEAPSCOPE_OUTPUT");
    if (!template || !*template)
        template = DEFAULT_OUTPUT;
    fprintf(stderr, "heapscope: recording");
    for (char **a = cmd; *a; a++)
        fprintf(stderr, " %s", *a);
    char dump[2 * PATH_MAX];
    hs_record_path_predict(template, cmd, dump, sizeof(dump));
    fprintf(stderr, " to %s\n", dump);

    execvp(cmd[0], cmd);
    int e = errno;
    fprintf(stderr, "heapscope: record: cannot run '%s': %s\n", cmd[0], strerror(e));
    return e == ENOENT || e == ENOTDIR ? HS_EXIT_NOT_FOUND : HS_EXIT_CANNOT_EXEC;
}
