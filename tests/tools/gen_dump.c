/* gen_dump.c - writes a small synthetic dump with known values for
 * tests/integration/cli.sh (header, two mapping sets, three stacks, three
 * snapshots, two thread events, END). It uses hs_codec's encoder, the same
 * one the interposer writes with, and must never depend on hs_reader: the
 * test checks the reader against values fixed here.
 * usage: gen_dump [--no-end] [--thread-sites] [--break KIND] [--flip N] OUT;
 * prints "TYPE OFFSET TOTAL_LEN" per record. --flip xors byte N with 0xff.
 * --thread-sites adds two THREAD_SITES records (counts the THREAD records
 * lack: 5 started, 4 exited in all). --break writes a file whose records are
 * each well-formed but that breaks a cross-record rule: dup-stack,
 * unknown-row, repeat-row, seq, thread-stack, sites-stack (implies
 * --thread-sites). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs_codec.h"
#include "hs_format.h"

static uint8_t *grow(uint8_t *old, size_t old_len, size_t new_cap)
{
    (void)old_len;
    return realloc(old, new_cap);
}

static const char *const names[] = {"?",      "HEADER", "MAPPINGS", "STACK",       "SNAPSHOT",
                                    "THREAD", "END",    "LEAK",     "THREAD_SITES"};

static void end_record(hs_enc_t *e, size_t start)
{
    hs_enc_record_end(e, start);
    printf("%s %zu %zu\n", names[hs_load_u32(e->buf + start)], start, e->len - start);
}

static void mapping(hs_enc_t *e, uint64_t start, uint64_t end, uint64_t off, uint64_t bias, uint32_t build_id_len,
                    const char *path)
{
    hs_enc_u64(e, start);
    hs_enc_u64(e, end);
    hs_enc_u64(e, off);
    hs_enc_u64(e, bias);
    hs_enc_u32(e, build_id_len);
    for (uint32_t i = 0; i < build_id_len; i++)
        hs_enc_u8(e, (uint8_t)(i + 1));
    hs_enc_str(e, path, strlen(path));
}

static void stack(hs_enc_t *e, uint32_t id, uint32_t depth, const uint64_t *frames)
{
    size_t at = hs_enc_record_begin(e, HS_REC_STACK);
    hs_enc_u32(e, id);
    hs_enc_u32(e, depth);
    for (uint32_t i = 0; i < depth; i++)
        hs_enc_u64(e, frames[i]);
    end_record(e, at);
}

static void row(hs_enc_t *e, uint32_t id, uint64_t allocs, uint64_t bytes, uint64_t frees, uint64_t free_bytes,
                double est_objects, double est_bytes, double est_free_objects, double est_free_bytes)
{
    hs_enc_u32(e, id);
    hs_enc_u32(e, 0);
    hs_enc_u64(e, allocs);
    hs_enc_u64(e, bytes);
    hs_enc_u64(e, frees);
    hs_enc_u64(e, free_bytes);
    hs_enc_f64(e, est_objects);
    hs_enc_f64(e, est_bytes);
    hs_enc_f64(e, est_free_objects);
    hs_enc_f64(e, est_free_bytes);
}

static size_t snapshot_begin(hs_enc_t *e, uint64_t mono, uint64_t real, uint32_t seq, uint32_t reason,
                             uint64_t stat_base, uint32_t rows)
{
    size_t at = hs_enc_record_begin(e, HS_REC_SNAPSHOT);
    hs_enc_u64(e, mono);
    hs_enc_u64(e, real);
    hs_enc_u32(e, seq);
    hs_enc_u32(e, reason);
    for (uint64_t i = 0; i < HS_SNAPSHOT_STAT_COUNT; i++)
        hs_enc_u64(e, stat_base + i);
    hs_enc_u32(e, rows);
    return at;
}

static void thread(hs_enc_t *e, uint64_t mono, uint32_t event, uint32_t tid, uint32_t stack_id)
{
    size_t at = hs_enc_record_begin(e, HS_REC_THREAD);
    hs_enc_u64(e, mono);
    hs_enc_u32(e, event);
    hs_enc_u32(e, tid);
    hs_enc_u32(e, 4242);
    hs_enc_u32(e, stack_id);
    hs_enc_u64(e, 0x401500);
    end_record(e, at);
}

/* One THREAD_SITES record: n entries of (stack id, routine, started, exited). */
static void thread_sites(hs_enc_t *e, uint64_t mono, uint32_t n, const uint64_t (*entries)[4])
{
    size_t at = hs_enc_record_begin(e, HS_REC_THREAD_SITES);
    hs_enc_u64(e, mono);
    hs_enc_u32(e, n);
    for (uint32_t i = 0; i < n; i++) {
        hs_enc_u32(e, (uint32_t)entries[i][0]);
        hs_enc_u32(e, 0);
        hs_enc_u64(e, entries[i][1]);
        hs_enc_u64(e, entries[i][2]);
        hs_enc_u64(e, entries[i][3]);
    }
    end_record(e, at);
}

