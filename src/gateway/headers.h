/* headers.h -- which headers cross the gateway, in each direction (SPEC §4). */
#ifndef GW_HEADERS_H
#define GW_HEADERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "wire.h"

/* One header of a request as parsed: offsets into the request's head text
 * (gw_req.head), where the name (lower-cased) and the value lie. */
struct gw_hdr {
    uint32_t name_off, name_len, value_off, value_len;
};

#define GW_REQUEST_ID_MAX 128 /* bytes of a client-supplied x-request-id */

/* True if s[0..n) may be used as a request id: 1..128 visible ASCII chars. */
bool gw_request_id_is_valid(const char *s, size_t n);

/* The next entry of a comma-separated list value v[0..n) from *pos (0 at
 * first): spaces and tabs around it trimmed, empty entries skipped. Returns
 * false when there is none left. */
bool gw_list_next(const char *v, size_t n, size_t *pos, const char **e, size_t *en);

/* Builds the header list forwarded to a service.
 * in[0..n): the client's headers, names lower-case, in arrival order.
 * Drops hop-by-hop headers, headers named in Connection, and any client
 * x-request-id / x-forwarded-for / x-forwarded-proto / x-auth-subject /
 * x-auth-key-id (always: only the gateway vouches for an identity), and
 * any look-alike of these five spelled with '_' for '-' ("x_auth_subject",
 * which CGI-style frameworks read as the same header); then
 * appends x-request-id (request_id), x-forwarded-for (the client's values
 * joined with ", ", then remote_addr: SPEC §4, "the client address appended
 * to any value the client sent"), x-forwarded-proto
 * ("https" when https, the client's connection being TLS, else "http"), and
 * x-auth-subject / x-auth-key-id when auth_subject / auth_key_id (verified
 * by auth.c; NULL or "" = none) are given.
 * out must have room for n + GW_HEADERS_ADDED entries; scratch holds the
 * joined x-forwarded-for value (reset first) and must outlive out.
 * Returns the number of entries written. */
#define GW_HEADERS_ADDED 5
size_t gw_headers_to_service(const struct pc_kv *in, size_t n, const char *request_id,
                             const char *remote_addr, bool https, const char *auth_subject,
                             const char *auth_key_id, struct pc_kv *out, pc_buf *scratch);

/* Builds the header list of a service's reply or an upstream's response
 * passed on to the client: in[0..n) in arrival order, less hop-by-hop
 * headers, the headers named in Connection, content-length (the gateway
 * frames the body) and x-request-id (it sets its own). lower: NULL when
 * in's names are lower-case already, else room for all their bytes, where
 * they are written lower-cased (out's names then point there). out must
 * have room for n entries. Returns the number written. */
size_t gw_headers_to_client(const struct pc_kv *in, size_t n, char *lower, struct pc_kv *out);

#endif
