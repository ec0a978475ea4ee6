/* registry.c -- instances, routes, ownership, TTL and grace (see registry.h). */
#include "registry.h"

#include <stdlib.h>
#include <string.h>

#include "gw.h"
#include "jw.h"
#include "log.h"
#include "map.h"
#include "regcaps.h"
#include "regpolicy.h"
#include "replay.h"
#include "router.h"
#include "routesfile.h"
#include "sign.h"
#include "stats.h"
#include "wire.h"
#include "xalloc.h"

static pc_map *instances; /* instance id -> struct gw_instance */
static uint64_t sync_gen; /* bumped per register message */

/* One rate limiter per reject reason: "logged once per reason with rate
 * limiting" (SPEC §3). */
#define GW_REG_LOG_INTERVAL_MS 10000
static struct {
    const char *reason;
    struct pc_ratelimit rl;
} reject_log[32];

static void route_free(struct gw_route *rt);

/* Counts a reject and logs it, at most once per interval per reason. */
static void reject(const char *reason, const char *detail)
{
    size_t i;
    gw_stats_registration(reason);
    for (i = 0; i < sizeof reject_log / sizeof reject_log[0]; i++) {
        if (reject_log[i].reason == NULL) {
            reject_log[i].reason = reason;
            reject_log[i].rl.interval_ms = GW_REG_LOG_INTERVAL_MS;
        }
        if (strcmp(reject_log[i].reason, reason) == 0) break;
    }
    if (i == sizeof reject_log / sizeof reject_log[0]) return;
    if (pc_ratelimit_allow(&reject_log[i].rl, gw_now_mono_ms())) {
        uint64_t more = reject_log[i].rl.suppressed;
        reject_log[i].rl.suppressed = 0;
        pc_log(PC_LOG_WARN, "registry", "announcement refused (%s): %s%s", reason, detail,
               more ? " (and more like it)" : "");
    }
}

/* ------------------------------------------------------------------------ */
/* Routes                                                                    */
/* ------------------------------------------------------------------------ */

static void route_remove(struct gw_route *rt)
{
    gw_router_remove(gw.router, rt->method, rt->pattern);
    route_free(rt);
}

static void on_grace_end(evutil_socket_t fd, short what, void *arg)
{
    struct gw_route *rt = arg;
    pc_log(PC_LOG_INFO, "registry", "route %s %s removed (grace over)", rt->method, rt->pattern);
    route_remove(rt);
}

/* One allocation holds the route and its pattern; method and owner are
 * shared names. */
static struct gw_route *route_new(const char *method, const char *pattern, const char *owner)
{
    size_t n = strlen(pattern) + 1;
    struct gw_route *rt = pc_xcalloc(1, sizeof *rt + n);
    memcpy(rt + 1, pattern, n);
    rt->pattern = (const char *)(rt + 1);
    rt->method = gw_name_ref(method);
    rt->owner = gw_name_ref(owner);
    return rt;
}

static void route_free(struct gw_route *rt)
{
    if (rt->grace) {
        evtimer_del(rt->grace);
        free(rt->grace);
    }
    gw_name_unref(rt->method);
    gw_name_unref(rt->owner);
    free(rt->inst);
    free(rt);
}

/* The route lost its last instance: keep it (503) for the grace period. */
static void route_orphaned(struct gw_route *rt)
{
    int ms = gw.cfg->route_grace_ms;
    if (ms <= 0) {
        route_remove(rt);
        return;
    }
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    if (rt->grace == NULL) {
        rt->grace = pc_xmalloc(sizeof *rt->grace);
        evtimer_assign(rt->grace, gw.base, on_grace_end, rt);
    }
    rt->in_grace = true;
    evtimer_add(rt->grace, &tv);
}

static bool route_has(const struct gw_route *rt, const struct gw_instance *in)
{
    for (size_t i = 0; i < rt->ninst; i++)
        if (rt->inst[i] == in) return true;
    return false;
}

/* Arrays grow from one (most routes have few instances); an instance's
 * route array is sized to its first message (on_register). */
static void attach(struct gw_route *rt, struct gw_instance *in)
{
    if (rt->ninst == rt->inst_cap) {
        size_t cap = rt->inst_cap ? rt->inst_cap * 2 : 1;
        struct gw_instance **p = realloc(rt->inst, cap * sizeof *p);
        pc_check(p != NULL);
        rt->inst = p;
        rt->inst_cap = cap;
    }
    rt->inst[rt->ninst++] = in;
    if (in->nroutes == in->routes_cap) {
        size_t cap = in->routes_cap ? in->routes_cap * 2 : 1;
        struct gw_route **p = realloc(in->routes, cap * sizeof *p);
        pc_check(p != NULL);
        in->routes = p;
        in->routes_cap = cap;
    }
    in->routes[in->nroutes++] = rt;
    gw_regcaps_link(1);
    if (rt->in_grace) {
        rt->in_grace = false;
        evtimer_del(rt->grace);
    }
}