int main(int argc, char **argv)
{
    int with_end = 1, with_sites = 0;
    const char *out = NULL, *brk = "";
    long flip = -1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--no-end") == 0)
            with_end = 0;
        else if (strcmp(argv[i], "--thread-sites") == 0)
            with_sites = 1;
        else if (strcmp(argv[i], "--break") == 0 && i + 1 < argc)
            brk = argv[++i];
        else if (strcmp(argv[i], "--flip") == 0 && i + 1 < argc)
            flip = strtol(argv[++i], NULL, 10);
        else
            out = argv[i];
    }
    if (!out) {
        fprintf(stderr, "usage: gen_dump [--no-end] [--thread-sites] [--break KIND] [--flip N] OUT\n");
        return 2;
    }
    if (strcmp(brk, "sites-stack") == 0)
        with_sites = 1;
    const uint64_t t0 = 1700000000123456789ull; /* 2023-11-14T22:13:20.123Z */
    hs_enc_t e;
    hs_enc_init(&e, grow);
    hs_enc_preamble(&e);

    size_t at = hs_enc_record_begin(&e, HS_REC_HEADER);
    hs_enc_u32(&e, 4242);
    hs_enc_u32(&e, 1);
    hs_enc_u64(&e, t0);
    hs_enc_u64(&e, 5000000000ull);
    hs_enc_u64(&e, 524288);
    hs_enc_u32(&e, 64);
    hs_enc_u32(&e, 2500);
    hs_enc_str(&e, "/usr/bin/demo", 13);
    hs_enc_str(&e, "demo\0--flag\0two words\0", 22);
    hs_enc_str(&e, "testhost", 8);
    end_record(&e, at);

    /* The first set maps libold.so where the second maps libc: stack 1 was
     * written under the first set and must resolve through it. */
    at = hs_enc_record_begin(&e, HS_REC_MAPPINGS);
    hs_enc_u64(&e, 5000000100ull);
    hs_enc_u32(&e, 2);
    mapping(&e, 0x401000, 0x402000, 0x1000, 0, 20, "/usr/bin/demo");
    mapping(&e, 0x7f0000001000, 0x7f0000100000, 0x1000, 0x7f0000000000, 0, "/usr/lib/libold.so");
    end_record(&e, at);

    const uint64_t s1[] = {0x401123, 0x7f0000012345, 0x401456};
    stack(&e, 1, 3, s1);

    at = hs_enc_record_begin(&e, HS_REC_MAPPINGS);
    hs_enc_u64(&e, 5500000000ull);
    hs_enc_u32(&e, 3);
    mapping(&e, 0x401000, 0x402000, 0x1000, 0, 20, "/usr/bin/demo");
    mapping(&e, 0x7f0000001000, 0x7f0000100000, 0x1000, 0x7f0000000000, 0, "/usr/lib/libc.so.6");
    mapping(&e, 0x7f1000000000, 0x7f1000001000, 0, 0x7f0ffff00000, 4, "");
    end_record(&e, at);

    const uint64_t s2[] = {0x7f0000054321, 0xdead0000, 0x7f1000000010};
    stack(&e, 2, 3, s2);
    /* Ids are dense from 1 in real dumps; a far one takes the model's hash path. */
    const uint64_t s3[] = {0x401300};
    stack(&e, 3000000000u, 1, s3);
    if (strcmp(brk, "dup-stack") == 0)
        stack(&e, 1, 1, s3);

    thread(&e, 5100000000ull, HS_THREAD_STARTED, 4243, strcmp(brk, "thread-stack") == 0 ? 7 : 3000000000u);
    if (with_sites) {
        /* Cumulative counts: the one THREAD record above, and 3 threads
         * whose THREAD records did not fit in the writer's queue. */
        const uint64_t first[][4] = {{3000000000u, 0x401500, 1, 0}, {1, 0x401500, 3, 2}};
        thread_sites(&e, 5100000001ull, 2, first);
    }

    at = snapshot_begin(&e, 6000000000ull, t0 + 1000000000ull, 0, HS_REASON_INTERVAL, 100, 1);
    row(&e, strcmp(brk, "unknown-row") == 0 ? 9 : 1, 2, 1000, 0, 0, 2.2, 1100.0, 0, 0);
    end_record(&e, at);

    at = snapshot_begin(&e, 7000000000ull, t0 + 2000000000ull, 1, HS_REASON_SIGNAL, 200, 2);
    row(&e, 2, 1, 64, 0, 0, 8192.4, 524288.0, 0, 0);
    row(&e, 1, 4, 2000, 1, 500, 4.4, 2200.6, 1.1, 550.2);
    end_record(&e, at);

    thread(&e, 8000000000ull, HS_THREAD_EXITED, 4243, 0);
    if (with_sites) {
        /* Only changed entries; stack 1's entry keeps 3 started, 2 exited.
         * Then the overflow site (stack 0, routine 0): 1 more thread. */
        const uint64_t second[][4] = {{strcmp(brk, "sites-stack") == 0 ? 7 : 3000000000u, 0x401500, 1, 1},
                                      {0, 0, 1, 1}};
        thread_sites(&e, 8000000001ull, 2, second);
    }

    /* Stack 1 has no row here: it keeps its seq-1 row. */
    int repeat = strcmp(brk, "repeat-row") == 0;
    at = snapshot_begin(&e, 8500000000ull, t0 + 3500000000ull, strcmp(brk, "seq") == 0 ? 1 : 2, HS_REASON_EXIT, 300,
                        repeat ? 2 : 1);
    row(&e, 2, 3, 192, 1, 64, 24577.2, 1572864.0, 8192.4, 524288.0);
    if (repeat)
        row(&e, 2, 3, 192, 1, 64, 24577.2, 1572864.0, 8192.4, 524288.0);
    end_record(&e, at);

    if (with_end) {
        at = hs_enc_record_begin(&e, HS_REC_END);
        hs_enc_u64(&e, 8500000001ull);
        hs_enc_u32(&e, HS_REASON_EXIT);
        end_record(&e, at);
    }
    if (e.failed) {
        fprintf(stderr, "gen_dump: out of memory\n");
        return 1;
    }
    if (flip >= 0 && (size_t)flip < e.len)
        e.buf[flip] ^= 0xff;
    FILE *f = fopen(out, "wb");
    if (!f || fwrite(e.buf, 1, e.len, f) != e.len || fclose(f) != 0) {
        perror(out);
        return 1;
    }
    free(e.buf);
    return 0;
}
