/* server.h -- listeners, the set of connections, and graceful shutdown. */
#ifndef GW_SERVER_H
#define GW_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "conn.h"

#define GW_WORKER_RESTART_MS 1000 /* minimum time between two worker restarts */

struct gw_server;

/* Binds the public HTTP, HTTPS and admin listeners (each unless off). Returns NULL with a
 * reason in err when a listener cannot be bound. */
struct gw_server *gw_server_new(char *err, size_t errlen);
void gw_server_free(struct gw_server *s);
/* "127.0.0.1:8000" of each listener ("off" when disabled). */
const char *gw_server_listen_addr(const struct gw_server *s);
const char *gw_server_admin_addr(const struct gw_server *s);
/* The HTTPS listener's address, or NULL without --tls-listen. */
const char *gw_server_tls_addr(const struct gw_server *s);

/* Stop accepting, close idle connections; the loop exits once the last
 * connection is gone and nothing is in flight. */
void gw_server_drain(struct gw_server *s);

/* Called when connections go away: a draining gateway stops once the last
 * public connection is gone. */
void gw_server_check_drained(struct gw_server *s);

/* --workers N (N > 1): reserves the public ports, HTTP and HTTPS (port 0
 * becomes one concrete port), forks N workers that each bind them with
 * SO_REUSEPORT and
 * returns in each of them its index (0..N-1) with *ready_fd set: the worker
 * writes its "listen=... admin=... gateway_id=..." line there once ready.
 * Worker 0 alone serves the admin listener. The parent never returns: it
 * prints the single ready line once every worker is ready, forwards
 * SIGTERM/SIGINT to the workers, restarts a worker that dies after startup,
 * and exits (0 after a signal, 1 if a worker could not start) when the last
 * worker has exited. Returns -1 with a reason in err if nothing was forked. */
struct gw_config;
int gw_workers_start(struct gw_config *cfg, int *ready_fd, char *err, size_t errlen);

#endif
