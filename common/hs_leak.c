/* hs_leak.c - owns the leak verdict on one series of (time, bytes) points:
 * Theil-Sen trend with Sen's interval, Mann-Kendall significance, the lower
 * envelope, late growth and the plain-words reason (the rules are listed in
 * hs_leak.h), and the blame rule that the report and the live detector
 * share (which call site is to blame, turnover, a site's minimum growth).
 * Must never allocate, touch stdio, lock or keep state: the interposer calls
 * it after its snapshots, so the reason is written with hs_text.h, not
 * printf. Nothing here knows about dumps or stacks: callers hand it numbers. */
#include "hs_leak.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "hs_text.h"

/* Sen's interval uses the two-sided 95% normal quantile. */
#define Z_975 1.959963984540054

/* ---- the reason text, formatted without stdio (hs_text.h) ---- */

static void put_rate(hs_text_t *o, double x)
{
    hs_text_put_bytes(o, x, HS_TEXT_BYTES_SHORT);
    hs_text_put_str(o, "/s");
}

static void put_seconds(hs_text_t *o, double s)
{
    hs_text_put_fixed(o, s, fabs(s) < 9.95 ? 1 : 0);
    hs_text_put_str(o, " s");
}

/* 0.42, 0.005, 3e-9; erfc underflows to 0 beyond z ~ 38. */
static void put_p(hs_text_t *o, double p)
{
    if (p >= 0.01 || !isfinite(p)) {
        hs_text_put_fixed(o, p, 2);
    } else if (p >= 0.001) {
        hs_text_put_fixed(o, p, 3);
    } else if (p <= 0) {
        hs_text_put_str(o, "<1e-300");
    } else {
        double e = floor(log10(p));
        double m = floor(p / pow(10, e) + 0.5);
        if (m >= 10) {
            m = 1;
            e += 1;
        }
        hs_text_put_uint(o, (uint64_t)m);
        hs_text_put_str(o, "e-");
        hs_text_put_uint(o, (uint64_t)-e);
    }
}

/* ---- order statistics without sorting everything ---- */

static double median3(double a, double b, double c)
{
    if (a > b) {
        double x = a;
        a = b;
        b = x;
    }
    if (b > c)
        b = c;
    return a > b ? a : b;
}

/* Rearranges a[0..n) so that a[k] holds the k-th smallest value, everything
 * before it is <= and everything after it >=; returns a[k]. Each round is a
 * branch-free Lomuto pass moving the values < pivot to the front, then, only
 * if k lies beyond them, a second pass moving the values == pivot next: so
 * many equal values (a perfectly linear leak makes every pairwise slope
 * equal, a staircase makes a third of them zero) end the search instead of
 * sending it quadratic, and random data costs no mispredicted branches
 * (a branchy three-way partition was 3x slower on 130k slopes). Pivots are
 * medians of three positions from a local LCG, so pair order cannot hurt. */
static double select_kth(double *a, size_t n, size_t k)
{
    size_t lo = 0, hi = n;
    uint64_t x = 0x9E3779B97F4A7C15ull ^ (uint64_t)n;
    while (hi - lo > 1) {
        size_t span = hi - lo;
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        double pivot = median3(a[lo + (x >> 33) % span], a[lo + (x >> 13) % span], a[lo + span / 2]);
        size_t lt = lo;
        for (size_t i = lo; i < hi; i++) {
            double y = a[i];
            size_t smaller = y < pivot;
            a[i] = a[lt];
            a[lt] = y;
            lt += smaller;
        }
        if (k < lt) {
            hi = lt;
            continue;
        }
        size_t eq = lt; /* [lt, hi) >= pivot, and holds the pivot itself */
        for (size_t i = lt; i < hi; i++) {
            double y = a[i];
            size_t equal = y <= pivot;
            a[i] = a[eq];
            a[eq] = y;
            eq += equal;
        }
        if (k < eq)
            return a[k];
        lo = eq;
    }
    return a[k];
}

static double max_of(const double *a, size_t n)
{
    double m = a[0];
    for (size_t i = 1; i < n; i++)
        if (a[i] > m)
            m = a[i];
    return m;
}

/* The median of a[0..n) (n >= 1), averaging the two middle values when n is
 * even. Leaves a partitioned around index n/2. */
static double median_of(double *a, size_t n)
{
    size_t k = n / 2;
    double hi = select_kth(a, n, k);
    if (n % 2)
        return hi;
    return 0.5 * (max_of(a, k) + hi);
}

