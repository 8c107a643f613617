/* sites.c - picks the call site of a stack that a person would fix (see
 * sites.h; the rule is docs/frames.md's). Owns the expansion of a stack into
 * logical frames, pprof's drop_frames rule over them, and the cache of each
 * name's class. Pure lookups over the model, the symbolizer and the frame
 * filter (common/hs_frames.h, which owns the names); no output. Its
 * neighbours: analysis.c groups stacks by the site, wrappers.c learns
 * wrappers from the same logical frames, cmd_pprof.c writes the filter's
 * expressions so that pprof cuts where this file cuts. */
#include "sites.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#define MAX_LINES HS_SYMBOLIZE_MAX_LINES
/* Room for one unsymbolized frame's "module+0xoffset". */
#define NAME_ROOM 96

static int is_heapscope_object(const char *path) { return strstr(path, "libheapscope") != NULL; }

static int is_system_object(const char *path)
{
    static const char *const prefixes[] = {"/lib/", "/lib64/", "/usr/lib/", "/usr/lib64/", "linux-vdso", "["};
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
        if (strncmp(path, prefixes[i], strlen(prefixes[i])) == 0)
            return 1;
    return is_heapscope_object(path);
}

static int is_system_file(const char *file)
{
    return file && (strncmp(file, "/usr/include/", 13) == 0 || strncmp(file, "/usr/lib/", 9) == 0);
}

static const char *base_name(const char *path)
{
    const char *base = strrchr(path, '/');
    return base ? base + 1 : path;
}

/* A frame no symbol names: "module+0xSTART" of its function's range from
 * the call-frame information when sym finds one (returns 1), else
 * "module+0xoffset" (pc - load bias), "0xaddress" without a mapping. */
static int unknown_name(hs_symbolizer_t *sym, const hs_model_stack_t *s, uint32_t frame, char *buf, size_t len)
{
    const hs_model_mapping_t *m = frame < s->depth ? s->frame_mapping[frame] : NULL;
    uint64_t start, end;
    if (sym && m && s->frames[frame] &&
        hs_symbolizer_function_range(sym, m->path, m->build_id, m->build_id_len, m->load_bias, s->frames[frame] - 1,
                                     &start, &end)) {
        snprintf(buf, len, "%.60s+0x%" PRIx64, base_name(m->path), start);
        return 1;
    }
    if (m)
        snprintf(buf, len, "%.60s+0x%" PRIx64, base_name(m->path), s->frames[frame] - 1 - m->load_bias);
    else if (frame < s->depth)
        snprintf(buf, len, "0x%" PRIx64, s->frames[frame] - 1);
    else
        snprintf(buf, len, "?");
    return 0;
}

static int lookup(hs_symbolizer_t *sym, const hs_model_stack_t *s, uint32_t frame, hs_sym_line_t *lines)
{
    const hs_model_mapping_t *m = s->frame_mapping[frame];
    if (!sym || !m || !s->frames[frame])
        return 0;
    return hs_symbolizer_lookup(sym, m->path, m->build_id, m->build_id_len, m->load_bias, s->frames[frame] - 1, lines,
                                MAX_LINES);
}

/* ---- the rule -------------------------------------------------------------- */

/* Whether pprof removed line k from its location: a line inlined beneath
 * the location's outermost dropped line, when that is not the location's
 * own function (then the location is cut whole, or kept whole). */
static int is_trimmed(const hs_site_frame_t *f, size_t n, size_t k)
{
    size_t start = k, end = k + 1;
    while (start > 0 && f[start - 1].frame == f[k].frame)
        start--;
    while (end < n && f[end].frame == f[k].frame)
        end++;
    for (size_t i = end; i-- > start;)
        if (f[i].cls != HS_FRAME_KEEP)
            return i != end - 1 && k <= i;
    return 0;
}

/* pprof's Prune (profile/prune.go), location by location: a location whose
 * lines include a dropped one loses that line and every line inlined
 * beneath it ("prune beneath"), and the whole location when the dropped
 * line is its outermost ("prune"); a sample, scanned from its root, is cut
 * at the first such location after the first location with no dropped line
 * at all, so a stack made only of dropped frames is kept whole. */
