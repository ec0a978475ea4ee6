/* test_map.c -- put/get/del, growth, iteration with deletion, binary keys. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "map.h"
#include "test.h"

#define MANY 100000

/* A distinct non-NULL pointer value for an integer. */
static void *tag(size_t i) { return (void *)(uintptr_t)(i + 1); }

/* Basic put, get, replace, delete. */
static void test_basic(void)
{
    pc_map *m = pc_map_new();
    CHECK(m != NULL);
    int a, b;
    CHECK_EQ_INT(pc_map_count(m), 0);
    CHECK(pc_map_get(m, "x", 1) == NULL);
    CHECK(pc_map_del(m, "x", 1) == NULL);

    CHECK_EQ_INT(pc_map_put(m, "x", 1, &a), 0);
    CHECK(pc_map_get(m, "x", 1) == &a);
    CHECK(pc_map_get(m, "xy", 2) == NULL);
    CHECK(pc_map_get(m, "", 0) == NULL);
    CHECK_EQ_INT(pc_map_count(m), 1);

    CHECK_EQ_INT(pc_map_put(m, "x", 1, &b), 0); /* replace */
    CHECK(pc_map_get(m, "x", 1) == &b);
    CHECK_EQ_INT(pc_map_count(m), 1);

    CHECK_EQ_INT(pc_map_put(m, "", 0, &a), 0); /* the empty key */
    CHECK(pc_map_get(m, "", 0) == &a);
    CHECK_EQ_INT(pc_map_count(m), 2);

    CHECK(pc_map_del(m, "x", 1) == &b);
    CHECK(pc_map_get(m, "x", 1) == NULL);
    CHECK(pc_map_del(m, "x", 1) == NULL);
    CHECK_EQ_INT(pc_map_count(m), 1);

    /* Re-insert after delete reuses the tombstone. */
    CHECK_EQ_INT(pc_map_put(m, "x", 1, &a), 0);
    CHECK(pc_map_get(m, "x", 1) == &a);
    CHECK_EQ_INT(pc_map_count(m), 2);

    /* NULL values are storable (get cannot tell them from absence). */
    CHECK_EQ_INT(pc_map_put(m, "n", 1, NULL), 0);
    CHECK_EQ_INT(pc_map_count(m), 3);
    pc_map_free(m);
    pc_map_free(NULL);
}

/* Keys are copied and may contain NUL; a returned key is NUL-terminated. */
static void test_binary_keys(void)
{
    pc_map *m = pc_map_new();
    char k1[] = {'a', '\0', 'b'};
    char k2[] = {'a', '\0', 'c'};
    char k3[] = {'a'};
    char buf[3];
    int v1, v2, v3;

    memcpy(buf, k1, 3);
    CHECK_EQ_INT(pc_map_put(m, buf, 3, &v1), 0);
    memset(buf, 'z', sizeof buf); /* the map kept its own copy */
    CHECK_EQ_INT(pc_map_put(m, k2, 3, &v2), 0);
    CHECK_EQ_INT(pc_map_put(m, k3, 1, &v3), 0);
    CHECK(pc_map_get(m, k1, 3) == &v1);
    CHECK(pc_map_get(m, k2, 3) == &v2);
    CHECK(pc_map_get(m, k3, 1) == &v3);
    CHECK(pc_map_get(m, "a", 2) == NULL); /* "a\0" is yet another key */
    CHECK_EQ_INT(pc_map_count(m), 3);

    size_t pos = 0, klen;
    const char *key;
    void *val;
    int seen = 0;
    while (pc_map_next(m, &pos, &key, &klen, &val)) {
        seen++;
        CHECK_EQ_INT(key[klen], '\0');
        if (val == &v1)
            CHECK_EQ_MEM(key, klen, k1, 3);
        else if (val == &v2)
            CHECK_EQ_MEM(key, klen, k2, 3);
        else
            CHECK_EQ_MEM(key, klen, k3, 1);
    }
    CHECK_EQ_INT(seen, 3);
    pc_map_free(m);
}

