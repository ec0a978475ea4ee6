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

    pc_buf_printf(o, "# HELP portico_inflight_requests Requests forwarded and not answered yet.\n"
                     "# TYPE portico_inflight_requests gauge\nportico_inflight_requests %llu\n",
                  (unsigned long long)inflight);
    pc_buf_printf(o, "# HELP portico_instances Live service instances.\n"
                     "# TYPE portico_instances gauge\nportico_instances %llu\n",
                  (unsigned long long)instances);
    pc_buf_printf(o, "# HELP portico_routes Routes in the table (including those in grace).\n"
                     "# TYPE portico_routes gauge\nportico_routes %llu\n",
                  (unsigned long long)routes);
    pc_buf_printf(o, "# HELP portico_connections Open client connections.\n"
                     "# TYPE portico_connections gauge\nportico_connections %llu\n",
                  (unsigned long long)connections);

    pc_buf_puts(o, "# HELP portico_registrations_total Registration messages, by result.\n"
                   "# TYPE portico_registrations_total counter\n");
    for (int i = 0; i < GW_STATS_MAX_RESULTS && reg_results[i].name; i++)
        pc_buf_printf(o, "portico_registrations_total{result=\"%s\"} %llu\n", reg_results[i].name,
                      (unsigned long long)reg_results[i].count);

    pc_buf_printf(o, "# HELP portico_late_replies_total Replies whose request was gone (late, duplicate).\n"
                     "# TYPE portico_late_replies_total counter\nportico_late_replies_total %llu\n",
                  (unsigned long long)gw_stats.late_replies);
    pc_buf_printf(o, "# HELP portico_bad_replies_total Replies that were not valid.\n"
                     "# TYPE portico_bad_replies_total counter\nportico_bad_replies_total %llu\n",
                  (unsigned long long)gw_stats.bad_replies);
    pc_buf_printf(o, "# HELP portico_redis_reconnects_total Redis reconnections.\n"
                     "# TYPE portico_redis_reconnects_total counter\nportico_redis_reconnects_total %llu\n",
                  (unsigned long long)gw_stats.redis_reconnects);
    pc_buf_printf(o, "# HELP portico_publish_failovers_total PUBLISH answered 0: instance dropped.\n"
                     "# TYPE portico_publish_failovers_total counter\nportico_publish_failovers_total %llu\n",
                  (unsigned long long)gw_stats.publish_failovers);
    pc_buf_printf(o, "# HELP portico_connections_refused_total Connections refused over --max-connections.\n"
                     "# TYPE portico_connections_refused_total counter\nportico_connections_refused_total %llu\n",
                  (unsigned long long)gw_stats.connections_refused);
}
