/* uresp.c -- an upstream's response, parsed with http_parser (see uresp.h). */
#include "uresp.h"

#include <http_parser.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "digits.h"
#include "names.h"
#include "xalloc.h"

/* Header text as it arrives: name and value appended to one buffer; the
 * offsets of each are kept until the head is complete. */
struct field {
    size_t name_off, name_len, value_off, value_len;
};

struct gw_uresp {
    http_parser p;
    struct gw_uresp_sink sink;
    pc_buf text; /* header names (lower-cased) and values */
    struct field fields[GW_URESP_MAX_HEADERS];
    size_t nfields;
    bool in_value;      /* the last callback was a value */
    bool head_request;  /* the request was HEAD: no body */
    bool head_done;     /* head() was called for the final response */
    bool started;       /* a byte of a response was parsed */
    bool msg_done;      /* done() was called */
    bool stopped;       /* a sink asked to stop */
    bool counted;       /* the body has a length: body_left counts it down */
    bool raw;           /* the body is counted, not parsed (a fast head, or gw_uresp_body_taken) */
    bool slow_only;     /* every head to http_parser (gw_uresp_slow_only) */
    uint64_t body_left; /* of a body with a length, bytes still to come */
    size_t head_bytes;  /* status line and header bytes so far */
    const char *reason; /* why the parse failed (ours, before http_parser's) */
};

static struct gw_uresp *of(http_parser *p) { return p->data; }

static int too_big(struct gw_uresp *u, size_t n)
{
    u->head_bytes += n;
    if (u->head_bytes <= GW_URESP_MAX_HEAD) return 0;
    u->reason = "response head too large";
    return -1;
}

static int on_begin(http_parser *p)
{
    struct gw_uresp *u = of(p);
    u->started = true;
    u->nfields = 0;
    u->in_value = false;
    u->head_bytes = 0;
    pc_buf_reset(&u->text);
    return 0;
}

static int on_status(http_parser *p, const char *at, size_t n)
{
    (void)at;
    return too_big(of(p), n);
}

static int on_field(http_parser *p, const char *at, size_t n)
{
    struct gw_uresp *u = of(p);
    struct field *f;

    if (too_big(u, n) != 0) return -1;
    if (u->in_value || u->nfields == 0) { /* a new field: ": " and CRLF counted once */
        if (too_big(u, 4) != 0) return -1;
        if (u->nfields == GW_URESP_MAX_HEADERS) {
            u->reason = "too many response headers";
            return -1;
        }
        f = &u->fields[u->nfields++];
        f->name_off = u->text.len;
        f->name_len = 0;
        f->value_off = 0;
        f->value_len = 0;
        u->in_value = false;
    }
    f = &u->fields[u->nfields - 1];
    /* Lower-cased in place (out of memory: on_headers_complete says so). */
    if (pc_buf_reserve(&u->text, n)) {
        pc_header_name_lower(u->text.data + u->text.len, at, n);
        u->text.len += n;
        u->text.data[u->text.len] = '\0';
    }
    f->name_len += n;
    return 0;
}

static int on_value(http_parser *p, const char *at, size_t n)
{
    struct gw_uresp *u = of(p);
    struct field *f;

    if (too_big(u, n) != 0) return -1;
    if (u->nfields == 0) return -1; /* not reached: http_parser sends a name first */
    f = &u->fields[u->nfields - 1];
    if (!u->in_value) {
        f->value_off = u->text.len;
        u->in_value = true;
    }
    pc_buf_append(&u->text, at, n);
    f->value_len += n;
    return 0;
}

/* The head is complete (status, and the fields in u->text): to the sink.
 * Returns the sink's answer (non-zero: stop). */
