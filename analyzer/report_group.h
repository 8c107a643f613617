/* report_group.h - `heapscope report` over several dumps: the dumps grouped
 * by process tree (a master and its forked workers), one line per process
 * (pid, parent, role, program, verdict, growth, heap) and a total per
 * group, as text and as the "groups" and "processes" keys of the JSON.
 *
 * The tree comes from the dumps' HEADERs alone: dump C is a child of dump P
 * when C's ppid is P's pid, both ran on the same host, P started before C
 * and P had not already exited (its last snapshot an exit one) more than
 * 0.25 s before C started. When several dumps carry that pid (pid reuse,
 * or a child that exec'd), the latest to start before C is its parent: the
 * process that held the pid when C was born. A dump whose parent is not
 * among those given is the root of a group of its own: unrelated programs
 * and separate runs are separate groups. Groups are in order of their
 * roots' start; in a group, the root comes first, then each process's
 * children by pid (depth first). */
#ifndef HS_REPORT_GROUP_H
#define HS_REPORT_GROUP_H

#include <stddef.h>
#include <stdio.h>

#include "analysis.h"

typedef struct {
    size_t dump;    /* index into the analyses given (argument order) */
    long parent;    /* dump index of its parent among them, or -1 */
    size_t group;   /* 0, 1, ... */
    unsigned depth; /* 0 for a group's root */
    size_t children;
} hs_report_group_member_t;

typedef struct {
    hs_report_group_member_t *members; /* every dump once, in display order */
    size_t n, ngroups;
} hs_report_groups_t;

/* Groups n analyses (n >= 1). Returns 0, or -1 when out of memory. */
int hs_report_groups_build(hs_report_groups_t *g, const hs_analysis_t *r, size_t n);
void hs_report_groups_free(hs_report_groups_t *g);

/* The group view: a headline, then per group one line per process and a
 * total line (groups of two or more). */
void hs_report_groups_print_text(FILE *out, const hs_report_groups_t *g, const hs_analysis_t *r);
/* The keys "groups":[...],"processes":[...] of the multi-dump object,
 * without braces and without a trailing comma. */
void hs_report_groups_print_json(FILE *out, const hs_report_groups_t *g, const hs_analysis_t *r);

#endif