/* Shell sort (Ciura gaps): the interposer may not call qsort. */
static void sort_doubles(double *a, size_t n)
{
    static const size_t gaps[] = {701, 301, 132, 57, 23, 10, 4, 1};
    for (size_t g = 0; g < sizeof(gaps) / sizeof(gaps[0]); g++) {
        size_t gap = gaps[g];
        for (size_t i = gap; i < n; i++) {
            double x = a[i];
            size_t j = i;
            while (j >= gap && a[j - gap] > x) {
                a[j] = a[j - gap];
                j -= gap;
            }
            a[j] = x;
        }
    }
}

/* The values at ranks rank[0] <= ... <= rank[nrank-1] (nrank <= 4, each
 * < n) of a[0..n), selecting the middle rank first and the others inside
 * the two sides it leaves. Reorders a. */
static void select_ranks_direct(double *a, size_t n, const size_t *rank, double *value, size_t nrank)
{
    if (nrank == 0)
        return;
    size_t mid = nrank / 2, pivot = rank[mid], shifted[4];
    value[mid] = select_kth(a, n, pivot);
    size_t left = mid, right = mid + 1;
    while (left > 0 && rank[left - 1] == pivot)
        value[--left] = value[mid];
    while (right < nrank && rank[right] == pivot)
        value[right++] = value[mid];
    select_ranks_direct(a, pivot, rank, value, left);
    for (size_t i = right; i < nrank; i++)
        shifted[i - right] = rank[i] - pivot - 1;
    select_ranks_direct(a + pivot + 1, n - pivot - 1, shifted, value + right, nrank - right);
}

/* select_ranks_direct, but first narrowed the Floyd-Rivest way: a random
 * sample of `cap` values brackets the wanted ranks, one branch-free pass
 * counts what falls below and inside the bracket, and if the bracket holds
 * every wanted rank a second pass packs the inside values to the front so
 * that the selection runs on ~10% of the array. This is what keeps 130k
 * Theil-Sen slopes well under the ~10 ms budget: three quickselects over all
 * of them took ~3 ms, the two counting passes take ~0.2 ms. A bracket that
 * misses (unlikely: 3 sample SDs of margin) only costs the plain route. */
static void select_ranks(double *a, size_t n, const size_t *rank, double *value, size_t nrank, double *sample,
                         size_t cap)
{
    if (nrank && cap >= 64 && n >= 8 * cap) {
        uint64_t x = 0x2545F4914F6CDD1Dull ^ (uint64_t)n;
        for (size_t i = 0; i < cap; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            sample[i] = a[(x >> 16) % n];
        }
        sort_doubles(sample, cap);
        double c = (double)cap, q_lo = (double)rank[0] / (double)n, q_hi = (double)rank[nrank - 1] / (double)n;
        double at_lo = floor(q_lo * c - 3 * sqrt(c * q_lo * (1 - q_lo)) - 2);
        double at_hi = ceil(q_hi * c + 3 * sqrt(c * q_hi * (1 - q_hi)) + 2);
        double lower = at_lo < 0 ? -INFINITY : sample[(size_t)at_lo];
        double upper = at_hi >= c ? INFINITY : sample[(size_t)at_hi];
        size_t below = 0, inside = 0;
        for (size_t i = 0; i < n; i++) { /* inside = #(<= upper) - #(< lower), as lower <= upper */
            size_t under = a[i] < lower;
            below += under;
            inside += (size_t)(a[i] <= upper) - under;
        }
        if (below <= rank[0] && below + inside > rank[nrank - 1] && lower == upper) {
            for (size_t i = 0; i < nrank; i++) /* every slope equal: a perfectly linear series */
                value[i] = lower;
            return;
        }
        if (below <= rank[0] && below + inside > rank[nrank - 1]) {
            size_t packed = 0, shifted[4];
            for (size_t i = 0; i < n; i++) {
                double y = a[i];
                a[packed] = y;
                packed += (size_t)(y <= upper) - (size_t)(y < lower);
            }
            for (size_t i = 0; i < nrank; i++)
                shifted[i] = rank[i] - below;
            select_ranks_direct(a, packed, shifted, value, nrank);
            return;
        }
    }
    select_ranks_direct(a, n, rank, value, nrank);
}

/* ---- the statistics ---- */

