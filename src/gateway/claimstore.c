/* claimstore.c -- a large request body stored as it arrives (see claimstore.h). */
#include "claimstore.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "claim.h"
#include "config.h"
#include "forward.h"
#include "gw.h"
#include "log.h"
#include "registry.h"
#include "reqbody.h"
#include "stats.h"
#include "xalloc.h"

/* One body being stored: lives until r left and every command is answered. */
struct gw_claim_up {
    struct gw_req *r; /* NULL once r left flight */
    void (*publish)(struct gw_req *r);
    unsigned pending; /* commands unanswered, and the PUBLISH's turn */
    uint64_t sent;    /* body bytes sent */
    uint64_t stored;  /* ... of which Redis has answered (APPEND answers the length) */
    size_t first;     /* the first piece's bytes (SET answers OK) */
    bool started;     /* the first piece (SET PX) went */
    bool published;
    bool failed; /* a piece could not be sent: nothing more is */
    char ttl[24];
    char key[];
};

static struct pc_ratelimit store_log = {.interval_ms = 10000};

bool gw_claimstore_wanted(const struct gw_req *r, const struct gw_route *rt)
{
    if (gw.cfg->claim_check_bytes <= 0 || rt->http != NULL || rt->async || rt->ninst == 0 ||
        r->body_length == GW_REQ_NO_LENGTH || r->body_length <= (uint64_t)gw.cfg->claim_check_bytes)
        return false;
    for (size_t i = 0; i < rt->ninst; i++)
        if (!rt->inst[i]->claim_check) return false;
    return true;
}

static void up_free_if_done(struct gw_claim_up *up)
{
    if (up->r != NULL || up->pending != 0) return;
    gw_claim_transfer(false);
    free(up);
}

/* Unanswered bytes above which the client is not read. */
static size_t window(void) { return gw_claim_share(GW_CLAIMSTORE_HIGH); }

static void on_piece(void *priv, const struct gw_bus_reply *rep)
{
    struct gw_claim_up *up = priv;
    struct gw_req *r = up->r;

    up->pending--;
    if (rep != NULL && rep->type == GW_BUS_REPLY_INTEGER && rep->integer > 0)
        up->stored = (uint64_t)rep->integer;
    else if (rep != NULL && rep->type == GW_BUS_REPLY_STATUS && up->stored < up->first)
        up->stored = up->first;
    else if (rep != NULL) { /* refused (maxmemory, an ACL): the service will find it short */
        up->stored = up->sent;
        if (rep->type == GW_BUS_REPLY_ERROR && pc_ratelimit_allow(&store_log, gw_now_mono_ms()))
            pc_log(PC_LOG_WARN, "claim", "storing a request body failed: %.*s",
                   (int)(rep->len > 200 ? 200 : rep->len), rep->str);
    }
    /* rep NULL: the bus went down; r, in flight, is answered 503 with the others */
    if (r != NULL && rep != NULL && r->body_held && up->sent - up->stored <= window() / 2) {
        up->pending++; /* reading on may end r (and stop up): up stays until here */
        gw_reqbody_resume(r);
        up->pending--;
    }
    up_free_if_done(up);
}

/* The PUBLISH, from the loop rather than from inside the parser's callback
 * (a failure answers r, which may free it). Counted as a pending command so
 * that up stays. */
static void on_publish_turn(evutil_socket_t fd, short what, void *arg)
{
    struct gw_claim_up *up = arg;
    (void)fd;
    (void)what;
    if (up->r != NULL) { /* (a failure stops r: up stays, its turn still counted) */
        struct gw_req *r = up->r;
        up->published = true;
        gw_stats->claim_stored++;
        up->publish(r);
    }
    up->pending--;
    up_free_if_done(up);
}

static bool sink(struct gw_req *r, const char *data, size_t n, bool end)
{
    struct gw_claim_up *up = r->claim_up;

    if (up == NULL || up->failed) return false;
    if (n > 0) {
        const char *argv[5] = {up->started ? "APPEND" : "SET", up->key, data, "PX", up->ttl};
        size_t argvlen[5] = {up->started ? 6u : 3u, strlen(up->key), n, 2, strlen(up->ttl)};
        if (gw_bus_command(gw.bus, on_piece, up, up->started ? 3 : 5, argv, argvlen) != 0) {
            up->failed = true; /* the bus is down: r is answered 503 with the others */
            return false;
        }
        if (!up->started) up->first = n;
        up->started = true;
        up->pending++;
        up->sent += n;
    }
    if (end) {
        struct timeval now = {0, 0};
        pc_check(event_base_once(gw.base, -1, EV_TIMEOUT, on_publish_turn, up, &now) == 0);
        up->pending++;
        return false;
    }
    return up->sent - up->stored > window();
}

int gw_claimstore_start(struct gw_req *r, void (*publish)(struct gw_req *r))
{
    const char *k = gw_claim_request_key(r);
    size_t kl = strlen(k);
    uint64_t now = gw_now_unix_ms();
    uint64_t ttl = (r->deadline_ms > now ? r->deadline_ms - now : 0) + GW_CLAIM_TTL_MARGIN_MS;
    struct gw_claim_up *up;

    if (!gw_bus_is_up(gw.bus)) return -1;
    up = pc_xcalloc(1, sizeof *up + kl + 1);
    gw_claim_transfer(true);
    memcpy(up->key, k, kl + 1);
    snprintf(up->ttl, sizeof up->ttl, "%llu", (unsigned long long)ttl);
    up->publish = publish;
    up->r = r;
    r->claim_up = up;
    gw_reqbody_attach(r, sink);
    return 0;
}

static void on_deleted(void *priv, const struct gw_bus_reply *rep)
{
    (void)priv;
    (void)rep;
}

void gw_claimstore_stop(struct gw_req *r)
{
    struct gw_claim_up *up = r->claim_up;

    r->claim_up = NULL;
    if (up == NULL) return;
    if (!r->body_end) gw_reqbody_detach(r);
    if (!up->published && up->started) {
        const char *argv[2] = {"DEL", up->key};
        size_t argvlen[2] = {3, strlen(up->key)};
        (void)gw_bus_command(gw.bus, on_deleted, NULL, 2, argv, argvlen);
    }
    up->r = NULL;
    up_free_if_done(up);
}