/* Removes in from rt's instance set (not from in->routes). */
static void detach_from_route(struct gw_route *rt, struct gw_instance *in)
{
    for (size_t i = 0; i < rt->ninst; i++) {
        if (rt->inst[i] == in) {
            rt->inst[i] = rt->inst[--rt->ninst];
            gw_regcaps_link(-1);
            break;
        }
    }
    if (rt->ninst == 0) route_orphaned(rt);
}

struct gw_instance *gw_route_pick(struct gw_route *rt, const struct gw_instance *avoid,
                                  uint64_t heard_since_ms)
{
    struct gw_instance *best = NULL, *soonest = NULL;
    size_t n = rt->ninst, best_i = 0;
    uint64_t now = gw_now_mono_ms();

    for (size_t k = 0; k < n; k++) {
        size_t i = (rt->rr + k) % n;
        struct gw_instance *in = rt->inst[i];
        if (in == avoid || in->last_heard_ms < heard_since_ms) continue;
        switch (gw_outlier_state(&in->outlier, now)) {
        case GW_OUTLIER_PROBE:
            rt->rr = i + 1;
            return in;
        case GW_OUTLIER_OUT:
            if (soonest == NULL || in->outlier.ejected_until_ms < soonest->outlier.ejected_until_ms)
                soonest = in;
            continue;
        case GW_OUTLIER_IN:
            break;
        }
        if (best == NULL || in->inflight < best->inflight) {
            best = in;
            best_i = i;
        }
    }
    if (best) {
        rt->rr = best_i + 1;
        return best;
    }
    return avoid == NULL ? soonest : NULL;
}

static uint64_t bus_up_ms; /* monotonic; 0 before the first up */

void gw_registry_on_bus_up(void) { bus_up_ms = gw_now_mono_ms(); }

uint64_t gw_registry_bus_up_ms(void) { return bus_up_ms; }

/* The bus is down for at least the reconnect backoff between a down and the
 * next up, so nothing heard before an up carries the up's own millisecond. */
bool gw_instance_heard_since_up(const struct gw_instance *in)
{
    return in->last_heard_ms >= bus_up_ms;
}

/* ------------------------------------------------------------------------ */
/* Instances                                                                 */
/* ------------------------------------------------------------------------ */

static void instance_unref(struct gw_instance *in)
{
    if (--in->refs > 0) return;
    gw_name_unref(in->service);
    free(in->channel);
    free(in->routes);
    free(in);
}

void gw_instance_acquire(struct gw_instance *in)
{
    in->refs++;
    in->inflight++;
}

void gw_instance_release(struct gw_instance *in)
{
    in->inflight--;
    instance_unref(in);
}

static void on_expiry(evutil_socket_t fd, short what, void *arg)
{
    gw_registry_drop(arg, "ttl expired");
}

static void arm_expiry(struct gw_instance *in)
{
    struct timeval tv = {in->ttl_ms / 1000, (in->ttl_ms % 1000) * 1000};
    evtimer_add(&in->expiry, &tv);
}

void gw_registry_drop(struct gw_instance *in, const char *why)
{
    if (in->dead) return;
    pc_log(PC_LOG_INFO, "registry", "instance %s of %s dropped: %s", in->id, in->service, why);
    in->dead = true;
    evtimer_del(&in->expiry);
    gw_replay_forget(in->id);
    pc_map_del(instances, in->id, strlen(in->id));
    gw_regcaps_instance_removed(in->service);
    for (size_t i = 0; i < in->nroutes; i++) detach_from_route(in->routes[i], in);
    in->nroutes = 0;
    instance_unref(in);
}

size_t gw_registry_instance_count(void) { return pc_map_count(instances); }

/* ------------------------------------------------------------------------ */
/* Messages                                                                  */
/* ------------------------------------------------------------------------ */

struct shadow_ctx {
    const struct pc_route_decl *d;
    const char *service;
    const struct gw_route *victim; /* first route of another service it shadows */
};

static void shadow_cb(void *arg, const char *method, const char *pattern, void *value)
{
    struct shadow_ctx *c = arg;
    const struct gw_route *rt = value;

    if (c->victim != NULL || strcmp(rt->owner, c->service) == 0) return;
    if (gw_route_shadows(c->d->method, c->d->path, method, pattern) &&
        !gw_regpolicy_shadow_granted(gw.cfg->reg_policy, c->service, c->d->path, pattern))
        c->victim = rt;
}

