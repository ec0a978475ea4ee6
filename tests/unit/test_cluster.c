/* test_cluster.c -- the pure part of the Redis Cluster support: key slots
 * (values from CLUSTER KEYSLOT of Redis 7.0), shard channels, the slot map
 * from CLUSTER SLOTS replies (read with hiredis' reader from RESP text),
 * MOVED/ASK errors. */
#include <hiredis/hiredis.h>
#include <string.h>

#include "cluster.h"
#include "test.h"

static unsigned slot(const char *k) { return pc_cluster_slot(k, strlen(k)); }

/* CRC16/XMODEM bit by bit, as Redis' crc16.c defines it. */
static unsigned ref_slot(const unsigned char *p, size_t len)
{
    unsigned crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (unsigned)p[i] << 8;
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000) ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
    return crc & (PC_CLUSTER_SLOTS - 1);
}

static void test_slot(void)
{
    /* every byte value, at every length up to 256 (no braces: no tag) */
    unsigned char all[256];
    size_t n = 0;
    for (unsigned v = 0; v < 256; v++)
        if (v != '{') all[n++] = (unsigned char)v;
    for (size_t len = 0; len <= n; len++)
        CHECK_EQ_INT(pc_cluster_slot((const char *)all, len), ref_slot(all, len));
    /* CLUSTER KEYSLOT on redis-server 7.0 */
    CHECK_EQ_INT(slot("foo"), 12182);
    CHECK_EQ_INT(slot("bar"), 5061);
    CHECK_EQ_INT(slot("hello"), 866);
    CHECK_EQ_INT(slot("123456789"), 12739); /* CRC16/XMODEM check value 0x31C3 */
    CHECK_EQ_INT(slot(""), 0);
    CHECK_EQ_INT(slot("P:svc:i-1"), 12135);
    CHECK_EQ_INT(slot("P:reply:gw-a"), 5777);
    /* hash tags: the first {...} with something inside */
    CHECK_EQ_INT(slot("{foo}bar"), 12182);
    CHECK_EQ_INT(slot("x{foo}y{bar}"), 12182);
    CHECK_EQ_INT(slot("{}foo"), 9500);      /* the whole key */
    CHECK_EQ_INT(slot("foo{}{bar}"), 8363); /* the whole key */
    CHECK_EQ_INT(slot("foo{{bar}}"), 4015); /* tag "{bar" */
    CHECK_EQ_INT(slot("{foo"), 13308);      /* no '}': the whole key */
    /* binary-safe: the length counts, not a NUL */
    CHECK_EQ_INT(pc_cluster_slot("foo\0zz", 3), 12182);
    CHECK(pc_cluster_slot("foo\0zz", 6) < PC_CLUSTER_SLOTS);
}

