/* live_cpu.c - the live service's CPU profile (/debug/pprof/profile) and
 * thread-stack dump (/debug/pprof/goroutine, the C counterpart of Go's
 * goroutine profile): parses the request, drives cpuprof.c's SIGPROF
 * machinery from the server thread (deferred answers: the handler starts,
 * resume collects and answers), adds up the stacks and writes them as
 * pprof (live_pprof.h) or text. Runs on the server thread only (untracked:
 * malloc is fine and unrecorded); never touches SIGPROF when the program
 * handles it itself (409). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "clock.h"
#include "cpuprof.h"
#include "procfs.h"
#include "elfsym.h"
#include "live.h"
#include "live_pprof.h"

#define DEFAULT_SECONDS 30
#define MAX_SECONDS 300
/* How often a running CPU profile drains the ring and looks for new threads:
 * the ring holds 4096 samples, 100 ms of 400 busy threads. */
#define CPU_RESUME_NS (100 * HS_NS_PER_MS)
/* A thread dump waits this long in all for the threads' answers. */
#define DUMP_WAIT_NS (1000 * HS_NS_PER_MS)
#define DUMP_POLL_NS (5 * HS_NS_PER_MS)
#define DUMP_RESEND_NS (100 * HS_NS_PER_MS)

/* Handlers run on the server thread: the one thread never profiled nor
 * dumped (it blocks every signal). Its tid from here rather than
 * hs_live_server_tid(), so this module does not call back into the server
 * (scripts/audit-deps.sh). */
static uint32_t server_tid(void) { return (uint32_t)syscall(SYS_gettid); }

/* ---- stacks added up ----------------------------------------------------------------- */

typedef struct {
    uint64_t hash, count;
    uint32_t flags, depth;
    uintptr_t *pc;
} agg_entry_t;

typedef struct {
    agg_entry_t *e;
    size_t n, cap; /* cap: a power of two */
    int oom;
} agg_t;

static uint64_t stack_hash(uint32_t flags, const uintptr_t *pc, uint32_t depth)
{
    uint64_t h = 0xcbf29ce484222325ull ^ flags ^ ((uint64_t)depth << 32);
    for (uint32_t i = 0; i < depth; i++)
        h = (h ^ pc[i]) * 0x100000001b3ull;
    return h | 1; /* 0 marks an empty slot */
}

static int agg_grow(agg_t *a)
{
    size_t cap = a->cap ? a->cap * 2 : 256;
    agg_entry_t *e = calloc(cap, sizeof(*e));
    if (!e)
        return -1;
    for (size_t i = 0; i < a->cap; i++) {
        if (!a->e[i].hash)
            continue;
        size_t j = a->e[i].hash & (cap - 1);
        while (e[j].hash)
            j = (j + 1) & (cap - 1);
        e[j] = a->e[i];
    }
    free(a->e);
    a->e = e;
    a->cap = cap;
    return 0;
}

static void agg_add(agg_t *a, uint32_t flags, const uintptr_t *pc, uint32_t depth, uint64_t count)
{
    if (a->oom)
        return;
    if ((a->n + 1) * 2 > a->cap && agg_grow(a) != 0) {
        a->oom = 1;
        return;
    }
    uint64_t h = stack_hash(flags, pc, depth);
    size_t j = h & (a->cap - 1);
    for (; a->e[j].hash; j = (j + 1) & (a->cap - 1)) {
        agg_entry_t *e = &a->e[j];
        if (e->hash == h && e->flags == flags && e->depth == depth && !memcmp(e->pc, pc, depth * sizeof(*pc))) {
            e->count += count;
            return;
        }
    }
    uintptr_t *copy = malloc(depth * sizeof(*pc) + 1);
    if (!copy) {
        a->oom = 1;
        return;
    }
    memcpy(copy, pc, depth * sizeof(*pc));
    a->e[j] = (agg_entry_t){.hash = h, .count = count, .flags = flags, .depth = depth, .pc = copy};
    a->n++;
}

static void agg_free(agg_t *a)
{
    for (size_t i = 0; i < a->cap; i++)
        free(a->e[i].pc);
    free(a->e);
    memset(a, 0, sizeof(*a));
}

