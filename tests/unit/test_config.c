/* test_config.c -- settings from defaults, config file, environment, flags. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "test.h"

#define MAXARGS 24

static struct gw_config cfg;
static char err[512];
static char tmpfiles[8][64];
static int ntmp;

/* Runs gw_config_load on a NULL-terminated argv (without argv[0]) and env. */
static int load(const char *const *args, const char *const *env)
{
    char *argv[MAXARGS + 1] = {"portico"};
    int argc = 1;
    for (; args != NULL && args[argc - 1] != NULL && argc < MAXARGS; argc++)
        argv[argc] = (char *)args[argc - 1];
    argv[argc] = NULL;
    err[0] = '\0';
    return gw_config_load(&cfg, argc, argv, (char **)env, err, sizeof(err));
}

/* Writes text to a new temporary file; returns its path. */
static const char *write_tmp(const char *text)
{
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char *path = tmpfiles[ntmp++];
    snprintf(path, sizeof(tmpfiles[0]), "%s/portico-cfg-XXXXXX", dir);
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0) return "/nonexistent";
    size_t n = strlen(text);
    CHECK_EQ_INT(write(fd, text, n), (long long)n);
    close(fd);
    return path;
}

/* Expects an error whose text contains want, on one line. */
#define CHECK_ERR(rc, want)                                                                        \
    do {                                                                                           \
        CHECK_EQ_INT((rc), GW_CONFIG_ERROR);                                                       \
        CHECK(strstr(err, (want)) != NULL);                                                        \
        CHECK(strchr(err, '\n') == NULL);                                                          \
        if (strstr(err, (want)) == NULL) fprintf(stderr, "  err: %s\n  want: %s\n", err, (want));  \
    } while (0)

static void test_defaults(void)
{
    CHECK_EQ_INT(load(NULL, NULL), GW_CONFIG_RUN);
    CHECK_EQ_STR(cfg.listen.host, "0.0.0.0");
    CHECK_EQ_INT(cfg.listen.port, 8000);
    CHECK(!cfg.admin_off);
    CHECK_EQ_STR(cfg.admin.host, "127.0.0.1");
    CHECK_EQ_INT(cfg.admin.port, 8081);
    CHECK_EQ_STR(cfg.redis_url, "redis://127.0.0.1:6379");
    CHECK(!cfg.redis.is_unix);
    CHECK_EQ_STR(cfg.redis.host, "127.0.0.1");
    CHECK_EQ_INT(cfg.redis.port, 6379);
    CHECK_EQ_STR(cfg.prefix, "portico");
    CHECK_EQ_INT(cfg.timeout_ms, 5000);
    CHECK_EQ_INT(cfg.header_timeout_ms, 10000);
    CHECK_EQ_INT(cfg.idle_timeout_ms, 60000);
    CHECK_EQ_INT(cfg.max_header_bytes, 16384);
    CHECK_EQ_INT(cfg.max_body_bytes, 1048576);
    CHECK_EQ_INT(cfg.max_connections, 10000);
    CHECK_EQ_INT(cfg.max_connections_per_ip, 0);
    CHECK_EQ_INT(cfg.body_timeout_ms, 30000);
    CHECK_EQ_INT(cfg.body_min_rate, 1024);
    CHECK_EQ_INT(cfg.drain_grace_ms, 1000);
    CHECK_EQ_STR(cfg.registration_secret_file, "");
    CHECK_EQ_INT(cfg.workers, 1);
    CHECK_EQ_INT(cfg.log_level, PC_LOG_INFO);
    CHECK_EQ_INT(cfg.route_grace_ms, 30000);
    CHECK_EQ_INT(cfg.auth_fail_limit, 20);
    CHECK_EQ_INT(cfg.auth_fail_window_ms, 60000);
    CHECK_EQ_STR(cfg.config_file, "");
}

