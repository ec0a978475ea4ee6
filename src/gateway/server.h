/* server.h -- listeners, the set of connections, and graceful shutdown. */
#ifndef GW_SERVER_H
#define GW_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "conn.h"

struct gw_server;

/* Binds the public and (unless off) admin listeners. Returns NULL with a
 * reason in err when a listener cannot be bound. */
struct gw_server *gw_server_new(char *err, size_t errlen);
void gw_server_free(struct gw_server *s);
/* "127.0.0.1:8000" of each listener (admin "off" when disabled). */
const char *gw_server_listen_addr(const struct gw_server *s);
const char *gw_server_admin_addr(const struct gw_server *s);

/* Stop accepting, close idle connections; the loop exits once the last
 * connection is gone and nothing is in flight. */
void gw_server_drain(struct gw_server *s);

/* Called when connections go away: a draining gateway stops once the last
 * public connection is gone. */
void gw_server_check_drained(struct gw_server *s);

#endif
