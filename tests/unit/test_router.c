/* test_router.c -- the route table against SPEC §3, table-driven.
 *
 * One route set; each row is a request and everything the match must
 * report: result, pattern, value, params ("name=value;..." in order) and,
 * for 405, the Allow list. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "router.h"
#include "test.h"

struct route {
    const char *method;
    const char *pattern;
    const char *value; /* a name; the value stored is this pointer */
};

static const struct route routes[] = {
    {"GET", "/", "root"},
    {"GET", "/users", "users"},
    {"POST", "/users", "users_post"},
    {"GET", "/users/{id}", "user"},
    {"PUT", "/users/{id}", "user_put"},
    {"GET", "/users/me", "me"},
    {"GET", "/users/me/settings", "settings"},
    {"GET", "/users/{id}/posts", "posts"},
    {"GET", "/users/{id}/posts/{post}", "post"},
    {"*", "/files/*", "files"},
    {"GET", "/files/special", "special"},
    {"HEAD", "/head/x", "head_x"},
    {"GET", "/head/x", "get_x"},
    {"GET", "/head/y", "get_y"},
    {"HEAD", "/head/only", "head_only"},
    {"*", "/any", "any_star"},
    {"DELETE", "/any", "any_delete"},
    {"GET", "/a/{x}/c", "a_x_c"},
    {"GET", "/a/b/d", "a_b_d"},
    {"GET", "/w/*", "w_wild"},
    {"GET", "/w/{id}/z", "w_id_z"},
    {"POST", "/m/{id}", "m_post"},
    {"GET", "/m/*", "m_wild"},
    {"PATCH", "/m/fixed", "m_fixed"},
    {"GET", "/caf\xc3\xa9/{name}", "cafe"},
    {"GET", "/p/{a}/{b}/*", "p_ab_wild"},
};

enum {
    OK = GW_MATCH_OK,
    NF = GW_MATCH_NOT_FOUND,
    NM = GW_MATCH_NO_METHOD,
    BAD = GW_MATCH_BAD_PATH
};

struct row {
    const char *method;
    const char *path;
    int result;
    const char *pattern; /* OK only */
    const char *value;   /* OK only */
    const char *params;  /* OK only */
    const char *allow;   /* NM only */
};