static void test_flags(void)
{
    const char *a1[] = {"--timeout-ms",
                        "100",
                        "--max-body-bytes=0",
                        "--admin",
                        "off",
                        "--log-level=debug",
                        "--prefix",
                        "acme.prod-1_x",
                        "--registration-secret-file",
                        "/etc/portico/secret",
                        "--redis",
                        "unix:///run/redis.sock?db=3",
                        "--route-grace-ms=0",
                        "--auth-fail-limit=0",
                        "--auth-fail-window-ms",
                        "1000",
                        NULL};
    CHECK_EQ_INT(load(a1, NULL), GW_CONFIG_RUN);
    CHECK_EQ_INT(cfg.timeout_ms, 100);
    CHECK_EQ_INT(cfg.max_body_bytes, 0);
    CHECK(cfg.admin_off);
    CHECK_EQ_INT(cfg.log_level, PC_LOG_DEBUG);
    CHECK_EQ_STR(cfg.prefix, "acme.prod-1_x");
    CHECK_EQ_STR(cfg.registration_secret_file, "/etc/portico/secret");
    CHECK(cfg.redis.is_unix);
    CHECK_EQ_STR(cfg.redis.path, "/run/redis.sock");
    CHECK_EQ_INT(cfg.redis.db, 3);
    CHECK_EQ_INT(cfg.route_grace_ms, 0);
    CHECK_EQ_INT(cfg.auth_fail_limit, 0);
    CHECK_EQ_INT(cfg.auth_fail_window_ms, 1000);

    /* Last one wins; --admin after off turns it back on. */
    const char *a2[] = {"--workers",        "2",          "--workers=256",
                        "--admin=off",      "--admin",    "[::1]:9000",
                        "--max-body-bytes", "1073741824", NULL};
    CHECK_EQ_INT(load(a2, NULL), GW_CONFIG_RUN);
    CHECK_EQ_INT(cfg.workers, 256);
    CHECK(!cfg.admin_off);
    CHECK_EQ_STR(cfg.admin.host, "::1");
    CHECK_EQ_INT(cfg.admin.port, 9000);
    CHECK_EQ_INT(cfg.max_body_bytes, 1073741824);

    /* A boolean flag: bare (true), --flag=BOOL, or --flag BOOL (SPEC §8
     * writes "--proxy-protocol BOOL"); a following flag is not its value. */
    const char *b1[] = {"--proxy-protocol", "true", "--ratelimit-redis", "off", NULL};
    CHECK_EQ_INT(load(b1, NULL), GW_CONFIG_RUN);
    CHECK(cfg.proxy_protocol);
    CHECK(!cfg.ratelimit_redis);
    const char *b2[] = {"--ratelimit-redis", "--proxy-protocol", NULL};
    CHECK_EQ_INT(load(b2, NULL), GW_CONFIG_RUN);
    CHECK(cfg.proxy_protocol);
    CHECK(cfg.ratelimit_redis);
    const char *b3[] = {"--proxy-protocol=1", "--ratelimit-redis", "0", "--timeout-ms", "5", NULL};
    CHECK_EQ_INT(load(b3, NULL), GW_CONFIG_RUN);
    CHECK(cfg.proxy_protocol);
    CHECK(!cfg.ratelimit_redis);
    CHECK_EQ_INT(cfg.timeout_ms, 5);

    /* An empty value is allowed where "none" makes sense. */
    const char *a3[] = {"--registration-secret-file=", NULL};
    CHECK_EQ_INT(load(a3, NULL), GW_CONFIG_RUN);
    CHECK_EQ_STR(cfg.registration_secret_file, "");
}

static void test_hostport(void)
{
    static const struct {
        const char *in, *host;
        int port;
    } good[] = {
        {"0.0.0.0:0", "0.0.0.0", 0},
        {"127.0.0.1:65535", "127.0.0.1", 65535},
        {"localhost:80", "localhost", 80},
        {"gw-1.example.com:8000", "gw-1.example.com", 8000},
        {"[::1]:8080", "::1", 8080},
        {"[::]:0", "::", 0},
        {"[2001:db8::1]:443", "2001:db8::1", 443},
    };
    static const char *bad[] = {
        "8000",     "host",     "host:",    ":8000",    "host:65536", "host:-1", "host:80x",
        "host: 80", "::1:80",   "[::1]80",  "[::1]",    "[zz::1]:80", "[]:80",   "999.1.1.1:80",
        "1.2.3:80", "-host:80", "ho st:80", "ho_st:80", "off:80x",    "OFF",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        const char *a[] = {"--listen", good[i].in, NULL};
        CHECK_EQ_INT(load(a, NULL), GW_CONFIG_RUN);
        CHECK_EQ_STR(cfg.listen.host, good[i].host);
        CHECK_EQ_INT(cfg.listen.port, good[i].port);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *a[] = {"--admin", bad[i], NULL};
        int rc = load(a, NULL);
        if (rc != GW_CONFIG_ERROR) fprintf(stderr, "accepted: --admin %s\n", bad[i]);
        CHECK_ERR(rc, "--admin: ");
    }
    const char *off[] = {"--listen", "off", NULL};
    CHECK_ERR(load(off, NULL), "--listen off needs --tls-listen (nothing would be served)");
}

