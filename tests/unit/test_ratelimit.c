/* test_ratelimit.c -- token bucket math, rule files and the local table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gw.h"
#include "ratelimit.h"
#include "test.h"

/* The gateway's globals live in main.c, which tests do not link. */
struct gw_state gw;
uint64_t gw_now_unix_ms(void) { return 0; }
uint64_t gw_now_mono_ms(void) { return 0; }

static char tmpl[] = "/tmp/portico-rl-XXXXXX";

/* Loads rules from JSON text (NULL: no file) plus flags; returns init's rc. */
static int load(const char *json, int rps, int burst, char *err, size_t errlen)
{
    struct gw_config c;
    memset(&c, 0, sizeof c);
    snprintf(c.prefix, sizeof c.prefix, "portico");
    c.ratelimit_rps = rps;
    c.ratelimit_burst = burst;
    if (json != NULL) {
        char path[64];
        FILE *f;
        snprintf(path, sizeof path, "%s", tmpl);
        int fd = mkstemp(path);
        CHECK(fd >= 0);
        f = fdopen(fd, "w");
        fputs(json, f);
        fclose(f);
        snprintf(c.ratelimit_file, sizeof c.ratelimit_file, "%s", path);
        int rc = gw_ratelimit_init(&c, err, errlen);
        unlink(path);
        return rc;
    }
    return gw_ratelimit_init(&c, err, errlen);
}

static struct gw_rl_rule rule(uint64_t interval_us, uint32_t burst)
{
    struct gw_rl_rule r;
    memset(&r, 0, sizeof r);
    r.interval_us = interval_us;
    r.burst = burst;
    return r;
}

static void test_burst_then_refill(void)
{
    struct gw_rl_rule r = rule(100000, 5); /* 10/s, burst 5 */
    struct gw_rl_bucket b;
    struct gw_rl_result res;

    gw_rl_bucket_init(&b, &r, 1000);
    for (int i = 0; i < 5; i++) {
        gw_rl_bucket_take(&b, &r, 1000, &res);
        CHECK(res.allowed);
        CHECK_EQ_INT(res.limit, 5);
        CHECK_EQ_INT(res.remaining, 4 - i);
        CHECK_EQ_INT(res.retry_after_ms, 0);
        CHECK_EQ_INT(res.reset_ms, 100 * (i + 1));
    }
    gw_rl_bucket_take(&b, &r, 1000, &res);
    CHECK(!res.allowed);
    CHECK_EQ_INT(res.remaining, 0);
    CHECK_EQ_INT(res.retry_after_ms, 100);
    CHECK_EQ_INT(res.reset_ms, 500);
    /* Half an interval later: still nothing, half the wait left. */
    gw_rl_bucket_take(&b, &r, 1050, &res);
    CHECK(!res.allowed);
    CHECK_EQ_INT(res.retry_after_ms, 50);
    /* A denied request costs nothing: the token arrives on time. */
    gw_rl_bucket_take(&b, &r, 1100, &res);
    CHECK(res.allowed);
    CHECK_EQ_INT(res.remaining, 0);
    gw_rl_bucket_take(&b, &r, 1100, &res);
    CHECK(!res.allowed);
    /* Long idle: full again, never more than the burst. */
    gw_rl_bucket_take(&b, &r, 100000, &res);
    CHECK(res.allowed);
    CHECK_EQ_INT(res.remaining, 4);
    /* Sustained rate: one per interval, exactly. */
    gw_rl_bucket_init(&b, &r, 0);
    int allowed = 0;
    for (uint64_t t = 0; t < 10000; t += 10) {
        gw_rl_bucket_take(&b, &r, t, &res);
        allowed += res.allowed;
    }
    CHECK_EQ_INT(allowed, 5 + 99); /* the burst, then one per 100 ms over 9.99 s */
}

static void test_clock_backwards(void)
{
    struct gw_rl_rule r = rule(1000000, 1); /* 1/s, burst 1 */
    struct gw_rl_bucket b;
    struct gw_rl_result res;

    gw_rl_bucket_init(&b, &r, 50000);
    gw_rl_bucket_take(&b, &r, 50000, &res);
    CHECK(res.allowed);
    /* The clock steps back 40 s: no credit, but the wait restarts from now. */
    gw_rl_bucket_take(&b, &r, 10000, &res);
    CHECK(!res.allowed);
    CHECK_EQ_INT(res.retry_after_ms, 1000);
    gw_rl_bucket_take(&b, &r, 11000, &res);
    CHECK(res.allowed);
}