/* With per-service secrets, a new route that would take requests from
 * another service's route is refused unless the allow-list grants it
 * (regpolicy.h gw_route_shadows). True when d may be added. Walks the whole
 * table: only for routes not yet in it. */
static bool shadow_check(const struct pc_route_decl *d, const char *service)
{
    struct shadow_ctx c = {d, service, NULL};
    char detail[256];

    if (!gw_regpolicy_refuses_shadowing(gw.cfg->reg_policy)) return true;
    gw_router_foreach(gw.router, shadow_cb, &c);
    if (c.victim == NULL) return true;
    snprintf(detail, sizeof detail, "%s %s of %s would take requests from %s %s of %s", d->method,
             d->path, service, c.victim->method, c.victim->pattern, c.victim->owner);
    reject("shadowing", detail);
    return false;
}

/* Brings in's routes in line with the announced list. */
static void sync_routes(struct gw_instance *in, const struct pc_register *m)
{
    uint64_t gen = ++sync_gen;
    size_t over = 0; /* routes left out by a bound (regcaps.h) */

    for (size_t i = 0; i < m->nroutes; i++) {
        const struct pc_route_decl *d = &m->routes[i];
        struct gw_route *rt;
        if (!gw_regpolicy_route_allowed(gw.cfg->reg_policy, m->service, d->path)) {
            char detail[256];
            snprintf(detail, sizeof detail, "%s may not own %s %s (route allow-list)", m->service,
                     d->method, d->path);
            reject("not_allowed", detail);
            continue;
        }
        rt = gw_router_get(gw.router, d->method, d->path);
        if (rt != NULL && rt->http != NULL && !gw_routesfile_yield(rt)) {
            char detail[256];
            snprintf(detail, sizeof detail, "%s %s belongs to %s (routes file), not %s", d->method,
                     d->path, rt->owner, m->service);
            reject("route_taken", detail);
            continue;
        }
        if (rt != NULL && rt->http != NULL) rt = NULL; /* released by the file: taken over */
        if (rt == NULL) {
            if (!gw_regcaps_route_room() || !gw_regcaps_link_room()) {
                over++;
                continue;
            }
            if (!shadow_check(d, m->service)) continue;
            rt = route_new(d->method, d->path, m->service);
            if (gw_router_add(gw.router, d->method, d->path, rt, NULL) != 0) {
                route_free(rt);
                reject("bad_route", d->path);
                continue;
            }
            pc_log(PC_LOG_INFO, "registry", "route %s %s -> %s", d->method, d->path, m->service);
        } else if (strcmp(rt->owner, m->service) != 0) {
            char detail[256];
            snprintf(detail, sizeof detail, "%s %s belongs to %s, not %s", d->method, d->path,
                     rt->owner, m->service);
            reject("hijack", detail);
            continue;
        }
        if (!route_has(rt, in)) {
            if (!gw_regcaps_link_room()) {
                over++;
                continue;
            }
            attach(rt, in);
        }
        rt->seen_gen = gen;
        rt->retry = d->retry;
        rt->async = d->async;
    }
    /* Routes the instance no longer announces. */
    for (size_t i = 0; i < in->nroutes;) {
        struct gw_route *rt = in->routes[i];
        if (rt->seen_gen == gen) {
            i++;
            continue;
        }
        in->routes[i] = in->routes[--in->nroutes];
        detach_from_route(rt, in);
    }
    if (over) {
        char detail[256];
        snprintf(detail, sizeof detail,
                 "%zu new routes of instance %s of %s left out (--max-routes, "
                 "--max-instance-routes)",
                 over, in->id, in->service);
        reject("route_table_full", detail);
    }
}

/* Routes of m not yet in the table. */
static size_t count_new_routes(const struct pc_register *m)
{
    size_t n = 0;
    for (size_t i = 0; i < m->nroutes; i++)
        if (gw_router_get(gw.router, m->routes[i].method, m->routes[i].path) == NULL) n++;
    return n;
}

/* A new instance for m, once the bounds allow it; NULL after counting the
 * refusal. */
static struct gw_instance *instance_new(const struct pc_register *m)
{
    char detail[256];
    const char *why = gw_regcaps_admit(m, count_new_routes(m), detail, sizeof detail);
    struct gw_instance *in;
    size_t idlen = strlen(m->instance), chlen = strlen(m->channel);

