/* Route matching on the SDK side (match.c): the rules of SPEC §3. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "path.h"
#include "test.h"

static const struct pc_route_decl routes[] = {
    {"GET", "/users", false, false},        /* 0 */
    {"POST", "/users", false, false},       /* 1 */
    {"GET", "/users/{id}", false, false},   /* 2 */
    {"GET", "/users/me", false, false},     /* 3 */
    {"*", "/files/*", false, false},        /* 4 */
    {"GET", "/files/{name}", false, false}, /* 5 */
    {"GET", "/", false, false},             /* 6 */
    {"PUT", "/a/{x}/c", false, false},      /* 7 */
    {"GET", "/a/b/{y}", false, false},      /* 8 */
    {"HEAD", "/h", false, false},           /* 9 */
    {"GET", "/h", false, false},            /* 10 */
    {"GET", "/g", false, false},            /* 11 */
};
#define N (sizeof routes / sizeof routes[0])

static int match(const char *method, const char *path, size_t *best, json_t *params)
{
    return pt_route_match(routes, N, method, path, strlen(path), best, params);
}

static void expect(const char *method, const char *path, long want, const char *pname,
                   const char *pval)
{
    size_t best = 99;
    json_t *params = json_object();
    int rc = match(method, path, &best, params);

    if (want < 0) {
        CHECK_EQ_INT(rc, want);
    } else {
        CHECK_EQ_INT(rc, PT_MATCH_OK);
        CHECK_EQ_INT(best, want);
        if (pname != NULL) CHECK_EQ_STR(json_string_value(json_object_get(params, pname)), pval);
    }
    if (rc != (want < 0 ? want : PT_MATCH_OK) || (want >= 0 && (long)best != want))
        fprintf(stderr, "  for %s %s\n", method, path);
    json_decref(params);
}

/* Where the SDK used to drift from the gateway's router: it now refuses
 * what the router answers with 400 and has no limit of its own. */
static void test_agrees_with_router(void)
{
    static char path[PC_PATH_MAX + 2];
    size_t best = 99;
    json_t *params;

    /* a decoded or raw NUL: 400, not a param value */
    expect("GET", "/users/%00", PT_MATCH_BAD_PATH, NULL, NULL);
    expect("GET", "/users/a%00b", PT_MATCH_BAD_PATH, NULL, NULL);
    expect("GET", "/files/x%00", PT_MATCH_BAD_PATH, NULL, NULL);
    CHECK_EQ_INT(pt_route_match(routes, N, "GET", "/users/a\0b", 10, &best, NULL),
                 PT_MATCH_BAD_PATH);
    /* invalid UTF-8 after decoding: overlong, surrogate, stray bytes */
    expect("GET", "/users/%FF", PT_MATCH_BAD_PATH, NULL, NULL);
    expect("GET", "/users/%C0%AF", PT_MATCH_BAD_PATH, NULL, NULL);
    expect("GET", "/users/%C0%AE%C0%AE", PT_MATCH_BAD_PATH, NULL, NULL);
    expect("GET", "/files/%ED%A0%80", PT_MATCH_BAD_PATH, NULL, NULL);
    expect("GET", "/files/a/\xc3", PT_MATCH_BAD_PATH, NULL, NULL);
    expect("GET", "/users/caf%C3%A9", 2, "id", "caf\xc3\xa9");
    expect("GET", "/users/%2E", PT_MATCH_BAD_PATH, NULL, NULL);
    expect("GET", "/%", PT_MATCH_BAD_PATH, NULL, NULL);

    /* 8,190 segments under /files/ *: the router's limit is bytes, not segments */
    memcpy(path, "/files", 6);
    for (size_t i = 6; i < PC_PATH_MAX; i += 2) memcpy(path + i, "/a", 2);
    params = json_object();
    CHECK_EQ_INT(pt_route_match(routes, N, "GET", path, PC_PATH_MAX, &best, params), PT_MATCH_OK);
    CHECK_EQ_INT(best, 4);
    CHECK_EQ_INT(json_string_length(json_object_get(params, "*")), PC_PATH_MAX - 7);
    CHECK(memcmp(json_string_value(json_object_get(params, "*")), path + 7, PC_PATH_MAX - 7) == 0);
    json_decref(params);
    /* 300 segments that match nothing: 404, as at the gateway */
    path[6 + 600] = '\0';
    memcpy(path, "/nope!", 6);
    expect("GET", path, PT_MATCH_NOT_FOUND, NULL, NULL);
    /* one byte over 16 KiB: 400 */
    memcpy(path, "/files", 6);
    path[PC_PATH_MAX] = 'a';
    CHECK_EQ_INT(pt_route_match(routes, N, "GET", path, PC_PATH_MAX + 1, &best, NULL),
                 PT_MATCH_BAD_PATH);

    /* the first announcement of a pattern names its params */
    {
        static const struct pc_route_decl two[] = {{"GET", "/v/{a}", false, false},
                                                   {"POST", "/v/{b}", false, false}};
        params = json_object();
        CHECK_EQ_INT(pt_route_match(two, 2, "POST", "/v/1", 4, &best, params), PT_MATCH_OK);
        CHECK_EQ_INT(best, 1);
        CHECK_EQ_STR(json_string_value(json_object_get(params, "a")), "1");
        CHECK(json_object_get(params, "b") == NULL);
        json_decref(params);
    }
}