/* --tls-listen, --tls-cert, --tls-key; --listen off with TLS. */
static void test_tls(void)
{
    CHECK_EQ_INT(load(NULL, NULL), GW_CONFIG_RUN);
    CHECK(cfg.tls_off);
    CHECK(!cfg.listen_off);
    CHECK_EQ_STR(cfg.tls_cert_file, "");

    const char *on[] = {"--tls-listen", "127.0.0.1:8443", "--tls-cert", "c.pem",
                        "--tls-key",    "k.pem",          NULL};
    CHECK_EQ_INT(load(on, NULL), GW_CONFIG_RUN);
    CHECK(!cfg.tls_off);
    CHECK_EQ_STR(cfg.tls_listen.host, "127.0.0.1");
    CHECK_EQ_INT(cfg.tls_listen.port, 8443);
    CHECK_EQ_STR(cfg.tls_cert_file, "c.pem");
    CHECK_EQ_STR(cfg.tls_key_file, "k.pem");

    const char *only[] = {"--listen",     "off",         "--tls-listen=[::1]:0",
                          "--tls-cert=c", "--tls-key=k", NULL};
    CHECK_EQ_INT(load(only, NULL), GW_CONFIG_RUN);
    CHECK(cfg.listen_off);
    CHECK_EQ_STR(cfg.tls_listen.host, "::1");
    CHECK_EQ_INT(cfg.tls_listen.port, 0);

    const char *env[] = {"PORTICO_TLS_LISTEN=0.0.0.0:443", "PORTICO_TLS_CERT=/e/c",
                         "PORTICO_TLS_KEY=/e/k", NULL};
    CHECK_EQ_INT(load(NULL, env), GW_CONFIG_RUN);
    CHECK(!cfg.tls_off);
    CHECK_EQ_INT(cfg.tls_listen.port, 443);
    CHECK_EQ_STR(cfg.tls_key_file, "/e/k");
    const char *back_off[] = {"--tls-listen", "off", NULL}; /* a flag wins over the env */
    CHECK_EQ_INT(load(back_off, env), GW_CONFIG_RUN);
    CHECK(cfg.tls_off);

    const char *file = write_tmp("{\"tls-listen\": \"127.0.0.1:0\", \"tls-cert\": \"/f/c\", "
                                 "\"tls-key\": \"/f/k\", \"listen\": \"off\"}");
    const char *fa[] = {"--config", file, NULL};
    CHECK_EQ_INT(load(fa, NULL), GW_CONFIG_RUN);
    CHECK(cfg.listen_off && !cfg.tls_off);
    CHECK_EQ_STR(cfg.tls_cert_file, "/f/c");

    const char *no_key[] = {"--tls-listen", "127.0.0.1:0", "--tls-cert", "c", NULL};
    CHECK_ERR(load(no_key, NULL), "--tls-listen needs both --tls-cert and --tls-key");
    const char *no_cert[] = {"--tls-listen", "127.0.0.1:0", "--tls-key", "k", NULL};
    CHECK_ERR(load(no_cert, NULL), "--tls-listen needs both --tls-cert and --tls-key");
    const char *empty[] = {"--tls-listen", "127.0.0.1:0", "--tls-cert", "", "--tls-key", "k", NULL};
    CHECK_ERR(load(empty, NULL), "--tls-listen needs both --tls-cert and --tls-key");
    const char *half_cert[] = {"--tls-cert", "c", NULL}; /* no listener: the same rule */
    CHECK_ERR(load(half_cert, NULL),
              "--tls-cert without --tls-key: a pair needs both --tls-cert and --tls-key");
    const char *half_key[] = {"--tls-key", "k", NULL};
    CHECK_ERR(load(half_key, NULL),
              "--tls-key without --tls-cert: a pair needs both --tls-cert and --tls-key");
    /* a pair without the listener: not used, but read all the same (tls.c) */
    const char *pair[] = {"--tls-cert", "c", "--tls-key", "k", NULL};
    CHECK_EQ_INT(load(pair, NULL), GW_CONFIG_RUN);
    CHECK(cfg.tls_off);
    const char *bad[] = {"--tls-listen", "127.0.0.1", NULL};
    CHECK_ERR(load(bad, NULL), "--tls-listen: \"127.0.0.1\" is not HOST:PORT");
    const char *badport[] = {"--tls-listen", "127.0.0.1:65536", NULL};
    CHECK_ERR(load(badport, NULL), "--tls-listen: \"127.0.0.1:65536\": port must be 0..65535");
    const char *both_off[] = {"--listen", "off", "--tls-listen", "off", NULL};
    CHECK_ERR(load(both_off, NULL), "--listen off needs --tls-listen");

    /* two listeners on one port: the same address, or a wildcard of its family */
    const char *same[] = {"--listen",
                          "127.0.0.1:8443",
                          "--tls-listen",
                          "127.0.0.1:8443",
                          "--tls-cert",
                          "c",
                          "--tls-key",
                          "k",
                          NULL};
    CHECK_ERR(load(same, NULL),
              "--listen 127.0.0.1:8443 and --tls-listen 127.0.0.1:8443: the same port");
    const char *wild[] = {"--admin", "0.0.0.0:9000", "--listen", "127.0.0.1:9000", NULL};
    CHECK_ERR(load(wild, NULL), "--listen 127.0.0.1:9000 and --admin 0.0.0.0:9000: the same port");
    const char *wild6[] = {"--listen", "[::1]:9000", "--admin", "[::]:9000", NULL};
    CHECK_ERR(load(wild6, NULL), "--listen [::1]:9000 and --admin [::]:9000: the same port");
    const char *names[] = {"--listen", "localhost:9000", "--admin", "LocalHost:9000", NULL};
    CHECK_ERR(load(names, NULL), "the same port");
    const char *mapped[] = {"--listen", "[::ffff:127.0.0.1]:9000", "--admin", "127.0.0.1:9000",
                            NULL}; /* an IPv4-mapped address is the IPv4 one */
    CHECK_ERR(load(mapped, NULL), "the same port");
    /* the IPv6 wildcard takes IPv4 too on a dual-stack system (the default) */
    FILE *v6only = fopen("/proc/sys/net/ipv6/bindv6only", "r");
    bool dual = v6only == NULL || fgetc(v6only) != '1';
    if (v6only != NULL) fclose(v6only);
    const char *spans[][5] = {{"--listen", "[::]:9000", "--admin", "127.0.0.1:9000", NULL},
                              {"--listen", "0.0.0.0:9000", "--admin", "[::]:9000", NULL}};
    for (size_t i = 0; i < 2; i++)
        CHECK_EQ_INT(load(spans[i], NULL), dual ? GW_CONFIG_ERROR : GW_CONFIG_RUN);
    const char *default_admin[] = {"--listen", "0.0.0.0:8081", NULL}; /* admin's default */
    CHECK_ERR(load(default_admin, NULL), "--admin 127.0.0.1:8081: the same port");
    const char *apart[][5] = {
        {"--listen", "127.0.0.1:9000", "--admin", "127.0.0.2:9000", NULL}, /* two addresses */
        {"--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", NULL},       /* any free port */
        {"--listen", "[::1]:9000", "--admin", "127.0.0.1:9000", NULL},     /* two families */
        {"--listen", "127.0.0.1:9000", "--admin", "off", NULL},
    };
    for (size_t i = 0; i < sizeof apart / sizeof apart[0]; i++)
        CHECK_EQ_INT(load(apart[i], NULL), GW_CONFIG_RUN);
}

