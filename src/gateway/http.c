/* http.c -- request parsing with http_parser, response heads.
 *
 * This is the only file that includes http_parser.h. The parser is fed
 * straight from the connection's input evbuffer; everything a callback sees is
 * copied into the request (names lower-cased) because the input is drained
 * after each feed. Framing rules that http_parser leaves to its user are
 * enforced in on_headers_complete: one Content-Length of digits only, never
 * both Content-Length and Transfer-Encoding, Transfer-Encoding exactly
 * "chunked" and only in HTTP/1.1, exactly one valid Host in HTTP/1.1.
 *
 * Debian builds http_parser non-strict: it takes obs-fold, a bare CR or LF
 * as a line end, any byte after the CR of a chunk line, control bytes in
 * chunk extensions, runs of spaces and tabs in the request line. Two readers
 * that disagree on framing are how requests get smuggled, so the scanner
 * below checks every framing byte first (RFC 9112 grammar, CRLF only) and
 * the parser only ever sees bytes that passed. Body and chunk data are
 * skipped by count, never scanned. Feeds are cut at the end of each head
 * (the scanner needs on_headers_complete's framing to go on) and of each
 * message (the parser never runs ahead into unchecked bytes).
 *
 * Refused with 400: absolute-form, authority-form and asterisk-form targets
 * (a gateway is not a forward proxy; the path must start with '/'), '#' in
 * the target, HTTP versions other than 1.0/1.1. Trailers are checked and
 * dropped. */
#include "http.h"

