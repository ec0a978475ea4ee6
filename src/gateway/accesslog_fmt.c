/* accesslog_fmt.c -- access-log lines (see accesslog_fmt.h). */
#include "accesslog_fmt.h"

#include <string.h>
#include <time.h>


/* Output budgets, bytes after escaping ("..." included when cut). With the
 * keys and numbers, the largest JSON line is under 4000 bytes and the
 * largest combined line under 3800: both within GW_ALOG_LINE_MAX. */
#define CAP_ID 260
#define CAP_ADDR 128
#define CAP_METHOD 64
#define CAP_PATH 1200
#define CAP_QUERY 600
#define CAP_ROUTE 400
#define CAP_SERVICE 140
#define CAP_INSTANCE 280
#define CAP_ERROR 64
#define CAP_TRACE 64
#define CAP_USER 400
#define CAP_REFERER 600
#define CAP_AGENT 700

static const char hex[] = "0123456789abcdef";       /* JSON's \u00xx */
static const char hex_upper[] = "0123456789ABCDEF"; /* nginx's \xHH */

/* Bytes copied as they are, in both formats: printable ASCII (the space
 * included) but '"' and '\\'; filled once. */
static unsigned char plain[256];

static void tables(void)
{
    if (plain['a']) return;
    for (int c = 0x20; c < 0x7f; c++) plain[c] = 1;
    plain['"'] = plain['\\'] = 0;
}

/* Whether any byte of the 8 in x is not plain: below 0x20, 0x7f or above,
 * '"' or '\\'. Exact (no byte is missed; the tricks are the "has a byte less
 * than / equal to" ones of Bit Twiddling Hacks), so a word it passes is
 * copied without looking at each byte. */
#define ONES 0x0101010101010101u
#define HIGHS 0x8080808080808080u
static uint64_t word_has_special(uint64_t x)
{
    uint64_t q = x ^ (ONES * '"'), b = x ^ (ONES * '\\');
    uint64_t below = (x - ONES * 0x20) & ~x;
    uint64_t high = x | (x + ONES); /* 0x7f..0xff; a carry only out of 0xff */
    return (below | ((q - ONES) & ~q) | ((b - ONES) & ~b) | high) & HIGHS;
}

/* The run of plain bytes of s[i..n), copied to o within end; returns the
 * new i, *o moved (a run is cut at end: each byte is a whole unit). Eight
 * bytes at a time while they are all plain, then byte by byte. */
static inline size_t copy_run(const unsigned char *s, size_t i, size_t n, char **o, const char *end)
{
    char *d = *o;
    size_t j, i0 = i, r;
    uint64_t x;
    uint32_t h;

    while (i + 8 <= n && d + 8 <= end) {
        memcpy(&x, s + i, 8);
        if (word_has_special(x)) break;
        memcpy(d, &x, 8);
        d += 8;
        i += 8;
    }
    /* The rest (under 8 bytes) in one piece when it is plain and fits: the
     * last 8 bytes of the run (some copied already, the same again), or
     * the 4-byte halves of a shorter rest. */
    r = n - i;
    if (r > 0 && r < 8 && r <= (size_t)(end - d)) {
        if (n - i0 >= 8) {
            memcpy(&x, s + n - 8, 8);
            if (!word_has_special(x)) {
                memcpy(d + r - 8, &x, 8);
                *o = d + r;
                return n;
            }
        } else if (r >= 4) {
            memcpy(&h, s + i, 4);
            x = (uint64_t)h << 32 | h;
            memcpy(&h, s + n - 4, 4);
            if (!word_has_special(x) && !word_has_special((uint64_t)h << 32 | h)) {
                memcpy(d, s + i, 4);
                memcpy(d + r - 4, &h, 4);
                *o = d + r;
                return n;
            }
        }
    }
    j = i;
    while (j < n && plain[s[j]]) j++;
    if (j - i > (size_t)(end - d)) j = i + (size_t)(end - d);
    while (i < j) *d++ = (char)s[i++];
    *o = d;
    return j;
}

