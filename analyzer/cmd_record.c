/* cmd_record.c - `heapscope record`: validates the flags, maps them 1:1 onto
 * the HEAPSCOPE_* environment variables, prepends libheapscope.so to
 * LD_PRELOAD and execs CMD in place, so CMD's exit status is ours. It must
 * never start CMD with a value it could not validate, and never guess where
 * the library is: only next to the real binary or in the `make install` layout. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "hs_format.h"

#define DEFAULT_OUTPUT "heapscope.%e.%p.hsd"
/* The bounds interposer/config.c enforces: a value outside them would be
 * replaced by the default there, silently from the user's point of view. */
#define MAX_RATE ((uint64_t)1 << 40)
#define MAX_LEAK_THRESHOLD ((uint64_t)1 << 50)
#define MIN_INTERVAL_SECONDS 0.01
#define MAX_INTERVAL_SECONDS 86400.0

void hs_cmd_record_usage(FILE *out)
{
    fprintf(out,
            "usage: heapscope record [OPTIONS] [--] CMD [ARGS...]\n"
            "\n"
            "Runs CMD with libheapscope.so in LD_PRELOAD. Each option sets one environment\n"
            "variable; unset options keep the variable's current value or the default.\n"
            "\n"
            "  --rate BYTES        mean bytes between samples, K/M/G suffixes (1024-based);\n"
            "                      1 records every allocation     HEAPSCOPE_SAMPLE_RATE (524288)\n"
            "  --interval SECONDS  time between snapshots, 0.01..86400\n"
            "                                                     HEAPSCOPE_INTERVAL (30)\n"
            "  --output TEMPLATE   dump path: %%p pid, %%e program, %%t start time\n"
            "                                                     HEAPSCOPE_OUTPUT (%s)\n"
            "  --depth N           stack depth, 1..%d             HEAPSCOPE_MAX_DEPTH (64)\n"
            "  --signal SIG        snapshot on this signal (USR2, SIGUSR2 or a number)\n"
            "                                                     HEAPSCOPE_SIGNAL (off)\n"
            "  --leak-window SECONDS  live leak detector's window, 0 (off) or 0.01..86400\n"
            "                                                     HEAPSCOPE_LEAK_WINDOW (300)\n"
            "  --leak-threshold BYTES growth within the window that is a leak, K/M/G\n"
            "                                                     HEAPSCOPE_LEAK_THRESHOLD (10M)\n"
            "  --leak-log FILE     where live leak warnings go    HEAPSCOPE_LOG (stderr)\n"
            "\n"
            "Exit status: CMD's own; 126 if CMD cannot be executed, 127 if not found;\n"
            "1 if libheapscope.so is missing; 2 for a bad option.\n",
            DEFAULT_OUTPUT, HS_MAX_DEPTH_LIMIT);
}

static int bad_value(const char *flag, const char *value, const char *want)
{
    fprintf(stderr, "heapscope: record: %s '%s': %s\n", flag, value, want);
    return HS_EXIT_BAD_INPUT;
}

/* Decimal digits with an optional K, M or G (1024-based) suffix; 1..max. */
static int parse_size(const char *s, uint64_t max, uint64_t *out)
{
    if (!*s)
        return -1;
    uint64_t v = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (p == s)
        return -1;
    unsigned shift = 0;
    if (*p) {
        switch (*p) {
        case 'k': case 'K': shift = 10; break;
        case 'm': case 'M': shift = 20; break;
        case 'g': case 'G': shift = 30; break;
        default: return -1;
        }
        if (p[1])
            return -1;
    }
    if (v == 0 || v > (max >> shift))
        return -1;
    *out = v << shift;
    return 0;
}

/* A plain decimal number of seconds within the interposer's bounds; with
 * zero_ok, 0 (off) too. */
static int parse_seconds(const char *s, int zero_ok, double *out)
{
    if (!*s || !((*s >= '0' && *s <= '9') || *s == '.'))
        return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v) || (v < MIN_INTERVAL_SECONDS && !(zero_ok && v == 0)) ||
        v > MAX_INTERVAL_SECONDS)
        return -1;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || *p == '.'))
            return -1; /* no exponents, hex or inf: the interposer parses plain numbers */
    *out = v;
    return 0;
}

