/* addrcount.c -- open connections per client address (see addrcount.h).
 *
 * The count is stored in the map's value pointer itself (1..max, never
 * NULL), so an address costs one map entry while it has connections open
 * and nothing after its last one is gone. */
#include "addrcount.h"

#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

#include "map.h"
#include "xalloc.h"

static pc_map *counts;

void gw_addrkey_of(const struct sockaddr *sa, struct gw_addrkey *k)
{
    memset(k, 0, sizeof *k);
    if (sa->sa_family == AF_INET) {
        k->len = 4;
        memcpy(k->b, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a)) {
            k->len = 4;
            memcpy(k->b, a->s6_addr + 12, 4);
        } else {
            k->len = 16;
            memcpy(k->b, a->s6_addr, 16);
        }
    } else {
        k->len = 1;
    }
}

unsigned gw_addrcount_get(const struct gw_addrkey *k)
{
    return counts ? (unsigned)(uintptr_t)pc_map_get(counts, k->b, k->len) : 0;
}

bool gw_addrcount_add(const struct gw_addrkey *k, unsigned max)
{
    unsigned n;

    if (counts == NULL) {
        counts = pc_map_new();
        pc_check(counts != NULL);
    }
    n = gw_addrcount_get(k);
    if (n >= max) return false;
    pc_check(pc_map_put(counts, k->b, k->len, (void *)(uintptr_t)(n + 1)) == 0);
    return true;
}

void gw_addrcount_del(const struct gw_addrkey *k)
{
    unsigned n = gw_addrcount_get(k);

    if (n == 0) return; /* not counted */
    if (n == 1)
        pc_map_del(counts, k->b, k->len);
    else
        pc_check(pc_map_put(counts, k->b, k->len, (void *)(uintptr_t)(n - 1)) == 0);
}

size_t gw_addrcount_addresses(void) { return counts ? pc_map_count(counts) : 0; }

void gw_addrcount_free(void)
{
    pc_map_free(counts);
    counts = NULL;
}
