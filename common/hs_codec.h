/* hs_codec.h - little-endian encoding and bounds-checked decoding of dump
 * records. The encoder never calls malloc itself: the caller supplies the
 * buffer growth function (the interposer grows with mmap, the CLI with
 * realloc). The decoder never reads past its buffer; any overrun sets err. */
#ifndef HS_CODEC_H
#define HS_CODEC_H

#include <stddef.h>
#include <stdint.h>

typedef struct hs_enc hs_enc_t;
/* Returns a buffer of at least new_cap bytes holding the first old_len
 * bytes of old (which it may release), or NULL on failure. */
typedef uint8_t *(*hs_enc_grow_fn)(uint8_t *old, size_t old_len, size_t new_cap);

struct hs_enc {
    uint8_t *buf;
    size_t len, cap;
    int failed; /* sticky: an allocation failed, the content is unusable */
    hs_enc_grow_fn grow;
};

void hs_enc_init(hs_enc_t *enc, hs_enc_grow_fn grow);
int hs_enc_reserve(hs_enc_t *enc, size_t extra);
void hs_enc_u8(hs_enc_t *enc, uint8_t v);
void hs_enc_u32(hs_enc_t *enc, uint32_t v);
void hs_enc_u64(hs_enc_t *enc, uint64_t v);
/* n little-endian u64s at once (one reserve, one copy on a little-endian
 * host): a stack's frames. */
void hs_enc_u64s(hs_enc_t *enc, const uint64_t *v, size_t n);
void hs_enc_f64(hs_enc_t *enc, double v);
void hs_enc_bytes(hs_enc_t *enc, const void *p, size_t n);
void hs_enc_str(hs_enc_t *enc, const char *s, size_t n); /* u32 length + bytes */
/* Overwrites the u32 or u64 written earlier at byte offset `at` (a count or
 * a figure known only once what follows it is encoded). Nothing when the
 * encoder has failed or the bytes were never written. */
void hs_enc_patch_u32(hs_enc_t *enc, size_t at, uint32_t v);
void hs_enc_patch_u64(hs_enc_t *enc, size_t at, uint64_t v);
/* Starts a record frame; returns its offset for hs_enc_record_end. */
size_t hs_enc_record_begin(hs_enc_t *enc, uint32_t type);
/* Patches the payload length and appends the checksum. */
void hs_enc_record_end(hs_enc_t *enc, size_t start);
void hs_enc_preamble(hs_enc_t *enc);

typedef struct {
    const uint8_t *p;
    size_t len, off;
    int err; /* sticky: a read ran past the end */
} hs_dec_t;

void hs_dec_init(hs_dec_t *dec, const void *p, size_t len);
uint8_t hs_dec_u8(hs_dec_t *dec);
uint32_t hs_dec_u32(hs_dec_t *dec);
uint64_t hs_dec_u64(hs_dec_t *dec);
double hs_dec_f64(hs_dec_t *dec);
/* Returns a pointer into the buffer (not terminated) and its length via *n,
 * or NULL with err set when the declared length overruns the buffer. */
const uint8_t *hs_dec_bytes(hs_dec_t *dec, size_t n);
const char *hs_dec_str(hs_dec_t *dec, size_t *n);
static inline size_t hs_dec_remaining(const hs_dec_t *dec) { return dec->len - dec->off; }

uint32_t hs_crc32(uint32_t crc, const void *p, size_t n);
static inline uint32_t hs_load_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

#endif
