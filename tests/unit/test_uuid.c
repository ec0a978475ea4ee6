/* test_uuid.c -- UUIDv4 format, version/variant bits, uniqueness. */
#include <stdbool.h>
#include <stdlib.h>

#include "map.h"
#include "test.h"
#include "uuid.h"

#define UNIQUE_COUNT 10000

/* The output has the canonical shape, lower case, version 4, variant 10. */
static void test_format(void)
{
    for (int i = 0; i < 1000; i++) {
        char u[PC_UUID_LEN + 1];
        memset(u, 'X', sizeof u);
        CHECK_EQ_INT(pc_uuid_v4(u), 0);
        CHECK_EQ_INT(strlen(u), PC_UUID_LEN);
        CHECK(pc_uuid_is_valid(u, PC_UUID_LEN));
        CHECK(u[8] == '-' && u[13] == '-' && u[18] == '-' && u[23] == '-');
        CHECK(u[14] == '4');
        CHECK(u[19] == '8' || u[19] == '9' || u[19] == 'a' || u[19] == 'b');
        for (int k = 0; k < PC_UUID_LEN; k++)
            CHECK(u[k] == '-' || (u[k] >= '0' && u[k] <= '9') || (u[k] >= 'a' && u[k] <= 'f'));
    }
}

/* No repeats among UNIQUE_COUNT ids. */
static void test_unique(void)
{
    pc_map *m = pc_map_new();
    CHECK(m != NULL);
    if (m == NULL) return;
    int dups = 0;
    for (int i = 0; i < UNIQUE_COUNT; i++) {
        char u[PC_UUID_LEN + 1];
        CHECK_EQ_INT(pc_uuid_v4(u), 0);
        if (pc_map_get(m, u, PC_UUID_LEN) != NULL) dups++;
        CHECK_EQ_INT(pc_map_put(m, u, PC_UUID_LEN, m), 0);
    }
    CHECK_EQ_INT(dups, 0);
    CHECK_EQ_INT(pc_map_count(m), UNIQUE_COUNT);
    pc_map_free(m);
}

/* pc_uuid_is_valid: canonical form only, any case, any version. */
static void test_is_valid(void)
{
    static const struct {
        const char *s;
        bool ok;
    } v[] = {
        {"0b7c2f0e-5c1c-4d3f-9a57-3c1f4bb1e2a9", true},
        {"0B7C2F0E-5C1C-4D3F-9A57-3C1F4BB1E2A9", true},
        {"00000000-0000-0000-0000-000000000000", true},
        {"0b7c2f0e-5c1c-1d3f-9a57-3c1f4bb1e2a9", true}, /* version 1 */
        {"0b7c2f0e5c1c4d3f9a573c1f4bb1e2a9", false},    /* no dashes */
        {"{0b7c2f0e-5c1c-4d3f-9a57-3c1f4bb1e2a9}", false},
        {"0b7c2f0e-5c1c-4d3f-9a57-3c1f4bb1e2a", false},   /* short */
        {"0b7c2f0e-5c1c-4d3f-9a57-3c1f4bb1e2a99", false}, /* long */
        {"0b7c2f0g-5c1c-4d3f-9a57-3c1f4bb1e2a9", false},  /* 'g' */
        {"0b7c2f0e-5c1c-4d3f-9a5-73c1f4bb1e2a9", false},  /* dash moved */
        {"0b7c2f0e_5c1c-4d3f-9a57-3c1f4bb1e2a9", false},
        {" b7c2f0e-5c1c-4d3f-9a57-3c1f4bb1e2a9", false},
        {"", false},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        CHECK(pc_uuid_is_valid(v[i].s, strlen(v[i].s)) == v[i].ok);
    CHECK(!pc_uuid_is_valid("0b7c2f0e-5c1c-4d3f-9a57-3c1f4bb1e2a\0", 36));
    CHECK(!pc_uuid_is_valid(NULL, 0));
}

/* pc_random_bytes: small and large requests, and not all zero. */
static void test_random_bytes(void)
{
    unsigned char small[7] = {0}, big[10000] = {0};
    CHECK_EQ_INT(pc_random_bytes(small, sizeof small), 0);
    CHECK_EQ_INT(pc_random_bytes(big, sizeof big), 0);
    CHECK_EQ_INT(pc_random_bytes(NULL, 0), 0);
    int zeros = 0;
    for (size_t i = 0; i < sizeof big; i++) zeros += big[i] == 0;
    CHECK(zeros < 200); /* about 39 expected */
    /* Draw across many pool refills. */
    for (int i = 0; i < 2000; i++) CHECK_EQ_INT(pc_random_bytes(small, sizeof small), 0);
}

int main(void)
{
    test_format();
    test_unique();
    test_is_valid();
    test_random_bytes();
    return test_finish("uuid");
}