    if (why != NULL) {
        reject(why, detail);
        return NULL;
    }
    in = pc_xcalloc(1, sizeof *in);
    in->channel = pc_xstrdup(m->channel);
    in->id = in->channel + (chlen - idlen); /* the channel ends with the id (SPEC §3) */
    in->service = gw_name_ref(m->service);
    in->refs = 1;
    if (m->nroutes > 0) {
        in->routes = pc_xcalloc(m->nroutes, sizeof *in->routes);
        in->routes_cap = m->nroutes;
    }
    evtimer_assign(&in->expiry, gw.base, on_expiry, in);
    pc_check(pc_map_put(instances, in->id, idlen, in) == 0);
    gw_regcaps_instance_added(in->service);
    pc_log(PC_LOG_INFO, "registry", "instance %s of %s registered", in->id, in->service);
    return in;
}

static void on_register(const struct pc_register *m)
{
    size_t idlen = strlen(m->instance);
    struct gw_instance *in = pc_map_get(instances, m->instance, idlen);

    if (in && strcmp(in->service, m->service) != 0) {
        char detail[256];
        snprintf(detail, sizeof detail, "instance %s belongs to %s, not %s", m->instance,
                 in->service, m->service);
        reject("hijack", detail);
        return;
    }
    if (in == NULL && (in = instance_new(m)) == NULL) return;
    gw_replay_accept(in->id, PC_MSG_REGISTER, m->ts_ms);
    in->ttl_ms = m->ttl_ms;
    in->timeout_ms = m->timeout_ms ? m->timeout_ms : gw.cfg->timeout_ms;
    in->claim_check = m->claim_check;
    in->wire = m->wire;
    in->last_heard_ms = gw_now_mono_ms();
    arm_expiry(in);
    gw_stats_registration("accepted");
    sync_routes(in, m);
}

static void on_deregister(const struct pc_register *m)
{
    struct gw_instance *in = pc_map_get(instances, m->instance, strlen(m->instance));
    if (in == NULL) return;
    if (strcmp(in->service, m->service) != 0) {
        reject("hijack", "deregister of another service's instance");
        return;
    }
    gw_stats_registration("deregistered");
    gw_replay_accept(in->id, PC_MSG_DEREGISTER, m->ts_ms);
    gw_registry_drop(in, "deregistered");
}

/* Checks a signed message (SPEC §3) and decodes its inner message into m.
 * Returns 0, or -1 after counting the reason (m then needs no deinit).
 * The inner message is decoded before the signature is checked because the
 * key depends on the service it names (per-service secrets); the decoder
 * applies the same limits as to any message on the channel. */
static int open_signed(struct pc_register *m, const char *msg, size_t len)
{
    const struct gw_regpolicy *pol = gw.cfg->reg_policy;
    struct pc_signed sm;
    struct pc_wire_err err;
    const void *key;
    size_t keylen;
    char detail[256];
    int64_t now = (int64_t)gw_now_unix_ms();
    const char *why = NULL;

    if (pc_sign_unwrap(&sm, msg, len, &err) != 0) {
        pc_sign_unwrap_deinit(&sm);
        reject(err.reason, err.message);
        return -1;
    }
    if (pc_wire_decode_register(m, sm.inner, sm.inner_len, gw.cfg->prefix, &err) != 0) {
        pc_sign_unwrap_deinit(&sm);
        reject(err.reason, err.message);
        return -1;
    }
    if (gw_regpolicy_key(pol, m->service, strlen(m->service), &key, &keylen) != 0)
        why = "unknown_service";
    else if (!pc_sign_verify(key, keylen, sm.inner, sm.inner_len, sm.sig, sm.sig_len))
        why = "bad_signature";
    else if (!m->has_ts)
        why = "no_timestamp";
    else if (m->ts_ms < now - PC_SIGN_WINDOW_MS || m->ts_ms > now + PC_SIGN_WINDOW_MS)
        why = "stale";
    else if (!gw_replay_is_fresh(m->instance, m->type, m->ts_ms))
        why = "replayed";
    pc_sign_unwrap_deinit(&sm);
    if (why == NULL) return 0;
    snprintf(detail, sizeof detail, "%s of instance %s of %s (ts_ms %lld, now %lld)",
             m->type == PC_MSG_REGISTER ? "register" : "deregister", m->instance, m->service,
             (long long)m->ts_ms, (long long)now);
    reject(why, detail);
    pc_wire_register_deinit(m);
    return -1;
}

