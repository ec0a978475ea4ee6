/* admin.c -- /health, /livez, /readyz, /routes, /metrics, /stats and the
 * dashboard page (/) on the admin listener. */
#include "admin.h"

#include <string.h>

#include "bus.h"
#include "conn.h"
#include "dashboard.h"
#include "forward.h"
#include "gw.h"
#include "registry.h"
#include "stats.h"
#include "xalloc.h"

static bool path_is(const struct gw_req *r, const char *p)
{
    size_t n = strlen(p);
    return r->path_len == n && memcmp(r->head.data, p, n) == 0;
}

void gw_admin_handle(struct gw_req *r)
{
    pc_buf b;
    int status = 200;
    const char *ctype = "application/json";

    if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0) {
        struct pc_kv allow = {"allow", 5, "GET, HEAD", 9};
        gw_req_error_hdr(r, 405, "method_not_allowed", "admin endpoints are read-only", &allow);
        return;
    }
    pc_buf_init(&b);
    /* this worker's gauges first, so that the sums count them as they are */
    gw_stats_gauges(gw_forward_inflight(), gw_conn_count(GW_LISTENER_PUBLIC));
    if (path_is(r, "/health")) {
        bool up = gw_bus_is_up(gw.bus);
        uint64_t inflight, conns;
        int workers = gw_stats_gauge_sums(&inflight, &conns);
        status = up ? 200 : 503;
        pc_buf_printf(&b,
                      "{\"status\":\"%s\",\"redis\":\"%s\",\"gateway_id\":\"%s\","
                      "\"draining\":%s,\"routes\":%zu,\"instances\":%zu,\"inflight\":%llu,"
                      "\"connections\":%llu,\"workers\":%d}\n",
                      up ? "ok" : "degraded", up ? "up" : "down", gw.id,
                      gw.draining ? "true" : "false", gw_router_count(gw.router),
                      gw_registry_instance_count(), (unsigned long long)inflight,
                      (unsigned long long)conns, workers);
    } else if (path_is(r, "/livez")) { /* answered at all: the loop turns */
        pc_buf_puts(&b, "{\"status\":\"alive\"}\n");
    } else if (path_is(r, "/readyz")) {
        /* Listening (this listener answers only once both are bound), not
         * draining, Redis up: new requests can be served. */
        const char *why = gw.draining ? "draining" : !gw_bus_is_up(gw.bus) ? "redis_down" : NULL;
        status = why ? 503 : 200;
        if (why)
            pc_buf_printf(&b, "{\"status\":\"not_ready\",\"reason\":\"%s\"}\n", why);
        else
            pc_buf_puts(&b, "{\"status\":\"ready\"}\n");
    } else if (path_is(r, "/routes")) {
        gw_registry_render_routes(&b);
    } else if (path_is(r, "/stats")) {
        gw_stats_render_json(&b, gw_now_mono_ms(), gw_registry_instance_count(),
                             gw_router_count(gw.router));
    } else if (path_is(r, "/")) {
        pc_buf_deinit(&b);
        gw_dashboard_serve(r);
        return;
    } else if (path_is(r, "/metrics")) {
        ctype = "text/plain; version=0.0.4; charset=utf-8";
        gw_stats_render(&b, gw_registry_instance_count(), gw_router_count(gw.router));
    } else {
        pc_buf_deinit(&b);
        gw_req_error(r, 404, "not_found",
                     "admin endpoints: / (dashboard), /health, /livez, /readyz, /routes, /stats, "
                     "/metrics");
        return;
    }
    if (b.oom) pc_panic("out of memory writing %.*s", (int)r->path_len, r->head.data);
    gw_req_respond(r, status, ctype, NULL, 0, b.data, b.len);
    pc_buf_deinit(&b);
}
