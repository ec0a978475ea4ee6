/* wire_lean.c -- the hot-path readers of requests and replies, v1 and v2
 * (see wire.h).
 *
 * Single-pass readers for the common, well-formed message. They build no
 * tree and allocate nothing: strings are unescaped into one scratch buffer
 * sized up front (an unescaped string is never longer than its JSON text, so
 * the buffer never moves and pointers into it stay valid). Each accepts a
 * strict subset of what its full decoder in wire_decode.c accepts and, on anything
 * outside it, gives up rather than judge, so errors and edge cases keep one
 * implementation (and one set of error messages). */
#include "wire.h"

#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "base64.h"
#include "names.h"
#include "utf8.h"
#include "uuid.h"

struct lean {
    const char *p, *end;
    char *out; /* next free byte of the scratch buffer */
};

static void lean_ws(struct lean *l)
{
    while (l->p < l->end && (*l->p == ' ' || *l->p == '\n' || *l->p == '\r' || *l->p == '\t'))
        l->p++;
}

/* True if one of the eight bytes in v is below 0x20, '"', '\\' or >= 0x80
 * (the classic "has a byte less than n / equal to c" bit tricks). */
static inline bool lean_has_special(uint64_t v)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    uint64_t q = v ^ (ones * '"'), b = v ^ (ones * '\\');
    return (((v - ones * 0x20) & ~v) | ((q - ones) & ~q) | ((b - ones) & ~b) | v) & highs;
}

/* What each two-byte escape \X stands for; 0: not one (\u and invalid
 * escapes are left to the full decoder). */
static const char lean_unescape[256] = {
    ['"'] = '"',  ['\\'] = '\\', ['/'] = '/',  ['b'] = '\b',
    ['f'] = '\f', ['n'] = '\n',  ['r'] = '\r', ['t'] = '\t',
};

/* Reads a JSON string into the scratch buffer (NUL-terminated). Gives up on
 * \u escapes, raw control bytes and invalid UTF-8. */
static bool lean_str(struct lean *l, const char **s, size_t *n)
{
    const char *p = l->p;
    char *o = l->out, *start = l->out;
    unsigned char high = 0; /* OR of every byte: UTF-8 is checked only if >= 0x80 */

    if (p >= l->end || *p != '"') return false;
    p++;
    for (;;) {
        /* Copied as scanned: the runs between escapes are short in JSON
         * that is itself a string of JSON (a memcpy per run costs more). */
        unsigned char c = 0;
#if defined(__SSE2__)
        /* sixteen at a time: copied whole, then kept up to the first byte
         * that is special or not ASCII (o trails p: the scratch has room) */
        while (l->end - p >= 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
            __m128i ctl = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v);
            __m128i q = _mm_cmpeq_epi8(v, _mm_set1_epi8('"'));
            __m128i bs = _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'));
            unsigned m = (unsigned)_mm_movemask_epi8(
                _mm_or_si128(_mm_or_si128(ctl, v), _mm_or_si128(q, bs)));
            _mm_storeu_si128((__m128i *)(void *)o, v);
            if (m != 0) {
                unsigned k = (unsigned)__builtin_ctz(m);
                o += k;
                p += k;
                /* A two-byte escape is taken here and the scan goes on:
                 * JSON inside a string has one every few bytes. */
                if (*p == '\\' && l->end - p >= 2 &&
                    (*o = lean_unescape[(unsigned char)p[1]]) != 0) {
                    o++;
                    p += 2;
                    continue;
                }
                if (*p == '"') goto closed;
                break;
            }
            o += 16;
            p += 16;
        }
#endif
        while (l->end - p >= 8) { /* eight plain ASCII bytes at a time */
            uint64_t v;
            memcpy(&v, p, 8);
            if (lean_has_special(v)) break;
            memcpy(o, &v, 8); /* o trails p: the scratch buffer has room */
            o += 8;
            p += 8;
        }
        while (p < l->end && (c = (unsigned char)*p) >= 0x20 && c != '"' && c != '\\') {
            *o++ = (char)c;
            high |= c;
            p++;
        }
        if (p >= l->end || c < 0x20) return false;
        if (c == '"') goto closed;
        if (++p >= l->end) /* a backslash */
            return false;
        if ((*o++ = lean_unescape[(unsigned char)*p++]) == 0)
            return false; /* \uXXXX and invalid escapes: the full decoder */
    }
