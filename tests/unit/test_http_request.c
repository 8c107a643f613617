/* test_http_request.c - the live service's request parser (http_request.c):
 * what a scraper sends parses, every prefix of it asks for more, what a
 * smuggler or a fuzzer sends is refused with the right status, and the token
 * check and response head say what the clients expect. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_request.h"
#include "run_suite.h"

static hs_http_request_t req;

static hs_http_parse_result_t parse(const char *s) { return hs_http_parse_request(s, strlen(s), &req); }

static void assert_error(const char *s, int status)
{
    hs_http_parse_result_t r = parse(s);
    ck_assert_msg(r == HS_HTTP_PARSE_ERROR, "accepted (%d): %s", (int)r, s);
    ck_assert_int_eq(req.status, status);
    ck_assert_ptr_nonnull(req.error);
}

START_TEST(test_get_with_query)
{
    const char *s = "GET /debug/pprof/heap?seconds=30&gc=1&debug=&x%20y=a+b%2Fc&&flag HTTP/1.1\r\n"
                    "Host: 127.0.0.1:6060\r\n"
                    "User-Agent: Go-http-client/1.1\r\n"
                    "AUTHORIZATION: bEaReR  s3cr3t-token \r\n"
                    "Accept-Encoding: gzip\r\n\r\n";
    ck_assert_int_eq(parse(s), HS_HTTP_PARSE_OK);
    ck_assert_int_eq(req.method, HS_HTTP_GET);
    ck_assert_int_eq(req.minor_version, 1);
    ck_assert_uint_eq(req.head_len, strlen(s));
    ck_assert_str_eq(req.path, "/debug/pprof/heap");
    ck_assert_uint_eq(req.raw_path_len, strlen("/debug/pprof/heap"));
    ck_assert_uint_eq(req.query_count, 5);
    ck_assert_str_eq(hs_http_query_value(&req, "seconds"), "30");
    ck_assert_str_eq(hs_http_query_value(&req, "gc"), "1");
    ck_assert_str_eq(hs_http_query_value(&req, "debug"), "");
    ck_assert_str_eq(hs_http_query_value(&req, "x y"), "a b/c");
    ck_assert_str_eq(hs_http_query_value(&req, "flag"), "");
    ck_assert_ptr_null(hs_http_query_value(&req, "base"));
    unsigned long v = 7;
    ck_assert_int_eq(hs_http_query_uint(&req, "seconds", 300, &v), 1);
    ck_assert_uint_eq(v, 30);
    ck_assert_int_eq(hs_http_query_uint(&req, "seconds", 29, &v), -1);
    ck_assert_int_eq(hs_http_query_uint(&req, "debug", 2, &v), -1);
    ck_assert_int_eq(hs_http_query_uint(&req, "base", 2, &v), 0);
    ck_assert(req.has_authorization);
    ck_assert_uint_eq(req.bearer_token_len, strlen("s3cr3t-token"));
    ck_assert(memcmp(req.bearer_token, "s3cr3t-token", req.bearer_token_len) == 0);
    ck_assert_uint_eq(req.host_len, strlen("127.0.0.1:6060"));
    ck_assert(!req.has_content_length);
    ck_assert(!req.connection_close);
    ck_assert_uint_eq(req.header_count, 4);
}
END_TEST

START_TEST(test_query_bounds)
{
    ck_assert_int_eq(parse("GET /?seconds=18446744073709551616 HTTP/1.1\r\n\r\n"), HS_HTTP_PARSE_OK);
    unsigned long v = 0;
    ck_assert_int_eq(hs_http_query_uint(&req, "seconds", (unsigned long)-1, &v), -1);
    ck_assert_int_eq(parse("GET /?debug=5&gc=0&base=300 HTTP/1.1\r\n\r\n"), HS_HTTP_PARSE_OK);
    ck_assert_int_eq(hs_http_query_uint(&req, "debug", 2, &v), -1);
    ck_assert_int_eq(hs_http_query_uint(&req, "gc", 0, &v), 1);
    ck_assert_uint_eq(v, 0);
    ck_assert_int_eq(hs_http_query_uint(&req, "base", 300, &v), 1);
    ck_assert_uint_eq(v, 300);
    ck_assert_int_eq(hs_http_query_uint(&req, "base", 299, &v), -1);
    ck_assert_int_eq(hs_http_parse_request(NULL, 0, &req), HS_HTTP_PARSE_NEED_MORE);
    ck_assert_int_eq(parse("GET /?seconds=-1 HTTP/1.1\r\n\r\n"), HS_HTTP_PARSE_OK);
    ck_assert_int_eq(hs_http_query_uint(&req, "seconds", 300, &v), -1);
    ck_assert_int_eq(
        parse("GET /?a=1&b=2&c=3&d=4&e=5&f=6&g=7&h=8&i=9&j=10&k=11&l=12&m=13&n=14&o=15&p=16 HTTP/1.1\r\n\r\n"),
        HS_HTTP_PARSE_OK);
    ck_assert_uint_eq(req.query_count, HS_HTTP_MAX_QUERY);
    assert_error("GET /?a=1&b=2&c=3&d=4&e=5&f=6&g=7&h=8&i=9&j=10&k=11&l=12&m=13&n=14&o=15&p=16&q=17 HTTP/1.1\r\n\r\n",
                 400);
    assert_error("GET /?a=%zz HTTP/1.1\r\n\r\n", 400);
    assert_error("GET /?a=%4 HTTP/1.1\r\n\r\n", 400);
    assert_error("GET /?a=%00 HTTP/1.1\r\n\r\n", 400);
    assert_error("GET /?a%0a=1 HTTP/1.1\r\n\r\n", 400);
    /* An empty query ("/?") is no parameter at all. */
    ck_assert_int_eq(parse("GET /x? HTTP/1.1\r\n\r\n"), HS_HTTP_PARSE_OK);
    ck_assert_ptr_nonnull(req.raw_query);
    ck_assert_uint_eq(req.query_count, 0);
}
END_TEST