/* The entries by count, largest first (a shell sort: qsort is not for the
 * library, scripts/audit-lib.sh). */
static agg_entry_t **agg_sorted(const agg_t *a)
{
    agg_entry_t **v = malloc((a->n + 1) * sizeof(*v));
    if (!v)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < a->cap; i++)
        if (a->e[i].hash)
            v[n++] = &a->e[i];
    for (size_t gap = n / 2; gap > 0; gap /= 2)
        for (size_t i = gap; i < n; i++)
            for (size_t j = i; j >= gap && v[j - gap]->count < v[j]->count; j -= gap) {
                agg_entry_t *t = v[j];
                v[j] = v[j - gap];
                v[j - gap] = t;
            }
    return v;
}

/* Adds the stack's locations to the profile: pc[0] is the interrupted PC
 * (taken as is), the others return addresses (pprof gets addr - 1, inside
 * the call). Returns the number of ids written, 0 when out of memory. */
static size_t locations_of(hs_live_syms_t *s, const agg_entry_t *e, uint64_t *ids)
{
    for (uint32_t i = 0; i < e->depth; i++) {
        int is_return = i > 0 || !(e->flags & HS_CPUPROF_SAMPLE_EXACT_LEAF);
        ids[i] = hs_live_syms_location(s, e->pc[i], is_return);
        if (!ids[i])
            return 0;
    }
    return e->depth;
}

/* ---- /debug/pprof/profile -------------------------------------------------------------- */

typedef struct {
    uint64_t start_mono, start_real, end_mono;
    agg_t agg;
} cpu_job_t;

static void cpu_sample(const hs_cpuprof_sample_t *s, void *ctx) { agg_add(ctx, s->flags, s->pc, s->depth, s->weight); }

/* Adds one sample per stack of a (values: the count, and with ns_per also
 * count * ns_per), then serializes the profile into the answer, a download
 * named name; closes s and frees p. On failure a 503 that names what. */
static void agg_answer(hs_live_resp_t *resp, hs_pprof_t *p, hs_live_syms_t *s, const agg_t *a, uint64_t ns_per,
                       const char *disposition, const char *what)
{
    uint64_t ids[HS_CPUPROF_MAX_DEPTH];
    for (size_t i = 0; !a->oom && i < a->cap; i++) {
        const agg_entry_t *e = &a->e[i];
        if (!e->hash)
            continue;
        size_t n = locations_of(s, e, ids);
        if (!n)
            goto oom;
        int64_t v[2] = {(int64_t)e->count, (int64_t)(e->count * ns_per)};
        if (hs_pprof_sample(p, ids, n, v, ns_per ? 2 : 1, NULL, 0) != 0 && errno == ENOMEM)
            goto oom;
    }
    if (a->oom)
        goto oom;
    hs_live_syms_close(s);
    s = NULL;
    if (hs_live_pprof_finish(p, &resp->body) != 0)
        goto oom;
    hs_pprof_free(p);
    resp->content_type = "application/octet-stream";
    resp->disposition = disposition;
    return;
oom:
    hs_live_syms_close(s);
    hs_pprof_free(p);
    hs_live_error(resp, 503, "out of memory building the %s", what);
}

static void cpu_finish(hs_live_resp_t *resp, cpu_job_t *job, uint64_t now)
{
    hs_cpuprof_stats_t st;
    hs_cpuprof_stats(&st);
    hs_pprof_t *p = hs_pprof_new();
    hs_live_syms_t *s = p ? hs_live_syms_open(p) : NULL;
    if (!s) {
        hs_pprof_free(p);
        hs_live_error(resp, 503, "out of memory building the CPU profile");
        return;
    }
    hs_pprof_sample_type(p, "samples", "count");
    hs_pprof_sample_type(p, "cpu", "nanoseconds");
    hs_pprof_period(p, "cpu", "nanoseconds", (int64_t)HS_CPUPROF_PERIOD_NS);
    hs_pprof_time(p, (int64_t)job->start_real, (int64_t)(now - job->start_mono));
    char c[256];
    snprintf(c, sizeof(c),
             "heapscope: %" PRIu64 " samples at %d Hz from %u threads; %" PRIu64 " recorded without a stack "
             "(inside heapscope's own unwinding); %" PRIu64 " lost (ring full); %u threads without a timer",
             st.samples, HS_CPUPROF_HZ, st.threads_timed, st.not_unwound, st.dropped, st.timer_errors);
    hs_pprof_comment(p, c);
    agg_answer(resp, p, s, &job->agg, HS_CPUPROF_PERIOD_NS, "attachment; filename=\"profile\"", "CPU profile");
}