/* Whole seconds stay integers so that the simplest parser reads them. */
static void format_seconds(double v, char *out, size_t n)
{
    if (v == floor(v))
        snprintf(out, n, "%.0f", v);
    else
        snprintf(out, n, "%.3f", v);
}

static int parse_depth(const char *s, unsigned *out)
{
    unsigned v = 0;
    if (!*s)
        return -1;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9' || v > HS_MAX_DEPTH_LIMIT)
            return -1;
        v = v * 10 + (unsigned)(*p - '0');
    }
    if (v < 1 || v > HS_MAX_DEPTH_LIMIT)
        return -1;
    *out = v;
    return 0;
}

static const struct {
    const char *name;
    int sig;
} signal_names[] = {
    {"HUP", SIGHUP},     {"INT", SIGINT},     {"QUIT", SIGQUIT},     {"USR1", SIGUSR1},
    {"USR2", SIGUSR2},   {"PIPE", SIGPIPE},   {"ALRM", SIGALRM},     {"TERM", SIGTERM},
    {"CHLD", SIGCHLD},   {"CONT", SIGCONT},   {"TSTP", SIGTSTP},     {"TTIN", SIGTTIN},
    {"TTOU", SIGTTOU},   {"URG", SIGURG},     {"XCPU", SIGXCPU},     {"XFSZ", SIGXFSZ},
    {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH},   {"IO", SIGIO},
    {"PWR", SIGPWR},     {"SYS", SIGSYS},
};

/* Accepts USR2, SIGUSR2 (any case) or a number. Signals that cannot be
 * caught, or that mean a crash, are refused: the flusher could not handle them.
 * Writes the number for HEAPSCOPE_SIGNAL: interposer/config.c knows only a
 * few names but every number. */
static int parse_signal(const char *s, char *out, size_t n)
{
    const char *name = s;
    if (strncasecmp(name, "SIG", 3) == 0)
        name += 3;
    for (size_t i = 0; i < sizeof(signal_names) / sizeof(signal_names[0]); i++) {
        if (strcasecmp(name, signal_names[i].name) == 0) {
            snprintf(out, n, "%d", signal_names[i].sig);
            return 0;
        }
    }
    if (!*s)
        return -1;
    int v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9' || v > 1000)
            return -1;
        v = v * 10 + (*p - '0');
    }
    if (v < 1 || v > SIGRTMAX)
        return -1;
    int named = 0;
    for (size_t i = 0; i < sizeof(signal_names) / sizeof(signal_names[0]); i++)
        named |= signal_names[i].sig == v;
    if (!named && v < SIGRTMIN)
        return -1; /* KILL, STOP, SEGV, BUS, FPE, ILL, ABRT, TRAP */
    snprintf(out, n, "%d", v);
    return 0;
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

/* Matches "--name VALUE" and "--name=VALUE"; advances *i past the value. */
static int take_option(int argc, char **argv, int *i, const char *name, const char **value, int *missing)
{
    const char *arg = argv[*i];
    size_t n = strlen(name);
    if (strncmp(arg, name, n) != 0)
        return 0;
    if (arg[n] == '=') {
        *value = arg + n + 1;
        return 1;
    }
    if (arg[n] != '\0')
        return 0;
    if (*i + 1 >= argc) {
        *missing = 1;
        return 1;
    }
    *value = argv[++*i];
    return 1;
}

