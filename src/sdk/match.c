/* match.c -- route patterns (SPEC §3) on the SDK side.
 *
 * A callee normally gets the matched pattern in the request (`route`) and
 * only compares strings (pt_route_find); a caller has to match a path against
 * the routes a target announced (pt_route_match), exactly as the gateway
 * would: segment by segment, percent-decoded, literal beats {param} beats a
 * final *, with backtracking. Backtracking over a trie visits candidates in
 * the lexicographic order of their segment kinds (a pattern that ends where
 * another goes on comes first), so the best match is the matching pattern
 * with the smallest kind sequence. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "names.h"

#define MAX_SEGS 256 /* a path with more segments matches nothing */

enum { K_LIT = 0, K_PARAM = 1, K_STAR = 2 };

struct seg {
    const char *s;
    size_t n;
};

int pt_method_rank(const char *rm, const char *m)
{
    if (strcmp(rm, m) == 0)
        return 0;
    if (strcmp(m, "HEAD") == 0 && strcmp(rm, "GET") == 0)
        return 1;
    if (strcmp(rm, "*") == 0)
        return 2;
    return -1;
}

/* Splits and percent-decodes path into segs (pointing into out, which needs
 * path_len + 1 bytes). "/" has no segment. Returns the count, or -1 for a
 * bad path, -2 for too many segments. */
static int split_path(const char *path, size_t len, char *out, struct seg *segs)
{
    size_t i = 1, o = 0;
    int n = 0;

    if (len == 0 || path[0] != '/')
        return -1;
    if (len == 1)
        return 0;
    while (i <= len) {
        size_t start = o;
        while (i < len && path[i] != '/') {
            if (path[i] == '%') {
                int h, l;
                if (i + 2 >= len)
                    return -1;
                h = pc_hex_value(path[i + 1]);
                l = pc_hex_value(path[i + 2]);
                if (h < 0 || l < 0)
                    return -1;
                out[o++] = (char)(h * 16 + l);
                i += 3;
            } else {
                out[o++] = path[i++];
            }
        }
        if (n == MAX_SEGS)
            return -2;
        segs[n].s = out + start;
        segs[n].n = o - start;
        if ((segs[n].n == 1 && out[start] == '.') ||
            (segs[n].n == 2 && out[start] == '.' && out[start + 1] == '.'))
            return -1;
        n++;
        i++; /* skip the '/' (or step past the end) */
    }
    return n;
}

/* Next segment of a pattern: *p points at a '/'; returns its text. */
static struct seg pat_next(const char **p)
{
    struct seg s;
    const char *q = *p + 1;

    s.s = q;
    while (*q != '\0' && *q != '/')
        q++;
    s.n = (size_t)(q - s.s);
    *p = q;
    return s;
}

static int pat_kind(struct seg s)
{
    if (s.n == 1 && s.s[0] == '*')
        return K_STAR;
    if (s.n >= 2 && s.s[0] == '{' && s.s[s.n - 1] == '}')
        return K_PARAM;
    return K_LIT;
}

/* Matches pattern against segs; fills kinds (and params when not NULL).
 * Returns the number of kinds, or -1 when it does not match. */
static int pattern_match(const char *pat, const struct seg *segs, int nsegs,
                         unsigned char *kinds, json_t *params)
{
    const char *p = pat;
    int i = 0;

    if (strcmp(pat, "/") == 0)
        return nsegs == 0 ? 0 : -1;
    while (*p == '/') {
        struct seg ps = pat_next(&p);
        int k = pat_kind(ps);

        if (i >= MAX_SEGS)
            return -1;
        kinds[i] = (unsigned char)k;
        if (k == K_STAR) {
            if (params != NULL) {
                size_t total = 0, off = 0;
                char *joined;
                for (int j = i; j < nsegs; j++)
                    total += segs[j].n + 1;
                joined = malloc(total + 1);
                if (joined == NULL)
                    return -1;
                for (int j = i; j < nsegs; j++) {
                    if (j > i)
                        joined[off++] = '/';
                    memcpy(joined + off, segs[j].s, segs[j].n);
                    off += segs[j].n;
                }
                json_object_set_new(params, "*", json_stringn(joined, off));
                free(joined);
            }
            return i + 1;
        }
        if (i >= nsegs)
            return -1;
        if (k == K_PARAM) {
            if (segs[i].n == 0)
                return -1;
            if (params != NULL) {
                char name[80];
                size_t nl = ps.n - 2 < sizeof name - 1 ? ps.n - 2 : sizeof name - 1;
                memcpy(name, ps.s + 1, nl);
                name[nl] = '\0';
                json_object_set_new(params, name, json_stringn(segs[i].s, segs[i].n));
            }
        } else if (ps.n != segs[i].n || memcmp(ps.s, segs[i].s, ps.n) != 0) {
            return -1;
        }
        i++;
    }
    return i == nsegs ? i : -1;
}

