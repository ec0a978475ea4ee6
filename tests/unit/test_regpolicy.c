/* test_regpolicy.c -- the gateway's registration policy: secrets per service
 * and the route allow-list (regpolicy.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "redisurl.h"
#include "regpolicy.h"
#include "sign.h"
#include "test.h"

static char tmpfiles[64][64];
static int ntmp;

/* Writes n bytes to a new temporary file; returns its path. */
static const char *write_tmp(const char *text, size_t n)
{
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    if (ntmp == (int)(sizeof tmpfiles / sizeof tmpfiles[0])) abort();
    char *path = tmpfiles[ntmp++];
    snprintf(path, sizeof tmpfiles[0], "%s/portico-regpolicy-XXXXXX", dir);
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0) return "/nonexistent";
    CHECK_EQ_INT(write(fd, text, n), (long long)n);
    close(fd);
    return path;
}

static const char *write_str(const char *text) { return write_tmp(text, strlen(text)); }

/* ---------------------------------------------------------------- policy */

static void test_policy(void)
{
    struct gw_regpolicy *p;
    char err[512];
    const void *key;
    size_t keylen;

    CHECK_EQ_INT(gw_regpolicy_load(&p, NULL, "", NULL, err, sizeof err), 0);
    CHECK(p == NULL);
    CHECK(!gw_regpolicy_wants_signature(NULL));
    CHECK(gw_regpolicy_route_allowed(NULL, "x", "/anything"));

    /* Global secret plus per-service secrets: a named service only with its
     * own key, others with the global one. */
    const char *g = write_str("global\n");
    const char *ps = write_str("{\"users\":\" u-key \",\"orders\":\"o-key\"}");
    CHECK_EQ_INT(gw_regpolicy_load(&p, g, ps, NULL, err, sizeof err), 0);
    CHECK(gw_regpolicy_wants_signature(p));
    CHECK_EQ_INT(gw_regpolicy_key(p, "users", 5, &key, &keylen), 0);
    CHECK_EQ_MEM(key, keylen, "u-key", (size_t)5);
    CHECK_EQ_INT(gw_regpolicy_key(p, "orders", 6, &key, &keylen), 0);
    CHECK_EQ_MEM(key, keylen, "o-key", (size_t)5);
    CHECK_EQ_INT(gw_regpolicy_key(p, "other", 5, &key, &keylen), 0);
    CHECK_EQ_MEM(key, keylen, "global", (size_t)6);
    CHECK(gw_regpolicy_route_allowed(p, "other", "/x")); /* no allow-list */
    gw_regpolicy_free(p);

    /* Per-service secrets alone: unknown services have no key. */
    CHECK_EQ_INT(gw_regpolicy_load(&p, NULL, ps, NULL, err, sizeof err), 0);
    CHECK(gw_regpolicy_wants_signature(p));
    CHECK_EQ_INT(gw_regpolicy_key(p, "users", 5, &key, &keylen), 0);
    CHECK_EQ_INT(gw_regpolicy_key(p, "other", 5, &key, &keylen), -1);
    gw_regpolicy_free(p);

    /* Allow-list alone: no signatures wanted. */
    const char *al = write_str("{\"users\":[\"/users\",\"/accounts/\"],\"root\":[\"/\"],"
                               "\"none\":[]}");
    CHECK_EQ_INT(gw_regpolicy_load(&p, "", "", al, err, sizeof err), 0);
    CHECK(!gw_regpolicy_wants_signature(p));
    CHECK(gw_regpolicy_route_allowed(p, "users", "/users"));
    CHECK(gw_regpolicy_route_allowed(p, "users", "/users/{id}"));
    CHECK(gw_regpolicy_route_allowed(p, "users", "/users/*"));
    CHECK(gw_regpolicy_route_allowed(p, "users", "/accounts"));
    CHECK(gw_regpolicy_route_allowed(p, "users", "/accounts/{a}/x"));
    CHECK(!gw_regpolicy_route_allowed(p, "users", "/usersx"));
    CHECK(!gw_regpolicy_route_allowed(p, "users", "/user"));
    CHECK(!gw_regpolicy_route_allowed(p, "users", "/"));
    CHECK(!gw_regpolicy_route_allowed(p, "users", "/*"));
    CHECK(!gw_regpolicy_route_allowed(p, "users", "/{x}/users"));
    CHECK(!gw_regpolicy_route_allowed(p, "users", "/accountsx/1"));
    CHECK(gw_regpolicy_route_allowed(p, "root", "/anything/at/all"));
    CHECK(gw_regpolicy_route_allowed(p, "root", "/"));
    CHECK(!gw_regpolicy_route_allowed(p, "none", "/x"));
    CHECK(!gw_regpolicy_route_allowed(p, "unlisted", "/users"));
    gw_regpolicy_free(p);

    /* Whole segments (path.h): "/api" covers "/api" and "/api/x", never "/apix". */
    CHECK_EQ_INT(
        gw_regpolicy_load(&p, NULL, NULL, write_str("{\"api\":[\"/api\"]}"), err, sizeof err), 0);
    CHECK(gw_regpolicy_route_allowed(p, "api", "/api"));
    CHECK(gw_regpolicy_route_allowed(p, "api", "/api/x"));
    CHECK(gw_regpolicy_route_allowed(p, "api", "/api/{id}/*"));
    CHECK(!gw_regpolicy_route_allowed(p, "api", "/apix"));
    CHECK(!gw_regpolicy_route_allowed(p, "api", "/apix/y"));
    gw_regpolicy_free(p);

    /* Bad files: one line naming the file. */
    static const struct {
        const char *secrets, *allow, *want;
    } bad[] = {
        {"[]", NULL, "not a JSON object"},
        {"{\"users\":", NULL, "line 1"},
        {"{\"Users\":\"x\"}", NULL, "not a service name"},
        {"{\"users\":1}", NULL, "must be a string"},
        {"{\"users\":\"  \"}", NULL, "empty"},
        {"{\"a\":\"x\",\"a\":\"y\"}", NULL, "duplicate"},
        {NULL, "{\"users\":\"/users\"}", "must be an array"},
        {NULL, "{\"users\":[\"users\"]}", "not a path prefix"},
        {NULL, "{\"users\":[\"/u/{id}\"]}", "not a path prefix"},
        {NULL, "{\"users\":[\"/u/*\"]}", "not a path prefix"},
        {NULL, "{\"users\":[\"//u\"]}", "not a path prefix"},
        {NULL, "{\"users\":[3]}", "not a path prefix"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *sf = bad[i].secrets ? write_str(bad[i].secrets) : NULL;
        const char *af = bad[i].allow ? write_str(bad[i].allow) : NULL;
        err[0] = '\0';
        CHECK_EQ_INT(gw_regpolicy_load(&p, NULL, sf, af, err, sizeof err), -1);
        CHECK(p == NULL);
        CHECK(strstr(err, bad[i].want) != NULL && strchr(err, '\n') == NULL);
        CHECK(strstr(err, sf ? sf : af) != NULL);
        if (strstr(err, bad[i].want) == NULL) fprintf(stderr, "  err: %s\n", err);
    }
    CHECK_EQ_INT(gw_regpolicy_load(&p, write_str("\n"), NULL, NULL, err, sizeof err), -1);
    CHECK(strstr(err, "empty") != NULL);
    CHECK_EQ_INT(gw_regpolicy_load(&p, "/nonexistent/s", NULL, NULL, err, sizeof err), -1);
    CHECK(strstr(err, "/nonexistent/s") != NULL);
}

/* The start-up warning's decision: unsigned registration, Redis not on
 * loopback nor a unix socket. */
static void test_exposed(void)
{
    static const struct {
        const char *url;
        bool exposed;
    } cases[] = {
        {"redis://127.0.0.1:6379", false},
        {"redis://127.0.0.2:6379", false}, /* 127.0.0.0/8 is loopback */
        {"redis://127.255.255.254", false},
        {"redis://localhost:6379", false},
        {"redis://[::1]:6379", false},
        {"redis://[::ffff:127.0.0.1]:6379", false},
        {"unix:///run/redis/redis.sock", false},
        {"redis://10.0.0.5:6379", true},
        {"redis://128.0.0.1:6379", true},
        {"redis://126.255.255.255:6379", true},
        {"redis://0.0.0.0:6379", true},
        {"redis://[::]:6379", true},
        {"redis://[::2]:6379", true},
        {"redis://[::ffff:10.0.0.1]:6379", true},
        {"redis://redis.internal:6379", true}, /* names are not resolved */
        {"redis://localhost.example:6379", true},
        {"redis://user:pw@192.168.1.9:6379/2", true}, /* a password is not a signature */
    };
    struct gw_regpolicy *p = NULL;
    char err[512];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct pc_redis_addr a;
        CHECK_EQ_INT(pc_redis_url_parse(cases[i].url, &a, err, sizeof err), 0);
        CHECK(gw_regpolicy_unsigned_exposed(NULL, &a) == cases[i].exposed);
        if (gw_regpolicy_unsigned_exposed(NULL, &a) != cases[i].exposed)
            fprintf(stderr, "  url: %s\n", cases[i].url);
    }
    /* signed registration: never exposed; an allow-list alone is not a signature */
    struct pc_redis_addr far;
    CHECK_EQ_INT(pc_redis_url_parse("redis://10.0.0.5:6379", &far, err, sizeof err), 0);
    CHECK_EQ_INT(gw_regpolicy_load(&p, write_str("k3y\n"), NULL, NULL, err, sizeof err), 0);
    CHECK(!gw_regpolicy_unsigned_exposed(p, &far));
    gw_regpolicy_free(p);
    CHECK_EQ_INT(gw_regpolicy_load(&p, NULL, write_str("{\"users\":\"k\"}"), NULL, err, sizeof err),
                 0);
    CHECK(!gw_regpolicy_unsigned_exposed(p, &far));
    gw_regpolicy_free(p);
    CHECK_EQ_INT(
        gw_regpolicy_load(&p, NULL, NULL, write_str("{\"users\":[\"/users\"]}"), err, sizeof err),
        0);
    CHECK(gw_regpolicy_unsigned_exposed(p, &far));
    gw_regpolicy_free(p);
}