int hs_cmd_record(int argc, char **argv)
{
    const char *rate = NULL, *interval = NULL, *output = NULL, *depth = NULL, *sig = NULL;
    const char *leak_window = NULL, *leak_threshold = NULL, *leak_log = NULL;
    int i = 1;
    for (; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--") == 0) {
            i++;
            break;
        }
        if (arg[0] != '-' || arg[1] == '\0')
            break; /* the command */
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            hs_cmd_record_usage(stdout);
            return HS_EXIT_OK;
        }
        int missing = 0;
        const char *flag = arg;
        if (take_option(argc, argv, &i, "--rate", &rate, &missing) ||
            take_option(argc, argv, &i, "--interval", &interval, &missing) ||
            take_option(argc, argv, &i, "--output", &output, &missing) ||
            take_option(argc, argv, &i, "--depth", &depth, &missing) ||
            take_option(argc, argv, &i, "--signal", &sig, &missing) ||
            take_option(argc, argv, &i, "--leak-window", &leak_window, &missing) ||
            take_option(argc, argv, &i, "--leak-threshold", &leak_threshold, &missing) ||
            take_option(argc, argv, &i, "--leak-log", &leak_log, &missing)) {
            if (missing) {
                fprintf(stderr, "heapscope: record: %s needs a value\n", flag);
                return HS_EXIT_BAD_INPUT;
            }
            continue;
        }
        fprintf(stderr, "heapscope: record: unknown option '%s' (see heapscope help record)\n", arg);
        return HS_EXIT_BAD_INPUT;
    }
    if (i >= argc) {
        fprintf(stderr, "heapscope: record: missing command to run (heapscope record [OPTIONS] -- CMD [ARGS...])\n");
        return HS_EXIT_BAD_INPUT;
    }
    char **cmd = argv + i;

    /* Validate everything before touching the environment. */
    char rate_s[32] = "", interval_s[40] = "", depth_s[16] = "", sig_s[16] = "";
    char window_s[40] = "", threshold_s[32] = "";
    if (rate) {
        uint64_t v;
        if (parse_size(rate, MAX_RATE, &v))
            return bad_value("--rate", rate, "must be a positive number of bytes (K, M or G suffix), at most 1024G");
        snprintf(rate_s, sizeof(rate_s), "%llu", (unsigned long long)v);
    }
    if (interval) {
        double v;
        if (parse_seconds(interval, 0, &v))
            return bad_value("--interval", interval, "must be a plain number of seconds from 0.01 to 86400");
        format_seconds(v, interval_s, sizeof(interval_s));
    }
    if (leak_window) {
        double v;
        if (parse_seconds(leak_window, 1, &v))
            return bad_value("--leak-window", leak_window,
                             "must be 0 (off) or a plain number of seconds from 0.01 to 86400");
        format_seconds(v, window_s, sizeof(window_s));
    }
    if (leak_threshold) {
        uint64_t v;
        if (parse_size(leak_threshold, MAX_LEAK_THRESHOLD, &v))
            return bad_value("--leak-threshold", leak_threshold,
                             "must be a positive number of bytes (K, M or G suffix), at most 1048576G");
        snprintf(threshold_s, sizeof(threshold_s), "%llu", (unsigned long long)v);
    }
    if (leak_log && !*leak_log)
        return bad_value("--leak-log", leak_log, "must not be empty");
    if (output && !*output)
        return bad_value("--output", output, "must not be empty");
    if (depth) {
        unsigned v;
        if (parse_depth(depth, &v))
            return bad_value("--depth", depth, "must be a whole number from 1 to 256");
        snprintf(depth_s, sizeof(depth_s), "%u", v);
    }
    if (sig && parse_signal(sig, sig_s, sizeof(sig_s)))
        return bad_value("--signal", sig, "must be a catchable signal name or number (e.g. USR2)");

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

    if ((rate && set_env("HEAPSCOPE_SAMPLE_RATE", rate_s)) ||
        (interval && set_env("HEAPSCOPE_INTERVAL", interval_s)) ||
        (output && set_env("HEAPSCOPE_OUTPUT", output)) || (depth && set_env("HEAPSCOPE_MAX_DEPTH", depth_s)) ||
        (sig && set_env("HEAPSCOPE_SIGNAL", sig_s)) ||
        (leak_window && set_env("HEAPSCOPE_LEAK_WINDOW", window_s)) ||
        (leak_threshold && set_env("HEAPSCOPE_LEAK_THRESHOLD", threshold_s)) ||
        (leak_log && set_env("HEAPSCOPE_LOG", leak_log)) || set_env("LD_PRELOAD", preload)) {
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
    fprintf(stderr, " to %s\n", template);

    execvp(cmd[0], cmd);
    int e = errno;
    fprintf(stderr, "heapscope: record: cannot run '%s': %s\n", cmd[0], strerror(e));
    return e == ENOENT || e == ENOTDIR ? HS_EXIT_NOT_FOUND : HS_EXIT_CANNOT_EXEC;
}
