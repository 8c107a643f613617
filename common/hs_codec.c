/* hs_codec.c - byte-level encoding of dump records (see hs_format.h) and the
 * bounds-checked decoder the reader builds on. The library's snapshot
 * writer, a neighbour of the malloc hooks, encodes with it, so it must never
 * call malloc or stdio itself. */
#include "hs_codec.h"

#include <stdatomic.h>
#include <string.h>

#include "hs_format.h"

void hs_enc_init(hs_enc_t *enc, hs_enc_grow_fn grow)
{
    memset(enc, 0, sizeof(*enc));
    enc->grow = grow;
}

int hs_enc_reserve(hs_enc_t *enc, size_t extra)
{
    if (enc->failed)
        return -1;
    if (enc->len + extra <= enc->cap)
        return 0;
    size_t cap = enc->cap ? enc->cap : 4096;
    while (cap < enc->len + extra)
        cap *= 2;
    uint8_t *nbuf = enc->grow(enc->buf, enc->len, cap);
    if (!nbuf) {
        enc->failed = 1;
        return -1;
    }
    enc->buf = nbuf;
    enc->cap = cap;
    return 0;
}

void hs_enc_bytes(hs_enc_t *enc, const void *p, size_t n)
{
    if (hs_enc_reserve(enc, n))
        return;
    if (n)
        memcpy(enc->buf + enc->len, p, n);
    enc->len += n;
}

void hs_enc_u8(hs_enc_t *enc, uint8_t v) { hs_enc_bytes(enc, &v, 1); }

void hs_enc_u32(hs_enc_t *enc, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    hs_enc_bytes(enc, b, 4);
}

void hs_enc_u64(hs_enc_t *enc, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    hs_enc_bytes(enc, b, 8);
}

void hs_enc_u64s(hs_enc_t *enc, const uint64_t *v, size_t n)
{
    if (hs_enc_reserve(enc, n * 8))
        return;
    uint8_t *out = enc->buf + enc->len;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (n)
        memcpy(out, v, n * 8);
#else
    for (size_t k = 0; k < n; k++)
        for (int i = 0; i < 8; i++)
            out[8 * k + i] = (uint8_t)(v[k] >> (8 * i));
#endif
    enc->len += n * 8;
}

void hs_enc_f64(hs_enc_t *enc, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    hs_enc_u64(enc, bits);
}

void hs_enc_str(hs_enc_t *enc, const char *s, size_t n)
{
    hs_enc_u32(enc, (uint32_t)n);
    hs_enc_bytes(enc, s, n);
}

