/* config.c -- settings of the gateway (SPEC §7).
 *
 * One table describes every setting. Each source hands the same setter a
 * text value: defaults (the table's own text), the JSON config file, the
 * PORTICO_* environment, then argv, so a value is checked the same way
 * wherever it comes from and later sources simply overwrite earlier ones.
 *
 * Every error is one line, prefixed with where the value came from:
 *   --max-body-bytes: "abc" is not an integer
 *   PORTICO_TIMEOUT_MS: "0" is out of range (1..60000)
 *   config file x.json: unknown key "foo"
 * Values are quoted in messages, except Redis URLs (they may hold a
 * password). */
#include "config.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "errf.h"
#include "jsonfile.h"
#include "log.h"
#include "portico_config.h"

#define GW_CONFIG_FILE_MAX (1024 * 1024) /* bytes of a config file */
#define GW_ENV_NAME_MAX 64               /* bytes of a PORTICO_* name we build */

/* ------------------------------------------------------------- the table */

enum opt_type {
    OPT_INT,      /* int, min..max */
    OPT_LLONG,    /* long long, min..max */
    OPT_LISTEN,   /* struct gw_hostport, or "off" (sets the bool at off_flag) */
    OPT_REDIS,    /* redis_url + parsed redis */
    OPT_PREFIX,   /* [A-Za-z0-9._-]{1,63} */
    OPT_STRING,   /* up to max bytes, "" allowed */
    OPT_LOGLEVEL, /* debug, info, warn, error */
    OPT_CONFIG,   /* the config file itself: argv and env only */
    OPT_BOOL,     /* bool: true/false, 1/0, yes/no, on/off; a bare flag means true */
    OPT_CIDRS,    /* struct gw_cidr_set: comma-separated CIDR blocks (cidr.h), "" = none */
    OPT_ALOGFMT,  /* access-log format: "json" (false) or "combined" (true) */
};

struct opt {
    const char *key; /* flag name without "--", also the file key */
    enum opt_type type;
    size_t offset;      /* into struct gw_config */
    long long min, max; /* OPT_INT, OPT_LLONG: range; OPT_STRING: max = bytes;
                           OPT_LISTEN: min = offset of its "off" bool */
    const char *def;    /* default, as text; NULL = none (left empty) */
    const char *arg;    /* argument name in --help */
    const char *help;
};

#define OFF(f) offsetof(struct gw_config, f)
#define STRMAX(f) ((long long)sizeof(((struct gw_config *)0)->f) - 1)