static void test_env(void)
{
    const char *env[] = {"PATH=/bin",
                         "PORTICO_TIMEOUT_MS=300",
                         "PORTICO_NOT_A_SETTING=x",
                         "PORTICO_",
                         "PORTICO_LISTEN=127.0.0.1:0",
                         "PORTICO_ADMIN=off",
                         "PORTICO_SECRET_FOR_SDK=zzz",
                         "portico_workers=9",
                         "PORTICO_MAX_BODY_BYTES=5",
                         NULL};
    CHECK_EQ_INT(load(NULL, env), GW_CONFIG_RUN);
    CHECK_EQ_INT(cfg.timeout_ms, 300);
    CHECK_EQ_STR(cfg.listen.host, "127.0.0.1");
    CHECK_EQ_INT(cfg.listen.port, 0);
    CHECK(cfg.admin_off);
    CHECK_EQ_INT(cfg.workers, 1);
    CHECK_EQ_INT(cfg.max_body_bytes, 5);

    const char *benv[] = {"PORTICO_MAX_BODY_BYTES=lots", NULL};
    CHECK_ERR(load(NULL, benv), "PORTICO_MAX_BODY_BYTES: \"lots\" is not an integer");
    CHECK_EQ_STR(err, "PORTICO_MAX_BODY_BYTES: \"lots\" is not an integer");
    const char *benv2[] = {"PORTICO_REDIS=redis://:hunter2@h:0", NULL};
    CHECK_ERR(load(NULL, benv2), "PORTICO_REDIS: ");
    CHECK(strstr(err, "hunter2") == NULL);
}