/* Fills slopes with (v_j - v_i) / (t_j - t_i) for i < j with t_j > t_i and
 * returns how many; *s gets the Mann-Kendall S over the same pairs. */
static size_t pairwise(const double *t, const double *v, size_t m, double *slopes, double *s)
{
    size_t count = 0;
    double sum = 0;
    for (size_t i = 0; i + 1 < m; i++) {
        for (size_t j = i + 1; j < m; j++) {
            double dt = t[j] - t[i];
            if (!(dt > 0))
                continue;
            double dv = v[j] - v[i];
            slopes[count++] = dv / dt;
            sum += (dv > 0) - (dv < 0);
        }
    }
    if (s)
        *s = sum;
    return count;
}

/* Var(S) under no trend, corrected for groups of tied values (work: m doubles). */
static double mann_kendall_variance(const double *v, size_t m, double *work)
{
    double nm = (double)m;
    double var = nm * (nm - 1) * (2 * nm + 5);
    memcpy(work, v, m * sizeof(double));
    sort_doubles(work, m);
    for (size_t i = 0; i < m;) {
        size_t j = i + 1;
        while (j < m && work[j] == work[i])
            j++;
        double g = (double)(j - i);
        var -= g * (g - 1) * (2 * g + 5);
        i = j;
    }
    return var > 0 ? var / 18 : 0;
}

/* Theil-Sen slope of points [from, m), or `fallback` without a usable pair. */
static double theil_sen(const double *t, const double *v, size_t from, size_t m, double *slopes, double fallback)
{
    size_t count = pairwise(t + from, v + from, m - from, slopes, NULL);
    return count ? median_of(slopes, count) : fallback;
}

static double normal_cdf(double x) { return 0.5 * erfc(-x / sqrt(2.0)); }

/* Median of up to 5 neighbours (i-2..i+2, clipped at the ends). */
static double median5_at(const double *v, size_t m, size_t i)
{
    double w[5] = {0, 0, 0, 0, 0};
    size_t lo = i >= 2 ? i - 2 : 0, hi = i + 3 < m ? i + 3 : m, k = 0;
    for (size_t j = lo; j < hi; j++) {
        double x = v[j];
        size_t p = k++;
        while (p > 0 && w[p - 1] > x) {
            w[p] = w[p - 1];
            p--;
        }
        w[p] = x;
    }
    return k % 2 ? w[k / 2] : 0.5 * (w[k / 2 - 1] + w[k / 2]);
}

/* ---- the window ---- */

static int is_usable(const hs_point_t *pt) { return isfinite(pt->t) && isfinite(pt->v); }

/* Copies the finite points of the window into t/v (at most
 * HS_LEAK_MAX_POINTS, as bucket means when there are more). Returns how many
 * landed in t/v; *in_window gets the raw count. */
static size_t load_window(const hs_point_t *pts, size_t n, double window_s, double *t, double *v, size_t *in_window)
{
    size_t last = n;
    while (last > 0 && !is_usable(&pts[last - 1]))
        last--;
    *in_window = 0;
    if (last == 0)
        return 0;
    double start = window_s > 0 ? pts[last - 1].t - window_s : -INFINITY;
    /* Walk back from the newest point: the window ends where t drops below
     * its start (t is increasing; a stray older point ends it too). */
    size_t first = last, count = 0;
    while (first > 0) {
        const hs_point_t *pt = &pts[first - 1];
        if (is_usable(pt)) {
            if (pt->t < start)
                break;
            count++;
        }
        first--;
    }
    *in_window = count;
    size_t buckets = count < HS_LEAK_MAX_POINTS ? count : HS_LEAK_MAX_POINTS;
    /* Point number r (0-based among usable ones) goes to bucket r*buckets/count. */
    size_t r = 0, b = 0, in_bucket = 0;
    double st = 0, sv = 0;
    for (size_t i = first; i < last; i++) {
        if (!is_usable(&pts[i]))
            continue;
        size_t bucket = (size_t)((uint64_t)r * buckets / count);
        if (bucket != b && in_bucket) {
            t[b] = st / (double)in_bucket;
            v[b] = sv / (double)in_bucket;
            st = sv = 0;
            in_bucket = 0;
        }
        b = bucket;
        st += pts[i].t;
        sv += pts[i].v;
        in_bucket++;
        r++;
    }
    if (in_bucket) {
        t[b] = st / (double)in_bucket;
        v[b] = sv / (double)in_bucket;
    }
    return buckets;
}