static const struct row rows[] = {
    /* root and literals */
    {"GET", "/", OK, "/", "root", "", NULL},
    {"HEAD", "/", OK, "/", "root", "", NULL},
    {"POST", "/", NM, NULL, NULL, NULL, "GET"},
    {"GET", "/users", OK, "/users", "users", "", NULL},
    {"POST", "/users", OK, "/users", "users_post", "", NULL},
    {"DELETE", "/users", NM, NULL, NULL, NULL, "GET, POST"},
    {"GET", "/nope", NF, NULL, NULL, NULL, NULL},
    {"GET", "/Users", NF, NULL, NULL, NULL, NULL},

    /* literal beats {param}; {param} never matches an empty segment */
    {"GET", "/users/me", OK, "/users/me", "me", "", NULL},
    {"GET", "/users/42", OK, "/users/{id}", "user", "id=42", NULL},
    {"PUT", "/users/42", OK, "/users/{id}", "user_put", "id=42", NULL},
    {"DELETE", "/users/42", NM, NULL, NULL, NULL, "GET, PUT"},
    {"GET", "/users/", NF, NULL, NULL, NULL, NULL},
    {"GET", "/users//posts", NF, NULL, NULL, NULL, NULL},
    {"GET", "/users/42/", NF, NULL, NULL, NULL, NULL},

    /* the more specific pattern lacks the method: the next one serves it */
    {"PUT", "/users/me", OK, "/users/{id}", "user_put", "id=me", NULL},
    {"DELETE", "/users/me", NM, NULL, NULL, NULL, "GET, PUT"},

    /* backtracking when the literal branch dead-ends */
    {"GET", "/users/me/settings", OK, "/users/me/settings", "settings", "", NULL},
    {"GET", "/users/me/posts", OK, "/users/{id}/posts", "posts", "id=me", NULL},
    {"GET", "/users/me/posts/7", OK, "/users/{id}/posts/{post}", "post", "id=me;post=7", NULL},
    {"GET", "/a/b/c", OK, "/a/{x}/c", "a_x_c", "x=b", NULL},
    {"GET", "/a/b/d", OK, "/a/b/d", "a_b_d", "", NULL},
    {"GET", "/a/q/d", NF, NULL, NULL, NULL, NULL},
    {"GET", "/w/q/z", OK, "/w/{id}/z", "w_id_z", "id=q", NULL},
    {"GET", "/w/q/y", OK, "/w/*", "w_wild", "*=q/y", NULL},
    {"GET", "/w/q/z/more", OK, "/w/*", "w_wild", "*=q/z/more", NULL},

    /* wildcard: zero or more segments, decoded and joined with '/' */
    {"GET", "/files", OK, "/files/*", "files", "*=", NULL},
    {"GET", "/files/", OK, "/files/*", "files", "*=", NULL},
    {"GET", "/files/a", OK, "/files/*", "files", "*=a", NULL},
    {"GET", "/files/a/b", OK, "/files/*", "files", "*=a/b", NULL},
    {"GET", "/files/a%20b/c%41", OK, "/files/*", "files", "*=a b/cA", NULL},
    {"GET", "/files//x", OK, "/files/*", "files", "*=/x", NULL},
    {"GET", "/files/special", OK, "/files/special", "special", "", NULL},
    {"POST", "/files/special", OK, "/files/*", "files", "*=special", NULL},
    {"GET", "/filesx", NF, NULL, NULL, NULL, NULL},

    /* percent-decoding: %2F stays inside its segment */
    {"GET", "/users/a%2Fb", OK, "/users/{id}", "user", "id=a/b", NULL},
    {"GET", "/users/a%2fb/posts", OK, "/users/{id}/posts", "posts", "id=a/b", NULL},
    {"GET", "/users/%6De", OK, "/users/me", "me", "", NULL},
    {"GET", "/%75sers", OK, "/users", "users", "", NULL},
    {"GET", "/files/a%2Fb", OK, "/files/*", "files", "*=a/b", NULL},
    {"GET", "/caf%C3%A9/x", OK, "/caf\xc3\xa9/{name}", "cafe", "name=x", NULL},
    {"GET", "/caf\xc3\xa9/%E2%82%AC", OK, "/caf\xc3\xa9/{name}", "cafe", "name=\xe2\x82\xac", NULL},
    {"GET", "/users/{id}", OK, "/users/{id}", "user", "id={id}", NULL},
    {"GET", "/users/*", OK, "/users/{id}", "user", "id=*", NULL},
    {"GET", "/users/...", OK, "/users/{id}", "user", "id=...", NULL},
    {"GET", "/p/1/2", OK, "/p/{a}/{b}/*", "p_ab_wild", "a=1;b=2;*=", NULL},
    {"GET", "/p/1/2/3/4", OK, "/p/{a}/{b}/*", "p_ab_wild", "a=1;b=2;*=3/4", NULL},

    /* bad paths: 400 */
    {"GET", "users", BAD, NULL, NULL, NULL, NULL},
    {"GET", "", BAD, NULL, NULL, NULL, NULL},
    {"GET", "*", BAD, NULL, NULL, NULL, NULL},
    {"GET", "/users/.", BAD, NULL, NULL, NULL, NULL},
    {"GET", "/users/..", BAD, NULL, NULL, NULL, NULL},
    {"GET", "/./users", BAD, NULL, NULL, NULL, NULL},
    {"GET", "/users/../admin", BAD, NULL, NULL, NULL, NULL},
    {"GET", "/files/%2e%2e/etc", BAD, NULL, NULL, NULL, NULL},
    {"GET", "/files/%2E", BAD, NULL, NULL, NULL, NULL},
    {"GET", "/files/.%2e", BAD, NULL, NULL, NULL, NULL},
    {"GET", "/files/%zz", BAD, NULL, NULL, NULL, NULL},
    {"GET", "/files/%2", BAD, NULL, NULL, NULL, NULL},
    {"GET", "/files/%", BAD, NULL, NULL, NULL, NULL},
    {"GET", "/files/a%g1", BAD, NULL, NULL, NULL, NULL},
    {"GET", "/files/a%00b", BAD, NULL, NULL, NULL, NULL},
    {"GET", "/files/%ff", BAD, NULL, NULL, NULL, NULL},
    {"GET", "/files/%C0%AF", BAD, NULL, NULL, NULL, NULL},
    {"GET", "/files/%ED%A0%80", BAD, NULL, NULL, NULL, NULL},
    {"GET", "/files/\xc3", BAD, NULL, NULL, NULL, NULL},
    {"GET", "/nope/..", BAD, NULL, NULL, NULL, NULL},

    /* HEAD falls back to GET; an explicit HEAD route wins */
    {"HEAD", "/users", OK, "/users", "users", "", NULL},
    {"HEAD", "/users/7", OK, "/users/{id}", "user", "id=7", NULL},
    {"HEAD", "/head/x", OK, "/head/x", "head_x", "", NULL},
    {"GET", "/head/x", OK, "/head/x", "get_x", "", NULL},
    {"HEAD", "/head/y", OK, "/head/y", "get_y", "", NULL},
    {"HEAD", "/head/only", OK, "/head/only", "head_only", "", NULL},
    {"GET", "/head/only", NM, NULL, NULL, NULL, "HEAD"},
    {"POST", "/head/x", NM, NULL, NULL, NULL, "GET, HEAD"},

    /* "*" method vs exact */
    {"DELETE", "/any", OK, "/any", "any_delete", "", NULL},
    {"GET", "/any", OK, "/any", "any_star", "", NULL},
    {"HEAD", "/any", OK, "/any", "any_star", "", NULL},
    {"BREW", "/any", OK, "/any", "any_star", "", NULL},

    /* 405 Allow gathers every matching pattern */
    {"POST", "/m/1", OK, "/m/{id}", "m_post", "id=1", NULL},
    {"GET", "/m/1", OK, "/m/*", "m_wild", "*=1", NULL},
    {"PATCH", "/m/1", NM, NULL, NULL, NULL, "GET, POST"},
    {"PATCH", "/m/fixed", OK, "/m/fixed", "m_fixed", "", NULL},
    {"DELETE", "/m/fixed", NM, NULL, NULL, NULL, "GET, PATCH, POST"},
    {"DELETE", "/m/a/b", NM, NULL, NULL, NULL, "GET"},
    {"get", "/users", NM, NULL, NULL, NULL, "GET, POST"},
};