static void test_file_and_precedence(void)
{
    const char *file = write_tmp("{\n  \"timeout-ms\": 400,\n  \"listen\": \"127.0.0.1:1\",\n"
                                 "  \"max-body-bytes\": 1073741824,\n  \"log-level\": \"warn\",\n"
                                 "  \"redis\": \"redis://:pw@cache:6380/2\"\n}\n");
    char flagcfg[128], envcfg[128];
    snprintf(flagcfg, sizeof(flagcfg), "--config=%s", file);
    snprintf(envcfg, sizeof(envcfg), "PORTICO_CONFIG=%s", file);

    /* File only, via the flag and via the environment. */
    const char *a1[] = {flagcfg, NULL};
    CHECK_EQ_INT(load(a1, NULL), GW_CONFIG_RUN);
    CHECK_EQ_INT(cfg.timeout_ms, 400);
    CHECK_EQ_STR(cfg.listen.host, "127.0.0.1");
    CHECK_EQ_INT(cfg.listen.port, 1);
    CHECK_EQ_INT(cfg.max_body_bytes, 1073741824);
    CHECK_EQ_INT(cfg.log_level, PC_LOG_WARN);
    CHECK_EQ_STR(cfg.redis.host, "cache");
    CHECK_EQ_STR(cfg.redis.password, "pw");
    CHECK_EQ_INT(cfg.redis.db, 2);
    CHECK_EQ_STR(cfg.config_file, file);
    CHECK_EQ_INT(cfg.workers, 1); /* not in the file: default */

    const char *e1[] = {envcfg, NULL};
    CHECK_EQ_INT(load(NULL, e1), GW_CONFIG_RUN);
    CHECK_EQ_INT(cfg.timeout_ms, 400);
    CHECK_EQ_STR(cfg.config_file, file);

    /* env beats file; flag beats env. */
    const char *e2[] = {envcfg, "PORTICO_TIMEOUT_MS=300", NULL};
    CHECK_EQ_INT(load(NULL, e2), GW_CONFIG_RUN);
    CHECK_EQ_INT(cfg.timeout_ms, 300);
    CHECK_EQ_INT(cfg.listen.port, 1);
    const char *a2[] = {"--timeout-ms", "200", NULL};
    CHECK_EQ_INT(load(a2, e2), GW_CONFIG_RUN);
    CHECK_EQ_INT(cfg.timeout_ms, 200);
    CHECK_EQ_INT(cfg.listen.port, 1);

    /* --config beats PORTICO_CONFIG. */
    const char *other = write_tmp("{\"timeout-ms\": 7}");
    char othercfg[128];
    snprintf(othercfg, sizeof(othercfg), "--config=%s", other);
    const char *a3[] = {othercfg, NULL};
    CHECK_EQ_INT(load(a3, e1), GW_CONFIG_RUN);
    CHECK_EQ_INT(cfg.timeout_ms, 7);
    CHECK_EQ_INT(cfg.listen.port, 8000);
    CHECK_EQ_STR(cfg.config_file, other);

    /* An empty object is fine. */
    const char *empty = write_tmp(" {} ");
    const char *a4[] = {"--config", empty, NULL};
    CHECK_EQ_INT(load(a4, NULL), GW_CONFIG_RUN);
    CHECK_EQ_INT(cfg.timeout_ms, 5000);
}

/* A config file with this text must fail with want in the message. */
static void check_file_error(const char *text, const char *want)
{
    const char *file = text ? write_tmp(text) : "/nonexistent/portico.json";
    char expect[256];
    const char *a[] = {"--config", file, NULL};
    int rc = load(a, NULL);
    snprintf(expect, sizeof(expect), "config file %s: %s", file, want);
    CHECK_ERR(rc, expect);
    if (text != NULL) {
        unlink(file);
        tmpfiles[--ntmp][0] = '\0';
    }
}

