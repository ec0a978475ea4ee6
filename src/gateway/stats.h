/* stats.h -- the gateway's counters, rendered by the admin listener. */
#ifndef GW_STATS_H
#define GW_STATS_H

#include <stdint.h>

#include "buf.h"

#define GW_STATS_DURATION_BUCKETS 14

struct gw_stats {
    uint64_t http_by_code[600];          /* responses by status code */
    uint64_t duration_bucket[GW_STATS_DURATION_BUCKETS]; /* non-cumulative */
    uint64_t duration_count;
    double duration_sum_s;
    uint64_t late_replies;               /* unknown id: late, duplicate, or client gone */
    uint64_t bad_replies;                /* unmatchable or invalid replies */
    uint64_t redis_reconnects;
    uint64_t publish_failovers;          /* PUBLISH answered 0 */
    uint64_t connections_accepted;
    uint64_t connections_refused;        /* over --max-connections */
};

extern struct gw_stats gw_stats;

void gw_stats_response(int status, double seconds);
/* Counts one registration outcome: "accepted" or a reject reason (static string). */
void gw_stats_registration(const char *result);
/* Appends the Prometheus text exposition (0.0.4) of every counter, plus the
 * gauges the caller passes. */
void gw_stats_render(pc_buf *out, uint64_t inflight, uint64_t instances, uint64_t routes,
                     uint64_t connections);

#endif