closed:
    /* The escapes are ASCII, so the unescaped text is valid UTF-8 exactly
     * when the JSON text is (jansson's rule for strings). */
    if ((high & 0x80) && !pc_utf8_is_valid(start, (size_t)(o - start))) return false;
    *o++ = '\0';
    l->p = p + 1;
    l->out = o;
    *s = start;
    *n = (size_t)(o - 1 - start);
    return true;
}

/* Reads a plain integer: -?(0|[1-9][0-9]{0,17}); no fraction, no exponent. */
static bool lean_int(struct lean *l, long long *v)
{
    const char *p = l->p;
    bool neg = false;
    long long x = 0;
    int digits = 0;

    if (p < l->end && *p == '-') {
        neg = true;
        p++;
    }
    if (p >= l->end || *p < '0' || *p > '9') return false;
    if (*p == '0') {
        p++;
        digits = 1;
    } else {
        while (p < l->end && *p >= '0' && *p <= '9' && digits < 18) {
            x = x * 10 + (*p++ - '0');
            digits++;
        }
    }
    if (p < l->end && ((*p >= '0' && *p <= '9') || *p == '.' || *p == 'e' || *p == 'E'))
        return false;
    l->p = p;
    *v = neg ? -x : x;
    return true;
}

/* Skips an unknown member's value: a string, integer or literal (anything
 * nested is left to the full decoder). */
static bool lean_skip(struct lean *l)
{
    const char *s;
    size_t n;
    long long v;
    char *mark = l->out;

    if (l->p >= l->end) return false;
    switch (*l->p) {
    case '"':
        if (!lean_str(l, &s, &n)) return false;
        l->out = mark; /* the text is not kept */
        return true;
    case 't':
        if (l->end - l->p < 4 || memcmp(l->p, "true", 4) != 0) return false;
        l->p += 4;
        break;
    case 'f':
        if (l->end - l->p < 5 || memcmp(l->p, "false", 5) != 0) return false;
        l->p += 5;
        break;
    case 'n':
        if (l->end - l->p < 4 || memcmp(l->p, "null", 4) != 0) return false;
        l->p += 4;
        break;
    default:
        return lean_int(l, &v);
    }
    /* a literal must end here ("truex" is not JSON) */
    return l->p >= l->end || strchr(" \t\r\n,}]", *l->p) != NULL;
}

/* After a member or element: 1 if a ',' follows (skipped, with the
 * whitespace after it), 0 if `close` does (skipped), -1 for anything else. */
static int lean_next(struct lean *l, char close)
{
    lean_ws(l);
    if (l->p >= l->end) return -1;
    if (*l->p == close) {
        l->p++;
        return 0;
    }
    if (*l->p++ != ',') return -1;
    lean_ws(l);
    return 1;
}

/* Reads [[name, value], ...] into kv[*used..] (count in *n); gives up past cap. */
static bool lean_pairs(struct lean *l, struct pc_kv *kv, size_t cap, size_t *used, size_t *n)
{
    size_t start = *used;

    if (l->p >= l->end || *l->p++ != '[') return false;
    lean_ws(l);
    if (l->p < l->end && *l->p == ']') {
        l->p++;
        *n = 0;
        return true;
    }
    for (;;) {
        struct pc_kv *h = &kv[*used];
        if (*used == cap || l->p >= l->end || *l->p++ != '[') return false;
        lean_ws(l);
        if (!lean_str(l, &h->name, &h->name_len)) return false;
        lean_ws(l);
        if (l->p >= l->end || *l->p++ != ',') return false;
        lean_ws(l);
        if (!lean_str(l, &h->value, &h->value_len)) return false;
        lean_ws(l);
        if (l->p >= l->end || *l->p++ != ']') return false;
        (*used)++;
        int more = lean_next(l, ']');
        if (more < 0) return false;
        if (more == 0) break;
    }
    *n = *used - start;
    return true;
}

/* Reads one member's value, l->p at it: returns 1 when read, 0 for a key the
 * caller does not know (lean_object skips the value), -1 to give up. */
