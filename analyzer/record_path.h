/* record_path.h - the name of the dump `heapscope record` is about to cause,
 * worked out the way the library will work it out (common/hs_template.h and
 * interposer/writer.c), so that record can print a path, not a template. */
#ifndef HS_RECORD_PATH_H
#define HS_RECORD_PATH_H

#include <stddef.h>

/* For the calling process, which is about to execvp(cmd[0], cmd) with the
 * dump path template tmpl: writes into out the dump's path, absolute, and,
 * where it is not certain, the alternative in words:
 *   /work/heapscope.demo.4242.hsd
 *   /work/run.hsd.1 (run.hsd exists)
 *   /work/out/x.hsd (or /tmp/x.hsd if /work/out is not writable by then)
 *   /work/x.1700000000.hsd (or /work/x.1700000001.hsd if it starts a second later)
 * The result is cut to cap - 1 bytes. */
void hs_record_path_predict(const char *tmpl, char *const *cmd, char *out, size_t cap);

#endif
