/* http.c -- request parsing with http_parser, response heads.
 *
 * This is the only file that includes http_parser.h. The parser is fed
 * straight from the connection's input evbuffer; everything a callback sees is
 * copied into the request (names lower-cased) because the input is drained
 * after each feed. Framing rules that http_parser leaves to its user are
 * enforced in on_headers_complete: one Content-Length, never both
 * Content-Length and Transfer-Encoding, chunked as the final coding. */
#include "http.h"

#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "names.h"

#define GW_HTTP_MAX_HEADERS 256   /* header lines per request */

struct gw_http {
    http_parser p;
    struct gw_http_sink sink;
    struct gw_http_limits lim;
    struct gw_req *cur;            /* request being parsed */
    size_t head_bytes;             /* target + header bytes seen for cur */
    bool in_value;                 /* last header callback was a value */
    bool in_message;
    bool in_body;
    int err_status;                /* set by a callback that failed the parse */
    const char *err_why;
    int content_lengths;           /* Content-Length headers seen */
    bool te_seen;
    /* http_parser (non-strict build) does not check the CRLF that ends each
     * chunk's data; we do, from the bytes of the current feed, carrying over
     * into the next one when a chunk ends at the edge of the buffer. */
    const char *feed_end;
    int crlf_pending;              /* bytes of "\r\n" still to check (0..2) */
};

/* ------------------------------------------------------------------------ */
/* Parser callbacks                                                          */
/* ------------------------------------------------------------------------ */

static int fail(struct gw_http *h, int status, const char *why)
{
    if (h->err_status == 0) {
        h->err_status = status;
        h->err_why = why;
    }
    return -1;
}

/* Counts bytes of the head against the limit before they are stored. */
static int count_head(struct gw_http *h, size_t n)
{
    h->head_bytes += n;
    if (h->head_bytes > h->lim.max_header_bytes)
        return fail(h, 431, "request line and headers too large");
    return 0;
}

static int on_message_begin(http_parser *p)
{
    struct gw_http *h = p->data;
    h->cur = gw_req_new();
    h->head_bytes = 0;
    h->in_value = false;
    h->in_message = true;
    h->in_body = false;
    h->content_lengths = 0;
    h->te_seen = false;
    if (h->sink.on_begin) h->sink.on_begin(h->sink.ctx);
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
    struct gw_http *h = p->data;
    if (count_head(h, n)) return -1;
    pc_buf_append(&h->cur->head, at, n);
    h->cur->target_len += (uint32_t)n;
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
    struct gw_http *h = p->data;
    struct gw_req *r = h->cur;
    struct gw_hdr *hd;

    if (count_head(h, n + 4)) return -1;   /* ": " and CRLF */
    if (r->nhdrs == 0 || h->in_value) {
        if (r->nhdrs == GW_HTTP_MAX_HEADERS) return fail(h, 431, "too many header lines");
        if (r->nhdrs == r->hdrs_cap) {
            uint32_t cap = r->hdrs_cap ? r->hdrs_cap * 2 : 16;
            struct gw_hdr *nh = realloc(r->hdrs, cap * sizeof *nh);
            if (nh == NULL) abort();
            r->hdrs = nh;
            r->hdrs_cap = cap;
        }
        hd = &r->hdrs[r->nhdrs++];
        hd->name_off = (uint32_t)r->head.len;
        hd->name_len = 0;
        hd->value_off = 0;
        hd->value_len = 0;
        h->in_value = false;
    }
    hd = &r->hdrs[r->nhdrs - 1];
    for (size_t i = 0; i < n; i++) {
        char c = at[i];
        pc_buf_putc(&r->head, (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c);
    }
    hd->name_len += (uint32_t)n;
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    struct gw_http *h = p->data;
    struct gw_req *r = h->cur;
    struct gw_hdr *hd = &r->hdrs[r->nhdrs - 1];

    if (count_head(h, n)) return -1;
    if (!h->in_value) {
        hd->value_off = (uint32_t)r->head.len;
        h->in_value = true;
    }
    pc_buf_append(&r->head, at, n);
    hd->value_len += (uint32_t)n;
    return 0;
}

/* Strict Content-Length: digits only, no sign, no list. */
static bool parse_content_length(const char *v, size_t n, unsigned long long *out)
{
    unsigned long long x = 0;
    if (n == 0 || n > 18) return false;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9') return false;
        x = x * 10 + (unsigned)(v[i] - '0');
    }
    *out = x;
    return true;
}

