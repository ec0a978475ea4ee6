/* test_stats.c -- GET /stats (stats.h gw_stats_render_json): the status
 * classes, the cumulative histogram with its +Inf bucket, p50/p99 (null with
 * no response, interpolated in a bucket, the last bound for the +Inf bucket),
 * and sums over worker slots. */
#include <stdlib.h>
#include <string.h>

#include "stats.h"
#include "test.h"

/* The JSON of /stats now, NUL-terminated (static: one at a time). */
static const char *render(void)
{
    static char text[4096];
    pc_buf b;
    pc_buf_init(&b);
    gw_stats_render_json(&b, 1234, 7, 9);
    CHECK(!b.oom && b.len < sizeof text);
    memcpy(text, b.data, b.len < sizeof text ? b.len : sizeof text - 1);
    text[b.len < sizeof text ? b.len : sizeof text - 1] = '\0';
    pc_buf_deinit(&b);
    return text;
}

static void check_has(const char *json, const char *part)
{
    bool ok = strstr(json, part) != NULL;
    if (!ok) fprintf(stderr, "missing %s in\n%s\n", part, json);
    CHECK(ok);
}

static void test_empty(void)
{
    CHECK_EQ_STR(render(),
                 "{\"time_ms\":1234,\"requests\":{\"total\":0,\"1xx\":0,\"2xx\":0,\"3xx\":0,"
                 "\"4xx\":0,\"5xx\":0},\"duration\":{\"le_s\":[0.0005,0.001,0.0025,0.005,0.01,"
                 "0.025,0.05,0.1,0.25,0.5,1,2.5,5,10],\"cumulative\":[0,0,0,0,0,0,0,0,0,0,0,0,0,"
                 "0,0],\"count\":0,\"sum_s\":0.000000,\"p50_s\":null,\"p99_s\":null},"
                 "\"inflight\":0,\"connections\":0,\"instances\":7,\"routes\":9,\"workers\":1}\n");
}

static void test_classes_and_quantiles(void)
{
    const char *j;

    /* 100 fast 200s: every one in the first bucket, interpolated in it */
    for (int i = 0; i < 100; i++) gw_stats_response(200, 0.0003);
    j = render();
    check_has(j, "\"requests\":{\"total\":100,\"1xx\":0,\"2xx\":100,\"3xx\":0,\"4xx\":0,"
                 "\"5xx\":0}");
    check_has(j, "\"p50_s\":0.000250,\"p99_s\":0.000495}");

    /* codes of every class, the edge codes included; out of range ignored */
    gw_stats_response(101, 0.002);
    gw_stats_response(304, 0.002);
    gw_stats_response(404, 0.002);
    gw_stats_response(499, 0.002);
    gw_stats_response(599, 0.002);
    gw_stats_response(600, 0.002); /* timed, not a class */
    gw_stats_response(99, 0.002);
    j = render();
    check_has(j, "\"requests\":{\"total\":105,\"1xx\":1,\"2xx\":100,\"3xx\":1,\"4xx\":2,"
                 "\"5xx\":1}");
    check_has(j, "\"cumulative\":[100,100,107,107,107,107,107,107,107,107,107,107,107,107,107]");
    check_has(j, "\"count\":107");

    /* past the last bound: the +Inf bucket; a quantile there is 10 */
    for (int i = 0; i < 200; i++) gw_stats_response(504, 30.0);
    j = render();
    check_has(j, "\"cumulative\":[100,100,107,107,107,107,107,107,107,107,107,107,107,107,307]");
    check_has(j, "\"p50_s\":10.000000,\"p99_s\":10.000000}");
}

static void test_workers(void)
{
    /* two slots: the sums cover both, gauges too */
    CHECK(gw_stats_share(2) == 0);
    gw_stats_worker(1);
    gw_stats_response(200, 0.004); /* bucket le=0.005 */
    gw_stats_gauges(3, 4);
    gw_stats_worker(0);
    gw_stats_response(500, 0.004);
    gw_stats_gauges(1, 1);
    const char *j = render();
    check_has(j, "\"requests\":{\"total\":2,\"1xx\":0,\"2xx\":1,\"3xx\":0,\"4xx\":0,\"5xx\":1}");
    check_has(j, "\"cumulative\":[0,0,0,2,2,2,2,2,2,2,2,2,2,2,2]");
    /* rank 1 of 2 in (0.0025, 0.005]: halfway */
    check_has(j, "\"p50_s\":0.003750,");
    check_has(j, "\"inflight\":4,\"connections\":5,\"instances\":7,\"routes\":9,\"workers\":2}");
}

int main(void)
{
    test_empty();
    test_classes_and_quantiles();
    test_workers();
    return test_finish("test_stats");
}