static void cpu_job_free(hs_live_resp_t *resp, cpu_job_t *job)
{
    agg_free(&job->agg);
    free(job);
    resp->state = NULL;
    resp->resume = NULL;
}

static void cpu_resume(hs_live_resp_t *resp, int cancel)
{
    cpu_job_t *job = resp->state;
    if (cancel) {
        hs_cpuprof_stop();
        hs_cpuprof_drain(NULL, NULL);
        hs_cpuprof_release();
        cpu_job_free(resp, job);
        return;
    }
    hs_cpuprof_drain(cpu_sample, &job->agg);
    uint64_t now = hs_now_mono_ns();
    if (!hs_cpuprof_signal_is_ours()) {
        /* The program installed a SIGPROF handler of its own meanwhile: our
         * timers' signals now reach it. Stop them at once. */
        hs_cpuprof_stop();
        hs_cpuprof_drain(NULL, NULL);
        hs_cpuprof_release();
        cpu_job_free(resp, job);
        hs_live_error(resp, 409,
                      "the program installed its own SIGPROF handler during the CPU profile; heapscope stopped its "
                      "timers and gives the signal up");
        return;
    }
    if (now < job->end_mono) {
        hs_cpuprof_rescan();
        resp->resume_at_ns = now + CPU_RESUME_NS < job->end_mono ? now + CPU_RESUME_NS : job->end_mono;
        return;
    }
    hs_cpuprof_stop();
    hs_cpuprof_drain(cpu_sample, &job->agg);
    cpu_finish(resp, job, now);
    hs_cpuprof_release();
    cpu_job_free(resp, job);
}

void hs_live_cpu_profile(const hs_live_req_t *req, hs_live_resp_t *resp)
{
    unsigned long seconds = DEFAULT_SECONDS;
    int given = hs_http_query_uint(req->http, "seconds", MAX_SECONDS, &seconds);
    if (given < 0 || (given == 1 && seconds == 0)) {
        hs_live_error(resp, 400, "seconds must be a whole number from 1 to %d", MAX_SECONDS);
        return;
    }
    char why[512];
    if (hs_cpuprof_claim_signal(why, sizeof(why)) != 0) {
        hs_live_error(resp, 409, "CPU profile refused: %s", why);
        return;
    }
    cpu_job_t *job = calloc(1, sizeof(*job));
    if (!job) {
        hs_live_error(resp, 503, "out of memory");
        return;
    }
    if (hs_cpuprof_start(server_tid()) != 0) {
        int e = errno;
        free(job);
        if (e == EBUSY)
            hs_live_error(resp, 429, "a CPU profile is already running (one at a time); try again when it ends");
        else
            hs_live_error(resp, 503, "cannot start a CPU profile: out of memory");
        return;
    }
    job->start_mono = hs_now_mono_ns();
    job->start_real = hs_now_real_ns();
    job->end_mono = job->start_mono + seconds * HS_NS_PER_SEC;
    resp->state = job;
    resp->resume = cpu_resume;
    resp->resume_at_ns = job->start_mono + CPU_RESUME_NS;
}

void hs_live_cpu_abort(void) { hs_cpuprof_abort(); }

/* ---- naming frames for the text dumps ------------------------------------------------------
 * "name+0xoff (object)" like eu-stack, from the objects' own symbol tables
 * (elfsym.c); a small per-request cache, since threads share frames. */

typedef struct {
    uintptr_t start, end, bias;
    char path[256];
} segment_t;

typedef struct {
    segment_t *seg;
    size_t n, cap;
    struct {
        uintptr_t addr;
        char text[600];
    } * cache;
    size_t cached, cache_cap;
} namer_t;

