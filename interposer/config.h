/* config.h - the interposer's settings, read once from HEAPSCOPE_* at load.
 * Names, defaults, bounds and grammars are common/hs_options.h's table. */
#ifndef HS_CONFIG_H
#define HS_CONFIG_H

#include <stdint.h>

#include "hs_options.h"

#define HS_PATH_MAX HS_OPT_STRING_MAX

typedef struct hs_config {
    uint64_t sample_rate;          /* HEAPSCOPE_SAMPLE_RATE: mean bytes between samples; 1 = all */
    uint32_t max_depth;            /* HEAPSCOPE_MAX_DEPTH */
    uint64_t interval_ms;          /* HEAPSCOPE_INTERVAL, stored in milliseconds */
    int signal;                    /* HEAPSCOPE_SIGNAL: 0 = off */
    int disable;                   /* HEAPSCOPE_DISABLE */
    int follow_exec;               /* HEAPSCOPE_FOLLOW_EXEC */
    int verbose;                   /* HEAPSCOPE_VERBOSE */
    int empty_dumps;               /* HEAPSCOPE_EMPTY_DUMPS */
    uint64_t seed;                 /* HEAPSCOPE_SEED: 0 = random */
    uint64_t leak_window_ms;       /* HEAPSCOPE_LEAK_WINDOW: live detector window, 0 = off */
    uint64_t leak_threshold;       /* HEAPSCOPE_LEAK_THRESHOLD: bytes of growth in the window */
    char log[HS_PATH_MAX];         /* HEAPSCOPE_LOG: where leak warnings go, "" = stderr */
    char output[HS_PATH_MAX];      /* HEAPSCOPE_OUTPUT template */
    char only[HS_PATH_MAX];        /* HEAPSCOPE_ONLY: comma-separated program names, "" = all */
    char tmpdir[HS_PATH_MAX];      /* $TMPDIR at load, fallback directory */
    char http[HS_PATH_MAX];        /* HEAPSCOPE_HTTP: live service address, "" = off */
    char http_token[HS_PATH_MAX];  /* HEAPSCOPE_HTTP_TOKEN: "" = none */
    uint32_t metrics_sites;        /* HEAPSCOPE_METRICS_SITES */
    char drop_frames[HS_PATH_MAX]; /* HEAPSCOPE_DROP_FRAMES: more wrapper functions (a regex), "" = none */
    uint64_t alert_heap;           /* HEAPSCOPE_ALERT_HEAP: bytes, 0 = off */
    uint64_t alert_rss;            /* HEAPSCOPE_ALERT_RSS: bytes, 0 = off */
    uint64_t alert_threads;        /* HEAPSCOPE_ALERT_THREADS: 0 = off */
    uint64_t alert_growth;         /* HEAPSCOPE_ALERT_GROWTH: bytes per second, 0 = off */
    char pprof_dir[HS_PATH_MAX];   /* HEAPSCOPE_PPROF_DIR: "" = off */
    uint64_t pprof_interval_ms;    /* HEAPSCOPE_PPROF_INTERVAL */
    uint32_t pprof_keep;           /* HEAPSCOPE_PPROF_KEEP */
} hs_config_t;

/* The process's settings: written once at load (lifecycle.c), then only read. */
extern hs_config_t hs_cfg;

/* Parses the environment (getenv) into *cfg; a bad value logs one warning
 * and keeps the default. Never allocates. */
void hs_config_load(hs_config_t *cfg);
/* Logs the effective configuration, one line per option. */
void hs_config_print(const hs_config_t *cfg);
/* Does the comma list `only` contain `name`? (an empty list matches all) */
int hs_config_name_matches(const char *only, const char *name);

#endif