static int deliver_head(struct gw_uresp *u, int st, bool chunked, uint64_t length, bool keep_alive)
{
    struct pc_kv kv[GW_URESP_MAX_HEADERS];
    struct gw_uresp_head h;

    for (size_t i = 0; i < u->nfields; i++)
        kv[i] = (struct pc_kv){u->text.data + u->fields[i].name_off, u->fields[i].name_len,
                               u->text.data + u->fields[i].value_off, u->fields[i].value_len};
    h.status = st;
    h.headers = kv;
    h.nheaders = u->nfields;
    h.chunked = chunked;
    h.content_length = length;
    h.keep_alive = keep_alive;
    u->head_done = true;
    u->counted = !u->head_request && st != 204 && st != 304 && h.content_length > 0 &&
                 h.content_length != GW_URESP_NO_LENGTH;
    u->body_left = u->counted ? h.content_length : 0;
    return u->sink.head(u->sink.ctx, &h);
}

/* True if the head has no Transfer-Encoding, or exactly one "chunked" (any
 * case, spaces around it) that http_parser read as such (chunked): one
 * header, one coding. Any other coding the gateway would have to undo or
 * pass on unsaid, so, as nginx does, the response is refused ("gzip,
 * chunked" de-chunked would reach the client as gzip bytes that nothing
 * says are). */
static bool te_is_plain(const struct gw_uresp *u, bool chunked)
{
    size_t seen = 0;
    bool ok = false;

    for (size_t i = 0; i < u->nfields; i++) {
        const struct field *f = &u->fields[i];
        if (f->name_len != 17 || memcmp(u->text.data + f->name_off, "transfer-encoding", 17) != 0)
            continue;
        ok = pc_te_is_chunked(u->text.data + f->value_off, f->value_len);
        seen++;
    }
    return seen == 0 || (seen == 1 && ok && chunked);
}

static int on_headers_complete(http_parser *p)
{
    struct gw_uresp *u = of(p);
    int st = p->status_code;
    bool chunked = (p->flags & F_CHUNKED) != 0;

    if (u->text.oom) pc_panic("out of memory reading a response head");
    if (st < 100 || st > 599) {
        u->reason = "bad response status";
        return -1;
    }
    if (st == 101) {
        u->reason = "upgrade responses are not forwarded";
        return -1;
    }
    if (st < 200) return 1; /* interim: no body; skipped, the final response follows */
    if (p->uses_transfer_encoding && !te_is_plain(u, chunked)) {
        u->reason = "upstream sent unknown Transfer-Encoding";
        return -1;
    }
    if (deliver_head(u, st, chunked,
                     (!chunked && p->content_length != ULLONG_MAX) ? (uint64_t)p->content_length
                                                                   : GW_URESP_NO_LENGTH,
                     http_should_keep_alive(p) != 0) != 0) {
        u->stopped = true;
        http_parser_pause(p, 1);
    }
    /* 1: no body, whatever Content-Length says (http_parser would read one
     * for a 304 or 204 that announces a length). */
    return u->head_request || st == 204 || st == 304 ? 1 : 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    struct gw_uresp *u = of(p);
    if (!u->head_done) return 0;       /* not reached: interim responses have no body */
    if (u->counted) u->body_left -= n; /* http_parser gives no more than the length */
    if (u->sink.body(u->sink.ctx, at, n) != 0) {
        u->stopped = true;
        http_parser_pause(p, 1);
    }
    return 0;
}

static int on_complete(http_parser *p)
{
    struct gw_uresp *u = of(p);
    if (!u->head_done) return 0; /* an interim response ended: on to the final one */
    u->msg_done = true;
    u->body_left = 0;
    u->sink.done(u->sink.ctx);
    http_parser_pause(p, 1); /* what follows is not ours to parse */
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_begin,
    .on_status = on_status,
    .on_header_field = on_field,
    .on_header_value = on_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_complete,
};

/* ------------------------------------------------------------------------ */
/* The common head without http_parser                                      */
/* ------------------------------------------------------------------------ */

/* Most upstream heads arrive whole in one read and are plain: a 2xx-5xx
 * status, token names, printable values, one Content-Length. Read byte by
 * byte, http_parser costs ~25 instructions a byte there (a quarter of the
 * gateway's work for a small response), so such a head is read here in a
 * few passes; anything else -- split heads, 1xx, chunked or close-delimited
 * bodies, Transfer-Encoding, Upgrade, Connection tokens other than close or
 * keep-alive, an empty or space-ended value, any byte outside the plain set
 * -- is left to http_parser from its first byte, so every error and every
 * edge case has one judge. fuzz_uresp checks that whenever this accepts a
 * head, http_parser makes the same of it. */

