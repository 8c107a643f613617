/* report_group.c - groups several dumps' analyses by process tree and
 * prints the group view of `heapscope report` (report_group.h has the
 * rules). Decides no verdict: each process's comes from analysis.c; this
 * file links the dumps, orders them and sums them up. */
#include "report_group.h"

#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hs_text.h"
#include "textout.h"

/* A parent whose dump ends with its exit snapshot this long before a child
 * started cannot be that child's parent (clock steps aside). */
#define HS_GROUP_EXIT_SLACK_NS 250000000ull
/* Widest program name in the table; longer ones are cut. */
#define HS_GROUP_PROGRAM_WIDTH 24

/* What the group view shows of one process. */
typedef struct {
    double rate, growth, window; /* the verdict line's rate and growth over its window */
    uint64_t peak_heap, final_heap;
    const char *verdict;
} figures_t;

static void figures_of(const hs_analysis_t *r, figures_t *f)
{
    /* The verdict line's figures: the growth blamed on call sites (0 when
     * nothing is blamed), not the whole heap's trend, which a sawtooth's
     * phase decides (the per-process report shows that one). */
    f->rate = r->rate.rate;
    f->growth = r->growth;
    f->window = r->t1 - r->t0;
    f->peak_heap = 0;
    for (size_t i = 0; i < r->nproc; i++)
        if (r->proc[i].heap_in_use > f->peak_heap)
            f->peak_heap = r->proc[i].heap_in_use;
    f->final_heap = r->nproc ? r->proc[r->nproc - 1].heap_in_use : 0;
    f->verdict = r->leak_detected && r->threads_leak ? "LEAK+threads"
                 : r->leak_detected                  ? "LEAK"
                 : r->threads_leak                   ? "threads leak"
                                                     : "no leak";
}

static uint64_t end_ns(const hs_analysis_t *r)
{
    double t = r->nproc ? r->proc[r->nproc - 1].t : 0;
    return r->header->start_realtime_ns + (uint64_t)(t > 0 ? t * 1e9 : 0);
}

static int ended_before(const hs_analysis_t *p, uint64_t t_ns)
{
    return p->nproc && p->proc[p->nproc - 1].reason == HS_REASON_EXIT && end_ns(p) + HS_GROUP_EXIT_SLACK_NS < t_ns;
}

static int same_host(const hs_analysis_t *a, const hs_analysis_t *b)
{
    const char *x = a->header->hostname ? a->header->hostname : "";
    const char *y = b->header->hostname ? b->header->hostname : "";
    return strcmp(x, y) == 0;
}

/* Display order of siblings (and of roots by start first): pid, then start. */
static const hs_analysis_t *sort_r;
static int by_pid(const void *a, const void *b)
{
    const hs_model_header_t *x = sort_r[*(const size_t *)a].header, *y = sort_r[*(const size_t *)b].header;
    if (x->pid != y->pid)
        return x->pid < y->pid ? -1 : 1;
    if (x->start_realtime_ns != y->start_realtime_ns)
        return x->start_realtime_ns < y->start_realtime_ns ? -1 : 1;
    return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}
static int by_start(const void *a, const void *b)
{
    const hs_model_header_t *x = sort_r[*(const size_t *)a].header, *y = sort_r[*(const size_t *)b].header;
    if (x->start_realtime_ns != y->start_realtime_ns)
        return x->start_realtime_ns < y->start_realtime_ns ? -1 : 1;
    return by_pid(a, b);
}

/* Appends dump i and its descendants (children by pid) to g->members. */
static void visit(hs_report_groups_t *g, const long *parent, const size_t *by_pid_order, size_t n, size_t i,
                  size_t group, unsigned depth)
{
    hs_report_group_member_t *m = &g->members[g->n++];
    *m = (hs_report_group_member_t){.dump = i, .parent = parent[i], .group = group, .depth = depth};
    for (size_t k = 0; k < n; k++) {
        size_t c = by_pid_order[k];
        if (parent[c] == (long)i) {
            m->children++;
            visit(g, parent, by_pid_order, n, c, group, depth + 1);
        }
    }
}