static const struct opt opts[] = {
    {"listen", OPT_LISTEN, OFF(listen), OFF(listen_off), 0, "0.0.0.0:8000", "HOST:PORT",
     "public HTTP listener (port 0: any free port); \"off\" with --tls-listen: HTTPS only"},
    {"tls-listen", OPT_LISTEN, OFF(tls_listen), OFF(tls_off), 0, "off", "HOST:PORT",
     "public HTTPS listener (TLS 1.2 and 1.3); needs --tls-cert and --tls-key"},
    {"tls-cert", OPT_STRING, OFF(tls_cert_file), 0, STRMAX(tls_cert_file), NULL, "FILE",
     "PEM certificate chain of the HTTPS listener (the server's first)"},
    {"tls-key", OPT_STRING, OFF(tls_key_file), 0, STRMAX(tls_key_file), NULL, "FILE",
     "PEM private key of the --tls-cert certificate"},
    {"admin", OPT_LISTEN, OFF(admin), OFF(admin_off), 0, "127.0.0.1:8081", "HOST:PORT",
     "admin listener; \"off\" disables it"},
    {"redis", OPT_REDIS, OFF(redis_url), 0, 0, "redis://127.0.0.1:6379", "URL",
     "redis://[user:password@]host[:port][/db], unix:///path[?db=N], "
     "redis-sentinel://[user:password@]host[:port][,host[:port]...]/<master-name>[/db] or "
     "redis-cluster://[user:password@]host[:port][,host[:port]...]"},
    {"prefix", OPT_PREFIX, OFF(prefix), 1, 63, "portico", "P",
     "channel prefix, [A-Za-z0-9._-]{1,63}"},
    {"timeout-ms", OPT_INT, OFF(timeout_ms), 1, 60000, "5000", "N", "default request deadline"},
    {"header-timeout-ms", OPT_INT, OFF(header_timeout_ms), 1, 3600000, "10000", "N",
     "time allowed to receive a request's headers"},
    {"idle-timeout-ms", OPT_INT, OFF(idle_timeout_ms), 1, 86400000, "60000", "N",
     "keep-alive idle time before the gateway closes"},
    {"max-header-bytes", OPT_INT, OFF(max_header_bytes), 1024, 1048576, "16384", "N",
     "request line + headers (larger: 431)"},
    {"max-body-bytes", OPT_LLONG, OFF(max_body_bytes), 0, 1073741824, "1048576", "N",
     "request body after de-chunking (larger: 413)"},
    {"max-reply-bytes", OPT_LLONG, OFF(max_reply_bytes), 1024, 1073741824, "67108864", "N",
     "reply body from a service, inline or by reference (larger: 502)"},
    {"stream-idle-timeout-ms", OPT_INT, OFF(stream_idle_timeout_ms), 1, 86400000, "60000", "N",
     "longest wait between two messages of a streamed reply (then aborted)"},
    {"claim-check-bytes", OPT_LLONG, OFF(claim_check_bytes), 0, 1073741824, "65536", "N",
     "request bodies over it go to services that support it through a Redis key (0: never)"},
    {"async-timeout-ms", OPT_INT, OFF(async_timeout_ms), 1, 86400000, "300000", "N",
     "deadline of an asynchronous request (Prefer: respond-async on an async route)"},
    {"job-ttl-ms", OPT_INT, OFF(job_ttl_ms), 1, 604800000, "3600000", "N",
     "how long a finished job's response stays readable in Redis"},
    {"max-connections", OPT_INT, OFF(max_connections), 1, 1000000, "10000", "N",
     "beyond it new connections are refused"},
    {"max-connections-per-ip", OPT_INT, OFF(max_connections_per_ip), 0, 1000000, "0", "N",
     "open connections per client address; beyond it refused (0: no cap)"},
    {"body-timeout-ms", OPT_INT, OFF(body_timeout_ms), 1, 86400000, "30000", "N",
     "time allowed to receive a request body, extended by --body-min-rate"},
    {"body-min-rate", OPT_INT, OFF(body_min_rate), 0, 1073741824, "1024", "N",
     "body bytes per second: each N received add 1 s to the body time (0: fixed)"},
    {"drain-grace-ms", OPT_INT, OFF(drain_grace_ms), 0, 3600000, "1000", "N",
     "on SIGTERM, how long idle connections may still send one last request"},
    {"registration-secret-file", OPT_STRING, OFF(registration_secret_file), 0,
     STRMAX(registration_secret_file), NULL, "F",
     "file holding the secret for signed registration"},
    {"registration-secrets-file", OPT_STRING, OFF(registration_secrets_file), 0,
     STRMAX(registration_secrets_file), NULL, "F",
     "JSON {\"service\":\"secret\",...}: per-service registration secrets"},
    {"route-allowlist-file", OPT_STRING, OFF(route_allowlist_file), 0, STRMAX(route_allowlist_file),
     NULL, "F", "JSON {\"service\":[\"/prefix\",...],...}: path prefixes each service may own"},
    {"max-instances", OPT_INT, OFF(max_instances), 1, 1000000, "10000", "N",
     "live service instances in total; beyond it new instances are refused"},
    {"max-instances-per-service", OPT_INT, OFF(max_instances_per_service), 1, 1000000, "1000", "N",
     "live instances of one service; beyond it new instances are refused"},
    {"max-routes", OPT_INT, OFF(max_routes), 1, 1000000, "10000", "N",
     "distinct routes in the table (grace included); beyond it new routes are refused"},
    {"max-instance-routes", OPT_INT, OFF(max_instance_routes), 1, 100000000, "100000", "N",
     "routes of all live instances together (a route of 3 instances counts 3)"},
    {"workers", OPT_INT, OFF(workers), 1, 256, "1", "N",
     "single-threaded worker processes sharing the port"},
    {"log-level", OPT_LOGLEVEL, OFF(log_level), 0, 0, "info", "L", "debug, info, warn or error"},
    {"route-grace-ms", OPT_INT, OFF(route_grace_ms), 0, 86400000, "30000", "N",
     "how long routes outlive their last instance"},
    {"outlier-timeouts", OPT_INT, OFF(outlier_timeouts), 0, 1000, "3", "N",
     "consecutive timeouts that eject an instance (0: never eject)"},
    {"outlier-ejection-ms", OPT_INT, OFF(outlier_ejection_ms), 1, 3600000, "30000", "N",
     "base ejection time; the n-th ejection in a row lasts n times it (at most 10)"},
    {"routes-file", OPT_STRING, OFF(routes_file), 0, STRMAX(routes_file), NULL, "F",
     "JSON routes served by plain HTTP upstreams (docs/operations.md), re-read when it changes"},
    {"upstream-eject-ms", OPT_INT, OFF(upstream_eject_ms), 1, 3600000, "10000", "N",
     "how long an HTTP upstream that refused or reset a connection is left out"},
    {"upstream-connect-timeout-ms", OPT_INT, OFF(upstream_connect_timeout_ms), 1, 60000, "2000",
     "N", "time allowed to connect to an HTTP upstream"},
    {"upstream-pool-size", OPT_INT, OFF(upstream_pool_size), 0, 10000, "32", "N",
     "idle kept-alive connections per HTTP upstream (0: a connection per request)"},
    {"upstream-idle-ms", OPT_INT, OFF(upstream_idle_ms), 1, 3600000, "30000", "N",
     "how long an idle kept-alive connection to an HTTP upstream is kept"},
    {"auth-file", OPT_STRING, OFF(auth_file), 0, STRMAX(auth_file), NULL, "F",
     "JSON client auth policy and CORS: API keys, JWT, rules (docs/security.md)"},
    {"auth-fail-limit", OPT_INT, OFF(auth_fail_limit), 0, 1000000, "20", "N",
     "failed credentials per client address and window before 429 (0: no limit)"},
    {"auth-fail-window-ms", OPT_INT, OFF(auth_fail_window_ms), 1000, 86400000, "60000", "N",
     "window of --auth-fail-limit"},
    {"ratelimit-file", OPT_STRING, OFF(ratelimit_file), 0, STRMAX(ratelimit_file), NULL, "F",
     "JSON rate-limit rules per route (docs/security.md)"},
    {"ratelimit-rps", OPT_INT, OFF(ratelimit_rps), 0, 1000000, "0", "N",
     "default limit per client and route, requests per second (0: none)"},
    {"ratelimit-burst", OPT_INT, OFF(ratelimit_burst), 0, 1000000, "0", "N",
     "burst for --ratelimit-rps (0: same as the rate)"},
    {"ratelimit-redis", OPT_BOOL, OFF(ratelimit_redis), 0, 0, "false", "[BOOL]",
     "share rate limits across gateways on Redis"},
    {"trusted-proxies", OPT_CIDRS, OFF(trusted_proxies), 0, 0, NULL, "CIDR,...",
     "peers whose X-Forwarded-For gives the client address (IPv4/IPv6 blocks)"},
    {"proxy-protocol", OPT_BOOL, OFF(proxy_protocol), 0, 0, "false", "[BOOL]",
     "every public connection starts with a PROXY protocol v1 or v2 header"},
    {"access-log", OPT_STRING, OFF(access_log), 0, STRMAX(access_log), "off", "DEST",
     "access log: off, stdout, stderr or a file path (appended to; SIGUSR1 reopens it)"},
    {"access-log-format", OPT_ALOGFMT, OFF(access_log_combined), 0, 0, "json", "F",
     "access log lines: json or combined (the Apache/nginx combined format)"},
    {"config", OPT_CONFIG, OFF(config_file), 0, STRMAX(config_file), NULL, "FILE",
     "JSON object with the same keys without \"--\""},
};

