/* test_redisurl.c -- the Redis address forms of SPEC §7. */
#include <string.h>

#include "redisurl.h"
#include "test.h"

struct good_case {
    const char *url;
    bool is_unix;
    const char *host;
    int port;
    const char *path;
    const char *user;
    const char *password;
    int db;
};

static const struct good_case good[] = {
    {"redis://127.0.0.1:6379", false, "127.0.0.1", 6379, "", "", "", 0},
    {"redis://localhost", false, "localhost", 6379, "", "", "", 0},
    {"redis://localhost/", false, "localhost", 6379, "", "", "", 0},
    {"REDIS://Cache.Example:1/15", false, "Cache.Example", 1, "", "", "", 15},
    {"redis://redis-1.internal:65535/0", false, "redis-1.internal", 65535, "", "", "", 0},
    {"redis://:s3cret@host", false, "host", 6379, "", "", "s3cret", 0},
    {"redis://s3cret@host:7000", false, "host", 7000, "", "", "s3cret", 0},
    {"redis://alice:pw@h:6380/3", false, "h", 6380, "", "alice", "pw", 3},
    {"redis://al%69ce:p%40ss%3Aw%2Fd@h", false, "h", 6379, "", "alice", "p@ss:w/d", 0},
    {"redis://u:p@ss@h", false, "h", 6379, "", "u", "p@ss", 0},
    {"redis://[::1]:6380/2", false, "::1", 6380, "", "", "", 2},
    {"redis://[::1]", false, "::1", 6379, "", "", "", 0},
    {"redis://:pw@[fe80::1%25eth0]:6379", false, "fe80::1%eth0", 6379, "", "", "pw", 0},
    {"redis://[::ffff:10.0.0.1]:1", false, "::ffff:10.0.0.1", 1, "", "", "", 0},
    {"unix:///run/redis/redis.sock", true, "", 0, "/run/redis/redis.sock", "", "", 0},
    {"unix:///tmp/r.sock?db=4", true, "", 0, "/tmp/r.sock", "", "", 4},
};

static const char *bad[] = {
    "",
    "127.0.0.1:6379",
    "http://localhost",
    "rediss://localhost",
    "redis:/localhost",
    "redis://",
    "redis://:6379",
    "redis://:pw@",
    "redis://:pw@:6379",
    "redis://host:0",
    "redis://host:65536",
    "redis://host:abc",
    "redis://host:",
    "redis://host:-1",
    "redis://host:99999999999999999999",
    "redis://host/abc",
    "redis://host/-1",
    "redis://host/1/2",
    "redis://host/99999999999",
    "redis://host?db=1",
    "redis://host#x",
    "redis://ho st",
    "redis://::1:6379",
    "redis://[::1",
    "redis://[::1]x",
    "redis://[nothex]:1",
    "redis://[127.0.0.1]",
    "redis://[fe80::1%eth0]",
    "redis://[fe80::1%25]",
    "redis://:@host",
    "redis://user:@host",
    "redis://@host",
    "redis://:p%zzw@host",
    "redis://:p%2@host",
    "redis://:p%00w@host",
    "redis://u%@host",
    "unix://",
    "unix://relative/sock",
    "unix:///",
    "unix:///tmp/s?db=x",
    "unix:///tmp/s?db=",
    "unix:///tmp/s?timeout=1",
    "unix:///tmp/s\n",
    "redis-cluster://",
    "redis-cluster://h1:1,",
    "redis-cluster://,h1:1",
    "redis-cluster://h1:1,,h2:2",
    "redis-cluster://h1:0",
    "redis-cluster://h1:1,h2:x",
    "redis-cluster://h1:1/1",
    "redis-cluster://h1:1/0",
    "redis-cluster://h1:1?db=1",
    "redis-cluster://:@h1:1",
    "redis-cluster://h 1:1",
    "redis-cluster://[::1:1",
    "redis-cluster://a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q",
};

