/* regcaps.h -- the registry's bounds and the names it shares.
 *
 * Everything the register channel can make the gateway hold is bounded
 * (docs/security.md "Registration limits"):
 *
 *   --max-instances              live instances in total
 *   --max-instances-per-service  live instances of one service
 *   --max-routes                 distinct (method, pattern) routes, grace included
 *   --max-instance-routes        routes of all live instances together (a route
 *                                served by 3 instances counts 3)
 *
 * A register message of an unknown instance that would pass a bound is refused
 * as a whole (gw_regcaps_admit). A known instance is never refused: its
 * heartbeat keeps it alive; only routes it adds beyond a bound are left out.
 *
 * Names: service names and methods are interned here, one copy shared by
 * every instance and route that names them (reference counted); a service's
 * entry also counts its live instances. */
#ifndef GW_REGCAPS_H
#define GW_REGCAPS_H

#include <stdbool.h>
#include <stddef.h>

struct pc_register;

void gw_regcaps_init(void);
void gw_regcaps_deinit(void); /* every name must have been released */

/* The shared copy of name (a service or a method), one reference more. */
const char *gw_name_ref(const char *name);
/* Gives back a reference taken by gw_name_ref (NULL is fine). */
void gw_name_unref(const char *name);

/* Live instance accounting: svc is an interned service name. */
void gw_regcaps_instance_added(const char *svc);
void gw_regcaps_instance_removed(const char *svc);
size_t gw_regcaps_instance_count(void);

/* Route accounting: one (route, instance) pair more or less. */
void gw_regcaps_link(int delta);

/* Whether m, from an instance not yet known, may be applied: NULL, or the
 * refusal's reason (a static string: "too_many_instances",
 * "too_many_service_instances", "route_table_full"; not "too_many_routes",
 * which is the decoder's: over 1000 routes in one message) with a line in
 * detail.
 * new_routes is the number of m's routes not yet in the table. */
const char *gw_regcaps_admit(const struct pc_register *m, size_t new_routes, char *detail,
                             size_t dlen);

/* For a known instance's routes: may one more route be created (a new
 * pattern in the table) / attached to it? */
bool gw_regcaps_route_room(void);
bool gw_regcaps_link_room(void);

#endif
