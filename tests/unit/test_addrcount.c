/* test_addrcount.c -- open connections per client address (addrcount.h):
 * keys, the cap, release to nothing, many addresses. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "addrcount.h"
#include "test.h"

static struct gw_addrkey v4(const char *ip)
{
    struct sockaddr_in s = {0};
    struct gw_addrkey k;
    s.sin_family = AF_INET;
    s.sin_port = htons(1234);
    inet_pton(AF_INET, ip, &s.sin_addr);
    gw_addrkey_of((const struct sockaddr *)&s, &k);
    return k;
}

static struct gw_addrkey v6(const char *ip, unsigned short port)
{
    struct sockaddr_in6 s = {0};
    struct gw_addrkey k;
    s.sin6_family = AF_INET6;
    s.sin6_port = htons(port);
    inet_pton(AF_INET6, ip, &s.sin6_addr);
    gw_addrkey_of((const struct sockaddr *)&s, &k);
    return k;
}

static void test_keys(void)
{
    struct gw_addrkey a = v4("10.0.0.1"), m = v6("::ffff:10.0.0.1", 9), b = v6("2001:db8::1", 1),
                      c = v6("2001:db8::1", 2);
    struct sockaddr other = {.sa_family = AF_UNIX};
    struct gw_addrkey u;

    CHECK_EQ_INT(a.len, 4);
    CHECK_EQ_INT(m.len, 4); /* IPv4-mapped: the IPv4 address */
    CHECK(memcmp(a.b, m.b, 4) == 0);
    CHECK_EQ_INT(b.len, 16);
    CHECK(memcmp(b.b, c.b, 16) == 0); /* the port is not part of it */
    gw_addrkey_of(&other, &u);
    CHECK_EQ_INT(u.len, 1);
}

static void test_cap(void)
{
    struct gw_addrkey a = v4("10.0.0.1"), m = v6("::ffff:10.0.0.1", 7), b = v4("10.0.0.2");

    CHECK_EQ_INT(gw_addrcount_get(&a), 0);
    CHECK(gw_addrcount_add(&a, 2));
    CHECK(gw_addrcount_add(&m, 2));  /* the same client over IPv6 */
    CHECK(!gw_addrcount_add(&a, 2)); /* at the cap: refused, not counted */
    CHECK_EQ_INT(gw_addrcount_get(&a), 2);
    CHECK(gw_addrcount_add(&b, 2)); /* another address is not held back */
    CHECK_EQ_INT(gw_addrcount_addresses(), 2);
    gw_addrcount_del(&a);
    CHECK_EQ_INT(gw_addrcount_get(&a), 1);
    CHECK(gw_addrcount_add(&a, 2)); /* the freed slot is usable */
    CHECK(!gw_addrcount_add(&a, 2));
    gw_addrcount_del(&a);
    gw_addrcount_del(&a);
    CHECK_EQ_INT(gw_addrcount_get(&a), 0);
    CHECK_EQ_INT(gw_addrcount_addresses(), 1); /* nothing kept for a gone address */
    gw_addrcount_del(&a);                      /* never counted: no effect */
    CHECK_EQ_INT(gw_addrcount_get(&a), 0);
    CHECK(!gw_addrcount_add(&b, 1)); /* a lower cap than its count */
    gw_addrcount_del(&b);
    CHECK_EQ_INT(gw_addrcount_addresses(), 0);
    gw_addrcount_free();
    gw_addrcount_del(&b); /* after free: nothing to release */
}

static void test_many(void)
{
    char ip[64];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 5000; i++) {
            snprintf(ip, sizeof ip, "2001:db8::%x:%x", i >> 8, i & 0xff);
            struct gw_addrkey k = v6(ip, 1);
            CHECK(gw_addrcount_add(&k, 3));
            CHECK(gw_addrcount_add(&k, 3));
        }
        CHECK_EQ_INT(gw_addrcount_addresses(), 5000);
        for (int i = 0; i < 5000; i++) {
            snprintf(ip, sizeof ip, "2001:db8::%x:%x", i >> 8, i & 0xff);
            struct gw_addrkey k = v6(ip, 1);
            CHECK_EQ_INT(gw_addrcount_get(&k), 2);
            gw_addrcount_del(&k);
            gw_addrcount_del(&k);
        }
        CHECK_EQ_INT(gw_addrcount_addresses(), 0);
    }
    gw_addrcount_free();
}

int main(void)
{
    test_keys();
    test_cap();
    test_many();
    return test_finish("test_addrcount");
}