static void test_is_full(void)
{
    struct gw_rl_rule r = rule(100000, 3);
    struct gw_rl_bucket b;
    struct gw_rl_result res;

    gw_rl_bucket_init(&b, &r, 0);
    CHECK(gw_rl_bucket_is_full(&b, &r, 0));
    gw_rl_bucket_take(&b, &r, 0, &res);
    gw_rl_bucket_take(&b, &r, 0, &res);
    CHECK(!gw_rl_bucket_is_full(&b, &r, 199));
    CHECK(gw_rl_bucket_is_full(&b, &r, 200));
    CHECK(!gw_rl_bucket_is_full(&b, &r, 0));
}

static void test_rules(void)
{
    char err[512];
    const struct gw_rl_rule *r;

    CHECK_EQ_INT(load("{\"default\":{\"rate\":10,\"burst\":20},\"rules\":["
                      "{\"prefix\":\"/api\",\"rate\":100},"
                      "{\"prefix\":\"/api/users/\",\"rate\":5,\"per\":\"minute\",\"burst\":2},"
                      "{\"route\":\"/api/users/{id}\",\"rate\":3},"
                      "{\"route\":\"/health\",\"unlimited\":true},"
                      "{\"prefix\":\"/\",\"rate\":1,\"per\":\"hour\"}]}",
                      0, 0, err, sizeof err),
                 0);
    r = gw_ratelimit_rule_for("/api/users/{uid}"); /* param names do not count */
    CHECK(r != NULL && r->interval_us == 333333 && r->burst == 3 && !r->prefix);
    r = gw_ratelimit_rule_for("/api/users/{id}/posts");
    CHECK(r != NULL && r->interval_us == 12000000 && r->burst == 2 && r->window_s == 24);
    r = gw_ratelimit_rule_for("/api/orders");
    CHECK(r != NULL && r->interval_us == 10000 && r->burst == 100 && r->window_s == 1);
    r = gw_ratelimit_rule_for("/api");
    CHECK(r != NULL && r->burst == 100);
    r = gw_ratelimit_rule_for("/apix"); /* segment boundary: "/" wins */
    CHECK(r != NULL && r->interval_us == 3600000000u && r->burst == 1);
    CHECK(gw_ratelimit_rule_for("/health") == NULL);
    r = gw_ratelimit_rule_for("/health/deep"); /* exact only: "/" prefix */
    CHECK(r != NULL && r->burst == 1);

    /* A prefix covers whole segments (path.h): "/api" covers "/api" and
     * "/api/x", never "/apix"; a trailing "/" or "/" "*" means the same. */
    CHECK_EQ_INT(load("{\"rules\":[{\"prefix\":\"/api\",\"rate\":7},"
                      "{\"prefix\":\"/v2/\",\"rate\":8},{\"prefix\":\"/v3/*\",\"rate\":9}]}",
                      0, 0, err, sizeof err),
                 0);
    r = gw_ratelimit_rule_for("/api");
    CHECK(r != NULL && r->burst == 7);
    r = gw_ratelimit_rule_for("/api/x");
    CHECK(r != NULL && r->burst == 7);
    r = gw_ratelimit_rule_for("/api/{id}/*");
    CHECK(r != NULL && r->burst == 7);
    CHECK(gw_ratelimit_rule_for("/apix") == NULL);
    CHECK(gw_ratelimit_rule_for("/apix/y") == NULL);
    r = gw_ratelimit_rule_for("/v2");
    CHECK(r != NULL && r->burst == 8);
    r = gw_ratelimit_rule_for("/v3");
    CHECK(r != NULL && r->burst == 9);
    CHECK(gw_ratelimit_rule_for("/v2x") == NULL);
    /* "/api" and "/api/" are one prefix now: a duplicate. */
    CHECK_EQ_INT(load("{\"rules\":[{\"prefix\":\"/api\",\"rate\":1},"
                      "{\"prefix\":\"/api/\",\"rate\":2}]}",
                      0, 0, err, sizeof err),
                 -1);
    CHECK(strstr(err, "rules[1]: same prefix as rules[0]") != NULL);

    /* No prefix "/": the default applies; flags replace the default. */
    CHECK_EQ_INT(load("{\"default\":{\"rate\":10,\"burst\":20}}", 0, 0, err, sizeof err), 0);
    r = gw_ratelimit_rule_for("/x");
    CHECK(r != NULL && r->burst == 20 && r->interval_us == 100000 && r->window_s == 2);
    CHECK_EQ_INT(load("{\"default\":{\"rate\":10,\"burst\":20}}", 4, 0, err, sizeof err), 0);
    r = gw_ratelimit_rule_for("/x");
    CHECK(r != NULL && r->burst == 4 && r->interval_us == 250000);
    CHECK_EQ_INT(load(NULL, 50, 7, err, sizeof err), 0);
    r = gw_ratelimit_rule_for("/anything");
    CHECK(r != NULL && r->burst == 7 && r->interval_us == 20000);
    CHECK_EQ_INT(load(NULL, 0, 0, err, sizeof err), 0);
    CHECK(gw_ratelimit_rule_for("/anything") == NULL);
    CHECK_EQ_INT(load("{\"default\":null,\"rules\":[]}", 0, 0, err, sizeof err), 0);
    CHECK(gw_ratelimit_rule_for("/anything") == NULL);
}