#define NOPTS (sizeof(opts) / sizeof(opts[0]))

/* ---------------------------------------------------------------- helpers */

/* pc_errf's -1 is this module's GW_CONFIG_ERROR: every refusal below is
 * "return pc_errf(...)". */
_Static_assert(GW_CONFIG_ERROR == -1, "pc_errf must return GW_CONFIG_ERROR");

static const struct opt *opt_find(const char *key, size_t len)
{
    for (size_t i = 0; i < NOPTS; i++)
        if (strlen(opts[i].key) == len && memcmp(opts[i].key, key, len) == 0) return &opts[i];
    return NULL;
}

/* "PORTICO_" + key upper-cased, '-' -> '_'. */
static void env_name(const struct opt *o, char *out, size_t cap)
{
    size_t n = (size_t)snprintf(out, cap, "PORTICO_%s", o->key);
    for (size_t i = 8; i < n && i < cap; i++) {
        if (out[i] == '-')
            out[i] = '_';
        else if (out[i] >= 'a' && out[i] <= 'z')
            out[i] = (char)(out[i] - 'a' + 'A');
    }
}

/* A decimal integer: optional '-', digits, nothing else. Returns 0, -1 when
 * s is not an integer, -2 when it does not fit a long long. */
static int parse_ll(const char *s, long long *out)
{
    const char *p = s;
    bool neg = false;
    unsigned long long v = 0, lim = (unsigned long long)LLONG_MAX;

    if (*p == '-') {
        neg = true;
        lim++;
        p++;
    }
    if (*p == '\0' || strspn(p, "0123456789") != strlen(p)) return -1;
    for (; *p; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (lim - d) / 10) return -2;
        v = v * 10 + d;
    }
    *out = neg ? (long long)(0 - v) : (long long)v;
    return 0;
}

