/* stats.h -- the gateway's counters, rendered by the admin listener.
 *
 * With --workers N every worker counts into its own slot of one shared
 * mapping made before the fork, and /metrics (worker 0) sums the slots:
 * counters are the gateway's as a whole. A worker that is restarted goes on
 * counting in the slot of the one it replaces, so counters never go back. */
#ifndef GW_STATS_H
#define GW_STATS_H

#include <stdint.h>

#include "buf.h"

#define GW_STATS_DURATION_BUCKETS 14

/* Why a TLS handshake failed (tls.h): the label of
 * portico_tls_handshake_failures_by_reason_total (their sum is the
 * unlabelled portico_tls_handshake_failures_total). */
enum gw_tls_fail {
    GW_TLS_FAIL_PROTOCOL,   /* refused hello or message, alert, bad record */
    GW_TLS_FAIL_PLAIN_HTTP, /* plain HTTP on the TLS port */
    GW_TLS_FAIL_CLOSED,     /* the client closed or reset mid-handshake */
    GW_TLS_FAIL_TIMEOUT,    /* not done within --header-timeout-ms of the accept */
    GW_TLS_FAIL_N,
};
extern const char *const gw_tls_fail_names[GW_TLS_FAIL_N];

/* How an asynchronous request (job.h) went: the label of portico_jobs_total. */
enum gw_job_result {
    GW_JOB_ACCEPTED,  /* recorded in Redis and answered 202 */
    GW_JOB_REFUSED,   /* the record could not be written: 503, not forwarded */
    GW_JOB_COMPLETED, /* a service's reply stored */
    GW_JOB_TIMEOUT,   /* no reply before --async-timeout-ms: 504 stored */
    GW_JOB_FAILED,    /* another gateway error stored (502, 503) */
    GW_JOB_LOST,      /* the final response could not be stored (Redis down) */
    GW_JOB_RESULT_N,
};
extern const char *const gw_job_result_names[GW_JOB_RESULT_N];
/* How a streamed reply ended (stream.h): the label of portico_streams_total. */
enum gw_stream_result {
    GW_STREAM_COMPLETED,    /* "more":false arrived, the last chunk went out */
    GW_STREAM_CLIENT_GONE,  /* the client went away: cancel published */
    GW_STREAM_IDLE_TIMEOUT, /* no message for --stream-idle-timeout-ms */
    GW_STREAM_BAD_SEQ,      /* a seq that repeats or jumps */
    GW_STREAM_TOO_SLOW,     /* the client read slower: over 1 MiB held */
    GW_STREAM_BAD_MESSAGE,  /* an invalid message (or a body over --max-reply-bytes) */
    GW_STREAM_BUS_DOWN,     /* Redis went away */
    GW_STREAM_NO_BODY,      /* HEAD, 204, 304: answered without a body, cancel published */
    GW_STREAM_RESULT_N,
};
extern const char *const gw_stream_result_names[GW_STREAM_RESULT_N];
/* Why the auth module refused a request: the label of
 * portico_auth_rejections_total. */
enum gw_auth_reject {
    GW_AUTH_REJECT_MISSING,       /* 401: no credential the route accepts */
    GW_AUTH_REJECT_INVALID_KEY,   /* 401: unknown API key */
    GW_AUTH_REJECT_INVALID_TOKEN, /* 401: bad, expired or unverifiable token */
    GW_AUTH_REJECT_CLAIMS,        /* 403: valid token without the required claims */
    GW_AUTH_REJECT_REPEATED,      /* 400: repeated credential headers */
    GW_AUTH_REJECT_THROTTLED,     /* 429: too many failed credentials from the address */
    GW_AUTH_REJECT_N,
};
extern const char *const gw_auth_reject_names[GW_AUTH_REJECT_N];