void hs_site_choose(const hs_site_frame_t *f, size_t n, hs_site_choice_t *out)
{
    out->leaf = out->site = out->via = -1;
    if (n == 0)
        return;
    int found_user = 0;
    long dropped = -1; /* the outermost dropped line at the cut */
    long leaf = -1;
    size_t end = n;
    while (end > 0) {
        size_t start = end - 1;
        while (start > 0 && f[start - 1].frame == f[end - 1].frame)
            start--;
        long i = -1;
        for (long k = (long)end - 1; k >= (long)start; k--)
            if (f[k].cls != HS_FRAME_KEEP) {
                i = k;
                break;
            }
        if (i < 0) {
            found_user = 1;
        } else if (found_user) {
            leaf = i == (long)end - 1 ? (long)end : i + 1;
            dropped = i;
            break;
        }
        end = start;
    }
    if (leaf < 0) {
        /* Nothing cut. The leaf location still lost the lines beneath a
         * dropped line that is not its outermost (pprof trims the location
         * itself, in every sample). */
        size_t start_end = 1;
        while (start_end < n && f[start_end].frame == f[0].frame)
            start_end++;
        leaf = 0;
        for (long k = (long)start_end - 1; k >= 0; k--)
            if (f[k].cls != HS_FRAME_KEEP) {
                if (k != (long)start_end - 1) {
                    leaf = k + 1;
                    dropped = k;
                }
                break;
            }
    }
    out->leaf = (int)leaf;
    /* Today's preference: the program's own code over system libraries and
     * headers, among the frames pprof still shows that are not dropped;
     * when there is none (java, node: everything in /usr/lib), the first
     * such frame, which is the leaf unless nothing but dropped frames is
     * left (then the leaf itself). */
    out->site = -1;
    int first_kept = -1;
    for (size_t k = (size_t)leaf; k < n && out->site < 0; k++) {
        if (f[k].cls != HS_FRAME_KEEP || is_trimmed(f, n, k))
            continue;
        if (first_kept < 0)
            first_kept = (int)k;
        if (f[k].own)
            out->site = (int)k;
    }
    if (out->site < 0)
        out->site = first_kept >= 0 ? first_kept : (int)leaf;
    /* The wrapper the site called: the outermost wrapper of the dropped run
     * right beneath it. */
    if (dropped >= 0 && out->site == out->leaf)
        for (long k = dropped; k >= 0 && f[k].cls != HS_FRAME_KEEP; k--)
            if (f[k].cls == HS_FRAME_WRAPPER) {
                out->via = (int)k;
                break;
            }
}

/* ---- the finder ------------------------------------------------------------ */

typedef struct class_entry {
    UT_hash_handle hh;
    hs_frame_class_t cls;
    char name[]; /* the key */
} class_entry_t;

typedef struct name_entry {
    UT_hash_handle hh;
    char name[];
} name_entry_t;

struct hs_site_finder {
    hs_symbolizer_t *sym;
    hs_frame_filter_t *frames;
    hs_frame_filter_t *own_frames; /* the default table, when the caller gave none */
    class_entry_t *classes;        /* uthash by name */
    name_entry_t *names;           /* unsymbolized names handed out, kept for the finder's life */
    hs_site_frame_t *lf;
    size_t lf_cap;
    char *unknown; /* this expansion's unsymbolized names, NAME_ROOM each */
    size_t unknown_cap;
};

hs_site_finder_t *hs_site_finder_new(hs_symbolizer_t *sym, hs_frame_filter_t *frames)
{
    hs_site_finder_t *sf = calloc(1, sizeof(*sf));
    if (!sf)
        return NULL;
    sf->sym = sym;
    if (!frames) {
        char err[256];
        if (!(sf->own_frames = hs_frame_filter_new(1, NULL, NULL, NULL, NULL, err, sizeof(err)))) {
            free(sf);
            return NULL;
        }
        frames = sf->own_frames;
    }
    sf->frames = frames;
    return sf;
}

void hs_site_finder_reclassify(hs_site_finder_t *sf)
{
    class_entry_t *e, *tmp;
    HASH_ITER(hh, sf->classes, e, tmp)
    {
        HASH_DEL(sf->classes, e);
        free(e);
    }
}

void hs_site_finder_free(hs_site_finder_t *sf)
{
    if (!sf)
        return;
    hs_site_finder_reclassify(sf);
    name_entry_t *e, *tmp;
    HASH_ITER(hh, sf->names, e, tmp)
    {
        HASH_DEL(sf->names, e);
        free(e);
    }
    hs_frame_filter_free(sf->own_frames);
    free(sf->lf);
    free(sf->unknown);
    free(sf);
}

