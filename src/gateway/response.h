/* response.h -- HTTP/1.1 responses on the wire: status line, head, body.
 *
 * The names keep the gw_http_ prefix they had when this lived in http.c:
 * callers did not change. */
#ifndef GW_RESPONSE_H
#define GW_RESPONSE_H

#include <event2/buffer.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

/* content_length for a response framed otherwise (chunked, or by the close):
 * no content-length header. */
#define GW_HTTP_NO_LENGTH SIZE_MAX

/* Writes a response to out: status line, the given headers, then
 * content-length (unless the status forbids a body, or content_length is
 * GW_HTTP_NO_LENGTH), date (unless the
 * headers have one), x-request-id, and "connection: close" /
 * "connection: keep-alive" (HTTP/1.0) as asked; then body[0..body_len)
 * (body_len 0 for none, e.g. HEAD: content_length is still announced). All
 * borrowed. Aborts only if the buffer cannot grow. */
void gw_http_write_response(struct evbuffer *out, int status, const struct pc_kv *headers,
                            size_t nheaders, size_t content_length, const char *request_id,
                            bool close, bool http10_keep_alive, const void *body, size_t body_len);

/* The reason phrase for status (static; a generic one for unknown codes). */
const char *gw_http_reason(int status);

#endif