/* True if the last coding of a Transfer-Encoding value is "chunked". */
static bool te_ends_chunked(const char *v, size_t n)
{
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t')) n--;
    return n >= 7 && strncasecmp(v + n - 7, "chunked", 7) == 0 &&
           (n == 7 || v[n - 8] == ',' || v[n - 8] == ' ' || v[n - 8] == '\t');
}

static int on_headers_complete(http_parser *p)
{
    struct gw_http *h = p->data;
    struct gw_req *r = h->cur;
    const char *target = r->head.data;
    unsigned long long cl = 0;
    bool chunked = false;

    if (r->head.oom) abort();
    /* Trailing white space is not part of a field value (RFC 7230 §3.2.4). */
    for (uint32_t i = 0; i < r->nhdrs; i++) {
        struct gw_hdr *hd = &r->hdrs[i];
        while (hd->value_len && (target[hd->value_off + hd->value_len - 1] == ' ' ||
                                 target[hd->value_off + hd->value_len - 1] == '\t'))
            hd->value_len--;
        const char *name = target + hd->name_off;
        const char *val = target + hd->value_off;
        if (!pc_header_name_is_valid(name, hd->name_len))
            return fail(h, 400, "invalid header name");
        if (!pc_header_value_is_valid(val, hd->value_len))
            return fail(h, 400, "invalid header value");
        if (hd->name_len == 14 && memcmp(name, "content-length", 14) == 0) {
            if (++h->content_lengths > 1) return fail(h, 400, "more than one Content-Length");
            if (!parse_content_length(val, hd->value_len, &cl))
                return fail(h, 400, "invalid Content-Length");
        } else if (hd->name_len == 17 && memcmp(name, "transfer-encoding", 17) == 0) {
            if (h->te_seen) return fail(h, 400, "more than one Transfer-Encoding");
            h->te_seen = true;
            chunked = te_ends_chunked(val, hd->value_len);
            if (!chunked) return fail(h, 400, "Transfer-Encoding must end in chunked");
        }
    }
    if (h->te_seen && h->content_lengths)
        return fail(h, 400, "both Content-Length and Transfer-Encoding");
    if (p->http_major != 1 || p->http_minor > 1) return fail(h, 400, "unsupported HTTP version");
    if (cl > h->lim.max_body_bytes) return fail(h, 413, "request body too large");

    for (r->path_len = 0; r->path_len < r->target_len && target[r->path_len] != '?';)
        r->path_len++;
    snprintf(r->method, sizeof r->method, "%s", http_method_str((enum http_method)p->method));
    r->is_head = (p->method == HTTP_HEAD);
    r->http_minor = (uint8_t)p->http_minor;
    h->in_body = true;

    if (h->sink.on_head) {
        int st = h->sink.on_head(h->sink.ctx, r);
        if (st) return fail(h, st, st == 413 ? "request body too large" : "request refused");
    }
    return 0;
}