/* Byte classes of a plain head: 1 a name byte (letters, digits, '-'), 2 a
 * value byte (printable ASCII and HTAB; names bytes are value bytes too). */
static const unsigned char plain[256] = {
    ['\t'] = 2, [' '] = 2, ['!'] = 2, ['"'] = 2, ['#'] = 2, ['$'] = 2,  ['%'] = 2, ['&'] = 2,
    ['\''] = 2, ['('] = 2, [')'] = 2, ['*'] = 2, ['+'] = 2, [','] = 2,  ['-'] = 3, ['.'] = 2,
    ['/'] = 2,  ['0'] = 3, ['1'] = 3, ['2'] = 3, ['3'] = 3, ['4'] = 3,  ['5'] = 3, ['6'] = 3,
    ['7'] = 3,  ['8'] = 3, ['9'] = 3, [':'] = 2, [';'] = 2, ['<'] = 2,  ['='] = 2, ['>'] = 2,
    ['?'] = 2,  ['@'] = 2, ['A'] = 3, ['B'] = 3, ['C'] = 3, ['D'] = 3,  ['E'] = 3, ['F'] = 3,
    ['G'] = 3,  ['H'] = 3, ['I'] = 3, ['J'] = 3, ['K'] = 3, ['L'] = 3,  ['M'] = 3, ['N'] = 3,
    ['O'] = 3,  ['P'] = 3, ['Q'] = 3, ['R'] = 3, ['S'] = 3, ['T'] = 3,  ['U'] = 3, ['V'] = 3,
    ['W'] = 3,  ['X'] = 3, ['Y'] = 3, ['Z'] = 3, ['['] = 2, ['\\'] = 2, [']'] = 2, ['^'] = 2,
    ['_'] = 2,  ['`'] = 2, ['a'] = 3, ['b'] = 3, ['c'] = 3, ['d'] = 3,  ['e'] = 3, ['f'] = 3,
    ['g'] = 3,  ['h'] = 3, ['i'] = 3, ['j'] = 3, ['k'] = 3, ['l'] = 3,  ['m'] = 3, ['n'] = 3,
    ['o'] = 3,  ['p'] = 3, ['q'] = 3, ['r'] = 3, ['s'] = 3, ['t'] = 3,  ['u'] = 3, ['v'] = 3,
    ['w'] = 3,  ['x'] = 3, ['y'] = 3, ['z'] = 3, ['{'] = 2, ['|'] = 2,  ['}'] = 2, ['~'] = 2,
};
#define NAME_BYTE(c) (plain[(unsigned char)(c)] & 1)
#define VALUE_BYTE(c) (plain[(unsigned char)(c)] & 2)

/* Where the head's blank line starts ("\r\n\r\n"), within lim bytes. */
static const char *head_end(const char *d, size_t lim)
{
    const char *p = d, *e = d + lim;
    while ((p = memchr(p, '\n', (size_t)(e - p))) != NULL) {
        if (e - p >= 3 && p[1] == '\r' && p[2] == '\n' && p > d && p[-1] == '\r') return p - 1;
        p++;
    }
    return NULL;
}

static bool is_name(const char *lc, size_t n, const char *want, size_t wn)
{
    return n == wn && memcmp(lc, want, wn) == 0;
}

/* Returns the head's length when d starts with a whole plain head (its
 * fields then in u->text), else 0: http_parser's. */
