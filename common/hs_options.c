/* hs_options.c - owns the table of HEAPSCOPE_* settings (name, record flag,
 * kind, default, bounds, one-line doc) and the one grammar of each kind:
 * sizes, seconds, booleans, signals. Both sides use it: the library at load
 * (interposer/config.c), the CLI for `heapscope record`. Never allocates,
 * never touches stdio or the locale (ASCII case folding by hand): the library
 * runs it before the program's allocator may be usable. */
#include "hs_options.h"

#include <signal.h>
#include <string.h>

#include "hs_format.h"

#define SECONDS_MAX_MS 86400000ull /* one day */

const hs_option_t hs_options[HS_OPT_COUNT] = {
    [HS_OPT_SAMPLE_RATE] = {"HEAPSCOPE_SAMPLE_RATE", "--rate", "BYTES", HS_KIND_SIZE, "524288", NULL, 1,
                            (uint64_t)1 << 40, "mean bytes between samples; 1 records every allocation"},
    [HS_OPT_MAX_DEPTH] = {"HEAPSCOPE_MAX_DEPTH", "--depth", "N", HS_KIND_UINT, "64", NULL, 1, HS_MAX_DEPTH_LIMIT,
                          "frames per stack"},
    [HS_OPT_INTERVAL] = {"HEAPSCOPE_INTERVAL", "--interval", "SECONDS", HS_KIND_SECONDS, "30", NULL, 10, SECONDS_MAX_MS,
                         "time between snapshots once the run is under way"},
    [HS_OPT_OUTPUT] = {"HEAPSCOPE_OUTPUT", "--output", "TEMPLATE", HS_KIND_STRING, "heapscope.%e.%p.hsd", NULL, 0,
                       HS_OPT_STRING_MAX - 1, "dump path template: %p pid, %e program, %t start time, %% percent"},
    [HS_OPT_SIGNAL] = {"HEAPSCOPE_SIGNAL", "--signal", "SIG", HS_KIND_SIGNAL, "off", NULL, 0, 0,
                       "signal that asks for a snapshot"},
    [HS_OPT_DISABLE] = {"HEAPSCOPE_DISABLE", NULL, NULL, HS_KIND_BOOL, "0", NULL, 0, 1,
                        "1 = pure pass-through: no sampling, no file"},
    [HS_OPT_FOLLOW_EXEC] = {"HEAPSCOPE_FOLLOW_EXEC", NULL, NULL, HS_KIND_BOOL, "1", NULL, 0, 1,
                            "0 = take the library out of LD_PRELOAD for the programs this one execs"},
    [HS_OPT_ONLY] = {"HEAPSCOPE_ONLY", NULL, NULL, HS_KIND_STRING, "", "all", 0, HS_OPT_STRING_MAX - 1,
                     "comma-separated program names to record; the others run pass-through"},
    [HS_OPT_SEED] = {"HEAPSCOPE_SEED", NULL, NULL, HS_KIND_UINT, "0", NULL, 0, UINT64_MAX, "sampler seed; 0 = random"},
    [HS_OPT_LEAK_WINDOW] = {"HEAPSCOPE_LEAK_WINDOW", "--leak-window", "SECONDS", HS_KIND_SECONDS, "300", NULL, 0,
                            SECONDS_MAX_MS, "time of snapshots the live leak detector looks at; 0 turns it off"},
    [HS_OPT_LEAK_THRESHOLD] = {"HEAPSCOPE_LEAK_THRESHOLD", "--leak-threshold", "BYTES", HS_KIND_SIZE, "10M", NULL, 1,
                               (uint64_t)1 << 50, "growth within the window that the live detector calls a leak"},
    [HS_OPT_LOG] = {"HEAPSCOPE_LOG", "--leak-log", "FILE", HS_KIND_STRING, "", "stderr", 0, HS_OPT_STRING_MAX - 1,
                    "file that receives the live leak warnings"},
    [HS_OPT_EMPTY_DUMPS] = {"HEAPSCOPE_EMPTY_DUMPS", NULL, NULL, HS_KIND_BOOL, "0", NULL, 0, 1,
                            "1 = a process that sampled nothing before it ended still leaves a dump"},
    [HS_OPT_VERBOSE] = {"HEAPSCOPE_VERBOSE", NULL, NULL, HS_KIND_BOOL, "0", NULL, 0, 1,
                        "1 = print the effective settings and the dump path"},
    [HS_OPT_HTTP] = {"HEAPSCOPE_HTTP", "--http", "ADDR", HS_KIND_STRING, "", "off", 0, 255,
                     "live service address: HOST:PORT, [::1]:PORT, HOST:PORT-PORT (first free), unix:PATH (%p pid)"},
    [HS_OPT_HTTP_TOKEN] = {"HEAPSCOPE_HTTP_TOKEN", "--http-token", "TOKEN", HS_KIND_STRING, "", "none", 0, 255,
                           "bearer token every live request must carry; required off loopback"},
    [HS_OPT_METRICS_SITES] = {"HEAPSCOPE_METRICS_SITES", NULL, NULL, HS_KIND_UINT, "10", NULL, 0, 100,
                              "growing allocation sites /metrics lists"},
    [HS_OPT_DROP_FRAMES] = {"HEAPSCOPE_DROP_FRAMES", NULL, NULL, HS_KIND_STRING, "", "none", 0, HS_OPT_STRING_MAX - 1,
                            "extended regular expression of more allocation-wrapper functions the live site skips"},
    [HS_OPT_ALERT_HEAP] = {"HEAPSCOPE_ALERT_HEAP", NULL, NULL, HS_KIND_SIZE, "0", NULL, 0, (uint64_t)1 << 50,
                           "heap in use that raises an alert; 0 = off"},
    [HS_OPT_ALERT_RSS] = {"HEAPSCOPE_ALERT_RSS", NULL, NULL, HS_KIND_SIZE, "0", NULL, 0, (uint64_t)1 << 50,
                          "resident memory that raises an alert; 0 = off"},
    [HS_OPT_ALERT_THREADS] = {"HEAPSCOPE_ALERT_THREADS", NULL, NULL, HS_KIND_UINT, "0", NULL, 0, 1u << 30,
                              "live threads that raise an alert; 0 = off"},
    [HS_OPT_ALERT_GROWTH] = {"HEAPSCOPE_ALERT_GROWTH", NULL, NULL, HS_KIND_SIZE, "0", NULL, 0, (uint64_t)1 << 50,
                             "leak rate in bytes per second that raises an alert; 0 = off"},
    [HS_OPT_PPROF_DIR] = {"HEAPSCOPE_PPROF_DIR", NULL, NULL, HS_KIND_STRING, "", "off", 0, HS_OPT_STRING_MAX - 1,
                          "directory that receives a heap profile every HEAPSCOPE_PPROF_INTERVAL"},
    [HS_OPT_PPROF_INTERVAL] = {"HEAPSCOPE_PPROF_INTERVAL", NULL, NULL, HS_KIND_SECONDS, "3600", NULL, 1000,
                               SECONDS_MAX_MS, "seconds between periodic heap profiles"},
    [HS_OPT_PPROF_KEEP] = {"HEAPSCOPE_PPROF_KEEP", NULL, NULL, HS_KIND_UINT, "24", NULL, 1, 100000,
                           "periodic heap profiles kept; the oldest beyond are removed"},
};

