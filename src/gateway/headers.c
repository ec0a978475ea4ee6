/* headers.c -- header filtering for both directions. */
#include "headers.h"

#include <string.h>
#include <strings.h>

#include "names.h"

bool gw_request_id_is_valid(const char *s, size_t n)
{
    if (n == 0 || n > GW_REQUEST_ID_MAX) return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e) return false;
    return true;
}

static bool name_is(const struct pc_kv *h, const char *name)
{
    size_t n = strlen(name);
    return h->name_len == n && memcmp(h->name, name, n) == 0;
}

/* The next token of the comma-separated list v[0..vn) at or after *i: its
 * start, with its length in *tn (0 when the list is over). */
static const char *next_token(const char *v, size_t vn, size_t *i, size_t *tn)
{
    size_t start;

    while (*i < vn && (v[*i] == ' ' || v[*i] == '\t' || v[*i] == ',')) (*i)++;
    start = *i;
    while (*i < vn && v[*i] != ',' && v[*i] != ' ' && v[*i] != '\t') (*i)++;
    *tn = *i - start;
    return v + start;
}

/* True if the comma-separated token list v[0..vn) names hdr (case-insensitive). */
static bool token_list_has(const char *v, size_t vn, const char *hdr, size_t hn)
{
    size_t i = 0, tn;
    const char *t;

    while ((t = next_token(v, vn, &i, &tn)), tn > 0)
        if (tn == hn && strncasecmp(t, hdr, hn) == 0) return true;
    return false;
}

/* True if a Connection value names more than keep-alive and close, i.e.
 * headers of its message: the common "keep-alive" alone needs no search. */
static bool connection_names_headers(const char *v, size_t vn)
{
    size_t i = 0, tn;
    const char *t;

    while ((t = next_token(v, vn, &i, &tn)), tn > 0)
        if (!(tn == 10 && strncasecmp(t, "keep-alive", 10) == 0) &&
            !(tn == 5 && strncasecmp(t, "close", 5) == 0))
            return true;
    return false;
}

/* True if any Connection header of in[0..n) (names in any case) lists this
 * header name. */
static bool named_by_connection(const struct pc_kv *in, size_t n, const struct pc_kv *h)
{
    for (size_t i = 0; i < n; i++)
        if (in[i].name_len == 10 && strncasecmp(in[i].name, "connection", 10) == 0 &&
            token_list_has(in[i].value, in[i].value_len, h->name, h->name_len))
            return true;
    return false;
}

/* The headers the gateway sets itself (and so drops from the client). */
static const char *const own_headers[] = {"x-request-id", "x-forwarded-for", "x-forwarded-proto",
                                          "x-auth-subject", "x-auth-key-id"};

/* True if name[0..n), holding at least one '_', equals one of own_headers
 * with every '_' read as '-' ("x_auth_subject", "x-auth_key-id"): a look-alike
 * that frameworks mapping both to HTTP_X_AUTH_SUBJECT (CGI, WSGI, Rack, PHP)
 * would confuse with the real one. Other names with '_' pass. */
static bool own_header_look_alike(const char *name, size_t n)
{
    if (n < 12 || n > 17 || memchr(name, '_', n) == NULL) return false;
    for (size_t j = 0; j < sizeof own_headers / sizeof own_headers[0]; j++) {
        const char *o = own_headers[j];
        size_t i = 0;
        if (strlen(o) != n) continue;
        while (i < n && (name[i] == o[i] || (name[i] == '_' && o[i] == '-'))) i++;
        if (i == n) return true;
    }
    return false;
}

bool gw_list_next(const char *v, size_t n, size_t *pos, const char **e, size_t *en)
{
    size_t i = *pos;
    for (;;) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) i++;
        if (i == n) {
            *pos = i;
            return false;
        }
        size_t start = i, end;
        while (i < n && v[i] != ',') i++;
        end = i;
        while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t')) end--;
        *pos = i;
        *e = v + start;
        *en = end - start;
        return true;
    }
}

size_t gw_headers_to_service(const struct pc_kv *in, size_t n, const char *request_id,
                             const char *remote_addr, bool https, const char *auth_subject,
                             const char *auth_key_id, struct pc_kv *out, pc_buf *scratch)
{
    size_t k = 0;
    bool have_connection = false; /* naming headers */

    pc_buf_reset(scratch);
    for (size_t i = 0; i < n; i++)
        if (name_is(&in[i], "connection")) have_connection = true;

    for (size_t i = 0; i < n; i++) {
        const struct pc_kv *h = &in[i];
        if (pc_header_is_hop_by_hop(h->name, h->name_len)) continue;
        if (name_is(h, "x-request-id") || name_is(h, "x-forwarded-proto")) continue;
        if (name_is(h, "x-auth-subject") || name_is(h, "x-auth-key-id")) continue;
        if (own_header_look_alike(h->name, h->name_len)) continue;
        if (name_is(h, "x-forwarded-for")) {
            if (h->value_len == 0) continue;
            if (scratch->len) pc_buf_puts(scratch, ", ");
            pc_buf_append(scratch, h->value, h->value_len);
            continue;
        }
        if (have_connection && named_by_connection(in, n, h)) continue;
        out[k++] = *h;
    }
    if (scratch->len) pc_buf_puts(scratch, ", ");
    pc_buf_puts(scratch, remote_addr);

    out[k++] = (struct pc_kv){"x-request-id", 12, request_id, strlen(request_id)};
    out[k++] = (struct pc_kv){"x-forwarded-for", 15, scratch->data, scratch->len};
    out[k++] = https ? (struct pc_kv){"x-forwarded-proto", 17, "https", 5}
                     : (struct pc_kv){"x-forwarded-proto", 17, "http", 4};
    if (auth_subject && auth_subject[0])
        out[k++] = (struct pc_kv){"x-auth-subject", 14, auth_subject, strlen(auth_subject)};
    if (auth_key_id && auth_key_id[0])
        out[k++] = (struct pc_kv){"x-auth-key-id", 13, auth_key_id, strlen(auth_key_id)};
    return k;
}

/* True if a reply header (lower-case name) never reaches the client by its
 * name alone: hop-by-hop, content-length, x-request-id. */
static bool reply_drops(const char *lname, size_t n)
{
    if (pc_header_is_hop_by_hop(lname, n)) return true;
    if (n == 14 && memcmp(lname, "content-length", 14) == 0) return true;
    if (n == 12 && memcmp(lname, "x-request-id", 12) == 0) return true;
    return false;
}

size_t gw_headers_to_client(const struct pc_kv *in, size_t n, char *lower, struct pc_kv *out)
{
    size_t k = 0, j = 0;
    bool have_connection = false;

    for (size_t i = 0; i < n; i++) {
        const char *name = in[i].name;
        size_t nl = in[i].name_len;
        if (lower != NULL) {
            pc_header_name_lower(lower, name, nl);
            name = lower;
            lower += nl;
        }
        if (reply_drops(name, nl)) {
            if (nl == 10 && memcmp(name, "connection", 10) == 0 &&
                connection_names_headers(in[i].value, in[i].value_len))
                have_connection = true;
            continue;
        }
        out[k++] = (struct pc_kv){name, nl, in[i].value, in[i].value_len};
    }
    if (!have_connection) return k;
    /* Rare: a second pass for the headers it names (RFC 9110 7.6.1). */
    for (size_t i = 0; i < k; i++)
        if (!named_by_connection(in, n, &out[i])) out[j++] = out[i];
    return j;
}
