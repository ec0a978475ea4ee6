/* router.h -- the route table: (method, pattern) -> value, matched per SPEC §3.
 *
 * A segment trie. Literal edges are found through a hash (lookup cost does not
 * grow with the number of routes), then one {param} edge, then a final '*'.
 * Matching is depth-first in that order with backtracking, so the most
 * specific pattern that has a route for the method wins. The router stores
 * values; it never frees them. */
#ifndef GW_ROUTER_H
#define GW_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

#include "names.h"
#include "path.h"

#define GW_ROUTER_MAX_PATH PC_PATH_MAX /* bytes of a request path matched */

typedef struct gw_router gw_router;

enum gw_match_result {
    GW_MATCH_OK = 0,    /* value, pattern and params are set */
    GW_MATCH_NOT_FOUND, /* no pattern matches the path: 404 */
    GW_MATCH_NO_METHOD, /* patterns match, none has the method: 405, see allow */
    GW_MATCH_BAD_PATH,  /* not starting with '/', dot segment, bad %-escape,
                                 decodes to NUL or invalid UTF-8, too long: 400 */
};

struct gw_param {
    const char *name;
    size_t name_len; /* from the pattern (router-owned) */
    const char *value;
    size_t value_len; /* decoded; points into match->scratch */
};

struct gw_match {
    void *value;
    const char *pattern; /* canonical text as first added (router-owned,
                                     valid until that route is removed) */
    size_t nparams;
    struct gw_param params[PC_PATTERN_MAX_PARAMS + 1]; /* '*' is named "*" */
    /* GW_MATCH_NO_METHOD: the methods the matching patterns announced,
     * sorted, unique ("GET, POST") */
    char allow[256];
    char scratch[GW_ROUTER_MAX_PATH + 1];
};

gw_router *gw_router_new(void);
void gw_router_free(gw_router *r);
size_t gw_router_count(const gw_router *r); /* (method, pattern) entries */

/* Adds (method, pattern) -> value. Param names do not count when comparing
 * patterns: "/u/{id}" and "/u/{uid}" are the same pattern.
 * Returns 0 when added; 1 when the pair exists already (*existing, if not NULL,
 * gets its value; nothing changes); -1 when the method or pattern is invalid. */
int gw_router_add(gw_router *r, const char *method, const char *pattern, void *value,
                  void **existing);
/* Value of exactly (method, pattern) (names ignored), or NULL. */
void *gw_router_get(const gw_router *r, const char *method, const char *pattern);
/* Removes (method, pattern) and prunes emptied trie nodes. Returns its value
 * or NULL if absent. */
void *gw_router_remove(gw_router *r, const char *method, const char *pattern);

/* Matches a request. path[0..path_len) is the raw path without the query.
 * Method resolution per SPEC §3: exact method beats "*" on the same pattern;
 * HEAD falls back to GET when the pattern has no HEAD route.
 * Returns an enum gw_match_result; m is filled accordingly. */
int gw_router_match(const gw_router *r, const char *method, const char *path, size_t path_len,
                    struct gw_match *m);

/* Calls fn for every entry (for the admin listing); order unspecified.
 * fn must not add or remove routes. */
void gw_router_foreach(const gw_router *r,
                       void (*fn)(void *ctx, const char *method, const char *pattern, void *value),
                       void *ctx);

#endif
