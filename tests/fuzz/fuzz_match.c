/* fuzz_match.c -- the gateway's router and the SDK matcher must agree.
 *
 * Both implement SPEC §3 (the router with a trie, the SDK with a linear
 * table) on top of common/path. From the input this target makes a request
 * and a few routes, adds the routes to both, matches the request with both
 * and aborts on any difference: the result (matched, 404, 405, 400), which
 * route, its pattern text, and every param's name and decoded value.
 *
 * The input is lines; the first is the request, the others are routes:
 *   "METHOD path"       a request, or a route "METHOD pattern", as written
 *   "@<bytes>"          a request built from path pieces, one per byte
 *   "@<m><bytes>"       (after the first line) a route: byte m picks the
 *                       method, each further byte a pattern segment
 * The '@' forms reach matching paths and valid patterns far more often than
 * raw bytes do. Routes the router refuses (invalid method or pattern) are
 * left out of the SDK table too: the SDK only sees announced routes, which
 * the gateway validated. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "internal.h"
#include "path.h"
#include "router.h"

#define FZ_MAX_ROUTES 16
#define FZ_METHOD_MAX 40
#define FZ_LINE_MAX (PC_PATH_MAX + 64) /* bytes of a built request path or pattern */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_match: routers disagree: %s (line %d)\n", #c, __LINE__);         \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static const char *const methods[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "*", "PATCH", "get"};
/* Request path pieces: literals that patterns use, escapes of every class. */
static const char *const path_pieces[] = {
    "/a",    "/b",   "/users",  "/42",    "/",       "/%41", "/a%2Fb", "/caf%C3%A9", "/caf\xc3\xa9",
    "/%00",  "/%FF", "/%C0%AF", "/.",     "/%2e%2e", "/%zz", "/x",     "/%61",       "/*",
    "/{id}", "/..a", "/..%2F",  "/a%2F.", "%2F..",   "%2F.", "%2F",
};
/* Pattern segments: the same literals, params, a wildcard, and invalid ones. */
static const char *const pat_pieces[] = {
    "/a", "/b", "/users", "/42", "/{p}", "/{q}", "/*",   "/caf\xc3\xa9",
    "/x", "/A", "/{p}",   "/",   "/%41", "/..",  "/a b",
};

static char values[FZ_MAX_ROUTES]; /* value of route i: &values[i] */
static struct gw_match m;          /* large (scratch): not on the stack */
static char req_buf[FZ_LINE_MAX + 1];

/* Splits "METHOD rest" into a NUL-ended method and rest (not NUL-ended). */
static bool split(const char *line, size_t n, char *method, const char **rest, size_t *rest_len)
{
    const char *sp = memchr(line, ' ', n);
    size_t ml = sp ? (size_t)(sp - line) : n;
    if (ml >= FZ_METHOD_MAX || memchr(line, '\0', ml) != NULL) return false;
    memcpy(method, line, ml);
    method[ml] = '\0';
    *rest = sp ? sp + 1 : line + n;
    *rest_len = sp ? n - ml - 1 : 0;
    return true;
}

/* Appends pieces[b % n] for each byte of src[0..len) to out (cap bytes). */
static size_t build(const char *const *pieces, size_t npieces, const char *src, size_t len,
                    char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        const char *p = pieces[(unsigned char)src[i] % npieces];
        size_t pl = strlen(p);
        if (o + pl > cap) break;
        memcpy(out + o, p, pl);
        o += pl;
    }
    if (o == 0) out[o++] = '/';
    return o;
}

