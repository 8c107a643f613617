/* hs_options.h - the one table of HEAPSCOPE_* settings and their grammars.
 * The library reads the environment with it (interposer/config.c), `heapscope
 * record` validates its flags and prints --help with it (analyzer/cmd_record.c),
 * and tests/integration/options.sh checks README.md's settings table against
 * it. Nothing here allocates, uses stdio or depends on the locale: the
 * library parses before the program's allocator may be usable. */
#ifndef HS_OPTIONS_H
#define HS_OPTIONS_H

#include <stddef.h>
#include <stdint.h>

/* Room for the longest string setting, its NUL included. */
#define HS_OPT_STRING_MAX 1024

typedef enum {
    HS_KIND_SIZE,    /* bytes: digits, a fraction only before a suffix ("1.5M"), K/M/G
                        (1024-based) optionally followed by i and B ("2MiB", "4KB") */
    HS_KIND_UINT,    /* a whole number: the size grammar, named without "bytes" */
    HS_KIND_SECONDS, /* decimal seconds, digits past the third decimal ignored, an
                        optional trailing s; held in milliseconds. With min 0, 0 is off */
    HS_KIND_BOOL,    /* 1/true/yes/on or 0/false/no/off, any case: 1 or 0 */
    HS_KIND_SIGNAL,  /* a name (USR2, SIGUSR2, any case) or a number; off, 0 or "" is 0 */
    HS_KIND_STRING,  /* taken as written; min and max bound its length */
} hs_opt_kind_t;

/* In the order of README.md's settings table. */
typedef enum {
    HS_OPT_SAMPLE_RATE,
    HS_OPT_MAX_DEPTH,
    HS_OPT_INTERVAL,
    HS_OPT_OUTPUT,
    HS_OPT_SIGNAL,
    HS_OPT_DISABLE,
    HS_OPT_FOLLOW_EXEC,
    HS_OPT_ONLY,
    HS_OPT_SEED,
    HS_OPT_LEAK_WINDOW,
    HS_OPT_LEAK_THRESHOLD,
    HS_OPT_LOG,
    HS_OPT_EMPTY_DUMPS,
    HS_OPT_VERBOSE,
    HS_OPT_HTTP,
    HS_OPT_HTTP_TOKEN,
    HS_OPT_METRICS_SITES,
    HS_OPT_DROP_FRAMES,
    HS_OPT_ALERT_HEAP,
    HS_OPT_ALERT_RSS,
    HS_OPT_ALERT_THREADS,
    HS_OPT_ALERT_GROWTH,
    HS_OPT_PPROF_DIR,
    HS_OPT_PPROF_INTERVAL,
    HS_OPT_PPROF_KEEP,
    HS_OPT_COUNT
} hs_opt_id_t;

typedef struct hs_option {
    const char *env;  /* "HEAPSCOPE_SAMPLE_RATE" */
    const char *flag; /* `heapscope record`'s flag ("--rate"), or NULL */
    const char *arg;  /* what the flag takes, in --help ("BYTES") */
    hs_opt_kind_t kind;
    const char *def;       /* the default, as a user would write it */
    const char *def_shown; /* what an empty default means ("stderr"); NULL when def is not empty */
    uint64_t min, max;     /* bounds: bytes, milliseconds, a count, a string's length */
    const char *doc;       /* one line, without the bounds (hs_opt_describe says those) */
} hs_option_t;

extern const hs_option_t hs_options[HS_OPT_COUNT];

/* The option with this environment name or record flag, or NULL. */
const hs_option_t *hs_opt_by_env(const char *env);
const hs_option_t *hs_opt_by_flag(const char *flag);

/* The grammars of the kinds above. Each returns 0 and writes *out, or -1. */
int hs_opt_parse_size(const char *s, uint64_t *out);
int hs_opt_parse_seconds_ms(const char *s, uint64_t *out_ms);
int hs_opt_parse_bool(const char *s, int *out);
int hs_opt_parse_signal(const char *s, int *out);

/* Parses `text` by o's kind and checks o's bounds: 0 with the number (bytes,
 * milliseconds, count, 0/1, signal number; a string's length) in *out, or -1. */
int hs_opt_parse(const hs_option_t *o, const char *text, uint64_t *out);
/* Writes a number of o's kind as hs_opt_parse reads it back ("524288",
 * "0.250", "12", "off"). Returns the length; the output is cut to n - 1. */
size_t hs_opt_format(const hs_option_t *o, uint64_t value, char *buf, size_t n);
/* What a valid value of o is, after "must be": "a whole number from 1 to 256". */
void hs_opt_describe(const hs_option_t *o, char *buf, size_t n);
/* The default as README.md and --help show it: "`524288`" style quoting is
 * the caller's; this is def, or def_shown when def is empty. */
const char *hs_opt_default_shown(const hs_option_t *o);

#endif
