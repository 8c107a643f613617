/* config.c - one table of HEAPSCOPE_* options drives parsing, defaults,
 * bounds and the effective-configuration printout. Read once at load (nginx
 * wipes its workers' environment; they keep these settings across fork).
 * Never allocates: it runs before the real allocator may be usable. */
#include "config.h"

#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "state.h"

hs_config_t hs_cfg; /* read once at load (lifecycle.c), then only read */

enum opt_kind { OPT_SIZE, OPT_UINT, OPT_SECONDS, OPT_BOOL, OPT_SIGNAL, OPT_STRING };

typedef struct {
    const char *env;
    enum opt_kind kind;
    const char *def;      /* default, as the user would write it */
    uint64_t min, max;    /* bounds for numeric options */
    size_t offset;        /* into hs_config_t */
    const char *doc;
} hs_option_t;

#define OFF(f) offsetof(hs_config_t, f)
static const hs_option_t options[] = {
    {"HEAPSCOPE_SAMPLE_RATE", OPT_SIZE, "524288", 1, (uint64_t)1 << 40, OFF(sample_rate),
     "mean bytes between samples (K/M/G suffixes); 1 records every allocation"},
    {"HEAPSCOPE_MAX_DEPTH", OPT_UINT, "64", 1, 256, OFF(max_depth), "frames per stack"},
    {"HEAPSCOPE_INTERVAL", OPT_SECONDS, "30", 10, 86400000, OFF(interval_ms),
     "seconds between snapshots (fractions allowed, at least 0.01)"},
    {"HEAPSCOPE_OUTPUT", OPT_STRING, "heapscope.%e.%p.hsd", 0, 0, OFF(output),
     "dump path template: %p pid, %e program, %t start time, %% percent"},
    {"HEAPSCOPE_SIGNAL", OPT_SIGNAL, "", 0, 0, OFF(signal), "signal that triggers a snapshot (off)"},
    {"HEAPSCOPE_DISABLE", OPT_BOOL, "0", 0, 1, OFF(disable), "1 = pure pass-through"},
    {"HEAPSCOPE_FOLLOW_EXEC", OPT_BOOL, "1", 0, 1, OFF(follow_exec),
     "0 = take the library out of LD_PRELOAD for exec'd children"},
    {"HEAPSCOPE_ONLY", OPT_STRING, "", 0, 0, OFF(only), "comma list of program names to record (all)"},
    {"HEAPSCOPE_SEED", OPT_SIZE, "0", 0, UINT64_MAX, OFF(seed), "sampler seed, 0 = random"},
    {"HEAPSCOPE_LEAK_WINDOW", OPT_SECONDS, "300", 0, 86400000, OFF(leak_window_ms),
     "seconds of snapshots the live leak detector looks at (0 = off)"},
    {"HEAPSCOPE_LEAK_THRESHOLD", OPT_SIZE, "10M", 1, (uint64_t)1 << 50, OFF(leak_threshold),
     "growth within the window that counts as a leak (K/M/G suffixes)"},
    {"HEAPSCOPE_LOG", OPT_STRING, "", 0, 0, OFF(log), "file that receives leak warnings (stderr)"},
    {"HEAPSCOPE_EMPTY_DUMPS", OPT_BOOL, "0", 0, 1, OFF(empty_dumps),
     "1 = a process that sampled nothing before it ended still leaves a dump"},
    {"HEAPSCOPE_VERBOSE", OPT_BOOL, "0", 0, 1, OFF(verbose), "1 = log configuration and dump path"},
};
#define N_OPTIONS (sizeof(options) / sizeof(options[0]))

int hs_config_parse_size(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    const char *p = s;
    if (*p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    int shift = 0;
    switch (*p) {
    case 'k': case 'K': shift = 10; p++; break;
    case 'm': case 'M': shift = 20; p++; break;
    case 'g': case 'G': shift = 30; p++; break;
    default: break;
    }
    if (shift && (*p == 'i' || *p == 'I'))
        p++;
    if (shift && (*p == 'b' || *p == 'B'))
        p++;
    if (*p != '\0' || (shift && v > (UINT64_MAX >> shift)))
        return -1;
    *out = v << shift;
    return 0;
}

int hs_config_parse_seconds_ms(const char *s, uint64_t *out_ms)
{
    /* Decimal seconds with up to three fractional digits, no locale, no strtod. */
    uint64_t whole = 0, frac = 0;
    int frac_digits = 0, digits = 0;
    const char *p = s;
    if (!((*p >= '0' && *p <= '9') || *p == '.'))
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (whole > 100000000)
            return -1;
        whole = whole * 10 + (uint64_t)(*p - '0');
        digits++;
    }
    if (*p == '.') {
        p++;
        for (; *p >= '0' && *p <= '9'; p++) {
            digits++;
            if (frac_digits < 3) {
                frac = frac * 10 + (uint64_t)(*p - '0');
                frac_digits++;
            }
        }
    }
    if (p[0] == 's' && p[1] == '\0')
        p++;
    if (*p != '\0' || digits == 0)
        return -1;
    while (frac_digits++ < 3)
        frac *= 10;
    *out_ms = whole * 1000 + frac;
    return 0;
}