static void test_sharded(void)
{
    static const struct {
        const char *ch;
        bool sharded;
    } cases[] = {
        {"P:svc:i-1", true},
        {"portico:reply:gw", true},
        {"P:register", false},
        {"P:discover", false},
        {"P:event:orders", false},
        {"P:svc:", false},
        {"P:reply:", false},
        {":svc:x", false},
        {"svc:x", false},
        {"P:svcx:y", false},
        {"", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool got = pc_cluster_channel_sharded(cases[i].ch, strlen(cases[i].ch));
        if (got != cases[i].sharded) fprintf(stderr, "channel \"%s\"\n", cases[i].ch);
        CHECK_EQ_INT(got, cases[i].sharded);
    }
}

/* Parses RESP text into a reply (hiredis' reader). */
static redisReply *resp(const char *text)
{
    redisReader *rd = redisReaderCreate();
    void *r = NULL;
    CHECK(redisReaderFeed(rd, text, strlen(text)) == REDIS_OK);
    CHECK(redisReaderGetReply(rd, &r) == REDIS_OK);
    redisReaderFree(rd);
    return r;
}

static struct pc_cluster_map m;

static void test_map(void)
{
    char err[200];
    /* three primaries, one of them with a replica, one with an empty host
     * (Redis says "" when it does not know its address), one range split
     * in two, with the Redis 7 fourth field (hostnames, a map as an array) */
    redisReply *r = resp("*4\r\n"
                         "*4\r\n:0\r\n:5460\r\n"
                         "*4\r\n$9\r\n127.0.0.1\r\n:7000\r\n$2\r\nid\r\n*0\r\n"
                         "*3\r\n$9\r\n127.0.0.1\r\n:7003\r\n$3\r\nid2\r\n"
                         "*3\r\n:5461\r\n:10922\r\n"
                         "*3\r\n$0\r\n\r\n:7001\r\n$3\r\nid3\r\n"
                         "*3\r\n:10923\r\n:16000\r\n"
                         "*3\r\n$5\r\nnode3\r\n:7002\r\n$3\r\nid4\r\n"
                         "*3\r\n:16001\r\n:16383\r\n"
                         "*3\r\n$9\r\n127.0.0.1\r\n:7000\r\n$2\r\nid\r\n");
    CHECK(r != NULL);
    CHECK_EQ_INT(pc_cluster_map_parse(r, "seed-host", &m, err, sizeof err), 0);
    CHECK_EQ_INT(m.nnodes, 3);
    CHECK_EQ_STR(m.node[0].host, "127.0.0.1");
    CHECK_EQ_INT(m.node[0].port, 7000);
    CHECK_EQ_STR(m.node[1].host, "seed-host");
    CHECK_EQ_INT(m.node[1].port, 7001);
    CHECK_EQ_STR(m.node[2].host, "node3");
    CHECK_EQ_INT(m.owner[0], 0);
    CHECK_EQ_INT(m.owner[5460], 0);
    CHECK_EQ_INT(m.owner[5461], 1);
    CHECK_EQ_INT(m.owner[10922], 1);
    CHECK_EQ_INT(m.owner[10923], 2);
    CHECK_EQ_INT(m.owner[16000], 2);
    CHECK_EQ_INT(m.owner[16001], 0);
    CHECK_EQ_INT(m.owner[16383], 0);
    CHECK_EQ_INT(pc_cluster_map_find(&m, "node3", 7002), 2);
    CHECK_EQ_INT(pc_cluster_map_find(&m, "node3", 7000), -1);
    freeReplyObject(r);

    /* a gap stays unassigned */
    r = resp("*1\r\n*3\r\n:100\r\n:200\r\n*2\r\n$1\r\nh\r\n:1\r\n");
    CHECK_EQ_INT(pc_cluster_map_parse(r, "x", &m, err, sizeof err), 0);
    CHECK_EQ_INT(m.owner[99], PC_CLUSTER_NO_NODE);
    CHECK_EQ_INT(m.owner[100], 0);
    CHECK_EQ_INT(m.owner[201], PC_CLUSTER_NO_NODE);
    freeReplyObject(r);

    static const char *bad[] = {
        "-ERR This instance has cluster support disabled\r\n",
        "*0\r\n",
        ":1\r\n",
        "*1\r\n:1\r\n",
        "*1\r\n*2\r\n:0\r\n:1\r\n",
        "*1\r\n*3\r\n:5\r\n:4\r\n*2\r\n$1\r\nh\r\n:1\r\n",
        "*1\r\n*3\r\n:0\r\n:16384\r\n*2\r\n$1\r\nh\r\n:1\r\n",
        "*1\r\n*3\r\n:-1\r\n:3\r\n*2\r\n$1\r\nh\r\n:1\r\n",
        "*1\r\n*3\r\n:0\r\n:3\r\n*2\r\n$1\r\nh\r\n:0\r\n",
        "*1\r\n*3\r\n:0\r\n:3\r\n*2\r\n$1\r\nh\r\n:65536\r\n",
        "*1\r\n*3\r\n:0\r\n:3\r\n*2\r\n:1\r\n:1\r\n",
        "*1\r\n*3\r\n:0\r\n:3\r\n*1\r\n$1\r\nh\r\n",
        "*1\r\n*3\r\n$1\r\n0\r\n:3\r\n*2\r\n$1\r\nh\r\n:1\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = resp(bad[i]);
        err[0] = '\0';
        int rc = pc_cluster_map_parse(r, "x", &m, err, sizeof err);
        if (rc != -1) fprintf(stderr, "accepted map %zu\n", i);
        CHECK_EQ_INT(rc, -1);
        CHECK(err[0] != '\0');
        freeReplyObject(r);
    }
    CHECK_EQ_INT(pc_cluster_map_parse(NULL, "x", &m, err, sizeof err), -1);
}

static void test_redirect(void)
{
    bool ask = true;
    unsigned s = 0;
    int port = 0;
    char host[64];
    const char *t = "MOVED 3999 127.0.0.1:6381";

    CHECK_EQ_INT(pc_cluster_redirect_parse(t, strlen(t), &ask, &s, host, sizeof host, &port), 0);
    CHECK(!ask);
    CHECK_EQ_INT(s, 3999);
    CHECK_EQ_STR(host, "127.0.0.1");
    CHECK_EQ_INT(port, 6381);
    t = "ASK 16383 [::1]:7000";
    CHECK_EQ_INT(pc_cluster_redirect_parse(t, strlen(t), &ask, &s, host, sizeof host, &port), 0);
    CHECK(ask);
    CHECK_EQ_INT(s, 16383);
    CHECK_EQ_STR(host, "::1");
    CHECK_EQ_INT(port, 7000);
    t = "MOVED 1 fe80::1:7000";
    CHECK_EQ_INT(pc_cluster_redirect_parse(t, strlen(t), &ask, &s, host, sizeof host, &port), 0);
    CHECK_EQ_STR(host, "fe80::1");

    static const char *bad[] = {
        "ERR unknown command", "MOVED",           "MOVED 1",
        "MOVED 1 h",           "MOVED 16384 h:1", "MOVED x h:1",
        "MOVED 1 h:0",         "MOVED 1 h:65536", "MOVED 1 :1",
        "MOVED 1 h:1x",        "ASK -1 h:1",      "MOVED 1 h:",
        "moved 1 h:1",         "MOVED 1 a b:1",   "TRYAGAIN Multiple keys request",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc =
            pc_cluster_redirect_parse(bad[i], strlen(bad[i]), &ask, &s, host, sizeof host, &port);
        if (rc != -1) fprintf(stderr, "accepted \"%s\"\n", bad[i]);
        CHECK_EQ_INT(rc, -1);
    }
    /* a host longer than the room */
    t = "MOVED 1 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:1";
    CHECK_EQ_INT(pc_cluster_redirect_parse(t, strlen(t), &ask, &s, host, sizeof host, &port), -1);
}

int main(void)
{
    test_slot();
    test_sharded();
    test_map();
    test_redirect();
    return test_finish("test_cluster");
}