/* Whether s is an acceptable host name or IPv4 address for a listener:
 * dotted digits must be a real IPv4 address, names use [A-Za-z0-9.-]. */
static bool host_is_valid(const char *s, size_t n)
{
    bool dotted_digits = true;
    if (n == 0 || n > 253) return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '-';
        if (!ok) return false;
        if (!(c >= '0' && c <= '9') && c != '.') dotted_digits = false;
    }
    if (s[0] == '-' || s[0] == '.' || s[n - 1] == '-') return false;
    if (dotted_digits) {
        char tmp[256];
        struct in_addr a;
        memcpy(tmp, s, n);
        tmp[n] = '\0';
        return inet_pton(AF_INET, tmp, &a) == 1;
    }
    return true;
}

/* HOST:PORT, [IPv6]:PORT; port 0..65535. */
static bool parse_hostport(const char *v, struct gw_hostport *hp, char *why, size_t whylen)
{
    const char *host, *port;
    size_t hlen;

    if (v[0] == '[') {
        const char *close = strchr(v, ']');
        if (close == NULL || close[1] != ':') {
            snprintf(why, whylen, "\"%.300s\" is not [IPV6]:PORT", v);
            return false;
        }
        host = v + 1;
        hlen = (size_t)(close - host);
        port = close + 2;
        char tmp[64];
        struct in6_addr a6;
        if (hlen == 0 || hlen >= sizeof(tmp)) {
            snprintf(why, whylen, "\"%.300s\": bad IPv6 address", v);
            return false;
        }
        memcpy(tmp, host, hlen);
        tmp[hlen] = '\0';
        if (inet_pton(AF_INET6, tmp, &a6) != 1) {
            snprintf(why, whylen, "\"%.300s\": bad IPv6 address", v);
            return false;
        }
    } else {
        const char *colon = strrchr(v, ':');
        if (colon == NULL) {
            snprintf(why, whylen, "\"%.300s\" is not HOST:PORT", v);
            return false;
        }
        host = v;
        hlen = (size_t)(colon - v);
        port = colon + 1;
        if (memchr(host, ':', hlen) != NULL) {
            snprintf(why, whylen, "\"%.300s\": an IPv6 address needs [brackets]", v);
            return false;
        }
        if (!host_is_valid(host, hlen)) {
            snprintf(why, whylen, "\"%.300s\": bad host", v);
            return false;
        }
    }

    long long p;
    if (*port == '-' || parse_ll(port, &p) != 0 || p > 65535) {
        snprintf(why, whylen, "\"%.300s\": port must be 0..65535", v);
        return false;
    }
    memcpy(hp->host, host, hlen);
    hp->host[hlen] = '\0';
    hp->port = (int)p;
    return true;
}

