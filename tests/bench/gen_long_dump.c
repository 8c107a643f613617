/* gen_long_dump.c - writes a synthetic long-running dump for the analyzer
 * benchmark: 2880 snapshots a day (30 s apart), 5000 stacks of 12-24 frames
 * drawn from 3000 code addresses in this machine's libc (so symbolization
 * does real work), with realistic churn: every snapshot ~10% of the stacks
 * allocate and free, a few grow slowly (leaks).
 *
 * Usage: gen_long_dump [-d DAYS] OUT (DAYS 1-28, default 1).
 *
 * -d 1 is the historical 24-hour dump, byte for byte (flat load; the
 * libc addresses vary with ASLR only), so older figures stay comparable.
 * Longer runs look like a week-long server: the load follows a daily cycle
 * (0.4x at 03:00 to 1.6x at 15:00, weekends 0.6x; the run starts on a
 * Monday at midnight) and drives how many stacks change per snapshot (4% to
 * 16%, 10% on a weekday's average) and how much each allocates; the 10
 * leaking stacks leak per request (at the load's pace); 10 stacks are a
 * daily cache that only grows during the day and is flushed at 04:00; the
 * process figures (heap, RSS, threads, calls) follow the load, the leaks
 * and the cache. */
#include <link.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs_codec.h"
#include "hs_format.h"

#define STACKS 5000
#define snapshots__PD 2880
#define ADDRS 3000
#define MAX_DAYS 28

enum { CHURN, LEAK, DAILY_CACHE, WORKING_SET };

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
    int kind;
    uint64_t size; /* WORKING_SET: one block size */
} counters_t;

/* The load at seconds since the start (a Monday, 00:00): 1 + 0.6 cos over
 * the day, peaking at 15:00; Saturday and Sunday at 0.6 of a weekday. */
static double load_at(double t)
{
    const double pi = 3.14159265358979323846;
    double hour = fmod(t / 3600.0, 24.0);
    int weekday = (int)fmod(t / 86400.0, 7.0);
    return (1.0 + 0.6 * cos(2 * pi * (hour - 15.0) / 24.0)) * (weekday >= 5 ? 0.6 : 1.0);
}

static void usage(void) { fprintf(stderr, "usage: gen_long_dump [-d DAYS] OUT (DAYS 1-%d, default 1)\n", MAX_DAYS); }

