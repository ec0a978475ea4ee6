/* bench_router.c -- lookup cost at 10 and 10,000 routes.
 *
 *   bench_router                 both sizes, 1,000,000 lookups each, and the ratio
 *   bench_router SIZE [COUNT]    one size only (e.g. under callgrind:
 *                                valgrind --tool=callgrind bench_router 10000 1000)
 *
 * Each route set is N services with five patterns each, so every level of
 * the trie is as wide as the route set; the path looked up matches a
 * {param} route of a service in the middle. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "router.h"

#define DEFAULT_COUNT 1000000L

static void add_or_die(gw_router *r, const char *method, const char *pattern, void *value)
{
    if (gw_router_add(r, method, pattern, value, NULL) != 0) {
        fprintf(stderr, "bench_router: cannot add %s %s\n", method, pattern);
        exit(1);
    }
}

/* A router with about `routes` routes, five per service. */
static gw_router *build(long routes)
{
    gw_router *r = gw_router_new();
    char pat[128];
    long services = routes / 5 > 0 ? routes / 5 : 1;

    for (long i = 0; i < services; i++) {
        void *v = (void *)(uintptr_t)(i + 1);
        snprintf(pat, sizeof(pat), "/svc%ld", i);
        add_or_die(r, "GET", pat, v);
        snprintf(pat, sizeof(pat), "/svc%ld/items", i);
        add_or_die(r, "POST", pat, v);
        snprintf(pat, sizeof(pat), "/svc%ld/items/{id}", i);
        add_or_die(r, "GET", pat, v);
        add_or_die(r, "PUT", pat, v);
        snprintf(pat, sizeof(pat), "/svc%ld/static/*", i);
        add_or_die(r, "*", pat, v);
    }
    return r;
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Builds `routes` routes, runs `count` lookups, returns ns per lookup. */
static double run(long routes, long count)
{
    static struct gw_match m;
    gw_router *r = build(routes);
    char path[128];
    long services = routes / 5 > 0 ? routes / 5 : 1;
    int len = snprintf(path, sizeof(path), "/svc%ld/items/12345", services / 2);
    uintptr_t sink = 0;

    if (gw_router_match(r, "GET", path, (size_t)len, &m) != GW_MATCH_OK) {
        fprintf(stderr, "bench_router: %s does not match\n", path);
        exit(1);
    }
    for (long i = 0; i < count / 10; i++) /* warm the caches and the branch predictor */
        gw_router_match(r, "GET", path, (size_t)len, &m);
    double t0 = now_ns();
    for (long i = 0; i < count; i++) {
        gw_router_match(r, "GET", path, (size_t)len, &m);
        sink += (uintptr_t)m.value;
    }
    double ns = (now_ns() - t0) / (double)count;
    printf("%6zu routes: %8.1f ns/lookup (%ld lookups of %s, sink %lu)\n", gw_router_count(r), ns,
           count, path, (unsigned long)(sink % 10));
    gw_router_free(r);
    return ns;
}

int main(int argc, char **argv)
{
    long count = DEFAULT_COUNT;

    if (argc > 1) {
        long routes = strtol(argv[1], NULL, 10);
        if (argc > 2) count = strtol(argv[2], NULL, 10);
        if (routes <= 0 || count <= 0) {
            fprintf(stderr, "usage: bench_router [ROUTES [COUNT]]\n");
            return 2;
        }
        run(routes, count);
        return 0;
    }
    double small = run(10, count);
    double large = run(10000, count);
    printf("ratio 10000/10: %.2f\n", large / small);
    return 0;
}
