/* fuzz_router.c -- the route table: matching, and adding and removing patterns.
 *
 * The input is lines. The first is a request "METHOD path" matched against a
 * table built from a fixed route set; then each line is one operation:
 *   "+METHOD pattern"  add (the value is a fresh pointer)
 *   "-METHOD pattern"  remove
 *   "METHOD path"      match
 * Invariants: no crash or leak; add/get/remove/count agree with a shadow
 * count; a match result is consistent (OK has a value reachable through
 * gw_router_get for the method, "*" or, for HEAD, GET; non-empty param
 * values lie in the scratch buffer); matching the same request twice gives the same
 * answer. The table is freed at the end with routes still in it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "router.h"

#define FZ_MAX_OPS 64
#define FZ_METHOD_MAX 40

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_router: invariant failed: %s (line %d)\n", #c, __LINE__);        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static const char *const base_routes[][2] = {
    {"GET", "/"},
    {"GET", "/users"},
    {"POST", "/users"},
    {"GET", "/users/{id}"},
    {"PUT", "/users/{id}"},
    {"GET", "/users/me"},
    {"GET", "/users/{id}/posts/{post}"},
    {"*", "/files/*"},
    {"GET", "/files/special"},
    {"HEAD", "/head/x"},
    {"DELETE", "/any"},
    {"*", "/any"},
    {"GET", "/a/{x}/c"},
    {"GET", "/a/b/d"},
    {"GET", "/w/*"},
    {"GET", "/w/{id}/z"},
    {"GET", "/caf\xc3\xa9/{name}"},
    {"GET", "/p/{a}/{b}/*"},
};

static char values[FZ_MAX_OPS + 32]; /* distinct addresses used as values */
static struct gw_match m1, m2;       /* large (scratch): not on the stack */

static void check_match(gw_router *r, const char *method, const char *path, size_t len)
{
    int rc = gw_router_match(r, method, path, len, &m1);
    CHECK(rc == GW_MATCH_OK || rc == GW_MATCH_NOT_FOUND || rc == GW_MATCH_NO_METHOD ||
          rc == GW_MATCH_BAD_PATH);
    if (rc == GW_MATCH_OK) {
        CHECK(m1.value != NULL && m1.pattern != NULL);
        CHECK(m1.nparams <= PC_PATTERN_MAX_PARAMS + 1);
        void *v = gw_router_get(r, method, m1.pattern);
        if (v != m1.value) v = gw_router_get(r, "*", m1.pattern);
        if (v != m1.value && strcmp(method, "HEAD") == 0) v = gw_router_get(r, "GET", m1.pattern);
        CHECK(v == m1.value);
        for (size_t i = 0; i < m1.nparams; i++) {
            const struct gw_param *p = &m1.params[i];
            CHECK(p->name != NULL && p->name_len > 0);
            CHECK(p->value_len <= len);
            CHECK(p->value != NULL);
            if (p->value_len > 0) /* an empty "*" may point at a static "" */
                CHECK(p->value >= m1.scratch &&
                      p->value + p->value_len <= m1.scratch + sizeof m1.scratch);
        }
    } else if (rc == GW_MATCH_NO_METHOD) {
        CHECK(memchr(m1.allow, '\0', sizeof m1.allow) != NULL && m1.allow[0] != '\0');
    }
    if (len > GW_ROUTER_MAX_PATH) CHECK(rc == GW_MATCH_BAD_PATH);
    if (len == 0 || path[0] != '/') CHECK(rc == GW_MATCH_BAD_PATH);

    int rc2 = gw_router_match(r, method, path, len, &m2);
    CHECK(rc2 == rc);
    if (rc == GW_MATCH_OK) {
        CHECK(m2.value == m1.value && strcmp(m2.pattern, m1.pattern) == 0);
        CHECK(m2.nparams == m1.nparams);
    } else if (rc == GW_MATCH_NO_METHOD) {
        CHECK(strcmp(m1.allow, m2.allow) == 0);
    }
}

/* Splits a line into a NUL-terminated method and the rest (not terminated). */
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gw_router *r = gw_router_new();
    const char *p = (const char *)data, *end = p + size;
    size_t count = 0, nvalues = 0;
    int ops = 0;

    for (size_t i = 0; i < sizeof base_routes / sizeof base_routes[0]; i++) {
        void *v = &values[nvalues++];
        CHECK(gw_router_add(r, base_routes[i][0], base_routes[i][1], v, NULL) == 0);
        count++;
    }
    CHECK(gw_router_count(r) == count);

    while (p < end && ops++ < FZ_MAX_OPS) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        char method[FZ_METHOD_MAX];
        const char *rest;
        size_t rest_len;
        char op = (n > 0 && (p[0] == '+' || p[0] == '-')) ? p[0] : 0;
        const char *line = op ? p + 1 : p;
        size_t line_len = op ? n - 1 : n;

        if (split(line, line_len, method, &rest, &rest_len)) {
            if (op == 0) {
                check_match(r, method, rest, rest_len);
            } else {
                char *pattern = malloc(rest_len + 1); /* exact size: ASan sees overreads */
                if (pattern == NULL) abort();
                memcpy(pattern, rest, rest_len);
                pattern[rest_len] = '\0';
                if (op == '+') {
                    void *existing = NULL;
                    void *v = &values[nvalues % sizeof values];
                    int rc = gw_router_add(r, method, pattern, v, &existing);
                    CHECK(rc == 0 || rc == 1 || rc == -1);
                    if (rc == 0) {
                        count++;
                        nvalues++;
                        CHECK(gw_router_get(r, method, pattern) == v);
                    } else if (rc == 1) {
                        CHECK(existing != NULL && gw_router_get(r, method, pattern) == existing);
                    }
                } else {
                    void *v = gw_router_remove(r, method, pattern);
                    if (v != NULL) {
                        count--;
                        CHECK(gw_router_get(r, method, pattern) == NULL);
                        CHECK(gw_router_remove(r, method, pattern) == NULL);
                    }
                }
                free(pattern);
                CHECK(gw_router_count(r) == count);
            }
        }
        p += n + (nl ? 1 : 0);
    }
    gw_router_free(r);
    return 0;
}