int hs_report_groups_build(hs_report_groups_t *g, const hs_analysis_t *r, size_t n)
{
    memset(g, 0, sizeof(*g));
    long *parent = calloc(n ? n : 1, sizeof(*parent));
    size_t *order = calloc(n ? n : 1, sizeof(*order));
    size_t *roots = calloc(n ? n : 1, sizeof(*roots));
    g->members = calloc(n ? n : 1, sizeof(*g->members));
    if (!parent || !order || !roots || !g->members) {
        free(parent);
        free(order);
        free(roots);
        hs_report_groups_free(g);
        return -1;
    }
    /* The parent of each: the latest dump of the ppid to start before it.
     * Strictly before, so the links never form a cycle. */
    size_t nroots = 0;
    for (size_t i = 0; i < n; i++) {
        const hs_model_header_t *c = r[i].header;
        parent[i] = -1;
        for (size_t j = 0; j < n; j++) {
            const hs_model_header_t *p = r[j].header;
            if (j == i || p->pid != c->ppid || p->start_realtime_ns >= c->start_realtime_ns ||
                !same_host(&r[i], &r[j]) || ended_before(&r[j], c->start_realtime_ns))
                continue;
            if (parent[i] < 0 || p->start_realtime_ns > r[parent[i]].header->start_realtime_ns)
                parent[i] = (long)j;
        }
        order[i] = i;
        if (parent[i] < 0)
            roots[nroots++] = i;
    }
    sort_r = r;
    qsort(order, n, sizeof(*order), by_pid);
    qsort(roots, nroots, sizeof(*roots), by_start);
    for (size_t k = 0; k < nroots; k++)
        visit(g, parent, order, n, roots[k], g->ngroups++, 0);
    free(parent);
    free(order);
    free(roots);
    return 0;
}

void hs_report_groups_free(hs_report_groups_t *g)
{
    free(g->members);
    memset(g, 0, sizeof(*g));
}

static const char *role_of(const hs_report_group_member_t *m)
{
    return m->parent >= 0 ? "child" : m->children ? "parent" : "single";
}

/* "+1.5 MiB", "-12 B", "0 B" (never "-0 B"); "?" when not finite. */
static const char *signed_bytes(double x, const char *suffix, char *buf, size_t len)
{
    char b[32];
    if (!isfinite(x)) {
        snprintf(buf, len, "?");
        return buf;
    }
    hs_text_bytes(fabs(x), HS_TEXT_BYTES_TENTHS, b, sizeof(b));
    int zero = b[0] == '0' && b[1] == ' ';
    snprintf(buf, len, "%s%s%s", zero ? "" : x < 0 ? "-" : "+", b, suffix);
    return buf;
}

static const char *bytes(double x, char *buf, size_t len) { return hs_text_bytes(x, HS_TEXT_BYTES_TENTHS, buf, len); }