/* gw_router_match on a C string path. */
static int match(gw_router *r, const char *method, const char *path, struct gw_match *m)
{
    return gw_router_match(r, method, path, strlen(path), m);
}

/* "name=value;..." of the match's params. */
static void params_str(const struct gw_match *m, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < m->nparams && o < cap; i++)
        o += (size_t)snprintf(out + o, cap - o, "%s%.*s=%.*s", i ? ";" : "",
                              (int)m->params[i].name_len, m->params[i].name,
                              (int)m->params[i].value_len, m->params[i].value);
}

static gw_router *router_with_routes(void)
{
    gw_router *r = gw_router_new();
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        CHECK_EQ_INT(gw_router_add(r, routes[i].method, routes[i].pattern,
                                   (void *)(uintptr_t)routes[i].value, NULL),
                     0);
    CHECK_EQ_INT(gw_router_count(r), sizeof(routes) / sizeof(routes[0]));
    return r;
}

static void test_table(void)
{
    gw_router *r = router_with_routes();
    static struct gw_match m;
    char params[512];

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const struct row *w = &rows[i];
        int failures = test_failures;
        int rc = gw_router_match(r, w->method, w->path, strlen(w->path), &m);
        CHECK_EQ_INT(rc, w->result);
        if (rc == GW_MATCH_OK && w->result == GW_MATCH_OK) {
            params_str(&m, params, sizeof(params));
            CHECK_EQ_STR(m.pattern, w->pattern);
            CHECK_EQ_STR((const char *)m.value, w->value);
            CHECK_EQ_STR(params, w->params);
        } else {
            CHECK(m.value == NULL);
            CHECK(m.pattern == NULL);
            CHECK_EQ_INT(m.nparams, 0);
        }
        CHECK_EQ_STR(m.allow, w->result == NM ? w->allow : "");
        if (test_failures != failures)
            fprintf(stderr, "  ^ row %zu: %s %s\n", i, w->method, w->path);
    }
    gw_router_free(r);
}

