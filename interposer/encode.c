/* encode.c - owns the byte layout of every record the library writes
 * (common/hs_format.h, common/FORMAT.md): the file preamble and HEADER,
 * MAPPINGS, STACK, SNAPSHOT, THREAD, END, LEAK and THREAD_SITES, in the order
 * of enum hs_record_type, as common/hs_reader.c decodes them. It only turns
 * values into bytes: it never reads a table, a clock or /proc (snapshot.c,
 * threads.c and livecheck.c gather what goes in), never allocates with
 * malloc (the buffer grows through the caller's hs_enc_t, mmap in the
 * library) and calls nothing of ours but common/hs_codec.c. Every record is
 * framed by hs_enc_record_begin/end; a count or figure known only at the end
 * is patched in with hs_enc_patch_*. */
#include "encode.h"

#include <string.h>

/* The value of every "u32 reserved (0)" field of hs_format.h. */
#define RESERVED 0u

void hs_encode_header(hs_enc_t *enc, const hs_identity_t *id, const hs_config_t *cfg)
{
    hs_enc_preamble(enc);
    size_t rec = hs_enc_record_begin(enc, HS_REC_HEADER);
    hs_enc_u32(enc, id->pid);
    hs_enc_u32(enc, id->ppid);
    hs_enc_u64(enc, id->start_real_ns);
    hs_enc_u64(enc, id->start_mono_ns);
    hs_enc_u64(enc, cfg->sample_rate);
    hs_enc_u32(enc, cfg->max_depth);
    hs_enc_u32(enc, (uint32_t)cfg->interval_ms);
    hs_enc_str(enc, id->exe, strlen(id->exe));
    hs_enc_str(enc, id->cmdline, id->cmdline_len);
    hs_enc_str(enc, id->host, strlen(id->host));
    hs_enc_record_end(enc, rec);
}

/* ---- records with a count known at their end --------------------------------- */

static void list_begin(hs_enc_t *enc, hs_encode_list_t *list, uint32_t type, uint64_t mono_ns)
{
    list->record = hs_enc_record_begin(enc, type);
    hs_enc_u64(enc, mono_ns);
    list->count_at = enc->len;
    list->stats_at = 0;
    list->count = 0;
    hs_enc_u32(enc, 0); /* patched by list_end */
}

static void list_end(hs_enc_t *enc, hs_encode_list_t *list)
{
    hs_enc_patch_u32(enc, list->count_at, list->count);
    hs_enc_record_end(enc, list->record);
}

void hs_encode_mappings_begin(hs_enc_t *enc, hs_encode_list_t *list, uint64_t mono_ns)
{
    list_begin(enc, list, HS_REC_MAPPINGS, mono_ns);
}

void hs_encode_mapping(hs_enc_t *enc, hs_encode_list_t *list, const hs_encode_mapping_t *m)
{
    hs_enc_u64(enc, m->start);
    hs_enc_u64(enc, m->end);
    hs_enc_u64(enc, m->file_offset);
    hs_enc_u64(enc, m->load_bias);
    hs_enc_u32(enc, m->build_id_len);
    hs_enc_bytes(enc, m->build_id, m->build_id_len);
    hs_enc_str(enc, m->path, strlen(m->path));
    list->count++;
}

void hs_encode_mappings_end(hs_enc_t *enc, hs_encode_list_t *list) { list_end(enc, list); }

void hs_encode_stack(hs_enc_t *enc, uint32_t stack_id, const uintptr_t *frames, uint32_t depth)
{
    size_t rec = hs_enc_record_begin(enc, HS_REC_STACK);
    hs_enc_u32(enc, stack_id);
    hs_enc_u32(enc, depth);
    _Static_assert(sizeof(uintptr_t) == sizeof(uint64_t), "frames are written as u64s");
    hs_enc_u64s(enc, (const uint64_t *)frames, depth);
    hs_enc_record_end(enc, rec);
}

/* The stats sit between the head and the row count, so they are written as
 * zeros first and patched at the end, once the rows have summed them. */
void hs_encode_snapshot_begin(hs_enc_t *enc, hs_encode_list_t *rows, uint64_t mono_ns, uint64_t real_ns, uint32_t seq,
                              uint32_t reason)
{
    rows->record = hs_enc_record_begin(enc, HS_REC_SNAPSHOT);
    hs_enc_u64(enc, mono_ns);
    hs_enc_u64(enc, real_ns);
    hs_enc_u32(enc, seq);
    hs_enc_u32(enc, reason);
    rows->stats_at = enc->len;
    for (int i = 0; i < HS_SNAPSHOT_STAT_COUNT; i++)
        hs_enc_u64(enc, 0);
    rows->count_at = enc->len;
    rows->count = 0;
    hs_enc_u32(enc, 0);
}

