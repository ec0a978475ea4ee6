/* routesfile.c -- the routes file: load, validate, swap, watch (see routesfile.h). */
#include "routesfile.h"

#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>

#include "bus.h"
#include "errf.h"
#include "gw.h"
#include "jsonfile.h"
#include "jw.h"
#include "log.h"
#include "names.h"
#include "path.h"
#include "registry.h"
#include "router.h"
#include "stats.h"
#include "upstream.h"
#include "wire.h"
#include "xalloc.h"

/* One (method, pattern) of the table: the router's value. */
struct gw_froute {
    struct gw_route rt; /* first: the router hands this out */
    struct gw_http_route *hr;
    bool installed;      /* in the router now */
    bool released;       /* no longer in the file: served until claimed or the grace ends */
    struct event *grace; /* while released */
    LIST_ENTRY(gw_froute) link;
};

struct gw_rtable {
    unsigned refs; /* the running table + requests in flight + released pairs */
    struct gw_http_route *routes;
    size_t nroutes;
    struct gw_froute *pairs;
    size_t npairs;
    struct stat st; /* the file as it was just before it was read */
    bool st_ok;
};

static struct gw_rtable *current; /* committed (installed once the router is) */
static LIST_HEAD(, gw_froute) released = LIST_HEAD_INITIALIZER(released);
static struct event *watch; /* the change poll */
static struct stat seen;    /* the file as last read (or tried) */
static bool seen_ok;

/* ------------------------------------------------------------------------ */
/* Tables                                                                    */
/* ------------------------------------------------------------------------ */

static void table_free(struct gw_rtable *t)
{
    for (size_t i = 0; i < t->nroutes; i++) {
        struct gw_http_route *hr = &t->routes[i];
        for (size_t k = 0; k < hr->nup; k++) gw_upstream_unref(hr->up[k]);
        free(hr->up);
        free((char *)hr->service);
        free((char *)hr->pattern);
        free((char *)hr->strip_prefix);
    }
    for (size_t i = 0; i < t->npairs; i++) free((char *)t->pairs[i].rt.method);
    free(t->routes);
    free(t->pairs);
    free(t);
}

static void table_unref(struct gw_rtable *t)
{
    if (t != NULL && --t->refs == 0) table_free(t);
}

void gw_http_route_hold(struct gw_http_route *hr) { hr->table->refs++; }
void gw_http_route_drop(struct gw_http_route *hr) { table_unref(hr->table); }

/* ------------------------------------------------------------------------ */
/* Parsing                                                                   */
/* ------------------------------------------------------------------------ */

#define FAIL(...) pc_json_file_err("routes file", path, err, errlen, __VA_ARGS__)

/* "route N (<path>)": how errors name a route. */
static void route_name(char *out, size_t n, size_t i, json_t *jr)
{
    const char *p = json_string_value(json_object_get(jr, "path"));
    if (p != NULL)
        snprintf(out, n, "route %zu (%.200s)", i + 1, p);
    else
        snprintf(out, n, "route %zu", i + 1);
}

/* Segments of a literal prefix "/a/b" (no params, no '*'), or -1. */
static long literal_segments(const char *s)
{
    const char *p = s, *end = s + strlen(s), *seg;
    size_t len;
    long n = 0;

    if (s[0] != '/' || !pc_pattern_is_valid(s, strlen(s))) return -1;
    while (pc_path_next(&p, end, &seg, &len)) {
        if (pc_seg_kind(seg, len) != PC_SEG_LITERAL) return -1;
        n++;
    }
    return n;
}