typedef int lean_member_fn(struct lean *l, const char *key, size_t n, void *ctx);

#define LEAN_MAX_UNKNOWN 8 /* unknown members remembered for the duplicate check */

/* Reads {"key": value, ...}. Keys are compared unescaped, as jansson does;
 * a key seen twice gives up (jansson is told to reject duplicates): known
 * keys are checked by the member function, unknown ones here. */
static bool lean_object(struct lean *l, lean_member_fn *member, void *ctx)
{
    const char *unknown[LEAN_MAX_UNKNOWN];
    size_t unknown_len[LEAN_MAX_UNKNOWN], nunknown = 0;

    if (l->p >= l->end || *l->p++ != '{') return false;
    lean_ws(l);
    if (l->p < l->end && *l->p == '}') {
        l->p++;
        return true;
    }
    for (;;) {
        const char *key;
        size_t n;
        if (!lean_str(l, &key, &n)) return false;
        lean_ws(l);
        if (l->p >= l->end || *l->p++ != ':') return false;
        lean_ws(l);
        int r = member(l, key, n, ctx);
        if (r < 0) return false;
        if (r == 0) {
            if (nunknown == LEAN_MAX_UNKNOWN) return false;
            for (size_t i = 0; i < nunknown; i++)
                if (unknown_len[i] == n && memcmp(unknown[i], key, n) == 0) return false;
            unknown[nunknown] = key;
            unknown_len[nunknown++] = n;
            if (!lean_skip(l)) return false;
        }
        int more = lean_next(l, '}');
        if (more <= 0) return more == 0;
    }
}

/* True if key[0..n) is the literal k. */
#define KEY_IS(key, n, k) ((n) == sizeof(k) - 1 && memcmp((key), (k), sizeof(k) - 1) == 0)

/* Marks a known key seen; false if it was already (a duplicate). */
static bool lean_first(unsigned *seen, unsigned bit)
{
    if (*seen & bit) return false;
    *seen |= bit;
    return true;
}

/* The body members shared by requests and replies (SPEC §4, §13). */
struct lean_body {
    const char *text, *enc;
    size_t n;
    bool has_len; /* "body_len" read (v2: the length of what follows the head) */
    long long len;
};

/* Decodes a body read as text: base64 in place (the text is at least as long
 * as the bytes, and the decoded body stays NUL-terminated), NULL when empty. */
static bool lean_body_done(struct lean_body *b, const unsigned char **body, size_t *len)
{
    size_t n = b->n;

    if (n > 0 && b->enc != NULL) {
        size_t dn;
        if (n % 4 != 0 || pc_base64_decode((char *)b->text, &dn, b->text, n) != 0) return false;
        ((char *)b->text)[dn] = '\0';
        n = dn;
    }
    *body = n > 0 ? (const unsigned char *)b->text : NULL;
    *len = n;
    return true;
}

/* Reads "body" or "body_encoding" when key is one: 1, 0 (another key), -1. */
static int lean_body_member(struct lean *l, const char *key, size_t n, struct lean_body *b,
                            unsigned *seen, unsigned body_bit, unsigned enc_bit)
{
    if (KEY_IS(key, n, "body")) {
        if (!lean_first(seen, body_bit) || !lean_str(l, &b->text, &b->n)) return -1;
        return 1;
    }
    if (KEY_IS(key, n, "body_ref")) return -1; /* a claim check: the full decoder's */
    if (KEY_IS(key, n, "body_len")) {
        if (b->has_len || !lean_int(l, &b->len)) return -1;
        b->has_len = true;
        return 1;
    }
    if (KEY_IS(key, n, "body_encoding")) {
        size_t en;
        if (!lean_first(seen, enc_bit) || !lean_str(l, &b->enc, &en) || en != 6 ||
            memcmp(b->enc, "base64", 6) != 0)
            return -1;
        return 1;
    }
    return 0;
}

/* Sets scratch for a message of len bytes (every unescaped string, with its
 * NUL, fits in the text it came from) and the end of what is read as JSON:
 * the whole message, or a v2 head's line (*rest: what follows its newline,
 * NULL when the message has no newline). The full decoder's rule: a v1
 * message has no raw newline here (one that has is left to it). */