/* Compares the router's answer m (rc) with the SDK's for the same request. */
static void compare(const struct pc_route_decl *decls, size_t n, const char *method,
                    const char *path, size_t len, int rc)
{
    size_t best = (size_t)-1;
    json_t *params = json_object();
    int src = pt_route_match(decls, n, method, path, len, &best, params);

    CHECK(params != NULL);
    switch (rc) {
    case GW_MATCH_OK:
        CHECK(src == PT_MATCH_OK);
        break;
    case GW_MATCH_NOT_FOUND:
        CHECK(src == PT_MATCH_NOT_FOUND);
        break;
    case GW_MATCH_NO_METHOD:
        CHECK(src == PT_MATCH_NO_METHOD);
        break;
    case GW_MATCH_BAD_PATH:
        CHECK(src == PT_MATCH_BAD_PATH);
        break;
    default:
        CHECK(!"router result");
    }
    if (rc == GW_MATCH_OK) {
        CHECK(best < n);
        CHECK(m.value == &values[best]);
        /* the router names params after the first route of the pattern */
        size_t first = 0;
        while (first < best && !pt_pattern_equal(decls[first].path, decls[best].path)) first++;
        CHECK(strcmp(m.pattern, decls[first].path) == 0);
        CHECK(m.nparams == json_object_size(params));
        for (size_t i = 0; i < m.nparams; i++) {
            char name[80];
            const struct gw_param *p = &m.params[i];
            CHECK(p->name_len < sizeof name);
            memcpy(name, p->name, p->name_len);
            name[p->name_len] = '\0';
            const json_t *v = json_object_get(params, name);
            CHECK(json_is_string(v));
            CHECK(json_string_length(v) == p->value_len);
            CHECK(memcmp(json_string_value(v), p->value, p->value_len) == 0);
        }
    }
    json_decref(params);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *end = p + size;
    struct pc_route_decl decls[FZ_MAX_ROUTES];
    char *owned[FZ_MAX_ROUTES];
    char req_method[FZ_METHOD_MAX];
    const char *req_path = NULL;
    size_t req_len = 0, n = 0;
    bool have_req = false;
    gw_router *r = gw_router_new();

    while (p < end && n < FZ_MAX_ROUTES) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        char method[FZ_METHOD_MAX], *pattern = NULL;
        const char *rest;
        size_t rest_len;

        if (!have_req) {
            have_req = true;
            if (len > 0 && p[0] == '@') {
                /* method from the first byte, then path pieces */
                snprintf(req_method, sizeof req_method, "%s",
                         len > 1 ? methods[(unsigned char)p[1] % 8] : "GET");
                req_len = build(path_pieces, sizeof path_pieces / sizeof path_pieces[0],
                                len > 2 ? p + 2 : p, len > 2 ? len - 2 : 0, req_buf, FZ_LINE_MAX);
                req_path = req_buf;
            } else if (split(p, len, req_method, &rest, &rest_len)) {
                req_path = rest;
                req_len = rest_len;
            } else {
                have_req = false; /* unusable: the next line is the request */
            }
        } else if (len > 1 && p[0] == '@') {
            const char *m_name = methods[(unsigned char)p[1] % 8];
            pattern = malloc(FZ_LINE_MAX + 1);
            if (pattern == NULL) abort();
            size_t pl = build(pat_pieces, sizeof pat_pieces / sizeof pat_pieces[0], p + 2, len - 2,
                              pattern, FZ_LINE_MAX);
            pattern[pl] = '\0';
            snprintf(method, sizeof method, "%s", m_name);
        } else if (split(p, len, method, &rest, &rest_len) &&
                   memchr(rest, '\0', rest_len) == NULL) {
            pattern = malloc(rest_len + 1);
            if (pattern == NULL) abort();
            memcpy(pattern, rest, rest_len);
            pattern[rest_len] = '\0';
        }
        if (pattern != NULL) {
            int rc = gw_router_add(r, method, pattern, &values[n], NULL);
            if (rc == 0 || rc == 1) {
                char *mcopy = strdup(method);
                if (mcopy == NULL) abort();
                decls[n].method = mcopy;
                decls[n].path = pattern;
                owned[n] = pattern;
                n++;
            } else {
                free(pattern);
            }
        }
        p += len + (nl ? 1 : 0);
    }

    if (req_path != NULL) {
        int rc = gw_router_match(r, req_method, req_path, req_len, &m);
        compare(decls, n, req_method, req_path, req_len, rc);
        /* HEAD and an unknown method too: the method fallbacks must agree */
        rc = gw_router_match(r, "HEAD", req_path, req_len, &m);
        compare(decls, n, "HEAD", req_path, req_len, rc);
        rc = gw_router_match(r, "OPTIONS", req_path, req_len, &m);
        compare(decls, n, "OPTIONS", req_path, req_len, rc);
    }
    for (size_t i = 0; i < n; i++) {
        free((char *)decls[i].method);
        free(owned[i]);
    }
    gw_router_free(r);
    return 0;
}
