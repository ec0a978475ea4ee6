/* accesslog_fmt.h -- one access-log line from one response's record: JSON
 * (protocol.md §8.1) or the Apache/nginx combined format. Pure functions: no
 * I/O, no allocation; the writer (accesslog.h) formats straight into its
 * buffer.
 *
 * Every value is escaped, whatever bytes it holds:
 *   - JSON: '"' and '\' backslash-escaped, control bytes (0x00-0x1f, 0x7f)
 *     as \u00XX, valid UTF-8 sequences copied, every byte that is not part
 *     of a valid UTF-8 sequence as \ufffd (the replacement character: the
 *     line is always valid JSON in valid UTF-8);
 *   - combined: as nginx's access_log does, every byte outside 0x20..0x7e,
 *     and '"' and '\', as \xHH (upper-case hex; a space is kept); an empty
 *     or absent value is "-".
 * Each value has an output budget; a longer one is cut at a whole escape
 * and ends in "...". So every line, with its '\n', fits GW_ALOG_LINE_MAX
 * bytes: PIPE_BUF, the size of a write that a pipe never interleaves. */
#ifndef GW_ACCESSLOG_FMT_H
#define GW_ACCESSLOG_FMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_ALOG_LINE_MAX 4096 /* bytes of a line, '\n' included (PIPE_BUF on Linux) */

/* A value: bytes s[0..n), any bytes; n == 0 means absent. */
struct gw_alog_str {
    const char *s;
    size_t n;
};

/* What one line says about one response. Strings are borrowed. */
struct gw_alog_rec {
    uint64_t ts_ms; /* unix ms: when the response was made */
    struct gw_alog_str request_id, remote_addr, method, path, query;
    struct gw_alog_str route, service, instance, error, trace_id, user;
    struct gw_alog_str referer, user_agent; /* combined only */
    int status;
    int http_minor;     /* combined: "HTTP/1.<minor>" in the request field */
    uint64_t bytes_in;  /* request bytes read */
    uint64_t bytes_out; /* response bytes, head and body */
    uint64_t body_out;  /* response body bytes (combined) */
    uint64_t duration_ms;
    int64_t upstream_ms; /* PUBLISH to reply; < 0: absent */
    bool tls;
};

/* Writes the line (with its '\n') at out, which has room for
 * GW_ALOG_LINE_MAX bytes; returns its length (never more). */
size_t gw_alog_format_json(char *out, const struct gw_alog_rec *rec);
size_t gw_alog_format_combined(char *out, const struct gw_alog_rec *rec);

#endif