static bool lean_start(struct lean *l, const char *msg, size_t len, char *scratch,
                       const char **rest)
{
    const char *nl = memchr(msg, '\n', len);

    l->p = msg;
    l->end = nl != NULL ? nl : msg + len;
    l->out = scratch;
    *rest = nl != NULL ? nl + 1 : NULL;
    lean_ws(l);
    return len <= PC_WIRE_MAX_MESSAGE;
}

/* After the head was read as version wire: true if the framing is one the
 * full decoder takes as it stands (v1: no newline; v2: a newline, no body
 * inside the head, body_len bytes after it). Sets *rest_len. */
static bool lean_framing(int wire, const struct lean_body *b, const char *rest, const char *end,
                         size_t *rest_len)
{
    if (wire != PC_WIRE_V2) return rest == NULL;
    if (rest == NULL || b->text != NULL || b->enc != NULL) return false;
    *rest_len = (size_t)(end - rest);
    return (unsigned long long)(b->has_len ? b->len : 0) == *rest_len;
}

/* "v": 1 or 2, once; the version into *wire. */
static int lean_version(struct lean *l, unsigned *seen, unsigned bit, int *wire)
{
    long long v;
    if (!lean_first(seen, bit) || !lean_int(l, &v) || (v != PC_WIRE_VERSION && v != PC_WIRE_V2))
        return -1;
    *wire = (int)v;
    return 1;
}

/* True if nothing but whitespace is left. */
static bool lean_end(struct lean *l)
{
    lean_ws(l);
    return l->p == l->end;
}

/* ---------------------------------------------------------------- replies */

enum {
    RK_V = 1,
    RK_ID = 2,
    RK_STATUS = 4,
    RK_HEADERS = 8,
    RK_BODY = 16,
    RK_ENC = 32,
    RK_SEQ = 64,
    RK_MORE = 128,
};

struct lean_reply {
    struct pc_reply_view *out;
    struct pc_kv *kv;
    size_t kv_cap, used;
    unsigned seen;
    struct lean_body body;
};

static int reply_member(struct lean *l, const char *key, size_t n, void *ctx)
{
    struct lean_reply *r = ctx;
    long long v;

    switch (n) {
    case 1:
        return key[0] == 'v' ? lean_version(l, &r->seen, RK_V, &r->out->wire) : 0;
    case 2:
        if (!KEY_IS(key, n, "id")) return 0;
        return lean_first(&r->seen, RK_ID) && lean_str(l, &r->out->id, &r->out->id_len) ? 1 : -1;
    case 3: /* a stream's message number (protocol.md §4.3) */
        if (!KEY_IS(key, n, "seq")) return 0;
        if (!lean_first(&r->seen, RK_SEQ) || !lean_int(l, &v) || v < 0 || v > PC_WIRE_MAX_SEQ)
            return -1;
        r->out->seq = v;
        return 1;
    case 4:
        if (!KEY_IS(key, n, "more")) /* "body" */
            return lean_body_member(l, key, n, &r->body, &r->seen, RK_BODY, RK_ENC);
        if (!lean_first(&r->seen, RK_MORE) || l->end - l->p < 4) return -1;
        if (memcmp(l->p, "true", 4) == 0) {
            r->out->more = true;
            l->p += 4;
        } else if (l->end - l->p >= 5 && memcmp(l->p, "false", 5) == 0) {
            l->p += 5;
        } else {
            return -1;
        }
        return l->p >= l->end || strchr(" \t\r\n,}", *l->p) != NULL ? 1 : -1;
    case 6:
        if (!KEY_IS(key, n, "status")) return 0;
        if (!lean_first(&r->seen, RK_STATUS) || !lean_int(l, &v) || v < 200 || v > 599) return -1;
        r->out->status = (int)v;
        return 1;
    case 7:
        if (!KEY_IS(key, n, "headers")) return 0;
        if (!lean_first(&r->seen, RK_HEADERS) ||
            !lean_pairs(l, r->kv, r->kv_cap, &r->used, &r->out->nheaders))
            return -1;
        r->out->headers = r->kv;
        /* checked as the full decoder does; over a limit: its verdict */
        if (r->out->nheaders > PC_WIRE_MAX_REPLY_HEADERS) return -1;
        for (size_t i = 0, bytes = 0; i < r->out->nheaders; i++) {
            bytes += r->kv[i].name_len + r->kv[i].value_len;
            if (bytes > PC_WIRE_MAX_REPLY_HEADER_BYTES ||
                !pc_header_name_is_valid(r->kv[i].name, r->kv[i].name_len) ||
                !pc_header_value_is_valid(r->kv[i].value, r->kv[i].value_len))
                return -1;
        }
        return 1;
    default:
        return lean_body_member(l, key, n, &r->body, &r->seen, RK_BODY, RK_ENC);
    }
}

