/* stats.c -- counters and their Prometheus rendering. */
#include "stats.h"

#include <stddef.h>
#include <string.h>
#include <sys/mman.h>

#include "portico_config.h"
#include "procstats.h"

static struct gw_stats own;
struct gw_stats *gw_stats = &own;
static struct gw_stats *slots = &own; /* every worker's, for rendering */
static int nslots = 1;

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

int gw_stats_share(int n)
{
    void *m = mmap(NULL, (size_t)n * sizeof *slots, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return -1;
    slots = m; /* zeroed by the kernel */
    nslots = n;
    gw_stats = &slots[0];
    return 0;
}

void gw_stats_worker(int i)
{
    if (i >= 0 && i < nslots) gw_stats = &slots[i];
    gw_stats->inflight = 0;
    gw_stats->connections = 0;
}

void gw_stats_gauges(uint64_t inflight, uint64_t connections)
{
    gw_stats->inflight = inflight;
    gw_stats->connections = connections;
}

/* Counts seconds into a histogram of duration_le buckets. */
static void observe(uint64_t *bucket, uint64_t *count, double *sum, double seconds)
{
    for (int i = 0; i < GW_STATS_DURATION_BUCKETS; i++) {
        if (seconds <= duration_le[i]) {
            bucket[i]++;
            break;
        }
    }
    (*count)++;
    *sum += seconds;
}

void gw_stats_response(int status, double seconds)
{
    if (status >= 100 && status < 600) gw_stats->http_by_code[status]++;
    observe(gw_stats->duration_bucket, &gw_stats->duration_count, &gw_stats->duration_sum_s,
            seconds);
}

void gw_stats_upstream(double seconds)
{
    observe(gw_stats->upstream_bucket, &gw_stats->upstream_count, &gw_stats->upstream_sum_s,
            seconds);
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

const char *const gw_job_result_names[GW_JOB_RESULT_N] = {"accepted", "refused", "completed",
                                                          "timeout",  "failed",  "lost"};
const char *const gw_stream_result_names[GW_STREAM_RESULT_N] = {
    "completed", "client_gone", "idle_timeout", "bad_seq",
    "too_slow",  "bad_message", "bus_down",     "no_body"};
const char *const gw_tls_fail_names[GW_TLS_FAIL_N] = {"protocol", "plain_http", "closed",
                                                      "timeout"};
const char *const gw_auth_reject_names[GW_AUTH_REJECT_N] = {
    "missing_credentials", "invalid_api_key",      "invalid_token",
    "insufficient_claims", "repeated_credentials", "throttled"};

/* One unlabelled sample with its HELP and TYPE lines. */
static void metric(pc_buf *o, const char *name, const char *type, const char *help, uint64_t value)
{
    pc_buf_printf(o, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type, name,
                  (unsigned long long)value);
}

/* A counter family with labels: its HELP and TYPE lines, then one sample()
 * per label set (labels as written between the braces). */
static void family(pc_buf *o, const char *name, const char *help)
{
    pc_buf_printf(o, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
}

static void sample(pc_buf *o, const char *name, const char *labels, uint64_t value)
{
    pc_buf_printf(o, "%s{%s} %llu\n", name, labels, (unsigned long long)value);
}

/* The sum over the slots of the counter at byte offset off. Other workers
 * write theirs while this reads: each is one aligned word, read once. */
static uint64_t sum_at(size_t off)
{
    uint64_t sum = 0;
    for (int i = 0; i < nslots; i++)
        sum += __atomic_load_n((const uint64_t *)(const void *)((const char *)&slots[i] + off),
                               __ATOMIC_RELAXED);
    return sum;
}
#define SUM(field) sum_at(offsetof(struct gw_stats, field))
#define SUM_AT(array, i) sum_at(offsetof(struct gw_stats, array) + (size_t)(i) * sizeof(uint64_t))

/* A histogram of duration_le buckets summed over the slots: the arrays and
 * fields at these offsets of struct gw_stats. */
static void histogram(pc_buf *o, const char *name, const char *help, size_t buckets, size_t count,
                      size_t sum)
{
    uint64_t cum = 0, v;
    double sum_s = 0;

    pc_buf_printf(o, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    for (int i = 0; i < GW_STATS_DURATION_BUCKETS; i++) {
        cum += sum_at(buckets + (size_t)i * sizeof(uint64_t));
        pc_buf_printf(o, "%s_bucket{le=\"%g\"} %llu\n", name, duration_le[i],
                      (unsigned long long)cum);
    }
    for (int i = 0; i < nslots; i++) {
        double d;
        __atomic_load((const double *)(const void *)((const char *)&slots[i] + sum), &d,
                      __ATOMIC_RELAXED);
        sum_s += d;
    }
    v = sum_at(count); /* read once: +Inf and _count agree */
    pc_buf_printf(o, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)v);
    pc_buf_printf(o, "%s_sum %.6f\n", name, sum_s);
    pc_buf_printf(o, "%s_count %llu\n", name, (unsigned long long)v);
}

int gw_stats_gauge_sums(uint64_t *inflight, uint64_t *connections)
{
    *inflight = SUM(inflight);
    *connections = SUM(connections);
    return nslots;
}

void gw_stats_render(pc_buf *o, uint64_t instances, uint64_t routes)
{
    uint64_t v;

    family(o, "portico_http_requests_total", "HTTP responses sent, by status code.");
    for (int c = 100; c < 600; c++)
        if ((v = SUM_AT(http_by_code, c)) != 0)
            pc_buf_printf(o, "portico_http_requests_total{code=\"%d\"} %llu\n", c,
                          (unsigned long long)v);

    histogram(o, "portico_request_duration_seconds", "Time from request complete to response.",
              offsetof(struct gw_stats, duration_bucket), offsetof(struct gw_stats, duration_count),
              offsetof(struct gw_stats, duration_sum_s));

    metric(o, "portico_inflight_requests", "gauge", "Requests forwarded and not answered yet.",
           SUM(inflight));
    metric(o, "portico_instances", "gauge", "Live service instances.", instances);
    metric(o, "portico_routes", "gauge", "Routes in the table (including those in grace).", routes);
    metric(o, "portico_connections", "gauge", "Open client connections.", SUM(connections));
    metric(o, "portico_workers", "gauge", "Worker processes counted here.", (uint64_t)nslots);

    /* every worker sees every registration: this process's count is all */
    family(o, "portico_registrations_total", "Registration messages, by result.");
    for (int i = 0; i < GW_STATS_MAX_RESULTS && reg_results[i].name; i++)
        pc_buf_printf(o, "portico_registrations_total{result=\"%s\"} %llu\n", reg_results[i].name,
                      (unsigned long long)reg_results[i].count);

    metric(o, "portico_late_replies_total", "counter",
           "Replies whose request was gone (late, duplicate).", SUM(late_replies));
    metric(o, "portico_bad_replies_total", "counter", "Replies that were not valid.",
           SUM(bad_replies));
    metric(o, "portico_redis_connect_attempts_total", "counter",
           "Redis connection attempts (each opens both connections), the first included.",
           SUM(redis_connect_attempts));
    family(o, "portico_claim_checks_total",
           "Bodies passed through a Redis key instead of a message, by direction and outcome.");
    sample(o, "portico_claim_checks_total", "direction=\"request\",result=\"stored\"",
           SUM(claim_stored));
    sample(o, "portico_claim_checks_total", "direction=\"reply\",result=\"fetched\"",
           SUM(claim_fetched));
    sample(o, "portico_claim_checks_total", "direction=\"reply\",result=\"missing\"",
           SUM(claim_missing));
    metric(o, "portico_redis_reconnects_total", "counter", "Redis reconnections.",
           SUM(redis_reconnects));
    metric(o, "portico_publish_failovers_total", "counter", "PUBLISH answered 0: instance dropped.",
           SUM(publish_failovers));
    metric(o, "portico_publish_waits_total", "counter",
           "PUBLISH answered 0 by an instance not heard since Redis came back: waited, kept.",
           SUM(publish_waits));
    metric(o, "portico_instance_ejections_total", "counter",
           "Instances ejected after consecutive timeouts.", SUM(instance_ejections));
    metric(o, "portico_upstream_retries_total", "counter",
           "Tries sent again: timed out on a retry route's instance, or failed on an HTTP "
           "upstream before any response byte.",
           SUM(upstream_retries));
    metric(o, "portico_upstream_ejections_total", "counter",
           "HTTP upstreams ejected for --upstream-eject-ms after refusing or resetting a "
           "connection.",
           SUM(upstream_ejections));
    metric(o, "portico_upstream_retry_budget_exhausted_total", "counter",
           "Retries not sent because the retry budget was spent.", SUM(retry_budget_exhausted));
    metric(o, "portico_auth_failures_total", "counter",
           "Failed credentials (401, and 400 for repeated credential headers).",
           SUM(auth_failures));
    metric(o, "portico_auth_throttled_total", "counter",
           "Requests answered 429 after too many failed credentials from their address.",
           SUM(auth_throttled));
    family(o, "portico_connections_refused_total",
           "Connections closed at accept, by the limit they were over.");
    sample(o, "portico_connections_refused_total", "reason=\"max_connections\"",
           SUM(connections_refused));
    sample(o, "portico_connections_refused_total", "reason=\"max_connections_per_ip\"",
           SUM(connections_refused_per_ip));
    family(o, "portico_proxy_protocol_errors_total",
           "Public connections closed without a response for want of a valid PROXY protocol "
           "header, by reason.");
    sample(o, "portico_proxy_protocol_errors_total", "reason=\"invalid\"", SUM(proxy_invalid));
    sample(o, "portico_proxy_protocol_errors_total", "reason=\"timeout\"", SUM(proxy_timeouts));
    family(o, "portico_client_timeouts_total",
           "Requests not received in time (408), by error code.");
    sample(o, "portico_client_timeouts_total", "error=\"header_timeout\"", SUM(header_timeouts));
    sample(o, "portico_client_timeouts_total", "error=\"body_timeout\"", SUM(body_timeouts));
    family(o, "portico_config_reloads_total",
           "Reloads (SIGHUP) by outcome: in force, or refused with nothing changed (each worker "
           "counts its own).");
    sample(o, "portico_config_reloads_total", "result=\"ok\"", SUM(config_reloads_ok));
    sample(o, "portico_config_reloads_total", "result=\"error\"", SUM(config_reloads_error));
    family(o, "portico_tls_handshakes_total",
           "TLS handshakes completed, by session (new, or resumed from a ticket).");
    sample(o, "portico_tls_handshakes_total", "session=\"new\"", SUM_AT(tls_handshakes, 0));
    sample(o, "portico_tls_handshakes_total", "session=\"resumed\"", SUM_AT(tls_handshakes, 1));
    {
        /* SPEC §8's name is one unlabelled counter; the reasons are a family
         * of their own (a labelled sample under the same name would make the
         * bare name's series absent). */
        uint64_t by[GW_TLS_FAIL_N], total = 0;
        for (int i = 0; i < GW_TLS_FAIL_N; i++) total += by[i] = SUM_AT(tls_handshake_failures, i);
        metric(o, "portico_tls_handshake_failures_total", "counter",
               "TLS handshakes that failed (connection closed).", total);
        family(o, "portico_tls_handshake_failures_by_reason_total",
               "TLS handshakes that failed (connection closed), by reason.");
        for (int i = 0; i < GW_TLS_FAIL_N; i++)
            pc_buf_printf(o, "portico_tls_handshake_failures_by_reason_total{reason=\"%s\"} %llu\n",
                          gw_tls_fail_names[i], (unsigned long long)by[i]);
    }
    family(o, "portico_jobs_total", "Asynchronous requests (Prefer: respond-async), by result.");
    for (int i = 0; i < GW_JOB_RESULT_N; i++)
        pc_buf_printf(o, "portico_jobs_total{result=\"%s\"} %llu\n", gw_job_result_names[i],
                      (unsigned long long)SUM_AT(jobs, i));
    family(o, "portico_streams_total", "Streamed replies ended, by how they ended.");
    for (int i = 0; i < GW_STREAM_RESULT_N; i++)
        pc_buf_printf(o, "portico_streams_total{result=\"%s\"} %llu\n", gw_stream_result_names[i],
                      (unsigned long long)SUM_AT(streams, i));
    metric(o, "portico_stream_messages_dropped_total", "counter",
           "Stream messages dropped: their request was gone (unknown id, client left).",
           SUM(stream_dropped));
    pc_buf_printf(o,
                  "# HELP portico_build_info The gateway's version.\n"
                  "# TYPE portico_build_info gauge\nportico_build_info{version=\"%s\"} 1\n",
                  PORTICO_VERSION);
    family(o, "portico_auth_rejections_total", "Requests refused by the auth module, by reason.");
    for (int i = 0; i < GW_AUTH_REJECT_N; i++)
        pc_buf_printf(o, "portico_auth_rejections_total{reason=\"%s\"} %llu\n",
                      gw_auth_reject_names[i], (unsigned long long)SUM_AT(auth_rejections, i));
    metric(o, "portico_ratelimit_rejections_total", "counter",
           "Requests answered 429 by a route's rate limit.", SUM(ratelimit_rejections));
    histogram(o, "portico_upstream_duration_seconds",
              "Time from a request's PUBLISH to its service's reply (an HTTP upstream's: "
              "from the try's start to the response head).",
              offsetof(struct gw_stats, upstream_bucket), offsetof(struct gw_stats, upstream_count),
              offsetof(struct gw_stats, upstream_sum_s));
    metric(o, "portico_access_log_dropped_total", "counter",
           "Access log lines dropped: the buffer was full or the write failed.",
           SUM(access_log_dropped));
    gw_procstats_render(o); /* this process's (worker 0 with --workers) */
}

/* ------------------------------------------------------------------------ */
/* JSON for the dashboard and scripts (GET /stats)                           */
/* ------------------------------------------------------------------------ */

/* The q-quantile of a cumulative histogram (cum[GW_STATS_DURATION_BUCKETS] is
 * the +Inf bucket, the count), interpolated linearly within its bucket as
 * Prometheus' histogram_quantile does; one in the +Inf bucket is the last
 * finite bound. Negative when there is no observation. */
static double quantile(const uint64_t *cum, double q)
{
    uint64_t count = cum[GW_STATS_DURATION_BUCKETS];
    double rank = q * (double)count;
    int i = 0;

    if (count == 0) return -1;
    while (i < GW_STATS_DURATION_BUCKETS && (double)cum[i] < rank) i++;
    if (i == GW_STATS_DURATION_BUCKETS) return duration_le[i - 1];
    double lo = i == 0 ? 0 : duration_le[i - 1];
    uint64_t below = i == 0 ? 0 : cum[i - 1];
    if (cum[i] == below) return duration_le[i];
    return lo + (duration_le[i] - lo) * (rank - (double)below) / (double)(cum[i] - below);
}

static void json_quantile(pc_buf *o, const char *key, double v)
{
    if (v < 0)
        pc_buf_printf(o, ",\"%s\":null", key);
    else
        pc_buf_printf(o, ",\"%s\":%.6f", key, v);
}

void gw_stats_render_json(pc_buf *o, uint64_t now_ms, uint64_t instances, uint64_t routes)
{
    uint64_t cls[6] = {0}, cum[GW_STATS_DURATION_BUCKETS + 1], total = 0;

    for (int c = 100; c < 600; c++) cls[c / 100] += SUM_AT(http_by_code, c);
    for (int i = 1; i < 6; i++) total += cls[i];
    pc_buf_printf(o,
                  "{\"time_ms\":%llu,\"requests\":{\"total\":%llu,\"1xx\":%llu,\"2xx\":%llu,"
                  "\"3xx\":%llu,\"4xx\":%llu,\"5xx\":%llu},",
                  (unsigned long long)now_ms, (unsigned long long)total, (unsigned long long)cls[1],
                  (unsigned long long)cls[2], (unsigned long long)cls[3],
                  (unsigned long long)cls[4], (unsigned long long)cls[5]);
    pc_buf_puts(o, "\"duration\":{\"le_s\":[");
    for (int i = 0; i < GW_STATS_DURATION_BUCKETS; i++)
        pc_buf_printf(o, "%s%g", i ? "," : "", duration_le[i]);
    pc_buf_puts(o, "],\"cumulative\":[");
    cum[GW_STATS_DURATION_BUCKETS] = SUM(duration_count);
    for (int i = 0; i < GW_STATS_DURATION_BUCKETS; i++) {
        cum[i] = (i ? cum[i - 1] : 0) + SUM_AT(duration_bucket, i);
        /* read apart from duration_count: never above it in the answer */
        if (cum[i] > cum[GW_STATS_DURATION_BUCKETS]) cum[i] = cum[GW_STATS_DURATION_BUCKETS];
        pc_buf_printf(o, "%s%llu", i ? "," : "", (unsigned long long)cum[i]);
    }
    double sum_s = 0;
    for (int i = 0; i < nslots; i++) {
        double d;
        __atomic_load(&slots[i].duration_sum_s, &d, __ATOMIC_RELAXED);
        sum_s += d;
    }
    pc_buf_printf(o, ",%llu],\"count\":%llu,\"sum_s\":%.6f",
                  (unsigned long long)cum[GW_STATS_DURATION_BUCKETS],
                  (unsigned long long)cum[GW_STATS_DURATION_BUCKETS], sum_s);
    json_quantile(o, "p50_s", quantile(cum, 0.5));
    json_quantile(o, "p99_s", quantile(cum, 0.99));
    pc_buf_printf(o,
                  "},\"inflight\":%llu,\"connections\":%llu,\"instances\":%llu,\"routes\":%llu,"
                  "\"workers\":%d}\n",
                  (unsigned long long)SUM(inflight), (unsigned long long)SUM(connections),
                  (unsigned long long)instances, (unsigned long long)routes, nslots);
}
