/* http.c -- requests from the bytes of a connection, with http_parser.
 *
 * This is the only file that includes http_parser.h. conn.c feeds it the
 * bytes of one read() in place, from a read buffer shared by all
 * connections (or, after a pause, from the connection's evbuffer of what
 * the parser had not taken), and reuses or drains them once gw_http_feed
 * returns; so everything a callback sees is copied into the request (names
 * lower-cased).
 *
 * Every byte goes through the framing scanner (framing.h) before the parser
 * sees it, and each feed is cut at the end of a head (the scanner needs the
 * head's framing to go on) and of a message (the parser never runs ahead
 * into unchecked bytes). The rules that need the head's values are enforced
 * here, in the callbacks: at most max_header_bytes of stored head (the
 * scanner bounds the bytes on the wire); then, in on_headers_complete, valid names and values, one
 * Content-Length of digits only (at most max_body_bytes), never both
 * Content-Length and Transfer-Encoding, Transfer-Encoding exactly "chunked"
 * and only in HTTP/1.1, exactly one valid Host in HTTP/1.1. Trailers are
 * checked by the scanner and dropped. */
#include "http.h"

#include <http_parser.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "framing.h"
#include "names.h"
#include "reqbody.h"
#include "xalloc.h"

struct gw_http {
    http_parser p;
    struct gw_http_sink sink;
    struct gw_http_limits lim;
    struct gw_req *cur; /* request being parsed; NULL in a forgotten one's body */
    bool cur_taken;     /* cur was handed over at its head (gw_http_taken) */
    size_t head_bytes;  /* target + header bytes seen for cur */
    bool in_value;      /* last header callback was a value */
    bool in_message;
    bool head_valid; /* cur's head passed every check (its headers are usable) */
    bool in_body;
    int err_status; /* set by a callback that failed the parse */
    const char *err_why;
    int content_lengths; /* Content-Length headers seen */
    bool te_seen;
    bool chunked; /* framing of cur, from on_headers_complete */
    uint64_t content_length;
    uint64_t body_bytes;  /* body bytes of the current message */
    bool msg_done;        /* on_message_complete ran (and paused) */
    uint64_t msg_bytes;   /* bytes parsed since the last message ended */
    uint64_t span_end;    /* msg_bytes at the end of the span being parsed */
    bool user_paused;     /* gw_http_pause(true) in effect */
    struct gw_framing fr; /* checks every byte before the parser sees it */
    bool slow_only;       /* no plain-request reader (gw_http_slow_only) */
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
    h->head_valid = false;
    h->in_body = false;
    h->content_lengths = 0;
    h->te_seen = false;
    h->chunked = false;
    h->content_length = 0;
    h->body_bytes = 0;
    h->cur_taken = false;
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