/* Median of the values whose time is in [lo, hi] (the point nearest the
 * middle when none is), and the median of their times in *at. */
static double level_between(const double *t, const double *v, size_t m, double lo, double hi, double *work, double *at)
{
    size_t k = 0;
    for (size_t i = 0; i < m; i++)
        if (t[i] >= lo && t[i] <= hi)
            work[k++] = t[i];
    if (k == 0) {
        double mid = 0.5 * (lo + hi);
        size_t best = 0;
        for (size_t i = 1; i < m; i++)
            if (fabs(t[i] - mid) < fabs(t[best] - mid))
                best = i;
        *at = t[best];
        return v[best];
    }
    *at = median_of(work, k);
    k = 0;
    for (size_t i = 0; i < m; i++)
        if (t[i] >= lo && t[i] <= hi)
            work[k++] = v[i];
    return median_of(work, k);
}

size_t hs_leak_scratch_needed(size_t n)
{
    size_t m = n < HS_LEAK_MAX_POINTS ? n : HS_LEAK_MAX_POINTS;
    /* t, v, a work copy, the filtered series, and every pairwise slope. */
    return 4 * m + m * (m > 0 ? m - 1 : 0) / 2;
}

/* ---- the verdict ---- */

static void say_growth(hs_text_t *o, const hs_leak_result_t *r)
{
    hs_text_put_str(o, "grew ");
    hs_text_put_bytes(o, r->growth, HS_TEXT_BYTES_SHORT);
    hs_text_put_str(o, " over ");
    put_seconds(o, r->t1 - r->t0);
    hs_text_put_str(o, " at ");
    put_rate(o, r->slope);
}

/* A peak well above the trend that did not last: worth naming when a
 * first-vs-last comparison would have been fooled by it. */
static void say_spike(hs_text_t *o, const hs_leak_result_t *r, const double *t, const double *v, size_t m,
                      double threshold)
{
    size_t top = 0;
    double excess = -INFINITY;
    for (size_t i = 0; i < m; i++) {
        double e = v[i] - (r->intercept + r->slope * t[i]);
        if (e > excess) {
            excess = e;
            top = i;
        }
    }
    if (excess > threshold && excess > r->noise_floor && excess > 0) {
        hs_text_put_str(o, " A temporary peak of +");
        hs_text_put_bytes(o, excess, HS_TEXT_BYTES_SHORT);
        hs_text_put_str(o, " above the trend at ");
        put_seconds(o, t[top] - r->t0);
        hs_text_put_str(o, " into the window is not sustained growth.");
    }
}