static int parse_route(const char *path, json_t *jr, size_t i, struct gw_http_route *hr,
                       size_t *nmethods, char *err, size_t errlen)
{
    static const char *const keys[] = {"service",   "methods",    "path",
                                       "upstreams", "timeout_ms", "strip_prefix"};
    char name[256];
    const char *key, *s;
    json_t *v, *ms, *ups;
    size_t k;

    route_name(name, sizeof name, i, jr);
    if (!json_is_object(jr)) return FAIL("%s: not an object", name);
    json_object_foreach(jr, key, v)
    {
        bool known = false;
        for (k = 0; k < sizeof keys / sizeof keys[0]; k++)
            if (strcmp(key, keys[k]) == 0) known = true;
        if (!known) return FAIL("%s: unknown key \"%.64s\"", name, key);
    }
    s = json_string_value(json_object_get(jr, "service"));
    if (s == NULL || !pc_service_name_is_valid(s, strlen(s)))
        return FAIL("%s: \"service\" must be a service name ([a-z0-9][a-z0-9._-]{0,62})", name);
    hr->service = pc_xstrdup(s);
    s = json_string_value(json_object_get(jr, "path"));
    if (s == NULL || !pc_pattern_is_valid(s, strlen(s)))
        return FAIL("%s: \"path\" must be a route pattern (SPEC §3)", name);
    hr->pattern = pc_xstrdup(s);
    ms = json_object_get(jr, "methods");
    if (!json_is_array(ms) || json_array_size(ms) == 0 || json_array_size(ms) > 64)
        return FAIL("%s: \"methods\" must be a list of 1 to 64 methods", name);
    json_array_foreach(ms, k, v)
    {
        s = json_string_value(v);
        if (s == NULL || !pc_method_is_valid(s, strlen(s)))
            return FAIL("%s: method %zu is not an upper-case method or \"*\"", name, k + 1);
    }
    *nmethods = json_array_size(ms);
    ups = json_object_get(jr, "upstreams");
    if (!json_is_array(ups) || json_array_size(ups) == 0 ||
        json_array_size(ups) > GW_ROUTESFILE_MAX_UPSTREAMS)
        return FAIL("%s: \"upstreams\" must be a list of 1 to %d URLs", name,
                    GW_ROUTESFILE_MAX_UPSTREAMS);
    hr->up = pc_xcalloc(json_array_size(ups), sizeof *hr->up);
    json_array_foreach(ups, k, v)
    {
        char why[512];
        struct gw_upstream *u;
        s = json_string_value(v);
        if (s == NULL) return FAIL("%s: upstream %zu is not a string", name, k + 1);
        u = gw_upstream_get(s, why, sizeof why);
        if (u == NULL) return FAIL("%s: %s", name, why);
        for (size_t j = 0; j < hr->nup; j++)
            if (hr->up[j] == u) {
                gw_upstream_unref(u);
                return FAIL("%s: upstream %s listed twice", name, u->url);
            }
        hr->up[hr->nup++] = u;
    }
    v = json_object_get(jr, "timeout_ms");
    if (v != NULL) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 60000)
            return FAIL("%s: \"timeout_ms\" must be an integer 1..60000", name);
        hr->timeout_ms = (int)json_integer_value(v);
    }
    v = json_object_get(jr, "strip_prefix");
    if (v != NULL) {
        long n;
        s = json_string_value(v);
        n = s ? literal_segments(s) : -1;
        if (n < 0)
            return FAIL("%s: \"strip_prefix\" must be a literal path like \"/legacy\"", name);
        if (!pc_path_covers(s, strlen(s), hr->pattern, strlen(hr->pattern)))
            return FAIL("%s: \"strip_prefix\" %.200s is not a prefix of the path", name, s);
        hr->strip_prefix = pc_xstrdup(s);
        hr->strip_segments = (size_t)n;
    }
    return 0;
}

/* The pairs of every route, checked for collisions (two routes with the
 * same method and pattern, param names ignored) in a scratch router. */