/* Signals a snapshot may be asked with, by name: those that can be caught and
 * do not mean a crash. Any other number that can be caught works too. */
static const struct {
    const char *name;
    int num;
} signal_names[] = {
    {"HUP", SIGHUP},   {"INT", SIGINT},       {"QUIT", SIGQUIT}, {"USR1", SIGUSR1},   {"USR2", SIGUSR2},
    {"PIPE", SIGPIPE}, {"ALRM", SIGALRM},     {"TERM", SIGTERM}, {"CHLD", SIGCHLD},   {"CONT", SIGCONT},
    {"TSTP", SIGTSTP}, {"TTIN", SIGTTIN},     {"TTOU", SIGTTOU}, {"URG", SIGURG},     {"XCPU", SIGXCPU},
    {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH}, {"IO", SIGIO},
    {"PWR", SIGPWR},   {"SYS", SIGSYS},
};

/* ASCII only: strcasecmp consults the locale. */
static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c; }

static int same_word(const char *a, const char *b)
{
    for (; *a && lower(*a) == lower(*b); a++, b++)
        ;
    return lower(*a) == lower(*b);
}

const hs_option_t *hs_opt_by_env(const char *env)
{
    for (int i = 0; i < HS_OPT_COUNT; i++)
        if (strcmp(hs_options[i].env, env) == 0)
            return &hs_options[i];
    return NULL;
}