static void test_add_get_remove(void)
{
    gw_router *r = router_with_routes();
    static struct gw_match m;
    void *existing = NULL;

    /* Invalid input. */
    CHECK_EQ_INT(gw_router_add(r, "get", "/x", NULL, NULL), -1);
    CHECK_EQ_INT(gw_router_add(r, "GET", "x", NULL, NULL), -1);
    CHECK_EQ_INT(gw_router_add(r, "GET", "/x/", NULL, NULL), -1);
    CHECK_EQ_INT(gw_router_add(r, "GET", "/*/x", NULL, NULL), -1);
    CHECK_EQ_INT(gw_router_add(r, NULL, "/x", NULL, NULL), -1);

    /* The same pair, or the same pattern under other param names. */
    CHECK_EQ_INT(gw_router_add(r, "GET", "/users/{uid}", "other", &existing), 1);
    CHECK_EQ_STR((const char *)existing, "user");
    CHECK_EQ_INT(gw_router_add(r, "GET", "/users/{id}", "other", NULL), 1);
    CHECK_EQ_INT(gw_router_add(r, "PATCH", "/users/{uid}", "user_patch", NULL), 0);
    CHECK_EQ_INT(match(r, "PATCH", "/users/9", &m), GW_MATCH_OK);
    CHECK_EQ_STR(m.pattern, "/users/{id}");
    CHECK_EQ_MEM(m.params[0].name, m.params[0].name_len, "id", 2);
    CHECK_EQ_STR((const char *)gw_router_get(r, "GET", "/users/{zzz}"), "user");
    CHECK_EQ_STR((const char *)gw_router_get(r, "*", "/files/*"), "files");
    CHECK(gw_router_get(r, "POST", "/users/{id}") == NULL);
    CHECK(gw_router_get(r, "GET", "/users/me/nothing") == NULL);
    CHECK(gw_router_get(r, "GET", "/a/{x}") == NULL); /* inner node, no pattern */
    CHECK(gw_router_get(r, "GET", "bad") == NULL);

    /* Removal. */
    size_t n = gw_router_count(r);
    CHECK(gw_router_remove(r, "DELETE", "/users/{id}") == NULL);
    CHECK(gw_router_remove(r, "GET", "/a/{x}") == NULL);
    CHECK(gw_router_remove(r, "GET", "/never/here") == NULL);
    CHECK_EQ_STR((const char *)gw_router_remove(r, "PATCH", "/users/{x}"), "user_patch");
    CHECK_EQ_INT(gw_router_count(r), n - 1);
    CHECK_EQ_STR((const char *)gw_router_remove(r, "GET", "/users/me/settings"), "settings");
    CHECK_EQ_INT(match(r, "GET", "/users/me/settings", &m), GW_MATCH_NOT_FOUND);
    CHECK_EQ_INT(match(r, "GET", "/users/me", &m), GW_MATCH_OK);
    CHECK_EQ_STR((const char *)m.value, "me");

    /* Removing the last method of a pattern frees its text: a re-add
     * under new names becomes the canonical text. */
    CHECK_EQ_STR((const char *)gw_router_remove(r, "GET", "/users/{id}"), "user");
    CHECK_EQ_INT(match(r, "PUT", "/users/5", &m), GW_MATCH_OK);
    CHECK_EQ_STR(m.pattern, "/users/{id}"); /* PUT keeps the pattern alive */
    CHECK_EQ_STR((const char *)gw_router_remove(r, "PUT", "/users/{id}"), "user_put");
    CHECK_EQ_INT(match(r, "GET", "/users/5", &m), GW_MATCH_NOT_FOUND);
    CHECK_EQ_INT(match(r, "GET", "/users/5/posts", &m), GW_MATCH_OK);
    CHECK_EQ_INT(gw_router_add(r, "GET", "/users/{uid}", "user2", NULL), 0);
    CHECK_EQ_INT(match(r, "GET", "/users/5", &m), GW_MATCH_OK);
    CHECK_EQ_STR(m.pattern, "/users/{uid}");
    CHECK_EQ_MEM(m.params[0].name, m.params[0].name_len, "uid", 3);
    CHECK_EQ_STR((const char *)m.value, "user2");

    /* Wildcard removal: /files falls back to nothing. */
    CHECK_EQ_STR((const char *)gw_router_remove(r, "*", "/files/*"), "files");
    CHECK_EQ_INT(match(r, "GET", "/files/a", &m), GW_MATCH_NOT_FOUND);
    CHECK_EQ_INT(match(r, "GET", "/files/special", &m), GW_MATCH_OK);

    /* Remove everything that is left: the router is empty. */
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        gw_router_remove(r, routes[i].method, routes[i].pattern);
    gw_router_remove(r, "GET", "/users/{id}");
    CHECK_EQ_INT(gw_router_count(r), 0);
    CHECK_EQ_INT(match(r, "GET", "/", &m), GW_MATCH_NOT_FOUND);
    CHECK_EQ_INT(match(r, "GET", "/users/me/posts", &m), GW_MATCH_NOT_FOUND);
    gw_router_free(r);
}