/* Which new routes would take requests from an existing one. */
static void test_shadows(void)
{
    static const struct {
        const char *nm, *np, *om, *op;
        bool shadows;
    } cases[] = {
        {"GET", "/users/admin", "GET", "/users/{id}", true},
        {"GET", "/users/admin", "*", "/users/{id}", true},
        {"*", "/users/admin", "GET", "/users/{id}", true},
        {"HEAD", "/users/admin", "GET", "/users/{id}", true}, /* GET serves HEAD */
        {"GET", "/users/admin", "HEAD", "/users/{id}", true},
        {"POST", "/users/admin", "GET", "/users/{id}", false}, /* no common method */
        {"GET", "/users/{id}", "GET", "/users/admin", false},  /* less specific */
        {"GET", "/users/{id}/x", "GET", "/users/*", true},
        {"GET", "/users", "GET", "/users/*", true}, /* "/users" matches "/users/" "*" */
        {"GET", "/users/*", "GET", "/users", false},
        {"GET", "/users/{id}", "GET", "/users/*", true},
        {"GET", "/users/a/b/c", "GET", "/users/*", true},
        {"GET", "/", "GET", "/*", true},
        {"GET", "/x", "GET", "/*", true},
        {"GET", "/users/admin/x", "GET", "/users/{id}", false}, /* lengths differ */
        {"GET", "/users/admin/x", "GET", "/users/{id}/y", false},
        {"GET", "/users/admin/x", "GET", "/users/{id}/{z}", true},
        {"GET", "/users/admin/x", "GET", "/users/{id}/*", true},
        {"GET", "/users/admin/{p}", "GET", "/users/{id}/y", true}, /* /users/admin/y */
        {"GET", "/users/admin/*", "GET", "/users/{id}/y", true},
        {"GET", "/users/{a}/x", "GET", "/users/{b}/{c}", true},
        {"GET", "/users/{a}/x", "GET", "/users/{b}/x", false}, /* the same pattern, same method */
        {"GET", "/orders/1", "GET", "/users/{id}", false},
        {"GET", "/usersx", "GET", "/users", false},
        {"GET", "/users/{id}", "*", "/users/{uid}", true}, /* an exact method beats "*" */
        {"HEAD", "/users/{id}", "GET", "/users/{uid}", true},
        {"*", "/users/{id}", "GET", "/users/{uid}", false},
        {"POST", "/users/{id}", "GET", "/users/{uid}", false},
        {"GET", "/users/{id}", "HEAD", "/users/{uid}", false},
    };
    struct gw_regpolicy *p = NULL;
    char err[512];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool got = gw_route_shadows(cases[i].nm, cases[i].np, cases[i].om, cases[i].op);
        CHECK(got == cases[i].shadows);
        if (got != cases[i].shadows)
            fprintf(stderr, "  %s %s over %s %s: %d\n", cases[i].nm, cases[i].np, cases[i].om,
                    cases[i].op, (int)got);
    }
    CHECK(!gw_regpolicy_refuses_shadowing(NULL));
    CHECK_EQ_INT(gw_regpolicy_load(&p, write_str("k3y\n"), NULL, NULL, err, sizeof err), 0);
    CHECK(!gw_regpolicy_refuses_shadowing(p)); /* a global secret names no one */
    gw_regpolicy_free(p);
    CHECK_EQ_INT(gw_regpolicy_load(&p, NULL, write_str("{\"a\":\"k1\",\"b\":\"k2\"}"),
                                   write_str("{\"b\":[\"/users/admin\",\"/\"],\"c\":[\"/users\"]}"),
                                   err, sizeof err),
                 0);
    CHECK(gw_regpolicy_refuses_shadowing(p));
    CHECK(gw_regpolicy_shadow_granted(p, "b", "/users/admin", "/users/{id}"));
    CHECK(gw_regpolicy_shadow_granted(p, "b", "/users/admin/{x}", "/users/*"));
    CHECK(!gw_regpolicy_shadow_granted(p, "b", "/users/me", "/users/{id}")); /* only "/" covers */
    CHECK(!gw_regpolicy_shadow_granted(p, "c", "/users/me", "/users/{id}")); /* covers both */
    CHECK(!gw_regpolicy_shadow_granted(p, "a", "/users/me", "/users/{id}")); /* not named */
    gw_regpolicy_free(p);
}

int main(void)
{
    test_policy();
    test_exposed();
    test_shadows();
    for (int i = 0; i < ntmp; i++) unlink(tmpfiles[i]);
    return test_finish("test_regpolicy");
}