/* Length of the valid UTF-8 sequence (RFC 3629: no overlongs, surrogates,
 * or code points above U+10FFFF) of 2..4 bytes starting at p, or 0. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xbf; /* range of the second byte */

    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;
    } else
        return 0;
    if (n < len || p[1] < lo || p[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if (p[i] < 0x80 || p[i] > 0xbf) return 0;
    return len;
}

/* A JSON string's contents: v escaped into o, at most cap bytes. */
static char *put_json(char *o, struct gw_alog_str v, size_t cap)
{
    const unsigned char *s = (const unsigned char *)v.s;
    char *end = o + cap - 3; /* room for "..." */
    size_t i = 0;

    while (i < v.n) {
        unsigned char c = s[i];
        if (plain[c]) {
            i = copy_run(s, i, v.n, &o, end);
            if (i < v.n && o == end) goto cut;
        } else if (c == '"' || c == '\\') {
            if (o + 2 > end) goto cut;
            *o++ = '\\';
            *o++ = (char)c;
            i++;
        } else if (c < 0x80) { /* control bytes and DEL */
            if (o + 6 > end) goto cut;
            memcpy(o, "\\u00", 4);
            o[4] = hex[c >> 4];
            o[5] = hex[c & 15];
            o += 6;
            i++;
        } else {
            size_t k = utf8_seq(s + i, v.n - i);
            if (k > 0) {
                if (o + k > end) goto cut;
                memcpy(o, s + i, k);
                o += k;
                i += k;
            } else {
                if (o + 6 > end) goto cut;
                memcpy(o, "\\ufffd", 6);
                o += 6;
                i++;
            }
        }
    }
    return o;
cut:
    memcpy(o, "...", 3);
    return o + 3;
}

/* A combined-format value: v escaped as nginx's access_log does (escape=
 * default: '"', '\\' and bytes outside 0x20..0x7e as \xHH, upper-case hex;
 * a space kept), "-" when absent. */
static char *put_clf(char *o, struct gw_alog_str v, size_t cap)
{
    const unsigned char *s = (const unsigned char *)v.s;
    char *end = o + cap - 3;
    size_t i = 0;

    if (v.n == 0) {
        *o++ = '-';
        return o;
    }
    while (i < v.n) {
        unsigned char c = s[i];
        if (plain[c]) {
            i = copy_run(s, i, v.n, &o, end);
            if (i < v.n && o == end) goto cut;
        } else {
            if (o + 4 > end) goto cut;
            o[0] = '\\';
            o[1] = 'x';
            o[2] = hex_upper[c >> 4];
            o[3] = hex_upper[c & 15];
            o += 4;
            i++;
        }
    }
    return o;
cut:
    memcpy(o, "...", 3);
    return o + 3;
}

/* A string literal copied (its length known when compiled). */
#define PUT(o, lit) (memcpy((o), (lit), sizeof(lit) - 1), (o) + sizeof(lit) - 1)

static const char digits2[] = "00010203040506070809101112131415161718192021222324252627282930313233"
                              "34353637383940414243444546474849505152535455565758596061626364656667"
                              "6869707172737475767778798081828384858687888990919293949596979899";

/* The decimal digits of v at o (no NUL), two at a time; returns the end. */
static char *put_dec(char *o, uint64_t v)
{
    char *e;
    uint64_t t = v;

    if (v < 10) {
        *o = (char)('0' + v);
        return o + 1;
    }
    if (v < 100) {
        memcpy(o, digits2 + 2 * v, 2);
        return o + 2;
    }
    e = o + 2;
    while (t >= 100) {
        t /= 10;
        e++;
    }
    o = e;
    while (v >= 100) {
        o -= 2;
        memcpy(o, digits2 + 2 * (v % 100), 2);
        v /= 100;
    }
    if (v >= 10) {
        o -= 2;
        memcpy(o, digits2 + 2 * v, 2);
    } else {
        *--o = (char)('0' + v);
    }
    return e;
}

/* The broken-down UTC time of a second, computed once per second. */
static const struct tm *utc_of(time_t sec)
{
    static time_t cached = -1;
    static struct tm tm;
    if (sec != cached) {
        gmtime_r(&sec, &tm);
        cached = sec;
    }
    return &tm;
}

static char *put2(char *o, int v)
{
    o[0] = (char)('0' + v / 10 % 10);
    o[1] = (char)('0' + v % 10);
    return o + 2;
}

/* {"ts":"2026-12-06T17:19:11.123Z" (RFC 3339, UTC, milliseconds): all but
 * the milliseconds made once per second. */
static char *put_ts(char *o, uint64_t ms)
{
    static uint64_t cached_sec = UINT64_MAX;
    static char head[48]; /* {"ts":"YYYY-MM-DDTHH:MM:SS. (a longer year: more) */
    static size_t head_len;
    unsigned frac = (unsigned)(ms % 1000);

    if (ms / 1000 != cached_sec) {
        const struct tm *t = utc_of((time_t)(ms / 1000));
        char *h = PUT(head, "{\"ts\":\"");
        h = put_dec(h, (uint64_t)(t->tm_year + 1900));
        *h++ = '-';
        h = put2(h, t->tm_mon + 1);
        *h++ = '-';
        h = put2(h, t->tm_mday);
        *h++ = 'T';
        h = put2(h, t->tm_hour);
        *h++ = ':';
        h = put2(h, t->tm_min);
        *h++ = ':';
        h = put2(h, t->tm_sec);
        *h++ = '.';
        head_len = (size_t)(h - head);
        cached_sec = ms / 1000;
    }
    memcpy(o, head, sizeof head); /* a fixed size: no call; the line has room */
    o += head_len;
    *o++ = (char)('0' + frac / 100);
    memcpy(o, digits2 + 2 * (frac % 100), 2);
    return PUT(o + 2, "Z\"");
}

/* "06/Dec/2026:17:19:11 +0000" (the combined format's time, in UTC). */
static char *put_clf_time(char *o, uint64_t ms)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    const struct tm *t = utc_of((time_t)(ms / 1000));
    o = put2(o, t->tm_mday);
    *o++ = '/';
    memcpy(o, months + 3 * (t->tm_mon % 12), 3);
    o += 3;
    *o++ = '/';
    o = put_dec(o, (uint64_t)(t->tm_year + 1900));
    *o++ = ':';
    o = put2(o, t->tm_hour);
    *o++ = ':';
    o = put2(o, t->tm_min);
    *o++ = ':';
    o = put2(o, t->tm_sec);
    return PUT(o, " +0000");
}

