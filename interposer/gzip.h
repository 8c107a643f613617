/* gzip.h - gzip (RFC 1952) of a buffer in memory, without zlib (see gzip.c). */
#ifndef HS_GZIP_H
#define HS_GZIP_H

#include <stddef.h>
#include <stdint.h>

/* The most bytes hs_gzip writes for n bytes of input. */
size_t hs_gzip_bound(size_t n);
/* Compresses in[0, n) into out (hs_gzip_bound(n) bytes) as one gzip member
 * and returns its length. Never fails: without memory for its match tables
 * it writes stored (uncompressed) deflate blocks. Uses malloc. */
size_t hs_gzip(const void *in, size_t n, uint8_t *out);
/* CRC-32 (ISO 3309, the one gzip carries) of in[0, n), continuing crc (0 to start). */
uint32_t hs_gzip_crc32(uint32_t crc, const void *in, size_t n);

#endif