static void test_file_errors(void)
{
    check_file_error("{\"foo\": 1}", "unknown key \"foo\"");
    check_file_error("{\"max-body-bytes\": \"abc\"}", "\"max-body-bytes\" must be an integer");
    check_file_error("{\"timeout-ms\": 1.5}", "\"timeout-ms\" must be an integer");
    check_file_error("{\"timeout-ms\": true}", "\"timeout-ms\" must be an integer");
    check_file_error("{\"timeout-ms\": 0}", "\"timeout-ms\": \"0\" is out of range (1..60000)");
    check_file_error("{\"listen\": 8000}", "\"listen\" must be a string");
    check_file_error("{\"listen\": \"8000\"}", "\"listen\": \"8000\" is not HOST:PORT");
    check_file_error("{\"log-level\": \"loud\"}", "\"log-level\": \"loud\" is not one of");
    check_file_error("{\"prefix\": \"a:b\"}", "\"prefix\": \"a:b\" must be");
    check_file_error("{\"prefix\": \"a\\u0000b\"}", "line 1 column 21: \\u0000 is not allowed");
    check_file_error("{\"config\": \"x.json\"}", "\"config\" cannot be set");
    check_file_error("{\"workers\": 2, \"workers\": 3}", "line 1 column 24: duplicate object key");
    check_file_error("[1, 2]", "not a JSON object");
    check_file_error("{\"workers\": ", "line 1");
    check_file_error("", "line");
    check_file_error(NULL, "No such file");
}

