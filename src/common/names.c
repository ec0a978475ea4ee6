/* names.c -- the syntax rules of SPEC §2-§4 that both sides check.
 *
 * Every function takes (pointer, length): the bytes need not be
 * NUL-terminated and an embedded NUL is simply an invalid byte. */
#include "names.h"

#include <string.h>
#include <strings.h>

#include "utf8.h"

#define PC_PARAM_NAME_MAX 64 /* bytes of a {name} in a pattern */

/* ---------------------------------------------------------------- helpers */

/* RFC 7230 tchar: "!#$%&'*+-.^_`|~", DIGIT, ALPHA. */
static bool is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool is_lower_digit(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* -------------------------------------------------------- service, instance */

/* [a-z0-9][a-z0-9._-]{0,62} */
bool pc_service_name_is_valid(const char *s, size_t n)
{
    if (s == NULL || n == 0 || n > PC_SERVICE_MAX) return false;
    if (!is_lower_digit((unsigned char)s[0])) return false;
    for (size_t i = 1; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!is_lower_digit(c) && c != '.' && c != '_' && c != '-') return false;
    }
    return true;
}

/* [A-Za-z0-9._:-]{1,128} */
bool pc_instance_id_is_valid(const char *s, size_t n)
{
    if (s == NULL || n == 0 || n > PC_INSTANCE_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!is_alnum(c) && c != '.' && c != '_' && c != ':' && c != '-') return false;
    }
    return true;
}

/* --------------------------------------------------------------- methods */

/* An upper-case token of 1..PC_METHOD_MAX bytes; "*" is a token too, and
 * means "any method" to the router. */
bool pc_method_is_valid(const char *s, size_t n)
{
    if (s == NULL || n == 0 || n > PC_METHOD_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!is_tchar(c) || (c >= 'a' && c <= 'z')) return false;
    }
    return true;
}

/* -------------------------------------------------------------- patterns */

/* A literal pattern segment: non-empty, not a dot segment (no request path
 * can match one: they get 400), no pattern syntax, no '%' (patterns are
 * compared with decoded request segments, so escapes would be ambiguous),
 * no control bytes, valid UTF-8. */
static bool literal_segment_is_valid(const char *s, size_t n)
{
    if (n == 0) return false;
    if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.')) return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) return false;
        if (c == '{' || c == '}' || c == '*' || c == '?' || c == '#' || c == '%') return false;
    }
    return pc_utf8_is_valid(s, n);
}

/* Checks the syntax of SPEC §3 documented in names.h. Param-name uniqueness
 * is checked by comparing each name with the earlier ones: at most
 * PC_PATTERN_MAX_PARAMS names, so quadratic is fine. */
bool pc_pattern_is_valid(const char *s, size_t n)
{
    const char *names[PC_PATTERN_MAX_PARAMS];
    size_t name_lens[PC_PATTERN_MAX_PARAMS];
    size_t nparams = 0;

    if (s == NULL || n == 0 || n > PC_PATTERN_MAX || s[0] != '/') return false;
    if (n == 1) return true; /* the root */

    size_t i = 1;
    for (;;) {
        size_t start = i;
        while (i < n && s[i] != '/') i++;
        const char *seg = s + start;
        size_t len = i - start;
        bool last = (i == n);

        if (len == 1 && seg[0] == '*') {
            if (!last) return false;
        } else if (len >= 2 && seg[0] == '{' && seg[len - 1] == '}') {
            const char *name = seg + 1;
            size_t nlen = len - 2;
            if (nlen == 0 || nlen > PC_PARAM_NAME_MAX) return false;
            for (size_t k = 0; k < nlen; k++)
                if (!is_alnum((unsigned char)name[k]) && name[k] != '_') return false;
            for (size_t k = 0; k < nparams; k++)
                if (name_lens[k] == nlen && memcmp(names[k], name, nlen) == 0) return false;
            if (nparams == PC_PATTERN_MAX_PARAMS) return false;
            names[nparams] = name;
            name_lens[nparams] = nlen;
            nparams++;
        } else if (!literal_segment_is_valid(seg, len)) {
            return false; /* also catches empty segments: "//", trailing '/' */
        }
        if (last) return true;
        i++; /* skip '/' */
    }
}

/* --------------------------------------------------------------- headers */

/* RFC 7230 token, at least one byte. */
bool pc_header_name_is_valid(const char *s, size_t n)
{
    if (s == NULL || n == 0) return false;
    for (size_t i = 0; i < n; i++)
        if (!is_tchar((unsigned char)s[i])) return false;
    return true;
}

/* field-content: visible ASCII, SP, HTAB and obs-text (0x80-0xff); no CR,
 * LF, NUL or other control bytes (DEL included). Empty is fine. */
bool pc_header_value_is_valid(const char *s, size_t n)
{
    if (s == NULL) return n == 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
    }
    return true;
}

/* Hop-by-hop headers of RFC 7230 §6.1 plus every proxy-* (RFC 3875 httpoxy
 * and proxy authentication headers must never reach a service). lname is
 * already lower case; names are compared whole, never by prefix, except
 * for the "proxy-" family. */
bool pc_te_is_chunked(const char *v, size_t n)
{
    while (n > 0 && (*v == ' ' || *v == '\t')) v++, n--;
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t')) n--;
    return n == 7 && strncasecmp(v, "chunked", 7) == 0;
}

bool pc_header_is_hop_by_hop(const char *lname, size_t n)
{
    static const struct {
        const char *name;
        size_t len;
    } hop[] = {
        {"connection", 10}, {"keep-alive", 10},        {"te", 2},
        {"trailer", 7},     {"transfer-encoding", 17}, {"upgrade", 7},
    };

    if (lname == NULL) return false;
    for (size_t i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
        if (n == hop[i].len && memcmp(lname, hop[i].name, n) == 0) return true;
    return n >= 6 && memcmp(lname, "proxy-", 6) == 0;
}

int pc_hex_value(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}