START_TEST(test_path_decoding)
{
    ck_assert_int_eq(parse("GET /debug/pprof/%67oroutine+x HTTP/1.0\r\n\r\n"), HS_HTTP_PARSE_OK);
    ck_assert_str_eq(req.path, "/debug/pprof/goroutine+x");
    ck_assert_uint_eq(req.raw_path_len, strlen("/debug/pprof/%67oroutine+x"));
    ck_assert_ptr_null(req.raw_query);
    ck_assert_int_eq(req.minor_version, 0);
    ck_assert(req.connection_close);
    assert_error("GET /a%00b HTTP/1.1\r\n\r\n", 400);
    assert_error("GET /a%1fb HTTP/1.1\r\n\r\n", 400);
    assert_error("GET /a%7F HTTP/1.1\r\n\r\n", 400);
    assert_error("GET /a% HTTP/1.1\r\n\r\n", 400);
    assert_error("GET /a#frag HTTP/1.1\r\n\r\n", 400);
    assert_error("GET http://host/ HTTP/1.1\r\n\r\n", 400);
    assert_error("GET /\x80 HTTP/1.1\r\n\r\n", 400);
}
END_TEST

START_TEST(test_post_with_content_length)
{
    const char *s = "POST /debug/pprof/symbol HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n"
                    "Content-Type: application/octet-stream\r\n\r\n0x401000+0x4";
    ck_assert_int_eq(parse(s), HS_HTTP_PARSE_OK);
    ck_assert_int_eq(req.method, HS_HTTP_POST);
    ck_assert(req.has_content_length);
    ck_assert_uint_eq(req.content_length, 12);
    ck_assert_uint_eq(req.head_len + req.content_length, strlen(s));
    ck_assert(memcmp(s + req.head_len, "0x401000+0x4", 12) == 0);
    ck_assert_int_eq(parse("POST / HTTP/1.1\r\nContent-Length: 65536\r\n\r\n"), HS_HTTP_PARSE_OK);
    ck_assert_int_eq(parse("POST / HTTP/1.1\r\n\r\n"), HS_HTTP_PARSE_OK);
    ck_assert_uint_eq(req.content_length, 0);
    assert_error("POST / HTTP/1.1\r\nContent-Length: 65537\r\n\r\n", 413);
    assert_error("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999999\r\n\r\n", 413);
    assert_error("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400);
    assert_error("POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n", 400);
    assert_error("POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", 400);
    assert_error("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", 400);
    assert_error("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
}
END_TEST

START_TEST(test_need_more_at_every_truncation)
{
    const char *requests[] = {
        "GET /debug/pprof/heap?seconds=30&gc=1 HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer t\r\n"
        "Connection: close\r\n\r\n",
        "POST /debug/pprof/symbol HTTP/1.1\r\nContent-Length: 3\r\n\r\n",
        "GET /metrics HTTP/1.1\nHost: h\n\n",
    };
    for (size_t k = 0; k < sizeof(requests) / sizeof(requests[0]); k++) {
        size_t n = strlen(requests[k]);
        /* A copy of exactly the prefix on the heap, so ASan catches a read past it. */
        for (size_t i = 0; i < n; i++) {
            char *copy = malloc(i ? i : 1);
            memcpy(copy, requests[k], i);
            hs_http_parse_result_t r = hs_http_parse_request(copy, i, &req);
            free(copy);
            ck_assert_msg(r == HS_HTTP_PARSE_NEED_MORE, "request %zu cut at %zu: %d", k, i, (int)r);
        }
        ck_assert_int_eq(hs_http_parse_request(requests[k], n, &req), HS_HTTP_PARSE_OK);
        ck_assert_uint_eq(req.head_len, n);
    }
}
END_TEST

START_TEST(test_pipelined_request_ignored)
{
    const char *s = "GET /a HTTP/1.1\r\n\r\nDELETE /b HTTP/1.1\r\n\r\n\x01\x02";
    ck_assert_int_eq(parse(s), HS_HTTP_PARSE_OK);
    ck_assert_str_eq(req.path, "/a");
    ck_assert_uint_eq(req.head_len, strlen("GET /a HTTP/1.1\r\n\r\n"));
}
END_TEST

START_TEST(test_too_long)
{
    static char buf[HS_HTTP_MAX_HEAD * 2];
    /* A request line that never ends: 414 once the limit is reached, not before. */
    memset(buf, 'a', sizeof(buf));
    memcpy(buf, "GET /", 5);
    ck_assert_int_eq(hs_http_parse_request(buf, HS_HTTP_MAX_HEAD - 1, &req), HS_HTTP_PARSE_NEED_MORE);
    ck_assert_int_eq(hs_http_parse_request(buf, HS_HTTP_MAX_HEAD, &req), HS_HTTP_PARSE_ERROR);
    ck_assert_int_eq(req.status, 414);
    ck_assert_int_eq(hs_http_parse_request(buf, sizeof(buf), &req), HS_HTTP_PARSE_ERROR);
    ck_assert_int_eq(req.status, 414);

    /* Headers that never end. */
    size_t n = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nX: ");
    memset(buf + n, 'b', sizeof(buf) - n);
    ck_assert_int_eq(hs_http_parse_request(buf, HS_HTTP_MAX_HEAD - 1, &req), HS_HTTP_PARSE_NEED_MORE);
    ck_assert_int_eq(hs_http_parse_request(buf, sizeof(buf), &req), HS_HTTP_PARSE_ERROR);
    ck_assert_int_eq(req.status, 431);

    /* A head of exactly HS_HTTP_MAX_HEAD bytes passes; one more byte does not. */
    const char *start = "GET / HTTP/1.1\r\nX: ";
    for (size_t total = HS_HTTP_MAX_HEAD; total <= HS_HTTP_MAX_HEAD + 1; total++) {
        size_t fill = total - strlen(start) - 4;
        memcpy(buf, start, strlen(start));
        memset(buf + strlen(start), 'c', fill);
        memcpy(buf + strlen(start) + fill, "\r\n\r\n", 4);
        hs_http_parse_result_t r = hs_http_parse_request(buf, total, &req);
        if (total == HS_HTTP_MAX_HEAD) {
            ck_assert_int_eq(r, HS_HTTP_PARSE_OK);
            ck_assert_uint_eq(req.head_len, total);
        } else {
            ck_assert_int_eq(r, HS_HTTP_PARSE_ERROR);
            ck_assert_int_eq(req.status, 431);
        }
    }

    /* More than HS_HTTP_MAX_HEADERS short headers. */
    n = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\n");
    for (int i = 0; i < HS_HTTP_MAX_HEADERS; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X: %d\r\n", i);
    memcpy(buf + n, "\r\n", 3);
    ck_assert_int_eq(parse(buf), HS_HTTP_PARSE_OK);
    ck_assert_uint_eq(req.header_count, HS_HTTP_MAX_HEADERS);
    memcpy(buf + n, "Y: 1\r\n\r\n", 9);
    assert_error(buf, 431);
}
END_TEST

START_TEST(test_methods)
{
    assert_error("PUT / HTTP/1.1\r\n\r\n", 405);
    assert_error("DELETE / HTTP/1.1\r\n\r\n", 405);
    assert_error("get / HTTP/1.1\r\n\r\n", 405);
    assert_error("G(T / HTTP/1.1\r\n\r\n", 400);
    assert_error(" GET / HTTP/1.1\r\n\r\n", 400);
    assert_error("GET  / HTTP/1.1\r\n\r\n", 400);
    assert_error("GET / HTTP/1.1 \r\n\r\n", 400);
    assert_error("GET /\r\n\r\n", 400);
    assert_error("GET / HTTP/2.0\r\n\r\n", 400);
    assert_error("GET / http/1.1\r\n\r\n", 400);
    assert_error("\r\nGET / HTTP/1.1\r\n\r\n", 400);
    /* A bad request line is refused as soon as it is complete. */
    assert_error("PUT / HTTP/1.1\r\n", 405);
    ck_assert_int_eq(parse("HEAD /metrics HTTP/1.1\r\n\r\n"), HS_HTTP_PARSE_OK);
    ck_assert_int_eq(req.method, HS_HTTP_HEAD);
}
END_TEST

START_TEST(test_line_endings)
{
    /* Bare LF is accepted, as Go accepts it, also mixed with CRLF. */
    ck_assert_int_eq(parse("GET /a HTTP/1.1\nHost: h\r\n\n"), HS_HTTP_PARSE_OK);
    ck_assert_str_eq(req.path, "/a");
    ck_assert_uint_eq(req.host_len, 1);
    /* A CR that does not end a line is refused. */
    assert_error("GET /a HTTP/1.1\rHost: h\r\n\r\n", 400);
    assert_error("GET /a HTTP/1.1\r\nX: a\rb\r\n\r\n", 400);
    assert_error("GET /a HTTP/1.1\r\n\r\r\n", 400);
}
END_TEST

START_TEST(test_header_syntax)
{
    assert_error("GET / HTTP/1.1\r\nX: a\r\n continued\r\n\r\n", 400);
    assert_error("GET / HTTP/1.1\r\nX: a\r\n\tcontinued\r\n\r\n", 400);
    assert_error("GET / HTTP/1.1\r\nContent-Length : 5\r\n\r\n", 400);
    assert_error("GET / HTTP/1.1\r\nno colon\r\n\r\n", 400);
    assert_error("GET / HTTP/1.1\r\n: empty name\r\n\r\n", 400);
    assert_error("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
    assert_error("GET / HTTP/1.1\r\nAuthorization: Bearer a\r\nAuthorization: Bearer b\r\n\r\n", 400);
    ck_assert_int_eq(parse("GET / HTTP/1.1\r\nX-Empty:\r\nX-Utf8: caf\xc3\xa9\r\n\r\n"), HS_HTTP_PARSE_OK);
    ck_assert_int_eq(parse("GET / HTTP/1.1\r\nAuthorization: Basic dXNlcjpwYXNz\r\n\r\n"), HS_HTTP_PARSE_OK);
    ck_assert(req.has_authorization);
    ck_assert_ptr_null(req.bearer_token);
    ck_assert_int_eq(parse("GET / HTTP/1.1\r\nAuthorization: Bearer\r\n\r\n"), HS_HTTP_PARSE_OK);
    ck_assert(req.has_authorization);
    ck_assert_ptr_null(req.bearer_token);
    ck_assert_int_eq(parse("GET / HTTP/1.1\r\nAuthorization: BearerX t\r\n\r\n"), HS_HTTP_PARSE_OK);
    ck_assert_ptr_null(req.bearer_token);
}
END_TEST

START_TEST(test_nul_bytes)
{
    const char with_nul_in_header[] = "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n";
    ck_assert_int_eq(hs_http_parse_request(with_nul_in_header, sizeof(with_nul_in_header) - 1, &req),
                     HS_HTTP_PARSE_ERROR);
    ck_assert_int_eq(req.status, 400);
    const char with_nul_in_path[] = "GET /a\0b HTTP/1.1\r\n\r\n";
    ck_assert_int_eq(hs_http_parse_request(with_nul_in_path, sizeof(with_nul_in_path) - 1, &req), HS_HTTP_PARSE_ERROR);
    ck_assert_int_eq(req.status, 400);
    const char with_nul_in_method[] = "G\0T / HTTP/1.1\r\n\r\n";
    ck_assert_int_eq(hs_http_parse_request(with_nul_in_method, sizeof(with_nul_in_method) - 1, &req),
                     HS_HTTP_PARSE_ERROR);
    ck_assert_int_eq(req.status, 400);
    const char with_nul_in_name[] = "GET / HTTP/1.1\r\nX\0: a\r\n\r\n";
    ck_assert_int_eq(hs_http_parse_request(with_nul_in_name, sizeof(with_nul_in_name) - 1, &req), HS_HTTP_PARSE_ERROR);
    ck_assert_int_eq(req.status, 400);
}
END_TEST

START_TEST(test_connection)
{
    ck_assert_int_eq(parse("GET / HTTP/1.1\r\nConnection: keep-alive, Close\r\n\r\n"), HS_HTTP_PARSE_OK);
    ck_assert(req.connection_close);
    ck_assert(req.connection_keep_alive);
    ck_assert_int_eq(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"), HS_HTTP_PARSE_OK);
    ck_assert(!req.connection_close);
    ck_assert(req.connection_keep_alive);
    ck_assert_int_eq(parse("GET / HTTP/1.1\r\nConnection: close\r\nConnection: keep-alive\r\n\r\n"), HS_HTTP_PARSE_OK);
    ck_assert(req.connection_close);
    ck_assert_int_eq(parse("GET / HTTP/1.1\r\nConnection: upgrade\r\n\r\n"), HS_HTTP_PARSE_OK);
    ck_assert(!req.connection_close);
}
END_TEST

START_TEST(test_token_equal)
{
    ck_assert(hs_http_token_equal("secret", 6, "secret", 6));
    ck_assert(!hs_http_token_equal("secreT", 6, "secret", 6));
    ck_assert(!hs_http_token_equal("Secret", 6, "secret", 6));
    ck_assert(!hs_http_token_equal("secre", 5, "secret", 6));
    ck_assert(!hs_http_token_equal("secrets", 7, "secret", 6));
    ck_assert(!hs_http_token_equal("secret\0", 7, "secret", 6));
    ck_assert(!hs_http_token_equal("", 0, "secret", 6));
    ck_assert(!hs_http_token_equal(NULL, 0, "secret", 6));
    /* An empty secret never matches, not even an empty token. */
    ck_assert(!hs_http_token_equal("", 0, "", 0));
    ck_assert(!hs_http_token_equal("x", 1, "", 0));
    /* Only the given length counts, not a NUL inside. */
    ck_assert(hs_http_token_equal("a\0b", 3, "a\0b", 3));
    ck_assert(!hs_http_token_equal("a\0c", 3, "a\0b", 3));
    /* Lengths that differ by a multiple of a power of two (no truncated compare). */
    static char big[4096 + 1];
    memset(big, 'k', sizeof(big));
    ck_assert(!hs_http_token_equal(big, 4096 + 1, big, 1));
    ck_assert(hs_http_token_equal(big, 4096, big, 4096));
}
END_TEST

START_TEST(test_status_texts)
{
    static const struct {
        int status;
        const char *text;
    } table[] = {
        {200, "200 OK"},
        {400, "400 Bad Request"},
        {401, "401 Unauthorized"},
        {404, "404 Not Found"},
        {405, "405 Method Not Allowed"},
        {409, "409 Conflict"},
        {413, "413 Content Too Large"},
        {414, "414 URI Too Long"},
        {429, "429 Too Many Requests"},
        {431, "431 Request Header Fields Too Large"},
        {503, "503 Service Unavailable"},
        {500, "500 Internal Server Error"},
        {123, "500 Internal Server Error"},
        {-1, "500 Internal Server Error"},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        ck_assert_str_eq(hs_http_status_text(table[i].status), table[i].text);
}
END_TEST

START_TEST(test_response_head)
{
    char out[512];
    int n = hs_http_format_response_head(out, sizeof(out), 200, "application/octet-stream", 1234);
    ck_assert_str_eq(out, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 1234\r\n"
                          "X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n");
    ck_assert_int_eq(n, (int)strlen(out));
    n = hs_http_format_response_head(out, sizeof(out), 401, NULL, 0);
    ck_assert_int_gt(n, 0);
    ck_assert_ptr_nonnull(strstr(out, "HTTP/1.1 401 Unauthorized\r\n"));
    ck_assert_ptr_nonnull(strstr(out, "\r\nWWW-Authenticate: Bearer\r\n\r\n"));
    ck_assert_ptr_nonnull(strstr(out, "Content-Type: text/plain; charset=utf-8\r\n"));
    n = hs_http_format_response_head(out, sizeof(out), 405, NULL, 0);
    ck_assert_ptr_nonnull(strstr(out, "\r\nAllow: GET, POST\r\n\r\n"));
    ck_assert_ptr_null(strstr(out, "WWW-Authenticate"));
    n = hs_http_format_response_head(out, sizeof(out), 404, NULL, 0);
    ck_assert_ptr_null(strstr(out, "Allow:"));
    /* Too small a buffer, and a header injection, are refused. */
    ck_assert_int_eq(hs_http_format_response_head(out, 20, 200, NULL, 0), -1);
    ck_assert_int_eq(hs_http_format_response_head(out, sizeof(out), 200, "text/plain\r\nSet-Cookie: x", 0), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("http_request");
    TCase *tc = tcase_create("http_request");
    tcase_add_test(tc, test_get_with_query);
    tcase_add_test(tc, test_query_bounds);
    tcase_add_test(tc, test_path_decoding);
    tcase_add_test(tc, test_post_with_content_length);
    tcase_add_test(tc, test_need_more_at_every_truncation);
    tcase_add_test(tc, test_pipelined_request_ignored);
    tcase_add_test(tc, test_too_long);
    tcase_add_test(tc, test_methods);
    tcase_add_test(tc, test_line_endings);
    tcase_add_test(tc, test_header_syntax);
    tcase_add_test(tc, test_nul_bytes);
    tcase_add_test(tc, test_connection);
    tcase_add_test(tc, test_token_equal);
    tcase_add_test(tc, test_status_texts);
    tcase_add_test(tc, test_response_head);
    suite_add_tcase(s, tc);
    return hs_run_suite(s);
}