/* redis-cluster:// seed lists: every seed, in order, with defaults. */
static void test_cluster(void)
{
    struct pc_redis_addr a;
    char err[256] = "";

    CHECK_EQ_INT(pc_redis_url_parse("redis://h:1", &a, err, sizeof(err)), 0);
    CHECK_EQ_INT(a.mode, PC_REDIS_SINGLE);
    CHECK_EQ_INT(a.nnodes, 0);

    CHECK_EQ_INT(pc_redis_url_parse("REDIS-CLUSTER://alice:p%40w@127.0.0.1:7000,[::1]:7001,node-3/",
                                    &a, err, sizeof(err)),
                 0);
    CHECK_EQ_INT(a.mode, PC_REDIS_CLUSTER);
    CHECK_EQ_INT(a.nnodes, 3);
    CHECK_EQ_STR(a.nodes[0].host, "127.0.0.1");
    CHECK_EQ_INT(a.nodes[0].port, 7000);
    CHECK_EQ_STR(a.nodes[1].host, "::1");
    CHECK_EQ_INT(a.nodes[1].port, 7001);
    CHECK_EQ_STR(a.nodes[2].host, "node-3");
    CHECK_EQ_INT(a.nodes[2].port, 6379);
    CHECK_EQ_STR(a.host, "127.0.0.1"); /* the first seed, for log lines */
    CHECK_EQ_INT(a.port, 7000);
    CHECK_EQ_STR(a.user, "alice");
    CHECK_EQ_STR(a.password, "p@w");
    CHECK_EQ_INT(a.db, 0);
    CHECK_EQ_STR(a.master, "");
    CHECK(!a.is_unix);

    /* 16 seeds fit. */
    CHECK_EQ_INT(
        pc_redis_url_parse("redis-cluster://a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p", &a, err, sizeof(err)),
        0);
    CHECK_EQ_INT(a.nnodes, 16);
    CHECK_EQ_STR(a.nodes[15].host, "p");
}

static void test_good(void)
{
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        const struct good_case *g = &good[i];
        struct pc_redis_addr a;
        char err[256] = "";
        int rc = pc_redis_url_parse(g->url, &a, err, sizeof(err));
        if (rc != 0) fprintf(stderr, "%s: %s\n", g->url, err);
        CHECK_EQ_INT(rc, 0);
        if (rc != 0) continue;
        CHECK_EQ_INT(a.is_unix, g->is_unix);
        CHECK_EQ_STR(a.host, g->host);
        CHECK_EQ_INT(a.port, g->port);
        CHECK_EQ_STR(a.path, g->path);
        CHECK_EQ_STR(a.user, g->user);
        CHECK_EQ_STR(a.password, g->password);
        CHECK_EQ_INT(a.db, g->db);
    }
}

static void test_bad(void)
{
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct pc_redis_addr a;
        char err[256] = "";
        memset(&a, 0x5a, sizeof(a));
        int rc = pc_redis_url_parse(bad[i], &a, err, sizeof(err));
        if (rc != -1) fprintf(stderr, "accepted: \"%s\"\n", bad[i]);
        CHECK_EQ_INT(rc, -1);
        CHECK(err[0] != '\0');
        CHECK(strchr(err, '\n') == NULL);
        CHECK(a.port == 0x5a5a5a5a); /* out untouched on error */
    }
}