/* Root wildcard, and a root pattern without GET. */
static void test_root(void)
{
    gw_router *r = gw_router_new();
    static struct gw_match m;

    CHECK_EQ_INT(match(r, "GET", "/", &m), GW_MATCH_NOT_FOUND);
    CHECK_EQ_INT(gw_router_add(r, "GET", "/*", "all", NULL), 0);
    CHECK_EQ_INT(match(r, "GET", "/", &m), GW_MATCH_OK);
    CHECK_EQ_INT(m.nparams, 1);
    CHECK_EQ_MEM(m.params[0].name, m.params[0].name_len, "*", 1);
    CHECK_EQ_INT(m.params[0].value_len, 0);
    CHECK_EQ_INT(match(r, "GET", "/x/y", &m), GW_MATCH_OK);
    CHECK_EQ_MEM(m.params[0].value, m.params[0].value_len, "x/y", 3);
    CHECK_EQ_INT(gw_router_add(r, "POST", "/", "root_post", NULL), 0);
    CHECK_EQ_INT(match(r, "GET", "/", &m), GW_MATCH_OK);
    CHECK_EQ_STR((const char *)m.value, "all");
    CHECK_EQ_INT(match(r, "POST", "/", &m), GW_MATCH_OK);
    CHECK_EQ_STR((const char *)m.value, "root_post");
    CHECK_EQ_INT(match(r, "PUT", "/", &m), GW_MATCH_NO_METHOD);
    CHECK_EQ_STR(m.allow, "GET, POST"); /* the methods announced (SPEC §3), no HEAD added */

    /* Only the bytes up to path_len count (the query is cut off). */
    CHECK_EQ_INT(gw_router_match(r, "POST", "/?q=1", 1, &m), GW_MATCH_OK);
    CHECK_EQ_STR((const char *)m.value, "root_post");
    gw_router_free(r);
}

static void test_long_paths(void)
{
    gw_router *r = gw_router_new();
    static struct gw_match m;
    static char path[GW_ROUTER_MAX_PATH + 2];

    CHECK_EQ_INT(gw_router_add(r, "GET", "/f/*", "f", NULL), 0);
    memcpy(path, "/f/", 3);
    memset(path + 3, 'a', sizeof(path) - 3);
    CHECK_EQ_INT(gw_router_match(r, "GET", path, GW_ROUTER_MAX_PATH, &m), GW_MATCH_OK);
    CHECK_EQ_INT(m.params[0].value_len, GW_ROUTER_MAX_PATH - 3);
    CHECK_EQ_INT(gw_router_match(r, "GET", path, GW_ROUTER_MAX_PATH + 1, &m), GW_MATCH_BAD_PATH);

    /* Many segments: "/f/a/a/a/..." */
    for (size_t i = 3; i < GW_ROUTER_MAX_PATH; i += 2) {
        path[i] = 'a';
        path[i + 1] = '/';
    }
    path[GW_ROUTER_MAX_PATH - 1] = 'a';
    CHECK_EQ_INT(gw_router_match(r, "GET", path, GW_ROUTER_MAX_PATH, &m), GW_MATCH_OK);
    CHECK_EQ_INT(m.params[0].value_len, GW_ROUTER_MAX_PATH - 3);
    CHECK_EQ_INT(memcmp(m.params[0].value, path + 3, GW_ROUTER_MAX_PATH - 3), 0);

    /* The deepest pattern allowed: 1024 segments "/a/a/.../a". */
    static char pat[PC_PATTERN_MAX + 1];
    for (size_t i = 0; i < PC_PATTERN_MAX; i += 2) {
        pat[i] = '/';
        pat[i + 1] = 'a';
    }
    pat[PC_PATTERN_MAX] = '\0';
    CHECK_EQ_INT(gw_router_add(r, "GET", pat, "deep", NULL), 0);
    CHECK_EQ_INT(gw_router_match(r, "GET", pat, PC_PATTERN_MAX, &m), GW_MATCH_OK);
    CHECK_EQ_STR((const char *)m.value, "deep");
    CHECK_EQ_STR((const char *)gw_router_remove(r, "GET", pat), "deep");
    gw_router_free(r);
}

