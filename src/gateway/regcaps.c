/* regcaps.c -- the registry's bounds and shared names (see regcaps.h). */
#include "regcaps.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "gw.h"
#include "map.h"
#include "router.h"
#include "wire.h"
#include "xalloc.h"

/* One interned name. Service names ([a-z0-9...]) and methods (upper case or
 * "*") cannot collide; sharing the pool costs nothing. */
struct name {
    size_t refs;  /* instances and routes naming it */
    size_t ninst; /* live instances, when it is a service */
    char text[];  /* NUL-terminated */
};

static pc_map *names; /* text -> struct name */
static size_t ninstances, nlinks;

void gw_regcaps_init(void)
{
    names = pc_map_new();
    pc_check(names != NULL);
    ninstances = nlinks = 0;
}

void gw_regcaps_deinit(void)
{
    size_t pos = 0, klen;
    const char *key;
    void *val;

    while (names != NULL && pc_map_next(names, &pos, &key, &klen, &val)) free(val);
    pc_map_free(names);
    names = NULL;
}

static struct name *name_of(const char *text)
{
    return (struct name *)(void *)(text - offsetof(struct name, text));
}

const char *gw_name_ref(const char *text)
{
    size_t n = strlen(text);
    struct name *nm = pc_map_get(names, text, n);

    if (nm == NULL) {
        nm = pc_xcalloc(1, sizeof *nm + n + 1);
        memcpy(nm->text, text, n + 1);
        pc_check(pc_map_put(names, nm->text, n, nm) == 0);
    }
    nm->refs++;
    return nm->text;
}

void gw_name_unref(const char *text)
{
    struct name *nm;

    if (text == NULL) return;
    nm = name_of(text);
    pc_check(nm->refs > 0);
    if (--nm->refs > 0) return;
    pc_map_del(names, nm->text, strlen(nm->text));
    free(nm);
}

void gw_regcaps_instance_added(const char *svc)
{
    name_of(svc)->ninst++;
    ninstances++;
}

void gw_regcaps_instance_removed(const char *svc)
{
    name_of(svc)->ninst--;
    ninstances--;
}

size_t gw_regcaps_instance_count(void) { return ninstances; }

void gw_regcaps_link(int delta) { nlinks = (size_t)((long long)nlinks + delta); }

/* How many more fit under cap when used are held. */
static size_t room(int cap, size_t used) { return used < (size_t)cap ? (size_t)cap - used : 0; }

const char *gw_regcaps_admit(const struct pc_register *m, size_t new_routes, char *detail,
                             size_t dlen)
{
    const struct gw_config *c = gw.cfg;
    const struct name *svc = pc_map_get(names, m->service, strlen(m->service));
    size_t svc_inst = svc ? svc->ninst : 0, nroutes = gw_router_count(gw.router);

    if (ninstances >= (size_t)c->max_instances) {
        snprintf(detail, dlen, "instance %s of %s: %zu instances live (--max-instances)",
                 m->instance, m->service, ninstances);
        return "too_many_instances";
    }
    if (svc_inst >= (size_t)c->max_instances_per_service) {
        snprintf(detail, dlen,
                 "instance %s of %s: %zu instances of it live (--max-instances-per-service)",
                 m->instance, m->service, svc_inst);
        return "too_many_service_instances";
    }
    if (new_routes > room(c->max_routes, nroutes)) {
        snprintf(detail, dlen, "instance %s of %s: %zu new routes, %zu in the table (--max-routes)",
                 m->instance, m->service, new_routes, nroutes);
        return "route_table_full";
    }
    if (m->nroutes > room(c->max_instance_routes, nlinks)) {
        snprintf(detail, dlen,
                 "instance %s of %s: %zu routes, %zu held by instances (--max-instance-routes)",
                 m->instance, m->service, m->nroutes, nlinks);
        return "route_table_full";
    }
    return NULL;
}

bool gw_regcaps_route_room(void) { return gw_router_count(gw.router) < (size_t)gw.cfg->max_routes; }

bool gw_regcaps_link_room(void) { return nlinks < (size_t)gw.cfg->max_instance_routes; }
