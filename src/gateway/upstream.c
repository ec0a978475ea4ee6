/* upstream.c -- HTTP upstreams: addresses, idle pools, pick, ejection
 * (see upstream.h). */
#include "upstream.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "errf.h"
#include "gw.h"
#include "hclient.h"
#include "jw.h"
#include "log.h"
#include "map.h"
#include "stats.h"
#include "xalloc.h"

static pc_map *by_url; /* canonical URL -> struct gw_upstream (while referenced) */

/* ------------------------------------------------------------------------ */
/* URLs                                                                      */
/* ------------------------------------------------------------------------ */

/* Parses "http://host[:port][/]" (the scheme in any case, RFC 3986 3.1)
 * into a resolved address and the canonical URL. 0, or -1 with err set. */
static int parse_url(const char *url, struct gw_upstream *u, char *err, size_t errlen)
{
    const char *p, *host, *hend, *at, *port = NULL;
    char h[256], ps[8];
    size_t hl;
    long portn = 80;
    struct addrinfo hints, *res = NULL;
    int rc;

    if (strncasecmp(url, "https://", 8) == 0)
        return pc_errf(err, errlen, "upstream %s: https upstreams are not supported", url);
    if (strncasecmp(url, "http://", 7) != 0)
        return pc_errf(err, errlen, "upstream \"%s\" is not an http:// URL", url);
    host = url + 7;
    at = memchr(host, '@', strcspn(host, "/?#"));
    if (at != NULL) /* not echoed: it may hold a password */
        return pc_errf(err, errlen,
                       "upstream http://...@%.200s: user info is not allowed in an upstream URL",
                       at + 1);
    if (*host == '[') {
        hend = strchr(host, ']');
        if (hend == NULL) return pc_errf(err, errlen, "upstream %s: unclosed [", url);
        p = hend + 1;
        host++;
    } else {
        hend = host + strcspn(host, ":/?#@");
        p = hend;
    }
    hl = (size_t)(hend - host);
    if (hl == 0 || hl >= sizeof h) return pc_errf(err, errlen, "upstream %s: bad host", url);
    memcpy(h, host, hl);
    h[hl] = '\0';
    if (*p == ':') {
        char *end;
        port = p + 1;
        portn = strtol(port, &end, 10);
        if (end == port || portn < 1 || portn > 65535)
            return pc_errf(err, errlen, "upstream %s: bad port", url);
        p = end;
    }
    if (*p == '/') p++;
    if (*p != '\0')
        return pc_errf(err, errlen, "upstream %s: only scheme, host and port are allowed", url);
    for (size_t i = 0; i < hl; i++)
        if (!((h[i] >= 'a' && h[i] <= 'z') || (h[i] >= 'A' && h[i] <= 'Z') ||
              (h[i] >= '0' && h[i] <= '9') || h[i] == '.' || h[i] == '-' || h[i] == ':'))
            return pc_errf(err, errlen, "upstream %s: bad host", url);

    snprintf(ps, sizeof ps, "%ld", portn);
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    rc = getaddrinfo(h, ps, &hints, &res);
    if (rc != 0 || res == NULL)
        return pc_errf(err, errlen, "upstream %s: cannot resolve %s: %s", url, h, gai_strerror(rc));
    memcpy(&u->addr, res->ai_addr, res->ai_addrlen);
    u->addrlen = res->ai_addrlen;
    freeaddrinfo(res);
    snprintf(u->url, sizeof u->url, "http://%s%s%s:%ld", strchr(h, ':') ? "[" : "", h,
             strchr(h, ':') ? "]" : "", portn);
    return 0;
}

struct gw_upstream *gw_upstream_get(const char *url, char *err, size_t errlen)
{
    struct gw_upstream tmp, *u;

    if (strlen(url) > GW_UPSTREAM_URL_MAX) {
        pc_errf(err, errlen, "upstream URL longer than %d bytes", GW_UPSTREAM_URL_MAX);
        return NULL;
    }
    memset(&tmp, 0, sizeof tmp);
    if (parse_url(url, &tmp, err, errlen) != 0) return NULL;
    if (by_url == NULL) {
        by_url = pc_map_new();
        pc_check(by_url != NULL);
    }
    u = pc_map_get(by_url, tmp.url, strlen(tmp.url));
    if (u != NULL) {
        u->refs++;
        return u;
    }
    u = pc_xmalloc(sizeof *u);
    *u = tmp;
    u->refs = 1;
    TAILQ_INIT(&u->idle);
    pc_check(pc_map_put(by_url, u->url, strlen(u->url), u) == 0);
    return u;
}

void gw_upstream_ref(struct gw_upstream *u) { u->refs++; }

void gw_upstream_unref(struct gw_upstream *u)
{
    if (u == NULL) return;
    if (--u->refs > 0) return; /* idle connections hold references: they go first */
    pc_map_del(by_url, u->url, strlen(u->url));
    free(u);
    if (pc_map_count(by_url) == 0) {
        pc_map_free(by_url);
        by_url = NULL;
    }
}