/* ----------------------------------------------------------------- setter */

/* Checks v for o and stores it in c. On failure writes the reason (without
 * the source) to why. */
static bool opt_set(struct gw_config *c, const struct opt *o, const char *v, char *why,
                    size_t whylen)
{
    char *field = (char *)c + o->offset;
    size_t len = strlen(v);

    switch (o->type) {
    case OPT_INT:
    case OPT_LLONG: {
        long long n;
        int rc = parse_ll(v, &n);
        if (rc == -1) {
            snprintf(why, whylen, "\"%.300s\" is not an integer", v);
            return false;
        }
        if (rc != 0 || n < o->min || n > o->max) {
            snprintf(why, whylen, "\"%.300s\" is out of range (%lld..%lld)", v, o->min, o->max);
            return false;
        }
        if (o->type == OPT_INT)
            *(int *)field = (int)n;
        else
            *(long long *)field = n;
        return true;
    }
    case OPT_LISTEN:
        if (strcmp(v, "off") == 0) {
            *(bool *)((char *)c + o->min) = true;
            return true;
        }
        if (!parse_hostport(v, (struct gw_hostport *)field, why, whylen)) return false;
        *(bool *)((char *)c + o->min) = false;
        return true;
    case OPT_REDIS: {
        char reason[200];
        if (len >= sizeof(c->redis_url)) {
            snprintf(why, whylen, "URL too long (max %zu bytes)", sizeof(c->redis_url) - 1);
            return false;
        }
        if (pc_redis_url_parse(v, &c->redis, reason, sizeof(reason)) != 0) {
            snprintf(why, whylen, "%s", reason);
            return false;
        }
        memcpy(c->redis_url, v, len + 1);
        return true;
    }
    case OPT_PREFIX:
        if (len < (size_t)o->min || len > (size_t)o->max ||
            strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != len) {
            snprintf(why, whylen, "\"%.300s\" must be 1..63 of [A-Za-z0-9._-]", v);
            return false;
        }
        memcpy(field, v, len + 1);
        return true;
    case OPT_STRING:
    case OPT_CONFIG:
        if (len > (size_t)o->max) {
            snprintf(why, whylen, "value too long (%zu bytes, max %lld)", len, o->max);
            return false;
        }
        memcpy(field, v, len + 1);
        return true;
    case OPT_BOOL:
        if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0 || strcmp(v, "yes") == 0 ||
            strcmp(v, "on") == 0) {
            *(bool *)field = true;
            return true;
        }
        if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0 || strcmp(v, "no") == 0 ||
            strcmp(v, "off") == 0) {
            *(bool *)field = false;
            return true;
        }
        snprintf(why, whylen, "\"%.300s\" is not a boolean (true or false)", v);
        return false;
    case OPT_CIDRS:
        return gw_cidr_set_parse((struct gw_cidr_set *)field, v, why, whylen);
    case OPT_ALOGFMT:
        if (strcmp(v, "json") != 0 && strcmp(v, "combined") != 0) {
            snprintf(why, whylen, "\"%.300s\" is not one of json, combined", v);
            return false;
        }
        *(bool *)field = strcmp(v, "combined") == 0;
        return true;
    case OPT_LOGLEVEL: {
        int lvl = pc_log_level_parse(v);
        if (lvl < 0) {
            snprintf(why, whylen, "\"%.300s\" is not one of debug, info, warn, error", v);
            return false;
        }
        *(int *)field = lvl;
        return true;
    }
    }
    snprintf(why, whylen, "internal error: bad option type");
    return false;
}

/* --------------------------------------------------------------- sources */

