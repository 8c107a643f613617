/* http_request.c - the live service's request parser: one HTTP/1.1 request
 * head read from an untrusted peer becomes a method, a decoded path, query
 * parameters and the few headers the server acts on. It must never allocate,
 * use stdio, read outside the caller's buffer or keep state: it is fuzzed
 * (tests/fuzz/fuzz_http.c) and will run on the interposer's server thread.
 * Also the constant-time token check and the response head. */
#include "http_request.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* One way out for every error, so that status and reason always come together. */
static hs_http_parse_result_t fail(hs_http_request_t *req, int status, const char *why)
{
    req->status = status;
    req->error = why;
    return HS_HTTP_PARSE_ERROR;
}

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c; }

static int equal_nocase(const char *a, size_t alen, const char *b)
{
    size_t blen = strlen(b);
    if (alen != blen)
        return 0;
    for (size_t i = 0; i < alen; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
            return 0;
    return 1;
}

/* RFC 9110 tchar: the characters of methods, header names and list tokens. */
static int is_token_char(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return 1;
    if (lower(c) >= 'a' && lower(c) <= 'z')
        return 1;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (lower(c) >= 'a' && lower(c) <= 'f')
        return lower(c) - 'a' + 10;
    return -1;
}

/* Bounded writer into req->text. */
typedef struct {
    char *out;
    size_t used, cap;
} text_writer_t;

/* Percent-decodes src[0, len) into the writer, NUL-terminated; '+' becomes a
 * space in the query (form encoding) but not in the path. Returns the
 * decoded string, or NULL on a bad escape, a decoded control character
 * (NUL included: it would cut a C string short and let "/a%00b" pass as
 * "/a") or no room. */
static const char *decode(text_writer_t *w, const char *src, size_t len, int plus_is_space)
{
    if (w->cap - w->used < len + 1)
        return NULL;
    char *start = w->out + w->used, *o = start;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)src[i];
        if (c == '%') {
            if (len - i < 3)
                return NULL;
            int hi = hex_value((unsigned char)src[i + 1]), lo = hex_value((unsigned char)src[i + 2]);
            if (hi < 0 || lo < 0)
                return NULL;
            c = (unsigned char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        }
        if (c < 0x20 || c == 0x7f)
            return NULL;
        *o++ = (char)c;
    }
    *o++ = '\0';
    w->used += (size_t)(o - start);
    return start;
}

/* Splits "a=1&b=2" into req->query; empty pairs ("a&&b") are skipped, a
 * pair without '=' has the value "". */
static hs_http_parse_result_t parse_query(hs_http_request_t *req, text_writer_t *w)
{
    const char *q = req->raw_query, *end = q + req->raw_query_len;
    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *pair_end = amp ? amp : end;
        if (pair_end > q) {
            if (req->query_count == HS_HTTP_MAX_QUERY)
                return fail(req, 400, "too many query parameters");
            const char *eq = memchr(q, '=', (size_t)(pair_end - q));
            const char *key_end = eq ? eq : pair_end;
            hs_http_query_param_t *p = &req->query[req->query_count];
            p->key = decode(w, q, (size_t)(key_end - q), 1);
            p->value = eq ? decode(w, eq + 1, (size_t)(pair_end - eq - 1), 1) : decode(w, "", 0, 1);
            if (!p->key || !p->value)
                return fail(req, 400, "bad query string");
            req->query_count++;
        }
        q = amp ? amp + 1 : end;
    }
    return HS_HTTP_PARSE_OK;
}

/* "METHOD SP origin-form SP HTTP/1.x", single spaces only (RFC 9112 3). */
static hs_http_parse_result_t parse_request_line(hs_http_request_t *req, const char *line, size_t len)
{
    const char *sp1 = memchr(line, ' ', len);
    if (!sp1 || sp1 == line)
        return fail(req, 400, "malformed request line");
    size_t method_len = (size_t)(sp1 - line);
    for (size_t i = 0; i < method_len; i++)
        if (!is_token_char((unsigned char)line[i]))
            return fail(req, 400, "malformed method");
    const char *target = sp1 + 1, *end = line + len;
    const char *sp2 = memchr(target, ' ', (size_t)(end - target));
    if (!sp2 || sp2 == target)
        return fail(req, 400, "malformed request line");
    const char *version = sp2 + 1;
    size_t version_len = (size_t)(end - version);
    if (version_len != 8 || memcmp(version, "HTTP/1.", 7) != 0 || (version[7] != '0' && version[7] != '1'))
        return fail(req, 400, "unsupported HTTP version");
    req->minor_version = version[7] - '0';

    size_t target_len = (size_t)(sp2 - target);
    if (target[0] != '/')
        return fail(req, 400, "request target is not a path");
    for (size_t i = 0; i < target_len; i++) {
        unsigned char c = (unsigned char)target[i];
        if (c <= 0x20 || c >= 0x7f || c == '#')
            return fail(req, 400, "bad character in request target");
    }
    const char *qmark = memchr(target, '?', target_len);
    req->raw_path = target;
    req->raw_path_len = qmark ? (size_t)(qmark - target) : target_len;
    if (qmark) {
        req->raw_query = qmark + 1;
        req->raw_query_len = target_len - req->raw_path_len - 1;
    }

    /* The method is judged after the syntax: garbage is 400, a well-formed
     * method we do not serve is 405. */
    if (method_len == 3 && memcmp(line, "GET", 3) == 0)
        req->method = HS_HTTP_GET;
    else if (method_len == 4 && memcmp(line, "HEAD", 4) == 0)
        req->method = HS_HTTP_HEAD;
    else if (method_len == 4 && memcmp(line, "POST", 4) == 0)
        req->method = HS_HTTP_POST;
    else
        return fail(req, 405, "method not allowed");
    return HS_HTTP_PARSE_OK;
}

