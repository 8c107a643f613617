/* hs_frames.c - the allocator and allocation-wrapper table and the frame
 * filter built on it (see hs_frames.h). */
#include "hs_frames.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Each pattern must match the whole simplified name. Kept to names that are
 * allocation entry points in every program that has them: a name here that
 * some program uses for a function of its own would hide that function. */
const hs_frame_rule_t hs_frame_rules[] = {
    /* glibc and the C library's allocating functions */
    {"malloc|calloc|realloc|reallocarray|free|cfree|memalign|posix_memalign|aligned_alloc|valloc|pvalloc", "glibc",
     HS_FRAME_ALLOCATOR},
    /* Not "__libc_.*": __libc_start_main and __libc_start_call_main are the
     * root of every main-thread stack, and a dropped frame there cuts the
     * whole stack away (pprof drops everything leafward of it). */
    {"__libc_(malloc|calloc|realloc|reallocarray|free|cfree|memalign|valloc|pvalloc|alloc_buffer_.*|dynarray_.*|"
     "scratch_buffer_.*)|_int_(malloc|realloc|memalign|free)|_mid_memalign|tcache_init|malloc_hook_ini|"
     "realloc_hook_ini",
     "glibc", HS_FRAME_ALLOCATOR},
    {"(__)?strn?dup|(__)?v?asprintf|__vasprintf_internal|(__)?getdelim|getline|(__)?open_memstream|(__)?realpath",
     "glibc", HS_FRAME_ALLOCATOR},
    /* C++ */
    {"operator new(\\[\\])?", "libstdc++", HS_FRAME_ALLOCATOR},
    {"(std::|__gnu_cxx::)(__new_allocator|new_allocator|allocator|allocator_traits)<.*>::allocate", "libstdc++",
     HS_FRAME_ALLOCATOR},
    /* the common allocators' own entry points */
    {"je_.*|tc_.*(alloc|new|align).*|_?mi_.*(alloc|new|dup|expand|realpath).*|__interceptor_.*",
     "jemalloc, tcmalloc, mimalloc, sanitizers", HS_FRAME_ALLOCATOR},
    /* application wrappers */
    {"x(malloc|calloc|realloc|strdup|strndup|zalloc|mallocz|mallocz_gently|memdupz|reallocarray)|do_xmalloc",
     "git, GNU tools", HS_FRAME_WRAPPER},
    {"g_(try_)?(malloc|realloc|malloc0)(_n)?|g_slice_.*|g_new.*|g_strn?dup|g_memdup2?", "glib", HS_FRAME_WRAPPER},
    {"z(try)?(malloc|calloc|realloc).*|zstrdup|zmalloc_no_tcache|extend_to_usable", "redis", HS_FRAME_WRAPPER},
    {"_?sds(newlen|trynewlen|new|empty|dup|MakeRoomFor.*|growzero|catlen|cat|catsds|cpylen|cpy|catvprintf|"
     "catprintf|catfmt|catrepr|fromlonglong|RemoveFreeSpace|Resize)",
     "redis, hiredis (sds strings)", HS_FRAME_WRAPPER},
    {"ngx_(alloc|calloc|memalign|palloc.*|pnalloc|pcalloc)", "nginx", HS_FRAME_WRAPPER},
    {"_?PyMem_.*|PyObject_(Malloc|Calloc|Realloc)|_PyObject_.*[Aa]lloc.*|_?PyObject_GC_(New|NewVar|Resize)|"
     "pymalloc_alloc|pymalloc_realloc|PyType_GenericAlloc|gc_alloc",
     "CPython", HS_FRAME_WRAPPER},
    {"os::(malloc|realloc|strdup)|AllocateHeap|ReallocateHeap|ChunkPool::allocate|Chunk::operator new|"
     "Arena::(grow|Amalloc.*|Arealloc)|CHeapObj<.*",
     "HotSpot", HS_FRAME_WRAPPER},
    {"sqlite3_(malloc|realloc)(64)?|sqlite3(Mem)?(Malloc|Realloc).*|sqlite3Db(Malloc|Realloc|RawMalloc|StrN?Dup).*|"
     "dbMallocRawFinish|dbReallocFinish|mallocWithAlarm",
     "SQLite", HS_FRAME_WRAPPER},
    {"CRYPTO_(malloc|zalloc|realloc|clear_realloc|strdup|strndup|memdup|secure_malloc|secure_zalloc)|"
     "OPENSSL_.*(alloc|dup).*",
     "OpenSSL", HS_FRAME_WRAPPER},
    {"apr_palloc|apr_pcalloc", "APR", HS_FRAME_WRAPPER},
    {"uv__(malloc|calloc|realloc|reallocf|strdup|strndup)|node::(Unchecked)?(Malloc|Calloc|Realloc)(<.*>)?|"
     "v8::internal::(AllocWithRetry|AlignedAllocWithRetry|AllocAtLeastWithRetry|Malloced::operator new)",
     "libuv, node, V8", HS_FRAME_WRAPPER},
};
const size_t hs_frame_rule_count = sizeof(hs_frame_rules) / sizeof(hs_frame_rules[0]);