void hs_enc_patch_u32(hs_enc_t *enc, size_t at, uint32_t v)
{
    if (enc->failed || at > enc->len || enc->len - at < 4)
        return;
    uint8_t *p = enc->buf + at;
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

void hs_enc_patch_u64(hs_enc_t *enc, size_t at, uint64_t v)
{
    hs_enc_patch_u32(enc, at, (uint32_t)v);
    hs_enc_patch_u32(enc, at + 4, (uint32_t)(v >> 32));
}

size_t hs_enc_record_begin(hs_enc_t *enc, uint32_t type)
{
    size_t start = enc->len;
    hs_enc_u32(enc, type);
    hs_enc_u32(enc, 0); /* patched by hs_enc_record_end */
    return start;
}

void hs_enc_record_end(hs_enc_t *enc, size_t start)
{
    if (enc->failed)
        return;
    size_t payload_len = enc->len - start - HS_RECORD_HEAD_LEN;
    if (payload_len > HS_RECORD_MAX_PAYLOAD) {
        enc->failed = 1; /* a reader would reject it as corrupt: never write it */
        return;
    }
    hs_enc_patch_u32(enc, start + 4, (uint32_t)payload_len); /* after the type */
    hs_enc_u32(enc, hs_crc32(0, enc->buf + start, enc->len - start));
}

void hs_enc_preamble(hs_enc_t *enc)
{
    hs_enc_bytes(enc, HS_MAGIC, HS_MAGIC_LEN);
    hs_enc_u32(enc, HS_FORMAT_VERSION);
    hs_enc_u32(enc, 0);
}

void hs_dec_init(hs_dec_t *dec, const void *p, size_t len)
{
    dec->p = p;
    dec->len = len;
    dec->off = 0;
    dec->err = 0;
}

const uint8_t *hs_dec_bytes(hs_dec_t *dec, size_t n)
{
    if (dec->err || n > dec->len - dec->off) {
        dec->err = 1;
        return NULL;
    }
    const uint8_t *at = dec->p + dec->off;
    dec->off += n;
    return at;
}

uint8_t hs_dec_u8(hs_dec_t *dec)
{
    const uint8_t *b = hs_dec_bytes(dec, 1);
    return b ? b[0] : 0;
}

uint32_t hs_dec_u32(hs_dec_t *dec)
{
    const uint8_t *b = hs_dec_bytes(dec, 4);
    return b ? hs_load_u32(b) : 0;
}

uint64_t hs_dec_u64(hs_dec_t *dec)
{
    const uint8_t *b = hs_dec_bytes(dec, 8);
    return b ? (uint64_t)hs_load_u32(b) | (uint64_t)hs_load_u32(b + 4) << 32 : 0;
}

double hs_dec_f64(hs_dec_t *dec)
{
    uint64_t bits = hs_dec_u64(dec);
    double v;
    memcpy(&v, &bits, sizeof(v));
    return v;
}

const char *hs_dec_str(hs_dec_t *dec, size_t *n)
{
    uint32_t len = hs_dec_u32(dec);
    const uint8_t *b = hs_dec_bytes(dec, len);
    *n = b ? len : 0;
    return (const char *)b;
}

/* Table-driven CRC-32 (IEEE, reflected, as zlib's crc32). The byte table is
 * built at compile time so that no initialisation races exist in the
 * interposer. */
#define HS_CRC_POLY 0xEDB88320u
#define C1(c) (((c)&1) ? (HS_CRC_POLY ^ ((c) >> 1)) : ((c) >> 1))
#define C8(c) C1(C1(C1(C1(C1(C1(C1(C1(c))))))))
#define R4(n) C8(n), C8(n + 1), C8(n + 2), C8(n + 3)
#define R16(n) R4(n), R4(n + 4), R4(n + 8), R4(n + 12)
#define R64(n) R16(n), R16(n + 16), R16(n + 32), R16(n + 48)
static const uint32_t crc_table[256] = {R64(0u), R64(64u), R64(128u), R64(192u)};

/* Slicing by 8: slice[k][i] is the CRC of byte i followed by k + 1 zero
 * bytes, so eight bytes take eight look-ups instead of eight dependent
 * steps (a byte at a time was 4% of a rate-1 CPython run, writing 26 MiB
 * of stacks). Built by the first caller that claims them; any caller
 * meanwhile uses the byte table, so there is no wait and no race. */
static uint32_t crc_slice[7][256];
static _Atomic int crc_slice_state; /* 0 unbuilt, 1 being built, 2 ready */

static int crc_slices_ready(void)
{
    int st = atomic_load_explicit(&crc_slice_state, memory_order_acquire);
    if (st == 2)
        return 1;
    if (st != 0 ||
        !atomic_compare_exchange_strong_explicit(&crc_slice_state, &st, 1, memory_order_acq_rel, memory_order_acquire))
        return 0;
    for (unsigned i = 0; i < 256; i++) {
        uint32_t c = crc_table[i];
        for (int k = 0; k < 7; k++) {
            c = crc_table[c & 0xff] ^ (c >> 8);
            crc_slice[k][i] = c;
        }
    }
    atomic_store_explicit(&crc_slice_state, 2, memory_order_release);
    return 1;
}

uint32_t hs_crc32(uint32_t crc, const void *p, size_t n)
{
    const uint8_t *b = p;
    crc = ~crc;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (n >= 16 && crc_slices_ready()) {
        for (; n >= 8; b += 8, n -= 8) {
            uint32_t lo, hi;
            memcpy(&lo, b, 4);
            memcpy(&hi, b + 4, 4);
            lo ^= crc;
            crc = crc_slice[6][lo & 0xff] ^ crc_slice[5][(lo >> 8) & 0xff] ^ crc_slice[4][(lo >> 16) & 0xff] ^
                  crc_slice[3][lo >> 24] ^ crc_slice[2][hi & 0xff] ^ crc_slice[1][(hi >> 8) & 0xff] ^
                  crc_slice[0][(hi >> 16) & 0xff] ^ crc_table[hi >> 24];
        }
    }
#endif
    while (n--)
        crc = crc_table[(crc ^ *b++) & 0xff] ^ (crc >> 8);
    return ~crc;
}