static int make_pairs(const char *path, json_t *jroutes, struct gw_rtable *t, char *err,
                      size_t errlen)
{
    gw_router *seen_pairs = gw_router_new();
    size_t total = 0, k;
    int rc = 0;
    json_t *jr, *v;

    pc_check(seen_pairs != NULL);
    for (size_t i = 0; i < t->nroutes; i++)
        total += json_array_size(json_object_get(json_array_get(jroutes, i), "methods"));
    t->pairs = pc_xcalloc(total ? total : 1, sizeof *t->pairs);
    json_array_foreach(jroutes, k, jr)
    {
        struct gw_http_route *hr = &t->routes[k];
        size_t m;
        json_array_foreach(json_object_get(jr, "methods"), m, v)
        {
            const char *method = json_string_value(v);
            struct gw_froute *f = &t->pairs[t->npairs];
            void *other = NULL;
            if (gw_router_add(seen_pairs, method, hr->pattern, f, &other) != 0) {
                char name[256];
                route_name(name, sizeof name, k, jr);
                struct gw_froute *o = other;
                rc = o ? FAIL("%s: %s %s is also route %zu's", name, method, hr->pattern,
                              (size_t)(o->hr - t->routes) + 1)
                       : FAIL("%s: bad route %s %s", name, method, hr->pattern);
                goto out;
            }
            f->hr = hr;
            f->rt.method = pc_xstrdup(method);
            f->rt.pattern = hr->pattern;
            f->rt.owner = hr->service;
            f->rt.http = hr;
            t->npairs++;
        }
    }
out:
    gw_router_free(seen_pairs);
    return rc;
}

/* Loads path into a new table (refs 1). NULL with err set. */
static struct gw_rtable *table_load(const char *path, char *err, size_t errlen)
{
    json_t *root, *jroutes, *jr;
    struct gw_rtable *t;
    const char *key;
    json_t *v;
    size_t i, nmethods;

