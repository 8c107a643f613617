/* test_live_metrics.c - the handlers of interposer/live_metrics.c called
 * directly, as the server routes to them: /metrics is Prometheus text 0.0.4
 * with the exact content type, every heapscope_* family with HELP and TYPE
 * and the alert counters following the alerts; /debug/heapscope/health is
 * 200 {"status":"ok"} or 503 with the raised alerts; /debug/heapscope/leaks
 * is the JSON of `heapscope report --json` (common/hs_report_json.c), with
 * the same top-level keys in the same order. The integration test
 * live_metrics.sh runs them through the server, promtool and Prometheus. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts.h"
#include "config.h"
#include "encode.h"
#include "hs_report_json.h"
#include "live.h"
#include "run_suite.h"

static hs_http_request_t http;
static hs_live_req_t req = {.http = &http};

static uint8_t *grow(uint8_t *old, size_t old_len, size_t new_cap)
{
    (void)old_len;
    return realloc(old, new_cap);
}

/* Calls a handler; the body comes back NUL-terminated in a new buffer. */
static char *call(hs_live_handler_t h, hs_live_resp_t *resp)
{
    memset(resp, 0, sizeof(*resp));
    resp->status = 200;
    h(&req, resp);
    char *s = malloc(resp->body.len + 1);
    ck_assert_ptr_nonnull(s);
    memcpy(s, resp->body.data, resp->body.len);
    s[resp->body.len] = 0;
    hs_lbuf_free(&resp->body);
    return s;
}

/* The value of the sample line that starts with `series ` ("name{labels}"). */
static int sample(const char *text, const char *series, double *v)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, series, n) == 0 && p[n] == ' ') {
            *v = strtod(p + n + 1, NULL);
            return 1;
        }
    return 0;
}

static void raise_heap(uint64_t heap)
{
    hs_enc_t enc;
    hs_enc_init(&enc, grow);
    hs_alerts_after_snapshot(&enc, 1, &(hs_alerts_figures_t){.heap_in_use = heap, .threads = 1});
    free(enc.buf);
}

START_TEST(metrics_exposition)
{
    hs_alerts_reset_for_tests();
    hs_cfg.alert_heap = 1000;
    hs_cfg.metrics_sites = 10;
    hs_live_resp_t resp;
    char *text = call(hs_live_metrics, &resp);
    ck_assert_int_eq(resp.status, 200);
    ck_assert_str_eq(resp.content_type, "text/plain; version=0.0.4; charset=utf-8");
    static const char *const families[][2] = {
        {"heapscope_heap_inuse_bytes", "gauge"},
        {"heapscope_sampled_inuse_bytes", "gauge"},
        {"heapscope_allocations_total", "counter"},
        {"heapscope_frees_total", "counter"},
        {"heapscope_threads", "gauge"},
        {"heapscope_threads_created_total", "counter"},
        {"heapscope_stacks", "gauge"},
        {"heapscope_lost_samples_total", "counter"},
        {"heapscope_snapshots_total", "counter"},
        {"heapscope_leak", "gauge"},
        {"heapscope_leak_rate_bytes_per_second", "gauge"},
        {"heapscope_leak_growth_bytes", "gauge"},
        {"heapscope_heap_trend_bytes_per_second", "gauge"},
        {"heapscope_alerts_active", "gauge"},
        {"heapscope_alerts_fired_total", "counter"},
        {"heapscope_site_growth_bytes", "gauge"},
        {"heapscope_info", "gauge"},
        {"process_resident_memory_bytes", "gauge"},
        {"process_cpu_seconds_total", "counter"},
    };
    for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
        char help[128], type[128];
        snprintf(help, sizeof(help), "\n# HELP %s ", families[i][0]);
        snprintf(type, sizeof(type), "\n# TYPE %s %s\n", families[i][0], families[i][1]);
        ck_assert_msg(strstr(text, help) || strncmp(text, help + 1, strlen(help) - 1) == 0, "no HELP for %s",
                      families[i][0]);
        ck_assert_msg(strstr(text, type), "no TYPE %s %s", families[i][0], families[i][1]);
    }
    double v;
    ck_assert(sample(text, "heapscope_alerts_active{kind=\"heap\"}", &v) && v == 0);
    ck_assert(sample(text, "heapscope_alerts_fired_total{kind=\"heap\"}", &v) && v == 0);
    ck_assert(sample(text, "heapscope_threads", &v) && v >= 1);
    ck_assert(sample(text, "heapscope_leak", &v) && v == 0);
    ck_assert_msg(text[strlen(text) - 1] == '\n', "the exposition ends with a whole line");
    free(text);

    raise_heap(5000);
    text = call(hs_live_metrics, &resp);
    ck_assert(sample(text, "heapscope_alerts_active{kind=\"heap\"}", &v) && v == 1);
    ck_assert(sample(text, "heapscope_alerts_fired_total{kind=\"heap\"}", &v) && v == 1);
    ck_assert(sample(text, "heapscope_alerts_active{kind=\"rss\"}", &v) && v == 0);
    free(text);
    raise_heap(100); /* recovered: active 0, fired stays */
    text = call(hs_live_metrics, &resp);
    ck_assert(sample(text, "heapscope_alerts_active{kind=\"heap\"}", &v) && v == 0);
    ck_assert(sample(text, "heapscope_alerts_fired_total{kind=\"heap\"}", &v) && v == 1);
    free(text);
}
END_TEST