static void parse_connection(hs_http_request_t *req, const char *v, size_t len)
{
    const char *end = v + len;
    int saw_close = 0; /* "close" wins over "keep-alive" */
    while (v < end) {
        const char *comma = memchr(v, ',', (size_t)(end - v));
        const char *s = v, *e = comma ? comma : end;
        while (s < e && (*s == ' ' || *s == '\t'))
            s++;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (equal_nocase(s, (size_t)(e - s), "close"))
            saw_close = 1;
        else if (equal_nocase(s, (size_t)(e - s), "keep-alive"))
            req->connection_keep_alive = 1;
        v = comma ? comma + 1 : end;
    }
    if (saw_close)
        req->connection_close = 1;
}

static hs_http_parse_result_t parse_content_length(hs_http_request_t *req, const char *v, size_t len)
{
    if (req->has_content_length)
        return fail(req, 400, "repeated Content-Length");
    if (len == 0)
        return fail(req, 400, "bad Content-Length");
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9')
            return fail(req, 400, "bad Content-Length");
        n = n * 10 + (size_t)(v[i] - '0');
        if (n > HS_HTTP_MAX_BODY)
            return fail(req, 413, "body too large");
    }
    req->has_content_length = 1;
    req->content_length = n;
    return HS_HTTP_PARSE_OK;
}

/* "Bearer" 1*SP token68 (RFC 6750 2.1); the scheme is case-insensitive. */
static hs_http_parse_result_t parse_authorization(hs_http_request_t *req, const char *v, size_t len)
{
    if (req->has_authorization)
        return fail(req, 400, "repeated Authorization");
    req->has_authorization = 1;
    if (len > 6 && equal_nocase(v, 6, "bearer") && (v[6] == ' ' || v[6] == '\t')) {
        size_t i = 7;
        while (i < len && (v[i] == ' ' || v[i] == '\t'))
            i++;
        req->bearer_token = v + i;
        req->bearer_token_len = len - i;
    }
    return HS_HTTP_PARSE_OK;
}

/* "Name: value": no space before the colon (RFC 9112 5.1, a smuggling
 * vector), no obsolete line folding (the caller rejects lines starting with
 * whitespace), the value trimmed of spaces and tabs. */
static hs_http_parse_result_t parse_header(hs_http_request_t *req, const char *line, size_t len)
{
    const char *colon = memchr(line, ':', len);
    if (!colon || colon == line)
        return fail(req, 400, "malformed header");
    size_t name_len = (size_t)(colon - line);
    for (size_t i = 0; i < name_len; i++)
        if (!is_token_char((unsigned char)line[i]))
            return fail(req, 400, "malformed header name");
    const char *v = colon + 1, *end = line + len;
    for (const char *p = v; p < end; p++) {
        unsigned char c = (unsigned char)*p;
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return fail(req, 400, "control character in header value");
    }
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    size_t vlen = (size_t)(end - v);

    if (equal_nocase(line, name_len, "content-length"))
        return parse_content_length(req, v, vlen);
    if (equal_nocase(line, name_len, "transfer-encoding"))
        return fail(req, 400, "Transfer-Encoding is not supported");
    if (equal_nocase(line, name_len, "authorization"))
        return parse_authorization(req, v, vlen);
    if (equal_nocase(line, name_len, "host")) {
        if (req->host)
            return fail(req, 400, "repeated Host");
        req->host = v;
        req->host_len = vlen;
    } else if (equal_nocase(line, name_len, "connection")) {
        parse_connection(req, v, vlen);
    }
    return HS_HTTP_PARSE_OK;
}