/* The program's name as table text: printable bytes, at most the column. */
static const char *program_cell(const char *name, char *buf, size_t len)
{
    size_t k = 0;
    for (const char *p = name ? name : "?"; *p && k + 1 < len && k < HS_GROUP_PROGRAM_WIDTH; p++)
        buf[k++] = (unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p;
    buf[k] = 0;
    return buf;
}

/* Sums over one group's members [from, to). */
typedef struct {
    size_t processes, leaking, thread_leaking, any_leak; /* any_leak: heap or threads */
    double rate, growth, peak_heap, final_heap;
} totals_t;

static void totals_of(const hs_report_groups_t *g, const hs_analysis_t *r, size_t from, size_t to, totals_t *t)
{
    memset(t, 0, sizeof(*t));
    for (size_t k = from; k < to; k++) {
        const hs_analysis_t *a = &r[g->members[k].dump];
        figures_t f;
        figures_of(a, &f);
        t->processes++;
        t->leaking += a->leak_detected != 0;
        t->thread_leaking += a->threads_leak != 0;
        t->any_leak += a->leak_detected || a->threads_leak;
        if (isfinite(f.rate))
            t->rate += f.rate;
        if (isfinite(f.growth))
            t->growth += f.growth;
        t->peak_heap += (double)f.peak_heap;
        t->final_heap += (double)f.final_heap;
    }
}

static const char *total_verdict(const totals_t *t)
{
    return t->leaking && t->thread_leaking ? "LEAK+threads"
           : t->leaking                    ? "LEAK"
           : t->thread_leaking             ? "threads leak"
                                           : "no leak";
}

/* The pids of members [from, to) that leak (heap or threads), each with
 * its group's number when with_group (the same pid may be in two). */
static void print_leaking_pids(FILE *out, const hs_report_groups_t *g, const hs_analysis_t *r, size_t from, size_t to,
                               int with_group)
{
    int first = 1;
    for (size_t k = from; k < to; k++) {
        const hs_analysis_t *a = &r[g->members[k].dump];
        if (!a->leak_detected && !a->threads_leak)
            continue;
        fprintf(out, "%s%u", first ? "" : ", ", a->header->pid);
        if (with_group)
            fprintf(out, " (group %zu)", g->members[k].group + 1);
        first = 0;
    }
}

static size_t group_end(const hs_report_groups_t *g, size_t from)
{
    size_t to = from;
    while (to < g->n && g->members[to].group == g->members[from].group)
        to++;
    return to;
}

static int digits(uint64_t x)
{
    int d = 1;
    while (x >= 10) {
        x /= 10;
        d++;
    }
    return d;
}

void hs_report_groups_print_text(FILE *out, const hs_report_groups_t *g, const hs_analysis_t *r)
{
    int pw = 7, idw = 5; /* "program", "total" */
    for (size_t k = 0; k < g->n; k++) {
        const hs_report_group_member_t *m = &g->members[k];
        char name[HS_GROUP_PROGRAM_WIDTH + 1];
        int w = (int)strlen(program_cell(r[m->dump].header->program, name, sizeof(name)));
        if (w > pw)
            pw = w;
        w = 2 * (int)(m->depth > 8 ? 8 : m->depth) + digits(r[m->dump].header->pid);
        if (w > idw)
            idw = w;
    }
    for (size_t from = 0; from < g->n;) {
        size_t to = group_end(g, from);
        int w = (int)strlen(" processes") + digits(to - from);
        if (to - from > 1 && w > pw)
            pw = w;
        from = to;
    }
    totals_t all;
    totals_of(g, r, 0, g->n, &all);
    fprintf(out, "heapscope report: %zu processes in %zu group%s", g->n, g->ngroups, g->ngroups == 1 ? "" : "s");
    if (all.any_leak) {
        fprintf(out, "; leaking: pid ");
        print_leaking_pids(out, g, r, 0, g->n, g->ngroups > 1);
    } else {
        fprintf(out, "; no leak");
    }
    fprintf(out, "\n");
    for (size_t from = 0; from < g->n;) {
        size_t to = group_end(g, from);
        const hs_analysis_t *root = &r[g->members[from].dump];
        char a[48], b[48], c[48], d[48], name[HS_GROUP_PROGRAM_WIDTH + 1];
        int direct = 1;
        for (size_t k = from + 1; k < to; k++)
            direct &= g->members[k].depth == 1;
        fprintf(out, "\ngroup %zu: %s (pid %u)", g->members[from].group + 1,
                program_cell(root->header->program, name, sizeof(name)), root->header->pid);
        size_t more = to - from - 1;
        if (more)
            fprintf(out, " and %zu %s", more,
                    direct ? (more == 1 ? "child" : "children") : (more == 1 ? "descendant" : "descendants"));
        fprintf(out, "\n  %-*s %8s  %-6s  %-*s  %-12s %13s %11s %8s %10s %11s\n", idw, "pid", "ppid", "role", pw,
                "program", "verdict", "leak rate", "growth", "window", "peak heap", "final heap");
        for (size_t k = from; k < to; k++) {
            const hs_report_group_member_t *m = &g->members[k];
            const hs_analysis_t *p = &r[m->dump];
            figures_t f;
            figures_of(p, &f);
            char pid[48], window[32];
            unsigned indent = m->depth > 8 ? 8 : m->depth;
            snprintf(pid, sizeof(pid), "%*s%u", 2 * (int)indent, "", p->header->pid);
            if (isfinite(f.window))
                snprintf(window, sizeof(window), "%.1f s", f.window);
            else
                snprintf(window, sizeof(window), "?");
            fprintf(out, "  %-*s %8u  %-6s  %-*s  %-12s %13s %11s %8s %10s %11s\n", idw, pid, p->header->ppid,
                    role_of(m), pw, program_cell(p->header->program, name, sizeof(name)), f.verdict,
                    signed_bytes(f.rate, "/s", a, sizeof(a)), signed_bytes(f.growth, "", b, sizeof(b)), window,
                    bytes((double)f.peak_heap, c, sizeof(c)), bytes((double)f.final_heap, d, sizeof(d)));
        }
        if (to - from > 1) {
            totals_t t;
            totals_of(g, r, from, to, &t);
            char count[48];
            snprintf(count, sizeof(count), "%zu processes", t.processes);
            fprintf(out, "  %-*s %8s  %-6s  %-*s  %-12s %13s %11s %8s %10s %11s", idw, "total", "", "", pw, count,
                    total_verdict(&t), signed_bytes(t.rate, "/s", a, sizeof(a)),
                    signed_bytes(t.growth, "", b, sizeof(b)), "", bytes(t.peak_heap, c, sizeof(c)),
                    bytes(t.final_heap, d, sizeof(d)));
            if (t.any_leak) {
                fprintf(out, "  leaking: pid ");
                print_leaking_pids(out, g, r, from, to, 0);
            }
            fprintf(out, "\n");
        }
        from = to;
    }
}

static void json_number(FILE *out, double v)
{
    if (isfinite(v))
        fprintf(out, "%.12g", v);
    else
        fprintf(out, "null");
}

static void json_totals(FILE *out, const totals_t *t)
{
    fprintf(out, "\"verdict\":");
    hs_put_json_string(out, total_verdict(t));
    fprintf(out, ",\"leak_detected\":%s,\"threads_leak\":%s,\"leaking\":%zu,\"rate_bytes_per_sec\":",
            t->leaking ? "true" : "false", t->thread_leaking ? "true" : "false", t->any_leak);
    json_number(out, t->rate);
    fprintf(out, ",\"growth_bytes\":");
    json_number(out, t->growth);
    fprintf(out, ",\"peak_heap_bytes_sum\":");
    json_number(out, t->peak_heap);
    fprintf(out, ",\"final_heap_bytes\":");
    json_number(out, t->final_heap);
}

void hs_report_groups_print_json(FILE *out, const hs_report_groups_t *g, const hs_analysis_t *r)
{
    fprintf(out, "\"groups\":[");
    for (size_t from = 0; from < g->n;) {
        size_t to = group_end(g, from);
        const hs_analysis_t *root = &r[g->members[from].dump];
        totals_t t;
        totals_of(g, r, from, to, &t);
        fprintf(out, "%s{\"group\":%zu,\"root_pid\":%u,\"program\":", from ? "," : "", g->members[from].group,
                root->header->pid);
        hs_put_json_string(out, root->header->program);
        fprintf(out, ",\"processes\":%zu,\"pids\":[", t.processes);
        for (size_t k = from; k < to; k++)
            fprintf(out, "%s%u", k > from ? "," : "", r[g->members[k].dump].header->pid);
        fprintf(out, "],\"leaking_pids\":[");
        print_leaking_pids(out, g, r, from, to, 0);
        fprintf(out, "],");
        json_totals(out, &t);
        fprintf(out, "}");
        from = to;
    }
    fprintf(out, "],\"processes\":[");
    for (size_t k = 0; k < g->n; k++) {
        const hs_report_group_member_t *m = &g->members[k];
        const hs_analysis_t *p = &r[m->dump];
        figures_t f;
        figures_of(p, &f);
        fprintf(out, "%s{\"pid\":%u,\"ppid\":%u,\"parent_pid\":", k ? "," : "", p->header->pid, p->header->ppid);
        if (m->parent >= 0)
            fprintf(out, "%u", r[m->parent].header->pid);
        else
            fprintf(out, "null");
        fprintf(out, ",\"role\":\"%s\",\"group\":%zu,\"depth\":%u,\"dump\":%zu,\"file\":", role_of(m), m->group,
                m->depth, m->dump);
        hs_put_json_string(out, p->path);
        fprintf(out, ",\"program\":");
        hs_put_json_string(out, p->header->program);
        fprintf(out, ",\"exe\":");
        hs_put_json_string(out, p->header->exe);
        fprintf(out, ",\"verdict\":");
        hs_put_json_string(out, f.verdict);
        fprintf(out, ",\"leak_detected\":%s,\"threads_leak\":%s,\"rate_bytes_per_sec\":",
                p->leak_detected ? "true" : "false", p->threads_leak ? "true" : "false");
        json_number(out, f.rate);
        fprintf(out, ",\"growth_bytes\":");
        json_number(out, f.growth);
        fprintf(out, ",\"window_seconds\":");
        json_number(out, f.window);
        fprintf(out, ",\"peak_heap_bytes\":%" PRIu64 ",\"final_heap_bytes\":%" PRIu64 "}", f.peak_heap, f.final_heap);
    }
    fprintf(out, "]");
}