static void count_cb(void *ctx, const char *method, const char *pattern, void *value)
{
    (void)method;
    (void)pattern;
    (void)value;
    (*(size_t *)ctx)++;
}

static void test_foreach(void)
{
    gw_router *r = router_with_routes();
    size_t n = 0;
    gw_router_foreach(r, count_cb, &n);
    CHECK_EQ_INT(n, sizeof(routes) / sizeof(routes[0]));
    gw_router_free(r);
}

/* 10,000 routes: each one matches, with its own params; removal prunes. */
static void test_many(void)
{
    enum { N = 10000 };
    gw_router *r = gw_router_new();
    static struct gw_match m;
    char pat[64], path[64];

#ifdef __GLIBC__
    size_t before = mallinfo2().uordblks;
#endif
    for (int i = 0; i < N; i++) {
        snprintf(pat, sizeof(pat), "/svc%d/items/{id}", i);
        CHECK_EQ_INT(gw_router_add(r, "GET", pat, (void *)(uintptr_t)(i + 1), NULL), 0);
        snprintf(pat, sizeof(pat), "/svc%d/*", i);
        CHECK_EQ_INT(
            gw_router_add(r, i % 2 ? "POST" : "*", pat, (void *)(uintptr_t)(N + i + 1), NULL), 0);
    }
    CHECK_EQ_INT(gw_router_count(r), 2 * N);
#ifdef __GLIBC__
    size_t peak = mallinfo2().uordblks;
#endif

    int bad = 0;
    char id[32];
    for (int i = 0; i < N; i++) {
        int idlen = snprintf(id, sizeof(id), "x%d", i);
        int len = snprintf(path, sizeof(path), "/svc%d/items/%s", i, id);
        if (gw_router_match(r, "GET", path, (size_t)len, &m) != GW_MATCH_OK ||
            (uintptr_t)m.value != (uintptr_t)(i + 1) || m.nparams != 1 ||
            m.params[0].name_len != 2 || memcmp(m.params[0].name, "id", 2) != 0 ||
            m.params[0].value_len != (size_t)idlen ||
            memcmp(m.params[0].value, id, (size_t)idlen) != 0)
            bad++;
        len = snprintf(path, sizeof(path), "/svc%d/other", i);
        int rc = gw_router_match(r, "GET", path, (size_t)len, &m);
        if (i % 2 ? rc != GW_MATCH_NO_METHOD || strcmp(m.allow, "POST") != 0
                  : rc != GW_MATCH_OK || (uintptr_t)m.value != (uintptr_t)(N + i + 1))
            bad++;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(match(r, "GET", "/svc10000/items/1", &m), GW_MATCH_NOT_FOUND);
    bad = 0;

    for (int i = 0; i < N; i += 2) {
        snprintf(pat, sizeof(pat), "/svc%d/items/{x}", i);
        if (gw_router_remove(r, "GET", pat) != (void *)(uintptr_t)(i + 1)) bad++;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(gw_router_count(r), 2 * N - N / 2);
    CHECK_EQ_INT(match(r, "GET", "/svc2/items/7", &m), GW_MATCH_OK);
    CHECK_EQ_STR(m.pattern, "/svc2/*");
    CHECK_EQ_INT(match(r, "GET", "/svc3/items/7", &m), GW_MATCH_OK);
    CHECK_EQ_STR(m.pattern, "/svc3/items/{id}");

    for (int i = 0; i < N; i++) {
        snprintf(pat, sizeof(pat), "/svc%d/items/{id}", i);
        gw_router_remove(r, "GET", pat);
        snprintf(pat, sizeof(pat), "/svc%d/*", i);
        gw_router_remove(r, i % 2 ? "POST" : "*", pat);
    }
    CHECK_EQ_INT(gw_router_count(r), 0);
#ifdef __GLIBC__
    /* Every trie node and map was pruned: the heap is back near where it
     * was (tcache keeps a few freed chunks counted as in use; megabytes
     * were allocated above). Trivially true under ASan's allocator. */
    size_t after = mallinfo2().uordblks;
    CHECK(after < before + 256 * 1024);
    CHECK(peak == 0 || peak > before + 2 * 1024 * 1024);
#endif
    gw_router_free(r);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    test_table();
    test_add_get_remove();
    test_root();
    test_long_paths();
    test_foreach();
    test_many();
    return test_finish("router");
}
