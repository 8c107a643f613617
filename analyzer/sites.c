/* sites.c - picks the call site of a stack that a person would fix (see
 * sites.h). Pure lookups over the model and the symbolizer; no output. */
#include "sites.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define MAX_LINES 32

static int is_system_object(const char *path)
{
    static const char *const prefixes[] = {"/lib/", "/lib64/", "/usr/lib/", "/usr/lib64/", "linux-vdso", "["};
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
        if (strncmp(path, prefixes[i], strlen(prefixes[i])) == 0)
            return 1;
    return strstr(path, "libheapscope") != NULL;
}

static int is_system_file(const char *file)
{
    return file && (strncmp(file, "/usr/include/", 13) == 0 || strncmp(file, "/usr/lib/", 9) == 0);
}

static char unknown_buf[320];

static void unknown_site(const hs_model_stack_t *s, uint32_t frame, hs_site_t *out)
{
    const hs_model_mapping_t *m = frame < s->depth ? s->frame_mapping[frame] : NULL;
    if (m) {
        const char *base = strrchr(m->path, '/');
        snprintf(unknown_buf, sizeof(unknown_buf), "%s+0x%" PRIx64, base ? base + 1 : m->path,
                 s->frames[frame] - 1 - m->load_bias);
    } else if (frame < s->depth) {
        snprintf(unknown_buf, sizeof(unknown_buf), "0x%" PRIx64, s->frames[frame] - 1);
    } else {
        snprintf(unknown_buf, sizeof(unknown_buf), "?");
    }
    *out = (hs_site_t){unknown_buf, NULL, 0, frame};
}

static int lookup(hs_symbolizer_t *sym, const hs_model_stack_t *s, uint32_t frame, hs_sym_line_t *lines)
{
    const hs_model_mapping_t *m = s->frame_mapping[frame];
    if (!sym || !m || !s->frames[frame])
        return 0;
    return hs_symbolizer_lookup(sym, m->path, m->build_id, m->build_id_len, m->load_bias, s->frames[frame] - 1, lines,
                                MAX_LINES);
}

void hs_site_of_frame(hs_symbolizer_t *sym, const hs_model_stack_t *s, uint32_t frame, hs_site_t *out)
{
    hs_sym_line_t lines[MAX_LINES];
    if (frame < s->depth && lookup(sym, s, frame, lines) > 0) {
        *out = (hs_site_t){lines[0].function, lines[0].file, lines[0].line, frame};
        return;
    }
    unknown_site(s, frame, out);
}

void hs_site_of_stack(hs_symbolizer_t *sym, const hs_model_stack_t *s, hs_site_t *out)
{
    hs_sym_line_t lines[MAX_LINES];
    for (uint32_t f = 0; f < s->depth; f++) {
        const hs_model_mapping_t *m = s->frame_mapping[f];
        if (!m || is_system_object(m->path))
            continue;
        int n = lookup(sym, s, f, lines);
        for (int i = 0; i < n; i++) {
            if (!is_system_file(lines[i].file)) {
                *out = (hs_site_t){lines[i].function, lines[i].file, lines[i].line, f};
                return;
            }
        }
        if (n == 0) {
            unknown_site(s, f, out);
            return;
        }
    }
    hs_site_of_frame(sym, s, 0, out);
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
        if (n > 0) {
            snprintf(buf, len, "%s", lines[n - 1].function);
        } else {
            const char *base = strrchr(map->path, '/');
            snprintf(buf, len, "%s+0x%" PRIx64, base ? base + 1 : map->path, addr - map->load_bias);
        }
        return buf;
    }
    snprintf(buf, len, "0x%" PRIx64, addr);
    return buf;
}