static void test_limits(void)
{
    char url[1200], err[256];
    struct pc_redis_addr a;

    /* sun_path holds 107 bytes plus the NUL. */
    strcpy(url, "unix://");
    memset(url + 7, 'a', 107);
    url[7] = '/';
    url[7 + 107] = '\0';
    CHECK_EQ_INT(pc_redis_url_parse(url, &a, err, sizeof(err)), 0);
    CHECK_EQ_INT(strlen(a.path), 107);
    strcpy(url + 7 + 107, "a");
    CHECK_EQ_INT(pc_redis_url_parse(url, &a, err, sizeof(err)), -1);
    CHECK(strstr(err, "too long") != NULL);

    /* A 511-byte password fits, 512 does not. */
    strcpy(url, "redis://:");
    memset(url + 9, 'p', 511);
    strcpy(url + 9 + 511, "@h");
    CHECK_EQ_INT(pc_redis_url_parse(url, &a, err, sizeof(err)), 0);
    CHECK_EQ_INT(strlen(a.password), 511);
    memset(url + 9, 'p', 512);
    strcpy(url + 9 + 512, "@h");
    CHECK_EQ_INT(pc_redis_url_parse(url, &a, err, sizeof(err)), -1);

    /* A 255-byte host fits, 256 does not. */
    strcpy(url, "redis://");
    memset(url + 8, 'h', 255);
    url[8 + 255] = '\0';
    CHECK_EQ_INT(pc_redis_url_parse(url, &a, err, sizeof(err)), 0);
    strcpy(url + 8 + 255, "h");
    CHECK_EQ_INT(pc_redis_url_parse(url, &a, err, sizeof(err)), -1);

    /* The password never appears in an error. */
    CHECK_EQ_INT(pc_redis_url_parse("redis://:hunter2@host:0", &a, err, sizeof(err)), -1);
    CHECK(strstr(err, "hunter2") == NULL);
    CHECK(strstr(err, "port") != NULL);

    /* A tiny error buffer is truncated, not overrun. */
    char small[8];
    CHECK_EQ_INT(pc_redis_url_parse("ftp://x", &a, small, sizeof(small)), -1);
    CHECK_EQ_INT(strlen(small), sizeof(small) - 1);
    CHECK_EQ_INT(pc_redis_url_parse("ftp://x", &a, NULL, 0), -1);
    CHECK_EQ_INT(pc_redis_url_parse(NULL, &a, err, sizeof(err)), -1);
}

/* redis-sentinel://: every sentinel in order, the master name, the primary's
 * credentials and db. */
static void test_sentinel_good(void)
{
    struct pc_redis_addr a;
    char err[256] = "";

    CHECK_EQ_INT(
        pc_redis_url_parse("redis-sentinel://127.0.0.1:26380/mymaster", &a, err, sizeof(err)), 0);
    CHECK_EQ_INT(a.mode, PC_REDIS_SENTINEL);
    CHECK_EQ_INT(a.is_unix, false);
    CHECK_EQ_INT(a.nnodes, 1);
    CHECK_EQ_STR(a.nodes[0].host, "127.0.0.1");
    CHECK_EQ_INT(a.nodes[0].port, 26380);
    CHECK_EQ_STR(a.master, "mymaster");
    CHECK_EQ_STR(a.host, "127.0.0.1"); /* the first sentinel, for messages */
    CHECK_EQ_INT(a.db, 0);

    CHECK_EQ_INT(pc_redis_url_parse("Redis-Sentinel://alice:p%40w@s1,s2:1,[::1]:2,s4.example/"
                                    "cache-primary_1.eu/7",
                                    &a, err, sizeof(err)),
                 0);
    CHECK_EQ_INT(a.mode, PC_REDIS_SENTINEL);
    CHECK_EQ_INT(a.nnodes, 4);
    CHECK_EQ_STR(a.nodes[0].host, "s1");
    CHECK_EQ_INT(a.nodes[0].port, 26379);
    CHECK_EQ_STR(a.nodes[1].host, "s2");
    CHECK_EQ_INT(a.nodes[1].port, 1);
    CHECK_EQ_STR(a.nodes[2].host, "::1");
    CHECK_EQ_INT(a.nodes[2].port, 2);
    CHECK_EQ_STR(a.nodes[3].host, "s4.example");
    CHECK_EQ_INT(a.nodes[3].port, 26379);
    CHECK_EQ_STR(a.master, "cache-primary_1.eu");
    CHECK_EQ_STR(a.user, "alice");
    CHECK_EQ_STR(a.password, "p@w");
    CHECK_EQ_INT(a.db, 7);

    /* a trailing '/' after the name is no db; eight sentinels fit */
    CHECK_EQ_INT(pc_redis_url_parse("redis-sentinel://:pw@h/m/", &a, err, sizeof(err)), 0);
    CHECK_EQ_STR(a.master, "m");
    CHECK_EQ_STR(a.password, "pw");
    CHECK_EQ_INT(a.db, 0);
    CHECK_EQ_INT(pc_redis_url_parse("redis-sentinel://a,b,c,d,e,f,g,h/m", &a, err, sizeof(err)), 0);
    CHECK_EQ_INT(a.nnodes, 8);
    CHECK_EQ_STR(a.nodes[7].host, "h");

    /* the plain forms say they are single servers */
    CHECK_EQ_INT(pc_redis_url_parse("redis://h", &a, err, sizeof(err)), 0);
    CHECK_EQ_INT(a.mode, PC_REDIS_SINGLE);
    CHECK_EQ_INT(a.nnodes, 0);
}