static int add_segments(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    namer_t *nm = data;
    char path[256];
    if (info->dlpi_name && info->dlpi_name[0]) {
        snprintf(path, sizeof(path), "%s", info->dlpi_name);
    } else {
        ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
        path[n > 0 ? n : 0] = 0;
    }
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        if (nm->n == nm->cap) {
            size_t cap = nm->cap ? nm->cap * 2 : 32;
            segment_t *s = realloc(nm->seg, cap * sizeof(*s));
            if (!s)
                return 1;
            nm->seg = s;
            nm->cap = cap;
        }
        segment_t *s = &nm->seg[nm->n++];
        s->start = info->dlpi_addr + ph->p_vaddr;
        s->end = s->start + ph->p_memsz;
        s->bias = info->dlpi_addr;
        memcpy(s->path, path, sizeof(path));
    }
    return 0;
}

static void namer_open(namer_t *nm)
{
    memset(nm, 0, sizeof(*nm));
    dl_iterate_phdr(add_segments, nm);
}

static void namer_close(namer_t *nm)
{
    free(nm->seg);
    free(nm->cache);
}

/* addr as shown; lookup is addr - 1 for a return address (the call). */
static const char *namer_name(namer_t *nm, uintptr_t addr, int is_return)
{
    for (size_t i = 0; i < nm->cached; i++)
        if (nm->cache[i].addr == addr)
            return nm->cache[i].text;
    static char text[600];
    uintptr_t look = is_return && addr ? addr - 1 : addr;
    const segment_t *seg = NULL;
    for (size_t i = 0; i < nm->n && !seg; i++)
        if (look >= nm->seg[i].start && look < nm->seg[i].end)
            seg = &nm->seg[i];
    if (!seg) {
        snprintf(text, sizeof(text), "??");
    } else {
        char name[256];
        uint64_t off;
        if (hs_elfsym_name_offset(seg->path, look - seg->bias, name, sizeof(name), &off) == 0)
            snprintf(text, sizeof(text), "%s+0x%" PRIx64 " (%s)", name, off + (look != addr), seg->path);
        else
            snprintf(text, sizeof(text), "?? (%s+0x%" PRIxPTR ")", seg->path, addr - seg->bias);
    }
    if (nm->cached == nm->cache_cap) {
        size_t cap = nm->cache_cap ? nm->cache_cap * 2 : 64;
        void *c = realloc(nm->cache, cap * sizeof(*nm->cache));
        if (!c)
            return text;
        nm->cache = c;
        nm->cache_cap = cap;
    }
    nm->cache[nm->cached].addr = addr;
    memcpy(nm->cache[nm->cached].text, text, sizeof(text));
    return nm->cache[nm->cached++].text;
}

/* ---- /debug/pprof/goroutine ------------------------------------------------------------------ */

typedef struct {
    char name[32];
    char state; /* /proc/self/task/TID/stat's state letter, '?' when unreadable */
} thread_info_t;

typedef struct {
    int debug;
    size_t n, total; /* threads asked; threads there were */
    uint64_t start_mono, deadline, next_resend;
    uint32_t tids[HS_CPUPROF_MAX_DUMPED];
    thread_info_t info[HS_CPUPROF_MAX_DUMPED];
    hs_cpuprof_stack_t stacks[HS_CPUPROF_MAX_DUMPED];
} dump_job_t;

static ssize_t read_small(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, len - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    return n;
}

static void read_thread_info(uint32_t tid, thread_info_t *ti)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/self/task/%u/comm", tid);
    ti->name[0] = 0;
    if (read_small(path, buf, sizeof(buf)) > 0) {
        size_t n = strcspn(buf, "\n");
        if (n >= sizeof(ti->name))
            n = sizeof(ti->name) - 1;
        memcpy(ti->name, buf, n);
        ti->name[n] = 0;
    }
    snprintf(path, sizeof(path), "/proc/self/task/%u/stat", tid);
    ti->state = hs_proc_state(path);
    if (!ti->state)
        ti->state = '?';
}

static const char *state_word(char s)
{
    switch (s) {
    case 'R': return "running";
    case 'S': return "sleeping";
    case 'D': return "disk sleep";
    case 'T': return "stopped";
    case 't': return "tracing stop";
    case 'Z': return "zombie";
    case 'X': return "dead";
    case 'I': return "idle";
    default: return "unknown";
    }
}