/* GCC's clone suffixes, for the pprof expression (our own matching strips
 * them from the name instead). */
#define CLONE_SUFFIXES "(\\.(part|isra|constprop|cold|lto_priv|localalias|clone)(\\.[0-9]+)*)*"

struct hs_frame_filter {
    regex_t alloc_re, wrap_re, drop_re, keep_re;
    int has_alloc, has_wrap, has_drop, has_keep;
    char *defaults_alloc, *defaults_wrap; /* the alternations, for the pprof expression */
    char *drop, *keep;                    /* the user's expressions, as given */
    char **wrappers;                      /* detected, simplified */
    size_t nwrappers, wrappers_cap;
    char *pprof_drop; /* built on demand */
    char *pprof_keep; /* keep, with the clone suffixes our matching strips */
    int pprof_drop_stale;
};

/* "a|b|c" of the table's patterns of one class, each parenthesised. */
static char *alternation(hs_frame_class_t cls)
{
    size_t len = 1;
    for (size_t i = 0; i < hs_frame_rule_count; i++)
        if (hs_frame_rules[i].cls == cls)
            len += strlen(hs_frame_rules[i].pattern) + 3;
    char *s = malloc(len);
    if (!s)
        return NULL;
    s[0] = '\0';
    for (size_t i = 0; i < hs_frame_rule_count; i++) {
        if (hs_frame_rules[i].cls != cls)
            continue;
        if (s[0])
            strcat(s, "|");
        strcat(s, "(");
        strcat(s, hs_frame_rules[i].pattern);
        strcat(s, ")");
    }
    return s;
}

/* strdup, which the interposer may not import (scripts/audit-lib.sh): the
 * library links this file too (interposer/framefilter.c). */
static char *copy_of(const char *s)
{
    size_t n = strlen(s) + 1;
    char *c = malloc(n);
    return c ? memcpy(c, s, n) : NULL;
}

/* Compiles "^(expr)$". 0, or -1 with err naming what. */
static int compile(regex_t *re, const char *expr, const char *what, char *err, size_t errlen)
{
    size_t len = strlen(expr) + 5;
    char *anchored = malloc(len);
    if (!anchored) {
        snprintf(err, errlen, "%s: out of memory", what);
        return -1;
    }
    snprintf(anchored, len, "^(%s)$", expr);
    int rc = regcomp(re, anchored, REG_EXTENDED | REG_NOSUB);
    free(anchored);
    if (rc != 0) {
        char why[160];
        regerror(rc, re, why, sizeof(why));
        snprintf(err, errlen, "%s '%s' is not a regular expression: %s", what, expr, why);
        return -1;
    }
    return 0;
}

