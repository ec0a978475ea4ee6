/* fuzz_accesslog.c -- the access-log formatter (src/gateway/accesslog_fmt.c).
 *
 * The input is cut into the record's strings (request id, address, method,
 * path, query, route, service, instance, error, trace id, user, referer,
 * user agent: each a length byte, 0xff meaning a two-byte length, then the
 * bytes) and its numbers (from what is left). Invariants beyond "no crash,
 * no UB", for both formats:
 *   - a line is at most GW_ALOG_LINE_MAX bytes and ends with its only '\n';
 *   - JSON: jansson parses it (an object; strict UTF-8; \u0000 allowed),
 *     every key is one of the access-log keys, a value is present exactly
 *     when its string is not empty, and a short valid UTF-8 value reads
 *     back byte for byte;
 *   - combined: printable ASCII only, with exactly the combined format's
 *     fields: host " - " user " [" time "] \"" request "\" " status " "
 *     bytes " \"" referer "\" \"" agent "\"", no raw '"' inside a field
 *     (a space is kept, as nginx does) and the bytes in digits. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accesslog_fmt.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_accesslog: invariant failed: %s (line %d)\n", #c, __LINE__);     \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define NSTR 13

static struct gw_alog_str take(const uint8_t **p, const uint8_t *end)
{
    size_t n;
    struct gw_alog_str s = {NULL, 0};
    if (*p >= end) return s;
    n = *(*p)++;
    if (n == 0xff && end - *p >= 2) {
        n = (size_t)(*p)[0] << 8 | (*p)[1];
        *p += 2;
    }
    if (n > (size_t)(end - *p)) n = (size_t)(end - *p);
    s.s = (const char *)*p;
    s.n = n;
    *p += n;
    return s;
}

static uint64_t num(const uint8_t **p, const uint8_t *end, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes && *p < end; i++) v = v << 8 | *(*p)++;
    return v;
}

static void check_json(const char *line, size_t n, const struct gw_alog_str *s)
{
    static const char *const keys[NSTR] = {
        "request_id", "remote_addr", "method",   "path", "query", "route", "service",
        "instance",   "error",       "trace_id", "user", NULL,    NULL};
    json_error_t err;
    json_t *j = json_loadb(line, n, JSON_ALLOW_NUL, &err);
    const char *k;
    json_t *v;

    if (j == NULL) fprintf(stderr, "fuzz_accesslog: %s: %.*s\n", err.text, (int)n, line);
    CHECK(j != NULL && json_is_object(j));
    json_object_foreach(j, k, v)
    {
        bool known = false;
        for (int i = 0; i < NSTR; i++) known = known || (keys[i] && strcmp(k, keys[i]) == 0);
        known = known || strcmp(k, "ts") == 0 || strcmp(k, "status") == 0 ||
                strcmp(k, "bytes_in") == 0 || strcmp(k, "bytes_out") == 0 ||
                strcmp(k, "duration_ms") == 0 || strcmp(k, "upstream_ms") == 0 ||
                strcmp(k, "tls") == 0;
        CHECK(known);
    }
    CHECK(json_is_string(json_object_get(j, "ts")));
    CHECK(json_is_integer(json_object_get(j, "status")));
    CHECK(json_is_boolean(json_object_get(j, "tls")));
    for (int i = 0; i < NSTR && keys[i]; i++) {
        json_t *f = json_object_get(j, keys[i]);
        CHECK((f != NULL) == (s[i].n > 0));
        if (f == NULL) continue;
        CHECK(json_is_string(f));
        if (s[i].n < 10 && pc_utf8_is_valid(s[i].s, s[i].n)) /* never cut */
            CHECK(json_string_length(f) == s[i].n &&
                  memcmp(json_string_value(f), s[i].s, s[i].n) == 0);
    }
    json_decref(j);
}