    if (h->in_body) return 0; /* a trailer: checked by the scanner, dropped */
    if (count_head(h, n)) return -1;
    if (r->nhdrs == 0 || h->in_value) { /* a new header (a name may come in pieces) */
        /* ':' and CRLF: the least a header line adds on the wire, so this
         * count never passes the limit before framing.c's exact one does */
        if (count_head(h, 3)) return -1;
        if (r->nhdrs == r->hdrs_cap) {
            uint32_t cap = r->hdrs_cap ? r->hdrs_cap * 2 : 16;
            r->hdrs = pc_xrealloc(r->hdrs, cap * sizeof *r->hdrs);
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
    /* lower-cased as copied, through a pointer (else oom is set: it is
     * checked once the head is complete) */
    if (pc_buf_reserve(&r->head, n)) {
        char *o = r->head.data + r->head.len;
        pc_header_name_lower(o, at, n);
        o[n] = '\0';
        r->head.len += n;
    }
    hd->name_len += (uint32_t)n;
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    struct gw_http *h = p->data;
    struct gw_req *r = h->cur;
    struct gw_hdr *hd;

    if (h->in_body) return 0; /* a trailer */
    hd = &r->hdrs[r->nhdrs - 1];
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

/* Host per RFC 3986 reg-name / IP-literal / IPv4 with an optional port: the
 * characters only; an empty or odd-looking one is refused. */
static bool host_is_valid(const char *v, size_t n)
{
    if (n == 0 || n > 255) return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (c == '\0' || !(alnum || strchr("-._~%!$&'()*+,;=:[]", c) != NULL)) return false;
    }
    return true;
}

/* The head is in (from http_parser, or read_plain): every check that needs
 * its values, then the sink's on_head. */
static int head_complete(struct gw_http *h, unsigned major, unsigned minor, const char *method,
                         bool is_head)
{
    struct gw_req *r = h->cur;
    const char *target = r->head.data;
    unsigned long long cl = 0;
    bool chunked = false;
    int hosts = 0;

    if (r->head.oom) pc_panic("out of memory for a request head of %zu bytes", r->head.len);
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
            chunked = pc_te_is_chunked(val, hd->value_len);
            if (!chunked) return fail(h, 400, "Transfer-Encoding must be exactly chunked");
        } else if (hd->name_len == 4 && memcmp(name, "host", 4) == 0) {
            if (++hosts > 1) return fail(h, 400, "more than one Host");
            if (!host_is_valid(val, hd->value_len)) return fail(h, 400, "invalid Host");
        }
    }
    if (h->te_seen && h->content_lengths)
        return fail(h, 400, "both Content-Length and Transfer-Encoding");
    if (major != 1 || minor > 1) return fail(h, 400, "unsupported HTTP version");
    /* RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing. */
    if (h->te_seen && minor == 0) return fail(h, 400, "Transfer-Encoding in an HTTP/1.0 request");
    /* RFC 9112 §3.2, as nginx does. */
    if (hosts == 0 && minor == 1) return fail(h, 400, "missing Host");

    for (r->path_len = 0; r->path_len < r->target_len && target[r->path_len] != '?';) r->path_len++;
    {
        size_t ml = strlen(method); /* at most 11 ("UNSUBSCRIBE"); no printf per request */
        if (ml >= sizeof r->method) ml = sizeof r->method - 1;
        memcpy(r->method, method, ml);
        r->method[ml] = '\0';
    }
    r->is_head = is_head;
    r->http_minor = (uint8_t)minor;
    /* From here on a refusal is about the body: the head itself is sound,
     * and the error response may use it (its x-request-id, its client
     * address, and for the log its method and target). */
    h->head_valid = true;
    if (cl > h->lim.max_body_bytes) return fail(h, 413, "request body too large");
    h->chunked = chunked;
    h->content_length = chunked ? 0 : cl;
    r->body_length = chunked ? GW_REQ_NO_LENGTH : cl;
    h->in_body = true;

    if (h->sink.on_head) {
        int st = h->sink.on_head(h->sink.ctx, r);
        if (st) return fail(h, st, st == 413 ? "request body too large" : "request refused");
    }
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    return head_complete(p->data, p->http_major, p->http_minor,
                         http_method_str((enum http_method)p->method), p->method == HTTP_HEAD);
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    struct gw_http *h = p->data;
    struct gw_req *r = h->cur;
    if (n > h->lim.max_body_bytes - h->body_bytes) return fail(h, 413, "request body too large");
    h->body_bytes += n;
    if (r == NULL) return 0; /* forgotten (gw_http_forget): dropped */
    if (r->body_stream) {
        gw_reqbody_in(r, at, n);
        return 0;
    }
    if (r->body.len == 0) { /* room in front (req.h), and a known length at once */
        r->body_room = gw_req_body_room(r);
        pc_buf_reserve(&r->body, r->body_room + (h->chunked ? n : h->content_length) + 2);
        r->body.len = r->body_room;
    }
    pc_buf_append(&r->body, at, n);
    if (r->body.oom) pc_panic("out of memory for a request body of %zu bytes", r->body.len);
    return 0;
}

