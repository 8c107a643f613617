/* prom_sample.c - writes a Prometheus exposition through common/hs_prom.c
 * to stdout: the process_* families, a counter, a gauge with float values
 * and a labelled gauge whose label values hold quotes, backslashes,
 * newlines and UTF-8. tests/integration/prom.sh runs `promtool check
 * metrics` on it. Exits 1 when a write is refused or overflows. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>

#include "hs_prom.h"

int main(void)
{
    static char buf[16384];
    hs_prom_writer_t w;
    hs_prom_writer_init(&w, buf, sizeof(buf));
    hs_prom_label_t awkward[][2] = {
        {{"function", "operator new(unsigned long)"}, {"file", "say \"hi\".c"}},
        {{"function", "C:\\path\\to\\x"}, {"file", "two\nlines"}},
        {{"function", "ünïcödé ✓ 日本"}, {"file", "\\\"\n"}},
    };
    int rc = hs_prom_process_metrics(&w);
    rc |= hs_prom_family(&w, "heapscope_allocation_calls_total", HS_PROM_COUNTER,
                         "Allocation calls seen (\"malloc\" and friends).\nSecond line \\ backslash.");
    rc |= hs_prom_sample_u64(&w, "heapscope_allocation_calls_total", NULL, 0, UINT64_MAX);
    rc |= hs_prom_family(&w, "heapscope_leak_rate_bytes_per_second", HS_PROM_GAUGE, "Leak rate.");
    rc |= hs_prom_sample_f64(&w, "heapscope_leak_rate_bytes_per_second", NULL, 0, 1e-9);
    rc |= hs_prom_family(&w, "heapscope_site_growth_bytes", HS_PROM_GAUGE, "Growth of the top sites.");
    double values[] = {0.5, 1e20, NAN};
    for (int i = 0; i < 3; i++)
        rc |= hs_prom_sample_f64(&w, "heapscope_site_growth_bytes", awkward[i], 2, values[i]);
    rc |= hs_prom_family(&w, "heapscope_limits", HS_PROM_UNTYPED, "Bounds, infinite.");
    hs_prom_label_t bound[] = {{"bound", "upper"}}, lower[] = {{"bound", "lower"}};
    rc |= hs_prom_sample_f64(&w, "heapscope_limits", bound, 1, INFINITY);
    rc |= hs_prom_sample_f64(&w, "heapscope_limits", lower, 1, -INFINITY);
    fputs(buf, stdout);
    if (rc || w.overflow) {
        fprintf(stderr, "prom_sample: a write was refused or overflowed\n");
        return 1;
    }
    return 0;
}