static void decide(hs_leak_result_t *r, const hs_leak_params_t *p, const double *t, const double *v, size_t m)
{
    hs_text_t o = hs_text_on(r->reason, sizeof(r->reason));
    r->leaking = 0;
    if (r->n < HS_LEAK_MIN_POINTS) {
        r->rule = HS_LEAK_RULE_TOO_FEW_POINTS;
        hs_text_put_str(&o, "not enough data: ");
        hs_text_put_uint(&o, r->n);
        hs_text_put_str(&o, r->n == 1 ? " snapshot" : " snapshots");
        hs_text_put_str(&o, " in the window, need at least ");
        hs_text_put_uint(&o, HS_LEAK_MIN_POINTS);
        hs_text_put_str(&o, ".");
        return;
    }
    if (r->t1 - r->t0 < p->min_span_s) {
        r->rule = HS_LEAK_RULE_TOO_FEW_POINTS;
        hs_text_put_str(&o, "not enough data yet: the snapshots span ");
        put_seconds(&o, r->t1 - r->t0);
        hs_text_put_str(&o, ", need ");
        put_seconds(&o, p->min_span_s);
        hs_text_put_str(&o, ".");
        return;
    }
    if (!(r->slope > 0)) {
        r->rule = HS_LEAK_RULE_NOT_GROWING;
        hs_text_put_str(&o, "not a leak: no upward trend (Theil-Sen slope ");
        put_rate(&o, r->slope);
        hs_text_put_str(&o, " over ");
        put_seconds(&o, r->t1 - r->t0);
        hs_text_put_str(&o, ").");
        say_spike(&o, r, t, v, m, p->threshold_bytes);
        return;
    }
    if (r->growth < p->threshold_bytes) {
        r->rule = HS_LEAK_RULE_BELOW_THRESHOLD;
        hs_text_put_str(&o, "not a leak: ");
        say_growth(&o, r);
        hs_text_put_str(&o, ", below the ");
        hs_text_put_bytes(&o, p->threshold_bytes, HS_TEXT_BYTES_SHORT);
        hs_text_put_str(&o, " threshold.");
        say_spike(&o, r, t, v, m, p->threshold_bytes);
        return;
    }
    if (r->growth < r->noise_floor) {
        r->rule = HS_LEAK_RULE_WITHIN_NOISE;
        hs_text_put_str(&o, "not a leak: ");
        say_growth(&o, r);
        hs_text_put_str(&o, ", within sampling noise (each snapshot is +/-");
        hs_text_put_bytes(&o, p->noise_bytes, HS_TEXT_BYTES_SHORT);
        hs_text_put_str(&o, "; need ");
        hs_text_put_bytes(&o, r->noise_floor, HS_TEXT_BYTES_SHORT);
        hs_text_put_str(&o, ").");
        return;
    }
    if (!(r->mk_p < HS_LEAK_MK_ALPHA)) {
        r->rule = HS_LEAK_RULE_NOT_SIGNIFICANT;
        hs_text_put_str(&o, "not a leak: ");
        say_growth(&o, r);
        hs_text_put_str(&o, ", but the trend is not significant (Mann-Kendall p=");
        put_p(&o, r->mk_p);
        hs_text_put_str(&o, ").");
        return;
    }
    if (r->envelope_growth < HS_LEAK_ENVELOPE_FRACTION * r->growth) {
        r->rule = HS_LEAK_RULE_ENVELOPE_FLAT;
        hs_text_put_str(&o, "not a leak: the lower envelope is flat (the minimum rose ");
        hs_text_put_bytes(&o, r->envelope_growth, HS_TEXT_BYTES_SHORT);
        hs_text_put_str(&o, " while the trend grew ");
        hs_text_put_bytes(&o, r->growth, HS_TEXT_BYTES_SHORT);
        hs_text_put_str(&o, "; sawtooth: memory is freed periodically).");
        return;
    }
    if (r->envelope_fall > 0) {
        r->rule = HS_LEAK_RULE_FALLS_BACK;
        hs_text_put_str(&o, "not a leak: the lower envelope is flat: the heap fell by ");
        hs_text_put_bytes(&o, r->envelope_fall, HS_TEXT_BYTES_SHORT);
        hs_text_put_str(&o, " back to its starting level (sawtooth: memory is freed periodically).");
        return;
    }
    if (r->late_slope < HS_LEAK_LATE_SLOPE_FRACTION * r->slope) {
        r->rule = HS_LEAK_RULE_GROWTH_STOPPED;
        hs_text_put_str(&o, "not a leak: growth stopped (latest third ");
        put_rate(&o, r->late_slope);
        hs_text_put_str(&o, " vs ");
        put_rate(&o, r->slope);
        hs_text_put_str(&o, " overall): warm-up then plateau.");
        return;
    }
    if (!(r->late_expected > 0) || r->late_growth < HS_LEAK_LATE_FRACTION * r->late_expected) {
        r->rule = HS_LEAK_RULE_GROWTH_STOPPED;
        hs_text_put_str(&o, "not a leak: growth stopped (the second half grew ");
        hs_text_put_bytes(&o, r->late_growth, HS_TEXT_BYTES_SHORT);
        hs_text_put_str(&o, " where the overall ");
        put_rate(&o, r->slope);
        hs_text_put_str(&o, " would give ");
        hs_text_put_bytes(&o, r->late_expected, HS_TEXT_BYTES_SHORT);
        hs_text_put_str(&o, "): warm-up then plateau.");
        return;
    }
    r->leaking = 1;
    r->rule = HS_LEAK_RULE_LEAK;
    say_growth(&o, r);
    hs_text_put_str(&o, "; trend significant (Mann-Kendall p=");
    put_p(&o, r->mk_p);
    hs_text_put_str(&o, "), still growing in the second half (");
    hs_text_put_bytes(&o, r->late_growth, HS_TEXT_BYTES_SHORT);
    hs_text_put_str(&o, "), lower envelope rising by ");
    hs_text_put_bytes(&o, r->envelope_growth, HS_TEXT_BYTES_SHORT);
    hs_text_put_str(&o, ".");
}