hs_symbolizer_t *hs_site_finder_symbolizer(const hs_site_finder_t *sf) { return sf->sym; }

/* The class of a name, computed once per name: a regexec over the whole
 * table for every frame of every stack would cost more than symbolizing. */
static hs_frame_class_t class_of(hs_site_finder_t *sf, const char *name)
{
    class_entry_t *e;
    HASH_FIND_STR(sf->classes, name, e);
    if (e)
        return e->cls;
    hs_frame_class_t cls = hs_frame_classify(sf->frames, name);
    size_t len = strlen(name);
    if ((e = malloc(sizeof(*e) + len + 1)) != NULL) {
        memcpy(e->name, name, len + 1);
        e->cls = cls;
        HASH_ADD_STR(sf->classes, name, e);
    }
    return cls;
}

/* A copy of an unsymbolized name that lives as long as the finder. */
static const char *keep_name(hs_site_finder_t *sf, const char *name)
{
    name_entry_t *e;
    HASH_FIND_STR(sf->names, name, e);
    if (e)
        return e->name;
    size_t len = strlen(name);
    if (!(e = malloc(sizeof(*e) + len + 1)))
        return "?";
    memcpy(e->name, name, len + 1);
    HASH_ADD_STR(sf->names, name, e);
    return e->name;
}

size_t hs_site_frames(hs_site_finder_t *sf, const hs_model_stack_t *s, const hs_site_frame_t **out)
{
    *out = NULL;
    size_t need = (size_t)s->depth * MAX_LINES;
    if (need > sf->lf_cap) {
        hs_site_frame_t *grown = realloc(sf->lf, need * sizeof(*grown));
        if (!grown)
            return 0;
        sf->lf = grown;
        sf->lf_cap = need;
    }
    if ((size_t)s->depth * NAME_ROOM > sf->unknown_cap) {
        char *grown = realloc(sf->unknown, (size_t)s->depth * NAME_ROOM);
        if (!grown)
            return 0;
        sf->unknown = grown;
        sf->unknown_cap = (size_t)s->depth * NAME_ROOM;
    }
    size_t n = 0;
    hs_sym_line_t lines[MAX_LINES];
    for (uint32_t fr = 0; fr < s->depth; fr++) {
        const hs_model_mapping_t *m = s->frame_mapping[fr];
        if (m && is_heapscope_object(m->path))
            continue; /* heapscope's own frames: never a site, never a cut */
        int own_object = m && !is_system_object(m->path);
        int got = lookup(sf->sym, s, fr, lines);
        uint64_t pc = s->frames[fr] ? s->frames[fr] - 1 : 0;
        if (got == 0) {
            char *name = sf->unknown + (size_t)fr * NAME_ROOM;
            int ranged = unknown_name(sf->sym, s, fr, name, NAME_ROOM);
            sf->lf[n++] = (hs_site_frame_t){name, NULL, 0, fr, pc, 1, 0, (uint8_t)own_object, 0, (uint8_t)ranged};
            continue;
        }
        for (int i = 0; i < got; i++)
            sf->lf[n++] = (hs_site_frame_t){lines[i].function,
                                            lines[i].file,
                                            lines[i].line,
                                            fr,
                                            pc,
                                            i == got - 1,
                                            1,
                                            (uint8_t)(own_object && !is_system_file(lines[i].file)),
                                            0,
                                            0};
    }
    for (size_t i = 0; i < n; i++)
        sf->lf[i].cls = (uint8_t)class_of(sf, sf->lf[i].function);
    *out = sf->lf;
    return n;
}

void hs_site_find(hs_site_finder_t *sf, const hs_model_stack_t *s, hs_site_t *out)
{
    const hs_site_frame_t *f;
    size_t n = hs_site_frames(sf, s, &f);
    if (n == 0) {
        *out = (hs_site_t){"?", NULL, 0, 0, NULL, NULL, 0};
        return;
    }
    hs_site_choice_t c;
    hs_site_choose(f, n, &c);
    const hs_site_frame_t *w = &f[c.site];
    const hs_model_mapping_t *m = s->frame_mapping[w->frame];
    *out = (hs_site_t){w->symbolized ? w->function : keep_name(sf, w->function),
                       w->file,
                       w->line,
                       w->frame,
                       c.via >= 0 ? f[c.via].function : NULL,
                       m ? base_name(m->path) : NULL,
                       m ? s->frames[w->frame] - 1 - m->load_bias : 0};
    if (c.via >= 0) {
        /* "os::malloc", not "os::malloc(unsigned long, MEMFLAGS, ...)" */
        char via[512];
        out->via = keep_name(sf, hs_frame_simplify(f[c.via].function, 0, via, sizeof(via)));
    }
}

