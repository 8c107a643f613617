/* fuzz_http.c - libFuzzer target for the live service's request parser
 * (interposer/http_request.c): any bytes, as a connection may deliver them,
 * go through hs_http_parse_request; every field it hands out is read (so
 * ASan sees a pointer outside the input or the struct) and its promises are
 * checked: a head within the input and HS_HTTP_MAX_HEAD, a decoded path and
 * query free of control characters, the same answer for the head alone
 * (bytes after it never matter), and a status the server can answer. No
 * state between inputs. Built and run by `make fuzz`. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint64_t sink;

static void touch(const void *p, size_t n)
{
    const volatile uint8_t *b = p;
    uint64_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc += b[i];
    sink += acc;
}

/* A decoded string: NUL-terminated inside req->text, no control character. */
static void check_decoded(const hs_http_request_t *req, const char *s)
{
    if (!s || s < req->text || s >= req->text + sizeof(req->text))
        abort();
    size_t n = strnlen(s, (size_t)(req->text + sizeof(req->text) - s));
    if (s + n >= req->text + sizeof(req->text))
        abort();
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            abort();
}

static void check_span(const char *p, size_t n, const uint8_t *data, size_t head_len)
{
    if (!p)
        return;
    if ((const uint8_t *)p < data || (const uint8_t *)p + n > data + head_len)
        abort();
    touch(p, n);
}

static hs_http_request_t req, again;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    hs_http_parse_result_t r = hs_http_parse_request(buf, size, &req);
    char head[512];
    if (r == HS_HTTP_PARSE_ERROR) {
        if (!req.error || hs_http_format_response_head(head, sizeof(head), req.status, NULL, 0) <= 0)
            abort();
        if (strncmp(hs_http_status_text(req.status), "500", 3) == 0)
            abort(); /* every error names a status we know */
        return 0;
    }
    if (r == HS_HTTP_PARSE_NEED_MORE) {
        if (size >= HS_HTTP_MAX_HEAD)
            abort(); /* a full-size head must be decided */
        return 0;
    }
    if (r != HS_HTTP_PARSE_OK || req.head_len == 0 || req.head_len > size || req.head_len > HS_HTTP_MAX_HEAD)
        abort();
    if (req.method != HS_HTTP_GET && req.method != HS_HTTP_HEAD && req.method != HS_HTTP_POST)
        abort();
    if (req.content_length > HS_HTTP_MAX_BODY || req.header_count > HS_HTTP_MAX_HEADERS ||
        req.query_count > HS_HTTP_MAX_QUERY)
        abort();
    check_span(req.raw_path, req.raw_path_len, data, req.head_len);
    check_span(req.raw_query, req.raw_query_len, data, req.head_len);
    check_span(req.bearer_token, req.bearer_token_len, data, req.head_len);
    check_span(req.host, req.host_len, data, req.head_len);
    check_decoded(&req, req.path);
    if (req.path[0] != '/')
        abort();
    for (size_t i = 0; i < req.query_count; i++) {
        check_decoded(&req, req.query[i].key);
        check_decoded(&req, req.query[i].value);
        if (hs_http_query_value(&req, req.query[i].key) == NULL)
            abort();
    }
    unsigned long v;
    if (hs_http_query_uint(&req, "seconds", 300, &v) == 1 && v > 300)
        abort();
    if (req.bearer_token)
        sink += (uint64_t)hs_http_token_equal(req.bearer_token, req.bearer_token_len, "token", 5);

    /* The head alone parses the same: what follows it is never read. */
    if (hs_http_parse_request(buf, req.head_len, &again) != HS_HTTP_PARSE_OK || again.head_len != req.head_len ||
        again.query_count != req.query_count || strcmp(again.path, req.path) != 0 ||
        again.content_length != req.content_length)
        abort();
    /* And one byte less is incomplete. */
    if (hs_http_parse_request(buf, req.head_len - 1, &again) != HS_HTTP_PARSE_NEED_MORE)
        abort();
    return 0;
}
