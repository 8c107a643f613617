/* input.h - DUMP operands: a path, or `-` for stdin. A regular file is read
 * in place. Anything else (a pipe, process substitution, a FIFO, a device)
 * is a stream: read once as it arrives, or, for a command that reads its
 * dump twice, first copied into an unlinked temporary file that is then read
 * like a regular file. Nothing waits forever for a FIFO that has no writer. */
#ifndef HS_INPUT_H
#define HS_INPUT_H

#include <stddef.h>

#include "model.h"

/* How long a FIFO or a device named as a DUMP may take to deliver its first
 * bytes: opening a FIFO nobody writes to would otherwise block forever. An
 * anonymous pipe (stdin, `<(...)`) has a writer by construction and is
 * waited for like any filter waits: until its writer writes or exits. */
#define HS_INPUT_WAIT_SECONDS 10

/* The line each command's usage ends with; heapscope --help says more. */
#define HS_INPUT_USAGE "\nDUMP may be a file, - (stdin), a pipe or a FIFO (see heapscope --help).\n"

typedef enum {
    HS_INPUT_ONCE,   /* one pass: a stream is read as it arrives */
    HS_INPUT_REREAD, /* several passes: a stream is spooled at open */
} hs_input_mode_t;

typedef struct hs_input hs_input_t;

/* Opens the operand ("-" = stdin). Returns 0, or an exit code
 * (HS_EXIT_BAD_INPUT for a missing, unreadable, empty, corrupt or silent
 * input, HS_EXIT_FAILURE when the spool file cannot be made or written) with
 * one line in err that names the operand ("FILE: why"). */
int hs_input_open(const char *operand, hs_input_mode_t mode, hs_input_t **out, char *err, size_t errlen);
/* Starts a pass: *fd reads the dump from its first byte; in keeps the fd.
 * Passes share one file offset, so starting one ends the previous one (its
 * reader must not read again). An HS_INPUT_ONCE stream has one pass.
 * Returns 0, or -1 with one line in err. */
int hs_input_pass(hs_input_t *in, int *fd, char *err, size_t errlen);
/* A model over a new pass (hs_input_pass, then hs_model_open_fd). */
int hs_input_model(hs_input_t *in, hs_model_t **out, char *err, size_t errlen);
const char *hs_input_name(const hs_input_t *in);
void hs_input_close(hs_input_t *in);

/* For the commands that take several DUMPs: HS_EXIT_BAD_INPUT after one line
 * on stderr when `-` is given more than once (stdin can be read only once),
 * else 0. */
int hs_input_check_operands(const char *cmd, char *const *operands, int count);

#endif