static size_t fast_head(struct gw_uresp *u, const char *d, size_t n, int *status, uint64_t *length,
                        bool *keep_alive)
{
    size_t lim = n < GW_URESP_MAX_HEAD ? n : GW_URESP_MAX_HEAD;
    const char *hend = head_end(d, lim), *p, *end;
    int conn = 0; /* 1 close, 2 keep-alive */
    bool minor1, has_length = false;
    uint64_t len = 0;
    int st;

    if (hend == NULL || lim < 14 || memcmp(d, "HTTP/1.", 7) != 0 || (d[7] != '0' && d[7] != '1') ||
        d[8] != ' ' || d[9] < '2' || d[9] > '5' || d[10] < '0' || d[10] > '9' || d[11] < '0' ||
        d[11] > '9' || (d[12] != ' ' && d[12] != '\r'))
        return 0;
    minor1 = d[7] == '1';
    st = (d[9] - '0') * 100 + (d[10] - '0') * 10 + (d[11] - '0');
    p = d + 12;
    end = hend + 2; /* the blank line's CRLF */
    while (*p != '\r')
        if (!VALUE_BYTE(*p++)) return 0;
    if (p[1] != '\n') return 0;
    p += 2;
    pc_buf_reset(&u->text);
    u->nfields = 0;
    while (p < end) {
        const char *name = p, *value, *vend;
        struct field *f;
        size_t nl, vl;
        char *lc;

        while (NAME_BYTE(*p)) p++;
        nl = (size_t)(p - name);
        if (nl == 0 || *p != ':') return 0;
        p++;
        while (*p == ' ' || *p == '\t') p++;
        value = p;
        while (*p != '\r')
            if (!VALUE_BYTE(*p++)) return 0;
        vend = p;
        if (p[1] != '\n' || vend == value || vend[-1] == ' ' || vend[-1] == '\t') return 0;
        p += 2;
        vl = (size_t)(vend - value);
        if (u->nfields == GW_URESP_MAX_HEADERS || !pc_buf_reserve(&u->text, nl + vl)) return 0;
        f = &u->fields[u->nfields++];
        f->name_off = u->text.len;
        f->name_len = nl;
        lc = u->text.data + u->text.len;
        pc_header_name_lower(lc, name, nl);
        f->value_off = u->text.len + nl;
        f->value_len = vl;
        memcpy(lc + nl, value, vl);
        u->text.len += nl + vl;
        u->text.data[u->text.len] = '\0';
        if (is_name(lc, nl, "content-length", 14)) {
            if (has_length || (vl != 0 && !pc_get_u64(value, vl, &len))) return 0;
            has_length = true;
        } else if (is_name(lc, nl, "connection", 10)) {
            if (conn != 0) return 0;
            if (vl == 5 && strncasecmp(value, "close", 5) == 0)
                conn = 1;
            else if (vl == 10 && strncasecmp(value, "keep-alive", 10) == 0)
                conn = 2;
            else
                return 0;
        } else if ((nl >= 17 && memcmp(lc, "transfer-encoding", 17) == 0) ||
                   is_name(lc, nl, "upgrade", 7) || is_name(lc, nl, "proxy-connection", 16)) {
            return 0; /* any name that starts so: http_parser 2.9 marks the message then */
        }
    }
    if (!has_length && !u->head_request && st != 204 && st != 304)
        return 0; /* chunked, or until the close */
    *status = st;
    *length = has_length ? len : GW_URESP_NO_LENGTH;
    *keep_alive = minor1 ? conn != 1 : conn == 2;
    return (size_t)(hend + 4 - d);
}

/* A whole plain head at the start of a response: delivered, the body then
 * counted as it comes (the raw mode of gw_uresp_body_taken). Returns the
 * bytes used, 0 when http_parser is to read the response. */
static size_t feed_fast(struct gw_uresp *u, const char *d, size_t n)
{
    int st;
    uint64_t len;
    bool ka;
    size_t k = fast_head(u, d, n, &st, &len, &ka);

    if (k == 0) {
        u->nfields = 0;
        pc_buf_reset(&u->text);
        return 0;
    }
    u->started = true;
    u->raw = true;
    if (deliver_head(u, st, false, len, ka) != 0) u->stopped = true;
    if (!u->counted) {
        u->msg_done = true;
        u->sink.done(u->sink.ctx);
    }
    return k;
}