int hs_leak_analyze(const hs_point_t *pts, size_t n, const hs_leak_params_t *p, double *scratch, size_t scratch_len,
                    hs_leak_result_t *out)
{
    if (!out)
        return -1;
    memset(out, 0, sizeof(*out));
    out->mk_p = 1;
    size_t need = hs_leak_scratch_needed(n);
    if (scratch_len < need || (need && !scratch) || (n && !pts)) {
        hs_text_t o = hs_text_on(out->reason, sizeof(out->reason));
        hs_text_put_str(&o, "internal error: leak analysis needs ");
        hs_text_put_uint(&o, need);
        hs_text_put_str(&o, " doubles of scratch, got ");
        hs_text_put_uint(&o, scratch_len);
        hs_text_put_str(&o, ".");
        out->rule = HS_LEAK_RULE_TOO_FEW_POINTS;
        return -1;
    }
    hs_leak_params_t params = {0, 0, 0, 0};
    if (p)
        params = *p;
    if (!(params.window_s > 0) || !isfinite(params.window_s))
        params.window_s = 0;
    if (!(params.threshold_bytes > 0) || !isfinite(params.threshold_bytes))
        params.threshold_bytes = 0;
    if (!(params.noise_bytes > 0) || !isfinite(params.noise_bytes))
        params.noise_bytes = 0;
    if (!(params.min_span_s > 0)) /* +inf is allowed: never a verdict */
        params.min_span_s = 0;

    size_t cap = n < HS_LEAK_MAX_POINTS ? n : HS_LEAK_MAX_POINTS;
    double *t = scratch, *v = t + cap, *work = v + cap, *filtered = work + cap, *slopes = filtered + cap;
    size_t m = n ? load_window(pts, n, params.window_s, t, v, &out->n) : 0;
    out->n_used = m;
    out->noise_floor = HS_LEAK_NOISE_SIGMAS * params.noise_bytes * sqrt(2.0);
    if (m == 0) {
        decide(out, &params, t, v, m);
        return 0;
    }
    out->t0 = t[0];
    out->t1 = t[m - 1];
    double span = out->t1 - out->t0;
    if (!(span > 0))
        span = 0;

    /* Trend and significance over every pair. */
    double s = 0;
    size_t count = pairwise(t, v, m, slopes, &s);
    double var_s = mann_kendall_variance(v, m, work);
    if (var_s > 0) {
        out->mk_z = (s - (s > 0) + (s < 0)) / sqrt(var_s); /* continuity correction */
        out->mk_p = 0.5 * erfc(out->mk_z / sqrt(2.0));
    }
    if (count) {
        /* The median, and Sen's interval: ranks (N -+ C) / 2 around it with
         * C = z * sd(S), 1-based. For even N the median averages ranks k-1, k. */
        size_t k = count / 2;
        double c = Z_975 * sqrt(var_s);
        double lo_rank = floor(((double)count - c) / 2 + 0.5), hi_rank = floor(((double)count + c) / 2 + 0.5);
        size_t below_median = count % 2 ? k : k - 1, rank[4], nrank = 0;
        double value[4];
        size_t lo = lo_rank < 1 ? 0 : (size_t)lo_rank - 1, hi = hi_rank >= (double)count ? count - 1 : (size_t)hi_rank;
        rank[nrank++] = lo < below_median ? lo : below_median;
        if (count % 2 == 0)
            rank[nrank++] = k - 1;
        rank[nrank++] = k;
        rank[nrank++] = hi > k ? hi : k;
        select_ranks(slopes, count, rank, value, nrank, work, m);
        out->slope = count % 2 ? value[1] : 0.5 * (value[1] + value[2]);
        out->slope_lo = value[0];
        out->slope_hi = value[nrank - 1];
        if (out->slope_lo > out->slope)
            out->slope_lo = out->slope;
        if (out->slope_hi < out->slope)
            out->slope_hi = out->slope;
    }
    for (size_t i = 0; i < m; i++)
        work[i] = v[i] - out->slope * t[i];
    out->intercept = median_of(work, m);
    out->growth = out->slope * span;

    /* Latest third by time, at least the last 3 points. */
    size_t late = m;
    while (late > 0 && t[late - 1] >= out->t1 - span / 3)
        late--;
    if (m - late < 3)
        late = m >= 3 ? m - 3 : 0;
    out->late_slope = theil_sen(t, v, late, m, slopes, out->slope);

    /* Rule 6a: quarter minima by time. */
    double q1_end = out->t0 + span / 4, q4_start = out->t1 - span / 4;
    double min_first = INFINITY, min_last = INFINITY;
    for (size_t i = 0; i < m; i++) {
        if (t[i] <= q1_end && v[i] < min_first)
            min_first = v[i];
        if (t[i] >= q4_start && v[i] < min_last)
            min_last = v[i];
    }
    out->envelope_growth = min_last - min_first;

    /* Rule 6b: a large drop of the filtered series that lands back near the
     * first quarter's minimum. */
    double base = INFINITY, top = -INFINITY;
    for (size_t i = 0; i < m; i++) {
        filtered[i] = median5_at(v, m, i);
        if (t[i] <= q1_end && filtered[i] < base)
            base = filtered[i];
        if (filtered[i] > top)
            top = filtered[i];
    }
    double range = top - base, near = 0.25 * range + out->noise_floor, fall = 0, running_max = -INFINITY;
    for (size_t i = 0; i < m; i++) {
        if (t[i] > q1_end && filtered[i] <= base + near && running_max - filtered[i] > fall)
            fall = running_max - filtered[i];
        if (filtered[i] > running_max)
            running_max = filtered[i];
    }
    if (span > 0 && fall >= HS_LEAK_RETURN_FRACTION * range && fall > out->noise_floor)
        out->envelope_fall = fall;

    /* Rule 7: growth over the second half, level to level (medians of the
     * second and the last quarter), against what the overall slope predicts
     * for that distance. Levels of a quarter's points, half a window apart,
     * hold still under a wandering sampled estimate where a slope over the
     * last third swings (seen: a warm-up then plateau flagged live). */
    double at2, at4;
    double level2 = level_between(t, v, m, out->t0 + span / 4, out->t0 + span / 2, work, &at2);
    double level4 = level_between(t, v, m, q4_start, out->t1, work, &at4);
    out->late_growth = level4 - level2;
    out->late_expected = out->slope * (at4 - at2);

    if (out->growth > 0) {
        double noise_factor = params.noise_bytes > 0 ? normal_cdf(out->growth / (params.noise_bytes * sqrt(2.0))) : 1;
        out->confidence = (1 - out->mk_p) * noise_factor;
    }
    decide(out, &params, t, v, m);
    return 0;
}

