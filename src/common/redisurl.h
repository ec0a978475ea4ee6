/* redisurl.h -- the Redis address forms of SPEC §7, shared by gateway and SDK:
 *   redis://[user:password@]host:port[/db]   (also redis://[:password@]host...,
 *                                             host may be [ipv6]; port default 6379)
 *   unix:///path/to/sock[?db=N]              (user/password not in this form)
 *   redis-cluster://[user:password@]host:port[,host:port...]
 *                                             (seed nodes of a Redis Cluster;
 *                                             port default 6379; no db) */
#ifndef PC_REDISURL_H
#define PC_REDISURL_H

#include <stdbool.h>
#include <stddef.h>

/* How Redis is reached: one server, or a cluster found from seed nodes
 * (cluster.h). Each further mode adds a value here. */
enum pc_redis_mode {
    PC_REDIS_SINGLE,
    PC_REDIS_CLUSTER,
};

#define PC_REDIS_MAX_SEEDS 16

struct pc_redis_seed {
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
    /* PC_REDIS_CLUSTER: the seed nodes in URL order (host/port above are
     * the first one's, for log lines). */
    size_t nseeds;
    struct pc_redis_seed seeds[PC_REDIS_MAX_SEEDS];
};

/* Returns 0, or -1 with a one-line reason in err. */
int pc_redis_url_parse(const char *url, struct pc_redis_addr *out, char *err, size_t errlen);

#endif