/* The message is in: handed over (unless forgotten). */
static void message_complete(struct gw_http *h, bool keep_alive)
{
    struct gw_req *r = h->cur;

    h->cur = NULL;
    h->cur_taken = false;
    h->in_message = false;
    h->in_body = false;
    if (r != NULL) {
        r->bytes_in = h->span_end; /* feeds are cut at message ends */
        r->keep_alive = keep_alive;
        if (r->body_stream) gw_reqbody_in_end(r);
        h->sink.on_request(h->sink.ctx, r);
    }
}

static int on_message_complete(http_parser *p)
{
    struct gw_http *h = p->data;

    message_complete(h, http_should_keep_alive(p) && !p->upgrade);
    /* Stop at the message boundary: what follows is scanned before it is
     * parsed (gw_http_feed resumes unless the sink paused too). */
    h->msg_done = true;
    http_parser_pause(p, 1);
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
/* Plain requests                                                            */
/* ------------------------------------------------------------------------ */

/* Most requests are plain: the whole head in one read, a method that
 * seldom has a body (GET, HEAD, DELETE, OPTIONS), HTTP/1.1, token names,
 * printable values, one valid Host, no body, and no header that changes the
 * framing or the connection (Content-Length other than 0,
 * Transfer-Encoding, Upgrade, Connection other than keep-alive,
 * Proxy-Connection). Such a request is read here in one pass over its lines
 * instead of by the framing scanner and then http_parser (22% of the
 * gateway's instructions for a small GET), and goes through the same
 * callbacks in the same pieces as http_parser gives them. Anything else is
 * left untouched, for the scanner and http_parser from its first byte, so
 * every refusal has one judge. fuzz_http reads every input both ways
 * (gw_http_slow_only) and requires the same requests, bytes and offsets. */

#define PLAIN_MAX_HDRS 32 /* more: read the usual way */

struct plain_hdr {
    size_t name, name_len, value, value_len; /* value: from its first non-OWS byte to CR */
};

static bool is_ows(char c) { return c == ' ' || c == '\t'; }

static bool name_is(const char *name, size_t n, const char *lname, size_t ln)
{
    return n == ln && strncasecmp(name, lname, ln) == 0;
}

static bool name_starts(const char *name, size_t n, const char *lname, size_t ln)
{
    return n >= ln && strncasecmp(name, lname, ln) == 0;
}

/* The method of a plain request (http_parser's spelling), or NULL. Methods
 * whose requests mostly carry a body are not tried: they would be read up
 * to their Content-Length only to be left to http_parser. */
static const char *plain_method(const char *m, size_t n)
{
    static const char *const methods[] = {"GET", "HEAD", "DELETE", "OPTIONS"};
    for (size_t k = 0; k < sizeof methods / sizeof *methods; k++)
        if (strlen(methods[k]) == n && memcmp(methods[k], m, n) == 0) return methods[k];
    return NULL;
}

/* Whether a header of a plain request may be: the names that change the
 * framing or the connection (any name that begins like one, as http_parser
 * matches them by prefix), only with their plain values. */
static bool plain_header(const char *d, const struct plain_hdr *hd, int *hosts, int *lengths)
{
    const char *name = d + hd->name, *v = d + hd->value;
    size_t n = hd->name_len, vl = hd->value_len, sl;

    while (vl > 0 && is_ows(v[vl - 1])) vl--;
    /* http_parser reads Content-Length and Connection values itself, and
     * takes only spaces after them (a tab after a length is an error) */
    for (sl = hd->value_len; sl > 0 && v[sl - 1] == ' ';) sl--;
    switch (name[0] | 0x20) {
    case 'c':
        if (name_starts(name, n, "content-length", 14))
            return n == 14 && sl == 1 && v[0] == '0' && ++*lengths == 1;
        if (name_starts(name, n, "connection", 10))
            return n == 10 && sl == 10 && strncasecmp(v, "keep-alive", 10) == 0;
        return true;
    case 'h':
        if (name_is(name, n, "host", 4)) return ++*hosts == 1 && host_is_valid(v, vl);
        return true;
    case 'p':
        return !name_starts(name, n, "proxy-connection", 16);
    case 't':
        return !name_starts(name, n, "transfer-encoding", 17);
    case 'u':
        return !name_starts(name, n, "upgrade", 7);
    default:
        return true;
    }
}

/* Reads a plain request at the start of d[0..len): the bytes it took, or 0
 * (nothing done) when it is not one. */
static size_t read_plain(struct gw_http *h, const char *d, size_t len)
{
    struct plain_hdr hdrs[PLAIN_MAX_HDRS];
    size_t nh = 0, i = 0, target, target_len;
    const size_t max = len < h->fr.max_head ? len : h->fr.max_head;
    const char *method;
    int hosts = 0, lengths = 0;

    while (i < max && gw_framing_tchar[(unsigned char)d[i]]) i++;
    method = plain_method(d, i);
    if (method == NULL || i + 2 > max || d[i] != ' ' || d[i + 1] != '/') return 0;
    target = ++i;
    while (i < max && gw_framing_target_byte((unsigned char)d[i])) i++;
    target_len = i - target;
    if (max - i < 11 || memcmp(d + i, " HTTP/1.1\r\n", 11) != 0) return 0;
    i += 11;
    for (;;) {
        struct plain_hdr *hd = &hdrs[nh];

        if (max - i < 2) return 0;
        if (d[i] == '\r') {
            if (d[i + 1] != '\n') return 0;
            i += 2;
            break;
        }
        if (nh == PLAIN_MAX_HDRS) return 0;
        hd->name = i;
        while (i < max && gw_framing_tchar[(unsigned char)d[i]]) i++;
        hd->name_len = i - hd->name;
        if (hd->name_len == 0 || i == max || d[i] != ':') return 0;
        i++;
        while (i < max && is_ows(d[i])) i++;
        hd->value = i;
        while (i < max && gw_framing_field_byte((unsigned char)d[i])) i++;
        hd->value_len = i - hd->value;
        if (max - i < 2 || d[i] != '\r' || d[i + 1] != '\n') return 0;
        i += 2;
        if (!plain_header(d, hd, &hosts, &lengths)) return 0;
        nh++;
    }
    if (hosts != 1) return 0;

    /* A plain request: the callbacks, as http_parser makes them. None can
     * refuse what was checked above but the sink's on_head; if it does, the
     * head counts as read, and the caller reports the refusal. */
    h->span_end = i; /* at a message's start: h->msg_bytes is 0 */
    on_message_begin(&h->p);
    if (on_url(&h->p, d + target, target_len) != 0) return i;
    for (size_t k = 0; k < nh; k++) {
        if (on_header_field(&h->p, d + hdrs[k].name, hdrs[k].name_len) != 0) return i;
        if (on_header_value(&h->p, d + hdrs[k].value, hdrs[k].value_len) != 0) return i;
    }
    if (head_complete(h, 1, 1, method, method[0] == 'H') != 0) return i;
    message_complete(h, true);
    return i;
}

/* ------------------------------------------------------------------------ */
/* Feeding                                                                   */
/* ------------------------------------------------------------------------ */

struct gw_http *gw_http_new(const struct gw_http_sink *sink, const struct gw_http_limits *lim)
{
    struct gw_http *h = pc_xcalloc(1, sizeof *h);
    http_parser_init(&h->p, HTTP_REQUEST);
    h->p.data = h;
    h->sink = *sink;
    h->lim = *lim;
    gw_framing_init(&h->fr, lim->max_header_bytes, lim->max_body_bytes);
    /* http_parser's own head limit is process-wide; ours is checked per
     * callback too, this one catches bytes no callback reports. */
    http_parser_set_max_header_size((uint32_t)lim->max_header_bytes + 1024);
    return h;
}

void gw_http_free(struct gw_http *h)
{
    if (h == NULL) return;
    if (h->cur && !h->cur_taken) gw_req_free(h->cur);
    free(h);
}

/* Records a failure found after the parser ran (parser error, or the two
 * readers disagreeing, which must not happen). */
static void parser_failed(struct gw_http *h, enum http_errno e)
{
    if (h->err_status) return;
    if (e == HPE_HEADER_OVERFLOW)
        fail(h, 431, "request line and headers too large");
    else if (e == HPE_OK || e == HPE_PAUSED)
        fail(h, 400, "message framing not understood");
    else
        fail(h, 400, http_errno_description(e));
}

size_t gw_http_feed(struct gw_http *h, const char *data, size_t len, int *status, const char **why)
{
    size_t pos = 0;

    *status = 0;
    while (!h->err_status && !h->user_paused && pos < len) {
        size_t span = 0, n;
        enum gw_framing_stop stop;
        enum http_errno e;

        if (h->fr.state == GW_FR_START && h->fr.bytes == 0 && !h->in_message && !h->slow_only &&
            (n = read_plain(h, data + pos, len - pos)) > 0) {
            pos += n;
            h->msg_bytes = 0;
            continue;
        }
        stop = gw_framing_scan(&h->fr, data + pos, len - pos, &span);

        if (stop == GW_FRAMING_ERROR) {
            fail(h, h->fr.status, h->fr.why);
            break;
        }
        h->span_end = h->msg_bytes + span;
        n = http_parser_execute(&h->p, &settings, data + pos, span);
        e = HTTP_PARSER_ERRNO(&h->p);
        pos += n;
        h->msg_bytes += n;
        if (h->msg_done) h->msg_bytes = 0;
        if (e != HPE_OK && e != HPE_PAUSED) {
            parser_failed(h, e);
            break;
        }
        if (h->msg_done) {
            h->msg_done = false;
            if (n != span || stop == GW_FRAMING_MORE) { /* the parser ended it elsewhere */
                parser_failed(h, HPE_OK);
                break;
            }
            gw_framing_reset(&h->fr);
            if (h->p.upgrade)
                return len; /* Upgrade: we do not tunnel; the request
                                               went as non-keep-alive, the rest is dropped */
            if (!h->user_paused) http_parser_pause(&h->p, 0);
            continue;
        }
        if (n != span || e != HPE_OK || stop == GW_FRAMING_MESSAGE) {
            parser_failed(h, e);
            break;
        }
        if (stop == GW_FRAMING_HEAD) { /* headers done, a body follows: framing from the head */
            if (!h->in_body) {
                parser_failed(h, e);
                break;
            }
            gw_framing_body(&h->fr, h->chunked, h->content_length);
        }
    }
    if (h->err_status) {
        *status = h->err_status;
        *why = h->err_why;
    }
    return pos;
}

void gw_http_pause(struct gw_http *h, bool pause)
{
    enum http_errno e = HTTP_PARSER_ERRNO(&h->p);

    h->user_paused = pause;
    if (e == HPE_OK || e == HPE_PAUSED) /* (http-parser asserts on a parser in error) */
        http_parser_pause(&h->p, pause ? 1 : 0);
}

void gw_http_stop(struct gw_http *h) { h->user_paused = true; }

void gw_http_slow_only(struct gw_http *h, bool on) { h->slow_only = on; }

void gw_http_taken(struct gw_http *h) { h->cur_taken = true; }

void gw_http_forget(struct gw_http *h)
{
    h->cur = NULL;
    h->user_paused = true; /* nothing is parsed after the current span */
}

bool gw_http_in_message(const struct gw_http *h) { return h->in_message; }
bool gw_http_in_body(const struct gw_http *h) { return h->in_body; }

const struct gw_req *gw_http_current(const struct gw_http *h)
{
    return h->cur != NULL && h->head_valid ? h->cur : NULL;
}

const struct gw_req *gw_http_partial(struct gw_http *h, uint64_t *bytes)
{
    struct gw_req *r = h->cur;

    *bytes = h->msg_bytes;
    if (r == NULL) return NULL;
    if (r->method[0] == '\0' && r->target_len > 0) { /* known once the target began */
        const char *m = http_method_str((enum http_method)h->p.method);
        snprintf(r->method, sizeof r->method, "%s", m);
        for (r->path_len = 0; r->path_len < r->target_len && r->head.data[r->path_len] != '?';)
            r->path_len++;
    }
    return r;
}
