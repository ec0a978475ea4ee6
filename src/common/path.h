/* path.h -- request paths and route patterns (SPEC §3): the one place.
 *
 * The router, the SDK matcher, auth rules, rate-limit rules and the route
 * allow-list all walk paths and patterns through this file, so that they
 * cannot disagree about what a segment, a param or a prefix is.
 *
 *   request path --pc_path_decode--> "seg\0seg\0...seg\0" (decoded segments)
 *   route pattern --pc_path_next---> segments, pc_seg_kind each
 *
 * Segments of a request path: "/" has none; otherwise every '/' starts
 * one, so "/a/" is ["a", ""] and "//" is ["", ""]. A valid pattern has no
 * empty segment (pc_pattern_is_valid), so patterns walk the same way.
 *
 * Prefix: one meaning everywhere -- whole segments. A prefix covers a
 * pattern when the prefix's segments are the pattern's first segments
 * (param names ignored): "/api" covers "/api" and "/api/{id}", never
 * "/apix". A trailing "/" or a final "*" segment on a prefix means the same
 * as without it ("/api/", "/api/" "*" and "/api" are one prefix); "/"
 * covers everything. Written "/" "*" below, as C comments cannot hold it.
 *
 * Nothing here allocates. Pointers are borrowed for the call. */
#ifndef PC_PATH_H
#define PC_PATH_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#define PC_PATH_MAX 16384 /* bytes of a request path (raw, without the query) */

/* ------------------------------------------------------- request paths */

/* Why a request path was refused; every one of them is a 400. */
enum pc_path_error {
    PC_PATH_OK = 0,
    PC_PATH_NOT_ABSOLUTE = -1, /* empty, or does not start with '/' */
    PC_PATH_TOO_LONG = -2,     /* more than PC_PATH_MAX bytes */
    PC_PATH_BAD_ESCAPE = -3,   /* '%' not followed by two hex digits */
    PC_PATH_NUL = -4,          /* a segment decodes to a NUL byte ("%00") */
    PC_PATH_DOT_SEGMENT = -5,  /* "." or "..", also percent-encoded, also as a
                                * part of a segment split by "%2F" ("..%2Fx") */
    PC_PATH_BAD_UTF8 = -6,     /* a decoded segment is not UTF-8 (RFC 3629) */
};

/* Splits path[0..len) on '/' and percent-decodes each segment into out,
 * each decoded segment followed by a NUL ("%2F" stays inside its segment;
 * since a decoded NUL is refused, the NULs are unambiguous separators).
 * Dot segments are refused, and so is a decoded segment with a "." or ".."
 * part between its decoded '/'s ("..%2F", "a%2F..", "a%2F.%2Fb"): such a
 * segment would carry a dot segment into a "*" or {param} value.
 * out needs len bytes (PC_PATH_MAX bytes always do); it is not written when
 * the length or the first byte is refused. On success *total gets the bytes
 * written (NULs included; 0 for "/") and *nsegs the segment count.
 * Returns PC_PATH_OK or an enum pc_path_error. */
int pc_path_decode(const char *path, size_t len, char *out, size_t *total, size_t *nsegs);

/* Short name of a pc_path_error ("ok", "not_absolute", ...): for logs/tests. */
const char *pc_path_error_name(int err);

/* Next decoded segment of buf[0..total) (as pc_path_decode wrote it) at
 * *off: sets *seg and *len and moves *off past its NUL. False at the end. */
static inline bool pc_path_decoded_next(const char *buf, size_t total, size_t *off,
                                        const char **seg, size_t *len)
{
    if (*off >= total) return false;
    *seg = buf + *off;
    *len = strlen(*seg);
    *off += *len + 1;
    return true;
}

/* Length of the decoded segments from off to the end joined with '/': the
 * value of a final "*" that starts there ("" when none is left). */
static inline size_t pc_path_rest_len(size_t off, size_t total)
{
    return total > off ? total - off - 1 : 0;
}

