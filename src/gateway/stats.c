/* stats.c -- counters and their Prometheus rendering. */
#include "stats.h"

#include <string.h>

struct gw_stats gw_stats;

/* Upper bounds of the duration histogram, seconds. */
static const double duration_le[GW_STATS_DURATION_BUCKETS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};

/* Registration results seen so far; reasons are static strings, few of them. */
#define GW_STATS_MAX_RESULTS 32
static struct {
    const char *name;
    uint64_t count;
} reg_results[GW_STATS_MAX_RESULTS];

void gw_stats_response(int status, double seconds)
{
    if (status >= 100 && status < 600) gw_stats.http_by_code[status]++;
    for (int i = 0; i < GW_STATS_DURATION_BUCKETS; i++) {
        if (seconds <= duration_le[i]) {
            gw_stats.duration_bucket[i]++;
            break;
        }
    }
    gw_stats.duration_count++;
    gw_stats.duration_sum_s += seconds;
}

void gw_stats_registration(const char *result)
{
    for (int i = 0; i < GW_STATS_MAX_RESULTS; i++) {
        if (reg_results[i].name == NULL) reg_results[i].name = result;
        if (strcmp(reg_results[i].name, result) == 0) {
            reg_results[i].count++;
            return;
        }
    }
}

/* One unlabelled sample with its HELP and TYPE lines. */
static void metric(pc_buf *o, const char *name, const char *type, const char *help,
                   uint64_t value)
{
    pc_buf_printf(o, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type, name,
                  (unsigned long long)value);
}

void gw_stats_render(pc_buf *o, uint64_t inflight, uint64_t instances, uint64_t routes,
                     uint64_t connections)
{
    uint64_t cum = 0;

    pc_buf_puts(o, "# HELP portico_http_requests_total HTTP responses sent, by status code.\n"
                   "# TYPE portico_http_requests_total counter\n");
    for (int c = 100; c < 600; c++)
        if (gw_stats.http_by_code[c])
            pc_buf_printf(o, "portico_http_requests_total{code=\"%d\"} %llu\n", c,
                          (unsigned long long)gw_stats.http_by_code[c]);

    pc_buf_puts(o, "# HELP portico_request_duration_seconds Time from request complete to response.\n"
                   "# TYPE portico_request_duration_seconds histogram\n");
    for (int i = 0; i < GW_STATS_DURATION_BUCKETS; i++) {
        cum += gw_stats.duration_bucket[i];
        pc_buf_printf(o, "portico_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
                      duration_le[i], (unsigned long long)cum);
    }
    pc_buf_printf(o, "portico_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
                  (unsigned long long)gw_stats.duration_count);
    pc_buf_printf(o, "portico_request_duration_seconds_sum %.6f\n", gw_stats.duration_sum_s);
    pc_buf_printf(o, "portico_request_duration_seconds_count %llu\n",
                  (unsigned long long)gw_stats.duration_count);

    metric(o, "portico_inflight_requests", "gauge",
           "Requests forwarded and not answered yet.", inflight);
    metric(o, "portico_instances", "gauge", "Live service instances.", instances);
    metric(o, "portico_routes", "gauge", "Routes in the table (including those in grace).", routes);
    metric(o, "portico_connections", "gauge", "Open client connections.", connections);

    pc_buf_puts(o, "# HELP portico_registrations_total Registration messages, by result.\n"
                   "# TYPE portico_registrations_total counter\n");
    for (int i = 0; i < GW_STATS_MAX_RESULTS && reg_results[i].name; i++)
        pc_buf_printf(o, "portico_registrations_total{result=\"%s\"} %llu\n", reg_results[i].name,
                      (unsigned long long)reg_results[i].count);

    metric(o, "portico_late_replies_total", "counter",
           "Replies whose request was gone (late, duplicate).", gw_stats.late_replies);
    metric(o, "portico_bad_replies_total", "counter", "Replies that were not valid.",
           gw_stats.bad_replies);
    metric(o, "portico_redis_reconnects_total", "counter", "Redis reconnections.",
           gw_stats.redis_reconnects);
    metric(o, "portico_publish_failovers_total", "counter",
           "PUBLISH answered 0: instance dropped.", gw_stats.publish_failovers);
    metric(o, "portico_connections_refused_total", "counter",
           "Connections refused over --max-connections.", gw_stats.connections_refused);
}
