/* hs_text.c - owns how heapscope writes numbers and byte counts as text
 * (hs_text.h): the report's tables and verdict, the leak verdict's reason
 * (hs_leak.c) and the interposer's live leak warning (livecheck.c) all call
 * it. Must never allocate, touch stdio or keep state: the interposer formats
 * with it while it holds the snapshot lock. */
#include "hs_text.h"

#include <math.h>

hs_text_t hs_text_on(char *buf, size_t cap)
{
    if (cap)
        buf[0] = '\0';
    return (hs_text_t){buf, cap, 0};
}

void hs_text_put_char(hs_text_t *o, char c)
{
    if (o->len + 1 < o->cap) {
        o->buf[o->len++] = c;
        o->buf[o->len] = '\0';
    }
}

void hs_text_put_str(hs_text_t *o, const char *s)
{
    while (*s)
        hs_text_put_char(o, *s++);
}

void hs_text_put_uint(hs_text_t *o, uint64_t x)
{
    char digits[24];
    int n = 0;
    do {
        digits[n++] = (char)('0' + x % 10);
        x /= 10;
    } while (x);
    while (n)
        hs_text_put_char(o, digits[--n]);
}

/* a * scale rounded to the nearest integer, ties to even, judged on the
 * exact product the way glibc's printf judges the exact binary value: p is
 * the rounded product and e its error (a * scale == p + e exactly, from
 * fma), so the fraction's distance from one half, d, is exact, and when d is
 * not 0 it is at least one unit in the last place of p, larger than |e|.
 * Rounding p + 0.5 down instead would print 1.25 KiB (1280 B) as "1.3 KiB"
 * where printf("%.1f") says "1.2". a >= 0 and a * scale < 2^63. */
static double round_scaled(double a, double scale)
{
    double p = a * scale;
    double e = fma(a, scale, -p);
    double n = floor(p);
    double d = (p - n) - 0.5;
    if (d > 0 || (d == 0 && (e > 0 || (e == 0 && fmod(n, 2) != 0))))
        n += 1;
    return n;
}

void hs_text_put_fixed(hs_text_t *o, double x, int decimals)
{
    if (!isfinite(x)) {
        hs_text_put_str(o, "?");
        return;
    }
    if (decimals < 0)
        decimals = 0;
    if (decimals > 9)
        decimals = 9;
    uint64_t scale = 1;
    for (int i = 0; i < decimals; i++)
        scale *= 10;
    double r = round_scaled(fabs(x), (double)scale);
    if (r > 9e18) {
        hs_text_put_str(o, x < 0 ? "-huge" : "huge");
        return;
    }
    uint64_t u = (uint64_t)r;
    if (x < 0 && u)
        hs_text_put_char(o, '-');
    hs_text_put_uint(o, u / scale);
    if (decimals) {
        hs_text_put_char(o, '.');
        uint64_t frac = u % scale;
        for (uint64_t d = scale / 10; d; d /= 10)
            hs_text_put_char(o, (char)('0' + frac / d % 10));
    }
}

void hs_text_put_bytes(hs_text_t *o, double bytes, hs_text_bytes_style_t style)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double a = fabs(bytes);
    size_t u = 0;
    while (a >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
        a /= 1024;
        u++;
    }
    int decimals = u == 0 ? 0 : style == HS_TEXT_BYTES_TENTHS ? 1 : a >= 9.95 ? 0 : 1;
    hs_text_put_fixed(o, bytes < 0 ? -a : a, decimals);
    hs_text_put_char(o, ' ');
    hs_text_put_str(o, units[u]);
}

const char *hs_text_bytes(double bytes, hs_text_bytes_style_t style, char *buf, size_t len)
{
    hs_text_t o = hs_text_on(buf, len);
    hs_text_put_bytes(&o, bytes, style);
    return buf;
}
