/* fuzz_dump.c - libFuzzer target for everything that reads a dump: the input
 * bytes become a file (a memfd) that goes through the raw reader (framing and
 * every decoder) and through the analyzer's model (cross-record rules,
 * mapping lookup, thread callbacks), and every value either hands out is
 * read, so ASan sees any pointer into freed or foreign memory. It must never
 * keep state between inputs: each run opens and closes everything it uses.
 * Built and run by `make fuzz` (tests/integration/fuzz.sh runs that). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hs_reader.h"
#include "model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Folds values into a global so that no read is optimized away. */
static volatile uint64_t sink;

static void touch(const void *p, size_t n)
{
    const volatile uint8_t *b = p;
    uint64_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc += b[i];
    sink += acc;
}

static void touch_str(const char *s)
{
    if (s)
        touch(s, strlen(s) + 1);
}

static void touch_mapping(const hs_model_mapping_t *mm)
{
    sink += mm->start ^ mm->end ^ mm->file_offset ^ mm->load_bias ^ mm->set_index;
    if (mm->build_id_len > HS_BUILD_ID_MAX)
        abort(); /* the reader promised <= 64 */
    touch(mm->build_id, mm->build_id_len);
    touch_str(mm->path);
}

static void touch_stack(const hs_model_stack_t *s)
{
    if (s->depth > HS_MAX_DEPTH_LIMIT)
        abort();
    sink += s->id ^ s->last_changed_seq ^ (uint64_t)s->has_row;
    touch(&s->row, sizeof(s->row));
    for (uint32_t i = 0; i < s->depth; i++) {
        sink += s->frames[i];
        if (s->frame_mapping[i])
            touch_mapping(s->frame_mapping[i]);
    }
}

static void on_thread(void *ctx, const hs_model_thread_t *t)
{
    (*(uint64_t *)ctx)++;
    sink += t->monotonic_ns ^ t->event ^ t->tid ^ t->parent_tid ^ t->start_routine;
    if (t->creation_stack)
        touch_stack(t->creation_stack);
}

static void on_thread_site(void *ctx, const hs_model_thread_site_t *ts)
{
    (*(uint64_t *)ctx)++;
    if (ts->exited > ts->started)
        abort(); /* the reader promised exited <= started */
    sink += ts->monotonic_ns ^ ts->start_routine ^ ts->started ^ ts->exited;
    if (ts->creation_stack)
        touch_stack(ts->creation_stack);
}

static void run_model(int fd)
{
    char path[64], err[512];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    hs_model_t *m;
    if (hs_model_open(path, &m, err, sizeof(err)) != 0) {
        touch_str(err);
        return;
    }
    const hs_model_header_t *h = hs_model_header(m);
    touch_str(h->exe);
    touch_str(h->hostname);
    touch_str(h->cmdline);
    touch_str(h->program);
    touch_str(hs_model_path(m));
    uint64_t threads = 0;
    hs_model_set_thread_cb(m, on_thread, &threads);
    hs_model_set_thread_site_cb(m, on_thread_site, &threads);
    hs_model_snapshot_t snap;
    int rc;
    while ((rc = hs_model_next(m, &snap, err, sizeof(err))) == 1) {
        touch(&snap, sizeof(snap));
        size_t n = hs_model_stack_count(m);
        for (size_t i = 0; i < n; i++) {
            const hs_model_stack_t *s = hs_model_stack_at(m, i);
            if (!s || hs_model_stack_by_id(m, s->id) != s)
                abort(); /* both views of the stacks must agree */
            touch_stack(s);
        }
        size_t nm = hs_model_mapping_count(m);
        for (size_t i = 0; i < nm; i++)
            touch_mapping(hs_model_mapping_at(m, i));
    }
    if (rc < 0)
        touch_str(err);
    /* The calls after the end must keep reporting the end, not resume. */
    if (rc == 0 && hs_model_next(m, &snap, err, sizeof(err)) != 0)
        abort();
    touch_str(hs_model_warning(m));
    sink += threads + (uint64_t)hs_model_saw_end(m);
    hs_model_close(m);
}