/* Rewrites the separators of buf[off..total) to '/', making the rest one
 * string of pc_path_rest_len(off, total) bytes at buf + off (NUL-ended when
 * any is left). Done only once a "*" match is final. */
void pc_path_rest_join(char *buf, size_t off, size_t total);

/* ----------------------------------------------------- pattern segments */

/* Kinds of a pattern segment, in order of precedence when matching: a
 * literal beats a {param}, which beats a final "*". */
enum pc_seg_kind {
    PC_SEG_LITERAL = 0,
    PC_SEG_PARAM = 1, /* "{name}": one non-empty request segment */
    PC_SEG_WILD = 2,  /* "*", last only: zero or more segments */
};

/* Next segment of a pattern p..end: *p points at a '/'; sets *seg and *len
 * and leaves *p at the '/' (or end) after the segment. False when none is
 * left: at end, at a final '/' ("/" has no segment; "/a/" walks as "/a",
 * which a valid pattern never is), or when *p is not at a '/'. */
static inline bool pc_path_next(const char **p, const char *end, const char **seg, size_t *len)
{
    const char *s, *e;

    if (*p >= end || (*p)[0] != '/' || *p + 1 == end) return false;
    s = *p + 1;
    e = memchr(s, '/', (size_t)(end - s));
    if (e == NULL) e = end;
    *seg = s;
    *len = (size_t)(e - s);
    *p = e;
    return true;
}

/* What a pattern segment is. */
static inline enum pc_seg_kind pc_seg_kind(const char *seg, size_t len)
{
    if (len == 1 && seg[0] == '*') return PC_SEG_WILD;
    if (len >= 2 && seg[0] == '{' && seg[len - 1] == '}') return PC_SEG_PARAM;
    return PC_SEG_LITERAL;
}

/* True when pattern segments a and b are the same, param names ignored. */
static inline bool pc_seg_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    enum pc_seg_kind ka = pc_seg_kind(a, alen);

    if (ka != pc_seg_kind(b, blen)) return false;
    return ka != PC_SEG_LITERAL || (alen == blen && memcmp(a, b, alen) == 0);
}

/* Number of segments of a pattern as pc_path_next walks it ("/" has 0,
 * "/a/{b}" 2): a prefix's specificity, with pc_prefix_len. */
size_t pc_path_count_segments(const char *p, size_t n);

/* ------------------------------------------------ patterns and prefixes */

/* True when patterns a and b are the same pattern, param names ignored:
 * "/u/{id}" equals "/u/{uid}", not "/u/me" nor "/u/" "*". Byte strings that
 * are not patterns compare by the same rule (segment by segment). */
bool pc_pattern_equal(const char *a, size_t alen, const char *b, size_t blen);

/* Length of prefix[0..n) without a final "/" "*" and then a trailing "/"
 * (the root "/" and "/" "*" give 1): the form pc_path_covers compares. */
size_t pc_prefix_len(const char *prefix, size_t n);

/* True when prefix covers pattern by whole segments (see the top of this
 * file): the prefix's segments, after pc_prefix_len, are the pattern's
 * first segments, param names ignored. "/api" covers "/api", "/api/x",
 * "/api/{id}/" "*", not "/apix"; "/api/" and "/api/" "*" mean "/api"; "/"
 * covers everything. Literal prefix segments match literal pattern segments only
 * (the allow-list puts "/{any}/x" only under "/"). */
bool pc_path_covers(const char *prefix, size_t plen, const char *pattern, size_t len);

/* -------------------------------------------------------------- methods */

/* How well a route for route_method serves a request for method: 0 exact,
 * 1 a GET route serving HEAD, 2 a "*" route, -1 not at all. Lower wins. */
static inline int pc_method_rank(const char *route_method, const char *method)
{
    if (strcmp(route_method, method) == 0) return 0;
    if (route_method[0] == 'G' && strcmp(route_method, "GET") == 0 && strcmp(method, "HEAD") == 0)
        return 1;
    if (route_method[0] == '*' && route_method[1] == '\0') return 2;
    return -1;
}

#endif