static const char *sentinel_bad[] = {
    "redis-sentinel://",
    "redis-sentinel://h",
    "redis-sentinel://h/",
    "redis-sentinel://h//",
    "redis-sentinel://h:26379",
    "redis-sentinel:///m",
    "redis-sentinel://,h/m",
    "redis-sentinel://h,/m",
    "redis-sentinel://h,,i/m",
    "redis-sentinel://h:0/m",
    "redis-sentinel://h:65536/m",
    "redis-sentinel://h:x/m",
    "redis-sentinel://h:/m",
    "redis-sentinel://h;i/m",
    "redis-sentinel://::1/m",
    "redis-sentinel://[::1/m",
    "redis-sentinel://h/m/x",
    "redis-sentinel://h/m/-1",
    "redis-sentinel://h/m/1/2",
    "redis-sentinel://h/m?db=1",
    "redis-sentinel://h/m#x",
    "redis-sentinel://h/m y",
    "redis-sentinel://h/m:x",
    "redis-sentinel://h/m%41",
    "redis-sentinel://:@h/m",
    "redis-sentinel://:p%zz@h/m",
    "redis-sentinel://a,b,c,d,e,f,g,h,i/m",
    "redis-sentinel:/h/m",
    "sentinel://h/m",
    "rediss-sentinel://h/m",
};

static void test_sentinel_bad(void)
{
    char name[200];
    for (size_t i = 0; i < sizeof(sentinel_bad) / sizeof(sentinel_bad[0]); i++) {
        struct pc_redis_addr a;
        char err[256] = "";
        memset(&a, 0x5a, sizeof(a));
        int rc = pc_redis_url_parse(sentinel_bad[i], &a, err, sizeof(err));
        if (rc != -1) fprintf(stderr, "accepted: \"%s\"\n", sentinel_bad[i]);
        CHECK_EQ_INT(rc, -1);
        CHECK(err[0] != '\0');
        CHECK(strchr(err, '\n') == NULL);
        CHECK(a.port == 0x5a5a5a5a);
    }
    /* a 127-byte master name fits, 128 does not; the password is never shown */
    struct pc_redis_addr a;
    char url[300], err[256];
    memset(name, 'n', 127);
    name[127] = '\0';
    snprintf(url, sizeof url, "redis-sentinel://:hunter2@h/%s", name);
    CHECK_EQ_INT(pc_redis_url_parse(url, &a, err, sizeof(err)), 0);
    snprintf(url, sizeof url, "redis-sentinel://:hunter2@h/%sn", name);
    CHECK_EQ_INT(pc_redis_url_parse(url, &a, err, sizeof(err)), -1);
    CHECK(strstr(err, "too long") != NULL);
    CHECK(strstr(err, "hunter2") == NULL);
    CHECK_EQ_INT(pc_redis_url_parse("redis-sentinel://:hunter2@h/", &a, err, sizeof(err)), -1);
    CHECK(strstr(err, "master name") != NULL);
    CHECK(strstr(err, "hunter2") == NULL);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    test_good();
    test_bad();
    test_sentinel_good();
    test_sentinel_bad();
    test_cluster();
    test_limits();
    return test_finish("redisurl");
}
