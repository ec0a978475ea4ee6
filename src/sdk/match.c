/* match.c -- route patterns (SPEC §3) on the SDK side.
 *
 * A callee normally gets the matched pattern in the request (`route`) and
 * only compares strings (pt_route_find); a caller has to match a path against
 * the routes a target announced (pt_route_match), exactly as the gateway
 * would. Decoding, segment walking, segment kinds, pattern comparison and
 * method ranks come from common/path.h, which the gateway's router uses too
 * (tests/fuzz/fuzz_match.c checks that the two agree).
 *
 * The router backtracks over a trie: literal, then {param}, then a final *.
 * That visits candidates in the lexicographic order of their segment kinds
 * (a pattern that ends where another goes on comes first), so the best
 * match here is the matching pattern with the smallest kind sequence, and
 * among routes of one pattern the best method rank. Param names are those
 * of the first route with that pattern, as the gateway keeps the names of
 * the first announcement. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "names.h"
#include "path.h"

#define MAX_KINDS (PC_PATTERN_MAX / 2 + 1) /* segments of a pattern, and more */

/* Matches pattern pat against the decoded segments buf[0..total); fills
 * kinds, and params when not NULL (a final * then joins the rest in buf:
 * do that last). Returns the number of kinds, or -1 when it does not match. */
static int pattern_match(const char *pat, char *buf, size_t total, unsigned char *kinds,
                         json_t *params)
{
    const char *p = pat, *end = pat + strlen(pat), *ps, *seg;
    size_t pl, sl, off = 0;
    int i = 0;

    while (pc_path_next(&p, end, &ps, &pl)) {
        enum pc_seg_kind k = pc_seg_kind(ps, pl);

        if (i >= MAX_KINDS) return -1;
        kinds[i] = (unsigned char)k;
        if (k == PC_SEG_WILD) {
            if (params != NULL) {
                size_t n = pc_path_rest_len(off, total);
                pc_path_rest_join(buf, off, total);
                json_object_set_new(params, "*", json_stringn(n ? buf + off : "", n));
            }
            return i + 1;
        }
        if (!pc_path_decoded_next(buf, total, &off, &seg, &sl)) return -1;
        if (k == PC_SEG_PARAM) {
            if (sl == 0) return -1;
            if (params != NULL) {
                char name[80]; /* names are at most 64 bytes */
                size_t nl = pl - 2 < sizeof name - 1 ? pl - 2 : sizeof name - 1;
                memcpy(name, ps + 1, nl);
                name[nl] = '\0';
                json_object_set_new(params, name, json_stringn(seg, sl));
            }
        } else if (pl != sl || memcmp(ps, seg, pl) != 0) {
            return -1;
        }
        i++;
    }
    return off == total ? i : -1;
}

/* <0 when kinds a (length na) is more specific than b. */
static int kinds_cmp(const unsigned char *a, int na, const unsigned char *b, int nb)
{
    int n = na < nb ? na : nb;

    for (int i = 0; i < n; i++)
        if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
    return na - nb;
}

int pt_route_match(const struct pc_route_decl *routes, size_t n, const char *method,
                   const char *path, size_t path_len, size_t *best, json_t *params)
{
    char *buf;
    unsigned char *kinds, *best_kinds;
    size_t total, nsegs, best_i = 0;
    int nbest = -1, best_rank = 0, rc = PT_MATCH_NOT_FOUND;

    buf = malloc((path_len < PC_PATH_MAX ? path_len : PC_PATH_MAX) + 1);
    kinds = malloc(MAX_KINDS * 2);
    if (buf == NULL || kinds == NULL) goto out;
    best_kinds = kinds + MAX_KINDS;
    if (pc_path_decode(path, path_len, buf, &total, &nsegs) != PC_PATH_OK) {
        rc = PT_MATCH_BAD_PATH;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        int nk = pattern_match(routes[i].path, buf, total, kinds, NULL);
        int rank, c;

        if (nk < 0) continue;
        if (rc == PT_MATCH_NOT_FOUND) rc = PT_MATCH_NO_METHOD;
        rank = pc_method_rank(routes[i].method, method);
        if (rank < 0) continue;
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
        if (params != NULL) {
            size_t first = 0; /* the first route with this pattern names the params */
            while (!pt_pattern_equal(routes[first].path, routes[best_i].path)) first++;
            pattern_match(routes[first].path, buf, total, kinds, params);
        }
    }
out:
    free(buf);
    free(kinds);
    return rc;
}

bool pt_pattern_equal(const char *a, const char *b)
{
    return pc_pattern_equal(a, strlen(a), b, strlen(b));
}

long pt_route_find(const struct pc_route_decl *routes, size_t n, const char *method,
                   const char *route)
{
    long best = -1;
    int best_rank = 3;

    for (size_t i = 0; i < n; i++) {
        int rank;
        if (!pt_pattern_equal(routes[i].path, route)) continue;
        rank = pc_method_rank(routes[i].method, method);
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

    if (topic == NULL) return false;
    for (; topic[n] != '\0'; n++) {
        char c = topic[n];
        if (n >= PT_TOPIC_MAX) return false;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return n > 0;
}
