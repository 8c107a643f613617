/* procfs.h - numbers and states from /proc files (see procfs.c). */
#ifndef HS_PROCFS_H
#define HS_PROCFS_H

#include <stddef.h>
#include <stdint.h>

/* Fields as proc(5) counts them: statm's from 0, stat's from 1. */
#define HS_PROC_STATM_RESIDENT 1
#define HS_PROC_STAT_NUM_THREADS 20

/* The decimal number in field `field` of a /proc file: for a file whose
 * name ends in "/stat" (where field 2, the command in parentheses, may hold
 * spaces) counted from 1 past the command's ')', otherwise space-separated
 * from 0. 0 when the file cannot be read. Never allocates. */
uint64_t hs_proc_field(const char *file, int field);
/* The state letter (field 3: R, S, D, Z, ...) of a ".../stat" file, or 0
 * when it cannot be read (the task is gone). */
char hs_proc_state(const char *stat_file);
/* The ids of this process's tasks (threads, zombies included) but exclude
 * (0: none), from /proc/self/task: up to max written to out; returns how many
 * there are (more than max when out was too small), or -1 when the
 * directory cannot be read. */
long hs_proc_tasks(uint32_t *out, size_t max, uint32_t exclude);
/* Live threads of this process (num_threads of /proc/self/stat). */
static inline uint64_t hs_proc_threads(void) { return hs_proc_field("/proc/self/stat", HS_PROC_STAT_NUM_THREADS); }

#endif
