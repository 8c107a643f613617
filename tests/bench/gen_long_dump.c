/* gen_long_dump.c - writes a synthetic 24-hour dump for the analyzer
 * benchmark: 2880 snapshots (30 s apart), 5000 stacks of 12-24 frames drawn
 * from 3000 code addresses in this machine's libc (so symbolization does
 * real work), with realistic churn: every snapshot ~10% of the stacks
 * allocate and free, a few grow slowly (leaks). Usage: gen_long_dump OUT */
#include <link.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs_codec.h"
#include "hs_format.h"

#define STACKS 5000
#define SNAPSHOTS 2880
#define ADDRS 3000

static uint8_t *grow(uint8_t *old, size_t old_len, size_t cap)
{
    (void)old_len;
    return realloc(old, cap);
}

static uint64_t text_lo, text_hi, bias;
static char libc_path[512];

static int find_libc(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    (void)data;
    if (!strstr(info->dlpi_name, "libc.so"))
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
            text_lo = info->dlpi_addr + ph->p_vaddr;
            text_hi = text_lo + ph->p_memsz;
            bias = info->dlpi_addr;
            snprintf(libc_path, sizeof(libc_path), "%s", info->dlpi_name);
            return 1;
        }
    }
    return 0;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

typedef struct {
    uint64_t allocs, alloc_bytes, frees, free_bytes;
    double ea, eab, ef, efb;
    int leak;
} counters_t;

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    dl_iterate_phdr(find_libc, NULL);
    if (!text_lo)
        return 1;
    FILE *out = fopen(argv[1], "wb");
    if (!out)
        return 1;
    static uint64_t addrs[ADDRS];
    for (int i = 0; i < ADDRS; i++)
        addrs[i] = text_lo + next() % (text_hi - text_lo) + 1;
    static counters_t c[STACKS + 1];
    hs_enc_t e;
    hs_enc_init(&e, grow);
    const uint64_t start = 1000000000ull, real0 = 1790000000ull * 1000000000ull;
    hs_enc_preamble(&e);
    size_t r = hs_enc_record_begin(&e, HS_REC_HEADER);
    hs_enc_u32(&e, 4242);
    hs_enc_u32(&e, 1);
    hs_enc_u64(&e, real0);
    hs_enc_u64(&e, start);
    hs_enc_u64(&e, 524288);
    hs_enc_u32(&e, 64);
    hs_enc_u32(&e, 30000);
    hs_enc_str(&e, "/usr/bin/synthetic-server", 25);
    hs_enc_str(&e, "synthetic-server\0--day", 22);
    hs_enc_str(&e, "bench", 5);
    hs_enc_record_end(&e, r);
    r = hs_enc_record_begin(&e, HS_REC_MAPPINGS);
    hs_enc_u64(&e, start);
    hs_enc_u32(&e, 1);
    hs_enc_u64(&e, text_lo);
    hs_enc_u64(&e, text_hi);
    hs_enc_u64(&e, text_lo - bias);
    hs_enc_u64(&e, bias);
    hs_enc_u32(&e, 0);
    hs_enc_str(&e, libc_path, strlen(libc_path));
    hs_enc_record_end(&e, r);
    for (uint32_t id = 1; id <= STACKS; id++) {
        uint32_t depth = 12 + (uint32_t)(next() % 13);
        r = hs_enc_record_begin(&e, HS_REC_STACK);
        hs_enc_u32(&e, id);
        hs_enc_u32(&e, depth);
        for (uint32_t f = 0; f < depth; f++)
            hs_enc_u64(&e, addrs[next() % ADDRS]);
        hs_enc_record_end(&e, r);
        c[id].leak = id % 500 == 0;
    }
    fwrite(e.buf, 1, e.len, out);
    for (uint32_t seq = 0; seq < SNAPSHOTS; seq++) {
        e.len = 0;
        uint64_t mono = start + (uint64_t)(seq + 1) * 30000000000ull;
        r = hs_enc_record_begin(&e, HS_REC_SNAPSHOT);
        hs_enc_u64(&e, mono);
        hs_enc_u64(&e, real0 + (mono - start));
        hs_enc_u32(&e, seq);
        hs_enc_u32(&e, seq + 1 == SNAPSHOTS ? HS_REASON_EXIT : HS_REASON_INTERVAL);
        uint64_t stats[HS_SNAPSHOT_STAT_COUNT] = {0};
        stats[HS_STAT_HEAP_IN_USE] = 200000000 + seq * 10000ull;
        stats[HS_STAT_RSS] = 300000000 + seq * 10000ull;
        stats[HS_STAT_LIVE_THREADS] = 16;
        stats[HS_STAT_STACKS] = STACKS;
        for (int i = 0; i < HS_SNAPSHOT_STAT_COUNT; i++)
            hs_enc_u64(&e, stats[i]);
        size_t count_at = e.len;
        hs_enc_u32(&e, 0);
        uint32_t rows = 0;
        for (uint32_t id = 1; id <= STACKS; id++) {
            if (!c[id].leak && next() % 10 != 0)
                continue;
            uint64_t n = 1 + next() % 8, size = 64 + next() % 4096;
            double w = 1.0 / -expm1(-(double)size / 524288.0);
            c[id].allocs += n;
            c[id].alloc_bytes += n * size;
            c[id].ea += n * w;
            c[id].eab += n * w * (double)size;
            if (!c[id].leak) {
                c[id].frees += n;
                c[id].free_bytes += n * size;
                c[id].ef += n * w;
                c[id].efb += n * w * (double)size;
            }
            hs_enc_u32(&e, id);
            hs_enc_u32(&e, 0);
            hs_enc_u64(&e, c[id].allocs);
            hs_enc_u64(&e, c[id].alloc_bytes);
            hs_enc_u64(&e, c[id].frees);
            hs_enc_u64(&e, c[id].free_bytes);
            hs_enc_f64(&e, c[id].ea);
            hs_enc_f64(&e, c[id].eab);
            hs_enc_f64(&e, c[id].ef);
            hs_enc_f64(&e, c[id].efb);
            rows++;
        }
        memcpy(e.buf + count_at, &rows, 4); /* little-endian host */
        hs_enc_record_end(&e, r);
        fwrite(e.buf, 1, e.len, out);
    }
    e.len = 0;
    r = hs_enc_record_begin(&e, HS_REC_END);
    hs_enc_u64(&e, start + (uint64_t)(SNAPSHOTS + 1) * 30000000000ull);
    hs_enc_u32(&e, HS_REASON_EXIT);
    hs_enc_record_end(&e, r);
    fwrite(e.buf, 1, e.len, out);
    free(e.buf);
    return fclose(out) ? 1 : 0;
}