double hs_leak_first_detection(const hs_point_t *pts, size_t n, const hs_leak_params_t *p, double *scratch,
                               size_t scratch_len)
{
    if (n < HS_LEAK_MIN_POINTS || scratch_len < hs_leak_scratch_needed(n))
        return -1;
    hs_leak_result_t r;
    /* Prefixes end at index lo..hi; each round scans at most 64 of them and
     * narrows to (last quiet, first leaking]. */
    size_t lo = HS_LEAK_MIN_POINTS - 1, hi = n - 1;
    for (;;) {
        size_t span = hi - lo + 1, step = span <= 64 ? 1 : (span + 63) / 64;
        size_t quiet = lo, found = SIZE_MAX;
        for (size_t i = lo;; i += step) {
            if (i > hi)
                i = hi;
            if (hs_leak_analyze(pts, i + 1, p, scratch, scratch_len, &r) == 0 && r.leaking) {
                found = i;
                break;
            }
            quiet = i;
            if (i == hi)
                break;
        }
        if (found == SIZE_MAX)
            return -1;
        if (step == 1 || found == lo) {
            while (!is_usable(&pts[found]))
                found--; /* a leaking prefix holds usable points */
            return pts[found].t;
        }
        lo = quiet + 1;
        hi = found;
    }
}

/* The standard error of a sampled growth, per point (see
 * hs_leak_sampling_noise): variance rate * (growth + turnover), split over
 * the two estimates whose difference the growth is. */
static double growth_noise(double growth, double sample_rate, double turnover_bytes)
{
    if (!(turnover_bytes > 0))
        turnover_bytes = 0;
    return sqrt(sample_rate * (growth + turnover_bytes)) / sqrt(2.0);
}

double hs_leak_sampling_noise(const hs_point_t *pts, size_t n, double window_s, double sample_rate,
                              double turnover_bytes)
{
    if (sample_rate <= 1 || n < 2)
        return 0;
    size_t first = 0;
    while (window_s > 0 && first + 1 < n && pts[first].t < pts[n - 1].t - window_s)
        first++;
    return growth_noise(fabs(pts[n - 1].v - pts[first].v), sample_rate, turnover_bytes);
}

/* ---- blame ---- */