hs_frame_filter_t *hs_frame_filter_new(int defaults, const char *drop, const char *what_drop, const char *keep,
                                       const char *what_keep, char *err, size_t errlen)
{
    hs_frame_filter_t *f = calloc(1, sizeof(*f));
    if (!f) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    f->pprof_drop_stale = 1;
    if (defaults) {
        f->defaults_alloc = alternation(HS_FRAME_ALLOCATOR);
        f->defaults_wrap = alternation(HS_FRAME_WRAPPER);
        if (!f->defaults_alloc || !f->defaults_wrap) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        if (compile(&f->alloc_re, f->defaults_alloc, "the default allocator table", err, errlen))
            goto fail;
        f->has_alloc = 1;
        if (compile(&f->wrap_re, f->defaults_wrap, "the default wrapper table", err, errlen))
            goto fail;
        f->has_wrap = 1;
    }
    if (drop && *drop) {
        if (!(f->drop = copy_of(drop))) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        if (compile(&f->drop_re, drop, what_drop ? what_drop : "drop expression", err, errlen))
            goto fail;
        f->has_drop = 1;
    }
    if (keep && *keep) {
        if (!(f->keep = copy_of(keep))) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        if (compile(&f->keep_re, keep, what_keep ? what_keep : "keep expression", err, errlen))
            goto fail;
        f->has_keep = 1;
        size_t len = strlen(keep) + sizeof("()" CLONE_SUFFIXES);
        if (!(f->pprof_keep = malloc(len))) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        snprintf(f->pprof_keep, len, "(%s)" CLONE_SUFFIXES, keep);
    }
    return f;
fail:
    hs_frame_filter_free(f);
    return NULL;
}

void hs_frame_filter_free(hs_frame_filter_t *f)
{
    if (!f)
        return;
    if (f->has_alloc)
        regfree(&f->alloc_re);
    if (f->has_wrap)
        regfree(&f->wrap_re);
    if (f->has_drop)
        regfree(&f->drop_re);
    if (f->has_keep)
        regfree(&f->keep_re);
    free(f->defaults_alloc);
    free(f->defaults_wrap);
    free(f->drop);
    free(f->keep);
    for (size_t i = 0; i < f->nwrappers; i++)
        free(f->wrappers[i]);
    free(f->wrappers);
    free(f->pprof_drop);
    free(f->pprof_keep);
    free(f);
}

char *hs_frame_simplify(const char *function, int strip_clones, char *out, size_t len)
{
    if (len == 0)
        return out;
    if (!function)
        function = "";
    if (function[0] == '.')
        function++;
    size_t n = strlen(function);
    for (const char *p = strchr(function, '('); p; p = strchr(p + 1, '(')) {
        if (strncmp(p, "(anonymous namespace)", 21) == 0) {
            p += 20;
            continue;
        }
        if (p >= function + 8 && strncmp(p - 8, "operator()", 10) == 0) {
            p += 1;
            continue;
        }
        n = (size_t)(p - function);
        break;
    }
    if (n >= len)
        n = len - 1;
    memcpy(out, function, n);
    out[n] = '\0';
    if (strip_clones) {
        /* ".part.0", ".isra.0", ".constprop.0.isra.0", ".cold": cut at the
         * first '.' that starts such a suffix (C++ names have no '.'). */
        static const char *const kinds[] = {"part", "isra", "constprop", "cold", "lto_priv", "localalias", "clone"};
        for (char *dot = strchr(out, '.'); dot; dot = strchr(dot + 1, '.')) {
            for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
                size_t kl = strlen(kinds[k]);
                if (strncmp(dot + 1, kinds[k], kl) == 0 && (dot[1 + kl] == '\0' || dot[1 + kl] == '.')) {
                    *dot = '\0';
                    return out;
                }
            }
        }
    }
    return out;
}

static int matches(const regex_t *re, const char *name) { return regexec(re, name, 0, NULL, 0) == 0; }

hs_frame_class_t hs_frame_classify(const hs_frame_filter_t *f, const char *function)
{
    if (!f || !function || !*function)
        return HS_FRAME_KEEP;
    char name[1024];
    hs_frame_simplify(function, 1, name, sizeof(name));
    if (!name[0])
        return HS_FRAME_KEEP;
    if (f->has_keep && matches(&f->keep_re, name))
        return HS_FRAME_KEEP;
    if (f->has_alloc && matches(&f->alloc_re, name))
        return HS_FRAME_ALLOCATOR;
    if (f->has_wrap && matches(&f->wrap_re, name))
        return HS_FRAME_WRAPPER;
    if (f->has_drop && matches(&f->drop_re, name))
        return HS_FRAME_WRAPPER;
    for (size_t i = 0; i < f->nwrappers; i++)
        if (strcmp(f->wrappers[i], name) == 0)
            return HS_FRAME_WRAPPER;
    return HS_FRAME_KEEP;
}