static void test_rule_errors(void)
{
    static const struct {
        const char *json;
        const char *want; /* a substring of the error */
    } bad[] = {
        {"[]", "not a JSON object"},
        {"{\"defaults\":{}}", "unknown key \"defaults\""},
        {"{\"default\":{\"rate\":0}}", "\"rate\" must be an integer 1..1000000"},
        {"{\"default\":{\"rate\":\"5\"}}", "\"rate\" must be an integer"},
        {"{\"default\":{\"burst\":5}}", "needs \"rate\""},
        {"{\"default\":{\"rate\":5,\"per\":\"day\"}}", "\"per\" must be second, minute or hour"},
        {"{\"default\":{\"rate\":5,\"route\":\"/a\"}}", "unknown key \"route\""},
        {"{\"rules\":{}}", "\"rules\" must be an array"},
        {"{\"rules\":[{\"rate\":5}]}", "rules[0]: needs \"route\" or \"prefix\""},
        {"{\"rules\":[{\"route\":\"a\",\"rate\":5}]}", "must be a path pattern"},
        {"{\"rules\":[{\"route\":\"/a\",\"prefix\":\"/a\",\"rate\":5}]}", "not both"},
        {"{\"rules\":[{\"route\":\"/a/{x}\",\"rate\":5},{\"route\":\"/a/{y}\",\"rate\":6}]}",
         "rules[1]: same route as rules[0]"},
        {"{\"rules\":[{\"route\":\"/a\",\"unlimited\":1}]}", "\"unlimited\" must be true or false"},
        {"{\"default\":{\"rate\":5,\"rate\":6}}", "line 1"},
    };
    char err[512];

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        CHECK_EQ_INT(load(bad[i].json, 0, 0, err, sizeof err), -1);
        if (strstr(err, bad[i].want) == NULL || strncmp(err, "--ratelimit-file ", 17) != 0) {
            fprintf(stderr, "case %zu: error \"%s\" lacks \"%s\"\n", i, err, bad[i].want);
            CHECK(0);
        }
        CHECK(strchr(err, '\n') == NULL);
    }
    CHECK_EQ_INT(load(NULL, 0, 5, err, sizeof err), -1);
    CHECK_EQ_STR(err, "--ratelimit-burst needs --ratelimit-rps");
}

