/* test_sdk_json.c -- pt_json_write (portico_reply_json's writer) writes the
 * very bytes json_dumps(JSON_COMPACT | JSON_ENCODE_ANY) writes (but for the
 * case of \u escapes' hex digits: the wire writer's are lower-case), and
 * refuses trees nested past the limit. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "internal.h"

/* Writes v both ways and compares; v is stolen. */
static void same_as_jansson(json_t *v, const char *what)
{
    pc_buf b;
    char *want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

    pc_buf_init(&b);
    CHECK(want != NULL);
    for (char *u = want; u != NULL && (u = strstr(u, "\\u")) != NULL; u += 2)
        for (int i = 2; i < 6 && u[i] != '\0'; i++) u[i] = (char)tolower((unsigned char)u[i]);
    CHECK(pt_json_write(&b, v, 0));
    CHECK(!b.oom);
    if (want != NULL && (b.len != strlen(want) || memcmp(b.data, want, b.len) != 0)) {
        test_failures++;
        fprintf(stderr, "%s: got %.*s, jansson writes %s\n", what, (int)b.len, b.data ? b.data : "",
                want);
    }
    free(want);
    pc_buf_deinit(&b);
    json_decref(v);
}

static void test_scalars(void)
{
    static const double reals[] = {0.0,    -0.0,
                                   1.0,    -1.5,
                                   0.1,    1.0 / 3,
                                   1e300,  -1e-300,
                                   1e-5,   123456789012345680.0,
                                   5e-324, 1.7976931348623157e308,
                                   100.0,  1e21,
                                   2.5e-7};
    same_as_jansson(json_null(), "null");
    same_as_jansson(json_true(), "true");
    same_as_jansson(json_false(), "false");
    same_as_jansson(json_integer(0), "0");
    same_as_jansson(json_integer(-42), "-42");
    same_as_jansson(json_integer(INT64_MAX), "int64 max");
    same_as_jansson(json_integer(INT64_MIN), "int64 min");
    for (size_t i = 0; i < sizeof reals / sizeof reals[0]; i++) {
        char what[64];
        snprintf(what, sizeof what, "real %.17g", reals[i]);
        same_as_jansson(json_real(reals[i]), what);
    }
    same_as_jansson(json_string(""), "empty string");
    same_as_jansson(json_string("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 / </script>"),
                    "UTF-8 and slashes");
    same_as_jansson(json_stringn("q\"b\\n\n\r\t\b\f\x01\x1f\x7f\0x", 16), "escapes and NUL");
}

static void test_containers(void)
{
    same_as_jansson(json_object(), "{}");
    same_as_jansson(json_array(), "[]");
    same_as_jansson(json_pack("{s:s, s:i, s:[s, f, n, b], s:{s:{}}, s:[]}", "name", "ann", "age",
                              42, "list", "x", 2.5, 1, "nested", "deep", "empty"),
                    "mixed tree");
    json_t *o = json_object();
    json_object_setn_new(o, "a\0b", 3, json_integer(1)); /* a key with a NUL */
    json_object_set_new(o, "k\"ey\n", json_string("v"));
    for (int i = 0; i < 50; i++) {
        char k[16];
        snprintf(k, sizeof k, "key%d", i);
        json_object_set_new(o, k, json_integer(i));
    }
    same_as_jansson(o, "object keys in insertion order");
}

static void test_depth(void)
{
    json_t *top = json_array(), *a = top;
    pc_buf b;

    for (int i = 0; i < PT_JSON_MAX_DEPTH; i++) {
        json_t *next = json_array();
        json_array_append_new(a, next);
        a = next;
    }
    pc_buf_init(&b);
    CHECK(pt_json_write(&b, top, 0)); /* 1001 arrays: depth 0..1000 */
    CHECK(b.len == 2 * (PT_JSON_MAX_DEPTH + 1));
    json_array_append_new(a, json_array()); /* one more level */
    pc_buf_reset(&b);
    CHECK(!pt_json_write(&b, top, 0));
    pc_buf_deinit(&b);
    json_decref(top);
}

int main(void)
{
    test_scalars();
    test_containers();
    test_depth();
    return test_finish("test_sdk_json");
}
