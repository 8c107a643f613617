/* hs_prom.c - owns the Prometheus text format 0.0.4 (hs_prom.h): names
 * checked against the spec's regexes, HELP and label values escaped, one
 * HELP/TYPE group per family, integers exact and floats shortest
 * round-trip. Must never allocate, touch stdio or call printf with a float:
 * the interposer's /metrics (issue 9) will format with it on its own thread,
 * and glibc's %g may call malloc. Its neighbour hs_prom_process.c reads the
 * process_* figures through this writer. */
#include "hs_prom.h"

#include <math.h>
#include <string.h>

/* ---- the buffer: every public call writes whole lines or nothing ---- */

void hs_prom_writer_init(hs_prom_writer_t *w, char *buf, size_t cap)
{
    w->buf = buf;
    w->cap = cap;
    w->len = 0;
    w->overflow = cap == 0;
    w->family[0] = '\0';
    if (cap)
        buf[0] = '\0';
}

/* Appends s[0..n) when it fits with the NUL after it; otherwise sets the
 * sticky overflow and writes nothing, so the caller's rollback is the only
 * repair needed. */
static void put_bytes(hs_prom_writer_t *w, const char *s, size_t n)
{
    if (w->overflow)
        return;
    if (n >= w->cap - w->len) {
        w->overflow = 1;
        return;
    }
    memcpy(w->buf + w->len, s, n);
    w->len += n;
    w->buf[w->len] = '\0';
}

static void put_str(hs_prom_writer_t *w, const char *s) { put_bytes(w, s, strlen(s)); }

static void put_char(hs_prom_writer_t *w, char c) { put_bytes(w, &c, 1); }

static void put_u64(hs_prom_writer_t *w, uint64_t x)
{
    char digits[24];
    size_t n = sizeof(digits);
    do {
        digits[--n] = (char)('0' + x % 10);
        x /= 10;
    } while (x);
    put_bytes(w, digits + n, sizeof(digits) - n);
}

/* Escapes backslash and newline always, and the double quote when quote
 * is set (label values; HELP text keeps its quotes). */
static void put_escaped(hs_prom_writer_t *w, const char *s, int quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            put_str(w, "\\\\");
        else if (*s == '\n')
            put_str(w, "\\n");
        else if (*s == '"' && quote)
            put_str(w, "\\\"");
        else
            put_char(w, *s);
    }
}

/* Ends a public call: on overflow the partial line is dropped. */
static int finish(hs_prom_writer_t *w, size_t start)
{
    if (!w->overflow)
        return 0;
    w->len = start;
    if (w->cap)
        w->buf[start] = '\0';
    return -1;
}

/* ---- names and text ---- */