static void test_errors(void)
{
    static const struct {
        const char *args[4];
        const char *want;
    } cases[] = {
        {{"--max-body-bytes", "abc"}, "--max-body-bytes: \"abc\" is not an integer"},
        {{"--proxy-protocol", "maybe"}, "--proxy-protocol: \"maybe\" is not a boolean"},
        {{"--max-body-bytes=10x"}, "--max-body-bytes: \"10x\" is not an integer"},
        {{"--max-body-bytes", ""}, "--max-body-bytes: \"\" is not an integer"},
        {{"--max-body-bytes", " 10"}, "--max-body-bytes: \" 10\" is not an integer"},
        {{"--max-body-bytes", "+10"}, "--max-body-bytes: \"+10\" is not an integer"},
        {{"--max-body-bytes", "0x10"}, "--max-body-bytes: \"0x10\" is not an integer"},
        {{"--max-body-bytes", "1073741825"},
         "--max-body-bytes: \"1073741825\" is out of range (0..1073741824)"},
        {{"--max-body-bytes", "-1"}, "--max-body-bytes: \"-1\" is out of range"},
        {{"--timeout-ms", "99999999999999999999999"},
         "--timeout-ms: \"99999999999999999999999\" is out of range"},
        {{"--timeout-ms", "-99999999999999999999999"}, "is out of range"},
        {{"--timeout-ms", "0"}, "--timeout-ms: \"0\" is out of range (1..60000)"},
        {{"--timeout-ms", "60001"}, "(1..60000)"},
        {{"--max-header-bytes", "1023"}, "(1024..1048576)"},
        {{"--workers", "257"}, "(1..256)"},
        {{"--auth-fail-limit", "-1"}, "(0..1000000)"},
        {{"--auth-fail-window-ms", "999"}, "(1000..86400000)"},
        {{"--max-connections-per-ip", "-1"}, "(0..1000000)"},
        {{"--body-timeout-ms", "0"}, "--body-timeout-ms: \"0\" is out of range (1..86400000)"},
        {{"--body-min-rate", "1073741825"}, "(0..1073741824)"},
        {{"--drain-grace-ms", "3600001"}, "(0..3600000)"},
        {{"--drain-grace-ms", "1s"}, "--drain-grace-ms: \"1s\" is not an integer"},
        {{"--log-level", "INFO"}, "--log-level: \"INFO\" is not one of debug, info, warn, error"},
        {{"--prefix", ""}, "--prefix: \"\" must be"},
        {{"--prefix", "a b"}, "--prefix: \"a b\" must be"},
        {{"--prefix", "0123456789012345678901234567890123456789012345678901234567890123"},
         "--prefix: "},
        {{"--redis", "http://x"}, "--redis: bad scheme"},
        {{"--redis", "redis://h:0"}, "--redis: bad port"},
        {{"--frobnicate", "1"}, "unknown flag \"--frobnicate\""},
        {{"--frob=1"}, "unknown flag \"--frob\""},
        {{"-x"}, "unexpected argument \"-x\""},
        {{"stray"}, "unexpected argument \"stray\""},
        {{"--listen"}, "--listen: missing value"},
        {{"--prefix", "a\nb"}, "--prefix: \"a?b\" must be"},
        {{"--config", "/nonexistent/c.json"}, "config file /nonexistent/c.json: "},
        {{"--timeout-ms", "1", "--workers", "x"}, "--workers: \"x\" is not an integer"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *a[5] = {cases[i].args[0], cases[i].args[1], cases[i].args[2], cases[i].args[3],
                            NULL};
        CHECK_ERR(load(a, NULL), cases[i].want);
    }
    const char *a[] = {"--max-body-bytes", "abc", NULL};
    load(a, NULL);
    CHECK_EQ_STR(err, "--max-body-bytes: \"abc\" is not an integer");

    /* A bad value is an error even when a later source overrides it. */
    const char *env[] = {"PORTICO_WORKERS=lots", NULL};
    const char *ok[] = {"--workers", "2", NULL};
    CHECK_EQ_INT(load(ok, env), GW_CONFIG_ERROR);

    /* A small err buffer truncates. */
    char small[10];
    char *argv[] = {"portico", "--nope", NULL};
    CHECK_EQ_INT(gw_config_load(&cfg, 2, argv, NULL, small, sizeof(small)), GW_CONFIG_ERROR);
    CHECK_EQ_INT(strlen(small), sizeof(small) - 1);
}

/* Runs load() with stdout sent to a file; returns what was printed. */
static void load_capture(const char *const *args, int *rc, char *out, size_t cap)
{
    FILE *f = tmpfile();
    CHECK(f != NULL);
    fflush(stdout);
    int saved = dup(1);
    dup2(fileno(f), 1);
    *rc = load(args, NULL);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    rewind(f);
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = '\0';
    fclose(f);
}

static void test_help_version(void)
{
    static char out[32768]; /* the whole --help text */
    int rc;

    const char *h[] = {"--help", NULL};
    load_capture(h, &rc, out, sizeof(out));
    CHECK_EQ_INT(rc, GW_CONFIG_EXIT);
    static const char *want[] = {
        "--listen HOST:PORT",
        "0.0.0.0:8000",
        "--admin HOST:PORT",
        "127.0.0.1:8081",
        "off",
        "--redis URL",
        "redis://127.0.0.1:6379",
        "--prefix P",
        "--timeout-ms N",
        "5000",
        "--header-timeout-ms N",
        "10000",
        "--idle-timeout-ms N",
        "60000",
        "--max-header-bytes N",
        "16384",
        "--max-body-bytes N",
        "1048576",
        "--max-connections N",
        "--max-connections-per-ip N",
        "--body-timeout-ms N",
        "--body-min-rate N",
        "--drain-grace-ms N",
        "--registration-secret-file F",
        "--workers N",
        "--log-level L",
        "debug",
        "--route-grace-ms N",
        "30000",
        "--auth-fail-limit N",
        "--auth-fail-window-ms N",
        "--config FILE",
        "PORTICO_MAX_BODY_BYTES",
        "--version",
        "--help",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        if (strstr(out, want[i]) == NULL) fprintf(stderr, "help lacks \"%s\"\n", want[i]);
        CHECK(strstr(out, want[i]) != NULL);
    }

    /* --help wins over values that come after it; -h works too. */
    const char *h2[] = {"-h", "--timeout-ms", "x", NULL};
    load_capture(h2, &rc, out, sizeof(out));
    CHECK_EQ_INT(rc, GW_CONFIG_EXIT);
    CHECK(strstr(out, "--listen") != NULL);

    const char *v[] = {"--version", NULL};
    load_capture(v, &rc, out, sizeof(out));
    CHECK_EQ_INT(rc, GW_CONFIG_EXIT);
    CHECK(strncmp(out, "portico ", 8) == 0);
    CHECK(strchr(out, '\n') != NULL);

    /* An unknown flag before --help is still an error. */
    const char *bad[] = {"--nope", "--help", NULL};
    CHECK_ERR(load(bad, NULL), "unknown flag");
}

/* Signed registration and the route allow-list: paths only (main loads the
 * files, see regpolicy.h); flags, environment and file all reach them. */
static void test_registration_files(void)
{
    const char *a[] = {"--registration-secrets-file", "/etc/portico/secrets.json",
                       "--route-allowlist-file=/etc/portico/allow.json", NULL};
    CHECK_EQ_INT(load(a, NULL), GW_CONFIG_RUN);
    CHECK_EQ_STR(cfg.registration_secrets_file, "/etc/portico/secrets.json");
    CHECK_EQ_STR(cfg.route_allowlist_file, "/etc/portico/allow.json");
    CHECK(cfg.reg_policy == NULL);

    CHECK_EQ_INT(load(NULL, NULL), GW_CONFIG_RUN);
    CHECK_EQ_STR(cfg.registration_secrets_file, "");
    CHECK_EQ_STR(cfg.route_allowlist_file, "");

    const char *env[] = {"PORTICO_REGISTRATION_SECRETS_FILE=/e/s.json",
                         "PORTICO_ROUTE_ALLOWLIST_FILE=/e/a.json", NULL};
    const char *a2[] = {"--route-allowlist-file", "/flag/a.json", NULL};
    CHECK_EQ_INT(load(a2, env), GW_CONFIG_RUN);
    CHECK_EQ_STR(cfg.registration_secrets_file, "/e/s.json");
    CHECK_EQ_STR(cfg.route_allowlist_file, "/flag/a.json");

    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char path[128];
    snprintf(path, sizeof(path), "%s/portico-cfg-reg-XXXXXX", dir);
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd >= 0) {
        const char *text = "{\"registration-secret-file\": \"/f/secret\",\n"
                           " \"registration-secrets-file\": \"/f/secrets.json\",\n"
                           " \"route-allowlist-file\": \"/f/allow.json\"}";
        CHECK_EQ_INT(write(fd, text, strlen(text)), (long long)strlen(text));
        close(fd);
        const char *a3[] = {"--config", path, NULL};
        CHECK_EQ_INT(load(a3, NULL), GW_CONFIG_RUN);
        CHECK_EQ_STR(cfg.registration_secret_file, "/f/secret");
        CHECK_EQ_STR(cfg.registration_secrets_file, "/f/secrets.json");
        CHECK_EQ_STR(cfg.route_allowlist_file, "/f/allow.json");
        unlink(path);
    }

    const char *bad[] = {"--route-allowlist-file", NULL};
    CHECK_ERR(load(bad, NULL), "--route-allowlist-file: missing value");

    static char out[8192];
    int rc;
    const char *h[] = {"--help", NULL};
    load_capture(h, &rc, out, sizeof(out));
    CHECK(strstr(out, "--registration-secrets-file F") != NULL);
    CHECK(strstr(out, "--route-allowlist-file F") != NULL);
}