int hs_config_parse_bool(const char *s, int *out)
{
    static const char *yes[] = {"1", "true", "yes", "on"}, *no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

int hs_config_parse_signal(const char *s, int *out)
{
    static const struct { const char *name; int num; } names[] = {
        {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"HUP", SIGHUP},   {"WINCH", SIGWINCH},
        {"URG", SIGURG},   {"PROF", SIGPROF}, {"PWR", SIGPWR},   {"TTIN", SIGTTIN},
    };
    if (*s == '\0' || strcasecmp(s, "off") == 0 || strcmp(s, "0") == 0) {
        *out = 0;
        return 0;
    }
    if (*s >= '0' && *s <= '9') {
        uint64_t v;
        if (hs_config_parse_size(s, &v) || v < 1 || v > (uint64_t)SIGRTMAX || v == SIGKILL || v == SIGSTOP ||
            v == SIGSEGV || v == SIGBUS || v == SIGFPE || v == SIGILL)
            return -1;
        *out = (int)v;
        return 0;
    }
    if (strncasecmp(s, "SIG", 3) == 0)
        s += 3;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcasecmp(s, names[i].name) == 0) {
            *out = names[i].num;
            return 0;
        }
    }
    return -1;
}

int hs_config_name_matches(const char *only, const char *name)
{
    if (!only[0])
        return 1;
    size_t n = strlen(name);
    for (const char *p = only; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && n && strncmp(p, name, n) == 0)
            return 1;
        p += len;
        if (*p == ',')
            p++;
    }
    return 0;
}

static int apply(hs_config_t *cfg, const hs_option_t *o, const char *val)
{
    void *field = (char *)cfg + o->offset;
    uint64_t v = 0;
    int b = 0;
    switch (o->kind) {
    case OPT_SIZE:
    case OPT_UINT:
        if (hs_config_parse_size(val, &v) || v < o->min || v > o->max)
            return -1;
        if (o->kind == OPT_UINT)
            *(uint32_t *)field = (uint32_t)v;
        else
            *(uint64_t *)field = v;
        return 0;
    case OPT_SECONDS:
        if (hs_config_parse_seconds_ms(val, &v) || v < o->min || v > o->max)
            return -1;
        *(uint64_t *)field = v;
        return 0;
    case OPT_BOOL:
        if (hs_config_parse_bool(val, &b))
            return -1;
        *(int *)field = b;
        return 0;
    case OPT_SIGNAL:
        if (hs_config_parse_signal(val, &b))
            return -1;
        *(int *)field = b;
        return 0;
    case OPT_STRING:
        if (strlen(val) >= HS_PATH_MAX)
            return -1;
        strcpy((char *)field, val);
        return 0;
    }
    return -1;
}

void hs_config_load(hs_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < N_OPTIONS; i++) {
        if (apply(cfg, &options[i], options[i].def))
            hs_log("internal error: bad default for %s", options[i].env);
        const char *val = getenv(options[i].env);
        if (val && apply(cfg, &options[i], val)) {
            hs_log("warning: %s='%.200s' is not valid (%s); using the default '%s'", options[i].env, val,
                   options[i].doc, options[i].def);
            apply(cfg, &options[i], options[i].def);
        }
    }
    if (!cfg->output[0])
        strcpy(cfg->output, "heapscope.%e.%p.hsd");
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !tmp[0] || strlen(tmp) >= sizeof(cfg->tmpdir))
        tmp = "/tmp";
    strcpy(cfg->tmpdir, tmp);
}

void hs_config_print(const hs_config_t *cfg)
{
    hs_log("config HEAPSCOPE_SAMPLE_RATE=%llu HEAPSCOPE_MAX_DEPTH=%u HEAPSCOPE_INTERVAL=%llu.%03llu "
           "HEAPSCOPE_SIGNAL=%d HEAPSCOPE_DISABLE=%d HEAPSCOPE_FOLLOW_EXEC=%d HEAPSCOPE_SEED=%llu "
           "HEAPSCOPE_EMPTY_DUMPS=%d",
           (unsigned long long)cfg->sample_rate, cfg->max_depth, (unsigned long long)(cfg->interval_ms / 1000),
           (unsigned long long)(cfg->interval_ms % 1000), cfg->signal, cfg->disable, cfg->follow_exec,
           (unsigned long long)cfg->seed, cfg->empty_dumps);
    hs_log("config HEAPSCOPE_OUTPUT=%s HEAPSCOPE_ONLY=%s TMPDIR=%s", cfg->output, cfg->only[0] ? cfg->only : "(all)",
           cfg->tmpdir);
    hs_log("config HEAPSCOPE_LEAK_WINDOW=%llu.%03llu HEAPSCOPE_LEAK_THRESHOLD=%llu HEAPSCOPE_LOG=%s",
           (unsigned long long)(cfg->leak_window_ms / 1000), (unsigned long long)(cfg->leak_window_ms % 1000),
           (unsigned long long)cfg->leak_threshold, cfg->log[0] ? cfg->log : "(stderr)");
}
