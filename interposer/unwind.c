/* unwind.c - heapscope's own stack walker for x86_64.
 *
 * A sampled allocation's stack was walked by libunwind's unw_backtrace at
 * ~70 instructions a frame; at CPython's 30-60 frames that was most of a
 * sample's cost. This walker keeps what libunwind's trace cache keeps (how
 * to find the caller's frame from a return address) in one lock-free table
 * shared by all threads, and spends ~20 instructions on a cached frame.
 *
 * A rule says: CFA = rsp + off or rbp + off; the return address is saved at
 * CFA + ra_off; rbp is either unchanged or saved at CFA + rbp_off; or the
 * frame is the outermost (the return address is undefined, as in _start and
 * clone). Rules come from the .eh_frame of the object holding the pc, found
 * with _dl_find_object (lock-free, no malloc) and the binary-search table of
 * .eh_frame_hdr, by running the CIE's and FDE's call-frame instructions up
 * to the pc. What the rules cannot say (signal frames, DWARF expressions, a
 * CFA in another register, a realigned stack) makes the walk return -1 and
 * the caller use libunwind for that sample. A pc that lies in no loaded
 * object (JIT code) ends the walk: libunwind would guess from rbp there.
 *
 * The cache: 16384 slots of {tag, rule}; a tag is the pc with an epoch in
 * its top bits, bumped when code is unloaded (dlclose), so no rule outlives
 * the code it describes. A slot is claimed with a compare-and-swap, written,
 * then published; a reader checks the tag before and after reading the rule
 * (a seqlock of one slot). A full probe sequence leaves the rule uncached. */
#include "unwind.h"

#include <dlfcn.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

#include "arena.h"
#include "stackhash.h"

#if defined(__x86_64__)

enum { REG_RBP = 6, REG_RSP = 7, REG_RA = 16 };

/* Rule kinds, bits 0..3 of a rule word. 0 is "no rule" (an empty slot). */
enum { K_RSP = 1, K_RBP = 2, K_END = 3, K_HARD = 4, K_NOFDE = 5, K_NOOBJ = 6 };

/* Bits 8..15: ra_off / 8 (int8); 16..31: rbp_off / 8 (int16, 0: rbp
 * unchanged); 32..63: the CFA offset (int32). */
static inline uint64_t rule_make(unsigned kind, int64_t cfa_off, int64_t ra_off, int64_t rbp_off)
{
    return (uint64_t)kind | ((uint64_t)(uint8_t)(int8_t)(ra_off / 8) << 8) |
           ((uint64_t)(uint16_t)(int16_t)(rbp_off / 8) << 16) | ((uint64_t)(uint32_t)(int32_t)cfa_off << 32);
}
static inline unsigned rule_kind(uint64_t r) { return (unsigned)(r & 0xf); }
static inline int64_t rule_ra_off(uint64_t r) { return (int64_t)(int8_t)(uint8_t)(r >> 8) * 8; }
static inline int64_t rule_rbp_off(uint64_t r) { return (int64_t)(int16_t)(uint16_t)(r >> 16) * 8; }
static inline int64_t rule_cfa_off(uint64_t r) { return (int64_t)(int32_t)(uint32_t)(r >> 32); }

/* ---- reading .eh_frame ---------------------------------------------------------- */

typedef struct {
    const uint8_t *p, *end;
    int bad;
} rd_t;

