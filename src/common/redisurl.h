/* redisurl.h -- the Redis address forms of SPEC §7, shared by gateway and SDK:
 *   redis://[user:password@]host:port[/db]   (also redis://[:password@]host...,
 *                                             host may be [ipv6]; port default 6379)
 *   unix:///path/to/sock[?db=N]              (user/password not in this form)
 *   redis-sentinel://[[user]:password@]host[:port][,host[:port]...]/<master-name>[/db]
 *                                             (sentinel port default 26379; the user and
 *                                             password are the primary's, see sentinel.h)
 *   redis-cluster://[[user]:password@]host[:port][,host[:port]...]
 *                                             (seed nodes of a Redis Cluster, see
 *                                             cluster.h; port default 6379; no db)
 * The scheme says how Redis is reached (mode): the one place that decides
 * which module connects. */
#ifndef PC_REDISURL_H
#define PC_REDISURL_H

#include <stdbool.h>
#include <stddef.h>

enum pc_redis_mode {
    PC_REDIS_SINGLE = 0, /* one server: host/port or path */
    PC_REDIS_SENTINEL,   /* the primary named master, as the sentinels in nodes[] say */
    PC_REDIS_CLUSTER,    /* a Redis Cluster, found from the seed nodes in nodes[] */
};

#define PC_REDIS_SENTINELS_MAX 8 /* sentinels in one redis-sentinel:// URL */
#define PC_REDIS_SEEDS_MAX 16    /* seed nodes in one redis-cluster:// URL */
#define PC_REDIS_NODES_MAX 16    /* the larger of the two */

struct pc_redis_node {
    char host[256];
    int port;
};

struct pc_redis_addr {
    enum pc_redis_mode mode;
    bool is_unix;
    char host[256];
    int port;
    char path[108];     /* unix socket path (sun_path size) */
    char user[128];     /* "" when none */
    char password[512]; /* "" when none; percent-decoded */
    int db;             /* 0 when absent */
    /* PC_REDIS_SENTINEL: the sentinels; PC_REDIS_CLUSTER: the seed nodes.
     * In the order given; host/port above repeat the first one, for
     * messages only. nnodes is 0 in PC_REDIS_SINGLE. */
    struct pc_redis_node nodes[PC_REDIS_NODES_MAX];
    size_t nnodes;
    char master[128]; /* PC_REDIS_SENTINEL: the master name; "" otherwise */
};

/* Returns 0, or -1 with a one-line reason in err. */
int pc_redis_url_parse(const char *url, struct pc_redis_addr *out, char *err, size_t errlen);

#endif