static void touch_decoded(const hs_decoded_t *d)
{
    switch (d->type) {
    case HS_REC_HEADER:
        touch(d->u.header.exe_path.ptr, d->u.header.exe_path.len);
        touch(d->u.header.cmdline.ptr, d->u.header.cmdline.len);
        touch(d->u.header.hostname.ptr, d->u.header.hostname.len);
        break;
    case HS_REC_MAPPINGS: {
        hs_mapping_iter_t it;
        hs_mapping_t mp;
        uint32_t n = 0;
        hs_reader_mapping_iter_init(&it, &d->u.mappings);
        while (hs_reader_mapping_iter_next(&it, &mp)) {
            touch(mp.build_id, mp.build_id_len);
            touch(mp.path.ptr, mp.path.len);
            n++;
        }
        if (n != d->u.mappings.count)
            abort(); /* a validated record iterates completely */
        break;
    }
    case HS_REC_STACK:
        for (uint32_t i = 0; i < d->u.stack.depth; i++)
            sink += hs_reader_stack_frame(&d->u.stack, i);
        break;
    case HS_REC_SNAPSHOT:
        for (uint32_t i = 0; i < d->u.snapshot.row_count; i++) {
            hs_snapshot_row_t row;
            hs_reader_snapshot_row(&d->u.snapshot, i, &row);
            touch(&row, sizeof(row));
        }
        break;
    case HS_REC_THREAD_SITES:
        for (uint32_t i = 0; i < d->u.thread_sites.count; i++) {
            hs_thread_site_t site;
            hs_reader_thread_site(&d->u.thread_sites, i, &site);
            touch(&site, sizeof(site));
        }
        break;
    default: touch(d, sizeof(*d)); break;
    }
}

static void run_reader(int fd, size_t size)
{
    char msg[512];
    if (lseek(fd, 0, SEEK_SET) != 0)
        abort();
    hs_reader_t *r;
    hs_read_error_t err;
    if (hs_reader_open_fd(fd, &r, &err) != HS_READ_OK) {
        touch_str(hs_reader_format_error(&err, msg, sizeof(msg)));
        return;
    }
    hs_record_t rec;
    hs_read_status_t st;
    while ((st = hs_reader_next(r, &rec)) == HS_READ_OK) {
        touch(rec.payload, rec.len);
        touch_str(hs_reader_type_name(rec.type));
        hs_decoded_t d;
        hs_read_error_t derr;
        if (hs_reader_decode(&rec, &d, &derr) == 0)
            touch_decoded(&d);
        else
            touch_str(hs_reader_format_error(&derr, msg, sizeof(msg)));
    }
    /* Errors are sticky. */
    if (hs_reader_next(r, &rec) != st)
        abort();
    touch_str(hs_reader_format_error(hs_reader_error(r), msg, sizeof(msg)));
    sink += hs_reader_records(r) + hs_reader_offset(r) + (uint64_t)hs_reader_saw_end(r);
    /* The reader's promise: never more than about twice the bytes that exist. */
    if (hs_reader_buffer_capacity(r) > 2 * size + 64 * 1024)
        abort();
    hs_reader_close(r);
}

static void run_file(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz_dump", MFD_CLOEXEC);
    if (fd < 0)
        abort();
    for (size_t off = 0; off < size;) {
        ssize_t n = write(fd, data + off, size - off);
        if (n <= 0)
            abort();
        off += (size_t)n;
    }
    run_model(fd);
    run_reader(fd, size);
    close(fd);
}

/* Almost every mutation breaks a record's CRC-32, and the reader then stops
 * at the framing layer. So each input also runs with the checksum of every
 * complete record recomputed, which lets mutated payloads reach the
 * decoders and the model. Returns 1 when that changed any byte. */
static int fix_checksums(uint8_t *p, size_t size)
{
    int changed = 0;
    size_t off = HS_PREAMBLE_LEN;
    while (size >= off && size - off >= HS_RECORD_HEAD_LEN + HS_RECORD_TAIL_LEN) {
        size_t len = hs_load_u32(p + off + 4);
        if (len > size - off - HS_RECORD_HEAD_LEN - HS_RECORD_TAIL_LEN)
            break;
        uint8_t *tail = p + off + HS_RECORD_HEAD_LEN + len;
        uint32_t crc = hs_crc32(0, p + off, HS_RECORD_HEAD_LEN + len);
        if (hs_load_u32(tail) != crc) {
            for (int i = 0; i < 4; i++)
                tail[i] = (uint8_t)(crc >> (8 * i));
            changed = 1;
        }
        off += HS_RECORD_HEAD_LEN + len + HS_RECORD_TAIL_LEN;
    }
    return changed;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run_file(data, size);
    uint8_t *fixed = malloc(size ? size : 1);
    if (!fixed)
        abort();
    if (size)
        memcpy(fixed, data, size);
    if (fix_checksums(fixed, size))
        run_file(fixed, size);
    free(fixed);
    return 0;
}