struct gw_stats {
    uint64_t http_by_code[600];                          /* responses by status code */
    uint64_t duration_bucket[GW_STATS_DURATION_BUCKETS]; /* non-cumulative */
    uint64_t duration_count;
    double duration_sum_s;
    uint64_t late_replies;  /* unknown id: late, duplicate, or client gone */
    uint64_t bad_replies;   /* unmatchable or invalid replies */
    uint64_t claim_stored;  /* request bodies stored in a Redis key (claim check) */
    uint64_t claim_fetched; /* reply bodies read from a Redis key */
    uint64_t claim_missing; /* reply bodies missing, expired or short in Redis: 502 */
    /* bus connects started, the first included */
    uint64_t redis_connect_attempts;
    uint64_t redis_reconnects;
    uint64_t publish_failovers; /* PUBLISH answered 0 */
    uint64_t publish_waits;     /* PUBLISH answered 0 by an instance not heard since up */
    uint64_t instance_ejections;
    uint64_t upstream_retries;       /* tries sent again to another instance or upstream */
    uint64_t upstream_ejections;     /* HTTP upstreams ejected (refused or reset) */
    uint64_t retry_budget_exhausted; /* retries not sent: over the budget */
    uint64_t connections_accepted;
    uint64_t connections_refused;        /* over --max-connections */
    uint64_t connections_refused_per_ip; /* over --max-connections-per-ip */
    uint64_t header_timeouts;            /* 408 header_timeout (public) */
    uint64_t body_timeouts;              /* 408 body_timeout (public) */
    uint64_t auth_failures;              /* failed credentials: 401, 400 from auth */
    uint64_t auth_throttled;             /* 429: too many failed credentials from the address */
    uint64_t config_reloads_ok;          /* reloads (SIGHUP) now in force */
    uint64_t config_reloads_error;       /* reloads refused: nothing changed */
    uint64_t tls_handshakes[2];          /* completed: [0] new, [1] resumed */
    uint64_t tls_handshake_failures[GW_TLS_FAIL_N]; /* by enum gw_tls_fail */
    uint64_t proxy_invalid;                         /* --proxy-protocol: bad header, closed */
    uint64_t proxy_timeouts;              /* --proxy-protocol: no header in time, closed */
    uint64_t jobs[GW_JOB_RESULT_N];       /* asynchronous requests, by enum gw_job_result */
    uint64_t streams[GW_STREAM_RESULT_N]; /* streamed replies ended, by enum gw_stream_result */
    uint64_t stream_dropped;              /* stream messages whose request was gone */
    uint64_t auth_rejections[GW_AUTH_REJECT_N];          /* by enum gw_auth_reject */
    uint64_t ratelimit_rejections;                       /* 429 from a route's rate limit */
    uint64_t access_log_dropped;                         /* lines past the buffer, or lost */
    uint64_t upstream_bucket[GW_STATS_DURATION_BUCKETS]; /* PUBLISH to reply, non-cumulative */
    uint64_t upstream_count;
    double upstream_sum_s;
    /* gauges, as last published by the worker (gw_stats_gauges) */
    uint64_t inflight;
    uint64_t connections;
};

/* This process's counters (its slot with --workers). */
extern struct gw_stats *gw_stats;

/* --workers N: makes N slots shared by the processes forked after it;
 * -1 if the mapping cannot be made. */
int gw_stats_share(int n);
/* In worker i (0..N-1): count into slot i; its gauges start at zero. */
void gw_stats_worker(int i);
/* Publishes this process's gauges to its slot. */
void gw_stats_gauges(uint64_t inflight, uint64_t connections);
/* The gauges summed over the workers (as last published); returns how many
 * workers there are. */
int gw_stats_gauge_sums(uint64_t *inflight, uint64_t *connections);

void gw_stats_response(int status, double seconds);
/* One reply from a service, seconds after its PUBLISH. */
void gw_stats_upstream(double seconds);
/* Counts one registration outcome: "accepted" or a reject reason (static string). */
void gw_stats_registration(const char *result);
/* Appends the Prometheus text exposition (0.0.4) of every counter and gauge,
 * summed over the workers, plus the registry's gauges the caller passes
 * (every worker holds the same registry). */
void gw_stats_render(pc_buf *out, uint64_t instances, uint64_t routes);
/* Appends the JSON of GET /stats (protocol.md 6): responses by status class,
 * the duration histogram with p50/p99, the gauges; now_ms is the monotonic
 * clock the page computes rates with. */
void gw_stats_render_json(pc_buf *out, uint64_t now_ms, uint64_t instances, uint64_t routes);

#endif