static int is_alpha_(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static int is_name(const char *name, int colon)
{
    if (!name || !(is_alpha_(name[0]) || (colon && name[0] == ':')))
        return 0;
    size_t i = 1;
    for (; name[i]; i++)
        if (!is_alpha_(name[i]) && !is_digit(name[i]) && !(colon && name[i] == ':'))
            return 0;
    return i <= HS_PROM_NAME_MAX;
}

int hs_prom_is_metric_name(const char *name) { return is_name(name, 1); }

int hs_prom_is_label_name(const char *name) { return is_name(name, 0) && !(name[0] == '_' && name[1] == '_'); }

/* Well-formed UTF-8: no stray continuation bytes, overlong forms,
 * surrogates or code points past U+10FFFF (Prometheus rejects them). */
static int is_utf8(const char *text)
{
    const unsigned char *s = (const unsigned char *)text;
    while (*s) {
        unsigned c = *s++;
        int more;
        unsigned min, cp;
        if (c < 0x80)
            continue;
        else if ((c & 0xe0) == 0xc0)
            more = 1, min = 0x80, cp = c & 0x1f;
        else if ((c & 0xf0) == 0xe0)
            more = 2, min = 0x800, cp = c & 0x0f;
        else if ((c & 0xf8) == 0xf0)
            more = 3, min = 0x10000, cp = c & 0x07;
        else
            return 0;
        while (more--) {
            if ((*s & 0xc0) != 0x80)
                return 0; /* also stops at the NUL */
            cp = cp << 6 | (*s++ & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
    }
    return 1;
}

/* Whether "# TYPE name " starts a line already written: a second group of
 * the same family is invalid text format, and scanning the buffer keeps the
 * writer free of a family table. */
static int has_family(const hs_prom_writer_t *w, const char *name)
{
    size_t n = strlen(name);
    for (size_t at = 0; at < w->len;) {
        const char *line = w->buf + at;
        const char *end = memchr(line, '\n', w->len - at);
        size_t line_len = end ? (size_t)(end - line) : w->len - at;
        if (line_len > 7 + n && memcmp(line, "# TYPE ", 7) == 0 && memcmp(line + 7, name, n) == 0 && line[7 + n] == ' ')
            return 1;
        at += line_len + 1;
    }
    return 0;
}

/* ---- families and samples ---- */

int hs_prom_family(hs_prom_writer_t *w, const char *name, hs_prom_type_t type, const char *help)
{
    static const char *const types[] = {"counter", "gauge", "untyped"};
    if (w->overflow)
        return -1;
    if (!hs_prom_is_metric_name(name) || (unsigned)type > HS_PROM_UNTYPED || (help && !is_utf8(help)))
        return -1;
    if (strcmp(w->family, name) == 0 || has_family(w, name))
        return -1;
    size_t start = w->len;
    if (help) {
        put_str(w, "# HELP ");
        put_str(w, name);
        put_char(w, ' ');
        put_escaped(w, help, 0);
        put_char(w, '\n');
    }
    put_str(w, "# TYPE ");
    put_str(w, name);
    put_char(w, ' ');
    put_str(w, types[type]);
    put_char(w, '\n');
    if (finish(w, start))
        return -1;
    memcpy(w->family, name, strlen(name) + 1);
    return 0;
}

/* Checks a sample's name and labels before anything is written. */
static int is_sample_valid(const hs_prom_writer_t *w, const char *name, const hs_prom_label_t *labels, size_t n_labels)
{
    if (w->overflow || !name || !w->family[0] || strcmp(name, w->family) != 0)
        return 0;
    if (n_labels && !labels)
        return 0;
    for (size_t i = 0; i < n_labels; i++) {
        if (!hs_prom_is_label_name(labels[i].name) || !labels[i].value || !is_utf8(labels[i].value))
            return 0;
        for (size_t j = 0; j < i; j++)
            if (strcmp(labels[i].name, labels[j].name) == 0)
                return 0;
    }
    return 1;
}

static void put_name_and_labels(hs_prom_writer_t *w, const char *name, const hs_prom_label_t *labels, size_t n_labels)
{
    put_str(w, name);
    if (n_labels) {
        put_char(w, '{');
        for (size_t i = 0; i < n_labels; i++) {
            if (i)
                put_char(w, ',');
            put_str(w, labels[i].name);
            put_str(w, "=\"");
            put_escaped(w, labels[i].value, 1);
            put_char(w, '"');
        }
        put_char(w, '}');
    }
    put_char(w, ' ');
}

int hs_prom_sample_u64(hs_prom_writer_t *w, const char *name, const hs_prom_label_t *labels, size_t n_labels,
                       uint64_t value)
{
    if (!is_sample_valid(w, name, labels, n_labels))
        return -1;
    size_t start = w->len;
    put_name_and_labels(w, name, labels, n_labels);
    put_u64(w, value);
    put_char(w, '\n');
    return finish(w, start);
}

int hs_prom_sample_f64(hs_prom_writer_t *w, const char *name, const hs_prom_label_t *labels, size_t n_labels,
                       double value)
{
    if (!is_sample_valid(w, name, labels, n_labels))
        return -1;
    char text[32];
    hs_prom_format_f64(value, text, sizeof(text));
    size_t start = w->len;
    put_name_and_labels(w, name, labels, n_labels);
    put_str(w, text);
    put_char(w, '\n');
    return finish(w, start);
}

/* ---- shortest round-trip floats ----
 * Burger and Dybvig's free-format algorithm ("Printing Floating-Point
 * Numbers Quickly and Accurately", 1996) on exact big integers: the value
 * is r/s, the numbers that read back as it lie within (r - m-, r + m+)/s,
 * and digits are produced until the prefix alone lies in that interval.
 * Exact arithmetic is what makes "1e-09" come out for 1e-9 rather than the
 * 17 digits a scaled double would give. The largest number involved is
 * below 2^1140 (a subnormal scaled by 10^324), inside BIG_LIMBS * 32 bits.
 * Rejected: printf("%.17g") (may allocate; not shortest) and trying
 * precisions against strtod (also may allocate). */

#define BIG_LIMBS 40

typedef struct {
    int n; /* limbs in use; d[n-1] != 0 unless n == 0 */
    uint32_t d[BIG_LIMBS];
} big_t;

static void big_set(big_t *b, uint64_t v)
{
    b->n = 0;
    while (v) {
        b->d[b->n++] = (uint32_t)v;
        v >>= 32;
    }
}

static void big_mul_small(big_t *b, uint32_t m)
{
    uint64_t carry = 0;
    for (int i = 0; i < b->n; i++) {
        uint64_t p = (uint64_t)b->d[i] * m + carry;
        b->d[i] = (uint32_t)p;
        carry = p >> 32;
    }
    if (carry && b->n < BIG_LIMBS)
        b->d[b->n++] = (uint32_t)carry;
}

static void big_mul_pow10(big_t *b, int k)
{
    for (; k >= 9; k -= 9)
        big_mul_small(b, 1000000000u);
    for (; k > 0; k--)
        big_mul_small(b, 10);
}

static void big_shl(big_t *b, int k)
{
    if (b->n == 0)
        return;
    int limbs = k / 32, bits = k % 32;
    if (bits) {
        uint32_t carry = 0;
        for (int i = 0; i < b->n; i++) {
            uint32_t v = b->d[i];
            b->d[i] = v << bits | carry;
            carry = v >> (32 - bits);
        }
        if (carry && b->n < BIG_LIMBS)
            b->d[b->n++] = carry;
    }
    if (limbs) {
        int n = b->n + limbs < BIG_LIMBS ? b->n + limbs : BIG_LIMBS;
        for (int i = n - 1; i >= limbs; i--)
            b->d[i] = b->d[i - limbs];
        for (int i = 0; i < limbs; i++)
            b->d[i] = 0;
        b->n = n;
    }
}

static int big_cmp(const big_t *a, const big_t *b)
{
    if (a->n != b->n)
        return a->n < b->n ? -1 : 1;
    for (int i = a->n - 1; i >= 0; i--)
        if (a->d[i] != b->d[i])
            return a->d[i] < b->d[i] ? -1 : 1;
    return 0;
}

static void big_add(big_t *out, const big_t *a, const big_t *b)
{
    uint64_t carry = 0;
    int n = a->n > b->n ? a->n : b->n;
    for (int i = 0; i < n; i++) {
        uint64_t s = carry + (i < a->n ? a->d[i] : 0) + (i < b->n ? b->d[i] : 0);
        out->d[i] = (uint32_t)s;
        carry = s >> 32;
    }
    out->n = n;
    if (carry && n < BIG_LIMBS)
        out->d[out->n++] = (uint32_t)carry;
}

/* a -= b, with a >= b. */
static void big_sub(big_t *a, const big_t *b)
{
    int64_t borrow = 0;
    for (int i = 0; i < a->n; i++) {
        int64_t s = (int64_t)a->d[i] - (i < b->n ? b->d[i] : 0) - borrow;
        borrow = s < 0;
        a->d[i] = (uint32_t)(s + (borrow ? (int64_t)1 << 32 : 0));
    }
    while (a->n && a->d[a->n - 1] == 0)
        a->n--;
}

/* Sign of (r + m) - s. */
static int big_cmp_sum(const big_t *r, const big_t *m, const big_t *s)
{
    big_t t;
    big_add(&t, r, m);
    return big_cmp(&t, s);
}

/* The shortest digits of x > 0 (finite) into digits[], without a point;
 * x == 0.d1d2... * 10^*point. Returns the number of digits (at most 17). */
static int shortest_digits(double x, char digits[20], int *point)
{
    int e2;
    double m = frexp(x, &e2); /* x = m * 2^e2, 0.5 <= m < 1 */
    uint64_t f = (uint64_t)ldexp(m, 53);
    int e = e2 - 53;
    if (e < -1074) { /* subnormal: the mantissa has fewer bits */
        f >>= -1074 - e;
        e = -1074;
    }
    /* The lower gap is half as wide at a power of two above the smallest
     * normal; the interval's ends are included when f is even (ties to even
     * on reading back). */
    int pow2 = f == (uint64_t)1 << 52 && e > -1074;
    int even = (f & 1) == 0;
    big_t r, s, mp, mm;
    big_set(&r, f);
    big_set(&s, 1);
    big_set(&mp, 1);
    big_set(&mm, 1);
    if (e >= 0) {
        big_shl(&r, e + 1 + pow2);
        big_shl(&s, 1 + pow2);
        big_shl(&mp, e + pow2);
        big_shl(&mm, e);
    } else {
        big_shl(&r, 1 + pow2);
        big_shl(&s, -e + 1 + pow2);
        big_shl(&mp, pow2);
    }
    int k = (int)ceil(log10(x) - 1e-10);
    if (k >= 0) {
        big_mul_pow10(&s, k);
    } else {
        big_mul_pow10(&r, -k);
        big_mul_pow10(&mp, -k);
        big_mul_pow10(&mm, -k);
    }
    /* Fix the estimate so that 10^(k-1) <= high < 10^k. */
    for (;;) {
        int c = big_cmp_sum(&r, &mp, &s);
        if (c > 0 || (c == 0 && even)) {
            big_mul_small(&s, 10);
            k++;
            continue;
        }
        big_t t;
        big_add(&t, &r, &mp);
        big_mul_small(&t, 10);
        c = big_cmp(&t, &s);
        if (c < 0 || (c == 0 && !even)) {
            big_mul_small(&r, 10);
            big_mul_small(&mp, 10);
            big_mul_small(&mm, 10);
            k--;
            continue;
        }
        break;
    }
    int n = 0;
    for (;;) {
        big_mul_small(&r, 10);
        big_mul_small(&mp, 10);
        big_mul_small(&mm, 10);
        int d = 0;
        while (big_cmp(&r, &s) >= 0) {
            big_sub(&r, &s);
            d++;
        }
        int c = big_cmp(&r, &mm);
        int low = c < 0 || (c == 0 && even);
        c = big_cmp_sum(&r, &mp, &s);
        int high = c > 0 || (c == 0 && even);
        if (!low && !high && n < 17) {
            digits[n++] = (char)('0' + d);
            continue;
        }
        if (low && high) {
            big_t twice = r;
            big_shl(&twice, 1);
            high = big_cmp(&twice, &s) >= 0;
        }
        d += high;
        /* The invariant high < 10^k keeps d <= 9; carry anyway rather
         * than print a ':' should it ever not. */
        while (d == 10 && n > 0) {
            d = digits[--n] - '0' + 1;
        }
        if (d == 10) {
            d = 1;
            k++;
        }
        digits[n++] = (char)('0' + d);
        break;
    }
    *point = k;
    return n;
}

size_t hs_prom_format_f64(double x, char *buf, size_t cap)
{
    char out[32];
    size_t n = 0;
    if (isnan(x)) {
        memcpy(out, "NaN", n = 3);
    } else if (isinf(x)) {
        memcpy(out, x > 0 ? "+Inf" : "-Inf", n = 4);
    } else if (x == 0) {
        out[n++] = '0'; /* "-0" too, as client_golang writes it */
    } else {
        char digits[20];
        int point;
        if (x < 0)
            out[n++] = '-';
        int nd = shortest_digits(fabs(x), digits, &point);
        int exp = point - 1;
        if (exp < -4 || exp >= 6) {
            /* Go's %e: d[.ddd]e±XX, at least two exponent digits; Go's 'g'
             * with shortest precision picks it for exponents outside
             * [-4, 6) whatever the digit count. */
            out[n++] = digits[0];
            if (nd > 1) {
                out[n++] = '.';
                for (int i = 1; i < nd; i++)
                    out[n++] = digits[i];
            }
            out[n++] = 'e';
            out[n++] = exp < 0 ? '-' : '+';
            int a = exp < 0 ? -exp : exp;
            if (a >= 100)
                out[n++] = (char)('0' + a / 100);
            out[n++] = (char)('0' + a / 10 % 10);
            out[n++] = (char)('0' + a % 10);
        } else {
            if (point <= 0) {
                out[n++] = '0';
            } else {
                for (int i = 0; i < point; i++)
                    out[n++] = i < nd ? digits[i] : '0';
            }
            if (nd > point) {
                out[n++] = '.';
                for (int i = point; i < nd; i++)
                    out[n++] = i < 0 ? '0' : digits[i];
            }
        }
    }
    if (n >= cap)
        return 0;
    memcpy(buf, out, n);
    buf[n] = '\0';
    return n;
}