hs_http_parse_result_t hs_http_parse_request(const char *buf, size_t len, hs_http_request_t *req)
{
    memset(req, 0, offsetof(hs_http_request_t, text));
    if (len == 0)
        return HS_HTTP_PARSE_NEED_MORE; /* buf may be NULL: no memchr on it */
    /* Only the first HS_HTTP_MAX_HEAD bytes can hold a valid head; lines are
     * judged as soon as they are complete, so garbage is refused early. */
    size_t limit = len < HS_HTTP_MAX_HEAD ? len : HS_HTTP_MAX_HEAD;
    size_t pos = 0;
    for (int line_no = 0;; line_no++) {
        const char *lf = memchr(buf + pos, '\n', limit - pos);
        if (!lf) {
            if (len >= HS_HTTP_MAX_HEAD)
                return line_no == 0 ? fail(req, 414, "request line too long") : fail(req, 431, "headers too large");
            return HS_HTTP_PARSE_NEED_MORE;
        }
        const char *line = buf + pos;
        size_t line_len = (size_t)(lf - line);
        pos += line_len + 1;
        /* CRLF or a bare LF (as Go accepts); a CR anywhere else is refused,
         * since proxies disagree on what it ends. */
        if (line_len > 0 && line[line_len - 1] == '\r')
            line_len--;
        if (memchr(line, '\r', line_len))
            return fail(req, 400, "bare CR");
        if (line_no == 0) {
            if (line_len == 0)
                return fail(req, 400, "empty request line");
            hs_http_parse_result_t r = parse_request_line(req, line, line_len);
            if (r != HS_HTTP_PARSE_OK)
                return r;
            continue;
        }
        if (line_len == 0)
            break;
        if (line[0] == ' ' || line[0] == '\t')
            return fail(req, 400, "folded header line");
        if (++req->header_count > HS_HTTP_MAX_HEADERS)
            return fail(req, 431, "too many headers");
        hs_http_parse_result_t r = parse_header(req, line, line_len);
        if (r != HS_HTTP_PARSE_OK)
            return r;
    }
    req->head_len = pos;
    if (req->minor_version == 0 && !req->connection_keep_alive)
        req->connection_close = 1; /* HTTP/1.0's default */

    text_writer_t w = {req->text, 0, sizeof(req->text)};
    req->path = decode(&w, req->raw_path, req->raw_path_len, 0);
    if (!req->path)
        return fail(req, 400, "bad path");
    if (req->raw_query)
        return parse_query(req, &w);
    return HS_HTTP_PARSE_OK;
}

const char *hs_http_query_value(const hs_http_request_t *req, const char *key)
{
    for (size_t i = 0; i < req->query_count; i++)
        if (strcmp(req->query[i].key, key) == 0)
            return req->query[i].value;
    return NULL;
}

int hs_http_query_uint(const hs_http_request_t *req, const char *key, unsigned long max, unsigned long *out)
{
    const char *v = hs_http_query_value(req, key);
    if (!v)
        return 0;
    if (!*v)
        return -1;
    unsigned long n = 0;
    for (; *v; v++) {
        if (*v < '0' || *v > '9')
            return -1;
        unsigned long digit = (unsigned long)(*v - '0');
        if (digit > max || n > (max - digit) / 10)
            return -1; /* n * 10 + digit > max, checked without overflow */
        n = n * 10 + digit;
    }
    *out = n;
    return 1;
}

int hs_http_token_equal(const char *given, size_t given_len, const char *expected, size_t expected_len)
{
    /* Every byte of expected is visited whatever given holds; the index
     * check depends on given_len only, which the peer already knows. The
     * differences are OR-ed together, and the empty asm keeps the compiler
     * from turning the loop into an early-exit memcmp. */
    unsigned diff = 0;
    for (size_t i = 0; i < expected_len; i++) {
        unsigned char g = i < given_len ? (unsigned char)given[i] : 0;
        diff |= (unsigned)(g ^ (unsigned char)expected[i]);
        __asm__ volatile("" : "+r"(diff));
    }
    size_t len_diff = given_len ^ expected_len;
    diff |= (unsigned)((len_diff | (0 - len_diff)) >> (sizeof(size_t) * 8 - 1));
    diff |= expected_len == 0;
    return diff == 0;
}

const char *hs_http_status_text(int status)
{
    switch (status) {
    case 200: return "200 OK";
    case 400: return "400 Bad Request";
    case 401: return "401 Unauthorized";
    case 404: return "404 Not Found";
    case 405: return "405 Method Not Allowed";
    case 408: return "408 Request Timeout";
    case 409: return "409 Conflict";
    case 413: return "413 Content Too Large";
    case 414: return "414 URI Too Long";
    case 429: return "429 Too Many Requests";
    case 431: return "431 Request Header Fields Too Large";
    case 501: return "501 Not Implemented";
    case 503: return "503 Service Unavailable";
    default: return "500 Internal Server Error";
    }
}

int hs_http_format_response_head(char *out, size_t out_len, int status, const char *content_type, size_t content_length)
{
    if (!content_type)
        content_type = "text/plain; charset=utf-8";
    for (const char *p = content_type; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return -1;
    const char *extra = status == 401 ? "WWW-Authenticate: Bearer\r\n" : status == 405 ? "Allow: GET, POST\r\n" : "";
    /* glibc's snprintf with %s and %zu only does not allocate (log.c relies on the same). */
    int n = snprintf(out, out_len,
                     "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "X-Content-Type-Options: nosniff\r\nConnection: close\r\n%s\r\n",
                     hs_http_status_text(status), content_type, content_length, extra);
    if (n < 0 || (size_t)n >= out_len)
        return -1;
    return n;
}