/* A quoted field from *p: up to the closing '"' (none inside). */
static bool quoted(const char **p, const char *end)
{
    if (*p >= end || **p != '"') return false;
    for ((*p)++; *p < end && **p != '"'; (*p)++)
        if (**p == '\\' && !(end - *p >= 4 && (*p)[1] == 'x')) return false;
    if (*p >= end) return false;
    (*p)++;
    return true;
}

static bool lit(const char **p, const char *end, const char *s)
{
    size_t n = strlen(s);
    if ((size_t)(end - *p) < n || memcmp(*p, s, n) != 0) return false;
    *p += n;
    return true;
}

static void check_combined(const char *line, size_t n)
{
    const char *end = line + n - 1; /* before the '\n' */
    const char *q = memchr(line, '"', n), *p;
    size_t head;

    for (size_t i = 0; i + 1 < n; i++) CHECK(line[i] >= 0x20 && line[i] < 0x7f);
    /* host and user may hold spaces (as nginx's) but never a raw '"': the
     * first one opens the request, right after " [" time "] " */
    CHECK(q != NULL && q - line >= 35);
    head = (size_t)(q - line) - 30; /* host " - " user */
    CHECK(memcmp(line + head, " [", 2) == 0 && memcmp(q - 2, "] ", 2) == 0);
    CHECK(memmem(line, head, " - ", 3) != NULL);
    p = q;
    CHECK(quoted(&p, end));
    CHECK(lit(&p, end, " "));
    for (int i = 0; i < 3; i++, p++) CHECK(p < end && *p >= '0' && *p <= '9');
    CHECK(lit(&p, end, " "));
    CHECK(p < end && *p >= '0' && *p <= '9'); /* body bytes: digits, 0 for none */
    while (p < end && *p >= '0' && *p <= '9') p++;
    CHECK(lit(&p, end, " "));
    CHECK(quoted(&p, end));
    CHECK(lit(&p, end, " "));
    CHECK(quoted(&p, end));
    CHECK(p == end);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char line[GW_ALOG_LINE_MAX + 64];
    const uint8_t *p = data, *end = data + size;
    struct gw_alog_str s[NSTR];
    struct gw_alog_rec r;
    size_t n;

    for (int i = 0; i < NSTR; i++) s[i] = take(&p, end);
    memset(&r, 0, sizeof r);
    r.request_id = s[0];
    r.remote_addr = s[1];
    r.method = s[2];
    r.path = s[3];
    r.query = s[4];
    r.route = s[5];
    r.service = s[6];
    r.instance = s[7];
    r.error = s[8];
    r.trace_id = s[9];
    r.user = s[10];
    r.referer = s[11];
    r.user_agent = s[12];
    r.ts_ms = num(&p, end, 6) % 253402300800000u; /* before the year 10000 */
    r.status = (int)(int16_t)num(&p, end, 2);
    r.http_minor = (int)num(&p, end, 1) & 1;
    /* counts and times: below 2^53, as any real one is (and as JSON
     * readers can hold exactly) */
    r.bytes_in = num(&p, end, 7) >> 3;
    r.bytes_out = num(&p, end, 7) >> 3;
    r.body_out = num(&p, end, 7) >> 3;
    r.duration_ms = num(&p, end, 7) >> 3;
    r.upstream_ms = (int64_t)(num(&p, end, 7) >> 3) - (1 << 20);
    r.tls = num(&p, end, 1) & 1;

    memset(line, 'X', sizeof line);
    n = gw_alog_format_json(line, &r);
    CHECK(n > 0 && n <= GW_ALOG_LINE_MAX && line[n - 1] == '\n' && line[n] == 'X');
    CHECK(memchr(line, '\n', n - 1) == NULL);
    check_json(line, n - 1, s);

    memset(line, 'X', sizeof line);
    n = gw_alog_format_combined(line, &r);
    CHECK(n > 0 && n <= GW_ALOG_LINE_MAX && line[n - 1] == '\n' && line[n] == 'X');
    check_combined(line, n);
    return 0;
}