static uint64_t rd_uleb(rd_t *r)
{
    uint64_t v = 0;
    for (unsigned shift = 0; r->p < r->end; shift += 7) {
        uint8_t b = *r->p++;
        if (shift < 64)
            v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    r->bad = 1;
    return 0;
}

static int64_t rd_sleb(rd_t *r)
{
    uint64_t v = 0;
    unsigned shift = 0;
    while (r->p < r->end) {
        uint8_t b = *r->p++;
        if (shift < 64)
            v |= (uint64_t)(b & 0x7f) << shift;
        shift += 7;
        if (!(b & 0x80)) {
            if (shift < 64 && (b & 0x40))
                v |= ~(uint64_t)0 << shift;
            return (int64_t)v;
        }
    }
    r->bad = 1;
    return 0;
}

static uint64_t rd_fixed(rd_t *r, size_t n)
{
    if ((size_t)(r->end - r->p) < n) {
        r->bad = 1;
        return 0;
    }
    uint64_t v = 0;
    memcpy(&v, r->p, n); /* little-endian */
    r->p += n;
    return v;
}

static uint8_t rd_u8(rd_t *r) { return (uint8_t)rd_fixed(r, 1); }

/* A DW_EH_PE-encoded pointer. Absolute and pc-relative only (what GCC and
 * LLVM emit in .eh_frame); anything else marks the reader bad. */
static uintptr_t rd_encoded(rd_t *r, uint8_t enc)
{
    if (enc == 0xff) /* omit */
        return 0;
    const uint8_t *field = r->p;
    uint64_t v;
    switch (enc & 0x0f) {
    case 0x00: v = rd_fixed(r, 8); break;
    case 0x01: v = rd_uleb(r); break;
    case 0x02: v = rd_fixed(r, 2); break;
    case 0x03: v = rd_fixed(r, 4); break;
    case 0x04: v = rd_fixed(r, 8); break;
    case 0x09: v = (uint64_t)rd_sleb(r); break;
    case 0x0a: v = (uint64_t)(int64_t)(int16_t)rd_fixed(r, 2); break;
    case 0x0b: v = (uint64_t)(int64_t)(int32_t)rd_fixed(r, 4); break;
    case 0x0c: v = rd_fixed(r, 8); break;
    default: r->bad = 1; return 0;
    }
    switch (enc & 0x70) {
    case 0x00: break;
    case 0x10: v += (uintptr_t)field; break;
    default: r->bad = 1; return 0;
    }
    if (enc & 0x80) /* indirect: only the personality uses it, and we skip it */
        v = 0;
    return (uintptr_t)v;
}

/* One entry of .eh_frame: its contents after the length, and its end. */
static int rd_entry(const uint8_t *at, rd_t *r)
{
    rd_t h = {at, at + 12, 0};
    uint64_t len = rd_fixed(&h, 4);
    if (len == 0xffffffffu)
        len = rd_fixed(&h, 8);
    if (h.bad || len == 0 || len > (1u << 24))
        return -1;
    r->p = h.p;
    r->end = h.p + len;
    r->bad = 0;
    return 0;
}

/* The register state the CFA program tracks: only what a walk needs. */
enum { R_SAME = 0, R_OFFSET, R_UNDEF, R_HARD };
typedef struct {
    int cfa_reg;
    int64_t cfa_off;
    uint8_t rbp_how, ra_how;
    int64_t rbp_off, ra_off;
} cfa_state_t;

typedef struct {
    uint64_t code_align;
    int64_t data_align;
    uint8_t fde_enc;
    int has_z; /* augmentation data in each FDE */
    rd_t init; /* the initial instructions */
} cie_t;

static int parse_cie(const uint8_t *at, cie_t *c)
{
    rd_t r;
    if (rd_entry(at, &r) != 0 || rd_fixed(&r, 4) != 0) /* CIE id */
        return -1;
    uint8_t version = rd_u8(&r);
    if (version != 1 && version != 3)
        return -1;
    const char *aug = (const char *)r.p;
    size_t aug_len = strnlen(aug, (size_t)(r.end - r.p));
    if (aug_len == (size_t)(r.end - r.p))
        return -1;
    r.p += aug_len + 1;
    c->code_align = rd_uleb(&r);
    c->data_align = rd_sleb(&r);
    uint64_t ra_reg = version == 1 ? rd_u8(&r) : rd_uleb(&r);
    c->fde_enc = 0; /* absolute, 8 bytes */
    c->has_z = aug[0] == 'z';
    if (ra_reg != REG_RA || r.bad)
        return -1;
    if (aug[0] == 'z') {
        uint64_t n = rd_uleb(&r);
        if (r.bad || n > (uint64_t)(r.end - r.p))
            return -1;
        const uint8_t *after = r.p + n;
        for (const char *a = aug + 1; *a; a++) {
            if (*a == 'R') {
                c->fde_enc = rd_u8(&r);
            } else if (*a == 'P') {
                uint8_t penc = rd_u8(&r);
                rd_encoded(&r, (uint8_t)(penc & 0x7f));
            } else if (*a == 'L') {
                rd_u8(&r);
            } else {
                return -1; /* 'S' (a signal frame) and anything newer: libunwind's */
            }
        }
        r.p = after;
    } else if (aug[0]) {
        return -1;
    }
    if (r.bad)
        return -1;
    c->init = r;
    return 0;
}

#define STATE_STACK 8

/* A register the walk follows: a rule for it the walker cannot express
 * (another register, an expression, a value) leaves the frame to libunwind. */
static int tracked(uint64_t reg) { return reg == REG_RA || reg == REG_RBP || reg == REG_RSP; }

/* Runs call-frame instructions until the location passes target. Returns 0,
 * or -1 for an instruction the rules cannot express. */
static int run_cfa(rd_t *r, const cie_t *c, uintptr_t loc, uintptr_t target, cfa_state_t *st,
                   const cfa_state_t *initial)
{
    cfa_state_t saved[STATE_STACK];
    int nsaved = 0;
    while (r->p < r->end && !r->bad) {
        uint8_t op = rd_u8(r);
        uint64_t reg = 0;
        int64_t off = 0;
        uint64_t delta = 0;
        switch (op >> 6) {
        case 1: /* DW_CFA_advance_loc */ delta = op & 0x3f; goto advance;
        case 2: /* DW_CFA_offset */
            reg = op & 0x3f;
            off = (int64_t)rd_uleb(r) * c->data_align;
            goto offset;
        case 3: /* DW_CFA_restore */ reg = op & 0x3f; goto restore;
        default: break;
        }
        switch (op) {
        case 0x00: continue; /* nop */
        case 0x01:           /* set_loc */
            loc = rd_encoded(r, c->fde_enc);
            if (loc > target)
                return 0;
            continue;
        case 0x02: delta = rd_fixed(r, 1); goto advance;
        case 0x03: delta = rd_fixed(r, 2); goto advance;
        case 0x04: delta = rd_fixed(r, 4); goto advance;
        case 0x05: /* offset_extended */
            reg = rd_uleb(r);
            off = (int64_t)rd_uleb(r) * c->data_align;
            goto offset;
        case 0x06: reg = rd_uleb(r); goto restore;
        case 0x07: /* undefined */
        case 0x08: /* same_value */
            reg = rd_uleb(r);
            if (reg == REG_RA)
                st->ra_how = op == 0x07 ? R_UNDEF : R_HARD;
            else if (reg == REG_RBP)
                st->rbp_how = op == 0x07 ? R_HARD : R_SAME;
            else if (reg == REG_RSP)
                return -1;
            continue;
        case 0x09: /* register */
        case 0x14: /* val_offset */
        case 0x15: /* val_offset_sf: a signed LEB128 is skipped like an unsigned one */
            reg = rd_uleb(r);
            rd_uleb(r);
            if (tracked(reg))
                return -1;
            continue;
        case 0x0a: /* remember_state */
            if (nsaved == STATE_STACK)
                return -1;
            saved[nsaved++] = *st;
            continue;
        case 0x0b: /* restore_state: every rule, the CFA's included (GCC
                    * brackets mid-function epilogues with these) */
            if (nsaved == 0)
                return -1;
            *st = saved[--nsaved];
            continue;
        case 0x0c: /* def_cfa */
            st->cfa_reg = (int)rd_uleb(r);
            st->cfa_off = (int64_t)rd_uleb(r);
            continue;
        case 0x0d: st->cfa_reg = (int)rd_uleb(r); continue;     /* def_cfa_register */
        case 0x0e: st->cfa_off = (int64_t)rd_uleb(r); continue; /* def_cfa_offset */
        case 0x0f: return -1;                                   /* def_cfa_expression */
        case 0x10:                                              /* expression */
        case 0x16:                                              /* val_expression */
            reg = rd_uleb(r);
            delta = rd_uleb(r);
            if (tracked(reg) || delta > (uint64_t)(r->end - r->p))
                return -1;
            r->p += delta;
            continue;
        case 0x11: /* offset_extended_sf */
            reg = rd_uleb(r);
            off = rd_sleb(r) * c->data_align;
            goto offset;
        case 0x12: /* def_cfa_sf */
            st->cfa_reg = (int)rd_uleb(r);
            st->cfa_off = rd_sleb(r) * c->data_align;
            continue;
        case 0x13: st->cfa_off = rd_sleb(r) * c->data_align; continue; /* def_cfa_offset_sf */
        case 0x2e: rd_uleb(r); continue;                               /* GNU_args_size */
        case 0x2f:                                                     /* GNU_negative_offset_extended */
            reg = rd_uleb(r);
            off = -(int64_t)rd_uleb(r) * c->data_align;
            goto offset;
        default: return -1;
        }
    advance:
        loc += delta * c->code_align;
        if (loc > target)
            return 0;
        continue;
    offset:
        if (reg == REG_RA) {
            st->ra_how = R_OFFSET;
            st->ra_off = off;
        } else if (reg == REG_RBP) {
            st->rbp_how = R_OFFSET;
            st->rbp_off = off;
        } else if (reg == REG_RSP) {
            return -1;
        }
        continue;
    restore:
        if (reg == REG_RA) {
            st->ra_how = initial->ra_how;
            st->ra_off = initial->ra_off;
        } else if (reg == REG_RBP) {
            st->rbp_how = initial->rbp_how;
            st->rbp_off = initial->rbp_off;
        }
        continue;
    }
    return r->bad ? -1 : 0;
}

/* The FDE covering target in the object whose .eh_frame_hdr is hdr. */
static const uint8_t *find_fde(const uint8_t *hdr, uintptr_t target)
{
    if (hdr[0] != 1 || hdr[3] != 0x3b) /* version 1, table of datarel sdata4 pairs */
        return NULL;
    rd_t r = {hdr + 4, hdr + 4 + 16, 0};
    rd_encoded(&r, hdr[1]); /* eh_frame_ptr */
    uint8_t count_enc = hdr[2];
    if (count_enc == 0xff || (count_enc & 0x70) != 0)
        return NULL;
    uint64_t count = rd_encoded(&r, count_enc);
    if (r.bad || count == 0)
        return NULL;
    const int32_t *table = (const int32_t *)(const void *)r.p;
    uint64_t lo = 0, hi = count;
    while (hi - lo > 1) { /* the last entry whose start is <= target */
        uint64_t mid = lo + (hi - lo) / 2;
        if ((uintptr_t)(hdr + table[2 * mid]) <= target)
            lo = mid;
        else
            hi = mid;
    }
    if ((uintptr_t)(hdr + table[2 * lo]) > target)
        return NULL;
    return hdr + table[2 * lo + 1];
}

/* The rule for the frame whose return address is pc. */
static uint64_t compute_rule(uintptr_t pc)
{
    struct dl_find_object obj;
    if (_dl_find_object((void *)pc, &obj) != 0)
        return rule_make(K_NOOBJ, 0, 0, 0);
    if (!obj.dlfo_eh_frame)
        return rule_make(K_NOFDE, 0, 0, 0);
    /* A return address follows the call: the call itself is at pc - 1
     * (which matters at the end of a noreturn function's FDE). */
    uintptr_t target = pc - 1;
    const uint8_t *fde_at = find_fde(obj.dlfo_eh_frame, target);
    if (!fde_at)
        return rule_make(K_NOFDE, 0, 0, 0);
    rd_t f;
    if (rd_entry(fde_at, &f) != 0)
        return rule_make(K_HARD, 0, 0, 0);
    const uint8_t *id_field = f.p;
    uint32_t cie_off = (uint32_t)rd_fixed(&f, 4);
    if (cie_off == 0) /* a CIE, not an FDE */
        return rule_make(K_HARD, 0, 0, 0);
    cie_t cie;
    if (parse_cie(id_field - cie_off, &cie) != 0)
        return rule_make(K_HARD, 0, 0, 0);
    uintptr_t begin = rd_encoded(&f, cie.fde_enc);
    uintptr_t range = rd_encoded(&f, (uint8_t)(cie.fde_enc & 0x0f));
    if (f.bad)
        return rule_make(K_HARD, 0, 0, 0);
    if (target < begin || target - begin >= range)
        return rule_make(K_NOFDE, 0, 0, 0);
    /* Augmentation data: always there when the CIE's string starts with z;
     * parse_cie accepted only those and the empty string. */
    if (cie.has_z) {
        uint64_t n = rd_uleb(&f);
        if (f.bad || n > (uint64_t)(f.end - f.p))
            return rule_make(K_HARD, 0, 0, 0);
        f.p += n;
    }
    cfa_state_t st = {.cfa_reg = REG_RSP, .cfa_off = 8, .rbp_how = R_SAME, .ra_how = R_HARD};
    rd_t init = cie.init;
    if (run_cfa(&init, &cie, begin, UINTPTR_MAX, &st, &st) != 0)
        return rule_make(K_HARD, 0, 0, 0);
    cfa_state_t initial = st;
    if (run_cfa(&f, &cie, begin, target, &st, &initial) != 0)
        return rule_make(K_HARD, 0, 0, 0);
    if (st.ra_how == R_UNDEF)
        return rule_make(K_END, 0, 0, 0);
    if (st.ra_how != R_OFFSET || st.rbp_how == R_HARD || (st.cfa_reg != REG_RSP && st.cfa_reg != REG_RBP))
        return rule_make(K_HARD, 0, 0, 0);
    int64_t rbp_off = st.rbp_how == R_OFFSET ? st.rbp_off : 0;
    if (st.cfa_off < 0 || st.cfa_off > INT32_MAX || st.ra_off % 8 || rbp_off % 8 || st.ra_off / 8 < INT8_MIN ||
        st.ra_off / 8 > INT8_MAX || rbp_off / 8 < INT16_MIN || rbp_off / 8 > INT16_MAX ||
        (st.rbp_how == R_OFFSET && rbp_off == 0))
        return rule_make(K_HARD, 0, 0, 0);
    return rule_make(st.cfa_reg == REG_RSP ? K_RSP : K_RBP, st.cfa_off, st.ra_off, rbp_off);
}

/* ---- the rule cache --------------------------------------------------------------- */

#define SLOTS 16384u
#define PROBES 8u
#define TAG_BUSY 1u

typedef struct {
    _Atomic uint64_t tag, rule;
} slot_t;

static slot_t *cache;
static _Atomic uint32_t epoch;
static _Atomic uint64_t n_fallbacks;

void hs_unwind_init(void)
{
    if (!cache)
        cache = hs_map(SLOTS * sizeof(slot_t));
}

void hs_unwind_forget(void) { atomic_fetch_add_explicit(&epoch, 1, memory_order_acq_rel); }

void hs_unwind_stats(hs_unwind_stats_t *out)
{
    out->fallbacks = atomic_load_explicit(&n_fallbacks, memory_order_relaxed);
}

static uint64_t rule_slow(uintptr_t pc, slot_t *claimed, uint64_t tag)
{
    uint64_t r = compute_rule(pc);
    /* Code that is in no object now may be mapped later: not cached. */
    if (claimed && rule_kind(r) != K_NOOBJ) {
        atomic_store_explicit(&claimed->rule, r, memory_order_relaxed);
        atomic_store_explicit(&claimed->tag, tag, memory_order_release);
    } else if (claimed) {
        atomic_store_explicit(&claimed->tag, 0, memory_order_release);
    }
    return r;
}

static inline uint32_t slot_of(uintptr_t pc) { return (uint32_t)(((uint64_t)pc * 0x9E3779B97F4A7C15ull) >> 50); }

/* Reads a published slot: the rule, or 0 when the slot changed meanwhile. */
static inline uint64_t slot_read(slot_t *s, uint64_t want)
{
    uint64_t r = atomic_load_explicit(&s->rule, memory_order_relaxed);
    atomic_thread_fence(memory_order_acquire);
    return atomic_load_explicit(&s->tag, memory_order_relaxed) == want ? r : 0;
}

static __attribute__((noinline)) uint64_t rule_probe(uintptr_t pc, uint64_t want, uint64_t ep)
{
    uint32_t h = slot_of(pc);
    for (uint32_t i = 0; i < PROBES; i++) {
        slot_t *s = &cache[(h + i) & (SLOTS - 1)];
        uint64_t t = atomic_load_explicit(&s->tag, memory_order_acquire);
        if (t == want) {
            uint64_t r = slot_read(s, want);
            return r ? r : rule_slow(pc, NULL, 0);
        }
        /* Empty, or left by an older epoch: claim it. */
        if (t == 0 || (t != TAG_BUSY && (t & 0xffff000000000000ull) != ep)) {
            if (atomic_compare_exchange_strong_explicit(&s->tag, &t, TAG_BUSY, memory_order_acq_rel,
                                                        memory_order_relaxed)) {
                atomic_thread_fence(memory_order_release);
                return rule_slow(pc, s, want);
            }
        }
    }
    return rule_slow(pc, NULL, 0);
}

/* The hit in the first slot inline; the rest out of line. */
static inline __attribute__((always_inline)) uint64_t rule_for(uintptr_t pc, uint64_t ep)
{
    uint64_t want = (uint64_t)pc ^ ep;
    slot_t *s = &cache[slot_of(pc)];
    if (__builtin_expect(atomic_load_explicit(&s->tag, memory_order_acquire) == want, 1)) {
        uint64_t r = slot_read(s, want);
        if (__builtin_expect(r != 0, 1))
            return r;
    }
    return rule_probe(pc, want, ep);
}

/* ---- the walk --------------------------------------------------------------------- */

#define MAX_FRAME ((uintptr_t)1 << 20)

/* A step of the walk in progress, before it goes into the cache. */
typedef struct {
    uintptr_t pc, sp, rbp, ra_addr, ra_val, rbp_addr, rbp_val;
    uint8_t out, rbp_cfa;
} step_rec_t;

/* One step from the frame at (pc, sp, rbp) to its caller's, noting in rec
 * the words it read. Returns 0, or the kind that ends (K_END, K_NOOBJ) or
 * fails (the others) the walk. */
static inline __attribute__((always_inline)) unsigned step(uintptr_t *pc, uintptr_t *sp, uintptr_t *rbp, uint64_t ep,
                                                           int own, step_rec_t *rec)
{
    uint64_t r = rule_for(*pc, ep);
    unsigned kind = rule_kind(r);
    uintptr_t cfa;
    rec->ra_addr = rec->rbp_addr = 0;
    rec->rbp_cfa = kind == K_RBP;
    if (__builtin_expect(kind == K_RSP, 1))
        cfa = *sp + (uintptr_t)rule_cfa_off(r);
    else if (kind == K_RBP)
        cfa = *rbp + (uintptr_t)rule_cfa_off(r);
    else
        return kind;
    /* A caller's frame lies above its callee's, 8-aligned, and less than
     * 1 MiB above it (only our own hs_call_on_stack moves to another
     * stack). A frame pointer that is not one ends the walk here instead
     * of sending a read beyond the stack. */
    if (__builtin_expect((!own && (cfa <= *sp || cfa - *sp > MAX_FRAME)) || (cfa & 7) || cfa < 4096, 0))
        return K_END;
    int64_t rbp_off = rule_rbp_off(r);
    if (rbp_off) {
        rec->rbp_addr = cfa + (uintptr_t)rbp_off;
        *rbp = rec->rbp_val = *(const uintptr_t *)rec->rbp_addr;
    }
    rec->ra_addr = cfa + (uintptr_t)rule_ra_off(r);
    *pc = rec->ra_val = *(const uintptr_t *)rec->ra_addr;
    *sp = cfa;
    return *pc < 4096 ? K_END : 0;
}

/* Does the last walk, from its step e to its end, still hold? Every word it
 * read there is read again, at the addresses this walk would compute (its
 * state at e is the same), so nothing is read that the walk would not. */
static __attribute__((no_sanitize_address)) int suffix_holds(const hs_walk_cache_t *wc, int e)
{
    for (; e >= 0; e--) {
        if (wc->ra_addr[e] && *(const uintptr_t *)wc->ra_addr[e] != wc->ra_val[e])
            return 0;
        if (wc->rbp_addr[e] && *(const uintptr_t *)wc->rbp_addr[e] != wc->rbp_val[e])
            return 0;
    }
    return 1;
}

/* Puts the k new steps (pre[0] the innermost) above the base steps kept,
 * and derives what a later join reads: the frames written from each step to
 * the end, and whether the walk from each step depends on the rbp it starts
 * with (a step whose CFA is rbp-based does, and so does one that leaves rbp
 * as it is when a later one does; elsewhere rbp is whatever the code kept
 * in it, and a join must not compare it). */
static void cache_store(hs_walk_cache_t *wc, const step_rec_t *pre, uint32_t k, uint32_t base)
{
    if (base + k > HS_WALK_STEPS) {
        wc->n = 0;
        return;
    }
    for (uint32_t i = 0; i < k; i++) {
        uint32_t e = base + k - 1 - i;
        const step_rec_t *r = &pre[i];
        wc->pc[e] = r->pc;
        wc->sp[e] = r->sp;
        wc->rbp[e] = r->rbp;
        wc->ra_addr[e] = r->ra_addr;
        wc->ra_val[e] = r->ra_val;
        wc->rbp_addr[e] = r->rbp_addr;
        wc->rbp_val[e] = r->rbp_val;
        wc->out[e] = r->out;
        wc->rbp_cfa[e] = r->rbp_cfa;
    }
    for (uint32_t e = base; e < base + k; e++) {
        uint32_t outs_below = e ? wc->outs[e - 1] : 0;
        uint64_t hash_below = e ? wc->hash[e - 1] : HS_STACK_HASH_SEED;
        int dep_below = e ? wc->rbp_dep[e - 1] : 0;
        wc->outs[e] = outs_below + wc->out[e];
        wc->hash[e] = wc->out[e] ? hs_stack_hash_step(hash_below, wc->pc[e]) : hash_below;
        wc->rbp_dep[e] = (uint8_t)(wc->rbp_cfa[e] || (!wc->rbp_addr[e] && dep_below));
    }
    wc->n = base + k;
}

_Static_assert(offsetof(hs_walk_args_t, pc) == 0 && offsetof(hs_walk_args_t, sp) == 8 &&
                   offsetof(hs_walk_args_t, rbp) == 16,
               "hs_unwind_from_caller stores pc, sp and rbp at these offsets");

/* Reads other frames' stack words, which AddressSanitizer would take for
 * out-of-bounds reads of this frame's caller. */
__attribute__((no_sanitize_address)) int hs_unwind_walk(hs_walk_args_t *a)
{
    a->same = 0;
    a->hash = 0;
    if (!cache)
        return -1;
    uintptr_t pc = a->pc, sp = a->sp, rbp = a->rbp, *out = a->out;
    uintptr_t skip_lo = a->skip_lo, skip_hi = a->skip_hi;
    uint32_t max = a->max;
    uint64_t ep = (uint64_t)(atomic_load_explicit(&epoch, memory_order_acquire) & 0x7fff) << 48;
    hs_walk_cache_t *wc = a->wc;
    step_rec_t scratch, pre[HS_WALK_STEPS];
    unsigned end = 0;
    /* Our own frames first (a few, bounded: they may switch stacks), then
     * the program's, each of which moves the stack pointer up. */
    for (int own = 0; own < 32 && pc - skip_lo < skip_hi - skip_lo; own++)
        if ((end = step(&pc, &sp, &rbp, ep, 1, &scratch)) != 0)
            goto failed;

    int n_old = wc && wc->epoch == ep && wc->max == max ? (int)wc->n : 0;
    int e = n_old - 1; /* the old step this walk may join, from the inner end */
    uint32_t k = 0, depth = 0;
    for (uint32_t steps = 0; depth < max && steps < max + 64; steps++) {
        int own = pc - skip_lo < skip_hi - skip_lo; /* our thread trampoline sits at the bottom */
        if (e >= 0) {
            while (e >= 0 && wc->sp[e] < sp)
                e--;
            /* Joinable: same state (rbp only where it matters), enough frames
             * kept if the old walk was cut at max, and the words it read
             * unchanged. */
            if (e >= 0 && wc->sp[e] == sp && wc->pc[e] == pc && (!wc->rbp_dep[e] || wc->rbp[e] == rbp) &&
                (!wc->by_max || depth + wc->outs[e] >= max) && suffix_holds(wc, e))
                goto join;
        }
        step_rec_t *rec = k < HS_WALK_STEPS ? &pre[k] : &scratch;
        k++;
        rec->pc = pc;
        rec->sp = sp;
        rec->rbp = rbp;
        rec->out = !own;
        if (!own)
            out[depth++] = pc;
        if ((end = step(&pc, &sp, &rbp, ep, 0, rec)) != 0) {
            if (end == K_END || end == K_NOOBJ)
                break;
            goto failed;
        }
    }
    if (wc) {
        cache_store(wc, pre, k, 0);
        wc->by_max = depth == max;
        wc->reused = 0;
        goto keep;
    }
    return (int)depth;

join : {
    /* The last walk's steps e..0 are this walk's next ones: copy them. */
    int same = (uint32_t)(n_old - 1 - e) == k;
    for (uint32_t i = 0; i < k && same; i++)
        same = pre[i].pc == wc->pc[n_old - 1 - (int)i] && pre[i].out == wc->out[n_old - 1 - (int)i];
    a->same = same;
    wc->reused = (uint32_t)e + 1;
    for (int i = e; i >= 0 && depth < max; i--)
        if (wc->out[i])
            out[depth++] = wc->pc[i];
    cache_store(wc, pre, k, (uint32_t)e + 1);
}
keep:
    /* Every step kept wrote its frame: the hash of them all is the frames'. */
    if (wc->n && wc->outs[wc->n - 1] == depth)
        a->hash = hs_stack_hash_finish(wc->hash[wc->n - 1], depth);
    wc->depth = depth;
    wc->epoch = ep;
    wc->max = max;
    return (int)depth;

failed:
    if (wc)
        wc->n = 0;
    if (end == K_END || end == K_NOOBJ)
        return 0;
    atomic_fetch_add_explicit(&n_fallbacks, 1, memory_order_relaxed);
    return -1;
}

/* An assembly function NAME(args) that stores its caller's return address,
 * stack pointer after the return and rbp in args (pc, sp, rbp: offsets 0,
 * 8, 16), then runs THEN. */
#define CALLER_FRAME_STUB(NAME, THEN)                                                                      \
    __asm__(".text\n.p2align 4\n.globl " NAME "\n.hidden " NAME "\n.type " NAME ", @function\n" NAME ":\n" \
            ".cfi_startproc\n"                                                                             \
            "movq (%rsp), %rax\n"                                                                          \
            "movq %rax, 0(%rdi)\n"                                                                         \
            "leaq 8(%rsp), %rax\n"                                                                         \
            "movq %rax, 8(%rdi)\n"                                                                         \
            "movq %rbp, 16(%rdi)\n" THEN "\n"                                                              \
            ".cfi_endproc\n"                                                                               \
            ".size " NAME ", .-" NAME "\n")

/* hs_unwind_from_caller jumps on to hs_unwind_walk, so that the first frame
 * walked is its caller's; hs_unwind_mark returns. */
CALLER_FRAME_STUB("hs_unwind_from_caller", "jmp hs_unwind_walk");
CALLER_FRAME_STUB("hs_unwind_mark", "ret");

#else /* not x86_64: libunwind does every walk */

void hs_unwind_mark(hs_walk_args_t *a) { a->pc = 0; }

int hs_unwind_walk(hs_walk_args_t *a)
{
    a->same = 0;
    return -1;
}

int hs_unwind_from_caller(hs_walk_args_t *a)
{
    a->same = 0;
    return -1;
}
void hs_unwind_init(void) {}
void hs_unwind_forget(void) {}
void hs_unwind_stats(hs_unwind_stats_t *out) { memset(out, 0, sizeof(*out)); }

#endif
