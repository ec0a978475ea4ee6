/* response.c -- HTTP/1.1 response heads and bodies, written in one piece.
 *
 * The head is sized first and written with the body into the output's own
 * space: one evbuffer call (and one run of its callbacks) per response, no
 * printf. The date is formatted at most once per second. */
#include "response.h"

#include <event2/buffer.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "digits.h"
#include "xalloc.h"

const char *gw_http_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 203:
        return "Non-Authoritative Information";
    case 204:
        return "No Content";
    case 205:
        return "Reset Content";
    case 206:
        return "Partial Content";
    case 207:
        return "Multi-Status";
    case 300:
        return "Multiple Choices";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 402:
        return "Payment Required";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 406:
        return "Not Acceptable";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 411:
        return "Length Required";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Payload Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 416:
        return "Range Not Satisfiable";
    case 417:
        return "Expectation Failed";
    case 418:
        return "I'm a teapot";
    case 421:
        return "Misdirected Request";
    case 422:
        return "Unprocessable Entity";
    case 423:
        return "Locked";
    case 424:
        return "Failed Dependency";
    case 425:
        return "Too Early";
    case 426:
        return "Upgrade Required";
    case 428:
        return "Precondition Required";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 451:
        return "Unavailable For Legal Reasons";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return status < 300   ? "OK"
               : status < 400 ? "Redirect"
               : status < 500 ? "Client Error"
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

void gw_http_write_response(struct evbuffer *out, int status, const struct pc_kv *headers,
                            size_t nheaders, size_t content_length, const char *request_id,
                            bool close, bool http10_keep_alive, const void *body, size_t body_len)
{
    const char *reason = gw_http_reason(status);
    size_t reason_len = strlen(reason), id_len = strlen(request_id), date_len = 0;
    bool have_date = false, has_length = status != 204 && status != 304 && status >= 200 &&
                                         content_length != GW_HTTP_NO_LENGTH;
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

    pc_check(evbuffer_reserve_space(out, (ev_ssize_t)need, &v, 1) == 1 && v.iov_len >= need);
    o = v.iov_base;
    o = PUT_LIT(o, "HTTP/1.1 ");
    o = pc_put_u64(o, (uint64_t)(status < 0 ? 0 : status)); /* always 100..599 */
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
    pc_check(evbuffer_commit_space(out, &v, 1) == 0);
}
