/* demangle.c - a small reader of Itanium C++ symbol names (see demangle.h):
 * nested and plain names of source names, std:: and the other standard
 * abbreviations, constructors, destructors and the allocation operators;
 * it gives up (-1) on anything else rather than guess. The parameters are
 * not read: the simplified name pprof matches drop_frames against has none.
 * No allocation, no locale: framefilter.c and sitename.c call it on the
 * live service's thread and at the program's safe points. */
#include "demangle.h"

#include <string.h>

typedef struct {
    const char *p;
    char *out;
    size_t len, used;
    int bad;
    const char *last; /* the last source name, for constructors */
    size_t last_len;
} reader_t;

static void put(reader_t *r, const char *s, size_t n)
{
    if (r->used + n >= r->len) {
        r->bad = 1;
        return;
    }
    memcpy(r->out + r->used, s, n);
    r->used += n;
    r->out[r->used] = 0;
}

static void put_str(reader_t *r, const char *s) { put(r, s, strlen(s)); }

/* <source-name> ::= <length> <identifier> */
static void source_name(reader_t *r)
{
    size_t n = 0;
    if (*r->p < '1' || *r->p > '9') {
        r->bad = 1;
        return;
    }
    while (*r->p >= '0' && *r->p <= '9' && n < 100000)
        n = n * 10 + (size_t)(*r->p++ - '0');
    if (strnlen(r->p, n) < n) {
        r->bad = 1;
        return;
    }
    if (n > 10 && strncmp(r->p, "_GLOBAL__N", 10) == 0)
        put_str(r, "(anonymous namespace)");
    else
        put(r, r->p, n);
    r->last = r->p;
    r->last_len = n;
    r->p += n;
}

/* One component of a name: a source name, a constructor or destructor of
 * the class just named, an allocation operator, or L (internal linkage)
 * before a source name. ABI tags (B <source-name>) are passed over. */
static void unqualified_name(reader_t *r)
{
    static const struct {
        char code[3];
        const char *name;
    } operators[] = {{"nw", "operator new"},
                     {"na", "operator new[]"},
                     {"dl", "operator delete"},
                     {"da", "operator delete[]"},
                     {"cl", "operator()"}};
    if (*r->p == 'L')
        r->p++;
    if (*r->p >= '1' && *r->p <= '9') {
        source_name(r);
    } else if ((r->p[0] == 'C' && r->p[1] >= '1' && r->p[1] <= '3') ||
               (r->p[0] == 'D' && r->p[1] >= '0' && r->p[1] <= '2')) {
        if (!r->last) {
            r->bad = 1;
            return;
        }
        if (r->p[0] == 'D')
            put_str(r, "~");
        put(r, r->last, r->last_len);
        r->p += 2;
    } else {
        size_t i = 0;
        while (i < sizeof(operators) / sizeof(operators[0]) && strncmp(r->p, operators[i].code, 2) != 0)
            i++;
        if (i == sizeof(operators) / sizeof(operators[0])) {
            r->bad = 1;
            return;
        }
        put_str(r, operators[i].name);
        r->p += 2;
    }
    while (!r->bad && r->p[0] == 'B') { /* read, not shown */
        size_t at = r->used, last_len = r->last_len;
        const char *last = r->last;
        r->p++;
        source_name(r);
        r->used = at;
        r->out[at] = 0;
        r->last = last;
        r->last_len = last_len;
    }
}

/* The standard abbreviations that stand for a namespace or a class. */
static int standard_prefix(reader_t *r)
{
    static const struct {
        char code;
        const char *name;
    } abbreviations[] = {{'t', "std"},          {'a', "std::allocator"}, {'b', "std::basic_string"},
                         {'s', "std::string"},  {'i', "std::istream"},   {'o', "std::ostream"},
                         {'d', "std::iostream"}};
    if (r->p[0] != 'S')
        return 0;
    for (size_t i = 0; i < sizeof(abbreviations) / sizeof(abbreviations[0]); i++)
        if (r->p[1] == abbreviations[i].code) {
            put_str(r, abbreviations[i].name);
            r->p += 2;
            return 1;
        }
    r->bad = 1; /* S_, S0_ ...: a substitution this does not keep */
    return 1;
}

int hs_demangle_simple(const char *mangled, char *out, size_t len)
{
    if (!mangled || strncmp(mangled, "_Z", 2) != 0 || len == 0)
        return -1;
    char buf[512];
    reader_t r = {mangled + 2, buf, sizeof(buf), 0, 0, NULL, 0};
    buf[0] = 0;
    if (*r.p == 'N') {
        r.p++;
        while (*r.p == 'K' || *r.p == 'V' || *r.p == 'r' || *r.p == 'R' || *r.p == 'O')
            r.p++; /* qualifiers of a member function */
        int parts = 0;
        while (!r.bad && *r.p && *r.p != 'E') {
            if (parts++)
                put_str(&r, "::");
            if (!standard_prefix(&r))
                unqualified_name(&r);
            if (*r.p == 'I')
                r.bad = 1; /* template arguments */
        }
        if (*r.p != 'E' || parts == 0)
            r.bad = 1;
    } else if (*r.p == 'Z' || *r.p == 'T' || *r.p == 'G') {
        r.bad = 1; /* local names, vtables, guard variables */
    } else {
        if (r.p[0] == 'S' && r.p[1] == 't') {
            put_str(&r, "std::");
            r.p += 2;
        }
        unqualified_name(&r);
        if (*r.p == 'I')
            r.bad = 1;
    }
    if (r.bad)
        return -1;
    const char *clone = strchr(mangled, '.');
    if (clone)
        put_str(&r, clone);
    if (r.bad || r.used >= len)
        return -1;
    memcpy(out, buf, r.used + 1);
    return 0;
}