START_TEST(health_follows_alerts)
{
    hs_alerts_reset_for_tests();
    hs_cfg.alert_heap = 1000;
    hs_live_resp_t resp;
    char *body = call(hs_live_health, &resp);
    ck_assert_int_eq(resp.status, 200);
    ck_assert_str_eq(body, "{\"status\":\"ok\"}\n");
    free(body);
    raise_heap(1500);
    body = call(hs_live_health, &resp);
    ck_assert_int_eq(resp.status, 503);
    ck_assert_str_eq(resp.content_type, "application/json");
    ck_assert_str_eq(body, "{\"status\":\"unhealthy\",\"alerts\":[{\"kind\":\"heap\",\"variable\":"
                           "\"HEAPSCOPE_ALERT_HEAP\",\"value\":1500,\"threshold\":1000,\"message\":\"heap in use "
                           "1.5 KiB >= HEAPSCOPE_ALERT_HEAP 1000 B\"}]}\n");
    free(body);
    raise_heap(950); /* within the hysteresis band: still unhealthy */
    body = call(hs_live_health, &resp);
    ck_assert_int_eq(resp.status, 503);
    free(body);
    raise_heap(899);
    body = call(hs_live_health, &resp);
    ck_assert_int_eq(resp.status, 200);
    free(body);
}
END_TEST

/* The top-level keys of a JSON object, in order, joined by ','. */
static void top_keys(const char *json, char *out, size_t len)
{
    int depth = 0, in_string = 0, expect_key = 0;
    out[0] = 0;
    for (const char *p = json; *p; p++) {
        if (in_string) {
            if (*p == '\\')
                p++;
            else if (*p == '"')
                in_string = 0;
            continue;
        }
        if (*p == '"') {
            if (depth == 1 && expect_key) {
                const char *end = strchr(p + 1, '"');
                strncat(out, p + 1, (size_t)(end - p - 1) < len - strlen(out) - 2 ? (size_t)(end - p - 1) : 0);
                strcat(out, ",");
                p = end;
                expect_key = 0;
                continue;
            }
            in_string = 1;
        } else if (*p == '{' || *p == '[') {
            depth++;
            expect_key = depth == 1;
        } else if (*p == '}' || *p == ']') {
            depth--;
        } else if (*p == ',' && depth == 1) {
            expect_key = 1;
        }
    }
}

static void collect(void *ctx, const char *bytes, size_t n) { strncat(ctx, bytes, n); }

START_TEST(leaks_is_the_report_json)
{
    hs_alerts_reset_for_tests();
    hs_cfg.alert_heap = 1000;
    raise_heap(2000);
    hs_live_resp_t resp;
    char *body = call(hs_live_leaks, &resp);
    ck_assert_int_eq(resp.status, 200);
    ck_assert_str_eq(resp.content_type, "application/json");
    /* What the report writes for an empty analysis has the same keys. */
    static char report[16384];
    report[0] = 0;
    hs_report_json_write(&(hs_report_json_t){.file = "x", .program = "y"}, collect, report);
    char live_keys[512], report_keys[512];
    top_keys(body, live_keys, sizeof(live_keys));
    top_keys(report, report_keys, sizeof(report_keys));
    ck_assert_str_eq(live_keys, report_keys);
    ck_assert_str_eq(live_keys, "file,program,pid,span_seconds,snapshots,sample_rate,final_heap_bytes,"
                                "final_estimated_inuse_bytes,leak,suspects,threads,at_exit,wrappers_detected,"
                                "recommendations,alerts,");
    ck_assert_ptr_nonnull(strstr(body, "\"leak\":{\"detected\":false,"));
    /* The headline (blamed rate, its interval) and the heap's trend beside it. */
    ck_assert_ptr_nonnull(strstr(body, ",\"rate_bytes_per_sec\":null,\"rate_lo_bytes_per_sec\":null,"
                                       "\"rate_hi_bytes_per_sec\":null,\"rate_sites\":0,"
                                       "\"heap_rate_bytes_per_sec\":null,\"heap_growth_bytes\":null,"));
    ck_assert_ptr_nonnull(strstr(body, "\"alerts\":[{\"kind\":\"heap\",\"event\":\"raised\","));
    free(body);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("live_metrics");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, metrics_exposition);
    tcase_add_test(tc, health_follows_alerts);
    tcase_add_test(tc, leaks_is_the_report_json);
    suite_add_tcase(s, tc);
    return hs_run_suite(s);
}