int main(void)
{
    test_agrees_with_router();

    expect("GET", "/users", 0, NULL, NULL);
    expect("POST", "/users", 1, NULL, NULL);
    expect("DELETE", "/users", PT_MATCH_NO_METHOD, NULL, NULL);
    expect("GET", "/users/42", 2, "id", "42");
    expect("GET", "/users/me", 3, NULL, NULL);                /* literal beats param */
    expect("GET", "/users/a%2Fb", 2, "id", "a/b");            /* %2F does not split */
    expect("GET", "/users/", PT_MATCH_NOT_FOUND, NULL, NULL); /* {id} never empty */
    expect("GET", "/files", 4, "*", "");                      /* * may be empty */
    expect("GET", "/files/x", 5, "name", "x");                /* param beats * */
    expect("POST", "/files/x", 4, "*", "x");                  /* method falls back to * route */
    expect("GET", "/files/x/y", 4, "*", "x/y");
    expect("GET", "/", 6, NULL, NULL);
    expect("GET", "/a/b/c", 8, "y", "c"); /* literal b first */
    expect("PUT", "/a/b/c", 7, "x", "b"); /* backtracks to {x} */
    expect("HEAD", "/h", 9, NULL, NULL);  /* exact HEAD */
    expect("HEAD", "/g", 11, NULL, NULL); /* HEAD served by GET */
    expect("GET", "/users/../x", PT_MATCH_BAD_PATH, NULL, NULL);
    expect("GET", "/users/%2e%2e", PT_MATCH_BAD_PATH, NULL, NULL);
    expect("GET", "/users/%zz", PT_MATCH_BAD_PATH, NULL, NULL);
    expect("GET", "users", PT_MATCH_BAD_PATH, NULL, NULL);
    expect("GET", "/nope", PT_MATCH_NOT_FOUND, NULL, NULL);

    CHECK(pt_pattern_equal("/u/{id}", "/u/{uid}"));
    CHECK(pt_pattern_equal("/", "/"));
    CHECK(!pt_pattern_equal("/u/{id}", "/u/me"));
    CHECK(!pt_pattern_equal("/u/*", "/u/{x}"));
    CHECK(!pt_pattern_equal("/u", "/u/{x}"));
    CHECK(!pt_pattern_equal("/u/", "/u"));
    CHECK(!pt_pattern_equal("/", ""));

    CHECK_EQ_INT(pt_route_find(routes, N, "GET", "/users/{uid}"), 2);
    CHECK_EQ_INT(pt_route_find(routes, N, "HEAD", "/users/{id}"), 2);
    CHECK_EQ_INT(pt_route_find(routes, N, "PATCH", "/files/*"), 4);
    CHECK_EQ_INT(pt_route_find(routes, N, "DELETE", "/users/{id}"), -1);
    CHECK_EQ_INT(pt_route_find(routes, N, "GET", "/nope"), -1);

    CHECK_EQ_INT(pc_method_rank("GET", "GET"), 0);
    CHECK_EQ_INT(pc_method_rank("GET", "HEAD"), 1);
    CHECK_EQ_INT(pc_method_rank("*", "PATCH"), 2);
    CHECK_EQ_INT(pc_method_rank("POST", "GET"), -1);

    CHECK(pt_topic_is_valid("order.placed"));
    CHECK(pt_topic_is_valid("A-b_c.9"));
    CHECK(!pt_topic_is_valid(""));
    CHECK(!pt_topic_is_valid("a b"));
    CHECK(!pt_topic_is_valid("a:b"));
    CHECK(!pt_topic_is_valid("a*"));
    {
        char long_topic[200];
        memset(long_topic, 'a', sizeof long_topic - 1);
        long_topic[sizeof long_topic - 1] = '\0';
        CHECK(!pt_topic_is_valid(long_topic));
        long_topic[128] = '\0';
        CHECK(pt_topic_is_valid(long_topic));
    }
    return test_finish("sdk-match");
}