/* Applies the config file at path; the keys are the flag names. */
static int load_file(struct gw_config *c, const char *path, char *err, size_t errlen)
{
    char why[512];
    int rc = GW_CONFIG_ERROR;
    json_t *root = pc_json_file_load("config file", path, GW_CONFIG_FILE_MAX, err, errlen);

    if (root == NULL) return GW_CONFIG_ERROR;
    if (!json_is_object(root)) {
        pc_json_file_err("config file", path, err, errlen, "not a JSON object");
        goto out;
    }

    const char *key;
    json_t *val;
    json_object_foreach(root, key, val)
    {
        const struct opt *o = opt_find(key, strlen(key));
        char num[32];
        const char *text;

        if (o == NULL) {
            pc_json_file_err("config file", path, err, errlen, "unknown key \"%.100s\"", key);
            goto out;
        }
        if (o->type == OPT_CONFIG) {
            pc_json_file_err("config file", path, err, errlen,
                             "\"config\" cannot be set in a config file");
            goto out;
        }
        if (o->type == OPT_INT || o->type == OPT_LLONG) {
            if (!json_is_integer(val)) {
                pc_json_file_err("config file", path, err, errlen, "\"%s\" must be an integer",
                                 o->key);
                goto out;
            }
            snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(val));
            text = num;
        } else if (o->type == OPT_BOOL) {
            if (!json_is_boolean(val)) {
                pc_json_file_err("config file", path, err, errlen, "\"%s\" must be true or false",
                                 o->key);
                goto out;
            }
            text = json_is_true(val) ? "true" : "false";
        } else {
            if (!json_is_string(val)) {
                pc_json_file_err("config file", path, err, errlen, "\"%s\" must be a string",
                                 o->key);
                goto out;
            }
            text = json_string_value(val);
            if (strlen(text) != json_string_length(val)) {
                pc_json_file_err("config file", path, err, errlen, "\"%s\" contains a NUL", o->key);
                goto out;
            }
        }
        if (!opt_set(c, o, text, why, sizeof(why))) {
            pc_json_file_err("config file", path, err, errlen, "\"%s\": %s", o->key, why);
            goto out;
        }
    }
    rc = GW_CONFIG_RUN;
out:
    json_decref(root);
    return rc;
}

/* Applies every PORTICO_* variable that names a setting (but PORTICO_CONFIG,
 * already used); others are left for tools and the SDK. */
static int load_env(struct gw_config *c, char **envp, char *err, size_t errlen)
{
    char name[GW_ENV_NAME_MAX], why[512];

    for (char **e = envp; e != NULL && *e != NULL; e++) {
        if (strncmp(*e, "PORTICO_", 8) != 0) continue;
        const char *eq = strchr(*e, '=');
        if (eq == NULL) continue;
        for (size_t i = 0; i < NOPTS; i++) {
            env_name(&opts[i], name, sizeof(name));
            if (strlen(name) != (size_t)(eq - *e) || memcmp(name, *e, (size_t)(eq - *e)) != 0)
                continue;
            if (opts[i].type != OPT_CONFIG && !opt_set(c, &opts[i], eq + 1, why, sizeof(why)))
                return pc_errf(err, errlen, "%s: %s", name, why);
            break;
        }
    }
    return GW_CONFIG_RUN;
}

/* The value of PORTICO_CONFIG in envp, or NULL. */
static const char *env_config(char **envp)
{
    const char *v = NULL;
    for (char **e = envp; e != NULL && *e != NULL; e++)
        if (strncmp(*e, "PORTICO_CONFIG=", 15) == 0) v = *e + 15;
    return v;
}

/* Walks argv. With apply false it only checks the syntax, handles --help
 * and --version and finds --config; with apply true it sets the values. */
