/* redisurl.h -- the Redis address forms of SPEC §7, shared by gateway and SDK:
 *   redis://[user:password@]host:port[/db]   (also redis://[:password@]host...,
 *                                             host may be [ipv6]; port default 6379)
 *   unix:///path/to/sock[?db=N]              (user/password not in this form) */
#ifndef PC_REDISURL_H
#define PC_REDISURL_H

#include <stdbool.h>
#include <stddef.h>

struct pc_redis_addr {
    bool is_unix;
    char host[256];
    int port;
    char path[108];     /* unix socket path (sun_path size) */
    char user[128];     /* "" when none */
    char password[512]; /* "" when none; percent-decoded */
    int db;             /* 0 when absent */
};

/* Returns 0, or -1 with a one-line reason in err. */
int pc_redis_url_parse(const char *url, struct pc_redis_addr *out, char *err, size_t errlen);

#endif
