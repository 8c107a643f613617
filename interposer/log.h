/* log.h - one-line diagnostics from inside the interposer (no malloc, no stdio). */
#ifndef HS_LOG_H
#define HS_LOG_H

/* Records what descriptor 2 is when the library loads (device, inode, type),
 * so that later lines go there only while it is still the program's stderr.
 * Call first thing in the constructor; hs_log calls it itself if it runs
 * first. Later calls keep the identity recorded at load. */
void hs_log_init(void);
/* Lines that cannot go to stderr, and findings, go to the file named by
 * `path` (HEAPSCOPE_LOG), read at each line: it may be filled in later (the
 * configuration's buffer while it loads), and "" means none. The string must
 * outlive the process's logging. */
void hs_log_set_file(const char *path);
/* Formats "heapscope: ..." plus a newline into a stack buffer and writes it
 * with one write(2) to stderr, if descriptor 2 is still the stderr the
 * program started with; otherwise to HEAPSCOPE_LOG when set, else the line
 * is dropped (a daemon's data file on descriptor 2 never receives it). Safe
 * in the snapshot writer, at exit and in slow paths. */
void hs_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A finding the user asked to be told about (the live leak warning): to
 * HEAPSCOPE_LOG when set, else (or when it cannot be opened) as hs_log. */
void hs_log_finding(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Is descriptor 2 still the stderr the program had when the library loaded? */
int hs_log_stderr_is_programs(void);

#endif