static const char *result_text(int result)
{
    switch (result) {
    case HS_CPUPROF_DUMP_NO_ANSWER:
        return "did not answer in time (SIGPROF blocked in that thread, or the thread is stopped)";
    case HS_CPUPROF_DUMP_UNWINDING: return "was still unwinding its stack when time ran out";
    case HS_CPUPROF_DUMP_GONE: return "exited before it could be asked";
    default: return "no stack";
    }
}

/* debug=2: one stack per thread, like eu-stack. */
static void dump_text_threads(hs_lbuf_t *b, const dump_job_t *job)
{
    namer_t nm;
    namer_open(&nm);
    hs_lbuf_printf(b, "PID %d - %zu threads (heapscope thread dump; the service's own thread is not listed)\n",
                   (int)getpid(), job->total);
    for (size_t i = 0; i < job->n; i++) {
        const hs_cpuprof_stack_t *st = &job->stacks[i];
        const thread_info_t *ti = &job->info[i];
        hs_lbuf_printf(b, "\nthread %u \"%s\" [%c (%s)]:\n", job->tids[i], ti->name, ti->state, state_word(ti->state));
        if (st->result != HS_CPUPROF_DUMP_ANSWERED) {
            hs_lbuf_printf(b, "    (no stack: the thread %s)\n",
                           ti->state == 'Z' ? "has exited (zombie)" : result_text(st->result));
            continue;
        }
        if (st->flags & HS_CPUPROF_SAMPLE_NOT_UNWOUND)
            hs_lbuf_puts(b, "    (interrupted inside heapscope's own unwinding: the PC only)\n");
        for (uint32_t f = 0; f < st->depth; f++)
            hs_lbuf_printf(b, "#%-2u 0x%016" PRIxPTR " %s\n", f, st->pc[f], namer_name(&nm, st->pc[f], f > 0));
    }
    if (job->total > job->n)
        hs_lbuf_printf(b, "\n(%zu more threads not asked: at most %d per dump)\n", job->total - job->n,
                       HS_CPUPROF_MAX_DUMPED);
    namer_close(&nm);
}

/* debug=1: counts per distinct stack, as Go's goroutine profile prints them. */
static void dump_text_counts(hs_lbuf_t *b, const dump_job_t *job, const agg_t *a, size_t unanswered)
{
    namer_t nm;
    namer_open(&nm);
    hs_lbuf_printf(b, "goroutine profile: total %zu\n", job->n);
    agg_entry_t **v = agg_sorted(a);
    for (size_t k = 0; v && k < a->n; k++) {
        const agg_entry_t *e = v[k];
        hs_lbuf_printf(b, "%" PRIu64 " @", e->count);
        for (uint32_t f = 0; f < e->depth; f++)
            hs_lbuf_printf(b, " 0x%" PRIxPTR, e->pc[f]);
        hs_lbuf_puts(b, "\n");
        for (uint32_t f = 0; f < e->depth; f++)
            hs_lbuf_printf(b, "#\t0x%" PRIxPTR "\t%s\n", e->pc[f], namer_name(&nm, e->pc[f], f > 0));
        hs_lbuf_puts(b, "\n");
    }
    if (unanswered)
        hs_lbuf_printf(b, "%zu @ (threads that did not answer in time)\n\n", unanswered);
    free(v);
    namer_close(&nm);
}

static void dump_pprof(hs_live_resp_t *resp, const agg_t *a, size_t unanswered)
{
    hs_pprof_t *p = hs_pprof_new();
    hs_live_syms_t *s = p ? hs_live_syms_open(p) : NULL;
    if (!s) {
        hs_pprof_free(p);
        hs_live_error(resp, 503, "out of memory building the thread profile");
        return;
    }
    hs_pprof_sample_type(p, "goroutine", "count");
    hs_pprof_period(p, "goroutine", "count", 1);
    hs_pprof_time(p, (int64_t)hs_now_real_ns(), 0);
    hs_pprof_comment(p, "heapscope: the threads' stacks (the server thread's excluded)");
    if (unanswered) {
        /* One pseudo-frame, so the threads that could not be reached still
         * count (and show) in the profile. */
        hs_pprof_line_t line = {.function_id = hs_pprof_function(p, "[thread did not answer]", NULL, NULL, 0)};
        uint64_t loc = line.function_id ? hs_pprof_location(p, 0, 0, &line, 1) : 0;
        int64_t v = (int64_t)unanswered;
        if (loc)
            hs_pprof_sample(p, &loc, 1, &v, 1, NULL, 0);
    }
    agg_answer(resp, p, s, a, 0, "attachment; filename=\"goroutine\"", "thread profile");
}