int main(int argc, char **argv)
{
    int days = 1;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-d") == 0 && i + 1 < argc) {
            char *end;
            long d = strtol(argv[++i], &end, 10);
            if (*end || d < 1 || d > MAX_DAYS) {
                usage();
                return 2;
            }
            days = (int)d;
        } else if (!path && argv[i][0] != '-') {
            path = argv[i];
        } else {
            usage();
            return 2;
        }
    }
    if (!path) {
        usage();
        return 2;
    }
    /* One day keeps the historical flat load, byte for byte. */
    const int cycle = days > 1;
    const uint32_t snapshots = (uint32_t)days * snapshots__PD;
    dl_iterate_phdr(find_libc, NULL);
    if (!text_lo)
        return 1;
    FILE *out = fopen(path, "wb");
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
        c[id].kind = id % 500 == 0     ? LEAK
                     : !cycle          ? CHURN
                     : id % 500 == 250 ? DAILY_CACHE
                     : id % 250 == 100 ? WORKING_SET
                                       : CHURN;
        c[id].size = 256 + id % 2048;
    }
    uint64_t alloc_calls = 0, free_calls = 0, rss = 0;
    double est_inuse = 0; /* all stacks' sampled in-use estimate, last snapshot */
    fwrite(e.buf, 1, e.len, out);
    for (uint32_t seq = 0; seq < snapshots; seq++) {
        e.len = 0;
        uint64_t mono = start + (uint64_t)(seq + 1) * 30000000000ull;
        r = hs_enc_record_begin(&e, HS_REC_SNAPSHOT);
        hs_enc_u64(&e, mono);
        hs_enc_u64(&e, real0 + (mono - start));
        hs_enc_u32(&e, seq);
        hs_enc_u32(&e, seq + 1 == snapshots ? HS_REASON_EXIT : HS_REASON_INTERVAL);
        uint64_t stats[HS_SNAPSHOT_STAT_COUNT] = {0};
        const double t = (double)(seq + 1) * 30.0, hour = fmod(t / 3600.0, 24.0);
        const double load = cycle ? load_at(t) : 1.0;
        /* the daily cache is flushed once a day, at the snapshot after 04:00 */
        const int flush = cycle && hour >= 4.0 && hour - 30.0 / 3600 < 4.0;
        if (!cycle) {
            stats[HS_STAT_HEAP_IN_USE] = 200000000 + seq * 10000ull;
            stats[HS_STAT_RSS] = 300000000 + seq * 10000ull;
            stats[HS_STAT_LIVE_THREADS] = 16;
        } else {
            /* what the samples see (working set, leaks, cache) and 150 MB
             * they miss; RSS keeps most of a peak (the allocator returns
             * memory slowly) */
            double heap = 150e6 + est_inuse;
            stats[HS_STAT_HEAP_IN_USE] = (uint64_t)heap;
            uint64_t floor = (uint64_t)(heap * 1.25 + 40e6);
            rss = rss > floor ? rss - (rss - floor) / 64 : floor;
            stats[HS_STAT_RSS] = rss;
            stats[HS_STAT_LIVE_THREADS] = 8 + (uint64_t)lround(12 * load);
            alloc_calls += (uint64_t)(30000.0 * 30 * load);
            free_calls += (uint64_t)(30000.0 * 30 * load) - 200;
            stats[HS_STAT_ALLOC_CALLS] = alloc_calls;
            stats[HS_STAT_FREE_CALLS] = free_calls;
        }
        stats[HS_STAT_STACKS] = STACKS;
        for (int i = 0; i < HS_SNAPSHOT_STAT_COUNT; i++)
            hs_enc_u64(&e, stats[i]);
        size_t count_at = e.len;
        hs_enc_u32(&e, 0);
        uint32_t rows = 0;
        for (uint32_t id = 1; id <= STACKS; id++) {
            counters_t *k = &c[id];
            uint64_t n, size;
            if (!cycle) {
                if (k->kind != LEAK && next() % 10 != 0)
                    continue;
                n = 1 + next() % 8;
                size = 64 + next() % 4096;
            } else if (k->kind == DAILY_CACHE && flush) {
                n = size = 0; /* everything freed, nothing allocated */
                est_inuse -= k->eab - k->efb;
                k->frees = k->allocs;
                k->free_bytes = k->alloc_bytes;
                k->ef = k->ea;
                k->efb = k->eab;
            } else {
                /* churn: 10% of the stacks at a weekday's average load,
                 * up to 13 samples each, all freed within the interval;
                 * the working set moves every third snapshot or so; a
                 * leak or the cache gains a sample (512 KiB) about every
                 * 50 minutes, 13 MiB a day each */
                double p = k->kind == CHURN ? 0.1 * load : k->kind == WORKING_SET ? 0.3 : 0.01 * load;
                if ((double)(next() % 1000) >= 1000 * p)
                    continue;
                n = k->kind == CHURN         ? 1 + next() % (uint64_t)(1 + 8 * load)
                    : k->kind == WORKING_SET ? 1 + next() % 3
                                             : 1;
                size = k->kind == WORKING_SET ? k->size : 64 + next() % 4096;
            }
            /* samples freed: churn all, the working set down to 20 live
             * samples (10 MiB) at a load of 1 */
            uint64_t f = k->kind == CHURN ? n : 0;
            if (k->kind == WORKING_SET) {
                uint64_t live = k->allocs - k->frees + n, target = (uint64_t)lround(20 * load);
                f = live > target ? live - target : 0;
            }
            double w = n || f ? 1.0 / -expm1(-(double)size / 524288.0) : 0;
            est_inuse -= k->eab - k->efb;
            c[id].allocs += n;
            c[id].alloc_bytes += n * size;
            c[id].ea += n * w;
            c[id].eab += n * w * (double)size;
            c[id].frees += f;
            c[id].free_bytes += f * size;
            c[id].ef += f * w;
            c[id].efb += f * w * (double)size;
            est_inuse += k->eab - k->efb;
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
    hs_enc_u64(&e, start + (uint64_t)(snapshots + 1) * 30000000000ull);
    hs_enc_u32(&e, HS_REASON_EXIT);
    hs_enc_record_end(&e, r);
    fwrite(e.buf, 1, e.len, out);
    free(e.buf);
    return fclose(out) ? 1 : 0;
}
