/* names.h -- the syntax rules of SPEC §2-§4 that both sides check. */
#ifndef PC_NAMES_H
#define PC_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#define PC_SERVICE_MAX 63   /* [a-z0-9][a-z0-9._-]{0,62} */
#define PC_INSTANCE_MAX 128 /* [A-Za-z0-9._:-]{1,128} */
#define PC_METHOD_MAX 32    /* upper-case token, or "*" */
#define PC_PATTERN_MAX 2048 /* bytes of a route pattern */
#define PC_PATTERN_MAX_PARAMS 32

bool pc_service_name_is_valid(const char *s, size_t n);
bool pc_instance_id_is_valid(const char *s, size_t n);
/* Upper-case RFC 7230 token (A-Z plus the token punctuation, no lower case),
 * 1..PC_METHOD_MAX bytes, or exactly "*". */
bool pc_method_is_valid(const char *s, size_t n);
/* A route pattern per SPEC §3: starts with '/'; "/" alone is the root;
 * otherwise non-empty segments, each a literal (no '{', '}', '*', '?', '#',
 * '%'-escapes allowed), "{name}" with name [A-Za-z0-9_]{1,64} unique within
 * the pattern, or "*" as the last segment only; at most PC_PATTERN_MAX bytes
 * and PC_PATTERN_MAX_PARAMS params. */
bool pc_pattern_is_valid(const char *s, size_t n);
/* RFC 7230 token (header field name). */
bool pc_header_name_is_valid(const char *s, size_t n);
/* No CR, LF or NUL (other control bytes but HTAB are refused too). */
bool pc_header_value_is_valid(const char *s, size_t n);
/* Hop-by-hop headers (lower-case name): connection, keep-alive, te, trailer,
 * transfer-encoding, upgrade, and every proxy-*. */
bool pc_header_is_hop_by_hop(const char *lname, size_t n);
/* True if a Transfer-Encoding value is exactly "chunked" (any case, spaces
 * and tabs around it): the one coding the gateway frames itself, for
 * requests and upstream responses alike; any other would reach the other
 * side still encoded, with no header saying so. */
bool pc_te_is_chunked(const char *v, size_t n);
/* A header name lower-cased (ASCII A-Z only) into dst, n bytes; dst may be
 * name itself. Inline: it runs for every header of every request. */
static inline void pc_header_name_lower(char *dst, const char *name, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        dst[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
    }
}
/* Value of a hexadecimal digit (either case), or -1. */
int pc_hex_value(int c);

#endif