int hs_frame_filter_add_wrapper(hs_frame_filter_t *f, const char *function)
{
    char name[1024];
    hs_frame_simplify(function, 1, name, sizeof(name));
    if (!name[0])
        return 0;
    for (size_t i = 0; i < f->nwrappers; i++)
        if (strcmp(f->wrappers[i], name) == 0)
            return 0;
    if (f->nwrappers == f->wrappers_cap) {
        size_t cap = f->wrappers_cap ? f->wrappers_cap * 2 : 8;
        char **grown = realloc(f->wrappers, cap * sizeof(*grown));
        if (!grown)
            return -1;
        f->wrappers = grown;
        f->wrappers_cap = cap;
    }
    if (!(f->wrappers[f->nwrappers] = copy_of(name)))
        return -1;
    f->nwrappers++;
    f->pprof_drop_stale = 1;
    return 0;
}

size_t hs_frame_filter_wrapper_count(const hs_frame_filter_t *f) { return f ? f->nwrappers : 0; }

const char *hs_frame_filter_wrapper_at(const hs_frame_filter_t *f, size_t i)
{
    return f && i < f->nwrappers ? f->wrappers[i] : NULL;
}

/* Appends s to the growing string *buf (length *len, capacity *cap);
 * escape: as a literal (every ERE and RE2 metacharacter escaped). */
static int append(char **buf, size_t *len, size_t *cap, const char *s, int escape)
{
    size_t need = *len + 2 * strlen(s) + 1;
    if (need > *cap) {
        size_t c = *cap ? *cap : 256;
        while (c < need)
            c *= 2;
        char *grown = realloc(*buf, c);
        if (!grown)
            return -1;
        *buf = grown;
        *cap = c;
    }
    for (; *s; s++) {
        if (escape && strchr(".[]{}()\\*+?^$|", *s))
            (*buf)[(*len)++] = '\\';
        (*buf)[(*len)++] = *s;
    }
    (*buf)[*len] = '\0';
    return 0;
}

const char *hs_frame_filter_pprof_drop(hs_frame_filter_t *f)
{
    if (!f)
        return NULL;
    if (!f->pprof_drop_stale)
        return f->pprof_drop;
    free(f->pprof_drop);
    f->pprof_drop = NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int parts = 0, rc = 0;
    const char *exprs[] = {f->defaults_alloc, f->defaults_wrap, f->drop};
    rc |= append(&buf, &len, &cap, "(", 0);
    for (size_t i = 0; i < sizeof(exprs) / sizeof(exprs[0]); i++) {
        if (!exprs[i] || !*exprs[i])
            continue;
        rc |= append(&buf, &len, &cap, parts++ ? "|(" : "(", 0);
        rc |= append(&buf, &len, &cap, exprs[i], 0);
        rc |= append(&buf, &len, &cap, ")", 0);
    }
    for (size_t i = 0; i < f->nwrappers; i++) {
        rc |= append(&buf, &len, &cap, parts++ ? "|" : "", 0);
        rc |= append(&buf, &len, &cap, f->wrappers[i], 1);
    }
    rc |= append(&buf, &len, &cap, ")" CLONE_SUFFIXES, 0);
    if (rc || parts == 0) {
        free(buf);
        buf = NULL;
    }
    f->pprof_drop = buf;
    f->pprof_drop_stale = rc != 0;
    return f->pprof_drop;
}

const char *hs_frame_filter_pprof_keep(const hs_frame_filter_t *f) { return f ? f->pprof_keep : NULL; }

int hs_frame_filter_keeps(const hs_frame_filter_t *f, const char *function)
{
    if (!f || !f->has_keep || !function)
        return 0;
    char name[1024];
    hs_frame_simplify(function, 1, name, sizeof(name));
    return matches(&f->keep_re, name);
}
