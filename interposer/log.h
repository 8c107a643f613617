/* log.h - one-line diagnostics from inside the interposer (no malloc, no stdio). */
#ifndef HS_LOG_H
#define HS_LOG_H

/* Formats "heapscope: ..." plus a newline into a stack buffer and write(2)s it
 * to stderr in one call. Safe in the flusher, at exit and in slow paths. */
void hs_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