const hs_option_t *hs_opt_by_flag(const char *flag)
{
    for (int i = 0; i < HS_OPT_COUNT; i++)
        if (hs_options[i].flag && strcmp(hs_options[i].flag, flag) == 0)
            return &hs_options[i];
    return NULL;
}

/* ---- the grammars ---- */

int hs_opt_parse_size(const char *s, uint64_t *out)
{
    uint64_t whole = 0, frac = 0, scale = 1;
    int digits = 0, frac_digits = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++, digits++) {
        if (whole > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
            return -1;
        whole = whole * 10 + (uint64_t)(*p - '0');
    }
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++, frac_digits++) {
            if (frac_digits < 9) { /* finer than a billionth of a GiB is not a byte */
                frac = frac * 10 + (uint64_t)(*p - '0');
                scale *= 10;
            }
        }
        if (!frac_digits)
            return -1;
    }
    if (!digits && !frac_digits)
        return -1;
    int shift = 0;
    switch (*p) {
    case 'k':
    case 'K':
        shift = 10;
        p++;
        break;
    case 'm':
    case 'M':
        shift = 20;
        p++;
        break;
    case 'g':
    case 'G':
        shift = 30;
        p++;
        break;
    default: break;
    }
    if (shift && (*p == 'i' || *p == 'I'))
        p++;
    if (shift && (*p == 'b' || *p == 'B'))
        p++;
    if (*p != '\0' || (frac_digits && !shift) || whole > (UINT64_MAX >> shift))
        return -1;
    *out = (whole << shift) + (frac << shift) / scale;
    return 0;
}

int hs_opt_parse_seconds_ms(const char *s, uint64_t *out_ms)
{
    uint64_t whole = 0, frac = 0;
    int frac_digits = 0, digits = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++, digits++) {
        if (whole > 100000000)
            return -1;
        whole = whole * 10 + (uint64_t)(*p - '0');
    }
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++, digits++) {
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

int hs_opt_parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"}, *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (same_word(s, yes[i]) || same_word(s, no[i])) {
            *out = same_word(s, yes[i]);
            return 0;
        }
    }
    return -1;
}

int hs_opt_parse_signal(const char *s, int *out)
{
    if (*s == '\0' || same_word(s, "off") || strcmp(s, "0") == 0) {
        *out = 0;
        return 0;
    }
    if (*s >= '0' && *s <= '9') {
        int v = 0;
        for (const char *p = s; *p; p++) {
            if (*p < '0' || *p > '9' || v > 1000)
                return -1;
            v = v * 10 + (*p - '0');
        }
        if (v < 1 || v > SIGRTMAX || v == SIGKILL || v == SIGSTOP || v == SIGSEGV || v == SIGBUS || v == SIGFPE ||
            v == SIGILL)
            return -1; /* cannot be caught, or means a crash */
        *out = v;
        return 0;
    }
    const char *name = s;
    if (lower(name[0]) == 's' && lower(name[1]) == 'i' && lower(name[2]) == 'g')
        name += 3;
    for (size_t i = 0; i < sizeof(signal_names) / sizeof(signal_names[0]); i++) {
        if (same_word(name, signal_names[i].name)) {
            *out = signal_names[i].num;
            return 0;
        }
    }
    return -1;
}

int hs_opt_parse(const hs_option_t *o, const char *text, uint64_t *out)
{
    uint64_t v = 0;
    int b = 0;
    switch (o->kind) {
    case HS_KIND_SIZE:
        if (hs_opt_parse_size(text, &v))
            return -1;
        break;
    case HS_KIND_UINT:
        if (strchr(text, '.') || hs_opt_parse_size(text, &v))
            return -1;
        break;
    case HS_KIND_SECONDS:
        if (hs_opt_parse_seconds_ms(text, &v))
            return -1;
        break;
    case HS_KIND_BOOL:
        if (hs_opt_parse_bool(text, &b))
            return -1;
        *out = (uint64_t)b;
        return 0;
    case HS_KIND_SIGNAL:
        if (hs_opt_parse_signal(text, &b))
            return -1;
        *out = (uint64_t)b;
        return 0;
    case HS_KIND_STRING: v = strlen(text); break;
    }
    if (v < o->min || v > o->max)
        return -1;
    *out = v;
    return 0;
}

