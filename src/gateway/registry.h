/* registry.h -- live service instances, their routes, TTLs and ownership.
 *
 * Routes live in the router (value: struct gw_route). A route belongs to the
 * service that announced it first while any of its instances is alive, and
 * for --route-grace-ms after the last one goes; then it is removed. Each
 * instance has one expiry timer, re-armed when it is heard from (no scans). */
#ifndef GW_REGISTRY_H
#define GW_REGISTRY_H

#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "outlier.h"

struct gw_route;
struct gw_http_route;

struct gw_instance {
    const char *id;      /* points into channel */
    const char *service; /* shared (regcaps.h gw_name_ref) */
    char *channel;       /* "<prefix>:svc:<id>" */
    int ttl_ms;
    int timeout_ms;            /* request deadline for its routes */
    uint64_t last_heard_ms;    /* monotonic */
    unsigned inflight;         /* requests sent and not finished */
    unsigned refs;             /* 1 while registered + 1 per request in flight */
    bool dead;                 /* dropped: no longer picked */
    bool claim_check;          /* announced "claim_check":true (protocol.md 3.1) */
    int wire;                  /* announced "wire":2: takes v2 requests (protocol.md 4.2) */
    struct gw_outlier outlier; /* timeouts and ejection (outlier.h) */
    struct event expiry;
    struct gw_route **routes; /* routes this instance announced */
    size_t nroutes, routes_cap;
};

struct gw_route {
    const char *method;        /* shared (regcaps.h gw_name_ref) */
    const char *pattern;       /* as first announced; in the route's own block */
    const char *owner;         /* service name, shared */
    struct gw_instance **inst; /* live instances serving it */
    size_t ninst, inst_cap;
    size_t rr;           /* round-robin cursor for ties */
    uint64_t seen_gen;   /* register-message generation (route sync) */
    struct event *grace; /* allocated when the route is first orphaned */
    bool in_grace;
    bool retry;                 /* "retry":true in the latest announcement of it */
    struct gw_http_route *http; /* a routes-file route (routesfile.h): no instances; else NULL */
    bool async;                 /* "async":true in the latest announcement of it (job.h) */
};

void gw_registry_init(void);
/* The registration policy (gw.cfg->reg_policy) was replaced by a reload. It
 * applies to each register message from now on: routes an instance may no
 * longer own leave with its next heartbeat. */
void gw_registry_policy_changed(void);
void gw_registry_deinit(void);

/* A message from the register channel (register or deregister). */
void gw_registry_on_message(const char *msg, size_t len);

/* The instance for the next try: an ejected instance whose ejection time
 * is over and has no probe out, if any (its probe); else the live instance
 * with the fewest requests in flight among those not ejected (round-robin
 * among equals); else, with every instance ejected, the one soonest back.
 * avoid (may be NULL) is never picked, and with avoid set an ejected
 * instance is never picked either (a retry goes to a healthy instance or
 * nowhere). With heard_since_ms (monotonic, 0 = any), only instances heard
 * from at or after it are picked. NULL when none qualifies. */
struct gw_instance *gw_route_pick(struct gw_route *rt, const struct gw_instance *avoid,
                                  uint64_t heard_since_ms);

/* The bus came up: instances not heard from since are "unconfirmed"
 * (gw_registry_bus_up_ms). */
void gw_registry_on_bus_up(void);
/* Monotonic ms of the latest bus up (0 before the first). */
uint64_t gw_registry_bus_up_ms(void);
/* Whether the instance has announced itself since the bus last came up. */
bool gw_instance_heard_since_up(const struct gw_instance *inst);

/* An instance found gone (PUBLISH answered 0): drop it now. */
void gw_registry_drop(struct gw_instance *inst, const char *why);

/* A request goes to inst: the instance is kept (not freed if it is dropped
 * meanwhile) and counted in flight for balancing, until _release. Every
 * acquire has exactly one release. */
void gw_instance_acquire(struct gw_instance *inst);
void gw_instance_release(struct gw_instance *inst);

size_t gw_registry_instance_count(void);
/* The /routes document. */
void gw_registry_render_routes(pc_buf *out);

#endif
