/* redisurl.h -- the Redis address forms of SPEC §7, shared by gateway and SDK:
 *   redis://[user:password@]host:port[/db]   (also redis://[:password@]host...,
 *                                             host may be [ipv6]; port default 6379)
 *   unix:///path/to/sock[?db=N]              (user/password not in this form)
 *   redis-sentinel://[[user]:password@]host[:port][,host[:port]...]/<master-name>[/db]
 *                                             (sentinel port default 26379; the user and
 *                                             password are the primary's, see sentinel.h)
 * The scheme says how Redis is reached (mode): the one place that decides
 * which module connects. */
#ifndef PC_REDISURL_H
#define PC_REDISURL_H

#include <stdbool.h>
#include <stddef.h>

enum pc_redis_mode {
    PC_REDIS_SINGLE = 0, /* one server: host/port or path */
    PC_REDIS_SENTINEL,   /* the primary named master, as the sentinels in nodes[] say */
};

#define PC_REDIS_NODES_MAX 8 /* sentinels in one URL */

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
    /* PC_REDIS_SENTINEL: the sentinels, in the order given (host/port above
     * repeat the first one, for messages only), and the master name. */
    struct pc_redis_node nodes[PC_REDIS_NODES_MAX];
    size_t nnodes;
    char master[128];
};

/* Returns 0, or -1 with a one-line reason in err. */
int pc_redis_url_parse(const char *url, struct pc_redis_addr *out, char *err, size_t errlen);

#endif