/* Checks the "\r\n" after chunk data, from pos (as far as this feed goes). */
static int check_chunk_end(struct gw_http *h, const char *pos)
{
    while (h->crlf_pending && pos < h->feed_end) {
        char want = h->crlf_pending == 2 ? '\r' : '\n';
        if (*pos++ != want) return fail(h, 400, "chunk data not followed by CRLF");
        h->crlf_pending--;
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    struct gw_http *h = p->data;
    struct gw_req *r = h->cur;
    if (n > h->lim.max_body_bytes - r->body.len) return fail(h, 413, "request body too large");
    pc_buf_append(&r->body, at, n);
    if (r->body.oom) abort();
    if ((p->flags & F_CHUNKED) && p->content_length == 0) {
        h->crlf_pending = 2;
        return check_chunk_end(h, at + n);
    }
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct gw_http *h = p->data;
    struct gw_req *r = h->cur;

    h->cur = NULL;
    h->in_message = false;
    h->in_body = false;
    r->keep_alive = http_should_keep_alive(p) && !p->upgrade;
    h->sink.on_request(h->sink.ctx, r);
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ------------------------------------------------------------------------ */
/* Feeding                                                                   */
/* ------------------------------------------------------------------------ */

struct gw_http *gw_http_new(const struct gw_http_sink *sink, const struct gw_http_limits *lim)
{
    struct gw_http *h = calloc(1, sizeof *h);
    if (h == NULL) abort();
    http_parser_init(&h->p, HTTP_REQUEST);
    h->p.data = h;
    h->sink = *sink;
    h->lim = *lim;
    /* http_parser's own head limit is process-wide; ours is checked per
     * callback too, this one catches bytes no callback reports. */
    http_parser_set_max_header_size((uint32_t)lim->max_header_bytes + 1024);
    return h;
}

void gw_http_free(struct gw_http *h)
{
    if (h == NULL) return;
    if (h->cur) gw_req_free(h->cur);
    free(h);
}

size_t gw_http_feed(struct gw_http *h, const char *data, size_t len, int *status,
                    const char **why)
{
    size_t n;
    enum http_errno e;

    *status = 0;
    if (h->err_status) {   /* already failed: nothing more is parsed */
        *status = h->err_status;
        *why = h->err_why;
        return 0;
    }
    h->feed_end = data + len;
    if (h->crlf_pending && check_chunk_end(h, data) != 0) {
        *status = h->err_status;
        *why = h->err_why;
        return 0;
    }
    n = http_parser_execute(&h->p, &settings, data, len);
    e = HTTP_PARSER_ERRNO(&h->p);
    if (e == HPE_OK || e == HPE_PAUSED) {
        if (n < len && e == HPE_OK && h->p.upgrade) {
            /* Upgrade or CONNECT: we do not tunnel. The request was handed
             * over as non-keep-alive; what follows is not HTTP. */
            return len;
        }
        return n;
    }
    if (h->err_status == 0) {
        h->err_status = (e == HPE_HEADER_OVERFLOW) ? 431 : 400;
        h->err_why = (e == HPE_HEADER_OVERFLOW) ? "request line and headers too large"
                                                : http_errno_description(e);
    }
    *status = h->err_status;
    *why = h->err_why;
    return n;
}

void gw_http_pause(struct gw_http *h, bool pause)
{
    http_parser_pause(&h->p, pause ? 1 : 0);
}

bool gw_http_in_message(const struct gw_http *h) { return h->in_message; }
bool gw_http_in_body(const struct gw_http *h) { return h->in_body; }

/* ------------------------------------------------------------------------ */
/* Responses                                                                 */
/* ------------------------------------------------------------------------ */

const char *gw_http_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 207: return "Multi-Status";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 418: return "I'm a teapot";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Entity";
    case 423: return "Locked";
    case 424: return "Failed Dependency";
    case 425: return "Too Early";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 451: return "Unavailable For Legal Reasons";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return status < 300 ? "OK" : status < 400 ? "Redirect" : status < 500 ? "Client Error"
                                                                                   : "Server Error";
    }
}

/* "Sun, 22 Nov 2026 03:07:31 GMT", formatted once per second. */
static const char *http_date(void)
{
    static char buf[40];
    static time_t last;
    time_t now = time(NULL);
    if (now != last) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        last = now;
    }
    return buf;
}

void gw_http_write_head(struct evbuffer *out, int status, const struct pc_kv *headers,
                        size_t nheaders, size_t content_length, const char *request_id,
                        bool close, bool http10_keep_alive)
{
    bool have_date = false;

    evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n", status, gw_http_reason(status));
    for (size_t i = 0; i < nheaders; i++) {
        const struct pc_kv *kv = &headers[i];
        if (kv->name_len == 4 && memcmp(kv->name, "date", 4) == 0) have_date = true;
        evbuffer_add(out, kv->name, kv->name_len);
        evbuffer_add(out, ": ", 2);
        evbuffer_add(out, kv->value, kv->value_len);
        evbuffer_add(out, "\r\n", 2);
    }
    if (status != 204 && status != 304 && status >= 200)
        evbuffer_add_printf(out, "content-length: %zu\r\n", content_length);
    if (!have_date) evbuffer_add_printf(out, "date: %s\r\n", http_date());
    evbuffer_add_printf(out, "x-request-id: %s\r\n", request_id);
    if (close)
        evbuffer_add(out, "connection: close\r\n", 19);
    else if (http10_keep_alive)
        evbuffer_add(out, "connection: keep-alive\r\n", 24);
    evbuffer_add(out, "\r\n", 2);
}
