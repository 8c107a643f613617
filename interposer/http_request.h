/* http_request.h - the live service's HTTP/1.1 request parser, token check
 * and response head (see http_request.c). Pure functions: no allocation, no
 * stdio, no state between calls. */
#ifndef HS_HTTP_REQUEST_H
#define HS_HTTP_REQUEST_H

#include <stddef.h>

/* Request line and headers, the blank line included, fit in this many bytes
 * (the bound); a longer head is answered 414 or 431. */
#define HS_HTTP_MAX_HEAD 8192
#define HS_HTTP_MAX_HEADERS 64
#define HS_HTTP_MAX_QUERY 16
/* The largest body accepted (Go's symbol POST: a list of addresses). */
#define HS_HTTP_MAX_BODY 65536

typedef enum {
    HS_HTTP_PARSE_ERROR = -1, /* answer req->status, then close */
    HS_HTTP_PARSE_OK = 0,     /* the head is complete and valid */
    HS_HTTP_PARSE_NEED_MORE = 1
} hs_http_parse_result_t;

typedef enum { HS_HTTP_GET = 1, HS_HTTP_HEAD, HS_HTTP_POST } hs_http_method_t;

typedef struct {
    const char *key; /* percent-decoded, NUL-terminated, in text[] */
    const char *value;
} hs_http_query_param_t;

/* Filled by hs_http_parse_request. Pointers are into the caller's input
 * (raw_*, host, bearer_token: not NUL-terminated, use the lengths) or into
 * text[] (decoded strings, NUL-terminated); so the request is valid while
 * both the input buffer and this struct are. */
typedef struct {
    int status;        /* on HS_HTTP_PARSE_ERROR: the HTTP status to answer */
    const char *error; /* on HS_HTTP_PARSE_ERROR: a short reason for the log */
    hs_http_method_t method;
    int minor_version;    /* HTTP/1.0 or HTTP/1.1 */
    size_t head_len;      /* bytes of request line and headers; the body starts here */
    const char *raw_path; /* as sent, up to '?' */
    size_t raw_path_len;
    const char *raw_query; /* after '?', NULL when there is no '?' */
    size_t raw_query_len;
    const char *path; /* percent-decoded, no NUL or control characters */
    hs_http_query_param_t query[HS_HTTP_MAX_QUERY];
    size_t query_count;
    int has_content_length;
    size_t content_length;    /* <= HS_HTTP_MAX_BODY; 0 when absent */
    int has_authorization;    /* an Authorization header came, of any scheme */
    const char *bearer_token; /* its Bearer credentials, NULL for another scheme */
    size_t bearer_token_len;
    const char *host; /* the Host header's value, NULL when absent */
    size_t host_len;
    int connection_close;      /* "Connection: close" (or HTTP/1.0 without keep-alive) */
    int connection_keep_alive; /* "Connection: keep-alive" */
    size_t header_count;
    char text[HS_HTTP_MAX_HEAD]; /* storage of the decoded strings */
} hs_http_request_t;

/* Parses the head of the first request in buf[0, len) (bytes after it, a
 * body or a pipelined request, are not looked at). Returns NEED_MORE while
 * the head is incomplete and nothing seen so far is wrong, OK with *req
 * filled, or ERROR with req->status (400, 405, 414, 431, 413) and
 * req->error. Safe on arbitrary bytes. Each call parses from the start, so a
 * caller reading a byte at a time should call again only when a '\n' came. */
hs_http_parse_result_t hs_http_parse_request(const char *buf, size_t len, hs_http_request_t *req);

/* The decoded value of the first query parameter named key, or NULL. */
const char *hs_http_query_value(const hs_http_request_t *req, const char *key);

/* Reads query parameter key as a decimal in [0, max]: returns 0 when it is
 * absent (*out untouched), 1 with *out set, -1 when it is not a number in
 * range (the caller answers 400). */
int hs_http_query_uint(const hs_http_request_t *req, const char *key, unsigned long max, unsigned long *out);

/* 1 when given equals expected, else 0, in time that depends on the lengths
 * only, never on where the first difference is. An empty expected token
 * never matches. */
int hs_http_token_equal(const char *given, size_t given_len, const char *expected, size_t expected_len);

/* "404 Not Found" for 404; "500 Internal Server Error" for a status it does
 * not know. */
const char *hs_http_status_text(int status);

/* Writes the response head (status line, Content-Type, Content-Length,
 * Connection: close, and WWW-Authenticate for 401, Allow for 405, then the
 * blank line) into out. Returns its length, or -1 when out is too small or
 * content_type holds a control character (no header injection). */
int hs_http_format_response_head(char *out, size_t out_len, int status, const char *content_type,
                                 size_t content_length);

#endif