static unsigned status_of(int s) { return s < 0 ? 0u : s > 999 ? 999u : (unsigned)s; }

/* A JSON string's contents and its closing quote. */
static char *json_value(char *o, struct gw_alog_str v, size_t cap)
{
    o = put_json(o, v, cap);
    *o++ = '"';
    return o;
}

/* ,"key":"value" when the value is present. */
#define JSON_FIELD(o, key, v, cap)                                                                 \
    ((v).n == 0 ? (o) : json_value(PUT(o, ",\"" key "\":\""), v, cap))

size_t gw_alog_format_json(char *out, const struct gw_alog_rec *r)
{
    char *o = out;

    tables();
    o = put_ts(o, r->ts_ms);
    o = JSON_FIELD(o, "request_id", r->request_id, CAP_ID);
    o = JSON_FIELD(o, "remote_addr", r->remote_addr, CAP_ADDR);
    o = JSON_FIELD(o, "method", r->method, CAP_METHOD);
    o = JSON_FIELD(o, "path", r->path, CAP_PATH);
    o = JSON_FIELD(o, "query", r->query, CAP_QUERY);
    o = PUT(o, ",\"status\":");
    o = put_dec(o, status_of(r->status));
    o = PUT(o, ",\"bytes_in\":");
    o = put_dec(o, r->bytes_in);
    o = PUT(o, ",\"bytes_out\":");
    o = put_dec(o, r->bytes_out);
    o = PUT(o, ",\"duration_ms\":");
    o = put_dec(o, r->duration_ms);
    o = JSON_FIELD(o, "route", r->route, CAP_ROUTE);
    o = JSON_FIELD(o, "service", r->service, CAP_SERVICE);
    o = JSON_FIELD(o, "instance", r->instance, CAP_INSTANCE);
    if (r->upstream_ms >= 0) {
        o = PUT(o, ",\"upstream_ms\":");
        o = put_dec(o, (uint64_t)r->upstream_ms);
    }
    o = JSON_FIELD(o, "error", r->error, CAP_ERROR);
    o = JSON_FIELD(o, "trace_id", r->trace_id, CAP_TRACE);
    if (r->tls)
        o = PUT(o, ",\"tls\":true");
    else
        o = PUT(o, ",\"tls\":false");
    o = JSON_FIELD(o, "user", r->user, CAP_USER);
    o = PUT(o, "}\n");
    return (size_t)(o - out);
}

size_t gw_alog_format_combined(char *out, const struct gw_alog_rec *r)
{
    char *o = out;

    tables();
    /* host ident authuser [date] "request" status bytes "referer" "agent" */
    o = put_clf(o, r->remote_addr, CAP_ADDR);
    o = PUT(o, " - ");
    o = put_clf(o, r->user, CAP_USER);
    o = PUT(o, " [");
    o = put_clf_time(o, r->ts_ms);
    o = PUT(o, "] \"");
    if (r->method.n == 0 && r->path.n == 0) {
        *o++ = '-';
    } else {
        o = put_clf(o, r->method, CAP_METHOD);
        *o++ = ' ';
        o = put_clf(o, r->path, CAP_PATH);
        if (r->query.n > 0) {
            *o++ = '?';
            o = put_clf(o, r->query, CAP_QUERY);
        }
        if (r->http_minor == 0)
            o = PUT(o, " HTTP/1.0");
        else
            o = PUT(o, " HTTP/1.1");
    }
    o = PUT(o, "\" ");
    {
        unsigned st = status_of(r->status); /* always three digits */
        *o++ = (char)('0' + st / 100);
        o = put2(o, (int)(st % 100));
    }
    *o++ = ' ';
    o = put_dec(o, r->body_out); /* nginx's $body_bytes_sent: 0 for none */
    o = PUT(o, " \"");
    o = put_clf(o, r->referer, CAP_REFERER);
    o = PUT(o, "\" \"");
    o = put_clf(o, r->user_agent, CAP_AGENT);
    o = PUT(o, "\"\n");
    return (size_t)(o - out);
}