static int walk_argv(struct gw_config *c, int argc, char **argv, bool apply, const char **config,
                     char *err, size_t errlen)
{
    char why[512];

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            gw_config_usage(stdout);
            return GW_CONFIG_EXIT;
        }
        if (strcmp(a, "--version") == 0) {
            printf("portico %s\n", PORTICO_VERSION);
            return GW_CONFIG_EXIT;
        }
        if (strcmp(a, "--check-config") == 0) { /* a mode, not a setting: argv only */
            c->check_config = true;
            continue;
        }
        if (strncmp(a, "--", 2) != 0)
            return pc_errf(err, errlen, "unexpected argument \"%.300s\" (see --help)", a);

        const char *name = a + 2, *eq = strchr(name, '='), *v;
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const struct opt *o = opt_find(name, nlen);
        if (o == NULL)
            return pc_errf(err, errlen, "unknown flag \"--%.*s\" (see --help)",
                           (int)(nlen > 100 ? 100 : nlen), name);
        if (eq != NULL) {
            v = eq + 1;
        } else if (o->type == OPT_BOOL) { /* --flag, or --flag BOOL (SPEC §8) */
            v = i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0 ? argv[++i] : "true";
        } else if (i + 1 < argc) {
            v = argv[++i];
        } else {
            return pc_errf(err, errlen, "--%s: missing value", o->key);
        }

        if (!apply) {
            if (o->type == OPT_CONFIG) *config = v;
            continue;
        }
        if (!opt_set(c, o, v, why, sizeof(why)))
            return pc_errf(err, errlen, "--%s: %s", o->key, why);
    }
    return GW_CONFIG_RUN;
}

/* Replaces control bytes so that err is one line whatever a value held. */
static void one_line(char *err, size_t errlen)
{
    if (err == NULL || errlen == 0) return;
    for (char *p = err; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
}

/* HOST:PORT as written ([IPv6]:PORT) into buf. */
static const char *hostport_text(const struct gw_hostport *hp, char *buf, size_t n)
{
    bool v6 = strchr(hp->host, ':') != NULL;
    snprintf(buf, n, "%s%.256s%s:%d", v6 ? "[" : "", hp->host, v6 ? "]" : "", hp->port);
    return buf;
}

/* True if ip is a wildcard address (0.0.0.0, ::). */
static bool ip_is_any(const struct gw_ip *ip)
{
    static const unsigned char any[16];
    return memcmp(ip->b, any, ip->len) == 0;
}

/* True if an IPv6 wildcard socket takes IPv4 connections too: the gateway
 * leaves IPV6_V6ONLY to the system's default (net.ipv6.bindv6only, 0 on
 * Linux unless changed). */
static bool dual_stack(void)
{
    FILE *f = fopen("/proc/sys/net/ipv6/bindv6only", "r");
    int c = f != NULL ? fgetc(f) : '0';

    if (f != NULL) fclose(f);
    return c != '1';
}

/* True if two listeners would bind the same socket: the same port (not 0)
 * and the same address, or one of them the wildcard of the other's family
 * (or the IPv6 wildcard of a dual-stack system, which takes IPv4 too). Host
 * names are compared as written, never resolved. The second bind would
 * fail, or, with SO_REUSEPORT (--workers), share the port's connections. */
static bool same_socket(const struct gw_hostport *a, const struct gw_hostport *b)
{
    struct gw_ip x, y; /* an IPv4-mapped address is its IPv4 one (cidr.h) */
    bool lx, ly;

    if (a->port == 0 || a->port != b->port) return false;
    lx = gw_ip_parse(a->host, strlen(a->host), &x);
    ly = gw_ip_parse(b->host, strlen(b->host), &y);
    if (!lx || !ly) return !lx && !ly && strcasecmp(a->host, b->host) == 0;
    if (x.len != y.len) /* only the IPv6 wildcard spans both */
        return ((x.len == 16 && ip_is_any(&x)) || (y.len == 16 && ip_is_any(&y))) && dual_stack();
    return memcmp(x.b, y.b, x.len) == 0 || ip_is_any(&x) || ip_is_any(&y);
}

/* Settings that only make sense together. */
static int check_together(const struct gw_config *c, char *err, size_t errlen)
{
    const struct {
        const char *flag;
        const struct gw_hostport *hp;
        bool off;
    } ls[] = {{"--listen", &c->listen, c->listen_off},
              {"--tls-listen", &c->tls_listen, c->tls_off},
              {"--admin", &c->admin, c->admin_off}};
    bool cert = c->tls_cert_file[0] != '\0', key = c->tls_key_file[0] != '\0';

    for (size_t i = 0; i < 3; i++)
        for (size_t j = i + 1; j < 3; j++)
            if (!ls[i].off && !ls[j].off && same_socket(ls[i].hp, ls[j].hp)) {
                char x[300], y[300];
                return pc_errf(err, errlen, "%s %s and %s %s: the same port", ls[i].flag,
                               hostport_text(ls[i].hp, x, sizeof x), ls[j].flag,
                               hostport_text(ls[j].hp, y, sizeof y));
            }

    if (!c->tls_off && (!cert || !key))
        return pc_errf(err, errlen, "--tls-listen needs both --tls-cert and --tls-key");
    if (cert != key) /* without a listener too: a pair named is read (SPEC §9) */
        return pc_errf(err, errlen, "%s without %s: a pair needs both --tls-cert and --tls-key",
                       cert ? "--tls-cert" : "--tls-key", cert ? "--tls-key" : "--tls-cert");
    if (c->listen_off && c->tls_off)
        return pc_errf(err, errlen, "--listen off needs --tls-listen (nothing would be served)");
    return GW_CONFIG_RUN;
}

/* ------------------------------------------------------------- public API */

/* Fills c from defaults, file, environment and argv; see config.h. */
int gw_config_load(struct gw_config *c, int argc, char **argv, char **envp, char *err,
                   size_t errlen)
{
    char why[512];
    const char *config = NULL;
    int rc;

    if (err != NULL && errlen > 0) err[0] = '\0';
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < NOPTS; i++)
        if (opts[i].def != NULL && !opt_set(c, &opts[i], opts[i].def, why, sizeof(why)))
            return pc_errf(err, errlen, "internal error: default of --%s: %s", opts[i].key, why);

    rc = walk_argv(c, argc, argv, false, &config, err, errlen);
    if (rc != GW_CONFIG_RUN) goto out;
    if (config == NULL) config = env_config(envp);
    if (config != NULL && config[0] != '\0') {
        if (!opt_set(c, opt_find("config", 6), config, why, sizeof(why))) {
            rc = pc_errf(err, errlen, "--config: %s", why);
            goto out;
        }
        rc = load_file(c, config, err, errlen);
        if (rc != GW_CONFIG_RUN) goto out;
    }
    rc = load_env(c, envp, err, errlen);
    if (rc != GW_CONFIG_RUN) goto out;
    rc = walk_argv(c, argc, argv, true, &config, err, errlen);
    if (rc == GW_CONFIG_RUN) rc = check_together(c, err, errlen);
out:
    if (rc == GW_CONFIG_ERROR) one_line(err, errlen);
    return rc;
}