/* --check-config is a mode of the command line, not a setting: no value, no
 * environment variable, no config file key. */
static void test_check_config(void)
{
    const char *a1[] = {"--check-config", "--timeout-ms", "7", NULL};
    const char *a2[] = {"--check-config=yes", NULL};
    const char *e1[] = {"PORTICO_CHECK_CONFIG=1", NULL};
    const char *a3[] = {"--config", write_tmp("{\"check-config\": true}"), NULL};

    CHECK_EQ_INT(load(NULL, NULL), GW_CONFIG_RUN);
    CHECK(!cfg.check_config);
    CHECK_EQ_INT(load(a1, NULL), GW_CONFIG_RUN);
    CHECK(cfg.check_config);
    CHECK_EQ_INT(cfg.timeout_ms, 7);
    CHECK_ERR(load(a2, NULL), "unknown flag \"--check-config\"");
    CHECK_EQ_INT(load(NULL, e1), GW_CONFIG_RUN);
    CHECK(!cfg.check_config);
    CHECK_ERR(load(a3, NULL), "unknown key \"check-config\"");
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    test_defaults();
    test_flags();
    test_hostport();
    test_tls();
    test_env();
    test_file_and_precedence();
    test_file_errors();
    test_errors();
    test_help_version();
    test_registration_files();
    test_check_config();
    for (int i = 0; i < (int)(sizeof(tmpfiles) / sizeof(tmpfiles[0])); i++)
        if (tmpfiles[i][0] != '\0') unlink(tmpfiles[i]);
    return test_finish("config");
}