/* MANY keys: growth keeps everything; deleting half leaves the rest. */
static void test_many(void)
{
    pc_map *m = pc_map_new();
    char key[32];
    for (size_t i = 0; i < MANY; i++) {
        int n = snprintf(key, sizeof key, "key-%zu", i);
        CHECK_EQ_INT(pc_map_put(m, key, (size_t)n, tag(i)), 0);
    }
    CHECK_EQ_INT(pc_map_count(m), MANY);
    size_t bad = 0;
    for (size_t i = 0; i < MANY; i++) {
        int n = snprintf(key, sizeof key, "key-%zu", i);
        bad += pc_map_get(m, key, (size_t)n) != tag(i);
    }
    CHECK_EQ_INT(bad, 0);
    CHECK(pc_map_get(m, "key-100000", 10) == NULL);

    for (size_t i = 0; i < MANY; i += 2) {
        int n = snprintf(key, sizeof key, "key-%zu", i);
        bad += pc_map_del(m, key, (size_t)n) != tag(i);
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(pc_map_count(m), MANY / 2);
    for (size_t i = 0; i < MANY; i++) {
        int n = snprintf(key, sizeof key, "key-%zu", i);
        bad += pc_map_get(m, key, (size_t)n) != (i % 2 ? tag(i) : NULL);
    }
    CHECK_EQ_INT(bad, 0);
    pc_map_free(m);
}

/* Churn: insert/delete cycles keep a small live set but leave many
 * tombstones; lookups must still terminate and be right. */
static void test_churn(void)
{
    pc_map *m = pc_map_new();
    char key[32];
    size_t bad = 0;
    for (size_t i = 0; i < 50000; i++) {
        int n = snprintf(key, sizeof key, "c%zu", i);
        CHECK_EQ_INT(pc_map_put(m, key, (size_t)n, tag(i)), 0);
        if (i >= 8) {
            n = snprintf(key, sizeof key, "c%zu", i - 8);
            bad += pc_map_del(m, key, (size_t)n) != tag(i - 8);
        }
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(pc_map_count(m), 8);
    CHECK(pc_map_get(m, "c49999", 6) == tag(49999));
    CHECK(pc_map_get(m, "c0", 2) == NULL);
    pc_map_free(m);
}

/* Deleting the entry the iteration stands on is allowed: every entry is
 * still visited exactly once. */
static void test_iterate_delete(void)
{
    enum { N = 5000 };
    pc_map *m = pc_map_new();
    static unsigned char seen[N];
    char key[32];
    for (size_t i = 0; i < N; i++) {
        int n = snprintf(key, sizeof key, "it%zu", i);
        CHECK_EQ_INT(pc_map_put(m, key, (size_t)n, tag(i)), 0);
    }

    size_t pos = 0, klen, visited = 0;
    const char *k;
    void *val;
    while (pc_map_next(m, &pos, &k, &klen, &val)) {
        size_t i = (size_t)(uintptr_t)val - 1;
        CHECK(i < N);
        if (i >= N) break;
        seen[i]++;
        visited++;
        if (i % 3 != 0) CHECK(pc_map_del(m, k, klen) == val);
    }
    CHECK_EQ_INT(visited, N);
    size_t once = 0;
    for (size_t i = 0; i < N; i++) once += seen[i] == 1;
    CHECK_EQ_INT(once, N);
    CHECK_EQ_INT(pc_map_count(m), (N + 2) / 3);

    /* A second pass sees exactly the survivors; iterating with NULL outs
     * is allowed. */
    pos = 0;
    visited = 0;
    while (pc_map_next(m, &pos, NULL, NULL, &val)) {
        CHECK(((size_t)(uintptr_t)val - 1) % 3 == 0);
        visited++;
    }
    CHECK_EQ_INT(visited, (N + 2) / 3);
    CHECK(!pc_map_next(m, &pos, NULL, NULL, NULL)); /* stays at the end */

    /* Delete everything while iterating. */
    pos = 0;
    while (pc_map_next(m, &pos, &k, &klen, &val)) pc_map_del(m, k, klen);
    CHECK_EQ_INT(pc_map_count(m), 0);
    pc_map_free(m);
}

int main(void)
{
    test_basic();
    test_binary_keys();
    test_many();
    test_churn();
    test_iterate_delete();
    return test_finish("map");
}