void gw_registry_on_message(const char *msg, size_t len)
{
    struct pc_register m;
    struct pc_wire_err err;

    if (gw_regpolicy_wants_signature(gw.cfg->reg_policy)) {
        gw_replay_sweep(gw_now_unix_ms());
        if (open_signed(&m, msg, len) != 0) return;
    } else if (pc_wire_decode_register(&m, msg, len, gw.cfg->prefix, &err) != 0) {
        reject(err.reason, err.message);
        return;
    }
    if (m.type == PC_MSG_REGISTER)
        on_register(&m);
    else
        on_deregister(&m);
    pc_wire_register_deinit(&m);
}

/* ------------------------------------------------------------------------ */
/* Admin view                                                                */
/* ------------------------------------------------------------------------ */

struct render_ctx {
    pc_buf *out;
    bool first;
    uint64_t now;
};

static void render_route(void *arg, const char *method, const char *pattern, void *value)
{
    struct render_ctx *ctx = arg;
    struct gw_route *rt = value;
    pc_buf *o = ctx->out;

    pc_buf_puts(o, ctx->first ? "\n" : ",\n");
    ctx->first = false;
    pc_buf_puts(o, "{\"service\":");
    pc_jw_cstr(o, rt->owner);
    pc_buf_puts(o, ",\"method\":");
    pc_jw_cstr(o, method);
    pc_buf_puts(o, ",\"pattern\":");
    pc_jw_cstr(o, pattern);
    if (rt->http != NULL) {
        gw_routesfile_render(o, rt, ctx->now);
        pc_buf_putc(o, '}');
        return;
    }
    pc_buf_printf(o, ",\"kind\":\"bus\",\"in_grace\":%s,\"retry\":%s,\"async\":%s,\"instances\":[",
                  rt->in_grace ? "true" : "false", rt->retry ? "true" : "false",
                  rt->async ? "true" : "false");
    for (size_t i = 0; i < rt->ninst; i++) {
        struct gw_instance *in = rt->inst[i];
        if (i) pc_buf_putc(o, ',');
        pc_buf_puts(o, "{\"instance\":");
        pc_jw_cstr(o, in->id);
        pc_buf_puts(o, ",\"channel\":");
        pc_jw_cstr(o, in->channel);
        pc_buf_printf(o, ",\"last_heard_s\":%.3f,\"inflight\":%u,\"timeout_ms\":%d",
                      (double)(ctx->now - in->last_heard_ms) / 1000.0, in->inflight,
                      in->timeout_ms);
        gw_outlier_render(o, &in->outlier, ctx->now);
        pc_buf_putc(o, '}');
    }
    pc_buf_puts(o, "]}");
}

void gw_registry_render_routes(pc_buf *out)
{
    struct render_ctx ctx = {out, true, gw_now_mono_ms()};
    pc_buf_puts(out, "{\"routes\":[");
    gw_router_foreach(gw.router, render_route, &ctx);
    pc_buf_puts(out, "\n]}\n");
}

/* ------------------------------------------------------------------------ */
/* Life cycle                                                                */
/* ------------------------------------------------------------------------ */

void gw_registry_init(void)
{
    gw_regcaps_init();
    instances = pc_map_new();
    pc_check(instances != NULL);
    if (gw_regpolicy_wants_signature(gw.cfg->reg_policy)) gw_replay_init();
}

void gw_registry_policy_changed(void)
{
    /* Signed registration turned on by a reload: keep replay records from
     * now on. Records are kept when it is turned off again (unused). */
    if (gw_regpolicy_wants_signature(gw.cfg->reg_policy)) gw_replay_init();
}

static void free_route_cb(void *arg, const char *method, const char *pattern, void *value)
{
    struct gw_route **list = arg;
    struct gw_route *rt = value;
    if (rt->http != NULL) return; /* the routes file's (gw_routesfile_deinit) */
    /* Collected first: the router must not change while it is walked. */
    rt->inst_cap = (size_t)(uintptr_t)*list; /* reuse a field as the list link */
    (void)method;
    (void)pattern;
    *list = rt;
}

void gw_registry_deinit(void)
{
    size_t pos = 0, klen;
    const char *key;
    void *val;
    struct gw_route *list = NULL;

    while (pc_map_next(instances, &pos, &key, &klen, &val)) {
        struct gw_instance *in = val;
        evtimer_del(&in->expiry);
        in->nroutes = 0;
        in->dead = true;
        instance_unref(in);
    }
    pc_map_free(instances);
    instances = NULL;
    gw_replay_deinit();

    gw_router_foreach(gw.router, free_route_cb, &list);
    while (list) {
        struct gw_route *next = (struct gw_route *)(uintptr_t)list->inst_cap;
        gw_router_remove(gw.router, list->method, list->pattern);
        route_free(list);
        list = next;
    }
    gw_regcaps_deinit();
}