static uint64_t f64_bits(double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    return bits;
}

/* One row as nine little-endian u64s written at once (the stack id and the
 * reserved u32 make the first): a snapshot of a program with many stacks
 * writes one per stack that changed. */
void hs_encode_snapshot_row(hs_enc_t *enc, hs_encode_list_t *rows, const hs_encode_row_t *row)
{
    const uint64_t words[9] = {
        (uint64_t)row->stack_id | (uint64_t)RESERVED << 32,
        row->alloc_count,
        row->alloc_bytes,
        row->free_count,
        row->free_bytes,
        f64_bits(row->est_alloc_objects),
        f64_bits(row->est_alloc_bytes),
        f64_bits(row->est_free_objects),
        f64_bits(row->est_free_bytes),
    };
    _Static_assert(sizeof(words) == HS_ROW_LEN, "a snapshot row is HS_ROW_LEN bytes");
    hs_enc_u64s(enc, words, 9);
    rows->count++;
}

void hs_encode_snapshot_end(hs_enc_t *enc, hs_encode_list_t *rows, const uint64_t stats[HS_SNAPSHOT_STAT_COUNT])
{
    for (int i = 0; i < HS_SNAPSHOT_STAT_COUNT; i++)
        hs_enc_patch_u64(enc, rows->stats_at + (size_t)i * sizeof(uint64_t), stats[i]);
    list_end(enc, rows);
}

void hs_encode_thread(hs_enc_t *enc, const hs_encode_thread_t *ev)
{
    size_t rec = hs_enc_record_begin(enc, HS_REC_THREAD);
    hs_enc_u64(enc, ev->mono_ns);
    hs_enc_u32(enc, ev->event);
    hs_enc_u32(enc, ev->tid);
    hs_enc_u32(enc, ev->parent_tid);
    hs_enc_u32(enc, ev->stack_id);
    hs_enc_u64(enc, ev->start_routine);
    hs_enc_record_end(enc, rec);
}

void hs_encode_end(hs_enc_t *enc, uint64_t mono_ns, uint32_t reason)
{
    size_t rec = hs_enc_record_begin(enc, HS_REC_END);
    hs_enc_u64(enc, mono_ns);
    hs_enc_u32(enc, reason);
    hs_enc_record_end(enc, rec);
}

void hs_encode_leak(hs_enc_t *enc, const hs_encode_leak_t *leak)
{
    size_t rec = hs_enc_record_begin(enc, HS_REC_LEAK);
    hs_enc_u64(enc, leak->mono_ns);
    hs_enc_f64(enc, leak->rate_bytes_per_sec);
    hs_enc_f64(enc, leak->growth_bytes);
    hs_enc_f64(enc, leak->window_seconds);
    hs_enc_f64(enc, leak->confidence);
    hs_enc_u32(enc, leak->top_stack_id);
    hs_enc_u32(enc, RESERVED);
    hs_enc_str(enc, leak->message, strlen(leak->message));
    hs_enc_record_end(enc, rec);
}

void hs_encode_thread_sites_begin(hs_enc_t *enc, hs_encode_list_t *list, uint64_t mono_ns)
{
    list_begin(enc, list, HS_REC_THREAD_SITES, mono_ns);
}

void hs_encode_thread_site(hs_enc_t *enc, hs_encode_list_t *list, const hs_encode_thread_site_t *site)
{
    hs_enc_u32(enc, site->stack_id);
    hs_enc_u32(enc, RESERVED);
    hs_enc_u64(enc, site->start_routine);
    hs_enc_u64(enc, site->started);
    hs_enc_u64(enc, site->exited);
    list->count++;
}

void hs_encode_thread_sites_end(hs_enc_t *enc, hs_encode_list_t *list) { list_end(enc, list); }

void hs_encode_alert(hs_enc_t *enc, const hs_encode_alert_t *alert)
{
    size_t rec = hs_enc_record_begin(enc, HS_REC_ALERT);
    hs_enc_u64(enc, alert->mono_ns);
    hs_enc_u32(enc, alert->kind);
    hs_enc_u32(enc, alert->event);
    hs_enc_f64(enc, alert->value);
    hs_enc_u64(enc, alert->threshold);
    hs_enc_record_end(enc, rec);
}