/* Writes the --help text: every flag with its argument, meaning and default. */
void gw_config_usage(void *file)
{
    FILE *f = file;

    fprintf(f, "Usage: portico [OPTIONS]\n\nAn API gateway that routes HTTP requests to "
               "services over Redis.\n\nOptions:\n");
    for (size_t i = 0; i < NOPTS; i++) {
        const struct opt *o = &opts[i];
        char flag[64];
        snprintf(flag, sizeof(flag), "--%s %s", o->key, o->arg);
        fprintf(f, "  %-30s %s\n", flag, o->help);
        fprintf(f, "  %-30s default: %s", "", o->def != NULL ? o->def : "none");
        if (o->type == OPT_INT || o->type == OPT_LLONG) fprintf(f, "; %lld..%lld", o->min, o->max);
        fputc('\n', f);
    }
    fprintf(f, "  %-30s %s\n", "--check-config",
            "check the settings and every file they name, print \"configuration ok\"");
    fprintf(f, "  %-30s %s\n", "",
            "and exit 0 (or the reason, exit 2); binds and connects nothing");
    fprintf(f, "  %-30s %s\n", "-h, --help", "print this help and exit");
    fprintf(f, "  %-30s %s\n", "--version", "print the version and exit");
    fprintf(f, "\nFlags take \"--name value\" or \"--name=value\". Every flag can also be set\n"
               "in the environment as PORTICO_ + its name upper-cased with '-' -> '_'\n"
               "(e.g. PORTICO_MAX_BODY_BYTES) or as a key of the --config file\n"
               "(e.g. {\"max-body-bytes\": 65536}). Flags win over the environment,\n"
               "which wins over the file. A bad value exits with status 2.\n"
               "SIGHUP reloads the file and every file the settings name; SIGTERM drains.\n");
}