/* ------------------------------------------------------------------------ */
/* Pick and ejection                                                         */
/* ------------------------------------------------------------------------ */

bool gw_upstream_is_ejected(const struct gw_upstream *u)
{
    return u->ejected_until != 0 && gw_now_mono_ms() < u->ejected_until;
}

void gw_upstream_eject(struct gw_upstream *u)
{
    if (!gw_upstream_is_ejected(u)) {
        u->ejections++;
        gw_stats->upstream_ejections++;
        pc_log(PC_LOG_WARN, "upstream", "%s ejected for %d ms", u->url, gw.cfg->upstream_eject_ms);
    }
    u->ejected_until = gw_now_mono_ms() + (uint64_t)gw.cfg->upstream_eject_ms;
}

struct gw_upstream *gw_upstream_pick(struct gw_upstream *const *list, size_t n, size_t *rr,
                                     const struct gw_upstream *avoid)
{
    struct gw_upstream *best = NULL, *fallback = NULL;
    size_t start = n ? *rr % n : 0;

    for (size_t k = 0; k < n; k++) {
        struct gw_upstream *u = list[(start + k) % n];
        if (gw_upstream_is_ejected(u)) continue;
        if (u == avoid) {
            fallback = u;
            continue;
        }
        if (best == NULL || u->inflight < best->inflight) best = u;
    }
    *rr = start + 1;
    return best ? best : fallback;
}

/* ------------------------------------------------------------------------ */
/* Idle pool                                                                 */
/* ------------------------------------------------------------------------ */

static void idle_on_connected(void *ctx) { (void)ctx; }

/* Anything from an idle connection (a close, a stray byte) ends it. */
static void idle_on_data(void *ctx, const char *buf, size_t n)
{
    struct gw_uconn *c = ctx;
    (void)buf;
    (void)n;
    gw_upstream_idle_drop(c->up, c);
}

static void idle_on_failed(void *ctx, enum gw_uconn_fail why)
{
    struct gw_uconn *c = ctx;
    (void)why;
    gw_upstream_idle_drop(c->up, c);
}

static const struct gw_uconn_handlers idle_handlers = {idle_on_connected, idle_on_data,
                                                       idle_on_failed, NULL, NULL};

struct gw_uconn *gw_upstream_idle_take(struct gw_upstream *u)
{
    struct gw_uconn *c = TAILQ_FIRST(&u->idle);
    if (c == NULL) return NULL;
    TAILQ_REMOVE(&u->idle, c, link);
    u->nidle--;
    u->reuses++;
    return c;
}

void gw_upstream_idle_put(struct gw_upstream *u, struct gw_uconn *c)
{
    if (gw.draining || u->nidle >= (unsigned)gw.cfg->upstream_pool_size ||
        gw_upstream_is_ejected(u)) {
        gw_uconn_free(c);
        return;
    }
    gw_uconn_attach(c, &idle_handlers, c);
    gw_uconn_timer(c, gw.cfg->upstream_idle_ms);
    TAILQ_INSERT_HEAD(&u->idle, c, link);
    u->nidle++;
}

void gw_upstream_idle_drop(struct gw_upstream *u, struct gw_uconn *c)
{
    TAILQ_REMOVE(&u->idle, c, link);
    u->nidle--;
    gw_uconn_free(c);
}

/* ------------------------------------------------------------------------ */
/* Admin view                                                                */
/* ------------------------------------------------------------------------ */

void gw_upstream_render(pc_buf *o, const struct gw_upstream *u, uint64_t now)
{
    bool ej = u->ejected_until != 0 && now < u->ejected_until;
    pc_buf_puts(o, "{\"url\":");
    pc_jw_cstr(o, u->url);
    pc_buf_printf(o,
                  ",\"state\":\"%s\",\"ejected_for_ms\":%llu,\"inflight\":%u,\"idle\":%u,"
                  "\"ejections\":%llu,\"retries\":%llu,\"connects\":%llu,\"reuses\":%llu}",
                  ej ? "ejected" : "up", ej ? (unsigned long long)(u->ejected_until - now) : 0ULL,
                  u->inflight, u->nidle, (unsigned long long)u->ejections,
                  (unsigned long long)u->retries, (unsigned long long)u->connects,
                  (unsigned long long)u->reuses);
}

void gw_upstream_deinit(void)
{
    size_t pos = 0, klen;
    const char *key;
    void *val;
    struct gw_uconn *c;

    while (by_url != NULL && pc_map_next(by_url, &pos, &key, &klen, &val)) {
        struct gw_upstream *u = val;
        while ((c = TAILQ_FIRST(&u->idle)) != NULL) {
            TAILQ_REMOVE(&u->idle, c, link);
            u->nidle--;
            u->refs++; /* the map is being walked: u must not be freed here */
            gw_uconn_free(c);
            u->refs--;
        }
    }
}
