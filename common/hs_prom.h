/* hs_prom.h - a Prometheus text-format (0.0.4) exposition written into a
 * caller's buffer: families (# HELP, # TYPE), samples with escaped labels,
 * integer values printed exactly and floats as the shortest text that reads
 * back to the same double. Safe inside the interposer: no malloc, no stdio,
 * no locale, no floating-point printf. Nothing calls it yet (issue 9's
 * /metrics will). */
#ifndef HS_PROM_H
#define HS_PROM_H

#include <stddef.h>
#include <stdint.h>

/* The longest metric or label name accepted, without its NUL. */
#define HS_PROM_NAME_MAX 127

typedef enum {
    HS_PROM_COUNTER,
    HS_PROM_GAUGE,
    HS_PROM_UNTYPED,
} hs_prom_type_t;

typedef struct {
    const char *name;  /* [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__" */
    const char *value; /* any UTF-8; escaped on output */
} hs_prom_label_t;

/* An append cursor over buf[0..cap): buf[len] is always NUL and the text
 * always ends with a whole line. A line that does not fit is not written;
 * overflow is then set and stays set (every later call fails too), so a
 * caller knows to retry with a larger buffer rather than serve a partial
 * exposition. family is the name of the family samples belong to. */
typedef struct {
    char *buf;
    size_t cap, len;
    int overflow;
    char family[HS_PROM_NAME_MAX + 1];
} hs_prom_writer_t;

/* Starts an empty exposition in buf (cap includes the NUL; with cap 0
 * the writer starts overflowed). */
void hs_prom_writer_init(hs_prom_writer_t *w, char *buf, size_t cap);

/* Whether name matches [a-zA-Z_:][a-zA-Z0-9_:]* (a metric) or
 * [a-zA-Z_][a-zA-Z0-9_]* without a leading "__" (a label; "__" is
 * Prometheus's), at most HS_PROM_NAME_MAX characters. */
int hs_prom_is_metric_name(const char *name);
int hs_prom_is_label_name(const char *name);

/* Starts family `name`: writes "# HELP name help" (help escaped; omitted
 * when help is NULL) and "# TYPE name type", and makes name the family the
 * next samples belong to. Returns 0, or -1 without writing anything when
 * the name is invalid, the help is not UTF-8, the family was already
 * written to this exposition (the format allows one group per family), or
 * it does not fit (overflow set). */
int hs_prom_family(hs_prom_writer_t *w, const char *name, hs_prom_type_t type, const char *help);

/* Writes one sample line `name{labels} value` of the current family (name
 * must be the last hs_prom_family's). Returns 0, or -1 without writing
 * anything when the name is not the current family's, a label name is
 * invalid or repeated, a value is not UTF-8, or the line does not fit
 * (overflow set). f64 values use Go's strconv 'g' with shortest
 * precision, as client_golang writes them ("0.5", "1e-09", "1e+20"), and
 * "NaN", "+Inf", "-Inf". */
int hs_prom_sample_u64(hs_prom_writer_t *w, const char *name, const hs_prom_label_t *labels, size_t n_labels,
                       uint64_t value);
int hs_prom_sample_f64(hs_prom_writer_t *w, const char *name, const hs_prom_label_t *labels, size_t n_labels,
                       double value);

/* The shortest decimal text of x that reads back as x, in the form above,
 * NUL-terminated in buf (32 bytes always suffice); returns its length, or 0
 * when cap is too small. */
size_t hs_prom_format_f64(double x, char *buf, size_t cap);

/* The standard process_* families that every Prometheus client library
 * exports, read from /proc with open/read/getdents64 into stack buffers:
 * process_cpu_seconds_total, process_open_fds, process_max_fds,
 * process_virtual_memory_bytes, process_resident_memory_bytes,
 * process_start_time_seconds. A figure that cannot be read is left out.
 * Returns 0, or -1 when the writer overflowed. (hs_prom_process.c) */
int hs_prom_process_metrics(hs_prom_writer_t *w);

#endif
