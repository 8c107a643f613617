/* hs_text.h - numbers and byte counts as text in a caller's buffer, the one
 * formatter of the analyzer's reports and the interposer's warning line.
 * Safe inside the interposer: no malloc, no stdio, no locale, no
 * floating-point printf (glibc's %f may call malloc for some values), only
 * libm. Output that does not fit is cut; the buffer always ends in NUL. */
#ifndef HS_TEXT_H
#define HS_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* An append cursor over buf[0..cap). */
typedef struct {
    char *buf;
    size_t cap, len;
} hs_text_t;

/* Starts an empty text in buf (buf[0] = NUL when cap > 0). */
hs_text_t hs_text_on(char *buf, size_t cap);
void hs_text_put_char(hs_text_t *o, char c);
void hs_text_put_str(hs_text_t *o, const char *s);
void hs_text_put_uint(hs_text_t *o, uint64_t x);
/* x with `decimals` (0..9) digits after the point, the same digits as
 * printf("%.*f"): rounded to nearest on the exact binary value, ties to
 * even. A minus sign only when the printed value is not zero ("0", never
 * "-0"); "?" for NaN and infinities; "huge" beyond 9e18 at that precision. */
void hs_text_put_fixed(hs_text_t *o, double x, int decimals);

/* How many digits a byte count gets; both use binary units (B, KiB, MiB,
 * GiB, TiB, PiB, EiB) and switch unit at 1024. */
typedef enum {
    HS_TEXT_BYTES_TENTHS, /* one decimal above bytes: "512 B", "64.0 KiB", "10.7 MiB" (tables, verdicts) */
    HS_TEXT_BYTES_SHORT,  /* two or three significant digits: "512 B", "4.2 KiB", "42 MiB" (sentences) */
} hs_text_bytes_style_t;

void hs_text_put_bytes(hs_text_t *o, double bytes, hs_text_bytes_style_t style);
/* The byte count alone in buf; returns buf (for use as a printf argument). */
const char *hs_text_bytes(double bytes, hs_text_bytes_style_t style, char *buf, size_t len);

#endif
