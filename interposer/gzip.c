/* gzip.c - compresses the live service's and the periodic files' pprof
 * profiles: one deflate block with the fixed Huffman codes (RFC 1951
 * 3.2.6) and greedy LZ77 over a 32 KiB window with short hash chains, in a
 * gzip wrapper. Protobuf profiles repeat little-endian varint ids and
 * strings, so this gets most of zlib's ratio (measured: docs/live-heap.md).
 * Rejected: linking -lz (libz would load into every host at start, for a
 * feature most runs never use) and dlopen("libz.so.1") (dlopen takes the
 * loader's lock from a malloc safe point and is forbidden by
 * scripts/audit-lib.sh). Uses malloc for its match tables: only where malloc
 * is safe (the server thread, the snapshot stack); falls back to stored
 * blocks without them. */
#include "gzip.h"

#include <stdlib.h>
#include <string.h>

#define WINDOW (1u << 15)
#define HASH_BITS 15
#define MIN_MATCH 3
#define MAX_MATCH 258
#define MAX_CHAIN 16
#define STORED_MAX 65535u
#define GZIP_HEADER 10
#define GZIP_TRAILER 8

uint32_t hs_gzip_crc32(uint32_t crc, const void *in, size_t n)
{
    uint32_t table[256];
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    const uint8_t *p = in;
    crc = ~crc;
    for (size_t i = 0; i < n; i++)
        crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

static size_t stored_size(size_t n) { return n + 5 * (n / STORED_MAX + 1); }

size_t hs_gzip_bound(size_t n)
{
    /* Fixed codes cost at most 31 bits per 3-byte match (8 + 5 length, 5 +
     * 13 distance) and 9 per literal; a result bigger than stored blocks is
     * rewritten as those, but is built in out first. */
    size_t fixed = n / 3 * 31 / 8 + n / 2 + 16;
    size_t stored = stored_size(n);
    return GZIP_HEADER + (fixed > stored ? fixed : stored) + GZIP_TRAILER;
}

typedef struct {
    uint8_t *out;
    size_t len;
    uint64_t bits;
    unsigned nbits;
} bits_t;

/* Appends the low n bits of v, least significant first (deflate's order for
 * everything but Huffman codes). n <= 32. */
static void put_bits(bits_t *b, uint32_t v, unsigned n)
{
    b->bits |= (uint64_t)v << b->nbits;
    b->nbits += n;
    while (b->nbits >= 8) {
        b->out[b->len++] = (uint8_t)b->bits;
        b->bits >>= 8;
        b->nbits -= 8;
    }
}

/* A Huffman code goes most significant bit first. */
static void put_code(bits_t *b, uint32_t code, unsigned n)
{
    uint32_t r = 0;
    for (unsigned i = 0; i < n; i++)
        r |= ((code >> i) & 1u) << (n - 1 - i);
    put_bits(b, r, n);
}

static void put_literal(bits_t *b, unsigned sym)
{
    if (sym < 144)
        put_code(b, 0x30 + sym, 8);
    else if (sym < 256)
        put_code(b, 0x190 + sym - 144, 9);
    else if (sym < 280)
        put_code(b, sym - 256, 7);
    else
        put_code(b, 0xC0 + sym - 280, 8);
}

static const uint16_t length_base[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                         31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
static const uint8_t length_extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                         2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const uint16_t dist_base[30] = {1,    2,    3,    4,    5,    7,    9,    13,    17,    25,
                                       33,   49,   65,   97,   129,  193,  257,  385,   513,   769,
                                       1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
static const uint8_t dist_extra[30] = {0, 0, 0, 0, 1, 1, 2, 2,  3,  3,  4,  4,  5,  5,  6,
                                       6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

static void put_match(bits_t *b, unsigned len, unsigned dist)
{
    unsigned l = 28;
    while (length_base[l] > len)
        l--;
    put_literal(b, 257 + l);
    put_bits(b, len - length_base[l], length_extra[l]);
    unsigned d = 29;
    while (dist_base[d] > dist)
        d--;
    put_code(b, d, 5);
    put_bits(b, dist - dist_base[d], dist_extra[d]);
}

static uint32_t hash3(const uint8_t *p)
{
    uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
    return (v * 2654435761u) >> (32 - HASH_BITS);
}

/* One fixed-Huffman block holding all of in. head[h] and prev[pos % WINDOW]
 * hold position + 1 (0: none). Returns the deflate stream's length. */
static size_t deflate_fixed(const uint8_t *in, size_t n, uint8_t *out, uint32_t *head, uint32_t *prev)
{
    bits_t b = {out, 0, 0, 0};
    put_bits(&b, 1, 1); /* BFINAL */
    put_bits(&b, 1, 2); /* BTYPE 01: fixed codes */
    size_t i = 0;
    while (i < n) {
        unsigned best = 0, best_dist = 0;
        if (i + MIN_MATCH <= n) {
            uint32_t h = hash3(in + i);
            size_t limit = n - i < MAX_MATCH ? n - i : MAX_MATCH;
            uint32_t cand = head[h];
            for (int chain = 0; cand && chain < MAX_CHAIN; chain++) {
                size_t pos = cand - 1;
                if (i - pos > WINDOW - 1)
                    break;
                size_t len = 0;
                while (len < limit && in[pos + len] == in[i + len])
                    len++;
                if (len > best) {
                    best = (unsigned)len;
                    best_dist = (unsigned)(i - pos);
                    if (len == limit)
                        break;
                }
                uint32_t next = prev[pos % WINDOW];
                if (next >= cand)
                    break; /* the slot was reused by a newer position */
                cand = next;
            }
        }
        size_t step = best >= MIN_MATCH ? best : 1;
        if (best >= MIN_MATCH)
            put_match(&b, best, best_dist);
        else
            put_literal(&b, in[i]);
        /* Index every position covered, so later matches can find them. */
        for (size_t k = 0; k < step; k++, i++) {
            if (i + MIN_MATCH > n)
                continue;
            uint32_t h = hash3(in + i);
            prev[i % WINDOW] = head[h];
            head[h] = (uint32_t)(i + 1);
        }
    }
    put_literal(&b, 256); /* end of block */
    if (b.nbits)
        put_bits(&b, 0, 8 - b.nbits);
    return b.len;
}

static size_t deflate_stored(const uint8_t *in, size_t n, uint8_t *out)
{
    size_t len = 0;
    do {
        size_t chunk = n > STORED_MAX ? STORED_MAX : n;
        out[len++] = chunk == n; /* BFINAL, BTYPE 00, aligned */
        out[len++] = (uint8_t)chunk;
        out[len++] = (uint8_t)(chunk >> 8);
        out[len++] = (uint8_t)~chunk;
        out[len++] = (uint8_t)(~chunk >> 8);
        memcpy(out + len, in, chunk);
        len += chunk;
        in += chunk;
        n -= chunk;
    } while (n);
    return len;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

size_t hs_gzip(const void *in, size_t n, uint8_t *out)
{
    /* ID1 ID2, CM deflate, no flags, no time, XFL 0, OS unix */
    static const uint8_t header[GZIP_HEADER] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
    memcpy(out, header, sizeof(header));
    size_t len = 0;
    uint32_t *head = calloc(1u << HASH_BITS, sizeof(uint32_t));
    uint32_t *prev = malloc(WINDOW * sizeof(uint32_t));
    if (head && prev && n >= MIN_MATCH)
        len = deflate_fixed(in, n, out + GZIP_HEADER, head, prev);
    free(head);
    free(prev);
    if (len == 0 || len > stored_size(n))
        len = deflate_stored(in, n, out + GZIP_HEADER);
    len += GZIP_HEADER;
    put_le32(out + len, hs_gzip_crc32(0, in, n));
    put_le32(out + len + 4, (uint32_t)n);
    return len + GZIP_TRAILER;
}