/* See wire.h. */
int pc_wire_decode_reply_lean(struct pc_reply_view *out, const char *msg, size_t len,
                              pc_buf *scratch, struct pc_kv *kv, size_t kv_cap)
{
    struct lean l;
    struct lean_reply r = {out, kv, kv_cap, 0, 0, {NULL, NULL, 0, false, 0}};
    const char *rest;
    size_t rest_len = 0;

    memset(out, 0, sizeof *out);
    if (len > PC_WIRE_MAX_MESSAGE) return 0;
    pc_buf_reset(scratch);
    if (!pc_buf_reserve(scratch, len + 1)) return 0;
    if (!lean_start(&l, msg, len, scratch->data, &rest) || !lean_object(&l, reply_member, &r) ||
        !lean_end(&l) || (r.seen & (RK_V | RK_ID)) != (RK_V | RK_ID) ||
        !lean_framing(out->wire, &r.body, rest, msg + len, &rest_len))
        return 0;
    /* a reply (or a stream's first message) has a status; a continuation
     * has "more" and neither status nor headers: anything else, the full
     * decoder's verdict */
    if (out->seq == 0 ? !(r.seen & RK_STATUS)
                      : (r.seen & (RK_STATUS | RK_HEADERS | RK_MORE)) != RK_MORE)
        return 0;
    if (out->wire == PC_WIRE_V2) { /* the body where it lies: no copy */
        out->body = rest_len > 0 ? (const unsigned char *)rest : NULL;
        out->body_len = rest_len;
        return 1;
    }
    if (!lean_body_done(&r.body, &out->body, &out->body_len)) return 0;
    return 1;
}

/* --------------------------------------------------------------- requests */

enum {
    QK_V = 1,
    QK_ID = 2,
    QK_REPLY_TO = 4,
    QK_METHOD = 8,
    QK_PATH = 16,
    QK_QUERY = 32,
    QK_ROUTE = 64,
    QK_REMOTE = 128,
    QK_DEADLINE = 256,
    QK_PARAMS = 512,
    QK_HEADERS = 1024,
    QK_BODY = 2048,
    QK_ENC = 4096,
};

struct lean_request {
    struct pc_request_view *out;
    struct pc_kv *kv;
    size_t kv_cap, used;
    unsigned seen;
    struct lean_body body;
};

/* A member of "params": every key is a name; its value must be a string. */
static int param_member(struct lean *l, const char *key, size_t n, void *ctx)
{
    struct lean_request *r = ctx;
    struct pc_request_view *out = r->out;
    struct pc_kv *p;

    for (size_t i = 0; i < out->nparams; i++)
        if (out->params[i].name_len == n && memcmp(out->params[i].name, key, n) == 0) return -1;
    if (r->used == r->kv_cap) return -1;
    p = &r->kv[r->used];
    p->name = key;
    p->name_len = n;
    if (!lean_str(l, &p->value, &p->value_len)) return -1;
    r->used++;
    out->nparams++;
    return 1;
}

/* Reads a string member into *s, once. */
static int req_str(struct lean *l, struct lean_request *r, unsigned bit, const char **s)
{
    size_t n;
    return lean_first(&r->seen, bit) && lean_str(l, s, &n) ? 1 : -1;
}

