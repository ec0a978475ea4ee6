/* config.h -- settings of the gateway (SPEC §7).
 *
 * One table of {key, type, offset, min, max, default} serves the config file,
 * the PORTICO_* environment and the command line; flags win over the
 * environment, which wins over the file. */
#ifndef GW_CONFIG_H
#define GW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "cidr.h"
#include "redisurl.h"

struct gw_regpolicy;

struct gw_hostport {
    char host[256]; /* "" never: "0.0.0.0" etc.; IPv6 without brackets */
    int port;       /* 0..65535; 0 = any free port */
};

struct gw_config {
    struct gw_hostport listen;            /* --listen, default 0.0.0.0:8000 */
    bool listen_off;                      /* --listen off (with --tls-listen: HTTPS only) */
    struct gw_hostport tls_listen;        /* --tls-listen, default off */
    bool tls_off;                         /* --tls-listen off (the default) */
    char tls_cert_file[1024];             /* --tls-cert, PEM chain; required with --tls-listen */
    char tls_key_file[1024];              /* --tls-key, PEM key; required with --tls-listen */
    bool tls_keep_pair;                   /* not a flag: a reload keeps the pair in use */
    bool admin_off;                       /* --admin off */
    struct gw_hostport admin;             /* --admin, default 127.0.0.1:8081 */
    char redis_url[1024];                 /* --redis, as given */
    struct pc_redis_addr redis;           /* parsed from redis_url */
    char prefix[64];                      /* --prefix, default "portico"; [A-Za-z0-9._-]{1,63} */
    int timeout_ms;                       /* --timeout-ms 5000, 1..60000 */
    int header_timeout_ms;                /* --header-timeout-ms 10000, 1..3600000 */
    int idle_timeout_ms;                  /* --idle-timeout-ms 60000, 1..86400000 */
    int max_header_bytes;                 /* --max-header-bytes 16384, 1024..1048576 */
    long long max_body_bytes;             /* --max-body-bytes 1048576, 0..1073741824 */
    long long max_reply_bytes;            /* --max-reply-bytes 67108864, 1024..1073741824 */
    int stream_idle_timeout_ms;           /* --stream-idle-timeout-ms 60000, 1..86400000 */
    long long claim_check_bytes;          /* --claim-check-bytes 65536, 0 (never)..1073741824 */
    int async_timeout_ms;                 /* --async-timeout-ms 300000, 1..86400000 */
    int job_ttl_ms;                       /* --job-ttl-ms 3600000, 1..604800000 */
    int max_connections;                  /* --max-connections 10000, 1..1000000 */
    int max_connections_per_ip;           /* --max-connections-per-ip 0 (off), 0..1000000 */
    int body_timeout_ms;                  /* --body-timeout-ms 30000, 1..86400000 */
    int body_min_rate;                    /* --body-min-rate 1024 bytes/s, 0..1073741824 */
    int drain_grace_ms;                   /* --drain-grace-ms 1000, 0..3600000 */
    char registration_secret_file[1024];  /* --registration-secret-file, "" = none */
    char registration_secrets_file[1024]; /* --registration-secrets-file, "" = none */
    char route_allowlist_file[1024];      /* --route-allowlist-file, "" = none */
    int max_instances;                    /* --max-instances 10000, 1..1000000 */
    int max_instances_per_service;        /* --max-instances-per-service 1000, 1..1000000 */
    int max_routes;                       /* --max-routes 10000, 1..1000000 */
    int max_instance_routes;              /* --max-instance-routes 100000, 1..100000000 */
    int workers;                          /* --workers 1, 1..256 */
    int log_level;                        /* --log-level info: enum pc_log_level */
    int route_grace_ms;                   /* --route-grace-ms 30000, 0..86400000 */
    int outlier_timeouts;                 /* --outlier-timeouts 3, 0 (off)..1000 */
    int outlier_ejection_ms;              /* --outlier-ejection-ms 30000, 1..3600000 */
    char routes_file[1024];               /* --routes-file, "" = none (routesfile.h) */
    int upstream_eject_ms;                /* --upstream-eject-ms 10000, 1..3600000 */
    int upstream_connect_timeout_ms;      /* --upstream-connect-timeout-ms 2000, 1..60000 */
    int upstream_pool_size;               /* --upstream-pool-size 32 idle per upstream, 0..10000 */
    int upstream_idle_ms;                 /* --upstream-idle-ms 30000, 1..3600000 */
    char auth_file[1024];                 /* --auth-file, "" = none: all public (see auth.h) */
    int auth_fail_limit;                  /* --auth-fail-limit 20, 0..1000000 (0 = off) */
    int auth_fail_window_ms;              /* --auth-fail-window-ms 60000, 1000..86400000 */
    char ratelimit_file[1024];            /* --ratelimit-file, "" = none (see ratelimit.h) */
    int ratelimit_rps;                    /* --ratelimit-rps 0 (none), 0..1000000 per second */
    int ratelimit_burst;                  /* --ratelimit-burst 0 (= rps), 0..1000000 */
    bool ratelimit_redis;                 /* --ratelimit-redis: one limit shared on Redis */
    struct gw_cidr_set trusted_proxies;   /* --trusted-proxies CIDR,..., none by default */
    bool proxy_protocol;                  /* --proxy-protocol false: PROXY v1/v2 header first */
    char access_log[1024];                /* --access-log off: stdout, stderr or a path */
    bool access_log_combined;             /* --access-log-format json (false) or combined */
    char config_file[1024];               /* --config, "" = none */
    bool check_config;                    /* --check-config (argv only): check, run nothing */
    /* Not a setting: loaded from the three registration files above by main
     * at start (see regpolicy.h); NULL = unsigned registration, no allow-list. */
    struct gw_regpolicy *reg_policy;
};

enum gw_config_result {
    GW_CONFIG_RUN = 0,    /* settings loaded: run */
    GW_CONFIG_EXIT = 1,   /* --help or --version printed to stdout: exit 0 */
    GW_CONFIG_ERROR = -1, /* err holds one line (no newline): print it, exit 2 */
};

/* Fills c from defaults, then the config file (--config or PORTICO_CONFIG),
 * then envp (PORTICO_*; NULL = none), then argv. Flags take "--name value" and
 * "--name=value". An unknown flag, an unknown file key,
 * a value out of range or of the wrong type is an error. PORTICO_* variables
 * that name no setting are ignored (tools and the SDK share the namespace). */
int gw_config_load(struct gw_config *c, int argc, char **argv, char **envp, char *err,
                   size_t errlen);

/* Writes the --help text to f. */
void gw_config_usage(void *file);

#endif