static void test_local_table(void)
{
    char err[256], id[32];
    const struct gw_rl_rule *r;
    struct gw_rl_result res;

    CHECK_EQ_INT(load(NULL, 1, 2, err, sizeof err), 0);
    r = gw_ratelimit_rule_for("/a");
    CHECK(r != NULL);
    /* Identities and routes have buckets of their own. */
    for (int i = 0; i < 2; i++) {
        gw_ratelimit_local(r, "/a", "ip:127.0.0.1", 0, &res);
        CHECK(res.allowed);
    }
    gw_ratelimit_local(r, "/a", "ip:127.0.0.1", 0, &res);
    CHECK(!res.allowed);
    CHECK_EQ_INT(res.retry_after_ms, 1000);
    gw_ratelimit_local(r, "/a", "ip:127.0.0.2", 0, &res);
    CHECK(res.allowed);
    gw_ratelimit_local(r, "/b", "ip:127.0.0.1", 0, &res);
    CHECK(res.allowed);
    /* "/a" + "\0" + "b:x" is not "/a\0b" + ":x": the key is length-delimited. */
    gw_ratelimit_local(r, "/a", "ip:127.0.0.10", 0, &res);
    CHECK_EQ_INT(res.remaining, 1);
    CHECK_EQ_INT(gw_ratelimit_bucket_count(), 4);

    /* The sweep drops refilled buckets only. */
    CHECK_EQ_INT(gw_ratelimit_sweep(1000), 3);    /* one token spent: full at 1 s */
    CHECK_EQ_INT(gw_ratelimit_bucket_count(), 1); /* 127.0.0.1 on /a spent two */
    CHECK_EQ_INT(gw_ratelimit_sweep(2000), 1);
    CHECK_EQ_INT(gw_ratelimit_bucket_count(), 0);

    /* A full table evicts the least recently used bucket. */
    for (int i = 0; i < GW_RL_MAX_BUCKETS; i++) {
        snprintf(id, sizeof id, "ip:10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
        gw_ratelimit_local(r, "/a", id, 5000, &res);
    }
    CHECK_EQ_INT(gw_ratelimit_bucket_count(), GW_RL_MAX_BUCKETS);
    gw_ratelimit_local(r, "/a", "ip:10.0.0.0", 5000, &res); /* touch the oldest */
    CHECK_EQ_INT(res.remaining, 0);
    gw_ratelimit_local(r, "/a", "ip:192.0.2.1", 5000, &res); /* evicts 10.0.0.1 */
    CHECK_EQ_INT(gw_ratelimit_bucket_count(), GW_RL_MAX_BUCKETS);
    gw_ratelimit_local(r, "/a", "ip:10.0.0.0", 5000, &res); /* kept: spent */
    CHECK(!res.allowed);
    gw_ratelimit_local(r, "/a", "ip:10.0.0.1", 5000, &res); /* fresh again */
    CHECK(res.allowed);
    CHECK_EQ_INT(res.remaining, 1);
    gw_ratelimit_deinit();
    CHECK_EQ_INT(gw_ratelimit_bucket_count(), 0);
}

/* Peeking (the failed-credentials limit of auth.c): counts nothing, creates
 * nothing, and sees what taking left: 2 events per 2 s here. */
static void test_local_peek(void)
{
    const struct gw_rl_rule rule = {.burst = 2, .interval_us = 1000000, .window_s = 2};
    struct gw_rl_result res;

    gw_ratelimit_deinit();
    for (int i = 0; i < 3; i++) { /* no bucket: a full one, never made */
        gw_ratelimit_local_peek(&rule, "!auth-fail", "10.0.0.1", 0, &res);
        CHECK(res.allowed);
        CHECK_EQ_INT(res.remaining, 2);
    }
    CHECK_EQ_INT(gw_ratelimit_bucket_count(), 0);
    gw_ratelimit_local(&rule, "!auth-fail", "10.0.0.1", 0, &res); /* one failure */
    gw_ratelimit_local_peek(&rule, "!auth-fail", "10.0.0.1", 0, &res);
    CHECK(res.allowed);
    CHECK_EQ_INT(res.remaining, 1);
    gw_ratelimit_local(&rule, "!auth-fail", "10.0.0.1", 0, &res); /* the last one */
    CHECK(res.allowed);
    for (int i = 0; i < 3; i++) { /* refused, and peeking takes nothing more */
        gw_ratelimit_local_peek(&rule, "!auth-fail", "10.0.0.1", 400, &res);
        CHECK(!res.allowed);
        CHECK_EQ_INT(res.retry_after_ms, 600);
    }
    gw_ratelimit_local_peek(&rule, "!auth-fail", "10.0.0.2", 400, &res); /* its own */
    CHECK(res.allowed);
    gw_ratelimit_local_peek(&rule, "!auth-fail", "10.0.0.1", 1000, &res); /* one back */
    CHECK(res.allowed);
    CHECK_EQ_INT(res.remaining, 1);
    CHECK_EQ_INT(gw_ratelimit_bucket_count(), 1);
    CHECK_EQ_INT(gw_ratelimit_sweep(2000), 1); /* full again: swept like any bucket */
    gw_ratelimit_deinit();
}

/* The settings: --ratelimit-redis is a boolean that never takes the next argument. */
static void test_config(void)
{
    struct gw_config c;
    char err[512];
    char *a1[] = {"portico", "--ratelimit-redis", "--ratelimit-rps", "5", NULL};
    char *a2[] = {
        "portico", "--ratelimit-redis=false", "--ratelimit-burst=9", "--ratelimit-file", "/x.json",
        NULL};
    char *a3[] = {"portico", "--ratelimit-redis=perhaps", NULL};
    char *a4[] = {"portico", NULL};
    char *env_on[] = {"PORTICO_RATELIMIT_REDIS=yes", "PORTICO_RATELIMIT_RPS=7", NULL};
    char *a5[] = {"portico", "--ratelimit-redis", "off", NULL};

    CHECK_EQ_INT(gw_config_load(&c, 4, a1, NULL, err, sizeof err), GW_CONFIG_RUN);
    CHECK(c.ratelimit_redis);
    CHECK_EQ_INT(c.ratelimit_rps, 5);
    CHECK_EQ_INT(c.ratelimit_burst, 0);
    CHECK_EQ_INT(gw_config_load(&c, 5, a2, NULL, err, sizeof err), GW_CONFIG_RUN);
    CHECK(!c.ratelimit_redis);
    CHECK_EQ_INT(c.ratelimit_burst, 9);
    CHECK_EQ_STR(c.ratelimit_file, "/x.json");
    CHECK_EQ_INT(gw_config_load(&c, 2, a3, NULL, err, sizeof err), GW_CONFIG_ERROR);
    CHECK_EQ_STR(err, "--ratelimit-redis: \"perhaps\" is not a boolean (true or false)");
    CHECK_EQ_INT(gw_config_load(&c, 1, a4, NULL, err, sizeof err), GW_CONFIG_RUN);
    CHECK(!c.ratelimit_redis);
    CHECK_EQ_INT(c.ratelimit_rps, 0);
    CHECK_EQ_INT(gw_config_load(&c, 1, a4, env_on, err, sizeof err), GW_CONFIG_RUN);
    CHECK(c.ratelimit_redis);
    CHECK_EQ_INT(c.ratelimit_rps, 7);
    /* A boolean flag takes the next argument as its value (SPEC §8 "--flag BOOL"). */
    CHECK_EQ_INT(gw_config_load(&c, 3, a5, NULL, err, sizeof err), GW_CONFIG_RUN);
    CHECK(!c.ratelimit_redis);

    /* The config file takes JSON booleans, not strings. */
    static const char *files[] = {"{\"ratelimit-redis\": true, \"ratelimit-rps\": 3}",
                                  "{\"ratelimit-redis\": \"true\"}"};
    for (int i = 0; i < 2; i++) {
        char path[64], arg[80];
        snprintf(path, sizeof path, "%s", tmpl);
        int fd = mkstemp(path);
        FILE *f = fdopen(fd, "w");
        fputs(files[i], f);
        fclose(f);
        snprintf(arg, sizeof arg, "--config=%s", path);
        char *a6[] = {"portico", arg, NULL};
        int rc = gw_config_load(&c, 2, a6, NULL, err, sizeof err);
        unlink(path);
        if (i == 0) {
            CHECK_EQ_INT(rc, GW_CONFIG_RUN);
            CHECK(c.ratelimit_redis);
            CHECK_EQ_INT(c.ratelimit_rps, 3);
        } else {
            CHECK_EQ_INT(rc, GW_CONFIG_ERROR);
            CHECK(strstr(err, "\"ratelimit-redis\" must be true or false") != NULL);
        }
    }
}

int main(void)
{
    test_config();
    test_burst_then_refill();
    test_clock_backwards();
    test_is_full();
    test_rules();
    test_rule_errors();
    test_local_table();
    test_local_peek();
    gw_ratelimit_deinit();
    return test_finish("test_ratelimit");
}