double hs_leak_turnover(double freed_in_window, double live_at_start)
{
    if (!(freed_in_window > 0))
        return 0;
    double turnover = freed_in_window < live_at_start ? freed_in_window : live_at_start;
    return turnover > 0 ? turnover : 0;
}

double hs_leak_site_threshold(double threshold_bytes)
{
    double share = threshold_bytes / HS_LEAK_SITE_THRESHOLD_DIVISOR;
    return share > HS_LEAK_SITE_MIN_BYTES ? share : HS_LEAK_SITE_MIN_BYTES;
}

hs_leak_params_t hs_leak_site_params(const hs_point_t *pts, size_t n, double window_s, double threshold_bytes,
                                     double sample_rate, double turnover_bytes)
{
    return (hs_leak_params_t){
        .window_s = window_s,
        .threshold_bytes = hs_leak_site_threshold(threshold_bytes),
        .noise_bytes = hs_leak_sampling_noise(pts, n, window_s, sample_rate, turnover_bytes),
    };
}

int hs_leak_site_growth_is_blamable(double growth, double turnover_bytes, double sample_rate, double threshold_bytes)
{
    if (!(growth >= hs_leak_site_threshold(threshold_bytes)))
        return 0;
    if (sample_rate <= 1)
        return 1;
    /* The floor hs_leak_analyze puts on a series with this noise (rule 4). */
    return growth >= HS_LEAK_NOISE_SIGMAS * growth_noise(growth, sample_rate, turnover_bytes) * sqrt(2.0);
}

int hs_leak_is_blamed(int process_leaking, size_t sites, double sites_growth, double top_confidence,
                      double threshold_bytes)
{
    if (sites == 0)
        return 0;
    return process_leaking || (sites_growth >= threshold_bytes && top_confidence >= HS_LEAK_BLAME_CONFIDENCE);
}

/* ---- the headline rate ---- */

void hs_leak_rate_add(hs_leak_rate_t *r, double rate, double lo, double hi)
{
    if (!isfinite(rate))
        return;
    double below = isfinite(lo) && lo < rate ? rate - lo : 0;
    double above = isfinite(hi) && hi > rate ? hi - rate : 0;
    r->rate += rate;
    r->lo_sq += below * below;
    r->hi_sq += above * above;
    r->sites++;
    r->lo = r->rate - sqrt(r->lo_sq);
    if (!(r->lo > 0))
        r->lo = 0;
    r->hi = r->rate + sqrt(r->hi_sq);
}

double hs_leak_growth_stderr(double growth, double turnover_bytes, double sample_rate, double mean_block)
{
    if (!(sample_rate > 1))
        return 0;
    double bytes = (growth > 0 ? growth : 0) + (turnover_bytes > 0 ? turnover_bytes : 0);
    double per_byte = sample_rate; /* s (1-p)/p for s -> 0, its largest value */
    if (mean_block > 0 && isfinite(mean_block)) {
        double p = -expm1(-mean_block / sample_rate);
        if (p > 0)
            per_byte = mean_block * (1 - p) / p;
        if (!(per_byte <= sample_rate))
            per_byte = sample_rate;
    }
    return sqrt(bytes * per_byte);
}

/* A Sen half-width and the sampling one, in quadrature. */
static double widen(double half, double sampling_half) { return sqrt(half * half + sampling_half * sampling_half); }

void hs_leak_rate_add_site(hs_leak_rate_t *r, const hs_leak_result_t *site, double growth_stderr)
{
    double span = site->t1 - site->t0, s = site->slope;
    double h = span > 0 && growth_stderr > 0 && isfinite(growth_stderr) ? Z_975 * growth_stderr / span : 0;
    double below = isfinite(site->slope_lo) && site->slope_lo < s ? s - site->slope_lo : 0;
    double above = isfinite(site->slope_hi) && site->slope_hi > s ? site->slope_hi - s : 0;
    hs_leak_rate_add(r, s, s - widen(below, h), s + widen(above, h));
}

void hs_leak_rate_add_growth(hs_leak_rate_t *r, double growth, double span_s, double growth_stderr)
{
    if (!(span_s > 0) || !isfinite(growth))
        return;
    double rate = growth / span_s;
    double half = growth_stderr > 0 && isfinite(growth_stderr) ? Z_975 * growth_stderr / span_s : 0;
    hs_leak_rate_add(r, rate, rate - half, rate + half);
}
