/* accesslog_fmt.c -- access-log lines (see accesslog_fmt.h). */
#include "accesslog_fmt.h"

#include <string.h>
#include <time.h>

#include "digits.h"

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

static const char hex[] = "0123456789abcdef";

/* Bytes copied as they are: printable ASCII but '"' and '\\' (JSON), and
 * but the space too (combined, outside quotes); filled once. */
static unsigned char plain_json[256], plain_clf[256];

static void tables(void)
{
    if (plain_json['a']) return;
    for (int c = 0x20; c < 0x7f; c++) plain_json[c] = plain_clf[c] = 1;
    plain_json['"'] = plain_json['\\'] = 0;
    plain_clf['"'] = plain_clf['\\'] = 0;
    plain_clf[' '] = 0;
}

/* The run of bytes of s[i..n) that tbl says are plain, copied to o within
 * end; returns the new i, *o moved (a run is cut at end: each byte is a
 * whole unit). */
static size_t copy_run(const unsigned char *tbl, const unsigned char *s, size_t i, size_t n,
                       char **o, const char *end)
{
    size_t j = i, room = (size_t)(end - *o);
    while (j < n && tbl[s[j]]) j++;
    if (j - i > room) j = i + room;
    memcpy(*o, s + i, j - i);
    *o += j - i;
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
        if (plain_json[c]) {
            i = copy_run(plain_json, s, i, v.n, &o, end);
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

/* A combined-format value: v escaped as nginx does (quoted: a space kept). */
static char *put_clf(char *o, struct gw_alog_str v, size_t cap, bool quoted)
{
    const unsigned char *s = (const unsigned char *)v.s;
    char *end = o + cap - 3;

    if (v.n == 0) {
        *o++ = '-';
        return o;
    }
    for (size_t i = 0; i < v.n; i++) {
        unsigned char c = s[i];
        if (plain_clf[c]) {
            i = copy_run(plain_clf, s, i, v.n, &o, end);
            if (i < v.n && o == end) goto cut;
            i--; /* the loop's i++ */
        } else if (c == ' ' && quoted) {
            if (o + 1 > end) goto cut;
            *o++ = ' ';
        } else {
            if (o + 4 > end) goto cut;
            o[0] = '\\';
            o[1] = 'x';
            o[2] = hex[c >> 4];
            o[3] = hex[c & 15];
            o += 4;
        }
    }
    return o;
cut:
    memcpy(o, "...", 3);
    return o + 3;
}

static char *put(char *o, const char *lit)
{
    size_t n = strlen(lit);
    memcpy(o, lit, n);
    return o + n;
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

/* "2026-12-06T17:19:11.123Z" (RFC 3339, UTC, milliseconds). */
static char *put_rfc3339(char *o, uint64_t ms)
{
    const struct tm *t = utc_of((time_t)(ms / 1000));
    unsigned frac = (unsigned)(ms % 1000);
    o = pc_put_u64(o, (uint64_t)(t->tm_year + 1900));
    *o++ = '-';
    o = put2(o, t->tm_mon + 1);
    *o++ = '-';
    o = put2(o, t->tm_mday);
    *o++ = 'T';
    o = put2(o, t->tm_hour);
    *o++ = ':';
    o = put2(o, t->tm_min);
    *o++ = ':';
    o = put2(o, t->tm_sec);
    *o++ = '.';
    *o++ = (char)('0' + frac / 100);
    o = put2(o, (int)(frac % 100));
    *o++ = 'Z';
    return o;
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
    o = pc_put_u64(o, (uint64_t)(t->tm_year + 1900));
    *o++ = ':';
    o = put2(o, t->tm_hour);
    *o++ = ':';
    o = put2(o, t->tm_min);
    *o++ = ':';
    o = put2(o, t->tm_sec);
    return put(o, " +0000");
}

static unsigned status_of(int s) { return s < 0 ? 0u : s > 999 ? 999u : (unsigned)s; }

/* ,"key":"value" when the value is present. */
static char *json_field(char *o, const char *key, struct gw_alog_str v, size_t cap)
{
    if (v.n == 0) return o;
    o = put(o, key);
    o = put_json(o, v, cap);
    *o++ = '"';
    return o;
}

size_t gw_alog_format_json(char *out, const struct gw_alog_rec *r)
{
    char *o = out;

    tables();
    o = put(o, "{\"ts\":\"");
    o = put_rfc3339(o, r->ts_ms);
    *o++ = '"';
    o = json_field(o, ",\"request_id\":\"", r->request_id, CAP_ID);
    o = json_field(o, ",\"remote_addr\":\"", r->remote_addr, CAP_ADDR);
    o = json_field(o, ",\"method\":\"", r->method, CAP_METHOD);
    o = json_field(o, ",\"path\":\"", r->path, CAP_PATH);
    o = json_field(o, ",\"query\":\"", r->query, CAP_QUERY);
    o = put(o, ",\"status\":");
    o = pc_put_u64(o, status_of(r->status));
    o = put(o, ",\"bytes_in\":");
    o = pc_put_u64(o, r->bytes_in);
    o = put(o, ",\"bytes_out\":");
    o = pc_put_u64(o, r->bytes_out);
    o = put(o, ",\"duration_ms\":");
    o = pc_put_u64(o, r->duration_ms);
    o = json_field(o, ",\"route\":\"", r->route, CAP_ROUTE);
    o = json_field(o, ",\"service\":\"", r->service, CAP_SERVICE);
    o = json_field(o, ",\"instance\":\"", r->instance, CAP_INSTANCE);
    if (r->upstream_ms >= 0) {
        o = put(o, ",\"upstream_ms\":");
        o = pc_put_u64(o, (uint64_t)r->upstream_ms);
    }
    o = json_field(o, ",\"error\":\"", r->error, CAP_ERROR);
    o = json_field(o, ",\"trace_id\":\"", r->trace_id, CAP_TRACE);
    o = put(o, r->tls ? ",\"tls\":true" : ",\"tls\":false");
    o = json_field(o, ",\"user\":\"", r->user, CAP_USER);
    o = put(o, "}\n");
    return (size_t)(o - out);
}

size_t gw_alog_format_combined(char *out, const struct gw_alog_rec *r)
{
    char *o = out;

    tables();
    /* host ident authuser [date] "request" status bytes "referer" "agent" */
    o = put_clf(o, r->remote_addr, CAP_ADDR, false);
    o = put(o, " - ");
    o = put_clf(o, r->user, CAP_USER, false);
    o = put(o, " [");
    o = put_clf_time(o, r->ts_ms);
    o = put(o, "] \"");
    if (r->method.n == 0 && r->path.n == 0) {
        *o++ = '-';
    } else {
        o = put_clf(o, r->method, CAP_METHOD, true);
        *o++ = ' ';
        o = put_clf(o, r->path, CAP_PATH, true);
        if (r->query.n > 0) {
            *o++ = '?';
            o = put_clf(o, r->query, CAP_QUERY, true);
        }
        o = put(o, r->http_minor == 0 ? " HTTP/1.0" : " HTTP/1.1");
    }
    o = put(o, "\" ");
    {
        unsigned st = status_of(r->status); /* always three digits */
        *o++ = (char)('0' + st / 100);
        o = put2(o, (int)(st % 100));
    }
    *o++ = ' ';
    if (r->body_out > 0)
        o = pc_put_u64(o, r->body_out);
    else
        *o++ = '-';
    o = put(o, " \"");
    o = put_clf(o, r->referer, CAP_REFERER, true);
    o = put(o, "\" \"");
    o = put_clf(o, r->user_agent, CAP_AGENT, true);
    o = put(o, "\"\n");
    return (size_t)(o - out);
}