/* <0 when kinds a (length na) is more specific than b. */
static int kinds_cmp(const unsigned char *a, int na, const unsigned char *b, int nb)
{
    int n = na < nb ? na : nb;

    for (int i = 0; i < n; i++)
        if (a[i] != b[i])
            return a[i] < b[i] ? -1 : 1;
    return na - nb;
}

int pt_route_match(const struct pc_route_decl *routes, size_t n, const char *method,
                   const char *path, size_t path_len, size_t *best, json_t *params)
{
    struct seg *segs;
    char *buf;
    unsigned char *kinds, *best_kinds;
    int nsegs, nbest = -1, best_rank = 0, rc = PT_MATCH_NOT_FOUND;
    size_t best_i = 0;

    segs = malloc(sizeof *segs * MAX_SEGS);
    buf = malloc(path_len + 1);
    kinds = malloc(MAX_SEGS * 2);
    if (segs == NULL || buf == NULL || kinds == NULL) {
        rc = PT_MATCH_NOT_FOUND;
        goto out;
    }
    best_kinds = kinds + MAX_SEGS;
    nsegs = split_path(path, path_len, buf, segs);
    if (nsegs == -1) {
        rc = PT_MATCH_BAD_PATH;
        goto out;
    }
    if (nsegs < 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        int nk = pattern_match(routes[i].path, segs, nsegs, kinds, NULL);
        int rank, c;

        if (nk < 0)
            continue;
        if (rc == PT_MATCH_NOT_FOUND)
            rc = PT_MATCH_NO_METHOD;
        rank = pt_method_rank(routes[i].method, method);
        if (rank < 0)
            continue;
        c = nbest < 0 ? -1 : kinds_cmp(kinds, nk, best_kinds, nbest);
        if (c < 0 || (c == 0 && rank < best_rank)) {
            memcpy(best_kinds, kinds, (size_t)nk);
            nbest = nk;
            best_rank = rank;
            best_i = i;
        }
    }
    if (nbest >= 0) {
        rc = PT_MATCH_OK;
        *best = best_i;
        if (params != NULL)
            pattern_match(routes[best_i].path, segs, nsegs, kinds, params);
    }
out:
    free(segs);
    free(buf);
    free(kinds);
    return rc;
}

bool pt_pattern_equal(const char *a, const char *b)
{
    if (strcmp(a, "/") == 0 || strcmp(b, "/") == 0)
        return strcmp(a, b) == 0;
    while (*a == '/' && *b == '/') {
        struct seg sa = pat_next(&a), sb = pat_next(&b);
        int ka = pat_kind(sa), kb = pat_kind(sb);

        if (ka != kb)
            return false;
        if (ka == K_LIT && (sa.n != sb.n || memcmp(sa.s, sb.s, sa.n) != 0))
            return false;
    }
    return *a == '\0' && *b == '\0';
}

long pt_route_find(const struct pc_route_decl *routes, size_t n, const char *method,
                   const char *route)
{
    long best = -1;
    int best_rank = 3;

    for (size_t i = 0; i < n; i++) {
        int rank;
        if (!pt_pattern_equal(routes[i].path, route))
            continue;
        rank = pt_method_rank(routes[i].method, method);
        if (rank >= 0 && rank < best_rank) {
            best = (long)i;
            best_rank = rank;
        }
    }
    return best;
}

bool pt_topic_is_valid(const char *topic)
{
    size_t n = 0;

    if (topic == NULL)
        return false;
    for (; topic[n] != '\0'; n++) {
        char c = topic[n];
        if (n >= PT_TOPIC_MAX)
            return false;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return n > 0;
}