static void dump_answer(hs_live_resp_t *resp, dump_job_t *job)
{
    hs_cpuprof_dump_end(job->stacks, job->n);
    agg_t a = {0};
    size_t unanswered = 0;
    for (size_t i = 0; i < job->n; i++) {
        const hs_cpuprof_stack_t *st = &job->stacks[i];
        if (st->result == HS_CPUPROF_DUMP_ANSWERED)
            agg_add(&a, st->flags, st->pc, st->depth, 1);
        else if (st->result != HS_CPUPROF_DUMP_GONE && job->info[i].state != 'Z')
            unanswered++;
    }
    if (job->debug >= 2) {
        dump_text_threads(&resp->body, job);
    } else if (job->debug == 1) {
        dump_text_counts(&resp->body, job, &a, unanswered);
    } else {
        dump_pprof(resp, &a, unanswered);
    }
    agg_free(&a);
}

static void dump_resume(hs_live_resp_t *resp, int cancel)
{
    dump_job_t *job = resp->state;
    uint64_t now = hs_now_mono_ns();
    int resend = now >= job->next_resend;
    if (resend)
        job->next_resend = now + DUMP_RESEND_NS;
    if (!cancel && hs_cpuprof_dump_poll(resend) > 0 && now < job->deadline) {
        resp->resume_at_ns = now + DUMP_POLL_NS;
        return;
    }
    if (cancel)
        hs_cpuprof_dump_end(job->stacks, job->n);
    else
        dump_answer(resp, job);
    free(job);
    resp->state = NULL;
    resp->resume = NULL;
}

void hs_live_goroutine(const hs_live_req_t *req, hs_live_resp_t *resp)
{
    unsigned long debug = 0;
    if (hs_http_query_uint(req->http, "debug", 1000, &debug) < 0) {
        hs_live_error(resp, 400, "debug must be 0, 1 or 2");
        return;
    }
    char why[512];
    if (hs_cpuprof_claim_signal(why, sizeof(why)) != 0) {
        hs_live_error(resp, 409, "thread dump refused: %s", why);
        return;
    }
    dump_job_t *job = calloc(1, sizeof(*job));
    if (!job) {
        hs_live_error(resp, 503, "out of memory");
        return;
    }
    job->debug = (int)debug;
    long total = hs_proc_tasks(job->tids, HS_CPUPROF_MAX_DUMPED, server_tid());
    if (total < 0) {
        free(job);
        hs_live_error(resp, 503, "cannot read /proc/self/task");
        return;
    }
    job->total = (size_t)total;
    job->n = job->total < HS_CPUPROF_MAX_DUMPED ? job->total : HS_CPUPROF_MAX_DUMPED;
    /* States before the signals: an answer wakes a sleeping thread. */
    for (size_t i = 0; i < job->n; i++)
        read_thread_info(job->tids[i], &job->info[i]);
    /* A zombie (a main thread that called pthread_exit) runs no handler:
     * ask it nothing (tid 0 is never a thread). */
    uint32_t ask[HS_CPUPROF_MAX_DUMPED];
    for (size_t i = 0; i < job->n; i++)
        ask[i] = job->info[i].state == 'Z' ? 0 : job->tids[i];
    if (hs_cpuprof_dump_begin(ask, job->n) != 0) {
        int e = errno;
        free(job);
        if (e == EBUSY)
            hs_live_error(resp, 429, "a thread dump is already running; try again in a second");
        else
            hs_live_error(resp, 503, "cannot dump the threads: out of memory");
        return;
    }
    job->start_mono = hs_now_mono_ns();
    job->deadline = job->start_mono + DUMP_WAIT_NS;
    job->next_resend = job->start_mono + DUMP_RESEND_NS;
    resp->state = job;
    resp->resume = dump_resume;
    resp->resume_at_ns = job->start_mono + DUMP_POLL_NS;
}