gw_uresp *gw_uresp_new(const struct gw_uresp_sink *sink)
{
    struct gw_uresp *u = pc_xcalloc(1, sizeof *u);
    u->sink = *sink;
    pc_buf_init(&u->text);
    gw_uresp_reset(u, false);
    return u;
}

void gw_uresp_free(gw_uresp *u)
{
    if (u == NULL) return;
    pc_buf_deinit(&u->text);
    free(u);
}

void gw_uresp_reset(gw_uresp *u, bool head_request)
{
    http_parser_init(&u->p, HTTP_RESPONSE);
    u->p.data = u;
    u->nfields = 0;
    u->in_value = false;
    u->head_request = head_request;
    u->head_done = u->started = u->msg_done = u->stopped = false;
    u->counted = u->raw = false;
    u->body_left = 0;
    u->head_bytes = 0;
    u->reason = NULL;
    pc_buf_trim(&u->text, 4096);
    pc_buf_reset(&u->text);
}

static const char *error_of(struct gw_uresp *u)
{
    enum http_errno e = HTTP_PARSER_ERRNO(&u->p);
    if (u->reason) return u->reason;
    if (e == HPE_HEADER_OVERFLOW) return "response head too large";
    return http_errno_description(e);
}

int gw_uresp_feed(gw_uresp *u, const char *data, size_t n, size_t *used, const char **why)
{
    size_t k;
    enum http_errno e;

    *used = 0;
    if (u->msg_done || n == 0) return GW_URESP_OK;
    if (!u->started && !u->slow_only) {
        k = feed_fast(u, data, n);
        *used = k;
        if (k > 0 && (u->msg_done || u->stopped || k == n)) return GW_URESP_OK;
        data += k;
        n -= k;
    }
    if (u->raw) { /* http_parser does not know where the body is */
        u->stopped = false;
        k = n < u->body_left ? n : (size_t)u->body_left;
        *used += k;
        if (u->sink.body(u->sink.ctx, data, k) != 0) u->stopped = true;
        gw_uresp_body_taken(u, k);
        return GW_URESP_OK;
    }
    if (u->stopped) { /* the caller resumes after a sink stop */
        u->stopped = false;
        http_parser_pause(&u->p, 0);
    }
    k = http_parser_execute(&u->p, &settings, data, n);
    e = HTTP_PARSER_ERRNO(&u->p);
    *used += k;
    if (e == HPE_OK || e == HPE_PAUSED) {
        if (e == HPE_PAUSED && !u->msg_done) u->stopped = true;
        return GW_URESP_OK;
    }
    *why = error_of(u);
    return GW_URESP_ERROR;
}

int gw_uresp_eof(gw_uresp *u, const char **why)
{
    enum http_errno e;

    if (u->msg_done) return GW_URESP_OK;
    if (u->raw) {
        *why = "upstream closed before the response was complete";
        return GW_URESP_ERROR;
    }
    if (u->stopped) http_parser_pause(&u->p, 0);
    http_parser_execute(&u->p, &settings, NULL, 0);
    e = HTTP_PARSER_ERRNO(&u->p);
    if (u->msg_done) return GW_URESP_OK;
    *why = (e == HPE_OK || e == HPE_PAUSED) ? "upstream closed before the response was complete"
                                            : error_of(u);
    return GW_URESP_ERROR;
}

bool gw_uresp_started(const gw_uresp *u) { return u->started; }

void gw_uresp_slow_only(gw_uresp *u, bool on) { u->slow_only = on; }

uint64_t gw_uresp_body_left(const gw_uresp *u) { return u->msg_done ? 0 : u->body_left; }

void gw_uresp_body_taken(gw_uresp *u, size_t n)
{
    if (n > u->body_left) pc_panic("gw_uresp_body_taken: %zu bytes past the body's end", n);
    u->raw = true;
    u->body_left -= n;
    if (u->body_left > 0 || u->msg_done) return;
    u->msg_done = true;
    u->sink.done(u->sink.ctx);
}