/* ---- single frames and addresses --------------------------------------------- */

static char unknown_buf[NAME_ROOM];

void hs_site_of_frame(hs_symbolizer_t *sym, const hs_model_stack_t *s, uint32_t frame, hs_site_t *out)
{
    hs_sym_line_t lines[MAX_LINES];
    if (frame < s->depth && lookup(sym, s, frame, lines) > 0) {
        *out = (hs_site_t){lines[0].function, lines[0].file, lines[0].line, frame, NULL, NULL, 0};
        return;
    }
    /* A stack lists return addresses: the pc, which addr2line takes. */
    unknown_name(NULL, s, frame, unknown_buf, sizeof(unknown_buf));
    *out = (hs_site_t){unknown_buf, NULL, 0, frame, NULL, NULL, 0};
}

const char *hs_site_unnamed_function(hs_symbolizer_t *sym, const hs_model_stack_t *s, uint32_t frame, char *buf,
                                     size_t len)
{
    unknown_name(sym, s, frame, buf, len);
    return buf;
}

const char *hs_site_function_at(hs_symbolizer_t *sym, const hs_model_t *m, uint64_t addr, char *buf, size_t len)
{
    for (size_t i = hs_model_mapping_count(m); i > 0; i--) {
        const hs_model_mapping_t *map = hs_model_mapping_at(m, i - 1);
        if (addr < map->start || addr >= map->end)
            continue;
        hs_sym_line_t lines[MAX_LINES];
        int n = sym ? hs_symbolizer_lookup(sym, map->path, map->build_id, map->build_id_len, map->load_bias, addr,
                                           lines, MAX_LINES)
                    : 0;
        if (n > 0)
            snprintf(buf, len, "%s", lines[n - 1].function);
        else
            snprintf(buf, len, "%s+0x%" PRIx64, base_name(map->path), addr - map->load_bias);
        return buf;
    }
    snprintf(buf, len, "0x%" PRIx64, addr);
    return buf;
}

/* ---- naming ------------------------------------------------------------------ */

const char *hs_site_location(const hs_site_t *w, char *buf, size_t len)
{
    char offset[NAME_ROOM];
    if (w->module)
        snprintf(offset, sizeof(offset), "%.60s+0x%" PRIx64, w->module, w->offset);
    if (w->file && w->line)
        snprintf(buf, len, "%s:%u", w->file, w->line);
    else if (w->file)
        snprintf(buf, len, "%s", w->file);
    else if (w->module && strcmp(w->function, offset) != 0)
        snprintf(buf, len, "%s", offset); /* a name from .symtab, no line table */
    else
        snprintf(buf, len, "?");
    return buf;
}

const char *hs_site_describe(const hs_site_t *w, char *buf, size_t len)
{
    char where[1100];
    hs_site_location(w, where, sizeof(where));
    /* An unsymbolized frame is named by its offset already: no "(?)". */
    int named_by_address = strcmp(where, "?") == 0 && (strstr(w->function, "+0x") ||
                                                       strncmp(w->function, "0x", 2) == 0 || !strcmp(w->function, "?"));
    int n =
        named_by_address ? snprintf(buf, len, "%s", w->function) : snprintf(buf, len, "%s (%s)", w->function, where);
    if (w->via && n >= 0 && (size_t)n < len)
        snprintf(buf + n, len - (size_t)n, " via %s", w->via);
    return buf;
}

hs_frame_filter_t *hs_sites_filter(const char *cmd, const char *drop, const char *keep)
{
    char err[512];
    hs_frame_filter_t *f = hs_frame_filter_new(1, drop, "--drop-frames", keep, "--keep-frames", err, sizeof(err));
    if (!f)
        fprintf(stderr, "heapscope: %s: %s\n", cmd, err);
    return f;
}