static int request_member(struct lean *l, const char *key, size_t n, void *ctx)
{
    struct lean_request *r = ctx;
    struct pc_request_view *out = r->out;
    long long v;

    switch (n) {
    case 1:
        return key[0] == 'v' ? lean_version(l, &r->seen, QK_V, &out->wire) : 0;
    case 2:
        return KEY_IS(key, n, "id") ? req_str(l, r, QK_ID, &out->id) : 0;
    case 4:
        if (KEY_IS(key, n, "path")) return req_str(l, r, QK_PATH, &out->path);
        break;
    case 5:
        if (KEY_IS(key, n, "route")) return req_str(l, r, QK_ROUTE, &out->route);
        return KEY_IS(key, n, "query") ? req_str(l, r, QK_QUERY, &out->query) : 0;
    case 6:
        if (KEY_IS(key, n, "method")) return req_str(l, r, QK_METHOD, &out->method);
        if (!KEY_IS(key, n, "params")) return 0;
        if (!lean_first(&r->seen, QK_PARAMS)) return -1;
        out->params = r->kv + r->used;
        return lean_object(l, param_member, r) ? 1 : -1;
    case 7:
        if (!KEY_IS(key, n, "headers")) return 0;
        if (!lean_first(&r->seen, QK_HEADERS)) return -1;
        out->headers = r->kv + r->used;
        return lean_pairs(l, r->kv, r->kv_cap, &r->used, &out->nheaders) ? 1 : -1;
    case 8:
        if (KEY_IS(key, n, "reply_to")) return req_str(l, r, QK_REPLY_TO, &out->reply_to);
        break; /* body_ref, body_len */
    case 11:
        if (KEY_IS(key, n, "remote_addr")) return req_str(l, r, QK_REMOTE, &out->remote_addr);
        if (!KEY_IS(key, n, "deadline_ms")) return 0;
        if (!lean_first(&r->seen, QK_DEADLINE) || !lean_int(l, &v) || v < 0) return -1;
        out->deadline_ms = (uint64_t)v;
        return 1;
    }
    return lean_body_member(l, key, n, &r->body, &r->seen, QK_BODY, QK_ENC);
}

/* Both request readers of wire.h: copy_body false leaves a v2 body in msg. */
static int decode_request_lean(struct pc_request_view *out, const char *msg, size_t len,
                               char *scratch, struct pc_kv *kv, size_t kv_cap, bool copy_body)
{
    const unsigned need = QK_V | QK_ID | QK_REPLY_TO | QK_METHOD | QK_PATH | QK_DEADLINE;
    struct lean l;
    struct lean_request r = {out, kv, kv_cap, 0, 0, {NULL, NULL, 0, false, 0}};
    const char *rest;
    size_t rest_len = 0;

    memset(out, 0, sizeof *out);
    out->query = "";
    if (!lean_start(&l, msg, len, scratch, &rest) || !lean_object(&l, request_member, &r) ||
        !lean_end(&l) || (r.seen & need) != need || !pc_uuid_is_valid(out->id, strlen(out->id)) ||
        !lean_framing(out->wire, &r.body, rest, msg + len, &rest_len))
        return 0;
    if (out->wire == PC_WIRE_V2) {
        if (!copy_body) { /* where it lies */
            out->body = rest_len > 0 ? (const unsigned char *)rest : NULL;
            out->body_len = rest_len;
            return 1;
        }
        /* copied once, raw, after the head's strings (they take at most the
         * head's length, so head + body + NUL fit the len + 1 bytes) */
        if (rest_len > 0) {
            memcpy(l.out, rest, rest_len);
            l.out[rest_len] = '\0';
            out->body = (const unsigned char *)l.out;
        }
        out->body_len = rest_len;
        return 1;
    }
    if (!lean_body_done(&r.body, &out->body, &out->body_len)) return 0;
    return 1;
}

/* See wire.h. */
int pc_wire_decode_request_lean(struct pc_request_view *out, const char *msg, size_t len,
                                char *scratch, struct pc_kv *kv, size_t kv_cap)
{
    return decode_request_lean(out, msg, len, scratch, kv, kv_cap, true);
}

/* See wire.h. */
int pc_wire_decode_request_lean_ref(struct pc_request_view *out, const char *msg, size_t len,
                                    char *scratch, struct pc_kv *kv, size_t kv_cap)
{
    return decode_request_lean(out, msg, len, scratch, kv, kv_cap, false);
}