    root = pc_json_file_load("routes file", path, GW_ROUTESFILE_MAX_BYTES, err, errlen);
    if (root == NULL) return NULL;
    t = pc_xcalloc(1, sizeof *t);
    t->refs = 1;
    if (!json_is_object(root)) {
        FAIL("not a JSON object");
        goto bad;
    }
    json_object_foreach(root, key, v)
    {
        if (strcmp(key, "routes") != 0) {
            FAIL("unknown key \"%.64s\"", key);
            goto bad;
        }
    }
    jroutes = json_object_get(root, "routes");
    if (!json_is_array(jroutes) || json_array_size(jroutes) > GW_ROUTESFILE_MAX_ROUTES) {
        FAIL("\"routes\" must be a list of at most %d routes", GW_ROUTESFILE_MAX_ROUTES);
        goto bad;
    }
    t->routes = pc_xcalloc(json_array_size(jroutes) + 1, sizeof *t->routes);
    json_array_foreach(jroutes, i, jr)
    {
        t->routes[i].table = t;
        t->nroutes = i + 1;
        if (parse_route(path, jr, i, &t->routes[i], &nmethods, err, errlen) != 0) goto bad;
    }
    if (make_pairs(path, jroutes, t, err, errlen) != 0) goto bad;
    json_decref(root);
    return t;
bad:
    json_decref(root);
    table_free(t);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Installing                                                                */
/* ------------------------------------------------------------------------ */

static void unrelease(struct gw_froute *f)
{
    LIST_REMOVE(f, link);
    evtimer_del(f->grace);
    event_free(f->grace);
    f->grace = NULL;
    f->released = false;
    f->installed = false;
    table_unref(f->hr->table);
}

static void on_grace_end(evutil_socket_t fd, short what, void *arg)
{
    struct gw_froute *f = arg;
    (void)fd;
    (void)what;
    pc_log(PC_LOG_INFO, "routes", "route %s %s removed (no longer in the routes file)",
           f->rt.method, f->rt.pattern);
    gw_router_remove(gw.router, f->rt.method, f->rt.pattern);
    unrelease(f);
}

/* f's pair is gone from the file: served until a service announces it, or
 * for --route-grace-ms. Returns true when released (false: removed). */
static bool release(struct gw_froute *f)
{
    int ms = gw.cfg->route_grace_ms;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

    if (ms <= 0 || gw_router_add(gw.router, f->rt.method, f->rt.pattern, &f->rt, NULL) != 0) {
        f->installed = false;
        return false;
    }
    f->released = true;
    f->grace = evtimer_new(gw.base, on_grace_end, f);
    pc_check(f->grace != NULL);
    evtimer_add(f->grace, &tv);
    LIST_INSERT_HEAD(&released, f, link);
    f->hr->table->refs++;
    return true;
}

/* Swaps the router's routes-file pairs from old to t. */
static void install(struct gw_rtable *old, struct gw_rtable *t)
{
    size_t nreleased = 0;

    if (old != NULL)
        for (size_t i = 0; i < old->npairs; i++)
            if (old->pairs[i].installed)
                gw_router_remove(gw.router, old->pairs[i].rt.method, old->pairs[i].rt.pattern);
    for (size_t i = 0; t != NULL && i < t->npairs; i++) {
        struct gw_froute *f = &t->pairs[i];
        struct gw_route *prev = NULL;
        if (gw_router_add(gw.router, f->rt.method, f->rt.pattern, &f->rt, (void **)&prev) == 0) {
            f->installed = true;
            continue;
        }
        if (prev != NULL && prev->http != NULL && ((struct gw_froute *)prev)->released) {
            gw_router_remove(gw.router, prev->method, prev->pattern);
            unrelease((struct gw_froute *)prev);
            f->installed = gw_router_add(gw.router, f->rt.method, f->rt.pattern, &f->rt, NULL) == 0;
            continue;
        }
        pc_log(PC_LOG_WARN, "routes", "route %s %s of %s not added: %s owns it", f->rt.method,
               f->rt.pattern, f->rt.owner, prev ? prev->owner : "?");
    }
    if (old != NULL)
        for (size_t i = 0; i < old->npairs; i++) {
            struct gw_froute *f = &old->pairs[i];
            if (!f->installed) continue;
            if (gw_router_get(gw.router, f->rt.method, f->rt.pattern) != NULL) {
                f->installed = false; /* the new table has it */
                continue;
            }
            if (release(f)) nreleased++;
        }
    if (nreleased > 0 && gw.bus != NULL && gw_bus_is_up(gw.bus)) {
        /* Services that wanted these routes announce now, not at their next heartbeat. */
        pc_buf msg;
        pc_buf_init(&msg);
        pc_wire_encode_discover(&msg);
        gw_bus_publish(gw.bus, gw.discover_channel, msg.data, msg.len, NULL);
        pc_buf_deinit(&msg);
        pc_log(PC_LOG_INFO, "routes", "%zu routes released to the bus", nreleased);
    }
}

bool gw_routesfile_yield(struct gw_route *rt)
{
    struct gw_froute *f = (struct gw_froute *)rt;
    if (rt->http == NULL || !f->released) return false;
    pc_log(PC_LOG_INFO, "routes", "route %s %s moves from the routes file to the bus", rt->method,
           rt->pattern);
    gw_router_remove(gw.router, rt->method, rt->pattern);
    unrelease(f);
    return true;
}

/* ------------------------------------------------------------------------ */
/* Reload part and watching                                                  */
/* ------------------------------------------------------------------------ */

int gw_routesfile_prepare(const struct gw_config *next, void **staged, char *err, size_t errlen)
{
    *staged = NULL;
    if (next->routes_file[0] == '\0') return 0;
    struct stat st;
    bool st_ok = stat(next->routes_file, &st) == 0;
    struct gw_rtable *t = table_load(next->routes_file, err, errlen);
    if (t == NULL) {
        /* Refused (and reported by the caller): the watch need not read
         * the same file again only to report it again; a later change is
         * read as usual. */
        if (st_ok && gw.cfg != NULL && strcmp(next->routes_file, gw.cfg->routes_file) == 0) {
            seen = st;
            seen_ok = true;
        }
        return -1;
    }
    t->st = st;
    t->st_ok = st_ok;
    *staged = t;
    return 0;
}

void gw_routesfile_commit(void *staged, struct gw_config *cfg)
{
    struct gw_rtable *old = current;
    (void)cfg;
    current = staged;
    if (current != NULL && current->st_ok) { /* the watch need not read it again */
        seen = current->st;
        seen_ok = true;
    }
    if (gw.router != NULL) install(old, current);
    table_unref(old);
}

void gw_routesfile_discard(void *staged) { table_unref(staged); }

static bool stat_changed(const struct stat *a, const struct stat *b)
{
    return a->st_ino != b->st_ino || a->st_dev != b->st_dev || a->st_size != b->st_size ||
           a->st_mtim.tv_sec != b->st_mtim.tv_sec || a->st_mtim.tv_nsec != b->st_mtim.tv_nsec;
}

/* Once a second: a changed file is loaded and swapped in, or refused (the
 * running table stays). Counted like a reload. */
static void on_watch(evutil_socket_t fd, short what, void *arg)
{
    struct stat st;
    char err[768];
    void *staged;
    (void)fd;
    (void)what;
    (void)arg;

    if (gw.cfg->routes_file[0] == '\0' || stat(gw.cfg->routes_file, &st) != 0) return;
    if (seen_ok && !stat_changed(&st, &seen)) return;
    seen = st;
    seen_ok = true;
    if (gw_routesfile_prepare(gw.cfg, &staged, err, sizeof err) != 0) {
        gw_stats->config_reloads_error++;
        pc_log(PC_LOG_ERROR, "routes", "routes file changed, refused (the last good one stays): %s",
               err);
        return;
    }
    gw_routesfile_commit(staged, NULL);
    gw_stats->config_reloads_ok++;
    pc_log(PC_LOG_INFO, "routes", "routes file changed: reloaded");
}

void gw_routesfile_init(void)
{
    struct timeval tv = {GW_ROUTESFILE_POLL_MS / 1000, (GW_ROUTESFILE_POLL_MS % 1000) * 1000};

    install(NULL, current);
    watch = event_new(gw.base, -1, EV_PERSIST, on_watch, NULL);
    pc_check(watch != NULL);
    event_add(watch, &tv);
}

void gw_routesfile_deinit(void)
{
    struct gw_froute *f;

    if (watch != NULL) event_free(watch);
    watch = NULL;
    while ((f = LIST_FIRST(&released)) != NULL) {
        gw_router_remove(gw.router, f->rt.method, f->rt.pattern);
        unrelease(f);
    }
    if (current != NULL)
        for (size_t i = 0; i < current->npairs; i++)
            if (current->pairs[i].installed)
                gw_router_remove(gw.router, current->pairs[i].rt.method,
                                 current->pairs[i].rt.pattern);
    table_unref(current);
    current = NULL;
    gw_upstream_deinit();
}

/* ------------------------------------------------------------------------ */
/* Admin view                                                                */
/* ------------------------------------------------------------------------ */

void gw_routesfile_render(pc_buf *o, const struct gw_route *rt, uint64_t now)
{
    const struct gw_froute *f = (const struct gw_froute *)rt;
    const struct gw_http_route *hr = rt->http;

    pc_buf_printf(o, ",\"kind\":\"http\",\"released\":%s,\"timeout_ms\":%d,\"strip_prefix\":",
                  f->released ? "true" : "false",
                  hr->timeout_ms ? hr->timeout_ms : gw.cfg->timeout_ms);
    if (hr->strip_prefix)
        pc_jw_cstr(o, hr->strip_prefix);
    else
        pc_buf_puts(o, "null");
    pc_buf_puts(o, ",\"upstreams\":[");
    for (size_t i = 0; i < hr->nup; i++) {
        if (i) pc_buf_putc(o, ',');
        gw_upstream_render(o, hr->up[i], now);
    }
    /* No bus instances: there for a client that reads every route alike (SPEC §6). */
    pc_buf_puts(o, "],\"instances\":[]");
}
