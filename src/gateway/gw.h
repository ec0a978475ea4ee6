/* gw.h -- the gateway process: one of each module, on one event loop, and
 * the loop's clocks (gw.c).
 *
 * Like Redis' `server`, there is exactly one gateway per process, so its
 * modules are reached through this one global rather than threaded through
 * every call. Each module keeps its own state private; this struct only holds
 * the handles. */
#ifndef GW_GW_H
#define GW_GW_H

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "router.h"
#include "uuid.h"

struct gw_registry;
struct gw_bus;
struct gw_server;

struct gw_state {
    struct event_base *base;
    const struct gw_config *cfg;
    char id[PC_UUID_LEN + 1];  /* gateway id: this process' reply channel name */
    char reply_channel[128];   /* "<prefix>:reply:<id>" */
    char register_channel[96]; /* "<prefix>:register" */
    char discover_channel[96]; /* "<prefix>:discover" */
    gw_router *router;
    struct gw_registry *registry;
    struct gw_bus *bus;
    struct gw_server *server;
    bool draining; /* SIGTERM seen: finish in-flight, then exit */
};

extern struct gw_state gw;

/* Loop-cached clocks: one reading per loop turn, not per call (gw.c says
 * how). Wall time for deadlines sent to services, monotonic for the rest. */
uint64_t gw_now_unix_ms(void);
uint64_t gw_now_mono_ms(void);

#endif