#include <http_parser.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "digits.h"
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
    bool chunked;                  /* framing of cur, from on_headers_complete */
    uint64_t content_length;
    bool msg_done;                 /* on_message_complete ran (and paused) */
    bool user_paused;              /* gw_http_pause(true) in effect */
    /* The framing scanner (see the top of the file). */
    int sc;                        /* enum scan_state */
    bool sc_trailer;               /* scanning trailers, not a head */
    uint8_t sc_index;              /* bytes of the method / version seen */
    size_t sc_bytes;               /* bytes of this head, trailer or chunk line */
    uint64_t sc_left;              /* body or chunk data bytes still to skip */
    uint64_t sc_chunk;             /* size of the chunk being read */
    uint64_t sc_total;             /* sum of the chunk sizes of cur */
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
    h->chunked = false;
    h->content_length = 0;
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

    if (h->in_body) return 0;              /* a trailer: checked by the scanner, dropped */
    if (count_head(h, n)) return -1;
    if (r->nhdrs == 0 || h->in_value) {    /* a new header (a name may come in pieces) */
        if (count_head(h, 4)) return -1;   /* ": " and CRLF */
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
    /* lower-cased as copied, through a pointer (else oom is set: it is
     * checked once the head is complete) */
    if (pc_buf_reserve(&r->head, n)) {
        char *o = r->head.data + r->head.len;
        for (size_t i = 0; i < n; i++) {
            char c = at[i];
            o[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
        }
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

    if (h->in_body) return 0;              /* a trailer */
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

/* True if a Transfer-Encoding value (white space already trimmed) is
 * exactly "chunked". Other codings are refused rather than passed on: the
 * service would get a body still encoded, with no header saying so. */
static bool te_is_chunked(const char *v, size_t n)
{
    return n == 7 && strncasecmp(v, "chunked", 7) == 0;
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

static int on_headers_complete(http_parser *p)
{
    struct gw_http *h = p->data;
    struct gw_req *r = h->cur;
    const char *target = r->head.data;
    unsigned long long cl = 0;
    bool chunked = false;
    int hosts = 0;

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
            chunked = te_is_chunked(val, hd->value_len);
            if (!chunked) return fail(h, 400, "Transfer-Encoding must be exactly chunked");
        } else if (hd->name_len == 4 && memcmp(name, "host", 4) == 0) {
            if (++hosts > 1) return fail(h, 400, "more than one Host");
            if (!host_is_valid(val, hd->value_len)) return fail(h, 400, "invalid Host");
        }
    }
    if (h->te_seen && h->content_lengths)
        return fail(h, 400, "both Content-Length and Transfer-Encoding");
    if (p->http_major != 1 || p->http_minor > 1) return fail(h, 400, "unsupported HTTP version");
    /* RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing. */
    if (h->te_seen && p->http_minor == 0)
        return fail(h, 400, "Transfer-Encoding in an HTTP/1.0 request");
    /* RFC 9112 §3.2, as nginx does. */
    if (hosts == 0 && p->http_minor == 1) return fail(h, 400, "missing Host");
    if (cl > h->lim.max_body_bytes) return fail(h, 413, "request body too large");
    h->chunked = chunked;
    h->content_length = chunked ? 0 : cl;

    for (r->path_len = 0; r->path_len < r->target_len && target[r->path_len] != '?';)
        r->path_len++;
    {
        const char *m = http_method_str((enum http_method)p->method);
        size_t ml = strlen(m);   /* at most 11 ("UNSUBSCRIBE"); no printf per request */
        if (ml >= sizeof r->method) ml = sizeof r->method - 1;
        memcpy(r->method, m, ml);
        r->method[ml] = '\0';
    }
    r->is_head = (p->method == HTTP_HEAD);
    r->http_minor = (uint8_t)p->http_minor;
    h->in_body = true;

    if (h->sink.on_head) {
        int st = h->sink.on_head(h->sink.ctx, r);
        if (st) return fail(h, st, st == 413 ? "request body too large" : "request refused");
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
/* Framing scanner                                                           */
/* ------------------------------------------------------------------------ */

#define GW_HTTP_MAX_CHUNK_LINE 4096   /* bytes of a chunk-size line, extensions included */
#define GW_HTTP_MAX_METHOD 20         /* bytes of a method (http_parser knows no longer one) */

enum scan_state {
    SC_START,        /* before a request line: CRLF pairs are skipped */
    SC_START_LF,     /* CR seen before a request line: LF must follow */
    SC_METHOD,       /* method token, up to one SP */
    SC_TARGET0,      /* first byte of the target: '/' (origin-form only) */
    SC_TARGET,       /* the rest of the target, up to one SP */
    SC_VERSION,      /* "HTTP/1.0" or "HTTP/1.1", then CR */
    SC_RL_LF,        /* CR after the version: LF must follow */
    SC_LINE,         /* start of a field line, or the CR of the blank line */
    SC_NAME,         /* field name (token) up to ':' */
    SC_VALUE,        /* field value up to CR */
    SC_VALUE_LF,     /* CR after a value: LF must follow */
    SC_END_LF,       /* CR of the blank line: LF ends the head or the trailers */
    SC_BODY,         /* Content-Length body: sc_left bytes, skipped */
    SC_CHUNK_SIZE0,  /* first hex digit of a chunk size */
    SC_CHUNK_SIZE,   /* more hex digits */
    SC_CHUNK_BWS,    /* white space after the size: ';' must follow */
    SC_CHUNK_EXT,    /* chunk extensions up to CR */
    SC_CHUNK_LF,     /* CR of a chunk line: LF must follow */
    SC_CHUNK_DATA,   /* chunk data: sc_left bytes, skipped */
    SC_DATA_CR,      /* CRLF after chunk data */
    SC_DATA_LF,
};

enum scan_stop {
    STOP_MORE,       /* all of the input is fine; the current part goes on */
    STOP_HEAD,       /* a head ends at *used */
    STOP_MESSAGE,    /* a message ends at *used */
    STOP_ERROR,      /* h->err_status is set */
};

/* RFC 9110 tchar. */
static const unsigned char tchar[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1,
    ['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1, ['~'] = 1,
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
    ['8'] = 1, ['9'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1,
    ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,
    ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
    ['Y'] = 1, ['Z'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1,
    ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1,
    ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
    ['y'] = 1, ['z'] = 1,
};

/* field-content bytes: visible ASCII, SP, HTAB, obs-text. */
static bool is_field_byte(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* Back to the start of a request (after a message, and at creation). */
static void scan_reset(struct gw_http *h)
{
    h->sc = SC_START;
    h->sc_trailer = false;
    h->sc_index = 0;
    h->sc_bytes = 0;
    h->sc_left = 0;
    h->sc_chunk = 0;
    h->sc_total = 0;
}

/* The reason for a refused byte c in a line. */
static const char *line_error(unsigned char c, const char *otherwise)
{
    if (c == '\0') return "NUL byte";
    if (c == '\n') return "bare LF (lines must end in CRLF)";
    if (c == '\r') return "bare CR";
    return otherwise;
}

static int scan_fail(struct gw_http *h, int status, const char *why)
{
    fail(h, status, why);
    return STOP_ERROR;
}

/* How many bytes from d[0..n) the current state takes with no change and
 * nothing to check but the byte itself: the runs of a target, a field name
 * or a field value. They are skipped here, in a tight loop; the byte after
 * a run goes through scan()'s switch as before, so every state change, limit
 * and error is exactly that of the byte-at-a-time scan. */
static size_t scan_run(const struct gw_http *h, const unsigned char *d, size_t n)
{
    size_t k = 0;

    switch (h->sc) {
    case SC_TARGET:
        while (k < n && d[k] > 0x20 && d[k] != 0x7f && d[k] != '#') k++;
        break;
    case SC_NAME:
        while (k < n && tchar[d[k]]) k++;
        break;
    case SC_VALUE:
        while (k < n && is_field_byte(d[k])) k++;
        break;
    default:
        break;
    }
    return k;
}

/* Checks d[0..len) from the scanner's state. Stops at the end of a head or
 * a message (*used = bytes up to and including its last byte), at an error,
 * or at the end of the input (*used = len). */
static int scan(struct gw_http *h, const char *d, size_t len, size_t *used)
{
    size_t i = 0;

    while (i < len) {
        unsigned char c;
        int x;

        if (h->sc == SC_BODY || h->sc == SC_CHUNK_DATA) {   /* skipped, not scanned */
            size_t k = len - i < h->sc_left ? len - i : (size_t)h->sc_left;
            i += k;
            h->sc_left -= k;
            if (h->sc_left > 0) break;
            if (h->sc == SC_BODY) {
                *used = i;
                return STOP_MESSAGE;
            }
            h->sc = SC_DATA_CR;
            continue;
        }
        if (h->sc == SC_TARGET || h->sc == SC_NAME || h->sc == SC_VALUE) {
            /* a run, up to the head limit: the byte past it fails below */
            size_t room = h->sc_bytes < h->lim.max_header_bytes
                              ? h->lim.max_header_bytes - h->sc_bytes : 0;
            size_t k = scan_run(h, (const unsigned char *)d + i, len - i < room ? len - i : room);
            i += k;
            h->sc_bytes += k;
            if (i == len) break;
        }
        c = (unsigned char)d[i++];
        if (++h->sc_bytes > (h->sc >= SC_CHUNK_SIZE0 ? GW_HTTP_MAX_CHUNK_LINE
                                                     : h->lim.max_header_bytes)) {
            if (h->sc >= SC_CHUNK_SIZE0) return scan_fail(h, 400, "chunk line too long");
            return scan_fail(h, 431, h->sc_trailer ? "trailers too large"
                                                   : "request line and headers too large");
        }
        switch (h->sc) {
        case SC_START:
            if (c == '\r') {
                h->sc = SC_START_LF;
            } else if (tchar[c]) {
                h->sc = SC_METHOD;
                h->sc_index = 1;
            } else {
                return scan_fail(h, 400, line_error(c, "invalid request line"));
            }
            break;
        case SC_START_LF:
            if (c != '\n') return scan_fail(h, 400, "bare CR");
            h->sc = SC_START;
            break;
        case SC_METHOD:
            if (c == ' ') {
                h->sc = SC_TARGET0;
            } else if (!tchar[c]) {
                return scan_fail(h, 400, line_error(c, "invalid character in method"));
            } else if (++h->sc_index > GW_HTTP_MAX_METHOD) {
                return scan_fail(h, 400, "method too long");
            }
            break;
        case SC_TARGET0:
            if (c != '/')
                return scan_fail(h, 400,
                                 line_error(c, "request target must be a path starting with /"));
            h->sc = SC_TARGET;
            break;
        case SC_TARGET:
            if (c == ' ') {
                h->sc = SC_VERSION;
                h->sc_index = 0;
            } else if (c < 0x21 || c == 0x7f || c == '#') {
                return scan_fail(h, 400, line_error(c, "invalid character in request target"));
            }
            break;
        case SC_VERSION:
            if (h->sc_index < 7) {
                if (c != (unsigned char)"HTTP/1."[h->sc_index])
                    return scan_fail(h, 400, line_error(c, "unsupported HTTP version"));
            } else if (h->sc_index == 7) {
                if (c != '0' && c != '1')
                    return scan_fail(h, 400, line_error(c, "unsupported HTTP version"));
            } else if (c == '\r') {
                h->sc = SC_RL_LF;
            } else {
                return scan_fail(h, 400, line_error(c, "invalid request line"));
            }
            h->sc_index++;
            break;
        case SC_RL_LF:
        case SC_VALUE_LF:
            if (c != '\n') return scan_fail(h, 400, "bare CR");
            h->sc = SC_LINE;
            break;
        case SC_LINE:
            if (c == '\r') {
                h->sc = SC_END_LF;
            } else if (tchar[c]) {
                h->sc = SC_NAME;
            } else if (c == ' ' || c == '\t') {
                return scan_fail(h, 400, "obsolete line folding");
            } else {
                return scan_fail(h, 400, line_error(c, "invalid header name"));
            }
            break;
        case SC_NAME:
            if (c == ':') {
                h->sc = SC_VALUE;
            } else if (c == ' ' || c == '\t') {
                return scan_fail(h, 400, "white space before the colon of a header");
            } else if (!tchar[c]) {
                return scan_fail(h, 400, line_error(c, "invalid header name"));
            }
            break;
        case SC_VALUE:
            if (c == '\r')
                h->sc = SC_VALUE_LF;
            else if (!is_field_byte(c))
                return scan_fail(h, 400, line_error(c, "control character in a header value"));
            break;
        case SC_END_LF:
            if (c != '\n') return scan_fail(h, 400, "bare CR");
            *used = i;
            return h->sc_trailer ? STOP_MESSAGE : STOP_HEAD;
        case SC_CHUNK_SIZE0:
            if ((x = pc_hex_value(c)) < 0)
                return scan_fail(h, 400, line_error(c, "invalid chunk size"));
            h->sc_chunk = (uint64_t)x;
            h->sc = SC_CHUNK_SIZE;
            break;
        case SC_CHUNK_SIZE:
            if ((x = pc_hex_value(c)) >= 0) {
                if (h->sc_chunk > (UINT64_MAX >> 4))
                    return scan_fail(h, 400, "chunk size overflows");
                h->sc_chunk = (h->sc_chunk << 4) | (uint64_t)x;
            } else if (c == ';') {
                h->sc = SC_CHUNK_EXT;
            } else if (c == ' ' || c == '\t') {
                h->sc = SC_CHUNK_BWS;
            } else if (c == '\r') {
                h->sc = SC_CHUNK_LF;
            } else {
                return scan_fail(h, 400, line_error(c, "invalid chunk size"));
            }
            break;
        case SC_CHUNK_BWS:
            if (c == ';')
                h->sc = SC_CHUNK_EXT;
            else if (c != ' ' && c != '\t')
                return scan_fail(h, 400, line_error(c, "invalid chunk size"));
            break;
        case SC_CHUNK_EXT:
            if (c == '\r')
                h->sc = SC_CHUNK_LF;
            else if (!is_field_byte(c))
                return scan_fail(h, 400, line_error(c, "control character in a chunk extension"));
            break;
        case SC_CHUNK_LF:
            if (c != '\n') return scan_fail(h, 400, "bare CR in a chunk line");
            h->sc_bytes = 0;
            if (h->sc_chunk == 0) {   /* last chunk: trailers (checked, then dropped) */
                h->sc = SC_LINE;
                h->sc_trailer = true;
                break;
            }
            if (h->sc_chunk > h->lim.max_body_bytes - h->sc_total)
                return scan_fail(h, 413, "request body too large");
            h->sc_total += h->sc_chunk;
            h->sc_left = h->sc_chunk;
            h->sc = SC_CHUNK_DATA;
            break;
        case SC_DATA_CR:
            if (c != '\r') return scan_fail(h, 400, "chunk data not followed by CRLF");
            h->sc = SC_DATA_LF;
            break;
        case SC_DATA_LF:
            if (c != '\n') return scan_fail(h, 400, "chunk data not followed by CRLF");
            h->sc = SC_CHUNK_SIZE0;
            h->sc_bytes = 0;
            break;
        default:
            abort();
        }
    }
    *used = len;
    return STOP_MORE;
}

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
    scan_reset(h);
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

size_t gw_http_feed(struct gw_http *h, const char *data, size_t len, int *status,
                    const char **why)
{
    size_t pos = 0;

    *status = 0;
    while (!h->err_status && !h->user_paused && pos < len) {
        size_t span = 0, n;
        int stop = scan(h, data + pos, len - pos, &span);
        enum http_errno e;

        if (stop == STOP_ERROR) break;
        n = http_parser_execute(&h->p, &settings, data + pos, span);
        e = HTTP_PARSER_ERRNO(&h->p);
        pos += n;
        if (e != HPE_OK && e != HPE_PAUSED) {
            parser_failed(h, e);
            break;
        }
        if (h->msg_done) {
            h->msg_done = false;
            if (n != span || stop == STOP_MORE) {   /* the parser ended it elsewhere */
                parser_failed(h, HPE_OK);
                break;
            }
            scan_reset(h);
            if (h->p.upgrade) return len;   /* Upgrade: we do not tunnel; the request
                                               went as non-keep-alive, the rest is dropped */
            if (!h->user_paused) http_parser_pause(&h->p, 0);
            continue;
        }
        if (n != span || e != HPE_OK || stop == STOP_MESSAGE) {
            parser_failed(h, e);
            break;
        }
        if (stop == STOP_HEAD) {   /* headers done, a body follows: framing from the head */
            if (!h->in_body) {
                parser_failed(h, e);
                break;
            }
            h->sc_bytes = 0;
            if (h->chunked) {
                h->sc = SC_CHUNK_SIZE0;
            } else {
                h->sc = SC_BODY;
                h->sc_left = h->content_length;
            }
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
    h->user_paused = pause;
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

/* Copies n bytes to o; returns the end. */
static char *put(char *o, const void *p, size_t n)
{
    memcpy(o, p, n);
    return o + n;
}

#define PUT_LIT(o, lit) put((o), (lit), sizeof(lit) - 1)

/* The response is sized first and written into the output's own space in
 * one piece: one evbuffer call (and one run of its callbacks) per response
 * instead of one per field and one for the body, and no printf. */
void gw_http_write_response(struct evbuffer *out, int status, const struct pc_kv *headers,
                            size_t nheaders, size_t content_length, const char *request_id,
                            bool close, bool http10_keep_alive, const void *body,
                            size_t body_len)
{
    const char *reason = gw_http_reason(status);
    size_t reason_len = strlen(reason), id_len = strlen(request_id), date_len = 0;
    bool have_date = false, has_length = status != 204 && status != 304 && status >= 200;
    const char *date = NULL;
    struct evbuffer_iovec v;
    size_t need;
    char *o;

    /* "HTTP/1.1 " status(<= 20 digits) " " reason CRLF */
    need = 9 + 20 + 1 + reason_len + 2;
    for (size_t i = 0; i < nheaders; i++) {
        const struct pc_kv *kv = &headers[i];
        if (kv->name_len == 4 && memcmp(kv->name, "date", 4) == 0) have_date = true;
        need += kv->name_len + 2 + kv->value_len + 2;
    }
    if (has_length) need += sizeof "content-length: \r\n" - 1 + 20;
    if (!have_date) {
        date = http_date();
        date_len = strlen(date);
        need += sizeof "date: \r\n" - 1 + date_len;
    }
    need += sizeof "x-request-id: \r\n" - 1 + id_len;
    need += sizeof "connection: keep-alive\r\n" - 1 + 2;
    need += body_len;

    if (evbuffer_reserve_space(out, (ev_ssize_t)need, &v, 1) != 1 || v.iov_len < need) abort();
    o = v.iov_base;
    o = PUT_LIT(o, "HTTP/1.1 ");
    o = pc_put_u64(o, (uint64_t)(status < 0 ? 0 : status));   /* always 100..599 */
    *o++ = ' ';
    o = put(o, reason, reason_len);
    o = PUT_LIT(o, "\r\n");
    for (size_t i = 0; i < nheaders; i++) {
        const struct pc_kv *kv = &headers[i];
        o = put(o, kv->name, kv->name_len);
        o = PUT_LIT(o, ": ");
        o = put(o, kv->value, kv->value_len);
        o = PUT_LIT(o, "\r\n");
    }
    if (has_length) {
        o = PUT_LIT(o, "content-length: ");
        o = pc_put_u64(o, content_length);
        o = PUT_LIT(o, "\r\n");
    }
    if (date) {
        o = PUT_LIT(o, "date: ");
        o = put(o, date, date_len);
        o = PUT_LIT(o, "\r\n");
    }
    o = PUT_LIT(o, "x-request-id: ");
    o = put(o, request_id, id_len);
    o = PUT_LIT(o, "\r\n");
    if (close)
        o = PUT_LIT(o, "connection: close\r\n");
    else if (http10_keep_alive)
        o = PUT_LIT(o, "connection: keep-alive\r\n");
    o = PUT_LIT(o, "\r\n");
    if (body_len) o = put(o, body, body_len);
    v.iov_len = (size_t)(o - (char *)v.iov_base);
    if (evbuffer_commit_space(out, &v, 1) != 0) abort();
}