/* ---- text, by hand ---- */

typedef struct {
    char *buf;
    size_t n, len; /* len counts what would have been written */
} out_t;

static void put(out_t *o, const char *s)
{
    for (; *s; s++, o->len++)
        if (o->len + 1 < o->n)
            o->buf[o->len] = *s;
    if (o->n)
        o->buf[o->len < o->n ? o->len : o->n - 1] = '\0';
}

static void put_u64(out_t *o, uint64_t v)
{
    char digits[24];
    size_t i = sizeof(digits) - 1;
    digits[i] = '\0';
    do {
        digits[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    put(o, digits + i);
}

/* Milliseconds as seconds: "30", "0.250" (or "0.25" with trim). */
static void put_ms(out_t *o, uint64_t ms, int trim)
{
    put_u64(o, ms / 1000);
    if (ms % 1000) {
        char frac[5] = {'.', (char)('0' + ms % 1000 / 100), (char)('0' + ms % 100 / 10), (char)('0' + ms % 10), 0};
        for (int i = 3; trim && frac[i] == '0'; i--)
            frac[i] = '\0';
        put(o, frac);
    }
}

/* A byte count with the largest of G, M, K that divides it ("1024G"). */
static void put_size(out_t *o, uint64_t v)
{
    static const struct {
        int shift;
        const char *unit;
    } units[] = {{30, "G"}, {20, "M"}, {10, "K"}};
    for (size_t i = 0; i < 3; i++) {
        if (v && v % ((uint64_t)1 << units[i].shift) == 0) {
            put_u64(o, v >> units[i].shift);
            put(o, units[i].unit);
            return;
        }
    }
    put_u64(o, v);
}

static void put_number(out_t *o, const hs_option_t *opt, uint64_t v)
{
    if (opt->kind == HS_KIND_SIZE)
        put_size(o, v);
    else
        put_u64(o, v);
}

size_t hs_opt_format(const hs_option_t *o, uint64_t value, char *buf, size_t n)
{
    out_t out = {buf, n, 0};
    put(&out, "");
    if (o->kind == HS_KIND_SECONDS)
        put_ms(&out, value, 0);
    else if (o->kind == HS_KIND_SIGNAL && value == 0)
        put(&out, "off");
    else
        put_u64(&out, value);
    return out.len;
}

void hs_opt_describe(const hs_option_t *o, char *buf, size_t n)
{
    out_t out = {buf, n, 0};
    put(&out, "");
    switch (o->kind) {
    case HS_KIND_SIZE:
    case HS_KIND_UINT:
        if (o->kind == HS_KIND_UINT)
            put(&out, "a whole number");
        else
            put(&out,
                o->min == 1 ? "a positive number of bytes (K, M or G suffix)" : "a number of bytes (K, M or G suffix)");
        if (o->kind == HS_KIND_UINT && o->max != UINT64_MAX) {
            put(&out, " from ");
            put_u64(&out, o->min);
            put(&out, " to ");
            put_u64(&out, o->max);
            return;
        }
        if (o->min > 1) {
            put(&out, ", at least ");
            put_number(&out, o, o->min);
        }
        if (o->max != UINT64_MAX) {
            put(&out, ", at most ");
            put_number(&out, o, o->max);
        }
        return;
    case HS_KIND_SECONDS:
        if (o->min == 0) {
            put(&out, "0 (off) or a number of seconds up to ");
        } else {
            put(&out, "a number of seconds from ");
            put_ms(&out, o->min, 1);
            put(&out, " to ");
        }
        put_ms(&out, o->max, 1);
        return;
    case HS_KIND_BOOL: put(&out, "1, true, yes or on, or 0, false, no or off"); return;
    case HS_KIND_SIGNAL: put(&out, "a signal that can be caught, by name or number (e.g. USR2), or off"); return;
    case HS_KIND_STRING:
        put(&out, "at most ");
        put_u64(&out, o->max);
        put(&out, " bytes long");
        return;
    }
}

const char *hs_opt_default_shown(const hs_option_t *o) { return o->def[0] || !o->def_shown ? o->def : o->def_shown; }
