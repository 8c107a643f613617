/* config.c - reads the HEAPSCOPE_* settings of common/hs_options.c's table
 * into hs_cfg at load and prints them back; names, defaults, bounds and
 * grammars are the table's. Read once at load (nginx wipes its workers'
 * environment; they keep these settings across fork). Never allocates: it
 * runs before the real allocator may be usable. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"

hs_config_t hs_cfg; /* read once at load (lifecycle.c), then only read */

/* Where option id lives in hs_config_t: exactly one of the pointers is set.
 * A new option without a case here fails the build (-Wswitch). */
typedef struct {
    uint64_t *u64;
    uint32_t *u32;
    int *i;
    char *str; /* HS_PATH_MAX bytes */
} field_t;

static field_t field_of(hs_config_t *c, hs_opt_id_t id)
{
    switch (id) {
    case HS_OPT_SAMPLE_RATE: return (field_t){.u64 = &c->sample_rate};
    case HS_OPT_MAX_DEPTH: return (field_t){.u32 = &c->max_depth};
    case HS_OPT_INTERVAL: return (field_t){.u64 = &c->interval_ms};
    case HS_OPT_OUTPUT: return (field_t){.str = c->output};
    case HS_OPT_SIGNAL: return (field_t){.i = &c->signal};
    case HS_OPT_DISABLE: return (field_t){.i = &c->disable};
    case HS_OPT_FOLLOW_EXEC: return (field_t){.i = &c->follow_exec};
    case HS_OPT_ONLY: return (field_t){.str = c->only};
    case HS_OPT_SEED: return (field_t){.u64 = &c->seed};
    case HS_OPT_LEAK_WINDOW: return (field_t){.u64 = &c->leak_window_ms};
    case HS_OPT_LEAK_THRESHOLD: return (field_t){.u64 = &c->leak_threshold};
    case HS_OPT_LOG: return (field_t){.str = c->log};
    case HS_OPT_EMPTY_DUMPS: return (field_t){.i = &c->empty_dumps};
    case HS_OPT_VERBOSE: return (field_t){.i = &c->verbose};
    case HS_OPT_HTTP: return (field_t){.str = c->http};
    case HS_OPT_HTTP_TOKEN: return (field_t){.str = c->http_token};
    case HS_OPT_METRICS_SITES: return (field_t){.u32 = &c->metrics_sites};
    case HS_OPT_DROP_FRAMES: return (field_t){.str = c->drop_frames};
    case HS_OPT_ALERT_HEAP: return (field_t){.u64 = &c->alert_heap};
    case HS_OPT_ALERT_RSS: return (field_t){.u64 = &c->alert_rss};
    case HS_OPT_ALERT_THREADS: return (field_t){.u64 = &c->alert_threads};
    case HS_OPT_ALERT_GROWTH: return (field_t){.u64 = &c->alert_growth};
    case HS_OPT_PPROF_DIR: return (field_t){.str = c->pprof_dir};
    case HS_OPT_PPROF_INTERVAL: return (field_t){.u64 = &c->pprof_interval_ms};
    case HS_OPT_PPROF_KEEP: return (field_t){.u32 = &c->pprof_keep};
    case HS_OPT_COUNT: break;
    }
    return (field_t){0};
}

/* Parses text for option id and stores it; -1 (nothing stored) if not valid. */
static int apply(hs_config_t *cfg, hs_opt_id_t id, const char *text)
{
    uint64_t v;
    if (hs_opt_parse(&hs_options[id], text, &v))
        return -1;
    field_t f = field_of(cfg, id);
    if (f.u64)
        *f.u64 = v;
    else if (f.u32)
        *f.u32 = (uint32_t)v;
    else if (f.i)
        *f.i = (int)v;
    else if (f.str && v < HS_PATH_MAX)
        memcpy(f.str, text, v + 1); /* v is the length */
    else
        return -1;
    return 0;
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

void hs_config_load(hs_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    for (int id = 0; id < HS_OPT_COUNT; id++) {
        const hs_option_t *o = &hs_options[id];
        if (apply(cfg, (hs_opt_id_t)id, o->def))
            hs_log("internal error: bad default for %s", o->env);
        const char *val = getenv(o->env);
        if (val && apply(cfg, (hs_opt_id_t)id, val)) {
            char want[160];
            hs_opt_describe(o, want, sizeof(want));
            hs_log("warning: %s='%.200s' is not valid (must be %s); using the default %s%s%s", o->env, val, want,
                   o->def[0] ? "'" : "(", hs_opt_default_shown(o), o->def[0] ? "'" : ")");
        }
    }
    if (!cfg->output[0])
        strcpy(cfg->output, hs_options[HS_OPT_OUTPUT].def);
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !tmp[0] || strlen(tmp) >= sizeof(cfg->tmpdir))
        tmp = "/tmp";
    strcpy(cfg->tmpdir, tmp);
}

void hs_config_print(const hs_config_t *cfg)
{
    for (int id = 0; id < HS_OPT_COUNT; id++) {
        const hs_option_t *o = &hs_options[id];
        field_t f = field_of((hs_config_t *)cfg, (hs_opt_id_t)id);
        char num[32];
        const char *shown = num;
        if (f.str)
            shown = !f.str[0] ? hs_opt_default_shown(o) : id == HS_OPT_HTTP_TOKEN ? "(set, not shown)" : f.str;
        else
            hs_opt_format(o, f.u64 ? *f.u64 : f.u32 ? *f.u32 : (uint64_t)*f.i, num, sizeof(num));
        hs_log("config %s=%s%s%s", o->env, f.str && !f.str[0] ? "(" : "", shown, f.str && !f.str[0] ? ")" : "");
    }
    hs_log("config TMPDIR=%s", cfg->tmpdir);
}
